// State of one graph's translation: the torch values seen so far.
#pragma once
#include <map>
#include <set>

#include "kiln/frontend/pytorch/node_context.hpp"

namespace kiln::frontend::pytorch {

// Whether two torch values are the same value (the same kiln output, equal constants, ...).
bool same_value(const TValue& a, const TValue& b);
// A constant list as a list of constant values, so that it merges item by item.
TValue as_list(const TValue& v);

class Translation {
public:
    explicit Translation(const GraphDesc& g) : g_(g) {}

    const TValue& value(int64_t id) const;
    void set_value(int64_t id, TValue v) { values_[id] = std::move(v); }
    // A list or dict changed in place (append, x[i] = v, d[k] = v): the value and every container
    // it was taken from (list[i] / dict[key] of a list or dict is the same object in torch) change.
    void set_container(int64_t id, TValue v);
    // A Constant node per constant value id, made once.
    Output constant_for(int64_t id, const std::function<Output()>& make);
    void translate_nodes(const std::vector<NodeDesc>& nodes);
    std::shared_ptr<Model> run();
    // Every torch value bound so far (branches of a run-time `if` snapshot and restore it).
    std::map<int64_t, TValue>& values() { return values_; }

private:
    const GraphDesc& g_;
    std::map<int64_t, TValue> values_;
    // The Constant node made for each of the graph's own constants (their values never change).
    std::map<int64_t, Output> const_nodes_;
    // Values that alias another tensor's memory in torch: the base value and the view ops
    // from it, which can be replayed on an index grid when the chain only selects elements.
    struct ViewInfo {
        int64_t base;
        std::vector<const NodeDesc*> chain;
        bool replayable;
    };
    void write_back(const ViewInfo& view, const Output& updated, const NodeDesc& at);
    void bind_out_arg(const NodeDesc& n, size_t k, NodeContext& ctx);

    std::map<int64_t, ViewInfo> views_;
    // Lists and dicts are objects in torch: a list put into another (ListConstruct, DictConstruct,
    // TupleConstruct) or read out of one (__getitem__ with a key known at conversion) is the same
    // object under every value id that names it. A slot is (container id, key); each value id
    // lists the slots it sits in, each slot the value ids that name its object.
    using Slot = std::pair<int64_t, std::string>;
    void track_containers(const NodeDesc& n);
    std::map<int64_t, std::vector<Slot>> slots_of_;
    std::map<Slot, std::vector<int64_t>> ids_in_;
    // Lists made by unsafe_chunk / unsafe_split (torch's composite cells, traced): their pieces
    // share memory with the input, but torch promises the input is not read after they change.
    std::set<int64_t> unsafe_lists_;
};

}  // namespace kiln::frontend::pytorch
