// QuantizedMatMul on oneDNN's int8 matmul. Constant 2-D weights take the packed path (A's batch
// axes folded into M, B reordered once into the primitive's layout); an activation B (attention's
// Q.K^T) runs as a batched matmul on the user's buffers, transposes and broadcasts as strides.
#include <cstring>

#include "kiln/runtime/cpu/onednn/int8.hpp"
#include "kiln/runtime/cpu/onednn/onednn_common.hpp"

namespace kiln::cpu::onednn {

using dnnl::memory;

namespace {

class Int8MatMulKernel : public Kernel {
public:
    Int8MatMulKernel(const op::QuantizedMatMul& m, const KernelShapes& sh) {
        auto& eng = engine();
        Shape a = sh.in(0), b = sh.in(1);
        const Type at = sh.in_type(0), yt = sh.out_type(0);
        bool ta = m.transpose_a, tb = m.transpose_b;
        const auto [r, M, K, N, b_batch] = matmul_dims(a, b, ta, tb);
        const bool constant_b = sh.constants.size() > 1 && sh.constants[1];
        packed_ = constant_b && !b_batch && !ta;
        const Tensor* bias = m.with_bias ? sh.constants.at(3) : nullptr;
        if (m.with_bias && !bias) throw dnnl::error(dnnl_unimplemented, "bias is not a constant");
        op::int8_output_scales(m.a_scale, sh.constants.at(2)->data<float>(), sh.constants[2]->size(), N,
                           bias ? bias->data<float>() : nullptr, osc_, bias_acc_);
        residual_ = m.epilogue.has_sum() ? static_cast<int>(sh.inputs.size()) - 1 : -1;
        const Type rt = residual_ >= 0 ? sh.in_type(residual_) : Type::f32;
        mode_ = residual_mode(m.epilogue, rt, yt);
        if (residual_ >= 0 && mode_ == ResidualMode::none)
            throw dnnl::error(dnnl_unimplemented, "an integer residual with an f32 output");
        memory::desc a_md, b_md, b_user, bias_md, y_md;
        int rank = 2;
        if (packed_) {
            const int64_t rows = shape_size(a) / K;
            a_md = plain_desc({rows, K}, at);
            b_user = view_desc({b[r - 2], b[r - 1]}, tb, Type::i8);
            b_md = memory::desc({K, N}, memory::data_type::s8, memory::format_tag::any);
            y_md = plain_desc({rows, N}, yt);
            bias_md = plain_desc({1, N});
        } else {
            rank = static_cast<int>(r);
            a_md = view_desc(a, ta, at);
            b_md = b_user = view_desc(b, tb, Type::i8);
            Shape yb(r, 1);
            for (size_t i = 0; i + 2 < r; ++i) yb[i] = std::max(a[i], b[i]);
            yb[r - 2] = M;
            yb[r - 1] = N;
            y_md = plain_desc(yb, yt);
            Shape bs(r, 1);
            bs[r - 1] = N;
            bias_md = plain_desc(bs);
        }
        const memory::dims yd = y_md.dims();
        binary_md_ = plain_desc(Shape(yd.begin(), yd.end()), Type::f32);
        if (packed_ && m.b_zero_point) throw dnnl::error(dnnl_unimplemented, "constant weights with a zero point");
        attr_ = int8_attr(m.epilogue, osc_, rank - 1, rank, m.a_zero_point, packed_ ? 0 : m.b_zero_point, mode_, rt,
                          binary_md_);
        dnnl::matmul::desc d(a_md, b_md, bias_md, y_md);
        dnnl::matmul::primitive_desc pd(d, attr_.attr, eng);
        scalars_ = operand_args(attr_);
        prim_ = dnnl::matmul(pd);
        impl_ = pd.impl_info_str();
        a_md_ = a_md;
        y_md_ = y_md;
        b_md_ = pd.weights_desc();
        scratch_md_ = pd.scratchpad_desc();
        if (packed_) {
            memory ub(b_user, eng, const_cast<void*>(sh.constants[1]->data()));
            weights_keep_ = packed_weights(ub, b_md_);
            weights_ = *weights_keep_;
        }
        bias_ = memory(pd.bias_desc(), eng);
        std::memcpy(bias_.get_data_handle(), bias_acc_.data(), bias_acc_.size() * sizeof(float));
    }

    void execute(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override {
        auto& eng = engine();
        auto& s = thread_stream();
        if (mode_ == ResidualMode::sum && in[residual_].data() != out[0].data())
            std::memcpy(out[0].data(), in[residual_].data(), out[0].byte_size());
        char* buf = thread_buffer(scratch_md_.get_size());
        std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory(a_md_, eng, const_cast<void*>(in[0].data()))},
                                             {DNNL_ARG_DST, memory(y_md_, eng, out[0].data())},
                                             {DNNL_ARG_BIAS, bias_},
                                             {DNNL_ARG_SCRATCHPAD, memory(scratch_md_, eng, buf)}};
        if (packed_) args.emplace(DNNL_ARG_WEIGHTS, weights_);
        else args.emplace(DNNL_ARG_WEIGHTS, memory(b_md_, eng, const_cast<void*>(in[1].data())));
        if (mode_ == ResidualMode::binary)
            args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(attr_.binary_residual) | DNNL_ARG_SRC_1,
                         memory(binary_md_, eng, const_cast<void*>(in[residual_].data())));
        for (auto& [i, mem] : scalars_) args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(i) | DNNL_ARG_SRC_1, mem);
        prim_.execute(s, args);
        s.wait();
    }
    const char* name() const override { return packed_ ? "onednn_int8_matmul_packed" : "onednn_int8_matmul"; }
    std::string detail() const override { return impl_; }
    int inplace_input() const override { return mode_ == ResidualMode::sum ? residual_ : -1; }

private:
    std::string impl_;
    dnnl::matmul prim_;
    memory::desc a_md_, b_md_, y_md_, scratch_md_, binary_md_;
    std::shared_ptr<const memory> weights_keep_;
    memory weights_, bias_;
    std::vector<float> osc_, bias_acc_;
    bool packed_ = false;
    ResidualMode mode_ = ResidualMode::none;
    int residual_ = -1;
    Int8Attr attr_;
    std::vector<std::pair<int, memory>> scalars_;
};

}  // namespace

KernelPtr make_int8_matmul_kernel(const op::QuantizedMatMul& m, const KernelShapes& sh) {
    if (sh.in(0).size() < 2 || sh.in(1).size() < 2 || sh.in(0).size() > 12 || sh.in(1).size() > 12) return nullptr;
    if (sh.constants.size() < 3 || !sh.constants[2]) return nullptr;
    return std::make_unique<Int8MatMulKernel>(m, sh);
}

}  // namespace kiln::cpu::onednn
