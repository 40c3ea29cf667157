#include "kiln/runtime/cpu/kernel_table.hpp"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "kiln/core/interpreter.hpp"
#include "kiln/runtime/cpu/kernels/attention.hpp"
#include "kiln/runtime/cpu/kernels/control_flow.hpp"
#include "kiln/runtime/cpu/kernels/eltwise.hpp"
#include "kiln/runtime/cpu/kernels/gemm.hpp"
#include "kiln/runtime/cpu/kernels/int8.hpp"
#include "kiln/runtime/cpu/kernels/interpolate.hpp"
#include "kiln/runtime/cpu/kernels/movement.hpp"
#include "kiln/runtime/cpu/kernels/recurrent.hpp"
#include "kiln/runtime/cpu/kernels/fake_quantize.hpp"
#include "kiln/runtime/cpu/kernels/detection.hpp"
#include "kiln/runtime/cpu/kernels/reduce_norm.hpp"
#include "kiln/runtime/cpu/onednn/onednn.hpp"

namespace kiln::cpu {

namespace {

std::atomic<bool> g_reference_only{[] {
    const char* v = std::getenv("KILN_REFERENCE_KERNELS");
    return v && std::strcmp(v, "0") != 0 && *v;
}()};

// The fast kernel families, tried in this order; each declines nodes it does not cover.
constexpr KernelFactory kFamilies[] = {
    make_gemm_kernel,  // before oneDNN: it takes the matmuls where it is the faster
    make_onednn_kernel,
    make_eltwise_kernel,
    make_reduce_norm_kernel,
    make_movement_kernel,
    make_interpolate_kernel,
    make_recurrent_kernel,
    make_fake_quantize_kernel,
    make_detection_kernel,
    make_attention_kernel,
    make_int8_kernel,
};

}  // namespace

void set_reference_only(bool on) { g_reference_only = on; }
bool reference_only() { return g_reference_only; }

KernelPtr select_kernel(const std::shared_ptr<const Node>& node, const KernelShapes& shapes) {
    if (!g_reference_only) {
        // If/Loop: their bodies compiled into plans of their own.
        if (auto k = make_control_flow_kernel(node, shapes)) return k;
        for (auto f : kFamilies)
            if (auto k = f(*node, shapes)) return k;
    }
    return std::make_unique<ReferenceKernel>(node);
}

KernelPtr select_dynamic_kernel(const std::shared_ptr<const Node>& node, const KernelShapes& shapes) {
    if (!g_reference_only)
        if (auto k = make_control_flow_kernel(node, shapes)) return k;
    if (!node->has_evaluate()) {
        std::string outs;
        for (auto& d : shapes.outputs) outs += (outs.empty() ? "" : ", ") + std::string(type_name(d.type)) + d.shape.to_string();
        throw Error(str_cat("[", node->type_name(), " ", node->name(), "] its outputs (", outs,
                            ") have data-dependent shapes and it has no kernel that can produce them"));
    }
    return std::make_unique<DynamicReferenceKernel>(node);
}

void DynamicReferenceKernel::execute(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    std::vector<TensorDesc> descs;
    std::vector<const Tensor*> values;
    for (auto& t : in) {
        descs.push_back(TensorDesc{t.type(), PartialShape(t.shape())});
        values.push_back(&t);
    }
    InferContext ctx(*node_, std::move(descs), std::move(values));
    node_->infer(ctx);
    for (size_t i = 0; i < out.size(); ++i) {
        auto& d = ctx.outputs().at(i);
        if (allocated(out[i])) continue;
        if (d.shape.is_static() && d.type != Type::dynamic) out[i] = Tensor(d.type, d.shape.to_shape());
    }
    node_->evaluate_reference(in, out);
    for (size_t i = 0; i < out.size(); ++i)
        KILN_CHECK_NODE(*node_, allocated(out[i]), "output ", i, " has shape ", ctx.outputs()[i].shape.to_string(),
                        " even with every input known, and the reference kernel did not produce it");
}

}  // namespace kiln::cpu
