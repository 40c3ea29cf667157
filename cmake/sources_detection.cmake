set(KILN_DETECTION_SOURCES
  cpp/kiln/ops/detection.cpp
)
