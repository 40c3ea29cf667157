// Shared pieces of the Python bindings: tensor <-> array conversion without copies.
#pragma once
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include "kiln/core/tensor.hpp"

namespace kiln::bindings {

namespace nb = nanobind;
using namespace nb::literals;

// Wraps any CPU array that speaks DLPack or the buffer protocol (numpy, torch) as a kiln
// Tensor sharing its memory; the array stays alive as long as the tensor. Throws TypeError
// for non-contiguous arrays and unsupported element types.
Tensor tensor_from_array(nb::handle array, const char* what);
// A numpy array viewing the tensor's memory (kept alive by the array).
nb::object tensor_to_numpy(const Tensor& t);
Type type_from_dlpack(nb::dlpack::dtype d);

void init_core(nb::module_& m);
void init_model(nb::module_& m);
void init_frontend(nb::module_& m);
void init_runtime(nb::module_& m);
void init_io(nb::module_& m);
void init_quantize(nb::module_& m);

}  // namespace kiln::bindings
