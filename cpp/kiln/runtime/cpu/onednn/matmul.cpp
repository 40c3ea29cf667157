// MatMul and FusedMatMul on oneDNN's matmul primitive.
//
// Constant 2-D weights (the Linear-layer case) take the packed path: A's batch axes fold into
// M, and B is reordered once into the layout the primitive prefers. Everything else runs as a
// batched matmul on the user's buffers, transposes and broadcasts expressed as strides.
//
// With inference precision bf16 the packed path computes in bf16: the weights are packed once in
// bf16, A is rounded to bf16 per call (AVX512_BF16 conversion into a per-thread buffer), and the
// primitive accumulates in f32 and writes f32 (bias and post-ops in f32), so the tensors between
// kernels stay f32.
#include <algorithm>
#include <omp.h>

#include <cstring>

#include "kiln/ops/internal/fused.hpp"
#include "kiln/ops/matmul.hpp"
#include "kiln/runtime/cpu/onednn/onednn.hpp"
#include "kiln/runtime/cpu/kernels/bf16.hpp"
#include "kiln/runtime/cpu/onednn/onednn_common.hpp"

namespace kiln::cpu::onednn {

namespace {

using dnnl::memory;

class MatMulKernel : public Kernel {
public:
    MatMulKernel(const KernelShapes& sh, bool ta, bool tb, bool with_bias,
                 const std::vector<op::PostOp>& post_ops) {
        auto& eng = engine();
        Shape a = sh.in(0), b = sh.in(1);
        const Shape y = sh.out(0);
        if (a.size() == 1) {
            a.insert(a.begin(), 1);
            ta = false;
        }
        if (b.size() == 1) {
            b.push_back(1);
            tb = false;
        }
        const auto [r, M, K, N, b_batch] = matmul_dims(a, b, ta, tb);
        const bool constant_b = sh.constants.size() > 1 && sh.constants[1];
        packed_ = constant_b && !b_batch && !ta;
        bf16_ = packed_ && sh.inference_precision == Type::bf16 && cpu_has_avx512_bf16();
        const auto dt = bf16_ ? memory::data_type::bf16 : memory::data_type::f32;
        auto attr = base_attr();
        if (!post_ops.empty()) attr.set_post_ops(to_post_ops(post_ops));
        memory::desc a_md, b_md, b_user, bias_md, y_md;
        if (packed_) {
            const int64_t rows = shape_size(a) / K;
            a_md = plain_desc({rows, K}, bf16_ ? Type::bf16 : Type::f32);
            b_user = view_desc({b[r - 2], b[r - 1]}, tb);
            b_md = memory::desc({K, N}, dt, memory::format_tag::any);
            rows_ = rows;
            k_ = K;
            y_md = plain_desc({rows, N});
            if (with_bias) bias_md = plain_desc({1, N});
        } else {
            a_md = view_desc(a, ta);
            b_md = b_user = view_desc(b, tb);
            Shape yb(r, 1);
            for (size_t i = 0; i + 2 < r; ++i) yb[i] = std::max(a[i], b[i]);
            yb[r - 2] = M;
            yb[r - 1] = N;
            y_md = plain_desc(yb);
            if (with_bias) {
                Shape bs(r, 1);
                bs[r - 1] = N;
                bias_md = plain_desc(bs);
            }
        }
        (void)y;
        dnnl::matmul::desc d(a_md, b_md, bias_md, y_md);
        dnnl::matmul::primitive_desc pd(d, attr, eng);
        prim_ = dnnl::matmul(pd);
        a_md_ = a_md;
        y_md_ = y_md;
        b_md_ = pd.weights_desc();
        scratch_md_ = pd.scratchpad_desc();
        if (packed_) {
            memory ub(b_user, eng, const_cast<void*>(sh.constants[1]->data()));
            weights_keep_ = packed_weights(ub, b_md_);
            weights_ = *weights_keep_;
        }
        if (with_bias) {
            if (sh.constants.size() > 2 && sh.constants[2]) {
                memory ub(bias_md, eng, const_cast<void*>(sh.constants[2]->data()));
                bias_ = reorder_to(ub, bias_md);
            } else {
                bias_md_ = bias_md;
            }
        }
        with_bias_ = with_bias;
        residual_ = op::has_sum(post_ops) ? static_cast<int>(sh.inputs.size()) - 1 : -1;
    }

    void execute(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override {
        auto& eng = engine();
        auto& s = thread_stream();
        if (residual_ >= 0 && in[residual_].data() != out[0].data())
            std::memcpy(out[0].data(), in[residual_].data(), out[0].byte_size());
        // One per-thread buffer holds the bf16 copy of A (when computing in bf16) and the scratchpad.
        const size_t a_bytes = bf16_ ? round_up64(static_cast<size_t>(rows_ * k_) * 2) : 0;
        char* buf = thread_buffer(a_bytes + scratch_md_.get_size());
        void* a_data = const_cast<void*>(in[0].data());
        if (bf16_) {
            convert_a(in[0].data<float>(), reinterpret_cast<uint16_t*>(buf));
            a_data = buf;
        }
        memory a(a_md_, eng, a_data);
        memory y(y_md_, eng, out[0].data());
        memory scratch(scratch_md_, eng, buf + a_bytes);
        std::unordered_map<int, memory> args{{DNNL_ARG_SRC, a},
                                             {DNNL_ARG_DST, y},
                                             {DNNL_ARG_SCRATCHPAD, scratch}};
        if (packed_) args.emplace(DNNL_ARG_WEIGHTS, weights_);
        else args.emplace(DNNL_ARG_WEIGHTS, memory(b_md_, eng, const_cast<void*>(in[1].data())));
        if (with_bias_) {
            if (bias_) args.emplace(DNNL_ARG_BIAS, bias_);
            else args.emplace(DNNL_ARG_BIAS, memory(bias_md_, eng, const_cast<void*>(in[2].data())));
        }
        prim_.execute(s, args);
        s.wait();
    }
    const char* name() const override {
        return bf16_ ? "onednn_matmul_packed_bf16" : packed_ ? "onednn_matmul_packed" : "onednn_matmul";
    }

private:
    // A (rows_ x k_, dense) rounded to bf16, in parallel when it is large enough to matter.
    void convert_a(const float* src, uint16_t* dst) const {
        const int64_t n = rows_ * k_;
        const int64_t chunk = 1 << 15;
        const int64_t parts = (n + chunk - 1) / chunk;
        if (parts <= 1) return f32_to_bf16(src, dst, static_cast<size_t>(n));
#pragma omp parallel for num_threads(static_cast<int>(std::min<int64_t>(parts, omp_get_max_threads())))
        for (int64_t p = 0; p < parts; ++p) {
            const int64_t b = p * chunk;
            f32_to_bf16(src + b, dst + b, static_cast<size_t>(std::min(chunk, n - b)));
        }
    }

    dnnl::matmul prim_;
    memory::desc a_md_, b_md_, y_md_, bias_md_, scratch_md_;
    std::shared_ptr<const memory> weights_keep_;  // shared with other plans' kernels
    memory weights_, bias_;
    bool packed_ = false, with_bias_ = false, bf16_ = false;
    int64_t rows_ = 0, k_ = 0;
    int residual_ = -1;
};

}  // namespace

KernelPtr make_matmul_kernel(const Node& node, const KernelShapes& sh) {
    for (auto& d : sh.inputs)
        if (d.type != Type::f32 || shape_size(d.shape.to_shape()) == 0) return nullptr;
    if (sh.out_type(0) != Type::f32 || shape_size(sh.out(0)) == 0) return nullptr;
    if (sh.in(0).size() > 12 || sh.in(1).size() > 12) return nullptr;
    if (auto* m = dynamic_cast<const op::MatMul*>(&node))
        return std::make_unique<MatMulKernel>(sh, m->transpose_a, m->transpose_b, false,
                                              std::vector<op::PostOp>{});
    if (auto* m = dynamic_cast<const op::FusedMatMul*>(&node))
        return std::make_unique<MatMulKernel>(sh, m->transpose_a, m->transpose_b, m->with_bias,
                                              m->post_ops);
    return nullptr;
}

}  // namespace kiln::cpu::onednn
