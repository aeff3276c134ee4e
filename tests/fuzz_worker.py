"""The fuzz worker of tests/test_fuzz.py: random calls of one op family through fastlayers.nn.functional
(compared with torch.nn.functional on the same arguments) and through fastlayers._C, some with hostile
sizes and parameters (0, negative, 2**31, 2**62, 2**63 - 1). Each call is a line of Python: it is the
repro. Before running a call the worker writes it to stdout as "CALL <code>", so that when the interpreter
dies (a crash is what this hunts) the parent prints the last call.

    python tests/fuzz_worker.py FAMILY[,FAMILY...] SEED N   # CALL lines, then a "RESULT <family> <json>" line
                                                           # per family

Rules per call: ours must return or raise ValueError / TypeError / RuntimeError / IndexError / MemoryError /
OverflowError / NotImplementedError (anything else is a failure: an uncaught C++ exception reads as
RuntimeError "Caught an unknown exception!" or a SystemError). When every argument is sane (no hostile
value), torch runs the same call: where both return, the results must agree (NaN where torch has NaN;
values to a tolerance); where exactly one raises, the call is counted as a refusal mismatch and listed."""
import json
import random
import resource
import sys
import traceback

import numpy as np
import torch
import torch.nn.functional as TF

# the fastlayers the launching test runs against (FASTLAYERS_PACKAGE_PARENT), else the source tree
sys.path.insert(0, __import__("os").environ.get("FASTLAYERS_PACKAGE_PARENT") or
                __import__("os").path.join(__import__("os").path.dirname(__file__), "..", "python"))
import fastlayers as fl  # noqa: E402
import fastlayers.nn.functional as F  # noqa: E402
from fastlayers import _C  # noqa: E402

HOSTILE = [0, -1, -2, 2**31, 2**31 - 1, 2**32 + 1, 2**40, 2**62, 2**63 - 1, 10**6]
ALLOWED = (ValueError, TypeError, RuntimeError, IndexError, MemoryError, OverflowError, NotImplementedError)


def rnd(shape, seed, dtype="float64"):
    """Values on a coarse grid (exact sums), deterministic from seed."""
    g = np.random.default_rng(seed)
    return (g.integers(-8, 9, size=shape) / 4).astype(dtype)


def perm(shape, seed, n):
    """Distinct indices in [0, n) along the last two axes of shape, per leading index."""
    g = np.random.default_rng(seed)
    lead, plane = int(np.prod(shape[:-2])), int(np.prod(shape[-2:]))
    return np.stack([g.permutation(n)[:plane] for _ in range(lead)]).reshape(shape).astype(np.int64)


def ints(shape, seed, lo, hi):
    return np.random.default_rng(seed).integers(lo, hi, size=shape).astype(np.int64)


T = fl.Tensor
t = torch.tensor


class Gen:
    def __init__(self, rng, hostile_rate):
        self.r = rng
        self.hostile_rate = hostile_rate
        self.hostile = False

    def small(self, lo, hi):
        return self.r.randint(lo, hi)

    def param(self, lo, hi):
        """A sane value in [lo, hi], or (with probability hostile_rate) a hostile one."""
        if self.r.random() < self.hostile_rate:
            self.hostile = True
            return self.r.choice(HOSTILE)
        return self.r.randint(lo, hi)

    def tup(self, n, lo, hi):
        v = [self.param(lo, hi) for _ in range(n)]
        return v[0] if n == 1 or (self.r.random() < 0.3 and len(set(v)) == 1) else tuple(v)

    def seed(self):
        return self.r.randint(0, 2**31)


# Each generator returns (ours, theirs): lines of code; theirs is None when torch is not asked.
def gen_conv(g, nd, transpose=False):
    G = g.small(1, 3)
    C, K = G * g.small(1, 3), G * g.small(1, 3)
    N = g.small(0, 2) if g.r.random() < 0.2 else g.small(1, 3)
    sp = tuple(g.small(1, 8) for _ in range(nd))
    ks = tuple(g.small(1, 4) for _ in range(nd))
    stride, padding, dil = g.tup(nd, 1, 3), g.tup(nd, 0, 3), g.tup(nd, 1, 3)
    if not transpose and g.r.random() < 0.1:
        padding, stride = repr(g.r.choice(["same", "valid"])), 1
    s1, s2, s3 = g.seed(), g.seed(), g.seed()
    wshape = (C, K // G) + ks if transpose else (K, C // G) + ks
    x = f"rnd({(N, C) + sp}, {s1})"
    w = f"rnd({wshape}, {s2})"
    b = f"rnd(({K},), {s3})" if g.r.random() < 0.5 else "None"
    name = ("conv_transpose" if transpose else "conv") + f"{nd}d"
    if transpose:
        op = g.tup(nd, 0, 2)
        args = f"stride={stride!r}, padding={padding!r}, output_padding={op!r}, groups={G}, dilation={dil!r}"
    else:
        args = f"stride={stride!r}, padding={padding}, dilation={dil!r}, groups={G}"
    bo = "None" if b == "None" else f"T({b})"
    bt = "None" if b == "None" else f"t({b})"
    return (f"F.{name}(T({x}), T({w}), {bo}, {args})", f"TF.{name}(t({x}), t({w}), {bt}, {args})")


def gen_conv2d_C(g):
    """_C.conv2d_forward / conv2d_backward with hostile pairs."""
    G = g.small(1, 3)
    C, K = G * g.small(1, 2), G * g.small(1, 2)
    H, W, R, S = g.small(1, 6), g.small(1, 6), g.small(1, 3), g.small(1, 3)
    st, pd, dl = (g.param(1, 3), g.param(1, 3)), (g.param(0, 2), g.param(0, 2)), (g.param(1, 2), g.param(1, 2))
    s = g.seed()
    x, w = f"rnd((2, {C}, {H}, {W}), {s}, 'float32')", f"rnd(({K}, {C // G}, {R}, {S}), {s + 1}, 'float32')"
    if g.r.random() < 0.5:
        return f"_C.conv2d_forward({x}, {w}, None, {st}, {pd}, {dl}, {G})", None
    P, Q = g.param(1, 4), g.param(1, 4)
    P, Q = min(P, 64) if P > 0 else P, min(Q, 64) if Q > 0 else Q
    dy = f"rnd((2, {K}, {max(P, 0)}, {max(Q, 0)}), {s + 2}, 'float32')"
    return f"_C.conv2d_backward({dy}, {x}, {w}, {st}, {pd}, {dl}, {G}, (True, True, True))", None


def gen_pool(g, nd, kind):
    N, C = g.small(1, 2), g.small(1, 3)
    sp = tuple(g.small(1, 9) for _ in range(nd))
    k = g.tup(nd, 1, 4)
    stride = g.tup(nd, 1, 3) if g.r.random() < 0.7 else None
    pad = g.tup(nd, 0, 1)
    ceil = g.r.random() < 0.3
    x = f"rnd({(N, C) + sp}, {g.seed()})"
    if kind == "max":
        dil = g.tup(nd, 1, 2)
        ri = g.r.random() < 0.3
        args = f"{k!r}, stride={stride!r}, padding={pad!r}, dilation={dil!r}, ceil_mode={ceil}, return_indices={ri}"
    else:
        cip = g.r.random() < 0.5
        args = f"{k!r}, stride={stride!r}, padding={pad!r}, ceil_mode={ceil}, count_include_pad={cip}"
        if nd == 2 and g.r.random() < 0.2:
            args += f", divisor_override={g.param(1, 5)}"
    name = f"{kind}_pool{nd}d"
    return f"F.{name}(T({x}), {args})", f"TF.{name}(t({x}), {args})"


def gen_adaptive(g):
    x = f"rnd((1, {g.small(1, 3)}, {g.small(1, 9)}, {g.small(1, 9)}), {g.seed()})"
    out = (g.param(1, 6), g.param(1, 6))
    name = g.r.choice(["adaptive_avg_pool2d", "adaptive_max_pool2d"])
    return f"F.{name}(T({x}), {out!r})", f"TF.{name}(t({x}), {out!r})"


def gen_unpool(g):
    N, C, H, W = 1, g.small(1, 2), g.small(1, 4), g.small(1, 4)
    k = g.small(1, 3)
    x = f"rnd(({N}, {C}, {H}, {W}), {g.seed()})"
    if g.r.random() < g.hostile_rate * 4:  # any indices, out of range ones too
        g.hostile = True
        lo, hi = g.r.choice([(0, H * W * k * k), (-1, H * W * k * k), (-(2**40), 2**31), (0, 2**62)])
        idx = f"ints(({N}, {C}, {H}, {W}), {g.seed()}, {lo}, {hi})"
    else:  # distinct indices within each output plane (torch leaves duplicates unspecified)
        idx = f"perm(({N}, {C}, {H}, {W}), {g.seed()}, {H * k * W * k})"
    return (f"F.max_unpool2d(T({x}), T({idx}), {k})", f"TF.max_unpool2d(t({x}), t({idx}), {k})")


def gen_interpolate(g):
    x = f"rnd((1, {g.small(1, 2)}, {g.small(1, 5)}, {g.small(1, 5)}), {g.seed()})"
    mode = g.r.choice(["nearest", "bilinear"])
    ac = "None" if mode == "nearest" else repr(g.r.random() < 0.5)
    if g.r.random() < 0.5:
        size = (g.param(1, 9), g.param(1, 9))
        args = f"size={size!r}, mode={mode!r}, align_corners={ac}"
    else:
        sf = g.r.choice([0.5, 1.0, 1.5, 2.0, 3.0, 0.3]) if g.r.random() > g.hostile_rate else g.r.choice(
            [0.0, -1.0, 1e-30, 1e30, float("inf"), float("nan")])
        if sf in (0.0, -1.0, 1e-30, 1e30) or sf != sf or sf == float("inf"):
            g.hostile = True
        args = f"scale_factor=float({str(sf)!r}), mode={mode!r}, align_corners={ac}"
    return f"F.interpolate(T({x}), {args})", f"TF.interpolate(t({x}), {args})"


ACTS = ["relu", "relu6", "leaky_relu", "elu", "selu", "celu", "gelu", "silu", "mish", "softplus", "sigmoid", "tanh",
        "hardtanh", "hardsigmoid", "hardswish"]


def gen_activation(g):
    shape = tuple(g.small(0, 5) for _ in range(g.small(0, 3)))
    name = g.r.choice(ACTS)
    x = f"rnd({shape}, {g.seed()}, {g.r.choice(['float32', 'float64'])!r})"
    extra = ""
    if name == "softplus" and g.r.random() < 0.5:
        extra = f", beta={g.r.choice([0.5, 2.0, -1.0])}, threshold={g.r.choice([1.0, 20.0, -5.0])}"
    if name == "hardtanh" and g.r.random() < 0.5:
        extra = f", min_val={g.r.choice([-2.0, 0.0, 1.0])}, max_val={g.r.choice([-1.0, 1.0, 3.0])}"
    if name == "leaky_relu" and g.r.random() < 0.5:
        extra = f", negative_slope={g.r.choice([0.0, -0.5, 2.0])}"
    return f"F.{name}(T({x}){extra})", f"TF.{name}(t({x}){extra})"


def gen_softmax(g):
    nd = g.small(1, 4)
    shape = tuple(g.small(0, 5) for _ in range(nd))
    dim = g.r.randint(-nd - 1, nd) if g.r.random() < 0.2 else g.r.randint(-nd, nd - 1)
    if not -nd <= dim < nd:
        g.hostile = True
    name = g.r.choice(["softmax", "log_softmax"])
    x = f"rnd({shape}, {g.seed()})"
    return f"F.{name}(T({x}), dim={dim})", f"TF.{name}(t({x}), dim={dim})"


def gen_norm(g):
    N, C, S = g.small(1, 3), g.small(1, 6), g.small(1, 5)
    x = f"rnd(({N}, {C}, {S}), {g.seed()})"
    kind = g.r.choice(["batch", "group", "layer", "instance", "lrn"])
    if kind == "batch":
        tr = g.r.random() < 0.7
        eps = g.r.choice([1e-5, 1e-3, 0.0]) if g.r.random() < 0.9 else -1.0
        rm, rv = f"rnd(({C},), {g.seed()})", f"abs(rnd(({C},), {g.seed()})) + 1"
        return (f"F.batch_norm(T({x}), T({rm}), T({rv}), training={tr}, eps={eps})",
                f"TF.batch_norm(t({x}), t({rm}), t({rv}), training={tr}, eps={eps})")
    if kind == "group":
        G = g.param(1, C)
        return f"F.group_norm(T({x}), {G})", f"TF.group_norm(t({x}), {G})"
    if kind == "layer":
        shape = g.r.choice([(S,), (C, S), (S + 1,)])
        return f"F.layer_norm(T({x}), {shape!r})", f"TF.layer_norm(t({x}), {shape!r})"
    if kind == "instance":
        return f"F.instance_norm(T({x}))", f"TF.instance_norm(t({x}))"
    size = g.param(1, 5)
    return f"F.local_response_norm(T({x}), {size})", f"TF.local_response_norm(t({x}), {size})"


def gen_linear(g):
    M, K, N = g.small(0, 5), g.small(1, 6), g.small(1, 6)
    Kw = K if g.r.random() < 0.9 else K + 1
    x, w = f"rnd(({M}, {K}), {g.seed()})", f"rnd(({N}, {Kw}), {g.seed()})"
    b = f"rnd(({N},), {g.seed()})" if g.r.random() < 0.5 else None
    return (f"F.linear(T({x}), T({w}){'' if b is None else f', T({b})'})",
            f"TF.linear(t({x}), t({w}){'' if b is None else f', t({b})'})")


def gen_loss(g):
    N, C = g.small(1, 4), g.small(1, 5)
    spatial = tuple(g.small(1, 3) for _ in range(g.small(0, 2)))
    x = f"rnd({(N, C) + spatial}, {g.seed()})"
    lo, hi = (0, C) if g.r.random() < 0.8 else g.r.choice([(-1, C), (0, C + 1), (-100, -99), (0, 2**62)])
    if (lo, hi) not in ((0, C), (-100, -99)):
        g.hostile = True
    tgt = f"ints({(N,) + spatial}, {g.seed()}, {lo}, {hi})"
    red = g.r.choice(["mean", "sum", "none"])
    name = g.r.choice(["cross_entropy", "nll_loss"])
    extra = f", reduction={red!r}"
    if g.r.random() < 0.3:
        extra += f", weight=X(rnd(({C},), {g.seed()}) + 3)"
    if g.r.random() < 0.3:
        extra += f", ignore_index={g.r.choice([-100, 0, 1])}"
    if name == "cross_entropy" and g.r.random() < 0.3:
        extra += f", label_smoothing={g.r.choice([0.0, 0.1, 1.0])}"
    return (f"F.{name}(T({x}), T({tgt}){extra.replace('X(', 'T(')})",
            f"TF.{name}(t({x}), t({tgt}){extra.replace('X(', 't(')})")


def gen_pad(g):
    nd = g.small(1, 2)
    x = f"rnd((1, 2) + {tuple(g.small(1, 5) for _ in range(nd))!r}, {g.seed()})"
    pads = tuple(g.param(-2, 3) if g.r.random() < 0.5 else g.small(0, 2) for _ in range(2 * nd))
    mode = g.r.choice(["constant", "reflect", "replicate", "circular"])
    return f"F.pad(T({x}), {pads!r}, mode={mode!r})", f"TF.pad(t({x}), {pads!r}, mode={mode!r})"


def gen_dropout(g):
    p = g.r.choice([0.0, 0.5, 1.0]) if g.r.random() > g.hostile_rate else g.r.choice([-0.1, 1.5, float("nan")])
    if not 0 <= p <= 1:
        g.hostile = True
    x = f"rnd((3, 4), {g.seed()})"
    # random masks differ from torch's: only p in {0, 1} and the refusals are compared
    arg = f"p=float({str(p)!r})"
    return f"F.dropout(T({x}), {arg})", (f"TF.dropout(t({x}), {arg})" if p in (0.0, 1.0) or not 0 <= p <= 1
                                         else None)


def gen_index_C(g):
    """_C entry points that take indices or sizes straight from the caller: max-pool backward, max-unpool,
    upsampling and pooling forward with hostile sizes, nll_loss with hostile targets."""
    C, H, W = g.small(1, 2), g.small(1, 4), g.small(1, 4)
    x = f"rnd((1, {C}, {H}, {W}), {g.seed()}, 'float32')"
    lo, hi = g.r.choice([(0, H * W), (-1, H * W), (0, 2**31), (-(2**62), 2**62)])
    idx = f"ints((1, {C}, {H}, {W}), {g.seed()}, {lo}, {hi})"
    size = (g.param(1, 6), g.param(1, 6))
    g.hostile = True  # no torch twin: only crashes and exception types are checked
    kind = g.r.choice(["max_pool2d_backward", "max_unpool2d_forward", "max_unpool2d_backward", "upsample2d_forward",
                       "pool_forward", "nll_loss_forward"])
    if kind == "max_pool2d_backward":
        return f"_C.max_pool2d_backward({x}, {idx}, {size})", None
    if kind == "max_unpool2d_forward":
        return f"_C.max_unpool2d_forward({x}, {idx}, {size})", None
    if kind == "max_unpool2d_backward":
        return f"_C.max_unpool2d_backward(rnd((1, {C}) + {size!r}, 1, 'float32') if max({size!r}) < 64 else {x}, " \
               f"{idx})", None
    if kind == "upsample2d_forward":
        mode = g.r.choice(["nearest", "bilinear"])
        return f"_C.upsample2d_forward({x}, {size}, mode={mode!r})", None
    if kind == "pool_forward":
        k, st, pd = (g.param(1, 3), g.param(1, 3)), (g.param(1, 2), g.param(1, 2)), (g.param(0, 1), g.param(0, 1))
        fn = g.r.choice(["max_pool2d_forward", "avg_pool2d_forward"])
        return f"_C.{fn}({x}, {k}, {st}, {pd})", None
    tgt = f"ints((3,), {g.seed()}, {lo}, {hi})"
    return f"_C.nll_loss_forward(rnd((3, {C + 2}), {g.seed()}, 'float32'), {tgt})", None


FAMILIES = {
    "conv1d": lambda g: gen_conv(g, 1), "conv2d": lambda g: gen_conv(g, 2),
    "conv_transpose1d": lambda g: gen_conv(g, 1, True), "conv_transpose2d": lambda g: gen_conv(g, 2, True),
    "conv2d_C": gen_conv2d_C,
    "max_pool1d": lambda g: gen_pool(g, 1, "max"), "max_pool2d": lambda g: gen_pool(g, 2, "max"),
    "avg_pool1d": lambda g: gen_pool(g, 1, "avg"), "avg_pool2d": lambda g: gen_pool(g, 2, "avg"),
    "adaptive_pool2d": gen_adaptive, "max_unpool2d": gen_unpool, "interpolate": gen_interpolate,
    "activation": gen_activation, "softmax": gen_softmax, "norm": gen_norm, "linear": gen_linear,
    "loss": gen_loss, "pad": gen_pad, "dropout": gen_dropout, "index_C": gen_index_C,
}


def as_arrays(r):
    """A result (tensor, tuple of them, or scalar) as a list of float64 numpy arrays."""
    if isinstance(r, (tuple, list)):
        return [a for v in r for a in as_arrays(v)]
    if isinstance(r, torch.Tensor):
        return [r.detach().double().numpy()]
    if isinstance(r, fl.Tensor):
        return [np.asarray(r.detach().numpy(), dtype=np.float64)]
    return [np.asarray(r, dtype=np.float64)]


def differs(a, b):
    if len(a) != len(b):
        return f"{len(a)} results vs torch's {len(b)}"
    for x, y in zip(a, b):
        if x.shape != y.shape:
            return f"shape {x.shape} vs torch's {y.shape}"
        if (np.isnan(x) != np.isnan(y)).any():
            return "NaN where torch has none, or the reverse"
        m = ~np.isnan(x)
        err = np.abs(x[m] - y[m])
        if err.size and (err > 1e-4 * (1 + np.abs(y[m]))).any():
            return f"largest error {err.max():.3g}"
    return None


def main(family, seed, n, hostile_rate=0.05):
    env = {"np": np, "torch": torch, "TF": TF, "F": F, "_C": _C, "fl": fl, "T": T, "t": t, "rnd": rnd, "ints": ints, "perm": perm}
    # allocations past ~3 GiB more fail fast with MemoryError instead of swapping the machine
    if resource.getrlimit(resource.RLIMIT_AS)[0] == resource.RLIM_INFINITY:
        vm = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
        resource.setrlimit(resource.RLIMIT_AS, (vm + (3 << 30), resource.getrlimit(resource.RLIMIT_AS)[1]))
    rng = random.Random(f"{family}-{seed}")
    counts = {"calls": 0, "ok": 0, "hostile": 0, "exceptions": {}, "refusal_mismatch": [], "value_mismatch": [],
              "bad_exception": []}
    for _ in range(n):
        g = Gen(rng, hostile_rate)
        ours, theirs = FAMILIES[family](g)
        print("CALL", ours, flush=True)
        counts["calls"] += 1
        counts["hostile"] += g.hostile
        our_err = None
        try:
            res = eval(ours, env)
            counts["ok"] += 1
        except ALLOWED as e:
            our_err = e
            name = type(e).__name__
            counts["exceptions"][name] = counts["exceptions"].get(name, 0) + 1
            if isinstance(e, RuntimeError) and "unknown exception" in str(e):
                counts["bad_exception"].append(f"{ours}  -> {name}: {e}")
        except Exception as e:  # noqa: BLE001  (what must not escape: reported, not raised)
            counts["bad_exception"].append(f"{ours}  -> {type(e).__name__}: {e}")
            continue
        if theirs is None or g.hostile:
            continue
        try:
            expected = eval(theirs, env)
            their_err = None
        except Exception as e:  # noqa: BLE001
            their_err = e
        if our_err is not None and their_err is None and all(a.size == 0 for a in as_arrays(expected)):
            # torch skips some argument checks when the input is empty (output_padding of a transposed
            # convolution with a batch of 0, say); refusing invalid arguments there too is kept
            counts["refused_empty"] = counts.get("refused_empty", 0) + 1
            continue
        if (our_err is None) != (their_err is None):
            who = (f"ours raised {type(our_err).__name__}: {str(our_err)[:150]}" if our_err else
                   f"torch raised {type(their_err).__name__}: {str(their_err)[:150]}")
            counts["refusal_mismatch"].append(f"{ours}  -> {who}")
        elif our_err is None:
            try:
                a, b = as_arrays(res), as_arrays(expected)
                d = differs(a, b)
                if d and "return_indices=True" in ours and len(a) == 2 and differs(a[:1], b[:1]) is None:
                    empty = np.isneginf(a[0])  # a window of padding only: the value is -inf in both
                    if (a[1][~empty] == b[1][~empty]).all():
                        d = "index of a window lying entirely in the padding"
            except Exception as e:  # noqa: BLE001
                d = f"could not compare: {e}"
            if d:
                counts["value_mismatch"].append(f"{ours}  -> {d}")
    print("RESULT", family, json.dumps(counts), flush=True)


if __name__ == "__main__":
    try:
        for fam in sys.argv[1].split(","):
            main(fam, int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]) if len(sys.argv) > 4 else 0.05)
    except Exception:
        traceback.print_exc()
        sys.exit(3)
