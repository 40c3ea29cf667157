"""kiln.Model as a user meets it: ports, ops, the text listing, reshape."""
import numpy as np
import pytest
import torch
import torchvision

import kiln


@pytest.fixture(scope="module")
def resnet18():
    torch.manual_seed(0)
    return torchvision.models.resnet18().eval()


def test_ports_ops_and_listing(resnet18):
    m = kiln.convert_model(resnet18, example_input=torch.zeros(1, 3, 64, 64))
    assert [p.any_name for p in m.inputs] == ["x"]
    assert str(m.inputs[0].partial_shape) == "[?,?,?,?]"
    assert m.outputs[0].element_type == kiln.Type.f32
    ops = m.get_ops()
    kinds = {op.type_name for op in ops}
    assert {"Parameter", "Convolution", "BatchNormInference", "Relu", "MaxPool", "MatMul", "Result"} <= kinds
    conv = next(op for op in ops if op.type_name == "Convolution")
    assert "strides=[2,2]" in conv.attributes and "resnet.py:" in conv.source
    text = str(m)
    assert text.splitlines()[0].startswith("model ") and "Convolution(" in text


def test_reshape_forms_and_failure_leaves_model_unchanged(resnet18):
    m = kiln.convert_model(resnet18, example_input=torch.zeros(1, 3, 64, 64))
    m.reshape([1, 3, 224, 224])
    assert str(m.outputs[0].partial_shape) == "[1,1000]"
    m.reshape({"x": [-1, 3, -1, -1]})
    assert str(m.inputs[0].partial_shape) == "[?,3,?,?]"
    m.reshape([kiln.PartialShape([2, 3, 64, 64])])
    assert str(m.outputs[0].partial_shape) == "[2,1000]"
    with pytest.raises(ValueError, match=r"reshape to \{x: \[1,4,224,224\]\}.*Convolution.*channels 4"):
        m.reshape([1, 4, 224, 224])
    assert str(m.inputs[0].partial_shape) == "[2,3,64,64]"
    compiled = kiln.Core().compile_model(m, "CPU")
    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64), dtype=np.float32)
    with torch.no_grad():
        ref = resnet18(torch.from_numpy(x)).numpy()
    assert np.abs(compiled(x)[0] - ref).max() <= 1e-3 * np.abs(ref).max()
    with pytest.raises(ValueError, match="input 'x': expected shape \\[2,3,64,64\\], got \\[1,3,64,64\\]"):
        compiled(x[:1])


def test_requests_in_threads_share_one_compiled_model(resnet18):
    # Inference releases the GIL; each thread has its own request (its own memory).
    import threading

    m = kiln.convert_model(resnet18, example_input=torch.zeros(1, 3, 64, 64))
    compiled = kiln.Core().compile_model(m, "CPU", {"INFERENCE_NUM_THREADS": 1})
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((1, 3, 64 + 8 * i, 64), dtype=np.float32) for i in range(4)]
    with torch.no_grad():
        refs = [resnet18(torch.from_numpy(x)).numpy() for x in xs]
    results = [None] * len(xs)

    def work(i):
        req = compiled.create_infer_request()
        for _ in range(3):
            results[i] = req.infer({"x": xs[i]})[0].copy()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(xs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, ref in zip(results, refs):
        assert np.abs(got - ref).max() <= 1e-3 * np.abs(ref).max()
