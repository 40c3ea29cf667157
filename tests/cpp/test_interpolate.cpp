// Resample family: Interpolate, GridSample and Col2Im shape inference (static, partial,
// dynamic, errors), attribute round trips, reference kernels on hand-checked values, and the
// fast Interpolate kernel against the reference over awkward shapes on every instruction set
// the machine has.
#include <gtest/gtest.h>

#include "test_util.hpp"

#include <cmath>
#include <map>
#include <random>

#include "kiln/ops/col2im.hpp"
#include "kiln/ops/data_movement.hpp"
#include "kiln/ops/graph_io.hpp"
#include "kiln/ops/grid_sample.hpp"
#include "kiln/ops/interpolate.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "kiln/runtime/cpu/kernels/interpolate.hpp"

using namespace kiln;
using namespace kiln::op;

namespace {

Output param(PartialShape s, Type t = Type::f32) { return make<Parameter>({}, t, std::move(s))->output(0); }
Output ci(std::vector<int64_t> v) { return Constant::create<int64_t>(v, {static_cast<int64_t>(v.size())})->output(0); }
Output cf(std::vector<double> v) { return Constant::create<double>(v, {static_cast<int64_t>(v.size())})->output(0); }
Output cf32(std::vector<float> v) { return Constant::create<float>(v, {static_cast<int64_t>(v.size())})->output(0); }
std::string shape_of(const NodePtr& n) { return n->output_shape(0).to_string(); }

using kiln::test::expect_error;

std::vector<Tensor> inputs_for(const Node& n, std::vector<Tensor> data) {
    std::vector<Tensor> in;
    size_t k = 0;
    for (size_t i = 0; i < n.num_inputs(); ++i) {
        if (auto c = n.input(i).node->constant_value()) in.push_back(*c);
        else in.push_back(data.at(k++));
    }
    return in;
}

Tensor run_ref(const Node& n, const std::vector<Tensor>& in) {
    std::vector<Tensor> out{Tensor(n.output_type(0), n.output_shape(0).to_shape())};
    n.evaluate(in, out);
    return out[0];
}

template <typename T = float>
std::vector<T> values(const Tensor& t) {
    std::vector<T> v(static_cast<size_t>(t.size()));
    convert_elements(t.data(), t.type(), v.data(), type_of<T>::value, v.size());
    return v;
}

Tensor tensor(std::vector<float> v, Shape s) { return Tensor::from_vector(v, std::move(s)); }

Tensor random_f32(Shape s, std::mt19937& rng) {
    Tensor t(Type::f32, std::move(s));
    std::normal_distribution<float> d(0.f, 2.f);
    for (int64_t i = 0; i < t.size(); ++i) t.data<float>()[i] = d(rng);
    return t;
}

// 1-D interpolation of `x` to `out` elements.
std::vector<float> interp1d(Interpolate attrs, std::vector<float> x, int64_t out,
                            std::optional<double> scale = std::nullopt) {
    Output size = attrs.shape_calculation_mode == ShapeCalcMode::sizes ? ci({out}) : cf({*scale});
    auto n = make<Interpolate>({param(Shape{static_cast<int64_t>(x.size())}), size}, attrs);
    EXPECT_EQ(n->output_shape(0), PartialShape(Shape{out}));
    return values(run_ref(*n, inputs_for(*n, {tensor(x, {static_cast<int64_t>(x.size())})})));
}

void expect_floats(const std::vector<float>& got, const std::vector<float>& want, float tol = 1e-6f) {
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}

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

Interpolate attrs(InterpolateMode m, CoordinateTransformMode c = CoordinateTransformMode::half_pixel,
                  NearestMode nm = NearestMode::floor, ShapeCalcMode sc = ShapeCalcMode::sizes) {
    return Interpolate(m, sc, c, nm);
}

}  // namespace

// =============================================================================================
// Attributes

TEST(InterpolateAttributes, RoundTrip) {
    round_trip(Interpolate(InterpolateMode::bicubic_pillow, ShapeCalcMode::scales,
                           CoordinateTransformMode::tf_half_pixel_for_nn, NearestMode::simple, true, -0.5, {0, 1},
                           {2, 0}),
               "mode=bicubic_pillow, shape_calculation_mode=scales, coordinate_transformation_mode="
               "tf_half_pixel_for_nn, nearest_mode=simple, antialias=true, cube_coeff=-0.5, pads_begin=[0,1], "
               "pads_end=[2,0]");
    round_trip(Interpolate(), "mode=nearest, shape_calculation_mode=sizes, coordinate_transformation_mode="
                              "half_pixel, nearest_mode=round_prefer_floor, antialias=false, cube_coeff=-0.75, "
                              "pads_begin=[], pads_end=[]");
    round_trip(GridSample(GridSampleMode::bicubic, GridSamplePadding::reflection, true),
               "align_corners=true, mode=bicubic, padding_mode=reflection");
    round_trip(Col2Im({2, 1}, {1, 3}, {0, 1}, {1, 0}), "strides=[2,1], dilations=[1,3], pads_begin=[0,1], pads_end=[1,0]");
}

TEST(InterpolateAttributes, BadEnumSpelling) {
    Store st;
    Interpolate op;
    op.visit_attributes(st);
    st.s["mode"] = "trilinear";
    st.load = true;
    expect_error([&] { op.visit_attributes(st); }, "attribute 'mode' has value 'trilinear'");
}

TEST(InterpolateAttributes, CloneKeepsAttributes) {
    auto n = make<Interpolate>({param(Shape{1, 2, 3, 4}), cf({2.0, 0.5}), ci({2, 3})},
                               Interpolate(InterpolateMode::cubic, ShapeCalcMode::scales,
                                           CoordinateTransformMode::align_corners));
    auto c = n->clone(n->inputs());
    EXPECT_TRUE(same_attributes(*n, *c));
    EXPECT_EQ(shape_of(c), "[1,2,6,2]");
}

// =============================================================================================
// Shape inference

TEST(Interpolate, InferSizesAndScales) {
    auto x = param(Shape{2, 3, 5, 7});
    auto s = make<Interpolate>({x, ci({9, 4}), ci({2, 3})}, attrs(InterpolateMode::linear_onnx));
    EXPECT_EQ(shape_of(s), "[2,3,9,4]");
    EXPECT_EQ(s->output_type(0), Type::f32);
    auto sc = make<Interpolate>({x, cf({2.0, 0.5}), ci({3, 2})},
                                attrs(InterpolateMode::nearest, CoordinateTransformMode::asymmetric,
                                      NearestMode::floor, ShapeCalcMode::scales));
    EXPECT_EQ(shape_of(sc), "[2,3,2,14]");  // axes out of order: 7 * 2, floor(5 * 0.5)
    // Without axes every axis is interpolated.
    auto all = make<Interpolate>({x, ci({1, 1, 2, 2})}, attrs(InterpolateMode::nearest));
    EXPECT_EQ(shape_of(all), "[1,1,2,2]");
    // Negative axes count from the end.
    auto neg = make<Interpolate>({x, ci({8}), ci({-1})}, attrs(InterpolateMode::nearest));
    EXPECT_EQ(shape_of(neg), "[2,3,5,8]");
    // Pads grow the axes that are not interpolated, and the padded length is what scales see.
    Interpolate padded = attrs(InterpolateMode::nearest, CoordinateTransformMode::asymmetric, NearestMode::floor,
                               ShapeCalcMode::scales);
    padded.pads_begin = {0, 1, 1};
    padded.pads_end = {0, 0, 2};
    auto p = make<Interpolate>({x, cf({2.0}), ci({2})}, padded);
    EXPECT_EQ(shape_of(p), "[2,4,16,7]");
}

TEST(Interpolate, ScaledLengthRounding) {
    // f64 scales are exact as torch computes them; f32 ones get slack for the decimal they meant.
    EXPECT_EQ(scaled_length(10, 0.7, Type::f64), 7);
    EXPECT_EQ(scaled_length(10, static_cast<float>(0.7), Type::f32), 7);
    EXPECT_EQ(scaled_length(10, static_cast<float>(0.7), Type::f64), 6);
    EXPECT_EQ(scaled_length(5, 0.5, Type::f64), 2);
    EXPECT_EQ(scaled_length(6, 1.7, Type::f64), 10);
    auto f32 = make<Interpolate>({param(Shape{1, 1, 10}), cf32({0.7f}), ci({2})},
                                 attrs(InterpolateMode::nearest, CoordinateTransformMode::asymmetric, NearestMode::floor,
                                       ShapeCalcMode::scales));
    EXPECT_EQ(shape_of(f32), "[1,1,7]");
}

TEST(Interpolate, InferDynamic) {
    // Dynamic dims stay dynamic where they are not interpolated; intervals scale.
    auto x = param(PartialShape{Dimension::dynamic(), 3, Dimension(4, 10), Dimension::dynamic()});
    auto sc = make<Interpolate>({x, cf({1.5, 2.0}), ci({2, 3})},
                                attrs(InterpolateMode::linear_onnx, CoordinateTransformMode::half_pixel,
                                      NearestMode::floor, ShapeCalcMode::scales));
    EXPECT_EQ(shape_of(sc), "[?,3,6..15,?]");
    auto sz = make<Interpolate>({x, ci({7, 8}), ci({2, 3})}, attrs(InterpolateMode::cubic));
    EXPECT_EQ(shape_of(sz), "[?,3,7,8]");
    // Sizes known only at run time: those axes become dynamic, the others stay.
    auto rs = make<Interpolate>({param(Shape{2, 3, 5, 7}), param(Shape{2}, Type::i64), ci({2, 3})},
                                attrs(InterpolateMode::nearest));
    EXPECT_EQ(shape_of(rs), "[2,3,?,?]");
    // Axes known only at run time: any dim may change.
    auto ra = make<Interpolate>({param(Shape{2, 3, 5, 7}), ci({4, 4}), param(Shape{2}, Type::i64)},
                                attrs(InterpolateMode::nearest));
    EXPECT_EQ(shape_of(ra), "[?,?,?,?]");
    // Dynamic rank.
    auto dr = make<Interpolate>({param(PartialShape()), ci({4, 4}), ci({2, 3})}, attrs(InterpolateMode::nearest));
    EXPECT_EQ(shape_of(dr), "[...]");
}

TEST(Interpolate, InferSizesOfAnotherTensor) {
    // F.interpolate(x, size=y.shape[-2:]): the sizes are dims of y, known as far as y is.
    auto x = param(PartialShape{Dimension::dynamic(), 8, Dimension::dynamic(), Dimension::dynamic()});
    auto y = param(PartialShape{1, 4, Dimension(16, 64), 33});
    auto sizes = make<Gather>({make<ShapeOf>({y}, Type::i64)->output(0), ci({2, 3}),
                               Constant::scalar<int64_t>(0)->output(0)},
                              int64_t{0});
    auto n = make<Interpolate>({x, sizes->output(0), ci({2, 3})}, attrs(InterpolateMode::linear_onnx));
    EXPECT_EQ(shape_of(n), "[?,8,16..64,33]");
}

TEST(Interpolate, InferErrors) {
    auto x = param(Shape{2, 3, 5, 7});
    auto named = [](std::shared_ptr<Interpolate> n) {
        n->set_name("up");
        return n;
    };
    auto build = [&](OutputVector in, Interpolate a) {
        auto n = named(std::make_shared<Interpolate>(a));
        n->set_inputs(std::move(in));
        n->validate_and_infer();
    };
    auto near = attrs(InterpolateMode::nearest);
    auto scales = attrs(InterpolateMode::nearest, CoordinateTransformMode::asymmetric, NearestMode::floor,
                        ShapeCalcMode::scales);
    expect_error([&] { build({x, cf({2.0, 2.0}), ci({2, 3})}, near); },
                 "[Interpolate up] sizes (input 1) must be of an integer type in shape_calculation_mode=sizes, got f64");
    expect_error([&] { build({x, ci({2, 2}), ci({2, 3})}, scales); },
                 "[Interpolate up] scales (input 1) must be of a floating type");
    expect_error([&] { build({x, ci({2, 2, 2}), ci({2, 3})}, near); }, "[Interpolate up] scales_or_sizes has 3 values for 2 axes");
    expect_error([&] { build({x, ci({2, 2}), ci({2, 4})}, near); }, "[Interpolate up] axes 4 is out of range");
    expect_error([&] { build({x, ci({2, 2}), ci({3, -1})}, near); }, "[Interpolate up] axis -1 is given twice");
    expect_error([&] { build({x, cf({2.0, -1.0}), ci({2, 3})}, scales); }, "[Interpolate up] scales must be positive, got -1");
    expect_error([&] { build({x, ci({2, -2}), ci({2, 3})}, near); }, "[Interpolate up] sizes must not be negative, got -2");
    expect_error([&] { build({x, ci({2}), ci({2}), ci({3})}, near); }, "[Interpolate up] expected 2 to 3 inputs, got 4");
    auto padded = near;
    padded.pads_begin = {0, 0, -1};
    expect_error([&] { build({x, ci({2, 2}), ci({2, 3})}, padded); }, "[Interpolate up] pads must not be negative");
    padded.pads_begin = {0, 0, 0, 0, 1};
    expect_error([&] { build({x, ci({2, 2}), ci({2, 3})}, padded); }, "[Interpolate up] pads have more values");
    expect_error([&] { build({param(Shape{2, 3}, Type::boolean), ci({2}), ci({1})}, near); },
                 "[Interpolate up] the image must be numeric");
    expect_error([&] { build({x, Constant::create<int64_t>({2, 2}, {1, 2})->output(0), ci({2, 3})}, near); },
                 "[Interpolate up] scales_or_sizes must be 1-D, got [1,2]");
}

// =============================================================================================
// Reference kernel, hand-checked values

TEST(Interpolate, NearestModesAndCoordinates) {
    // in 3 -> out 2, asymmetric: x = d * 1.5, so d = 1 sits exactly between 1 and 2.
    auto down = [](NearestMode m) {
        return interp1d(attrs(InterpolateMode::nearest, CoordinateTransformMode::asymmetric, m), {10, 11, 12}, 2);
    };
    expect_floats(down(NearestMode::round_prefer_floor), {10, 11});
    expect_floats(down(NearestMode::round_prefer_ceil), {10, 12});
    expect_floats(down(NearestMode::floor), {10, 11});
    expect_floats(down(NearestMode::ceil), {10, 12});
    expect_floats(down(NearestMode::simple), {10, 12});  // downsampling: ceil
    // in 3 -> out 5 (torch's nearest): floor(d * 0.6) = 0 0 1 1 2.
    expect_floats(interp1d(attrs(InterpolateMode::nearest, CoordinateTransformMode::asymmetric), {0, 1, 2}, 5),
                  {0, 0, 1, 1, 2});
    // torch's nearest-exact: floor((d + 0.5) * 0.6) = 0 0 1 2 2.
    expect_floats(interp1d(attrs(InterpolateMode::nearest, CoordinateTransformMode::tf_half_pixel_for_nn), {0, 1, 2}, 5),
                  {0, 0, 1, 2, 2});
    // ceil past the end is clamped; simple truncates when upsampling.
    expect_floats(interp1d(attrs(InterpolateMode::nearest, CoordinateTransformMode::half_pixel, NearestMode::ceil),
                           {0, 1}, 4),
                  {0, 1, 1, 1});
    expect_floats(interp1d(attrs(InterpolateMode::nearest, CoordinateTransformMode::half_pixel, NearestMode::simple),
                           {0, 1}, 4),
                  {0, 0, 0, 1});
    // Scales mode steps by 1 / scale, not in / out: 6 -> floor(6 * 1.7) = 10, step 0.588.
    expect_floats(interp1d(attrs(InterpolateMode::nearest, CoordinateTransformMode::asymmetric, NearestMode::floor,
                                 ShapeCalcMode::scales),
                           {0, 1, 2, 3, 4, 5}, 10, 1.7),
                  {0, 0, 1, 1, 2, 2, 3, 4, 4, 5});
}

TEST(Interpolate, LinearCubicPillowValues) {
    auto lin = [](CoordinateTransformMode c, int64_t out) {
        return interp1d(attrs(InterpolateMode::linear_onnx, c), {0, 10}, out);
    };
    expect_floats(lin(CoordinateTransformMode::half_pixel, 4), {0, 2.5, 7.5, 10});
    expect_floats(lin(CoordinateTransformMode::align_corners, 3), {0, 5, 10});
    expect_floats(lin(CoordinateTransformMode::asymmetric, 4), {0, 5, 10, 10});
    // One output element: half_pixel takes the centre, pytorch_half_pixel the first element.
    expect_floats(interp1d(attrs(InterpolateMode::linear_onnx), {0, 10, 20, 30}, 1), {15});
    expect_floats(interp1d(attrs(InterpolateMode::linear_onnx, CoordinateTransformMode::pytorch_half_pixel),
                           {0, 10, 20, 30}, 1),
                  {0});
    // Cubic at the input's own size reproduces it; at align_corners 2x it matches Keys' weights.
    expect_floats(interp1d(attrs(InterpolateMode::cubic), {1, -2, 5, 4, 0}, 5), {1, -2, 5, 4, 0}, 1e-5f);
    // x = 0.5 between 0 and 1 of [0, 1, 2, 3] (align_corners, out 7): -0.0625 * (0 + 3) replaced
    // by the clamped neighbour: w = (-0.09375, 0.59375, 0.59375, -0.09375) on (0, 0, 1, 2).
    auto c = interp1d(attrs(InterpolateMode::cubic, CoordinateTransformMode::align_corners), {0, 1, 2, 3}, 7);
    EXPECT_NEAR(c[1], 0.59375f - 2 * 0.09375f, 1e-6f);
    EXPECT_NEAR(c[3], 1.5f, 1e-6f);
    // Pillow's triangle, 4 -> 2: windows of 3 with weights .75 .75 .25 (normalized).
    expect_floats(interp1d(attrs(InterpolateMode::bilinear_pillow), {0, 1, 2, 3}, 2), {1.25f / 1.75f, 4.f / 1.75f});
    // The TF-style triangle without antialias is plain linear interpolation.
    expect_floats(interp1d(attrs(InterpolateMode::linear), {0, 10}, 4), {0, 2.5, 7.5, 10});
}

TEST(Interpolate, PadsTypesAndErrors) {
    Interpolate p = attrs(InterpolateMode::nearest, CoordinateTransformMode::asymmetric);
    p.pads_begin = {1};
    p.pads_end = {1};
    expect_floats(interp1d(p, {5, 6, 7}, 5), {0, 5, 6, 7, 0});
    // Nearest takes any element type; f16 goes through f32 for the filtering modes.
    auto xi = param(Shape{1, 3}, Type::i32);
    auto ni = make<Interpolate>({xi, ci({6}), ci({1})}, attrs(InterpolateMode::nearest, CoordinateTransformMode::asymmetric));
    EXPECT_EQ(values<int32_t>(run_ref(*ni, inputs_for(*ni, {Tensor::from_vector<int32_t>({1, 2, 3}, {1, 3})}))),
              (std::vector<int32_t>{1, 1, 2, 2, 3, 3}));
    auto xh = param(Shape{2}, Type::f16);
    auto nh = make<Interpolate>({xh, ci({4})}, attrs(InterpolateMode::linear_onnx));
    Tensor h(Type::f16, {2});
    std::vector<float> hv{0, 10};
    convert_elements(hv.data(), Type::f32, h.data(), Type::f16, 2);
    expect_floats(values(run_ref(*nh, inputs_for(*nh, {h}))), {0, 2.5, 7.5, 10});
    auto li = make<Interpolate>({xi, ci({6}), ci({1})}, attrs(InterpolateMode::linear_onnx));
    li->set_name("li");
    expect_error([&] { run_ref(*li, inputs_for(*li, {Tensor::from_vector<int32_t>({1, 2, 3}, {1, 3})})); },
                 "[Interpolate li] mode linear_onnx on i32 has no reference kernel");
    // Values that only arrive at run time are checked there.
    auto rt = make<Interpolate>({param(Shape{4}), param(Shape{1}, Type::f64)},
                                attrs(InterpolateMode::nearest, CoordinateTransformMode::asymmetric, NearestMode::floor,
                                      ShapeCalcMode::scales));
    rt->set_name("rt");
    std::vector<Tensor> in{tensor({1, 2, 3, 4}, {4}), Tensor::from_vector<double>({2.0, 3.0}, {2})};
    std::vector<Tensor> out{Tensor(Type::f32, {8})};
    expect_error([&] { rt->evaluate(in, out); }, "[Interpolate rt] scales_or_sizes has 2 values for 1 axes");
}

// =============================================================================================
// Fast kernel against the reference

namespace {

cpu::KernelShapes shapes_of(const Node& n, const std::vector<Tensor>& in, bool constants = true) {
    cpu::KernelShapes ks;
    for (size_t i = 0; i < n.num_inputs(); ++i) {
        ks.inputs.push_back({in[i].type(), PartialShape(in[i].shape())});
        ks.constants.push_back(constants ? n.input(i).node->constant_value() : nullptr);
    }
    ks.outputs.push_back(n.output_desc(0));
    return ks;
}

int checked = 0;

void check_fast(Node& n, const Tensor& x) {
    auto in = inputs_for(n, {x});
    auto ref = run_ref(n, in);
    for (auto isa : {cpu::InterpolateIsa::avx2, cpu::InterpolateIsa::avx512}) {
        if (!cpu::interpolate_isa_supported(isa)) continue;
        auto k = cpu::make_interpolate_kernel_for(n, shapes_of(n, in), isa);
        ASSERT_NE(k, nullptr) << n.attributes_string() << " " << to_string(x.shape());
        Tensor y(Type::f32, ref.shape());
        std::fill(y.data<float>(), y.data<float>() + y.size(), std::nanf(""));
        std::vector<Tensor> outs{y};
        k->execute(in, outs);
        for (int64_t i = 0; i < y.size(); ++i) {
            float r = ref.data<float>()[i], g = y.data<float>()[i];
            ASSERT_NEAR(g, r, 1e-5f * (1.f + std::fabs(r)))
                << k->name() << " " << n.attributes_string() << " in " << to_string(x.shape()) << " out "
                << to_string(ref.shape()) << " element " << i;
        }
        ++checked;
    }
}

}  // namespace

TEST(InterpolateKernels, MatchReferenceOverModesAndShapes) {
    std::mt19937 rng(7);
    const InterpolateMode modes[] = {InterpolateMode::nearest, InterpolateMode::linear_onnx, InterpolateMode::cubic,
                                     InterpolateMode::linear, InterpolateMode::bilinear_pillow,
                                     InterpolateMode::bicubic_pillow};
    const CoordinateTransformMode ctms[] = {CoordinateTransformMode::half_pixel, CoordinateTransformMode::align_corners,
                                            CoordinateTransformMode::asymmetric,
                                            CoordinateTransformMode::tf_half_pixel_for_nn};
    // (input H, W) -> (output H, W): odd, 1, shrinking and growing, mixed.
    const std::pair<Shape, Shape> sizes[] = {{{5, 7}, {11, 3}}, {{1, 1}, {4, 9}}, {{9, 13}, {1, 1}},
                                             {{6, 17}, {6, 17}}, {{3, 40}, {7, 19}}, {{16, 16}, {5, 33}}};
    checked = 0;
    for (auto mode : modes)
        for (auto ctm : ctms)
            for (auto& [in, out] : sizes) {
                Interpolate a(mode, ShapeCalcMode::sizes, ctm, NearestMode::round_prefer_ceil, true,
                              mode == InterpolateMode::bicubic_pillow ? -0.5 : -0.75);
                auto n = make<Interpolate>({param(Shape{2, 3, in[0], in[1]}), ci({out[0], out[1]}), ci({2, 3})}, a);
                check_fast(*n, random_f32({2, 3, in[0], in[1]}, rng));
            }
    if (cpu::interpolate_isa_supported(cpu::InterpolateIsa::avx2)) {
        EXPECT_GT(checked, 100);
    }
}

TEST(InterpolateKernels, ScalesRanksAndAxes) {
    std::mt19937 rng(11);
    auto scaled = [](InterpolateMode m, CoordinateTransformMode c) {
        return Interpolate(m, ShapeCalcMode::scales, c, NearestMode::floor);
    };
    // torch's modes in scales form, scale < 1 and > 1.
    for (auto s : {std::vector<double>{0.5, 0.5}, {1.7, 2.0}, {0.3, 3.1}, {2.05, 1.05}}) {
        for (auto [m, c] : {std::pair{InterpolateMode::nearest, CoordinateTransformMode::asymmetric},
                            std::pair{InterpolateMode::nearest, CoordinateTransformMode::tf_half_pixel_for_nn},
                            std::pair{InterpolateMode::linear_onnx, CoordinateTransformMode::half_pixel},
                            std::pair{InterpolateMode::cubic, CoordinateTransformMode::align_corners},
                            std::pair{InterpolateMode::bicubic_pillow, CoordinateTransformMode::half_pixel}}) {
            auto n = make<Interpolate>({param(Shape{1, 2, 10, 13}), cf(s), ci({2, 3})}, scaled(m, c));
            check_fast(*n, random_f32({1, 2, 10, 13}, rng));
        }
    }
    // 1-D (axis 2 of [N, C, W]), 3-D (the last three of 5-D), H only, W only, C and H.
    struct Case {
        Shape in;
        std::vector<int64_t> axes, sizes;
    };
    for (auto& c : std::vector<Case>{{{2, 3, 9}, {2}, {20}},
                                     {{1, 2, 3, 4, 5}, {2, 3, 4}, {5, 7, 2}},
                                     {{2, 2, 5, 6}, {2}, {9}},
                                     {{2, 2, 5, 6}, {3}, {3}},
                                     {{2, 5, 6, 4}, {1, 2}, {3, 8}},
                                     {{7}, {0}, {12}},
                                     {{3, 5}, {0, 1}, {1, 9}}}) {
        for (auto m : {InterpolateMode::nearest, InterpolateMode::linear_onnx, InterpolateMode::cubic}) {
            auto n = make<Interpolate>({param(c.in), ci(c.sizes), ci(c.axes)}, attrs(m));
            check_fast(*n, random_f32(c.in, rng));
        }
    }
    // Large enough for the threaded path.
    auto big = make<Interpolate>({param(Shape{1, 3, 64, 80}), ci({128, 160}), ci({2, 3})},
                                 attrs(InterpolateMode::linear_onnx));
    check_fast(*big, random_f32({1, 3, 64, 80}, rng));
    auto big1 = make<Interpolate>({param(Shape{1, 1, 150, 90}), ci({37, 301}), ci({2, 3})},
                                  attrs(InterpolateMode::bicubic_pillow));
    check_fast(*big1, random_f32({1, 1, 150, 90}, rng));
}

TEST(InterpolateKernels, NotCovered) {
    auto x = param(Shape{2, 3, 5, 7});
    std::vector<Tensor> in;
    auto declines = [&](const NodePtr& n, bool constants = true) {
        std::mt19937 rng(1);
        auto ins = inputs_for(*n, {random_f32(n->input(0).shape().to_shape(), rng)});
        for (size_t i = 1; i < n->num_inputs(); ++i)
            if (!n->input(i).node->constant_value()) ins.push_back(Tensor::from_vector<int64_t>({2, 3}, {2}));
        EXPECT_EQ(cpu::make_interpolate_kernel(*n, shapes_of(*n, ins, constants)), nullptr) << n->attributes_string();
    };
    Interpolate padded = attrs(InterpolateMode::nearest);
    padded.pads_end = {0, 0, 1, 1};
    declines(make<Interpolate>({x, ci({4, 4}), ci({2, 3})}, padded));
    declines(make<Interpolate>({x, ci({4}), ci({0})}, attrs(InterpolateMode::nearest)));  // batch axis moves
    declines(make<Interpolate>({param(Shape{2, 3, 5, 7}, Type::f64), ci({4, 4}), ci({2, 3})}, attrs(InterpolateMode::nearest)));
    declines(make<Interpolate>({x, ci({4, 4}), ci({2, 3})}, attrs(InterpolateMode::nearest)), false);  // axes not known
}

// =============================================================================================
// GridSample

TEST(GridSample, Infer) {
    auto n = make<GridSample>({param(PartialShape{2, 3, Dimension::dynamic(), 9}), param(PartialShape{Dimension::dynamic(), 4, 5, 2})},
                              GridSample(GridSampleMode::bilinear, GridSamplePadding::zeros, false));
    EXPECT_EQ(shape_of(n), "[2,3,4,5]");
    auto d = make<GridSample>({param(PartialShape()), param(PartialShape())}, GridSample());
    EXPECT_EQ(shape_of(d), "[?,?,?,?]");
    auto bad = [&](PartialShape a, PartialShape b) {
        auto g = std::make_shared<GridSample>();
        g->set_name("gs");
        g->set_inputs({param(a), param(b)});
        g->validate_and_infer();
    };
    expect_error([&] { bad(Shape{2, 3, 4}, Shape{2, 4, 5, 2}); }, "[GridSample gs] data must be 4-D");
    expect_error([&] { bad(Shape{2, 3, 4, 4}, Shape{2, 4, 5, 3}); }, "[GridSample gs] grid's last axis must be 2");
    expect_error([&] { bad(Shape{2, 3, 4, 4}, Shape{3, 4, 5, 2}); }, "[GridSample gs] data [2,3,4,4] and grid [3,4,5,2] disagree");
}

TEST(GridSample, Values) {
    // 2 x 3 image; the grid reads the corner pixels' centres (align_corners) and points outside.
    Tensor img = tensor({1, 2, 3, 4, 5, 6}, {1, 1, 2, 3});
    Tensor grid = tensor({-1, -1, 1, 1, 0, 0, 3, 0}, {1, 1, 4, 2});
    auto run = [&](GridSampleMode m, GridSamplePadding p, bool ac) {
        auto n = make<GridSample>({param(Shape{1, 1, 2, 3}), param(Shape{1, 1, 4, 2})}, GridSample(m, p, ac));
        return values(run_ref(*n, {img, grid}));
    };
    expect_floats(run(GridSampleMode::bilinear, GridSamplePadding::zeros, true), {1, 6, 3.5, 0});
    expect_floats(run(GridSampleMode::bilinear, GridSamplePadding::border, true), {1, 6, 3.5, 4.5});
    // Without align_corners -1 is the outer edge: half of it is padding.
    expect_floats(run(GridSampleMode::bilinear, GridSamplePadding::zeros, false), {0.25, 1.5, 3.5, 0});
    expect_floats(run(GridSampleMode::nearest, GridSamplePadding::border, true), {1, 6, 2, 3});  // 0.5 rounds to even
    // Reflection about the end pixels' centres: x = 4 is mirrored about 2, then about 0, to 0.
    expect_floats(run(GridSampleMode::bilinear, GridSamplePadding::reflection, true), {1, 6, 3.5, 2.5});
}

// =============================================================================================
// Col2Im

TEST(Col2Im, InferAndValues) {
    auto n = make<Col2Im>({param(PartialShape{Dimension::dynamic(), 12, 6}), ci({3, 4}), ci({2, 2})},
                          Col2Im({1, 1}, {1, 1}, {0, 0}, {0, 0}));
    EXPECT_EQ(shape_of(n), "[?,3,3,4]");
    auto bad = std::make_shared<Col2Im>();
    bad->set_name("fold");
    bad->set_inputs({param(Shape{1, 12, 5}), ci({3, 4}), ci({2, 2})});
    expect_error([&] { bad->validate_and_infer(); }, "[Col2Im fold] data has 5 blocks, the output size and kernel give 2 x 3");
    // Every block of a 2 x 2 kernel over a 3 x 3 image adds 1: counts of the overlaps.
    auto c = make<Col2Im>({param(Shape{4, 4}), ci({3, 3}), ci({2, 2})}, Col2Im());
    Tensor ones(Type::f32, {4, 4});
    std::fill(ones.data<float>(), ones.data<float>() + 16, 1.f);
    expect_floats(values(run_ref(*c, {ones, Tensor::from_vector<int64_t>({3, 3}, {2}), Tensor::from_vector<int64_t>({2, 2}, {2})})),
                  {1, 2, 1, 2, 4, 2, 1, 2, 1});
    // Stride 2 and a pad of 1: blocks fall partly into the padding, which is dropped.
    auto s = make<Col2Im>({param(Shape{1, 4, 4}), ci({2, 2}), ci({2, 2})}, Col2Im({2, 2}, {1, 1}, {1, 1}, {1, 1}));
    Tensor cols(Type::f32, {1, 4, 4});
    for (int i = 0; i < 16; ++i) cols.data<float>()[i] = static_cast<float>(i);
    // Output (y, x) comes from block (by, bx) = ((y + 1) / 2, (x + 1) / 2), kernel (i, j) = ((y + 1) % 2, ...).
    auto v = values(run_ref(*s, {cols, Tensor::from_vector<int64_t>({2, 2}, {2}), Tensor::from_vector<int64_t>({2, 2}, {2})}));
    expect_floats(v, {3 * 4 + 0, 2 * 4 + 1, 1 * 4 + 2, 0 * 4 + 3});
}
