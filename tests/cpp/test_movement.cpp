// Movement family: shape inference (static, dynamic, errors), attribute round trips, reference
// kernels on hand-checked values, and every fast kernel against the reference kernel.
#include <gtest/gtest.h>

#include "test_util.hpp"

#include <map>
#include <random>

#include "kiln/ops/data_movement.hpp"
#include "kiln/ops/graph_io.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "kiln/runtime/cpu/kernels/movement.hpp"

using namespace kiln;
using namespace kiln::op;

namespace {

Output param(PartialShape s, Type t = Type::f32) { return make<Parameter>({}, t, std::move(s))->output(0); }
Output ci(std::vector<int64_t> v, std::optional<Shape> s = std::nullopt) {
    Shape sh = s ? *s : Shape{static_cast<int64_t>(v.size())};
    return Constant::create<int64_t>(v, sh)->output(0);
}
Output ci32(std::vector<int32_t> v) {
    return Constant::create<int32_t>(v, {static_cast<int64_t>(v.size())})->output(0);
}
Output scalar(int64_t v) { return Constant::scalar<int64_t>(v)->output(0); }
std::string shape_of(const NodePtr& n, size_t i = 0) { return n->output_shape(i).to_string(); }
Dimension dyn() { return Dimension::dynamic(); }

// Expects a ValueError whose message contains `part`.
using kiln::test::expect_error;

// Runs a node's reference kernel on tensors whose shapes are the node's static input shapes.
std::vector<Tensor> run_ref(const Node& n, const std::vector<Tensor>& in) {
    std::vector<Tensor> out;
    for (size_t i = 0; i < n.num_outputs(); ++i) out.emplace_back(n.output_type(i), n.output_shape(i).to_shape());
    n.evaluate(in, out);
    return out;
}

Tensor iota(Type t, Shape s) {
    Tensor r(t, s);
    std::vector<double> v(static_cast<size_t>(r.size()));
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i % 100);
    convert_elements(v.data(), Type::f64, r.data(), t, v.size());
    return r;
}

Tensor random_bytes(Type t, Shape s, std::mt19937& rng) {
    Tensor r(t, s);
    auto p = r.data<uint8_t>();
    for (size_t i = 0; i < r.byte_size(); ++i) p[i] = static_cast<uint8_t>(rng());
    if (t == Type::boolean)
        for (size_t i = 0; i < r.byte_size(); ++i) p[i] &= 1;
    return r;
}

template <typename T>
std::vector<T> values(const Tensor& t) {
    std::vector<T> v(static_cast<size_t>(t.size()));
    convert_elements(t.data(), t.type(), v.data(), type_of<T>::value, v.size());
    return v;
}

// Inputs for a node: a tensor per input; constants are taken from the graph.
std::vector<Tensor> inputs_for(const Node& n, std::vector<Tensor> data) {
    std::vector<Tensor> in;
    size_t k = 0;
    for (size_t i = 0; i < n.num_inputs(); ++i) {
        if (auto c = n.input(i).node->constant_value()) in.push_back(*c);
        else in.push_back(data.at(k++));
    }
    return in;
}

// Compares the fast kernel with the reference kernel, byte for byte, on the given inputs.
void check_fast(const Node& n, const std::vector<Tensor>& in, bool expect_kernel = true,
                bool constants_known = true) {
    cpu::KernelShapes ks;
    for (size_t i = 0; i < n.num_inputs(); ++i) {
        ks.inputs.push_back({in[i].type(), PartialShape(in[i].shape())});
        ks.constants.push_back(constants_known ? n.input(i).node->constant_value() : nullptr);
    }
    for (size_t i = 0; i < n.num_outputs(); ++i) ks.outputs.push_back(n.output_desc(i));
    auto k = cpu::make_movement_kernel(n, ks);
    if (!expect_kernel) {
        EXPECT_EQ(k, nullptr);
        return;
    }
    ASSERT_NE(k, nullptr) << n.type_name();
    auto ref = run_ref(n, in);
    std::vector<Tensor> out;
    for (size_t i = 0; i < n.num_outputs(); ++i) {
        out.emplace_back(n.output_type(i), n.output_shape(i).to_shape());
        std::memset(out.back().data(), 0xCD, out.back().byte_size());
    }
    k->execute(in, out);
    for (size_t i = 0; i < out.size(); ++i) {
        ASSERT_EQ(out[i].shape(), ref[i].shape());
        ASSERT_EQ(0, std::memcmp(out[i].data(), ref[i].data(), ref[i].byte_size()))
            << n.type_name() << " output " << i << " differs; shape " << to_string(ref[i].shape());
    }
}

const Type kTypes[] = {Type::u8, Type::f16, Type::f32, Type::i64, Type::boolean, Type::i32, Type::f64};

// Attribute round trip: write every attribute to a store, read it into a fresh op.
struct Store : AttributeVisitor {
    bool load = false;
    Direction direction() const override { return load ? Direction::read : Direction::write; }
    std::map<std::string, bool> b;
    std::map<std::string, int64_t> i;
    std::map<std::string, double> d;
    std::map<std::string, std::string> s;
    std::map<std::string, std::vector<int64_t>> vi;
    std::map<std::string, std::vector<double>> vd;
    std::map<std::string, Type> t;
    std::map<std::string, PartialShape> p;
    template <typename M, typename V>
    void io(M& m, const char* n, V& v) {
        if (load) v = m.at(n);
        else m[n] = v;
    }
    void on(const char* n, bool& v) override { io(b, n, v); }
    void on(const char* n, int64_t& v) override { io(i, n, v); }
    void on(const char* n, double& v) override { io(d, n, v); }
    void on(const char* n, std::string& v) override { io(s, n, v); }
    void on(const char* n, std::vector<int64_t>& v) override { io(vi, n, v); }
    void on(const char* n, std::vector<double>& v) override { io(vd, n, v); }
    void on(const char* n, Type& v) override { io(t, n, v); }
    void on(const char* n, PartialShape& v) override { io(p, n, v); }
};

template <typename T>
void round_trip(T op, const std::string& expect) {
    Store st;
    op.visit_attributes(st);
    T fresh;
    st.load = true;
    fresh.visit_attributes(st);
    EXPECT_EQ(fresh.attributes_string(), op.attributes_string());
    EXPECT_EQ(op.attributes_string(), expect);
}

}  // namespace

// =============================================================================================
// Attributes

TEST(MovementAttributes, RoundTrip) {
    round_trip(ShapeOf(Type::i32), "output_type=i32");
    round_trip(Reshape(true), "special_zero=true");
    round_trip(Broadcast(BroadcastMode::bidirectional), "mode=bidirectional");
    round_trip(Broadcast(BroadcastMode::explicit_), "mode=explicit");
    round_trip(Range(Type::f32), "output_type=f32");
    round_trip(Concat(-2), "axis=-2");
    round_trip(Split(3), "num_splits=3");
    round_trip(Gather(-1), "batch_dims=-1");
    round_trip(StridedSlice({1, 0}, {0, 1}, {0, 0}, {0, 1}, {0, 0}),
               "begin_mask=[1,0], end_mask=[0,1], new_axis_mask=[0,0], shrink_axis_mask=[0,1], "
               "ellipsis_mask=[0,0]");
    round_trip(Pad(PadMode::symmetric), "pad_mode=symmetric");
    round_trip(GatherElements(1), "axis=1");
    EXPECT_EQ(std::string(Gather().opset()), "opset8");
    EXPECT_EQ(std::string(Pad().opset()), "opset12");
    EXPECT_EQ(std::string(Slice().opset()), "opset8");
    EXPECT_EQ(std::string(ScatterNDUpdate().type_name()), "ScatterNDUpdate");
}

TEST(MovementAttributes, BadEnumSpelling) {
    Store st;
    st.s["mode"] = "pdpdx";
    st.load = true;
    Broadcast b;
    expect_error([&] { b.visit_attributes(st); }, "expected one of: numpy, explicit, bidirectional");
}

TEST(MovementAttributes, CloneKeepsAttributes) {
    auto x = param({2, 3, 4});
    auto r = make<Reshape>({x, ci({0, -1})}, true);
    auto c = r->clone({x, ci({0, -1})});
    EXPECT_TRUE(same_attributes(*r, *c));
    EXPECT_EQ(shape_of(c), "[2,12]");
}

// =============================================================================================
// ShapeOf, Reshape

TEST(ShapeOf, Infer) {
    EXPECT_EQ(shape_of(make<ShapeOf>({param({dyn(), 3, dyn(), dyn()})})), "[4]");
    EXPECT_EQ(shape_of(make<ShapeOf>({param(PartialShape())})), "[?]");
    EXPECT_EQ(shape_of(make<ShapeOf>({param(PartialShape(Shape{}))})), "[0]");
    auto s = make<ShapeOf>({param({2, 3})}, Type::i32);
    EXPECT_EQ(static_cast<Node&>(*s).output_type(0), Type::i32);  // the field hides the method
    auto out = run_ref(*s, {iota(Type::f32, {2, 3})});
    EXPECT_EQ(values<int64_t>(out[0]), (std::vector<int64_t>{2, 3}));
    expect_error([] { make<ShapeOf>({param({2})}, Type::f32); }, "output_type must be i64 or i32");
}

TEST(Reshape, ConstantTarget) {
    EXPECT_EQ(shape_of(make<Reshape>({param({2, 3, 4}), ci({4, -1})}, false)), "[4,6]");
    EXPECT_EQ(shape_of(make<Reshape>({param({2, 3, 4}), ci({0, -1})}, true)), "[2,12]");
    EXPECT_EQ(shape_of(make<Reshape>({param({2, 3, 4}), ci({0, 0, 4})}, true)), "[2,3,4]");
    EXPECT_EQ(shape_of(make<Reshape>({param({2, 0, 4}), ci({0, 6})}, false)), "[0,6]");
    EXPECT_EQ(shape_of(make<Reshape>({param({1}), ci({}, Shape{0})}, false)), "[]");
    EXPECT_EQ(shape_of(make<Reshape>({param({0, 3}), ci({-1, 3})}, false)), "[0,3]");
    // int32 target shape
    EXPECT_EQ(shape_of(make<Reshape>({param({6}), ci32({3, 2})}, false)), "[3,2]");
}

TEST(Reshape, DynamicInput) {
    EXPECT_EQ(shape_of(make<Reshape>({param({dyn(), 3, 4}), ci({0, -1})}, true)), "[?,12]");
    EXPECT_EQ(shape_of(make<Reshape>({param({dyn(), 3, 4}), ci({-1, 6})}, false)), "[?,6]");
    EXPECT_EQ(shape_of(make<Reshape>({param({Dimension(2, 8), 6}), ci({-1, 3})}, false)), "[4..16,3]");
    EXPECT_EQ(shape_of(make<Reshape>({param(PartialShape()), ci({2, -1})}, false)), "[2,?]");
    EXPECT_EQ(shape_of(make<Reshape>({param(PartialShape()), ci({2, 0})}, true)), "[2,?]");
}

TEST(Reshape, NonConstantTarget) {
    EXPECT_EQ(shape_of(make<Reshape>({param({2, 3}), param({4}, Type::i64)}, false)), "[?,?,?,?]");
    EXPECT_EQ(shape_of(make<Reshape>({param({2, 3}), param({dyn()}, Type::i64)}, false)), "[...]");
}

TEST(Reshape, ViewBatchMinusOne) {
    // x.view(x.size(0), -1) as a torch front end builds it.
    auto x = param({dyn(), 3, 224, 224});
    auto shp = make<ShapeOf>({x});
    auto d0 = make<Gather>({shp->output(0), scalar(0), scalar(0)}, 0);
    auto u = make<Unsqueeze>({d0->output(0), scalar(0)});
    auto target = make<Concat>({u->output(0), ci({-1})}, 0);
    EXPECT_EQ(shape_of(target), "[2]");
    auto r = make<Reshape>({x, target->output(0)}, false);
    EXPECT_EQ(shape_of(r), "[?,150528]");
    // Flatten of the trailing dims through a slice of the shape: x.view(*x.shape[:2], -1).
    auto y = param({dyn(), Dimension(1, 10), 4, 5});
    auto head = make<StridedSlice>({make<ShapeOf>({y})->output(0), ci({0}), ci({2}), ci({1})},
                                   std::vector<int64_t>{0}, std::vector<int64_t>{0});
    auto t2 = make<Concat>({head->output(0), ci({-1})}, 0);
    EXPECT_EQ(shape_of(make<Reshape>({y, t2->output(0)}, false)), "[?,1..10,20]");
    // A dimension of another tensor does not cancel: only its interval is used.
    auto z = param({dyn(), 8});
    auto zt = make<Concat>({make<Gather>({make<ShapeOf>({z})->output(0), ci({0}), scalar(0)})->output(0), ci({-1})}, 0);
    EXPECT_EQ(shape_of(make<Reshape>({x, zt->output(0)}, false)), "[?,?]");
}

// The partial values are carried on each op's output descriptor, set by its own infer(): a shape
// computed in the graph is known without walking the graph back to its ShapeOf.
TEST(ShapeValue, CarriedOnDescriptors) {
    auto xn = make<Parameter>({}, Type::f32, PartialShape({dyn(), 3, Dimension(2, 9)}));
    auto shp = make<ShapeOf>({xn->output(0)});
    auto value = [](const NodePtr& n) {
        auto& v = n->output_desc(0).value;
        std::string s;
        if (!v) return std::string("none");
        for (auto& e : *v) s += (s.empty() ? "" : ",") + (e.known ? std::to_string(e.value) : e.dim.to_string() + "@" + std::to_string(e.axis));
        return s;
    };
    EXPECT_EQ(value(shp), "?@0,3,2..9@2");
    EXPECT_EQ((*shp->output_desc(0).value)[0].src, xn.get());
    auto g = make<Gather>({shp->output(0), ci({2, 1}), scalar(0)}, 0);
    EXPECT_EQ(value(g), "2..9@2,3");
    auto sl = make<Slice>({shp->output(0), ci({0}), ci({1}), ci({1})});
    EXPECT_EQ(value(sl), "?@0");
    auto ss = make<StridedSlice>({shp->output(0), ci({1}), ci({3}), ci({1})}, std::vector<int64_t>{0}, std::vector<int64_t>{0});
    EXPECT_EQ(value(ss), "3,2..9@2");
    auto sq = make<Squeeze>({sl->output(0), ci({0})});
    EXPECT_EQ(value(sq), "?@0");
    auto u = make<Unsqueeze>({sq->output(0), scalar(0)});
    EXPECT_EQ(value(u), "?@0");
    auto c = make<Concat>({u->output(0), ci({-1}), g->output(0)}, 0);
    EXPECT_EQ(value(c), "?@0,-1,2..9@2,3");
    auto r = make<Reshape>({c->output(0), ci({4})}, false);
    EXPECT_EQ(value(r), "?@0,-1,2..9@2,3");
    // Nothing is known of a parameter's value, nor of a tensor of rank > 1.
    EXPECT_EQ(value(make<Concat>({param({2}, Type::i64), ci({1})}, 0)), "none");
    EXPECT_EQ(value(make<Unsqueeze>({c->output(0), scalar(0)})), "none");
    // Re-inference after the input's shape changes updates the values (as plan building does).
    xn->shape = PartialShape({5, 3, 7});
    for (auto& n : NodeVector{xn, shp, g, sl, sq, u, c}) n->validate_and_infer();
    EXPECT_EQ(value(c), "5,-1,7,3");
}

TEST(Reshape, Errors) {
    auto r = [](Shape in, std::vector<int64_t> t, bool sz = false) {
        auto n = std::make_shared<Reshape>(sz);
        n->set_name("view");
        n->set_inputs({param(PartialShape(in)), ci(t)});
        n->validate_and_infer();
    };
    expect_error([&] { r({2, 3}, {4, -1}); }, "[Reshape view] cannot reshape [2,3] (6 elements) to [4,-1]");
    expect_error([&] { r({2, 3}, {4, 2}); }, "cannot reshape [2,3] (6 elements) to [4,2]");
    expect_error([&] { r({2, 3}, {-1, -1}); }, "more than one -1");
    expect_error([&] { r({2, 3}, {-2, 3}); }, "negative dimension");
    expect_error([&] { r({6}, {2, 0}, true); }, "special_zero");
    expect_error([] { make<Reshape>({param({6}), ci({2, 3}, Shape{1, 2})}); }, "must be 1D");
    expect_error([] { make<Reshape>({param({6}), param({2}, Type::f32)}); }, "integer type");
}

TEST(Reshape, Evaluate) {
    auto n = make<Reshape>({param({2, 3}, Type::i32), ci({3, 2})});
    auto in = iota(Type::i32, {2, 3});
    EXPECT_EQ(values<int32_t>(run_ref(*n, {in, *n->input(1).node->constant_value()})[0]),
              (std::vector<int32_t>{0, 1, 2, 3, 4, 5}));
}

// =============================================================================================
// Squeeze, Unsqueeze

TEST(Squeeze, Infer) {
    EXPECT_EQ(shape_of(make<Squeeze>({param({1, 3, 1, 4})})), "[3,4]");
    EXPECT_EQ(shape_of(make<Squeeze>({param({1, 3, 1, 4}), ci({-2})})), "[1,3,4]");
    EXPECT_EQ(shape_of(make<Squeeze>({param({1, 3, 1, 4}), ci({}, Shape{0})})), "[3,4]");
    EXPECT_EQ(shape_of(make<Squeeze>({param({1, 3}), scalar(0)})), "[3]");
    EXPECT_EQ(shape_of(make<Squeeze>({param({dyn(), 3}), ci({0})})), "[3]");
    EXPECT_EQ(shape_of(make<Squeeze>({param({dyn(), 3})})), "[...]");
    EXPECT_EQ(shape_of(make<Squeeze>({param({Dimension(2, 5), 1})})), "[2..5]");
    EXPECT_EQ(shape_of(make<Squeeze>({param({1, 3}), param({1}, Type::i64)})), "[...]");
    EXPECT_EQ(shape_of(make<Squeeze>({param(PartialShape()), ci({0})})), "[...]");
    expect_error([] { make<Squeeze>({param({2, 3}), ci({0})}); }, "cannot squeeze axis 0 of shape [2,3]: its dimension is 2, expected 1");
    expect_error([] { make<Squeeze>({param({1, 3}), ci({2})}); }, "axis 2 is out of range");
    expect_error([] { make<Squeeze>({param({Dimension(2, 5)}), ci({0})}); }, "cannot squeeze");
}

TEST(Unsqueeze, Infer) {
    EXPECT_EQ(shape_of(make<Unsqueeze>({param({3, 4}), ci({0, -1})})), "[1,3,4,1]");
    EXPECT_EQ(shape_of(make<Unsqueeze>({param(PartialShape(Shape{})), scalar(0)})), "[1]");
    EXPECT_EQ(shape_of(make<Unsqueeze>({param({dyn(), 4}), ci({1})})), "[?,1,4]");
    EXPECT_EQ(shape_of(make<Unsqueeze>({param({3, 4}), param({2}, Type::i32)})), "[?,?,?,?]");
    EXPECT_EQ(shape_of(make<Unsqueeze>({param(PartialShape()), ci({0})})), "[...]");
    expect_error([] { make<Unsqueeze>({param({3}), ci({0, 0})}); }, "repeats");
    expect_error([] { make<Unsqueeze>({param({3}), ci({2})}); }, "out of range for output rank 2");
}

// =============================================================================================
// Broadcast, Tile, Range

TEST(Broadcast, Infer) {
    using M = BroadcastMode;
    EXPECT_EQ(shape_of(make<Broadcast>({param({3, 1}), ci({2, 3, 4})}, M::numpy)), "[2,3,4]");
    EXPECT_EQ(shape_of(make<Broadcast>({param({3, 1}), ci({2, 1, 4})}, M::bidirectional)), "[2,3,4]");
    EXPECT_EQ(shape_of(make<Broadcast>({param({2, 3, 1}), ci({4})}, M::bidirectional)), "[2,3,4]");
    EXPECT_EQ(shape_of(make<Broadcast>({param({3}), ci({2, 3, 4}), ci({1})}, M::explicit_)), "[2,3,4]");
    EXPECT_EQ(shape_of(make<Broadcast>({param({dyn(), 1}), ci({5, 4})}, M::numpy)), "[5,4]");
    EXPECT_EQ(shape_of(make<Broadcast>({param({3, dyn()}), param({3}, Type::i64)}, M::numpy)), "[?,3,?]");
    EXPECT_EQ(shape_of(make<Broadcast>({param({3, 1}), param({3}, Type::i64)}, M::bidirectional)), "[?,3,?]");
    EXPECT_EQ(shape_of(make<Broadcast>({param({3, 1}), param({dyn()}, Type::i64)})), "[...]");
    // expand(x.size(0), 4) with a dynamic x
    auto x = param({dyn(), 1});
    auto d0 = make<Gather>({make<ShapeOf>({x})->output(0), ci({0}), scalar(0)});
    auto t = make<Concat>({d0->output(0), ci({4})}, 0);
    EXPECT_EQ(shape_of(make<Broadcast>({x, t->output(0)})), "[?,4]");
    expect_error([] { make<Broadcast>({param({3}), ci({4})}); }, "cannot be broadcast to [4]");
    expect_error([] { make<Broadcast>({param({2, 3}), ci({3})}); }, "higher rank");
    expect_error([] { make<Broadcast>({param({3}), ci({2, 4})}, M::bidirectional); }, "do not broadcast");
    expect_error([] { make<Broadcast>({param({3}), ci({2, 4}), ci({1})}, M::explicit_); }, "cannot be broadcast");
    expect_error([] { make<Broadcast>({param({3}), ci({2, 4})}, M::explicit_); }, "expected 3 inputs");
}

TEST(Broadcast, Evaluate) {
    auto n = make<Broadcast>({param({3}, Type::i32), ci({2, 3}), ci({1})}, BroadcastMode::explicit_);
    auto out = run_ref(*n, inputs_for(*n, {iota(Type::i32, {3})}));
    EXPECT_EQ(values<int32_t>(out[0]), (std::vector<int32_t>{0, 1, 2, 0, 1, 2}));
    auto m = make<Broadcast>({param({2, 1}, Type::i32), ci({2, 3})});
    EXPECT_EQ(values<int32_t>(run_ref(*m, inputs_for(*m, {iota(Type::i32, {2, 1})}))[0]),
              (std::vector<int32_t>{0, 0, 0, 1, 1, 1}));
}

TEST(Tile, InferAndEvaluate) {
    EXPECT_EQ(shape_of(make<Tile>({param({2, 3}), ci({2, 1})})), "[4,3]");
    EXPECT_EQ(shape_of(make<Tile>({param({2, 3}), ci({3})})), "[2,9]");
    EXPECT_EQ(shape_of(make<Tile>({param({3}), ci({2, 2})})), "[2,6]");
    EXPECT_EQ(shape_of(make<Tile>({param({dyn(), 3}), ci({2, 0})})), "[?,0]");
    EXPECT_EQ(shape_of(make<Tile>({param({Dimension(1, 4), 3}), ci({2, 1})})), "[2..8,3]");
    EXPECT_EQ(shape_of(make<Tile>({param({2, 3}), param({3}, Type::i64)})), "[?,?,?]");
    expect_error([] { make<Tile>({param({2}), ci({-1})}); }, "must not be negative");
    auto n = make<Tile>({param({2}, Type::i64), ci({2, 2})});
    EXPECT_EQ(values<int64_t>(run_ref(*n, inputs_for(*n, {iota(Type::i64, {2})}))[0]),
              (std::vector<int64_t>{0, 1, 0, 1, 0, 1, 0, 1}));
}

TEST(Range, InferAndEvaluate) {
    auto r = make<Range>({scalar(2), scalar(11), scalar(3)}, Type::i64);
    EXPECT_EQ(shape_of(r), "[3]");
    EXPECT_EQ(values<int64_t>(run_ref(*r, inputs_for(*r, {}))[0]), (std::vector<int64_t>{2, 5, 8}));
    auto f = make<Range>({Constant::scalar<float>(1.0f)->output(0), Constant::scalar<float>(0.0f)->output(0),
                          Constant::scalar<float>(-0.25f)->output(0)},
                         Type::f32);
    EXPECT_EQ(shape_of(f), "[4]");
    EXPECT_EQ(values<float>(run_ref(*f, inputs_for(*f, {}))[0]), (std::vector<float>{1, 0.75f, 0.5f, 0.25f}));
    EXPECT_EQ(shape_of(make<Range>({scalar(5), scalar(1), scalar(1)}, Type::i32)), "[0]");
    // integer output casts the inputs first: [0.5, 3.7) step 1.2 -> [0, 3) step 1
    auto c = make<Range>({Constant::scalar<double>(0.5)->output(0), Constant::scalar<double>(3.7)->output(0),
                          Constant::scalar<double>(1.2)->output(0)},
                         Type::i32);
    EXPECT_EQ(shape_of(c), "[3]");
    EXPECT_EQ(shape_of(make<Range>({scalar(0), param(PartialShape(Shape{}), Type::i64), scalar(1)}, Type::i64)), "[?]");
    expect_error([] { make<Range>({scalar(0), scalar(4), scalar(0)}, Type::i64); }, "step must not be zero");
    expect_error([] { make<Range>({ci({0, 1}), scalar(4), scalar(1)}, Type::i64); }, "start must be a scalar");
}

// =============================================================================================
// Transpose, Concat, Split, VariadicSplit

TEST(Transpose, Infer) {
    EXPECT_EQ(shape_of(make<Transpose>({param({2, 3, 4}), ci({2, 0, 1})})), "[4,2,3]");
    EXPECT_EQ(shape_of(make<Transpose>({param({2, dyn(), 4}), ci({}, Shape{0})})), "[4,?,2]");
    EXPECT_EQ(shape_of(make<Transpose>({param({2, 3, 4}), param({3}, Type::i64)})), "[?,?,?]");
    EXPECT_EQ(shape_of(make<Transpose>({param(PartialShape()), ci({1, 0})})), "[?,?]");
    EXPECT_EQ(shape_of(make<Transpose>({param(PartialShape(Shape{})), ci({}, Shape{0})})), "[]");
    expect_error([] { make<Transpose>({param({2, 3}), ci({0, 0})}); }, "is not a permutation of [0, 2)");
    expect_error([] { make<Transpose>({param({2, 3}), ci({0, 1, 2})}); }, "does not match the rank");
}

TEST(Concat, Infer) {
    EXPECT_EQ(shape_of(make<Concat>({param({2, 3}), param({2, 5})}, -1)), "[2,8]");
    EXPECT_EQ(shape_of(make<Concat>({param({dyn(), 3}), param({2, dyn()})}, 0)), "[2..,3]");
    EXPECT_EQ(shape_of(make<Concat>({param({dyn(), 3}), param({2, dyn()})}, 1)), "[2,3..]");
    EXPECT_EQ(shape_of(make<Concat>({param({Dimension(1, 4), 3}), param({2, 3})}, 0)), "[3..6,3]");
    EXPECT_EQ(shape_of(make<Concat>({param(PartialShape()), param({2, 3})}, 0)), "[2..,3]");
    EXPECT_EQ(shape_of(make<Concat>({param(PartialShape())}, 0)), "[...]");
    expect_error([] { make<Concat>({param({2, 3}), param({3, 3})}, 1); }, "input 1 has shape [3,3], which differs from [2,3]");
    expect_error([] { make<Concat>({param({2, 3}), param({2, 3, 1})}, 1); }, "expected rank 2");
    expect_error([] { make<Concat>({param({2, 3}), param({2, 3}, Type::i32)}, 1); }, "element type i32, expected f32");
    expect_error([] { make<Concat>({param({2, 3})}, 2); }, "axis 2 is out of range for rank 2");
    expect_error([] { make<Concat>({param(PartialShape(Shape{}))}, 0); }, "scalars");
}

TEST(Split, Infer) {
    auto s = make<Split>({param({6, 4}), scalar(0)}, 3);
    ASSERT_EQ(s->num_outputs(), 3u);
    EXPECT_EQ(shape_of(s, 2), "[2,4]");
    EXPECT_EQ(shape_of(make<Split>({param({Dimension(4, 9), 4}), scalar(-2)}, 2)), "[2..4,4]");
    EXPECT_EQ(shape_of(make<Split>({param({6, 4}), param(PartialShape(Shape{}), Type::i64)}, 2)), "[?,?]");
    expect_error([] { make<Split>({param({6, 4}), scalar(1)}, 3); }, "not divisible by num_splits 3");
    expect_error([] { make<Split>({param({6, 4}), scalar(0)}, 0); }, "num_splits must be positive");
}

TEST(VariadicSplit, Infer) {
    auto s = make<VariadicSplit>({param({dyn(), 10}), scalar(1), ci({2, -1, 3})});
    ASSERT_EQ(s->num_outputs(), 3u);
    EXPECT_EQ(shape_of(s, 1), "[?,5]");
    auto d = make<VariadicSplit>({param({Dimension(4, 9)}), scalar(0), ci({2, -1})});
    EXPECT_EQ(shape_of(d, 1), "[2..7]");
    EXPECT_EQ(shape_of(make<VariadicSplit>({param({6, 4}), scalar(0), param({2}, Type::i64)}), 1), "[?,4]");
    expect_error([] { make<VariadicSplit>({param({6}), scalar(0), ci({2, 2})}); }, "do not add up to dimension 6");
    expect_error([] { make<VariadicSplit>({param({6}), scalar(0), ci({-1, -1})}); }, "more than one -1");
    expect_error([] { make<VariadicSplit>({param({6}), scalar(0), param({dyn()}, Type::i64)}); }, "static length");
}

TEST(Split, Evaluate) {
    auto s = make<VariadicSplit>({param({2, 5}, Type::u8), scalar(-1), ci({1, -1, 2})});
    auto out = run_ref(*s, inputs_for(*s, {iota(Type::u8, {2, 5})}));
    EXPECT_EQ(values<int64_t>(out[0]), (std::vector<int64_t>{0, 5}));
    EXPECT_EQ(values<int64_t>(out[1]), (std::vector<int64_t>{1, 2, 6, 7}));
    EXPECT_EQ(values<int64_t>(out[2]), (std::vector<int64_t>{3, 4, 8, 9}));
}

// =============================================================================================
// Gather, GatherElements, ScatterNDUpdate

TEST(Gather, Infer) {
    EXPECT_EQ(shape_of(make<Gather>({param({5, 6, 7}), param({2, 3}, Type::i32), scalar(1)})), "[5,2,3,7]");
    EXPECT_EQ(shape_of(make<Gather>({param({5, 6, 7}), param(PartialShape(Shape{}), Type::i64), scalar(-1)})), "[5,6]");
    EXPECT_EQ(shape_of(make<Gather>({param({5, 6, 7}), param({5, 3}, Type::i64), scalar(1)}, 1)), "[5,3,7]");
    EXPECT_EQ(shape_of(make<Gather>({param({dyn(), 6, 7}), param({5, 3}, Type::i64), scalar(2)}, -1)), "[5,6,3]");
    EXPECT_EQ(shape_of(make<Gather>({param({5, 6}), param({2}, Type::i64), param(PartialShape(Shape{}), Type::i64)})), "[?,?]");
    expect_error([] { make<Gather>({param({5, 6}), param({4, 3}, Type::i64), scalar(1)}, 1); }, "batch dimension 0 differs");
    expect_error([] { make<Gather>({param({5, 6}), param({5, 3}, Type::i64), scalar(0)}, 1); }, "must not exceed axis");
    expect_error([] { make<Gather>({param({5, 6}), param({3}, Type::f32), scalar(0)}); }, "indices must be of an integer type");
    expect_error([] { make<Gather>({param({5, 6}), param({3}, Type::i64), scalar(2)}); }, "axis 2 is out of range");
}

TEST(Gather, Evaluate) {
    auto g = make<Gather>({param({3, 2}, Type::f32), ci({2, -1, 3, -4, 0}), scalar(0)});
    auto out = run_ref(*g, inputs_for(*g, {iota(Type::f32, {3, 2})}));
    EXPECT_EQ(values<float>(out[0]), (std::vector<float>{4, 5, 4, 5, 0, 0, 0, 0, 0, 1}));
    auto b = make<Gather>({param({2, 3}, Type::i32), ci({2, 0, 1, 1}, Shape{2, 2}), scalar(1)}, 1);
    EXPECT_EQ(values<int32_t>(run_ref(*b, inputs_for(*b, {iota(Type::i32, {2, 3})}))[0]),
              (std::vector<int32_t>{2, 0, 4, 4}));
}

TEST(GatherElements, InferAndEvaluate) {
    EXPECT_EQ(shape_of(make<GatherElements>({param({3, 4}), param({5, 4}, Type::i64)}, 0)), "[5,4]");
    EXPECT_EQ(shape_of(make<GatherElements>({param({dyn(), 4}), param({5, dyn()}, Type::i64)}, 0)), "[5,4]");
    EXPECT_EQ(shape_of(make<GatherElements>({param(PartialShape()), param({5, 2}, Type::i64)}, 1)), "[5,2]");
    expect_error([] { make<GatherElements>({param({3, 4}), param({3, 5}, Type::i64)}, 0); }, "differ on axis 1");
    expect_error([] { make<GatherElements>({param({3, 4}), param({3}, Type::i64)}, 0); }, "must have the rank");
    auto n = make<GatherElements>({param({2, 2}, Type::i32), ci({0, 0, 1, -2}, Shape{2, 2})}, 1);
    EXPECT_EQ(values<int32_t>(run_ref(*n, inputs_for(*n, {iota(Type::i32, {2, 2})}))[0]),
              (std::vector<int32_t>{0, 0, 3, 2}));
}

TEST(ScatterNDUpdate, InferAndEvaluate) {
    EXPECT_EQ(shape_of(make<ScatterNDUpdate>({param({4, 3}), param({2, 1}, Type::i64), param({2, 3})})), "[4,3]");
    expect_error([] { make<ScatterNDUpdate>({param({4, 3}), param({2, 1}, Type::i64), param({2, 4})}); },
                 "updates have shape [2,4], expected [2,3]");
    expect_error([] { make<ScatterNDUpdate>({param({4}), param({2, 3}, Type::i64), param({2})}); }, "more than data");
    auto n = make<ScatterNDUpdate>({param({4}, Type::i32), ci({1, -1}, Shape{2, 1}), param({2}, Type::i32)});
    auto upd = Tensor::from_vector<int32_t>({10, 30}, {2});
    EXPECT_EQ(values<int32_t>(run_ref(*n, inputs_for(*n, {iota(Type::i32, {4}), upd}))[0]),
              (std::vector<int32_t>{0, 10, 2, 30}));
}

// =============================================================================================
// StridedSlice, Slice

TEST(StridedSlice, Infer) {
    using V = std::vector<int64_t>;
    auto ss = [](PartialShape in, V b, V e, V s, V bm, V em, V nm = {}, V sm = {}, V el = {}) {
        return shape_of(make<StridedSlice>({param(std::move(in)), ci(b), ci(e), ci(s)}, bm, em, nm, sm, el));
    };
    EXPECT_EQ(ss({10, 20}, {1, 0}, {8, 0}, {2, 1}, {0, 1}, {0, 1}), "[4,20]");
    EXPECT_EQ(ss({10, 20}, {-1, 0}, {0, 0}, {-3, 1}, {0, 1}, {1, 1}), "[4,20]");
    EXPECT_EQ(ss({10, 20, 30}, {0, 2}, {0, 0}, {1, 1}, {0, 0}, {0, 1}, {0, 0}, {0, 0}, {1, 0}), "[10,20,28]");
    EXPECT_EQ(ss({10, 20}, {0, 3, 0}, {0, 4, 0}, {1, 1, 1}, {1, 0, 1}, {1, 0, 1}, {0, 0, 1}, {0, 1, 0}), "[10,1]");
    EXPECT_EQ(ss({10, 20}, {0, 0, 0}, {0, 0, 0}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {0, 1, 0}), "[10,1,20]");
    EXPECT_EQ(ss({10, 20}, {-1}, {0}, {1}, {0}, {0}, {0}, {1}), "[20]");
    // dynamic dims: intervals where the slice length grows with the dimension
    EXPECT_EQ(ss({dyn(), 20}, {0}, {5}, {1}, {0}, {0}), "[0..5,20]");
    EXPECT_EQ(ss({dyn(), 20}, {1}, {0}, {1}, {0}, {1}), "[?,20]");
    EXPECT_EQ(ss({Dimension(4, 10)}, {1}, {-1}, {1}, {0}, {0}), "[2..8]");
    EXPECT_EQ(ss({Dimension(4, 10)}, {-5}, {3}, {1}, {0}, {0}), "[0..10]");
    EXPECT_EQ(ss({dyn()}, {-1}, {0}, {-1}, {0}, {1}), "[?]");
    // non-constant begin
    auto n = make<StridedSlice>({param({10, 20}), param({1}, Type::i64), ci({5}), ci({1})}, V{0}, V{0});
    EXPECT_EQ(shape_of(n), "[0..10,20]");
    auto m = make<StridedSlice>({param({10, 20}), param({2}, Type::i64), ci({5, 1}), ci({1, 1})}, V{0, 0}, V{0, 0},
                                V{0, 0}, V{0, 1});
    EXPECT_EQ(shape_of(m), "[0..10]");
    expect_error([&] { ss({10}, {10}, {0}, {1}, {0}, {0}, {0}, {1}); }, "shrink_axis index 10 is out of range");
    expect_error([&] { ss({10}, {0}, {1}, {0}, {0}, {0}); }, "zero stride");
    expect_error([&] { ss({10}, {0, 0}, {1, 1}, {1, 1}, {0, 0}, {0, 0}); }, "data has rank 1");
    expect_error([&] { ss({10, 3}, {0, 0}, {1, 1}, {1, 1}, {0, 0}, {0, 0}, {}, {}, {1, 1}); }, "more than one bit");
}

TEST(Slice, Infer) {
    auto sl = [](PartialShape in, std::vector<int64_t> a, std::vector<int64_t> b, std::vector<int64_t> c,
                 std::optional<std::vector<int64_t>> ax = std::nullopt) {
        OutputVector ins{param(std::move(in)), ci(a), ci(b), ci(c)};
        if (ax) ins.push_back(ci(*ax));
        return shape_of(make<Slice>(ins));
    };
    const int64_t big = std::numeric_limits<int64_t>::max(), small = std::numeric_limits<int64_t>::min();
    EXPECT_EQ(sl({10, 20}, {1}, {big}, {3}), "[3,20]");
    EXPECT_EQ(sl({10, 20}, {-1}, {small}, {-1}, std::vector<int64_t>{-1}), "[10,20]");
    EXPECT_EQ(sl({10, 20}, {15, 2}, {2, 8}, {-4, 5}, std::vector<int64_t>{1, 0}), "[2,4]");
    EXPECT_EQ(sl({dyn(), 20}, {0}, {3}, {1}), "[0..3,20]");
    EXPECT_EQ(sl({dyn(), 20}, {-3}, {big}, {1}), "[0..3,20]");
    EXPECT_EQ(sl({Dimension(2, 6), 20}, {1}, {big}, {1}), "[1..5,20]");
    EXPECT_EQ(shape_of(make<Slice>({param({10, 20}), param({1}, Type::i64), ci({5}), ci({1}), ci({1})})), "[10,0..20]");
    EXPECT_EQ(shape_of(make<Slice>({param({10, 20}), ci({1}), ci({5}), ci({1}), param({1}, Type::i64)})), "[0..10,0..20]");
    expect_error([&] { sl({10}, {0}, {1}, {0}); }, "zero step");
    expect_error([&] { sl({10, 3}, {0, 0}, {1, 1}, {1, 1}, std::vector<int64_t>{0, -2}); }, "repeat axis 0");
    expect_error([&] { sl({10}, {0}, {1}, {1}, std::vector<int64_t>{1}); }, "axis 1 is out of range");
}

TEST(Slice, EvaluateNegativeStep) {
    auto s = make<Slice>({param({6}, Type::i32), ci({-1}), ci({std::numeric_limits<int64_t>::min()}), ci({-2})});
    EXPECT_EQ(values<int32_t>(run_ref(*s, inputs_for(*s, {iota(Type::i32, {6})}))[0]),
              (std::vector<int32_t>{5, 3, 1}));
}

// =============================================================================================
// Pad, Roll

TEST(Pad, InferAndSpecExamples) {
    EXPECT_EQ(shape_of(make<Pad>({param({3, 4}), ci({0, 1}), ci({2, 3})}, PadMode::constant)), "[5,8]");
    EXPECT_EQ(shape_of(make<Pad>({param({dyn(), 4}), ci({1, -1}), ci({2, -2})})), "[3..,1]");
    EXPECT_EQ(shape_of(make<Pad>({param({3, 4}), param({2}, Type::i64), ci({2, 3})})), "[?,?]");
    EXPECT_EQ(shape_of(make<Pad>({param(PartialShape()), ci({1, 1}), ci({2, 3})})), "[?,?]");
    expect_error([] { make<Pad>({param({3, 4}), ci({0}), ci({2, 3})}); }, "one element per dimension");
    expect_error([] { make<Pad>({param({3, 4}), ci({0, 4}), ci({0, 0})}, PadMode::reflect); }, "too large for reflect");
    expect_error([] { make<Pad>({param({3, 4}), ci({0, 0}), ci({0, -5})}); }, "remove more than");
    expect_error([] { make<Pad>({param({3}), ci({1}), ci({1}), Constant::scalar<int64_t>(0)->output(0)}); },
                 "pad_value has element type i64");
    // The examples of the specification (positive pads [0,1] / [2,3] on 1..12).
    std::vector<std::pair<PadMode, std::vector<int32_t>>> cases = {
        {PadMode::constant, {0, 1, 2, 3, 4, 0, 0, 0, 0, 5, 6, 7, 8, 0, 0, 0, 0, 9, 10, 11, 12, 0, 0, 0,
                             0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
        {PadMode::edge, {1, 1, 2, 3, 4, 4, 4, 4, 5, 5, 6, 7, 8, 8, 8, 8, 9, 9, 10, 11, 12, 12, 12, 12,
                         9, 9, 10, 11, 12, 12, 12, 12, 9, 9, 10, 11, 12, 12, 12, 12}},
        {PadMode::reflect, {2, 1, 2, 3, 4, 3, 2, 1, 6, 5, 6, 7, 8, 7, 6, 5, 10, 9, 10, 11, 12, 11, 10, 9,
                            6, 5, 6, 7, 8, 7, 6, 5, 2, 1, 2, 3, 4, 3, 2, 1}},
        {PadMode::symmetric, {1, 1, 2, 3, 4, 4, 3, 2, 5, 5, 6, 7, 8, 8, 7, 6, 9, 9, 10, 11, 12, 12, 11, 10,
                              9, 9, 10, 11, 12, 12, 11, 10, 5, 5, 6, 7, 8, 8, 7, 6}},
    };
    std::vector<int32_t> data(12);
    for (int i = 0; i < 12; ++i) data[static_cast<size_t>(i)] = i + 1;
    for (auto& [mode, expect] : cases) {
        auto p = make<Pad>({param({3, 4}, Type::i32), ci({0, 1}), ci({2, 3})}, mode);
        auto out = run_ref(*p, inputs_for(*p, {Tensor::from_vector(data, {3, 4})}));
        EXPECT_EQ(values<int32_t>(out[0]), expect) << static_cast<int>(mode);
    }
    // Negative pads crop; pad_value is used in constant mode.
    auto p = make<Pad>({param({3, 4}, Type::i32), ci({-1, 1}), ci({0, -2}), Constant::scalar<int32_t>(-7)->output(0)});
    EXPECT_EQ(values<int32_t>(run_ref(*p, inputs_for(*p, {Tensor::from_vector(data, {3, 4})}))[0]),
              (std::vector<int32_t>{-7, 5, 6, -7, 9, 10}));
}

TEST(Roll, InferAndEvaluate) {
    EXPECT_EQ(shape_of(make<Roll>({param({dyn(), 3}), scalar(1), ci({0, 1})})), "[?,3]");
    expect_error([] { make<Roll>({param({2, 3}), ci({1, 2, 3}), ci({0, 1})}); }, "differ in length");
    expect_error([] { make<Roll>({param({2, 3}), scalar(1), ci({2})}); }, "axis 2 is out of range");
    auto r = make<Roll>({param({2, 3}, Type::i32), ci({1, -1}), ci({1, 1})});  // shifts add up to 0
    EXPECT_EQ(values<int32_t>(run_ref(*r, inputs_for(*r, {iota(Type::i32, {2, 3})}))[0]),
              (std::vector<int32_t>{0, 1, 2, 3, 4, 5}));
    auto q = make<Roll>({param({2, 3}, Type::i32), scalar(1), ci({0, -1})});
    EXPECT_EQ(values<int32_t>(run_ref(*q, inputs_for(*q, {iota(Type::i32, {2, 3})}))[0]),
              (std::vector<int32_t>{5, 3, 4, 2, 0, 1}));
}

// =============================================================================================
// Fast kernels vs reference

namespace {
Shape random_shape(std::mt19937& rng, int rank, int max_dim = 6) {
    Shape s;
    for (int i = 0; i < rank; ++i) s.push_back(static_cast<int64_t>(rng() % static_cast<unsigned>(max_dim + 1)));
    return s;
}
}  // namespace

TEST(MovementKernels, ReshapeFamily) {
    std::mt19937 rng(1);
    for (Type t : kTypes) {
        auto x = param({3, 1, 5}, t);
        auto r = make<Reshape>({x, ci({5, -1})});
        check_fast(*r, inputs_for(*r, {random_bytes(t, {3, 1, 5}, rng)}));
        check_fast(*make<Squeeze>({x}), {random_bytes(t, {3, 1, 5}, rng)});
        auto u = make<Unsqueeze>({x, ci({0})});
        check_fast(*u, inputs_for(*u, {random_bytes(t, {3, 1, 5}, rng)}));
    }
    auto z = make<Reshape>({param({0, 4}), ci({4, 0})});
    check_fast(*z, inputs_for(*z, {Tensor(Type::f32, {0, 4})}));
}

TEST(MovementKernels, TransposeAllRanks) {
    std::mt19937 rng(2);
    for (int rank = 0; rank <= 6; ++rank)
        for (int trial = 0; trial < 12; ++trial) {
            Type t = kTypes[rng() % 7];
            Shape s = random_shape(rng, rank, rank <= 2 ? 40 : (rank <= 4 ? 9 : 5));
            std::vector<int64_t> perm(static_cast<size_t>(rank));
            for (int i = 0; i < rank; ++i) perm[static_cast<size_t>(i)] = i;
            std::shuffle(perm.begin(), perm.end(), rng);
            auto n = make<Transpose>({param(PartialShape(s), t), trial == 0 ? ci({}, Shape{0}) : ci(perm)});
            auto in = inputs_for(*n, {random_bytes(t, s, rng)});
            check_fast(*n, in);
            check_fast(*n, in, true, false);  // order read at run time
        }
    // Large enough to take the threaded, tiled path.
    for (Type t : {Type::u8, Type::f16, Type::f32, Type::f64}) {
        auto n = make<Transpose>({param({3, 131, 257}, t), ci({0, 2, 1})});
        check_fast(*n, inputs_for(*n, {random_bytes(t, {3, 131, 257}, rng)}));
        auto m = make<Transpose>({param({67, 5, 129}, t), ci({2, 1, 0})});
        check_fast(*m, inputs_for(*m, {random_bytes(t, {67, 5, 129}, rng)}));
    }
}

TEST(MovementKernels, ConcatSplit) {
    std::mt19937 rng(3);
    for (int trial = 0; trial < 60; ++trial) {
        Type t = kTypes[rng() % 7];
        int rank = 1 + static_cast<int>(rng() % 5);
        Shape s = random_shape(rng, rank, 7);
        int64_t axis = static_cast<int64_t>(rng() % static_cast<unsigned>(rank));
        OutputVector ins;
        std::vector<Tensor> data;
        int parts = 1 + static_cast<int>(rng() % 4);
        for (int p = 0; p < parts; ++p) {
            Shape ps = s;
            ps[static_cast<size_t>(axis)] = static_cast<int64_t>(rng() % 5);
            ins.push_back(param(PartialShape(ps), t));
            data.push_back(random_bytes(t, ps, rng));
        }
        auto c = make<Concat>(ins, trial % 2 ? axis - rank : axis);
        check_fast(*c, data);
        // split the concatenation back
        Shape cs = c->output_shape(0).to_shape();
        std::vector<int64_t> lens;
        for (auto& d : data) lens.push_back(d.shape()[static_cast<size_t>(axis)]);
        if (trial % 3 == 0) lens[0] = -1;
        auto vs = make<VariadicSplit>({param(PartialShape(cs), t), scalar(axis), ci(lens)});
        check_fast(*vs, inputs_for(*vs, {random_bytes(t, cs, rng)}));
        if (cs[static_cast<size_t>(axis)] % parts == 0) {
            auto sp = make<Split>({param(PartialShape(cs), t), scalar(axis - rank)}, parts);
            check_fast(*sp, inputs_for(*sp, {random_bytes(t, cs, rng)}));
        }
    }
    auto big = make<Concat>({param({64, 300}), param({64, 500})}, 1);
    check_fast(*big, {random_bytes(Type::f32, {64, 300}, rng), random_bytes(Type::f32, {64, 500}, rng)});
    // axis not constant: no fast kernel
    auto sp = make<Split>({param({4}), param(PartialShape(Shape{}), Type::i64)}, 2);
    check_fast(*sp, {Tensor(Type::f32, {4}), Tensor::scalar<int64_t>(0)}, false);
}

TEST(MovementKernels, Gather) {
    std::mt19937 rng(4);
    for (int trial = 0; trial < 60; ++trial) {
        Type t = kTypes[rng() % 7];
        int rank = 1 + static_cast<int>(rng() % 4);
        Shape s = random_shape(rng, rank, 6);
        int64_t axis = static_cast<int64_t>(rng() % static_cast<unsigned>(rank));
        int64_t b = static_cast<int64_t>(rng() % static_cast<unsigned>(axis + 1));
        Shape is(s.begin(), s.begin() + b);
        int extra = static_cast<int>(rng() % 3);
        for (int i = 0; i < extra; ++i) is.push_back(static_cast<int64_t>(rng() % 4));
        if (static_cast<int64_t>(is.size()) < b) continue;
        Type it = trial % 2 ? Type::i32 : Type::i64;
        Tensor idx(it, is);
        int64_t d = s[static_cast<size_t>(axis)];
        std::vector<int64_t> iv(static_cast<size_t>(idx.size()));
        for (auto& v : iv) v = static_cast<int64_t>(rng() % static_cast<unsigned>(2 * d + 3)) - d - 1;  // some out of range
        convert_elements(iv.data(), Type::i64, idx.data(), it, iv.size());
        auto g = make<Gather>({param(PartialShape(s), t), param(PartialShape(is), it), scalar(axis - (trial % 3 ? 0 : rank))}, b);
        check_fast(*g, inputs_for(*g, {random_bytes(t, s, rng), idx}));
    }
}

TEST(MovementKernels, SliceAndStridedSlice) {
    std::mt19937 rng(5);
    for (int trial = 0; trial < 150; ++trial) {
        Type t = kTypes[rng() % 7];
        int rank = static_cast<int>(rng() % 6) + 1;
        Shape s = random_shape(rng, rank, 7);
        std::vector<int64_t> b, e, st, ax;
        for (int i = 0; i < rank; ++i) {
            if (rng() % 3 == 0) continue;
            b.push_back(static_cast<int64_t>(rng() % 17) - 8);
            e.push_back(static_cast<int64_t>(rng() % 17) - 8);
            int64_t step = static_cast<int64_t>(rng() % 5) - 2;
            st.push_back(step == 0 ? 1 : step);
            ax.push_back(rng() % 2 ? i : i - rank);
        }
        auto sl = make<Slice>({param(PartialShape(s), t), ci(b), ci(e), ci(st), ci(ax)});
        check_fast(*sl, inputs_for(*sl, {random_bytes(t, s, rng)}));
        check_fast(*sl, inputs_for(*sl, {random_bytes(t, s, rng)}), true, false);
        // StridedSlice with random masks over the same begin/end
        size_t n = std::min<size_t>(b.size(), s.size());
        b.resize(n);
        e.resize(n);
        st.resize(n);
        std::vector<int64_t> bm(n), em(n), nm(n), sm(n), el(n);
        bool ellipsis = false;
        for (size_t i = 0; i < n; ++i) {
            bm[i] = rng() % 3 == 0;
            em[i] = rng() % 3 == 0;
            nm[i] = rng() % 6 == 0;
            if (!ellipsis && rng() % 7 == 0) {
                el[i] = 1;
                ellipsis = true;
            }
            if (rng() % 5 == 0 && !nm[i]) {
                sm[i] = 1;
                b[i] = 0;
            }
        }
        std::shared_ptr<StridedSlice> ss;
        try {
            ss = make<StridedSlice>({param(PartialShape(s), t), ci(b), ci(e), ci(st)}, bm, em, nm, sm, el);
        } catch (const ValueError&) {
            continue;  // a shrink of an empty axis
        }
        check_fast(*ss, inputs_for(*ss, {random_bytes(t, s, rng)}));
    }
    auto big = make<Slice>({param({256, 300}), ci({1, 299}), ci({255, 0}), ci({2, -3})});
    check_fast(*big, inputs_for(*big, {random_bytes(Type::f32, {256, 300}, rng)}));
}

TEST(MovementKernels, BroadcastTile) {
    std::mt19937 rng(6);
    for (int trial = 0; trial < 80; ++trial) {
        Type t = kTypes[rng() % 7];
        int rank = static_cast<int>(rng() % 5);
        Shape s = random_shape(rng, rank, 4);
        Shape target;
        int extra = static_cast<int>(rng() % 3);
        for (int i = 0; i < extra; ++i) target.push_back(static_cast<int64_t>(rng() % 4));
        for (auto d : s) target.push_back(d == 1 ? static_cast<int64_t>(rng() % 5) : d);
        for (auto& d : s)
            if (rng() % 4 == 0) d = 1;
        for (size_t i = 0; i < s.size(); ++i)
            if (s[i] != 1) target[target.size() - s.size() + i] = s[i];
        auto bn = make<Broadcast>({param(PartialShape(s), t), ci(target)});
        check_fast(*bn, inputs_for(*bn, {random_bytes(t, s, rng)}));
        check_fast(*bn, inputs_for(*bn, {random_bytes(t, s, rng)}), true, false);
        auto bb = make<Broadcast>({param(PartialShape(s), t), ci(std::vector<int64_t>(target.begin() + extra, target.end()))},
                                  BroadcastMode::bidirectional);
        check_fast(*bb, inputs_for(*bb, {random_bytes(t, s, rng)}));
        std::vector<int64_t> reps;
        int nr = static_cast<int>(rng() % 4);
        for (int i = 0; i < nr; ++i) reps.push_back(static_cast<int64_t>(rng() % 4));
        auto tl = make<Tile>({param(PartialShape(s), t), ci(reps, Shape{static_cast<int64_t>(reps.size())})});
        check_fast(*tl, inputs_for(*tl, {random_bytes(t, s, rng)}));
    }
    auto ex = make<Broadcast>({param({3, 1}), ci({2, 3, 4, 1}), ci({1, 3})}, BroadcastMode::explicit_);
    check_fast(*ex, inputs_for(*ex, {random_bytes(Type::f32, {3, 1}, rng)}));
    auto big = make<Broadcast>({param({1, 300}), ci({400, 300})});
    check_fast(*big, inputs_for(*big, {random_bytes(Type::f32, {1, 300}, rng)}));
    auto col = make<Broadcast>({param({300, 1}), ci({300, 400})});
    check_fast(*col, inputs_for(*col, {random_bytes(Type::f32, {300, 1}, rng)}));
}

TEST(MovementKernels, PadConstant) {
    std::mt19937 rng(7);
    for (int trial = 0; trial < 60; ++trial) {
        Type t = kTypes[rng() % 7];
        int rank = static_cast<int>(rng() % 5);
        Shape s = random_shape(rng, rank, 5);
        std::vector<int64_t> pb, pe;
        for (auto d : s) {
            pb.push_back(static_cast<int64_t>(rng() % 5) - std::min<int64_t>(d, 2));
            pe.push_back(static_cast<int64_t>(rng() % 5) - std::min<int64_t>(d + pb.back() > 0 ? 1 : 0, 1));
        }
        OutputVector ins{param(PartialShape(s), t), ci(pb, Shape{rank}), ci(pe, Shape{rank})};
        bool with_value = trial % 2;
        if (with_value) ins.push_back(param(PartialShape(Shape{}), t));
        std::shared_ptr<Pad> p;
        try {
            p = make<Pad>(ins, PadMode::constant);
        } catch (const ValueError&) {
            continue;
        }
        std::vector<Tensor> data{random_bytes(t, s, rng)};
        if (with_value) data.push_back(random_bytes(t, {}, rng));
        check_fast(*p, inputs_for(*p, data));
    }
    auto big = make<Pad>({param({200, 300}), ci({3, -2}), ci({1, 5})});
    check_fast(*big, inputs_for(*big, {random_bytes(Type::f32, {200, 300}, rng)}));
    auto edge = make<Pad>({param({2, 3}), ci({1, 1}), ci({1, 1})}, PadMode::edge);
    check_fast(*edge, inputs_for(*edge, {random_bytes(Type::f32, {2, 3}, rng)}), false);
}

TEST(MovementKernels, NotCovered) {
    auto r = make<Roll>({param({2, 3}), scalar(1), scalar(0)});
    check_fast(*r, inputs_for(*r, {Tensor(Type::f32, {2, 3})}), false);
    auto g = make<Gather>({param({5}), param({2}, Type::i64), param(PartialShape(Shape{}), Type::i64)});
    cpu::KernelShapes ks;
    ks.inputs = {{Type::f32, PartialShape{5}}, {Type::i64, PartialShape{2}}, {Type::i64, PartialShape(Shape{})}};
    ks.outputs = {{Type::f32, PartialShape{2}}};
    ks.constants = {nullptr, nullptr, nullptr};
    EXPECT_EQ(cpu::make_movement_kernel(*g, ks), nullptr);
}

TEST(MovementKernels, CopyViewFastMatchesReference) {
    std::mt19937 rng(8);
    for (int trial = 0; trial < 200; ++trial) {
        int rank = static_cast<int>(rng() % 7);
        StridedView v;
        Shape src_shape = random_shape(rng, rank, 5);
        for (auto& d : src_shape) d = std::max<int64_t>(d, 1);
        auto st = contiguous_strides(src_shape);
        for (int i = 0; i < rank; ++i) {
            size_t k = static_cast<size_t>(i);
            int mode = static_cast<int>(rng() % 4);
            if (mode == 0) {  // broadcast
                v.shape.push_back(static_cast<int64_t>(rng() % 4));
                v.strides.push_back(0);
            } else if (mode == 1) {  // reversed
                v.shape.push_back(src_shape[k]);
                v.strides.push_back(-st[k]);
                v.offset += (src_shape[k] - 1) * st[k];
            } else {
                v.shape.push_back(src_shape[k]);
                v.strides.push_back(st[k]);
            }
        }
        std::shuffle(v.shape.begin(), v.shape.end(), rng);  // keep strides: a permuted-ish view
        for (size_t i = 0; i < v.shape.size(); ++i)
            if (v.strides[i] != 0) v.shape[i] = std::min(v.shape[i], src_shape[i]);
        size_t es = size_t{1} << (rng() % 4);
        std::vector<uint8_t> src(static_cast<size_t>(shape_size(src_shape)) * es);
        for (auto& b : src) b = static_cast<uint8_t>(rng());
        size_t n = static_cast<size_t>(shape_size(v.shape)) * es;
        std::vector<uint8_t> a(n + 1, 1), b(n + 1, 2);
        copy_view_reference(v, src.data(), a.data(), es);
        cpu::copy_view_fast(v, src.data(), b.data(), es);
        ASSERT_EQ(0, std::memcmp(a.data(), b.data(), n)) << "trial " << trial;
    }
}
