#include "kiln/ops/nonzero.hpp"

#include <type_traits>

namespace kiln::op {

namespace {

// Flat positions of the nonzero elements (NaN counts as nonzero, as x != 0).
std::vector<int64_t> nonzero_positions(const Tensor& x) {
    std::vector<int64_t> pos;
    const int64_t n = x.size();
    if (x.type() == Type::boolean || type_size(x.type()) == 1 || is_half(x.type())) {
        // Bytes / half words: nonzero bits, except a half's negative zero.
        const auto* b = static_cast<const uint8_t*>(x.data());
        const size_t es = type_size(x.type());
        for (int64_t i = 0; i < n; ++i) {
            uint32_t bits = 0;
            for (size_t k = 0; k < es; ++k) bits |= static_cast<uint32_t>(b[i * es + k]) << (8 * k);
            if (is_half(x.type())) bits &= 0x7fffu;
            if (bits) pos.push_back(i);
        }
        return pos;
    }
    visit_type(x.type(), [&](auto tag) {
        using T = decltype(tag);
        const T* v = x.data<T>();
        for (int64_t i = 0; i < n; ++i)
            if (v[i] != T(0)) pos.push_back(i);
    });
    return pos;
}

}  // namespace

void NonZero::infer(InferContext& ctx) const {
    ctx.check_inputs(1);
    if (output_type != Type::i64 && output_type != Type::i32)
        ctx.fail("output_type must be i64 or i32, got ", kiln::type_name(output_type));
    const PartialShape& s = ctx.input_shape(0);
    Dimension rows = s.rank_is_static() ? Dimension(std::max<int64_t>(s.rank(), 1)) : Dimension();
    Dimension count;
    if (const Tensor* v = ctx.input_value(0)) count = Dimension(static_cast<int64_t>(nonzero_positions(*v).size()));
    else if (s.is_static()) count = Dimension(0, shape_size(s.to_shape()));
    ctx.set_output(0, output_type, PartialShape({rows, count}));
}

void NonZero::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    auto pos = nonzero_positions(in[0]);
    const Shape& s = in[0].shape();
    const int64_t r = std::max<int64_t>(static_cast<int64_t>(s.size()), 1), n = static_cast<int64_t>(pos.size());
    if (out[0].data() == nullptr) out[0] = Tensor(output_type, {r, n});
    KILN_CHECK_NODE(*this, out[0].shape() == Shape({r, n}), "output has shape ", to_string(out[0].shape()),
                    ", expected ", to_string(Shape{r, n}));
    std::vector<int64_t> idx(static_cast<size_t>(r) * static_cast<size_t>(n));
    for (int64_t j = 0; j < n; ++j) {
        int64_t rem = pos[static_cast<size_t>(j)];
        for (int64_t d = static_cast<int64_t>(s.size()) - 1; d >= 0; --d) {
            idx[static_cast<size_t>(d * n + j)] = rem % s[static_cast<size_t>(d)];
            rem /= s[static_cast<size_t>(d)];
        }
        if (s.empty()) idx[static_cast<size_t>(j)] = 0;
    }
    convert_elements(idx.data(), Type::i64, out[0].data(), output_type, idx.size());
}

}  // namespace kiln::op
