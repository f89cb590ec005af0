#!/usr/bin/env bash
# One command for a machine with an NVIDIA GPU (issue 15, item 6): builds invar's CUDA targets
# against gpu-deps/ (made by scripts/prepare-gpu-deps.sh on the Debian machine and carried here),
# runs the three GPU tests, runs them again under compute-sanitizer (memcheck, racecheck), runs the
# GPU benchmarks (invar_bench_cuda) beside the same losses in PyTorch (benchmarks/cuda/torch_losses.py),
# and writes ONE JSON of results, with the acceptance checks of issue 15 computed, plus a summary.
#
#   bash scripts/gpu-check.sh [--build-only] [--out DIR] [--deps DIR] [--build-dir DIR] [--jobs N]
#                             [--budget SECONDS] [--no-sanitizers] [--no-torch]
#
# Needs: nvidia-smi, nvcc (PATH or /usr/local/cuda/bin), CMake >= 3.21, ninja, g++, python3 (the
# JSON; PyTorch for the comparison), compute-sanitizer; no network, no Debian -dev packages.
# Writes to $OUT (the device tool's folder) or ./gpu-check-out/: gpu-check.json (everything),
# gpu-check.log (every step's full output), bench_cuda.json, torch_losses.json. Four files.
# --build-only: configure and build only (no GPU needed), then check that the binaries skip
# (exit 77) where no GPU is; this is how it is tested on a machine without a GPU.
# Budget: every step has a time limit, and all steps together end within --budget seconds
# (default 450: under 8 minutes with the JSON on an H100). The sanitizer runs come last, in
# parallel, with what is left.
# Environment: CUDAARCHS overrides the architectures (default: the GPU's compute capability, e.g.
# 90; 90 without a GPU); GPU_CHECK_CMAKE_ARGS adds configure arguments.
# Exit codes: 0 every step passed (build-only: built, and the binaries skip or pass); 1 a step
# failed (configure, build, a test, a sanitizer error, a benchmark); 77 no GPU and no --build-only.
# The acceptance checks of issue 15 are in the JSON ("acceptance") and the summary; they do not
# change the exit code.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_only=0
sanitizers=1
torch=1
out="${OUT:-$root/gpu-check-out}"
deps="$root/gpu-deps"
build="$root/build/gpu-check"
jobs="$(nproc 2>/dev/null || echo 4)"
budget=450
while (($#)); do
  case "$1" in
    --build-only) build_only=1 ;;
    --no-sanitizers) sanitizers=0 ;;
    --no-torch) torch=0 ;;
    --out) out="$2"; shift ;;
    --deps) deps="$2"; shift ;;
    --build-dir) build="$2"; shift ;;
    --jobs) jobs="$2"; shift ;;
    --budget) budget="$2"; shift ;;
    -h | --help) sed -n '2,29p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "gpu-check: unknown argument $1 (--help)" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$out" "$build" || exit 1
out="$(cd "$out" && pwd)"
build="$(cd "$build" && pwd)"
work="$build/gpu-check-work"  # logs and intermediate files (not $OUT: it returns at most 8 files)
rm -rf "$work" && mkdir -p "$work"
steps="$work/steps.tsv"
env_file="$work/env.tsv"
: >"$steps"
: >"$env_file"
t_start="$(date +%s.%N)"
cd "$root" || exit 1

now() { date +%s.%N; }
elapsed() { awk -v a="$t_start" -v b="$(now)" 'BEGIN { printf "%d", b - a }'; }
envset() { printf '%s\t%s\n' "$1" "$2" >>"$env_file"; }  # envset <key> <value>: one line of facts

# run_step <name> <limit s> <command...>: runs with a time limit (shrunk to what the budget has
# left), output to $work/<name>.log, one line in steps.tsv: name, rc, seconds, limit, log.
# rc 124/137: the limit was hit; rc 125: not run, no time left.
run_step() {
  local name="$1" limit="$2"
  shift 2
  local left=$((budget - $(elapsed) - 5))
  ((limit > left)) && limit=$left
  local log="$work/$name.log"
  if ((limit < 5)); then
    echo "not run: only ${left}s of the ${budget}s budget left" >"$log"
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" 125 0 "$limit" "$log" >>"$steps"
    echo "==> gpu-check: $name: NOT RUN (budget of ${budget}s spent)"
    return 125
  fi
  local t0 rc dt
  t0="$(now)"
  timeout --kill-after=10 "$limit" "$@" >"$log" 2>&1
  rc=$?
  dt="$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')"
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$rc" "$dt" "$limit" "$log" >>"$steps"
  local note=""
  ((rc == 124 || rc == 137)) && note=" (TIME LIMIT ${limit}s)"
  echo "==> gpu-check: $name: rc $rc, ${dt}s$note"
  return "$rc"
}

# ---------------------------------------------------------------------------------------------
# 1. The machine: GPU, driver, compilers, tools.
envset mode "$([[ $build_only == 1 ]] && echo build-only || echo full)"
envset date "$(date -u +%FT%TZ)"
envset host_kernel "$(uname -sr)"
envset cpus "$(nproc 2>/dev/null)"
gpu=0
gpu_reason=""
if ! command -v nvidia-smi >/dev/null 2>&1; then
  gpu_reason="nvidia-smi not found"
elif ! nvidia-smi -L >"$work/nvidia-smi-L.txt" 2>&1; then
  gpu_reason="nvidia-smi failed: $(tail -n 1 "$work/nvidia-smi-L.txt")"
elif ! grep -q '^GPU ' "$work/nvidia-smi-L.txt"; then
  gpu_reason="nvidia-smi lists no GPU"
else
  gpu=1
fi
envset gpu "$gpu"
envset gpu_reason "$gpu_reason"
arch="${CUDAARCHS:-}"
if ((gpu)); then
  # Two queries: a field this driver does not know fails its whole query, and the first one matters.
  q="$(nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv,noheader 2>/dev/null | head -n 1)"
  IFS=',' read -r g_name g_driver g_cc g_mem <<<"$q"
  q="$(nvidia-smi --query-gpu=clocks.max.sm,clocks.max.memory,power.limit --format=csv,noheader 2>/dev/null | head -n 1)"
  IFS=',' read -r g_sm g_memclk g_power <<<"$q"
  trim() { sed 's/^ *//; s/ *$//' <<<"$1"; }
  envset gpu_name "$(trim "$g_name")"
  envset driver "$(trim "$g_driver")"
  envset compute_cap "$(trim "$g_cc")"
  envset gpu_memory "$(trim "$g_mem")"
  envset gpu_max_sm_clock "$(trim "$g_sm")"
  envset gpu_max_mem_clock "$(trim "$g_memclk")"
  envset gpu_power_limit "$(trim "$g_power")"
  envset gpu_count "$(grep -c '^GPU ' "$work/nvidia-smi-L.txt")"
  [[ -z "$arch" && "$(trim "$g_cc")" =~ ^[0-9]+\.[0-9]+$ ]] && arch="$(trim "$g_cc" | tr -d '.')"
  nvidia-smi >"$work/nvidia-smi.txt" 2>&1
  echo "gpu-check: $(trim "$g_name"), driver $(trim "$g_driver"), compute capability $(trim "$g_cc")"
else
  echo "gpu-check: no GPU: $gpu_reason"
  if ((!build_only)); then
    echo "gpu-check: nothing to run without a GPU; 'bash scripts/gpu-check.sh --build-only' configures and builds only"
  fi
fi
[[ -z "$arch" ]] && arch=90
envset cuda_architectures "$arch"

nvcc="${CUDACXX:-$(command -v nvcc || true)}"
[[ -z "$nvcc" && -x /usr/local/cuda/bin/nvcc ]] && nvcc=/usr/local/cuda/bin/nvcc
envset nvcc_path "$nvcc"
envset nvcc "$([[ -n $nvcc ]] && "$nvcc" --version 2>&1 | grep -i release | head -n 1)"
# The toolkit's libraries that invar::cuda links (cuBLAS) or may use (cuDNN): for a failed configure.
envset cuda_libraries "$([[ -n $nvcc ]] && find "$(dirname "$(readlink -f "$nvcc")")/.." -maxdepth 3 \
  \( -name 'libcublas.so*' -o -name 'libcudart.so*' -o -name 'libcudnn.so*' \) -printf '%f\n' 2>/dev/null | sort -u | tr '\n' ' ')"
envset cmake "$(cmake --version 2>/dev/null | head -n 1)"
envset ninja "$(ninja --version 2>/dev/null)"
envset cxx "$(c++ --version 2>/dev/null | head -n 1)"
envset python "$(python3 --version 2>&1)"
sanitizer="$(command -v compute-sanitizer || true)"
[[ -z "$sanitizer" && -n "$nvcc" && -x "$(dirname "$nvcc")/compute-sanitizer" ]] && sanitizer="$(dirname "$nvcc")/compute-sanitizer"
envset compute_sanitizer "$([[ -n $sanitizer ]] && "$sanitizer" --version 2>&1 | grep -i version | head -n 1)"
envset budget_s "$budget"
envset jobs "$jobs"

# The JSON and the summary (python3); called at every exit.
assemble() {
  envset total_s "$(elapsed)"
  if ! command -v python3 >/dev/null 2>&1; then
    echo '{"error": "python3 not found: no report"}' >"$out/gpu-check.json"
    return
  fi
  python3 - "$work" "$out" <<'PYEOF'
import json, os, re, statistics, sys

work, out = sys.argv[1], sys.argv[2]

def read(path, default=""):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return default

def tail(text, n):
    return text if len(text) <= n else "..." + text[-n:]

env = {}
for line in read(os.path.join(work, "env.tsv")).splitlines():
    k, _, v = line.partition("\t")
    env[k] = v
steps = []
for line in read(os.path.join(work, "steps.tsv")).splitlines():
    p = line.split("\t")
    if len(p) == 5:
        steps.append({"name": p[0], "rc": int(p[1]), "seconds": float(p[2]), "limit_s": int(p[3]), "log": p[4]})
by_name = {s["name"]: s for s in steps}
for s in steps:
    s["timed_out"] = s["rc"] in (124, 137)
    s["not_run"] = s["rc"] == 125

# Full log: every step, long ones cut in the middle (gpu-check.log, one of the four files back).
with open(os.path.join(out, "gpu-check.log"), "w") as f:
    for s in steps:
        text = read(s["log"])
        if len(text) > 400_000:
            text = text[:100_000] + "\n...[cut]...\n" + text[-300_000:]
        f.write(f"===== {s['name']}: rc {s['rc']}, {s['seconds']} s (limit {s['limit_s']} s) =====\n{text}\n")

tests = {}
for name in ("invar_cuda_metrics", "invar_cuda_backend_compile", "invar_cuda_device_ops"):
    s = by_name.get("test_" + name)
    if s:
        status = {0: "passed", 77: "skipped"}.get(s["rc"], "timed out" if s["timed_out"] else "FAILED")
        tests[name] = {"rc": s["rc"], "status": status, "seconds": s["seconds"], "output_tail": tail(read(s["log"]), 4000)}

sanitizer = {}
for s in steps:
    m = re.match(r"(memcheck|racecheck)_(.*)", s["name"])
    if not m:
        continue
    text = read(s["log"])
    errors = None
    found = re.findall(r"ERROR SUMMARY: (\d+) error", text)
    if found:
        errors = int(found[-1])
    race = re.findall(r"RACECHECK SUMMARY: (\d+) hazards? displayed \((\d+) errors?, (\d+) warnings?\)", text)
    if race:
        errors = (errors or 0) + int(race[-1][1])
    sanitizer[s["name"]] = {
        "tool": m.group(1), "test": m.group(2), "rc": s["rc"], "seconds": s["seconds"], "timed_out": s["timed_out"],
        "errors": errors,  # None: no summary line (timed out, crashed, not run)
        "racecheck_warnings": int(race[-1][2]) if race else None,
        "hazard_lines": len(re.findall(r"^========= (Invalid|Race|Error|Program hit|Uninitialized|Barrier|Warning)", text, re.M)),
        "output_tail": tail(text, 2500),
    }

def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None

bench = load(os.path.join(work, "bench_cuda.json"))
tj = load(os.path.join(work, "torch_losses.json"))

invar_cases = {}
if bench:
    for b in bench.get("benchmarks", []):
        if b.get("run_type", "iteration") != "iteration":
            continue
        name = re.sub(r"/(manual_time|real_time)$", "", b["name"])
        msg = b.get("error_message") or b.get("skip_message") or ""
        entry = {"label": b.get("label")}
        if msg.startswith("skipped:") or b.get("skipped") and not b.get("error_occurred"):
            entry["skipped"] = msg or "skipped"
        elif b.get("error_occurred"):
            entry["error"] = msg or "error"
        else:
            for k in ("median_ms", "min_ms", "wall_median_ms", "bytes", "GB/s", "GFLOP/s", "loss", "iterations"):
                if k in b:
                    entry[k] = b[k]
        prev = invar_cases.get(name)
        if prev and "median_ms" in prev and "median_ms" in entry:  # repetitions: keep the one with the median time
            entry = sorted([prev, entry], key=lambda e: e["median_ms"])[0]
        invar_cases[name] = entry
torch_cases = {c["name"]: c for c in (tj or {}).get("cases", [])}

def parse(name):
    p = name.split("/")
    if p[0] == "loss" and len(p) == 4:
        return {"kind": "loss", "metric": p[1], "rows": int(p[2]), "cols": int(p[3])}
    return {"kind": p[0]}

names = list(invar_cases) + [n for n in torch_cases if n not in invar_cases]
table = []
for n in names:
    i, t = invar_cases.get(n, {}), torch_cases.get(n, {})
    row = {"name": n, **parse(n), "path": i.get("label") or t.get("path")}
    row["invar_ms"] = i.get("median_ms")
    row["torch_ms"] = t.get("median_ms")
    row["speedup_vs_torch"] = (row["torch_ms"] / row["invar_ms"]) if row["invar_ms"] and row["torch_ms"] else None
    row["invar_GB/s"] = i.get("GB/s")
    row["torch_GB/s"] = t.get("GB/s")
    row["invar_GFLOP/s"] = i.get("GFLOP/s")
    row["invar_loss"] = i.get("loss")
    row["torch_loss"] = t.get("loss")
    if row["invar_loss"] is not None and row["torch_loss"] is not None:
        row["loss_rel_diff"] = abs(row["invar_loss"] - row["torch_loss"]) / max(abs(row["torch_loss"]), 1e-300)
    else:
        row["loss_rel_diff"] = None
    row["invar_status"] = i.get("error") or i.get("skipped") or ("ok" if i else "missing")
    row["torch_status"] = t.get("error") or t.get("skipped") or ("ok" if t else "missing")
    table.append(row)
rows = {r["name"]: r for r in table}

def val(name, key):
    r = rows.get(name)
    return r.get(key) if r else None

copy_invar = val("copy/1024MiB", "invar_GB/s")
copy_torch = val("copy/1024MiB", "torch_GB/s")
acceptance = {}
lin = {}
for m in ("mean_squared_difference", "squared_euclidean"):
    gbs = val(f"loss/{m}/4096/16384", "invar_GB/s")
    lin[m] = {"GB/s": gbs, "fraction_of_copy": (gbs / copy_invar) if gbs and copy_invar else None}
fr = [v["fraction_of_copy"] for v in lin.values()]
acceptance["linear_path_fraction_of_copy_bandwidth"] = {
    "case": "B = 4096, D = 16384; bytes 3 B D 4 over the median time, over invar_bench_cuda's copy/1024MiB",
    "copy_GB/s": copy_invar, "torch_copy_GB/s": copy_torch, "per_metric": lin,
    "value": min(fr) if all(f is not None for f in fr) else None, "wanted": ">= 0.70",
    "met": all(f is not None and f >= 0.70 for f in fr)}
msd = val("loss/mean_squared_difference/1024/16384", "speedup_vs_torch")
acceptance["msd_speedup_vs_torch_1024_16384"] = {"value": msd, "wanted": ">= 10", "met": msd is not None and msd >= 10}
gram = {r["name"]: r["speedup_vs_torch"] for r in table if r["kind"] == "loss" and r["metric"] in ("cosine_distance", "correlation_distance", "euclidean")}
gvals = [v for v in gram.values() if v is not None]
acceptance["gram_path_speedup_vs_torch"] = {
    "per_case": gram, "min": min(gvals) if gvals else None, "wanted": ">= 1.0 in every case",
    "met": bool(gram) and len(gvals) == len(gram) and min(gvals) >= 1.0}
acceptance["gpu_tests_pass"] = {"met": len(tests) == 3 and all(t["status"] == "passed" for t in tests.values())}
acceptance["sanitizers_zero_errors"] = {
    "met": len(sanitizer) == 6 and all(s["errors"] == 0 and s["rc"] == 0 for s in sanitizer.values()),
    "errors": {k: s["errors"] for k, s in sanitizer.items()}}
diffs = [r["loss_rel_diff"] for r in table if r["loss_rel_diff"] is not None]
acceptance["loss_values_agree_with_torch"] = {
    "max_rel_diff": max(diffs) if diffs else None, "wanted": "<= 1e-3 (information; float32 in both)",
    "met": bool(diffs) and max(diffs) <= 1e-3}
acceptance["all_met"] = all(v["met"] for k, v in acceptance.items() if k != "loss_values_agree_with_torch")

report = {
    "tool": "scripts/gpu-check.sh",
    "mode": env.get("mode"),
    "date": env.get("date"),
    "device": {k: env.get(k) for k in ("gpu_name", "driver", "compute_cap", "gpu_memory", "gpu_max_sm_clock",
                                       "gpu_max_mem_clock", "gpu_power_limit", "gpu_count")},
    "gpu": env.get("gpu") == "1", "no_gpu_reason": env.get("gpu_reason") or None,
    "toolchain": {k: env.get(k) for k in ("nvcc", "nvcc_path", "cuda_libraries", "cmake", "ninja", "cxx", "python",
                                          "compute_sanitizer", "cuda_architectures", "host_kernel", "cpus", "jobs")},
    "torch": {k: (tj or {}).get(k) for k in ("torch", "torch_cuda", "float32_matmul_precision", "matmul_allow_tf32")},
    "bench_context": (bench or {}).get("context"),
    "total_s": float(env.get("total_s", 0) or 0), "budget_s": int(env.get("budget_s", 0) or 0),
    "steps": [{k: s[k] for k in ("name", "rc", "seconds", "limit_s", "timed_out", "not_run")} for s in steps],
    "tests": tests,
    "sanitizers": sanitizer,
    "benchmarks": table,
    "acceptance": acceptance,
    "deps_check": read(os.path.join(work, "deps_check.txt")),
    "configure_tail": tail(read(os.path.join(work, "configure.log")), 3000) if by_name.get("configure", {}).get("rc", 0) else None,
    "build_tail": tail(read(os.path.join(work, "build.log")), 6000) if by_name.get("build", {}).get("rc", 0) else None,
}
with open(os.path.join(out, "gpu-check.json"), "w") as f:
    json.dump(report, f, indent=1)

# The summary (the device tool's reply carries the end of the output).
def fmt(v, spec):
    width = re.match(r"\d*", spec).group()
    return format(v, spec) if isinstance(v, (int, float)) else "-".rjust(int(width) if width else 1)
print()
print("=" * 100)
d = report["device"]
print(f"gpu-check ({report['mode']}), {report['date']}: {d.get('gpu_name') or 'no GPU (' + str(report['no_gpu_reason']) + ')'}, "
      f"driver {d.get('driver') or '-'}, {report['toolchain'].get('nvcc') or 'no nvcc'}, sm {report['toolchain'].get('cuda_architectures')}, "
      f"torch {report['torch'].get('torch') or '-'}; {report['total_s']:.0f} s of {report['budget_s']} s")
print("steps: " + ", ".join(f"{s['name']} {s['rc']} ({s['seconds']:.0f}s)" for s in steps))
for n, t in tests.items():
    print(f"test {n}: {t['status']} ({t['seconds']:.1f} s)")
for n, s in sanitizer.items():
    print(f"{n}: errors {s['errors'] if s['errors'] is not None else 'unknown'}"
          f"{' (TIMED OUT)' if s['timed_out'] else ''}, rc {s['rc']}, {s['seconds']:.0f} s")
if table:
    print(f"{'case':42s} {'path':8s} {'invar ms':>10s} {'torch ms':>10s} {'x torch':>8s} {'GB/s':>8s} {'GFLOP/s':>8s} {'loss diff':>9s}")
    for r in table:
        status = "" if r["invar_status"] == "ok" else "  invar: " + r["invar_status"]
        if r["torch_status"] not in ("ok",):
            status += "  torch: " + r["torch_status"]
        gbs = r["invar_GB/s"] if r["invar_GB/s"] is not None else r["torch_GB/s"]
        print(f"{r['name']:42s} {str(r['path'] or '-'):8s} {fmt(r['invar_ms'], '10.3f')} {fmt(r['torch_ms'], '10.3f')} "
              f"{fmt(r['speedup_vs_torch'], '8.2f')} {fmt(gbs, '8.0f')} {fmt(r['invar_GFLOP/s'], '8.0f')} "
              f"{fmt(r['loss_rel_diff'], '9.1e')}{status[:60]}")
a = acceptance
print("acceptance (issue 15):")
print(f"  linear path, 4096 x 16384, fraction of copy bandwidth ({fmt(copy_invar, '.0f')} GB/s): "
      f"{fmt(a['linear_path_fraction_of_copy_bandwidth']['value'], '.2f')} (>= 0.70): {'MET' if a['linear_path_fraction_of_copy_bandwidth']['met'] else 'not met'}")
print(f"  MSD 1024 x 16384 speed-up over PyTorch: {fmt(msd, '.1f')} (>= 10): {'MET' if a['msd_speedup_vs_torch_1024_16384']['met'] else 'not met'}")
print(f"  Gram-path metrics, lowest speed-up over PyTorch: {fmt(a['gram_path_speedup_vs_torch']['min'], '.2f')} (>= 1.0): "
      f"{'MET' if a['gram_path_speedup_vs_torch']['met'] else 'not met'}")
print(f"  GPU tests pass: {'MET' if a['gpu_tests_pass']['met'] else 'not met'}; sanitizers 0 errors: "
      f"{'MET' if a['sanitizers_zero_errors']['met'] else 'not met'}; loss values vs PyTorch, max rel diff "
      f"{fmt(a['loss_values_agree_with_torch']['max_rel_diff'], '.1e')}")
print(f"  all met: {a['all_met']}")
print(f"results: {os.path.join(out, 'gpu-check.json')} (+ gpu-check.log, bench_cuda.json, torch_losses.json)")
PYEOF
  cp -f "$work/bench_cuda.json" "$out/bench_cuda.json" 2>/dev/null
  cp -f "$work/torch_losses.json" "$out/torch_losses.json" 2>/dev/null
}

if ((!gpu && !build_only)); then
  assemble
  exit 77
fi

# ---------------------------------------------------------------------------------------------
# 2. Configure against gpu-deps/ only (no Debian -dev package there), and build the CUDA targets.
failed=0
ma_dir="$(find "$deps/lib" -mindepth 3 -maxdepth 3 -type d -path '*/cmake/benchmark' 2>/dev/null | head -n 1)"
if [[ ! -f "$deps/MANIFEST.txt" || -z "$ma_dir" ]]; then
  echo "gpu-check: $deps is missing or incomplete: run 'bash scripts/prepare-gpu-deps.sh' on the Debian machine and carry gpu-deps" |
    tee "$work/configure.log"
  printf '%s\t%s\t%s\t%s\t%s\n' configure 1 0 0 "$work/configure.log" >>"$steps"
  assemble
  exit 1
fi
libdir="$(dirname "$(dirname "$ma_dir")")"  # gpu-deps/lib/<multiarch>
if [[ -z "$nvcc" ]]; then
  echo "gpu-check: no nvcc (PATH, CUDACXX, /usr/local/cuda/bin)" | tee "$work/configure.log"
  printf '%s\t%s\t%s\t%s\t%s\n' configure 1 0 0 "$work/configure.log" >>"$steps"
  assemble
  exit 1
fi
# shellcheck disable=SC2206
extra_args=(${GPU_CHECK_CMAKE_ARGS:-})
run_step configure 150 cmake -S "$root" -B "$build" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CUDA_COMPILER="$nvcc" \
  -DCMAKE_CUDA_ARCHITECTURES="$arch" \
  -DCMAKE_PREFIX_PATH="$deps" \
  -DEigen3_DIR="$deps/share/eigen3/cmake" \
  -Ddoctest_DIR="$deps/lib/cmake/doctest" \
  -Dbenchmark_DIR="$ma_dir" \
  -DZLIB_ROOT="$deps" -DZLIB_INCLUDE_DIR="$deps/include" -DZLIB_LIBRARY="$libdir/libz.so" \
  -DINVAR_CUDA=ON -DINVAR_BUILD_TESTS=ON -DINVAR_TESTS_CUDA_ONLY=ON \
  -DINVAR_BUILD_BENCHMARKS=ON -DINVAR_BENCHMARK_TORCH=OFF \
  -DINVAR_BUILD_APPS=OFF -DINVAR_BUILD_EXAMPLES=OFF -DINVAR_INSTALL=OFF \
  -DCMAKE_POLICY_VERSION_MINIMUM=3.5 --no-warn-unused-cli \
  "${extra_args[@]}" || failed=1

targets=(invar_cuda_metrics invar_cuda_backend_compile invar_cuda_device_ops invar_bench_cuda)
if ((!failed)); then
  # -k 0: one target that fails to compile does not stop the others.
  run_step build 330 cmake --build "$build" --target "${targets[@]}" -j "$jobs" -- -k 0 || failed=1
fi

# Which dependency files the build used: every header and library must come from gpu-deps (or the
# CUDA toolkit and the compiler), none from a Debian -dev package under /usr.
{
  echo "CMakeCache:"
  grep -E '^(Eigen3_DIR|doctest_DIR|benchmark_DIR|ZLIB_INCLUDE_DIR|ZLIB_LIBRARY[A-Z_]*|CMAKE_CUDA_COMPILER|CMAKE_CUDA_ARCHITECTURES|INVAR_CUDA_HAVE_CUDNN|CUDAToolkit_[A-Z_]*DIR)[:=]' \
    "$build/CMakeCache.txt" 2>/dev/null | sed 's/^/  /'
  deps_used="$(ninja -C "$build" -t deps 2>/dev/null)"
  echo "headers read from gpu-deps: $(grep -c "$deps/" <<<"$deps_used")"
  sys="$(grep -E '^ +/usr/(local/)?include/(eigen3/|doctest/|benchmark/|zlib\.h|zconf\.h)' <<<"$deps_used" | sort -u)"
  echo "headers read from /usr/include's Eigen, doctest, benchmark or zlib: $(grep -c . <<<"$sys")"
  [[ -n "$sys" ]] && head -n 20 <<<"$sys"
} >"$work/deps_check.txt" 2>&1

bin_tests="$build/tests/cuda"
bench_bin="$build/benchmarks/cuda/invar_bench_cuda"
tests=(invar_cuda_metrics invar_cuda_backend_compile invar_cuda_device_ops)

# ---------------------------------------------------------------------------------------------
# 3. Build-only: the binaries must skip (77) where there is no GPU (or pass where there is one).
if ((build_only)); then
  for t in "${tests[@]}"; do
    if [[ -x "$bin_tests/$t" ]]; then
      run_step "test_$t" 60 "$bin_tests/$t"
      rc=$?
      ((rc == 0 || rc == 77)) || failed=1
    else
      failed=1
    fi
  done
  if [[ -x "$bench_bin" ]]; then
    run_step bench_cuda_skip_check 60 "$bench_bin" --benchmark_filter=copy/256MiB --benchmark_min_time=0.01
    rc=$?
    ((rc == 0 || rc == 77)) || failed=1
  else
    failed=1
  fi
  run_step torch_losses_compile 30 env PYTHONPYCACHEPREFIX="$work/pycache" python3 -m py_compile \
    "$root/benchmarks/cuda/torch_losses.py" || failed=1
  assemble
  if ((failed)); then echo "gpu-check: build-only: FAILED"; else echo "gpu-check: build-only: done"; fi
  exit "$failed"
fi

# ---------------------------------------------------------------------------------------------
# 4. The GPU tests, then the benchmarks (GPU otherwise idle), then the sanitizers in parallel.
for t in "${tests[@]}"; do
  if [[ -x "$bin_tests/$t" ]]; then
    run_step "test_$t" 120 "$bin_tests/$t" || failed=1
  else
    echo "missing: $bin_tests/$t (build failed)" >"$work/test_$t.log"
    printf '%s\t%s\t%s\t%s\t%s\n' "test_$t" 127 0 0 "$work/test_$t.log" >>"$steps"
    failed=1
  fi
done

if [[ -x "$bench_bin" ]]; then
  run_step bench_cuda 150 "$bench_bin" --benchmark_min_time=0.05 --benchmark_counters_tabular=true \
    --benchmark_out="$work/bench_cuda.json" --benchmark_out_format=json || failed=1
else
  failed=1
fi
if ((torch)); then
  run_step torch_losses 150 env PYTHONUNBUFFERED=1 python3 "$root/benchmarks/cuda/torch_losses.py" \
    --out "$work/torch_losses.json" || failed=1
fi

if ((sanitizers)); then
  if [[ -z "$sanitizer" ]]; then
    echo "gpu-check: compute-sanitizer not found: no sanitizer runs"
    failed=1
  else
    # Six runs at once (each mostly host-side instrumentation work); each with what the budget has left.
    left=$((budget - $(elapsed) - 15))
    pids=()
    for tool in memcheck racecheck; do
      for t in "${tests[@]}"; do
        [[ -x "$bin_tests/$t" ]] || continue
        run_step "${tool}_$t" "$left" env OMP_NUM_THREADS=2 INVAR_CUDA_NO_CACHING=1 "$sanitizer" --tool "$tool" --error-exitcode 99 \
          "$bin_tests/$t" &
        pids+=($!)
      done
    done
    for p in "${pids[@]}"; do wait "$p" || failed=1; done
  fi
fi

assemble
exit "$failed"
