"""Element-wise activations, softmax / log_softmax, prelu and maxout against torch: forward and every
gradient in float32 and float64 (kinks included), the fast kernels against the naive references,
gradcheck, non-contiguous inputs, in-place semantics, modules (repr, state_dict), bad inputs, threads. The
checks against torch run on each device (`device`, or `simd_or_cuda` where the CPU case runs on every SIMD path);
the fast-vs-reference, thread and finite-difference checks are CPU properties."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import fastlayers as fl
from fastlayers import _C, nn
from fastlayers.autograd import gradcheck
from fastlayers.nn import functional as F
from conftest import DEVICES, assert_close, simd_levels, to_device, to_host

DTYPES = [np.float32, np.float64]

# name, our functional call, torch's, whether torch's accepts inplace=
ACTS = [
    ("relu", lambda x, **k: F.relu(x, **k), lambda x, **k: TF.relu(x, **k), True),
    ("relu6", lambda x, **k: F.relu6(x, **k), lambda x, **k: TF.relu6(x, **k), True),
    ("leaky_relu", lambda x, **k: F.leaky_relu(x, **k), lambda x, **k: TF.leaky_relu(x, **k), True),
    ("leaky_relu-s0.2", lambda x, **k: F.leaky_relu(x, 0.2, **k), lambda x, **k: TF.leaky_relu(x, 0.2, **k), True),
    ("leaky_relu-s-0.5", lambda x, **k: F.leaky_relu(x, -0.5), lambda x, **k: TF.leaky_relu(x, -0.5), False),
    ("elu", lambda x, **k: F.elu(x, **k), lambda x, **k: TF.elu(x, **k), True),
    ("elu-a0.5", lambda x, **k: F.elu(x, alpha=0.5, **k), lambda x, **k: TF.elu(x, alpha=0.5, **k), True),
    ("selu", lambda x, **k: F.selu(x, **k), lambda x, **k: TF.selu(x, **k), True),
    ("celu", lambda x, **k: F.celu(x, **k), lambda x, **k: TF.celu(x, **k), True),
    ("celu-a2", lambda x, **k: F.celu(x, 2.0, **k), lambda x, **k: TF.celu(x, 2.0, **k), True),
    ("gelu", lambda x: F.gelu(x), lambda x: TF.gelu(x), False),
    ("gelu-tanh", lambda x: F.gelu(x, approximate="tanh"), lambda x: TF.gelu(x, approximate="tanh"), False),
    ("silu", lambda x, **k: F.silu(x, **k), lambda x, **k: TF.silu(x, **k), True),
    ("mish", lambda x, **k: F.mish(x, **k), lambda x, **k: TF.mish(x, **k), True),
    ("softplus", lambda x: F.softplus(x), lambda x: TF.softplus(x), False),
    ("softplus-b2-t5", lambda x: F.softplus(x, beta=2, threshold=5), lambda x: TF.softplus(x, beta=2, threshold=5),
     False),
    ("softplus-b-1.5-t3", lambda x: F.softplus(x, -1.5, 3.0), lambda x: TF.softplus(x, -1.5, 3.0), False),
    ("sigmoid", lambda x: F.sigmoid(x), lambda x: torch.sigmoid(x), False),
    ("tanh", lambda x: F.tanh(x), lambda x: torch.tanh(x), False),
    ("hardtanh", lambda x, **k: F.hardtanh(x, **k), lambda x, **k: TF.hardtanh(x, **k), True),
    ("hardtanh-m-2-3", lambda x, **k: F.hardtanh(x, -2.0, 3.0, **k), lambda x, **k: TF.hardtanh(x, -2.0, 3.0, **k),
     True),
    ("hardsigmoid", lambda x, **k: F.hardsigmoid(x, **k), lambda x, **k: TF.hardsigmoid(x, **k), True),
    ("hardswish", lambda x, **k: F.hardswish(x, **k), lambda x, **k: TF.hardswish(x, **k), True),
]
ACT_IDS = [a[0] for a in ACTS]


@pytest.fixture(params=simd_levels() + DEVICES[1:])
def simd_or_cuda(request):
    """(device, SIMD level): the CPU on each SIMD path (set for the test, restored after), then the GPU once, for
    checks against torch that the CPU runs on every SIMD path (the GPU has no SIMD levels to multiply by)."""
    if request.param == "cuda":
        yield "cuda", None
        return
    before = _C.simd_level()
    _C.set_simd_level(request.param)
    yield "cpu", request.param
    _C.set_simd_level(before)


def on(device, a, requires_grad=False):
    """A Tensor holding host array a on `device`."""
    return fl.tensor(to_device(np.asarray(a), device), requires_grad=requires_grad)


def act_data(rng, shape, dtype):
    """Grid values in [-4, 4] (every kink: 0, +-1, +-3, ...) with large magnitudes mixed in."""
    x = rng.integers(-16, 17, size=shape) / 4
    special = np.array([0.0, -3.0, 3.0, 6.0, -6.0, 25.0, -25.0, 90.0, -90.0, 1.0, -1.0, 2.5, -2.0])
    flat = x.reshape(-1)
    flat[: min(flat.size, special.size)] = special[: flat.size]
    return x.astype(dtype)


def _torch_grads(tfn, x, g, dtype):
    """Forward and input gradient of torch in float64 (the exact answer for a float32 comparison too)."""
    tx = torch.tensor(x.astype(np.float64), requires_grad=True)
    ty = tfn(tx)
    ty.backward(torch.tensor(g.astype(np.float64)))
    return ty.detach().numpy(), tx.grad.numpy()


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("shape", [(1,), (7,), (3, 5, 11), (2, 1, 4, 33)], ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("act", ACTS, ids=ACT_IDS)
def test_activation_matches_torch(act, shape, dtype, simd_or_cuda):
    device, simd = simd_or_cuda
    name, ours, theirs, _ = act
    rng = np.random.default_rng(1)
    x = act_data(rng, shape, dtype)
    g = (rng.integers(-8, 9, size=shape) / 4).astype(dtype)
    if dtype == np.float64:
        tx = torch.tensor(x, requires_grad=True)
        ty = theirs(tx)
        ty.backward(torch.tensor(g))
        want_y, want_dx = ty.detach().numpy(), tx.grad.numpy()
    else:
        want_y, want_dx = _torch_grads(theirs, x, g, dtype)
    t = on(device, x, requires_grad=True)
    y = ours(t)
    y.backward(on(device, g))
    case = f"{'x'.join(map(str, shape))} {np.dtype(dtype).name} {device} simd={simd}"
    assert y.dtype == dtype and t.grad.dtype == dtype
    assert_close(to_host(y), want_y, name, case, dtype=dtype)
    assert_close(to_host(t.grad), want_dx, name + " grad", case, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("act", ACTS, ids=ACT_IDS)
def test_activation_fast_matches_reference(act, dtype, simd):
    name, ours, _, _ = act
    rng = np.random.default_rng(2)
    x = np.concatenate([act_data(rng, (500,), dtype), (rng.standard_normal(70000) * 5).astype(dtype)])
    g = rng.standard_normal(x.shape).astype(dtype)
    results = []
    for use_ref in (False, True):
        _C.set_activation_reference(use_ref)
        try:
            t = fl.tensor(x, requires_grad=True)
            y = ours(t)
            y.backward(fl.tensor(g))
            results.append((y.detach().numpy(), t.grad.numpy()))
        finally:
            _C.set_activation_reference(False)
    (fy, fdx), (ry, rdx) = results
    # float32 transcendentals of arguments up to ~20 inherit the argument's rounding times its size (up to
    # ~40 ulp for gelu's cubic); the float32 bound is widened by that conditioning, float64's is not.
    scale = 64 if dtype == np.float32 else 1
    assert_close(fy, ry, name + " fast vs reference", f"{np.dtype(dtype).name} simd={simd}", reduction_len=scale, dtype=dtype)
    assert_close(fdx, rdx, name + " grad fast vs reference", f"{np.dtype(dtype).name} simd={simd}", reduction_len=scale, dtype=dtype)


@pytest.mark.parametrize("act", ACTS, ids=ACT_IDS)
def test_activation_gradcheck(act):
    _, ours, _, _ = act
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 7)) * 2.5
    x[np.abs(x - np.round(x)) < 1e-3] += 0.01  # stay off the kinks at integers
    assert gradcheck(ours, (fl.tensor(x, requires_grad=True),))


@pytest.mark.parametrize("act", ACTS, ids=ACT_IDS)
def test_activation_non_contiguous(act, device):
    name, ours, theirs, _ = act
    rng = np.random.default_rng(4)
    base = act_data(rng, (6, 10), np.float64)
    x = to_device(base, device)[:, ::3].T  # strided and transposed, on the device
    assert not x.flags.c_contiguous
    t = fl.Tensor(x, requires_grad=True)  # keeps the strides (fl.tensor would copy)
    y = ours(t)
    y.sum().backward()
    want_y, want_dx = _torch_grads(theirs, np.ascontiguousarray(base[:, ::3].T), np.ones(x.shape), np.float64)
    assert_close(to_host(y), want_y, name, "non-contiguous")
    assert_close(to_host(t.grad), want_dx, name + " grad", "non-contiguous")


INPLACE = [a for a in ACTS if a[3]]


@pytest.mark.parametrize("act", INPLACE, ids=[a[0] for a in INPLACE])
def test_activation_inplace_without_grad_writes_the_array(act, device):
    name, ours, theirs, _ = act
    rng = np.random.default_rng(5)
    x = act_data(rng, (4, 9), np.float32)
    want = theirs(torch.tensor(x)).numpy()
    t = on(device, x)
    array = t.data
    out = ours(t, inplace=True)
    assert out is t and t.data is array
    assert_close(to_host(array), want, name, "inplace", dtype=np.float32)
    # a strided array is written through as well
    base_host = act_data(rng, (4, 10), np.float32)
    want = theirs(torch.tensor(np.ascontiguousarray(base_host[:, ::2]))).numpy()
    base = to_device(base_host, device)
    view = fl.Tensor(base[:, ::2])  # shares the memory (fl.tensor would copy)
    assert np.shares_memory(view.data, base)
    ours(view, inplace=True)
    assert_close(to_host(base[:, ::2]), want, name, "inplace strided", dtype=np.float32)


@pytest.mark.parametrize("act", INPLACE, ids=[a[0] for a in INPLACE])
def test_activation_inplace_on_non_leaf_records_the_graph(act, device):
    name, ours, theirs, _ = act
    rng = np.random.default_rng(6)
    x = act_data(rng, (3, 8), np.float64)
    g = (rng.integers(-8, 9, size=x.shape) / 4)
    t = on(device, x, requires_grad=True)
    h = t * 2.0
    out = ours(h, inplace=True)
    assert out is h and not h.is_leaf
    (h * 3.0).backward(on(device, g))
    tx = torch.tensor(x, requires_grad=True)
    th = tx * 2.0
    theirs(th, inplace=True)
    (th * 3.0).backward(torch.tensor(g))
    assert_close(to_host(h), th.detach().numpy(), name, "inplace non-leaf")
    assert_close(to_host(t.grad), tx.grad.numpy(), name + " grad", "inplace non-leaf")


@pytest.mark.parametrize("act", INPLACE, ids=[a[0] for a in INPLACE])
def test_activation_inplace_on_leaf_requiring_grad_raises(act, device):
    _, ours, theirs, _ = act
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        theirs(torch.zeros(3, requires_grad=True), inplace=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        ours(on(device, np.zeros(3, np.float32), requires_grad=True), inplace=True)
    with fl.no_grad():  # allowed outside grad mode, as in torch
        t = on(device, np.array([-1.0, 2.0], np.float32), requires_grad=True)
        ours(t, inplace=True)


def test_activation_threads_agree(threads, simd):
    rng = np.random.default_rng(7)
    x = (rng.standard_normal(300001) * 4).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    outs = []
    for n in (1, 2):
        fl.set_num_threads(n)
        for kind in ("relu", "elu", "gelu", "silu", "tanh"):
            outs.append((n, kind, _C.activation_forward(x, kind), _C.activation_backward(g, x, False, kind)))
    half = len(outs) // 2
    for (_, kind, y1, d1), (_, _, y2, d2) in zip(outs[:half], outs[half:]):
        assert np.array_equal(y1, y2), kind
        assert np.array_equal(d1, d2), kind


def test_activation_bad_inputs(device):
    zeros = on(device, np.zeros(3, np.float32))
    with pytest.raises(TypeError, match="input"):
        F.relu(zeros.data)
    with pytest.raises(ValueError, match="approximate"):
        F.gelu(zeros, approximate="fast")
    with pytest.raises(ValueError, match="min_val"):
        F.hardtanh(zeros, 2.0, 1.0)
    with pytest.raises(TypeError, match="negative_slope"):
        F.leaky_relu(zeros, "0.1")
    with pytest.raises(ValueError, match="beta"):
        F.softplus(zeros, beta=0)
    with pytest.raises(TypeError, match="float32 or float64"):
        F.relu(on(device, [1, 2, 3]))
    with pytest.raises(ValueError, match="unknown kind"):
        _C.activation_forward(on(device, np.zeros(3)).data, "swish")
    with pytest.raises(ValueError, match="cannot be computed from its output"):
        _C.activation_backward(on(device, np.zeros(3)).data, on(device, np.zeros(3)).data, True, "gelu")


# ---------------------------------------------------------------------------------------------------------
# softmax / log_softmax

SOFTMAX_CASES = [((1,), 0), ((7,), -1), ((5, 13), 1), ((5, 13), 0), ((2, 3, 4, 5), 1), ((2, 3, 4, 5), -1),
                 ((2, 3, 4, 5), 0), ((3, 1, 6), 1), ((4, 1000), 1), ((), 0)]


@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("shape,dim", SOFTMAX_CASES, ids=[f"{'x'.join(map(str, s)) or 'scalar'}-d{d}"
                                                           for s, d in SOFTMAX_CASES])
def test_softmax_matches_torch(shape, dim, dtype, log, simd_or_cuda):
    device, simd = simd_or_cuda
    rng = np.random.default_rng(8)
    x = np.asarray(rng.integers(-16, 17, size=shape) / 4).astype(dtype)
    if x.size > 2:
        x.reshape(-1)[0] = 80.0  # large values: stability
    g = np.asarray(rng.integers(-8, 9, size=shape) / 4).astype(dtype)
    ours_fn, torch_fn = (F.log_softmax, TF.log_softmax) if log else (F.softmax, TF.softmax)
    tx = torch.tensor(x.astype(np.float64), requires_grad=True)
    ty = torch_fn(tx, dim)
    ty.backward(torch.tensor(g.astype(np.float64)))
    t = on(device, x, requires_grad=True)
    y = ours_fn(t, dim)
    y.backward(on(device, g))
    n = shape[dim] if shape else 1
    case = f"{shape} dim={dim} {np.dtype(dtype).name} {device} simd={simd}"
    op = "log_softmax" if log else "softmax"
    assert_close(to_host(y), ty.detach().numpy(), op, case, reduction_len=n, dtype=dtype)
    assert_close(to_host(t.grad), tx.grad.numpy(), op + " grad", case, reduction_len=n, dtype=dtype)
    for use_ref in (True,):  # against the CPU reference (on the host), whichever device ran ours
        _C.set_activation_reference(use_ref)
        try:
            ry = _C.softmax_forward(x, dim % max(x.ndim, 1), log)
            rdx = _C.softmax_backward(g, ry, dim % max(x.ndim, 1), log)
        finally:
            _C.set_activation_reference(False)
        assert_close(to_host(y), ry, op + " vs reference", case, reduction_len=n, dtype=dtype)
        assert_close(to_host(t.grad), rdx, op + " grad vs reference", case, reduction_len=n, dtype=dtype)


@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
def test_softmax_gradcheck(log):
    rng = np.random.default_rng(9)
    fn = F.log_softmax if log else F.softmax
    for dim in (0, 1, 2):
        x = fl.tensor(rng.standard_normal((3, 4, 5)), requires_grad=True)
        assert gradcheck(lambda t: fn(t, dim), (x,))


@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
def test_softmax_non_contiguous_matches_torch(log, device):
    fn = F.log_softmax if log else F.softmax
    base = np.random.default_rng(9).standard_normal((6, 8))
    x = to_device(base, device)[::2, 1::2].T  # strided and transposed, on the device
    want = (TF.log_softmax if log else TF.softmax)(torch.tensor(np.ascontiguousarray(base[::2, 1::2].T)), 0).numpy()
    assert_close(to_host(fn(fl.Tensor(x), 0)), want, "softmax", "non-contiguous", reduction_len=4)


def test_softmax_dim_none_dtype_and_errors(device):
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 7
    with pytest.warns(UserWarning, match="Implicit dimension"):
        y = F.softmax(on(device, x))
    with pytest.warns(UserWarning):
        want = TF.softmax(torch.tensor(x)).numpy()
    assert_close(to_host(y), want, "softmax", "dim=None", dtype=np.float32)
    y = F.log_softmax(on(device, x), 1, dtype=fl.float64)
    assert y.dtype == np.float64
    assert_close(to_host(y), TF.log_softmax(torch.tensor(x), 1, dtype=torch.float64).numpy(), "log_softmax", "dtype")
    with pytest.raises(IndexError, match="Dimension out of range"):
        F.softmax(on(device, x), 3)
    with pytest.raises(TypeError, match="dim"):
        F.softmax(on(device, x), 1.0)
    with pytest.raises(TypeError, match="float32 or float64"):
        F.softmax(on(device, [1, 2]), 0)


def test_softmax_threads_agree(threads, simd):
    rng = np.random.default_rng(10)
    x = rng.standard_normal((64, 257)).astype(np.float32)
    outs = []
    for n in (1, 2):
        fl.set_num_threads(n)
        for dim in (0, 1):
            y = _C.softmax_forward(x, dim, False)
            outs.append((y, _C.softmax_backward(x, y, dim, False)))
    for a, b in zip(outs[:2], outs[2:]):
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


# ---------------------------------------------------------------------------------------------------------
# prelu

PRELU_CASES = [((2, 3, 5, 7), 3), ((2, 3, 5, 7), 1), ((4, 1, 6), 1), ((5, 6), 6), ((9,), 1), ((1, 5, 3), 5),
               ((3, 4, 2, 2, 3), 4)]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("shape,nw", PRELU_CASES, ids=[f"{'x'.join(map(str, s))}-w{n}" for s, n in PRELU_CASES])
def test_prelu_matches_torch(shape, nw, dtype, device):
    rng = np.random.default_rng(11)
    x = (rng.integers(-8, 9, size=shape) / 4).astype(dtype)
    w = (rng.integers(-4, 5, size=nw) / 8).astype(dtype)
    g = (rng.integers(-8, 9, size=shape) / 4).astype(dtype)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    ty = TF.prelu(tx, tw)
    ty.backward(torch.tensor(g))
    results = []
    # The CPU runs its fast kernel and its reference (the flag selects between the two); the GPU has one kernel.
    for use_ref in (False, True) if device == "cpu" else (False,):
        _C.set_activation_reference(use_ref)
        try:
            t, tw_ = on(device, x, requires_grad=True), on(device, w, requires_grad=True)
            y = F.prelu(t, tw_)
            y.backward(on(device, g))
            results.append((to_host(y), to_host(t.grad), to_host(tw_.grad)))
        finally:
            _C.set_activation_reference(False)
    case = f"{shape} w{nw} {np.dtype(dtype).name} {device}"
    red = int(np.prod(shape)) // nw
    for label, (y, dx, dw) in zip(("fast", "reference"), results):
        assert_close(y, ty.detach().numpy(), f"prelu {label}", case, dtype=dtype)
        assert_close(dx, tx.grad.numpy(), f"prelu {label} grad_input", case, dtype=dtype)
        assert_close(dw, tw.grad.numpy(), f"prelu {label} grad_weight", case, reduction_len=red, dtype=dtype)


def test_prelu_gradcheck_and_threads(threads):
    rng = np.random.default_rng(12)
    x = fl.tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
    w = fl.tensor(rng.standard_normal(3), requires_grad=True)
    assert gradcheck(F.prelu, (x, w))
    xs = rng.standard_normal((8, 5, 999)).astype(np.float32)
    ws = rng.standard_normal(5).astype(np.float32)
    res = []
    for n in (1, 2):
        fl.set_num_threads(n)
        res.append(_C.prelu_backward(xs, xs, ws))
    assert np.array_equal(res[0][0], res[1][0]) and np.array_equal(res[0][1], res[1][1])


def test_prelu_bad_input_raises(device):
    def zeros(*shape, dtype=np.float32):
        return on(device, np.zeros(shape, dtype))

    with pytest.raises(ValueError, match="channel"):
        F.prelu(zeros(2, 3, 4), zeros(4))
    with pytest.raises(ValueError, match="1-D"):
        F.prelu(zeros(2, 3), zeros(3, 1))
    with pytest.raises(TypeError, match="dtype"):
        F.prelu(zeros(2, 3), zeros(3, dtype=np.float64))


# ---------------------------------------------------------------------------------------------------------
# maxout


def torch_maxout(x, pieces, dim):
    shape = list(x.shape)
    shape[dim: dim + 1] = [shape[dim] // pieces, pieces]
    return x.reshape(shape).max(dim + 1).values


MAXOUT_CASES = [((2, 6, 5, 3), 2, 1), ((2, 6, 5, 3), 3, 1), ((3, 5), 5, 1), ((4, 7), 1, 1), ((4, 9, 2), 3, 1),
                ((8, 3), 4, 0), ((2, 4, 6), 3, 2), ((1, 12, 1, 1), 4, 1)]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("shape,pieces,dim", MAXOUT_CASES,
                         ids=[f"{'x'.join(map(str, s))}-p{p}-d{d}" for s, p, d in MAXOUT_CASES])
def test_maxout_matches_torch(shape, pieces, dim, dtype, device):
    rng = np.random.default_rng(13)
    x = (rng.integers(-3, 4, size=shape) / 2).astype(dtype)  # coarse grid: many ties
    out_shape = list(shape)
    out_shape[dim] //= pieces
    g = (rng.integers(-8, 9, size=out_shape) / 4).astype(dtype)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch_maxout(tx, pieces, dim)
    ty.backward(torch.tensor(g))
    # The CPU runs its fast kernel and its reference (the flag selects between the two); the GPU has one kernel.
    for use_ref in (False, True) if device == "cpu" else (False,):
        _C.set_activation_reference(use_ref)
        try:
            t = on(device, x, requires_grad=True)
            y = F.maxout(t, pieces, dim)
            y.backward(on(device, g))
        finally:
            _C.set_activation_reference(False)
        case = f"{shape} pieces={pieces} dim={dim} {np.dtype(dtype).name} {device} ref={use_ref}"
        assert_close(to_host(y), ty.detach().numpy(), "maxout", case, dtype=dtype)
        assert_close(to_host(t.grad), tx.grad.numpy(), "maxout grad", case, dtype=dtype)


def test_maxout_first_max_on_ties_module_and_errors(device):
    x = on(device, np.array([[1.0, 1.0, 0.0, 2.0, 2.0, 2.0]], np.float32), requires_grad=True)
    F.maxout(x, 3).sum().backward()
    assert to_host(x.grad).tolist() == [[1.0, 0.0, 0.0, 1.0, 0.0, 0.0]]
    m = nn.Maxout(3)
    assert repr(m) == "Maxout(pieces=3, dim=1)" and m.state_dict() == {} or len(m.state_dict()) == 0
    assert m(on(device, np.zeros((2, 9, 4), np.float32))).shape == (2, 3, 4)
    with pytest.raises(ValueError, match="divisible"):
        F.maxout(on(device, np.zeros((2, 5), np.float32)), 2)
    with pytest.raises(ValueError, match="pieces"):
        F.maxout(on(device, np.zeros((2, 4), np.float32)), 0)
    with pytest.raises(IndexError, match="dim"):
        F.maxout(on(device, np.zeros((2, 4), np.float32)), 2, dim=2)


def test_maxout_gradcheck():
    t = fl.tensor(np.random.default_rng(14).standard_normal((2, 6, 3)), requires_grad=True)
    assert gradcheck(lambda a: F.maxout(a, 2), (t,))


# ---------------------------------------------------------------------------------------------------------
# modules

MODULES = [
    ("ReLU", {}), ("ReLU", dict(inplace=True)), ("ReLU6", {}), ("ReLU6", dict(inplace=True)), ("LeakyReLU", {}),
    ("LeakyReLU", dict(negative_slope=0.2, inplace=True)), ("ELU", dict(alpha=0.5)), ("ELU", dict(inplace=True)),
    ("SELU", {}), ("CELU", dict(alpha=2.0)), ("GELU", {}), ("GELU", dict(approximate="tanh")), ("SiLU", {}),
    ("SiLU", dict(inplace=True)), ("Mish", {}), ("Softplus", dict(beta=2, threshold=10)), ("Softplus", {}),
    ("Sigmoid", {}), ("Tanh", {}), ("Hardtanh", {}), ("Hardtanh", dict(min_val=-2, max_val=3, inplace=True)),
    ("Hardsigmoid", {}), ("Hardswish", dict(inplace=True)), ("Softmax", dict(dim=1)), ("LogSoftmax", dict(dim=-1)),
    ("PReLU", {}), ("PReLU", dict(num_parameters=4, init=0.1)),
]


@pytest.mark.parametrize("name,kwargs", MODULES, ids=[f"{n}-{k}" for n, k in MODULES])
def test_module_matches_torch(name, kwargs, device):
    ours = getattr(nn, name)(**kwargs).to(device)
    theirs = getattr(torch.nn, name)(**kwargs)
    assert repr(ours) == repr(theirs)
    sd, tsd = ours.state_dict(), theirs.state_dict()
    assert list(sd) == list(tsd)
    for key in sd:
        assert tuple(sd[key].shape) == tuple(tsd[key].shape)
        assert_close(to_host(sd[key]), tsd[key].numpy(), name, key, dtype=np.float32)
    rng = np.random.default_rng(15)
    x = act_data(rng, (2, 4, 3, 5), np.float32)
    y = ours(on(device, x))
    want = theirs(torch.tensor(x.copy())).detach().numpy()
    assert_close(to_host(y), want, name, str(kwargs), reduction_len=4, dtype=np.float32)


def test_prelu_module_dtype_and_load_state_dict(device):
    theirs = torch.nn.PReLU(3, init=0.3)
    ours = nn.PReLU(3, dtype=fl.float64, device=device)
    assert ours.weight.dtype == np.float64
    # a host checkpoint loaded into the module where it lives, as torch's load_state_dict copies across devices
    ours.load_state_dict({"weight": fl.tensor(theirs.weight.detach().numpy().astype(np.float64))})
    assert_close(to_host(ours.weight), np.full(3, 0.3), "PReLU", "load_state_dict", dtype=np.float32)
    with pytest.raises(ValueError, match="num_parameters"):
        nn.PReLU(0)
