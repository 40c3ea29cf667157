set(KILN_ELEMENTWISE_SOURCES
  cpp/kiln/ops/elementwise_binary.cpp
  cpp/kiln/ops/elementwise_unary.cpp
  cpp/kiln/ops/activation.cpp
  cpp/kiln/ops/scan.cpp
  cpp/kiln/ops/special.cpp
  cpp/kiln/runtime/cpu/kernels/eltwise.cpp
)
