#include "common.hpp"
#include "kiln/core/error.hpp"

namespace nb = nanobind;

NB_MODULE(_kiln, m) {
    m.doc() = "kiln: PyTorch models to a fast CPU program (C++ core)";
    static nb::object conversion_error =
        nb::borrow(PyErr_NewExceptionWithDoc("kiln.ConversionError",
                                            "A model kiln cannot convert; the message names every "
                                            "unsupported operation with its torch source line.",
                                            PyExc_RuntimeError, nullptr));
    m.attr("ConversionError") = conversion_error;
    static nb::object ir_error =
        nb::borrow(PyErr_NewExceptionWithDoc("kiln.IRError",
                                            "A fault in an IR file (or a model that cannot be written as "
                                            "one); the message names the file, the layer and the fault.",
                                            PyExc_RuntimeError, nullptr));
    m.attr("IRError") = ir_error;
    nb::register_exception_translator([](const std::exception_ptr& p, void*) {
        try {
            std::rethrow_exception(p);
        } catch (const kiln::ConversionError& e) {
            PyErr_SetString(conversion_error.ptr(), e.what());
        } catch (const kiln::IRError& e) {
            PyErr_SetString(ir_error.ptr(), e.what());
        } catch (const kiln::TypeError& e) {
            PyErr_SetString(PyExc_TypeError, e.what());
        } catch (const kiln::ValueError& e) {
            PyErr_SetString(PyExc_ValueError, e.what());
        } catch (const kiln::Error& e) {
            PyErr_SetString(PyExc_RuntimeError, e.what());
        }
    });
    kiln::bindings::init_core(m);
    kiln::bindings::init_model(m);
    kiln::bindings::init_frontend(m);
    kiln::bindings::init_runtime(m);
    kiln::bindings::init_io(m);
    kiln::bindings::init_quantize(m);
}
