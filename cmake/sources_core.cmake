set(KILN_CORE_SOURCES
  cpp/kiln/core/type.cpp
  cpp/kiln/core/shape.cpp
  cpp/kiln/core/tensor.cpp
  cpp/kiln/core/node.cpp
  cpp/kiln/core/model.cpp
  cpp/kiln/ops/graph_io.cpp
)
