// The op factory's table: every op kiln reads from and writes to IR files, one line per op and
// opset version. A new op class gets its line here (tests/python/test_ir.py fails for an op
// class in ops/ that has none, unless it is kiln-internal and listed there with the reason).
//   add<op::X>(t, "X")               an op with one version (its opset() gives it)
//   add<op::X>(t, "X", {1, 8, 14})   an op whose class covers several versions (opset_version)
#include "kiln/core/op_factory.hpp"

#include <algorithm>

#include "kiln/ops/attention.hpp"
#include "kiln/ops/col2im.hpp"
#include "kiln/ops/control_flow.hpp"
#include "kiln/ops/convolution.hpp"
#include "kiln/ops/data_movement.hpp"
#include "kiln/ops/detection.hpp"
#include "kiln/ops/elementwise_binary.hpp"
#include "kiln/ops/fake_quantize.hpp"
#include "kiln/ops/fft.hpp"
#include "kiln/ops/linalg.hpp"
#include "kiln/ops/linalg_factor.hpp"
#include "kiln/ops/random.hpp"
#include "kiln/ops/recurrent.hpp"
#include "kiln/ops/scan.hpp"
#include "kiln/ops/scatter.hpp"
#include "kiln/ops/elementwise_unary.hpp"
#include "kiln/ops/graph_io.hpp"
#include "kiln/ops/grid_sample.hpp"
#include "kiln/ops/indexing.hpp"
#include "kiln/ops/interpolate.hpp"
#include "kiln/ops/matmul.hpp"
#include "kiln/ops/normalization.hpp"
#include "kiln/ops/pooling.hpp"
#include "kiln/ops/reduction.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "kiln/ops/special.hpp"

namespace kiln {

namespace {

using Table = std::vector<OpEntry>;

template <typename T>
void add(Table& t, const char* class_name) {
    T probe;
    t.push_back(OpEntry{probe.type_name(), probe.version(), class_name, [] { return std::make_shared<T>(); }});
}

// An op whose version follows one of its attributes (ScatterNDUpdate-15 is the form with a
// reduction): each version's entry makes the default op, the attributes read then settle it.
template <typename T>
void add_by_attribute(Table& t, const char* class_name, std::initializer_list<int64_t> versions) {
    T probe;
    for (int64_t v : versions)
        t.push_back(OpEntry{probe.type_name(), v, class_name, [] { return std::make_shared<T>(); }});
}

template <typename T>
void add(Table& t, const char* class_name, std::initializer_list<int64_t> versions) {
    T probe;
    for (int64_t v : versions)
        t.push_back(OpEntry{probe.type_name(), v, class_name, [v] {
                                auto n = std::make_shared<T>();
                                n->opset_version = v;
                                return n;
                            }});
}

Table make_table() {
    Table t;
    // graph_io
    add<op::Parameter>(t, "Parameter");
    add<op::Constant>(t, "Constant");
    add<op::Result>(t, "Result");
    // elementwise_binary
    add<op::Add>(t, "Add");
    add<op::Subtract>(t, "Subtract");
    add<op::Multiply>(t, "Multiply");
    add<op::Divide>(t, "Divide");
    add<op::Maximum>(t, "Maximum");
    add<op::Minimum>(t, "Minimum");
    add<op::SquaredDifference>(t, "SquaredDifference");
    add<op::Power>(t, "Power");
    add<op::FloorMod>(t, "FloorMod");
    add<op::Mod>(t, "Mod");
    add<op::Equal>(t, "Equal");
    add<op::NotEqual>(t, "NotEqual");
    add<op::Less>(t, "Less");
    add<op::LessEqual>(t, "LessEqual");
    add<op::Greater>(t, "Greater");
    add<op::GreaterEqual>(t, "GreaterEqual");
    add<op::LogicalAnd>(t, "LogicalAnd");
    add<op::LogicalOr>(t, "LogicalOr");
    add<op::LogicalXor>(t, "LogicalXor");
    add<op::BitwiseAnd>(t, "BitwiseAnd");
    add<op::BitwiseOr>(t, "BitwiseOr");
    add<op::BitwiseXor>(t, "BitwiseXor");
    add<op::BitwiseNot>(t, "BitwiseNot");
    add<op::PRelu>(t, "PRelu");
    add<op::BitwiseLeftShift>(t, "BitwiseLeftShift");
    add<op::BitwiseRightShift>(t, "BitwiseRightShift");
    // elementwise_unary
    add<op::Relu>(t, "Relu");
    add<op::Sigmoid>(t, "Sigmoid");
    add<op::Tanh>(t, "Tanh");
    add<op::Exp>(t, "Exp");
    add<op::Log>(t, "Log");
    add<op::Sqrt>(t, "Sqrt");
    add<op::Abs>(t, "Abs");
    add<op::Negative>(t, "Negative");
    add<op::Floor>(t, "Floor");
    add<op::Ceiling>(t, "Ceiling");
    add<op::Erf>(t, "Erf");
    add<op::Sin>(t, "Sin");
    add<op::Cos>(t, "Cos");
    add<op::Sign>(t, "Sign");
    add<op::LogicalNot>(t, "LogicalNot");
    add<op::SoftPlus>(t, "SoftPlus");
    add<op::Mish>(t, "Mish");
    add<op::HSwish>(t, "HSwish");
    add<op::HSigmoid>(t, "HSigmoid");
    add<op::Elu>(t, "Elu");
    add<op::Clamp>(t, "Clamp");
    add<op::Gelu>(t, "Gelu", {2, 7});
    add<op::Round>(t, "Round");
    add<op::Swish>(t, "Swish");
    add<op::Convert>(t, "Convert");
    add<op::Select>(t, "Select");
    add<op::Tan>(t, "Tan");
    add<op::Asin>(t, "Asin");
    add<op::Acos>(t, "Acos");
    add<op::Atan>(t, "Atan");
    add<op::Sinh>(t, "Sinh");
    add<op::Cosh>(t, "Cosh");
    add<op::Asinh>(t, "Asinh");
    add<op::Acosh>(t, "Acosh");
    add<op::Atanh>(t, "Atanh");
    add<op::SoftSign>(t, "SoftSign");
    add<op::IsNaN>(t, "IsNaN");
    add<op::IsFinite>(t, "IsFinite");
    add<op::IsInf>(t, "IsInf");
    // shape_ops
    add<op::ShapeOf>(t, "ShapeOf", {1, 3});
    add<op::Reshape>(t, "Reshape");
    add<op::Squeeze>(t, "Squeeze");
    add<op::Unsqueeze>(t, "Unsqueeze");
    add<op::Broadcast>(t, "Broadcast", {1, 3});
    add<op::Range>(t, "Range");
    add<op::Tile>(t, "Tile");
    // data_movement
    add<op::Transpose>(t, "Transpose");
    add<op::Concat>(t, "Concat");
    add<op::Split>(t, "Split");
    add<op::VariadicSplit>(t, "VariadicSplit");
    add<op::Gather>(t, "Gather", {1, 7, 8});
    add<op::StridedSlice>(t, "StridedSlice");
    add<op::Slice>(t, "Slice");
    add<op::Pad>(t, "Pad", {1, 12});
    add<op::Roll>(t, "Roll");
    add_by_attribute<op::ScatterNDUpdate>(t, "ScatterNDUpdate", {4, 15});
    add<op::ScatterElementsUpdate>(t, "ScatterElementsUpdate");
    add<op::EmbeddingBagOffsetsSum>(t, "EmbeddingBagOffsetsSum");
    add<op::EmbeddingBagPackedSum>(t, "EmbeddingBagPackedSum");
    add<op::GatherElements>(t, "GatherElements");
    // indexing
    add<op::GatherND>(t, "GatherND");
    add<op::TopK>(t, "TopK", {1, 3, 11});
    add<op::NonZero>(t, "NonZero");
    add<op::OneHot>(t, "OneHot");
    add<op::Bucketize>(t, "Bucketize");
    add<op::Unique>(t, "Unique");
    // reduction
    add<op::ReduceSum>(t, "ReduceSum");
    add<op::ReduceMean>(t, "ReduceMean");
    add<op::ReduceMax>(t, "ReduceMax");
    add<op::ReduceMin>(t, "ReduceMin");
    add<op::ReduceProd>(t, "ReduceProd");
    add<op::ReduceL1>(t, "ReduceL1");
    add<op::ReduceL2>(t, "ReduceL2");
    // normalization
    add<op::Softmax>(t, "Softmax", {1, 8});
    add<op::LogSoftmax>(t, "LogSoftmax");
    add<op::MVN>(t, "MVN");
    add<op::BatchNormInference>(t, "BatchNormInference");
    add<op::NormalizeL2>(t, "NormalizeL2");
    add<op::CumSum>(t, "CumSum");
    // fft, linear algebra, random, recurrent, quantization, detection
    add<op::DFT>(t, "DFT");
    add<op::IDFT>(t, "IDFT");
    add<op::RDFT>(t, "RDFT");
    add<op::IRDFT>(t, "IRDFT");
    add<op::Inverse>(t, "Inverse");
    add<op::RandomUniform>(t, "RandomUniform");
    add<op::LSTMSequence>(t, "LSTMSequence");
    add<op::GRUSequence>(t, "GRUSequence");
    add<op::RNNSequence>(t, "RNNSequence");
    add<op::LSTMCell>(t, "LSTMCell");
    add<op::GRUCell>(t, "GRUCell");
    add<op::RNNCell>(t, "RNNCell");
    add<op::FakeQuantize>(t, "FakeQuantize");
    add<op::NonMaxSuppression>(t, "NonMaxSuppression");
    add<op::ROIAlign>(t, "ROIAlign");
    add<op::ROIPooling>(t, "ROIPooling");
    add<op::DeformableConvolution>(t, "DeformableConvolution");
    // convolution, matmul, pooling
    add<op::Convolution>(t, "Convolution");
    add<op::GroupConvolution>(t, "GroupConvolution");
    add<op::ConvolutionBackpropData>(t, "ConvolutionBackpropData");
    add<op::GroupConvolutionBackpropData>(t, "GroupConvolutionBackpropData");
    add<op::MatMul>(t, "MatMul");
    add<op::MaxPool>(t, "MaxPool", {1, 8, 14});
    add<op::AvgPool>(t, "AvgPool", {1, 14});
    add<op::AdaptiveAvgPool>(t, "AdaptiveAvgPool");
    add<op::AdaptiveMaxPool>(t, "AdaptiveMaxPool");
    // attention
    add<op::ScaledDotProductAttention>(t, "ScaledDotProductAttention");
    // resample
    add<op::Interpolate>(t, "Interpolate");
    add<op::GridSample>(t, "GridSample");
    add<op::Col2Im>(t, "Col2Im");
    // control_flow
    add<op::If>(t, "If");
    add<op::Loop>(t, "Loop");
    // kiln-internal ops (version "kiln" in a file: kiln reads them back, OpenVINO does not know them)
    add<op::Gcd>(t, "Gcd");
    add<op::Lcm>(t, "Lcm");
    add<op::Determinant>(t, "Determinant");
    add<op::LogDeterminant>(t, "LogDeterminant");
    add<op::Svd>(t, "Svd");
    add<op::Cholesky>(t, "Cholesky");
    add<op::Qr>(t, "Qr");
    add<op::Eigh>(t, "Eigh");
    add<op::SpecialFunction>(t, "SpecialFunction");
    add<op::CumProd>(t, "CumProd");
    add<op::CumExtreme>(t, "CumExtreme");
    add<op::LogCumSumExp>(t, "LogCumSumExp");
    add<op::PackPadded>(t, "PackPadded");
    add<op::PadPacked>(t, "PadPacked");
    return t;
}

}  // namespace

const std::vector<OpEntry>& op_registry() {
    static const Table table = make_table();
    return table;
}

std::shared_ptr<Node> create_op(const std::string& type, int64_t version) {
    for (auto& e : op_registry())
        if (e.type == type && e.version == version) return e.make();
    return nullptr;
}

std::vector<int64_t> op_versions(const std::string& type) {
    std::vector<int64_t> r;
    for (auto& e : op_registry())
        if (e.type == type) r.push_back(e.version);
    std::sort(r.begin(), r.end());
    return r;
}

int64_t version_in_opset(const std::string& type, int64_t opset) {
    int64_t best = -1;
    for (int64_t v : op_versions(type))
        if (v <= opset) best = v;
    return best;
}

}  // namespace kiln
