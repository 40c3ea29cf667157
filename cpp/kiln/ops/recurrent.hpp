// Recurrent ops (OpenVINO opset): LSTMSequence-5, GRUSequence-5, RNNSequence-5, LSTMCell-4,
// GRUCell-3, RNNCell (opset1), and kiln's PackPadded / PadPacked (torch's packed sequences).
//
// Sequences. Inputs (B batch, T time steps, I input size, H hidden_size, D directions: 2 for
// bidirectional, else 1; G gates: LSTM 4, GRU 3, RNN 1):
//   X [B, T, I], H0 [B, D, H], (LSTM: C0 [B, D, H]), sequence_lengths [B] (integer),
//   W [D, G*H, I], R [D, G*H, H], B [D, G*H] (GRU with linear_before_reset: [D, 4*H]).
// Outputs: Y [B, D, T, H], Ho [B, D, H], (LSTM: Co [B, D, H]).
// Sequence b runs over its first sequence_lengths[b] steps only (clamped to [0, T]): the forward
// direction from step 0, the reverse one from step len-1 down to 0 (each sequence reversed within
// its own length). Y is 0 past len; Ho/Co are the state after its last step (H0/C0 when len 0).
//
// Cells are one step of the same recurrence: X [B, I], H [B, H], (LSTM: C [B, H]), W [G*H, I],
// R [G*H, H], B [G*H] (or [4*H]); outputs Ho [B, H] (LSTM: and Co [B, H]).
//
// Gate order of W, R, B (OpenVINO's, not torch's):
//   LSTM f, i, c, o:  f = f1(Wf x + Rf h + Bf), i = f1(..), c~ = f2(..), o = f1(..)
//                     C' = f * C + i * c~,  H' = o * f3(C')
//   GRU  z, r, h:     z = f1(..), r = f1(..),
//                     h~ = f2(Wh x + Rh (r * h) + Bh)                  (linear_before_reset false)
//                     h~ = f2(Wh x + Bwh + r * (Rh h + Brh))           (true: B = [Bz, Br, Bwh, Brh])
//                     H' = (1 - z) * h~ + z * h
//   RNN               H' = f1(W x + R h + B)
// activations f1, f2, f3 (defaults: LSTM sigmoid, tanh, tanh; GRU sigmoid, tanh; RNN tanh), each
// one of sigmoid, tanh, relu. clip > 0 clamps every gate's pre-activation to [-clip, clip].
// Floating types; the reference kernel accumulates in f64.
#pragma once
#include <string>
#include <vector>

#include "kiln/core/node.hpp"

namespace kiln::op {

enum class RecurrentKind { lstm, gru, rnn };
enum class RecurrentDirection { forward, reverse, bidirectional };
enum class RecurrentActivation { sigmoid, tanh, relu };

// What the kernels need to know of one recurrent op (sequence or cell).
struct RecurrentSpec {
    RecurrentKind kind = RecurrentKind::lstm;
    int64_t hidden_size = 0;
    RecurrentDirection direction = RecurrentDirection::forward;
    bool linear_before_reset = false;
    double clip = 0;
    RecurrentActivation f1 = RecurrentActivation::sigmoid, f2 = RecurrentActivation::tanh,
                        f3 = RecurrentActivation::tanh;
    int64_t gates() const { return kind == RecurrentKind::lstm ? 4 : kind == RecurrentKind::gru ? 3 : 1; }
    int64_t directions() const { return direction == RecurrentDirection::bidirectional ? 2 : 1; }
};

// The attributes every recurrent op has (OpenVINO's RNNCellBase), visited once.
class RecurrentBase : public Node {
public:
    int64_t hidden_size = 0;
    std::vector<std::string> activations;  // set to the kind's defaults by every constructor
    std::vector<double> activations_alpha, activations_beta;
    double clip = 0;

    // The kind, the direction and linear_before_reset come from the concrete op.
    virtual RecurrentSpec spec() const = 0;
    virtual bool is_sequence() const = 0;

protected:
    // The specification's defaults: LSTM sigmoid, tanh, tanh; GRU sigmoid, tanh; RNN tanh. An op
    // holds them explicitly, so that a file states them (OpenVINO's reader needs the list).
    void default_activations(RecurrentKind kind);
    void visit_base(AttributeVisitor& v);
    RecurrentSpec base_spec(RecurrentKind kind) const;  // throws on a bad activation name
    void infer_recurrent(InferContext& ctx) const;
    void evaluate_recurrent(const std::vector<Tensor>& in, std::vector<Tensor>& out) const;
};

template <typename Derived>
class RecurrentOp : public RecurrentBase {
public:
    std::shared_ptr<Node> clone(const OutputVector& inputs) const override {
        auto n = std::make_shared<Derived>(static_cast<const Derived&>(*this));
        n->set_inputs(inputs);
        n->validate_and_infer();
        return n;
    }
    void infer(InferContext& ctx) const override { infer_recurrent(ctx); }
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override {
        evaluate_recurrent(in, out);
    }
};

class LSTMSequence : public RecurrentOp<LSTMSequence> {
public:
    LSTMSequence() { default_activations(RecurrentKind::lstm); }
    LSTMSequence(int64_t hidden, RecurrentDirection d) : direction(d) {
        hidden_size = hidden;
        default_activations(RecurrentKind::lstm);
    }
    const char* type_name() const override { return "LSTMSequence"; }
    const char* opset() const override { return "opset5"; }
    void visit_attributes(AttributeVisitor& v) override;
    RecurrentSpec spec() const override;
    bool is_sequence() const override { return true; }
    RecurrentDirection direction = RecurrentDirection::forward;
};

class GRUSequence : public RecurrentOp<GRUSequence> {
public:
    GRUSequence() { default_activations(RecurrentKind::gru); }
    GRUSequence(int64_t hidden, RecurrentDirection d, bool lbr) : direction(d), linear_before_reset(lbr) {
        hidden_size = hidden;
        default_activations(RecurrentKind::gru);
    }
    const char* type_name() const override { return "GRUSequence"; }
    const char* opset() const override { return "opset5"; }
    void visit_attributes(AttributeVisitor& v) override;
    RecurrentSpec spec() const override;
    bool is_sequence() const override { return true; }
    RecurrentDirection direction = RecurrentDirection::forward;
    bool linear_before_reset = false;
};

class RNNSequence : public RecurrentOp<RNNSequence> {
public:
    RNNSequence() { default_activations(RecurrentKind::rnn); }
    RNNSequence(int64_t hidden, RecurrentDirection d, std::vector<std::string> acts = {}) : direction(d) {
        hidden_size = hidden;
        activations = std::move(acts);
        default_activations(RecurrentKind::rnn);
    }
    const char* type_name() const override { return "RNNSequence"; }
    const char* opset() const override { return "opset5"; }
    void visit_attributes(AttributeVisitor& v) override;
    RecurrentSpec spec() const override;
    bool is_sequence() const override { return true; }
    RecurrentDirection direction = RecurrentDirection::forward;
};

class LSTMCell : public RecurrentOp<LSTMCell> {
public:
    LSTMCell() { default_activations(RecurrentKind::lstm); }
    explicit LSTMCell(int64_t hidden) {
        hidden_size = hidden;
        default_activations(RecurrentKind::lstm);
    }
    const char* type_name() const override { return "LSTMCell"; }
    const char* opset() const override { return "opset4"; }
    void visit_attributes(AttributeVisitor& v) override { visit_base(v); }
    RecurrentSpec spec() const override { return base_spec(RecurrentKind::lstm); }
    bool is_sequence() const override { return false; }
};

class GRUCell : public RecurrentOp<GRUCell> {
public:
    GRUCell() { default_activations(RecurrentKind::gru); }
    GRUCell(int64_t hidden, bool lbr) : linear_before_reset(lbr) {
        hidden_size = hidden;
        default_activations(RecurrentKind::gru);
    }
    const char* type_name() const override { return "GRUCell"; }
    const char* opset() const override { return "opset3"; }
    void visit_attributes(AttributeVisitor& v) override;
    RecurrentSpec spec() const override;
    bool is_sequence() const override { return false; }
    bool linear_before_reset = false;
};

class RNNCell : public RecurrentOp<RNNCell> {
public:
    RNNCell() { default_activations(RecurrentKind::rnn); }
    RNNCell(int64_t hidden, std::vector<std::string> acts = {}) {
        hidden_size = hidden;
        activations = std::move(acts);
        default_activations(RecurrentKind::rnn);
    }
    const char* type_name() const override { return "RNNCell"; }
    const char* opset() const override { return "opset1"; }
    void visit_attributes(AttributeVisitor& v) override { visit_base(v); }
    RecurrentSpec spec() const override { return base_spec(RecurrentKind::rnn); }
    bool is_sequence() const override { return false; }
};

// The recurrence on plain f32 or f64 memory, the semantics above in one place: the reference
// kernel. x [B, T, I], h0/c0 [B, D, H] (c0 LSTM only), lens [B] (already clamped to [0, T]),
// w [D, G*H, I], r [D, G*H, H], b [D, G*H or 4*H]; y [B, D, T, H] (may be null), ho, co [B, D, H].
template <typename T>
void recurrent_reference(const RecurrentSpec& s, int64_t B, int64_t Tn, int64_t I, const T* x, const T* h0,
                         const T* c0, const int64_t* lens, const T* w, const T* r, const T* b, T* y, T* ho, T* co);

// PackPadded (kiln-internal; the opset has no packed sequences): torch's
// _pack_padded_sequence. Inputs: padded [T, B, *] (time-major), lengths [B] (integer, sorted in
// decreasing order, each in [1, T]). Output: data [sum(lengths), *], the rows of time step 0
// of every sequence, then of step 1 of the sequences still running, and so on (torch's
// PackedSequence.data). Its length is known only from the lengths' values.
class PackPadded : public Op<PackPadded> {
public:
    const char* type_name() const override { return "PackPadded"; }
    const char* opset() const override { return "kiln"; }
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;
};

// PadPacked (kiln-internal): the inverse. Inputs: data [N, *], batch_sizes [T] (integer,
// non-increasing, summing to N). Output: padded [T, batch_sizes[0], *], zeros past each
// sequence's length.
class PadPacked : public Op<PadPacked> {
public:
    const char* type_name() const override { return "PadPacked"; }
    const char* opset() const override { return "kiln"; }
    void infer(InferContext& ctx) const override;
    void evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override;
};

}  // namespace kiln::op
