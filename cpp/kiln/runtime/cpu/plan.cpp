#include "kiln/runtime/cpu/plan.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "kiln/core/interpreter.hpp"

#include "kiln/passes/constant_folding.hpp"
#include "kiln/passes/fuse_dnn.hpp"
#include "kiln/runtime/cpu/kernel_table.hpp"

namespace kiln::cpu {

namespace {

constexpr size_t kAlign = 64;
size_t align_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

bool is_type(const Node& n, const char* t) { return std::strcmp(n.type_name(), t) == 0; }

// Places buffers with known lifetimes [first, last] (step indices) into one arena: largest
// first, each at the lowest offset that does not overlap a placed buffer alive at the same time.
size_t place_buffers(const std::vector<size_t>& sizes, const std::vector<std::pair<size_t, size_t>>& live,
                     std::vector<size_t>& offsets) {
    std::vector<size_t> order(sizes.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return sizes[a] > sizes[b]; });
    offsets.assign(sizes.size(), 0);
    std::vector<size_t> placed;
    size_t total = 0;
    for (size_t i : order) {
        std::vector<std::pair<size_t, size_t>> busy;
        for (size_t j : placed)
            if (live[j].first <= live[i].second && live[i].first <= live[j].second)
                busy.emplace_back(offsets[j], offsets[j] + sizes[j]);
        std::sort(busy.begin(), busy.end());
        size_t at = 0;
        for (auto& [b, e] : busy) {
            if (at + sizes[i] <= b) break;
            at = std::max(at, e);
        }
        offsets[i] = at;
        total = std::max(total, at + sizes[i]);
        placed.push_back(i);
    }
    return total;
}

}  // namespace

std::shared_ptr<void> allocate_arena(size_t bytes) {
    if (bytes == 0) return nullptr;
    void* p = std::aligned_alloc(kAlign, align_up(bytes));
    if (!p) throw std::bad_alloc();
    return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
}

std::shared_ptr<const Plan> Plan::build(const Model& model, const std::vector<Shape>& input_shapes,
                                        const PlanOptions& options) {
    auto m = model.clone();
    auto& params = m->parameters();
    KILN_CHECK(input_shapes.size() == params.size(), "expected ", params.size(), " inputs, got ",
               input_shapes.size());
    for (size_t i = 0; i < params.size(); ++i) params[i]->shape = PartialShape(input_shapes[i]);
    // Shapes that cannot flow, and values that fail once folded for these shapes (an index out of
    // range computed from a length, as a position past the end of a position table), both come from
    // these inputs: say so.
    try {
        m->validate_and_infer();
        passes::fold_constants(*m);
    } catch (const Error& e) {
        std::string shapes;
        for (size_t i = 0; i < params.size(); ++i)
            shapes += (i ? ", " : "") + model.input_name(i) + ": " + to_string(input_shapes[i]);
        throw ValueError(str_cat("input shapes {", shapes, "} do not fit the model: ", e.what()));
    }
    fuse_dnn_ops(*m);

    auto plan = std::make_shared<Plan>();
    plan->options_ = options;
    std::unordered_map<Node*, std::vector<size_t>> slot_of;  // node -> slot per output
    std::unordered_map<size_t, TensorDesc> dynamic_desc;     // dynamic slot -> what infer() knows
    for (size_t i = 0; i < params.size(); ++i) {
        plan->slots_.push_back(Slot{SlotKind::input, params[i]->element_type, input_shapes[i], 0, i, {}});
        slot_of[params[i].get()] = {plan->slots_.size() - 1};
    }
    std::unordered_set<Node*> in_tail;
    NodeVector tail_nodes;
    auto ops = m->ordered_ops();
    for (auto& n : ops) {
        if (is_type(*n, "Parameter") || is_type(*n, "Result")) continue;
        if (auto v = n->constant_value()) {
            plan->slots_.push_back(Slot{SlotKind::constant, v->type(), v->shape(), 0, 0, *v});
            slot_of[n.get()] = {plan->slots_.size() - 1};
            continue;
        }
        // A node that reads a data-dependent shape waits for the tail, planned when it is known.
        bool later = false;
        for (auto& in : n->inputs())
            later = later || in_tail.count(in.node.get()) ||
                    plan->slots_[slot_of.at(in.node.get()).at(in.index)].kind == SlotKind::dynamic;
        if (later) {
            in_tail.insert(n.get());
            tail_nodes.push_back(n);
            continue;
        }
        Step step;
        KernelShapes ks;
        ks.inference_precision = options.inference_precision;
        for (auto& in : n->inputs()) {
            size_t s = slot_of.at(in.node.get()).at(in.index);
            step.in.push_back(s);
            auto& slot = plan->slots_[s];
            ks.inputs.push_back(TensorDesc{slot.type, PartialShape(slot.shape)});
        }
        std::vector<size_t> outs;
        bool dynamic = false;
        for (size_t i = 0; i < n->num_outputs(); ++i) {
            auto& d = n->output_desc(i);
            if (d.shape.is_static() && d.type != Type::dynamic) {
                plan->slots_.push_back(Slot{SlotKind::arena, d.type, d.shape.to_shape(), 0, 0, {}});
            } else {
                plan->slots_.push_back(Slot{SlotKind::dynamic, d.type, {}, 0, 0, {}});
                dynamic_desc[plan->slots_.size() - 1] = d;
                dynamic = true;
            }
            outs.push_back(plan->slots_.size() - 1);
            ks.outputs.push_back(d);
        }
        slot_of[n.get()] = outs;
        step.out = outs;
        // Kernel factories read weights through these pointers (slots_ never moves its elements).
        for (size_t s : step.in) {
            auto& slot = plan->slots_[s];
            ks.constants.push_back(slot.kind == SlotKind::constant ? &slot.constant : nullptr);
        }
        step.kernel = dynamic ? select_dynamic_kernel(n, ks) : select_kernel(n, ks);
        step.node_type = n->type_name();
        step.node_name = n->name();
        step.source = n->source();
        plan->steps_.push_back(std::move(step));
    }
    // The tail: its nodes copied into a model of their own, reading the slots they need as inputs.
    if (!tail_nodes.empty()) {
        auto tail = std::make_unique<Tail>();
        std::unordered_map<size_t, Output> param_of;
        std::unordered_map<Node*, NodePtr> copies;
        ParameterVector tparams;
        for (auto& n : tail_nodes) {
            OutputVector ins;
            for (auto& in : n->inputs()) {
                if (in_tail.count(in.node.get())) {
                    ins.push_back(Output{copies.at(in.node.get()), in.index});
                    continue;
                }
                size_t s = slot_of.at(in.node.get()).at(in.index);
                auto& slot = plan->slots_[s];
                if (slot.kind == SlotKind::constant) {
                    ins.push_back(make<op::Constant>({}, slot.constant)->output(0));
                    continue;
                }
                auto it = param_of.find(s);
                if (it == param_of.end()) {
                    PartialShape ps = slot.kind == SlotKind::dynamic ? dynamic_desc.at(s).shape : PartialShape(slot.shape);
                    auto p = make<op::Parameter>({}, slot.type, ps);
                    p->set_name(in.node->name());
                    tparams.push_back(p);
                    tail->input_slots.push_back(s);
                    it = param_of.emplace(s, p->output(0)).first;
                }
                ins.push_back(it->second);
            }
            auto c = n->clone(ins);
            copies[n.get()] = c;
        }
        ResultVector tresults;
        for (size_t r = 0; r < m->results().size(); ++r) {
            auto& in = m->results()[r]->input(0);
            if (!in_tail.count(in.node.get())) continue;
            tresults.push_back(make<op::Result>({Output{copies.at(in.node.get()), in.index}}));
            tail->output_index.push_back(r);
        }
        tail->model = std::make_shared<Model>(tresults, tparams, m->name() + "/tail");
        plan->tail_ = std::move(tail);
    }
    // Graph outputs: an arena tensor produced by a step becomes an output slot (allocated per
    // call and handed to the caller); anything else is copied (or, when dynamic, handed over).
    for (size_t r = 0; r < m->results().size(); ++r) {
        auto& in = m->results()[r]->input(0);
        if (in_tail.count(in.node.get())) {
            plan->output_descs_.push_back(in.node->output_desc(in.index));
            plan->output_slots_.push_back(SIZE_MAX);
            continue;
        }
        size_t s = slot_of.at(in.node.get()).at(in.index);
        auto& slot = plan->slots_[s];
        if (slot.kind == SlotKind::dynamic) plan->output_descs_.push_back(dynamic_desc.at(s));
        else plan->output_descs_.push_back(TensorDesc{slot.type, PartialShape(slot.shape)});
        if (slot.kind == SlotKind::arena) {
            slot.kind = SlotKind::output;
            slot.index = r;
        } else {
            plan->copies_.push_back(Copy{s, r});
        }
        plan->output_slots_.push_back(s);
    }
    // Lifetimes of arena slots; what the tail reads lives to the end.
    std::vector<std::pair<size_t, size_t>> live(plan->slots_.size(), {SIZE_MAX, 0});
    for (size_t k = 0; k < plan->steps_.size(); ++k) {
        for (size_t s : plan->steps_[k].out) live[s].first = std::min(live[s].first, k), live[s].second = std::max(live[s].second, k);
        for (size_t s : plan->steps_[k].in) live[s].second = std::max(live[s].second, k);
    }
    if (plan->tail_)
        for (size_t s : plan->tail_->input_slots) live[s].second = plan->steps_.size();
    std::vector<size_t> arena_slots, sizes, offsets;
    std::vector<std::pair<size_t, size_t>> arena_live;
    for (size_t s = 0; s < plan->slots_.size(); ++s) {
        if (plan->slots_[s].kind != SlotKind::arena) continue;
        arena_slots.push_back(s);
        sizes.push_back(align_up(shape_size(plan->slots_[s].shape) * type_size(plan->slots_[s].type)));
        arena_live.push_back(live[s]);
    }
    plan->arena_bytes_ = place_buffers(sizes, arena_live, offsets);
    for (size_t i = 0; i < arena_slots.size(); ++i) plan->slots_[arena_slots[i]].offset = offsets[i];
    return plan;
}

std::shared_ptr<const Plan> Plan::tail_plan(const std::vector<Shape>& shapes) const {
    return tail_->plans.get(shapes, [&] { return Plan::build(*tail_->model, shapes, options_); });
}

void Plan::run(const std::vector<Tensor>& inputs, std::vector<Tensor>& outputs, void* arena,
               std::vector<StepProfile>* profile) const {
    outputs.assign(output_descs_.size(), Tensor());
    run_into(inputs, outputs, arena, profile);
}

void Plan::run_into(const std::vector<Tensor>& inputs, std::vector<Tensor>& outputs, void* arena,
                    std::vector<StepProfile>* profile) const {
    KILN_CHECK(outputs.size() == output_descs_.size(), "the plan has ", output_descs_.size(), " outputs, got ",
               outputs.size(), " places for them");
    std::vector<Tensor> tensors(slots_.size());
    auto base = static_cast<char*>(arena);
    for (size_t s = 0; s < slots_.size(); ++s) {
        auto& slot = slots_[s];
        switch (slot.kind) {
            case SlotKind::input: tensors[s] = inputs.at(slot.index); break;
            case SlotKind::constant: tensors[s] = slot.constant; break;
            case SlotKind::arena: tensors[s] = Tensor(slot.type, slot.shape, base + slot.offset, nullptr); break;
            case SlotKind::output: {
                auto& o = outputs[slot.index];
                if (allocated(o)) {
                    KILN_CHECK(o.type() == slot.type && o.shape() == slot.shape, "output ", slot.index, " is ",
                               type_name(slot.type), to_string(slot.shape), ", got a place for ", type_name(o.type()),
                               to_string(o.shape()));
                    tensors[s] = o;
                } else {
                    tensors[s] = Tensor(slot.type, slot.shape);
                    o = tensors[s];
                }
                break;
            }
            case SlotKind::dynamic: break;  // the producing kernel allocates it
        }
    }
    std::vector<Tensor> in, out;
    for (auto& step : steps_) {
        in.clear();
        out.clear();
        for (size_t s : step.in) in.push_back(tensors[s]);
        for (size_t s : step.out) out.push_back(tensors[s]);
        try {
            if (profile) {
                auto t0 = std::chrono::steady_clock::now();
                step.kernel->execute(in, out);
                std::chrono::duration<double, std::micro> us = std::chrono::steady_clock::now() - t0;
                profile->push_back({step.node_name, step.node_type, step.kernel->name(), step.layout,
                                    step.kernel->detail(), us.count()});
            } else {
                step.kernel->execute(in, out);
            }
            for (size_t k = 0; k < step.out.size(); ++k) {
                if (slots_[step.out[k]].kind != SlotKind::dynamic) continue;
                KILN_CHECK(allocated(out[k]), "output ", k, " was not produced");
                tensors[step.out[k]] = out[k];
            }
        } catch (const ValueError& e) {
            // Bad input data (an index out of range): the user's fault, said with the torch line.
            throw ValueError(str_cat(e.what(), step.source.empty() ? "" : "\n  at " + step.source));
        } catch (const std::exception& e) {
            throw Error(str_cat("[", step.node_type, " ", step.node_name, "] kernel ", step.kernel->name(),
                                " failed: ", e.what(), step.source.empty() ? "" : "\n  at " + step.source));
        }
    }
    std::vector<bool> handed(slots_.size(), false);
    for (auto& c : copies_) {
        // A dynamic tensor is fresh memory of this call: the first output may take it as it is.
        bool take = slots_[c.from].kind == SlotKind::dynamic && !handed[c.from];
        deliver(outputs[c.output_index], take ? tensors[c.from] : tensors[c.from].copy(),
                str_cat("output ", c.output_index));
        handed[c.from] = true;
    }
    if (tail_) {
        std::vector<Tensor> tin;
        std::vector<Shape> shapes;
        for (size_t s : tail_->input_slots) {
            tin.push_back(tensors[s]);
            shapes.push_back(tensors[s].shape());
        }
        auto plan = tail_plan(shapes);
        std::vector<Tensor> tout;
        for (size_t r : tail_->output_index) tout.push_back(outputs[r]);
        auto scratch = allocate_arena(plan->arena_bytes());
        std::chrono::steady_clock::time_point t0;
        if (profile) t0 = std::chrono::steady_clock::now();
        plan->run_into(tin, tout, scratch.get());
        if (profile) {
            std::chrono::duration<double, std::micro> us = std::chrono::steady_clock::now() - t0;
            profile->push_back({tail_->model->name(), "(tail)", "plan", "", "", us.count()});
        }
        for (size_t k = 0; k < tout.size(); ++k) outputs[tail_->output_index[k]] = tout[k];
    }
}

std::vector<std::array<std::string, 3>> Plan::kernel_summary() const {
    std::vector<std::array<std::string, 3>> r;
    for (auto& s : steps_) r.push_back({s.node_type, s.node_name, s.kernel->name()});
    if (tail_) r.push_back({"(tail)", tail_->model->name(), "planned when its input shapes are known"});
    return r;
}

}  // namespace kiln::cpu
