#include <omp.h>

#include "kiln/runtime/cpu/kernel.hpp"

namespace kiln::cpu {

// The compiled model sets the calling thread's OpenMP thread count (ThreadCountScope) while it
// runs a plan, so the value seen here is the one in force for that inference.
int num_threads() { return omp_get_max_threads(); }

ThreadCountScope::ThreadCountScope(int n) {
    if (n <= 0) return;
    saved_ = omp_get_max_threads();
    omp_set_num_threads(n);
}

ThreadCountScope::~ThreadCountScope() {
    if (saved_ > 0) omp_set_num_threads(saved_);
}

}  // namespace kiln::cpu
