#include "kiln/runtime/cpu/onednn/onednn_common.hpp"

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <vector>

#include "kiln/runtime/cpu/onednn/onednn.hpp"

namespace kiln::cpu::onednn {

dnnl::engine& engine() {
    static dnnl::engine e(dnnl::engine::kind::cpu, 0);
    return e;
}

dnnl::stream& thread_stream() {
    thread_local dnnl::stream s(engine());
    return s;
}

char* thread_buffer(size_t bytes) {
    struct Buf {
        char* p = nullptr;
        size_t size = 0;
        ~Buf() { std::free(p); }
    };
    thread_local Buf b;
    if (bytes > b.size) {
        std::free(b.p);
        b.size = round_up64(bytes + bytes / 4);
        b.p = static_cast<char*>(std::aligned_alloc(64, b.size));
        if (!b.p) {
            b.size = 0;
            throw std::bad_alloc();
        }
    }
    return b.p;
}

dnnl::memory::data_type to_dnnl(Type t) {
    using dt = dnnl::memory::data_type;
    switch (t) {
        case Type::f32: return dt::f32;
        case Type::f16: return dt::f16;
        case Type::bf16: return dt::bf16;
        case Type::i32: return dt::s32;
        case Type::i8: return dt::s8;
        case Type::u8: return dt::u8;
        default: return dt::undef;
    }
}

dnnl::memory::dims to_dims(const Shape& s) { return dnnl::memory::dims(s.begin(), s.end()); }

dnnl::memory::desc plain_desc(const Shape& s, Type t) {
    dnnl::memory::dims strides(s.size());
    int64_t st = 1;
    for (size_t i = s.size(); i-- > 0;) {
        strides[i] = st;
        st *= s[i];
    }
    return dnnl::memory::desc(to_dims(s), to_dnnl(t), strides);
}

dnnl::primitive_attr base_attr() {
    dnnl::primitive_attr a;
    a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    return a;
}

void append_post_op(dnnl::post_ops& po, const op::PostOp& p) {
    using K = op::Activation;
    using A = dnnl::algorithm;
    if (p.sum) {
        po.append_sum(1.f);
        return;
    }
    float a = static_cast<float>(p.act.alpha), b = static_cast<float>(p.act.beta);
    switch (p.act.kind) {
        case K::relu: po.append_eltwise(1.f, A::eltwise_relu, a, 0.f); break;
        case K::clamp: po.append_eltwise(1.f, A::eltwise_clip, a, b); break;
        case K::sigmoid: po.append_eltwise(1.f, A::eltwise_logistic, 0.f, 0.f); break;
        case K::tanh: po.append_eltwise(1.f, A::eltwise_tanh, 0.f, 0.f); break;
        case K::swish: po.append_eltwise(1.f, A::eltwise_swish, a, 0.f); break;
        case K::hswish: po.append_eltwise(1.f, A::eltwise_hardswish, 0.f, 0.f); break;
        case K::hsigmoid:  // 2.x has no hardsigmoid: clip(x / 6 + 1/2, 0, 1)
            po.append_eltwise(1.f, A::eltwise_linear, 1.f / 6.f, 0.5f);
            po.append_eltwise(1.f, A::eltwise_clip, 0.f, 1.f);
            break;
        case K::gelu_erf: po.append_eltwise(1.f, A::eltwise_gelu_erf, 0.f, 0.f); break;
        case K::gelu_tanh: po.append_eltwise(1.f, A::eltwise_gelu_tanh, 0.f, 0.f); break;
        case K::elu: po.append_eltwise(1.f, A::eltwise_elu, a, 0.f); break;
        case K::mish: po.append_eltwise(1.f, A::eltwise_mish, 0.f, 0.f); break;
        case K::abs: po.append_eltwise(1.f, A::eltwise_abs, 0.f, 0.f); break;
        case K::exp: po.append_eltwise(1.f, A::eltwise_exp, 0.f, 0.f); break;
        case K::softplus: po.append_eltwise(1.f, A::eltwise_soft_relu, 0.f, 0.f); break;
    }
}

dnnl::memory::desc view_desc(const Shape& s, bool transposed, Type t) {
    dnnl::memory::dims dims(s.begin(), s.end()), strides(s.size());
    int64_t st = 1;
    for (size_t i = s.size(); i-- > 0;) {
        strides[i] = st;
        st *= s[i];
    }
    if (transposed) {
        const size_t r = s.size();
        std::swap(dims[r - 1], dims[r - 2]);
        std::swap(strides[r - 1], strides[r - 2]);
    }
    return dnnl::memory::desc(dims, to_dnnl(t), strides);
}

MatMulDims matmul_dims(Shape& a, Shape& b, bool ta, bool tb) {
    MatMulDims d;
    d.r = std::max(a.size(), b.size());
    a.insert(a.begin(), d.r - a.size(), 1);
    b.insert(b.begin(), d.r - b.size(), 1);
    const size_t r = d.r;
    d.M = ta ? a[r - 1] : a[r - 2];
    d.K = ta ? a[r - 2] : a[r - 1];
    d.N = tb ? b[r - 2] : b[r - 1];
    for (size_t i = 0; i + 2 < r; ++i) d.b_batch |= b[i] != 1;
    return d;
}

dnnl::post_ops to_post_ops(const std::vector<op::PostOp>& ops) {
    dnnl::post_ops po;
    for (auto& p : ops) append_post_op(po, p);
    return po;
}

dnnl::memory reorder_to(const dnnl::memory& src, const dnnl::memory::desc& dst_md) {
    dnnl::memory dst(dst_md, engine());
    if (src.get_desc() == dst_md) {
        std::memcpy(dst.get_data_handle(), src.get_data_handle(), dst_md.get_size());
        return dst;
    }
    auto& s = thread_stream();
    dnnl::reorder(src, dst).execute(s, const_cast<dnnl::memory&>(src), dst);
    s.wait();
    return dst;
}

uint64_t fingerprint(const void* data, size_t bytes) {
    const auto* p = static_cast<const unsigned char*>(data);
    uint64_t h[4] = {0x9e3779b97f4a7c15ull, 0xc2b2ae3d27d4eb4full, 0x165667b19e3779f9ull, 0x27d4eb2f165667c5ull};
    constexpr uint64_t kMul = 0x100000001b3ull;
    size_t i = 0;
    for (; i + 32 <= bytes; i += 32)
        for (int k = 0; k < 4; ++k) {
            uint64_t w;
            std::memcpy(&w, p + i + 8 * k, 8);
            h[k] = (h[k] ^ w) * kMul;
        }
    uint64_t tail = bytes;
    for (; i < bytes; ++i) tail = (tail ^ p[i]) * kMul;
    return ((h[0] * 31 + h[1]) * 31 + h[2]) * 31 + h[3] ^ tail;
}

std::shared_ptr<const dnnl::memory> packed_weights(const dnnl::memory& src, const dnnl::memory::desc& dst_md) {
    struct Entry {
        const void* data;
        uint64_t print;
        dnnl::memory::desc src_md, dst_md;
        std::weak_ptr<const dnnl::memory> packed;
    };
    static std::mutex mutex;
    static std::vector<Entry> cache;
    const void* data = src.get_data_handle();
    auto src_md = src.get_desc();
    const uint64_t print = fingerprint(data, src_md.get_size());
    std::lock_guard<std::mutex> lock(mutex);
    for (auto& e : cache)
        if (e.data == data && e.print == print && e.src_md == src_md && e.dst_md == dst_md)
            if (auto p = e.packed.lock()) return p;
    auto p = std::make_shared<const dnnl::memory>(reorder_to(src, dst_md));
    std::erase_if(cache, [](const Entry& e) { return e.packed.expired(); });
    cache.push_back(Entry{data, print, src_md, dst_md, p});
    return p;
}

}  // namespace kiln::cpu::onednn

namespace kiln::cpu {

KernelPtr make_onednn_kernel(const Node& node, const KernelShapes& shapes) {
    const std::string t = node.type_name();
    try {
        if (t == "Convolution" || t == "GroupConvolution" || t == "FusedConvolution")
            return onednn::make_conv_kernel(node, shapes, onednn::ConvLayout::automatic);
        if (t == "ConvolutionBackpropData" || t == "GroupConvolutionBackpropData")
            return onednn::make_deconv_kernel(node, shapes);
        if (t == "MatMul" || t == "FusedMatMul") return onednn::make_matmul_kernel(node, shapes);
        if (t == "MaxPool" || t == "AvgPool" || t == "AdaptiveAvgPool" || t == "AdaptiveMaxPool")
            return onednn::make_pooling_kernel(node, shapes);
    } catch (const dnnl::error&) {
        // No implementation for this configuration: the reference kernel runs it.
        return nullptr;
    }
    return nullptr;
}

}  // namespace kiln::cpu
