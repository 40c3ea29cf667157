// Indexing ops beyond Gather: GatherND (opset8), TopK (opset11), NonZero (opset3), OneHot (opset1),
// Bucketize (opset3), Unique (opset10), and kiln's IndexCheck.
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

// NonZero-3. Input: data (any type, any rank; a scalar counts as one element of a 1-D tensor).
// Output: [max(rank, 1), count] (output_type i64 or i32): the coordinates of the non-zero
// elements in row-major order, one column per element. The count is known only once the data is:
// the output is allocated by evaluate() when it arrives unallocated.
class NonZero : public Op<NonZero> {
public:
    NonZero() = default;
    explicit NonZero(Type output_type) : output_type(output_type) {}
    const char* type_name() const override { return "NonZero"; }
    const char* opset() const override { return "opset3"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    Type output_type = Type::i64;
};

// OneHot-1. Inputs: indices (integer), depth (integer scalar), on_value, off_value (scalars of
// the output type). Output: indices' shape with a new axis of length depth at `axis` (-1: last);
// on_value where the new axis equals the index, off_value elsewhere (an index outside [0, depth)
// gives a row of off_value).
class OneHot : public Op<OneHot> {
public:
    OneHot() = default;
    explicit OneHot(int64_t axis) : axis(axis) {}
    const char* type_name() const override { return "OneHot"; }
    const char* opset() const override { return "opset1"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    int64_t axis = -1;
};

// Bucketize-3. Inputs: data (numeric), buckets (1-D, ascending). Output: data's shape, the bucket
// index of each element (output_type i64 or i32). with_right_bound: bucket i is (b[i-1], b[i]]
// (the number of boundaries < x); otherwise [b[i-1], b[i]) (the number of boundaries <= x).
// NaN goes past the last bucket.
class Bucketize : public Op<Bucketize> {
public:
    Bucketize() = default;
    Bucketize(Type output_type, bool with_right_bound) : output_type(output_type), with_right_bound(with_right_bound) {}
    const char* type_name() const override { return "Bucketize"; }
    const char* opset() const override { return "opset3"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    Type output_type = Type::i64;
    bool with_right_bound = true;
};

// Unique-10. Inputs: data [, axis (integer, one element)]. Without axis the data is flattened and
// its unique elements found; with it, the unique slices along axis. Outputs: unique values (the
// slices along axis, or 1-D), indices (index_element_type: the first occurrence of each in data),
// rev_indices (for each element / slice of data the index of its unique value), counts
// (count_element_type). sorted: ascending (slices lexicographically); else in order of first
// occurrence. Output lengths depend on the data (allocated by evaluate()).
class Unique : public Op<Unique> {
public:
    Unique() = default;
    Unique(bool sorted, Type index_element_type = Type::i64, Type count_element_type = Type::i64)
        : sorted(sorted), index_element_type(index_element_type), count_element_type(count_element_type) {}
    const char* type_name() const override { return "Unique"; }
    const char* opset() const override { return "opset10"; }
    void visit_attributes(AttributeVisitor& v) override;
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;

    bool sorted = true;
    Type index_element_type = Type::i64;
    Type count_element_type = Type::i64;
};

}  // namespace kiln::op
