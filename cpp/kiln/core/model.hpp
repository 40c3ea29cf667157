// A model: parameters (inputs), results (outputs) and every node reachable from the results.
#pragma once
#include <map>
#include <set>
#include <memory>
#include <string>
#include <vector>

#include "kiln/core/node.hpp"
#include "kiln/ops/graph_io.hpp"

namespace kiln {

using ParameterVector = std::vector<std::shared_ptr<op::Parameter>>;
using ResultVector = std::vector<std::shared_ptr<op::Result>>;

class Model {
public:
    Model(ResultVector results, ParameterVector params, std::string name = "model");

    const ParameterVector& parameters() const { return params_; }
    const ResultVector& results() const { return results_; }
    const std::string& name() const { return name_; }
    void set_name(std::string n) { name_ = std::move(n); }

    // The tensor name of input i / output i (first of its names).
    std::string input_name(size_t i) const;
    std::string output_name(size_t i) const;
    // Every name of output i: its Result's name first, then the tensor names of what it returns.
    std::vector<std::string> output_names(size_t i) const;
    // Index of the input / output with this tensor name, or -1.
    int64_t input_index(const std::string& name) const;
    int64_t output_index(const std::string& name) const;

    // All nodes in topological order (parameters first, in their order).
    NodeVector ordered_ops() const;
    // Re-runs shape inference over the whole graph, in order.
    void validate_and_infer();
    // Sets new input shapes and re-infers; throws ValueError naming the node that cannot take them.
    void reshape(const std::map<size_t, PartialShape>& shapes);
    // A deep copy of the graph (constants share their data).
    std::shared_ptr<Model> clone() const;
    // A readable listing, one node a line.
    std::string to_string() const;

    // Input dimensions that are one dimension (torch.export's shared size symbols: the sequence
    // length of input_ids and attention_mask): each group lists (input index, axis), and the
    // runtime refuses inputs whose lengths differ within a group, as torch's program does.
    using DimGroup = std::vector<std::pair<size_t, size_t>>;
    const std::vector<DimGroup>& equal_input_dims() const { return equal_dims_; }
    void set_equal_input_dims(std::vector<DimGroup> groups);  // throws ValueError for a bad index/axis

    void replace_parameter(size_t i, std::shared_ptr<op::Parameter> p) { params_.at(i) = std::move(p); }
    void set_results(ResultVector r) { results_ = std::move(r); }

private:
    ResultVector results_;
    ParameterVector params_;
    std::string name_;
    std::vector<DimGroup> equal_dims_;
};

// Reconnects every consumer of `from` in the model to `to` (one walk of the graph; passes that
// replace many outputs keep a ConsumerIndex instead).
void replace_output(const Model& m, const Output& from, const Output& to);
// For each output of each node: the (consumer, input index) pairs that read it.
using ConsumerMap = std::map<Output, std::vector<std::pair<Node*, size_t>>>;
ConsumerMap consumers(const Model& m);

// consumers() kept current while a pass rewires the graph: built once, and each replace() costs
// the readers it touches and the nodes it leaves dead, where rebuilding consumers() after every
// replacement (and replace_output's walk of the whole graph) made fusion passes O(N^2).
class ConsumerIndex {
public:
    explicit ConsumerIndex(const Model& m);
    // Every output that has readers (no empty entries), as consumers() gives it.
    const ConsumerMap& map() const { return readers_; }
    // Reconnects every reader of `from` to `to` (but `to`'s own node), graph output names
    // moving along, as replace_output does. The nodes `to` brings (new nodes up to the indexed
    // graph) become readers of their inputs; nodes that no longer feed anything leave the index
    // (they are no longer part of the graph).
    void replace(const Output& from, const Output& to);

private:
    void index_new(Node* n);
    void drop_if_dead(Node* n);
    ConsumerMap readers_;
    std::set<Node*> indexed_;
    // Every node indexed, alive as long as the index: no address is reused while it is keyed.
    std::vector<NodePtr> keep_;
};

// Two graphs are the same when their nodes, in topological order, have the same types, opsets,
// typed attributes (bodies compared the same way), wiring, output types, shapes and tensor names,
// and the same parameters and results in the same order. Node names are not compared.
bool same_graph(const Model& a, const Model& b);
// The first difference same_graph finds, described; empty when the graphs are the same.
std::string graph_difference(const Model& a, const Model& b);

// Checks the graph's invariants (connected inputs, results reachable, parameters used as
// declared, acyclic, shapes consistent with re-inference). Throws kiln::Error naming the fault.
void validate_model(const Model& m);

}  // namespace kiln
