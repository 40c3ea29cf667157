#include "kiln/runtime/cpu/plan.hpp"

#include <algorithm>
#include <cstring>
#include <unordered_map>

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

std::shared_ptr<const Plan> Plan::build(const Model& model, const std::vector<Shape>& input_shapes) {
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
    std::unordered_map<Node*, std::vector<size_t>> slot_of;  // node -> slot per output
    for (size_t i = 0; i < params.size(); ++i) {
        plan->slots_.push_back(Slot{SlotKind::input, params[i]->element_type, input_shapes[i], 0, i, {}});
        slot_of[params[i].get()] = {plan->slots_.size() - 1};
    }
    std::vector<std::pair<size_t, size_t>> live;  // per slot: first def step, last use step
    auto ops = m->ordered_ops();
    for (auto& n : ops) {
        if (is_type(*n, "Parameter") || is_type(*n, "Result")) continue;
        if (auto v = n->constant_value()) {
            plan->slots_.push_back(Slot{SlotKind::constant, v->type(), v->shape(), 0, 0, *v});
            slot_of[n.get()] = {plan->slots_.size() - 1};
            continue;
        }
        Step step;
        KernelShapes ks;
        for (auto& in : n->inputs()) {
            size_t s = slot_of.at(in.node.get()).at(in.index);
            step.in.push_back(s);
            auto& slot = plan->slots_[s];
            ks.inputs.push_back(TensorDesc{slot.type, PartialShape(slot.shape)});
        }
        std::vector<size_t> outs;
        for (size_t i = 0; i < n->num_outputs(); ++i) {
            auto& d = n->output_desc(i);
            KILN_CHECK_NODE(*n, d.shape.is_static() && d.type != Type::dynamic,
                            "output ", i, " is ", type_name(d.type), d.shape.to_string(),
                            " after shape specialization; kiln cannot run data-dependent shapes yet");
            plan->slots_.push_back(Slot{SlotKind::arena, d.type, d.shape.to_shape(), 0, 0, {}});
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
        step.kernel = select_kernel(n, ks);
        step.node_type = n->type_name();
        step.node_name = n->name();
        step.source = n->source();
        plan->steps_.push_back(std::move(step));
    }
    // Graph outputs: an arena tensor produced by a step becomes an output slot (allocated per
    // call and handed to the caller); anything else is copied.
    for (size_t r = 0; r < m->results().size(); ++r) {
        auto& in = m->results()[r]->input(0);
        size_t s = slot_of.at(in.node.get()).at(in.index);
        auto& slot = plan->slots_[s];
        plan->output_descs_.push_back(TensorDesc{slot.type, PartialShape(slot.shape)});
        if (slot.kind == SlotKind::arena) {
            slot.kind = SlotKind::output;
            slot.index = r;
        } else {
            plan->copies_.push_back(Copy{s, r});
        }
        plan->output_slots_.push_back(s);
    }
    // Lifetimes of arena slots.
    live.assign(plan->slots_.size(), {SIZE_MAX, 0});
    for (size_t k = 0; k < plan->steps_.size(); ++k) {
        for (size_t s : plan->steps_[k].out) live[s].first = std::min(live[s].first, k), live[s].second = std::max(live[s].second, k);
        for (size_t s : plan->steps_[k].in) live[s].second = std::max(live[s].second, k);
    }
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

void Plan::run(const std::vector<Tensor>& inputs, std::vector<Tensor>& outputs, void* arena) const {
    outputs.assign(output_descs_.size(), Tensor());
    std::vector<Tensor> tensors(slots_.size());
    auto base = static_cast<char*>(arena);
    for (size_t s = 0; s < slots_.size(); ++s) {
        auto& slot = slots_[s];
        switch (slot.kind) {
            case SlotKind::input: tensors[s] = inputs.at(slot.index); break;
            case SlotKind::constant: tensors[s] = slot.constant; break;
            case SlotKind::arena: tensors[s] = Tensor(slot.type, slot.shape, base + slot.offset, nullptr); break;
            case SlotKind::output:
                tensors[s] = Tensor(slot.type, slot.shape);
                outputs[slot.index] = tensors[s];
                break;
        }
    }
    std::vector<Tensor> in, out;
    for (auto& step : steps_) {
        in.clear();
        out.clear();
        for (size_t s : step.in) in.push_back(tensors[s]);
        for (size_t s : step.out) out.push_back(tensors[s]);
        try {
            step.kernel->execute(in, out);
        } catch (const ValueError& e) {
            // Bad input data (an index out of range): the user's fault, said with the torch line.
            throw ValueError(str_cat(e.what(), step.source.empty() ? "" : "\n  at " + step.source));
        } catch (const std::exception& e) {
            throw Error(str_cat("[", step.node_type, " ", step.node_name, "] kernel ", step.kernel->name(),
                                " failed: ", e.what(), step.source.empty() ? "" : "\n  at " + step.source));
        }
    }
    for (auto& c : copies_) outputs[c.output_index] = tensors[c.from].copy();
}

std::vector<std::array<std::string, 3>> Plan::kernel_summary() const {
    std::vector<std::array<std::string, 3>> r;
    for (auto& s : steps_) r.push_back({s.node_type, s.node_name, s.kernel->name()});
    return r;
}

}  // namespace kiln::cpu
