#!/usr/bin/env python3
"""The group-wise invariance loss (value + gradient) in PyTorch on the GPU, as a PyTorch user writes
it, beside benchmarks/cuda/bench_cuda.cu (invar on the same GPU).

Formulation and convention exactly as the libtorch peer of benchmarks/bench_losses.cpp: pairwise
distances by torch.cdist (mean squared difference = cdist^2 / D, squared Euclidean = cdist^2,
Euclidean = cdist, Manhattan = cdist with p = 1) or a normalised Gram matrix (cosine: rows over
their norms, correlation: centred rows first, d = 1 - Yn Yn^T), a group mask and autograd, paper
convention with the all-pairs denominator:

    loss = sum_ij d_ij same_ij / counts_i^2  /  mean_ij d_ij,    loss.backward()

float32, B in {256, 1024, 4096} x D in {1024, 16384}, K x M groups with M = 8 and ids
(i * 5) % K, X from the same counter hash as bench_cuda (so the loss values can be compared).
Each repetition is timed with torch.cuda.Event around forward + backward, then a synchronize;
warm-up first; the median of the repetitions is reported. Manhattan (invar's pairwise path) is
skipped where bench_cuda skips it: above B = 1024, or where a call takes more than 2 s. Also
PyTorch's own device-to-device copy bandwidth (Tensor.copy_ of 256 MiB and 1 GiB, GB/s counting
bytes read + written).

Case names are bench_cuda's ("loss/<metric>/<B>/<D>", "copy/<n>MiB"), so the two JSONs join
(scripts/gpu-check.sh does). Run:
    python3 benchmarks/cuda/torch_losses.py --out torch_losses.json
Exit codes: 0 done, 1 a case failed (other than out of memory, which is reported as skipped),
77 no PyTorch with CUDA or no GPU ("SKIPPED: ...").
"""

import argparse
import datetime
import json
import math
import platform
import re
import statistics
import sys
import time

METRICS = [  # invar::all_metrics order, invar's names
    "mean_squared_difference",
    "squared_euclidean",
    "euclidean",
    "manhattan",
    "cosine_distance",
    "correlation_distance",
]
PATHS = {  # the path invar takes for the metric (bench_cuda's label)
    "mean_squared_difference": "linear",
    "squared_euclidean": "linear",
    "euclidean": "gram",
    "manhattan": "pairwise",
    "cosine_distance": "gram",
    "correlation_distance": "gram",
}
ROWS = [256, 1024, 4096]
COLS = [1024, 16384]
AUGMENTATIONS = 8
COPY_MIB = [256, 1024]


def hash_uniform(n, device):
    """x[i] in [-1, 1), exactly as bench_cuda.cu's hash_uniform (24-bit values, exact in float32)."""
    import torch

    mask = 0xFFFFFFFF
    h = (torch.arange(n, dtype=torch.int64, device=device) * 0x9E3779B1) & mask
    h ^= h >> 15
    h = (h * 0x2C1B3C6D) & mask
    h ^= h >> 12
    h = (h * 0x297A2D39) & mask
    h ^= h >> 15
    return (h >> 8).to(torch.float32) * (1.0 / 16777216.0) * 2.0 - 1.0


def distances(metric, x):
    """bench_losses.cpp's torch_distances, in Python."""
    import torch

    d = float(x.shape[1])
    if metric == "mean_squared_difference":
        return torch.cdist(x, x).pow(2) / d
    if metric == "squared_euclidean":
        return torch.cdist(x, x).pow(2)
    if metric == "euclidean":
        return torch.cdist(x, x)
    if metric == "manhattan":
        return torch.cdist(x, x, p=1.0)
    y = x - x.mean(1, keepdim=True) if metric == "correlation_distance" else x
    yn = y / y.norm(2, 1, keepdim=True).clamp_min(1e-12)
    return 1 - yn.mm(yn.t())


def loss_step(metric, x, ids):
    """Paper convention: sum_k (1/|S_k|^2) sum_{i,j in S_k} d / ((1/B^2) sum_{i,j} d); value + gradient."""
    import torch

    dist = distances(metric, x)
    same = (ids.unsqueeze(0) == ids.unsqueeze(1)).to(torch.float32)
    counts = same.sum(1, keepdim=True)
    loss = (dist * same / counts.pow(2)).sum() / dist.mean()
    loss.backward()
    return loss


def measure(fn, before, min_time, min_reps, max_reps, warmups):
    """Event times (ms) of fn() after `warmups` untimed calls; before() runs untimed ahead of each."""
    import torch

    out = None
    for _ in range(warmups):
        before()
        out = fn()
    torch.cuda.synchronize()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    while len(times) < max_reps and (len(times) < min_reps or sum(times) * 1e-3 < min_time):
        before()
        start.record()
        out = fn()
        stop.record()
        stop.synchronize()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(stop))
    return times, out


def summary(times):
    return {"median_ms": statistics.median(times), "min_ms": min(times), "reps": len(times)}


def run_copy(mib, args, device):
    import torch

    name = f"copy/{mib}MiB"
    nbytes = mib << 20
    case = {"name": name, "kind": "copy", "bytes": 2 * nbytes, "skipped": None, "error": None}
    try:
        a = torch.empty(nbytes // 4, dtype=torch.float32, device=device).uniform_(-1, 1)
        b = torch.empty_like(a)
        times, _ = measure(lambda: b.copy_(a), lambda: None, args.min_time, 10, args.max_reps, 3)
        case.update(summary(times))
        case["GB/s"] = 2 * nbytes / (case["median_ms"] * 1e-3) * 1e-9
        del a, b
    except torch.cuda.OutOfMemoryError as e:
        case["skipped"] = f"skipped: out of memory ({str(e).splitlines()[0]})"
    torch.cuda.empty_cache()
    return case


def run_loss(metric, rows, cols, args, device):
    import torch

    name = f"loss/{metric}/{rows}/{cols}"
    path = PATHS[metric]
    case = {"name": name, "kind": "loss", "metric": metric, "rows": rows, "cols": cols, "path": path,
            "skipped": None, "error": None}
    if path == "pairwise" and rows > args.pairwise_max_rows:
        case["skipped"] = f"skipped: pairwise path above B = {args.pairwise_max_rows}"
        return case
    x = ids = None
    try:
        x = hash_uniform(rows * cols, device).view(rows, cols).requires_grad_(True)
        ids = (torch.arange(rows, dtype=torch.int64, device=device) * 5) % (rows // AUGMENTATIONS)
        torch.cuda.synchronize()

        def before():
            x.grad = None

        def fn():
            return loss_step(metric, x, ids)

        # First call: warm-up, and how long a call takes (decides the skip and the repetitions).
        t0 = time.perf_counter()
        before()
        fn()
        torch.cuda.synchronize()
        first = time.perf_counter() - t0
        if path == "pairwise" and first > args.pairwise_max_seconds:
            case["skipped"] = f"skipped: pairwise path: the warm-up call took {first:.2f} s (> {args.pairwise_max_seconds} s)"
            return case
        warmups = 2 if first < 0.1 else 0
        min_reps = 5 if first < 0.2 else 3
        times, loss = measure(fn, before, args.min_time, min_reps, args.max_reps, warmups)
        case.update(summary(times))
        value = float(loss.item())
        case["loss"] = value if math.isfinite(value) else None  # JSON has no NaN
        if not math.isfinite(value):
            case["error"] = f"non-finite loss {value}"
        case["first_call_s"] = first
    except torch.cuda.OutOfMemoryError as e:
        case["skipped"] = f"skipped: out of memory ({str(e).splitlines()[0]})"
    except Exception as e:  # noqa: BLE001 - report and go on with the next case
        case["error"] = f"{type(e).__name__}: {e}"
    finally:
        del x, ids
        torch.cuda.empty_cache()
    return case


def allow_tf32(torch):
    """Whether float32 matmuls may use TF32 (PyTorch's default: no); None where the flag is gone."""
    try:
        return bool(torch.backends.cuda.matmul.allow_tf32)
    except Exception:  # noqa: BLE001 - newer PyTorch may replace the flag
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="torch_losses.json", help="JSON output file")
    ap.add_argument("--filter", default="", help="regular expression on case names (re.search)")
    ap.add_argument("--min-time", type=float, default=0.1, help="seconds of timed repetitions per case (at least)")
    ap.add_argument("--max-reps", type=int, default=200, help="repetitions per case (at most)")
    ap.add_argument("--pairwise-max-rows", type=int, default=1024)
    ap.add_argument("--pairwise-max-seconds", type=float, default=2.0)
    args = ap.parse_args()

    try:
        import torch
    except ImportError as e:
        print(f"SKIPPED: no PyTorch: {e}")
        return 77
    if not torch.cuda.is_available():
        print(f"SKIPPED: no CUDA device: torch.cuda.is_available() is False (torch {torch.__version__})")
        return 77
    device = torch.device("cuda")
    props = torch.cuda.get_device_properties(device)
    result = {
        "tool": "benchmarks/cuda/torch_losses.py",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "device": torch.cuda.get_device_name(device),
        "capability": f"{props.major}.{props.minor}",
        "sms": props.multi_processor_count,
        "memory_bytes": props.total_memory,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "matmul_allow_tf32": allow_tf32(torch),
        "settings": {"min_time_s": args.min_time, "max_reps": args.max_reps, "filter": args.filter,
                     "pairwise_max_rows": args.pairwise_max_rows,
                     "pairwise_max_seconds": args.pairwise_max_seconds},
        "cases": [],
    }
    print(f"torch_losses: torch {torch.__version__} (CUDA {torch.version.cuda}) on {result['device']}, "
          f"float32 matmul precision {result['float32_matmul_precision']}", flush=True)
    selected = re.compile(args.filter) if args.filter else None

    def wanted(name):
        return selected is None or selected.search(name) is not None

    jobs = [("copy", mib) for mib in COPY_MIB]
    jobs += [("loss", (metric, rows, cols)) for rows in ROWS for cols in COLS for metric in METRICS]
    failed = False
    for kind, spec in jobs:
        name = f"copy/{spec}MiB" if kind == "copy" else "loss/{}/{}/{}".format(*spec)
        if not wanted(name):
            continue
        case = run_copy(spec, args, device) if kind == "copy" else run_loss(*spec, args, device)
        result["cases"].append(case)
        failed |= case["error"] is not None
        if case["error"]:
            status = "ERROR " + case["error"]
        elif case["skipped"]:
            status = case["skipped"]
        elif kind == "copy":
            status = f"{case['median_ms']:9.3f} ms  {case['GB/s']:8.1f} GB/s  ({case['reps']} reps)"
        else:
            status = f"{case['median_ms']:9.3f} ms  loss {case['loss']:.6g}  ({case['reps']} reps)"
        print(f"{name:44s} {status}", flush=True)
        with open(args.out, "w") as f:  # after every case: a run cut short still leaves its results
            json.dump(result, f, indent=1)
    if not result["cases"]:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
