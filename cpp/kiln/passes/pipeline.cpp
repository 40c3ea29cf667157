#include "kiln/passes/pipeline.hpp"

#include <chrono>
#include <cstdlib>
#include <cstring>

#include "kiln/passes/batch_norm_affine.hpp"
#include "kiln/passes/constant_folding.hpp"
#include "kiln/passes/fuse_attention.hpp"
#include "kiln/passes/fuse_dnn.hpp"
#include "kiln/passes/fuse_gelu.hpp"
#include "kiln/passes/fuse_int8.hpp"
#include "kiln/passes/fuse_layer_norm.hpp"

namespace kiln::passes {

namespace {
size_t fold(Model& m) { return fold_constants(m); }
}  // namespace

const std::vector<Pass>& pipeline() {
    // INT8 before folding, which would erase the weights' FakeQuantize / decompression chains it
    // reads. Folding next: it turns shape arithmetic into the constants the fusions match on. Attention
    // and layer norm before fuse_dnn, which would otherwise take the MatMuls and Multiplies they
    // are made of into its own chains; GELU before it too, so that the Gelu it makes becomes a
    // post-op of the MatMul before it. Batch norms become affine maps only after fuse_dnn has
    // folded into convolutions the ones it can.
    static const std::vector<Pass> passes = {
        {"fuse_int8", fuse_int8},
        {"fold_constants", fold},
        {"fuse_attention", fuse_attention},
        {"fuse_layer_norm", fuse_layer_norm},
        {"fuse_gelu", fuse_gelu},
        {"fuse_dnn", fuse_dnn},
        {"batch_norm_to_affine", batch_norm_to_affine},
    };
    return passes;
}

bool PassOptions::validate_passes_by_default() {
    const char* v = std::getenv("KILN_VALIDATE_PASSES");
    return v && *v && std::strcmp(v, "0") != 0;
}

std::vector<PassReport> optimize(Model& m, const PassOptions& options) {
    std::vector<PassReport> reports;
    for (const Pass& p : pipeline()) {
        auto t0 = std::chrono::steady_clock::now();
        PassReport r{p.name, p.run(m), 0};
        r.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        if (options.validate_each) {
            try {
                validate_model(m);
            } catch (const Error& e) {
                throw Error(str_cat("after pass ", p.name, " (", r.rewrites, " rewrites): ", e.what()));
            }
        }
        reports.push_back(std::move(r));
    }
    return reports;
}

}  // namespace kiln::passes
