#include "kiln/runtime/cpu/kernels/control_flow.hpp"

#include <list>
#include <mutex>

#include "kiln/ops/control_flow.hpp"
#include "kiln/runtime/cpu/plan.hpp"

namespace kiln::cpu {

namespace {

// A body's plan, or why the body cannot take these shapes: a body the data never selects may
// reject shapes the other one takes (torch only fails when the branch runs, and so does kiln).
struct BodyPlan {
    std::shared_ptr<const Plan> plan;
    std::string error;

    static BodyPlan build(const Model& body, const std::vector<Shape>& shapes) {
        BodyPlan b;
        try {
            b.plan = Plan::build(body, shapes);
        } catch (const Error& e) {
            b.error = e.what();
        }
        return b;
    }
    const Plan& get(const char* what) const {
        if (!plan) throw Error(str_cat(what, " cannot run at these input shapes: ", error));
        return *plan;
    }
};

void run_plan(const Plan& plan, const std::vector<Tensor>& in, std::vector<Tensor>& out) {
    auto arena = allocate_arena(plan.arena_bytes());  // per call: execute() may run in many threads
    plan.run_into(in, out, arena.get());
}

class IfKernel : public Kernel {
public:
    IfKernel(std::shared_ptr<const op::If> node, const KernelShapes& ks) : node_(std::move(node)) {
        for (size_t b = 0; b < 2; ++b) {
            const Model& body = b ? *node_->else_body : *node_->then_body;
            std::vector<Shape> shapes(body.parameters().size());
            for (auto& d : node_->inputs_of(b))
                shapes[static_cast<size_t>(d.body_parameter_index)] = ks.in(static_cast<size_t>(d.input_index));
            plans_[b] = BodyPlan::build(body, shapes);
        }
    }
    void execute(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override {
        node_->execute(in, out, [this](size_t b, const std::vector<Tensor>& bi, std::vector<Tensor>& bo) {
            run_plan(plans_[b].get(b ? "else_body" : "then_body"), bi, bo);
        });
    }
    const char* name() const override { return "if_plans"; }

private:
    std::shared_ptr<const op::If> node_;
    BodyPlan plans_[2];
};

class LoopKernel : public Kernel {
public:
    LoopKernel(std::shared_ptr<const op::Loop> node, const KernelShapes& ks) : node_(std::move(node)) {
        auto& params = node_->body->parameters();
        std::vector<Shape> shapes(params.size());
        for (auto& d : node_->invariant_inputs)
            shapes[static_cast<size_t>(d.body_parameter_index)] = ks.in(static_cast<size_t>(d.input_index));
        for (auto& d : node_->merged_inputs)
            shapes[static_cast<size_t>(d.body_parameter_index)] = ks.in(static_cast<size_t>(d.input_index));
        int64_t it = node_->special_body_ports.current_iteration_input_idx;
        if (it >= 0) {
            auto& p = params[static_cast<size_t>(it)]->shape;
            shapes[static_cast<size_t>(it)] = p.rank_is_static() && p.rank() == 1 ? Shape{1} : Shape{};
        }
        plans_.emplace_back(shapes, std::make_shared<BodyPlan>(BodyPlan::build(*node_->body, shapes)));
    }
    void execute(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override {
        // The plan of the iteration before, while the carried shapes stay the same (the usual case).
        std::shared_ptr<const BodyPlan> last;
        std::vector<Shape> last_shapes;
        std::shared_ptr<void> arena;
        size_t arena_size = 0;
        node_->execute(in, out, [&](size_t, const std::vector<Tensor>& bi, std::vector<Tensor>& bo) {
            std::vector<Shape> shapes;
            for (auto& t : bi) shapes.push_back(t.shape());
            if (!last || shapes != last_shapes) {
                last = plan_for(shapes);
                last_shapes = shapes;
            }
            const Plan& p = last->get("body");
            if (p.arena_bytes() > arena_size) {
                arena = allocate_arena(p.arena_bytes());
                arena_size = p.arena_bytes();
            }
            p.run_into(bi, bo, arena.get());
        });
    }
    const char* name() const override { return "loop_plans"; }

private:
    // A carried value that changes shape needs a plan per shape it takes; the most recent ones
    // are kept (a value that grows every iteration would otherwise keep one per iteration).
    std::shared_ptr<const BodyPlan> plan_for(const std::vector<Shape>& shapes) const {
        constexpr size_t kKept = 16;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            for (auto it = plans_.begin(); it != plans_.end(); ++it)
                if (it->first == shapes) {
                    plans_.splice(plans_.begin(), plans_, it);
                    return plans_.front().second;
                }
        }
        auto p = std::make_shared<const BodyPlan>(BodyPlan::build(*node_->body, shapes));
        std::lock_guard<std::mutex> lock(mutex_);
        plans_.emplace_front(shapes, p);
        while (plans_.size() > kKept) plans_.pop_back();
        return p;
    }

    std::shared_ptr<const op::Loop> node_;
    mutable std::mutex mutex_;
    mutable std::list<std::pair<std::vector<Shape>, std::shared_ptr<const BodyPlan>>> plans_;  // MRU first
};

}  // namespace

KernelPtr make_control_flow_kernel(const std::shared_ptr<const Node>& node, const KernelShapes& shapes) {
    if (auto n = std::dynamic_pointer_cast<const op::If>(node)) return std::make_unique<IfKernel>(n, shapes);
    if (auto n = std::dynamic_pointer_cast<const op::Loop>(node)) return std::make_unique<LoopKernel>(n, shapes);
    return nullptr;
}

}  // namespace kiln::cpu
