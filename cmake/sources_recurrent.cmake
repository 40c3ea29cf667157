set(KILN_RECURRENT_SOURCES
  cpp/kiln/ops/recurrent.cpp
  cpp/kiln/runtime/cpu/kernels/recurrent.cpp
)
