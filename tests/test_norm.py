"""Normalization (batch, layer, group, instance norm) against torch: forward, every gradient and the
running statistics, float32 and float64; fast kernels against the naive references; finite differences;
non-contiguous inputs; thread counts; modules (state_dict, repr, train/eval); bad input. The checks against
torch run on each device (`device`); the fast-vs-reference, thread and finite-difference checks are CPU
properties."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import fastlayers as fl
import fastlayers.nn.functional as F
from fastlayers import _C, nn
from conftest import assert_close, grid_data, to_device, to_host

DTYPES = [np.float32, np.float64]
TDT = {np.float32: torch.float32, np.float64: torch.float64}


def dname(d):
    return np.dtype(d).name


def shape_id(shape):
    return "x".join(map(str, shape))


def compare(op, case, ours, theirs, n, dtype):
    """ours/theirs: dicts name -> array (or None); n: the reduction length behind them."""
    for name, t in theirs.items():
        o = ours[name]
        if t is None:
            assert o is None, f"{op} {name} {case}: expected no gradient"
        else:
            assert o is not None, f"{op} {name} {case}: gradient missing"
            assert_close(o, t, f"{op} {name}", case, n, dtype)


def run_pair(fl_fn, torch_fn, arrays, dy, grads=True, device="cpu"):
    """Runs fl_fn on the arrays (None allowed) moved to `device` (arrays already there are used as they are,
    strides included) and torch_fn on host copies, backward with dy; returns ({'out', 'grad<i>'}, same for
    torch), as host arrays."""
    ft = [None if a is None else fl.Tensor(to_device(a, device), requires_grad=grads) for a in arrays]
    tt = [None if a is None else torch.from_numpy(np.ascontiguousarray(to_host(a))).requires_grad_(grads)
          for a in arrays]
    y = fl_fn(*ft)
    ty = torch_fn(*tt)
    if grads:
        y.backward(to_device(dy, device))
        ty.backward(torch.from_numpy(np.ascontiguousarray(to_host(dy))))
    ours = {"output": to_host(y)}
    theirs = {"output": ty.detach().numpy()}
    if grads:
        for i, (f, t) in enumerate(zip(ft, tt)):
            if t is not None:
                ours[f"grad{i}"] = to_host(f.grad) if f.grad is not None else None
                theirs[f"grad{i}"] = t.grad.numpy()
    return ours, theirs


# ---------------------------------------------------------------------------------------------------------
# batch_norm

BN_CASES = [  # (shape, affine, training)
    ((2, 1, 5, 5), True, True),
    ((3, 5, 7, 4), True, True),        # odd channels, non-square
    ((4, 3), True, True),              # BatchNorm1d on (N, C)
    ((2, 6, 9), True, True),           # BatchNorm1d on (N, C, L)
    ((1, 3, 1, 9), False, True),       # no affine, height 1
    ((5, 17, 3, 3), True, True),
    ((2, 8, 4, 4), True, False),       # evaluation with running statistics
    ((3, 4, 5), False, False),
    ((2, 33, 11, 13), True, True),
]


def bn_id(c):
    return f"{shape_id(c[0])}{'' if c[1] else '-noaffine'}{'-train' if c[2] else '-eval'}"


def bn_data(shape, dtype, affine, seed=0):
    rng = np.random.default_rng(seed)
    C = shape[1]
    x = grid_data(rng, shape, dtype) + 0.5  # a mean away from zero
    w = grid_data(rng, (C,), dtype) + 2.5 if affine else None
    b = grid_data(rng, (C,), dtype) if affine else None
    rm = grid_data(rng, (C,), dtype)
    rv = (rng.integers(1, 9, size=C) / 4).astype(dtype)
    dy = grid_data(rng, shape, dtype)
    return x, w, b, rm, rv, dy


@pytest.mark.parametrize("dtype", DTYPES, ids=dname)
@pytest.mark.parametrize("case", BN_CASES, ids=bn_id)
def test_batch_norm_matches_torch(case, dtype, device):
    shape, affine, training = case
    x, w, b, rm, rv, dy = bn_data(shape, dtype, affine)
    frm, frv = fl.Tensor(to_device(rm.copy(), device)), fl.Tensor(to_device(rv.copy(), device))
    trm, trv = torch.from_numpy(rm.copy()), torch.from_numpy(rv.copy())
    ours, theirs = run_pair(lambda x, w, b: F.batch_norm(x, frm, frv, w, b, training, 0.3, 1e-4),
                            lambda x, w, b: TF.batch_norm(x, trm, trv, w, b, training, 0.3, 1e-4), [x, w, b], dy,
                            device=device)
    n = x.size // shape[1]
    compare("batch_norm", bn_id(case), ours, theirs, n, dtype)
    assert_close(to_host(frm), trm.numpy(), "batch_norm running_mean", bn_id(case), n, dtype)
    assert_close(to_host(frv), trv.numpy(), "batch_norm running_var", bn_id(case), n, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=dname)
@pytest.mark.parametrize("case", BN_CASES, ids=bn_id)
def test_batch_norm_fast_kernels_match_reference(case, dtype, simd):
    shape, affine, training = case
    x, w, b, rm, rv, dy = bn_data(shape, dtype, affine, seed=5)
    results = []
    for use_ref in (False, True):
        _C.set_norm_use_reference(use_ref)
        try:
            r1, r2 = rm.copy(), rv.copy()
            y, mean, rstd = _C.batch_norm_forward(x, w, b, r1, r2, training, 0.2, 1e-5)
            grads = _C.batch_norm_backward(dy, x, mean, rstd, w, training, mask=(True, affine, affine))
            results.append([y, mean, rstd, r1, r2] + [g for g in grads if g is not None])
        finally:
            _C.set_norm_use_reference(False)
    for name, fast, ref in zip(["output", "mean", "rstd", "running_mean", "running_var", "grad_input",
                                "grad_weight", "grad_bias"], *results):
        assert_close(fast, ref, f"batch_norm fast vs reference {name}", bn_id(case), x.size, dtype)


@pytest.mark.parametrize("momentum", [0.1, None], ids=lambda m: f"momentum{m}")
def test_batch_norm_module_training_and_eval_match_torch(momentum, device):
    ours = nn.BatchNorm2d(5, momentum=momentum).double().to(device)
    ref = torch.nn.BatchNorm2d(5, momentum=momentum).double()
    rng = np.random.default_rng(1)
    for step in range(3):  # running statistics over several batches (cumulative average when momentum=None)
        x = rng.standard_normal((4, 5, 6, 7)) * (step + 1) + step
        y = ours(fl.tensor(to_device(x, device)))
        ty = ref(torch.from_numpy(x))
        assert_close(to_host(y), ty.detach().numpy(), "BatchNorm2d train", f"step{step}", 168)
    for key, value in ref.state_dict().items():
        assert_close(to_host(ours.state_dict()[key]), value.numpy(), f"BatchNorm2d {key}", f"m{momentum}", 168)
    assert ours.num_batches_tracked.dtype == np.int64 and int(to_host(ours.num_batches_tracked)) == 3
    ours.eval(), ref.eval()
    x = rng.standard_normal((2, 5, 3, 3))
    fx, tx = fl.tensor(to_device(x, device), requires_grad=True), torch.from_numpy(x).requires_grad_()
    y, ty = ours(fx), ref(tx)
    y.backward(to_device(np.ones_like(x), device)), ty.backward(torch.ones_like(tx))
    assert_close(to_host(y), ty.detach().numpy(), "BatchNorm2d eval", "", 1)
    assert_close(to_host(fx.grad), tx.grad.numpy(), "BatchNorm2d eval grad_input", "", 1)
    assert_close(to_host(ours.weight.grad), ref.weight.grad.numpy(), "BatchNorm2d eval grad_weight", "", 18)


def test_batch_norm_without_running_stats_uses_batch_stats_in_eval(device):
    ours = nn.BatchNorm1d(3, track_running_stats=False, device=device).double().eval()
    ref = torch.nn.BatchNorm1d(3, track_running_stats=False).double().eval()
    assert list(ours.state_dict()) == list(ref.state_dict()) == ["weight", "bias"]
    x = np.random.default_rng(2).standard_normal((6, 3, 4))
    assert_close(to_host(ours(fl.tensor(to_device(x, device)))), ref(torch.from_numpy(x)).detach().numpy(),
                 "BatchNorm1d", "", 24)


# ---------------------------------------------------------------------------------------------------------
# group_norm, layer_norm, instance_norm (one kernel family)

GN_CASES = [  # (shape, groups, affine)
    ((2, 6, 5, 4), 3, True),
    ((3, 4, 7), 1, True),
    ((1, 5, 3, 3), 5, True),
    ((2, 8), 2, True),
    ((4, 9, 2, 5), 3, False),
    ((2, 1, 6, 6), 1, True),
    ((2, 130, 3), 13, True),          # more than one block of 64 channels for dgamma
]


def gn_id(c):
    return f"{shape_id(c[0])}g{c[1]}{'' if c[2] else '-noaffine'}"


@pytest.mark.parametrize("dtype", DTYPES, ids=dname)
@pytest.mark.parametrize("case", GN_CASES, ids=gn_id)
def test_group_norm_matches_torch(case, dtype, device):
    shape, G, affine = case
    rng = np.random.default_rng(3)
    x = grid_data(rng, shape, dtype) + 1.0
    w = grid_data(rng, (shape[1],), dtype) + 2.5 if affine else None
    b = grid_data(rng, (shape[1],), dtype) if affine else None
    dy = grid_data(rng, shape, dtype)
    ours, theirs = run_pair(lambda x, w, b: F.group_norm(x, G, w, b, 1e-3),
                            lambda x, w, b: TF.group_norm(x, G, w, b, 1e-3), [x, w, b], dy, device=device)
    compare("group_norm", gn_id(case), ours, theirs, x.size, dtype)


LN_CASES = [  # (shape, normalized_shape, weight, bias)
    ((4, 7), (7,), True, True),
    ((2, 3, 5), (5,), True, False),
    ((2, 3, 4, 5), (4, 5), True, True),
    ((3, 1), (1,), True, True),
    ((6, 130), (130,), False, False),
    ((2, 2, 3, 3), (2, 3, 3), True, True),
    ((9,), (9,), True, True),
]


def ln_id(c):
    return f"{shape_id(c[0])}n{shape_id(c[1])}{'w' if c[2] else ''}{'b' if c[3] else ''}"


@pytest.mark.parametrize("dtype", DTYPES, ids=dname)
@pytest.mark.parametrize("case", LN_CASES, ids=ln_id)
def test_layer_norm_matches_torch(case, dtype, device):
    shape, ns, has_w, has_b = case
    rng = np.random.default_rng(4)
    x = grid_data(rng, shape, dtype) - 0.75
    w = grid_data(rng, ns, dtype) + 2.5 if has_w else None
    b = grid_data(rng, ns, dtype) if has_b else None
    dy = grid_data(rng, shape, dtype)
    ours, theirs = run_pair(lambda x, w, b: F.layer_norm(x, ns, w, b),
                            lambda x, w, b: TF.layer_norm(x, ns, w, b), [x, w, b], dy, device=device)
    compare("layer_norm", ln_id(case), ours, theirs, x.size, dtype)


IN_CASES = [  # (shape, affine, running stats, use_input_stats)
    ((2, 3, 5, 4), True, False, True),
    ((3, 4, 7), False, False, True),
    ((2, 5, 6), True, True, True),
    ((1, 1, 3, 7), False, True, True),
    ((2, 3, 4, 4), True, True, False),
]


def in_id(c):
    return f"{shape_id(c[0])}{'-affine' if c[1] else ''}{'-running' if c[2] else ''}{'-input' if c[3] else '-stats'}"


@pytest.mark.parametrize("dtype", DTYPES, ids=dname)
@pytest.mark.parametrize("case", IN_CASES, ids=in_id)
def test_instance_norm_matches_torch(case, dtype, device):
    shape, affine, running, use_input = case
    x, w, b, rm, rv, dy = bn_data(shape, dtype, affine, seed=6)
    frm = fl.Tensor(to_device(rm.copy(), device)) if running else None
    frv = fl.Tensor(to_device(rv.copy(), device)) if running else None
    trm = torch.from_numpy(rm.copy()) if running else None
    trv = torch.from_numpy(rv.copy()) if running else None
    ours, theirs = run_pair(lambda x, w, b: F.instance_norm(x, frm, frv, w, b, use_input, 0.25, 1e-4),
                            lambda x, w, b: TF.instance_norm(x, trm, trv, w, b, use_input, 0.25, 1e-4),
                            [x, w, b], dy, device=device)
    n = x.size
    compare("instance_norm", in_id(case), ours, theirs, n, dtype)
    if running:
        assert_close(to_host(frm), trm.numpy(), "instance_norm running_mean", in_id(case), n, dtype)
        assert_close(to_host(frv), trv.numpy(), "instance_norm running_var", in_id(case), n, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=dname)
# the last two: groups longer than a block of the float32 row sums (512), with and without spatial size
@pytest.mark.parametrize("case", GN_CASES + [((5, 70), 1, True), ((3, 4, 1), 2, True), ((2, 6, 301), 2, True),
                                             ((3, 1100), 1, True)], ids=gn_id)
def test_group_norm_fast_kernels_match_reference(case, dtype, simd):
    shape, G, affine = case
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape).astype(dtype) * 3 + 1
    w = rng.standard_normal(shape[1]).astype(dtype) if affine else None
    b = rng.standard_normal(shape[1]).astype(dtype) if affine else None
    dy = rng.standard_normal(shape).astype(dtype)
    results = []
    for use_ref in (False, True):
        _C.set_norm_use_reference(use_ref)
        try:
            y, mean, rstd = _C.group_norm_forward(x, G, w, b, 1e-5)
            grads = _C.group_norm_backward(dy, x, mean, rstd, w, G, mask=(True, True, True))
            results.append([y, mean, rstd, *grads])
        finally:
            _C.set_norm_use_reference(False)
    for name, fast, ref in zip(["output", "mean", "rstd", "grad_input", "grad_weight", "grad_bias"], *results):
        assert_close(fast, ref, f"group_norm fast vs reference {name}", gn_id(case), x.size, dtype)


# ---------------------------------------------------------------------------------------------------------
# finite differences, strided inputs, threads

GRADCHECK = [
    ("batch_norm_train", lambda x, w, b: F.batch_norm(x, None, None, w, b, True), (3, 2, 3, 2)),
    ("batch_norm_eval", lambda x, w, b: F.batch_norm(x, fl.tensor(np.array([0.5, -1.0])),
                                                     fl.tensor(np.array([2.0, 0.5])), w, b, False), (3, 2, 4)),
    ("group_norm", lambda x, w, b: F.group_norm(x, 2, w, b), (2, 4, 3)),
    ("layer_norm", lambda x, w, b: F.layer_norm(x, (4,), w[:4] * 1, b[:4] * 1), (3, 2, 4)),
    ("instance_norm", lambda x, w, b: F.instance_norm(x, weight=w, bias=b), (2, 2, 5)),
]


@pytest.mark.parametrize("name, fn, shape", GRADCHECK, ids=[g[0] for g in GRADCHECK])
def test_norm_gradcheck_float64(name, fn, shape):
    rng = np.random.default_rng(8)
    x = fl.tensor(rng.standard_normal(shape), requires_grad=True)
    C = max(shape[1], 4)
    w = fl.tensor(rng.standard_normal(C) if name == "layer_norm" else rng.standard_normal(shape[1]),
                  requires_grad=True)
    b = fl.tensor(rng.standard_normal(C) if name == "layer_norm" else rng.standard_normal(shape[1]),
                  requires_grad=True)
    assert fl.autograd.gradcheck(fn, (x, w, b))


def test_norm_non_contiguous_inputs_match_torch(device):
    rng = np.random.default_rng(9)
    base = grid_data(rng, (3, 4, 6, 5), np.float64)
    # The strided views are made on the device (a copy there would be contiguous).
    x = to_device(np.ascontiguousarray(base.transpose(0, 1, 3, 2)), device).transpose(0, 1, 3, 2)
    dy = to_device(np.repeat(grid_data(rng, (3, 4, 6, 5), np.float64), 2, axis=0), device)[::2]
    assert not x.flags.c_contiguous and not dy.flags.c_contiguous
    w = to_device(grid_data(rng, (4,), np.float64), device)[::-1] + 2
    for name, ours_fn, torch_fn in [
        ("batch_norm", lambda x, w: F.batch_norm(x, None, None, w, None, True),
         lambda x, w: TF.batch_norm(x, None, None, w, None, True)),
        ("group_norm", lambda x, w: F.group_norm(x, 2, w), lambda x, w: TF.group_norm(x, 2, w)),
        ("instance_norm", lambda x, w: F.instance_norm(x, weight=w), lambda x, w: TF.instance_norm(x, weight=w)),
    ]:
        ours, theirs = run_pair(ours_fn, torch_fn, [x, w], dy, device=device)
        compare(name, "strided", ours, theirs, x.size, np.float64)
    ours, theirs = run_pair(lambda x: F.layer_norm(x, (6, 5)), lambda x: TF.layer_norm(x, (6, 5)), [x], dy,
                            device=device)
    compare("layer_norm", "strided", ours, theirs, x.size, np.float64)


def test_norm_one_and_two_threads_agree_exactly(threads):
    rng = np.random.default_rng(10)
    x = rng.standard_normal((4, 70, 9, 7)).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    w = rng.standard_normal(70).astype(np.float32)
    results = []
    for n in (1, 2):
        fl.set_num_threads(n)
        out = list(_C.batch_norm_forward(x, w, w, None, None, True))
        out += _C.batch_norm_backward(dy, x, out[1], out[2], w, True)
        y, m, r = _C.group_norm_forward(x, 10, w, w)
        out += [y, m, r, *_C.group_norm_backward(dy, x, m, r, w, 10)]
        x2 = x.reshape(28, 630)
        y, m, r = _C.group_norm_forward(x2, 1, None, None)  # layer norm layout
        out += [y, *_C.group_norm_backward(dy.reshape(28, 630), x2, m, r, None, 1)[:1]]
        results.append(out)
    for i, (one, two) in enumerate(zip(*results)):
        np.testing.assert_array_equal(one, two, err_msg=f"norm result {i}: 1 vs 2 threads")


# ---------------------------------------------------------------------------------------------------------
# modules

MODULES = [
    (nn.BatchNorm1d, torch.nn.BatchNorm1d, (3,), {}, (4, 3, 5)),
    (nn.BatchNorm1d, torch.nn.BatchNorm1d, (3,), dict(affine=False), (4, 3)),
    (nn.BatchNorm2d, torch.nn.BatchNorm2d, (5,), dict(eps=1e-3, momentum=0.2), (2, 5, 3, 4)),
    (nn.BatchNorm2d, torch.nn.BatchNorm2d, (5,), dict(track_running_stats=False), (2, 5, 3, 4)),
    (nn.BatchNorm2d, torch.nn.BatchNorm2d, (5,), dict(momentum=None, bias=False), (2, 5, 3, 4)),
    (nn.InstanceNorm1d, torch.nn.InstanceNorm1d, (3,), {}, (2, 3, 6)),
    (nn.InstanceNorm1d, torch.nn.InstanceNorm1d, (3,), dict(affine=True), (3, 6)),
    (nn.InstanceNorm2d, torch.nn.InstanceNorm2d, (4,), dict(affine=True, track_running_stats=True), (2, 4, 3, 5)),
    (nn.LayerNorm, torch.nn.LayerNorm, (6,), {}, (2, 3, 6)),
    (nn.LayerNorm, torch.nn.LayerNorm, ((3, 6),), dict(eps=1e-6, bias=False), (2, 3, 6)),
    (nn.LayerNorm, torch.nn.LayerNorm, (6,), dict(elementwise_affine=False), (4, 6)),
    (nn.GroupNorm, torch.nn.GroupNorm, (2, 6), {}, (3, 6, 4)),
    (nn.GroupNorm, torch.nn.GroupNorm, (3, 6), dict(affine=False, eps=1e-4), (2, 6, 2, 3)),
]


def mod_id(m):
    return f"{m[0].__name__}{m[2]}{m[3] or ''}".replace(" ", "")


@pytest.mark.parametrize("spec", MODULES, ids=mod_id)
def test_norm_module_matches_torch(spec, device):
    ours_cls, torch_cls, args, kwargs, shape = spec
    ours, ref = ours_cls(*args, **kwargs), torch_cls(*args, **kwargs)
    assert repr(ours) == repr(ref)
    assert [(k, tuple(v.shape), np.dtype(v.numpy().dtype).name) for k, v in ours.state_dict().items()] == \
           [(k, tuple(v.shape), str(v.dtype).replace("torch.", "")) for k, v in ref.state_dict().items()]
    ref.double()
    ours.double()
    # Non-default values, moved torch -> ours.
    with torch.no_grad():
        for p in ref.parameters():
            p.copy_(torch.randn(p.shape, dtype=torch.float64))
    ours.load_state_dict(ref.state_dict())
    ours.to(device)
    rng = np.random.default_rng(11)
    for training in (True, False):
        ours.train(training), ref.train(training)
        x = rng.standard_normal(shape) + 1
        dy = rng.standard_normal(shape)
        fx, tx = fl.tensor(to_device(x, device), requires_grad=True), torch.from_numpy(x).requires_grad_()
        y, ty = ours(fx), ref(tx)
        y.backward(to_device(dy, device)), ty.backward(torch.from_numpy(dy))
        case = f"{mod_id(spec)} training={training}"
        assert_close(to_host(y), ty.detach().numpy(), "module output", case, x.size)
        assert_close(to_host(fx.grad), tx.grad.numpy(), "module grad_input", case, x.size)
        for (name, p), (_, tp) in zip(ours.named_parameters(), ref.named_parameters()):
            assert_close(to_host(p.grad), tp.grad.numpy(), f"module grad {name}", case, x.size)
        for k, v in ref.state_dict().items():
            assert_close(to_host(ours.state_dict()[k]), v.numpy(), f"module state {k}", case, x.size)
        ours.zero_grad(), ref.zero_grad()


def test_norm_modules_default_init_and_float32(device):
    for m in (nn.BatchNorm2d(4, device=device), nn.GroupNorm(2, 4, device=device), nn.LayerNorm(4, device=device),
              nn.InstanceNorm2d(4, affine=True, device=device)):
        assert m.weight.dtype == np.float32 and np.all(to_host(m.weight) == 1) and np.all(to_host(m.bias) == 0)
        y = m(fl.randn(2, 4, 3, 4).to(device))
        assert y.dtype == np.float32 and y.shape == (2, 4, 3, 4)


# ---------------------------------------------------------------------------------------------------------
# bad input

@pytest.mark.parametrize("call, error, words", [  # each call takes _t(*shape, dtype=): a Tensor of ones on the device
    (lambda _t: F.batch_norm(_t(1, 3), None, None, training=True), ValueError, ["more than 1 value", "(1, 3)"]),
    (lambda _t: F.batch_norm(_t(2, 3), None, None), RuntimeError, ["running_mean", "evaluation"]),
    (lambda _t: F.batch_norm(_t(4), None, None, training=True), ValueError, ["2 dims", "(4,)"]),
    (lambda _t: F.batch_norm(_t(2, 3, 4), None, None, _t(4), training=True), ValueError, ["weight", "(3,)", "(4,)"]),
    (lambda _t: F.batch_norm(_t(2, 3, 4), _t(2), _t(3), training=True), ValueError, ["running_mean", "(3,)", "(2,)"]),
    (lambda _t: F.batch_norm(_t(2, 3, 4), None, None, _t(3, dtype=np.float64), training=True), TypeError,
     ["weight", "float32", "float64"]),
    (lambda _t: F.batch_norm(_t(2, 3, dtype=np.int64), None, None, training=True), TypeError, ["input", "int64"]),
    (lambda _t: F.batch_norm(_t(2, 3).data, None, None), TypeError, ["input", "Tensor"]),
    (lambda _t: F.group_norm(_t(2, 6, 4), 4), ValueError, ["divisible by num_groups", "num_groups=4"]),
    (lambda _t: F.group_norm(_t(2, 6, 4), 0), ValueError, ["num_groups", "0"]),
    (lambda _t: F.group_norm(_t(2, 6, 4), 2, _t(5)), ValueError, ["weight", "[6]", "[5]"]),  # from the C++ door
    (lambda _t: F.layer_norm(_t(2, 5), (4,)), ValueError, ["normalized_shape=[4]", "(2, 5)"]),
    (lambda _t: F.layer_norm(_t(2, 5), 5, _t(4)), ValueError, ["weight", "(5,)", "(4,)"]),
    (lambda _t: F.layer_norm(_t(2, 5), "5"), TypeError, ["normalized_shape"]),
    (lambda _t: F.instance_norm(_t(2, 3)), ValueError, ["3 dims", "(2, 3)"]),
    (lambda _t: F.instance_norm(_t(2, 3, 1)), ValueError, ["more than 1 spatial", "(2, 3, 1)"]),
    (lambda _t: F.instance_norm(_t(2, 3, 4), use_input_stats=False), ValueError, ["running_mean", "use_input_stats"]),
    (lambda _t: nn.BatchNorm2d(3)(_t(2, 3, 4)), ValueError, ["4D", "3D"]),
    (lambda _t: nn.BatchNorm1d(3)(_t(2, 3, 4, 4)), ValueError, ["2D or 3D", "4D"]),
    (lambda _t: nn.InstanceNorm2d(3)(_t(3, 4)), ValueError, ["3D or 4D", "2D"]),
    (lambda _t: nn.GroupNorm(4, 6), ValueError, ["num_channels", "divisible", "num_groups=4"]),
    (lambda _t: _C.batch_norm_forward(_t(2, 3, dtype=np.float64).data, None, None,
                                     _t(6, dtype=np.float64).data[::2], None, True),
     ValueError, ["running_mean", "in place"]),
], ids=lambda v: v.__name__ if isinstance(v, type) else None)
def test_norm_bad_input_raises_clear_error(call, error, words, device):
    with pytest.raises(error) as info:
        call(lambda *shape, dtype=np.float32: fl.tensor(to_device(np.ones(shape, dtype), device)))
    for word in words:
        assert word in str(info.value), f"{word!r} not in {str(info.value)!r}"
