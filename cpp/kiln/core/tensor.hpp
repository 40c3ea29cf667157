// A host tensor: element type, static shape, and memory that is either owned or borrowed.
// Borrowed memory keeps its owner alive through `owner` (a torch parameter, a mapped file, ...),
// which is how weights reach kiln without a copy.
#pragma once
#include <cstring>
#include <memory>
#include <vector>

#include "kiln/core/shape.hpp"
#include "kiln/core/type.hpp"

namespace kiln {

class Tensor {
public:
    Tensor() = default;
    // Allocates (64-byte aligned, uninitialized) memory for the shape.
    Tensor(Type type, Shape shape);
    // Wraps memory owned elsewhere; `owner` is kept alive as long as any copy of this tensor.
    Tensor(Type type, Shape shape, void* data, std::shared_ptr<void> owner);

    template <typename T>
    static Tensor from_vector(const std::vector<T>& v, Shape shape) {
        Tensor t(type_of<T>::value, std::move(shape));
        if constexpr (std::is_same_v<T, bool>) {
            for (size_t i = 0; i < v.size(); ++i) t.data<bool>()[i] = v[i];
        } else {
            std::memcpy(t.data(), v.data(), v.size() * sizeof(T));
        }
        return t;
    }
    template <typename T>
    static Tensor scalar(T v) { return from_vector<T>({v}, {}); }

    Type type() const { return type_; }
    const Shape& shape() const { return shape_; }
    int64_t rank() const { return static_cast<int64_t>(shape_.size()); }
    int64_t size() const { return shape_size(shape_); }
    size_t byte_size() const { return static_cast<size_t>(size()) * type_size(type_); }
    bool empty() const { return data_ == nullptr && size() != 0; }

    void* data() { return data_; }
    const void* data() const { return data_; }
    template <typename T> T* data() { return static_cast<T*>(data_); }
    template <typename T> const T* data() const { return static_cast<const T*>(data_); }
    const std::shared_ptr<void>& owner() const { return owner_; }

    // Same memory, new shape of the same element count.
    Tensor reshaped(Shape s) const;
    // Deep copy into fresh memory.
    Tensor copy() const;
    // Values as int64 (any integral or float type is converted); for shape-like inputs.
    std::vector<int64_t> as_i64_vector() const;
    std::vector<double> as_f64_vector() const;

private:
    Type type_ = Type::f32;
    Shape shape_;
    void* data_ = nullptr;
    std::shared_ptr<void> owner_;
};

// Calls f(T{}) with the C++ type for t (f32, f64, i64, i32, i16, i8, u8, u16, u32, u64, boolean).
// Throws for f16 and bf16: reference kernels never see them, Node::evaluate_reference widens
// them to f32 around evaluate() and rounds the results back.
template <typename F>
decltype(auto) visit_type(Type t, F&& f) {
    switch (t) {
        case Type::f32: return f(float{});
        case Type::f64: return f(double{});
        case Type::i64: return f(int64_t{});
        case Type::i32: return f(int32_t{});
        case Type::i8: return f(int8_t{});
        case Type::u8: return f(uint8_t{});
        case Type::boolean: return f(bool{});
        case Type::i16: return f(int16_t{});
        case Type::u16: return f(uint16_t{});
        case Type::u32: return f(uint32_t{});
        case Type::u64: return f(uint64_t{});
        default: break;
    }
    throw std::runtime_error(std::string("element type ") + type_name(t) +
                             " is not supported by this kernel");
}

// Converts elements between any two element types (f16/bf16 through f32, rounding to nearest
// even as torch does). Float to integer truncates toward zero; to boolean: x != 0.
void convert_elements(const void* src, Type src_type, void* dst, Type dst_type, size_t n);

// One f16 / bf16 value <-> f32 (round to nearest even; NaN stays NaN).
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);

}  // namespace kiln
