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

// Visits an enum attribute through its IR spelling.
template <typename E>
void visit_enum(AttributeVisitor& v, const char* name, E& value,
                std::initializer_list<std::pair<E, const char*>> spellings) {
    std::string s;
    for (auto& [e, n] : spellings)
        if (e == value) s = n;
    v.on(name, s);
    for (auto& [e, n] : spellings)
        if (s == n) {
            value = e;
            return;
        }
    std::string known;
    for (auto& [e, n] : spellings) known += std::string(known.empty() ? "" : ", ") + n;
    throw ValueError(str_cat("attribute '", name, "' has value '", s, "', expected one of: ", known));
}

}  // namespace kiln
