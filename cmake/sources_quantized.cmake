set(KILN_QUANTIZED_SOURCES
  cpp/kiln/ops/fake_quantize.cpp
  cpp/kiln/runtime/cpu/kernels/fake_quantize.cpp
  # INT8 execution (passes/fuse_int8): the internal INT8 ops, their kernels (own and oneDNN).
  cpp/kiln/ops/internal/int8.cpp
  cpp/kiln/runtime/cpu/kernels/int8.cpp
  cpp/kiln/runtime/cpu/onednn/int8_conv.cpp
  cpp/kiln/runtime/cpu/onednn/int8_matmul.cpp
)
