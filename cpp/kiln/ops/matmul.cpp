#include "kiln/ops/matmul.hpp"

#include <type_traits>

#include <algorithm>

namespace kiln::op {

PartialShape matmul_shape(const InferContext& ctx, const PartialShape& a, const PartialShape& b,
                          bool transpose_a, bool transpose_b) {
    if (a.rank_is_dynamic() || b.rank_is_dynamic()) return PartialShape::dynamic();
    if (a.rank() == 0 || b.rank() == 0)
        ctx.fail("operands must have rank >= 1, got ", a.to_string(), " and ", b.to_string());
    std::vector<Dimension> da = a.dims(), db = b.dims();
    const bool a1 = da.size() == 1, b1 = db.size() == 1;
    if (a1) da.insert(da.begin(), Dimension(1));
    else if (transpose_a) std::swap(da[da.size() - 1], da[da.size() - 2]);
    if (b1) db.push_back(Dimension(1));
    else if (transpose_b) std::swap(db[db.size() - 1], db[db.size() - 2]);
    const Dimension& ka = da.back();
    const Dimension& kb = db[db.size() - 2];
    if (!Dimension::merge(ka, kb))
        ctx.fail("inner dimensions do not match: A ", a.to_string(), " gives K=", ka.to_string(),
                 ", B ", b.to_string(), " gives K=", kb.to_string(), " (transpose_a=", transpose_a,
                 ", transpose_b=", transpose_b, ")");
    size_t ba = da.size() - 2, bb = db.size() - 2, nb = std::max(ba, bb);
    std::vector<Dimension> out(nb);
    for (size_t i = 0; i < nb; ++i) {
        Dimension x = i + ba >= nb ? da[i + ba - nb] : Dimension(1);
        Dimension y = i + bb >= nb ? db[i + bb - nb] : Dimension(1);
        if (x == Dimension(1)) out[i] = y;
        else if (y == Dimension(1)) out[i] = x;
        else if (auto m = Dimension::merge(x, y)) {
            // A dynamic dimension may still be 1 and broadcast: keep the static one when known.
            out[i] = x.is_static() ? x : y.is_static() ? y : (x == y ? x : Dimension::dynamic());
            (void)m;
        } else
            ctx.fail("batch dimensions do not broadcast: A ", a.to_string(), ", B ", b.to_string());
    }
    if (!a1) out.push_back(da[da.size() - 2]);
    if (!b1) out.push_back(db.back());
    return PartialShape(out);
}

template <typename T>
void matmul_reference(const T* a, const Shape& a_shape, const T* b, const Shape& b_shape,
                      bool transpose_a, bool transpose_b, T* out, const Shape& out_shape) {
    const bool a1 = a_shape.size() == 1, b1 = b_shape.size() == 1;
    if (a1) transpose_a = false;
    if (b1) transpose_b = false;
    Shape sa = a_shape, sb = b_shape;
    if (a1) sa.insert(sa.begin(), 1);
    if (b1) sb.push_back(1);
    const int64_t ra = static_cast<int64_t>(sa.size()), rb = static_cast<int64_t>(sb.size());
    const int64_t M = transpose_a ? sa[ra - 1] : sa[ra - 2];
    const int64_t K = transpose_a ? sa[ra - 2] : sa[ra - 1];
    const int64_t N = transpose_b ? sb[rb - 2] : sb[rb - 1];
    const int64_t nb = std::max(ra, rb) - 2;
    Shape batch(nb);
    Shape ba(nb, 1), bbs(nb, 1);
    for (int64_t i = 0; i < nb; ++i) {
        if (i + ra - 2 >= nb) ba[i] = sa[i + ra - 2 - nb];
        if (i + rb - 2 >= nb) bbs[i] = sb[i + rb - 2 - nb];
        batch[i] = std::max(ba[i], bbs[i]);
    }
    const int64_t nbatch = shape_size(batch);
    (void)out_shape;
#pragma omp parallel for schedule(static)
    for (int64_t bi = 0; bi < nbatch; ++bi) {
        // Offsets of this batch element in A and B, stretching size-1 axes.
        int64_t rem = bi, oa = 0, ob = 0, sa_mul = 1, sb_mul = 1;
        for (int64_t i = nb - 1; i >= 0; --i) {
            int64_t idx = rem % batch[i];
            rem /= batch[i];
            if (ba[i] != 1) oa += idx * sa_mul;
            if (bbs[i] != 1) ob += idx * sb_mul;
            sa_mul *= ba[i];
            sb_mul *= bbs[i];
        }
        const T* pa = a + oa * M * K;
        const T* pb = b + ob * K * N;
        T* po = out + bi * M * N;
        for (int64_t m = 0; m < M; ++m)
            for (int64_t n = 0; n < N; ++n) {
                // Integers accumulate with wrap-around (as torch's CPU kernel does), without the
                // undefined behaviour of signed overflow.
                using Acc = std::conditional_t<std::is_integral_v<T>, uint64_t, T>;
                Acc acc = Acc(0);
                for (int64_t k = 0; k < K; ++k)
                    acc += static_cast<Acc>(transpose_a ? pa[k * M + m] : pa[m * K + k]) *
                           static_cast<Acc>(transpose_b ? pb[n * K + k] : pb[k * N + n]);
                po[m * N + n] = static_cast<T>(acc);
            }
    }
}
template void matmul_reference<float>(const float*, const Shape&, const float*, const Shape&,
                                      bool, bool, float*, const Shape&);
template void matmul_reference<double>(const double*, const Shape&, const double*, const Shape&,
                                       bool, bool, double*, const Shape&);
template void matmul_reference<int64_t>(const int64_t*, const Shape&, const int64_t*, const Shape&,
                                        bool, bool, int64_t*, const Shape&);

void MatMul::visit_attributes(AttributeVisitor& v) {
    v.on("transpose_a", transpose_a);
    v.on("transpose_b", transpose_b);
}

void MatMul::infer(InferContext& ctx) const {
    ctx.check_inputs(2);
    Type t = ctx.input_type(0), tb = ctx.input_type(1);
    if (t == Type::dynamic) t = tb;
    else if (tb != Type::dynamic && tb != t)
        ctx.fail("element types differ: A is ", kiln::type_name(t), ", B is ", kiln::type_name(tb));
    ctx.set_output(0, t, matmul_shape(ctx, ctx.input_shape(0), ctx.input_shape(1), transpose_a,
                                      transpose_b));
}

void MatMul::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    const Tensor &a = in[0], &b = in[1];
    if (a.type() == Type::f32)
        matmul_reference<float>(a.data<float>(), a.shape(), b.data<float>(), b.shape(),
                                transpose_a, transpose_b, out[0].data<float>(), out[0].shape());
    else if (a.type() == Type::f64)
        matmul_reference<double>(a.data<double>(), a.shape(), b.data<double>(), b.shape(),
                                 transpose_a, transpose_b, out[0].data<double>(), out[0].shape());
    else if (a.type() == Type::i64 && b.type() == Type::i64)
        matmul_reference<int64_t>(a.data<int64_t>(), a.shape(), b.data<int64_t>(), b.shape(),
                                  transpose_a, transpose_b, out[0].data<int64_t>(), out[0].shape());
    else if (is_integral(a.type()) && a.type() == b.type()) {
        // Integer products (torch.matmul of int tensors; oneDNN has none): in int64, wrapped back.
        Tensor wa(Type::i64, a.shape()), wb(Type::i64, b.shape()), wo(Type::i64, out[0].shape());
        convert_elements(a.data(), a.type(), wa.data(), Type::i64, static_cast<size_t>(a.size()));
        convert_elements(b.data(), b.type(), wb.data(), Type::i64, static_cast<size_t>(b.size()));
        matmul_reference<int64_t>(wa.data<int64_t>(), a.shape(), wb.data<int64_t>(), b.shape(), transpose_a,
                                  transpose_b, wo.data<int64_t>(), out[0].shape());
        convert_elements(wo.data(), Type::i64, out[0].data(), out[0].type(), static_cast<size_t>(wo.size()));
    } else
        throw Error(str_cat("[MatMul ", name(), "] element type ", kiln::type_name(a.type()),
                            " has no reference kernel (f32, f64, integers)"));
}

}  // namespace kiln::op
