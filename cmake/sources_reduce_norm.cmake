set(KILN_REDUCE_NORM_SOURCES
  cpp/kiln/ops/reduction.cpp
  cpp/kiln/ops/normalization.cpp
  cpp/kiln/ops/internal/layer_norm.cpp
  cpp/kiln/runtime/cpu/kernels/reduce_norm.cpp
)
