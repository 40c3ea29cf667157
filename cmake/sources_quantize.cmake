# Post-training quantization: statistics, SmoothQuant, FakeQuantize insertion, bias correction.
set(KILN_QUANTIZE_SOURCES
  cpp/kiln/quantize/quantize.cpp
)
