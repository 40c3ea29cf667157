#include "kiln/quantize/quantize.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <optional>

#include "kiln/core/interpreter.hpp"
#include "kiln/ops/convolution.hpp"
#include "kiln/ops/data_movement.hpp"
#include "kiln/ops/elementwise_binary.hpp"
#include "kiln/ops/elementwise_unary.hpp"
#include "kiln/ops/fake_quantize.hpp"
#include "kiln/ops/graph_io.hpp"
#include "kiln/ops/matmul.hpp"
#include "kiln/ops/normalization.hpp"
#include "kiln/ops/pooling.hpp"
#include "kiln/ops/reduction.hpp"
#include "kiln/ops/shape_ops.hpp"
#include "kiln/passes/constant_folding.hpp"

namespace kiln::quantize {

namespace {

template <typename T>
bool is_a(const Node* n) {
    return dynamic_cast<const T*>(n) != nullptr;
}

const Tensor* const_f32(const Output& o) {
    const Tensor* t = o.index == 0 ? o.node->constant_value() : nullptr;
    return t && t->type() == Type::f32 ? t : nullptr;
}

bool is_float(const Output& o) { return o.type() == Type::f32; }

NodePtr constant(Tensor t) { return make<op::Constant>({}, std::move(t)); }

NodePtr constant_f32(const std::vector<float>& v, Shape s) {
    return op::Constant::create<float>(v, std::move(s));
}

NodePtr axes_const(const std::vector<int64_t>& axes) {
    return op::Constant::create<int64_t>(axes, {static_cast<int64_t>(axes.size())});
}

// A shape of `rank` ones but `n` at `axis`: how a per-channel constant broadcasts.
Shape along(int64_t rank, int64_t axis, int64_t n) {
    Shape s(static_cast<size_t>(rank), 1);
    if (rank > 0) s[static_cast<size_t>(axis)] = n;
    return s;
}

// Values of a constant that broadcasts against a rank-`rank` tensor along `axis` only, as `len`
// values; nullopt if it varies along another axis.
std::optional<std::vector<double>> per_channel(const Tensor& t, int64_t rank, int64_t axis, int64_t len) {
    if (t.rank() > rank) return std::nullopt;
    const int64_t off = rank - t.rank();
    for (int64_t j = 0; j < t.rank(); ++j) {
        const int64_t d = t.shape()[static_cast<size_t>(j)];
        if (d != 1 && (j + off != axis || d != len)) return std::nullopt;
    }
    auto v = t.as_f64_vector();
    if (v.size() == 1) v.assign(static_cast<size_t>(len), v[0]);
    if (static_cast<int64_t>(v.size()) != len) return std::nullopt;
    return v;
}

// Output-channel axes of the weight input of each weighted op.
std::vector<int64_t> weight_channel_axes(const Node* n, size_t port, int64_t rank) {
    if (is_a<op::Convolution>(n)) return {0};
    if (is_a<op::GroupConvolution>(n)) return {0, 1};
    if (is_a<op::ConvolutionBackpropData>(n)) return {1};
    if (is_a<op::GroupConvolutionBackpropData>(n)) return {0, 2};
    if (auto* mm = dynamic_cast<const op::MatMul*>(n)) {
        if (rank < 2) return {};
        if (port == 1) return {mm->transpose_b ? rank - 2 : rank - 1};
        return {mm->transpose_a ? rank - 1 : rank - 2};
    }
    return {};
}

// The contraction (input channel) axis of MatMul input `port` of rank `rank`.
int64_t matmul_contraction_axis(const op::MatMul& mm, size_t port, int64_t rank) {
    if (rank < 2) return 0;
    if (port == 0) return mm.transpose_a ? rank - 2 : rank - 1;
    return mm.transpose_b ? rank - 1 : rank - 2;
}

bool is_linear(const Node* n) {
    return is_a<op::Convolution>(n) || is_a<op::GroupConvolution>(n) || is_a<op::ConvolutionBackpropData>(n) ||
           is_a<op::GroupConvolutionBackpropData>(n) || is_a<op::MatMul>(n);
}

// Ops a quantizer moves up through: they only move or select values by position, so quantizing
// before or after them is the same.
bool is_agnostic(const Node* n) {
    return is_a<op::Reshape>(n) || is_a<op::Transpose>(n) || is_a<op::Squeeze>(n) || is_a<op::Unsqueeze>(n) ||
           is_a<op::MaxPool>(n);
}

std::vector<int64_t> all_axes_but(int64_t rank, int64_t keep) {
    std::vector<int64_t> a;
    for (int64_t i = 0; i < rank; ++i)
        if (i != keep) a.push_back(i);
    return a;
}

// numpy's default (linear) quantile.
double quantile(std::vector<double> v, double q) {
    std::sort(v.begin(), v.end());
    const double pos = q * static_cast<double>(v.size() - 1);
    const size_t lo = static_cast<size_t>(std::floor(pos)), hi = static_cast<size_t>(std::ceil(pos));
    return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

std::string node_label(const Node& n) { return str_cat(n.type_name(), " '", n.name(), "'"); }

}  // namespace

// --- Ranges -----------------------------------------------------------------------------------

Range activation_range(double min, double max, double absmax, bool symmetric) {
    Range r;
    r.levels = 256;
    if (symmetric) {
        const double h = std::max(absmax, 8e-5);
        // levels 256 over [-h * 128/127, h]: the step is h/127 and 0 is a level.
        const double lo = min < 0 ? -h * 256.0 / 254.0 : 0.0;
        r.low = {static_cast<float>(lo)};
        r.high = {static_cast<float>(h)};
        return r;
    }
    double lo = min, hi = max;
    if (hi - lo <= 8e-4) {
        lo -= 8e-4;
        hi += 8e-4;
    }
    lo = std::min(lo, 0.0);
    hi = std::max(hi, 0.0);
    // Move one border outward so that 0 falls exactly on a level (the zero point is an integer),
    // choosing the border whose move widens the range least.
    const double n = 255.0;
    const double q = std::nearbyint(-lo * n / (hi - lo));
    double ra = lo, rb = hi;
    if (q < n) ra = q / (q - n) * hi;   // new low keeping hi
    if (q > 0) rb = (q - n) / q * lo;   // new high keeping lo
    // One of the two moves widens the range (the other would cut values off): keep that one.
    if (hi - ra > rb - lo) {
        rb = hi;
    } else {
        ra = lo;
    }
    r.low = {static_cast<float>(ra)};
    r.high = {static_cast<float>(rb)};
    return r;
}

Range weight_range(const std::vector<double>& absmax, bool half_range) {
    Range r;
    r.levels = 255;
    double top = 0;
    for (double a : absmax) top = std::max(top, a);
    const double floor = std::max(top * 0.01, 8e-5);
    for (double a : absmax) {
        double h = std::max(a, floor);
        if (half_range) h *= 2.0;  // 128 levels' step over the 255-level grid
        r.low.push_back(static_cast<float>(-h));
        r.high.push_back(static_cast<float>(h));
    }
    return r;
}

std::vector<double> smooth_quant_scales(const std::vector<double>& act_absmax,
                                        const std::vector<double>& weight_absmax, double alpha,
                                        double* ratio) {
    const double eps = std::numeric_limits<float>::epsilon();
    std::vector<double> s(act_absmax.size());
    for (size_t i = 0; i < s.size(); ++i) {
        const double a = std::max(act_absmax[i], 1e-5), w = std::max(weight_absmax[i], 1e-5);
        s[i] = std::pow(a, alpha) / (std::pow(w, 1 - alpha) + eps);
    }
    const double lo = quantile(s, 0.1);
    double mn = std::numeric_limits<double>::infinity(), mx = 0;
    for (auto& v : s) {
        v = std::clamp(v, lo, 100.0);
        mn = std::min(mn, v);
        mx = std::max(mx, v);
    }
    if (ratio) *ratio = mn / (mx + eps);
    return s;
}

// --- Batch norm folding -----------------------------------------------------------------------

size_t fold_batch_norm(Model& m) {
    size_t folded = 0;
    auto cm = consumers(m);
    auto sole = [&](const Output& o) -> Node* {
        auto it = cm.find(o);
        return it != cm.end() && it->second.size() == 1 ? it->second[0].first : nullptr;
    };
    for (auto& n : m.ordered_ops()) {
        auto* bn = dynamic_cast<op::BatchNormInference*>(n.get());
        if (!bn || n->num_inputs() != 5) continue;
        const bool v1 = std::string(n->opset()) == "opset1";
        Output data = n->input(v1 ? 2 : 0);
        const int idx[4] = {v1 ? 0 : 1, v1 ? 1 : 2, 3, 4};  // gamma, beta, mean, variance
        if (!data.shape().rank_is_static() || data.shape().rank() < 2 || !data.shape()[1].is_static()) continue;
        const int64_t rank = data.shape().rank(), c = data.shape()[1].get_length();
        std::vector<double> p[4];
        bool ok = true;
        for (int k = 0; k < 4 && ok; ++k) {
            const Tensor* v = const_f32(n->input(idx[k]));
            auto a = v ? per_channel(*v, 1, 0, c) : std::nullopt;
            ok = a.has_value();
            if (ok) p[k] = *a;
        }
        if (!ok) continue;
        // data = conv or Add(conv, bias), each read by nothing else.
        NodePtr conv = data.node;
        std::optional<std::vector<double>> bias;
        if (is_a<op::Add>(conv.get()) && sole(data) == n.get()) {
            for (size_t i = 0; i < 2; ++i) {
                const Tensor* b = const_f32(conv->input(1 - i));
                if (!b || !is_linear(conv->input(i).node.get()) || sole(conv->input(i)) != conv.get()) continue;
                bias = per_channel(*b, rank, 1, c);
                if (bias) {
                    conv = conv->input(i).node;
                    break;
                }
            }
            if (!bias) continue;
        }
        if (!(is_a<op::Convolution>(conv.get()) || is_a<op::GroupConvolution>(conv.get()))) continue;
        if (conv->num_outputs() != 1 || sole(conv->output(0)) == nullptr) continue;
        const Tensor* w = const_f32(conv->input(1));
        if (!w || w->size() % c != 0) continue;
        const double eps = bn->epsilon;
        Tensor nw = w->copy();
        float* wd = nw.data<float>();
        const int64_t per = nw.size() / c;
        std::vector<float> nb(static_cast<size_t>(c));
        for (int64_t o = 0; o < c; ++o) {
            const double s = p[0][o] / std::sqrt(p[3][o] + eps);
            for (int64_t i = 0; i < per; ++i) wd[o * per + i] = static_cast<float>(wd[o * per + i] * s);
            const double b0 = bias ? (*bias)[o] : 0.0;
            nb[static_cast<size_t>(o)] = static_cast<float>((b0 - p[2][o]) * s + p[1][o]);
        }
        auto nconv = conv->clone({conv->input(0), constant(std::move(nw))->output(0)});
        nconv->set_name(conv->name());
        nconv->set_source(conv->source());
        auto add = make<op::Add>({nconv->output(0), constant_f32(nb, along(rank, 1, c))->output(0)});
        add->set_name(n->name());
        add->set_source(n->source());
        add->set_output_names(0, n->output_names(0));
        replace_output(m, n->output(0), add->output(0));
        cm = consumers(m);
        ++folded;
    }
    return folded;
}

// --- The plan ---------------------------------------------------------------------------------

struct Quantizer::Plan {
    // An input edge of a node.
    struct Edge {
        Node* node;
        size_t port;
        bool operator<(const Edge& o) const { return node != o.node ? node < o.node : port < o.port; }
    };
    struct SmoothGroup {
        NodePtr multiply;              // Multiply(source, scale): feeds the members
        std::vector<Node*> members;    // MatMuls, activation input = multiply
        std::vector<size_t> act_port;  // per member
        int64_t axis = 0, channels = 0, rank = 0;
        size_t stat = 0;               // minmax_channel at the multiply's output
        std::vector<double> scale;     // s (activations are divided by it), set at finish
    };
    struct ActPoint {
        Output tensor;
        std::set<Edge> edges;  // what the FakeQuantize feeds
        bool symmetric = true;
        size_t stat = 0;
        int smooth = -1;       // the SmoothGroup whose multiply this tensor is
    };
    struct BiasPoint {
        Node* node;
        size_t act_port, weight_port;
        Node* add;
        size_t bias_port;
        int64_t in_axis = 1;
        size_t mean_stat = 0, shape_stat = 0;
        bool has_shape = false;
        int smooth = -1;
    };
    std::set<Node*> ignored;
    std::vector<SmoothGroup> smooth;
    std::vector<ActPoint> acts;
    std::vector<BiasPoint> biases;
    std::vector<StatRequest> stats;
    // Accumulated statistics, per request.
    struct Acc {
        std::vector<double> item_min, item_max;              // minmax_full
        std::vector<std::vector<float>> ch_min, ch_max;       // minmax_channel, per item
        std::vector<double> mean_sum;                         // mean_channel
        size_t mean_items = 0;
        Shape shape;                                          // shape (first item)
        bool has_shape = false;
    };
    std::vector<Acc> acc;

    size_t request(StatRequest::Kind k, const Output& t, int64_t axis) {
        for (size_t i = 0; i < stats.size(); ++i)
            if (stats[i].kind == k && stats[i].tensor == t && stats[i].axis == axis) return i;
        StatRequest r;
        r.kind = k;
        r.tensor = t;
        r.axis = axis;
        stats.push_back(r);
        return stats.size() - 1;
    }
};

namespace {

using Plan = Quantizer::Plan;

// Nodes left float by NNCF's ignored patterns.
void ignore_patterns(const Model& m, const ConsumerMap& cm, bool transformer, std::set<Node*>& ignored) {
    auto readers = [&](const Output& o) {
        auto it = cm.find(o);
        return it == cm.end() ? std::vector<std::pair<Node*, size_t>>{} : it->second;
    };
    auto only_reader = [&](const Output& o) -> Node* {
        auto r = readers(o);
        return r.size() == 1 ? r[0].first : nullptr;
    };
    // Linear -> bias Add (optional) -> activation: the node after the activation, else nullptr.
    auto through_bias_act = [&](Node* lin, auto&& act_ok) -> Node* {
        Node* x = only_reader(lin->output(0));
        if (x && is_a<op::Add>(x) && (const_f32(x->input(0)) || const_f32(x->input(1)))) x = only_reader(x->output(0));
        if (!x || !act_ok(x)) return nullptr;
        return x;
    };
    for (auto& n : m.ordered_ops()) {
        Node* node = n.get();
        // SE block: ReduceMean -> linear -> act -> linear -> sigmoid -> Multiply(x, .).
        if (is_a<op::ReduceMean>(node) || is_a<op::AdaptiveAvgPool>(node)) {
            for (auto& [l1, p1] : readers(node->output(0))) {
                if (!is_linear(l1) || l1->num_outputs() != 1) continue;
                Node* a1 = through_bias_act(l1, [](Node* x) {
                    return is_a<op::Relu>(x) || is_a<op::PRelu>(x) || is_a<op::Swish>(x);
                });
                if (!a1) continue;
                Node* l2 = only_reader(a1->output(0));
                if (!l2 || !is_linear(l2)) continue;
                Node* a2 = through_bias_act(l2, [](Node* x) { return is_a<op::Sigmoid>(x) || is_a<op::HSigmoid>(x); });
                if (!a2) continue;
                Node* mul = only_reader(a2->output(0));
                if (!mul || !is_a<op::Multiply>(mul)) continue;
                ignored.insert(l1);
                ignored.insert(l2);
            }
        }
        if (!transformer || !is_a<op::MatMul>(node)) continue;
        // Attention output: Softmax (maybe reshaped) -> MatMul.
        for (size_t i = 0; i < 2; ++i) {
            Node* src = node->input(i).node.get();
            if (is_a<op::Reshape>(src)) src = src->input(0).node.get();
            if (is_a<op::Softmax>(src)) ignored.insert(node);
        }
        // Rotary embeddings: MatMul -> (Transpose) -> (Concat) -> Sin and Cos.
        std::vector<Output> frontier{node->output(0)};
        for (int depth = 0; depth < 3 && !frontier.empty(); ++depth) {
            std::vector<Output> next;
            for (auto& o : frontier)
                for (auto& [r, p] : readers(o)) {
                    if (is_a<op::Sin>(r) || is_a<op::Cos>(r)) ignored.insert(node);
                    if (is_a<op::Transpose>(r) || is_a<op::Concat>(r)) next.push_back(r->output(0));
                }
            frontier = next;
        }
    }
}

}  // namespace

// --- Quantizer --------------------------------------------------------------------------------

Quantizer::~Quantizer() = default;

Quantizer::Quantizer(const Model& model, QuantizeOptions options) : opt_(std::move(options)), plan_(new Plan) {
    work_ = model.clone();
    passes::fold_constants(*work_);
    fold_batch_norm(*work_);
    Plan& P = *plan_;

    auto cm = consumers(*work_);
    for (auto& n : work_->ordered_ops())
        if (opt_.ignored_names.count(n->name())) P.ignored.insert(n.get());
    ignore_patterns(*work_, cm, opt_.transformer, P.ignored);

    // Quantized activation inputs (and whether each must be symmetric).
    auto quantized_inputs = [&](Node* n) {
        std::vector<std::pair<size_t, bool>> r;
        if (P.ignored.count(n)) return r;
        if (is_linear(n)) {
            const bool mm = is_a<op::MatMul>(n);
            const size_t last = mm ? 2 : 1;
            const bool two_acts = mm && !const_f32(n->input(0)) && !const_f32(n->input(1));
            for (size_t i = 0; i < last; ++i) {
                if (const_f32(n->input(i)) || !is_float(n->input(i))) continue;
                if (!mm && i == 1) continue;
                r.push_back({i, opt_.symmetric_activations || (opt_.transformer && two_acts)});
            }
            if (!mm && (const_f32(n->input(0)) || !is_float(n->input(0)))) r.clear();
        } else if (!opt_.transformer && is_a<op::Add>(n) && n->num_inputs() == 2) {
            if (!const_f32(n->input(0)) && !const_f32(n->input(1)) && is_float(n->input(0)) && is_float(n->input(1)) &&
                !n->input(0).node->constant_value() && !n->input(1).node->constant_value())
                r = {{0, opt_.symmetric_activations}, {1, opt_.symmetric_activations}};
        }
        return r;
    };

    // SmoothQuant: a Multiply(x, 1/s) in front of the MatMuls with constant weights reading x.
    if (opt_.transformer && opt_.smooth_quant_alpha >= 0) {
        std::map<std::pair<Output, int64_t>, size_t> group_of;
        for (auto& n : work_->ordered_ops()) {
            auto* mm = dynamic_cast<op::MatMul*>(n.get());
            if (!mm || P.ignored.count(mm)) continue;
            int wp = const_f32(n->input(1)) ? 1 : const_f32(n->input(0)) ? 0 : -1;
            if (wp < 0 || const_f32(n->input(1 - wp))) continue;
            const size_t ap = static_cast<size_t>(1 - wp);
            const Output w = n->input(static_cast<size_t>(wp));
            if (w.shape().rank() != 2 || cm[w].size() != 1) continue;  // shared weights keep their values
            const Output x = n->input(ap);
            if (!is_float(x) || !x.shape().rank_is_static() || x.shape().rank() < 1) continue;
            const int64_t rank = x.shape().rank();
            const int64_t axis = matmul_contraction_axis(*mm, ap, rank);
            // The channel count from the weight: shape inference may not know it on x.
            const int64_t c = w.shape()[static_cast<size_t>(matmul_contraction_axis(*mm, static_cast<size_t>(wp), 2))]
                                  .get_length();
            auto key = std::make_pair(x, axis);
            auto it = group_of.find(key);
            if (it == group_of.end()) {
                Plan::SmoothGroup g;
                g.axis = axis;
                g.channels = c;
                g.rank = rank;
                std::vector<float> ones(static_cast<size_t>(c), 1.0f);
                Shape s(static_cast<size_t>(rank - axis), 1);
                s[0] = c;
                g.multiply = make<op::Multiply>({x, constant_f32(ones, s)->output(0)});
                g.multiply->set_name(x.node->name() + "/kiln_smooth_quant");
                P.smooth.push_back(std::move(g));
                it = group_of.emplace(key, P.smooth.size() - 1).first;
            }
            auto& g = P.smooth[it->second];
            g.members.push_back(n.get());
            g.act_port.push_back(ap);
            n->set_input(ap, g.multiply->output(0));
        }
        cm = consumers(*work_);
    }

    // Activation points: each quantized input, moved up through position-only ops when every
    // reader below them is quantized.
    std::map<Output, std::set<Plan::Edge>> wanted;  // tensor -> quantized reader edges
    std::map<Output, bool> symmetric;
    for (auto& n : work_->ordered_ops())
        for (auto [port, sym] : quantized_inputs(n.get())) {
            wanted[n->input(port)].insert({n.get(), port});
            auto it = symmetric.find(n->input(port));
            symmetric[n->input(port)] = sym || (it != symmetric.end() && it->second);
        }
    auto only_first_output_read = [&](Node* r) {
        for (size_t k = 1; k < r->num_outputs(); ++k)
            if (cm.count(r->output(k))) return false;
        return true;
    };
    std::map<Output, bool> fully_memo;
    std::function<bool(const Output&)> fully = [&](const Output& t) -> bool {
        auto m = fully_memo.find(t);
        if (m != fully_memo.end()) return m->second;
        fully_memo[t] = false;
        bool ok = cm.count(t) > 0;
        if (ok)
            for (auto& [r, p] : cm[t]) {
                if (wanted.count(t) && wanted[t].count({r, p})) continue;
                if (is_agnostic(r) && p == 0 && only_first_output_read(r) && fully(r->output(0))) continue;
                ok = false;
                break;
            }
        fully_memo[t] = ok;
        return ok;
    };
    std::map<Output, Plan::ActPoint> points;
    std::vector<Output> order;
    for (auto& [t0, edges] : wanted)
        for (const auto& e0 : edges) {
            Output t = t0;
            Plan::Edge e = e0;
            while (is_agnostic(t.node.get()) && t.index == 0 && only_first_output_read(t.node.get()) && fully(t) &&
                   is_float(t.node->input(0)) && !t.node->input(0).node->constant_value()) {
                e = {t.node.get(), 0};
                t = t.node->input(0);
            }
            if (!is_float(t) || t.node->constant_value()) continue;
            auto it = points.find(t);
            if (it == points.end()) {
                Plan::ActPoint p;
                p.tensor = t;
                p.symmetric = symmetric[t0];
                it = points.emplace(t, p).first;
                order.push_back(t);
            }
            it->second.edges.insert(e);
            it->second.symmetric = it->second.symmetric || symmetric[t0];
        }
    for (auto& t : order) {
        auto& p = points[t];
        if (fully(t)) {  // one quantizer for every reader
            p.edges.clear();
            for (auto& [r, port] : cm[t]) p.edges.insert({r, port});
        }
        for (size_t g = 0; g < P.smooth.size(); ++g)
            if (P.smooth[g].multiply->output(0) == t) p.smooth = static_cast<int>(g);
        if (!t.shape().rank_is_static()) continue;  // cannot be reduced: left float
        if (p.smooth >= 0) {
            p.stat = P.request(StatRequest::minmax_channel, t, P.smooth[p.smooth].axis);
            P.smooth[p.smooth].stat = p.stat;
        } else {
            p.stat = P.request(StatRequest::minmax_full, t, -1);
        }
        P.acts.push_back(p);
    }
    // SmoothQuant groups whose multiply ended up without a quantizer still need its statistics.
    for (auto& g : P.smooth) g.stat = P.request(StatRequest::minmax_channel, g.multiply->output(0), g.axis);

    // Bias correction: quantized Convolution / MatMul with a constant weight and a bias Add.
    if (opt_.fast_bias_correction) {
        for (auto& n : work_->ordered_ops()) {
            Node* node = n.get();
            if (P.ignored.count(node)) continue;
            const bool conv = is_a<op::Convolution>(node);
            auto* mm = dynamic_cast<op::MatMul*>(node);
            if (!conv && !mm) continue;
            size_t wp = 1, ap = 0;
            if (mm && !const_f32(n->input(1))) continue;  // the bias runs along the weight's N axis
            if (!const_f32(n->input(wp)) || const_f32(n->input(ap)) || !is_float(n->input(ap))) continue;
            if (mm && n->input(wp).shape().rank() != 2) continue;
            const auto& out = n->output_shape(0);
            const auto& in = n->input(ap).shape();
            if (!out.rank_is_static() || !in.rank_is_static() || out.rank() < 1) continue;
            auto it = cm.find(n->output(0));
            if (it == cm.end() || it->second.size() != 1) continue;
            Node* add = it->second[0].first;
            if (!is_a<op::Add>(add)) continue;
            const size_t bp = add->input(0) == n->output(0) ? 1 : 0;
            const Tensor* b = const_f32(add->input(bp));
            const int64_t oaxis = conv ? 1 : out.rank() - 1;
            if (!b || !out[static_cast<size_t>(oaxis)].is_static()) continue;
            if (!per_channel(*b, out.rank(), oaxis, out[static_cast<size_t>(oaxis)].get_length())) continue;
            Plan::BiasPoint bpnt{node, ap, wp, add, bp};
            bpnt.in_axis = conv ? 1 : matmul_contraction_axis(*mm, ap, in.rank());
            if (in.rank() < 1 || (conv && !in[1].is_static())) continue;
            bpnt.mean_stat = P.request(StatRequest::mean_channel, n->input(ap), bpnt.in_axis);
            if (conv) {
                bpnt.shape_stat = P.request(StatRequest::shape, n->input(ap), -1);
                bpnt.has_shape = true;
            }
            for (size_t g = 0; g < P.smooth.size(); ++g)
                if (P.smooth[g].multiply->output(0) == n->input(ap)) bpnt.smooth = static_cast<int>(g);
            P.biases.push_back(bpnt);
        }
    }

    // The statistics model: the reductions as outputs, sharing the working graph's nodes.
    ResultVector results;
    for (auto& r : P.stats) {
        r.first_output = results.size();
        const int64_t rank = r.tensor.shape().rank();
        auto add_result = [&](const NodePtr& v) {
            auto res = make<op::Result>({v->output(0)});
            res->set_name("kiln_statistic_" + std::to_string(results.size()));
            res->set_output_names(0, {res->name()});
            results.push_back(res);
        };
        if (r.kind == StatRequest::shape) {
            add_result(make<op::ShapeOf>({r.tensor}, Type::i64));
            continue;
        }
        const auto axes = r.kind == StatRequest::minmax_full ? all_axes_but(rank, -1) : all_axes_but(rank, r.axis);
        if (r.kind == StatRequest::mean_channel) {
            add_result(make<op::ReduceMean>({r.tensor, axes_const(axes)->output(0)}, false));
            continue;
        }
        add_result(make<op::ReduceMin>({r.tensor, axes_const(axes)->output(0)}, false));
        add_result(make<op::ReduceMax>({r.tensor, axes_const(axes)->output(0)}, false));
    }
    P.acc.resize(P.stats.size());
    if (results.empty()) {  // nothing to measure: one output keeps the model valid
        auto res = make<op::Result>({work_->parameters().empty() ? work_->results()[0]->input(0)
                                                                   : work_->parameters()[0]->output(0)});
        res->set_name("kiln_statistic_none");
        results.push_back(res);
    }
    stats_model_ = std::make_shared<Model>(results, work_->parameters(), work_->name() + "_statistics");
}

size_t Quantizer::num_statistic_outputs() const {
    size_t n = 0;
    for (auto& r : plan_->stats) n += r.kind == StatRequest::minmax_full || r.kind == StatRequest::minmax_channel ? 2 : 1;
    return n;
}

void Quantizer::accumulate(const std::vector<Tensor>& outputs) {
    if (finished_) throw Error("Quantizer: accumulate() after finish()");
    Plan& P = *plan_;
    const size_t expected = num_statistic_outputs();
    if (outputs.size() < expected)
        throw ValueError(str_cat("Quantizer: ", outputs.size(), " statistic outputs, expected ", expected));
    auto f32 = [](const Tensor& t) {
        auto v = t.as_f64_vector();
        return std::vector<float>(v.begin(), v.end());
    };
    for (size_t i = 0; i < P.stats.size(); ++i) {
        const auto& r = P.stats[i];
        auto& a = P.acc[i];
        const Tensor& t0 = outputs[r.first_output];
        switch (r.kind) {
        case StatRequest::minmax_full: {
            const Tensor& t1 = outputs[r.first_output + 1];
            a.item_min.push_back(t0.size() ? t0.as_f64_vector()[0] : std::nan(""));
            a.item_max.push_back(t1.size() ? t1.as_f64_vector()[0] : std::nan(""));
            break;
        }
        case StatRequest::minmax_channel:
            a.ch_min.push_back(f32(t0));
            a.ch_max.push_back(f32(outputs[r.first_output + 1]));
            break;
        case StatRequest::mean_channel: {
            auto v = t0.as_f64_vector();
            if (a.mean_sum.empty()) a.mean_sum.assign(v.size(), 0.0);
            if (v.size() != a.mean_sum.size()) throw ValueError("Quantizer: a channel count changed between items");
            for (size_t k = 0; k < v.size(); ++k) a.mean_sum[k] += v[k];
            a.mean_items++;
            break;
        }
        case StatRequest::shape:
            if (!a.has_shape) {
                auto v = t0.as_f64_vector();
                a.shape.assign(v.begin(), v.end());
                a.has_shape = true;
            }
            break;
        }
    }
    items_++;
}

std::shared_ptr<Model> Quantizer::finish() {
    if (finished_) throw Error("Quantizer: finish() was already called");
    if (items_ == 0) throw ValueError("Quantizer: no calibration item was accumulated");
    finished_ = true;
    Plan& P = *plan_;
    auto cm = consumers(*work_);

    // 1. SmoothQuant scales, weights and the Multiply's constant.
    for (auto& g : P.smooth) {
        const auto& a = P.acc[g.stat];
        std::vector<double> act(static_cast<size_t>(g.channels), 0.0);
        for (auto& v : a.ch_min)
            if (v.size() != act.size())
                throw Error(str_cat("Quantizer: ", v.size(), " channels measured before a MatMul whose weight has ",
                                    act.size()));
        for (size_t it = 0; it < a.ch_min.size(); ++it)
            for (size_t c = 0; c < act.size(); ++c)
                act[c] = std::max({act[c], std::fabs(double(a.ch_min[it][c])), std::fabs(double(a.ch_max[it][c]))});
        bool finite = true;
        for (double v : act) finite = finite && std::isfinite(v);
        double best_ratio = -1;
        std::vector<double> best;
        std::vector<std::vector<double>> wabs(g.members.size());
        for (size_t k = 0; k < g.members.size(); ++k) {
            auto* mm = static_cast<op::MatMul*>(g.members[k]);
            const size_t wp = 1 - g.act_port[k];
            const Tensor& w = *const_f32(mm->input(wp));
            const int64_t kaxis = matmul_contraction_axis(*mm, wp, 2);
            const int64_t rows = w.shape()[0], cols = w.shape()[1];
            std::vector<double>& wa = wabs[k];
            wa.assign(static_cast<size_t>(g.channels), 0.0);
            const float* wd = w.data<float>();
            for (int64_t i = 0; i < rows; ++i)
                for (int64_t j = 0; j < cols; ++j) {
                    const size_t c = static_cast<size_t>(kaxis == 0 ? i : j);
                    wa[c] = std::max(wa[c], std::fabs(double(wd[i * cols + j])));
                }
            double ratio = 0;
            auto s = smooth_quant_scales(act, wa, opt_.smooth_quant_alpha, &ratio);
            if (ratio > best_ratio) {
                best_ratio = ratio;
                best = s;
            }
        }
        if (!finite) {
            notes_.push_back(str_cat("SmoothQuant skipped after '", g.multiply->input(0).node->name(),
                                     "': its statistics are not finite"));
            best.assign(static_cast<size_t>(g.channels), 1.0);
        } else {
            n_sq_++;
        }
        g.scale = best;
        std::vector<float> inv(best.size());
        for (size_t c = 0; c < best.size(); ++c) inv[c] = static_cast<float>(1.0 / best[c]);
        Shape s(static_cast<size_t>(g.rank - g.axis), 1);
        s[0] = g.channels;
        g.multiply->set_input(1, constant_f32(inv, s)->output(0));
        g.multiply->validate_and_infer();
        for (size_t k = 0; k < g.members.size() && finite; ++k) {
            auto* mm = static_cast<op::MatMul*>(g.members[k]);
            const size_t wp = 1 - g.act_port[k];
            const Tensor& w = *const_f32(mm->input(wp));
            const int64_t kaxis = matmul_contraction_axis(*mm, wp, 2);
            Tensor nw = w.copy();
            float* d = nw.data<float>();
            const int64_t rows = w.shape()[0], cols = w.shape()[1];
            for (int64_t i = 0; i < rows; ++i)
                for (int64_t j = 0; j < cols; ++j)
                    d[i * cols + j] = static_cast<float>(d[i * cols + j] * best[static_cast<size_t>(kaxis == 0 ? i : j)]);
            auto c = constant(std::move(nw));
            c->set_name(mm->input(wp).node->name());
            mm->set_input(wp, c->output(0));
        }
    }

    // 2. Activation quantizers.
    const size_t n_items = items_;
    for (auto& p : P.acts) {
        const auto& a = P.acc[p.stat];
        double mn = 0, mx = 0, amx = 0;
        for (size_t it = 0; it < n_items; ++it) {
            double lo, hi;
            if (p.smooth >= 0) {
                const auto& s = P.smooth[p.smooth].scale;
                lo = std::numeric_limits<double>::infinity();
                hi = -lo;
                for (size_t c = 0; c < s.size(); ++c) {
                    lo = std::min(lo, a.ch_min[it][c] / s[c]);
                    hi = std::max(hi, a.ch_max[it][c] / s[c]);
                }
            } else {
                lo = a.item_min[it];
                hi = a.item_max[it];
            }
            mn += lo;
            mx += hi;
            amx += std::max(std::fabs(lo), std::fabs(hi));
        }
        mn /= double(n_items);
        mx /= double(n_items);
        amx /= double(n_items);
        const Node& src = *p.tensor.node;
        if (!std::isfinite(mn) || !std::isfinite(mx) || !std::isfinite(amx)) {
            notes_.push_back(str_cat("no FakeQuantize after ", node_label(src), ": its values are not finite (",
                                     mn, ", ", mx, ")"));
            continue;
        }
        Range r = activation_range(mn, mx, amx, p.symmetric);
        auto lo = constant_f32(r.low, {}), hi = constant_f32(r.high, {});
        auto quantizer = [&](const Output& t) {
            auto fq = make<op::FakeQuantize>({t, lo->output(0), hi->output(0), lo->output(0), hi->output(0)}, r.levels);
            fq->set_name(str_cat(t.node->name(), "/fq_output_", t.index));
            return fq;
        };
        // A Concat whose every reader is quantized gets its quantizer on each input instead, all
        // with the concat's range (NNCF's unified scales): the same values (FakeQuantize is
        // element-wise), but the branches then end in INT8 and the concat runs on the integers.
        std::vector<Output> cat_inputs;
        if (is_a<op::Concat>(p.tensor.node.get()) && p.tensor.index == 0 && cm.count(p.tensor) &&
            cm.at(p.tensor).size() == p.edges.size()) {
            for (auto& in : p.tensor.node->inputs())
                if (is_float(in) && !in.node->constant_value()) cat_inputs.push_back(in);
            if (cat_inputs.size() != p.tensor.node->num_inputs()) cat_inputs.clear();
        }
        if (!cat_inputs.empty()) {
            for (size_t i = 0; i < cat_inputs.size(); ++i) p.tensor.node->set_input(i, quantizer(cat_inputs[i])->output(0));
            n_act_ += cat_inputs.size();
            continue;
        }
        auto fq = quantizer(p.tensor);
        for (auto& e : p.edges) e.node->set_input(e.port, fq->output(0));
        n_act_++;
    }

    // 3. Weight quantizers (after SmoothQuant changed the weights), with the overflow fix.
    std::set<Node*> half;
    if (opt_.overflow_fix != OverflowFix::disable) {
        if (opt_.overflow_fix == OverflowFix::enable) {
            for (auto& n : work_->ordered_ops())
                if (is_linear(n.get())) half.insert(n.get());
        } else {  // the first quantized Convolutions on each path from the inputs
            cm = consumers(*work_);
            std::vector<Output> queue;
            std::set<Node*> seen;
            for (auto& p : work_->parameters()) queue.push_back(p->output(0));
            while (!queue.empty()) {
                Output o = queue.back();
                queue.pop_back();
                auto it = cm.find(o);
                if (it == cm.end()) continue;
                for (auto& [r, port] : it->second) {
                    if (!seen.insert(r).second) continue;
                    if (is_a<op::Convolution>(r) && !P.ignored.count(r) && const_f32(r->input(1))) {
                        half.insert(r);
                        continue;
                    }
                    for (size_t k = 0; k < r->num_outputs(); ++k) queue.push_back(r->output(k));
                }
            }
        }
    }
    struct WeightFq {
        NodePtr fq;
        Range range;
        std::vector<int64_t> axes;
    };
    std::map<std::tuple<Output, std::vector<int64_t>, bool>, WeightFq> wfq;
    std::map<std::pair<Node*, size_t>, const WeightFq*> weight_of;
    for (auto& n : work_->ordered_ops()) {
        Node* node = n.get();
        if (!is_linear(node) || P.ignored.count(node)) continue;
        const bool mm = is_a<op::MatMul>(node);
        // Conv-like ops need a quantized activation to be worth it; both inputs constant fold away.
        if (const_f32(node->input(0)) && const_f32(node->input(1))) continue;
        for (size_t port = 0; port < 2; ++port) {
            if (!mm && port == 0) continue;
            const Tensor* w = const_f32(node->input(port));
            if (!w) continue;
            const int64_t rank = w->rank();
            auto axes = weight_channel_axes(node, port, rank);
            const bool hr = half.count(node) > 0;
            auto key = std::make_tuple(node->input(port), axes, hr);
            auto it = wfq.find(key);
            if (it == wfq.end()) {
                // absmax per output channel (the kept axes, row-major).
                Shape keep_shape(static_cast<size_t>(rank), 1);
                int64_t channels = 1;
                for (auto a : axes) {
                    keep_shape[static_cast<size_t>(a)] = w->shape()[static_cast<size_t>(a)];
                    channels *= w->shape()[static_cast<size_t>(a)];
                }
                std::vector<double> absmax(static_cast<size_t>(channels), 0.0);
                const float* d = w->data<float>();
                const Shape& ws = w->shape();
                std::vector<int64_t> idx(static_cast<size_t>(rank), 0);
                for (int64_t i = 0; i < w->size(); ++i) {
                    int64_t c = 0;
                    for (auto a : axes) c = c * ws[static_cast<size_t>(a)] + idx[static_cast<size_t>(a)];
                    absmax[static_cast<size_t>(c)] = std::max(absmax[static_cast<size_t>(c)], std::fabs(double(d[i])));
                    for (int64_t k = rank - 1; k >= 0; --k) {
                        if (++idx[static_cast<size_t>(k)] < ws[static_cast<size_t>(k)]) break;
                        idx[static_cast<size_t>(k)] = 0;
                    }
                }
                WeightFq f;
                f.range = weight_range(absmax, hr);
                f.axes = axes;
                auto lo = constant_f32(f.range.low, keep_shape), hi = constant_f32(f.range.high, keep_shape);
                f.fq = make<op::FakeQuantize>(
                    {node->input(port), lo->output(0), hi->output(0), lo->output(0), hi->output(0)}, f.range.levels);
                f.fq->set_name(str_cat(node->name(), "/fq_weights_", port));
                it = wfq.emplace(key, std::move(f)).first;
                n_weight_++;
            }
            weight_of[{node, port}] = &it->second;
        }
    }

    // 4. Fast bias correction (before the weights are rewired: it reads the float weights).
    for (auto& b : P.biases) {
        auto wit = weight_of.find({b.node, b.weight_port});
        if (wit == weight_of.end()) continue;
        const Tensor& w = *const_f32(b.node->input(b.weight_port));
        const auto& acc = P.acc[b.mean_stat];
        if (acc.mean_items == 0) continue;
        std::vector<double> mean = acc.mean_sum;
        for (auto& v : mean) v /= double(acc.mean_items);
        if (b.smooth >= 0)
            for (size_t c = 0; c < mean.size(); ++c) mean[c] /= P.smooth[b.smooth].scale[c];
        bool finite = true;
        for (double v : mean) finite = finite && std::isfinite(v);
        if (!finite) continue;
        const int64_t c_in = static_cast<int64_t>(mean.size());
        Shape bs;
        if (is_a<op::Convolution>(b.node)) {
            if (!P.acc[b.shape_stat].has_shape) continue;
            bs = P.acc[b.shape_stat].shape;
            bs[0] = 1;
        } else {
            auto* mm = static_cast<op::MatMul*>(b.node);
            const bool k_last = b.act_port == 0 ? !mm->transpose_a : mm->transpose_b;
            bs = k_last ? Shape{1, c_in} : Shape{c_in, 1};
            b.in_axis = k_last ? 1 : 0;
        }
        if (bs[static_cast<size_t>(b.in_axis)] != c_in) continue;
        Tensor blob(Type::f32, bs);
        {
            float* d = blob.data<float>();
            std::vector<int64_t> idx(bs.size(), 0);
            for (int64_t i = 0; i < blob.size(); ++i) {
                d[i] = static_cast<float>(mean[static_cast<size_t>(idx[static_cast<size_t>(b.in_axis)])]);
                for (int64_t k = static_cast<int64_t>(bs.size()) - 1; k >= 0; --k) {
                    if (++idx[static_cast<size_t>(k)] < bs[static_cast<size_t>(k)]) break;
                    idx[static_cast<size_t>(k)] = 0;
                }
            }
        }
        const WeightFq& f = *wit->second;
        Tensor wq(Type::f32, w.shape());
        {
            std::vector<Tensor> ins{w, *f.fq->input(1).node->constant_value(), *f.fq->input(2).node->constant_value(),
                                    *f.fq->input(1).node->constant_value(), *f.fq->input(2).node->constant_value()};
            std::vector<Tensor> outs{wq};
            f.fq->evaluate(ins, outs);
        }
        auto run = [&](const Tensor& weights) {
            OutputVector in(2);
            in[b.act_port] = constant(blob)->output(0);
            in[b.weight_port] = constant(weights)->output(0);
            auto c = b.node->clone(in);
            std::vector<Tensor> outs{Tensor(Type::f32, c->output_shape(0).to_shape())};
            c->evaluate({*in[0].node->constant_value(), *in[1].node->constant_value()}, outs);
            return outs[0];
        };
        Tensor y = run(w), yq = run(wq);
        const int64_t oaxis = is_a<op::Convolution>(b.node) ? 1 : y.rank() - (b.act_port == 0 ? 1 : 2);
        const int64_t c_out = y.shape()[static_cast<size_t>(oaxis)];
        std::vector<double> shift(static_cast<size_t>(c_out), 0.0);
        {
            std::vector<int64_t> idx(static_cast<size_t>(y.rank()), 0);
            const float* a = y.data<float>();
            const float* q = yq.data<float>();
            for (int64_t i = 0; i < y.size(); ++i) {
                shift[static_cast<size_t>(idx[static_cast<size_t>(oaxis)])] += double(a[i]) - double(q[i]);
                for (int64_t k = y.rank() - 1; k >= 0; --k) {
                    if (++idx[static_cast<size_t>(k)] < y.shape()[static_cast<size_t>(k)]) break;
                    idx[static_cast<size_t>(k)] = 0;
                }
            }
            const double per = double(y.size()) / double(c_out);
            for (auto& s : shift) s /= per;
        }
        const Tensor& bt = *const_f32(b.add->input(b.bias_port));
        const int64_t orank = b.node->output_shape(0).rank();
        const int64_t bias_axis = is_a<op::Convolution>(b.node) ? 1 : orank - 1;
        auto bias = per_channel(bt, orank, bias_axis, c_out);
        if (!bias) continue;
        double magnitude = 0;
        for (int64_t c = 0; c < c_out; ++c) {
            const double bv = (*bias)[static_cast<size_t>(c)];
            magnitude = bv == 0 ? std::numeric_limits<double>::infinity()
                                : std::max(magnitude, std::fabs(shift[static_cast<size_t>(c)] / bv));
        }
        if (!(magnitude < 2.0)) continue;
        std::vector<float> nb(static_cast<size_t>(c_out));
        for (int64_t c = 0; c < c_out; ++c)
            nb[static_cast<size_t>(c)] = static_cast<float>((*bias)[static_cast<size_t>(c)] + shift[static_cast<size_t>(c)]);
        Shape nbs = bt.rank() == 1 ? Shape{c_out} : along(orank, bias_axis, c_out);
        b.add->set_input(b.bias_port, constant_f32(nb, nbs)->output(0));
        n_bias_++;
    }

    // 5. Rewire the weights through their quantizers.
    for (auto& [edge, f] : weight_of) edge.first->set_input(edge.second, f->fq->output(0));

    work_->validate_and_infer();
    validate_model(*work_);
    stats_model_.reset();
    return work_;
}

}  // namespace kiln::quantize
