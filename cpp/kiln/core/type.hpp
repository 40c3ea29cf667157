// Element types of kiln tensors. Names follow the OpenVINO IR spelling (f32, i64, boolean, ...).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace kiln {

enum class Type : uint8_t {
    dynamic,  // not known yet (only in graphs, never in a tensor)
    boolean,
    u8,
    i8,
    i32,
    i64,
    f16,
    bf16,
    f32,
    f64,
};

size_t type_size(Type t);
const char* type_name(Type t);
// Throws kiln::Error for an unknown name.
Type type_from_name(const std::string& name);
bool is_float(Type t);
bool is_integral(Type t);  // boolean excluded
bool is_signed(Type t);

// Maps a C++ element type to its kiln::Type at compile time.
template <typename T> struct type_of;
template <> struct type_of<float> { static constexpr Type value = Type::f32; };
template <> struct type_of<double> { static constexpr Type value = Type::f64; };
template <> struct type_of<int64_t> { static constexpr Type value = Type::i64; };
template <> struct type_of<int32_t> { static constexpr Type value = Type::i32; };
template <> struct type_of<int8_t> { static constexpr Type value = Type::i8; };
template <> struct type_of<uint8_t> { static constexpr Type value = Type::u8; };
template <> struct type_of<bool> { static constexpr Type value = Type::boolean; };

}  // namespace kiln
