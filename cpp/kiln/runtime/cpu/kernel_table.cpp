#include "kiln/runtime/cpu/kernel_table.hpp"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "kiln/runtime/cpu/kernels/eltwise.hpp"
#include "kiln/runtime/cpu/kernels/interpolate.hpp"
#include "kiln/runtime/cpu/kernels/movement.hpp"
#include "kiln/runtime/cpu/kernels/reduce_norm.hpp"
#include "kiln/runtime/cpu/onednn/onednn.hpp"

namespace kiln::cpu {

namespace {

std::atomic<bool> g_reference_only{[] {
    const char* v = std::getenv("KILN_REFERENCE_KERNELS");
    return v && std::strcmp(v, "0") != 0 && *v;
}()};

// The fast kernel families, tried in this order; each declines nodes it does not cover.
constexpr KernelFactory kFamilies[] = {
    make_onednn_kernel,
    make_eltwise_kernel,
    make_reduce_norm_kernel,
    make_movement_kernel,
    make_interpolate_kernel,
};

}  // namespace

void set_reference_only(bool on) { g_reference_only = on; }
bool reference_only() { return g_reference_only; }

KernelPtr select_kernel(const std::shared_ptr<const Node>& node, const KernelShapes& shapes) {
    if (!g_reference_only) {
        for (auto f : kFamilies)
            if (auto k = f(*node, shapes)) return k;
    }
    return std::make_unique<ReferenceKernel>(node);
}

}  // namespace kiln::cpu
