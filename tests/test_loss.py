"""Losses against torch: every loss over a table of configurations (reductions, weights, ignore_index with
all-ignored inputs, label smoothing, probability targets, spatial and unbatched inputs), float32 and float64,
the value and the gradient w.r.t. the input (and the target where torch gives one); gradcheck in float64 for
every loss; the fused C++ cross-entropy on every SIMD path, against its naive reference, with 1 and 2 threads;
non-contiguous inputs; modules (defaults, buffers, state_dict); bad input raising torch's errors.
Every check against torch also runs on the GPU (`device` / `simd_device`; skipped with "no CUDA device" where
none is present), torch staying the oracle on the CPU: the fused kernels' CUDA path, the element-wise losses'
CuPy math."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import fastlayers as fl
from fastlayers import _C, nn
from fastlayers.autograd import gradcheck
from fastlayers.nn import functional as F
from conftest import assert_close, to_device, to_host

DTYPES = [np.float32, np.float64]
REDUCTIONS = ["none", "mean", "sum"]


def _run(fn, arrays, grad_mask, device="cpu", upstream_seed=0):
    """fn(*tensors) on `device` for host arrays; returns (value, grads of the arrays in grad_mask, the upstream
    gradient), all on the host."""
    ours = [fl.Tensor(to_device(a.copy(), device), requires_grad=bool(m)) if isinstance(a, np.ndarray) else a
            for a, m in zip(arrays, grad_mask)]
    out = fn(*ours)
    g = np.random.default_rng(upstream_seed).uniform(0.5, 1.5, size=out.shape).astype(out.dtype)
    out.backward(fl.Tensor(to_device(g, device)))
    return to_host(out), [to_host(t.grad) if m else None for t, m in zip(ours, grad_mask)], g


def _run_torch(fn, arrays, grad_mask, g):
    ts = [torch.tensor(a, requires_grad=bool(m)) if isinstance(a, np.ndarray) else a for a, m in zip(arrays, grad_mask)]
    out = fn(*ts)
    out.backward(torch.tensor(g))
    return out.detach().numpy(), [t.grad.numpy() if m else None for t, m in zip(ts, grad_mask)]


def check_against_torch(op, case, ours_fn, torch_fn, arrays, grad_mask, dtype, reduction_len, device="cpu"):
    value, grads, g = _run(ours_fn, arrays, grad_mask, device)
    case = f"{case} on {device}"
    expected, expected_grads = _run_torch(torch_fn, arrays, grad_mask, g)
    assert value.dtype == expected.dtype, f"{op} {case}: dtype {value.dtype} != torch's {expected.dtype}"
    assert_close(value, expected, op, f"{case} value", reduction_len, dtype)
    for i, (ours, theirs) in enumerate(zip(grads, expected_grads)):
        if grad_mask[i]:
            assert_close(ours, theirs, op, f"{case} grad of argument {i}", reduction_len, dtype)


def _t(a, device="cpu"):
    return fl.Tensor(to_device(a, device))


# ---------------------------------------------------------------------------------------------------------
# cross_entropy and nll_loss (fused C++ kernels)

# (N, C, spatial), probability targets, weighted, ignore_index (every third target ignored when >= -1 ...
# here: ignore_index value, and whether some targets hit it), label_smoothing
CE_CASES = [
    ((4, 5), False, False, -100, False, 0.0),
    ((64, 10), False, True, -100, False, 0.0),
    ((33, 37), False, True, 2, True, 0.0),
    ((17, 100), False, False, 3, True, 0.1),
    ((17, 100), False, True, 3, True, 0.25),
    ((9, 1000), False, True, -100, False, 0.2),
    ((5, 1), False, False, -100, False, 0.0),
    ((12, 7), True, False, -100, False, 0.0),
    ((12, 21), True, True, -100, False, 0.3),
    ((2, 4, 3, 5), False, False, -100, False, 0.0),        # spatial (N, C, H, W)
    ((2, 6, 9, 11), False, True, 1, True, 0.15),           # spatial: two tiles of 64 positions, weight, ignores
    ((3, 5, 7), True, True, -100, False, 0.1),             # spatial probability targets
    ((2, 3, 4, 5, 2), False, False, -1, True, 0.05),       # 3 spatial dims
]


def _ce_data(shape, prob, weighted, ignore_index, some_ignored, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-4, 4, size=shape).astype(dtype)
    c = shape[1]
    rows_shape = (shape[0],) + shape[2:]
    if prob:
        t = rng.uniform(0, 1, size=shape).astype(dtype)
        t /= t.sum(axis=1, keepdims=True)
    else:
        t = rng.integers(0, c, size=rows_shape).astype(np.int64)
        if some_ignored:
            t.reshape(-1)[1::3] = ignore_index
    w = rng.uniform(0.2, 2, size=c).astype(dtype) if weighted else None
    return x, t, w


def _ce_id(case):
    shape, prob, weighted, ii, some, eps = case
    return (f"{'x'.join(map(str, shape))}-{'prob' if prob else 'idx'}{'-w' if weighted else ''}-ii{ii}"
            f"{'-ignored' if some else ''}-ls{eps}")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CE_CASES, ids=_ce_id)
def test_cross_entropy_matches_torch(case, dtype, reduction, simd_device):
    device = simd_device
    shape, prob, weighted, ii, some, eps = case
    x, t, w = _ce_data(shape, prob, weighted, ii, some, dtype)
    kw = dict(ignore_index=ii, reduction=reduction, label_smoothing=eps)
    mask = [True, prob]
    check_against_torch(
        "cross_entropy", f"{_ce_id(case)} {reduction}" + (f" {_C.simd_level()}" if device == "cpu" else ""),
        lambda a, b: F.cross_entropy(a, b if prob else _t(t, device), None if w is None else _t(w, device), **kw),
        lambda a, b: TF.cross_entropy(a, b if prob else torch.tensor(t), None if w is None else torch.tensor(w), **kw),
        [x, t if prob else None], mask, dtype, shape[1] * (1 if reduction == "none" else x.size // shape[1]), device)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", [c for c in CE_CASES if not c[1]], ids=_ce_id)
def test_nll_loss_matches_torch(case, dtype, reduction, device):
    shape, _, weighted, ii, some, _ = case
    x, t, w = _ce_data(shape, False, weighted, ii, some, dtype, seed=1)
    kw = dict(ignore_index=ii, reduction=reduction)
    check_against_torch(
        "nll_loss", f"{_ce_id(case)} {reduction}",
        lambda a: F.nll_loss(a, _t(t, device), None if w is None else _t(w, device), **kw),
        lambda a: TF.nll_loss(a, torch.tensor(t), None if w is None else torch.tensor(w), **kw),
        [x], [True], dtype, x.size // shape[1], device)


@pytest.mark.parametrize("eps", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("op", ["cross_entropy", "nll_loss"])
def test_all_ignored_targets_give_nan_mean_zero_sum_and_zero_grad(op, weighted, eps, device):
    x = np.random.default_rng(2).normal(size=(4, 5))
    t = np.full(4, -100, dtype=np.int64)
    w = np.linspace(0.5, 2, 5) if weighted else None
    kw = dict(label_smoothing=eps) if op == "cross_entropy" else {}
    ours_f, torch_f = getattr(F, op), getattr(TF, op)
    for reduction in REDUCTIONS:
        a = fl.Tensor(to_device(x.copy(), device), requires_grad=True)
        out = ours_f(a, _t(t, device), None if w is None else _t(w, device), reduction=reduction, **kw)
        b = torch.tensor(x, requires_grad=True)
        exp = torch_f(b, torch.tensor(t), None if w is None else torch.tensor(w), reduction=reduction, **kw)
        np.testing.assert_array_equal(to_host(out), exp.detach().numpy(), err_msg=f"{op} {reduction} on {device}")
        out.sum().backward()
        exp.sum().backward()
        np.testing.assert_array_equal(to_host(a.grad), b.grad.numpy(), err_msg=f"{op} {reduction} grad on {device}")
    assert np.isnan(F.cross_entropy(_t(x, device), _t(t, device)).item())


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_unbatched_cross_entropy_and_nll(dtype, reduction, device):
    rng = np.random.default_rng(3)
    x = rng.normal(size=7).astype(dtype)
    t = np.array(4, dtype=np.int64)
    p = rng.uniform(size=7).astype(dtype)
    w = rng.uniform(0.5, 1.5, size=7).astype(dtype)
    for eps in (0.0, 0.1):
        kw = dict(reduction=reduction, label_smoothing=eps)
        check_against_torch("cross_entropy", f"(C,) index target ls{eps}",
                            lambda a: F.cross_entropy(a, _t(t, device), _t(w, device), **kw),
                            lambda a: TF.cross_entropy(a, torch.tensor(t), torch.tensor(w), **kw), [x], [True],
                            dtype, 7, device)
        check_against_torch("cross_entropy", f"(C,) probability target ls{eps}",
                            lambda a, b: F.cross_entropy(a, b, **kw), lambda a, b: TF.cross_entropy(a, b, **kw),
                            [x, p], [True, True], dtype, 7, device)
    check_against_torch("nll_loss", "(C,)", lambda a: F.nll_loss(a, _t(t, device), reduction=reduction),
                        lambda a: TF.nll_loss(a, torch.tensor(t), reduction=reduction), [x], [True], dtype, 7, device)


def test_uint8_targets_and_legacy_reduction_arguments(device):
    x = np.random.default_rng(4).normal(size=(6, 4))
    t = np.array([0, 1, 2, 3, 0, 1], dtype=np.uint8)
    ours = F.cross_entropy(_t(x, device), _t(t, device)).item()
    assert ours == pytest.approx(TF.cross_entropy(torch.tensor(x), torch.tensor(t)).item(), rel=1e-12)
    with pytest.warns(UserWarning):
        s = F.nll_loss(_t(x, device), _t(t.astype(np.int64), device), size_average=False)
    assert s.item() == pytest.approx(TF.nll_loss(torch.tensor(x), torch.tensor(t.astype(np.int64)),
                                                 reduction="sum").item(), rel=1e-12)


@pytest.mark.parametrize("case", [c for c in CE_CASES if c[0][1] > 1], ids=_ce_id)
def test_cross_entropy_fast_kernel_matches_reference(case, simd):
    """The fused kernel on the current SIMD path against the naive C++ reference: loss, lse, total weight
    and gradient (grad_output random per row for 'none')."""
    shape, prob, weighted, ii, some, eps = case
    for dtype in DTYPES:
        x, t, w = _ce_data(shape, prob, weighted, ii, some, dtype, seed=5)
        for reduction in REDUCTIONS:
            res = {}
            for impl in ("fast", "reference"):
                loss, lse, tw = _C.cross_entropy_forward(x, t, w, ii, eps, reduction, impl=impl)
                g = np.random.default_rng(6).uniform(-1, 1, size=loss.shape).astype(dtype)
                dx = _C.cross_entropy_backward(g, x, t, w, lse, tw, ii, eps, reduction, impl=impl)
                res[impl] = (loss, lse, tw, dx)
            case_id = f"{_ce_id(case)} {reduction} {np.dtype(dtype).name} {simd}"
            for name, i, n in (("loss", 0, x.size), ("lse", 1, shape[1]), ("grad_input", 3, shape[1])):
                assert_close(res["fast"][i], res["reference"][i], "cross_entropy fast vs reference",
                             f"{case_id} {name}", 8 * n, dtype)
            assert res["fast"][2] == pytest.approx(res["reference"][2], rel=1e-12)


@pytest.mark.parametrize("shape", [(300, 50), (3, 7, 150)], ids=["rows", "spatial"])
def test_cross_entropy_independent_of_thread_count(shape, threads, simd):
    for eps in (0.0, 0.1):
        x, t, w = _ce_data(shape, False, True, 0, True, np.float32, seed=7)
        results = []
        for n in (1, 2):
            fl.set_num_threads(n)
            for reduction in REDUCTIONS:
                loss, lse, tw = _C.cross_entropy_forward(x, t, w, 0, eps, reduction)
                g = np.ones(loss.shape, np.float32)
                results.append((loss, lse, tw, _C.cross_entropy_backward(g, x, t, w, lse, tw, 0, eps, reduction)))
        half = len(results) // 2
        for one, two in zip(results[:half], results[half:]):
            for a, b in zip(one, two):
                np.testing.assert_array_equal(a, b, err_msg=f"cross_entropy {shape} ls{eps}: 1 vs 2 threads")


def test_cross_entropy_non_contiguous_input_and_target(device):
    rng = np.random.default_rng(8)
    bases = rng.normal(size=(10, 6)), rng.integers(0, 10, size=12), rng.uniform(size=(10, 6))

    def views(xb, tb, pb):  # logits (6, 10) with strides of a transpose, targets strided, probabilities transposed
        return xb.T, tb[::2], pb.T

    x, t, p = views(*bases)  # on the host, for torch
    # The views are taken where the arrays live, so that our kernels get strided memory on the GPU too.
    xd, td, pd = views(*(to_device(v, device) for v in bases))
    assert not xd.flags.c_contiguous and not td.flags.c_contiguous and not pd.flags.c_contiguous
    a = fl.Tensor(xd, requires_grad=True)
    out = F.cross_entropy(a, fl.Tensor(td), label_smoothing=0.1)
    out.backward()
    b = torch.tensor(x, requires_grad=True)
    exp = TF.cross_entropy(b, torch.tensor(t), label_smoothing=0.1)
    exp.backward()
    assert_close(to_host(out), exp.detach().numpy(), "cross_entropy", f"non-contiguous on {device}", 60)
    assert_close(to_host(a.grad), b.grad.numpy(), "cross_entropy", f"non-contiguous grad on {device}", 10)
    assert_close(to_host(F.cross_entropy(fl.Tensor(xd), fl.Tensor(pd))),
                 TF.cross_entropy(torch.tensor(x), torch.tensor(p)).numpy(),
                 "cross_entropy", f"non-contiguous probability target on {device}", 60)


# ---------------------------------------------------------------------------------------------------------
# Element-wise losses
# Array-module math inside autograd Functions: numpy on the CPU, CuPy (through numpy's dispatch and the
# array's own module for reductions) on the GPU; checked against torch on each device.

def _pair(shape, dtype, seed, target_range=(-2, 2), input_range=(-2, 2)):
    rng = np.random.default_rng(seed)
    return (rng.uniform(*input_range, size=shape).astype(dtype), rng.uniform(*target_range, size=shape).astype(dtype))


# name, ours(x, y), torch's(x, y), input range, target range, torch gives a target gradient
POINTWISE = [
    ("mse", lambda x, y, **k: F.mse_loss(x, y, **k), lambda x, y, **k: TF.mse_loss(x, y, **k), None, None, True),
    ("l1", lambda x, y, **k: F.l1_loss(x, y, **k), lambda x, y, **k: TF.l1_loss(x, y, **k), None, None, True),
    ("smooth_l1", lambda x, y, **k: F.smooth_l1_loss(x, y, **k), lambda x, y, **k: TF.smooth_l1_loss(x, y, **k),
     None, None, True),
    ("smooth_l1-b0.5", lambda x, y, **k: F.smooth_l1_loss(x, y, beta=0.5, **k),
     lambda x, y, **k: TF.smooth_l1_loss(x, y, beta=0.5, **k), None, None, True),
    ("smooth_l1-b0", lambda x, y, **k: F.smooth_l1_loss(x, y, beta=0.0, **k),
     lambda x, y, **k: TF.smooth_l1_loss(x, y, beta=0.0, **k), None, None, True),
    ("huber", lambda x, y, **k: F.huber_loss(x, y, **k), lambda x, y, **k: TF.huber_loss(x, y, **k), None, None,
     True),
    ("huber-d0.3", lambda x, y, **k: F.huber_loss(x, y, delta=0.3, **k),
     lambda x, y, **k: TF.huber_loss(x, y, delta=0.3, **k), None, None, True),
    ("huber-d2.5", lambda x, y, **k: F.huber_loss(x, y, delta=2.5, **k),
     lambda x, y, **k: TF.huber_loss(x, y, delta=2.5, **k), None, None, True),
    ("bce", lambda x, y, **k: F.binary_cross_entropy(x, y, **k), lambda x, y, **k: TF.binary_cross_entropy(x, y, **k),
     (0.02, 0.98), (0, 1), True),
    ("bce_with_logits", lambda x, y, **k: F.binary_cross_entropy_with_logits(x, y, **k),
     lambda x, y, **k: TF.binary_cross_entropy_with_logits(x, y, **k), (-30, 30), (0, 1), True),
    ("kl_div", lambda x, y, **k: F.kl_div(x, y, **k), lambda x, y, **k: TF.kl_div(x, y, **k), (-3, 0), (0.01, 1),
     True),
    ("kl_div-log_target", lambda x, y, **k: F.kl_div(x, y, log_target=True, **k),
     lambda x, y, **k: TF.kl_div(x, y, log_target=True, **k), (-3, 0), (-3, 0), True),
]


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides the total loss")  # kl_div's, as torch's
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(7,), (4, 5), (2, 3, 4)], ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("loss", POINTWISE, ids=lambda c: c[0])
def test_pointwise_loss_matches_torch(loss, shape, dtype, reduction, device):
    name, ours, theirs, x_range, y_range, target_grad = loss
    x, y = _pair(shape, dtype, 9, y_range or (-2, 2), x_range or (-2, 2))
    y.reshape(-1)[::4] = x.reshape(-1)[::4] if x_range is None else y.reshape(-1)[::4]  # l1's kink: equal values
    check_against_torch(name, f"{shape} {reduction}", lambda a, b: ours(a, b, reduction=reduction),
                        lambda a, b: theirs(a, b, reduction=reduction), [x, y], [True, target_grad], dtype, x.size,
                        device)


@pytest.mark.parametrize("dtype", DTYPES)
def test_kl_div_batchmean_and_zero_targets(dtype, device):
    x, y = _pair((4, 6), dtype, 10, (0, 1), (-3, 0))
    y[0, :3] = 0  # 0 log 0 = 0
    for reduction in ("batchmean", "sum", "none"):
        check_against_torch("kl_div", f"{reduction} with zero targets", lambda a: F.kl_div(a, _t(y, device), reduction=reduction),
                            lambda a: TF.kl_div(a, torch.tensor(y), reduction=reduction), [x], [True], dtype, 24,
                            device)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weights", ["none", "weight", "weight-row", "pos_weight", "both"])
def test_bce_weights_match_torch(weights, dtype, reduction, device):
    rng = np.random.default_rng(11)
    p, y = _pair((5, 4), dtype, 12, (0, 1), (0.01, 0.99))
    y[0] = [0, 1, 0, 1]
    p[1] = [0, 1, 1, 0]  # log(0) clamped to -100
    logits = rng.uniform(-200, 200, size=(5, 4)).astype(dtype)  # saturated logits stay finite
    w = {"none": None, "weight": rng.uniform(0.5, 2, (5, 4)), "weight-row": rng.uniform(0.5, 2, (4,)),
         "pos_weight": None, "both": rng.uniform(0.5, 2, (5, 4))}[weights]
    pw = rng.uniform(0.5, 3, (4,)).astype(dtype) if weights in ("pos_weight", "both") else None
    w = None if w is None else w.astype(dtype)
    fw, tw = (None, None) if w is None else (_t(w, device), torch.tensor(w))
    fpw, tpw = (None, None) if pw is None else (_t(pw, device), torch.tensor(pw))
    check_against_torch("binary_cross_entropy_with_logits", f"{weights} {reduction}",
                        lambda a, b: F.binary_cross_entropy_with_logits(a, b, fw, reduction=reduction, pos_weight=fpw),
                        lambda a, b: TF.binary_cross_entropy_with_logits(a, b, tw, reduction=reduction,
                                                                         pos_weight=tpw),
                        [logits, y], [True, True], dtype, 20, device)
    if pw is None:
        check_against_torch("binary_cross_entropy", f"{weights} {reduction} with 0 and 1 probabilities",
                            lambda a: F.binary_cross_entropy(a, _t(y, device), fw, reduction=reduction),
                            lambda a: TF.binary_cross_entropy(a, torch.tensor(y), tw, reduction=reduction),
                            [p], [True], dtype, 20, device)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("margin", [0.0, 0.5])
def test_margin_ranking_loss_matches_torch(margin, dtype, reduction, device):
    x1, x2 = _pair((9,), dtype, 13)
    y = np.where(np.arange(9) % 2 == 0, 1.0, -1.0).astype(dtype)
    check_against_torch("margin_ranking_loss", f"margin {margin} {reduction}",
                        lambda a, b, c: F.margin_ranking_loss(a, b, c, margin=margin, reduction=reduction),
                        lambda a, b, c: TF.margin_ranking_loss(a, b, c, margin=margin, reduction=reduction),
                        [x1, x2, y], [True, True, True], dtype, 9, device)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p,margin,weighted,shape", [(1, 1.0, False, (6, 5)), (2, 1.0, False, (6, 5)),
                                                     (1, 0.5, True, (7, 3)), (2, 2.0, True, (4, 9)),
                                                     (1, 1.0, True, (5,))])
def test_multi_margin_loss_matches_torch(p, margin, weighted, shape, dtype, reduction, device):
    rng = np.random.default_rng(14)
    x = rng.uniform(-2, 2, size=shape).astype(dtype)
    c = shape[-1]
    t = rng.integers(0, c, size=shape[:-1]).astype(np.int64)
    w = rng.uniform(0.5, 2, c).astype(dtype) if weighted else None
    check_against_torch("multi_margin_loss", f"p{p} margin{margin} w{weighted} {shape} {reduction}",
                        lambda a: F.multi_margin_loss(a, _t(t, device), p, margin,
                                                      None if w is None else _t(w, device), reduction=reduction),
                        lambda a: TF.multi_margin_loss(a, torch.tensor(t), p, margin,
                                                       None if w is None else torch.tensor(w), reduction=reduction),
                        [x], [True], dtype, x.size, device)


def _torch_focal(inputs, targets, alpha, gamma, reduction):
    """torchvision.ops.sigmoid_focal_loss, composed of torch ops (torchvision is not a dependency)."""
    p = torch.sigmoid(inputs)
    ce = TF.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * ((1 - p_t) ** gamma)
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return loss if reduction == "none" else loss.mean() if reduction == "mean" else loss.sum()


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("alpha,gamma", [(0.25, 2), (-1, 2), (0.5, 0), (0.75, 1.5)])
def test_sigmoid_focal_loss_matches_torch_composition(alpha, gamma, dtype, reduction, device):
    rng = np.random.default_rng(15)
    x = rng.uniform(-4, 4, size=(6, 3)).astype(dtype)
    y = (rng.uniform(size=(6, 3)) > 0.5).astype(dtype)
    check_against_torch("sigmoid_focal_loss", f"alpha{alpha} gamma{gamma} {reduction}",
                        lambda a, b: F.sigmoid_focal_loss(a, b, alpha, gamma, reduction),
                        lambda a, b: _torch_focal(a, b, alpha, gamma, reduction), [x, y], [True, True], dtype, 18,
                        device)


def test_pointwise_broadcast_warns_and_matches_torch(device):
    x, y = _pair((4, 3), np.float64, 16)
    with pytest.warns(UserWarning, match="different to the input size"):
        out = F.mse_loss(fl.Tensor(to_device(x, device), requires_grad=True), _t(y[:1], device))
    with pytest.warns(UserWarning):
        exp = TF.mse_loss(torch.tensor(x), torch.tensor(y[:1]))
    assert out.item() == pytest.approx(exp.item(), rel=1e-12)


# ---------------------------------------------------------------------------------------------------------
# gradcheck (float64) for every loss

def _gc_cases():
    rng = np.random.default_rng(17)
    x = rng.normal(size=(3, 4))
    y = rng.normal(size=(3, 4))
    p = rng.uniform(0.1, 0.9, size=(3, 4))
    q = rng.uniform(0.1, 0.9, size=(3, 4))
    t = np.array([1, 3, 0])
    ts = rng.integers(0, 4, size=(2, 3, 5))
    ts[0, 0] = -100
    xs = rng.normal(size=(2, 4, 3, 5))
    w = rng.uniform(0.5, 2, size=4)
    pw = rng.uniform(0.5, 2, size=4)
    lp = np.log(q / q.sum(1, keepdims=True))
    return [
        ("mse_loss", lambda a, b: F.mse_loss(a, b), (x, y)),
        ("l1_loss", lambda a, b: F.l1_loss(a, b, reduction="sum"), (x, y)),
        ("smooth_l1_loss", lambda a, b: F.smooth_l1_loss(a, b, beta=0.7), (x, y)),
        ("huber_loss", lambda a, b: F.huber_loss(a, b, delta=0.6, reduction="none"), (x, y)),
        ("binary_cross_entropy", lambda a, b: F.binary_cross_entropy(a, b, _t(w)), (p, q)),
        ("binary_cross_entropy_with_logits",
         lambda a, b: F.binary_cross_entropy_with_logits(a, b, _t(w), pos_weight=_t(pw)), (x, q)),
        ("kl_div", lambda a, b: F.kl_div(a, b, reduction="batchmean"), (lp, q)),
        ("kl_div-log_target", lambda a, b: F.kl_div(a, b, reduction="sum", log_target=True), (lp, np.log(q))),
        ("margin_ranking_loss", lambda a, b: F.margin_ranking_loss(a, b, _t(np.sign(y)), margin=0.3), (x, y)),
        ("multi_margin_loss-p1", lambda a: F.multi_margin_loss(a, _t(t), margin=0.9), (x,)),
        ("multi_margin_loss-p2", lambda a: F.multi_margin_loss(a, _t(t), p=2, weight=_t(w), reduction="sum"), (x,)),
        ("sigmoid_focal_loss", lambda a, b: F.sigmoid_focal_loss(a, b, reduction="mean"), (x, q)),
        ("nll_loss", lambda a: F.nll_loss(a, _t(ts), _t(w)), (xs,)),
        ("cross_entropy-index", lambda a: F.cross_entropy(a, _t(ts), _t(w), label_smoothing=0.2), (xs,)),
        ("cross_entropy-index-none", lambda a: F.cross_entropy(a, _t(t), reduction="none", label_smoothing=0.1),
         (x,)),
        ("cross_entropy-prob", lambda a, b: F.cross_entropy(a, b, _t(w), label_smoothing=0.3), (x, q)),
    ]


@pytest.mark.parametrize("name,fn,arrays", _gc_cases(), ids=[c[0] for c in _gc_cases()])
def test_loss_gradcheck(name, fn, arrays):
    assert gradcheck(fn, tuple(fl.Tensor(a.copy(), requires_grad=True) for a in arrays))


# ---------------------------------------------------------------------------------------------------------
# Modules

MODULES = [
    ("MSELoss", {}, {}), ("L1Loss", {"reduction": "sum"}, {}), ("SmoothL1Loss", {"beta": 0.5}, {}),
    ("HuberLoss", {"delta": 2.0}, {}), ("NLLLoss", {"ignore_index": 1}, {"weight"}),
    ("CrossEntropyLoss", {"label_smoothing": 0.1}, {"weight"}), ("BCELoss", {}, {"weight"}),
    ("BCEWithLogitsLoss", {}, {"weight", "pos_weight"}), ("KLDivLoss", {"reduction": "batchmean"}, {}),
    ("MarginRankingLoss", {"margin": 0.2}, {}), ("MultiMarginLoss", {"p": 2}, {"weight"}),
]


@pytest.mark.parametrize("name,kwargs,buffers", MODULES, ids=lambda v: v if isinstance(v, str) else None)
def test_loss_module_matches_torch(name, kwargs, buffers, device):
    rng = np.random.default_rng(18)
    c = 4
    extra = {b: rng.uniform(0.5, 2, c) for b in buffers}
    ours = getattr(nn, name)(**kwargs, **{k: _t(v, device) for k, v in extra.items()})
    theirs = getattr(torch.nn, name)(**kwargs, **{k: torch.tensor(v) for k, v in extra.items()})
    assert sorted(ours.state_dict().keys()) == sorted(theirs.state_dict().keys())
    for attr in ("reduction", "ignore_index", "label_smoothing", "beta", "delta", "margin", "p", "log_target"):
        if hasattr(theirs, attr):
            assert getattr(ours, attr) == getattr(theirs, attr), f"{name}.{attr}"
    x = rng.uniform(0.1, 0.9, size=(3, c))
    if name in ("NLLLoss", "CrossEntropyLoss", "MultiMarginLoss"):
        args = [x, np.array([0, 3, 1])]
    elif name == "MarginRankingLoss":
        args = [x, rng.uniform(size=(3, c)), np.sign(rng.normal(size=(3, c)))]
    else:
        args = [x, rng.uniform(0.1, 0.9, size=(3, c))]
    out = ours(*[_t(a, device) for a in args])
    exp = theirs(*[torch.tensor(a) for a in args])
    assert_close(to_host(out), exp.numpy(), name, f"{kwargs} on {device}", 12)


def test_loss_module_defaults_match_torch():
    import inspect
    for name, _, _ in MODULES:
        ours = inspect.signature(getattr(nn, name).__init__).parameters
        theirs = inspect.signature(getattr(torch.nn, name).__init__).parameters
        assert list(ours) == list(theirs), name
        for arg in ours:
            assert ours[arg].default == theirs[arg].default, f"{name}({arg})"
    assert nn.CrossEntropyLoss().weight is None and "weight" not in nn.CrossEntropyLoss().state_dict()


# ---------------------------------------------------------------------------------------------------------
# Bad input

def _raises(exc, match, fn):
    with pytest.raises(exc, match=match):
        fn()


def test_cross_entropy_bad_input_raises_like_torch(device):
    def _t(a):  # the module's helper, on `device`
        return fl.Tensor(to_device(a, device))

    def on(*arrays):  # arrays on `device`, for the C++ door
        return [to_device(a, device) for a in arrays]

    x = _t(np.zeros((4, 5), np.float32))
    _raises(RuntimeError, "expected target dtype to be Long or Byte, but got Float",
            lambda: F.cross_entropy(x, _t(np.array([0, 1, 2, 3], np.float32))))
    _raises(RuntimeError, "but got Int", lambda: F.cross_entropy(x, _t(np.array([0, 1, 2, 3], np.int32))))
    _raises(IndexError, "Target 7 is out of bounds", lambda: F.cross_entropy(x, _t(np.array([0, 1, 7, 3]))))
    _raises(IndexError, "Target -3 is out of bounds", lambda: F.cross_entropy(x, _t(np.array([0, 1, -3, 3]))))
    _raises(IndexError, "Target 5 is out of bounds", lambda: F.nll_loss(x, _t(np.array([0, 5, 2, 3]))))
    _raises(ValueError, r"Expected input batch_size \(4\) to match target batch_size \(3\)",
            lambda: F.cross_entropy(x, _t(np.array([0, 1, 2]))))
    _raises(RuntimeError, "expected target size", lambda: F.cross_entropy(_t(np.zeros((2, 3, 4))),
                                                                          _t(np.zeros((2, 5), np.int64))))
    _raises(ValueError, "avg is not a valid value for reduction",
            lambda: F.cross_entropy(x, _t(np.array([0, 1, 2, 3])), reduction="avg"))
    _raises(RuntimeError, "weight tensor should be defined either for all 5 classes",
            lambda: F.cross_entropy(x, _t(np.array([0, 1, 2, 3])), weight=_t(np.ones(4, np.float32))))
    _raises(RuntimeError, "ignore_index is not supported for floating point target",
            lambda: F.cross_entropy(x, _t(np.zeros((4, 5), np.float32)), ignore_index=1))
    _raises(RuntimeError, "label_smoothing must be between 0.0 and 1.0",
            lambda: F.cross_entropy(x, _t(np.array([0, 1, 2, 3])), label_smoothing=1.5))
    _raises(TypeError, "float32 or float64", lambda: F.cross_entropy(_t(np.zeros((4, 5), np.int64)),
                                                                     _t(np.array([0, 1, 2, 3]))))
    _raises(TypeError, "must be a fastlayers.Tensor", lambda: F.cross_entropy(np.zeros((4, 5)), _t(np.zeros(4))))
    # the C++ door checks on its own too: a float32 weight with a float64 input
    _raises(TypeError, "weight must have dtype float64", lambda: _C.cross_entropy_forward(
        *on(np.zeros((2, 3)), np.zeros(2, np.int64), np.ones(3, np.float32))))
    _raises(ValueError, "target must have shape", lambda: _C.nll_loss_forward(*on(np.zeros((2, 3)),
                                                                                np.zeros(3, np.int64))))


def test_elementwise_loss_bad_input_raises_like_torch():
    a = _t(np.full((2, 3), 0.5))
    _raises(RuntimeError, "all elements of input should be between 0 and 1",
            lambda: F.binary_cross_entropy(_t(np.array([0.5, 1.5])), _t(np.array([0.0, 1.0]))))
    _raises(RuntimeError, "all elements of target should be between 0 and 1",
            lambda: F.binary_cross_entropy(_t(np.array([0.5, 0.5])), _t(np.array([0.0, 2.0]))))
    _raises(ValueError, "different to the input size",
            lambda: F.binary_cross_entropy(_t(np.array([0.5, 0.5])), _t(np.array([0.0, 1.0, 1.0]))))
    _raises(ValueError, "must be the same as input size",
            lambda: F.binary_cross_entropy_with_logits(a, _t(np.zeros(2))))
    _raises(RuntimeError, "cannot be broadcast", lambda: F.mse_loss(_t(np.ones(3)), _t(np.ones(4))))
    _raises(RuntimeError, "negative values for beta", lambda: F.smooth_l1_loss(a, a, beta=-1))
    _raises(RuntimeError, "non-positive values for delta", lambda: F.huber_loss(a, a, delta=0))
    _raises(ValueError, "only p == 1 and p == 2", lambda: F.multi_margin_loss(a, _t(np.array([0, 1])), p=3))
    _raises(IndexError, "target 3 out of range", lambda: F.multi_margin_loss(a, _t(np.array([0, 3]))))
    _raises(RuntimeError, "expected scalar type Long", lambda: F.multi_margin_loss(a, _t(np.array([0.0, 1.0]))))
    _raises(RuntimeError, "same dimension", lambda: F.margin_ranking_loss(a, a, _t(np.ones(3))))
    for fn in (F.mse_loss, F.l1_loss, F.kl_div):
        _raises(ValueError, "bogus is not a valid value for reduction", lambda: fn(a, a, reduction="bogus"))
    _raises(ValueError, "Invalid Value for arg 'reduction'", lambda: F.sigmoid_focal_loss(a, a, reduction="bogus"))
