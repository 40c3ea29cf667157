set(KILN_QUANTIZED_SOURCES
  cpp/kiln/ops/fake_quantize.cpp
  cpp/kiln/runtime/cpu/kernels/fake_quantize.cpp
)
