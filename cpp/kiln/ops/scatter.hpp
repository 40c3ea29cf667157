// Scatters with reductions and embedding bags: ScatterElementsUpdate (opset12),
// EmbeddingBagOffsetsSum and EmbeddingBagPackedSum (opset3). ScatterNDUpdate (opset15, with its
// reductions) is in data_movement.hpp.
#pragma once
#include "kiln/core/node.hpp"

namespace kiln::op {

// The reductions of ScatterElementsUpdate-12 and ScatterNDUpdate-15 (sub: ScatterNDUpdate only).
enum class ScatterReduction { none, sum, sub, prod, min, max, mean };
void visit_reduction(AttributeVisitor& v, ScatterReduction& r);
// out[p] = reduce(out[p], u) for one element; mean sums (the division comes after).
template <typename T>
T scatter_combine(ScatterReduction r, T old, T u) {
    switch (r) {
        case ScatterReduction::none: return u;
        case ScatterReduction::sum:
        case ScatterReduction::mean:
            if constexpr (std::is_same_v<T, bool>) return old || u; else return static_cast<T>(old + u);
        case ScatterReduction::sub:
            if constexpr (std::is_same_v<T, bool>) return old != u; else return static_cast<T>(old - u);
        case ScatterReduction::prod:
            if constexpr (std::is_same_v<T, bool>) return old && u; else return static_cast<T>(old * u);
        case ScatterReduction::min: return (u < old || u != u) ? u : old;
        case ScatterReduction::max: return (u > old || u != u) ? u : old;
    }
    return u;
}

// ScatterElementsUpdate-12. Inputs: data, indices (integer, data's rank; negative counts from the
// end), updates (indices' shape), axis (integer scalar). Output: data with, for each element of
// updates, output[.., indices[i], ..] (indices[i] on axis, i's own coordinates elsewhere)
// = reduction(output[...], updates[i]). use_init_val false: a position that receives updates
// starts from the first of them instead of data's value. mean divides by the number of values
// reduced (data's value counting as one when used); integers round the mean down.
class ScatterElementsUpdate : public Op<ScatterElementsUpdate> {
public:
    using Reduction = ScatterReduction;
    ScatterElementsUpdate() = default;
    explicit ScatterElementsUpdate(Reduction reduction, bool use_init_val = true)
        : reduction(reduction), use_init_val(use_init_val) {}
    const char* type_name() const override { return "ScatterElementsUpdate"; }
    const char* opset() const override { return "opset12"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    Reduction reduction = Reduction::none;
    bool use_init_val = true;
};

// EmbeddingBagOffsetsSum-3. Inputs: emb_table [N, D...], indices [I] (integer), offsets [B] (where
// each bag starts in indices; the last runs to the end) [, default_index (scalar: the row an empty
// bag takes; -1 or absent: zeros) [, per_sample_weights [I] (table type)]].
// Output [B, D...]: per bag the (weighted) sum of its rows.
class EmbeddingBagOffsetsSum : public Op<EmbeddingBagOffsetsSum> {
public:
    EmbeddingBagOffsetsSum() = default;
    const char* type_name() const override { return "EmbeddingBagOffsetsSum"; }
    const char* opset() const override { return "opset3"; }
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;
};

// EmbeddingBagPackedSum-3. Inputs: emb_table [N, D...], indices [B, L] (integer)
// [, per_sample_weights [B, L]]. Output [B, D...]: per row of indices the (weighted) sum of its rows.
class EmbeddingBagPackedSum : public Op<EmbeddingBagPackedSum> {
public:
    EmbeddingBagPackedSum() = default;
    const char* type_name() const override { return "EmbeddingBagPackedSum"; }
    const char* opset() const override { return "opset3"; }
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;
};

}  // namespace kiln::op
