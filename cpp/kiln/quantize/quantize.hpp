// Post-training INT8 quantization: decides where FakeQuantize goes, builds the model that gives the
// calibration statistics, and turns those statistics into a float graph with FakeQuantize ops
// (OpenVINO opset1 semantics: ops/fake_quantize.hpp). The Python layer (python/kiln/quantization.py)
// only iterates the calibration set: it runs statistics_model() on each item and hands the outputs
// to accumulate(); finish() gives the quantized model.
//
// What it does, and how it relates to NNCF 3.4 (which the tests run beside kiln as the reference):
//  - Preparation: constants are folded (f16 weights + Convert become f32 constants), and a
//    BatchNormInference after a Convolution/GroupConvolution (optionally with a bias Add between)
//    is folded into the weights and a bias Add, so weights are quantized as they will run.
//  - Weights (constant inputs of Convolution, GroupConvolution, ConvolutionBackpropData,
//    GroupConvolutionBackpropData, MatMul): symmetric per output channel, levels 255 (narrow range),
//    range = max |w| per channel (a channel whose range is below 1% of the largest one, or 8e-5,
//    gets that floor). Overflow fix (NNCF's default, for CPUs without VNNI, whose u8 x s8 pair sums
//    saturate int16): the first Convolutions after the inputs use half the levels (range doubled).
//  - Activations: per tensor, levels 256, range from the mean over the calibration items of each
//    item's min and max (NNCF's MEAN_MINMAX for per-tensor activations). Symmetric (PERFORMANCE):
//    [-h*128/127, h] with h the mean of each item's max |x|, or [0, h] when the mean item minimum is
//    not negative (after a ReLU); asymmetric (MIXED): [min, max] widened to contain 0 and moved so
//    that 0 is exactly one of the levels.
//  - Placement: the activation inputs of the ops above and, outside TRANSFORMER, both inputs of an
//    Add of two activations (residual sums); a FakeQuantize moves up through Reshape, Transpose,
//    Squeeze, Unsqueeze, MaxPool, DepthToSpace and SpaceToDepth when everything that reads their
//    output is quantized, and one FakeQuantize is shared by every quantized reader of a tensor.
//    Ignored: nodes named by the user; SE blocks (ReduceMean -> linear -> act -> linear -> sigmoid
//    -> Multiply: the two linears); in TRANSFORMER the MatMul after a Softmax (attention's P.V) and
//    MatMuls whose output feeds Sin/Cos (rotary embeddings). MatMul of two activations (Q.K^T) is
//    symmetric in TRANSFORMER.
//  - SmoothQuant (TRANSFORMER, alpha 0.95): for the MatMuls with a constant weight reading one
//    tensor, per input channel s = a^alpha / w^(1-alpha) (a: max |x| over the items, w: max |W|),
//    clipped to [10% quantile, 100]; the scale of the group's member with the flattest scales is
//    used: a Multiply(x, 1/s) feeds them and their weights are multiplied by s.
//  - Fast bias correction: for a quantized Convolution / MatMul followed by a constant bias Add,
//    the shift of the mean output per channel caused by weight quantization (the op on a tensor of
//    the input's per-channel means, float weights minus quantized weights) is added to the bias,
//    unless it is 2x the bias or more, or the bias has a zero (as NNCF).
//  All statistics of one calibration item come from one inference of statistics_model().
#pragma once
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "kiln/core/model.hpp"

namespace kiln::quantize {

enum class OverflowFix { disable, first_layer, enable };

struct QuantizeOptions {
    bool transformer = false;            // ModelType.TRANSFORMER
    bool symmetric_activations = true;   // PERFORMANCE preset (MIXED: asymmetric)
    bool fast_bias_correction = true;
    OverflowFix overflow_fix = OverflowFix::first_layer;
    double smooth_quant_alpha = 0.95;    // used in TRANSFORMER mode; negative: no SmoothQuant
    std::set<std::string> ignored_names; // node names whose inputs stay float
};

// What one statistic output of statistics_model() is.
struct StatRequest {
    enum Kind { minmax_full, minmax_channel, mean_channel, shape };
    Kind kind = minmax_full;
    Output tensor;
    int64_t axis = -1;  // the kept axis (channel kinds), non-negative
    size_t first_output = 0;  // index of its (first) output in statistics_model()
};

class Quantizer {
public:
    Quantizer(const Model& model, QuantizeOptions options);
    ~Quantizer();

    // The prepared float graph with extra outputs: the reductions (and shapes) that calibration
    // needs, in the order accumulate() takes them. It shares nodes with the working graph.
    std::shared_ptr<Model> statistics_model() const { return stats_model_; }
    size_t num_statistic_outputs() const;
    // One calibration item's outputs of statistics_model(), in order.
    void accumulate(const std::vector<Tensor>& outputs);
    size_t items() const { return items_; }
    // The quantized model (call once, after at least one accumulate()).
    std::shared_ptr<Model> finish();
    // What finish() did, one line per decision worth telling (skipped quantizers, corrected biases).
    const std::vector<std::string>& notes() const { return notes_; }
    // Counts after finish(): activation FakeQuantize, weight FakeQuantize, SmoothQuant groups,
    // corrected biases.
    std::vector<int64_t> counts() const { return {n_act_, n_weight_, n_sq_, n_bias_}; }

    struct Plan;

private:
    std::shared_ptr<Model> work_;
    std::shared_ptr<Model> stats_model_;
    QuantizeOptions opt_;
    std::unique_ptr<Plan> plan_;
    size_t items_ = 0;
    bool finished_ = false;
    std::vector<std::string> notes_;
    int64_t n_act_ = 0, n_weight_ = 0, n_sq_ = 0, n_bias_ = 0;
};

// --- The pieces, exposed for the unit tests ---------------------------------------------------

// Folds BatchNormInference after Convolution / GroupConvolution (with constant f32 weights and an
// optional constant bias Add between them) into new weights and a bias Add. Returns the count.
size_t fold_batch_norm(Model& m);

// FakeQuantize ranges (input_low = output_low, input_high = output_high) and levels.
struct Range {
    std::vector<float> low, high;
    int64_t levels = 256;
};
// Per-tensor activation range from the aggregated statistics: `min`/`max` are the means of the
// items' minima and maxima, `absmax` the mean of the items' max |x|.
Range activation_range(double min, double max, double absmax, bool symmetric);
// Symmetric per-channel weight range, levels 255; `absmax` per output channel. half_range: the
// overflow fix (7-bit levels spread over the 8-bit grid).
Range weight_range(const std::vector<double>& absmax, bool half_range);
// SmoothQuant's scales for activation and weight abs-max statistics per input channel, and their
// min/max ratio (higher is flatter).
std::vector<double> smooth_quant_scales(const std::vector<double>& act_absmax,
                                        const std::vector<double>& weight_absmax, double alpha,
                                        double* ratio);

}  // namespace kiln::quantize
