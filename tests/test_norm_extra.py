"""Local response norm (vs torch) and Batch-Instance norm (vs a composition of torch ops; torch has no such
layer): forward, every gradient and the running statistics, float32 and float64; fast kernels against the
naive references; finite differences; non-contiguous inputs; thread counts; modules; bad input. The checks
against torch run on each device (`device`); the fast-vs-reference, thread and finite-difference checks are CPU
properties."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import fastlayers as fl
import fastlayers.nn.functional as F
from fastlayers import _C, nn
from fastlayers.autograd import gradcheck
from conftest import assert_close, grid_data, to_device, to_host

DTYPES = [np.float32, np.float64]


def dname(d):
    return np.dtype(d).name


def shape_id(shape):
    return "x".join(map(str, shape))


# ---------------------------------------------------------------------------------------------------------
# local_response_norm

LRN_CASES = [  # (shape, size, alpha, beta, k)
    ((2, 5, 4, 3), 5, 1e-4, 0.75, 1.0),     # torch's defaults
    ((1, 1, 7), 3, 0.5, 0.75, 1.0),          # one channel, 3-D
    ((3, 7, 5), 4, 0.3, 0.6, 2.0),           # even size: 2 channels before, 1 after
    ((2, 6, 3, 3, 2), 2, 0.4, 1.2, 1.5),     # 5-D
    ((2, 3, 4, 4), 7, 0.2, 0.75, 1.0),       # window wider than the channels
    ((2, 9, 1, 13), 1, 0.7, 0.5, 0.5),       # size 1, height 1
    ((2, 8, 13, 11), 5, 0.1, 0.75, 2.0),     # spatial size over one kernel block (128)
    ((1, 11, 3, 5), 6, 1.0, 0.25, 1.0),
]


def lrn_id(c):
    shape, size, alpha, beta, k = c
    return f"{shape_id(shape)}-n{size}-a{alpha}-b{beta}-k{k}"


def lrn_data(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return grid_data(rng, shape, dtype), grid_data(rng, shape, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=dname)
@pytest.mark.parametrize("case", LRN_CASES, ids=lrn_id)
def test_local_response_norm_matches_torch(case, dtype, device):
    shape, size, alpha, beta, k = case
    x, dy = lrn_data(shape, dtype)
    fx = fl.Tensor(to_device(x, device), requires_grad=True)
    tx = torch.from_numpy(x).requires_grad_()
    y = F.local_response_norm(fx, size, alpha, beta, k)
    ty = TF.local_response_norm(tx, size, alpha, beta, k)
    y.backward(to_device(dy, device))
    ty.backward(torch.from_numpy(dy))
    n = 4 * size
    assert y.dtype == dtype
    assert_close(to_host(y), ty.detach().numpy(), "local_response_norm output", lrn_id(case), n, dtype)
    assert_close(to_host(fx.grad), tx.grad.numpy(), "local_response_norm grad_input", lrn_id(case), n, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=dname)
@pytest.mark.parametrize("case", LRN_CASES, ids=lrn_id)
def test_local_response_norm_fast_kernels_match_reference(case, dtype):
    shape, size, alpha, beta, k = case
    x, dy = lrn_data(shape, dtype, seed=3)
    results = []
    for use_ref in (False, True):
        _C.set_norm_use_reference(use_ref)
        try:
            y, scale = _C.lrn_forward(x, size, alpha, beta, k)
            results.append([y, scale, _C.lrn_backward(dy, x, scale, size, alpha, beta, k)])
        finally:
            _C.set_norm_use_reference(False)
    for name, fast, ref in zip(["output", "scale", "grad_input"], *results):
        assert_close(fast, ref, f"local_response_norm fast vs reference {name}", lrn_id(case), 4 * size, dtype)


def test_local_response_norm_backward_formula_by_hand(device):
    """dx_c = dy_c s_c^-b - 2 a b / n * x_c * sum_{j: c in window(j)} dy_j x_j s_j^(-b-1), written out with numpy
    for an even size (the backward window is the forward one mirrored)."""
    rng = np.random.default_rng(4)
    N, C, S, n, a, b, k = 2, 6, 5, 4, 0.3, 0.8, 1.5
    x, dy = rng.standard_normal((N, C, S)), rng.standard_normal((N, C, S))
    sq = np.pad(x * x, ((0, 0), (n // 2, (n - 1) // 2), (0, 0)))
    s = k + a / n * np.stack([sq[:, c:c + n].sum(axis=1) for c in range(C)], axis=1)
    t = np.pad(dy * x * s ** (-b - 1), ((0, 0), ((n - 1) // 2, n // 2), (0, 0)))
    expected = dy * s ** -b - 2 * a * b / n * x * np.stack([t[:, c:c + n].sum(axis=1) for c in range(C)], axis=1)
    fx = fl.Tensor(to_device(x, device), requires_grad=True)
    F.local_response_norm(fx, n, a, b, k).backward(to_device(dy, device))
    assert_close(to_host(fx.grad), expected, "local_response_norm grad_input", "by hand", 4 * n)


@pytest.mark.parametrize("case", [((2, 5, 3, 2), 3, 0.5, 0.75, 1.0), ((1, 4, 5), 2, 1.0, 1.5, 2.0),
                                  ((2, 3, 2, 2, 2), 5, 0.8, 0.4, 1.0)], ids=lrn_id)
def test_local_response_norm_gradcheck(case):
    shape, size, alpha, beta, k = case
    x = fl.Tensor(np.random.default_rng(5).standard_normal(shape), requires_grad=True)
    assert gradcheck(lambda x: F.local_response_norm(x, size, alpha, beta, k), (x,))


def test_local_response_norm_non_contiguous_input(device):
    rng = np.random.default_rng(6)
    base = rng.standard_normal((3, 10, 9, 8))
    x = to_device(base, device)[:, ::2, ::3, :].transpose(0, 1, 3, 2)  # (3, 5, 8, 3), strided on the device
    dy = rng.standard_normal(x.shape)
    fx = fl.Tensor(x, requires_grad=True)
    tx = torch.from_numpy(np.ascontiguousarray(base[:, ::2, ::3, :].transpose(0, 1, 3, 2))).requires_grad_()
    y, ty = F.local_response_norm(fx, 3, 0.5), TF.local_response_norm(tx, 3, 0.5)
    y.backward(to_device(dy, device)), ty.backward(torch.from_numpy(dy))
    assert_close(to_host(y), ty.detach().numpy(), "local_response_norm output", "strided", 12)
    assert_close(to_host(fx.grad), tx.grad.numpy(), "local_response_norm grad_input", "strided", 12)


def test_local_response_norm_one_and_two_threads_agree_exactly(threads):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 12, 17, 19)).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    results = []
    for n in (1, 2):
        fl.set_num_threads(n)
        y, scale = _C.lrn_forward(x, 5, 0.1, 0.75, 2.0)
        results.append([y, scale, _C.lrn_backward(dy, x, scale, 5, 0.1, 0.75, 2.0)])
    for name, one, two in zip(["output", "scale", "grad_input"], *results):
        np.testing.assert_array_equal(one, two, err_msg=f"local_response_norm {name}: 1 vs 2 threads")


@pytest.mark.parametrize("args", [(5,), (3, 2e-4, 0.5, 2), (4, 0.1, 1.0, 0.5)], ids=str)
def test_local_response_norm_module_matches_torch(args, device):
    ours, ref = nn.LocalResponseNorm(*args), torch.nn.LocalResponseNorm(*args)
    assert repr(ours) == repr(ref)
    assert list(ours.state_dict()) == list(ref.state_dict()) == []
    x = np.random.default_rng(8).standard_normal((2, 7, 3, 4)) * 3
    fx, tx = fl.tensor(to_device(x, device), requires_grad=True), torch.from_numpy(x).requires_grad_()
    y, ty = ours.to(device)(fx), ref(tx)
    y.backward(to_device(np.ones_like(x), device)), ty.backward(torch.ones_like(tx))
    assert_close(to_host(y), ty.detach().numpy(), "LocalResponseNorm output", str(args), 20)
    assert_close(to_host(fx.grad), tx.grad.numpy(), "LocalResponseNorm grad_input", str(args), 20)
    y32 = ours(fl.tensor(to_device(x.astype(np.float32), device)))
    assert y32.dtype == np.float32 and y32.shape == x.shape


# ---------------------------------------------------------------------------------------------------------
# batch_instance_norm, against torch ops composed

def torch_bin(x, rm, rv, w, b, rho, training, momentum, eps):
    pshape = (1, -1) + (1,) * (x.ndim - 2)
    x_bn = TF.batch_norm(x, rm, rv, None, None, training, momentum, eps)
    x_in = TF.instance_norm(x, eps=eps)
    r = rho.view(pshape)
    y = r * x_bn + (1 - r) * x_in
    if w is not None:
        y = y * w.view(pshape)
    if b is not None:
        y = y + b.view(pshape)
    return y


def term_magnitude(x, dy, w, running, training, eps):
    """Per channel, the sum of the magnitudes of the terms behind the weight / bias / rho gradients (those
    sums cancel, so their rounding error scales with this, not with the result)."""
    x, dy = torch.as_tensor(np.asarray(x, np.float64)), torch.as_tensor(np.asarray(dy, np.float64))
    rm, rv = running if running is not None else (None, None)
    rm = None if rm is None else torch.as_tensor(np.asarray(rm, np.float64))
    rv = None if rv is None else torch.as_tensor(np.asarray(rv, np.float64))
    with torch.no_grad():
        x_bn = TF.batch_norm(x, rm, rv, None, None, training, 0.0, eps)
        x_in = TF.instance_norm(x, eps=eps)
        terms = dy.abs() * (x_bn.abs() + x_in.abs() + 1)
        mag = terms.sum(dim=[d for d in range(x.ndim) if d != 1]).numpy()
    return mag * (1 + (np.abs(np.asarray(w, np.float64)) if w is not None else 0))


def assert_close_reduction(ours, expected, op, case, n, dtype, mag):
    """assert_close on a per-channel sum of n terms of total magnitude mag (tolerance about 8 eps mag)."""
    scale = np.maximum(1.0, mag / np.sqrt(n))
    assert_close(np.asarray(ours) / scale, np.asarray(expected) / scale, op, case, n, dtype)


BIN_CASES = [  # (shape, affine, training, running stats)
    ((2, 1, 5, 5), True, True, True),
    ((3, 5, 7, 4), True, True, True),       # odd channels, non-square
    ((2, 6, 9), True, True, False),         # 3-D, no running statistics
    ((1, 3, 1, 9), False, True, True),      # no affine, height 1, one sample
    ((4, 7, 3, 3), True, False, True),      # evaluation: BN branch on the running statistics
    ((2, 4, 2, 5, 3), False, False, True),  # 5-D, evaluation
    ((2, 17, 11, 13), True, True, True),
]


def bin_id(c):
    return f"{shape_id(c[0])}{'' if c[1] else '-noaffine'}{'-train' if c[2] else '-eval'}{'' if c[3] else '-norunning'}"


def bin_data(shape, dtype, affine, seed=0):
    rng = np.random.default_rng(seed)
    C = shape[1]
    x = grid_data(rng, shape, dtype) + 0.5
    w = grid_data(rng, (C,), dtype) + 2.5 if affine else None
    b = grid_data(rng, (C,), dtype) if affine else None
    rho = (rng.integers(0, 5, size=C) / 4).astype(dtype)  # 0, 1/4, ..., 1
    rm = grid_data(rng, (C,), dtype)
    rv = (rng.integers(1, 9, size=C) / 4).astype(dtype)
    dy = grid_data(rng, shape, dtype)
    return x, w, b, rho, rm, rv, dy


@pytest.mark.parametrize("dtype", DTYPES, ids=dname)
@pytest.mark.parametrize("case", BIN_CASES, ids=bin_id)
def test_batch_instance_norm_matches_torch_composition(case, dtype, device):
    shape, affine, training, running = case
    x, w, b, rho, rm, rv, dy = bin_data(shape, dtype, affine)
    frm, frv = (fl.Tensor(to_device(rm.copy(), device)), fl.Tensor(to_device(rv.copy(), device))) if running \
        else (None, None)
    trm, trv = (torch.from_numpy(rm.copy()), torch.from_numpy(rv.copy())) if running else (None, None)
    arrays = [x, w, b, rho]
    ft = [None if a is None else fl.Tensor(to_device(a, device), requires_grad=True) for a in arrays]
    tt = [None if a is None else torch.from_numpy(a.copy()).requires_grad_() for a in arrays]
    y = F.batch_instance_norm(ft[0], frm, frv, ft[1], ft[2], ft[3], training, 0.3, 1e-4)
    ty = torch_bin(tt[0], trm, trv, tt[1], tt[2], tt[3], training, 0.3, 1e-4)
    y.backward(to_device(dy, device))
    ty.backward(torch.from_numpy(dy))
    n, cid = x.size // shape[1], bin_id(case)
    mag = term_magnitude(x, dy, w, None if training else (rm, rv), training, 1e-4)
    assert y.dtype == dtype
    assert_close(to_host(y), ty.detach().numpy(), "batch_instance_norm output", cid, n, dtype)
    for name, f, t in zip(["input", "weight", "bias", "rho"], ft, tt):
        if t is not None:
            assert f.grad is not None, f"batch_instance_norm grad_{name} {cid}: missing"
            if name == "input":
                assert_close(to_host(f.grad), t.grad.numpy(), f"batch_instance_norm grad_{name}", cid, n, dtype)
            else:
                assert_close_reduction(to_host(f.grad), t.grad.numpy(), f"batch_instance_norm grad_{name}", cid, n,
                                       dtype, mag)
    if running:
        assert_close(to_host(frm), trm.numpy(), "batch_instance_norm running_mean", cid, n, dtype)
        assert_close(to_host(frv), trv.numpy(), "batch_instance_norm running_var", cid, n, dtype)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "noaffine"])
def test_batch_instance_norm_gradcheck(training, affine):
    rng = np.random.default_rng(9)
    C = 3
    x = fl.Tensor(rng.standard_normal((2, C, 3, 2)) + 0.5, requires_grad=True)
    rho = fl.Tensor(np.array([0.2, 0.7, 1.0]), requires_grad=True)
    w = fl.Tensor(rng.standard_normal(C) + 1.5, requires_grad=True) if affine else None
    b = fl.Tensor(rng.standard_normal(C), requires_grad=True) if affine else None
    rm, rv = (fl.Tensor(rng.standard_normal(C)), fl.Tensor(rng.random(C) + 0.5)) if not training else (None, None)
    inputs = (x, rho) + ((w, b) if affine else ())

    def fn(x, rho, w=None, b=None):
        return F.batch_instance_norm(x, rm, rv, w, b, rho, training, 0.1, 1e-5)

    assert gradcheck(fn, inputs)


def test_batch_instance_norm_non_contiguous_input(device):
    rng = np.random.default_rng(12)
    base = rng.standard_normal((5, 4, 6, 3))
    x = to_device(base, device).transpose(3, 1, 0, 2)[:, :, ::2]  # (3, 4, 3, 6), strided on the device
    dy = rng.standard_normal(x.shape)
    rho = np.array([0.0, 0.3, 0.6, 1.0])
    fx, fr = fl.Tensor(x, requires_grad=True), fl.Tensor(to_device(rho, device), requires_grad=True)
    tx = torch.from_numpy(np.ascontiguousarray(base.transpose(3, 1, 0, 2)[:, :, ::2])).requires_grad_()
    tr = torch.from_numpy(rho.copy()).requires_grad_()
    y = F.batch_instance_norm(fx, None, None, None, None, fr, True)
    ty = torch_bin(tx, None, None, None, None, tr, True, 0.1, 1e-5)
    y.backward(to_device(dy, device)), ty.backward(torch.from_numpy(dy))
    assert_close(to_host(y), ty.detach().numpy(), "batch_instance_norm output", "strided", x.size)
    assert_close(to_host(fx.grad), tx.grad.numpy(), "batch_instance_norm grad_input", "strided", x.size)
    assert_close(to_host(fr.grad), tr.grad.numpy(), "batch_instance_norm grad_rho", "strided", x.size)


class TorchBatchInstanceNorm2d(torch.nn.BatchNorm2d):
    """The reference module: BatchNorm2d's parameters, buffers and running-statistics bookkeeping, a rho
    parameter initialised to 1, and the forward composed of torch ops."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats)
        self.rho = torch.nn.Parameter(torch.ones(num_features))

    def forward(self, x):
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        use_batch = self.training or (self.running_mean is None and self.running_var is None)
        keep = not self.training or self.track_running_stats
        return torch_bin(x, self.running_mean if keep else None, self.running_var if keep else None, self.weight,
                         self.bias, self.rho, use_batch, factor, self.eps)


BIN_MODULES = [{}, dict(eps=1e-3, momentum=0.2), dict(affine=False), dict(track_running_stats=False),
               dict(momentum=None)]


@pytest.mark.parametrize("kwargs", BIN_MODULES, ids=lambda k: str(k).replace(" ", "") or "default")
def test_batch_instance_norm_module_matches_torch_composition(kwargs, device):
    ours, ref = nn.BatchInstanceNorm2d(5, **kwargs), TorchBatchInstanceNorm2d(5, **kwargs)
    expected_repr = repr(ref).replace("TorchBatchInstanceNorm2d", "BatchInstanceNorm2d")
    assert repr(ours) == expected_repr
    names = [k for k, _ in ours.named_parameters()]
    assert names == (["weight", "bias", "rho"] if ours.affine else ["rho"]) == [k for k, _ in ref.named_parameters()]
    assert [(k, tuple(v.shape), np.dtype(v.numpy().dtype).name) for k, v in ours.state_dict().items()] == \
           [(k, tuple(v.shape), str(v.dtype).replace("torch.", "")) for k, v in ref.state_dict().items()]
    assert np.all(ours.rho.detach().numpy() == 1) and ours.rho.dtype == np.float32
    ref.double(), ours.double()
    with torch.no_grad():
        for p in ref.parameters():
            p.copy_(torch.rand(p.shape, dtype=torch.float64) + 0.25)
    ours.load_state_dict(ref.state_dict())
    ours.to(device)
    rng = np.random.default_rng(13)
    for step, training in enumerate([True, True, True, False]):
        ours.train(training), ref.train(training)
        x = rng.standard_normal((3, 5, 4, 6)) * (step + 1) + step
        dy = rng.standard_normal(x.shape)
        fx, tx = fl.tensor(to_device(x, device), requires_grad=True), torch.from_numpy(x).requires_grad_()
        y, ty = ours(fx), ref(tx)
        y.backward(to_device(dy, device)), ty.backward(torch.from_numpy(dy))
        case = f"{kwargs} step {step} training={training}"
        assert_close(to_host(y), ty.detach().numpy(), "BatchInstanceNorm2d output", case, x.size)
        assert_close(to_host(fx.grad), tx.grad.numpy(), "BatchInstanceNorm2d grad_input", case, x.size)
        for (name, p), (_, tp) in zip(ours.named_parameters(), ref.named_parameters()):
            assert_close(to_host(p.grad), tp.grad.numpy(), f"BatchInstanceNorm2d grad {name}", case, x.size)
        for k, v in ref.state_dict().items():
            assert_close(to_host(ours.state_dict()[k]), v.numpy(), f"BatchInstanceNorm2d state {k}", case, x.size)
        ours.zero_grad(), ref.zero_grad()


def test_batch_instance_norm_clip_rho_and_state_dict_round_trip(device):
    m = nn.BatchInstanceNorm2d(4, device=device)
    m.rho.data[...] = to_device(np.array([-0.5, 0.3, 1.7, 1.0], np.float32), device)
    assert m.clip_rho_() is m
    np.testing.assert_array_equal(to_host(m.rho), np.array([0.0, 0.3, 1.0, 1.0], np.float32))
    assert m.rho.requires_grad
    other = nn.BatchInstanceNorm2d(4, device=device)
    other.load_state_dict(m.state_dict())
    np.testing.assert_array_equal(to_host(other.rho), to_host(m.rho))
    # rho = 1 is batch norm, rho = 0 instance norm.
    x = fl.randn(3, 4, 5, 2).to(device)
    m.rho.data[...] = 1
    assert_close(to_host(m(x)), to_host(nn.BatchNorm2d(4, device=device)(x)), "rho=1", "batch norm", 30,
                 np.float32)
    m.rho.data[...] = 0
    assert_close(to_host(m(x)), to_host(nn.InstanceNorm2d(4, device=device)(x)), "rho=0", "instance norm", 30,
                 np.float32)


# ---------------------------------------------------------------------------------------------------------
# bad input

@pytest.mark.parametrize("call, error, words", [  # each call takes _t(*shape, dtype=): a Tensor of ones on the device
    (lambda _t: F.local_response_norm(_t(2, 3), 3), ValueError, ["3D or higher", "2 dimensions"]),
    (lambda _t: F.local_response_norm(_t(2, 3, 4), 0), ValueError, ["size", "size=0"]),
    (lambda _t: F.local_response_norm(_t(2, 3, 4), 2.5), TypeError, ["size", "2.5"]),
    (lambda _t: F.local_response_norm(_t(2, 3, 4), 3, alpha="a"), TypeError, ["alpha"]),
    (lambda _t: F.local_response_norm(_t(2, 3, 4).data, 3), TypeError, ["input", "Tensor"]),
    (lambda _t: F.local_response_norm(_t(2, 3, 4, dtype=np.int64), 3), TypeError, ["input", "int64"]),
    (lambda _t: _C.lrn_backward(_t(2, 3, 4).data, _t(2, 3, 4).data, _t(2, 3, 5).data, 3), ValueError,
     ["scale", "[2, 3, 5]", "[2, 3, 4]"]),
    (lambda _t: nn.LocalResponseNorm(3)(_t(4, 5)), ValueError, ["3D or higher", "2 dimensions"]),
    (lambda _t: F.batch_instance_norm(_t(2, 3, 4), None, None, None, None, _t(4), True), ValueError,
     ["rho", "(3,)", "(4,)"]),
    (lambda _t: F.batch_instance_norm(_t(2, 3, 4), None, None, None, None, _t(3, dtype=np.float64), True), TypeError,
     ["rho", "float32", "float64"]),
    (lambda _t: F.batch_instance_norm(_t(2, 3, 4), None, None, None, None, None, True), TypeError,
     ["rho", "Tensor"]),
    (lambda _t: F.batch_instance_norm(_t(2, 3, 4), None, None, _t(2), None, _t(3), True), ValueError,
     ["weight", "(3,)", "(2,)"]),
    (lambda _t: F.batch_instance_norm(_t(2, 3, 4), None, None, None, None, _t(3)), RuntimeError,
     ["running_mean", "evaluation"]),
    (lambda _t: F.batch_instance_norm(_t(2, 3, 1), None, None, None, None, _t(3), True), ValueError,
     ["more than 1 spatial", "(2, 3, 1)"]),
    (lambda _t: F.batch_instance_norm(_t(2, 3), None, None, None, None, _t(3), True), ValueError, ["3 dims", "(2, 3)"]),
    (lambda _t: nn.BatchInstanceNorm2d(3)(_t(2, 3, 4)), ValueError, ["4D", "3D"]),
    (lambda _t: nn.BatchInstanceNorm2d(3)(_t(2, 4, 3, 3)), ValueError, ["num_features (3)", "4"]),
], ids=lambda v: v.__name__ if isinstance(v, type) else None)
def test_norm_extra_bad_input_raises_clear_error(call, error, words, device):
    with pytest.raises(error) as info:
        call(lambda *shape, dtype=np.float32: fl.tensor(to_device(np.ones(shape, dtype), device)))
    for word in words:
        assert word in str(info.value), f"{word!r} not in {str(info.value)!r}"
