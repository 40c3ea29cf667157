// Indexing ops beyond Gather: GatherND (opset8), TopK (opset11), and kiln's IndexCheck.
#pragma once
#include <string>

#include "kiln/core/node.hpp"

namespace kiln::op {

// IndexCheck (kiln-internal): passes its indices through unchanged and fails when one is out of
// range. OpenVINO's Gather and GatherND give zeros for an index out of range; torch raises. The
// torch front end puts an IndexCheck before the gathers it makes from embedding and indexing,
// so a bad token id is an error that names the input, never a silent zero row.
// Inputs: indices (integer, any shape), size (integer scalar: the extent being indexed).
// Valid: [0, size), and also [-size, 0) when allow_negative. `what` names the indices in the
// error ("input 'input_ids'", "token id").
class IndexCheck : public Op<IndexCheck> {
public:
    IndexCheck() = default;
    IndexCheck(bool allow_negative, std::string what) : allow_negative(allow_negative), what(std::move(what)) {}
    const char* type_name() const override { return "IndexCheck"; }
    const char* opset() const override { return "kiln"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    bool allow_negative = false;
    std::string what = "index";
};

// GatherND-8. Inputs: data [B..., D...], indices [B..., I..., K] (integer; the last dim indexes
// the first K dims after the batch dims; negative counts from the end).
// Output: [B..., I..., D[K:]...]; with batch_dims > 0 the batch dims stay separate (opset8: not
// flattened).
class GatherND : public Op<GatherND> {
public:
    GatherND() = default;
    explicit GatherND(int64_t batch_dims) : batch_dims(batch_dims) {}
    const char* type_name() const override { return "GatherND"; }
    const char* opset() const override { return "opset8"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    int64_t batch_dims = 0;
};

// TopK-11 (and -1 and -3, which have no `stable` attribute). Inputs: data, k (integer scalar). Outputs: values, indices (index_element_type), both
// with data's shape but k on `axis`. mode max|min picks the largest|smallest; sort value|index|none
// orders the k results (none: as value). stable keeps equal values in index order (kiln always
// does: ties are broken by the lower index, which is what torch's argmax/argmin/topk give).
class TopK : public Op<TopK> {
public:
    enum class Mode { max, min };
    enum class Sort { value, index, none };
    TopK() = default;
    TopK(int64_t axis, Mode mode, Sort sort, Type index_element_type = Type::i64, bool stable = true)
        : axis(axis), mode(mode), sort(sort), index_element_type(index_element_type), stable(stable) {}
    const char* type_name() const override { return "TopK"; }
    const char* opset() const override { return opset_name(opset_version); }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    int64_t axis = -1;
    Mode mode = Mode::max;
    Sort sort = Sort::value;
    Type index_element_type = Type::i64;
    bool stable = true;
    int64_t opset_version = 11;  // 1, 3 or 11
};

}  // namespace kiln::op
