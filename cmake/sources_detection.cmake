set(KILN_DETECTION_SOURCES
  cpp/kiln/ops/detection.cpp
  cpp/kiln/runtime/cpu/kernels/detection.cpp
)
