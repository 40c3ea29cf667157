#include "kiln/ops/control_flow.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>

#include "kiln/core/interpreter.hpp"
#include "kiln/ops/infer_util.hpp"

namespace kiln::op {

// ---------------------------------------------------------------------------------------------
// Choose

void Choose::infer(InferContext& ctx) const {
    ctx.check_inputs(3);
    auto ct = ctx.input_type(0);
    ctx.check(ct == Type::boolean || ct == Type::dynamic, "condition: expected boolean, got ", kiln::type_name(ct));
    auto& cs = ctx.input_shape(0);
    if (cs.is_static())
        ctx.check(shape_size(cs.to_shape()) == 1, "condition: expected one value, got shape ", cs.to_string());
    Type a = ctx.input_type(1), b = ctx.input_type(2);
    ctx.check(a == b || a == Type::dynamic || b == Type::dynamic, "branches: element types ", kiln::type_name(a), " and ",
              kiln::type_name(b), " differ");
    Type t = a == Type::dynamic ? b : a;
    if (auto c = ctx.input_value(0)) {
        size_t pick = c->as_i64_vector().at(0) != 0 ? 1 : 2;
        ctx.set_output(0, t, ctx.input_shape(pick));
        return;
    }
    auto& sa = ctx.input_shape(1);
    auto& sb = ctx.input_shape(2);
    if (sa == sb) {
        ctx.set_output(0, t, sa);
    } else if (sa.rank_is_static() && sb.rank_is_static() && sa.rank() == sb.rank()) {
        // Per dimension: what both branches agree on stays, the rest becomes dynamic.
        std::vector<Dimension> dims;
        for (size_t i = 0; i < sa.size(); ++i) dims.push_back(sa[i] == sb[i] ? sa[i] : Dimension());
        ctx.set_output(0, t, PartialShape(dims));
    } else {
        ctx.set_output(0, t, PartialShape());
    }
}

void Choose::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    const Tensor& pick = in[0].as_i64_vector().at(0) != 0 ? in[1] : in[2];
    if (!allocated(out[0])) {
        out[0] = pick.copy();
        return;
    }
    KILN_CHECK(pick.shape() == out[0].shape(), "[Choose ", name(), "] the chosen branch has shape ",
               to_string(pick.shape()), ", the plan expected ", to_string(out[0].shape()));
    std::memcpy(out[0].data(), pick.data(), pick.byte_size());
}

// ---------------------------------------------------------------------------------------------
// Shared by If and Loop

namespace {

// The shape that holds both: equal dims stay, differing ones become dynamic, differing ranks
// give a dynamic rank.
PartialShape widen(const PartialShape& a, const PartialShape& b) {
    if (a == b) return a;
    if (a.rank_is_dynamic() || b.rank_is_dynamic() || a.rank() != b.rank()) return PartialShape();
    std::vector<Dimension> dims;
    for (size_t i = 0; i < a.size(); ++i) dims.push_back(a[i] == b[i] ? a[i] : Dimension());
    return PartialShape(dims);
}

bool dim_contains(const Dimension& outer, const Dimension& inner) {
    if (inner.get_min_length() < outer.get_min_length()) return false;
    if (outer.get_max_length() < 0) return true;
    return inner.get_max_length() >= 0 && inner.get_max_length() <= outer.get_max_length();
}

// Every shape `inner` allows, `outer` allows too.
bool contains(const PartialShape& outer, const PartialShape& inner) {
    if (outer.rank_is_dynamic()) return true;
    if (inner.rank_is_dynamic() || inner.rank() != outer.rank()) return false;
    for (size_t i = 0; i < outer.size(); ++i)
        if (!dim_contains(outer[i], inner[i])) return false;
    return true;
}

// Ports are int lists in visit_attributes: each description flattened field by field.
template <typename D, size_t N>
void visit_ports(AttributeVisitor& v, const char* name, std::vector<D>& list, const std::array<int64_t D::*, N>& fields) {
    std::vector<int64_t> flat;
    for (auto& d : list)
        for (auto f : fields) flat.push_back(d.*f);
    v.on(name, flat);
    if (flat.size() % N != 0)
        throw ValueError(str_cat("attribute '", name, "' has ", flat.size(), " values, expected a multiple of ", N));
    list.assign(flat.size() / N, D{});
    for (size_t i = 0; i < list.size(); ++i)
        for (size_t j = 0; j < N; ++j) list[i].*fields[j] = flat[i * N + j];
}

std::optional<int64_t> first_value(const Tensor* t) {
    if (!t || t->size() < 1) return std::nullopt;
    return t->as_i64_vector()[0];
}

bool truth(const Tensor& t, const std::string& what) {
    KILN_CHECK(t.size() == 1, what, " must have one element, got shape ", to_string(t.shape()));
    return t.as_i64_vector()[0] != 0;
}

void check_one_element(const InferContext& ctx, size_t i, const char* what) {
    auto& s = ctx.input_shape(i);
    if (s.rank_is_static())
        KILN_INFER_CHECK(ctx, s.rank() == 0 || (s.rank() == 1 && s[0].compatible(1)), what,
                         " must be a scalar or have one element, got shape ", s.to_string());
}

// The body specialized to these parameter descriptions; a body that rejects them fails the op.
std::shared_ptr<Model> specialized(const InferContext& ctx, const Model& body, const char* what,
                                   const std::vector<TensorDesc>& params, const std::vector<const Tensor*>& values) {
    try {
        return specialize(body, params, values);
    } catch (const Error& e) {
        ctx.fail(what, ": ", e.what());
    }
}

std::vector<TensorDesc> result_descs(const Model& m) {
    std::vector<TensorDesc> r;
    for (auto& res : m.results()) r.push_back(res->output_desc(0));
    return r;
}

// Runs a body with the reference interpreter; what it hands over is fresh memory (the
// interpreter's results may share an input's or a constant's).
void interpret(const Model& body, const std::vector<Tensor>& in, std::vector<Tensor>& out) {
    auto r = evaluate_model(body, in);
    for (size_t i = 0; i < out.size(); ++i)
        deliver(out[i], allocated(out[i]) ? r[i] : r[i].copy(), str_cat("body result ", i));
}

}  // namespace

void concat_along(const std::vector<Tensor>& parts, int64_t axis, Tensor& out) {
    size_t a = static_cast<size_t>(axis);
    const Shape& os = out.shape();
    int64_t outer = 1, inner = 1;
    for (size_t i = 0; i < a; ++i) outer *= os[i];
    for (size_t i = a + 1; i < os.size(); ++i) inner *= os[i];
    size_t es = type_size(out.type());
    auto dst = static_cast<char*>(out.data());
    int64_t total = os[a], offset = 0;
    for (auto& p : parts) {
        int64_t len = p.shape()[a];
        size_t row = static_cast<size_t>(len * inner) * es;
        auto src = static_cast<const char*>(p.data());
        for (int64_t o = 0; o < outer; ++o)
            if (row) std::memcpy(dst + (static_cast<size_t>(o * total + offset) * inner) * es, src + o * row, row);
        offset += len;
    }
}

// ---------------------------------------------------------------------------------------------
// If

If::If(const If& o)
    : Op<If>(o),
      then_body(o.then_body ? o.then_body->clone() : nullptr),
      else_body(o.else_body ? o.else_body->clone() : nullptr),
      then_inputs(o.then_inputs),
      else_inputs(o.else_inputs),
      then_outputs(o.then_outputs),
      else_outputs(o.else_outputs) {}

void If::visit_attributes(AttributeVisitor& v) {
    v.on_body("then_body", then_body);
    v.on_body("else_body", else_body);
    using I = InvariantInputDescription;
    using O = BodyOutputDescription;
    visit_ports<I, 2>(v, "then_inputs", then_inputs, {&I::input_index, &I::body_parameter_index});
    visit_ports<I, 2>(v, "else_inputs", else_inputs, {&I::input_index, &I::body_parameter_index});
    visit_ports<O, 2>(v, "then_outputs", then_outputs, {&O::body_value_index, &O::output_index});
    visit_ports<O, 2>(v, "else_outputs", else_outputs, {&O::body_value_index, &O::output_index});
}

size_t If::num_described_outputs() const {
    int64_t n = 0;
    for (auto* list : {&then_outputs, &else_outputs})
        for (auto& d : *list) n = std::max(n, d.output_index + 1);
    return static_cast<size_t>(n);
}

void If::infer(InferContext& ctx) const {
    KILN_INFER_CHECK(ctx, ctx.num_inputs() >= 1, "expected the condition as input 0, got no inputs");
    Type ct = ctx.input_type(0);
    KILN_INFER_CHECK(ctx, ct == Type::boolean || ct == Type::dynamic, "condition: expected boolean, got ",
                     kiln::type_name(ct));
    check_one_element(ctx, 0, "condition");
    KILN_INFER_CHECK(ctx, then_body && else_body, "needs both a then_body and an else_body");
    size_t n_out = num_described_outputs();
    KILN_INFER_CHECK(ctx, n_out > 0, "has no outputs (the specification asks for at least one)");
    std::optional<bool> cond;
    if (auto c = first_value(ctx.input_value(0))) cond = *c != 0;

    std::array<std::vector<TensorDesc>, 2> outs;
    for (size_t b = 0; b < 2; ++b) {
        const Model& body = b ? *else_body : *then_body;
        const char* what = b ? "else_body" : "then_body";
        auto& params = body.parameters();
        size_t n_res = body.results().size();
        std::vector<TensorDesc> descs(params.size());
        std::vector<const Tensor*> values(params.size(), nullptr);
        std::vector<bool> fed(params.size(), false);
        for (auto& d : inputs_of(b)) {
            KILN_INFER_CHECK(ctx, d.input_index >= 1 && d.input_index < static_cast<int64_t>(ctx.num_inputs()), what,
                             ": input_index ", d.input_index, " is not one of the inputs 1..", ctx.num_inputs() - 1);
            KILN_INFER_CHECK(ctx, d.body_parameter_index >= 0 && d.body_parameter_index < static_cast<int64_t>(params.size()),
                             what, ": body_parameter_index ", d.body_parameter_index, " is out of range (the body has ",
                             params.size(), " parameters)");
            size_t p = static_cast<size_t>(d.body_parameter_index), i = static_cast<size_t>(d.input_index);
            KILN_INFER_CHECK(ctx, !fed[p], what, ": parameter ", p, " is fed by two inputs");
            fed[p] = true;
            Type declared = params[p]->element_type, given = ctx.input_type(i);
            KILN_INFER_CHECK(ctx, declared == Type::dynamic || given == Type::dynamic || declared == given, what,
                             ": input ", i, " is ", kiln::type_name(given), " but feeds parameter ", p, " of type ",
                             kiln::type_name(declared));
            descs[p] = TensorDesc{given, ctx.input_shape(i)};
            values[p] = ctx.input_value(i);
        }
        for (size_t p = 0; p < params.size(); ++p)
            KILN_INFER_CHECK(ctx, fed[p], what, ": parameter ", p, " (", params[p]->name(), ") is fed by no input");
        std::vector<bool> given(n_out, false);
        for (auto& d : outputs_of(b)) {
            KILN_INFER_CHECK(ctx, d.body_value_index >= 0 && d.body_value_index < static_cast<int64_t>(n_res), what,
                             ": body_value_index ", d.body_value_index, " is out of range (the body has ", n_res,
                             " results)");
            KILN_INFER_CHECK(ctx, d.output_index >= 0, what, ": negative output_index ", d.output_index);
            KILN_INFER_CHECK(ctx, !given[static_cast<size_t>(d.output_index)], what, ": output ", d.output_index,
                             " is described twice");
            given[static_cast<size_t>(d.output_index)] = true;
        }
        for (size_t k = 0; k < n_out; ++k)
            KILN_INFER_CHECK(ctx, given[k], what, " gives no value for output ", k);
        // A known condition runs one body only: the other one's shapes do not matter.
        if (cond && *cond != (b == 0)) continue;
        auto res = result_descs(*specialized(ctx, body, what, descs, values));
        outs[b].resize(n_out);
        for (auto& d : outputs_of(b))
            outs[b][static_cast<size_t>(d.output_index)] = res[static_cast<size_t>(d.body_value_index)];
    }
    for (size_t k = 0; k < n_out; ++k) {
        if (cond) {
            auto& d = outs[*cond ? 0 : 1][k];
            ctx.set_output(k, d.type, d.shape);
            continue;
        }
        auto& a = outs[0][k];
        auto& b = outs[1][k];
        KILN_INFER_CHECK(ctx, a.type == b.type || a.type == Type::dynamic || b.type == Type::dynamic, "output ", k,
                         ": then_body gives ", kiln::type_name(a.type), ", else_body gives ", kiln::type_name(b.type));
        ctx.set_output(k, a.type == Type::dynamic ? b.type : a.type, widen(a.shape, b.shape));
    }
}

void If::execute(const std::vector<Tensor>& in, std::vector<Tensor>& out, const BodyRunner& run) const {
    size_t b = truth(in.at(0), str_cat("[If ", name(), "] condition")) ? 0 : 1;
    const Model& body = b ? *else_body : *then_body;
    std::vector<Tensor> body_in(body.parameters().size());
    for (auto& d : inputs_of(b)) body_in[static_cast<size_t>(d.body_parameter_index)] = in.at(static_cast<size_t>(d.input_index));
    // Outputs that arrive allocated are the body's results' memory: the body writes them in place.
    std::vector<Tensor> res(body.results().size());
    for (auto& d : outputs_of(b)) {
        auto& r = res[static_cast<size_t>(d.body_value_index)];
        if (!allocated(r) && allocated(out[static_cast<size_t>(d.output_index)])) r = out[static_cast<size_t>(d.output_index)];
    }
    run(b, body_in, res);
    std::vector<bool> handed(res.size(), false);
    for (auto& d : outputs_of(b)) {
        auto& o = out[static_cast<size_t>(d.output_index)];
        auto v = static_cast<size_t>(d.body_value_index);
        if (allocated(o) && o.data() == res[v].data()) continue;  // written in place
        // One result feeding two outputs: the second gets its own copy.
        deliver(o, handed[v] ? res[v].copy() : res[v], str_cat("[If ", name(), "] output ", d.output_index));
        handed[v] = true;
    }
}

void If::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    execute(in, out, [this](size_t b, const std::vector<Tensor>& bi, std::vector<Tensor>& bo) {
        interpret(b ? *else_body : *then_body, bi, bo);
    });
}

// ---------------------------------------------------------------------------------------------
// Loop

Loop::Loop(const Loop& o)
    : Op<Loop>(o),
      body(o.body ? o.body->clone() : nullptr),
      special_body_ports(o.special_body_ports),
      invariant_inputs(o.invariant_inputs),
      merged_inputs(o.merged_inputs),
      body_outputs(o.body_outputs),
      concat_outputs(o.concat_outputs) {}

void Loop::visit_attributes(AttributeVisitor& v) {
    v.on_body("body", body);
    v.on("special_body_ports.current_iteration_input_idx", special_body_ports.current_iteration_input_idx);
    v.on("special_body_ports.body_condition_output_idx", special_body_ports.body_condition_output_idx);
    using I = InvariantInputDescription;
    using M = MergedInputDescription;
    using B = BodyOutputDescription;
    using C = ConcatOutputDescription;
    visit_ports<I, 2>(v, "invariant_inputs", invariant_inputs, {&I::input_index, &I::body_parameter_index});
    visit_ports<M, 3>(v, "merged_inputs", merged_inputs,
                      {&M::input_index, &M::body_parameter_index, &M::body_value_index});
    visit_ports<B, 3>(v, "body_outputs", body_outputs, {&B::body_value_index, &B::output_index, &B::iteration});
    visit_ports<C, 7>(v, "concat_outputs", concat_outputs,
                      {&C::body_value_index, &C::output_index, &C::start, &C::stride, &C::part_size, &C::end, &C::axis});
}

size_t Loop::num_described_outputs() const {
    int64_t n = 0;
    for (auto& d : body_outputs) n = std::max(n, d.output_index + 1);
    for (auto& d : concat_outputs) n = std::max(n, d.output_index + 1);
    return static_cast<size_t>(n);
}

void Loop::infer(InferContext& ctx) const {
    KILN_INFER_CHECK(ctx, ctx.num_inputs() >= 2, "expected trip_count and execution_condition as inputs 0 and 1, got ",
                     ctx.num_inputs(), " inputs");
    check_integral(ctx, 0, "trip_count");
    check_one_element(ctx, 0, "trip_count");
    Type ct = ctx.input_type(1);
    KILN_INFER_CHECK(ctx, ct == Type::boolean || ct == Type::dynamic, "execution_condition: expected boolean, got ",
                     kiln::type_name(ct));
    check_one_element(ctx, 1, "execution_condition");
    KILN_INFER_CHECK(ctx, body != nullptr, "has no body");
    auto& params = body->parameters();
    size_t n_res = body->results().size(), n_in = ctx.num_inputs(), n_out = num_described_outputs();
    auto in_range = [](int64_t i, size_t n) { return i >= 0 && i < static_cast<int64_t>(n); };

    // Descriptions: every parameter fed exactly once (the iteration number counts), every output once.
    int64_t iter = special_body_ports.current_iteration_input_idx;
    int64_t cond_idx = special_body_ports.body_condition_output_idx;
    KILN_INFER_CHECK(ctx, iter == -1 || in_range(iter, params.size()), "current_iteration_input_idx ", iter,
                     " is out of range (the body has ", params.size(), " parameters)");
    KILN_INFER_CHECK(ctx, in_range(cond_idx, n_res), "body_condition_output_idx ", cond_idx,
                     " must name a body result (the body has ", n_res, ")");
    std::vector<TensorDesc> descs(params.size());
    std::vector<const Tensor*> values(params.size(), nullptr);
    std::vector<bool> fed(params.size(), false);
    auto feed = [&](int64_t input, int64_t p, const char* kind) {
        KILN_INFER_CHECK(ctx, input >= 2 && input < static_cast<int64_t>(n_in), kind, " input_index ", input,
                         " is not one of the inputs 2..", n_in - 1);
        KILN_INFER_CHECK(ctx, in_range(p, params.size()), kind, " body_parameter_index ", p,
                         " is out of range (the body has ", params.size(), " parameters)");
        KILN_INFER_CHECK(ctx, !fed[static_cast<size_t>(p)], "body parameter ", p, " is fed twice");
        fed[static_cast<size_t>(p)] = true;
        Type declared = params[static_cast<size_t>(p)]->element_type, given = ctx.input_type(static_cast<size_t>(input));
        KILN_INFER_CHECK(ctx, declared == Type::dynamic || given == Type::dynamic || declared == given, "input ", input,
                         " is ", kiln::type_name(given), " but feeds body parameter ", p, " of type ",
                         kiln::type_name(declared));
        descs[static_cast<size_t>(p)] = TensorDesc{given, ctx.input_shape(static_cast<size_t>(input))};
    };
    for (auto& d : invariant_inputs) {
        feed(d.input_index, d.body_parameter_index, "invariant");
        values[static_cast<size_t>(d.body_parameter_index)] = ctx.input_value(static_cast<size_t>(d.input_index));
    }
    for (auto& d : merged_inputs) {
        feed(d.input_index, d.body_parameter_index, "merged");
        KILN_INFER_CHECK(ctx, in_range(d.body_value_index, n_res), "back edge from body result ", d.body_value_index,
                         ": out of range (the body has ", n_res, " results)");
    }
    if (iter >= 0) {
        KILN_INFER_CHECK(ctx, !fed[static_cast<size_t>(iter)], "the current_iteration parameter ", iter,
                         " is also fed by an input");
        fed[static_cast<size_t>(iter)] = true;
        auto& p = *params[static_cast<size_t>(iter)];
        KILN_INFER_CHECK(ctx, p.element_type == Type::i64 || p.element_type == Type::i32,
                         "the current_iteration parameter must be i64 or i32, got ", kiln::type_name(p.element_type));
        descs[static_cast<size_t>(iter)] = TensorDesc{p.element_type, p.shape};
    }
    for (size_t p = 0; p < params.size(); ++p)
        KILN_INFER_CHECK(ctx, fed[p], "body parameter ", p, " (", params[p]->name(), ") is fed by no input");
    std::vector<bool> given(n_out, false);
    auto give = [&](int64_t v, int64_t o) {
        KILN_INFER_CHECK(ctx, in_range(v, n_res), "body_value_index ", v, " is out of range (the body has ", n_res,
                         " results)");
        KILN_INFER_CHECK(ctx, o >= 0 && !given[static_cast<size_t>(o)], "output ", o, " is described twice");
        given[static_cast<size_t>(o)] = true;
    };
    for (auto& d : body_outputs) {
        give(d.body_value_index, d.output_index);
        KILN_INFER_CHECK(ctx, d.iteration == -1, "output ", d.output_index, ": iteration ", d.iteration,
                         " is not supported (only -1, the last iteration)");
    }
    for (auto& d : concat_outputs) {
        give(d.body_value_index, d.output_index);
        KILN_INFER_CHECK(ctx, d.start == 0 && d.end == -1 && (d.stride == 1 || d.stride == -1),
                         "concatenated output ", d.output_index, ": start ", d.start, ", end ", d.end, ", stride ",
                         d.stride, " are not supported (only start 0, end -1, stride 1 or -1)");
    }
    for (size_t k = 0; k < n_out; ++k) KILN_INFER_CHECK(ctx, given[k], "output ", k, " is not described");

    // The carried values' shapes: start from the initial values, and widen a parameter whenever
    // the body gives its back edge a shape it does not hold (a value that grows each iteration),
    // until the body maps the parameters' shapes into themselves. Each round makes at least one
    // dimension dynamic (or a rank), so this ends.
    std::vector<TensorDesc> res;
    std::shared_ptr<Model> spec;
    for (int round = 0;; ++round) {
        KILN_INFER_CHECK(ctx, round < 64, "the carried values' shapes do not settle");
        spec = specialized(ctx, *body, "body", descs, values);
        res = result_descs(*spec);
        bool changed = false;
        for (auto& d : merged_inputs) {
            auto& p = descs[static_cast<size_t>(d.body_parameter_index)];
            auto& r = res[static_cast<size_t>(d.body_value_index)];
            KILN_INFER_CHECK(ctx, r.type == p.type || r.type == Type::dynamic || p.type == Type::dynamic,
                             "back edge from body result ", d.body_value_index, " (", kiln::type_name(r.type),
                             ") to body parameter ", d.body_parameter_index, " (", kiln::type_name(p.type),
                             "): element types differ");
            if (!contains(p.shape, r.shape)) {
                p.shape = widen(p.shape, r.shape);
                changed = true;
            }
        }
        if (!changed) break;
    }
    Type rt = res[static_cast<size_t>(cond_idx)].type;
    KILN_INFER_CHECK(ctx, rt == Type::boolean || rt == Type::dynamic, "the body condition (result ", cond_idx,
                     ") must be boolean, got ", kiln::type_name(rt));

    for (auto& d : body_outputs) {
        TensorDesc o = res[static_cast<size_t>(d.body_value_index)];
        // A carried value may also be its initial value (zero iterations): its parameter's shape
        // holds both.
        for (auto& m : merged_inputs)
            if (m.body_value_index == d.body_value_index) o.shape = descs[static_cast<size_t>(m.body_parameter_index)].shape;
        ctx.set_output(static_cast<size_t>(d.output_index), o.type, o.shape);
    }
    // The number of iterations, when it is known before running: a known trip count, a known
    // execution condition, and a body condition that folds to a constant.
    std::optional<int64_t> count;
    auto trips = first_value(ctx.input_value(0));
    auto exec = first_value(ctx.input_value(1));
    if (exec && *exec == 0) {
        count = 0;
    } else if (trips && exec) {
        // The condition result's value, when the body computes it from constants only.
        auto spec_cond = first_value(spec->results()[static_cast<size_t>(cond_idx)]->input(0).node->constant_value());
        if (spec_cond && *spec_cond != 0 && *trips >= 0) count = *trips;
        else if (spec_cond && *spec_cond == 0) count = std::min<int64_t>(std::max<int64_t>(*trips, 0), 1);
    }
    for (auto& d : concat_outputs) {
        auto& r = res[static_cast<size_t>(d.body_value_index)];
        KILN_INFER_CHECK(ctx, r.shape.rank_is_static(), "concatenated output ", d.output_index,
                         ": the body result ", d.body_value_index, " needs a known rank, got ", r.shape.to_string());
        int64_t rank = r.shape.rank();
        KILN_INFER_CHECK(ctx, d.axis >= -rank && d.axis < rank, "concatenated output ", d.output_index, ": axis ",
                         d.axis, " is out of range for rank ", rank);
        size_t a = static_cast<size_t>(d.axis < 0 ? d.axis + rank : d.axis);
        PartialShape s = r.shape;
        const Dimension& part = r.shape[a];
        if (count && part.is_static()) {
            s[a] = Dimension(*count * part.get_length());
        } else if (trips && *trips >= 0 && part.get_max_length() >= 0) {
            s[a] = Dimension(0, *trips * part.get_max_length());
        } else {
            s[a] = Dimension::dynamic();
        }
        ctx.set_output(static_cast<size_t>(d.output_index), r.type, s);
    }
}

void Loop::execute(const std::vector<Tensor>& in, std::vector<Tensor>& out, const BodyRunner& run) const {
    std::string self = str_cat("[Loop ", name(), "]");
    int64_t trips = in.at(0).size() == 1 ? in[0].as_i64_vector()[0] : -2;
    KILN_CHECK(trips != -2, self, " trip_count must have one element, got shape ", to_string(in[0].shape()));
    bool cond = truth(in.at(1), self + " execution_condition");
    auto& params = body->parameters();
    size_t n_res = body->results().size();
    std::vector<Tensor> body_in(params.size());
    for (auto& d : invariant_inputs) body_in[static_cast<size_t>(d.body_parameter_index)] = in.at(static_cast<size_t>(d.input_index));
    for (auto& d : merged_inputs) body_in[static_cast<size_t>(d.body_parameter_index)] = in.at(static_cast<size_t>(d.input_index));
    std::vector<TensorDesc> first_descs;  // the body's inputs on the first iteration (for zero trips)
    for (auto& t : body_in) first_descs.push_back(TensorDesc{t.type(), PartialShape(t.shape())});
    int64_t iter = special_body_ports.current_iteration_input_idx;
    if (iter >= 0) {
        auto& p = *params[static_cast<size_t>(iter)];
        first_descs[static_cast<size_t>(iter)] = TensorDesc{p.element_type, PartialShape(p.shape.rank_is_static() && p.shape.rank() == 1 ? Shape{1} : Shape{})};
    }
    size_t cond_idx = static_cast<size_t>(special_body_ports.body_condition_output_idx);

    std::vector<std::vector<Tensor>> slices(concat_outputs.size());
    std::vector<Tensor> last;
    int64_t k = 0;
    for (; (trips < 0 || k < trips) && cond; ++k) {
        if (iter >= 0) {
            // A fresh tensor each time: the body may hand the iteration number through to a result.
            auto& d = first_descs[static_cast<size_t>(iter)];
            Tensor t(d.type, d.shape.to_shape());
            convert_elements(&k, Type::i64, t.data(), t.type(), 1);
            body_in[static_cast<size_t>(iter)] = t;
        }
        std::vector<Tensor> res(n_res);
        run(0, body_in, res);
        cond = truth(res[cond_idx], self + " body condition");
        for (size_t c = 0; c < concat_outputs.size(); ++c)
            slices[c].push_back(res[static_cast<size_t>(concat_outputs[c].body_value_index)]);
        for (auto& d : merged_inputs)
            body_in[static_cast<size_t>(d.body_parameter_index)] = res[static_cast<size_t>(d.body_value_index)];
        last = std::move(res);
    }

    std::vector<bool> handed(n_res, false);
    for (auto& d : body_outputs) {
        auto v = static_cast<size_t>(d.body_value_index);
        auto& o = out.at(static_cast<size_t>(d.output_index));
        std::string what = str_cat(self, " output ", d.output_index);
        if (k > 0) {
            deliver(o, handed[v] ? last[v].copy() : last[v], what);
            handed[v] = true;
            continue;
        }
        const Tensor* initial = nullptr;
        for (auto& m : merged_inputs)
            if (m.body_value_index == d.body_value_index) initial = &in[static_cast<size_t>(m.input_index)];
        KILN_CHECK(initial, self, " ran no iteration, so output ", d.output_index, " (body result ", v,
                   ", which is not a carried value) has no value");
        // A copy: what is handed over must not share memory with an input.
        deliver(o, initial->copy(), what);
    }
    for (size_t c = 0; c < concat_outputs.size(); ++c) {
        auto& d = concat_outputs[c];
        auto& o = out.at(static_cast<size_t>(d.output_index));
        std::string what = str_cat(self, " output ", d.output_index);
        TensorDesc part;
        if (k > 0) {
            part = TensorDesc{slices[c][0].type(), PartialShape(slices[c][0].shape())};
        } else {
            // No iteration ran: the slice's type and shape are what the body would give.
            auto s = specialize(*body, first_descs);
            part = s->results()[static_cast<size_t>(d.body_value_index)]->output_desc(0);
            KILN_CHECK(part.shape.is_static() && part.type != Type::dynamic, what, ": the body result ",
                       d.body_value_index, " would be ", kiln::type_name(part.type), part.shape.to_string(),
                       ", not a static shape, so an empty concatenation has no shape");
        }
        Shape shape = part.shape.to_shape();
        int64_t rank = static_cast<int64_t>(shape.size());
        KILN_CHECK(d.axis >= -rank && d.axis < rank, what, ": axis ", d.axis, " is out of range for rank ", rank);
        int64_t a = d.axis < 0 ? d.axis + rank : d.axis;
        int64_t total = 0;
        for (auto& t : slices[c]) {
            KILN_CHECK(t.type() == part.type && t.rank() == rank, what, ": iterations give ", kiln::type_name(t.type()),
                       to_string(t.shape()), " and ", kiln::type_name(part.type), to_string(shape));
            for (int64_t i = 0; i < rank; ++i)
                KILN_CHECK(i == a || t.shape()[static_cast<size_t>(i)] == shape[static_cast<size_t>(i)], what,
                           ": iterations give shapes ", to_string(t.shape()), " and ", to_string(shape),
                           ", which differ off the axis ", a);
            total += t.shape()[static_cast<size_t>(a)];
        }
        shape[static_cast<size_t>(a)] = total;
        if (!allocated(o)) o = Tensor(part.type, shape);
        KILN_CHECK(o.type() == part.type && o.shape() == shape, what, " is ", kiln::type_name(part.type), to_string(shape),
                   ", the plan expected ", kiln::type_name(o.type()), to_string(o.shape()));
        if (d.stride < 0) std::reverse(slices[c].begin(), slices[c].end());
        concat_along(slices[c], a, o);
    }
}

void Loop::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    execute(in, out, [this](size_t, const std::vector<Tensor>& bi, std::vector<Tensor>& bo) { interpret(*body, bi, bo); });
}

}  // namespace kiln::op
