// The op factory: (IR type name, opset version) -> a default-made op of that class and version.
// The one table of entries is ops/registry.cpp, one line per op and version; the IR reader makes
// every node through it, and a test fails when an op class in ops/ has no entry there.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kiln/core/node.hpp"

namespace kiln {

struct OpEntry {
    std::string type;       // IR type name, as Node::type_name()
    int64_t version = 0;    // opset version, as Node::version()
    std::string class_name; // the C++ class (op::MaxPool), for the coverage test
    std::function<std::shared_ptr<Node>()> make;
};

// Every registered (type, version), in table order.
const std::vector<OpEntry>& op_registry();
// The op of exactly this type and version, default-made (attributes at their defaults, no inputs,
// not inferred); nullptr when there is none.
std::shared_ptr<Node> create_op(const std::string& type, int64_t version);
// The registered versions of a type, ascending (empty when the type is unknown).
std::vector<int64_t> op_versions(const std::string& type);
// The version an opset holds: opsetN contains, of each type, its newest version <= N
// (MaxPool in opset13 is MaxPool-8). -1 when the type has no version <= N.
int64_t version_in_opset(const std::string& type, int64_t opset);

}  // namespace kiln
