// One visitor drives every use of an op's attributes: IR write and read, equality, hashing and the
// text dump. An op lists its attributes once, in visit_attributes().
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kiln/core/error.hpp"
#include "kiln/core/shape.hpp"
#include "kiln/core/type.hpp"

namespace kiln {

class Tensor;
class Model;

class AttributeVisitor {
public:
    // Which way values flow. write: the visitor takes the op's values and leaves them as they are
    // (the IR writer, equality, hashing, the text dump). read: the visitor gives the op new values
    // (the IR reader); an op whose other state depends on its attributes (Constant's tensor)
    // rebuilds it only then. Every visitor says which it is.
    enum class Direction { write, read };
    virtual Direction direction() const = 0;
    bool reading() const { return direction() == Direction::read; }

    virtual ~AttributeVisitor() = default;
    virtual void on(const char* name, bool& v) = 0;
    virtual void on(const char* name, int64_t& v) = 0;
    virtual void on(const char* name, double& v) = 0;
    virtual void on(const char* name, std::string& v) = 0;
    virtual void on(const char* name, std::vector<int64_t>& v) = 0;
    virtual void on(const char* name, std::vector<double>& v) = 0;
    virtual void on(const char* name, Type& v) = 0;
    virtual void on(const char* name, PartialShape& v) = 0;
    // Only Constant has one: its payload (the IR writer sends it to the .bin file).
    virtual void on_tensor(const char* name, Tensor& v) { (void)name; (void)v; }
    // The body graphs of If and Loop (the IR writes each as a nested <body>); ignored by default.
    virtual void on_body(const char* name, std::shared_ptr<Model>& body) { (void)name; (void)body; }
};

// ASCII case-insensitive equality (enum spellings: OpenVINO writes "INSIDE_SQRT" where the
// specification says "inside_sqrt"; both read).
inline bool iequals(const std::string& a, const char* b) {
    size_t i = 0;
    for (; i < a.size() && b[i]; ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
        if (x != y) return false;
    }
    return i == a.size() && !b[i];
}

// Visits an enum attribute through its IR spelling. Writing gives the last spelling listed for
// the value; reading takes any listed spelling, in any letter case.
template <typename E>
void visit_enum(AttributeVisitor& v, const char* name, E& value,
                std::initializer_list<std::pair<E, const char*>> spellings) {
    std::string s;
    for (auto& [e, n] : spellings)
        if (e == value) s = n;
    v.on(name, s);
    if (!v.reading()) return;
    for (auto& [e, n] : spellings)
        if (iequals(s, n)) {
            value = e;
            return;
        }
    // The written spelling of each value (the last listed), in order.
    std::string known;
    for (auto it = spellings.begin(); it != spellings.end(); ++it) {
        bool last = true;
        for (auto jt = it + 1; jt != spellings.end(); ++jt) last &= !(jt->first == it->first);
        if (last) known += std::string(known.empty() ? "" : ", ") + it->second;
    }
    throw ValueError(str_cat("attribute '", name, "' has value '", s, "', expected one of: ", known));
}

}  // namespace kiln
