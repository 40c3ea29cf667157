// Tests of the CPU execution plan (cpp/kiln/runtime/cpu/plan.cpp): links every kernel family.
#include <gtest/gtest.h>

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <random>
#include <thread>

#include "kiln/core/model.hpp"
#include "kiln/ops/convolution.hpp"
#include "kiln/ops/elementwise_binary.hpp"
#include "kiln/ops/elementwise_unary.hpp"
#include "kiln/runtime/cpu/compiled_model.hpp"
#include "kiln/runtime/cpu/kernel_table.hpp"
#include "kiln/runtime/cpu/plan.hpp"
#include "kiln/runtime/cpu/plan_cache.hpp"

#include "test_util.hpp"

using namespace kiln;
using op::PadType;
using V = std::vector<int64_t>;

namespace {

using test::random_tensor;
using test::close;

std::shared_ptr<op::Parameter> param(PartialShape s) { return make<op::Parameter>({}, Type::f32, std::move(s)); }

Output cst(Tensor t) { return make<op::Constant>({}, std::move(t))->output(0); }


}  // namespace

// Regression: Plan::build handed kernel factories pointers to constant slots and then pushed the
// node's output slots, which can reallocate the slot vector; the conv factory then packed
// weights through dangling pointers (an AlexNet prefix segfaulted inside oneDNN's reorder).
// Every conv here has its weights slot pushed just before its output slot, so the slot vector
// grows (and reallocates) between the two several times. Run under ASAN to see the old bug
// deterministically; without it the wrong or crashing weights show up as a mismatch or crash.
TEST(Plan, ConvChainWeightsSurviveSlotReallocation) {
    auto x = param({1, 8, 6, 6});
    Output h = x->output(0);
    for (int i = 0; i < 12; ++i) {
        auto w = cst(random_tensor({8, 8, 3, 3}, 100 + i, -0.3f, 0.3f));
        h = make<op::Convolution>({h, w}, V{1, 1}, V{1, 1}, V{1, 1}, V{1, 1}, PadType::explicit_pad)
                ->output(0);
    }
    Model m({make<op::Result>({h})}, {x});
    auto in = random_tensor({1, 8, 6, 6}, 9);
    auto run = [&](bool reference) {
        cpu::set_reference_only(reference);
        auto plan = cpu::Plan::build(m, {Shape{1, 8, 6, 6}});
        cpu::set_reference_only(false);
        std::vector<char> arena(plan->arena_bytes() + 64);
        std::vector<Tensor> out;
        plan->run({in}, out, arena.data());
        return std::make_pair(plan, out);
    };
    auto [fast_plan, fast] = run(false);
    auto [ref_plan, ref] = run(true);
    size_t onednn = 0;
    for (auto& s : fast_plan->kernel_summary()) onednn += s[2] == "onednn_conv";
    EXPECT_EQ(onednn, 12u);
    ASSERT_EQ(fast.size(), 1u);
    EXPECT_TRUE(close(fast[0], ref[0], 1e-3));
}

namespace {

// x: f32[?, 8, ?, ?] -> 3x3 convolution -> Result: one plan per input shape.
std::shared_ptr<Model> dynamic_conv_model() {
    auto x = param(PartialShape{Dimension(), 8, Dimension(), Dimension()});
    auto w = cst(random_tensor({8, 8, 3, 3}, 7, -0.3f, 0.3f));
    auto c = make<op::Convolution>({x->output(0), w}, V{1, 1}, V{1, 1}, V{1, 1}, V{1, 1}, PadType::explicit_pad);
    return std::make_shared<Model>(std::vector<std::shared_ptr<op::Result>>{make<op::Result>({c->output(0)})},
                                   std::vector<std::shared_ptr<op::Parameter>>{x});
}

}  // namespace

// Concurrent callers of one new signature wait for the first caller's build: one build.
TEST(PlanCache, ConcurrentCallersOfOneSignatureShareOneBuild) {
    auto m = dynamic_conv_model();
    cpu::PlanCache cache(4);
    std::atomic<int> builds{0};
    std::vector<std::shared_ptr<const cpu::Plan>> got(8);
    std::vector<std::thread> ts;
    for (int t = 0; t < 8; ++t)
        ts.emplace_back([&, t] {
            got[t] = cache.get({Shape{1, 8, 5, 5}}, [&] {
                ++builds;
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
                return cpu::Plan::build(*m, {Shape{1, 8, 5, 5}});
            });
        });
    for (auto& t : ts) t.join();
    EXPECT_EQ(builds.load(), 1);
    EXPECT_EQ(cache.built(), 1u);
    EXPECT_EQ(cache.size(), 1u);
    for (auto& p : got) EXPECT_EQ(p, got[0]);
}

// A failed build reaches every waiter and leaves no entry: the next caller builds again.
TEST(PlanCache, FailedBuildReachesEveryWaiterAndLeavesNoEntry) {
    cpu::PlanCache cache(4);
    std::atomic<int> builds{0}, errors{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < 6; ++t)
        ts.emplace_back([&] {
            try {
                cache.get({Shape{3}}, [&]() -> std::shared_ptr<const cpu::Plan> {
                    ++builds;
                    std::this_thread::sleep_for(std::chrono::milliseconds(50));
                    throw ValueError("no such shape");
                });
            } catch (const ValueError& e) {
                if (std::string(e.what()) == "no such shape") ++errors;
            }
        });
    for (auto& t : ts) t.join();
    EXPECT_EQ(errors.load(), 6);
    EXPECT_GE(builds.load(), 1);
    EXPECT_LT(builds.load(), 6);  // waiters did not each build
    EXPECT_EQ(cache.size(), 0u);
    auto m = dynamic_conv_model();
    auto p = cache.get({Shape{3}}, [&] { return cpu::Plan::build(*m, {Shape{1, 8, 4, 4}}); });
    EXPECT_NE(p, nullptr);
    EXPECT_EQ(cache.size(), 1u);
}

// Bounded, most recently used kept, no duplicates; an evicted plan lives on with its users.
TEST(PlanCache, BoundedLruWithoutDuplicates) {
    auto m = dynamic_conv_model();
    cpu::PlanCache cache(2);
    auto build = [&](int64_t h) { return [&m, h] { return cpu::Plan::build(*m, {Shape{1, 8, h, h}}); }; };
    auto a = cache.get({Shape{4}}, build(4));
    cache.get({Shape{5}}, build(5));
    EXPECT_EQ(cache.get({Shape{4}}, build(4)), a);  // 4 is now the most recent
    cache.get({Shape{6}}, build(6));                // evicts 5
    EXPECT_EQ(cache.size(), 2u);
    EXPECT_EQ(cache.built(), 3u);
    EXPECT_EQ(cache.get({Shape{4}}, build(4)), a);
    cache.get({Shape{5}}, build(5));  // built again
    EXPECT_EQ(cache.built(), 4u);
    cache.get({Shape{7}}, build(7));  // evicts 4 while `a` still holds it
    EXPECT_EQ(cache.size(), 2u);
    std::vector<Tensor> out;
    auto arena = cpu::allocate_arena(a->arena_bytes());
    a->run({random_tensor({1, 8, 4, 4}, 3)}, out, arena.get());
    EXPECT_EQ(out.at(0).shape(), (Shape{1, 8, 4, 4}));
}

// INFERENCE_NUM_THREADS holds during the inference only: the caller's OpenMP count comes back.
TEST(CompiledModel, ThreadCountRestoredAfterInference) {
    auto m = dynamic_conv_model();
    cpu::CompileConfig c;
    c.num_threads = 1;
    auto cm = std::make_shared<cpu::CompiledModel>(*m, c);
    int before = omp_get_max_threads();
    omp_set_num_threads(before + 3);
    auto r = cm->create_infer_request();
    r->set_input(0, random_tensor({1, 8, 5, 5}, 1));
    r->infer();
    EXPECT_EQ(omp_get_max_threads(), before + 3);
    omp_set_num_threads(before);
}

TEST(CompiledModel, StreamsFromHint) {
    auto m = dynamic_conv_model();
    int cores = cpu::available_cores();
    auto make_cm = [&](cpu::PerformanceHint h, int streams, int threads) {
        cpu::CompileConfig c;
        c.hint = h;
        c.num_streams = streams;
        c.num_threads = threads;
        return std::make_shared<cpu::CompiledModel>(*m, c);
    };
    auto lat = make_cm(cpu::PerformanceHint::latency, 0, 0);
    EXPECT_EQ(lat->config().num_streams, 1);
    EXPECT_EQ(lat->threads_per_stream(), 0);  // the caller's own count
    auto thr = make_cm(cpu::PerformanceHint::throughput, 0, 0);
    EXPECT_EQ(thr->config().num_streams, cores);
    EXPECT_EQ(thr->optimal_number_of_infer_requests(), cores);
    EXPECT_EQ(thr->threads_per_stream(), 1);
    auto three = make_cm(cpu::PerformanceHint::throughput, 3, 7);
    EXPECT_EQ(three->config().num_streams, 3);
    EXPECT_EQ(three->threads_per_stream(), 2);
}

// PERF_COUNT: one record per step, named as the plan's steps, with the kernel and a time.
TEST(CompiledModel, PerfCountRecordsEveryStep) {
    auto m = dynamic_conv_model();
    cpu::CompileConfig c;
    c.perf_count = true;
    auto cm = std::make_shared<cpu::CompiledModel>(*m, c);
    auto r = cm->create_infer_request();
    r->set_input(0, random_tensor({1, 8, 5, 5}, 1));
    r->infer();
    auto summary = cm->plan_for({Shape{1, 8, 5, 5}})->kernel_summary();
    auto& prof = r->profiling_info();
    ASSERT_EQ(prof.size(), summary.size());
    for (size_t i = 0; i < prof.size(); ++i) {
        EXPECT_EQ(prof[i].node_type, summary[i][0]);
        EXPECT_EQ(prof[i].node_name, summary[i][1]);
        EXPECT_EQ(prof[i].kernel, summary[i][2]);
        EXPECT_GT(prof[i].real_us, 0.0);
    }
    auto off = std::make_shared<cpu::CompiledModel>(*m, cpu::CompileConfig{});
    auto r2 = off->create_infer_request();
    r2->set_input(0, random_tensor({1, 8, 5, 5}, 1));
    r2->infer();
    EXPECT_TRUE(r2->profiling_info().empty());
}

// start_async runs on the request's thread; the callback runs once per job; errors reach wait().
TEST(InferRequest, AsyncCallbackAndErrors) {
    auto m = dynamic_conv_model();
    auto cm = std::make_shared<cpu::CompiledModel>(*m, cpu::CompileConfig{});
    auto x = random_tensor({1, 8, 6, 6}, 2);
    auto sync = cm->create_infer_request();
    sync->set_input(0, x);
    sync->infer();
    auto r = cm->create_infer_request();
    std::atomic<int> calls{0}, failures{0};
    std::atomic<bool> release{false};
    std::thread::id cb_thread;
    r->set_callback([&](std::exception_ptr e) {
        ++calls;
        if (e) ++failures;
        cb_thread = std::this_thread::get_id();
        while (!release.load()) std::this_thread::yield();  // busy until the test has looked
    });
    r->set_input(0, x);
    r->start_async();
    EXPECT_TRUE(r->busy());
    EXPECT_THROW(r->set_input(0, x), Error);
    EXPECT_THROW(r->start_async(), Error);
    EXPECT_FALSE(r->wait_for(std::chrono::milliseconds(1)));
    release = true;
    r->wait();
    EXPECT_EQ(calls.load(), 1);
    EXPECT_NE(cb_thread, std::this_thread::get_id());
    EXPECT_TRUE(close(r->output(0), sync->output(0), 0));
    r->set_input(0, random_tensor({1, 3, 6, 6}, 2));  // wrong channels: fails in the worker
    r->start_async();
    EXPECT_THROW(r->wait(), ValueError);
    EXPECT_EQ(calls.load(), 2);
    EXPECT_EQ(failures.load(), 1);
    r->wait();  // the error is thrown once
    EXPECT_TRUE(r->wait_for(std::chrono::milliseconds(0)));
}

// A request whose last owner is its own job (dropped while running) ends cleanly.
TEST(InferRequest, DroppedWhileRunning) {
    auto m = dynamic_conv_model();
    auto cm = std::make_shared<cpu::CompiledModel>(*m, cpu::CompileConfig{});
    std::atomic<int> done{0};
    for (int i = 0; i < 4; ++i) {
        auto r = cm->create_infer_request();
        r->set_callback([&](std::exception_ptr) { ++done; });
        r->set_input(0, random_tensor({1, 8, 32, 32}, i));
        r->start_async();
    }
    for (int i = 0; i < 500 && done.load() < 4; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_EQ(done.load(), 4);
}

// ConsumerIndex (core/model.hpp) stays what consumers() would give after each replacement: new
// nodes become readers, nodes left feeding nothing leave, a node that reads what it replaces
// keeps reading it.
TEST(ConsumerIndex, MatchesARebuildAfterEveryReplacement) {
    auto x = make<op::Parameter>({}, Type::f32, PartialShape({2, 3}));
    Output a = make<op::Relu>({x->output(0)})->output(0);
    Output b = make<op::Sigmoid>({a})->output(0);
    Output c = make<op::Add>({a, b}, AutoBroadcast::numpy)->output(0);
    Output d = make<op::Tanh>({c})->output(0);
    Model m({make<op::Result>({d}), make<op::Result>({b})}, {x});
    ConsumerIndex ci(m);
    auto same = [&] {
        auto want = consumers(m);
        EXPECT_EQ(ci.map().size(), want.size());
        for (auto& [o, readers] : want) {
            auto it = ci.map().find(o);
            ASSERT_NE(it, ci.map().end()) << o.node->type_name();
            auto got = it->second;
            std::sort(got.begin(), got.end());
            std::sort(readers.begin(), readers.end());
            EXPECT_EQ(got, readers) << o.node->type_name();
        }
    };
    same();
    // Replace c = a + b by a new Multiply(a, b): Add leaves; Multiply reads a and b.
    Output e = make<op::Multiply>({a, b}, AutoBroadcast::numpy)->output(0);
    ci.replace(c, e);
    same();
    EXPECT_EQ(d.node->input(0), e);
    // Replace b by Abs(b), which reads b itself: every other reader moves, Abs keeps b.
    Output f = make<op::Abs>({b})->output(0);
    ci.replace(b, f);
    same();
    EXPECT_EQ(f.node->input(0), b);
    // Replace the whole chain after x by one node: a, b and their readers leave the index.
    Output g = make<op::Exp>({x->output(0)})->output(0);
    ci.replace(e, g);
    ci.replace(f, g);
    same();
    EXPECT_FALSE(ci.map().count(a));
}
