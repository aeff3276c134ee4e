"""fastlayers CUDA kernels vs PyTorch CUDA (cuDNN), side by side on the GPU: `bench/compare.py --device cuda`.

Runs the cases of the shape table (``bench/layers.json``) on the GPU in float32 and bfloat16
(``--dtypes``): fastlayers' kernels through ``fastlayers._C`` (inputs as CuPy arrays in float32 when CuPy
is installed, else torch CUDA tensors; bfloat16 always as torch CUDA tensors through DLPack, CuPy having no
bfloat16), torch through torch.nn.functional / autograd (cuDNN where torch uses it). Both sides run on the
legacy default stream; every timing is a pair of CUDA events around ``--inner`` calls, read after a
synchronize, and the two libraries alternate (ours, torch, ours, ...) for ``--reps`` pairs after
``--warmup``; medians are reported, with the ratio torch/ours (> 1: we are faster), GFLOP/s for the
convolutions, and for memory-bound ops GB/s of minimal traffic and its percentage of a measured
device-to-device copy bandwidth (a torch copy of a 256 MiB buffer, read + write counted).

Modes: fwd (forward alone) and fwd+bwd (forward, then every input gradient through our _C backward and
torch's autograd). Ops or dtypes fastlayers has no CUDA kernel for are listed as skipped, with the reason.
Without a GPU this exits with status 2 and says so.

Examples:
  python bench/compare.py --device cuda
  python bench/compare.py --device cuda --ops conv2d --dtypes bfloat16 --reps 50
  python bench/cuda_bench.py --quick
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_JSON = BENCH_DIR / "results" / "compare_cuda.json"
MODES = ("fwd", "fwd+bwd")
NO_GPU_MESSAGE = ("cuda_bench: no CUDA device available (fastlayers.cuda.is_available() is False: no GPU, no "
                  "driver, or fastlayers built without CUDA); nothing to benchmark")


def wants_cuda(argv) -> bool:
    """Whether compare.py's command line asks for --device cuda (the hook in compare.main)."""
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--device", default="cpu")
    args, _ = ap.parse_known_args(sys.argv[1:] if argv is None else list(argv))
    return args.device == "cuda"


def default_table() -> Path:
    return BENCH_DIR / "layers.json"


class Gpu:
    """torch, fastlayers._C, CuPy (optional) and the array helpers for one dtype."""

    def __init__(self, dtype: str):
        import torch
        import torch.nn.functional as TF
        from fastlayers import _C
        try:
            import cupy
        except ImportError:
            cupy = None
        self.torch, self.TF, self.C, self.dtype = torch, TF, _C, dtype
        self.tdtype = getattr(torch, dtype)
        self.cupy = cupy if dtype == "float32" else None  # CuPy has no bfloat16

    def randn(self, rng, shape, scale=1.0):
        """(ours, torch's) copies of the same data; torch's requires grad where needed later."""
        a = (rng.standard_normal(shape) * scale).astype(np.float32)
        t = self.torch.from_numpy(a).cuda().to(self.tdtype)
        ours = self.cupy.asarray(a) if self.cupy is not None else t.clone()
        return ours, t

    def sync(self):
        self.torch.cuda.synchronize()


def time_pair(gpu: Gpu, f_ours, f_torch, reps: int, warmup: int, inner: int):
    torch = gpu.torch
    for _ in range(warmup):
        f_ours()
        f_torch()
    gpu.sync()
    times = {"ours": [], "torch": []}
    for _ in range(reps):
        for side, fn in (("ours", f_ours), ("torch", f_torch)):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(inner):
                fn()
            end.record()
            end.synchronize()  # the clock is read only once the work is done
            times[side].append(start.elapsed_time(end) / inner * 1e-3)
    return statistics.median(times["ours"]), statistics.median(times["torch"])


def copy_bandwidth(gpu: Gpu) -> float:
    """Device-to-device copy rate (bytes read + written per second) of a 256 MiB buffer."""
    torch = gpu.torch
    src = torch.empty(64 * 1024 * 1024, dtype=torch.float32, device="cuda")
    dst = torch.empty_like(src)
    ms, _ = time_pair(gpu, lambda: dst.copy_(src), lambda: None, reps=10, warmup=2, inner=5)
    return 2 * src.numel() * 4 / ms


# ---------------------------------------------------------------------------------------------------------
# Cases: each builder returns {mode: (ours, torch)} callables, the work per mode and its unit, or a skip reason


def _conv2d(gpu, s, rng):
    N, C, H, W, K, R, S = (s[k] for k in ("N", "C", "H", "W", "K", "R", "S"))
    st, pad, dil, g = s["stride"], s["padding"], s["dilation"], s["groups"]
    x, tx = gpu.randn(rng, (N, C, H, W))
    w, tw = gpu.randn(rng, (K, C // g, R, S), 0.1)
    b, tb = gpu.randn(rng, (K,))
    args = ((st, st), (pad, pad), (dil, dil), g)
    ty = gpu.TF.conv2d(tx, tw, tb, st, pad, dil, g)
    dy, tdy = gpu.randn(rng, tuple(ty.shape))
    P, Q = ty.shape[2], ty.shape[3]
    flop = 2.0 * N * K * P * Q * (C // g) * R * S
    txg, twg, tbg = (t.detach().requires_grad_() for t in (tx, tw, tb))

    def torch_fb():
        for t in (txg, twg, tbg):
            t.grad = None
        gpu.TF.conv2d(txg, twg, tbg, st, pad, dil, g).backward(tdy)

    return {
        "fwd": (lambda: gpu.C.conv2d_forward(x, w, b, *args), lambda: gpu.TF.conv2d(tx, tw, tb, st, pad, dil, g),
                flop, "flop"),
        "fwd+bwd": (lambda: (gpu.C.conv2d_forward(x, w, b, *args), gpu.C.conv2d_backward(dy, x, w, *args)),
                    torch_fb, 3 * flop, "flop"),
    }


def _conv_transpose2d(gpu, s, rng):
    if gpu.dtype != "float32":
        return "no bfloat16 CUDA kernel for conv_transpose2d"
    N, C, H, W, K, R, S = (s[k] for k in ("N", "C", "H", "W", "K", "R", "S"))
    st, pad, op, dil, g = s["stride"], s["padding"], s.get("output_padding", 0), s["dilation"], s["groups"]
    x, tx = gpu.randn(rng, (N, C, H, W))
    w, tw = gpu.randn(rng, (C, K // g, R, S), 0.1)
    args = ((st, st), (pad, pad), (op, op), g, (dil, dil))
    ty = gpu.TF.conv_transpose2d(tx, tw, None, st, pad, op, g, dil)
    dy, tdy = gpu.randn(rng, tuple(ty.shape))
    flop = 2.0 * N * C * H * W * (K // g) * R * S
    txg, twg = (t.detach().requires_grad_() for t in (tx, tw))

    def torch_fb():
        txg.grad = twg.grad = None
        gpu.TF.conv_transpose2d(txg, twg, None, st, pad, op, g, dil).backward(tdy)

    return {
        "fwd": (lambda: gpu.C.conv_transpose2d_forward(x, w, None, *args),
                lambda: gpu.TF.conv_transpose2d(tx, tw, None, st, pad, op, g, dil), flop, "flop"),
        "fwd+bwd": (lambda: (gpu.C.conv_transpose2d_forward(x, w, None, *args),
                             gpu.C.conv_transpose2d_backward(dy, x, w, *args)), torch_fb, 3 * flop, "flop"),
    }


def _elementwise_pair(gpu, tx, ours_fwd, ours_bwd, torch_fn, nbytes_fwd, nbytes_fb):
    """fwd / fwd+bwd callables of an op of one input whose torch side is torch_fn(input)."""
    txg = tx.detach().requires_grad_()
    ty = torch_fn(tx)
    tdy = gpu.torch.randn_like(ty)

    def torch_fb():
        txg.grad = None
        torch_fn(txg).backward(tdy)

    return {"fwd": (ours_fwd, lambda: torch_fn(tx), nbytes_fwd, "byte"),
            "fwd+bwd": (ours_bwd, torch_fb, nbytes_fb, "byte")}


def _itemsize(gpu):
    return 4 if gpu.dtype == "float32" else 2


def _pool(key):
    def build(gpu, s, rng):
        N, C, H, W = (s[k] for k in ("N", "C", "H", "W"))
        x, tx = gpu.randn(rng, (N, C, H, W))
        e = _itemsize(gpu)
        if key == "adaptive_avg_pool2d":
            o = s["output_size"]
            y = gpu.C.adaptive_avg_pool2d_forward(x, (o, o), "")
            dy = y.copy() if gpu.cupy is not None else y.clone()
            out = N * C * o * o
            return _elementwise_pair(
                gpu, tx, lambda: gpu.C.adaptive_avg_pool2d_forward(x, (o, o), ""),
                lambda: (gpu.C.adaptive_avg_pool2d_forward(x, (o, o), ""),
                         gpu.C.adaptive_avg_pool2d_backward(dy, (H, W), "")),
                lambda t: gpu.TF.adaptive_avg_pool2d(t, o), (N * C * H * W + out) * e, 2 * (N * C * H * W + out) * e)
        k, st, p = s["kernel"], s["stride"], s["padding"]
        P, Q = (H + 2 * p - k) // st + 1, (W + 2 * p - k) // st + 1
        out = N * C * P * Q
        if key == "max_pool2d":
            y, ind = gpu.C.max_pool2d_forward(x, (k, k), (st, st), (p, p), (1, 1), False, "")
            dy = y.copy() if gpu.cupy is not None else y.clone()
            fwd = lambda: gpu.C.max_pool2d_forward(x, (k, k), (st, st), (p, p), (1, 1), False, "")  # noqa: E731
            fb = lambda: (fwd(), gpu.C.max_pool2d_backward(dy, ind, (H, W)))  # noqa: E731
            tfn = lambda t: gpu.TF.max_pool2d(t, k, st, p)  # noqa: E731
            traffic = (N * C * H * W + out) * e + out * 8  # the indices (int64)
        else:
            y = gpu.C.avg_pool2d_forward(x, (k, k), (st, st), (p, p), False, True, 0, "")
            dy = y.copy() if gpu.cupy is not None else y.clone()
            fwd = lambda: gpu.C.avg_pool2d_forward(x, (k, k), (st, st), (p, p), False, True, 0, "")  # noqa: E731
            fb = lambda: (fwd(), gpu.C.avg_pool2d_backward(dy, (H, W), (k, k), (st, st), (p, p), False, True, 0,  # noqa: E731
                                                             ""))
            tfn = lambda t: gpu.TF.avg_pool2d(t, k, st, p)  # noqa: E731
            traffic = (N * C * H * W + out) * e
        return _elementwise_pair(gpu, tx, fwd, fb, tfn, traffic, 2 * traffic)
    return build


def _norm(kind):
    def build(gpu, s, rng):
        N, C, H, W = (s[k] for k in ("N", "C", "H", "W"))
        x, tx = gpu.randn(rng, (N, C, H, W))
        dy, _ = gpu.randn(rng, (N, C, H, W))
        e, n = _itemsize(gpu), N * C * H * W
        if kind == "batch_norm":
            w, tw = gpu.randn(rng, (C,))
            b, tb = gpu.randn(rng, (C,))
            _, m, r = gpu.C.batch_norm_forward(x, w, b, None, None, True, 0.1, 1e-5)
            fwd = lambda: gpu.C.batch_norm_forward(x, w, b, None, None, True, 0.1, 1e-5)  # noqa: E731
            fb = lambda: (fwd(), gpu.C.batch_norm_backward(dy, x, m, r, w, True, (True, False, False)))  # noqa: E731
            tfn = lambda t: gpu.TF.batch_norm(t, None, None, tw, tb, True, 0.1, 1e-5)  # noqa: E731
        else:
            G = {"group_norm": s.get("groups", 1), "layer_norm": 1, "instance_norm": C}[kind]
            _, m, r = gpu.C.group_norm_forward(x, G, None, None, 1e-5)
            fwd = lambda: gpu.C.group_norm_forward(x, G, None, None, 1e-5)  # noqa: E731
            fb = lambda: (fwd(), gpu.C.group_norm_backward(dy, x, m, r, None, G, (True, False, False)))  # noqa: E731
            tfn = {"group_norm": lambda t: gpu.TF.group_norm(t, G),
                   "layer_norm": lambda t: gpu.TF.layer_norm(t, t.shape[1:]),
                   "instance_norm": lambda t: gpu.TF.instance_norm(t)}[kind]
        # minimal traffic: read x, write y (forward); read x, dy, write dx (backward)
        return _elementwise_pair(gpu, tx, fwd, fb, tfn, 2 * n * e, 5 * n * e)
    return build


_ACT_TORCH = {"relu": "relu", "leaky_relu": "leaky_relu", "elu": "elu", "sigmoid": "sigmoid", "tanh": "tanh",
              "gelu": "gelu", "silu": "silu"}


def _activation(gpu, s, rng):
    kind, n = s["name"], s["numel"]
    x, tx = gpu.randn(rng, (n,))
    dy, _ = gpu.randn(rng, (n,))
    kw = {"alpha": s["negative_slope"]} if "negative_slope" in s else {}
    tkw = {"negative_slope": s["negative_slope"]} if "negative_slope" in s else {}
    e = _itemsize(gpu)
    tfn = lambda t: getattr(gpu.TF, _ACT_TORCH[kind])(t, **tkw)  # noqa: E731
    fwd = lambda: gpu.C.activation_forward(x, kind, **kw)  # noqa: E731
    fb = lambda: (fwd(), gpu.C.activation_backward(dy, x, False, kind, **kw))  # noqa: E731
    return _elementwise_pair(gpu, tx, fwd, fb, tfn, 2 * n * e, 5 * n * e)


def _softmax(gpu, s, rng):
    rows, cols, log = s["rows"], s["cols"], s["name"].startswith("log_")
    x, tx = gpu.randn(rng, (rows, cols))
    dy, _ = gpu.randn(rng, (rows, cols))
    y = gpu.C.softmax_forward(x, 1, log)
    e, n = _itemsize(gpu), rows * cols
    tfn = (lambda t: gpu.torch.log_softmax(t, 1)) if log else (lambda t: gpu.torch.softmax(t, 1))
    fwd = lambda: gpu.C.softmax_forward(x, 1, log)  # noqa: E731
    fb = lambda: (fwd(), gpu.C.softmax_backward(dy, y, 1, log))  # noqa: E731
    return _elementwise_pair(gpu, tx, fwd, fb, tfn, 2 * n * e, 5 * n * e)


BUILDERS = {"conv2d": _conv2d, "conv_transpose2d": _conv_transpose2d, "max_pool2d": _pool("max_pool2d"),
            "avg_pool2d": _pool("avg_pool2d"), "adaptive_avg_pool2d": _pool("adaptive_avg_pool2d"),
            "batch_norm": _norm("batch_norm"), "group_norm": _norm("group_norm"), "layer_norm": _norm("layer_norm"),
            "instance_norm": _norm("instance_norm"), "activation": _activation, "softmax": _softmax}


# ---------------------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--device", default="cuda", choices=("cuda",), help="(compare.py's switch; always cuda here)")
    ap.add_argument("--table", default=None, help="shape table (default: compare.py's)")
    ap.add_argument("--json", default=str(DEFAULT_JSON), help="write results here (default %(default)s)")
    ap.add_argument("--ops", default="", help="comma-separated op families (table keys)")
    ap.add_argument("--cases", default="", help="comma-separated case names")
    ap.add_argument("--modes", default=",".join(MODES), help="fwd, fwd+bwd or both")
    ap.add_argument("--dtypes", default="float32,bfloat16", help="float32, bfloat16 or both (default both)")
    ap.add_argument("--reps", type=int, default=20, help="timed (ours, torch) pairs per case and mode")
    ap.add_argument("--warmup", type=int, default=3, help="warm-up pairs")
    ap.add_argument("--inner", type=int, default=5, help="calls between a pair of events")
    ap.add_argument("--quick", action="store_true", help="smoke run: first case of each family, 2 reps, 1 inner")
    args, unknown = ap.parse_known_args(sys.argv[1:] if argv is None else argv)
    if unknown:
        print(f"cuda_bench: ignoring CPU-only options {' '.join(unknown)}", file=sys.stderr)

    try:
        import fastlayers
        available = fastlayers.cuda.is_available()
    except Exception as e:  # an import failure is reported as such, not as "no GPU"
        print(f"cuda_bench: cannot import fastlayers: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    if not available:
        print(NO_GPU_MESSAGE, file=sys.stderr)
        return 2
    import torch
    if not torch.cuda.is_available():
        print("cuda_bench: torch has no CUDA here (a CPU-only torch?); the comparison needs torch CUDA",
              file=sys.stderr)
        return 2

    table = json.load(open(args.table or default_table()))
    ops = [o for o in (args.ops.split(",") if args.ops else BUILDERS) if o]
    names = set(n for n in args.cases.split(",") if n)
    modes = [m for m in args.modes.split(",") if m]
    reps, inner = (2, 1) if args.quick else (args.reps, args.inner)
    results = []
    bw = copy_bandwidth(Gpu("float32"))
    print(f"device: {torch.cuda.get_device_name()}  copy bandwidth (d2d, read+write): {bw / 1e9:.0f} GB/s")
    print(f"{'case':<34}{'dtype':<10}{'mode':<9}{'ours ms':>10}{'torch ms':>10}{'ratio':>8}{'rate':>14}{'%copy':>7}")
    for dtype in [d for d in args.dtypes.split(",") if d]:
        gpu = Gpu(dtype)
        for op in ops:
            specs = table.get(op, [])
            if names:
                specs = [s for s in specs if s.get("name") in names]
            if args.quick:
                specs = specs[:1]
            for spec in specs:
                label = f"{op}/{spec.get('name', '?')}"
                try:
                    built = BUILDERS[op](gpu, spec, np.random.default_rng(1234))
                except Exception as e:  # a kernel or dtype we lack: reported, the run goes on
                    built = f"{type(e).__name__}: {e}"
                if isinstance(built, str):
                    print(f"{label:<34}{dtype:<10}skipped: {built}")
                    results.append({"case": label, "dtype": dtype, "skipped": built})
                    continue
                for mode in modes:
                    ours, theirs, work, unit = built[mode]
                    t_ours, t_torch = time_pair(gpu, ours, theirs, reps, args.warmup, inner)
                    rate = work / t_ours
                    pct = f"{100 * rate / bw:6.1f}" if unit == "byte" else "     -"
                    rate_s = f"{rate / 1e9:8.1f} {'GFLOP/s' if unit == 'flop' else 'GB/s'}"
                    print(f"{label:<34}{dtype:<10}{mode:<9}{t_ours * 1e3:10.3f}{t_torch * 1e3:10.3f}"
                          f"{t_torch / t_ours:8.2f}{rate_s:>14}{pct:>7}")
                    results.append({"case": label, "dtype": dtype, "mode": mode, "ours_s": t_ours,
                                    "torch_s": t_torch, "ratio": t_torch / t_ours, "work": work, "unit": unit,
                                    "copy_bandwidth": bw})
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"device": torch.cuda.get_device_name(), "results": results}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
