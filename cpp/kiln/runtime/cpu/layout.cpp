#include "kiln/runtime/cpu/layout.hpp"

#include <cstring>


namespace kiln::cpu {

bool layout_fits(const Shape& logical, Layout l) {
    return l.kind == Layout::Kind::plain || (logical.size() >= 3 && logical.size() <= 5);
}

Shape physical_shape(const Shape& logical, Layout l) {
    if (l.kind == Layout::Kind::plain) return logical;
    KILN_CHECK(layout_fits(logical, l), "layout ", layout_name(l, logical.size()), " needs rank 3 to 5, got ",
               to_string(logical));
    if (l.kind == Layout::Kind::channels_last) {
        Shape p{logical[0]};
        p.insert(p.end(), logical.begin() + 2, logical.end());
        p.push_back(logical[1]);
        return p;
    }
    Shape p = logical;
    p[1] = (logical[1] + l.block - 1) / l.block;
    p.push_back(l.block);
    return p;
}

bool same_bytes(const Shape& logical, Layout a, Layout b) {
    if (a == b) return true;
    if (a.bf16 != b.bf16) return false;
    if (logical.size() < 3 || logical.size() > 5) return false;
    const int64_t c = logical[1];
    int64_t sp = 1;
    for (size_t i = 2; i < logical.size(); ++i) sp *= logical[i];
    // Blocked pads the channels unless they fill whole blocks; then with one position per
    // channel every layout is [N, C]. With one channel, nchw and nhwc are both [N, positions].
    auto unpadded = [&](Layout l) { return l.kind != Layout::Kind::blocked || c % l.block == 0; };
    if (sp == 1) return unpadded(a) && unpadded(b);
    if (c == 1) return a.kind != Layout::Kind::blocked && b.kind != Layout::Kind::blocked;
    return false;
}

std::string layout_name(Layout l, size_t rank) {
    static const char* spatial[] = {"", "w", "hw", "dhw"};
    const char* sp = rank >= 2 && rank <= 5 ? spatial[rank - 2] : "?";
    const char* suffix = l.bf16 ? ":bf16" : "";
    if (l.kind == Layout::Kind::plain) return (rank >= 2 && rank <= 5 ? std::string("nc") + sp : "plain") + suffix;
    if (l.kind == Layout::Kind::channels_last) return std::string("n") + sp + "c" + suffix;
    return std::string("nC") + sp + std::to_string(l.block) + "c" + suffix;
}

void reorder_reference(const Tensor& src, Layout from, Tensor& dst, Layout to, const Shape& logical) {
    const size_t es = type_size(src.type()), ed = type_size(dst.type());
    const bool convert = src.type() != dst.type();
    KILN_CHECK(!convert || (from.bf16 != to.bf16 && (src.type() == Type::bf16 || dst.type() == Type::bf16)),
               "reorder between types ", type_name(src.type()), " and ", type_name(dst.type()));
    KILN_CHECK(shape_size(physical_shape(logical, from)) == src.size() &&
                   shape_size(physical_shape(logical, to)) == dst.size(),
               "reorder of ", to_string(logical), ": tensors of ", to_string(src.shape()), " and ",
               to_string(dst.shape()), " do not fit the layouts");
    const int64_t n = logical.empty() ? 1 : logical[0];
    const int64_t c = logical.size() > 1 ? logical[1] : 1;
    int64_t sp = 1;
    for (size_t i = 2; i < logical.size(); ++i) sp *= logical[i];
    // Offset of element (n, c, s) in a layout; padding never addressed.
    auto offset = [&](Layout l, int64_t in, int64_t ic, int64_t is) -> int64_t {
        if (l.kind == Layout::Kind::plain) return (in * c + ic) * sp + is;
        if (l.kind == Layout::Kind::channels_last) return (in * sp + is) * c + ic;
        const int64_t cb = (c + l.block - 1) / l.block;
        return ((in * cb + ic / l.block) * sp + is) * l.block + ic % l.block;
    };
    std::memset(dst.data(), 0, dst.byte_size());
    auto s = static_cast<const char*>(src.data());
    auto d = static_cast<char*>(dst.data());
    for (int64_t in = 0; in < n; ++in)
        for (int64_t ic = 0; ic < c; ++ic)
            for (int64_t is = 0; is < sp; ++is) {
                const char* x = s + offset(from, in, ic, is) * es;
                char* y = d + offset(to, in, ic, is) * ed;
                if (convert) convert_elements(x, src.type(), y, dst.type(), 1);
                else std::memcpy(y, x, es);
            }
}

}  // namespace kiln::cpu
