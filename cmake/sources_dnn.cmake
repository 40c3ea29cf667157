set(KILN_DNN_SOURCES
  cpp/kiln/ops/convolution.cpp
  cpp/kiln/ops/matmul.cpp
  cpp/kiln/ops/linalg.cpp
  cpp/kiln/ops/linalg_factor.cpp
  cpp/kiln/ops/pooling.cpp
  cpp/kiln/ops/internal/fused.cpp
  cpp/kiln/runtime/cpu/layout.cpp
  cpp/kiln/runtime/cpu/onednn/onednn_common.cpp
  cpp/kiln/runtime/cpu/onednn/reorder.cpp
  cpp/kiln/runtime/cpu/onednn/conv.cpp
  cpp/kiln/runtime/cpu/onednn/deconv.cpp
  cpp/kiln/runtime/cpu/onednn/matmul.cpp
  cpp/kiln/runtime/cpu/kernels/bf16.cpp
  # kiln's own f32 GEMM; its epilogue runs the element-wise family's activations.
  cpp/kiln/runtime/cpu/kernels/gemm.cpp
  cpp/kiln/runtime/cpu/onednn/pooling.cpp
)
