// Tests of If and Loop (cpp/kiln/ops/control_flow.*): shape inference and its errors, the
// reference kernels on hand-built bodies, the CPU kernels (bodies compiled into plans) against the
// reference interpreter, data-dependent output shapes in a plan, folding, clone.
#include <gtest/gtest.h>

#include <thread>

#include "kiln/core/interpreter.hpp"
#include "kiln/ops/control_flow.hpp"
#include "kiln/ops/data_movement.hpp"
#include "kiln/ops/elementwise_binary.hpp"
#include "kiln/ops/elementwise_unary.hpp"
#include "kiln/ops/reduction.hpp"
#include "kiln/passes/constant_folding.hpp"
#include "kiln/runtime/cpu/kernel_table.hpp"
#include "kiln/runtime/cpu/plan.hpp"

using namespace kiln;
using op::If;
using op::Loop;

namespace {

std::shared_ptr<op::Parameter> param(Type t, PartialShape s, const std::string& name = "") {
    auto p = make<op::Parameter>({}, t, std::move(s));
    p->set_name(name);
    return p;
}
std::shared_ptr<op::Parameter> fparam(PartialShape s, const std::string& name = "") { return param(Type::f32, std::move(s), name); }
Output f32(float v) { return op::Constant::scalar<float>(v)->output(0); }
Output i64(int64_t v) { return op::Constant::scalar<int64_t>(v)->output(0); }
Output boolean(bool v) { return op::Constant::scalar<bool>(v)->output(0); }
std::shared_ptr<op::Result> result(Output o) { return make<op::Result>({std::move(o)}); }

Tensor ft(std::vector<float> v, Shape s) { return Tensor::from_vector(v, std::move(s)); }
Tensor it(int64_t v) { return Tensor::scalar<int64_t>(v); }
Tensor bt(bool v) { return Tensor::scalar<bool>(v); }
std::vector<float> fv(const Tensor& t) {
    auto d = t.as_f64_vector();
    return std::vector<float>(d.begin(), d.end());
}

// then: x * 2 (same shape); else: concat(x, x) on axis 0 (twice as long).
std::shared_ptr<If> make_if(Output cond, Output x) {
    auto n = std::make_shared<If>();
    n->set_name("branch");
    auto tx = fparam(PartialShape::dynamic(2), "tx");
    n->then_body = std::make_shared<Model>(ResultVector{result(make<op::Multiply>({tx->output(0), f32(2)})->output(0))},
                                           ParameterVector{tx}, "then");
    auto ex = fparam(PartialShape::dynamic(2), "ex");
    n->else_body = std::make_shared<Model>(
        ResultVector{result(make<op::Concat>({ex->output(0), ex->output(0)}, int64_t{0})->output(0))},
        ParameterVector{ex}, "else");
    n->then_inputs = {{1, 0}};
    n->else_inputs = {{1, 0}};
    n->then_outputs = {{0, 0}};
    n->else_outputs = {{0, 0}};
    n->set_inputs({std::move(cond), std::move(x)});
    n->validate_and_infer();
    return n;
}

// for i in range(trip) while acc < limit: acc = acc * 2 + i; also concatenates acc of every
// iteration along axis 0 (output 1) and counts iterations in a carried i64 (output 2).
// Body parameters: 0 iteration, 1 acc, 2 limit (invariant), 3 count. Results: 0 cond, 1 acc,
// 2 acc again (for the concatenation), 3 count.
std::shared_ptr<Loop> make_loop(Output trip, Output exec, Output acc0, Output limit, Output count0) {
    auto n = std::make_shared<Loop>();
    n->set_name("loop");
    auto i = param(Type::i64, PartialShape(Shape{}), "i");
    auto acc = fparam(PartialShape::dynamic(), "acc");
    auto lim = fparam(PartialShape(Shape{}), "limit");
    auto cnt = param(Type::i64, PartialShape(Shape{}), "count");
    auto fi = make<op::Convert>({i->output(0)}, Type::f32)->output(0);
    auto next = make<op::Add>({make<op::Multiply>({acc->output(0), f32(2)})->output(0), fi})->output(0);
    auto total = make<op::ReduceSum>({next, op::Constant::create<int64_t>({0}, {1})->output(0)}, false)->output(0);
    auto cond = make<op::Less>({total, lim->output(0)})->output(0);
    auto cnt1 = make<op::Add>({cnt->output(0), i64(1)})->output(0);
    n->body = std::make_shared<Model>(ResultVector{result(cond), result(next), result(next), result(cnt1)},
                                      ParameterVector{i, acc, lim, cnt}, "body");
    n->special_body_ports = {0, 0};
    n->merged_inputs = {{2, 1, 1}, {4, 3, 3}};
    n->invariant_inputs = {{3, 2}};
    n->body_outputs = {{1, 0, -1}, {3, 2, -1}};
    n->concat_outputs = {{2, 1, 0, 1, 1, -1, 0}};
    n->set_inputs({std::move(trip), std::move(exec), std::move(acc0), std::move(limit), std::move(count0)});
    n->validate_and_infer();
    return n;
}

// The same loop by hand.
struct LoopRef {
    std::vector<float> acc;
    std::vector<float> concat;
    int64_t count = 0;
};
LoopRef loop_by_hand(int64_t trip, bool exec, std::vector<float> acc, float limit) {
    LoopRef r{acc, {}, 0};
    bool cond = exec;
    for (int64_t i = 0; (trip < 0 || i < trip) && cond; ++i) {
        float sum = 0;
        for (auto& a : r.acc) sum += (a = a * 2 + static_cast<float>(i));
        r.concat.insert(r.concat.end(), r.acc.begin(), r.acc.end());
        cond = sum < limit;
        ++r.count;
    }
    return r;
}

// A copy of a node with the same inputs, to change and re-infer.
template <typename T>
std::shared_ptr<T> copy_of(const std::shared_ptr<T>& n) {
    return std::static_pointer_cast<T>(n->clone(n->inputs()));
}

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "(no error)";
}

std::vector<Tensor> run_plan(const Model& m, const std::vector<Tensor>& in) {
    std::vector<Shape> shapes;
    for (auto& t : in) shapes.push_back(t.shape());
    auto plan = cpu::Plan::build(m, shapes);
    auto arena = cpu::allocate_arena(plan->arena_bytes());
    std::vector<Tensor> out;
    plan->run(in, out, arena.get());
    return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// If: shape inference

TEST(If, InferMergesBranchShapesAndTakesAKnownBranch) {
    auto x = fparam(Shape{2, 3});
    auto c = param(Type::boolean, Shape{});
    auto n = make_if(c->output(0), x->output(0));
    EXPECT_EQ(n->output_type(0), Type::f32);
    EXPECT_EQ(n->output_shape(0).to_string(), "[?,3]");  // 2 or 4 rows
    EXPECT_EQ(make_if(boolean(true), x->output(0))->output_shape(0).to_string(), "[2,3]");
    EXPECT_EQ(make_if(boolean(false), x->output(0))->output_shape(0).to_string(), "[4,3]");
    // Dynamic input dims flow through both bodies.
    auto y = fparam(PartialShape{Dimension(), 5});
    EXPECT_EQ(make_if(c->output(0), y->output(0))->output_shape(0).to_string(), "[?,5]");
}

TEST(If, InferErrorsNameTheNode) {
    auto x = fparam(Shape{2, 3});
    auto c = param(Type::boolean, Shape{});
    auto n = make_if(c->output(0), x->output(0));
    // Branch types differ.
    auto bad = copy_of(n);
    auto ex = fparam(PartialShape::dynamic(2));
    bad->else_body = std::make_shared<Model>(ResultVector{result(make<op::Convert>({ex->output(0)}, Type::i64)->output(0))},
                                             ParameterVector{ex});
    EXPECT_EQ(error_of([&] { bad->validate_and_infer(); }),
              "[If branch] output 0: then_body gives f32, else_body gives i64");
    // A body parameter nothing feeds.
    auto unfed = copy_of(n);
    unfed->else_inputs.clear();
    EXPECT_EQ(error_of([&] { unfed->validate_and_infer(); }),
              "[If branch] else_body: parameter 0 (ex) is fed by no input");
    // The condition must be boolean and one value.
    auto fc = fparam(Shape{});
    EXPECT_EQ(error_of([&] { make_if(fc->output(0), x->output(0)); }), "[If branch] condition: expected boolean, got f32");
    auto vc = param(Type::boolean, Shape{2});
    EXPECT_EQ(error_of([&] { make_if(vc->output(0), x->output(0)); }),
              "[If branch] condition must be a scalar or have one element, got shape [2]");
    // A body that rejects the input shapes names the body and its node.
    auto r3 = fparam(Shape{2, 3, 4});
    auto tight = copy_of(n);
    auto tx = fparam(PartialShape());
    auto row = op::Constant::create<float>({1, 2, 3}, {1, 3});
    tight->then_body = std::make_shared<Model>(
        ResultVector{result(make<op::Concat>({tx->output(0), row->output(0)}, int64_t{0})->output(0))},
        ParameterVector{tx});
    tight->set_input(1, r3->output(0));
    auto e = error_of([&] { tight->validate_and_infer(); });
    EXPECT_EQ(e.rfind("[If branch] then_body: [Concat ", 0), 0u) << e;
}

// ---------------------------------------------------------------------------------------------
// If: reference kernel, CPU kernel, folding, clone

TEST(If, EvaluateRunsTheChosenBody) {
    auto x = fparam(PartialShape{Dimension(), 3});
    auto c = param(Type::boolean, Shape{});
    auto n = make_if(c->output(0), x->output(0));
    Model m({result(n->output(0))}, {c, x});
    auto xt = ft({1, 2, 3, 4, 5, 6}, {2, 3});
    auto yes = evaluate_model(m, {bt(true), xt});
    EXPECT_EQ(yes[0].shape(), (Shape{2, 3}));
    EXPECT_EQ(fv(yes[0]), (std::vector<float>{2, 4, 6, 8, 10, 12}));
    auto no = evaluate_model(m, {bt(false), xt});
    EXPECT_EQ(no[0].shape(), (Shape{4, 3}));
    EXPECT_EQ(fv(no[0]), (std::vector<float>{1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6}));
}

TEST(If, KernelMatchesReferenceAndDataDependentShapesReachATail) {
    // The If's two branches give 2 or 4 rows at one input shape: its output shape is known only
    // when it has run, and the ReduceSum / Multiply after it form the plan's tail.
    auto x = fparam(PartialShape{Dimension(), 3});
    auto c = param(Type::boolean, Shape{});
    auto n = make_if(c->output(0), x->output(0));
    auto rows = make<op::ReduceSum>({n->output(0), op::Constant::create<int64_t>({1}, {1})->output(0)}, false);
    auto scaled = make<op::Multiply>({rows->output(0), f32(0.5f)});
    Model m({result(scaled->output(0)), result(n->output(0))}, {c, x});
    auto xt = ft({1, 2, 3, 4, 5, 6}, {2, 3});
    auto plan = cpu::Plan::build(m, {Shape{}, Shape{2, 3}});
    EXPECT_TRUE(plan->has_tail());
    bool if_kernel = false;
    for (auto& s : plan->kernel_summary()) if_kernel |= s[0] == "If" && s[2] == "if_plans";
    EXPECT_TRUE(if_kernel);
    for (bool cond : {true, false}) {
        auto got = run_plan(m, {bt(cond), xt});
        auto ref = evaluate_model(m, {bt(cond), xt});
        ASSERT_EQ(got.size(), 2u);
        for (size_t k = 0; k < 2; ++k) {
            EXPECT_EQ(got[k].shape(), ref[k].shape());
            EXPECT_EQ(fv(got[k]), fv(ref[k]));
        }
    }
    EXPECT_EQ(fv(run_plan(m, {bt(false), xt})[0]), (std::vector<float>{3, 7.5, 3, 7.5}));
    // Reference kernels only: the same answers.
    cpu::set_reference_only(true);
    auto r = run_plan(m, {bt(true), xt});
    cpu::set_reference_only(false);
    EXPECT_EQ(fv(r[0]), (std::vector<float>{6, 15}));
}

TEST(If, StaticOutputsAreWrittenInPlace) {
    // Both branches keep the shape: the output is planned statically (no tail).
    auto x = fparam(Shape{2, 3});
    auto c = param(Type::boolean, Shape{});
    auto n = copy_of(make_if(c->output(0), x->output(0)));
    auto ex = fparam(PartialShape::dynamic(2));
    n->else_body = std::make_shared<Model>(ResultVector{result(make<op::Subtract>({ex->output(0), f32(1)})->output(0))},
                                           ParameterVector{ex});
    n->set_inputs({c->output(0), x->output(0)});
    n->validate_and_infer();
    EXPECT_EQ(n->output_shape(0).to_string(), "[2,3]");
    Model m({result(n->output(0))}, {c, x});
    auto plan = cpu::Plan::build(m, {Shape{}, Shape{2, 3}});
    EXPECT_FALSE(plan->has_tail());
    auto xt = ft({1, 2, 3, 4, 5, 6}, {2, 3});
    EXPECT_EQ(fv(run_plan(m, {bt(false), xt})[0]), (std::vector<float>{0, 1, 2, 3, 4, 5}));
    EXPECT_EQ(fv(run_plan(m, {bt(true), xt})[0]), (std::vector<float>{2, 4, 6, 8, 10, 12}));
}

TEST(If, KnownConditionIsInlinedByFolding) {
    auto x = fparam(PartialShape{Dimension(), 3});
    auto n = make_if(boolean(false), x->output(0));
    auto y = make<op::Add>({n->output(0), f32(1)});
    Model m({result(y->output(0))}, {x});
    passes::fold_constants(m);
    for (auto& op : m.ordered_ops()) EXPECT_NE(std::string(op->type_name()), "If");
    auto out = evaluate_model(m, {ft({1, 2, 3}, {1, 3})});
    EXPECT_EQ(fv(out[0]), (std::vector<float>{2, 3, 4, 2, 3, 4}));
    validate_model(m);
}

TEST(If, CloneDeepCopiesBodies) {
    auto x = fparam(Shape{2, 3});
    auto c = param(Type::boolean, Shape{});
    auto n = make_if(c->output(0), x->output(0));
    Model m({result(n->output(0))}, {c, x});
    auto m2 = m.clone();
    EXPECT_EQ(m2->to_string(), m.to_string());
    std::shared_ptr<If> n2;
    for (auto& op : m2->ordered_ops())
        if (auto f = std::dynamic_pointer_cast<If>(op)) n2 = f;
    ASSERT_TRUE(n2);
    EXPECT_NE(n2->then_body.get(), n->then_body.get());
    EXPECT_NE(n2->then_body->parameters()[0].get(), n->then_body->parameters()[0].get());
    EXPECT_TRUE(same_attributes(*n, *n2));
    // Changing the copy's body leaves the original as it was.
    n2->then_body->parameters()[0]->set_name("changed");
    n2->then_body->results()[0]->set_input(0, f32(7));
    EXPECT_EQ(n->then_body->parameters()[0]->name(), "tx");
    EXPECT_EQ(std::string(n->then_body->results()[0]->input(0).node->type_name()), "Multiply");
    EXPECT_FALSE(same_attributes(*n, *n2));
    validate_model(m);
    EXPECT_NE(m.to_string().find("body model then"), std::string::npos) << m.to_string();
    EXPECT_NE(n->attributes_string().find("then_inputs=[1,0]"), std::string::npos) << n->attributes_string();
}

// ---------------------------------------------------------------------------------------------
// Loop: shape inference

TEST(Loop, InferStableCarriedValuesAndConcatLength) {
    auto acc = fparam(Shape{3});
    auto lim = fparam(Shape{});
    auto trip = param(Type::i64, Shape{});
    auto n = make_loop(trip->output(0), boolean(true), acc->output(0), lim->output(0), i64(0));
    EXPECT_EQ(n->output_shape(0).to_string(), "[3]");
    EXPECT_EQ(n->output_shape(2).to_string(), "[]");
    EXPECT_EQ(n->output_type(2), Type::i64);
    EXPECT_EQ(n->output_shape(1).to_string(), "[?]");  // run-time trip count
    // A known trip count bounds the concatenation; the data condition may stop it earlier.
    auto n5 = make_loop(i64(5), boolean(true), acc->output(0), lim->output(0), i64(0));
    EXPECT_EQ(n5->output_shape(1).to_string(), "[0..15]");
    auto n0 = make_loop(i64(5), boolean(false), acc->output(0), lim->output(0), i64(0));
    EXPECT_EQ(n0->output_shape(1).to_string(), "[0]");
    // A body condition that folds to true: exactly trip_count iterations.
    auto nk = make_loop(i64(4), boolean(true), acc->output(0), f32(1e30f), i64(0));
    EXPECT_EQ(nk->output_shape(1).to_string(), "[0..12]");  // the sum is data, so still a bound
    auto always = copy_of(n5);
    auto& b = always->body;
    b->results()[0]->set_input(0, boolean(true));
    b->results()[0]->validate_and_infer();
    always->validate_and_infer();
    EXPECT_EQ(always->output_shape(1).to_string(), "[15]");
}

TEST(Loop, InferWidensACarriedValueThatGrows) {
    // acc = concat(acc, acc) each iteration: its length is not the same twice.
    auto n = std::make_shared<Loop>();
    n->set_name("grow");
    auto acc = fparam(PartialShape::dynamic(2));
    auto body_cat = make<op::Concat>({acc->output(0), acc->output(0)}, int64_t{0});
    n->body = std::make_shared<Model>(ResultVector{result(boolean(true)), result(body_cat->output(0))},
                                      ParameterVector{acc});
    n->special_body_ports = {-1, 0};
    n->merged_inputs = {{2, 0, 1}};
    n->body_outputs = {{1, 0, -1}};
    auto x = fparam(Shape{2, 3});
    auto trip = param(Type::i64, Shape{});
    n->set_inputs({trip->output(0), boolean(true), x->output(0)});
    n->validate_and_infer();
    EXPECT_EQ(n->output_shape(0).to_string(), "[?,3]");
    // And it runs: 2 rows -> 2 * 2^k rows, on reference kernels and in a plan.
    Model m({result(n->output(0))}, {trip, x});
    auto xt = ft({1, 2, 3, 4, 5, 6}, {2, 3});
    for (int64_t k : {0, 1, 3}) {
        auto ref = evaluate_model(m, {it(k), xt});
        EXPECT_EQ(ref[0].shape(), (Shape{2 << k, 3}));
        auto got = run_plan(m, {it(k), xt});
        EXPECT_EQ(got[0].shape(), ref[0].shape());
        EXPECT_EQ(fv(got[0]), fv(ref[0]));
    }
}

TEST(Loop, InferErrorsNameTheNode) {
    auto acc = fparam(Shape{3});
    auto lim = fparam(Shape{});
    auto n = make_loop(i64(3), boolean(true), acc->output(0), lim->output(0), i64(0));
    // The back edge of the i64 counter comes from an f32 result.
    auto bad = copy_of(n);
    bad->merged_inputs[1].body_value_index = 1;
    EXPECT_EQ(error_of([&] { bad->validate_and_infer(); }),
              "[Loop loop] back edge from body result 1 (f32) to body parameter 3 (i64): element types differ");
    auto nocond = copy_of(n);
    nocond->special_body_ports.body_condition_output_idx = -1;
    EXPECT_EQ(error_of([&] { nocond->validate_and_infer(); }),
              "[Loop loop] body_condition_output_idx -1 must name a body result (the body has 4)");
    auto notbool = copy_of(n);
    notbool->special_body_ports.body_condition_output_idx = 1;
    EXPECT_EQ(error_of([&] { notbool->validate_and_infer(); }),
              "[Loop loop] the body condition (result 1) must be boolean, got f32");
    auto unfed = copy_of(n);
    unfed->invariant_inputs.clear();
    EXPECT_EQ(error_of([&] { unfed->validate_and_infer(); }), "[Loop loop] body parameter 2 (limit) is fed by no input");
    auto ftrip = fparam(Shape{});
    EXPECT_EQ(error_of([&] { make_loop(ftrip->output(0), boolean(true), acc->output(0), lim->output(0), i64(0)); }),
              "[Loop loop] trip_count must be of an integer type, got f32");
}

// ---------------------------------------------------------------------------------------------
// Loop: reference kernel and CPU kernel

TEST(Loop, EvaluateTripsConditionZeroTripsAndConcat) {
    auto acc = fparam(Shape{3});
    auto lim = fparam(Shape{});
    auto trip = param(Type::i64, Shape{});
    auto exec = param(Type::boolean, Shape{});
    auto n = make_loop(trip->output(0), exec->output(0), acc->output(0), lim->output(0), i64(0));
    Model m({result(n->output(0)), result(n->output(1)), result(n->output(2))}, {trip, exec, acc, lim});
    std::vector<float> a0{0.5f, -1, 2};
    struct Case {
        int64_t trip;
        bool exec;
        float limit;
    };
    // zero trips (trip 0; execution condition false), trip-count bound, condition-terminated,
    // a negative trip count (no limit) stopped by the condition.
    for (auto c : {Case{0, true, 100}, Case{3, false, 100}, Case{1, true, 100}, Case{5, true, 1e9f},
                   Case{50, true, 60}, Case{-1, true, 200}}) {
        auto want = loop_by_hand(c.trip, c.exec, a0, c.limit);
        std::vector<Tensor> in{it(c.trip), bt(c.exec), ft(a0, {3}), Tensor::scalar<float>(c.limit)};
        for (int mode = 0; mode < 2; ++mode) {
            auto got = mode == 0 ? evaluate_model(m, in) : run_plan(m, in);
            SCOPED_TRACE(str_cat("trip ", c.trip, " exec ", c.exec, " limit ", c.limit, mode ? " plan" : " reference"));
            EXPECT_EQ(fv(got[0]), want.acc);
            EXPECT_EQ(got[1].shape(), (Shape{want.count * 3}));
            EXPECT_EQ(fv(got[1]), want.concat);
            EXPECT_EQ(got[2].as_i64_vector(), (std::vector<int64_t>{want.count}));
        }
    }
    // Condition-terminated: 50 allowed, fewer run.
    EXPECT_LT(loop_by_hand(50, true, a0, 60).count, 50);
    EXPECT_GT(loop_by_hand(50, true, a0, 60).count, 1);
}

TEST(Loop, ReverseConcatAndAZeroTripNonCarriedOutputFails) {
    auto acc = fparam(Shape{3});
    auto lim = fparam(Shape{});
    auto n = make_loop(i64(3), boolean(true), acc->output(0), f32(1e9f), i64(0));
    n->concat_outputs[0].stride = -1;
    n->validate_and_infer();
    Model m({result(n->output(1))}, {acc});
    auto got = evaluate_model(m, {ft({1, 1, 1}, {3})});
    auto fwd = loop_by_hand(3, true, {1, 1, 1}, 1e9f).concat;
    std::vector<float> rev;
    for (int k = 2; k >= 0; --k) rev.insert(rev.end(), fwd.begin() + 3 * k, fwd.begin() + 3 * k + 3);
    EXPECT_EQ(fv(got[0]), rev);
    // A body output that is not a carried value has nothing to give after zero iterations.
    auto odd = make_loop(i64(0), boolean(true), acc->output(0), lim->output(0), i64(0));
    odd->body_outputs[0] = {2, 0, -1};  // result 2 is concatenated, not carried
    odd->concat_outputs[0].body_value_index = 1;
    odd->validate_and_infer();
    Model mo({result(odd->output(0))}, {acc, lim});
    EXPECT_EQ(error_of([&] { evaluate_model(mo, {ft({1, 1, 1}, {3}), Tensor::scalar<float>(1)}); }),
              "[Loop loop] ran no iteration, so output 0 (body result 2, which is not a carried value) has no value");
}

TEST(Loop, KernelTailAndThreads) {
    // concat output of a run-time length, then a Multiply: planned in the tail per length.
    auto acc = fparam(Shape{3});
    auto lim = fparam(Shape{});
    auto trip = param(Type::i64, Shape{});
    auto n = make_loop(trip->output(0), boolean(true), acc->output(0), lim->output(0), i64(0));
    auto twice = make<op::Multiply>({n->output(1), f32(2)});
    Model m({result(twice->output(0)), result(n->output(0))}, {trip, acc, lim});
    auto plan = cpu::Plan::build(m, {Shape{}, Shape{3}, Shape{}});
    EXPECT_TRUE(plan->has_tail());
    bool loop_kernel = false;
    for (auto& s : plan->kernel_summary()) loop_kernel |= s[0] == "Loop" && s[2] == "loop_plans";
    EXPECT_TRUE(loop_kernel);
    std::vector<float> a0{0.25f, 1, -2};
    auto check = [&](int64_t k, float limit) {
        auto want = loop_by_hand(k, true, a0, limit);
        std::vector<Tensor> in{it(k), ft(a0, {3}), Tensor::scalar<float>(limit)};
        auto arena = cpu::allocate_arena(plan->arena_bytes());
        std::vector<Tensor> out;
        plan->run(in, out, arena.get());
        for (auto& v : want.concat) v *= 2;
        return fv(out[0]) == want.concat && fv(out[1]) == want.acc;
    };
    for (int64_t k : {0, 1, 5}) EXPECT_TRUE(check(k, 1e9f)) << k;
    EXPECT_TRUE(check(40, 30));
    // One plan, many threads, different trip counts at once.
    std::vector<std::thread> threads;
    std::vector<int> ok(8, 0);
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&, t] {
            bool all = true;
            for (int r = 0; r < 20; ++r) all = all && check((t + r) % 7, 1e9f);
            ok[static_cast<size_t>(t)] = all;
        });
    for (auto& t : threads) t.join();
    for (int t = 0; t < 8; ++t) EXPECT_TRUE(ok[static_cast<size_t>(t)]) << t;
}

TEST(Loop, StaticWhenTheTripCountFoldsAtPlanTime) {
    // Trip count 4 and an always-true body condition: the concat length is known at plan time.
    auto n = std::make_shared<Loop>();
    n->set_name("fixed");
    auto i = param(Type::i64, Shape{});
    auto x = fparam(PartialShape::dynamic(1));
    auto xi = make<op::Multiply>({x->output(0), make<op::Convert>({i->output(0)}, Type::f32)->output(0)});
    n->body = std::make_shared<Model>(ResultVector{result(boolean(true)), result(xi->output(0))}, ParameterVector{i, x});
    n->special_body_ports = {0, 0};
    n->invariant_inputs = {{2, 1}};
    n->concat_outputs = {{1, 0, 0, 1, 1, -1, 0}};
    auto xp = fparam(PartialShape{Dimension()});
    n->set_inputs({i64(4), boolean(true), xp->output(0)});
    n->validate_and_infer();
    EXPECT_EQ(n->output_shape(0).to_string(), "[?]");
    Model m({result(n->output(0))}, {xp});
    auto plan = cpu::Plan::build(m, {Shape{2}});
    EXPECT_FALSE(plan->has_tail());
    EXPECT_EQ(plan->output_descs()[0].shape.to_string(), "[8]");
    EXPECT_EQ(fv(run_plan(m, {ft({1, 2}, {2})})[0]), (std::vector<float>{0, 0, 1, 2, 2, 4, 3, 6}));
    auto c = m.clone();
    EXPECT_EQ(c->to_string(), m.to_string());
    validate_model(*c);
}
