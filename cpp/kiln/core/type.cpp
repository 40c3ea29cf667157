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
    {Type::f64, "f64", 8},
};
}  // namespace

size_t type_size(Type t) { return kTypes[static_cast<size_t>(t)].size; }
const char* type_name(Type t) { return kTypes[static_cast<size_t>(t)].name; }

Type type_from_name(const std::string& name) {
    for (auto& i : kTypes)
        if (name == i.name) return i.t;
    throw TypeError("unknown element type '" + name + "'");
}

bool is_float(Type t) { return t == Type::f16 || t == Type::bf16 || t == Type::f32 || t == Type::f64; }
bool is_integral(Type t) {
    return t == Type::u8 || t == Type::i8 || t == Type::i32 || t == Type::i64;
}
bool is_signed(Type t) { return is_float(t) || t == Type::i8 || t == Type::i32 || t == Type::i64; }

}  // namespace kiln
