#include "kiln/runtime/cpu/kernels/detection.hpp"

#include <dnnl.h>

#include <vector>

#include "kiln/ops/detection.hpp"

namespace kiln::cpu {

namespace {

class DeformableConvKernel : public Kernel {
public:
    DeformableConvKernel(std::shared_ptr<const op::DeformableConvolution> op, op::DeformableConvolution::Geometry g)
        : op_(std::move(op)), g_(g) {}
    const char* name() const override { return "sgemm_deformable_conv"; }

    void execute(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override {
        const auto& g = g_;
        const int64_t K = g.KH * g.KW, P = g.Ho * g.Wo, G = op_->group, Og = g.O / G, R = g.Cg * K;
        const float* x = in[0].data<float>();
        const float* off = in[1].data<float>();
        const float* w = in[2].data<float>();
        const float* mask = in.size() == 4 ? in[3].data<float>() : nullptr;
        float* y = out[0].data<float>();
        std::vector<float> col(static_cast<size_t>(g.C * K * P));
        for (int64_t n = 0; n < g.N; ++n) {
            op_->columns(g, n, x, off, mask, col.data());
            for (int64_t gi = 0; gi < G; ++gi) {
                if (Og == 0 || P == 0) continue;
                float* yp = y + (n * g.O + gi * Og) * P;
                if (R == 0) {
                    std::fill(yp, yp + Og * P, 0.f);
                    continue;
                }
                dnnl_status_t st = dnnl_sgemm('N', 'N', Og, P, R, 1.f, w + gi * Og * R, R, col.data() + gi * R * P, P,
                                              0.f, yp, P);
                if (st != dnnl_success) throw Error(str_cat("[DeformableConvolution ", op_->name(), "] dnnl_sgemm failed"));
            }
        }
    }

private:
    std::shared_ptr<const op::DeformableConvolution> op_;
    op::DeformableConvolution::Geometry g_;
};

}  // namespace

KernelPtr make_detection_kernel(const Node& node, const KernelShapes& shapes) {
    auto* op = dynamic_cast<const op::DeformableConvolution*>(&node);
    if (!op) return nullptr;
    for (size_t i = 0; i < shapes.inputs.size(); ++i)
        if (shapes.in_type(i) != Type::f32) return nullptr;
    auto copy = std::static_pointer_cast<const op::DeformableConvolution>(node.shared_from_this());
    return std::make_unique<DeformableConvKernel>(copy, op->geometry(shapes.in(0), shapes.in(2), shapes.out(0)));
}

}  // namespace kiln::cpu
