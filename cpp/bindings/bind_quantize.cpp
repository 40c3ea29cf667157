// Post-training quantization (kiln.quantize): the C++ Quantizer that plans, measures and inserts
// FakeQuantize; python/kiln/quantization.py iterates the calibration set around it.
#include <nanobind/stl/set.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "common.hpp"
#include "kiln/quantize/quantize.hpp"

namespace kiln::bindings {

using quantize::Quantizer;
using quantize::QuantizeOptions;

void init_quantize(nb::module_& m) {
    nb::class_<Quantizer>(m, "_Quantizer",
                          "Plans INT8 quantization of a model, gives the statistics model to calibrate with, and "
                          "builds the quantized model (use kiln.quantize).")
        .def("__init__",
             [](Quantizer* self, const Model& model, bool transformer, bool symmetric, bool fast_bias_correction,
                const std::string& overflow_fix, double smooth_quant_alpha, const std::set<std::string>& ignored) {
                 QuantizeOptions o;
                 o.transformer = transformer;
                 o.symmetric_activations = symmetric;
                 o.fast_bias_correction = fast_bias_correction;
                 if (overflow_fix == "disable") o.overflow_fix = quantize::OverflowFix::disable;
                 else if (overflow_fix == "enable") o.overflow_fix = quantize::OverflowFix::enable;
                 else if (overflow_fix == "first_layer") o.overflow_fix = quantize::OverflowFix::first_layer;
                 else throw ValueError(str_cat("overflow_fix must be 'disable', 'enable' or 'first_layer', got '",
                                               overflow_fix, "'"));
                 o.smooth_quant_alpha = smooth_quant_alpha;
                 o.ignored_names = ignored;
                 nb::gil_scoped_release nogil;
                 new (self) Quantizer(model, o);
             },
             "model"_a, "transformer"_a = false, "symmetric"_a = true, "fast_bias_correction"_a = true,
             "overflow_fix"_a = "first_layer", "smooth_quant_alpha"_a = 0.95,
             "ignored_names"_a = std::set<std::string>{},
             "Prepares the model (constants and batch norms folded) and plans the quantizers.")
        .def("statistics_model", &Quantizer::statistics_model,
             "The float model whose outputs are the statistics of one calibration item.")
        .def_prop_ro("num_statistic_outputs", &Quantizer::num_statistic_outputs, "Outputs of statistics_model().")
        .def("accumulate", [](Quantizer& q, nb::list arrays) {
            std::vector<Tensor> ts;
            for (auto a : arrays) ts.push_back(tensor_from_array(a, "statistic"));
            q.accumulate(ts);
        }, "outputs"_a, "Adds one calibration item's statistics_model() outputs, in order.")
        .def_prop_ro("items", &Quantizer::items, "Calibration items accumulated.")
        .def("finish", [](Quantizer& q) {
            nb::gil_scoped_release nogil;
            return q.finish();
        }, "The quantized model (float, with FakeQuantize).")
        .def_prop_ro("notes", &Quantizer::notes, "What finish() skipped or changed, one line each.")
        .def_prop_ro("counts", &Quantizer::counts,
                     "After finish(): [activation quantizers, weight quantizers, SmoothQuant groups, biases corrected].");
}

}  // namespace kiln::bindings
