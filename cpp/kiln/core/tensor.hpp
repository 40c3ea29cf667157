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

// Calls f(T{}) with the C++ type for t (f32, f64, i64, i32, i8, u8, boolean).
// Throws for types the reference kernels do not cover (f16, bf16).
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
        default: break;
    }
    throw std::runtime_error(std::string("element type ") + type_name(t) +
                             " is not supported by this kernel");
}

// Converts elements between any two supported types (also f16/bf16 <-> f32).
void convert_elements(const void* src, Type src_type, void* dst, Type dst_type, size_t n);

}  // namespace kiln
