set(KILN_ATTENTION_SOURCES
  cpp/kiln/ops/attention.cpp
  cpp/kiln/runtime/cpu/kernels/attention.cpp
)
