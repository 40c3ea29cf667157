"""One compiled model shared by many threads: every output bit-equal to a serial run of the same
input on the same compiled model, each shape planned once however many threads bring it at once,
and memory flat over many calls with new shapes (the plan cache stays bounded).

The default suite runs a tiny attention block; the issue's full sizes (8 threads x 500 inferences
and 1,000 random lengths on a dynamic BERT-base) are the `large` tests (pytest -m large)."""
import re
import threading

import numpy as np
import pytest
import torch

import kiln


class TinyBlock(torch.nn.Module):
    """One self-attention layer with a dynamic sequence length."""

    def __init__(self, d=16):
        super().__init__()
        self.qkv = torch.nn.Linear(d, 3 * d)
        self.out = torch.nn.Linear(d, d)
        self.norm = torch.nn.LayerNorm(d)
        self.ff = torch.nn.Sequential(torch.nn.Linear(d, 2 * d), torch.nn.GELU(), torch.nn.Linear(2 * d, d))
        self.d = d

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        a = torch.softmax(q @ k.transpose(1, 2) / self.d ** 0.5, dim=-1) @ v
        h = self.norm(x + self.out(a))
        return h + self.ff(h)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return kiln.convert_model(TinyBlock().eval(), example_input=torch.zeros(1, 7, 16))


def _rss() -> int:
    with open("/proc/self/status") as f:
        return int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M).group(1)) * 1024


def _hammer(compiled, inputs, threads, per_thread, seed=0):
    """`threads` threads x `per_thread` inferences of inputs drawn at random; returns
    (index, output) pairs and the errors raised in the threads."""
    results, errors, lock = [], [], threading.Lock()
    start = threading.Barrier(threads)

    def work(t):
        rng = np.random.default_rng(seed + t)
        req = compiled.create_infer_request()
        try:
            start.wait()
            for _ in range(per_thread):
                i = int(rng.integers(len(inputs)))
                out = req.infer(inputs[i])
                with lock:
                    results.append((i, [np.array(o, copy=True) for o in out]))
        except BaseException as e:  # noqa: BLE001
            with lock:
                errors.append(e)

    ts = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return results, errors


def _check_bit_equal(compiled, inputs, threads, per_thread):
    serial = compiled.create_infer_request()
    expected = [[np.array(o, copy=True) for o in serial.infer(x)] for x in inputs]
    results, errors = _hammer(compiled, inputs, threads, per_thread)
    assert not errors, errors[0]
    assert len(results) == threads * per_thread
    for i, outs in results:
        for got, want in zip(outs, expected[i]):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("config", [{}, {"PERFORMANCE_HINT": "THROUGHPUT"}, {"NUM_STREAMS": 4}],
                         ids=["latency", "throughput", "4streams"])
def test_threads_share_a_compiled_model_bit_equal(tiny, config):
    compiled = kiln.Core().compile_model(tiny, "CPU", config)
    rng = np.random.default_rng(1)
    inputs = [rng.standard_normal((1, s, 16)).astype(np.float32) for s in (1, 3, 7, 16, 33)]
    _check_bit_equal(compiled, inputs, threads=8, per_thread=25)


def test_each_shape_planned_once_under_concurrency(tiny):
    compiled = kiln.Core().compile_model(tiny, "CPU", {"PERFORMANCE_HINT": "THROUGHPUT"})
    assert compiled.plans_built == 0 and compiled.cached_plans == 0
    rng = np.random.default_rng(2)
    lengths = (2, 5, 9, 17)
    inputs = [rng.standard_normal((1, s, 16)).astype(np.float32) for s in lengths]
    results, errors = _hammer(compiled, inputs, threads=8, per_thread=12)
    assert not errors, errors[0]
    assert compiled.plans_built == len(lengths)
    assert compiled.cached_plans == len(lengths)


def test_async_queue_shares_a_compiled_model_bit_equal(tiny):
    compiled = kiln.Core().compile_model(tiny, "CPU", {"PERFORMANCE_HINT": "THROUGHPUT"})
    rng = np.random.default_rng(3)
    inputs = [rng.standard_normal((1, s, 16)).astype(np.float32) for s in (1, 4, 8, 15)]
    serial = compiled.create_infer_request()
    expected = [serial.infer(x)[0].copy() for x in inputs]
    queue = kiln.AsyncInferQueue(compiled, 4)
    got = {}
    queue.set_callback(lambda r, ud: got.__setitem__(ud, r.results[0].copy()))
    order = np.random.default_rng(4).integers(len(inputs), size=80)
    for n, i in enumerate(order):
        queue.start_async(inputs[i], n)
    queue.wait_all()
    assert len(got) == len(order)
    for n, i in enumerate(order):
        np.testing.assert_array_equal(got[n], expected[i])


def _rss_flat(compiled, make_input, calls, cache_size):
    rng = np.random.default_rng(5)
    req = compiled.create_infer_request()
    base = None
    for n in range(calls):
        req.infer(make_input(rng))
        if n == 99:
            base = _rss()
        assert compiled.cached_plans <= cache_size
    rise = (_rss() - base) / base
    print(f"RSS after 100 calls {base / 2**20:.1f} MiB, after {calls}: {_rss() / 2**20:.1f} MiB ({rise:+.1%}); "
          f"plans built {compiled.plans_built}")
    assert rise < 0.05
    return rise


def test_random_lengths_memory_flat(tiny):
    compiled = kiln.Core().compile_model(tiny, "CPU", {"PLAN_CACHE_SIZE": 8})
    _rss_flat(compiled, lambda rng: rng.standard_normal((1, int(rng.integers(1, 48)), 16)).astype(np.float32),
              calls=1000, cache_size=8)
    assert compiled.plans_built > 8  # lengths came back after eviction and were planned again


# ---------------------------------------------------------------- the full sizes

@pytest.fixture(scope="module")
def bert():
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    model = BertModel(BertConfig()).eval()
    ex = {k: torch.ones(1, 16, dtype=torch.int64) for k in ("input_ids", "attention_mask", "token_type_ids")}
    shape = kiln.PartialShape([1, -1])
    info = [(k, shape, np.int64) for k in ex]
    return kiln.convert_model(model, example_input=ex, input=info)


def _bert_inputs(rng, length):
    return {"input_ids": rng.integers(0, 30000, size=(1, length)).astype(np.int64),
            "attention_mask": np.ones((1, length), np.int64),
            "token_type_ids": np.zeros((1, length), np.int64)}


@pytest.mark.large
def test_bert_8_threads_x_500_bit_equal(bert):
    compiled = kiln.Core().compile_model(bert, "CPU", {"PERFORMANCE_HINT": "THROUGHPUT"})
    rng = np.random.default_rng(6)
    inputs = [_bert_inputs(rng, s) for s in (3, 8, 16, 31, 64)]
    _check_bit_equal(compiled, inputs, threads=8, per_thread=500)
    assert compiled.plans_built == len(inputs)


@pytest.mark.large
def test_bert_1000_random_lengths_memory_flat(bert):
    compiled = kiln.Core().compile_model(bert, "CPU")
    _rss_flat(compiled, lambda rng: _bert_inputs(rng, int(rng.integers(1, 129))), calls=1000, cache_size=16)
