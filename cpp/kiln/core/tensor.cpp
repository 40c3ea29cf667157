#include "kiln/core/tensor.hpp"

#include <cstdlib>

#include "kiln/core/error.hpp"

namespace kiln {

Tensor::Tensor(Type type, Shape shape) : type_(type), shape_(std::move(shape)) {
    KILN_CHECK(type != Type::dynamic, "cannot allocate a tensor of dynamic element type");
    for (auto d : shape_) KILN_CHECK(d >= 0, "negative dimension in shape ", to_string(shape_));
    size_t bytes = byte_size();
    size_t rounded = ((bytes + 63) / 64) * 64;
    if (rounded == 0) rounded = 64;
    void* p = std::aligned_alloc(64, rounded);
    if (!p) throw std::bad_alloc();
    owner_ = std::shared_ptr<void>(p, [](void* q) { std::free(q); });
    data_ = p;
}

Tensor::Tensor(Type type, Shape shape, void* data, std::shared_ptr<void> owner)
    : type_(type), shape_(std::move(shape)), data_(data), owner_(std::move(owner)) {}

Tensor Tensor::reshaped(Shape s) const {
    KILN_CHECK(shape_size(s) == size(), "cannot reshape ", to_string(shape_), " to ", to_string(s));
    Tensor t = *this;
    t.shape_ = std::move(s);
    return t;
}

Tensor Tensor::copy() const {
    Tensor t(type_, shape_);
    if (byte_size()) std::memcpy(t.data(), data(), byte_size());
    return t;
}

float f16_to_f32(uint16_t h) {
    uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        if (mant == 0) bits = sign;
        else {  // subnormal
            exp = 127 - 15 + 1;
            while (!(mant & 0x400)) { mant <<= 1; --exp; }
            mant &= 0x3ff;
            bits = sign | (exp << 23) | (mant << 13);
        }
    } else if (exp == 31) bits = sign | 0x7f800000u | (mant << 13);
    else bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}
uint16_t f32_to_f16(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    int32_t exp = static_cast<int32_t>((x >> 23) & 0xff) - 127 + 15;
    uint32_t mant = x & 0x7fffffu;
    if (((x >> 23) & 0xff) == 0xff) return static_cast<uint16_t>(sign | 0x7c00u | (mant ? 0x200u : 0));
    if (exp >= 31) return static_cast<uint16_t>(sign | 0x7c00u);
    if (exp <= 0) {
        if (exp < -10) return static_cast<uint16_t>(sign);
        mant |= 0x800000u;
        uint32_t shift = static_cast<uint32_t>(14 - exp);
        uint32_t h = mant >> shift;
        uint32_t rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1))) ++h;
        return static_cast<uint16_t>(sign | h);
    }
    uint32_t h = sign | (static_cast<uint32_t>(exp) << 10) | (mant >> 13);
    uint32_t rem = mant & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) ++h;
    return static_cast<uint16_t>(h);
}
float bf16_to_f32(uint16_t h) {
    uint32_t bits = static_cast<uint32_t>(h) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}
uint16_t f32_to_bf16(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40);
    x += 0x7fffu + ((x >> 16) & 1);
    return static_cast<uint16_t>(x >> 16);
}

namespace {
template <typename D>
void convert_to(const void* src, Type st, D* dst, size_t n) {
    if (st == Type::f16) {
        auto s = static_cast<const uint16_t*>(src);
        for (size_t i = 0; i < n; ++i) dst[i] = static_cast<D>(f16_to_f32(s[i]));
        return;
    }
    if (st == Type::bf16) {
        auto s = static_cast<const uint16_t*>(src);
        for (size_t i = 0; i < n; ++i) dst[i] = static_cast<D>(bf16_to_f32(s[i]));
        return;
    }
    visit_type(st, [&](auto tag) {
        using S = decltype(tag);
        auto s = static_cast<const S*>(src);
        for (size_t i = 0; i < n; ++i) {
            if constexpr (std::is_same_v<D, bool>) dst[i] = s[i] != S{};
            else dst[i] = static_cast<D>(s[i]);
        }
    });
}
}  // namespace

void convert_elements(const void* src, Type st, void* dst, Type dt, size_t n) {
    if (st == dt) {
        std::memcpy(dst, src, n * type_size(st));
        return;
    }
    if (dt == Type::f16 || dt == Type::bf16) {
        std::vector<float> tmp(n);
        convert_to(src, st, tmp.data(), n);
        auto d = static_cast<uint16_t*>(dst);
        for (size_t i = 0; i < n; ++i) d[i] = dt == Type::f16 ? f32_to_f16(tmp[i]) : f32_to_bf16(tmp[i]);
        return;
    }
    visit_type(dt, [&](auto tag) { convert_to(src, st, static_cast<decltype(tag)*>(dst), n); });
}

std::vector<int64_t> Tensor::as_i64_vector() const {
    std::vector<int64_t> r(static_cast<size_t>(size()));
    convert_elements(data(), type_, r.data(), Type::i64, r.size());
    return r;
}

std::vector<double> Tensor::as_f64_vector() const {
    std::vector<double> r(static_cast<size_t>(size()));
    convert_elements(data(), type_, r.data(), Type::f64, r.size());
    return r;
}

}  // namespace kiln
