// State of one graph's translation: the torch values seen so far.
#pragma once
#include <map>
#include <set>

#include "kiln/frontend/pytorch/node_context.hpp"

namespace kiln::frontend::pytorch {

class Translation {
public:
    explicit Translation(const GraphDesc& g) : g_(g) {}

    const TValue& value(int64_t id) const;
    void set_value(int64_t id, TValue v) { values_[id] = std::move(v); }
    // A Constant node per constant value id, made once.
    Output constant_for(int64_t id, const std::function<Output()>& make);
    void translate_nodes(const std::vector<NodeDesc>& nodes);
    std::shared_ptr<Model> run();
    // Every torch value bound so far (branches of a run-time `if` snapshot and restore it).
    std::map<int64_t, TValue>& values() { return values_; }

private:
    const GraphDesc& g_;
    std::map<int64_t, TValue> values_;
    // The Constant made for a value id, with the constant it was made from: an id is rebound
    // by each iteration of an unrolled loop, so a cached node is reused only for the same value.
    std::map<int64_t, std::pair<ConstValue, Output>> const_nodes_;
    // Values that alias another tensor's memory in torch: the base value and the view ops
    // from it, which can be replayed on an index grid when the chain only selects elements.
    struct ViewInfo {
        int64_t base;
        std::vector<const NodeDesc*> chain;
        bool replayable;
    };
    void write_back(const ViewInfo& view, const Output& updated, const NodeDesc& at);

    std::map<int64_t, ViewInfo> views_;
};

}  // namespace kiln::frontend::pytorch
