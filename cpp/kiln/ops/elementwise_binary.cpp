#include "kiln/ops/elementwise_binary.hpp"

#include <algorithm>
#include <cmath>
#include <type_traits>

namespace kiln {

void visit_auto_broadcast(AttributeVisitor& v, const char* name, AutoBroadcast& b) {
    visit_enum(v, name, b, {{AutoBroadcast::none, "none"}, {AutoBroadcast::numpy, "numpy"}});
}

namespace {
bool contains_one(const Dimension& d) { return d.compatible(int64_t{1}); }
bool is_one(const Dimension& d) { return d.is_static() && d.get_length() == 1; }
Dimension hull(const Dimension& a, const Dimension& b) {
    int64_t hi = (a.get_max_length() < 0 || b.get_max_length() < 0)
                     ? -1
                     : std::max(a.get_max_length(), b.get_max_length());
    return Dimension(std::min(a.get_min_length(), b.get_min_length()), hi);
}
}  // namespace

PartialShape broadcast_shapes(const PartialShape& a, const PartialShape& b, InferContext& ctx) {
    if (a.rank_is_dynamic() || b.rank_is_dynamic()) return PartialShape::dynamic();
    const size_t rank = std::max(a.size(), b.size());
    std::vector<Dimension> dims(rank);
    for (size_t i = 0; i < rank; ++i) {
        // i counts from the right: numpy aligns trailing axes.
        const Dimension da = i < a.size() ? a[a.size() - 1 - i] : Dimension(1);
        const Dimension db = i < b.size() ? b[b.size() - 1 - i] : Dimension(1);
        Dimension& r = dims[rank - 1 - i];
        if (is_one(da)) r = db;
        else if (is_one(db)) r = da;
        else if (contains_one(da) && contains_one(db)) r = hull(da, db);  // either may be 1
        else if (contains_one(da)) r = db;  // da is 1 or equal to db; the result is db either way
        else if (contains_one(db)) r = da;
        else if (auto m = Dimension::merge(da, db)) r = *m;
        else
            ctx.fail("inputs do not broadcast at axis ", -static_cast<int64_t>(i) - 1,
                     ": expected ", da.to_string(), " or 1, got ", db.to_string(), " (shapes ",
                     a.to_string(), " and ", b.to_string(), ")");
    }
    return PartialShape(std::move(dims));
}

PartialShape elementwise_shape(const PartialShape& a, const PartialShape& b, AutoBroadcast mode,
                               InferContext& ctx) {
    if (mode == AutoBroadcast::numpy) return broadcast_shapes(a, b, ctx);
    auto m = PartialShape::merge(a, b);
    if (!m)
        ctx.fail("auto_broadcast=none needs equal input shapes: expected ", a.to_string(),
                 ", got ", b.to_string());
    return *m;
}

BroadcastWalker::BroadcastWalker(const Shape& out, const std::vector<Shape>& inputs)
    : out_(out), index_(out.size(), 0), offsets_(inputs.size(), 0) {
    const size_t r = out.size();
    for (auto& in : inputs) {
        KILN_CHECK(in.size() <= r, "cannot broadcast ", to_string(in), " to ", to_string(out));
        std::vector<int64_t> s(r, 0);
        int64_t stride = 1;
        for (size_t k = 0; k < in.size(); ++k) {
            const size_t ai = in.size() - 1 - k, ao = r - 1 - k;
            KILN_CHECK(in[ai] == out[ao] || in[ai] == 1, "cannot broadcast ", to_string(in), " to ",
                       to_string(out));
            s[ao] = in[ai] == 1 ? 0 : stride;
            stride *= in[ai];
        }
        strides_.push_back(std::move(s));
    }
}

void BroadcastWalker::next() {
    for (size_t d = out_.size(); d-- > 0;) {
        ++index_[d];
        for (size_t k = 0; k < offsets_.size(); ++k) offsets_[k] += strides_[k][d];
        if (index_[d] < out_[d]) return;
        for (size_t k = 0; k < offsets_.size(); ++k) offsets_[k] -= strides_[k][d] * out_[d];
        index_[d] = 0;
    }
}

namespace op {

namespace {

// Signed overflow is undefined in C++; the reference wraps, as the hardware does.
template <typename T>
T wrap_add(T a, T b) {
    if constexpr (std::is_integral_v<T>) {
        using U = std::make_unsigned_t<T>;
        return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
    } else {
        return a + b;
    }
}
template <typename T>
T wrap_sub(T a, T b) {
    if constexpr (std::is_integral_v<T>) {
        using U = std::make_unsigned_t<T>;
        return static_cast<T>(static_cast<U>(a) - static_cast<U>(b));
    } else {
        return a - b;
    }
}
template <typename T>
T wrap_mul(T a, T b) {
    if constexpr (std::is_integral_v<T>) {
        using U = std::make_unsigned_t<T>;
        // u8/i8 promote to int, which cannot overflow for one byte-sized product.
        return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
    } else {
        return a * b;
    }
}

template <typename T>
bool negative_value(T x) {
    if constexpr (std::is_signed_v<T>) return x < 0;
    else return false;
}

template <typename T>
T int_pow(T base, T exp) {
    if constexpr (std::is_signed_v<T>) {
        if (exp < 0) {
            if (base == 1) return 1;
            if (base == -1) return (exp % 2 == 0) ? 1 : -1;
            return 0;
        }
    }
    T r = 1;
    while (exp > 0) {
        if (exp & 1) r = wrap_mul(r, base);
        base = wrap_mul(base, base);
        exp = static_cast<T>(exp >> 1);
    }
    return r;
}

// Integer division and remainder without the traps of x86 idiv (x / 0, INT_MIN / -1).
template <typename T>
T int_div(T a, T b, bool floor_div, const Node& n) {
    KILN_CHECK_NODE(n, b != 0, "integer division by zero");
    if constexpr (std::is_signed_v<T>) {
        if (b == -1) return wrap_sub(T(0), a);
        T q = static_cast<T>(a / b);
        if (floor_div && (a % b != 0) && ((a < 0) != (b < 0))) --q;
        return q;
    } else {
        return static_cast<T>(a / b);
    }
}
template <typename T>
T int_rem(T a, T b, bool floor_mod, const Node& n) {
    KILN_CHECK_NODE(n, b != 0, "integer modulo by zero");
    if constexpr (std::is_signed_v<T>) {
        if (b == -1) return 0;
        T r = static_cast<T>(a % b);
        if (floor_mod && r != 0 && ((r < 0) != (b < 0))) r = static_cast<T>(r + b);
        return r;
    } else {
        return static_cast<T>(a % b);
    }
}
template <typename T>
T float_floor_mod(T a, T b) {
    T r = std::fmod(a, b);
    if (r != 0 && ((r < 0) != (b < 0))) r += b;
    return r;
}

template <typename T, typename R, typename F>
void broadcast_apply(const Tensor& a, const Tensor& b, Tensor& y, F f) {
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    R* py = y.data<R>();
    const int64_t n = y.size();
    if (a.shape() == b.shape()) {  // the common case, without the walker's bookkeeping
        for (int64_t i = 0; i < n; ++i) py[i] = static_cast<R>(f(pa[i], pb[i]));
        return;
    }
    BroadcastWalker w(y.shape(), {a.shape(), b.shape()});
    for (int64_t i = 0; i < n; ++i, w.next()) py[i] = static_cast<R>(f(pa[w.offset(0)], pb[w.offset(1)]));
}

// The scalar function of each arithmetic op, for one element type.
template <typename Derived, typename T>
T arithmetic(const Derived& node, T a, T b) {
    if constexpr (std::is_same_v<Derived, Add>) return wrap_add(a, b);
    else if constexpr (std::is_same_v<Derived, Subtract>) return wrap_sub(a, b);
    else if constexpr (std::is_same_v<Derived, Multiply>) return wrap_mul(a, b);
    else if constexpr (std::is_same_v<Derived, Maximum>) return a > b ? a : b;
    else if constexpr (std::is_same_v<Derived, Minimum>) return a < b ? a : b;
    else if constexpr (std::is_same_v<Derived, SquaredDifference>) {
        T d = wrap_sub(a, b);
        return wrap_mul(d, d);
    } else if constexpr (std::is_same_v<Derived, Power>) {
        if constexpr (std::is_integral_v<T>) return int_pow(a, b);
        else return std::pow(a, b);
    } else if constexpr (std::is_same_v<Derived, Divide>) {
        if constexpr (std::is_integral_v<T>) return int_div(a, b, node.m_pythondiv, node);
        else return a / b;
    } else if constexpr (std::is_same_v<Derived, FloorMod>) {
        if constexpr (std::is_integral_v<T>) return int_rem(a, b, true, node);
        else return float_floor_mod(a, b);
    } else if constexpr (std::is_same_v<Derived, Mod>) {
        if constexpr (std::is_integral_v<T>) return int_rem(a, b, false, node);
        else return std::fmod(a, b);
    } else {
        static_assert(sizeof(T) == 0, "not an arithmetic op");
    }
}

template <typename Derived, typename T>
bool compare(T a, T b) {
    if constexpr (std::is_same_v<Derived, Equal>) return a == b;
    else if constexpr (std::is_same_v<Derived, NotEqual>) return a != b;
    else if constexpr (std::is_same_v<Derived, Less>) return a < b;
    else if constexpr (std::is_same_v<Derived, LessEqual>) return a <= b;
    else if constexpr (std::is_same_v<Derived, Greater>) return a > b;
    else if constexpr (std::is_same_v<Derived, GreaterEqual>) return a >= b;
    else static_assert(sizeof(T) == 0, "not a comparison op");
}

template <typename Derived, typename T>
T bitwise(T a, T b) {
    if constexpr (std::is_same_v<T, bool>) {
        if constexpr (std::is_same_v<Derived, BitwiseAnd>) return a && b;
        else if constexpr (std::is_same_v<Derived, BitwiseOr>) return a || b;
        else return a != b;
    } else {
        if constexpr (std::is_same_v<Derived, BitwiseAnd>) return static_cast<T>(a & b);
        else if constexpr (std::is_same_v<Derived, BitwiseOr>) return static_cast<T>(a | b);
        else return static_cast<T>(a ^ b);
    }
}

template <typename Derived>
bool logical(bool a, bool b) {
    if constexpr (std::is_same_v<Derived, LogicalAnd>) return a && b;
    else if constexpr (std::is_same_v<Derived, LogicalOr>) return a || b;
    else return a != b;
}

template <typename Derived, typename T>
T shift(T a, T b) {
    constexpr int64_t bits = sizeof(T) * 8;
    const bool in_range = !negative_value(b) && static_cast<uint64_t>(b) < static_cast<uint64_t>(bits);
    using U = std::make_unsigned_t<T>;
    if constexpr (std::is_same_v<Derived, BitwiseLeftShift>) {
        if (!in_range) return 0;
        return static_cast<T>(static_cast<U>(static_cast<U>(a) << b));
    } else {
        if (!in_range) return negative_value(a) ? static_cast<T>(-1) : T(0);
        return static_cast<T>(a >> b);  // arithmetic for signed types (C++20)
    }
}

template <typename Derived, typename T>
T gcd_lcm(T a, T b) {
    using U = std::make_unsigned_t<T>;
    auto mag = [](T v) { return negative_value(v) ? static_cast<U>(U(0) - static_cast<U>(v)) : static_cast<U>(v); };
    U x = mag(a), y = mag(b);
    while (y != 0) {
        U r = static_cast<U>(x % y);
        x = y;
        y = r;
    }
    if constexpr (std::is_same_v<Derived, Gcd>) {
        return static_cast<T>(x);
    } else {
        if (x == 0) return T(0);
        return static_cast<T>(static_cast<U>(mag(a) / x) * mag(b));
    }
}

Type same_input_types(InferContext& ctx) {
    Type a = ctx.input_type(0), b = ctx.input_type(1);
    if (a != Type::dynamic && b != Type::dynamic && a != b)
        ctx.fail("inputs must have the same element type: expected ", kiln::type_name(a), ", got ",
                 kiln::type_name(b));
    return a == Type::dynamic ? b : a;
}

}  // namespace

template <typename Derived, BinaryKind K>
void BinaryElementwise<Derived, K>::infer(InferContext& ctx) const {
    ctx.check_inputs(2);
    const Type t = same_input_types(ctx);
    if constexpr (K == BinaryKind::arithmetic) {
        if (t == Type::boolean)
            ctx.fail("arithmetic needs numeric inputs: expected a numeric element type, got boolean");
    } else if constexpr (K == BinaryKind::logical) {
        if (t != Type::boolean && t != Type::dynamic)
            ctx.fail("expected boolean inputs, got ", kiln::type_name(t));
    } else if constexpr (K == BinaryKind::bitwise) {
        if (t != Type::dynamic && !is_integral(t) && t != Type::boolean)
            ctx.fail("expected integer or boolean inputs, got ", kiln::type_name(t));
    } else if constexpr (K == BinaryKind::shift || K == BinaryKind::integer) {
        if (t != Type::dynamic && !is_integral(t)) ctx.fail("expected integer inputs, got ", kiln::type_name(t));
    }
    PartialShape s = elementwise_shape(ctx.input_shape(0), ctx.input_shape(1), auto_broadcast, ctx);
    constexpr bool same = K == BinaryKind::arithmetic || K == BinaryKind::bitwise || K == BinaryKind::shift ||
                          K == BinaryKind::integer;
    ctx.set_output(0, same ? t : Type::boolean, std::move(s));
}

template <typename Derived, BinaryKind K>
void BinaryElementwise<Derived, K>::evaluate(const std::vector<Tensor>& in,
                                             std::vector<Tensor>& out) const {
    const auto& self = static_cast<const Derived&>(*this);
    visit_type(in[0].type(), [&](auto tag) {
        using T = decltype(tag);
        if constexpr (K == BinaryKind::arithmetic) {
            if constexpr (std::is_same_v<T, bool>) {
                throw Error(str_cat("[", this->type_name(), " ", this->name(),
                                    "] boolean inputs are not supported"));
            } else {
                broadcast_apply<T, T>(in[0], in[1], out[0],
                                      [&](T a, T b) { return arithmetic<Derived, T>(self, a, b); });
            }
        } else if constexpr (K == BinaryKind::integer) {
            if constexpr (std::is_floating_point_v<T> || std::is_same_v<T, bool>) {
                throw Error(str_cat("[", this->type_name(), " ", this->name(), "] element type ",
                                    kiln::type_name(in[0].type()), " is not supported"));
            } else {
                broadcast_apply<T, T>(in[0], in[1], out[0], [](T a, T b) { return gcd_lcm<Derived, T>(a, b); });
            }
        } else if constexpr (K == BinaryKind::bitwise || K == BinaryKind::shift) {
            if constexpr (std::is_floating_point_v<T> || (K == BinaryKind::shift && std::is_same_v<T, bool>)) {
                throw Error(str_cat("[", this->type_name(), " ", this->name(), "] element type ",
                                    kiln::type_name(in[0].type()), " is not supported"));
            } else if constexpr (K == BinaryKind::bitwise) {
                broadcast_apply<T, T>(in[0], in[1], out[0], [](T a, T b) { return bitwise<Derived, T>(a, b); });
            } else {
                broadcast_apply<T, T>(in[0], in[1], out[0], [](T a, T b) { return shift<Derived, T>(a, b); });
            }
        } else if constexpr (K == BinaryKind::comparison) {
            broadcast_apply<T, bool>(in[0], in[1], out[0], [](T a, T b) { return compare<Derived>(a, b); });
        } else {
            broadcast_apply<T, bool>(in[0], in[1], out[0],
                                     [](T a, T b) { return logical<Derived>(a != T{}, b != T{}); });
        }
    });
}

template class BinaryElementwise<Add, BinaryKind::arithmetic>;
template class BinaryElementwise<Subtract, BinaryKind::arithmetic>;
template class BinaryElementwise<Multiply, BinaryKind::arithmetic>;
template class BinaryElementwise<Divide, BinaryKind::arithmetic>;
template class BinaryElementwise<Maximum, BinaryKind::arithmetic>;
template class BinaryElementwise<Minimum, BinaryKind::arithmetic>;
template class BinaryElementwise<SquaredDifference, BinaryKind::arithmetic>;
template class BinaryElementwise<Power, BinaryKind::arithmetic>;
template class BinaryElementwise<FloorMod, BinaryKind::arithmetic>;
template class BinaryElementwise<Mod, BinaryKind::arithmetic>;
template class BinaryElementwise<Equal, BinaryKind::comparison>;
template class BinaryElementwise<NotEqual, BinaryKind::comparison>;
template class BinaryElementwise<Less, BinaryKind::comparison>;
template class BinaryElementwise<LessEqual, BinaryKind::comparison>;
template class BinaryElementwise<Greater, BinaryKind::comparison>;
template class BinaryElementwise<GreaterEqual, BinaryKind::comparison>;
template class BinaryElementwise<LogicalAnd, BinaryKind::logical>;
template class BinaryElementwise<LogicalOr, BinaryKind::logical>;
template class BinaryElementwise<LogicalXor, BinaryKind::logical>;
template class BinaryElementwise<BitwiseAnd, BinaryKind::bitwise>;
template class BinaryElementwise<BitwiseOr, BinaryKind::bitwise>;
template class BinaryElementwise<BitwiseXor, BinaryKind::bitwise>;
template class BinaryElementwise<BitwiseLeftShift, BinaryKind::shift>;
template class BinaryElementwise<BitwiseRightShift, BinaryKind::shift>;
template class BinaryElementwise<Gcd, BinaryKind::integer>;
template class BinaryElementwise<Lcm, BinaryKind::integer>;

Shape prelu_slope_shape(const Shape& data, const Shape& slope) {
    if (slope.size() == 1 && data.size() >= 2 && slope[0] == data[1] && slope[0] != 1) {
        Shape s(data.size() - 1, 1);
        s[0] = slope[0];
        return s;
    }
    return slope;
}

void PRelu::infer(InferContext& ctx) const {
    ctx.check_inputs(2);
    const Type t = same_input_types(ctx);
    if (t == Type::boolean || (t != Type::dynamic && !is_signed(t)))
        ctx.fail("expected a signed numeric element type, got ", kiln::type_name(t));
    const PartialShape& data = ctx.input_shape(0);
    const PartialShape& slope = ctx.input_shape(1);
    if (slope.rank_is_static() && slope.size() == 0)
        ctx.fail("slope must have rank >= 1: expected rank >= 1, got ", slope.to_string());
    bool per_channel = false;
    if (data.rank_is_static() && slope.rank_is_static() && slope.size() == 1 && data.size() >= 2) {
        per_channel = data[1].compatible(slope[0]) && !is_one(slope[0]);
        if (data[1].is_static() && slope[0].is_static() && data[1] != slope[0])
            per_channel = false;
    }
    if (!per_channel) {
        PartialShape b = broadcast_shapes(data, slope, ctx);
        // The output keeps data's shape: slope may not grow it.
        if (data.rank_is_static() && b.rank_is_static() &&
            (b.size() != data.size() || !PartialShape::merge(b, data)))
            ctx.fail("slope must broadcast to data: expected a shape broadcastable to ",
                     data.to_string(), ", got ", slope.to_string());
    }
    ctx.set_output(0, t, data);
}

void PRelu::evaluate(const std::vector<Tensor>& in, std::vector<Tensor>& out) const {
    Tensor slope = in[1].reshaped(prelu_slope_shape(in[0].shape(), in[1].shape()));
    visit_type(in[0].type(), [&](auto tag) {
        using T = decltype(tag);
        if constexpr (std::is_same_v<T, bool>) {
            throw Error(str_cat("[PRelu ", name(), "] boolean inputs are not supported"));
        } else {
            broadcast_apply<T, T>(in[0], slope, out[0],
                                  [](T x, T s) { return x < T{} ? wrap_mul(x, s) : x; });
        }
    });
}

}  // namespace op
}  // namespace kiln
