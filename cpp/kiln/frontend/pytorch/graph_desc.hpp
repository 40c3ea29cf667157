// GraphDesc: a captured torch graph as plain data. The Python decoder builds one from a
// torch._C.Graph (TorchScript) and hands it to C++ in one call; a C++ test can build one by
// hand. Values are numbered; constants (prim::Constant) are not nodes but entries of
// `constants`; frozen weights arrive as tensors that borrow torch's memory.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "kiln/core/shape.hpp"
#include "kiln/core/tensor.hpp"

namespace kiln::frontend::pytorch {

// A constant argument: None, bool, int, float, string, a list of those, a dict (a list with
// `keys`), or a tensor. `unsupported` is a constant kiln cannot represent (a ScriptObject, a
// complex tensor, ...): `s` says what it is, and the node that uses it fails with that.
struct ConstValue {
    enum class Kind { none, boolean, integer, floating, string, list, tensor, unsupported };
    Kind kind = Kind::none;
    bool b = false;
    int64_t i = 0;
    double f = 0;
    std::string s;
    std::vector<ConstValue> items;
    std::vector<std::string> keys;  // a dict: the key of each item (empty for lists and {})
    Tensor tensor;

    static ConstValue none() { return {}; }
    static ConstValue boolean(bool v) { ConstValue c; c.kind = Kind::boolean; c.b = v; return c; }
    static ConstValue integer(int64_t v) { ConstValue c; c.kind = Kind::integer; c.i = v; return c; }
    static ConstValue floating(double v) { ConstValue c; c.kind = Kind::floating; c.f = v; return c; }
    static ConstValue string(std::string v) { ConstValue c; c.kind = Kind::string; c.s = std::move(v); return c; }
    static ConstValue list(std::vector<ConstValue> v) { ConstValue c; c.kind = Kind::list; c.items = std::move(v); return c; }
    static ConstValue tensor_value(Tensor t) { ConstValue c; c.kind = Kind::tensor; c.tensor = std::move(t); return c; }
    static ConstValue unsupported_value(std::string what) { ConstValue c; c.kind = Kind::unsupported; c.s = std::move(what); return c; }
    std::string to_string() const;
};

struct BlockDesc;

struct NodeDesc {
    std::string kind;                       // "aten::conv2d", "prim::ListConstruct", ...
    std::vector<int64_t> inputs;            // value ids
    std::vector<int64_t> outputs;           // value ids
    std::vector<std::string> output_types;  // torch types of the outputs: "Tensor", "int", "int[]", ...
    std::string name;                       // debug name of the first output
    std::string source;                     // "file.py:12: x = self.conv(x)"
    std::vector<BlockDesc> blocks;          // bodies of prim::If / prim::Loop
    // The out= tensors of an aten "out" overload (torch.add(a, b, out=o)), which the decoder takes
    // off `inputs`: out_args[k] aliases outputs[k] after the node, so later uses see the result.
    std::vector<int64_t> out_args;
};

struct BlockDesc {
    std::vector<int64_t> inputs;
    std::vector<NodeDesc> nodes;
    std::vector<int64_t> outputs;
};

struct InputDesc {
    int64_t id = 0;
    std::string name;
    Type type = Type::f32;
    PartialShape shape;  // dynamic rank when unknown
};

struct GraphDesc {
    std::string name = "model";
    std::vector<InputDesc> inputs;
    BlockDesc body;  // body.outputs are the graph outputs
    std::vector<std::string> output_names;
    std::map<int64_t, ConstValue> constants;
};

}  // namespace kiln::frontend::pytorch
