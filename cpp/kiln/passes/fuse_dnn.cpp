#include "kiln/passes/fuse_dnn.hpp"

#include <cmath>
#include <optional>

#include "kiln/ops/activation.hpp"
#include "kiln/ops/convolution.hpp"
#include "kiln/ops/elementwise_binary.hpp"
#include "kiln/ops/graph_io.hpp"
#include "kiln/ops/internal/fused.hpp"
#include "kiln/ops/matmul.hpp"
#include "kiln/ops/normalization.hpp"
#include "kiln/ops/shape_ops.hpp"

namespace kiln::passes {

namespace {

using op::PostOp;

template <typename T>
bool is(const Node* n) {
    return dynamic_cast<const T*>(n) != nullptr;
}

// The one node reading `o`, unless that is a Result or there are several readers.
Node* sole_consumer(const ConsumerMap& cm, const Output& o) {
    auto it = cm.find(o);
    if (it == cm.end() || it->second.size() != 1) return nullptr;
    Node* c = it->second[0].first;
    return is<op::Result>(c) ? nullptr : c;
}

const Tensor* const_value(const Output& o) {
    return o.index == 0 ? o.node->constant_value() : nullptr;
}

// Values of a constant that broadcasts against a rank-`rank` tensor along `axis` only, expanded
// to `len` values; nullopt if it varies along any other axis or has a wrong length.
std::optional<std::vector<double>> along_axis(const Tensor& t, int64_t rank, int64_t axis,
                                              int64_t len) {
    if (t.rank() > rank || t.type() == Type::f16 || t.type() == Type::bf16) return std::nullopt;
    const int64_t off = rank - t.rank();
    for (int64_t j = 0; j < t.rank(); ++j) {
        int64_t d = t.shape()[j];
        if (d == 1) continue;
        if (j + off != axis || d != len) return std::nullopt;
    }
    auto v = t.as_f64_vector();
    if (v.size() == 1) v.assign(static_cast<size_t>(len), v[0]);
    if (static_cast<int64_t>(v.size()) != len) return std::nullopt;
    return v;
}

// A conv or matmul being grown by absorbing its consumers.
struct Chain {
    bool conv = true;
    NodePtr root;
    Tensor weights;              // f32 copy when folding changed it; plain conv form
    bool weights_const = false;
    bool weights_changed = false;
    int64_t channels = 0;        // bias length (C_out or N)
    int64_t channel_axis = 1;
    std::optional<std::vector<double>> bias;
    std::vector<PostOp> ops;
    std::optional<Output> residual;
    Node* last = nullptr;
    int absorbed = 0;
    // A Reshape / Squeeze / Unsqueeze the chain's activations were moved before (they are
    // element-wise, so they commute with it): the fused node's output goes through a copy of it.
    Node* reshape = nullptr;
};

bool is_reshape(const Node* n) {
    return is<op::Reshape>(n) || is<op::Squeeze>(n) || is<op::Unsqueeze>(n);
}

void scale_weights(Chain& ch, const std::vector<double>& s) {
    if (!ch.weights_changed) {
        ch.weights = ch.weights.copy();
        ch.weights_changed = true;
    }
    float* w = ch.weights.data<float>();
    const int64_t per = ch.weights.size() / ch.channels;
    for (int64_t o = 0; o < ch.channels; ++o)
        for (int64_t i = 0; i < per; ++i) w[o * per + i] = static_cast<float>(w[o * per + i] * s[o]);
    if (ch.bias)
        for (int64_t o = 0; o < ch.channels; ++o) (*ch.bias)[o] *= s[o];
}

void add_bias(Chain& ch, const std::vector<double>& b) {
    if (!ch.bias) ch.bias = std::vector<double>(static_cast<size_t>(ch.channels), 0.0);
    for (int64_t o = 0; o < ch.channels; ++o) (*ch.bias)[o] += b[o];
}

// Tries to absorb `c`, the sole consumer of the chain's current output.
bool absorb(Chain& ch, Node* c, const Output& cur) {
    if (c->num_outputs() < 1 || c->output_type(0) != Type::f32) return false;
    const PartialShape& shape = cur.shape();
    if (!shape.rank_is_static()) return false;
    const int64_t rank = shape.rank();
    const bool clean = ch.ops.empty();  // nothing but the linear part so far
    auto other_input = [&](Output& other) {
        if (c->num_inputs() != 2) return false;
        other = c->input(0) == cur ? c->input(1) : c->input(0);
        return c->output_shape(0) == shape;
    };
    if (is<op::Multiply>(c)) {
        Output other;
        if (!ch.conv || !clean || !ch.weights_const || !other_input(other)) return false;
        const Tensor* v = const_value(other);
        if (!v) return false;
        auto s = along_axis(*v, rank, ch.channel_axis, ch.channels);
        if (!s) return false;
        scale_weights(ch, *s);
        return true;
    }
    if (is<op::Add>(c)) {
        Output other;
        if (!other_input(other)) return false;
        if (const Tensor* v = const_value(other)) {
            if (!clean) return false;
            auto b = along_axis(*v, rank, ch.channel_axis, ch.channels);
            if (!b) return false;
            add_bias(ch, *b);
            return true;
        }
        if (ch.residual || other.shape() != shape || other.type() != Type::f32) return false;
        ch.residual = other;
        ch.ops.push_back(PostOp::residual());
        return true;
    }
    if (auto* bn = dynamic_cast<op::BatchNormInference*>(c)) {
        if (!ch.conv || !clean || !ch.weights_const || !(c->input(0) == cur)) return false;
        const int idx[4] = {1, 2, 3, 4};  // gamma, beta, mean, variance
        std::vector<double> p[4];
        for (int k = 0; k < 4; ++k) {
            const Tensor* v = const_value(c->input(idx[k]));
            if (!v) return false;
            auto a = along_axis(*v, 1, 0, ch.channels);
            if (!a) return false;
            p[k] = *a;
        }
        const double eps = bn->epsilon;
        std::vector<double> s(ch.channels), b(ch.channels);
        for (int64_t o = 0; o < ch.channels; ++o) {
            s[o] = p[0][o] / std::sqrt(p[3][o] + eps);
            b[o] = p[1][o] - p[2][o] * s[o];
        }
        scale_weights(ch, s);
        add_bias(ch, b);
        return true;
    }
    if (auto a = op::activation_of(*c)) {
        if (!(c->input(0) == cur)) return false;
        ch.ops.push_back(*a);
        return true;
    }
    return false;
}

// After a reshape only activations may join (a bias or residual would have the reshaped shape).
bool absorb_after_reshape(Chain& ch, Node* c, const Output& cur) {
    if (c->num_outputs() < 1 || c->output_type(0) != Type::f32 || !(c->input(0) == cur)) return false;
    auto a = op::activation_of(*c);
    if (!a) return false;
    ch.ops.push_back(*a);
    return true;
}

NodePtr constant_f32(const std::vector<double>& v) {
    std::vector<float> f(v.begin(), v.end());
    return op::Constant::create<float>(f, {static_cast<int64_t>(f.size())});
}

// Builds the fused node for a chain that absorbed something; nullptr if it cannot.
NodePtr build(Chain& ch) {
    Node* r = ch.root.get();
    OutputVector in{r->input(0)};
    if (ch.conv) {
        if (ch.weights_const) {
            Shape ws = ch.weights.shape();
            if (is<op::GroupConvolution>(r)) {  // [G, Og, Ig, k...] -> [G*Og, Ig, k...]
                Shape p{ws[0] * ws[1]};
                p.insert(p.end(), ws.begin() + 2, ws.end());
                ws = p;
            }
            in.push_back(make<op::Constant>({}, ch.weights.reshaped(ws))->output(0));
        } else {
            in.push_back(r->input(1));
        }
    } else {
        in.push_back(r->input(1));
    }
    if (ch.bias) in.push_back(constant_f32(*ch.bias)->output(0));
    if (ch.residual) in.push_back(*ch.residual);
    NodePtr f;
    if (auto* c = dynamic_cast<op::Convolution*>(r)) {
        f = make<op::FusedConvolution>(in, c->strides, c->pads_begin, c->pads_end, c->dilations,
                                       c->auto_pad, int64_t{1}, ch.bias.has_value(), ch.ops);
    } else if (auto* g = dynamic_cast<op::GroupConvolution*>(r)) {
        int64_t groups = r->input(1).shape()[0].get_length();
        f = make<op::FusedConvolution>(in, g->strides, g->pads_begin, g->pads_end, g->dilations,
                                       g->auto_pad, groups, ch.bias.has_value(), ch.ops);
    } else if (auto* m = dynamic_cast<op::MatMul*>(r)) {
        f = make<op::FusedMatMul>(in, m->transpose_a, m->transpose_b, ch.bias.has_value(), ch.ops);
    }
    if (f) {
        f->set_name(r->name());
        f->set_source(r->source());
    }
    if (f && ch.reshape) {
        OutputVector rin{f->output(0)};
        for (size_t i = 1; i < ch.reshape->num_inputs(); ++i) rin.push_back(ch.reshape->input(i));
        NodePtr moved = ch.reshape->clone(rin);
        moved->set_name(ch.reshape->name());
        moved->set_source(ch.reshape->source());
        return moved;
    }
    return f;
}

// Starts a chain at a conv / matmul node, or returns nullopt when it is not fusable.
std::optional<Chain> start(const NodePtr& n) {
    Chain ch;
    ch.root = n;
    if (n->num_outputs() != 1 || n->output_type(0) != Type::f32) return std::nullopt;
    const PartialShape& s = n->output_shape(0);
    if (!s.rank_is_static()) return std::nullopt;
    if (is<op::Convolution>(n.get()) || is<op::GroupConvolution>(n.get())) {
        if (!s[1].is_static()) return std::nullopt;
        ch.channels = s[1].get_length();
        const Tensor* w = const_value(n->input(1));
        ch.weights_const = w && w->type() == Type::f32;
        // Grouped weights need a reshape, which only a constant can get here.
        if (is<op::GroupConvolution>(n.get()) && !ch.weights_const) return std::nullopt;
        if (ch.weights_const) ch.weights = *w;
    } else if (is<op::MatMul>(n.get())) {
        if (!const_value(n->input(1)) || s.rank() == 0 || !s[s.size() - 1].is_static())
            return std::nullopt;
        const PartialShape& b = n->input(1).shape();
        if (b.rank() < 2) return std::nullopt;  // a 1-D B leaves no N axis for a bias
        ch.conv = false;
        ch.channels = s[s.size() - 1].get_length();
        ch.channel_axis = s.rank() - 1;
    } else {
        return std::nullopt;
    }
    ch.last = n.get();
    return ch;
}

}  // namespace

size_t fuse_dnn(Model& m) {
    size_t fused = 0;
    ConsumerIndex ci(m);
    const ConsumerMap& cm = ci.map();
    for (auto& n : m.ordered_ops()) {
        auto ch = start(n);
        if (!ch) continue;
        if (!cm.count(n->output(0))) continue;  // no longer in the graph
        Output cur = n->output(0);
        while (Node* c = sole_consumer(cm, cur)) {
            if (!ch->reshape && absorb(*ch, c, cur)) {
                ch->last = c;
                ch->absorbed++;
                cur = c->output(0);
                continue;
            }
            // A reshape of the chain's output followed by activations: they move before it.
            if (!ch->reshape && is_reshape(c) && c->input(0) == cur) {
                Node* a = sole_consumer(cm, c->output(0));
                if (!a || !absorb_after_reshape(*ch, a, c->output(0))) break;  // changes nothing when it fails
                ch->reshape = c;
                ch->last = a;
                ch->absorbed++;
                cur = a->output(0);
                continue;
            }
            if (ch->reshape && absorb_after_reshape(*ch, c, cur)) {
                ch->last = c;
                ch->absorbed++;
                cur = c->output(0);
                continue;
            }
            break;
        }
        if (ch->absorbed == 0) continue;
        NodePtr f = build(*ch);
        if (!f) continue;
        ci.replace(cur, f->output(0));
        ++fused;
    }
    return fused;
}

}  // namespace kiln::passes
