// The pass manager: the one ordered list of graph passes, run by compile_model on the model as
// converted, and by plan building on a model specialized to concrete input shapes (where shape
// arithmetic folds away and new patterns appear). Each pass is a function Model& -> number of
// rewrites; the list is data, so that tests and tools can name, run and time each one.
#pragma once
#include <string>
#include <vector>

#include "kiln/core/model.hpp"

namespace kiln::passes {

struct Pass {
    const char* name;
    size_t (*run)(Model&);
};

// In order: fuse_int8, fold_constants, fuse_attention, fuse_layer_norm, fuse_gelu, fuse_dnn,
// batch_norm_to_affine.
const std::vector<Pass>& pipeline();

struct PassOptions {
    // Run the model validator after every pass, naming the pass that left the graph invalid.
    // Defaults to on when the environment has KILN_VALIDATE_PASSES=1 (the test suites set it).
    bool validate_each = validate_passes_by_default();
    static bool validate_passes_by_default();
};

struct PassReport {
    std::string name;
    size_t rewrites = 0;
    double ms = 0;
};

// Runs the pipeline on `m` in place. Throws kiln::Error "after pass <name>: <validator message>"
// when validation is on and a pass broke an invariant.
std::vector<PassReport> optimize(Model& m, const PassOptions& options = {});

}  // namespace kiln::passes
