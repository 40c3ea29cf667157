#include "kiln/runtime/cpu/plan.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "kiln/core/interpreter.hpp"

#include "kiln/passes/constant_folding.hpp"
#include "kiln/passes/pipeline.hpp"
#include "kiln/ops/elementwise_binary.hpp"
#include "kiln/ops/elementwise_unary.hpp"
#include "kiln/ops/convolution.hpp"
#include "kiln/ops/internal/fused.hpp"
#include "kiln/runtime/cpu/kernel_table.hpp"
#include "kiln/runtime/cpu/kernels/eltwise.hpp"
#include "kiln/runtime/cpu/layout_concat.hpp"
#include "kiln/runtime/cpu/onednn/onednn_common.hpp"

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

// Nodes whose kernel computes each output element from the input elements at the same position
// (unary activations, binary arithmetic), so that they can run on a blocked tensor's physical
// shape as it is. Ops whose value at 0 is not finite (Log, Divide, ...) are left out: a blocked
// tensor's padding holds zeros or values computed from zeros, and must stay finite.
bool layout_transparent(const Node& n) {
    if (dynamic_cast<const op::Swish*>(&n)) return n.num_inputs() == 1;
    return dynamic_cast<const op::Relu*>(&n) || dynamic_cast<const op::Sigmoid*>(&n) ||
           dynamic_cast<const op::Tanh*>(&n) || dynamic_cast<const op::Abs*>(&n) ||
           dynamic_cast<const op::Negative*>(&n) || dynamic_cast<const op::Clamp*>(&n) ||
           dynamic_cast<const op::HSwish*>(&n) || dynamic_cast<const op::HSigmoid*>(&n) ||
           dynamic_cast<const op::Gelu*>(&n) || dynamic_cast<const op::Elu*>(&n) ||
           dynamic_cast<const op::Mish*>(&n) || dynamic_cast<const op::SoftPlus*>(&n) ||
           dynamic_cast<const op::Erf*>(&n) || dynamic_cast<const op::Add*>(&n) ||
           dynamic_cast<const op::Subtract*>(&n) || dynamic_cast<const op::Multiply*>(&n) ||
           dynamic_cast<const op::Maximum*>(&n) || dynamic_cast<const op::Minimum*>(&n);
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
    bool specialize = !options.optimized;
    for (size_t i = 0; i < params.size(); ++i) {
        PartialShape s(input_shapes[i]);
        if (params[i]->shape != s) specialize = true;
        params[i]->shape = std::move(s);
    }
    if (specialize) {
        // Shapes that cannot flow, and values that fail once folded for these shapes (an index out
        // of range computed from a length, as a position past the end of a position table), both
        // come from these inputs: say so.
        try {
            m->validate_and_infer();
            passes::fold_constants(*m);
        } catch (const Error& e) {
            std::string shapes;
            for (size_t i = 0; i < params.size(); ++i)
                shapes += (i ? ", " : "") + model.input_name(i) + ": " + to_string(input_shapes[i]);
            throw ValueError(str_cat("input shapes {", shapes, "} do not fit the model: ", e.what()));
        }
        // The whole list (folding again finds nothing left): what folding revealed can now fuse.
        passes::optimize(*m);
    }

    auto plan = std::make_shared<Plan>();
    plan->options_ = options;
    auto& slots = plan->slots_;
    // `type` is the tensor's graph type; the slot holds it as the layout stores it (bf16 storage).
    auto add_slot = [&](SlotKind kind, Type type, const Shape& logical, Layout layout) {
        Slot sl{kind, stored_type(type, layout), physical_shape(logical, layout), 0, 0, {}, layout, logical};
        slots.push_back(std::move(sl));
        return slots.size() - 1;
    };
    std::unordered_map<Node*, std::vector<size_t>> slot_of;  // node -> slot per output
    std::unordered_map<size_t, TensorDesc> dynamic_desc;     // dynamic slot -> what infer() knows
    for (size_t i = 0; i < params.size(); ++i) {
        size_t s = add_slot(SlotKind::input, params[i]->element_type, input_shapes[i], {});
        slots[s].index = i;
        slot_of[params[i].get()] = {s};
    }
    const bool negotiate = !reference_only();
    // A new constant slot: `value` (laid out as `from`, logical shape `logical`) in layout `to`,
    // reordered once, now.
    auto relaid_constant = [&](const Tensor& value, Layout from, const Shape& logical, Layout to) {
        size_t r = add_slot(SlotKind::constant, value.type(), logical, to);
        slots[r].constant = Tensor(slots[r].type, slots[r].shape);
        reorder_reference(value, from, slots[r].constant, to, logical);
        return r;
    };
    // Slot `s` in layout `want`: itself, or the output of a reorder step (made once per slot and
    // layout, shared by every reader).
    std::map<std::pair<size_t, int64_t>, size_t> reorders;
    auto in_layout = [&](size_t s, Layout want, const std::string& reader) -> size_t {
        if (same_bytes(slots[s].logical, slots[s].layout, want)) return s;
        auto key = std::make_pair(s, want.code());
        if (auto it = reorders.find(key); it != reorders.end()) return it->second;
        const Slot from = slots[s];
        if (from.kind == SlotKind::constant)  // a constant read as an activation: reordered now
            return reorders[key] = relaid_constant(from.constant, from.layout, from.logical, want);
        const Type graph_type = from.layout.bf16 ? Type::f32 : from.type;
        size_t r = add_slot(SlotKind::arena, graph_type, from.logical, want);
        const std::string a = layout_name(from.layout, from.logical.size()), b = layout_name(want, from.logical.size());
        Step step;
        step.kernel = onednn::make_reorder_kernel(from.logical, graph_type, from.layout, want);
        step.in = {s};
        step.out = {r};
        step.in_shapes = {from.shape};
        step.out_shapes = {slots[r].shape};
        step.node_type = "Reorder";
        step.node_name = reader + "/reorder_" + a + "_" + b;
        step.layout = a + "->" + b;
        plan->steps_.push_back(std::move(step));
        return reorders[key] = r;
    };
    // Constants stay where they are (one value) or are laid out once, at planning, like the
    // tensors they meet (a per-channel scale [C, 1, 1] becomes [1, 1, 1, C] for nhwc).
    std::map<std::pair<size_t, int64_t>, size_t> laid_constants;
    auto laid_constant = [&](size_t s, const Shape& y, Layout layout) -> std::optional<size_t> {
        const Slot& c = slots[s];
        if (shape_size(c.logical) == 1) return s;
        if (c.logical.size() > y.size()) return std::nullopt;
        Shape padded(y.size() - c.logical.size(), 1);
        padded.insert(padded.end(), c.logical.begin(), c.logical.end());
        // Broadcasting a blocked tensor's channels would spread the padding lanes too.
        if (padded[1] != y[1] && (padded[1] != 1 || layout.kind == Layout::Kind::blocked)) return std::nullopt;
        for (size_t i = 0; i < y.size(); ++i)
            if (padded[i] != y[i] && padded[i] != 1) return std::nullopt;
        auto key = std::make_pair(s, layout.code());
        if (auto it = laid_constants.find(key); it != laid_constants.end()) return it->second;
        return laid_constants[key] = relaid_constant(c.constant.reshaped(padded), Layout{}, padded, layout);
    };
    // An element-wise node over inputs in a layout other than plain, run on their physical
    // shapes, or nullptr. Every input that is not a constant is in that layout (or has the same
    // bytes in it) and has the output's channels; constants are laid out to match.
    auto blocked_eltwise = [&](const NodePtr& n, std::vector<size_t>& ins, Layout& layout) -> KernelPtr {
        if (!negotiate || !layout_transparent(*n) || n->num_outputs() != 1) return nullptr;
        auto& od = n->output_desc(0);
        if (od.type != Type::f32 || !od.shape.is_static()) return nullptr;
        const Shape y = od.shape.to_shape();
        // The layout of the first input that is not plain; every other input must be that or
        // have the same bytes in it ([N, C, 1, 1] is one and the same in nchw and nhwc).
        layout = {};
        for (size_t s : ins)
            if (slots[s].kind != SlotKind::constant && !slots[s].layout.is_plain()) {
                layout = slots[s].layout;
                break;
            }
        if (layout.is_plain()) return nullptr;
        std::vector<size_t> use = ins;
        for (size_t& s : use) {
            auto& sl = slots[s];
            if (sl.kind == SlotKind::constant) {
                if (sl.type != Type::f32 && shape_size(sl.logical) != 1) return nullptr;
                auto laid = laid_constant(s, y, layout);
                if (!laid) return nullptr;
                s = *laid;
                continue;
            }
            if (sl.type != Type::f32 || sl.logical.size() != y.size() || sl.logical[1] != y[1] ||
                !same_bytes(sl.logical, sl.layout, layout))
                return nullptr;
        }
        KernelShapes ks;
        ks.inference_precision = options.inference_precision;
        for (size_t s : use) {
            const bool c = slots[s].kind == SlotKind::constant;
            ks.inputs.push_back(TensorDesc{slots[s].type, PartialShape(c ? slots[s].shape : physical_shape(slots[s].logical, layout))});
            ks.constants.push_back(c ? &slots[s].constant : nullptr);
        }
        ks.outputs.push_back(TensorDesc{od.type, PartialShape(physical_shape(y, layout))});
        auto k = make_eltwise_kernel(*n, ks);
        if (k) ins = use;
        return k;
    };
    std::unordered_set<Node*> in_tail;
    NodeVector tail_nodes;
    auto ops = m->ordered_ops();
    // The outputs some node or result reads, and whether only convolutions read each: with bf16
    // precision those may be stored in bf16 (KernelShapes::outputs_bf16), so that no f32 copy sits
    // between two bf16 convolutions.
    std::map<std::pair<Node*, size_t>, bool> read;  // output -> only convolutions read it
    for (auto& n : ops) {
        const bool conv = dynamic_cast<const op::FusedConvolution*>(n.get()) ||
                          dynamic_cast<const op::Convolution*>(n.get()) ||
                          dynamic_cast<const op::GroupConvolution*>(n.get());
        for (auto& in : n->inputs()) {
            auto [it, fresh] = read.emplace(std::make_pair(in.node.get(), in.index), conv);
            if (!fresh) it->second = it->second && conv;
        }
    }
    const bool bf16_storage = negotiate && options.inference_precision == Type::bf16;
    auto bf16_ok = [&](Node* n, size_t i) {
        auto it = read.find({n, i});
        return bf16_storage && it != read.end() && it->second;
    };
    for (auto& n : ops) {
        if (is_type(*n, "Parameter") || is_type(*n, "Result")) continue;
        if (auto v = n->constant_value()) {
            size_t s = add_slot(SlotKind::constant, v->type(), v->shape(), {});
            slots[s].constant = *v;
            slot_of[n.get()] = {s};
            continue;
        }
        // A node that reads a data-dependent shape waits for the tail, planned when it is known.
        bool later = false;
        for (auto& in : n->inputs())
            later = later || in_tail.count(in.node.get()) ||
                    slots[slot_of.at(in.node.get()).at(in.index)].kind == SlotKind::dynamic;
        if (later) {
            in_tail.insert(n.get());
            tail_nodes.push_back(n);
            continue;
        }
        Step step;
        for (auto& in : n->inputs()) step.in.push_back(slot_of.at(in.node.get()).at(in.index));
        bool dynamic = false;
        for (size_t i = 0; i < n->num_outputs(); ++i) {
            auto& d = n->output_desc(i);
            dynamic = dynamic || !d.shape.is_static() || d.type == Type::dynamic;
        }
        std::vector<Layout> out_layouts(n->num_outputs());
        std::vector<Layout> reads(step.in.size());  // the layout the kernel reads each input in
        Layout layout;
        if (!dynamic) step.kernel = blocked_eltwise(n, step.in, layout);
        if (step.kernel)
            for (size_t i = 0; i < step.in.size(); ++i)
                reads[i] = slots[step.in[i]].kind == SlotKind::constant ? slots[step.in[i]].layout : layout;
        if (!dynamic && !step.kernel && negotiate) {
            // A channel concat of tensors in one layout (DenseNet, Inception) stays in it.
            layout = {};
            for (size_t s : step.in)
                if (!slots[s].layout.is_plain()) layout = slots[s].layout;
            if (!layout.is_plain()) {
                KernelShapes ks;
                for (size_t s : step.in) ks.inputs.push_back(TensorDesc{slots[s].type, PartialShape(slots[s].logical)});
                for (size_t i = 0; i < n->num_outputs(); ++i) ks.outputs.push_back(n->output_desc(i));
                if ((step.kernel = make_layout_concat_kernel(*n, ks, layout)))
                    for (size_t i = 0; i < step.in.size(); ++i) {
                        step.in[i] = in_layout(step.in[i], layout, n->name());
                        reads[i] = layout;
                    }
            }
        }
        if (step.kernel) {
            out_layouts[0] = layout;
        } else {
            KernelShapes ks;
            ks.inference_precision = options.inference_precision;
            ks.negotiate_layouts = negotiate && !dynamic;
            for (size_t s : step.in) {
                ks.inputs.push_back(TensorDesc{slots[s].type, PartialShape(slots[s].logical)});
                ks.input_layouts.push_back(slots[s].layout);
                // Kernel factories read weights through these pointers (slots_ never moves its elements).
                ks.constants.push_back(slots[s].kind == SlotKind::constant ? &slots[s].constant : nullptr);
            }
            for (size_t i = 0; i < n->num_outputs(); ++i) {
                ks.outputs.push_back(n->output_desc(i));
                ks.outputs_read.push_back(read.count({n.get(), i}) > 0);
                ks.outputs_bf16.push_back(bf16_ok(n.get(), i));
            }
            step.kernel = dynamic ? select_dynamic_kernel(n, ks) : select_kernel(n, ks);
            // Each input in the layout the kernel reads (weights are plain: kernels pack them).
            for (size_t i = 0; i < step.in.size(); ++i) {
                reads[i] = dynamic ? Layout{} : step.kernel->input_layout(i);
                step.in[i] = in_layout(step.in[i], reads[i], n->name());
            }
            if (!dynamic)
                for (size_t i = 0; i < out_layouts.size(); ++i) out_layouts[i] = step.kernel->output_layout(i);
        }
        std::vector<size_t> outs;
        for (size_t i = 0; i < n->num_outputs(); ++i) {
            auto& d = n->output_desc(i);
            if (!dynamic) {
                outs.push_back(add_slot(SlotKind::arena, d.type, d.shape.to_shape(), out_layouts[i]));
            } else if (d.shape.is_static() && d.type != Type::dynamic) {
                outs.push_back(add_slot(SlotKind::arena, d.type, d.shape.to_shape(), {}));
            } else {
                outs.push_back(add_slot(SlotKind::dynamic, d.type, {}, {}));
                dynamic_desc[outs.back()] = d;
            }
        }
        slot_of[n.get()] = outs;
        step.out = outs;
        // The shapes the kernel sees: a slot read in another layout that has the same bytes
        // ([N, C, 1, 1] nhwc read as nchw) is seen in the reader's shape.
        for (size_t i = 0; i < step.in.size(); ++i) {
            auto& sl = slots[step.in[i]];
            step.in_shapes.push_back(sl.kind == SlotKind::dynamic ? std::nullopt
                                                                   : std::optional<Shape>(physical_shape(sl.logical, reads[i])));
        }
        for (size_t o : outs)
            step.out_shapes.push_back(slots[o].kind == SlotKind::dynamic ? std::nullopt : std::optional<Shape>(slots[o].shape));
        step.node_type = n->type_name();
        step.node_name = n->name();
        step.source = n->source();
        if (!outs.empty() && slots[outs[0]].kind != SlotKind::dynamic)
            step.layout = layout_name(slots[outs[0]].layout, slots[outs[0]].logical.size());
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
                if (plan->slots_[s].kind != SlotKind::dynamic) s = in_layout(s, {}, n->name());
                auto& slot = plan->slots_[s];
                if (slot.kind == SlotKind::constant) {
                    ins.push_back(make<op::Constant>({}, slot.constant)->output(0));
                    continue;
                }
                auto it = param_of.find(s);
                if (it == param_of.end()) {
                    PartialShape ps = slot.kind == SlotKind::dynamic ? dynamic_desc.at(s).shape : PartialShape(slot.logical);
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
        if (plan->slots_[s].kind != SlotKind::dynamic) s = in_layout(s, {}, m->results()[r]->name());
        auto& slot = plan->slots_[s];
        if (slot.kind == SlotKind::arena && !slot.layout.is_plain()) {  // same bytes as plain: say plain
            slot.layout = {};
            slot.shape = slot.logical;
        }
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
    auto bytes = [&](size_t s) { return align_up(shape_size(slots[s].shape) * type_size(slots[s].type)); };
    // Outputs that take over an input's buffer (Kernel::inplace_input): one buffer per group,
    // alive from the first member's birth to the last member's last use.
    std::vector<size_t> owner(slots.size());
    for (size_t s = 0; s < owner.size(); ++s) owner[s] = s;
    for (size_t k = 0; k < plan->steps_.size(); ++k) {
        auto& st = plan->steps_[k];
        const int i = st.kernel->inplace_input();
        if (i < 0 || static_cast<size_t>(i) >= st.in.size() || st.out.empty()) continue;
        const size_t r = st.in[i], o = st.out[0], g = owner[r];
        if (slots[r].kind != SlotKind::arena || slots[o].kind != SlotKind::arena || bytes(r) != bytes(o)) continue;
        if (live[g].second != k || std::count(st.in.begin(), st.in.end(), r) != 1) continue;
        owner[o] = g;
        live[g].second = std::max(live[g].second, live[o].second);
    }
    std::vector<size_t> arena_slots, sizes, offsets;
    std::vector<std::pair<size_t, size_t>> arena_live;
    for (size_t s = 0; s < slots.size(); ++s) {
        if (slots[s].kind != SlotKind::arena || owner[s] != s) continue;
        arena_slots.push_back(s);
        sizes.push_back(bytes(s));
        arena_live.push_back(live[s]);
    }
    plan->arena_bytes_ = place_buffers(sizes, arena_live, offsets);
    for (size_t i = 0; i < arena_slots.size(); ++i) slots[arena_slots[i]].offset = offsets[i];
    for (size_t s = 0; s < slots.size(); ++s)
        if (slots[s].kind == SlotKind::arena && owner[s] != s) slots[s].offset = slots[owner[s]].offset;
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
        auto seen = [&](size_t s, const std::optional<Shape>& shape) {
            const Tensor& t = tensors[s];
            return !shape || t.shape() == *shape || !allocated(t) ? t : t.reshaped(*shape);
        };
        for (size_t i = 0; i < step.in.size(); ++i) in.push_back(seen(step.in[i], step.in_shapes[i]));
        for (size_t i = 0; i < step.out.size(); ++i) out.push_back(seen(step.out[i], step.out_shapes[i]));
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
        auto seen_as_logical = [&](size_t s) {
            const Tensor& t = tensors[s];
            return slots_[s].kind == SlotKind::dynamic || t.shape() == slots_[s].logical ? t : t.reshaped(slots_[s].logical);
        };
        std::vector<Tensor> tin;
        std::vector<Shape> shapes;
        for (size_t s : tail_->input_slots) {
            tin.push_back(seen_as_logical(s));
            shapes.push_back(tin.back().shape());
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

std::vector<std::array<std::string, 2>> Plan::layout_summary() const {
    std::vector<std::array<std::string, 2>> r;
    for (auto& s : steps_) r.push_back({s.node_name, s.layout});
    return r;
}

std::vector<std::array<std::string, 3>> Plan::kernel_summary() const {
    std::vector<std::array<std::string, 3>> r;
    for (auto& s : steps_) r.push_back({s.node_type, s.node_name, s.kernel->name()});
    if (tail_) r.push_back({"(tail)", tail_->model->name(), "planned when its input shapes are known"});
    return r;
}

}  // namespace kiln::cpu
