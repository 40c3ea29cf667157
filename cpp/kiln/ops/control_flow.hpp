// Choose: the value of one of two branches of a torch `if` whose condition is known only at run
// time. Both branches are in the graph; once the condition becomes a constant (in kiln, shape
// conditions do when a plan specializes the model to static input shapes) constant folding
// replaces Choose by the chosen input, and the other branch is never planned. kiln-internal
// (opset "kiln"): OpenVINO expresses this with If and sub-graphs.
#pragma once
#include "kiln/core/node.hpp"

namespace kiln::op {

// Inputs: 0 condition (boolean scalar), 1 value if true, 2 value if false (same element type).
class Choose : public Op<Choose> {
public:
    const char* type_name() const override { return "Choose"; }
    const char* opset() const override { return "kiln"; }
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;
};

}  // namespace kiln::op
