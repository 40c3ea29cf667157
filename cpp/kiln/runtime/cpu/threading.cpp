#include <omp.h>

#include "kiln/runtime/cpu/kernel.hpp"

namespace kiln::cpu {

// The compiled model sets the calling thread's OpenMP thread count before running a plan, so
// the value seen here is the one in force for that inference.
int num_threads() { return omp_get_max_threads(); }

}  // namespace kiln::cpu
