// Control flow: Choose (kiln-internal), If (opset8) and Loop (opset5).
//
// If and Loop hold their bodies as kiln::Models and describe, as the OpenVINO specification does,
// how their own inputs feed the bodies' Parameters and how the bodies' Results become their
// outputs. Indices follow OpenVINO's MultiSubGraphOp: input_index / output_index count the op's
// own inputs and outputs, body_parameter_index / body_value_index count the body's parameters()
// and results(). The IR v11 `port_map` lists each description (external_port_id = input_index or
// output_index, internal_layer_id = the body Parameter's or Result's layer id), `back_edges` the
// merged inputs (from the Result body_value_index to the Parameter body_parameter_index).
#pragma once
#include <functional>
#include <memory>

#include "kiln/core/model.hpp"

namespace kiln::op {

// Choose: the value of one of two branches of a torch `if` whose condition is known only at run
// time. Both branches are in the graph; once the condition becomes a constant (in kiln, shape
// conditions do when a plan specializes the model to static input shapes) constant folding
// replaces Choose by the chosen input, and the other branch is never planned. kiln-internal
// (opset "kiln"): OpenVINO expresses this with If and sub-graphs; kiln keeps Choose for conditions
// computed from shapes only (no body graphs, and nothing to decide at run time once planned).
//
// Inputs: 0 condition (boolean scalar), 1 value if true, 2 value if false (same element type).
class Choose : public Op<Choose> {
public:
    const char* type_name() const override { return "Choose"; }
    const char* opset() const override { return "kiln"; }
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;
};

// An op input that feeds a body Parameter unchanged (If's inputs; Loop's invariant inputs).
struct InvariantInputDescription {
    int64_t input_index = 0;
    int64_t body_parameter_index = 0;
};
// Loop: the input is the body Parameter's value on the first iteration; on each later one the
// parameter takes the body Result body_value_index of the iteration before (a back edge).
struct MergedInputDescription {
    int64_t input_index = 0;
    int64_t body_parameter_index = 0;
    int64_t body_value_index = 0;
};
// The op output is the body Result body_value_index (If: of the body that ran; Loop: of the last
// iteration). `iteration` is OpenVINO's; -1 (the last iteration) is the only value kiln takes.
struct BodyOutputDescription {
    int64_t body_value_index = 0;
    int64_t output_index = 0;
    int64_t iteration = -1;
};
// Loop: the op output is the body Result body_value_index of every iteration, concatenated along
// `axis` (negative counts from the end). kiln takes start 0, end -1, part_size the Result's size
// along axis (or 1), and stride 1 (iteration order) or -1 (reverse order).
struct ConcatOutputDescription {
    int64_t body_value_index = 0;
    int64_t output_index = 0;
    int64_t start = 0;
    int64_t stride = 1;
    int64_t part_size = 1;
    int64_t end = -1;
    int64_t axis = 0;
};

// Runs body `body` (If: 0 then, 1 else; Loop: 0) on `inputs` (one per body parameter). `outputs`
// arrive sized to the body's results, each allocated (written in place; the result must have its
// shape) or not (the runner allocates it). The reference kernels pass the interpreter
// (evaluate_model), the CPU runtime a plan compiled for the body.
using BodyRunner = std::function<void(size_t body, const std::vector<Tensor>& inputs, std::vector<Tensor>& outputs)>;

// If-8. Input 0: cond (boolean scalar or 1-element); inputs 1..: values the bodies read (each
// mapped to Parameters by then_inputs / else_inputs). Runs then_body when cond is true, else
// else_body; output k is the body Result mapped to k by then_outputs / else_outputs. Both bodies
// must give every output, of the same element type; shapes may differ (merged: differing dims
// become dynamic; a known cond leaves only the taken body's shapes).
class If : public Op<If> {
public:
    If() = default;
    If(const If& other);  // deep-copies the bodies
    const char* type_name() const override { return "If"; }
    const char* opset() const override { return "opset8"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;
    std::vector<std::shared_ptr<Model>> bodies() const override { return {then_body, else_body}; }

    // The semantics once: picks the body from in[0], feeds it and delivers its results.
    void execute(const std::vector<Tensor>& in, std::vector<Tensor>& out, const BodyRunner& run) const;
    // Number of outputs the descriptions give (1 + the largest output_index).
    size_t num_described_outputs() const;
    const std::vector<InvariantInputDescription>& inputs_of(size_t body) const { return body ? else_inputs : then_inputs; }
    const std::vector<BodyOutputDescription>& outputs_of(size_t body) const { return body ? else_outputs : then_outputs; }

    std::shared_ptr<Model> then_body, else_body;
    std::vector<InvariantInputDescription> then_inputs, else_inputs;
    std::vector<BodyOutputDescription> then_outputs, else_outputs;
};

// Loop-5. Input 0: trip_count (integer scalar or 1-element; negative: no limit); input 1:
// execution_condition (boolean scalar or 1-element: whether the first iteration runs); inputs
// 2..: initial values of the merged (carried) inputs and the invariant inputs. The body runs
// while the iteration count is below trip_count and the condition holds; the body's Result
// special_body_ports.body_condition_output_idx (boolean, required) is the condition for the next
// iteration; its Parameter current_iteration_input_idx (optional, -1 if absent; i64 or i32,
// scalar or [1]) gets the iteration number from 0. After zero iterations a body output of a
// carried value is that value's initial value, and a concatenated output has length 0.
class Loop : public Op<Loop> {
public:
    struct SpecialBodyPorts {
        int64_t current_iteration_input_idx = -1;
        int64_t body_condition_output_idx = -1;
    };

    Loop() = default;
    Loop(const Loop& other);  // deep-copies the body
    const char* type_name() const override { return "Loop"; }
    const char* opset() const override { return "opset5"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;
    std::vector<std::shared_ptr<Model>> bodies() const override { return {body}; }

    // The semantics once: iterations, back edges, the stop rules, zero trips, concatenation.
    void execute(const std::vector<Tensor>& in, std::vector<Tensor>& out, const BodyRunner& run) const;
    size_t num_described_outputs() const;

    std::shared_ptr<Model> body;
    SpecialBodyPorts special_body_ports;
    std::vector<InvariantInputDescription> invariant_inputs;
    std::vector<MergedInputDescription> merged_inputs;
    std::vector<BodyOutputDescription> body_outputs;
    std::vector<ConcatOutputDescription> concat_outputs;
};

// out = the tensors of `parts` (same type and rank, equal except along axis) concatenated along
// axis; out arrives allocated with the total shape.
void concat_along(const std::vector<Tensor>& parts, int64_t axis, Tensor& out);

}  // namespace kiln::op
