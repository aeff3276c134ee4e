"""Measure this machine's FMA throughput and memory bandwidth.

The ratios to peak that ``bench/compare.py`` prints use these numbers, not a datasheet.
What each number was measured with is stated in the result (``*_method``):

* ``fma_gflops``: float32 FMA throughput at the requested thread count, from
  ``bench/peak_fma.cpp`` (compiled here on first use with the system C++ compiler into
  ``bench/results/.build/``, loaded with ctypes): n threads each run 16 independent
  register-resident chains of the widest vector FMA the CPU has (AVX-512 / AVX2 / SSE).
  Best of several runs. This is the arithmetic peak that %peak refers to.
* ``gemm_gflops``: the best achieved rate of a 2048 x 2048 float32 ``torch.matmul``
  at that thread count, a *measured GEMM rate* of a vendor library for comparison.
  It can be well below the FMA peak: e.g. MKL runs an AVX2 path on AMD CPUs.
* ``peak_gflops``: ``fma_gflops`` where the helper could be built, else ``gemm_gflops``
  (``peak_method`` says which).
* ``bandwidth_gbs``: STREAM-style memory bandwidth measured by our own kernels in
  ``bench/peak_stream.cpp`` (compiled and loaded like the FMA helper): copy (``c = a``) and triad
  (``a = b + s c``) over arrays of 256 MiB each at the requested thread count, bytes counted as
  STREAM counts them; the better of the two (``stream_copy_gbs``, ``stream_triad_gbs``). The
  ``numpy.copyto`` (one thread) and ``torch`` ``copy_`` rates of a 256 MiB array are reported beside
  it (``numpy_copy_gbs``, ``torch_copy_gbs``), and are the fallback where the helper cannot be built.

Usage::

    python bench/peak.py                 # threads 1,2
    python bench/peak.py --threads 1,2,4 --json peak.json

``measure_peak(threads)`` is what compare.py uses; results are cached per process.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
FMA_SOURCE = BENCH_DIR / "peak_fma.cpp"
STREAM_SOURCE = BENCH_DIR / "peak_stream.cpp"
BUILD_DIR = BENCH_DIR / "results" / ".build"  # bench/results/ is git-ignored

_CACHE: dict = {}
_FMA_LIB = None
_FMA_ERROR = None
_STREAM_LIB = None
_STREAM_ERROR = None


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, or platform's guess."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _best_time(fn, reps: int) -> float:
    best = float("inf")
    for _ in range(max(reps, 1)):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


# ---------------------------------------------------------------------------------------------------------
# FMA throughput (C++ helper)


def _build_helper(source: Path, name: str, opt: str = "-O2") -> ctypes.CDLL:
    """Compile a bench/*.cpp helper into bench/results/.build/<name>.so (again when the source changed)."""
    cxx = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
    if not cxx:
        raise RuntimeError("no C++ compiler found (set CXX)")
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    lib = BUILD_DIR / f"{name}.so"
    if not lib.exists() or lib.stat().st_mtime < source.stat().st_mtime:
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=BUILD_DIR)
        os.close(fd)
        cmd = [cxx, opt, "-std=c++17", "-shared", "-fPIC", "-pthread", str(source), "-o", tmp]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            os.unlink(tmp)
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
        os.replace(tmp, lib)  # atomic: concurrent runs never load a half-written file
    return ctypes.CDLL(str(lib))


def _load_fma_helper():
    """Compile bench/peak_fma.cpp (once, when it changed) and load it; None with _FMA_ERROR set on failure."""
    global _FMA_LIB, _FMA_ERROR
    if _FMA_LIB is not None or _FMA_ERROR is not None:
        return _FMA_LIB
    try:
        if platform.machine().lower() not in ("x86_64", "amd64"):
            raise RuntimeError(f"the FMA helper is x86-only (this is {platform.machine()})")
        dll = _build_helper(FMA_SOURCE, "peak_fma")
        dll.fl_peak_fma_seconds.restype = ctypes.c_double
        dll.fl_peak_fma_seconds.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int]
        dll.fl_peak_isa.restype = ctypes.c_int
        dll.fl_peak_accumulators.restype = ctypes.c_int
        _FMA_LIB = dll
    except Exception as e:
        _FMA_ERROR = f"{type(e).__name__}: {e}"
    return _FMA_LIB


def _load_stream_helper():
    """Compile bench/peak_stream.cpp (once, when it changed) and load it; None with _STREAM_ERROR set."""
    global _STREAM_LIB, _STREAM_ERROR
    if _STREAM_LIB is not None or _STREAM_ERROR is not None:
        return _STREAM_LIB
    try:
        dll = _build_helper(STREAM_SOURCE, "peak_stream", "-O3")  # -O3: vectorized loops
        dll.fl_stream_seconds.restype = ctypes.c_double
        dll.fl_stream_seconds.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int, ctypes.c_int]
        dll.fl_stream_bytes_per_element.restype = ctypes.c_int
        dll.fl_stream_bytes_per_element.argtypes = [ctypes.c_int]
        _STREAM_LIB = dll
    except Exception as e:
        _STREAM_ERROR = f"{type(e).__name__}: {e}"
    return _STREAM_LIB


def _fma_peak(threads: int, target_seconds: float, reps: int) -> dict:
    dll = _load_fma_helper()
    if dll is None:
        return {"fma_gflops": None, "fma_method": f"unavailable: {_FMA_ERROR}"}
    isa = dll.fl_peak_isa()
    lanes, acc = isa // 32, dll.fl_peak_accumulators()
    # Calibrate the iteration count on one thread so that one run takes about target_seconds.
    iters = 1 << 16
    while True:
        dt = dll.fl_peak_fma_seconds(1, iters, 0)
        if dt > 0.02 or iters > (1 << 40):
            break
        iters *= 4
    iters = max(1, int(iters * target_seconds / dt))
    dll.fl_peak_fma_seconds(threads, iters // 4 or 1, 0)  # warm-up: clocks, thread start
    best = min(dll.fl_peak_fma_seconds(threads, iters, 0) for _ in range(max(reps, 1)))
    flops = 2.0 * lanes * acc * iters * threads
    return {
        "fma_gflops": flops / best / 1e9,
        "fma_isa": {512: "avx512f", 256: "avx2+fma", 128: "sse (mul+add)"}[isa],
        "fma_method": (
            f"bench/peak_fma.cpp: {threads} thread(s) x {acc} independent {isa}-bit FMA chains in registers, "
            f"{iters} iterations each, best of {reps}"
        ),
    }


# ---------------------------------------------------------------------------------------------------------
# GEMM rate (torch) and bandwidth


def _gemm_rate(threads: int, size: int, reps: int) -> dict:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a test dependency
        return {"gemm_gflops": None, "gemm_method": "unavailable: torch not importable"}
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        g = torch.Generator().manual_seed(0)
        a = torch.rand(size, size, generator=g, dtype=torch.float32)
        b = torch.rand(size, size, generator=g, dtype=torch.float32)
        c = torch.empty(size, size, dtype=torch.float32)
        torch.matmul(a, b, out=c)  # warm-up: thread pool, page faults, kernel selection
        best = _best_time(lambda: torch.matmul(a, b, out=c), reps)
    finally:
        torch.set_num_threads(old)
    return {
        "gemm_gflops": 2.0 * size ** 3 / best / 1e9,
        "gemm_method": (f"torch.matmul {size}x{size} float32 at {threads} thread(s), best of {reps} "
                        f"after warm-up, torch {torch.__version__}"),
    }


def _stream(threads: int, mib: int, reps: int) -> dict:
    """STREAM copy and triad rates (GB/s) of bench/peak_stream.cpp at `threads` threads."""
    dll = _load_stream_helper()
    if dll is None:
        return {"stream_copy_gbs": None, "stream_triad_gbs": None,
                "stream_method": f"unavailable: {_STREAM_ERROR}"}
    n = mib * (1 << 20) // 4
    out = {}
    for kernel, name in ((0, "copy"), (1, "triad")):
        dt = dll.fl_stream_seconds(threads, n, kernel, reps)
        out[f"stream_{name}_gbs"] = n * dll.fl_stream_bytes_per_element(kernel) / dt / 1e9 if dt > 0 else None
    out["stream_method"] = (f"bench/peak_stream.cpp: STREAM copy (c=a, 8 B/element) and triad (a=b+s*c, "
                            f"12 B/element) on {mib} MiB float32 arrays, {threads} thread(s), best of {reps}")
    return out


def _bandwidth(threads: int, mib: int, reps: int) -> dict:
    n = mib * (1 << 20) // 4
    src = np.ones(n, dtype=np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # fault in the destination pages
    nbytes = 2.0 * src.nbytes  # read + write
    out = {"numpy_copy_gbs": nbytes / _best_time(lambda: np.copyto(dst, src), reps) / 1e9,
           "torch_copy_gbs": None}
    del src, dst
    try:
        import torch
    except ImportError:  # pragma: no cover
        torch = None
    if torch is not None:
        old = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            ts = torch.ones(n, dtype=torch.float32)
            td = torch.empty_like(ts)
            td.copy_(ts)
            out["torch_copy_gbs"] = nbytes / _best_time(lambda: td.copy_(ts), reps) / 1e9
            del ts, td
        finally:
            torch.set_num_threads(old)
    out.update(_stream(threads, mib, reps))
    stream = [v for v in (out["stream_copy_gbs"], out["stream_triad_gbs"]) if v]
    copies = f"numpy.copyto (1 thread) {out['numpy_copy_gbs']:.1f} GB/s" + (
        f", torch copy_ ({threads} thread(s)) {out['torch_copy_gbs']:.1f} GB/s" if out["torch_copy_gbs"] else "")
    if stream:
        out["bandwidth_gbs"] = max(stream)
        out["bandwidth_method"] = (f"best of STREAM copy {out['stream_copy_gbs']:.1f} / triad "
                                   f"{out['stream_triad_gbs']:.1f} GB/s [{out['stream_method']}]; for comparison "
                                   f"{copies} ({mib} MiB, read+write bytes)")
    else:
        out["bandwidth_gbs"] = max(v for v in (out["numpy_copy_gbs"], out["torch_copy_gbs"]) if v is not None)
        out["bandwidth_method"] = (f"STREAM helper {out['stream_method']}; fallback: best of {copies} of a "
                                   f"{mib} MiB float32 array, best of {reps}, counting read+write bytes")
    return out


def measure_peak(threads: int, gemm_size: int = 2048, reps: int = 5, copy_mib: int = 256,
                 fma_seconds: float = 0.1) -> dict:
    """FMA throughput and GEMM rate (GFLOP/s) and copy bandwidth (GB/s) at ``threads`` threads.

    ``peak_gflops`` is the FMA throughput, or the GEMM rate where the C++ helper could not be built.
    Cached per process for each argument set, so calling it for every case is free.
    """
    key = (int(threads), gemm_size, reps, copy_mib, fma_seconds)
    if key not in _CACHE:
        t = int(threads)
        res = {"threads": t, "cpu": cpu_model(), "logical_cpus": os.cpu_count()}
        res.update(_fma_peak(t, fma_seconds, reps))
        res.update(_gemm_rate(t, gemm_size, reps))
        res.update(_bandwidth(t, copy_mib, reps))
        if res.get("fma_gflops"):
            res["peak_gflops"], res["peak_method"] = res["fma_gflops"], "FMA throughput: " + res["fma_method"]
        else:
            res["peak_gflops"] = res.get("gemm_gflops")
            res["peak_method"] = ("measured GEMM rate (FMA helper " + res["fma_method"] + "): "
                                  + res["gemm_method"])
        _CACHE[key] = res
    return dict(_CACHE[key])


def quick_peak(threads: int) -> dict:
    """A cheaper, noisier measurement for smoke runs."""
    return measure_peak(threads, gemm_size=1024, reps=2, copy_mib=64, fma_seconds=0.02)


def describe(r: dict) -> str:
    def f(v, unit):
        return f"{v:.1f} {unit}" if v else "n/a"

    return (f"threads={r['threads']}: FMA peak {f(r.get('fma_gflops'), 'GFLOP/s')} [{r['fma_method']}]\n"
            f"           torch GEMM {f(r.get('gemm_gflops'), 'GFLOP/s')} [{r['gemm_method']}]\n"
            f"           bandwidth {f(r.get('bandwidth_gbs'), 'GB/s')} [{r['bandwidth_method']}]")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--gemm-size", type=int, default=2048)
    ap.add_argument("--copy-mib", type=int, default=256)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = ap.parse_args(argv)
    print(f"CPU: {cpu_model()} ({os.cpu_count()} logical CPUs)")
    results = []
    for t in [int(s) for s in args.threads.split(",") if s.strip()]:
        r = measure_peak(t, args.gemm_size, args.reps, args.copy_mib)
        results.append(r)
        print(describe(r))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
