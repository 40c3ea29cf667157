#include "kiln/passes/decompose_attention.hpp"

#include <cmath>
#include <limits>

#include "kiln/ops/attention.hpp"
#include "kiln/ops/data_movement.hpp"
#include "kiln/ops/elementwise_unary.hpp"
#include "kiln/ops/matmul.hpp"
#include "kiln/ops/normalization.hpp"
#include "kiln/ops/shape_ops.hpp"

namespace kiln::passes {

namespace {

Output f32(float v) { return op::Constant::scalar(v)->output(0); }
Output i64(int64_t v) { return op::Constant::scalar(v)->output(0); }

// Dimension `axis` (negative from the end) of x as an i64 scalar.
Output dim_of(const Output& x, int64_t axis) {
    auto shape = make<op::ShapeOf>({x}, Type::i64);
    return make<op::Gather>({shape->output(0), i64(axis), i64(0)}, int64_t{0})->output(0);
}

Output decompose(op::ScaledDotProductAttention& a) {
    Output q = a.input(0), k = a.input(1), v = a.input(2);
    Output scores = make<op::MatMul>({q, k}, false, true)->output(0);
    Output scale;
    if (a.num_inputs() > 4) {
        scale = a.input(4);
    } else {
        auto& qs = q.shape();
        const Dimension& e = qs[qs.size() - 1];
        if (e.is_static()) {
            scale = f32(static_cast<float>(1.0 / std::sqrt(static_cast<double>(e.get_length()))));
        } else {
            Output len = make<op::Convert>({dim_of(q, -1)}, Type::f32)->output(0);
            scale = make<op::Divide>({f32(1.0f), make<op::Sqrt>({len})->output(0)})->output(0);
        }
    }
    scores = make<op::Multiply>({scores, scale})->output(0);
    const float ninf = -std::numeric_limits<float>::infinity();
    if (a.causal) {
        Output rows = make<op::Range>({i64(0), dim_of(q, -2), i64(1)}, Type::i64)->output(0);
        Output cols = make<op::Range>({i64(0), dim_of(k, -2), i64(1)}, Type::i64)->output(0);
        Output column = make<op::Unsqueeze>({rows, i64(1)})->output(0);
        Output above = make<op::Greater>({cols, column})->output(0);
        Output bias = make<op::Select>({above, f32(ninf), f32(0.0f)})->output(0);
        scores = make<op::Add>({scores, bias})->output(0);
    } else if (a.num_inputs() > 3) {
        Output mask = a.input(3);
        if (mask.type() == Type::boolean) mask = make<op::Select>({mask, f32(0.0f), f32(ninf)})->output(0);
        scores = make<op::Add>({scores, mask})->output(0);
    }
    Output weights = make<op::Softmax>({scores}, int64_t{-1})->output(0);
    return make<op::MatMul>({weights, v}, false, false)->output(0);
}

}  // namespace

size_t decompose_attention(Model& m) {
    size_t n = 0;
    for (auto& node : m.ordered_ops()) {
        auto* a = dynamic_cast<op::ScaledDotProductAttention*>(node.get());
        if (!a || a->output_type(0) != Type::f32 || a->input(0).shape().rank_is_dynamic()) continue;
        bool all_f32 = true;
        for (auto& in : a->inputs()) all_f32 &= in.type() == Type::f32 || in.type() == Type::boolean;
        if (!all_f32) continue;
        Output y;
        with_source(*a, [&] { y = decompose(*a); });
        y.node->set_name(a->name());
        y.node->set_source(a->source());
        replace_output(m, a->output(0), y);
        ++n;
    }
    return n;
}

}  // namespace kiln::passes
