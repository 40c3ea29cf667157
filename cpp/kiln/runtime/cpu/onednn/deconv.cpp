// ConvolutionBackpropData and GroupConvolutionBackpropData on oneDNN's deconvolution_forward.
#include "kiln/ops/convolution.hpp"
#include "kiln/runtime/cpu/onednn/onednn.hpp"
#include "kiln/runtime/cpu/onednn/onednn_common.hpp"

namespace kiln::cpu::onednn {

namespace {

using dnnl::memory;
using tag = memory::format_tag;

struct DeconvParams {
    std::vector<int64_t> strides, pads_begin, pads_end, dilations, output_padding;
    op::PadType auto_pad = op::PadType::explicit_pad;
    int64_t groups = 1;
};

template <typename C>
DeconvParams params_of(const C& c) {
    return DeconvParams{c.strides, c.pads_begin, c.pads_end, c.dilations, c.output_padding, c.auto_pad, 1};
}

// kiln's weights [C_in, C_out, k...] / [G, C_in/G, C_out/G, k...] as the descriptor oneDNN's
// deconvolution reads ([C_out, C_in, k...] / [G, C_out/G, C_in/G, k...]): the same memory with
// the two channel axes' strides swapped.
memory::desc weights_view(int64_t groups, int64_t ic, int64_t oc, const Shape& kernel) {
    int64_t k_sp = 1;
    for (auto k : kernel) k_sp *= k;
    memory::dims dims, strides;
    const int64_t icg = ic / groups, ocg = oc / groups;
    if (groups > 1) {
        dims = {groups, ocg, icg};
        strides = {icg * ocg * k_sp, k_sp, ocg * k_sp};
    } else {
        dims = {oc, ic};
        strides = {k_sp, oc * k_sp};
    }
    int64_t st = k_sp;
    for (auto k : kernel) {
        dims.push_back(k);
        st /= k;
        strides.push_back(st);
    }
    return memory::desc(dims, memory::data_type::f32, strides);
}

class DeconvKernel : public Kernel {
public:
    DeconvKernel(const KernelShapes& sh, const DeconvParams& p) {
        auto& eng = engine();
        const Shape x = sh.in(0), w = sh.in(1), y = sh.out(0);
        const int nsp = static_cast<int>(x.size()) - 2;
        Shape kernel(w.end() - nsp, w.end());
        auto g = op::resolve_deconv(x, y, kernel, p.strides, p.dilations, p.pads_begin,
                                    p.pads_end, p.output_padding, p.auto_pad);
        memory::dims strides, dil, pl, pr;
        for (int i = 3 - nsp; i < 3; ++i) {
            strides.push_back(g.stride[i]);
            dil.push_back(g.dil[i] - 1);  // oneDNN counts the gaps
            pl.push_back(g.pb[i]);
            // The output padding extends the end: oneDNN sees it as less end padding (negative
            // when the output reaches past the full result; those positions get no taps).
            const int64_t xi = x[2 + i - (3 - nsp)], yi = y[2 + i - (3 - nsp)];
            pr.push_back((xi - 1) * g.stride[i] + g.extent(i) - g.pb[i] - yi);
        }
        user_src_md_ = plain_desc(x);
        user_dst_md_ = plain_desc(y);
        memory::desc src_any(to_dims(x), memory::data_type::f32, tag::any);
        memory::desc dst_any(to_dims(y), memory::data_type::f32, tag::any);
        memory::desc w_user = weights_view(p.groups, x[1], y[1], kernel);
        memory::desc w_any(w_user.dims(), memory::data_type::f32, tag::any);
        dnnl::deconvolution_forward::desc d(dnnl::prop_kind::forward_inference,
                                            dnnl::algorithm::deconvolution_direct, src_any, w_any,
                                            memory::desc(), dst_any, strides, dil, pl, pr);
        dnnl::deconvolution_forward::primitive_desc pd(d, base_attr(), eng);
        prim_ = dnnl::deconvolution_forward(pd);
        src_md_ = pd.src_desc();
        dst_md_ = pd.dst_desc();
        scratch_md_ = pd.scratchpad_desc();
        if (src_md_ != user_src_md_)
            src_reorder_ = dnnl::reorder(dnnl::reorder::primitive_desc(eng, user_src_md_, eng, src_md_));
        if (dst_md_ != user_dst_md_) {
            dst_reorder_ = dnnl::reorder(dnnl::reorder::primitive_desc(eng, dst_md_, eng, user_dst_md_));
            blocked_dst_ = true;
        }
        memory uw(w_user, eng, const_cast<void*>(sh.constants[1]->data()));
        weights_keep_ = packed_weights(uw, pd.weights_desc());
        weights_ = *weights_keep_;
        dst_off_ = round_up64(src_reorder_ ? src_md_.get_size() : 0);
        scratch_off_ = dst_off_ + round_up64(blocked_dst_ ? dst_md_.get_size() : 0);
        temp_bytes_ = scratch_off_ + scratch_md_.get_size();
    }

    void execute(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override {
        auto& eng = engine();
        auto& s = thread_stream();
        memory usr_src(user_src_md_, eng, const_cast<void*>(in[0].data()));
        memory usr_dst(user_dst_md_, eng, out[0].data());
        char* temp = thread_buffer(temp_bytes_);
        memory src = usr_src, dst = usr_dst;
        if (src_reorder_) {
            src = memory(src_md_, eng, temp);
            src_reorder_.execute(s, usr_src, src);
        }
        if (blocked_dst_) dst = memory(dst_md_, eng, temp + dst_off_);
        memory scratch(scratch_md_, eng, temp + scratch_off_);
        prim_.execute(s, {{DNNL_ARG_SRC, src},
                          {DNNL_ARG_WEIGHTS, weights_},
                          {DNNL_ARG_DST, dst},
                          {DNNL_ARG_SCRATCHPAD, scratch}});
        if (blocked_dst_) dst_reorder_.execute(s, dst, usr_dst);
        s.wait();
    }
    const char* name() const override { return "onednn_deconv"; }

private:
    dnnl::deconvolution_forward prim_;
    dnnl::reorder src_reorder_, dst_reorder_;
    memory::desc user_src_md_, user_dst_md_, src_md_, dst_md_, scratch_md_;
    std::shared_ptr<const memory> weights_keep_;
    memory weights_;
    bool blocked_dst_ = false;
    size_t dst_off_ = 0, scratch_off_ = 0, temp_bytes_ = 0;
};

}  // namespace

KernelPtr make_deconv_kernel(const Node& node, const KernelShapes& sh) {
    for (auto& d : sh.inputs)
        if (d.type != Type::f32) return nullptr;
    if (sh.out_type(0) != Type::f32 || sh.constants.size() < 2 || !sh.constants[1]) return nullptr;
    if (shape_size(sh.out(0)) == 0 || shape_size(sh.in(0)) == 0) return nullptr;
    DeconvParams p;
    if (auto* c = dynamic_cast<const op::ConvolutionBackpropData*>(&node)) {
        p = params_of(*c);
    } else if (auto* c = dynamic_cast<const op::GroupConvolutionBackpropData*>(&node)) {
        p = params_of(*c);
        p.groups = sh.in(1)[0];
    } else {
        return nullptr;
    }
    return std::make_unique<DeconvKernel>(sh, p);
}

}  // namespace kiln::cpu::onednn
