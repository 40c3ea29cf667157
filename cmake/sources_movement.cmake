set(KILN_MOVEMENT_SOURCES
  cpp/kiln/ops/shape_ops.cpp
  cpp/kiln/ops/data_movement.cpp
  cpp/kiln/ops/data_movement_pad_scatter.cpp
  cpp/kiln/ops/indexing.cpp
  cpp/kiln/runtime/cpu/kernels/movement.cpp
)
