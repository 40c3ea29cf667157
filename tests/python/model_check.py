"""Whole-model comparison with torch, shared by the model test files (test_zoo.py, test_families.py).

A whole FP32 model is held to max |kiln - torch| <= bound * max |torch| (DESIGN.md: bound 1e-3);
the tests print the measured normalised error so that the README can quote it.
"""
import numpy as np


def normalised_error(got, expected):
    """max |got - expected| / max |expected| (shapes must agree; an all-zero expected is refused:
    such a comparison says nothing)."""
    got = np.asarray(got)
    expected = np.asarray(expected)
    assert got.shape == expected.shape, f"shape {got.shape} != torch {expected.shape}"
    if expected.size == 0:
        return 0.0
    scale = float(np.abs(expected).max())
    assert scale > 0, "torch's output is all zeros: the comparison says nothing"
    return float(np.abs(got.astype(np.float64) - expected.astype(np.float64)).max() / scale)


def assert_close(got, expected, bound, what):
    """Asserts normalised_error(got, expected) <= bound and returns it."""
    err = normalised_error(got, expected)
    print(f"{what}: max |kiln - torch| / max |torch| = {err:.2e}")
    assert err <= bound, f"{what}: max |kiln - torch| / max |torch| = {err:.2e} > {bound}"
    return err
