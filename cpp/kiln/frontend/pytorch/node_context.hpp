// What a translator sees of one torch node: its inputs as kiln outputs or constants, and a
// factory that names new kiln nodes after the torch node and tags them with its source line.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kiln/core/model.hpp"
#include "kiln/frontend/pytorch/graph_desc.hpp"

namespace kiln::frontend::pytorch {

// The items of a list are the pieces of one tensor along an axis (split, chunk, unbind, or the
// items a loop appends): `piece` is their length along axis (an i64 scalar; the last may be
// shorter), or unset for single slices with the axis removed (unbind).
struct Pieces {
    Output data;
    int64_t axis = 0;
    Output piece;
    bool unbound() const { return piece.node == nullptr; }
};

// A torch value during translation: a kiln tensor, a constant, a list/tuple of values, or a list
// whose length is known only at run time (runtime_list: no items, only its `pieces`; ListUnpack,
// __getitem__, len, cat and stack resolve it).
struct TValue {
    enum class Kind { tensor, constant, list, runtime_list };
    Kind kind = Kind::constant;
    Output out;
    ConstValue c;
    std::vector<TValue> items;
    bool scalar = false;  // a torch int/float/bool computed at run time (a 0-d tensor here)
    bool complex = false;  // a torch complex tensor: `out` holds (real, imag) pairs in a trailing dim of 2
    std::vector<std::string> keys;  // a dict (prim::DictConstruct): the key of each item
    std::shared_ptr<const Pieces> pieces;  // runtime_list always; a list when known (run-time indexing)

    TValue() = default;
    TValue(Output o) : kind(Kind::tensor), out(std::move(o)) {}
    TValue(ConstValue v) : kind(Kind::constant), c(std::move(v)) {}
    static TValue list(std::vector<TValue> items) {
        TValue t;
        t.kind = Kind::list;
        t.items = std::move(items);
        return t;
    }
    static TValue dict(std::vector<std::string> keys, std::vector<TValue> items) {
        TValue t = list(std::move(items));
        t.keys = std::move(keys);
        return t;
    }
    bool is_dict() const { return kind == Kind::list && !keys.empty(); }
    static TValue runtime_list(Pieces p) {
        TValue t;
        t.kind = Kind::runtime_list;
        t.pieces = std::make_shared<const Pieces>(std::move(p));
        return t;
    }
    bool is_none() const { return kind == Kind::constant && c.kind == ConstValue::Kind::none; }
    // A constant, or a list whose items are all constants.
    bool is_const() const;
    ConstValue as_const() const;  // for is_const() values
};

class Translation;  // the translation of one graph (translate.cpp)

class NodeContext {
public:
    NodeContext(Translation& t, const NodeDesc& node);

    const std::string& kind() const { return node_.kind; }
    const NodeDesc& desc() const { return node_; }
    size_t num_inputs() const { return node_.inputs.size(); }
    const TValue& value(size_t i) const;
    bool has_input(size_t i) const { return i < num_inputs() && !value(i).is_none(); }
    bool is_none(size_t i) const { return value(i).is_none(); }
    // Rebinds the torch value behind input i (list mutation: aten::append).
    void set_input_value(size_t i, TValue v);
    bool is_const(size_t i) const { return value(i).is_const(); }

    // Input i as a tensor. Constants become Constant nodes: int -> i64 scalar, float -> f32
    // scalar, bool -> boolean scalar, int list -> i64 1-D; a list mixing tensors and ints
    // becomes a 1-D i64 tensor (Concat of the items) — the usual form of a shape argument.
    Output input(size_t i);
    // Any value as a tensor, by the same rules as input().
    Output tensor_of(const TValue& v);
    int64_t const_int(size_t i) const;
    double const_float(size_t i) const;  // accepts int too
    bool const_bool(size_t i) const;
    std::string const_str(size_t i) const;
    std::vector<int64_t> const_ints(size_t i) const;  // int list; a single int gives {v}
    // The items of a list/tuple input (e.g. the tensors of aten::cat).
    std::vector<TValue> list(size_t i) const;
    OutputVector tensor_list(size_t i);
    // True when input i is a torch scalar (int/float/bool, not a tensor): used for promotion.
    bool is_scalar(size_t i) const;
    const std::string& output_type(size_t i) const;

    // Creates a kiln node named after the torch node, with its source line.
    template <typename T, typename... A>
    Output make(const OutputVector& inputs, A&&... attrs) {
        auto n = std::make_shared<T>(std::forward<A>(attrs)...);
        n->set_inputs(inputs);
        tag(*n);
        n->validate_and_infer();
        return fold_small(n);
    }
    template <typename T, typename... A>
    std::shared_ptr<T> make_node(const OutputVector& inputs, A&&... attrs) {
        auto n = std::make_shared<T>(std::forward<A>(attrs)...);
        n->set_inputs(inputs);
        tag(*n);
        n->validate_and_infer();
        return n;
    }
    Output constant(Tensor t);
    template <typename T>
    Output constant(const std::vector<T>& v, Shape s) { return constant(Tensor::from_vector(v, std::move(s))); }
    Output i64(const std::vector<int64_t>& v) { return constant(v, {static_cast<int64_t>(v.size())}); }
    Output i64_scalar(int64_t v) { return constant(std::vector<int64_t>{v}, {}); }

    // Translates a nested block (prim::If branch) inline; returns its outputs.
    std::vector<TValue> translate_block(const BlockDesc& b, const std::vector<TValue>& inputs);
    // Translates both branches of an `if` on a run-time condition; each output, and each outer
    // value a branch rebinds (list mutation), becomes a Choose between the branches' values.
    std::vector<TValue> translate_if(const Output& cond, const BlockDesc& then_b, const BlockDesc& else_b);
    // control_flow.cpp: an `if` on tensor data becomes an If whose bodies are the branches; the
    // outer values they read become body parameters, the values they rebind extra outputs.
    std::vector<TValue> translate_data_if(const Output& cond, const BlockDesc& then_b, const BlockDesc& else_b);
    // control_flow.cpp: a loop whose trip count or condition is known only at run time becomes a
    // Loop (carried values as back edges; outer values the body changes are carried too; a list
    // the body only appends to becomes a concatenated output).
    std::vector<TValue> translate_loop(const TValue& trip_count, const TValue& condition,
                                       const std::vector<TValue>& carried, const BlockDesc& body);

    // Throws ConversionError with the node kind and source line.
    template <typename... A>
    [[noreturn]] void fail(const A&... a) const {
        throw ConversionError(str_cat(node_.kind, ": ", a...));
    }
    template <typename... A>
    void check(bool cond, const A&... a) const {
        if (!cond) fail(a...);
    }

    // Every torch value bound so far, and putting them back (a speculative unroll that stops).
    std::map<int64_t, TValue> values_snapshot() const;
    void restore_values(std::map<int64_t, TValue> values);

    // Names the node after the torch node and gives it its source line (for nodes made by hand).
    void tag(Node& n);

private:
    // Shape arithmetic on constants is computed at once, so that later translators can read
    // its values as constants (e.g. a view size computed from x.size(1) // 2).
    Output fold_small(const std::shared_ptr<Node>& n);

    Translation& t_;
    const NodeDesc& node_;
    int made_ = 0;
};

// Whether an `if` condition depends on tensor data (control_flow.cpp): real If, or Choose.
bool depends_on_data(const Output& cond);

using Translator = std::vector<TValue> (*)(NodeContext& ctx);

// The op table: torch node kind -> translator. nullptr when kiln has none.
Translator find_translator(const std::string& kind);

// Translates a whole graph; throws ConversionError listing every unsupported op kind with
// its source lines, or the first translation error.
std::shared_ptr<Model> translate_graph(const GraphDesc& g);

}  // namespace kiln::frontend::pytorch
