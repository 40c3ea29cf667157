set(KILN_CORE_SOURCES
  cpp/kiln/core/type.cpp
  cpp/kiln/core/shape.cpp
  cpp/kiln/core/tensor.cpp
  cpp/kiln/core/node.cpp
  cpp/kiln/core/model.cpp
  cpp/kiln/core/interpreter.cpp
  cpp/kiln/ops/graph_io.cpp
  cpp/kiln/ops/control_flow.cpp
  # A pass, but If/Loop shape inference specializes bodies with it (core/interpreter.cpp).
  cpp/kiln/passes/constant_folding.cpp
  # Which instruction sets the CPU kernels of every family may use.
  cpp/kiln/runtime/cpu/isa.cpp
)
