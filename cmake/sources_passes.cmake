# Graph passes run at compile time and when a plan is built (passes/pipeline.hpp). They sit above
# every op family, so that they see the real op classes (constant folding is in the core: If/Loop
# shape inference uses it).
set(KILN_PASSES_SOURCES
  cpp/kiln/passes/pipeline.cpp
  cpp/kiln/passes/fuse_dnn.cpp
  cpp/kiln/passes/fuse_attention.cpp
  cpp/kiln/passes/fuse_layer_norm.cpp
  cpp/kiln/passes/batch_norm_affine.cpp
  cpp/kiln/passes/fuse_gelu.cpp
  cpp/kiln/passes/fuse_int8.cpp
)
