// Recurrent layers: aten::lstm / gru / rnn_tanh / rnn_relu (the input overload and the packed
// `data, batch_sizes` overload), the four *_cell ops, and packed sequences
// (_pack_padded_sequence, _pad_packed_sequence).
//
// One torch layer and direction becomes one direction of an opset-5 LSTMSequence / GRUSequence /
// RNNSequence (both directions of a bidirectional layer in one op); layers are chained, the
// bidirectional outputs concatenated on the feature axis as torch does. torch's gate order is
// moved to OpenVINO's: LSTM (i, f, g, o) -> (f, i, c, o), GRU (r, z, n) -> (z, r, h). torch's
// GRU applies the reset gate after the hidden matmul (n = tanh(W_in x + b_in + r * (W_hn h +
// b_hn))): that is linear_before_reset = true, with B = [b_z, b_r, b_in, b_hn] (b_z, b_r the sums
// of torch's two biases).
//
// Packed sequences: a torch PackedSequence is (data [sum(len), *], batch_sizes [max len]). kiln
// keeps the padded tensor and the lengths beside it: _pack_padded_sequence gives PackPadded(padded,
// lengths) (the real packed data, run only when something reads it) and batch_sizes computed from
// the lengths; a packed recurrent layer reads the padded tensor and the lengths straight from the
// PackPadded node (or unpacks data it did not make with PadPacked) and passes the lengths as
// sequence_lengths, so each sequence runs over its own length (the reverse direction from its own
// last element) and its final state is the state at its length, exactly as torch's packed kernels.
#include <cstring>

#include "kiln/frontend/pytorch/translators/common.hpp"
#include "kiln/frontend/pytorch/translators/translators.hpp"
#include "kiln/ops/control_flow.hpp"
#include "kiln/ops/graph_io.hpp"
#include "kiln/ops/matmul.hpp"
#include "kiln/ops/reduction.hpp"
#include "kiln/ops/recurrent.hpp"

namespace kiln::frontend::pytorch {

namespace {

using op::RecurrentDirection;

enum class Mode { lstm, gru, rnn_tanh, rnn_relu };

int64_t gates_of(Mode m) { return m == Mode::lstm ? 4 : m == Mode::gru ? 3 : 1; }

Output rows(NodeContext& ctx, const Output& w, int64_t from, int64_t to) {
    return ctx.make<op::Slice>({w, ctx.i64({from}), ctx.i64({to}), ctx.i64({1}), ctx.i64({0})});
}

Output zeros(NodeContext& ctx, Type t, int64_t n) {
    Tensor z(t, {n});
    std::memset(z.data(), 0, z.byte_size());
    return ctx.constant(z);
}

// torch's gate blocks of a weight or bias (axis 0) in OpenVINO's order.
Output reorder(NodeContext& ctx, Mode m, const Output& w, int64_t H) {
    if (m == Mode::lstm)
        return ctx.make<op::Concat>({rows(ctx, w, H, 2 * H), rows(ctx, w, 0, H), rows(ctx, w, 2 * H, 4 * H)}, int64_t{0});
    if (m == Mode::gru) return ctx.make<op::Concat>({rows(ctx, w, H, 2 * H), rows(ctx, w, 0, H), rows(ctx, w, 2 * H, 3 * H)}, int64_t{0});
    return w;
}

// The opset's B of one direction from torch's b_ih and b_hh (either may be absent).
Output bias_of(NodeContext& ctx, Mode m, const Output* b_ih, const Output* b_hh, int64_t H, Type t) {
    const int64_t G = gates_of(m);
    if (!b_ih || !b_hh) return zeros(ctx, t, m == Mode::gru ? 4 * H : G * H);
    Output sum = ctx.make<op::Add>({*b_ih, *b_hh});
    if (m == Mode::gru)
        return ctx.make<op::Concat>({rows(ctx, sum, H, 2 * H), rows(ctx, sum, 0, H), rows(ctx, *b_ih, 2 * H, 3 * H),
                                     rows(ctx, *b_hh, 2 * H, 3 * H)},
                                    int64_t{0});
    return reorder(ctx, m, sum, H);
}

Output unsq0(NodeContext& ctx, const Output& x) { return ctx.make<op::Unsqueeze>({x, ctx.i64({0})}); }
Output transpose(NodeContext& ctx, const Output& x, std::vector<int64_t> order) {
    return ctx.make<op::Transpose>({x, ctx.i64(order)});
}

int64_t static_dim(NodeContext& ctx, const Output& x, size_t axis, const char* what) {
    const PartialShape& s = x.shape();
    ctx.check(s.rank_is_static() && s.rank() > static_cast<int64_t>(axis) && s[axis].is_static(), what,
              " must have a shape known at conversion (got ", s.to_string(), ")");
    return s[axis].get_length();
}

// One direction of an LSTM layer with a projection (proj_size P > 0), which the opset's
// LSTMSequence cannot express: a Loop over the T time steps whose body is torch's cell with
// h = W_hr (o * tanh(c)) [B, P]. x [B, T, I], lengths [B] i64, h0 [B, P], c0 [B, H]; weights in
// torch's layout and gate order (i, f, g, o); b = b_ih + b_hh [4H]. A sequence past its length
// keeps its state and writes 0. The reverse direction walks each sequence from its own last step;
// the Loop's outputs, in iteration order, are put back in time order by a batched Gather.
struct ProjResult {
    Output y, h, c;
};

ProjResult proj_direction(NodeContext& ctx, const Output& x, const Output& lengths, const Output& h0,
                          const Output& c0, const Output& w_ih, const Output& w_hh, const Output& b,
                          const Output& w_hr, int64_t H, bool reverse) {
    const Type t = x.type();
    auto param = [&](Type ty, PartialShape s) { return std::make_shared<op::Parameter>(ty, std::move(s)); };
    auto iter = param(Type::i64, PartialShape(std::vector<Dimension>{}));
    auto ph = param(t, h0.shape()), pc = param(t, c0.shape()), px = param(t, x.shape());
    auto pl = param(Type::i64, lengths.shape()), pw = param(t, w_ih.shape()), pr = param(t, w_hh.shape());
    auto pb = param(t, b.shape()), pp = param(t, w_hr.shape());
    for (auto& n : {iter, ph, pc, px, pl, pw, pr, pb, pp}) {
        ctx.tag(*n);
        n->validate_and_infer();
    }
    Output i = iter->output(0), h = ph->output(0), c = pc->output(0), len = pl->output(0);
    Output active = ctx.make<op::Unsqueeze>({ctx.make<op::Less>({i, len}), ctx.i64({1})});  // [B, 1]
    Output xt;
    if (reverse) {
        Output tb = ctx.make<op::Maximum>({ctx.make<op::Subtract>({ctx.make<op::Subtract>({len, ctx.i64_scalar(1)}), i}),
                                           ctx.i64_scalar(0)});
        xt = ctx.make<op::Gather>({px->output(0), tb, ctx.i64_scalar(1)}, int64_t{1});
    } else {
        xt = ctx.make<op::Gather>({px->output(0), i, ctx.i64_scalar(1)}, int64_t{0});
    }
    Output g = ctx.make<op::Add>({ctx.make<op::Add>({ctx.make<op::MatMul>({xt, pw->output(0)}, false, true),
                                                      ctx.make<op::MatMul>({h, pr->output(0)}, false, true)}),
                                   pb->output(0)});
    auto gate = [&](int64_t k) {
        return ctx.make<op::Slice>({g, ctx.i64({k * H}), ctx.i64({(k + 1) * H}), ctx.i64({1}), ctx.i64({1})});
    };
    Output ig = ctx.make<op::Sigmoid>({gate(0)}), fg = ctx.make<op::Sigmoid>({gate(1)});
    Output gg = ctx.make<op::Tanh>({gate(2)}), og = ctx.make<op::Sigmoid>({gate(3)});
    Output c1 = ctx.make<op::Add>({ctx.make<op::Multiply>({fg, c}), ctx.make<op::Multiply>({ig, gg})});
    Output h1 = ctx.make<op::MatMul>({ctx.make<op::Multiply>({og, ctx.make<op::Tanh>({c1})}), pp->output(0)}, false, true);
    Output zero = typed_scalar(ctx, t, 0.0);
    std::vector<Output> res{ctx.constant(Tensor::scalar<bool>(true)), ctx.make<op::Select>({active, h1, h}),
                            ctx.make<op::Select>({active, c1, c}),
                            ctx.make<op::Unsqueeze>({ctx.make<op::Select>({active, h1, zero}), ctx.i64({1})})};
    ResultVector rs;
    for (auto& r : res) rs.push_back(make<op::Result>({r}));
    auto body = std::make_shared<Model>(rs, ParameterVector{iter, ph, pc, px, pl, pw, pr, pb, pp}, "lstm_proj_body");
    auto loop = std::make_shared<op::Loop>();
    loop->body = body;
    loop->special_body_ports = {0, 0};
    loop->merged_inputs = {{2, 1, 1}, {3, 2, 2}};
    loop->invariant_inputs = {{4, 3}, {5, 4}, {6, 5}, {7, 6}, {8, 7}, {9, 8}};
    loop->body_outputs = {{1, 0, -1}, {2, 1, -1}};
    loop->concat_outputs = {{3, 2, 0, 1, 1, -1, 1}};
    loop->set_inputs({dim_of(ctx, x, 1), ctx.constant(Tensor::scalar<bool>(true)), h0, c0, x, lengths, w_ih, w_hh, b, w_hr});
    ctx.tag(*loop);
    loop->validate_and_infer();
    ProjResult r{loop->output(2), loop->output(0), loop->output(1)};
    if (reverse) {
        // y[b, t] = Y[b, len_b - 1 - t] for t < len_b, else 0.
        Output steps = ctx.make<op::Range>({ctx.i64_scalar(0), dim_of(ctx, x, 1), ctx.i64_scalar(1)}, Type::i64);
        Output lb = ctx.make<op::Unsqueeze>({lengths, ctx.i64({1})});
        Output st = ctx.make<op::Unsqueeze>({steps, ctx.i64({0})});
        Output idx = ctx.make<op::Maximum>({ctx.make<op::Subtract>({ctx.make<op::Subtract>({lb, ctx.i64_scalar(1)}), st}),
                                            ctx.i64_scalar(0)});
        Output y = ctx.make<op::Gather>({r.y, idx, ctx.i64_scalar(1)}, int64_t{1});
        Output live = ctx.make<op::Unsqueeze>({ctx.make<op::Less>({st, lb}), ctx.i64({2})});
        r.y = ctx.make<op::Select>({live, y, zero});
    }
    return r;
}

struct Layers {
    Mode mode;
    std::vector<Output> params;
    bool has_biases = true;
    int64_t num_layers = 1;
    bool bidirectional = false;
};

struct LayerResult {
    Output y;   // [B, T, D*H]
    Output h;   // [L*D, B, H]
    Output c;   // LSTM only
};

// Runs the stacked layers on x [B, T, I] (batch-major) with lengths [B] (i64) and torch's initial
// states h0 / c0 [L*D, B, H].
LayerResult run_layers(NodeContext& ctx, const Layers& a, Output x, const Output& lengths, const Output& h0,
                       const Output* c0) {
    const Mode m = a.mode;
    const int64_t G = gates_of(m), D = a.bidirectional ? 2 : 1, L = a.num_layers;
    const size_t n = a.params.size();
    const size_t per_dir = n / static_cast<size_t>(L * D);
    ctx.check(per_dir * static_cast<size_t>(L * D) == n && per_dir >= 2, "expected the weights of ", L * D,
              " layer directions, got ", n, " tensors");
    const size_t with_bias = a.has_biases ? 4 : 2;
    ctx.check(per_dir == with_bias || (m == Mode::lstm && per_dir == with_bias + 1), "unexpected ", per_dir,
              " weight tensors per layer direction");
    const bool proj = per_dir == with_bias + 1;
    const Type t = x.type() == Type::dynamic ? Type::f32 : x.type();
    const int64_t H = static_dim(ctx, a.params[1], 0, "the hidden weights") / G;
    const auto dir = a.bidirectional ? RecurrentDirection::bidirectional : RecurrentDirection::forward;
    OutputVector hs, cs;
    for (int64_t l = 0; l < L; ++l) {
        if (proj) {
            OutputVector ys, lh, lc;
            auto row = [&](const Output& s, int64_t k) {
                return ctx.make<op::Squeeze>({rows(ctx, s, k, k + 1), ctx.i64({0})});
            };
            for (int64_t d = 0; d < D; ++d) {
                const size_t base = static_cast<size_t>(l * D + d) * per_dir;
                Output b = a.has_biases ? ctx.make<op::Add>({a.params[base + 2], a.params[base + 3]}) : zeros(ctx, t, 4 * H);
                auto r = proj_direction(ctx, x, lengths, row(h0, l * D + d), row(*c0, l * D + d), a.params[base],
                                        a.params[base + 1], b, a.params[base + per_dir - 1], H, d == 1);
                ys.push_back(r.y);
                lh.push_back(unsq0(ctx, r.h));
                lc.push_back(unsq0(ctx, r.c));
            }
            x = D == 1 ? ys[0] : ctx.make<op::Concat>(ys, int64_t{2});
            hs.push_back(D == 1 ? lh[0] : ctx.make<op::Concat>(lh, int64_t{0}));
            cs.push_back(D == 1 ? lc[0] : ctx.make<op::Concat>(lc, int64_t{0}));
            continue;
        }
        OutputVector Ws, Rs, Bs;
        for (int64_t d = 0; d < D; ++d) {
            const size_t base = static_cast<size_t>(l * D + d) * per_dir;
            const Output& w_ih = a.params[base];
            const Output& w_hh = a.params[base + 1];
            const Output* b_ih = a.has_biases ? &a.params[base + 2] : nullptr;
            const Output* b_hh = a.has_biases ? &a.params[base + 3] : nullptr;
            ctx.check(static_dim(ctx, w_hh, 0, "the hidden weights") == G * H, "hidden weights of shape ",
                      w_hh.shape().to_string(), " for hidden size ", H);
            Ws.push_back(unsq0(ctx, reorder(ctx, m, w_ih, H)));
            Rs.push_back(unsq0(ctx, reorder(ctx, m, w_hh, H)));
            Bs.push_back(unsq0(ctx, bias_of(ctx, m, b_ih, b_hh, H, t)));
        }
        Output W = D == 1 ? Ws[0] : ctx.make<op::Concat>(Ws, int64_t{0});
        Output R = D == 1 ? Rs[0] : ctx.make<op::Concat>(Rs, int64_t{0});
        Output B = D == 1 ? Bs[0] : ctx.make<op::Concat>(Bs, int64_t{0});
        auto state = [&](const Output& s) { return transpose(ctx, rows(ctx, s, l * D, (l + 1) * D), {1, 0, 2}); };
        std::shared_ptr<Node> seq;
        if (m == Mode::lstm)
            seq = ctx.make_node<op::LSTMSequence>({x, state(h0), state(*c0), lengths, W, R, B}, H, dir);
        else if (m == Mode::gru)
            seq = ctx.make_node<op::GRUSequence>({x, state(h0), lengths, W, R, B}, H, dir, true);
        else
            seq = ctx.make_node<op::RNNSequence>({x, state(h0), lengths, W, R, B}, H, dir,
                                                 std::vector<std::string>{m == Mode::rnn_tanh ? "tanh" : "relu"});
        // Y [B, D, T, H] -> [B, T, D*H], the next layer's input.
        x = ctx.make<op::Reshape>({transpose(ctx, seq->output(0), {0, 2, 1, 3}), ctx.i64({0, 0, -1})}, true);
        hs.push_back(transpose(ctx, seq->output(1), {1, 0, 2}));
        if (m == Mode::lstm) cs.push_back(transpose(ctx, seq->output(2), {1, 0, 2}));
    }
    LayerResult r;
    r.y = x;
    r.h = hs.size() == 1 ? hs[0] : ctx.make<op::Concat>(hs, int64_t{0});
    if (m == Mode::lstm) r.c = cs.size() == 1 ? cs[0] : ctx.make<op::Concat>(cs, int64_t{0});
    return r;
}

std::vector<Output> tensors(NodeContext& ctx, size_t i) {
    std::vector<Output> out;
    for (auto& v : ctx.list(i)) out.push_back(ctx.tensor_of(v));
    return out;
}

// lengths [B] (i64) of a batch-major x [B, T, ...] whose sequences all have T steps.
Output full_lengths(NodeContext& ctx, const Output& x) {
    return ctx.make<op::Broadcast>({dim_of(ctx, x, 1), unsq0(ctx, dim_of(ctx, x, 0))});
}

// The lengths [B] of torch's batch_sizes [T]: lengths[b] = #{t : batch_sizes[t] > b}.
Output lengths_of(NodeContext& ctx, const Output& batch_sizes) {
    Output bs = to_type(ctx, batch_sizes, Type::i64);
    Output B = ctx.make<op::Gather>({bs, ctx.i64_scalar(0), ctx.i64_scalar(0)}, int64_t{0});
    Output b = ctx.make<op::Range>({ctx.i64_scalar(0), B, ctx.i64_scalar(1)}, Type::i64);
    Output gt = ctx.make<op::Greater>({ctx.make<op::Unsqueeze>({bs, ctx.i64({1})}), unsq0(ctx, b)});
    return ctx.make<op::ReduceSum>({to_type(ctx, gt, Type::i64), ctx.i64({0})}, false);
}

// torch's batch_sizes of lengths [B]: batch_sizes[t] = #{b : lengths[b] > t}, t < max(lengths).
Output batch_sizes_of(NodeContext& ctx, const Output& lengths) {
    Output mx = ctx.make<op::ReduceMax>({lengths, ctx.i64({0})}, false);
    Output t = ctx.make<op::Range>({ctx.i64_scalar(0), mx, ctx.i64_scalar(1)}, Type::i64);
    Output gt = ctx.make<op::Greater>({unsq0(ctx, lengths), ctx.make<op::Unsqueeze>({t, ctx.i64({1})})});
    return ctx.make<op::ReduceSum>({to_type(ctx, gt, Type::i64), ctx.i64({1})}, false);
}

// The padded time-major tensor [T, B, *] and lengths [B] behind packed (data, batch_sizes).
std::pair<Output, Output> unpacked(NodeContext& ctx, const Output& data, const Output& batch_sizes) {
    if (auto* p = dynamic_cast<op::PackPadded*>(data.node.get())) return {p->input(0), p->input(1)};
    return {ctx.make<op::PadPacked>({data, batch_sizes}), lengths_of(ctx, batch_sizes)};
}

Outs recurrent(NodeContext& ctx, Mode m) {
    // input overload:  (input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first)
    // packed overload: (data, batch_sizes, hx, params, has_biases, num_layers, dropout, train, bidirectional)
    // The input overload has has_biases (a bool) at 3, the packed one its params list.
    ctx.check(ctx.num_inputs() == 9, "expected 9 arguments, got ", ctx.num_inputs());
    const bool packed = !(ctx.value(3).kind == TValue::Kind::constant && ctx.value(3).c.kind == ConstValue::Kind::boolean);
    const size_t o = packed ? 1 : 0;
    Layers a;
    a.mode = m;
    a.params = tensors(ctx, 2 + o);
    a.has_biases = ctx.const_bool(3 + o);
    a.num_layers = ctx.const_int(4 + o);
    ctx.check(!ctx.const_bool(6 + o) || ctx.const_float(5 + o) == 0.0,
              "dropout in training mode is not supported (call model.eval())");
    a.bidirectional = ctx.const_bool(7 + o);
    Output h0, c0;
    if (m == Mode::lstm) {
        auto hx = tensors(ctx, 1 + o);
        ctx.check(hx.size() == 2, "hx must be (h0, c0)");
        h0 = hx[0];
        c0 = hx[1];
    } else {
        h0 = ctx.input(1 + o);
    }
    Output x, lengths;
    if (packed) {
        auto [padded, lens] = unpacked(ctx, ctx.input(0), ctx.input(1));
        x = transpose(ctx, padded, {1, 0, 2});
        lengths = to_type(ctx, lens, Type::i64);
    } else {
        x = ctx.input(0);
        ctx.check(static_rank(ctx, x) == 3, "input must be 3-D, got ", x.shape().to_string());
        if (!ctx.const_bool(8)) x = transpose(ctx, x, {1, 0, 2});
        lengths = full_lengths(ctx, x);
    }
    LayerResult r = run_layers(ctx, a, x, lengths, h0, m == Mode::lstm ? &c0 : nullptr);
    Output y;
    if (packed) y = ctx.make<op::PackPadded>({transpose(ctx, r.y, {1, 0, 2}), lengths});
    else y = ctx.const_bool(8) ? r.y : transpose(ctx, r.y, {1, 0, 2});
    if (m == Mode::lstm) return {y, r.h, r.c};
    return {y, r.h};
}

Outs lstm(NodeContext& ctx) { return recurrent(ctx, Mode::lstm); }
Outs gru(NodeContext& ctx) { return recurrent(ctx, Mode::gru); }
Outs rnn_tanh(NodeContext& ctx) { return recurrent(ctx, Mode::rnn_tanh); }
Outs rnn_relu(NodeContext& ctx) { return recurrent(ctx, Mode::rnn_relu); }

// lstm_cell(input, hx [h, c], w_ih, w_hh, b_ih?, b_hh?) -> (h, c); the others (input, hx, w_ih,
// w_hh, b_ih?, b_hh?) -> h.
Outs cell(NodeContext& ctx, Mode m) {
    Output x = ctx.input(0);
    Output w_ih = ctx.input(2), w_hh = ctx.input(3);
    const int64_t H = static_dim(ctx, w_hh, 1, "the hidden weights");
    std::optional<Output> b_ih, b_hh;
    if (ctx.has_input(4)) b_ih = ctx.input(4);
    if (ctx.has_input(5)) b_hh = ctx.input(5);
    const Type t = x.type() == Type::dynamic ? Type::f32 : x.type();
    Output W = reorder(ctx, m, w_ih, H), R = reorder(ctx, m, w_hh, H);
    Output B;
    if (b_ih && b_hh) {
        B = bias_of(ctx, m, &*b_ih, &*b_hh, H, t);
    } else if (b_ih || b_hh) {
        Output zero = zeros(ctx, t, gates_of(m) * H);
        Output bi = b_ih ? *b_ih : zero, bh = b_hh ? *b_hh : zero;
        B = bias_of(ctx, m, &bi, &bh, H, t);
    } else {
        B = bias_of(ctx, m, nullptr, nullptr, H, t);
    }
    if (m == Mode::lstm) {
        auto hx = tensors(ctx, 1);
        ctx.check(hx.size() == 2, "hx must be (h, c)");
        auto n = ctx.make_node<op::LSTMCell>({x, hx[0], hx[1], W, R, B}, H);
        return {n->output(0), n->output(1)};
    }
    Output h = ctx.input(1);
    if (m == Mode::gru) return {ctx.make<op::GRUCell>({x, h, W, R, B}, H, true)};
    return {ctx.make<op::RNNCell>({x, h, W, R, B}, H, std::vector<std::string>{m == Mode::rnn_tanh ? "tanh" : "relu"})};
}

Outs lstm_cell(NodeContext& ctx) { return cell(ctx, Mode::lstm); }
Outs gru_cell(NodeContext& ctx) { return cell(ctx, Mode::gru); }
Outs rnn_tanh_cell(NodeContext& ctx) { return cell(ctx, Mode::rnn_tanh); }
Outs rnn_relu_cell(NodeContext& ctx) { return cell(ctx, Mode::rnn_relu); }

// _pack_padded_sequence(input, lengths, batch_first) -> (data, batch_sizes)
Outs pack_padded_sequence(NodeContext& ctx) {
    Output x = ctx.input(0);
    ctx.check(static_rank(ctx, x) >= 2, "input must be at least 2-D");
    if (ctx.const_bool(2)) {
        std::vector<int64_t> order{1, 0};
        for (int64_t k = 2; k < static_rank(ctx, x); ++k) order.push_back(k);
        x = transpose(ctx, x, order);
    }
    Output lengths = to_type(ctx, ctx.input(1), Type::i64);
    return {ctx.make<op::PackPadded>({x, lengths}), batch_sizes_of(ctx, lengths)};
}

// _pad_packed_sequence(data, batch_sizes, batch_first, padding_value, total_length) -> (padded, lengths)
Outs pad_packed_sequence(NodeContext& ctx) {
    auto [padded, lens] = unpacked(ctx, ctx.input(0), ctx.input(1));
    Output lengths = to_type(ctx, lens, Type::i64);
    const int64_t r = static_rank(ctx, padded);
    const Type t = padded.type();
    Output pad_value = to_type(ctx, ctx.input(3), t);
    // Positions past a sequence's length hold padding_value (the padded tensor behind a
    // PackPadded may hold anything there).
    Output steps = ctx.make<op::Range>({ctx.i64_scalar(0), dim_of(ctx, padded, 0), ctx.i64_scalar(1)}, Type::i64);
    Output live = ctx.make<op::Less>({ctx.make<op::Unsqueeze>({steps, ctx.i64({1})}), unsq0(ctx, lengths)});
    std::vector<int64_t> trailing;
    for (int64_t k = 2; k < r; ++k) trailing.push_back(k);
    if (!trailing.empty()) live = ctx.make<op::Unsqueeze>({live, ctx.i64(trailing)});
    Output y = ctx.make<op::Select>({live, padded, pad_value});
    // Output length: total_length (torch passes batch_sizes.size(0), the longest length, when the
    // user gives none); padded with padding_value when longer than the padded tensor.
    Output total = ctx.has_input(4) ? to_type(ctx, ctx.input(4), Type::i64)
                                    : ctx.make<op::ReduceMax>({lengths, ctx.i64({0})}, false);
    if (total.shape().rank_is_static() && total.shape().rank() == 1)
        total = ctx.make<op::Squeeze>({total, ctx.i64({0})});
    Output extra = ctx.make<op::Maximum>({ctx.make<op::Subtract>({total, dim_of(ctx, padded, 0)}), ctx.i64_scalar(0)});
    OutputVector ends{unsq0(ctx, extra)};
    if (r > 1) ends.push_back(ctx.i64(std::vector<int64_t>(static_cast<size_t>(r - 1), 0)));
    Output pe = ctx.make<op::Concat>(ends, int64_t{0});
    y = ctx.make<op::Pad>({y, ctx.i64(std::vector<int64_t>(static_cast<size_t>(r), 0)), pe, pad_value}, op::PadMode::constant);
    y = ctx.make<op::Slice>({y, ctx.i64({0}), unsq0(ctx, total), ctx.i64({1}), ctx.i64({0})});
    if (ctx.const_bool(2)) {
        std::vector<int64_t> order{1, 0};
        for (int64_t k = 2; k < r; ++k) order.push_back(k);
        y = transpose(ctx, y, order);
    }
    return {y, lengths};
}

}  // namespace

void add_recurrent_translators(TranslatorTable& t) {
    // What torch.nn.utils.rnn's packing code needs besides the recurrent ops and what the other
    // families already translate: `.cpu()`, `torch.as_tensor` and traced cells' unsafe_chunk.
    t["aten::cpu"] = identity;
    t["aten::unsafe_chunk"] = t.at("aten::chunk");
    t["aten::as_tensor"] = t.at("aten::tensor");

    t["aten::lstm"] = lstm;
    t["aten::gru"] = gru;
    t["aten::rnn_tanh"] = rnn_tanh;
    t["aten::rnn_relu"] = rnn_relu;
    t["aten::lstm_cell"] = lstm_cell;
    t["aten::gru_cell"] = gru_cell;
    t["aten::rnn_tanh_cell"] = rnn_tanh_cell;
    t["aten::rnn_relu_cell"] = rnn_relu_cell;
    t["aten::_pack_padded_sequence"] = pack_padded_sequence;
    t["aten::_pad_packed_sequence"] = pad_packed_sequence;
}

}  // namespace kiln::frontend::pytorch
