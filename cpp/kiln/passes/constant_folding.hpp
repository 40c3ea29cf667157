// Constant folding: every node whose inputs are all constants is replaced by a Constant holding
// its value (computed with the node's reference kernel). ShapeOf of a static shape folds too,
// which is what turns a dynamic model's shape arithmetic into constants once shapes are known.
// Choose and If whose condition became a constant are replaced by the branch they take (If's
// body is inlined). It sits in the core library: If and Loop shape inference specializes their
// bodies with it (core/interpreter.hpp).
#pragma once
#include "kiln/core/model.hpp"

namespace kiln::passes {

// Returns the number of nodes folded. Outputs larger than `max_elements` are left unfolded.
size_t fold_constants(Model& m, int64_t max_elements = int64_t(1) << 26);

}  // namespace kiln::passes
