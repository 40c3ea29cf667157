"""The Hugging Face models of test_transformers.py (hf_models.py) through torch.export: each
exported once by `kiln.convert_model(..., capture="export")` from a dict example (batch 2,
7 tokens, one row padded; every dim Dim.AUTO), then run from that one converted model at two
other batch sizes and lengths, with and without padding, and compared with torch eager on every
output: max |kiln - torch| <= 1e-3 * max |torch|. Where export fixes a dim (canine's length),
kiln's model refuses other lengths and the test checks that torch's program refuses them too.

CI runs one model of each family (EXPORT_CI: encoders, decoders with and without rotary and
grouped-query attention, encoder-decoders, speech, vision); `pytest -m export_sweep
tests/python/test_transformers_export.py` runs the rest.
"""
import warnings

import pytest
import torch

import kiln
from hf_models import FIXED_LENGTH, TAB, build, make_inputs, supports_sdpa
from kiln.convert import _convert_program
from kiln.frontend.torch.capture import capture_export
from test_transformers import assert_close

CORE = kiln.Core()
EXPORT_CI = {"bert", "deberta-v2", "gpt2", "llama", "qwen3", "t5", "bart", "whisper", "vit", "wav2vec2",
             "clip-text", "segformer"}
# What stops the rest through export, each an exact reason (strict xfails).
EXPORT_FAILURES = {
    "longformer": "torch.export fails: GuardOnDataDependentSymNode (the sliding-window chunking of a dynamic length)",
    "mixtral": "torch.export fails on the grouped-mm experts",
}


def cases():
    for name in TAB:
        attn = "sdpa" if supports_sdpa(name) else "eager"
        marks = [] if name in EXPORT_CI else [pytest.mark.export_sweep]
        if name in EXPORT_FAILURES:
            marks.append(pytest.mark.xfail(strict=True, raises=kiln.ConversionError, reason=EXPORT_FAILURES[name]))
        yield pytest.param(name, attn, id=f"{name}-{attn}", marks=marks)


@pytest.mark.parametrize("name,attn", list(cases()))
def test_transformer_export(name, attn):
    model = build(name, attn)
    seq = FIXED_LENGTH.get(name, 7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ep, names, out_names = capture_export(model, make_inputs(name, 2, seq, pad=True), None)
    km = _convert_program(ep, None, name, names, out_names)
    compiled = CORE.compile_model(km, "CPU")
    runs = [(1, 5, False), (3, 11, True)]
    if name in FIXED_LENGTH:
        runs = [(1, seq, False), (3, seq, True)]
    ran = 0
    for batch, n, pad in runs:
        inputs = make_inputs(name, batch, n, pad, seed=1)
        shapes_ok = all(p.get_partial_shape().compatible(kiln.PartialShape(list(inputs[p.any_name].shape)))
                        for p in km.inputs)
        if not shapes_ok:
            with pytest.raises(Exception):  # torch's own program refuses these shapes too
                ep.module()(*[inputs[k] for k in names])
            continue
        assert_close(compiled, model, inputs, f"{name} export batch {batch} length {n}")
        ran += 1
    if not ran:  # export fixed the example's shape (canine's length): compare there
        inputs = make_inputs(name, 2, seq, True, seed=1)
        assert_close(compiled, model, inputs, f"{name} export at the example's shape")
