"""kiln from C++ without Python: the example program examples/cpp/kiln_infer.cpp reads an IR pair,
compiles it, fills its inputs, runs and prints its outputs. It is built twice: by the project's
own CMake (build/py/kiln_infer) and as a stand-alone CMake consumer of the installed package
(find_package(kiln), examples/cpp/CMakeLists.txt). Its outputs must be what kiln's Python API
gives for the same model and inputs.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import kiln

import ir_cases

ROOT = Path(__file__).resolve().parents[2]
BUILT = ROOT / "build" / "py" / "kiln_infer"


def filled(dtype, shape):
    """The example's input pattern (kiln_infer.cpp's `filled`)."""
    i = np.arange(int(np.prod(shape)), dtype=np.int64)
    if np.issubdtype(dtype, np.floating):
        v = ((i * 37) % 101) / 50.0 - 1.0
    elif dtype == np.bool_:
        v = i % 3 != 0
    else:
        v = i % 2
    return v.astype(dtype).reshape(shape)


def parse(stdout):
    outs, cur = [], None
    for line in stdout.splitlines():
        if line.startswith("output "):
            _, idx, name, dtype, shape = line.split(" ", 4)
            cur = {"name": name, "dtype": dtype, "shape": eval(shape), "values": []}  # noqa: S307 ([1,1000])
            outs.append(cur)
        else:
            cur["values"].append(float(line))
    return outs


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("cpp")
    torch.manual_seed(0)
    _, r18 = ir_cases.build_torchvision("resnet18")
    kiln.save_model(r18, d / "resnet18.xml")
    _, bert, _ = ir_cases.build_bert()
    kiln.save_model(bert, d / "bert.xml")
    return {"resnet18": (d / "resnet18.xml", {"x": (np.float32, (2, 3, 40, 40))}),
            "bert": (d / "bert.xml", {k: (np.int64, (2, 6)) for k in ("input_ids", "attention_mask", "token_type_ids")})}


def check_program(exe, models, name, extra=()):
    xml, inputs = models[name]
    args = [str(exe), str(xml), "--all", *extra]
    for k, (_, shape) in inputs.items():
        args += ["--shape", f"{k}=" + ",".join(map(str, shape))]
    r = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    got = parse(r.stdout)
    compiled = kiln.Core().compile_model(xml, "CPU")
    want = compiled({k: filled(t, s) for k, (t, s) in inputs.items()})
    assert [g["name"] for g in got] == [p.any_name for p in compiled.outputs]
    for g, w in zip(got, want):
        assert tuple(g["shape"]) == w.shape
        np.testing.assert_allclose(np.array(g["values"]), w.ravel().astype(np.float64), rtol=1e-6, atol=1e-6)
    return r


def test_example_async_profile_and_hints(models):
    # The C++ API's hints, streams, PERF_COUNT and asynchronous inference, through the example.
    r = check_program(BUILT, models, "resnet18", ["--async", "--profile", "--config", "PERFORMANCE_HINT=THROUGHPUT",
                                                  "--config", "NUM_STREAMS=2", "--threads", "2"])
    assert "async: done, 2 streams, 2 requests" in r.stderr
    prof = [line.split(" ", 6) for line in r.stderr.splitlines() if line.startswith("profile ")]
    types = {p[2] for p in prof}
    assert {"FusedConvolution", "MaxPool"} <= types, types
    conv = next(p for p in prof if p[2] == "FusedConvolution")
    assert conv[3].startswith("onednn") and float(conv[5]) > 0, conv
    # bf16 where the CPU has it (the hint falls back to f32 elsewhere): outputs close to f32's.
    xml, inputs = models["resnet18"]
    args = [str(BUILT), str(xml), "--config", "INFERENCE_PRECISION_HINT=bf16"]
    for k, (_, shape) in inputs.items():
        args += ["--shape", f"{k}=" + ",".join(map(str, shape))]
    assert subprocess.run(args, capture_output=True, text=True, timeout=300).returncode == 0


@pytest.mark.parametrize("config, message", [
    ("PERFORMANCE_HINT=FAST", "PERFORMANCE_HINT must be LATENCY or THROUGHPUT, got 'FAST'"),
    ("NUM_STREAMS=0", "NUM_STREAMS must be a positive integer or AUTO"),
    ("PERF_COUNT=maybe", "PERF_COUNT must be YES or NO, got 'maybe'"),
    ("INFERENCE_PRECISION_HINT=i8", "INFERENCE_PRECISION_HINT must be f32 or bf16, got 'i8'"),
    ("CACHE_DIR=/tmp", "unknown config key 'CACHE_DIR'; kiln takes INFERENCE_NUM_THREADS, PLAN_CACHE_SIZE"),
])
def test_example_reports_bad_config(models, config, message):
    xml, _ = models["resnet18"]
    r = subprocess.run([str(BUILT), str(xml), "--shape", "x=1,3,8,8", "--config", config], capture_output=True, text=True)
    assert r.returncode == 1 and message in r.stderr, r.stderr


@pytest.mark.parametrize("name", ["resnet18", "bert"])
def test_example_built_by_the_project(models, name):
    assert BUILT.exists(), f"{BUILT} is not built (scripts/setup.sh builds it)"
    check_program(BUILT, models, name)


def test_example_reports_bad_input(models, tmp_path):
    xml, _ = models["resnet18"]
    r = subprocess.run([str(BUILT), str(xml)], capture_output=True, text=True)
    assert r.returncode == 2 and "input 'x' has shape [?,?,?,?]: give it with --shape x=" in r.stderr
    bad = tmp_path / "bad.xml"
    bad.write_text(xml.read_text().replace('type="ReLU"', 'type="Relux"', 1))
    shutil.copy(xml.with_suffix(".bin"), tmp_path / "bad.bin")
    r = subprocess.run([str(BUILT), str(bad), "--shape", "x=1,3,8,8"], capture_output=True, text=True)
    assert r.returncode == 1 and f"kiln_infer: {bad}: layer" in r.stderr and "unknown op type 'Relux'" in r.stderr


def test_cmake_consumer_of_the_installed_package(models, tmp_path):
    # What the README shows: a separate CMake project that finds the installed kiln package.
    cmake = shutil.which("cmake") or str(Path(sys.executable).parent / "cmake")
    cmake_dir = subprocess.run([sys.executable, "-m", "kiln", "--cmake_dir"], capture_output=True, text=True, check=True).stdout.strip()
    assert (Path(cmake_dir) / "kilnConfig.cmake").exists()
    build = tmp_path / "build"
    gen = ["-G", "Ninja"] if shutil.which("ninja") or (Path(sys.executable).parent / "ninja").exists() else []
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run([cmake, "-S", str(ROOT / "examples" / "cpp"), "-B", str(build), *gen, "-DCMAKE_BUILD_TYPE=Release",
                    f"-Dkiln_DIR={cmake_dir}"], check=True, capture_output=True, env=env)
    r = subprocess.run([cmake, "--build", str(build)], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    check_program(build / "kiln_infer", models, "resnet18")
