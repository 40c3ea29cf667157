"""kiln.quantize and kiln.Dataset (the API, kiln.nncf's spelling, bad input, IR files of quantized
models read by kiln and OpenVINO). Accuracy on real data, beside NNCF, is test_quantize_accuracy.py;
the algorithms' pieces are tests/cpp/test_quantize.cpp."""
import os
import warnings

import numpy as np
import pytest
import torch

import kiln

warnings.filterwarnings("ignore", category=FutureWarning)


class Block(torch.nn.Module):
    """conv-bn-relu, a residual block, pooling and a linear head: every placement rule of the CPU
    scheme (input, after ReLU through MaxPool, both inputs of the residual Add, weights)."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = torch.nn.BatchNorm2d(8)
        self.conv2 = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.fc = torch.nn.Linear(8 * 4 * 4, 5)

    def forward(self, x):
        y = torch.relu(self.bn(self.conv(x)))
        y = torch.relu(self.conv2(y) + y)
        y = torch.max_pool2d(y, 2)
        return self.fc(torch.flatten(y, 1))


def block_model():
    torch.manual_seed(0)
    m = Block().eval()
    with torch.no_grad():  # non-trivial batch norm statistics
        m.bn.running_mean.uniform_(-0.2, 0.2)
        m.bn.running_var.uniform_(0.5, 2.0)
    return m


@pytest.fixture(scope="module")
def block():
    m = block_model()
    return m, kiln.convert_model(m, example_input=torch.randn(1, 3, 8, 8))


def images(n, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((1, 3, 8, 8)).astype(np.float32) for _ in range(n)]


def fq_nodes(model):
    return [o for o in model.get_ops() if o.type_name == "FakeQuantize"]


def run(model, x):
    return kiln.Core().compile_model(model, "CPU")(x)[0]


def test_quantize_block(block):
    torch_model, km = block
    before = str(km)
    data = images(16)
    qm = kiln.quantize(km, kiln.Dataset(data), subset_size=16, show_progress=False)
    assert isinstance(qm, kiln.Model) and qm is not km
    assert str(km) == before, "the input model must be left as it was"
    assert not fq_nodes(km)
    fqs = fq_nodes(qm)
    attrs = sorted(f.attributes for f in fqs)
    # Activations: x, the relu (read by conv2 and the residual Add: one shared), conv2's output
    # (the Add's other input), the second relu (through MaxPool and the Reshape) -> 4; weights: 3.
    assert sum("levels=256" in a for a in attrs) == 4, attrs
    assert sum("levels=255" in a for a in attrs) == 3, attrs
    assert "BatchNormInference" not in [o.type_name for o in qm.get_ops()]  # folded into conv's weights
    x = data[0]
    ref = torch_model(torch.from_numpy(x)).detach().numpy()
    got = run(qm, x)
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() <= 0.05 * np.abs(ref).max()
    assert np.abs(run(km, x) - ref).max() <= 1e-4 * np.abs(ref).max()  # the float model still float


def test_dataset_forms(block):
    _, km = block
    data = images(6)
    t = torch.from_numpy(np.concatenate(data))
    labels = torch.arange(6)

    def gen():
        for a in data:
            yield a

    forms = {
        "list": kiln.Dataset(data),
        "generator function": kiln.Dataset(gen),
        "tuple items + transform": kiln.Dataset([(a, 0) for a in data], lambda item: item[0]),
        "dict by input name": kiln.Dataset(data, lambda a: {"x": a}),
        "list of inputs": kiln.Dataset(data, lambda a: [a]),
        "torch tensors": kiln.Dataset([torch.from_numpy(a) for a in data]),
        "DataLoader": kiln.Dataset(torch.utils.data.DataLoader(torch.utils.data.TensorDataset(t, labels), batch_size=1),
                                   lambda batch: batch[0]),
    }
    outs = {}
    for name, ds in forms.items():
        qm = kiln.quantize(km, ds, show_progress=False)
        outs[name] = run(qm, data[0])
    first = outs["list"]
    for name, y in outs.items():
        np.testing.assert_array_equal(y, first, err_msg=name)
    assert kiln.Dataset(data).get_length() == 6 and kiln.Dataset(gen).get_length() is None
    # A one-shot generator object works once.
    ds = kiln.Dataset(gen())
    kiln.quantize(km, ds, show_progress=False)
    with pytest.raises(ValueError, match="already consumed"):
        kiln.quantize(km, ds, show_progress=False)


def test_subset_size_and_progress(block, capsys):
    _, km = block
    data = images(12)
    a = kiln.quantize(km, kiln.Dataset(data), subset_size=5, show_progress=True)
    b = kiln.quantize(km, kiln.Dataset(data[:5]), subset_size=300, show_progress=False)
    np.testing.assert_array_equal(run(a, data[7]), run(b, data[7]))  # the first 5 items only
    assert "Statistics collection" in capsys.readouterr().err


def test_bad_input(block):
    _, km = block
    data = images(3)
    with pytest.raises(ValueError, match="empty"):
        kiln.quantize(km, kiln.Dataset([]), show_progress=False)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="subset_size"):
            kiln.quantize(km, kiln.Dataset(data), subset_size=bad, show_progress=False)
    with pytest.raises(ValueError, match=r"calibration item 2: input 'x' should have rank 4"):
        kiln.quantize(km, kiln.Dataset(data[:2] + [np.zeros((3, 8, 8), np.float32)]), show_progress=False)
    with pytest.raises(TypeError, match=r"calibration item 1: .*input 'x'"):
        kiln.quantize(km, kiln.Dataset([data[0], data[1].astype(np.int32)]), show_progress=False)
    with pytest.raises(ValueError, match=r"calibration item 0: .*takes 1 input"):
        kiln.quantize(km, kiln.Dataset([(a, 1) for a in data]), show_progress=False)
    with pytest.raises(ValueError, match=r"calibration item 0: .*no input named 'image'"):
        kiln.quantize(km, kiln.Dataset(data, lambda a: {"image": a}), show_progress=False)
    with pytest.raises(ValueError, match=r"calibration item 1: transform_fn raised KeyError"):
        kiln.quantize(km, kiln.Dataset([{"x": data[0]}, {"y": data[1]}], lambda d: d["x"]), show_progress=False)
    with pytest.raises(ValueError, match=r"calibration item 0: .*channels|calibration item 0"):
        kiln.quantize(km, kiln.Dataset([np.zeros((1, 4, 8, 8), np.float32)]), show_progress=False)
    with pytest.raises(TypeError, match="kiln.Model"):
        kiln.quantize(block_model(), kiln.Dataset(data))
    with pytest.raises(TypeError, match="kiln.Dataset"):
        kiln.quantize(km, data)
    with pytest.raises(ValueError, match="CPU"):
        kiln.quantize(km, kiln.Dataset(data), target_device="GPU")
    with pytest.raises(ValueError, match="preset"):
        kiln.quantize(km, kiln.Dataset(data), preset="fast")


def test_ignored_scope(block):
    _, km = block
    data = images(4)
    ops = km.get_ops()
    convs = [o.name for o in ops if o.type_name == "Convolution"]
    matmul = [o.name for o in ops if o.type_name == "MatMul"][0]
    full = len(fq_nodes(kiln.quantize(km, kiln.Dataset(data), show_progress=False)))

    def weights_of(qm, name):
        node = [o for o in qm.get_ops() if o.name == f"{name}/fq_weights_1"]
        return len(node)

    by_name = kiln.quantize(km, kiln.Dataset(data), ignored_scope=kiln.IgnoredScope(names=[matmul]), show_progress=False)
    assert weights_of(by_name, matmul) == 0 and len(fq_nodes(by_name)) == full - 2  # its weight and input
    by_type = kiln.quantize(km, kiln.Dataset(data), ignored_scope=kiln.IgnoredScope(types=["Convolution"]),
                            show_progress=False)
    assert all(weights_of(by_type, c) == 0 for c in convs) and weights_of(by_type, matmul) == 1
    pattern = "^" + convs[0].split("/")[0].replace(".", r"\.")
    by_pattern = kiln.quantize(km, kiln.Dataset(data), ignored_scope=kiln.IgnoredScope(patterns=[pattern]),
                               show_progress=False)
    assert weights_of(by_pattern, convs[0]) == 0 and weights_of(by_pattern, matmul) == 1
    with pytest.raises(ValueError, match=r"name 'conv_that_is_not_there'.*matched no node"):
        kiln.quantize(km, kiln.Dataset(data), ignored_scope=kiln.IgnoredScope(names=["conv_that_is_not_there"]))
    with pytest.raises(ValueError, match=r"type 'Softmax', pattern 'nothing\.\*'"):
        kiln.quantize(km, kiln.Dataset(data), ignored_scope=kiln.IgnoredScope(types=["Softmax"], patterns=["nothing.*"]))
    relaxed = kiln.quantize(km, kiln.Dataset(data), show_progress=False,
                            ignored_scope=kiln.IgnoredScope(names=["conv_that_is_not_there"], validate=False))
    assert len(fq_nodes(relaxed)) == full


def test_quantized_ir_round_trip_and_openvino(block, tmp_path):
    ov = pytest.importorskip("openvino")
    _, km = block
    data = images(8)
    qm = kiln.quantize(km, kiln.Dataset(data), show_progress=False)
    path = tmp_path / "q.xml"
    kiln.save_model(qm, path)
    back = kiln.Core().read_model(path)
    assert str(back).count("FakeQuantize(") == str(qm).count("FakeQuantize(") == 7
    x = images(1, seed=5)[0]
    y = run(qm, x)
    np.testing.assert_array_equal(run(back, x), y)  # bit for bit
    compiled = ov.Core().compile_model(ov.Core().read_model(str(path)), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    y_ov = compiled(x)[0]
    # OpenVINO runs the FakeQuantize ops as real INT8 kernels: an input on a rounding boundary may
    # land one level away, so the outputs agree to a small fraction of the output scale.
    diff = np.abs(y_ov - y).max() / np.abs(y).max()
    assert diff < 5e-3, diff


def test_nncf_spelling_seed_step_3():
    """The seed article's step 3 (and 4) with the imports changed, on a small BERT from a config."""
    from transformers import BertConfig, BertForSequenceClassification

    from kiln import Core, PartialShape
    from kiln import nncf
    from kiln.nncf.parameters import ModelType
    from kiln.tools.mo import convert_model

    torch.manual_seed(0)
    cfg = BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                     vocab_size=1000)
    torch_model = BertForSequenceClassification(cfg).eval()
    MAX_SEQ_LENGTH = 16
    core = Core()
    input_shape = PartialShape([1, -1])
    input_info = [("input_ids", input_shape, np.int64), ("attention_mask", input_shape, np.int64),
                  ("token_type_ids", input_shape, np.int64)]
    default_input = torch.ones(1, MAX_SEQ_LENGTH, dtype=torch.int64)
    inputs = {"input_ids": default_input, "attention_mask": default_input, "token_type_ids": default_input}
    model = convert_model(torch_model, example_input=inputs, input=input_info)

    rng = np.random.default_rng(0)
    data_source = [{"input_ids": rng.integers(1, 1000, n), "token_type_ids": np.zeros(n, np.int64)}
                   for n in (5, 9, 16, 12, 7, 16, 3, 11)]
    INPUT_NAMES = ["input_ids", "attention_mask", "token_type_ids"]

    def transform_fn(data_item):
        data_item = dict(data_item, attention_mask=np.ones_like(data_item["input_ids"]))
        return {name: np.asarray([data_item[name]], dtype=np.int64) for name in INPUT_NAMES}

    # Step 3, as in the seed.
    calibration_dataset = nncf.Dataset(data_source, transform_fn)
    quantized_model = nncf.quantize(model, calibration_dataset, model_type=ModelType.TRANSFORMER)
    # Step 4.
    compiled_quantized_model = core.compile_model(model=quantized_model, device_name="CPU")
    output_layer = compiled_quantized_model.outputs[0]
    result = compiled_quantized_model(inputs)[output_layer]
    ref = torch_model(**inputs).logits.detach().numpy()
    assert result.shape == ref.shape == (1, 2)
    # A random classifier's logits are near 0 (|logit| < 0.1): their INT8 error is a few 1e-2.
    assert np.abs(result - ref).max() <= 0.05
    types = [o.type_name for o in quantized_model.get_ops()]
    assert types.count("FakeQuantize") > 0
    # TRANSFORMER: no FakeQuantize in front of an Add, a Softmax or a norm; SmoothQuant multiplies.
    for o in quantized_model.get_ops():
        if o.type_name == "FakeQuantize":
            assert not o.name.startswith("kiln_statistic")
    assert any(o.name.endswith("kiln_smooth_quant") for o in quantized_model.get_ops())
    assert nncf.QuantizationPreset.MIXED and nncf.IgnoredScope and nncf.TargetDevice.CPU


def test_quantize_a_model_read_from_ir_with_f16_weights(block, tmp_path):
    """f16 weights + Convert (compress_to_fp16, OpenVINO's default) are folded to f32 constants and
    quantized like any others."""
    _, km = block
    kiln.save_model(km, tmp_path / "f16.xml", compress_to_fp16=True)
    m = kiln.Core().read_model(tmp_path / "f16.xml")
    assert "Convert" in [o.type_name for o in m.get_ops()]
    data = images(8)
    qm = kiln.quantize(m, kiln.Dataset(data), show_progress=False)
    q32 = kiln.quantize(km, kiln.Dataset(data), show_progress=False)
    assert len(fq_nodes(qm)) == len(fq_nodes(q32)) == 7
    y, y32 = run(qm, data[1]), run(q32, data[1])
    assert np.abs(y - y32).max() <= 0.02 * np.abs(y32).max()
