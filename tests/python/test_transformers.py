"""Hugging Face `transformers` models that no one here wrote (tiny configs, random weights; the
table is hf_models.py): each converted once by tracing with a dict example input (batch 2,
7 tokens, one row padded), then run from that one converted model at two other batch sizes and
sequence lengths, with and without padding, and compared with torch eager on every output
(logits / last_hidden_state, pooler output, the present key/value cache of decoders):
max |kiln - torch| <= 1e-3 * max |torch| per output. Eager and sdpa attention where the model
offers both.
"""
import warnings

import numpy as np
import pytest
import torch

import kiln
from hf_models import FIXED_LENGTH, KNOWN_FAILURES, TAB, build, make_inputs, supports_sdpa
from kiln.frontend.torch.structure import flatten_output

CORE = kiln.Core()


def cases():
    for name in TAB:
        for attn in ("eager", "sdpa") if supports_sdpa(name) else ("eager",):
            marks = [pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[name])] if name in KNOWN_FAILURES else []
            yield pytest.param(name, attn, id=f"{name}-{attn}", marks=marks)


def torch_outputs(model, inputs) -> dict:
    with torch.no_grad():
        names, tensors = flatten_output(model(**inputs))
    return dict(zip(names, tensors))


def assert_close(compiled, model, inputs, what):
    ref = torch_outputs(model, inputs)
    got = compiled(inputs)
    assert len(compiled.outputs) == len(ref), f"{what}: kiln has outputs {[p.any_name for p in compiled.outputs]}, torch {list(ref)}"
    for port in compiled.outputs:
        r = ref[port.any_name].numpy()
        g = got[port]
        assert g.shape == r.shape, f"{what} {port.any_name}: shape {g.shape} != torch {r.shape}"
        err = float(np.abs(g - r).max()) if r.size else 0.0
        bound = 1e-3 * float(np.abs(r).max()) if r.size else 0.0
        assert err <= bound, f"{what} {port.any_name}: max |kiln - torch| {err:.3g} > {bound:.3g}"


@pytest.mark.parametrize("name,attn", list(cases()))
def test_transformer(name, attn):
    model = build(name, attn)
    seq = FIXED_LENGTH.get(name, 7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        km = kiln.convert_model(model, example_input=make_inputs(name, 2, seq, pad=True))
    compiled = CORE.compile_model(km, "CPU")
    runs = [(1, 5, False), (3, 11, True)]
    if name in FIXED_LENGTH:
        runs = [(1, seq, False), (3, seq, True)]
    for batch, n, pad in runs:
        assert_close(compiled, model, make_inputs(name, batch, n, pad, seed=1), f"{name} batch {batch} length {n}")
