"""kiln benchmark: how fast a model runs with kiln on this CPU, in the spirit of OpenVINO's
benchmark_app.

    python -m kiln benchmark -m torchvision.models:resnet50 --shape "[1,3,224,224]" -t 10
    python -m kiln benchmark -m model.xml --shape "input_ids[1,128],attention_mask[1,128]" --hint throughput

-m takes an IR .xml path or a Python spec `module:callable` (called with no arguments, so a
torchvision/timm-style constructor gives random weights, then converted with an example input of
--shape). Inputs get random data: integer inputs token ids in [0, 100), floats randn. It prints the
CPU, compile and first-inference times, latency percentiles and throughput; --report writes the
per-node profile (PERF_COUNT), --json the figures, --plot the latency histogram (matplotlib).
"""
from __future__ import annotations

import argparse
import csv
import importlib
import json
import os
import platform
import re
import statistics
import sys
import threading
import time

import numpy as np

# The CPU flags that matter to kiln's kernels (oneDNN and its own AVX2/AVX-512 code).
FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16")


def cpu_info() -> str:
    """'AMD EPYC, 2 cores; avx2 fma avx512f ...' from /proc/cpuinfo (the flags that matter here)."""
    model, flags = platform.processor() or "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        for line in text.splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break
    except OSError:
        pass
    have = [f for f in FLAGS if f in flags]
    text = f"{model}, {os.cpu_count()} cores; {' '.join(have) or 'no AVX2'}"
    var = next((v for v in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA") if os.environ.get(v)), None)
    if var:
        from kiln._kiln import _cpu_isa
        text += f"; limited by {var}={os.environ[var]}: kiln's kernels use {_cpu_isa().split(' ')[0]}"
    return text


_SHAPE = re.compile(r"\s*([A-Za-z_][\w.:/-]*)?\s*\[([^\]]*)\]\s*,?")


def parse_shapes(text: str | None):
    """'[1,3,224,224]' -> [[1,3,224,224]]; 'a[1,128],b[1,128]' -> {'a': [1,128], 'b': [1,128]}."""
    if not text:
        return None
    named, unnamed, pos = {}, [], 0
    while pos < len(text):
        m = _SHAPE.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"--shape: cannot read {text[pos:]!r}; write [1,3,224,224] or name[1,128],name2[1,128]")
        try:
            dims = [int(d) for d in m.group(2).replace(" ", "").split(",") if d]
        except ValueError:
            raise ValueError(f"--shape: dimensions must be integers, got [{m.group(2)}]") from None
        if any(d < 0 for d in dims):
            raise ValueError(f"--shape: the benchmark needs static shapes, got [{m.group(2)}]")
        if m.group(1):
            named[m.group(1)] = dims
        else:
            unnamed.append(dims)
        pos = m.end()
    if named and unnamed:
        raise ValueError("--shape: name every input or none")
    return named or unnamed


def _looks_integer(name: str) -> bool:
    return any(k in name for k in ("ids", "mask", "token_type", "position", "index"))


def random_input(shape, dtype, rng):
    """Random data for one input: token ids in [0, 100) for integer types, randn for floats."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    if np.issubdtype(dtype, np.integer):
        return rng.integers(0, 100, size=shape).astype(dtype)
    return rng.standard_normal(size=shape).astype(dtype)


def load_model(spec: str, shapes):
    """(kiln.Model, seconds spent converting or reading). `spec` is an IR path or module:callable."""
    import kiln

    t0 = time.perf_counter()
    if spec.endswith(".xml") or os.path.isfile(spec):
        model = kiln.Core().read_model(spec)
        return model, time.perf_counter() - t0
    mod_name, sep, attr = spec.partition(":")
    if not sep or not attr:
        raise ValueError(f"-m: {spec!r} is neither an .xml file nor a Python spec 'module:callable' "
                         "(e.g. torchvision.models:resnet50)")
    import torch

    obj = importlib.import_module(mod_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    net = obj() if callable(obj) and not isinstance(obj, torch.nn.Module) else obj
    if hasattr(net, "eval"):
        net = net.eval()
    if shapes is None:
        raise ValueError("-m with a Python spec needs --shape to make an example input")
    rng = np.random.default_rng(0)

    def example(name, dims):
        dtype = np.int64 if name and _looks_integer(name) else np.float32
        return torch.from_numpy(random_input(dims, dtype, rng))

    if isinstance(shapes, dict):
        ex = {k: example(k, v) for k, v in shapes.items()}
    else:
        ex = [example(None, s) for s in shapes]
        ex = ex[0] if len(ex) == 1 else tuple(ex)
    t0 = time.perf_counter()
    with torch.no_grad():
        model = kiln.convert_model(net, example_input=ex)
    return model, time.perf_counter() - t0


class _Bar:
    """A progress bar on stderr: tqdm when it is installed, else a plain one."""

    def __init__(self, total, unit, enabled, desc=None):
        self.total, self.unit, self.enabled, self.n, self._last = total, unit, enabled, 0.0, 0.0
        self.desc = desc
        self._tqdm = None
        if not enabled:
            return
        try:
            from tqdm import tqdm
            self._tqdm = tqdm(total=total, unit=unit, file=sys.stderr, leave=False, mininterval=0.2, desc=desc,
                              bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} {unit} [{elapsed}<{remaining}]")
        except ImportError:
            pass

    def update_to(self, n):
        if not self.enabled:
            return
        if self._tqdm is not None:
            self._tqdm.update(n - self._tqdm.n)
            return
        now = time.perf_counter()
        if now - self._last < 0.2 and n < self.total:
            return
        self._last = now
        frac = min(n / self.total, 1.0) if self.total else 1.0
        head = f"{self.desc}: " if self.desc else ""
        sys.stderr.write(f"\r{head}[{'#' * int(frac * 30):<30}] {n:.0f}/{self.total:.0f} {self.unit}")
        sys.stderr.flush()

    def close(self):
        if not self.enabled:
            return
        if self._tqdm is not None:
            self._tqdm.close()
        else:
            sys.stderr.write("\r" + " " * (60 + len(self.desc or "")) + "\r")
            sys.stderr.flush()


class _Profile:
    """Per-node sums of PERF_COUNT steps over the run."""

    def __init__(self):
        self.rows = {}
        self.lock = threading.Lock()

    def add(self, steps):
        with self.lock:
            for name, typ, kernel, layout, _detail, us in steps:
                r = self.rows.setdefault((name, typ, kernel, layout), [0, 0.0])
                r[0] += 1
                r[1] += us

    def write_csv(self, path):
        total = sum(v[1] for v in self.rows.values()) or 1.0
        rows = sorted(self.rows.items(), key=lambda kv: -kv[1][1])
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["node_name", "node_type", "exec_type", "layout", "count", "total_us", "avg_us", "percent"])
            for (name, typ, kernel, layout), (n, us) in rows:
                w.writerow([name, typ, kernel, layout, n, f"{us:.1f}", f"{us / n:.2f}", f"{100 * us / total:.2f}"])
        return rows, total


def run(args) -> dict:
    import kiln

    shapes = parse_shapes(args.shape)
    model, load_s = load_model(args.model, shapes)
    if shapes is not None:
        # Static shapes, planned at compile time, as benchmark_app's -shape does.
        model.reshape(shapes if isinstance(shapes, dict) or len(shapes) != 1 else shapes[0])
    ports = model.inputs
    for p in ports:
        if not p.partial_shape.is_static:
            raise ValueError(f"input '{p.any_name}' has the dynamic shape {p.partial_shape}; give --shape")
    config = {"PERFORMANCE_HINT": args.hint.upper(), "INFERENCE_PRECISION_HINT": args.precision}
    if args.threads:
        config["INFERENCE_NUM_THREADS"] = args.threads
    if args.streams:
        config["NUM_STREAMS"] = args.streams
    if args.report:
        config["PERF_COUNT"] = True
    t0 = time.perf_counter()
    compiled = kiln.Core().compile_model(model, "CPU", config)
    compile_s = time.perf_counter() - t0

    rng = np.random.default_rng(0)
    from kiln.dtypes import to_numpy_dtype
    inputs = [random_input(p.partial_shape.to_shape(), to_numpy_dtype(p.element_type), rng) for p in ports]
    batch = int(inputs[0].shape[0]) if inputs and inputs[0].ndim else 1
    nireq = args.nireq or compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")
    throughput_mode = args.hint.lower() == "throughput"
    profile = _Profile() if args.report else None

    first = compiled.create_infer_request()
    t0 = time.perf_counter()
    first.infer(inputs)
    first_s = time.perf_counter() - t0

    niter, seconds = args.niter, args.time
    if not niter and not seconds:
        seconds = 10.0
    bar = _Bar(niter or seconds, "it" if niter else "s", not args.no_progress)
    latencies = []
    done = 0

    def finished():
        return (niter and done >= niter) or (not niter and time.perf_counter() - start >= seconds)

    start = time.perf_counter()
    if not throughput_mode:
        req = compiled.create_infer_request()
        for i, a in enumerate(inputs):
            req.set_tensor(i, a)
        while not finished():
            t = time.perf_counter()
            req.infer()
            latencies.append(time.perf_counter() - t)
            if profile is not None:
                profile.add(req._req.profiling_info())
            done += 1
            bar.update_to(done if niter else time.perf_counter() - start)
    else:
        queue = kiln.AsyncInferQueue(compiled, nireq)
        lock = threading.Lock()

        def on_done(request, t_start):
            t_end = time.perf_counter()
            steps = request._req.profiling_info() if profile is not None else None
            with lock:
                latencies.append(t_end - t_start)
            if steps is not None:
                profile.add(steps)

        queue.set_callback(on_done)
        while not finished():
            queue.get_idle_request_id()  # wait for a free request first: latency excludes queueing
            queue.start_async(inputs, time.perf_counter())
            done += 1
            bar.update_to(done if niter else time.perf_counter() - start)
        queue.wait_all()
    total_s = time.perf_counter() - start
    bar.close()

    lat_ms = sorted(x * 1e3 for x in latencies)

    def pct(q):
        return float(np.percentile(lat_ms, q)) if lat_ms else float("nan")

    result = {
        "model": args.model,
        "cpu": cpu_info(),
        "kiln_inputs": {p.any_name: [list(a.shape), str(a.dtype)] for p, a in zip(ports, inputs)},
        "hint": compiled.get_property("PERFORMANCE_HINT"),
        "streams": compiled.get_property("NUM_STREAMS"),
        "threads": compiled.get_property("INFERENCE_NUM_THREADS"),
        "infer_requests": nireq if throughput_mode else 1,
        "precision": compiled.get_property("INFERENCE_PRECISION_HINT").name,
        "load_ms": load_s * 1e3,
        "compile_ms": compile_s * 1e3,
        "first_inference_ms": first_s * 1e3,
        "iterations": len(lat_ms),
        "duration_s": total_s,
        "latency_ms": {"median": statistics.median(lat_ms) if lat_ms else float("nan"), "p90": pct(90),
                       "p99": pct(99), "min": lat_ms[0] if lat_ms else float("nan"),
                       "max": lat_ms[-1] if lat_ms else float("nan"),
                       "mean": statistics.fmean(lat_ms) if lat_ms else float("nan")},
        "throughput_fps": len(lat_ms) * batch / total_s if total_s > 0 else float("nan"),
    }
    if profile is not None:
        rows, total = profile.write_csv(args.report)
        result["report"] = args.report
        result["profile_top"] = [
            {"node_name": k[0], "node_type": k[1], "exec_type": k[2], "count": v[0], "total_us": v[1],
             "percent": 100 * v[1] / total} for k, v in rows[:10]]
    if args.plot:
        result["plot"] = _plot(lat_ms, args.plot, args.model)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return result


def pyplot(path, who="kiln benchmark"):
    """matplotlib.pyplot on the file-only Agg backend, or None (after saying that the plot to
    `path` is skipped) when matplotlib is not installed. The benchmarks in bench/ use it too."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"{who}: matplotlib is not installed, so --plot {path} was skipped (pip install matplotlib)",
              file=sys.stderr)
        return None
    return plt


def _plot(lat_ms, path, title):
    plt = pyplot(path)
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist(lat_ms, bins=min(50, max(5, len(lat_ms) // 5)))
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("inferences")
    ax.set_title(f"kiln: {title}")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def print_result(r, out=sys.stdout):
    lat = r["latency_ms"]
    ins = ", ".join(f"{k}{v[0]} {v[1]}" for k, v in r["kiln_inputs"].items())
    print(f"CPU:              {r['cpu']}", file=out)
    print(f"Model:            {r['model']}  ({ins})", file=out)
    print(f"Config:           {r['hint']}, {r['streams']} stream(s), {r['threads']} thread(s), "
          f"{r['infer_requests']} infer request(s), {r['precision']}", file=out)
    print(f"Read/convert:     {r['load_ms']:.1f} ms", file=out)
    print(f"Compile:          {r['compile_ms']:.1f} ms", file=out)
    print(f"First inference:  {r['first_inference_ms']:.2f} ms", file=out)
    print(f"Iterations:       {r['iterations']} in {r['duration_s']:.2f} s", file=out)
    print(f"Latency (ms):     median {lat['median']:.2f}  p90 {lat['p90']:.2f}  p99 {lat['p99']:.2f}  "
          f"min {lat['min']:.2f}  max {lat['max']:.2f}", file=out)
    print(f"Throughput:       {r['throughput_fps']:.2f} FPS", file=out)
    if "profile_top" in r:
        print(f"Per-node profile: {r['report']} (top 5 below)", file=out)
        for row in r["profile_top"][:5]:
            print(f"  {row['percent']:5.1f}%  {row['node_type']:<18} {row['exec_type']:<20} {row['node_name']}",
                  file=out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="kiln benchmark", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-m", "--model", required=True, help="an IR .xml path, or module:callable (torchvision.models:resnet50)")
    p.add_argument("--shape", "-shape", help="input shapes: [1,3,224,224] or name[1,128],name2[1,128]")
    p.add_argument("--hint", "-hint", default="latency", choices=["latency", "throughput"], type=str.lower,
                   help="PERFORMANCE_HINT (default latency: one stream on every core)")
    p.add_argument("--threads", "-nthreads", type=int, default=0, help="INFERENCE_NUM_THREADS (0: all cores)")
    p.add_argument("--streams", "-nstreams", type=int, default=0, help="NUM_STREAMS (0: from the hint)")
    p.add_argument("--nireq", "-nireq", type=int, default=0,
                   help="infer requests in throughput mode (0: OPTIMAL_NUMBER_OF_INFER_REQUESTS)")
    p.add_argument("--precision", "-infer_precision", default="f32", choices=["f32", "bf16"],
                   help="INFERENCE_PRECISION_HINT")
    p.add_argument("-t", "--time", type=float, default=0.0, help="seconds to run (default 10 without -niter)")
    p.add_argument("-niter", "--niter", type=int, default=0, help="inferences to run")
    p.add_argument("--plot", help="write the latency histogram to this image (needs matplotlib)")
    p.add_argument("--report", help="write the per-node profile (PERF_COUNT) to this CSV")
    p.add_argument("--json", help="write the figures to this JSON file")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    args = p.parse_args(argv)
    try:
        result = run(args)
    except (ValueError, TypeError, ImportError, AttributeError, OSError) as e:
        print(f"kiln benchmark: {e}", file=sys.stderr)
        return 1
    print_result(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
