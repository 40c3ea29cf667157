#include "kiln/passes/fuse_int8.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>

#include "kiln/ops/attention.hpp"
#include "kiln/ops/convolution.hpp"
#include "kiln/ops/data_movement.hpp"
#include "kiln/ops/elementwise_binary.hpp"
#include "kiln/ops/elementwise_unary.hpp"
#include "kiln/ops/fake_quantize.hpp"
#include "kiln/ops/internal/int8.hpp"
#include "kiln/ops/matmul.hpp"
#include "kiln/ops/normalization.hpp"
#include "kiln/ops/pooling.hpp"
#include "kiln/ops/random.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "kiln/ops/activation.hpp"
#include "kiln/runtime/cpu/onednn/int8.hpp"

namespace kiln::passes {

namespace {

using op::QuantPostOp;

template <typename T>
T* as(const Output& o) {
    return o.index == 0 ? dynamic_cast<T*>(o.node.get()) : nullptr;
}

// Values of outputs that only depend on constants, computed on demand with the nodes' reference
// kernels (the pass runs before constant folding). Small values are kept for the next asker.
class Values {
public:
    const Tensor* get(const Output& o, int depth = 0) {
        if (o.index == 0)
            if (const Tensor* c = o.node->constant_value()) return c;
        if (auto it = cache_.find(o); it != cache_.end()) return &it->second;
        if (failed_.count(o.node.get()) || depth > 24) return nullptr;
        Node* n = o.node.get();
        const bool evaluable = n->num_inputs() > 0 && n->has_evaluate() && n->bodies().empty() &&
                               !dynamic_cast<op::RandomUniform*>(n) && !dynamic_cast<op::Parameter*>(n);
        std::vector<Tensor> in;
        if (evaluable)
            for (auto& i : n->inputs()) {
                const Tensor* v = get(i, depth + 1);
                if (!v) break;
                in.push_back(*v);
            }
        if (!evaluable || in.size() != n->num_inputs()) {
            failed_.insert(n);
            return nullptr;
        }
        std::vector<Tensor> out;
        for (size_t i = 0; i < n->num_outputs(); ++i) {
            auto& d = n->output_desc(i);
            if (!d.shape.is_static() || d.type == Type::dynamic || shape_size(d.shape.to_shape()) > (int64_t(1) << 28)) {
                failed_.insert(n);
                return nullptr;
            }
            out.emplace_back(d.type, d.shape.to_shape());
        }
        n->evaluate_reference(in, out);
        // Large values (weights) are asked for once: not kept (a caller copies the handle it
        // gets before asking again).
        Tensor& r = out.at(o.index);
        if (r.size() <= 65536) return &(cache_[o] = r);
        big_ = r;
        return &big_;
    }

private:
    std::map<Output, Tensor> cache_;
    std::set<Node*> failed_;
    Tensor big_;
};

// The readers of an output, or none.
const std::vector<std::pair<Node*, size_t>>& readers(const ConsumerMap& cm, const Output& o) {
    static const std::vector<std::pair<Node*, size_t>> none;
    auto it = cm.find(o);
    return it == cm.end() ? none : it->second;
}

Node* sole_reader(const ConsumerMap& cm, const Output& o) {
    auto& r = readers(cm, o);
    if (r.size() != 1 || dynamic_cast<op::Result*>(r[0].first)) return nullptr;
    return r[0].first;
}

bool alive(const ConsumerMap& cm, Node* n) {
    for (size_t i = 0; i < n->num_outputs(); ++i)
        if (cm.count(Output{n->shared_from_this(), i})) return true;
    return false;
}

// The values of a constant broadcasting against a rank-`rank` tensor along `axis` only (or a
// single value), as `len` doubles; nullopt otherwise.
std::optional<std::vector<double>> along_axis(const Tensor& t, int64_t rank, int64_t axis, int64_t len) {
    if (t.rank() > rank || !is_float(t.type())) return std::nullopt;
    const int64_t off = rank - t.rank();
    for (int64_t j = 0; j < t.rank(); ++j) {
        const int64_t d = t.shape()[j];
        if (d != 1 && (j + off != axis || d != len)) return std::nullopt;
    }
    auto v = t.as_f64_vector();
    if (v.size() == 1) v.assign(static_cast<size_t>(len), v[0]);
    if (static_cast<int64_t>(v.size()) != len) return std::nullopt;
    return v;
}

// ---- activations

struct ActQuant {
    Type type = Type::u8;
    double in_scale = 1, in_zero = 0;  // Quantize
    int64_t qmin = 0, qmax = 255;
    double out_scale = 1;              // Dequantize
    int64_t zp = 0;
    // Ranges per channel along `axis` (one zero point): Quantize's multiplier 1 / in_scale[c] and
    // Dequantize's scale[c]; in_scale / out_scale are then 1.
    int64_t axis = -1;
    std::vector<double> in_scales, out_scales;
};

// The ranges of a FakeQuantize: one value each, or values along one axis of x (all four alike).
std::optional<int64_t> range_axis(Node& fq, Values& vals, std::vector<double> (&r)[4], int64_t& channels) {
    const PartialShape& xs = fq.input(0).shape();
    int64_t axis = -1;
    channels = 1;
    for (int i = 0; i < 4; ++i) {
        const Tensor* t = vals.get(fq.input(1 + i));
        if (!t || !is_float(t->type())) return std::nullopt;
        if (t->size() == 1) continue;
        if (!xs.rank_is_static() || t->rank() > xs.rank()) return std::nullopt;
        const int64_t off = xs.rank() - t->rank();
        for (int64_t j = 0; j < t->rank(); ++j)
            if (t->shape()[j] != 1) {
                if (axis >= 0 && axis != j + off) return std::nullopt;
                axis = j + off;
            }
        if (!xs[axis].is_static()) return std::nullopt;
        channels = xs[axis].get_length();
    }
    for (int i = 0; i < 4; ++i) {
        const Tensor* t = vals.get(fq.input(1 + i));
        auto v = axis < 0 ? std::optional<std::vector<double>>(t->as_f64_vector())
                          : along_axis(*t, xs.rank(), axis, channels);
        if (!v) return std::nullopt;
        r[i] = *v;
        if (r[i].size() == 1) r[i].assign(static_cast<size_t>(channels), r[i][0]);
    }
    return axis;
}

std::optional<ActQuant> act_quant(Node& fq, Values& vals) {
    auto* f = dynamic_cast<op::FakeQuantize*>(&fq);
    if (!f || fq.output_type(0) != Type::f32 || fq.input(0).type() != Type::f32) return std::nullopt;
    const int64_t levels = f->levels;
    if (levels < 2 || levels > 256) return std::nullopt;
    std::vector<double> r[4];
    int64_t channels = 1;
    auto axis = range_axis(fq, vals, r, channels);
    if (!axis) return std::nullopt;
    ActQuant q;
    q.axis = *axis;
    const double n = static_cast<double>(levels - 1);
    int64_t zi = 0;
    double offset = 0;
    for (int64_t c = 0; c < channels; ++c) {
        const double il = r[0][c], ih = r[1][c], ol = r[2][c], oh = r[3][c];
        if (!(ih > il) || !(oh > ol) || !std::isfinite(ih - il) || !std::isfinite(oh - ol)) return std::nullopt;
        const double si = (ih - il) / n, so = (oh - ol) / n;
        const double z = -ol / so, zr = std::nearbyint(z);
        if (std::fabs(z - zr) > 1e-3) return std::nullopt;  // 0 is not on a level
        const double off = -il / si;
        if (c == 0) {
            zi = static_cast<int64_t>(zr);
            offset = off;
        } else if (static_cast<int64_t>(zr) != zi || std::fabs(off - offset) > 1e-3) {
            return std::nullopt;  // one zero point for the tensor
        }
        q.in_scales.push_back(si);
        q.out_scales.push_back(so);
    }
    if (q.axis < 0) {
        q.in_scale = q.in_scales[0];
        q.out_scale = q.out_scales[0];
        q.in_scales.clear();
        q.out_scales.clear();
    }
    int64_t shift = 0;
    if (zi == 0) {
        q.type = Type::u8;
    } else if (-zi >= -128 && levels - 1 - zi <= 127 && cpu::onednn::int8_products_exact()) {
        // Levels symmetric about 0: s8, zero point 0 (without VNNI, oneDNN halves the weights of
        // s8 x s8 products to keep its 16-bit sums from saturating: u8 and a zero point instead).
        q.type = Type::i8;
        shift = -zi;
    } else if (zi > 0 && zi <= 255) {
        q.type = Type::u8;
    } else {
        return std::nullopt;
    }
    q.qmin = shift;
    q.qmax = levels - 1 + shift;
    q.in_zero = offset + static_cast<double>(shift);
    q.zp = zi + shift;
    return q;
}

// ---- weights

struct WeightQuant {
    Tensor w;                  // i8, in the INT8 op's layout
    std::vector<float> scale;  // per output channel
};

// How the flat weights map to output channels: channel = (flat / inner) % channels; `axes` are
// the weights' axes that make the channel index (row-major).
struct ChannelMap {
    int64_t channels = 1, inner = 1;
    std::vector<size_t> axes;
    int64_t of(int64_t flat) const { return (flat / inner) % channels; }
};

// The value per channel of a constant that broadcasts against weights of shape `ws` and varies
// only along the channel axes; nullopt otherwise.
std::optional<std::vector<double>> channel_values(const Tensor& t, const Shape& ws, const ChannelMap& cmap) {
    const size_t r = ws.size();
    if (t.rank() > static_cast<int64_t>(r) || !(is_float(t.type()) || is_integral(t.type()))) return std::nullopt;
    const size_t off = r - static_cast<size_t>(t.rank());
    std::vector<int64_t> stride(r, 0);
    int64_t st = 1;
    for (size_t j = static_cast<size_t>(t.rank()); j-- > 0;) {
        const int64_t d = t.shape()[j];
        const bool channel_axis = std::find(cmap.axes.begin(), cmap.axes.end(), j + off) != cmap.axes.end();
        if (d != 1 && (!channel_axis || d != ws[j + off])) return std::nullopt;
        stride[j + off] = d == 1 ? 0 : st;
        st *= d;
    }
    const auto v = t.as_f64_vector();
    std::vector<double> out(static_cast<size_t>(cmap.channels));
    for (int64_t c = 0; c < cmap.channels; ++c) {
        int64_t rest = c, at = 0;
        for (size_t k = cmap.axes.size(); k-- > 0;) {
            const size_t a = cmap.axes[k];
            at += (rest % ws[a]) * stride[a];
            rest /= ws[a];
        }
        out[c] = v[at];
    }
    return out;
}

// The weights `w` as integers times one scale per output channel, or nullopt. Forms (see the
// header): (a) FakeQuantize of constants, (b) integers -> Convert -> [Subtract] -> Multiply, (c)
// f32 constants already on levels.
std::optional<WeightQuant> weight_quant(const Output& w, const ChannelMap& cmap, Values& vals) {
    Node* n = w.node.get();
    if (w.index != 0 || w.type() != Type::f32 || !w.shape().is_static()) return std::nullopt;
    const Shape ws = w.shape().to_shape();
    const int64_t total = shape_size(ws);
    if (total == 0 || ws.size() > 8) return std::nullopt;
    WeightQuant q;
    q.w = Tensor(Type::i8, ws);
    int8_t* d = q.w.data<int8_t>();
    std::optional<std::vector<double>> cs;  // scale per channel, from the structure
    if (auto* fq = dynamic_cast<op::FakeQuantize*>(n)) {
        if (fq->levels < 2 || fq->levels > 256) return std::nullopt;
        const Tensor* ol = vals.get(n->input(3));
        const Tensor* oh = vals.get(n->input(4));
        if (!ol || !oh) return std::nullopt;
        auto lo = channel_values(*ol, ws, cmap), hi = channel_values(*oh, ws, cmap);
        if (!lo || !hi) return std::nullopt;
        cs = std::vector<double>(static_cast<size_t>(cmap.channels));
        for (int64_t c = 0; c < cmap.channels; ++c) (*cs)[c] = ((*hi)[c] - (*lo)[c]) / static_cast<double>(fq->levels - 1);
    } else if (dynamic_cast<op::Multiply*>(n)) {
        // Which side is the scale: the other comes from a Convert (of integers) or a Subtract of
        // its zero point.
        int si = -1;
        for (int i = 0; i < 2; ++i) {
            Node* x = n->input(1 - i).node.get();
            if (dynamic_cast<op::Convert*>(x) || dynamic_cast<op::Subtract*>(x)) si = i;
        }
        if (si < 0) return std::nullopt;
        const Tensor* sv = vals.get(n->input(si));
        if (!sv) return std::nullopt;
        cs = channel_values(*sv, ws, cmap);
        if (!cs) return std::nullopt;
        // The integers straight from their constant: Convert(int constant) [- zero point].
        Node* x = n->input(1 - si).node.get();
        std::optional<std::vector<double>> zp;
        if (dynamic_cast<op::Subtract*>(x)) {
            const Tensor* z = vals.get(x->input(1));
            if (!z) return std::nullopt;
            zp = channel_values(*z, ws, cmap);
            if (!zp) return std::nullopt;
            x = x->input(0).node.get();
        }
        const Tensor* ints = dynamic_cast<op::Convert*>(x) ? x->input(0).node->constant_value() : nullptr;
        if (ints && (ints->type() == Type::i8 || ints->type() == Type::u8) && ints->shape() == ws) {
            for (int64_t k = 0; k < total; ++k) {
                const int64_t v = ints->type() == Type::i8 ? ints->data<int8_t>()[k] : ints->data<uint8_t>()[k];
                const double z = zp ? (*zp)[cmap.of(k)] : 0.0;
                const double r = static_cast<double>(v) - z;
                if (r != std::nearbyint(r) || r < -128 || r > 127) return std::nullopt;
                d[k] = static_cast<int8_t>(r);
            }
            for (double c : *cs)
                if (!(c > 0)) return std::nullopt;
            for (double c : *cs) q.scale.push_back(static_cast<float>(c));
            return q;
        }
    }
    const Tensor* v = vals.get(w);
    if (!v || v->type() != Type::f32) return std::nullopt;
    const float* src = v->data<float>();
    auto level = [&](int64_t k, double s, int8_t& out) {
        if (s == 0) {
            out = 0;
            return src[k] == 0;
        }
        if (!(s > 0)) return false;
        const double x = src[k] / s, r = std::nearbyint(x);
        if (std::fabs(x - r) > 1e-3 || r < -128 || r > 127) return false;
        out = static_cast<int8_t>(r);
        return true;
    };
    // Without a scale from the structure (weights whose FakeQuantize was folded already, as
    // torch's fake_quantize of a parameter is when traced): each channel's largest magnitude on
    // level 127, 128 (8 bits), then 63, 64 (7 bits: NNCF's overflow fix).
    std::vector<double> scale = cs ? *cs : std::vector<double>(static_cast<size_t>(cmap.channels), 0.0), mx;
    if (!cs) {
        mx.assign(scale.size(), 0.0);
        for (int64_t k = 0; k < total; ++k) mx[cmap.of(k)] = std::max(mx[cmap.of(k)], std::fabs(double(src[k])));
    }
    std::vector<char> open(scale.size(), 1);
    const double tops[] = {127, 128, 63, 64};
    const int tries = cs ? 1 : 4;
    for (int t = 0; t < tries; ++t) {
        if (!cs)
            for (size_t c = 0; c < scale.size(); ++c)
                if (open[c]) scale[c] = mx[c] / tops[t];
        std::vector<char> ok(scale.size(), 1);
        for (int64_t k = 0; k < total; ++k) {
            const int64_t c = cmap.of(k);
            if (open[c] && ok[c] && !level(k, scale[c], d[k])) ok[c] = 0;
        }
        bool any_open = false;
        for (size_t c = 0; c < scale.size(); ++c) {
            if (open[c] && ok[c]) open[c] = 0;
            any_open = any_open || open[c];
        }
        if (!any_open) break;
        if (t + 1 == tries) return std::nullopt;
    }
    for (double c : scale) q.scale.push_back(c > 0 ? static_cast<float>(c) : 1.f);
    return q;
}

NodePtr f32_constant(const std::vector<float>& v) {
    return op::Constant::create<float>(v, {static_cast<int64_t>(v.size())});
}

// ---- the INT8 ops and their chains

struct Chain {
    NodePtr root;  // a QuantizedConvolution / QuantizedMatMul made by stage 2 (f32 output)
    bool conv = true;
    int64_t channels = 0, channel_axis = 1, rank = 0;
    std::vector<float> w_scale;  // per channel
    std::optional<std::vector<double>> bias;
    std::vector<QuantPostOp> post_ops;
    std::optional<Output> residual;
    op::Dequantize* residual_deq = nullptr;
    op::Quantize* final_q = nullptr;  // int8 output
    std::vector<double> output_multiplier;
    int absorbed = 0;
};

struct Pass {
    Model& m;
    ConsumerIndex ci;
    Values vals;
    std::map<Node*, NodePtr> origin;  // Quantize made in stage 1 -> its FakeQuantize
    std::vector<Chain> chains;

    explicit Pass(Model& model) : m(model), ci(model) {}
    const ConsumerMap& cm() const { return ci.map(); }

    // Stage 1: FakeQuantize of activations -> Quantize -> Dequantize.
    void decompose() {
        for (auto& n : m.ordered_ops()) {
            if (!dynamic_cast<op::FakeQuantize*>(n.get()) || !cm().count(n->output(0))) continue;
            if (vals.get(n->input(0))) continue;  // weights: stage 2 reads them
            auto p = act_quant(*n, vals);
            if (!p) continue;
            NodePtr q, d;
            if (p->axis < 0) {
                q = make<op::Quantize>({n->input(0)}, p->type, p->in_scale, p->in_zero, p->qmin, p->qmax);
                d = make<op::Dequantize>({q->output(0)}, p->out_scale, p->zp);
            } else {
                std::vector<float> k, s;
                for (double v : p->in_scales) k.push_back(static_cast<float>(1.0 / v));
                for (double v : p->out_scales) s.push_back(static_cast<float>(v));
                q = make<op::Quantize>({n->input(0), f32_constant(k)->output(0)}, p->type, 1.0, p->in_zero, p->qmin,
                                       p->qmax, p->axis);
                d = make<op::Dequantize>({q->output(0), f32_constant(s)->output(0)}, 1.0, p->zp, p->axis);
            }
            q->set_name(n->name() + "/quantize");
            d->set_name(n->name());
            q->set_source(n->source());
            d->set_source(n->source());
            origin[q.get()] = n;
            ci.replace(n->output(0), d->output(0));
        }
    }

    // Dequantize moves below ops that commute with it, which then run on the integers: the ops
    // that only move or pick elements, MaxPool, and a Concat of inputs that all dequantize with
    // one scale and zero point (NNCF unifies its inputs' quantizers for that). Activations then
    // stay INT8 from one quantized layer to the next through reshapes, slices, splits and concats.
    void sink_dequantize() {
        for (auto& n : m.ordered_ops()) {
            if (n->num_inputs() < 1 || !alive(cm(), n.get())) continue;
            auto* d = as<op::Dequantize>(n->input(0));
            if (!d) continue;
            // Per-channel scales move through the pool only (the others move the channel axis).
            const bool per_channel = d->num_inputs() == 2;
            const bool pool = dynamic_cast<op::MaxPool*>(n.get()) && (n->num_outputs() == 1 || !cm().count(n->output(1)));
            const bool concat = dynamic_cast<op::Concat*>(n.get()) != nullptr;
            if (per_channel ? !pool : !(pool || concat || moves_elements(*n))) continue;
            bool f32_out = true;
            for (size_t o = 0; o < (pool ? 1 : n->num_outputs()); ++o) f32_out &= n->output_type(o) == Type::f32;
            if (!f32_out) continue;
            OutputVector in = n->inputs();
            in[0] = d->input(0);
            bool ok = true;
            for (size_t i = 1; i < n->num_inputs() && ok; ++i) {
                if (!concat) {
                    ok = n->input(i).type() != Type::f32;  // only the first input may be the tensor
                    continue;
                }
                auto* di = as<op::Dequantize>(n->input(i));
                ok = di && di->num_inputs() == 1 && di->input(0).type() == d->input(0).type() &&
                     di->zero_point == d->zero_point && std::abs(di->scale - d->scale) <= 1e-6 * std::abs(d->scale);
                if (ok) in[i] = di->input(0);
            }
            if (!ok) continue;
            auto moved = n->clone(in);
            moved->set_name(n->name());
            moved->set_source(n->source());
            for (size_t o = 0; o < (pool ? 1 : n->num_outputs()); ++o) {
                if (!cm().count(n->output(o))) continue;
                OutputVector din{moved->output(o)};
                if (per_channel) din.push_back(d->input(1));
                auto d2 = make<op::Dequantize>(din, d->scale, d->zero_point, d->axis);
                d2->set_name(n->name() + "/dequantize" + (n->num_outputs() > 1 ? "." + std::to_string(o) : ""));
                ci.replace(n->output(o), d2->output(0));
            }
        }
    }

    // Ops whose output elements are copies of their first input's, so that a per-tensor
    // Dequantize commutes with them exactly.
    static bool moves_elements(const Node& n) {
        return dynamic_cast<const op::Reshape*>(&n) || dynamic_cast<const op::Transpose*>(&n) ||
               dynamic_cast<const op::Squeeze*>(&n) || dynamic_cast<const op::Unsqueeze*>(&n) ||
               dynamic_cast<const op::Gather*>(&n) || dynamic_cast<const op::StridedSlice*>(&n) ||
               dynamic_cast<const op::Slice*>(&n) || dynamic_cast<const op::Split*>(&n) ||
               dynamic_cast<const op::VariadicSplit*>(&n) || dynamic_cast<const op::Tile*>(&n) ||
               dynamic_cast<const op::Broadcast*>(&n);
    }

    // Stage 2: the convolutions and matmuls.
    size_t convert() {
        size_t count = 0;
        for (auto& n : m.ordered_ops()) {
            if (!cm().count(n->output(0))) continue;
            NodePtr q;
            if (dynamic_cast<op::Convolution*>(n.get()) || dynamic_cast<op::GroupConvolution*>(n.get())) q = convert_conv(n);
            else if (dynamic_cast<op::MatMul*>(n.get())) q = convert_matmul(n);
            else if (dynamic_cast<op::ScaledDotProductAttention*>(n.get())) q = convert_sdpa(n);
            if (!q) continue;
            q->set_name(n->name());
            q->set_source(n->source());
            ci.replace(n->output(0), q->output(0));
            ++count;
        }
        return count;
    }

    NodePtr convert_conv(const NodePtr& n) {
        auto* d = as<op::Dequantize>(n->input(0));
        const PartialShape& y = n->output_shape(0);
        if (!d || n->output_type(0) != Type::f32 || !y.rank_is_static() || !y[1].is_static()) return nullptr;
        const PartialShape& ws = n->input(1).shape();
        if (!ws.is_static()) return nullptr;
        const Shape w = ws.to_shape();
        const bool grouped = dynamic_cast<op::GroupConvolution*>(n.get()) != nullptr;
        ChannelMap cmap;
        cmap.channels = y[1].get_length();
        cmap.inner = shape_size(w) / cmap.channels;
        cmap.axes = grouped ? std::vector<size_t>{0, 1} : std::vector<size_t>{0};
        auto wq = weight_quant(n->input(1), cmap, vals);
        if (!wq) return nullptr;
        double x_scale = d->scale;
        if (d->num_inputs() == 2) {
            // Per-channel input scales fold into the weights' when each output channel reads one
            // input channel (depthwise).
            const Tensor* sx = vals.get(d->input(1));
            const int64_t og = grouped ? w[1] : 0, ig = grouped ? w[2] : 0;
            if (!grouped || ig != 1 || d->axis != 1 || !sx || sx->size() != w[0]) return nullptr;
            for (int64_t o = 0; o < cmap.channels; ++o)
                wq->scale[o] = static_cast<float>(double(wq->scale[o]) * double(sx->data<float>()[o / og]));
            x_scale = 1.0;
        }
        Shape plain = w;
        int64_t group = 1;
        if (grouped) {  // [G, Og, Ig, k...] -> [G*Og, Ig, k...]
            group = w[0];
            plain = {w[0] * w[1]};
            plain.insert(plain.end(), w.begin() + 2, w.end());
        }
        auto c = std::make_shared<op::QuantizedConvolution>();
        auto copy = [&](const auto& conv) {
            c->strides = conv.strides;
            c->pads_begin = conv.pads_begin;
            c->pads_end = conv.pads_end;
            c->dilations = conv.dilations;
            c->auto_pad = conv.auto_pad;
        };
        if (grouped) copy(*dynamic_cast<op::GroupConvolution*>(n.get()));
        else copy(*dynamic_cast<op::Convolution*>(n.get()));
        c->group = group;
        c->x_scale = x_scale;
        c->x_zero_point = d->zero_point;
        c->set_inputs({d->input(0), make<op::Constant>({}, wq->w.reshaped(plain))->output(0),
                       f32_constant(wq->scale)->output(0)});
        c->validate_and_infer();
        Chain ch;
        ch.root = c;
        ch.channels = cmap.channels;
        ch.rank = y.rank();
        ch.w_scale = wq->scale;
        chains.push_back(std::move(ch));
        return c;
    }

    // ScaledDotProductAttention whose query and key are quantized (NNCF quantizes both): the scores
    // as a QuantizedMatMul of their integers (the softmax scale in its output scale), the mask,
    // softmax and the product with the values in f32. Measured on the 2 cores: BERT-size heads
    // (12 x 128 x 64) 0.145 ms against 0.215 for the fused f32 kernel on the dequantized q, k.
    NodePtr convert_sdpa(const NodePtr& n) {
        auto* sd = dynamic_cast<op::ScaledDotProductAttention*>(n.get());
        auto* dq = as<op::Dequantize>(n->input(0));
        auto* dk = as<op::Dequantize>(n->input(1));
        if (!sd || sd->causal || !dq || !dk || dq->num_inputs() != 1 || dk->num_inputs() != 1 ||
            dk->input(0).type() != Type::i8 || n->output_type(0) != Type::f32 || !cpu::onednn::int8_products_exact())
            return nullptr;
        const PartialShape& qs = n->input(0).shape();
        const PartialShape& ks = n->input(1).shape();
        if (!qs.rank_is_static() || !ks.rank_is_static() || qs.rank() < 2 || qs.rank() != ks.rank()) return nullptr;
        double scale;
        if (n->num_inputs() > 4) {
            const Tensor* sv = vals.get(n->input(4));
            if (!sv || sv->size() != 1) return nullptr;
            scale = sv->as_f64_vector().at(0);
        } else {
            const Dimension& e = qs[qs.rank() - 1];
            if (!e.is_static()) return nullptr;
            scale = 1.0 / std::sqrt(static_cast<double>(e.get_length()));
        }
        if (!(scale > 0) || !std::isfinite(scale)) return nullptr;  // a negative scale flips the levels' order: fine, but rare
        auto scores = std::make_shared<op::QuantizedMatMul>();
        scores->transpose_b = true;
        scores->a_scale = dq->scale;
        scores->a_zero_point = dq->zero_point;
        scores->b_zero_point = dk->zero_point;
        scores->set_inputs({dq->input(0), dk->input(0),
                            f32_constant({static_cast<float>(dk->scale * scale)})->output(0)});
        scores->validate_and_infer();
        scores->set_name(n->name() + "/scores");
        Output s = scores->output(0);
        if (n->num_inputs() > 3) {
            const Output mask = n->input(3);
            if (mask.type() == Type::boolean) {
                s = make<op::Select>({mask, s, op::Constant::create<float>({-INFINITY}, {})->output(0)},
                                     AutoBroadcast::numpy)->output(0);
            } else if (mask.type() == Type::f32) {
                s = make<op::Add>({s, mask}, AutoBroadcast::numpy)->output(0);
            } else {
                return nullptr;
            }
        }
        Output p = make<op::Softmax>({s}, int64_t{-1})->output(0);
        auto out = make<op::MatMul>({p, n->input(2)}, false, false);
        if (!(out->output_shape(0) == n->output_shape(0))) return nullptr;
        return out;
    }

    NodePtr convert_matmul(const NodePtr& n) {
        auto* mm = dynamic_cast<op::MatMul*>(n.get());
        auto* da = as<op::Dequantize>(n->input(0));
        const PartialShape& y = n->output_shape(0);
        const PartialShape& ash = n->input(0).shape();
        const PartialShape& bs = n->input(1).shape();
        if (!da || da->num_inputs() != 1 || n->output_type(0) != Type::f32 || !y.rank_is_static() || !ash.rank_is_static() ||
            !bs.rank_is_static() || ash.rank() < 2 || bs.rank() < 2 || !y[y.rank() - 1].is_static())
            return nullptr;
        const int64_t nn = y[y.rank() - 1].get_length();
        Output b;
        std::vector<float> b_scale;
        int64_t b_zero = 0;
        if (auto* db = as<op::Dequantize>(n->input(1))) {
            if (db->input(0).type() != Type::i8 || db->num_inputs() != 1) return nullptr;  // oneDNN's B is s8
            // Full-range activations on both sides would saturate oneDNN's 16-bit pair sums.
            if (!cpu::onednn::int8_products_exact()) return nullptr;
            b = db->input(0);
            b_scale = {static_cast<float>(db->scale)};
            b_zero = db->zero_point;
        } else {
            if (bs.rank() != 2 || !bs.is_static()) return nullptr;
            const Shape bsh = bs.to_shape();
            ChannelMap cmap;
            cmap.channels = nn;
            cmap.inner = mm->transpose_b ? bsh[1] : 1;
            cmap.axes = {mm->transpose_b ? size_t{0} : size_t{1}};
            auto wq = weight_quant(n->input(1), cmap, vals);
            if (!wq) return nullptr;
            b = make<op::Constant>({}, wq->w)->output(0);
            b_scale = wq->scale;
        }
        auto q = std::make_shared<op::QuantizedMatMul>();
        q->transpose_a = mm->transpose_a;
        q->transpose_b = mm->transpose_b;
        q->a_scale = da->scale;
        q->a_zero_point = da->zero_point;
        q->b_zero_point = b_zero;
        q->set_inputs({da->input(0), b, f32_constant(b_scale)->output(0)});
        q->validate_and_infer();
        Chain ch;
        ch.root = q;
        ch.conv = false;
        ch.channels = nn;
        ch.rank = y.rank();
        ch.channel_axis = y.rank() - 1;
        ch.w_scale = b_scale.size() == 1 ? std::vector<float>(static_cast<size_t>(nn), b_scale[0]) : b_scale;
        chains.push_back(std::move(ch));
        return q;
    }

    // Stage 3: what follows each INT8 op. Returns false when `c` cannot be absorbed; sets
    // `stop` when it was absorbed and ends the chain.
    // `next`: where the chain goes on (c's output, or the Dequantize after an absorbed Quantize).
    bool absorb(Chain& ch, Node* c, const Output& cur, Output& next, bool& stop) {
        if (c->num_outputs() < 1) return false;
        const bool clean = ch.post_ops.empty();
        auto other_of = [&](Output& other) {
            if (c->num_inputs() != 2 || c->output_type(0) != Type::f32 || !(c->output_shape(0) == cur.shape()))
                return false;
            other = c->input(0) == cur ? c->input(1) : c->input(0);
            return true;
        };
        auto scale_by = [&](const std::vector<double>& s) {
            for (int64_t o = 0; o < ch.channels; ++o) ch.w_scale[o] = static_cast<float>(ch.w_scale[o] * s[o]);
            if (ch.bias)
                for (int64_t o = 0; o < ch.channels; ++o) (*ch.bias)[o] *= s[o];
        };
        auto add_bias = [&](const std::vector<double>& b) {
            if (!ch.bias) ch.bias = std::vector<double>(static_cast<size_t>(ch.channels), 0.0);
            for (int64_t o = 0; o < ch.channels; ++o) (*ch.bias)[o] += b[o];
        };
        if (dynamic_cast<op::Multiply*>(c)) {
            Output other;
            if (!clean || !other_of(other)) return false;
            const Tensor* v = vals.get(other);
            if (!v) return false;
            auto s = along_axis(*v, ch.rank, ch.channel_axis, ch.channels);
            if (!s) return false;
            for (double x : *s)
                if (!std::isfinite(x) || x == 0) return false;
            scale_by(*s);
            return true;
        }
        if (dynamic_cast<op::Add*>(c)) {
            Output other;
            if (!other_of(other)) return false;
            if (const Tensor* v = vals.get(other)) {
                if (!clean) return false;
                auto b = along_axis(*v, ch.rank, ch.channel_axis, ch.channels);
                if (!b) return false;
                add_bias(*b);
                return true;
            }
            if (ch.residual || !(other.shape() == cur.shape()) || other.type() != Type::f32) return false;
            ch.residual = other;
            ch.residual_deq = as<op::Dequantize>(other);
            QuantPostOp p;
            p.kind = QuantPostOp::Kind::sum;
            ch.post_ops.push_back(p);
            return true;
        }
        if (auto* bn = dynamic_cast<op::BatchNormInference*>(c)) {
            if (!ch.conv || !clean || c->num_inputs() != 5 || !(c->input(0) == cur)) return false;
            std::vector<double> p[4];  // gamma, beta, mean, variance
            for (int k = 0; k < 4; ++k) {
                const Tensor* v = vals.get(c->input(1 + k));
                if (!v) return false;
                auto a = along_axis(*v, 1, 0, ch.channels);
                if (!a) return false;
                p[k] = *a;
            }
            std::vector<double> s(ch.channels), b(ch.channels);
            for (int64_t o = 0; o < ch.channels; ++o) {
                s[o] = p[0][o] / std::sqrt(p[3][o] + bn->epsilon);
                b[o] = p[1][o] - p[2][o] * s[o];
                if (!std::isfinite(s[o]) || s[o] == 0) return false;
            }
            scale_by(s);
            add_bias(b);
            return true;
        }
        if (auto* q = dynamic_cast<op::Quantize*>(c)) {
            if (!(c->input(0) == cur)) return false;
            auto& rs = readers(cm(), c->output(0));
            if (rs.empty()) return false;
            op::Dequantize* only = nullptr;
            bool all_deq = true;
            for (auto& [r, i] : rs) {
                auto* d = dynamic_cast<op::Dequantize*>(r);
                all_deq = all_deq && d;
                if (d) only = d;
            }
            QuantPostOp relu;
            relu.activation = op::PostOp(op::Activation::relu);
            if (c->num_inputs() >= 2) {
                // Per-channel levels (a folded SmoothQuant multiply or affine map, or per-channel
                // ranges) of the output only: it quantizes relu?(v * m[c] + b[c]).
                const int64_t axis = q->axis < 0 ? q->axis + ch.rank : q->axis;
                if (all_deq || axis != ch.channel_axis) return false;
                std::optional<std::vector<double>> mb[2];
                for (size_t i = 1; i < c->num_inputs(); ++i) {
                    const Tensor* t = vals.get(c->input(i));
                    if (!t || !(mb[i - 1] = along_axis(*t, 1, 0, ch.channels))) return false;
                }
                bool nonzero = true, positive = true;
                for (double v : *mb[0]) nonzero = nonzero && v != 0 && std::isfinite(v), positive = positive && v > 0;
                if (clean && nonzero) {  // into the accumulator's scales and bias
                    scale_by(*mb[0]);
                    if (mb[1]) add_bias(*mb[1]);
                } else if (!mb[1] && (positive || !q->relu)) {  // relu(v) * m = relu(v * m)
                    ch.output_multiplier = *mb[0];
                } else {
                    return false;
                }
                if (q->relu) ch.post_ops.push_back(relu);
                ch.final_q = q;
                stop = true;
                return true;
            }
            if (!all_deq) {  // INT8 readers: write the integers
                if (q->relu) ch.post_ops.push_back(relu);
                ch.final_q = q;
                stop = true;
                return true;
            }
            if (rs.size() != 1 || only->num_inputs() != 1) return false;
            if (q->relu) ch.post_ops.push_back(relu);
            QuantPostOp p;
            p.kind = QuantPostOp::Kind::fq;
            p.s_in = q->scale;
            p.offset = q->zero_point;
            p.lo = q->qmin;
            p.hi = q->qmax;
            p.s_out = only->scale;
            p.zp = only->zero_point;
            ch.post_ops.push_back(p);
            next = only->output(0);  // the chain continues after the Dequantize
            return true;
        }
        if (auto a = op::activation_of(*c)) {
            if (!(c->input(0) == cur) || c->output_type(0) != Type::f32) return false;
            QuantPostOp p;
            p.activation = op::PostOp(*a);
            ch.post_ops.push_back(p);
            return true;
        }
        return false;
    }

    void grow(Chain& ch) {
        Output cur = ch.root->output(0);
        if (!cm().count(cur)) return;
        for (;;) {
            Node* c = sole_reader(cm(), cur);
            if (!c) break;
            bool stop = false;
            Output next = c->output(0);
            if (!absorb(ch, c, cur, next, stop)) break;
            ++ch.absorbed;
            if (stop) break;
            cur = next;
        }
        if (ch.absorbed == 0) return;
        // The epilogue and inputs.
        op::Int8Epilogue e;
        e.post_ops = ch.post_ops;
        if (ch.final_q) {
            e.output_type = ch.final_q->destination_type;
            e.output_scale = ch.final_q->scale;
            e.output_zero_point = ch.final_q->zero_point;
            e.output_qmin = ch.final_q->qmin;
            e.output_qmax = ch.final_q->qmax;
            e.output_multiplier = ch.output_multiplier;
        }
        Node* r = ch.root.get();
        OutputVector in{r->input(0), r->input(1), f32_constant(ch.w_scale)->output(0)};
        if (ch.bias) {
            std::vector<float> b(ch.bias->begin(), ch.bias->end());
            in.push_back(f32_constant(b)->output(0));
        }
        if (ch.residual) {
            if (ch.final_q && ch.residual_deq && ch.residual_deq->num_inputs() == 1) {
                in.push_back(ch.residual_deq->input(0));
                e.residual_scale = ch.residual_deq->scale;
                e.residual_zero_point = ch.residual_deq->zero_point;
            } else {
                in.push_back(*ch.residual);
            }
        }
        NodePtr f;
        if (auto* c = dynamic_cast<op::QuantizedConvolution*>(r)) {
            auto n = std::make_shared<op::QuantizedConvolution>(*c);
            n->with_bias = ch.bias.has_value();
            n->epilogue = e;
            f = n;
        } else if (auto* q = dynamic_cast<op::QuantizedMatMul*>(r)) {
            auto n = std::make_shared<op::QuantizedMatMul>(*q);
            n->with_bias = ch.bias.has_value();
            n->epilogue = e;
            f = n;
        }
        f->set_inputs(in);
        f->validate_and_infer();
        f->set_name(r->name());
        f->set_source(r->source());
        ci.replace(ch.final_q ? ch.final_q->output(0) : cur, f->output(0));
    }

    // True when some reader of Quantize `n` is an INT8 op (not a Dequantize).
    bool int8_read(Node* n) const {
        for (auto& [r, i] : readers(cm(), n->output(0)))
            if (!dynamic_cast<op::Dequantize*>(r)) return true;
        return false;
    }

    // Before a Quantize that INT8 ops read: the per-channel affine map and ReLU in front of it
    // fold into it (NNCF's SmoothQuant multiply; a batch norm and ReLU before a convolution, as
    // DenseNet's), so that one pass over the tensor replaces four. (Moving such a Quantize above
    // the Concat before it, to quantize each input, measured slower on DenseNet-121: hundreds of
    // small quantizers and reorders instead of one concat.)
    void fold_quantizers() {
        for (auto& n : m.ordered_ops()) {
            if (!dynamic_cast<op::Quantize*>(n.get()) || !cm().count(n->output(0)) || !int8_read(n.get())) continue;
            fold_affine(n);
        }
    }

    // Stage 4: Quantize -> Dequantize pairs nothing INT8 reads go back to FakeQuantize; the affine
    // maps before the other Quantizes fold into them.
    void tidy() {
        for (auto& n : m.ordered_ops()) {
            auto* q = dynamic_cast<op::Quantize*>(n.get());
            if (!q || !cm().count(n->output(0))) continue;
            auto& rs = readers(cm(), n->output(0));
            auto it = origin.find(n.get());
            if (it != origin.end() && rs.size() == 1 && dynamic_cast<op::Dequantize*>(rs[0].first)) {
                Node* d = rs[0].first;
                const NodePtr& fq = it->second;
                auto back = fq->clone({n->input(0), fq->input(1), fq->input(2), fq->input(3), fq->input(4)});
                back->set_name(fq->name());
                ci.replace(d->output(0), back->output(0));
                continue;
            }
            fold_affine(n);
        }
    }

    // Per-channel values along one axis of a rank-r tensor: one value (any axis) or `len` values.
    struct Affine {
        std::vector<double> m{1.0}, b{0.0};  // Quantize's input (before its ReLU) = m[c] * y + b[c]
        int64_t axis = -1;
        bool relu = false;
    };

    // The values of constant `t` as one value or along one axis of `s`, agreeing with f.axis
    // (set when it was unset); nullopt otherwise.
    std::optional<std::vector<double>> per_channel(const Tensor& t, const PartialShape& s, Affine& f) {
        if (t.type() != Type::f32 || t.rank() > s.rank()) return std::nullopt;
        const int64_t off = s.rank() - t.rank();
        int64_t axis = -1;
        for (int64_t j = 0; j < t.rank(); ++j)
            if (t.shape()[j] != 1) {
                if (axis >= 0) return std::nullopt;
                axis = j + off;
            }
        auto v = t.as_f64_vector();
        for (double x : v)
            if (!std::isfinite(x)) return std::nullopt;
        if (axis < 0) return std::vector<double>{v.at(0)};
        if ((f.axis >= 0 && f.axis != axis) || !s[axis].is_static() || s[axis].get_length() != t.shape()[axis - off])
            return std::nullopt;
        f.axis = axis;
        return v;
    }

    static std::vector<double> times(const std::vector<double>& a, const std::vector<double>& b) {
        const size_t n = std::max(a.size(), b.size());
        std::vector<double> r(n);
        for (size_t i = 0; i < n; ++i) r[i] = a[a.size() == 1 ? 0 : i] * b[b.size() == 1 ? 0 : i];
        return r;
    }
    static std::vector<double> plus(const std::vector<double>& a, const std::vector<double>& b) {
        const size_t n = std::max(a.size(), b.size());
        std::vector<double> r(n);
        for (size_t i = 0; i < n; ++i) r[i] = a[a.size() == 1 ? 0 : i] + b[b.size() == 1 ? 0 : i];
        return r;
    }

    // One step up from `y` (read only by the chain): y = a * x + c for a Multiply, Add or
    // Subtract of a constant, or a BatchNormInference, along f's axis. Composes it into f and
    // returns x; nullopt when `y`'s producer is none of these.
    std::optional<Output> affine_step(const Output& y, Affine& f) {
        Node* p = y.node.get();
        const PartialShape& s = y.shape();
        if (y.index != 0 || p->num_outputs() != 1 || y.type() != Type::f32) return std::nullopt;
        if (auto* bn = dynamic_cast<op::BatchNormInference*>(p)) {
            if (p->num_inputs() != 5 || !(p->input(0).shape() == s) || s.rank() < 2 || !s[1].is_static() ||
                (f.axis >= 0 && f.axis != 1))
                return std::nullopt;
            const int64_t c = s[1].get_length();
            std::vector<double> v[4];  // gamma, beta, mean, variance
            for (int k = 0; k < 4; ++k) {
                const Tensor* t = vals.get(p->input(1 + k));
                auto a = t ? along_axis(*t, 1, 0, c) : std::nullopt;
                if (!a) return std::nullopt;
                v[k] = *a;
            }
            std::vector<double> a(c), sh(c);
            for (int64_t i = 0; i < c; ++i) {
                a[i] = v[0][i] / std::sqrt(v[3][i] + bn->epsilon);
                sh[i] = v[1][i] - v[2][i] * a[i];
                if (!std::isfinite(a[i]) || !std::isfinite(sh[i])) return std::nullopt;
            }
            f.axis = 1;
            f.b = plus(f.b, times(f.m, sh));
            f.m = times(f.m, a);
            return p->input(0);
        }
        const bool mul = dynamic_cast<op::Multiply*>(p) != nullptr, add = dynamic_cast<op::Add*>(p) != nullptr,
                   sub = dynamic_cast<op::Subtract*>(p) != nullptr;
        if (!mul && !add && !sub) return std::nullopt;
        for (int side = 0; side < (sub ? 1 : 2); ++side) {
            const Output x = p->input(side);
            const Tensor* t = vals.get(p->input(1 - side));
            if (!t || !(x.shape() == s) || x.type() != Type::f32) continue;
            Affine g = f;
            auto v = per_channel(*t, s, g);
            if (!v) continue;
            if (sub)
                for (double& e : *v) e = -e;
            if (mul) {
                g.m = times(g.m, *v);
            } else {
                g.b = plus(g.b, times(g.m, *v));
            }
            f = g;
            return x;
        }
        return std::nullopt;
    }

    // Folds what is foldable before Quantize `n` into a new Quantize; returns it (or `n`).
    NodePtr fold_affine(const NodePtr& n) {
        auto* q = dynamic_cast<op::Quantize*>(n.get());
        const PartialShape& s = n->input(0).shape();
        if (!s.rank_is_static() || s.rank() < 1) return n;
        const int64_t r = s.rank();
        Affine f;
        f.relu = q->relu;
        if (n->num_inputs() >= 2) {
            f.axis = q->axis < 0 ? q->axis + r : q->axis;
            for (size_t i = 1; i < n->num_inputs(); ++i) {
                const Tensor* t = vals.get(n->input(i));
                if (!t || !s[f.axis].is_static()) return n;
                auto v = along_axis(*t, 1, 0, s[f.axis].get_length());  // Quantize's [C] or [1]
                if (!v) return n;
                (i == 1 ? f.m : f.b) = *v;
            }
        }
        Output cur = n->input(0);
        Node* reader = n.get();
        bool folded = false;
        auto sole = [&](const Output& o) { return o.index == 0 && sole_reader(cm(), o) == reader; };
        // A ReLU right before: relu(x) * m + b = relu(m * x) when b = 0 and m > 0.
        if (!f.relu && sole(cur) && dynamic_cast<op::Relu*>(cur.node.get()) && cur.type() == Type::f32) {
            bool ok = true;
            for (double v : f.m) ok = ok && v > 0;
            for (double v : f.b) ok = ok && v == 0;
            if (ok) {
                f.relu = true;
                reader = cur.node.get();
                cur = cur.node->input(0);
                folded = true;
            }
        }
        while (sole(cur)) {
            Node* p = cur.node.get();
            auto x = affine_step(cur, f);
            if (!x) break;
            reader = p;
            cur = *x;
            folded = true;
        }
        if (!folded) return n;
        if (f.axis < 0) f.axis = r - 1;  // one value each: along the last axis
        if (!s[f.axis].is_static()) return n;
        const int64_t c = s[f.axis].get_length();
        auto expand = [&](const std::vector<double>& v) {
            std::vector<float> e(static_cast<size_t>(c));
            for (int64_t i = 0; i < c; ++i) e[i] = static_cast<float>(v[v.size() == 1 ? 0 : i]);
            return f32_constant(e)->output(0);
        };
        OutputVector in{cur, expand(f.m)};
        bool any_bias = false;
        for (double v : f.b) any_bias = any_bias || v != 0;
        if (any_bias) in.push_back(expand(f.b));
        auto q2 = make<op::Quantize>(in, q->destination_type, q->scale, q->zero_point, q->qmin, q->qmax, f.axis, f.relu);
        q2->set_name(n->name());
        q2->set_source(n->source());
        ci.replace(n->output(0), q2->output(0));
        return q2;
    }
};

}  // namespace

size_t fuse_int8(Model& m) {
    if (const char* v = std::getenv("KILN_INT8"); v && std::string(v) == "0") return 0;
    Pass p(m);
    p.decompose();
    if (p.origin.empty()) return 0;
    p.sink_dequantize();
    const size_t count = p.convert();
    p.fold_quantizers();
    for (auto& ch : p.chains) p.grow(ch);
    p.tidy();
    return count;
}

}  // namespace kiln::passes
