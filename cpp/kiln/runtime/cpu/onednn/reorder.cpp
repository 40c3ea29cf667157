// The plan's reorder steps, between plain and blocked layouts, on oneDNN's reorder primitive.
#include "kiln/runtime/cpu/onednn/onednn_common.hpp"

namespace kiln::cpu::onednn {

using dnnl::memory;
using tag = memory::format_tag;

namespace {

tag tag_of(size_t rank, Layout l) {
    static const tag plain[] = {tag::ncw, tag::nchw, tag::ncdhw};
    static const tag last[] = {tag::nwc, tag::nhwc, tag::ndhwc};
    static const tag b16[] = {tag::nCw16c, tag::nChw16c, tag::nCdhw16c};
    static const tag b8[] = {tag::nCw8c, tag::nChw8c, tag::nCdhw8c};
    if (rank < 3 || rank > 5) return tag::undef;
    const size_t r = rank - 3;
    switch (l.kind) {
        case Layout::Kind::plain: return plain[r];
        case Layout::Kind::channels_last: return last[r];
        case Layout::Kind::blocked: return l.block == 16 ? b16[r] : l.block == 8 ? b8[r] : tag::undef;
    }
    return tag::undef;
}

class ReorderKernel : public Kernel {
public:
    ReorderKernel(const Shape& logical, Type t, Layout from, Layout to) : from_(from), to_(to) {
        src_md_ = layout_desc(logical, t, from);
        dst_md_ = layout_desc(logical, t, to);
        dnnl::reorder::primitive_desc pd(engine(), src_md_, engine(), dst_md_);
        prim_ = dnnl::reorder(pd);
        impl_ = pd.impl_info_str();
    }
    void execute(const std::vector<Tensor>& in, std::vector<Tensor>& out) const override {
        auto& eng = engine();
        auto& s = thread_stream();
        memory src(src_md_, eng, const_cast<void*>(in[0].data()));
        memory dst(dst_md_, eng, out[0].data());
        prim_.execute(s, src, dst);
        s.wait();
    }
    const char* name() const override { return "onednn_reorder"; }
    Layout input_layout(size_t) const override { return from_; }
    Layout output_layout(size_t) const override { return to_; }
    std::string detail() const override { return impl_; }

private:
    std::string impl_;
    Layout from_, to_;
    memory::desc src_md_, dst_md_;
    dnnl::reorder prim_;
};

}  // namespace

memory::desc layout_desc(const Shape& logical, Type t, Layout l) {
    t = stored_type(t, l);
    if (l.kind == Layout::Kind::plain) return plain_desc(logical, t);
    tag g = tag_of(logical.size(), l);
    KILN_CHECK(g != tag::undef, "no oneDNN format for layout ", layout_name(l, logical.size()));
    return memory::desc(to_dims(logical), to_dnnl(t), g);
}

std::optional<Layout> layout_of(const memory::desc& md, const Shape& logical, Type t) {
    for (bool b : {false, true})
        for (Layout l : {Layout{}, Layout::nhwc(), Layout::blocked_by(16), Layout::blocked_by(8)}) {
            l.bf16 = b;
            if (b && t != Type::f32) continue;
            if (l.kind != Layout::Kind::plain && tag_of(logical.size(), l) == tag::undef) continue;
            if (md == layout_desc(logical, t, l)) return l;
        }
    return std::nullopt;
}

KernelPtr make_reorder_kernel(const Shape& logical, Type t, Layout from, Layout to) {
    return std::make_unique<ReorderKernel>(logical, t, from, to);
}

}  // namespace kiln::cpu::onednn
