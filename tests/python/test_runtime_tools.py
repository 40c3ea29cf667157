"""The runtime's speed tools: PERF_COUNT profiling, the async API (InferRequest.start_async,
AsyncInferQueue), PERFORMANCE_HINT / NUM_STREAMS and get_property, and the `kiln benchmark` CLI.
Results are compared with torch or with kiln's own synchronous inference of the same input."""
import csv
import datetime
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch

import kiln


class SmallCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.fc = torch.nn.Linear(8, 5)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = torch.nn.functional.max_pool2d(x, 2)
        x = torch.relu(self.conv2(x))
        return self.fc(x.mean(dim=(2, 3)))


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(0)
    net = SmallCNN().eval()
    model = kiln.convert_model(net, example_input=torch.zeros(1, 3, 16, 16))
    return net, model


def _x(seed, h=16, n=1):
    return np.random.default_rng(seed).standard_normal((n, 3, h, h)).astype(np.float32)


# ---------------------------------------------------------------- profiling (PERF_COUNT)

@pytest.mark.parametrize("flag", [True, "YES", "yes"])
def test_perf_count_one_entry_per_step(cnn, flag):
    net, model = cnn
    compiled = kiln.Core().compile_model(model, "CPU", {"PERF_COUNT": flag})
    assert compiled.get_property("PERF_COUNT") is True
    req = compiled.create_infer_request()
    req.infer(_x(0))
    info = req.profiling_info
    assert info == [] or isinstance(info, list)
    assert len(info) == len(compiled.kernel_summary([[1, 3, 16, 16]]))
    runtime_nodes = {n.name: n.type_name for n in compiled.runtime_model().get_ops()}
    for p, (typ, name, kernel) in zip(info, compiled.kernel_summary([[1, 3, 16, 16]])):
        assert isinstance(p, kiln.ProfilingInfo)
        assert (p.node_type, p.node_name, p.exec_type) == (typ, name, kernel)
        # Reorders between memory layouts are the plan's own steps, named after their reader.
        if p.node_type == "Reorder":
            assert runtime_nodes.get(p.node_name.rsplit("/reorder_", 1)[0]) is not None, p.node_name
            assert "->" in p.layout
        else:
            assert runtime_nodes.get(p.node_name) == p.node_type
        assert p.exec_type
        # timedelta counts whole microseconds (as OpenVINO's): a tiny step may show 0.
        assert isinstance(p.real_time, datetime.timedelta) and p.real_time >= datetime.timedelta(0)
        assert p.cpu_time == p.real_time
        assert p.status == kiln.ProfilingInfo.Status.EXECUTED
        assert p.layout and isinstance(p.detail, str)  # nchw, nhwc, nChw16c, ...; oneDNN's implementation
        if p.exec_type in ("onednn_conv", "onednn_pooling", "onednn_reorder"):
            assert p.detail, p
    assert sum((p.real_time for p in info), datetime.timedelta(0)) > datetime.timedelta(0)
    assert all(raw[-1] > 0 for raw in req._req.profiling_info())  # steady_clock around each execute
    assert any("Conv" in p.node_type for p in info)
    # The API of OpenVINO: a method too; a second inference replaces the figures, not adds to them.
    req.infer(_x(1))
    assert len(req.get_profiling_info()) == len(info)


@pytest.mark.parametrize("flag", [None, False, "NO"])
def test_without_perf_count_profiling_info_is_empty(cnn, flag):
    _, model = cnn
    config = {} if flag is None else {"PERF_COUNT": flag}
    compiled = kiln.Core().compile_model(model, "CPU", config)
    req = compiled.create_infer_request()
    req.infer(_x(0))
    assert req.profiling_info == [] and req.get_profiling_info() == []
    assert compiled.get_property("PERF_COUNT") is False


def test_perf_count_rejects_nonsense(cnn):
    with pytest.raises(ValueError, match="PERF_COUNT"):
        kiln.Core().compile_model(cnn[1], "CPU", {"PERF_COUNT": "maybe"})


# ---------------------------------------------------------------- async API

def test_start_async_wait_equals_sync(cnn):
    net, model = cnn
    compiled = kiln.Core().compile_model(model, "CPU")
    x = _x(3)
    expected = compiled.create_infer_request().infer(x)[0]
    req = compiled.create_infer_request()
    calls = []
    req.set_callback(lambda ud: calls.append((ud, threading.get_ident())), "ud")
    req.start_async(x)
    req.wait()
    np.testing.assert_array_equal(req.results[0], expected)
    np.testing.assert_array_equal(req.get_output_tensor(0).data, expected)
    assert len(calls) == 1 and calls[0][0] == "ud"
    assert calls[0][1] != threading.get_ident()  # on the request's own thread
    req.start_async(x, userdata="job2")  # userdata of start_async wins for that job
    assert req.wait_for(60_000) is True
    assert [c[0] for c in calls] == ["ud", "job2"]
    assert req.is_ready()
    with torch.no_grad():
        np.testing.assert_allclose(req.results[0], net(torch.from_numpy(x)).numpy(), rtol=1e-4, atol=1e-4)


def test_async_busy_and_errors(cnn):
    _, model = cnn
    compiled = kiln.Core().compile_model(model, "CPU")
    req = compiled.create_infer_request()
    # A bad shape fails inside the worker; the error is the one sync infer gives, raised at wait().
    req.start_async(np.zeros((1, 3, 16), np.float32))
    with pytest.raises(ValueError, match="input 'x'"):
        req.wait()
    req.wait()  # raised once
    # A callback's exception is not lost: wait() raises it.
    req.set_callback(lambda ud: 1 / 0)
    req.start_async(_x(0))
    with pytest.raises(ZeroDivisionError):
        req.wait()
    # Not waited for, then started again: the error becomes a warning rather than vanishing.
    req.start_async(_x(0))
    while not req.is_ready():
        time.sleep(0.001)
    with pytest.warns(RuntimeWarning, match="ZeroDivisionError"):
        req.start_async(_x(0))
    with pytest.raises(ZeroDivisionError):
        req.wait()
    # Busy: while a job runs (held here in its callback), a second start, a sync infer, reading
    # outputs say so.
    gate = threading.Event()
    req.set_callback(lambda ud: gate.wait(60))
    req.start_async(_x(0))
    try:
        assert not req.is_ready() and req.wait_for(1) is False
        for call in (lambda: req.start_async(_x(0)), lambda: req.infer(_x(0)), lambda: req.get_output_tensor(0),
                     lambda: req.profiling_info):
            with pytest.raises(RuntimeError, match="busy"):
                call()
    finally:
        gate.set()
        req.wait()
    req.set_callback(None)
    assert req.wait_for(0) is True


def test_async_infer_queue_callbacks_userdata_results(cnn):
    _, model = cnn
    compiled = kiln.Core().compile_model(model, "CPU", {"PERFORMANCE_HINT": "THROUGHPUT"})
    queue = kiln.AsyncInferQueue(compiled, 3)
    assert len(queue) == 3 and len(list(queue)) == 3 and isinstance(queue[0], kiln.InferRequest)
    inputs = [_x(i, h=8 + 2 * (i % 3)) for i in range(20)]
    ref = compiled.create_infer_request()
    expected = [ref.infer(x)[0].copy() for x in inputs]
    got, lock = {}, threading.Lock()

    def cb(request, userdata):
        with lock:
            assert userdata not in got
            got[userdata] = request.results[0].copy()
            np.testing.assert_array_equal(request.get_output_tensor(0).data, got[userdata])

    queue.set_callback(cb)
    for i, x in enumerate(inputs):
        queue.start_async(x, i)
    queue.wait_all()
    assert queue.is_ready()
    assert sorted(got) == list(range(20))
    for i in range(20):
        np.testing.assert_array_equal(got[i], expected[i])


def test_async_infer_queue_errors_surface_at_wait_all(cnn):
    _, model = cnn
    compiled = kiln.Core().compile_model(model, "CPU")
    queue = kiln.AsyncInferQueue(compiled, 2)
    seen = []
    queue.set_callback(lambda r, ud: seen.append(ud))
    queue.start_async(_x(0), 0)
    queue.start_async(np.zeros((1, 3, 8), np.float32), 1)  # fails in inference
    queue.start_async(_x(2), 2)
    with pytest.raises(ValueError, match="input 'x'"):
        queue.wait_all()
    assert sorted(seen) == [0, 2]
    queue.wait_all()  # the error was raised once
    # Waiting from a callback would wait for itself: an error instead of a hang.
    queue.set_callback(lambda r, ud: queue.wait_all())
    queue.start_async(_x(0), 4)
    with pytest.raises(RuntimeError, match="never return"):
        queue.wait_all()
    req = compiled.create_infer_request()
    req.set_callback(lambda ud: req.wait())
    req.start_async(_x(0))
    with pytest.raises(RuntimeError, match="never return"):
        req.wait()
    queue.set_callback(lambda r, ud: [][1])
    queue.start_async(_x(0), 3)
    with pytest.raises(IndexError):
        queue.wait_all()


def test_async_infer_queue_jobs_zero_is_optimal(cnn):
    _, model = cnn
    for hint, n in (("LATENCY", 1), ("THROUGHPUT", kiln.runtime._available_cores())):
        compiled = kiln.Core().compile_model(model, "CPU", {"PERFORMANCE_HINT": hint})
        assert compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS") == n
        assert len(kiln.AsyncInferQueue(compiled)) == n


def test_dropping_requests_with_jobs_in_flight(cnn):
    # Objects deleted while their jobs run: nothing hangs, nothing crashes; the jobs finish.
    _, model = cnn
    compiled = kiln.Core().compile_model(model, "CPU", {"NUM_STREAMS": 2})
    done = []
    for i in range(4):
        q = kiln.AsyncInferQueue(compiled, 2)
        q.set_callback(lambda r, ud: done.append(ud))
        q.start_async(_x(i, h=32), i)
        q.start_async(_x(i, h=32), i + 10)
        del q
        r = compiled.create_infer_request()
        r.start_async(_x(i))
        del r
    deadline = time.time() + 60
    while len(kiln.runtime._in_flight) and time.time() < deadline:
        time.sleep(0.01)
    assert not kiln.runtime._in_flight


def test_exit_with_jobs_in_flight_does_not_hang(tmp_path):
    script = tmp_path / "exit.py"
    script.write_text(
        "import numpy as np, torch, kiln\n"
        "m = kiln.convert_model(torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU()).eval(),\n"
        "                       example_input=torch.zeros(1, 3, 64, 64))\n"
        "c = kiln.Core().compile_model(m, 'CPU', {'PERFORMANCE_HINT': 'THROUGHPUT'})\n"
        "q = kiln.AsyncInferQueue(c, 4)\n"
        "q.set_callback(lambda r, ud: print('done', ud, flush=True))\n"
        "for i in range(8):\n"
        "    q.start_async(np.ones((1, 3, 64, 64), np.float32), i)\n"
        "r = c.create_infer_request(); r.start_async(np.ones((1, 3, 64, 64), np.float32))\n"
        "print('leaving', flush=True)\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "leaving" in out.stdout


# ---------------------------------------------------------------- hints, streams, properties

def test_properties(cnn):
    _, model = cnn
    cores = kiln.runtime._available_cores()
    c = kiln.Core().compile_model(model, "CPU")
    assert c.get_property("PERFORMANCE_HINT") == "LATENCY"
    assert c.get_property("NUM_STREAMS") == 1
    assert c.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS") == 1
    assert c.get_property("INFERENCE_NUM_THREADS") == cores
    assert c.get_property("INFERENCE_PRECISION_HINT") == kiln.Type.f32
    assert "NUM_STREAMS" in c.get_property("SUPPORTED_PROPERTIES")
    c = kiln.Core().compile_model(model, "CPU", {"PERFORMANCE_HINT": "throughput"})
    assert c.get_property("PERFORMANCE_HINT") == "THROUGHPUT"
    assert c.get_property("NUM_STREAMS") == cores
    c = kiln.Core().compile_model(model, "CPU", {"PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": 3,
                                                 "INFERENCE_NUM_THREADS": 6})
    assert c.get_property("NUM_STREAMS") == 3 and c.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS") == 3
    assert c.get_property("INFERENCE_NUM_THREADS") == 6 and c._cm.threads_per_stream == 2
    c = kiln.Core().compile_model(model, "CPU", {"NUM_STREAMS": "AUTO", "PERFORMANCE_HINT": "THROUGHPUT"})
    assert c.get_property("NUM_STREAMS") == cores
    c = kiln.Core().compile_model(model, "CPU", {"NUM_STREAMS": "2"})
    assert c.get_property("NUM_STREAMS") == 2 and c._cm.threads_per_stream == max(1, cores // 2)
    for bad in ({"PERFORMANCE_HINT": "FAST"}, {"NUM_STREAMS": "many"}, {"NUM_STREAMS": -3}):
        with pytest.raises(ValueError):
            kiln.Core().compile_model(model, "CPU", bad)
    with pytest.raises(ValueError, match="unknown property"):
        c.get_property("NOPE")


def test_threads_restored_after_inference(cnn):
    # INFERENCE_NUM_THREADS applies to inference only: the caller's OpenMP count comes back.
    _, model = cnn
    torch_threads = torch.get_num_threads()
    c = kiln.Core().compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": 1})
    c(_x(0))
    assert torch.get_num_threads() == torch_threads


def test_streams_results_equal_latency(cnn):
    _, model = cnn
    x = [_x(i, h=12) for i in range(6)]
    lat = kiln.Core().compile_model(model, "CPU")
    thr = kiln.Core().compile_model(model, "CPU", {"PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": 2})
    queue = kiln.AsyncInferQueue(thr)
    out = {}
    queue.set_callback(lambda r, ud: out.__setitem__(ud, r.results[0].copy()))
    for i, a in enumerate(x):
        queue.start_async(a, i)
    queue.wait_all()
    for i, a in enumerate(x):
        np.testing.assert_allclose(out[i], lat(a)[0], rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- the CLI

def test_parse_shapes():
    from kiln.benchmark import parse_shapes
    assert parse_shapes("[1,3,224,224]") == [[1, 3, 224, 224]]
    assert parse_shapes("input_ids[1,128],attention_mask[1, 128]") == {"input_ids": [1, 128],
                                                                       "attention_mask": [1, 128]}
    with pytest.raises(ValueError):
        parse_shapes("[1,x]")
    with pytest.raises(ValueError):
        parse_shapes("[1,-1]")


def test_cli_benchmark(tmp_path):
    report, out_json, plot = tmp_path / "x.csv", tmp_path / "y.json", tmp_path / "p.png"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [os.path.dirname(os.path.dirname(kiln.__file__)),
                                                                   os.environ.get("PYTHONPATH")])))
    cmd = [sys.executable, "-m", "kiln", "benchmark", "-m", "torchvision.models:resnet18", "--shape",
           "[1,3,64,64]", "-niter", "5", "--report", str(report), "--json", str(out_json), "--plot", str(plot)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    for key in ("CPU:", "Compile:", "First inference:", "Latency (ms):", "Throughput:"):
        assert key in r.stdout
    data = json.loads(out_json.read_text())
    assert data["iterations"] == 5 and data["throughput_fps"] > 0
    assert data["latency_ms"]["min"] <= data["latency_ms"]["median"] <= data["latency_ms"]["max"]
    assert data["compile_ms"] > 0 and data["first_inference_ms"] > 0
    rows = list(csv.DictReader(report.open()))
    assert rows and all(int(row["count"]) == 5 for row in rows)
    assert abs(sum(float(row["percent"]) for row in rows) - 100) < 0.5
    assert any("Convolution" in row["node_type"] for row in rows)
    totals = [float(row["total_us"]) for row in rows]
    assert totals == sorted(totals, reverse=True)
    # matplotlib is in requirements.txt: the histogram must be drawn (a PNG, not an empty file)
    assert "matplotlib is not installed" not in r.stderr, r.stderr
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 5000


def test_cli_benchmark_throughput_ir(tmp_path):
    m = kiln.convert_model(SmallCNN().eval(), example_input=torch.zeros(1, 3, 16, 16))
    kiln.save_model(m, str(tmp_path / "m.xml"))
    out_json = tmp_path / "t.json"
    from kiln.benchmark import main
    assert main(["-m", str(tmp_path / "m.xml"), "--shape", "[2,3,16,16]", "--hint", "throughput",
                 "-niter", "12", "--json", str(out_json), "--no-progress"]) == 0
    data = json.loads(out_json.read_text())
    assert data["hint"] == "THROUGHPUT" and data["iterations"] == 12
    assert data["infer_requests"] == data["streams"] == kiln.runtime._available_cores()
    assert main(["-m", "no_such_module:thing", "--shape", "[1]", "--no-progress"]) == 1
