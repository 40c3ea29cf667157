// Running a model without the runtime: the plain reference interpreter (every node's own
// evaluate()), and the specialization of a graph to given input types and shapes that the shape
// inference of If and Loop uses on their bodies. Both leave the model they are given untouched.
#pragma once
#include <memory>
#include <vector>

#include "kiln/core/model.hpp"

namespace kiln {

// Runs `m` on `inputs` (one per parameter) with every node's reference kernel. Shapes are inferred
// node by node from the actual values, so any shape the graph can take runs, data-dependent ones
// included. The results may share memory with the inputs or with the model's constants.
// Throws ValueError (wrong inputs, or a node rejecting its shapes, named) or Error.
std::vector<Tensor> evaluate_model(const Model& m, const std::vector<Tensor>& inputs);

// A copy of `m` whose parameter i has type and shape inputs[i] (a dynamic type keeps the declared
// one) and, when values[i] is given, that value (as a Constant); shapes are re-inferred and what
// becomes known is folded into constants (tensors up to max_fold_elements elements), so that the
// results' shapes are as precise as a plan for these inputs would find them. values may be
// shorter than inputs. Throws ValueError naming the node that rejects the shapes.
std::shared_ptr<Model> specialize(const Model& m, const std::vector<TensorDesc>& inputs,
                                  const std::vector<const Tensor*>& values = {},
                                  int64_t max_fold_elements = 4096);

// A tensor that has memory (an output that arrives unallocated has none).
inline bool allocated(const Tensor& t) { return t.data() != nullptr; }

// Puts `value` into `dst`: an unallocated dst takes it as it is (shared memory), an allocated one
// gets a copy, which must have dst's type and shape (else Error, `what` naming the place).
void deliver(Tensor& dst, const Tensor& value, const std::string& what);

}  // namespace kiln
