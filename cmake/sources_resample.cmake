set(KILN_RESAMPLE_SOURCES
  cpp/kiln/ops/interpolate.cpp
  cpp/kiln/ops/grid_sample.cpp
  cpp/kiln/ops/col2im.cpp
  cpp/kiln/runtime/cpu/kernels/interpolate.cpp
)
