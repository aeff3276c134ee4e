"""Special values exactly as torch on the CPU: every activation's forward and backward on NaN, +-inf, +-0 and
large finite inputs, float32 and float64, under every SIMD path, against torch; softmax / log_softmax with
such values in a row; batch_norm's eps rule. NaN where torch gives NaN, the same infinity, the same signed
zero where torch's is exact, finite values to a few ulps."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import fastlayers as fl
import fastlayers.nn.functional as F

SPECIALS = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30, 3e38, -3e38, 88.0, -88.0, 100.0, -100.0, 20.0,
            20.5, -20.0, 1.0, -1.0, 3.0, -3.0, 6.0, 1e-30, -1e-30, 40.0, -40.0, 710.0, -710.0]

# (name, ours(x), torch(x)); each gets the defaults and, where it has some, non-default parameters.
ACTIVATIONS = [
    ("relu", F.relu, TF.relu),
    ("relu6", F.relu6, TF.relu6),
    ("leaky_relu", F.leaky_relu, TF.leaky_relu),
    ("leaky_relu_0.2", lambda x: F.leaky_relu(x, 0.2), lambda x: TF.leaky_relu(x, 0.2)),
    ("elu", F.elu, TF.elu),
    ("elu_0.5", lambda x: F.elu(x, 0.5), lambda x: TF.elu(x, 0.5)),
    ("selu", F.selu, TF.selu),
    ("celu_2", lambda x: F.celu(x, 2.0), lambda x: TF.celu(x, 2.0)),
    ("gelu", F.gelu, TF.gelu),
    ("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"), lambda x: TF.gelu(x, approximate="tanh")),
    ("silu", F.silu, TF.silu),
    ("mish", F.mish, TF.mish),
    ("softplus", F.softplus, TF.softplus),
    ("softplus_b2_t5", lambda x: F.softplus(x, 2.0, 5.0), lambda x: TF.softplus(x, 2.0, 5.0)),
    ("sigmoid", F.sigmoid, torch.sigmoid),
    ("tanh", F.tanh, torch.tanh),
    ("hardtanh", F.hardtanh, TF.hardtanh),
    ("hardtanh_-2_3", lambda x: F.hardtanh(x, -2.0, 3.0), lambda x: TF.hardtanh(x, -2.0, 3.0)),
    ("hardsigmoid", F.hardsigmoid, TF.hardsigmoid),
    ("hardswish", F.hardswish, TF.hardswish),
]


def special_input(dtype, repeat=3):
    """The special values, repeated with an offset so each lands in a SIMD body and in a tail."""
    base = np.array(SPECIALS, dtype=np.float64)
    x = np.concatenate([np.roll(base, k) for k in range(repeat)] + [base[:5]])
    with np.errstate(over="ignore"):
        return x.astype(dtype)


def mismatch(ours, expected, dtype, floor=1e-3):
    """Indices where ours differs from the expected: NaN-ness, infinities, or finite values beyond a tolerance
    of a few units in the last place (relative) plus a tiny absolute floor (results that underflow to a
    subnormal or 0 in one library and not the other, and cancellation in transcendental tails, are accuracy,
    not special-value, questions: tests/test_activation.py owns those)."""
    ours = np.asarray(ours, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    eps = np.finfo(dtype).eps
    nan_o, nan_e = np.isnan(ours), np.isnan(expected)
    with np.errstate(invalid="ignore", over="ignore"):
        both = ~nan_o & ~nan_e
        inf_bad = both & (np.isinf(ours) | np.isinf(expected)) & (ours != expected)
        fin = both & np.isfinite(ours) & np.isfinite(expected)
        tol = 1e3 * eps * (np.abs(expected) + floor)
        val_bad = fin & (np.abs(ours - expected) > tol)
    return np.nonzero((nan_o != nan_e) | inf_bad | val_bad)[0]


def torch_reference(fn, x, dy_value):
    """torch's forward and input gradient for each element of x (whose values are all in SPECIALS), in x's
    dtype, as its vectorized kernels give them: torch's scalar tail loop and its vectorized body disagree at
    NaN (the gradients of elu, selu, celu and hardtanh: 1 in the tail, NaN or 0 in the body), so each value
    is evaluated in a block of 64 copies (body only) and that result is the reference. Where torch's
    float32 result disagrees with its own float64 one (float32 gelu(inf) = NaN, overflow of hardswish's
    intermediate x * 6 near 3e38), torch is wrong and the float64 result, rounded, is the reference."""
    values = np.array(SPECIALS, dtype=np.float64)
    def run(dtype):
        with np.errstate(over="ignore"):
            xb = torch.tensor(np.repeat(values, 64).astype(dtype), requires_grad=True)
        yb = fn(xb)
        yb.backward(torch.full_like(yb, dy_value))
        return yb.detach().numpy()[::64], xb.grad.numpy()[::64]
    y, g = run(x.dtype)
    if x.dtype == np.float32:
        y64, g64 = run(np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            y64, g64 = y64.astype(np.float32), g64.astype(np.float32)
        y = np.where(np.isin(np.arange(len(y)), mismatch(y, y64, np.float32)), y64, y)
        g = np.where(np.isin(np.arange(len(g)), mismatch(g, g64, np.float32)), g64, g)
    with np.errstate(over="ignore"):
        keys = values.astype(x.dtype)
    # position of each element of x among the special values (NaN matched by NaN-ness)
    idx = np.array([np.nonzero(np.isnan(keys) if np.isnan(v) else
                               (keys == v) & (np.signbit(keys) == np.signbit(v)))[0][0] for v in x])
    return y[idx], g[idx]


def describe(name, what, x, ours, expected, bad):
    rows = [f"x={x[i]!r}: ours {ours[i]!r}, torch {expected[i]!r}" for i in bad[:8]]
    return f"{name} {what}: {len(bad)} of {len(x)} differ from torch; " + "; ".join(rows)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name,ours,theirs", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activation_special_values_match_torch(simd, name, ours, theirs, dtype):
    x = special_input(dtype)
    # gradient: ones, and a second pass with an upstream gradient of zeros (0 * inf is NaN in torch too)
    for dy_value in (1.0, 0.0):
        y_torch, g_torch = torch_reference(theirs, x, dy_value)
        xf = fl.Tensor(x.copy(), requires_grad=True)
        yf = ours(xf)
        yf.backward(fl.Tensor(np.full(x.shape, dy_value, dtype)))
        y_ours, g_ours = yf.detach().numpy(), xf.grad.numpy()
        bad = mismatch(y_ours, y_torch, dtype)
        assert len(bad) == 0, describe(name, f"forward [{simd}]", x, y_ours, y_torch, bad)
        bad = mismatch(g_ours, g_torch, dtype)
        assert len(bad) == 0, describe(name, f"backward dy={dy_value} [{simd}]", x, g_ours, g_torch, bad)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
def test_softmax_special_values_match_torch(simd, log, dtype):
    rows = [[np.nan, 1.0, 2.0], [np.inf, 1.0, 2.0], [-np.inf, 1.0, 2.0], [-np.inf, -np.inf, -np.inf],
            [np.inf, np.inf, 0.0], [1e30, -1e30, 0.0], [3e38, 3e38, 0.0], [0.0, -0.0, 0.0], [-np.inf, 0.0, -np.inf]]
    x = np.array([r * 7 for r in rows], dtype=np.float64)  # rows of 21: SIMD body and tail
    with np.errstate(over="ignore"):
        x = x.astype(dtype)
    xt = torch.tensor(x, requires_grad=True)
    yt = (TF.log_softmax if log else TF.softmax)(xt, dim=1)
    dy = np.linspace(-1, 1, x.size).reshape(x.shape).astype(dtype)
    yt.backward(torch.tensor(dy))
    xf = fl.Tensor(x.copy(), requires_grad=True)
    yf = (F.log_softmax if log else F.softmax)(xf, dim=1)
    yf.backward(fl.Tensor(dy))
    name = "log_softmax" if log else "softmax"
    for what, o, e in (("forward", yf.detach().numpy(), yt.detach().numpy()), ("backward", xf.grad.numpy(),
                                                                               xt.grad.numpy())):
        bad = mismatch(o.ravel(), e.ravel(), dtype, floor=1.0)  # values of order 1 summed
        assert len(bad) == 0, describe(name, f"{what} [{simd}]", x.ravel(), o.ravel(), e.ravel(), bad)


@pytest.mark.parametrize("eps", [0.0, -1e-5])
def test_batch_norm_training_refuses_eps_not_positive_as_torch(eps):
    x = np.ones((4, 3, 5), np.float32)  # constant channels: variance 0, so eps = 0 would give 0 / 0
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    with pytest.raises(ValueError, match="eps"):
        TF.batch_norm(torch.tensor(x), torch.tensor(rm), torch.tensor(rv), training=True, eps=eps)
    with pytest.raises(ValueError, match="eps must be (positive during training|>= 0)"):
        F.batch_norm(fl.Tensor(x), fl.Tensor(rm), fl.Tensor(rv), training=True, eps=eps)


def test_batch_norm_eval_accepts_eps_zero_as_torch():
    x = np.full((4, 3, 5), 2.0, np.float32)
    rm, rv = np.zeros(3, np.float32), np.full(3, 4.0, np.float32)
    expected = TF.batch_norm(torch.tensor(x), torch.tensor(rm), torch.tensor(rv), training=False, eps=0.0).numpy()
    ours = F.batch_norm(fl.Tensor(x), fl.Tensor(rm), fl.Tensor(rv), training=False, eps=0.0).numpy()
    np.testing.assert_array_equal(ours, expected, err_msg="batch_norm eval eps=0")
