#include "kiln/core/type.hpp"

#include "kiln/core/error.hpp"

namespace kiln {

namespace {
struct TypeInfo {
    Type t;
    const char* name;
    size_t size;
};
constexpr TypeInfo kTypes[] = {
    {Type::dynamic, "dynamic", 0}, {Type::boolean, "boolean", 1}, {Type::u8, "u8", 1},
    {Type::i8, "i8", 1},           {Type::i32, "i32", 4},         {Type::i64, "i64", 8},
    {Type::f16, "f16", 2},         {Type::bf16, "bf16", 2},       {Type::f32, "f32", 4},
    {Type::f64, "f64", 8},         {Type::i16, "i16", 2},         {Type::u16, "u16", 2},
    {Type::u32, "u32", 4},         {Type::u64, "u64", 8},
};

// torch/csrc ScalarType numbering (c10/core/ScalarType.h), the codes TorchScript graphs carry.
constexpr TorchDtype kTorch[] = {
    {0, "uint8", Type::u8},          {1, "int8", Type::i8},          {2, "int16", Type::i16},
    {3, "int32", Type::i32},         {4, "int64", Type::i64},        {5, "float16", Type::f16},
    {6, "float32", Type::f32},       {7, "float64", Type::f64},      {8, "complex32", Type::dynamic},
    {9, "complex64", Type::dynamic}, {10, "complex128", Type::dynamic}, {11, "bool", Type::boolean},
    {12, "qint8", Type::dynamic},    {13, "quint8", Type::dynamic},  {14, "qint32", Type::dynamic},
    {15, "bfloat16", Type::bf16},    {16, "quint4x2", Type::dynamic}, {17, "quint2x4", Type::dynamic},
    {23, "float8_e5m2", Type::dynamic}, {24, "float8_e4m3fn", Type::dynamic},
    {25, "float8_e5m2fnuz", Type::dynamic}, {26, "float8_e4m3fnuz", Type::dynamic},
    {27, "uint16", Type::u16},       {28, "uint32", Type::u32},      {29, "uint64", Type::u64},
};
}  // namespace

size_t type_size(Type t) { return kTypes[static_cast<size_t>(t)].size; }
const char* type_name(Type t) { return kTypes[static_cast<size_t>(t)].name; }

Type type_from_name(const std::string& name) {
    for (auto& i : kTypes)
        if (name == i.name) return i.t;
    throw TypeError("unknown element type '" + name + "'");
}

const TorchDtype* torch_dtype_by_code(int64_t code) {
    for (auto& d : kTorch)
        if (d.code == code) return &d;
    return nullptr;
}

const TorchDtype* torch_dtype_by_name(const std::string& name) {
    std::string n = name.rfind("torch.", 0) == 0 ? name.substr(6) : name;
    for (auto& d : kTorch)
        if (n == d.name) return &d;
    return nullptr;
}

int64_t torch_dtype_code(Type t) {
    for (auto& d : kTorch)
        if (d.type == t && t != Type::dynamic) return d.code;
    return -1;
}

std::string torch_dtypes_supported() {
    std::string r;
    for (auto& d : kTorch)
        if (d.type != Type::dynamic) r += (r.empty() ? "" : ", ") + std::string(d.name);
    return r;
}

bool is_float(Type t) { return t == Type::f16 || t == Type::bf16 || t == Type::f32 || t == Type::f64; }
bool is_integral(Type t) {
    return t == Type::u8 || t == Type::i8 || t == Type::i16 || t == Type::i32 || t == Type::i64 ||
           t == Type::u16 || t == Type::u32 || t == Type::u64;
}
bool is_signed(Type t) {
    return is_float(t) || t == Type::i8 || t == Type::i16 || t == Type::i32 || t == Type::i64;
}

}  // namespace kiln
