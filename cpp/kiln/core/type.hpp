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
    // Appended after the first ten so existing numbering stays put.
    i16,
    u16,
    u32,
    u64,
};

size_t type_size(Type t);
const char* type_name(Type t);
// Throws kiln::Error for an unknown name.
Type type_from_name(const std::string& name);
bool is_float(Type t);
bool is_integral(Type t);  // boolean excluded
bool is_signed(Type t);
// f16 / bf16: the reference kernels compute these in f32 and round each result (as torch's CPU
// kernels do); see evaluate_node (core/interpreter.hpp).
inline bool is_half(Type t) { return t == Type::f16 || t == Type::bf16; }

// torch's ScalarType codes (as TorchScript stores dtype arguments) and kiln types: the one table
// both directions use (the decoder, the translators, prim::dtype). Codes torch has that kiln
// cannot represent (complex, quantized) map to Type::dynamic and keep their torch name.
struct TorchDtype {
    int64_t code;
    const char* name;  // torch's name without "torch.": "float32", "complex64", ...
    Type type;         // Type::dynamic when kiln has no such element type
};
// nullptr when torch has no such code / name; the entry's type may still be Type::dynamic.
const TorchDtype* torch_dtype_by_code(int64_t code);
const TorchDtype* torch_dtype_by_name(const std::string& name);
// -1 for Type::dynamic.
int64_t torch_dtype_code(Type t);
// "float32, float64, ..." : the torch dtypes kiln takes, for error messages.
std::string torch_dtypes_supported();

// Maps a C++ element type to its kiln::Type at compile time.
template <typename T> struct type_of;
template <> struct type_of<float> { static constexpr Type value = Type::f32; };
template <> struct type_of<double> { static constexpr Type value = Type::f64; };
template <> struct type_of<int64_t> { static constexpr Type value = Type::i64; };
template <> struct type_of<int32_t> { static constexpr Type value = Type::i32; };
template <> struct type_of<int8_t> { static constexpr Type value = Type::i8; };
template <> struct type_of<uint8_t> { static constexpr Type value = Type::u8; };
template <> struct type_of<bool> { static constexpr Type value = Type::boolean; };
template <> struct type_of<int16_t> { static constexpr Type value = Type::i16; };
template <> struct type_of<uint16_t> { static constexpr Type value = Type::u16; };
template <> struct type_of<uint32_t> { static constexpr Type value = Type::u32; };
template <> struct type_of<uint64_t> { static constexpr Type value = Type::u64; };

}  // namespace kiln
