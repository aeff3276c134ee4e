"""fastlayers vs PyTorch (CPU), side by side, on the public shape tables.

Reads ``bench/layers.json`` (``--table`` overrides), runs every op
family that fastlayers implements with both libraries in this process on the same
float32 data, and prints one table per (mode, threads): our time, torch's time, the
ratio torch/ours (> 1 means we are faster), our rate (GFLOP/s for convolutions, GB/s
of minimal memory traffic otherwise) and its fraction of this machine's measured
peak (bench/peak.py: FMA throughput at that thread count, or copy bandwidth), the
kernel implementation chosen, and the largest absolute
difference from torch's result. Everything is also written as JSON.

Method: for each case and mode, both sides are warmed up, then timed ALTERNATING
(ours, torch, ours, torch, ...) for ``--reps`` pairs or until ``--max-seconds``
is spent (at least one pair); the median is reported. Thread counts are fixed with
``fastlayers.set_num_threads`` and ``torch.set_num_threads``. Gradients are reset to
None before every forward+backward call on both sides, so neither accumulates.

Modes:
  fwd      forward alone, under no_grad on both sides (inputs do not require grad)
  fwd+bwd  forward, then backward of a fixed random grad_output, computing the
           gradients of every differentiable input (conv2d: input, weight, bias)

Examples:
  python bench/compare.py                          # everything, threads 1 and 2
  python bench/compare.py --threads 2 --reps 5
  python bench/compare.py --cases resnet_64,pointwise --modes fwd
  python bench/compare.py --quick                  # smoke run: tiny, 1 rep
  python bench/compare.py --device cuda            # on the GPU vs torch CUDA (bench/cuda_bench.py)

Adding an op family: write a builder that returns a ``Case`` (most families are one
``functional_case(...)`` call, since fastlayers.nn.functional mirrors
torch.nn.functional) and decorate it with ``@family("table_key", "functional_name")``.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import gc
import json
import math
import os
import platform
import statistics
import sys
import traceback
import warnings
from pathlib import Path
from typing import Dict, Tuple

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
# The shape table ships in the repository; tests/test_bench_smoke.py keeps it equal to ../shared/bench/layers.json.
DEFAULT_TABLE = BENCH_DIR / "layers.json"
DEFAULT_JSON = BENCH_DIR / "results" / "compare.json"
MODES = ("fwd", "fwd+bwd")

sys.path.insert(0, str(BENCH_DIR))
import end_to_end  # noqa: E402  (bench/end_to_end.py)
import peak as peakmod  # noqa: E402  (bench/peak.py)
from harness import (FAMILIES, Case, Env, family, functional_case, max_abs_diffs, randn,  # noqa: E402
                     time_alternating)




# ---------------------------------------------------------------------------------------------------------
# Families. Each builder takes (env, spec, api) with api "user" or "_C".


def conv_out(size, k, stride, pad, dil):
    return (size + 2 * pad - dil * (k - 1) - 1) // stride + 1


def conv_descriptor(N, C, H, W, K, R, S, st, pad, dil, groups):
    """The same string as the C++ Conv2dParams::str() for square stride/padding/dilation."""
    d = f"mb{N}ic{C}ih{H}" + (f"iw{W}" if W != H else "") + f"oc{K}kh{R}" + (f"kw{S}" if S != R else "")
    return d + f"sh{st}ph{pad}dh{dil}g{groups}"


@family("conv2d", "conv2d", c_names=("conv2d_forward", "conv2d_backward"))
def build_conv2d(env: Env, spec: dict, api: str) -> Case:
    N, C, H, W, K, R, S = (spec[k] for k in ("N", "C", "H", "W", "K", "R", "S"))
    st, pad, dil, groups = spec["stride"], spec["padding"], spec["dilation"], spec["groups"]
    P, Q = conv_out(H, R, st, pad, dil), conv_out(W, S, st, pad, dil)
    rng = np.random.default_rng(1234)
    x = randn(rng, (N, C, H, W))
    w = randn(rng, (K, C // groups, R, S), 1.0 / math.sqrt(C // groups * R * S))
    b = randn(rng, (K,))
    flops = 2.0 * N * K * P * Q * (C // groups) * R * S
    impl, desc = "?", conv_descriptor(N, C, H, W, K, R, S, st, pad, dil, groups)
    if env.C is not None and hasattr(env.C, "conv2d_impl"):
        s = env.C.conv2d_impl(x, w, (st, st), (pad, pad), (dil, dil), groups)
        impl, _, desc = s.rpartition(" ") if " " in s else (s, "", desc)

    def call(F, a):
        return F.conv2d(a["input"], a["weight"], a["bias"], stride=st, padding=pad, dilation=dil, groups=groups)

    case = functional_case(env, "conv2d", spec, descriptor=desc, impl=impl, flops=flops, call=call,
                           inputs=[("input", x, True, True), ("weight", w, True, True), ("bias", b, True, True)],
                           user=(api == "user"))
    if api == "_C":  # fallback: the raw kernels, no autograd
        Cm = env.C
        s2, p2, d2 = (st, st), (pad, pad), (dil, dil)
        g = randn(np.random.default_rng(4321), (N, K, P, Q))

        def c_fwd():
            return {"output": Cm.conv2d_forward(x, w, b, s2, p2, d2, groups)}

        def c_fb():
            Cm.conv2d_forward(x, w, b, s2, p2, d2, groups)
            gi, gw, gb = Cm.conv2d_backward(g, x, w, s2, p2, d2, groups, (True, True, True))
            return {"grad_input": gi, "grad_weight": gw, "grad_bias": gb}

        case.ours = {"fwd": c_fwd, "fwd+bwd": c_fb}
        case.api = "_C"
    return case


@family("conv_transpose2d", "conv_transpose2d")
def build_conv_transpose2d(env: Env, spec: dict, api: str) -> Case:
    N, C, H, W, K, R, S = (spec[k] for k in ("N", "C", "H", "W", "K", "R", "S"))
    st, pad, opad = spec["stride"], spec["padding"], spec.get("output_padding", 0)
    dil, groups = spec.get("dilation", 1), spec.get("groups", 1)
    rng = np.random.default_rng(1234)
    x = randn(rng, (N, C, H, W))
    w = randn(rng, (C, K // groups, R, S), 1.0 / math.sqrt(C // groups * R * S))
    b = randn(rng, (K,))
    flops = 2.0 * N * C * H * W * (K // groups) * R * S  # every input pixel scatters into K/g x R x S outputs
    desc = f"mb{N}ic{C}ih{H}oc{K}kh{R}sh{st}ph{pad}oph{opad}dh{dil}g{groups}"

    def call(F, a):
        return F.conv_transpose2d(a["input"], a["weight"], a["bias"], stride=st, padding=pad,
                                  output_padding=opad, groups=groups, dilation=dil)

    return functional_case(env, "conv_transpose2d", spec, descriptor=desc, flops=flops, call=call,
                           inputs=[("input", x, True, True), ("weight", w, True, True), ("bias", b, True, True)])


def _pool_family(key):
    @family(key, key)
    def build(env: Env, spec: dict, api: str) -> Case:
        N, C, H, W = (spec[k] for k in ("N", "C", "H", "W"))
        x = randn(np.random.default_rng(1234), (N, C, H, W))
        if key == "adaptive_avg_pool2d":
            osz = spec["output_size"]
            desc = f"mb{N}ic{C}ih{H}os{osz}"

            def call(F, a):
                return F.adaptive_avg_pool2d(a["input"], osz)
        else:
            k, st, pad = spec["kernel"], spec["stride"], spec["padding"]
            desc = f"mb{N}ic{C}ih{H}kh{k}sh{st}ph{pad}"

            def call(F, a):
                return getattr(F, key)(a["input"], kernel_size=k, stride=st, padding=pad)

        return functional_case(env, key, spec, descriptor=desc, call=call, inputs=[("input", x, True, True)])

    return build


for _key in ("max_pool2d", "avg_pool2d", "adaptive_avg_pool2d"):
    _pool_family(_key)


@family("batch_norm")
def build_batch_norm(env: Env, spec: dict, api: str) -> Case:
    N, C, H, W = (spec[k] for k in ("N", "C", "H", "W"))
    rng = np.random.default_rng(1234)
    x, gamma, beta = randn(rng, (N, C, H, W)), randn(rng, (C,)), randn(rng, (C,))
    mean, var = np.zeros(C, np.float32), np.ones(C, np.float32)
    training = bool(spec.get("training", True))

    def call(F, a):
        return F.batch_norm(a["input"], a["running_mean"], a["running_var"], a["weight"], a["bias"],
                            training=training)

    return functional_case(env, "batch_norm", spec, descriptor=f"mb{N}ic{C}ih{H}t{int(training)}", call=call,
                           inputs=[("input", x, True, True), ("running_mean", mean, False, True),
                                   ("running_var", var, False, True), ("weight", gamma, True, True),
                                   ("bias", beta, True, True)])


@family("group_norm")
def build_group_norm(env: Env, spec: dict, api: str) -> Case:
    N, C, H, W, G = (spec[k] for k in ("N", "C", "H", "W", "groups"))
    rng = np.random.default_rng(1234)
    x, gamma, beta = randn(rng, (N, C, H, W)), randn(rng, (C,)), randn(rng, (C,))

    def call(F, a):
        return F.group_norm(a["input"], G, a["weight"], a["bias"])

    return functional_case(env, "group_norm", spec, descriptor=f"mb{N}ic{C}ih{H}g{G}", call=call,
                           inputs=[("input", x, True, True), ("weight", gamma, True, True),
                                   ("bias", beta, True, True)])


@family("layer_norm")
def build_layer_norm(env: Env, spec: dict, api: str) -> Case:
    N, C, H, W = (spec[k] for k in ("N", "C", "H", "W"))
    rng = np.random.default_rng(1234)
    x, gamma, beta = randn(rng, (N, C, H, W)), randn(rng, (C, H, W)), randn(rng, (C, H, W))

    def call(F, a):
        return F.layer_norm(a["input"], (C, H, W), a["weight"], a["bias"])

    return functional_case(env, "layer_norm", spec, descriptor=f"mb{N}ic{C}ih{H}norm_chw", call=call,
                           inputs=[("input", x, True, True), ("weight", gamma, True, True),
                                   ("bias", beta, True, True)])


@family("instance_norm")
def build_instance_norm(env: Env, spec: dict, api: str) -> Case:
    N, C, H, W = (spec[k] for k in ("N", "C", "H", "W"))
    rng = np.random.default_rng(1234)
    x, gamma, beta = randn(rng, (N, C, H, W)), randn(rng, (C,)), randn(rng, (C,))

    def call(F, a):
        return F.instance_norm(a["input"], weight=a["weight"], bias=a["bias"])

    return functional_case(env, "instance_norm", spec, descriptor=f"mb{N}ic{C}ih{H}", call=call,
                           inputs=[("input", x, True, True), ("weight", gamma, True, True),
                                   ("bias", beta, True, True)])


@family("activation", functional=lambda spec: spec["name"])
def build_activation(env: Env, spec: dict, api: str) -> Case:
    name, n = spec["name"], spec["numel"]
    x = randn(np.random.default_rng(1234), (n,))
    kwargs = {k: v for k, v in spec.items() if k not in ("name", "numel")}  # e.g. negative_slope

    def call(F, a):
        return getattr(F, name)(a["input"], **kwargs)

    return functional_case(env, "activation", spec, descriptor=f"{name}_n{n}", call=call,
                           inputs=[("input", x, True, True)])


@family("softmax", functional=lambda spec: spec.get("fn") or spec["name"].rsplit("_", 1)[0])  # "log_softmax_4096x1000"
def build_softmax(env: Env, spec: dict, api: str) -> Case:
    fn = FAMILIES["softmax"].functional(spec)
    rows, cols = spec["rows"], spec["cols"]
    x = randn(np.random.default_rng(1234), (rows, cols))

    def call(F, a):
        return getattr(F, fn)(a["input"], dim=1)

    return functional_case(env, "softmax", spec, descriptor=f"{fn}_{rows}x{cols}", call=call,
                           inputs=[("input", x, True, True)])


# ---- losses ----
# Not in the shared table yet: bench/loss.json holds the cases (python bench/compare.py --table bench/loss.json).
@family("cross_entropy")
def build_cross_entropy(env: Env, spec: dict, api: str) -> Case:
    rows, cols = spec["rows"], spec["cols"]
    x = randn(np.random.default_rng(1234), (rows, cols))
    target = np.random.default_rng(99).integers(0, cols, size=rows).astype(np.int64)
    targets = {"torch": env.torch.from_numpy(target), "ours": env.tensor(target)}  # converted once, not per call
    smoothing = spec.get("label_smoothing", 0.0)

    def call(F, a):
        t = targets["torch" if F is env.TF else "ours"]
        return F.cross_entropy(a["input"], t, label_smoothing=smoothing)

    return functional_case(env, "cross_entropy", spec, descriptor=f"ce_mb{rows}c{cols}_ls{smoothing}", call=call,
                           inputs=[("input", x, True, True)])


def plan(env: Env, table: dict, ops, names, shrink: bool, quick: bool, api_request: str):
    """(family, spec, api) to run, and (family, case or None, reason) skipped."""
    runs, skipped = [], []
    for key, cases in table.items():
        if not isinstance(cases, list):
            continue  # "about" and other notes
        if ops and key not in ops:
            skipped.append((key, None, "not selected (--ops)"))
            continue
        fam = FAMILIES.get(key)
        if fam is None:
            skipped.append((key, None, "no runner in bench/compare.py yet"))
            continue
        chosen = [c for c in cases if not names or c.get("name") in names]
        if not chosen:
            skipped.append((key, None, "no case selected (--cases)"))
            continue
        fam_runs, missing, no_c = [], [], False
        for spec in chosen:
            fname = fam.functional(spec)
            if api_request in ("auto", "user") and env.has_user(fname):
                api = "user"
            elif api_request in ("auto", "_C") and env.has_c(fam.c_names):
                api = "_C"
            else:
                api = None
                no_c = no_c or not fam.c_names
                missing.append((spec.get("name"), fname))
            if api is not None:
                fam_runs.append((fam, fam.shrink(spec) if shrink else dict(spec), api))
        if quick and not names and fam_runs:
            fam_runs = fam_runs[:1]  # the first (the tables list a small case first)

        def why(fnames):
            if api_request == "_C":
                return "no fastlayers._C path for this family in compare.py" if not fam.c_names else \
                    f"fastlayers._C lacks {', '.join(fam.c_names)}"
            head = ("user-level API unavailable" if env.F is None else "not in fastlayers.nn.functional yet: "
                    + ", ".join(sorted(set(fnames))))
            return head + (" (no _C fallback)" if api_request == "auto" and no_c else "")

        if not fam_runs:
            skipped.append((key, None, why([f for _, f in missing])))
        else:
            skipped.extend((key, c, why([f])) for c, f in missing)
            runs.extend(fam_runs)
    return runs, skipped


# ---------------------------------------------------------------------------------------------------------
# Output


COLS = [("case", 18, "<"), ("descriptor", 34, "<"), ("impl", 14, "<"), ("ours ms", 10, ">"),
        ("torch ms", 10, ">"), ("torch/ours", 10, ">"), ("ours rate", 16, ">"), ("%peak", 7, ">"),
        ("max|diff|", 10, ">"), ("reps", 5, ">")]


def fmt_row(values) -> str:
    return "  ".join(f"{str(v):{al}{w}}" for v, (_, w, al) in zip(values, COLS))


def header_line() -> str:
    return fmt_row([c for c, _, _ in COLS])


def fmt_rate(amount, unit, seconds):
    if not seconds or seconds <= 0:
        return None, ""
    if unit == "flop":
        return amount / seconds / 1e9, "GFLOP/s"
    return amount / seconds / 1e9, "GB/s"


def geomean(values):
    vals = [v for v in values if v and v > 0 and math.isfinite(v)]
    return math.exp(sum(math.log(v) for v in vals) / len(vals)) if vals else None


def parse_list(s):
    return [x.strip() for x in s.split(",") if x.strip()] if s else []


def main(argv=None) -> int:
    # ---- torch-dropin ----
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--torch-dropin" in argv:  # whole models through fastlayers.torch.replace: bench/torch_dropin.py
        import torch_dropin
        return torch_dropin.main([a for a in argv if a != "--torch-dropin"])
    # ---- end torch-dropin ----
    # ---- cuda: --device cuda hands the whole run to bench/cuda_bench.py (GPU, CuPy/torch CUDA vs cuDNN) ----
    import cuda_bench  # noqa: E402  (bench/ is on sys.path)
    if cuda_bench.wants_cuda(argv):
        return cuda_bench.main(argv)
    # ---- end cuda ----
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--table", default=str(DEFAULT_TABLE), help=f"shape table (default {DEFAULT_TABLE})")
    ap.add_argument("--json", default=str(DEFAULT_JSON), help="write results here (default %(default)s)")
    ap.add_argument("--ops", default="", help="comma-separated op families (table keys), e.g. conv2d")
    ap.add_argument("--cases", default="", help="comma-separated case names, e.g. lenet_conv1,resnet_64")
    ap.add_argument("--modes", default=",".join(MODES), help="fwd, fwd+bwd or both (default both)")
    ap.add_argument("--threads", default=None, help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--reps", type=int, default=None, help="timed (ours, torch) pairs per case (default 20)")
    ap.add_argument("--warmup", type=int, default=None, help="warm-up pairs per case (default 2)")
    ap.add_argument("--max-seconds", type=float, default=30.0,
                    help="time cap per case and mode for the timed pairs (default 30; at least one pair runs)")
    ap.add_argument("--api", choices=("auto", "user", "c"), default="auto",
                    help="auto: user-level API where it exists, else fastlayers._C; user / c: force one")
    ap.add_argument("--shrink", action="store_true", help="cut every case to a batch of 2 (smoke use)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: the first case of each family (unless --cases), --shrink, 1 rep, "
                         "1 warm-up, 1 thread (unless given), a cheaper peak measurement")
    ap.add_argument("--no-peak", action="store_true", help="skip the peak measurement (no %%peak column)")
    args = ap.parse_args(argv)

    reps = args.reps if args.reps is not None else (1 if args.quick else 20)
    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 2)
    threads = [int(t) for t in parse_list(args.threads or ("1" if args.quick else "1,2"))]
    modes = parse_list(args.modes)
    for m in modes:
        if m not in MODES:
            ap.error(f"unknown mode {m!r}; expected one of {', '.join(MODES)}")
    shrink = args.shrink or args.quick
    api_request = {"auto": "auto", "user": "user", "c": "_C"}[args.api]

    table_path = Path(args.table)
    if not table_path.is_file():
        print(f"error: shape table {table_path} not found (use --table PATH)", file=sys.stderr)
        return 2
    with open(table_path) as f:
        table = json.load(f)
    names = set(parse_list(args.cases))
    ops = set(parse_list(args.ops))

    warnings.filterwarnings("ignore", category=UserWarning)
    env = Env(args.api)
    torch = env.torch
    runs, skipped = plan(env, table, ops, names, shrink, args.quick, api_request)
    if names:
        found = {spec.get("name") for _, spec, _ in runs} | {c for _, c, _ in skipped if c}
        for n in sorted(names - found):
            skipped.append(("?", n, "no case of that name in the table (or its family is skipped)"))

    # ---- header --------------------------------------------------------------------------------------
    print("fastlayers vs PyTorch (CPU, float32)")
    print(f"  fastlayers {getattr(env.fl, '__version__', '?')} from {Path(env.fl.__file__).parent}; "
          f"SIMD level {env.simd_level()}")
    print(f"  torch {torch.__version__}; numpy {np.__version__}; python {platform.python_version()}")
    print(f"  CPU {peakmod.cpu_model()} ({os.cpu_count()} logical CPUs); table {table_path}")
    apis = sorted({api for _, _, api in runs})
    if "_C" in apis:
        why = env.user_error or "the user-level function is missing for some families"
        if api_request == "_C":
            why = "--api c"
        print(f"  API: FALLBACK to fastlayers._C (raw kernels, no autograd) for "
              f"{', '.join(sorted({f.key for f, _, a in runs if a == '_C'}))}: {why}")
    if "user" in apis:
        print("  API: user-level fastlayers.nn.functional + autograd (Tensor.backward) for "
              f"{', '.join(sorted({f.key for f, _, a in runs if a == 'user'}))}")
    print(f"  method: alternating ours/torch after {warmup} warm-up pair(s), median of up to {reps} pairs "
          f"(cap {args.max_seconds:g} s per case and mode); fwd under no_grad; fwd+bwd grads reset each call"
          + ("; cases SHRUNK to batch <= 2" if shrink else ""))
    if env.user_error and "_C" not in apis:
        print(f"  user-level API unavailable: {env.user_error}")
    if skipped:
        print("  skipped:")
        for key, case, reason in skipped:
            print(f"    {key}{'/' + case if case else ''}: {reason}")

    peaks = {}
    if not args.no_peak:
        for t in threads:
            peaks[t] = peakmod.quick_peak(t) if args.quick else peakmod.measure_peak(t)
            p = peaks[t]
            gflops = f"{p['peak_gflops']:.1f} GFLOP/s" if p.get("peak_gflops") else "n/a"
            gemm = f"{p['gemm_gflops']:.1f} GFLOP/s" if p.get("gemm_gflops") else "n/a"
            print(f"  peak at {t} thread(s): {gflops} [{p['peak_method']}]\n"
                  f"      (torch GEMM reaches {gemm} [{p['gemm_method']}])\n"
                  f"      bandwidth {p['bandwidth_gbs']:.1f} GB/s [{p['bandwidth_method']}]")
    print("  columns: torch/ours > 1 means fastlayers is faster; ours rate is GFLOP/s (conv: 2*N*K*P*Q*(C/g)*R*S "
          "per pass, fwd+bwd 3x) or GB/s of minimal traffic; %peak: of the measured FMA peak (GFLOP/s) or "
          "bandwidth (GB/s) above; "
          "max|diff| vs torch ('!' = beyond tolerance)")

    # ---- run ------------------------------------------------------------------------------------------
    results, summary, errors, mismatches = [], [], [], []
    checked: Dict[Tuple[str, str, str], Tuple[dict, bool]] = {}
    meta = {
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "argv": sys.argv[1:] if argv is None else list(argv),
        "table": str(table_path),
        "fastlayers_version": getattr(env.fl, "__version__", None),
        "fastlayers_path": str(Path(env.fl.__file__).parent),
        "simd_level": env.simd_level(),
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "cpu": peakmod.cpu_model(),
        "logical_cpus": os.cpu_count(),
        "api_request": args.api,
        "user_api_error": env.user_error,
        "modes": modes, "threads": threads, "reps": reps, "warmup": warmup,
        "max_seconds": args.max_seconds, "shrink": shrink, "quick": args.quick,
        "peak": {str(t): p for t, p in peaks.items()},
    }

    def write_json():
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        doc = {"meta": meta, "skipped": [{"family": k, "case": c, "reason": r} for k, c, r in skipped],
               "results": results, "summary": summary, "errors": errors}
        tmp = out.with_suffix(out.suffix + ".tmp")
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=2, allow_nan=False, default=str)
        os.replace(tmp, out)

    try:
        for t in threads:
            actual = env.set_threads(t)
            for mode in modes:
                print(f"\n== {mode}, {t} thread(s)" + (f" (fastlayers reports {actual})" if actual != t else "")
                      + " ==")
                print(header_line())
                ratios = []
                for fam, spec, api in runs:
                    gc.collect()
                    row = {"family": fam.key, "case": spec["name"], "mode": mode, "threads": t, "api": api,
                           "spec": spec}
                    try:
                        case = fam.build(env, spec, api)
                        if mode not in case.ours:  # ---- end_to_end ---- a case that times one mode only
                            continue
                        key = (fam.key, spec["name"], mode)
                        if key not in checked:  # correctness, once per case and mode (also a warm-up)
                            checked[key] = max_abs_diffs(case.ours[mode](), case.torch[mode]())
                        diffs, bad = checked[key]
                        ours, theirs = time_alternating(case.ours[mode], case.torch[mode], reps, warmup,
                                                        args.max_seconds)
                    except Exception as e:
                        msg = f"{type(e).__name__}: {e}"
                        errors.append({"family": fam.key, "case": spec["name"], "mode": mode, "threads": t,
                                       "error": msg, "traceback": traceback.format_exc()})
                        print(fmt_row([spec["name"], "", "", "ERROR", "", "", "", "", "", ""]) + "  " + msg)
                        continue
                    to, tt = statistics.median(ours), statistics.median(theirs)
                    amount, unit = case.work[mode]
                    rate, rate_unit = fmt_rate(amount, unit, to)
                    trate, _ = fmt_rate(amount, unit, tt)
                    p = peaks.get(t)
                    ref = None
                    if p:
                        ref = p.get("peak_gflops") if unit == "flop" else p.get("bandwidth_gbs")
                    pct = 100.0 * rate / ref if (ref and rate) else None
                    tpct = 100.0 * trate / ref if (ref and trate) else None
                    ratio = tt / to if to > 0 else None
                    ratios.append(ratio)
                    vals = list(diffs.values())
                    dmax = (float("nan") if any(math.isnan(v) for v in vals) else max(vals)) if vals else 0.0
                    if bad:
                        mismatches.append({"family": fam.key, "case": spec["name"], "mode": mode,
                                           "diffs": {k: v if math.isfinite(v) else str(v) for k, v in diffs.items()}})
                    row.update({
                        "descriptor": case.descriptor, "impl": case.impl, "api": case.api,
                        "ours_ms": 1e3 * to, "torch_ms": 1e3 * tt,
                        "ours_ms_all": [1e3 * v for v in ours], "torch_ms_all": [1e3 * v for v in theirs],
                        "ratio_torch_over_ours": ratio,
                        "work": amount, "work_unit": unit, "rate_unit": rate_unit,
                        "ours_rate": rate, "torch_rate": trate,
                        "peak_reference": ref, "pct_peak": pct, "torch_pct_peak": tpct,
                        # non-finite differences (NaN results, missing or misshapen gradients) as strings
                        "max_abs_diff": {k: v if math.isfinite(v) else str(v) for k, v in diffs.items()},
                        "max_abs_diff_max": dmax if math.isfinite(dmax) else str(dmax),
                        "mismatch": bad, "reps": len(ours),
                    })
                    results.append(row)
                    print(fmt_row([
                        spec["name"], case.descriptor, case.impl + ("" if case.api == "user" else " [_C]"),
                        f"{1e3 * to:.3f}", f"{1e3 * tt:.3f}", f"{ratio:.3f}" if ratio else "-",
                        f"{rate:.1f} {rate_unit}" if rate else "-", f"{pct:.1f}%" if pct is not None else "-",
                        (f"{dmax:.1e}" if math.isfinite(dmax) else str(dmax)) + ("!" if bad else ""),
                        len(ours)]), flush=True)
                    write_json()
                gm = geomean(ratios)
                summary.append({"mode": mode, "threads": t, "geomean_ratio_torch_over_ours": gm,
                                "cases": len([r for r in ratios if r])})
                print(f"geomean torch/ours ({mode}, {t} thread(s), {len([r for r in ratios if r])} cases): "
                      + (f"{gm:.3f}" if gm else "-"))
    finally:
        meta["mismatches"] = mismatches
        write_json()

    print(f"\nwrote {args.json}")
    if mismatches:
        print(f"WARNING: {len(mismatches)} case/mode(s) differ from torch beyond tolerance: "
              + ", ".join(f"{m['family']}/{m['case']} {m['mode']}" for m in mismatches))
    if errors:
        print(f"{len(errors)} case(s) failed:")
        for e in errors:
            print(f"  {e['family']}/{e['case']} {e['mode']} {e['threads']}t: {e['error']}")
        return 1
    return 0


# ---- end_to_end ----: bench/end_to_end.py's whole-model cases
end_to_end.register(family, Case)


if __name__ == "__main__":
    sys.exit(main())
