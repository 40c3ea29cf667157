// RandomUniform-8: random numbers in [min, max).
#pragma once
#include <atomic>
#include <memory>

#include "kiln/core/node.hpp"

namespace kiln::op {

// RandomUniform-8. Inputs: shape (1-D integer), min, max (scalars of output_type). Output:
// output_type values uniform in [min, max) (integers: min <= v < max). global_seed and op_seed
// pick the stream; each run of the node continues it (one model run to the next gives new numbers,
// the same sequence for a model compiled again). The generator is kiln's own (a counter-based
// splitmix64): the numbers are not OpenVINO's nor torch's. Constant folding leaves this op alone.
class RandomUniform : public Op<RandomUniform> {
public:
    RandomUniform() = default;
    RandomUniform(Type output_type, int64_t global_seed, int64_t op_seed)
        : output_type(output_type), global_seed(global_seed), op_seed(op_seed) {}
    const char* type_name() const override { return "RandomUniform"; }
    const char* opset() const override { return "opset8"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    Type output_type = Type::f32;
    int64_t global_seed = 0;
    int64_t op_seed = 0;

private:
    // Runs so far (shared by copies of the node, so a compiled clone continues the stream).
    std::shared_ptr<std::atomic<uint64_t>> runs_ = std::make_shared<std::atomic<uint64_t>>(0);
};

}  // namespace kiln::op
