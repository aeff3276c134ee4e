"""Pooling against torch: max_pool2d/1d, avg_pool2d/1d, adaptive avg/max, max_unpool2d; forward, indices and
gradients in float32 and float64, fast kernels against the C++ references, finite differences, non-contiguous
and unbatched inputs, thread counts, modules (repr, state_dict) and bad input. The checks against torch run on
each device (`device`); the fast-vs-reference, thread and finite-difference checks are CPU properties."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import fastlayers as fl
import fastlayers.nn.functional as F
from fastlayers import _C, nn
from conftest import assert_close, grid_data, simd_levels, to_device, to_host

DTYPES = [np.float32, np.float64]
DT_IDS = lambda d: np.dtype(d).name  # noqa: E731


def distinct_data(rng, shape, dtype):
    """Distinct values on a grid (a permutation), so the maximum of every window is unique."""
    n = int(np.prod(shape))
    return (rng.permutation(n).reshape(shape) / 8 - n / 16).astype(dtype)


def each_simd_level():
    """Runs the loop body once per SIMD path this CPU has, restoring the default afterwards."""
    before = _C.simd_level()
    try:
        for level in simd_levels():
            _C.set_simd_level(level)
            yield level
    finally:
        _C.set_simd_level(before)


def pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def torch_grads(fn, x, dy):
    tx = torch.from_numpy(x).requires_grad_()
    out = fn(tx)
    y = out[0] if isinstance(out, tuple) else out
    y.backward(torch.from_numpy(dy))
    return out, tx.grad.numpy()


def ours_grads(fn, x, dy, device):
    """Our outputs (host copies) and input gradient, with x and dy on `device`."""
    fx = fl.Tensor(to_device(x, device), requires_grad=True)
    out = fn(fx)
    y = out[0] if isinstance(out, tuple) else out
    y.backward(to_device(dy, device))
    return tuple(map(to_host, out)) if isinstance(out, tuple) else to_host(out), to_host(fx.grad)


# ---------------------------------------------------------------------------------------------------------
# max_pool2d

class MaxCase:
    def __init__(self, shape, kernel, stride=None, padding=0, dilation=1, ceil_mode=False):
        self.shape, self.kernel, self.stride, self.padding = shape, kernel, stride, padding
        self.dilation, self.ceil_mode = dilation, ceil_mode

    def args(self):
        return dict(kernel_size=self.kernel, stride=self.stride, padding=self.padding, dilation=self.dilation,
                    ceil_mode=self.ceil_mode)

    def c_args(self):
        k = pair(self.kernel)
        return (k, pair(self.stride) if self.stride is not None else k, pair(self.padding), pair(self.dilation),
                self.ceil_mode)

    def __str__(self):
        n, c, h, w = self.shape
        k, s, p, d = (pair(v) for v in (self.kernel, self.stride or self.kernel, self.padding, self.dilation))
        return (f"mb{n}ic{c}ih{h}iw{w}kh{k[0]}kw{k[1]}sh{s[0]}sw{s[1]}ph{p[0]}pw{p[1]}dh{d[0]}dw{d[1]}"
                f"{'c' if self.ceil_mode else ''}")


MAX_CASES = [
    MaxCase((2, 3, 8, 8), 2),                                   # the k2s2 fast path
    MaxCase((2, 3, 9, 7), 2, 2),                                # k2s2 with a last row and column left over
    MaxCase((1, 1, 9, 9), 2, 2, ceil_mode=True),                # ceil: last window overhangs
    MaxCase((2, 3, 7, 9), 3, 2, 1),                             # k3s2p1
    MaxCase((2, 5, 9, 7), (3, 2), (2, 1), (1, 0)),
    MaxCase((2, 3, 10, 11), 3, 2, 1, 2),                        # dilation
    MaxCase((1, 2, 6, 6), 3, 3, 1, ceil_mode=True),
    MaxCase((1, 2, 5, 5), 3, 2, 1, ceil_mode=True),             # ceil rule drops a window starting in the padding
    MaxCase((2, 1, 4, 4), 4, 1, 2),                             # windows mostly in padding
    MaxCase((3, 2, 11, 5), (2, 3), (3, 2), (1, 1), (2, 1), True),
    MaxCase((1, 3, 1, 9), (1, 3), (1, 2)),                      # height 1
    MaxCase((2, 2, 5, 5), 5),                                   # kernel as large as the input
    MaxCase((0, 3, 6, 6), 2),                                   # empty batch
]


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("case", MAX_CASES, ids=str)
def test_max_pool2d_matches_torch(case, dtype, device):
    rng = np.random.default_rng(0)
    x = distinct_data(rng, case.shape, dtype)
    with torch.no_grad():
        ty, tind = TF.max_pool2d(torch.from_numpy(x), return_indices=True, **case.args())
    dy = grid_data(rng, tuple(ty.shape), dtype)
    (ty, tind), tdx = torch_grads(lambda t: TF.max_pool2d(t, return_indices=True, **case.args()), x, dy)
    (y, ind), dx = ours_grads(lambda t: F.max_pool2d(t, return_indices=True, **case.args()), x, dy, device)
    assert_close(y, ty.detach().numpy(), "max_pool2d forward", case, 1, dtype)
    assert ind.dtype == np.int64
    np.testing.assert_array_equal(ind, tind.numpy(), err_msg=f"max_pool2d indices {case}")
    assert_close(dx, tdx, "max_pool2d grad_input", case, 1, dtype)
    if device != "cpu":
        return
    # The CPU fast path against the C++ reference, bit for bit (ties included: grid data repeats values), on
    # every SIMD path (these narrow rows fill the 4- and 8-lane vectors).
    xg = grid_data(rng, case.shape, dtype)
    ry, rind = _C.max_pool2d_forward(xg, *case.c_args(), impl="reference")
    for level in each_simd_level():
        fy, find = _C.max_pool2d_forward(xg, *case.c_args())
        np.testing.assert_array_equal(fy, ry, err_msg=f"max_pool2d fast ({level}) vs reference {case}")
        np.testing.assert_array_equal(find, rind, err_msg=f"max_pool2d fast ({level}) vs reference indices {case}")
    with torch.no_grad():
        np.testing.assert_array_equal(find, TF.max_pool2d(torch.from_numpy(xg), return_indices=True,
                                                          **case.args())[1].numpy(), err_msg=f"ties {case}")


def test_max_pool2d_nan_wins_like_torch(device):
    x = np.arange(32, dtype=np.float32).reshape(1, 2, 4, 4)
    x[0, 0, 1, 1] = np.nan
    x[0, 1, 2, 3] = np.nan
    for args in (dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1)):
        y, ind = F.max_pool2d(fl.tensor(to_device(x, device)), return_indices=True, **args)
        ty, tind = TF.max_pool2d(torch.from_numpy(x), return_indices=True, **args)
        np.testing.assert_array_equal(to_host(y), ty.numpy())
        np.testing.assert_array_equal(to_host(ind), tind.numpy())


def test_max_pool2d_benchmark_shapes_take_the_fast_paths():
    assert _C.pool2d_impl("max_forward", (32, 64, 64, 64), (2, 2), (2, 2)).startswith("k2s2 ")
    assert _C.pool2d_impl("avg_forward", (32, 64, 64, 64), (2, 2), (2, 2)).startswith("k2s2 ")
    assert _C.pool2d_impl("avg_backward", (32, 64, 64, 64), (2, 2), (2, 2)).startswith("k2s2 ")
    assert _C.pool2d_impl("max_forward", (32, 64, 64, 64), (3, 3), (2, 2), (1, 1)).startswith("direct ")
    assert _C.adaptive_pool2d_impl("avg_forward", (32, 512, 7, 7), (1, 1)).startswith("global ")
    assert _C.pool2d_impl("max_forward", (1, 1, 9, 9), (2, 2), (2, 2), ceil_mode=True) == \
        "direct mb1ic1ih9kh2sh2ph0dh1c"


# Rows wide enough for the vector columns of every SIMD path (16 float32 lanes on AVX-512): blocks that end the
# row (loads shifted back one element), an overlapping last block, rows of exactly 2 vectors (no block fits:
# scalar), stride 1, dilation, ceil mode, and a stride the vectors do not take (3).
SIMD_MAX_CASES = [
    MaxCase((2, 3, 9, 70), 2),                                  # k2s2, last block shifted and overlapping
    MaxCase((1, 2, 4, 36), 2),
    MaxCase((1, 2, 4, 32), 2),                                  # 2 x 16 lanes: scalar on AVX-512
    MaxCase((1, 2, 4, 16), 2),                                  # 2 x 8 lanes: scalar on AVX2
    MaxCase((2, 3, 17, 64), 3, 2, 1),                           # k3s2p1
    MaxCase((1, 2, 12, 112), 3, 2, 1),                          # the ResNet stem's width
    MaxCase((1, 1, 5, 33), 3, 2, 1),                            # fewer interior columns than lanes
    MaxCase((1, 2, 8, 67), 3, 1, 1),                            # stride 1
    MaxCase((1, 2, 9, 80), (3, 2), (2, 1), (1, 0), (2, 3)),     # dilation
    MaxCase((1, 2, 10, 75), 3, 2, 1, 2, ceil_mode=True),
    MaxCase((1, 2, 6, 41), 2, 2, ceil_mode=True),               # ceil: last window overhangs the row
    MaxCase((1, 2, 7, 50), 3, 3),                               # stride 3: scalar columns
]


def special_grid_data(rng, shape, dtype):
    """Grid data (many ties) with NaNs and -inf sprinkled in: the comparison rule decides every winner."""
    x = grid_data(rng, shape, dtype)
    flat = x.reshape(-1)
    flat[rng.choice(flat.size, flat.size // 13, replace=False)] = np.nan
    flat[rng.choice(flat.size, flat.size // 11, replace=False)] = -np.inf
    return x


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("case", SIMD_MAX_CASES, ids=str)
def test_max_pool2d_simd_paths_match_reference_and_torch_bitwise(case, dtype, simd):
    rng = np.random.default_rng(5)
    for x in (grid_data(rng, case.shape, dtype), special_grid_data(rng, case.shape, dtype)):
        fy, find = _C.max_pool2d_forward(x, *case.c_args())
        ry, rind = _C.max_pool2d_forward(x, *case.c_args(), impl="reference")
        np.testing.assert_array_equal(fy, ry, err_msg=f"max_pool2d {simd} vs reference {case}")
        np.testing.assert_array_equal(find, rind, err_msg=f"max_pool2d {simd} vs reference indices {case}")
        with torch.no_grad():
            ty, tind = TF.max_pool2d(torch.from_numpy(x), return_indices=True, **case.args())
        np.testing.assert_array_equal(fy, ty.numpy(), err_msg=f"max_pool2d {simd} vs torch {case}")
        np.testing.assert_array_equal(find, tind.numpy(), err_msg=f"max_pool2d {simd} vs torch indices {case}")
        # A non-contiguous input (every other element of a wider array) gives the same.
        xs = np.stack([x, -x], axis=-1)[..., 0]
        assert not xs.flags.c_contiguous
        sy, sind = _C.max_pool2d_forward(xs, *case.c_args())
        np.testing.assert_array_equal(sy, ry, err_msg=f"max_pool2d {simd} non-contiguous {case}")
        np.testing.assert_array_equal(sind, rind, err_msg=f"max_pool2d {simd} non-contiguous indices {case}")


def test_max_pool2d_window_wholly_in_padding_gets_no_gradient():
    # Dilation lets a window hold only padding taps. torch returns -inf there with an index outside the window
    # (x[1] below, or past the plane, where its backward writes into another plane); the gradient must stay in
    # the window, so it is 0: our index is -1, which the backward skips (torch's own backward skips -1 too).
    cases = [((1, 1, 3, 1), dict(kernel_size=(1, 2), stride=1, padding=(0, 1), dilation=(1, 2))),
             ((1, 4, 1, 1), dict(kernel_size=2, stride=1, padding=1, dilation=2)),
             ((2, 2, 3, 3), dict(kernel_size=2, stride=1, padding=1, dilation=4))]
    for shape, args in cases:
        x = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
        with torch.no_grad():
            ty = TF.max_pool2d(torch.from_numpy(x), **args)
        assert np.all(np.isneginf(ty.numpy())), "the case must have only empty windows"
        fx = fl.Tensor(x, requires_grad=True)
        y, ind = F.max_pool2d(fx, return_indices=True, **args)
        np.testing.assert_array_equal(y.detach().numpy(), ty.numpy(), err_msg=f"value of an empty window {shape} {args}")
        np.testing.assert_array_equal(ind.numpy(), -1, err_msg=f"index of an empty window {shape} {args}")
        y.backward(np.ones(y.shape))
        np.testing.assert_array_equal(fx.grad.numpy(), 0, err_msg=f"gradient of an empty window {shape} {args}")
        case = MaxCase(shape, args["kernel_size"], args["stride"], args["padding"], args["dilation"])
        ry, rind = _C.max_pool2d_forward(x, *case.c_args(), impl="reference")
        np.testing.assert_array_equal(rind, -1, err_msg=f"reference index of an empty window {shape} {args}")


@pytest.mark.parametrize("bad", [-1, -5, 16, 2**40])
def test_invalid_max_index_raises_like_torch(bad):
    x = np.ones((1, 1, 2, 2), np.float32)
    ind = np.array([0, 1, bad, 3], np.int64).reshape(1, 1, 2, 2)
    with pytest.raises(RuntimeError, match="Found an invalid max index") as expected:
        TF.max_unpool2d(torch.from_numpy(x), torch.from_numpy(ind), 2, output_size=(4, 4))
    with pytest.raises(RuntimeError, match="Found an invalid max index") as info:
        F.max_unpool2d(fl.tensor(x), fl.tensor(ind), 2, output_size=(4, 4))
    assert f"index: {bad} " in str(info.value) and "4x4" in str(info.value), (str(info.value), str(expected.value))
    # unpooling's backward reads dy at the indices
    with pytest.raises(RuntimeError, match=f"Found an invalid max index: {bad} "):
        _C.max_unpool2d_backward(np.ones((1, 1, 4, 4), np.float32), ind)
    # max pooling's backward: torch skips -1 and writes other indices unchecked (past the plane, into the next one
    # or beyond the array); here -1 (a window with no element) adds nothing and every other bad index raises.
    if bad == -1:
        dx = _C.max_pool2d_backward(x, ind, (4, 4))
        np.testing.assert_array_equal(dx.reshape(-1), [1, 1, 0, 1] + [0] * 12)
    else:
        with pytest.raises(RuntimeError, match=f"Found an invalid max index: {bad} "):
            _C.max_pool2d_backward(x, ind, (4, 4))


# ---------------------------------------------------------------------------------------------------------
# avg_pool2d

class AvgCase:
    def __init__(self, shape, kernel, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        self.shape, self.kernel, self.stride, self.padding = shape, kernel, stride, padding
        self.ceil_mode, self.count_include_pad, self.divisor_override = ceil_mode, count_include_pad, divisor_override

    def args(self):
        return dict(kernel_size=self.kernel, stride=self.stride, padding=self.padding, ceil_mode=self.ceil_mode,
                    count_include_pad=self.count_include_pad, divisor_override=self.divisor_override)

    def c_args(self):
        k = pair(self.kernel)
        return (k, pair(self.stride) if self.stride is not None else k, pair(self.padding), self.ceil_mode,
                self.count_include_pad, self.divisor_override or 0)

    def __str__(self):
        n, c, h, w = self.shape
        k, s, p = (pair(v) for v in (self.kernel, self.stride or self.kernel, self.padding))
        return (f"mb{n}ic{c}ih{h}iw{w}kh{k[0]}kw{k[1]}sh{s[0]}sw{s[1]}ph{p[0]}pw{p[1]}"
                f"{'c' if self.ceil_mode else ''}{'' if self.count_include_pad else 'x'}"
                f"{'' if self.divisor_override is None else 'dv%d' % self.divisor_override}")


AVG_CASES = [
    AvgCase((2, 3, 8, 8), 2),                                   # k2s2 fast path
    AvgCase((2, 3, 9, 7), 2),                                   # k2s2, odd sizes
    AvgCase((1, 1, 9, 9), 2, 2, ceil_mode=True),
    AvgCase((2, 3, 7, 9), 3, 2, 1),
    AvgCase((2, 3, 7, 9), 3, 2, 1, count_include_pad=False),
    AvgCase((2, 5, 9, 7), (3, 2), (2, 1), (1, 0), ceil_mode=True),
    AvgCase((2, 5, 9, 7), (3, 2), (2, 1), (1, 1), ceil_mode=True, count_include_pad=False),
    AvgCase((1, 2, 6, 6), 3, 3, 1, ceil_mode=True),
    AvgCase((1, 2, 5, 5), 3, 2, 1, ceil_mode=True, count_include_pad=False),
    AvgCase((2, 1, 8, 8), 4, 1, 2),
    AvgCase((2, 3, 8, 8), 2, divisor_override=3),               # k2s2 with a divisor override
    AvgCase((2, 3, 7, 7), 3, 2, 1, divisor_override=-5),
    AvgCase((2, 2, 5, 5), 5),
    AvgCase((0, 3, 6, 6), 2),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("case", AVG_CASES, ids=str)
def test_avg_pool2d_matches_torch(case, dtype, device):
    rng = np.random.default_rng(1)
    x = grid_data(rng, case.shape, dtype)
    with torch.no_grad():
        shape = tuple(TF.avg_pool2d(torch.from_numpy(x), **case.args()).shape)
    dy = grid_data(rng, shape, dtype)
    ty, tdx = torch_grads(lambda t: TF.avg_pool2d(t, **case.args()), x, dy)
    y, dx = ours_grads(lambda t: F.avg_pool2d(t, **case.args()), x, dy, device)
    red = int(np.prod(pair(case.kernel)))
    assert_close(y, ty.detach().numpy(), "avg_pool2d forward", case, red, dtype)
    assert_close(dx, tdx, "avg_pool2d grad_input", case, red, dtype)
    if device != "cpu":
        return
    # The CPU fast paths against the C++ reference, on every SIMD path.
    c = case.c_args()
    ry = _C.avg_pool2d_forward(x, *c, impl="reference")
    rdx = _C.avg_pool2d_backward(dy, case.shape[2:], *c, impl="reference")
    for level in each_simd_level():
        assert_close(_C.avg_pool2d_forward(x, *c), ry, f"avg_pool2d fast ({level}) vs reference", case, red, dtype)
        assert_close(_C.avg_pool2d_backward(dy, case.shape[2:], *c), rdx,
                     f"avg_pool2d backward fast ({level}) vs reference", case, red, dtype)
        assert_close(_C.avg_pool2d_forward(x, *c, impl="direct"), ry, f"avg_pool2d direct ({level}) vs reference",
                     case, red, dtype)


SIMD_AVG_CASES = [
    AvgCase((2, 3, 9, 70), 3, 1, 1),                            # k3s1p1: the general path's common case
    AvgCase((1, 2, 8, 67), 3, 1, 1, count_include_pad=False),
    AvgCase((2, 3, 17, 64), 3, 2, 1),
    AvgCase((1, 2, 12, 112), 3, 2, 1, ceil_mode=True, count_include_pad=False),
    AvgCase((1, 2, 9, 75), (3, 2), (2, 1), (1, 0), divisor_override=5),
    AvgCase((1, 2, 4, 32), 2, 2, 1),                            # padded 2x2: not the k2s2 path
    AvgCase((1, 1, 5, 33), 3, 2, 1),
    AvgCase((1, 2, 7, 50), 3, 3),                               # stride 3: scalar columns
    AvgCase((2, 2, 6, 40), (2, 5), 1, (1, 2), ceil_mode=True),  # stride 1, wide kernel
    AvgCase((1, 2, 5, 21), 3, 1),                               # stride 1, no padding, fewer columns than lanes
]


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("case", SIMD_AVG_CASES, ids=str)
def test_avg_pool2d_simd_paths_match_reference_bitwise(case, dtype, simd):
    # Same additions in the same order as the reference, so equal bit for bit (data off the grid: rounding
    # would show a different order).
    rng = np.random.default_rng(6)
    x = rng.standard_normal(case.shape).astype(dtype)
    c = case.c_args()
    ry = _C.avg_pool2d_forward(x, *c, impl="reference")
    np.testing.assert_array_equal(_C.avg_pool2d_forward(x, *c), ry, err_msg=f"avg_pool2d {simd} vs reference {case}")
    np.testing.assert_array_equal(_C.avg_pool2d_forward(x, *c, impl="direct"), ry,
                                  err_msg=f"avg_pool2d direct {simd} vs reference {case}")
    xs = np.stack([x, -x], axis=-1)[..., 0]
    assert not xs.flags.c_contiguous
    np.testing.assert_array_equal(_C.avg_pool2d_forward(xs, *c), ry, err_msg=f"avg_pool2d {simd} strided {case}")
    with torch.no_grad():
        ty = TF.avg_pool2d(torch.from_numpy(x), **case.args()).numpy()
    assert_close(ry, ty, "avg_pool2d forward", case, int(np.prod(pair(case.kernel))), dtype)
    # The backward (vectors along the rows of dx at stride 1) adds the same terms in the same order.
    dy = rng.standard_normal(ry.shape).astype(dtype)
    rdx = _C.avg_pool2d_backward(dy, case.shape[2:], *c, impl="reference")
    for impl in ("", "direct"):
        np.testing.assert_array_equal(_C.avg_pool2d_backward(dy, case.shape[2:], *c, impl=impl), rdx,
                                      err_msg=f"avg_pool2d backward {impl or 'default'} {simd} vs reference {case}")


# ---------------------------------------------------------------------------------------------------------
# adaptive pooling

ADAPTIVE_CASES = [
    ((2, 3, 7, 7), 1),               # global
    ((2, 3, 8, 8), (4, 4)),
    ((2, 5, 7, 9), (3, 4)),          # windows of uneven sizes that overlap
    ((1, 2, 5, 6), (7, 8)),          # output larger than the input
    ((2, 3, 10, 7), (None, 3)),      # None keeps the input's size
    ((1, 1, 6, 9), (2, None)),
    ((2, 3, 4, 5), (4, 5)),          # identity
    ((0, 3, 5, 5), 2),
]


def adaptive_id(v):
    return str(v).replace(" ", "")


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("shape, size", ADAPTIVE_CASES, ids=adaptive_id)
def test_adaptive_avg_pool2d_matches_torch(shape, size, dtype, device):
    rng = np.random.default_rng(2)
    x = grid_data(rng, shape, dtype)
    with torch.no_grad():
        oshape = tuple(TF.adaptive_avg_pool2d(torch.from_numpy(x), size).shape)
    dy = grid_data(rng, oshape, dtype)
    ty, tdx = torch_grads(lambda t: TF.adaptive_avg_pool2d(t, size), x, dy)
    y, dx = ours_grads(lambda t: F.adaptive_avg_pool2d(t, size), x, dy, device)
    case = f"{shape} -> {size}"
    red = shape[2] * shape[3]
    assert_close(y, ty.detach().numpy(), "adaptive_avg_pool2d forward", case, red, dtype)
    assert_close(dx, tdx, "adaptive_avg_pool2d grad_input", case, red, dtype)
    if device != "cpu":
        return
    # The CPU fast paths against the C++ reference.
    out = oshape[2:]
    assert_close(_C.adaptive_avg_pool2d_forward(x, out), _C.adaptive_avg_pool2d_forward(x, out, impl="reference"),
                 "adaptive_avg_pool2d fast vs reference", case, red, dtype)
    assert_close(_C.adaptive_avg_pool2d_backward(dy, shape[2:]),
                 _C.adaptive_avg_pool2d_backward(dy, shape[2:], impl="reference"),
                 "adaptive_avg_pool2d backward fast vs reference", case, red, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("shape, size", ADAPTIVE_CASES, ids=adaptive_id)
def test_adaptive_max_pool2d_matches_torch(shape, size, dtype, device):
    rng = np.random.default_rng(3)
    x = distinct_data(rng, shape, dtype)
    with torch.no_grad():
        oshape = tuple(TF.adaptive_max_pool2d(torch.from_numpy(x), size).shape)
    dy = grid_data(rng, oshape, dtype)
    (ty, tind), tdx = torch_grads(lambda t: TF.adaptive_max_pool2d(t, size, return_indices=True), x, dy)
    (y, ind), dx = ours_grads(lambda t: F.adaptive_max_pool2d(t, size, return_indices=True), x, dy, device)
    case = f"{shape} -> {size}"
    assert_close(y, ty.detach().numpy(), "adaptive_max_pool2d forward", case, 1, dtype)
    np.testing.assert_array_equal(ind, tind.numpy(), err_msg=f"adaptive_max_pool2d indices {case}")
    assert_close(dx, tdx, "adaptive_max_pool2d grad_input", case, 1, dtype)  # overlapping windows add up
    assert F.adaptive_max_pool2d(fl.tensor(to_device(x, device)), size).shape == y.shape


# ---------------------------------------------------------------------------------------------------------
# max_unpool2d

@pytest.fixture
def torch_one_thread():
    """torch's unpooling is only deterministic for repeated indices on one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


UNPOOL_CASES = [
    ((2, 3, 8, 8), 2, None, 0, None),
    ((2, 3, 9, 7), 2, 2, 0, (9, 7)),            # output_size restores the odd input size
    ((1, 2, 7, 9), 3, 2, 1, None),
    ((2, 2, 7, 9), 3, 2, 1, (2, 2, 8, 10)),     # 4-element output_size
    ((1, 3, 9, 6), (3, 2), (2, 1), (1, 0), None),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("shape, kernel, stride, padding, output_size", UNPOOL_CASES, ids=adaptive_id)
def test_max_unpool2d_matches_torch(shape, kernel, stride, padding, output_size, dtype, device, torch_one_thread):
    # Overlapping windows can pick one index twice: the last in row-major order wins, as in torch on one thread.
    rng = np.random.default_rng(4)
    x0 = distinct_data(rng, shape, dtype)
    with torch.no_grad():
        pooled, tind = TF.max_pool2d(torch.from_numpy(x0), kernel, stride, padding, return_indices=True)
    x = grid_data(rng, tuple(pooled.shape), dtype)
    with torch.no_grad():
        oshape = tuple(TF.max_unpool2d(torch.from_numpy(x), tind, kernel, stride, padding, output_size).shape)
    dy = grid_data(rng, oshape, dtype)
    ty, tdx = torch_grads(lambda t: TF.max_unpool2d(t, tind, kernel, stride, padding, output_size), x, dy)
    ind = fl.tensor(to_device(tind.numpy(), device))
    y, dx = ours_grads(lambda t: F.max_unpool2d(t, ind, kernel, stride, padding, output_size), x, dy, device)
    case = f"{shape} k{kernel} s{stride} p{padding} out{output_size}"
    assert_close(y, ty.detach().numpy(), "max_unpool2d forward", case, 1, dtype)
    assert_close(dx, tdx, "max_unpool2d grad_input", case, 1, dtype)
    # Round trip through our own pooling.
    _, ours_ind = F.max_pool2d(fl.tensor(to_device(x0, device)), kernel, stride, padding, return_indices=True)
    mod = nn.MaxUnpool2d(kernel, stride, padding)
    np.testing.assert_array_equal(to_host(mod(fl.tensor(to_device(x, device)), ours_ind, output_size)), y)


# ---------------------------------------------------------------------------------------------------------
# 1-D pooling

POOL1D_CASES = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=4, stride=3, padding=2, ceil_mode=True),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("args", POOL1D_CASES + [dict(kernel_size=3, stride=1, padding=1, dilation=3)],
                         ids=adaptive_id)
def test_max_pool1d_matches_torch(args, dtype, device):
    rng = np.random.default_rng(5)
    x = distinct_data(rng, (2, 3, 11), dtype)
    with torch.no_grad():
        shape = tuple(TF.max_pool1d(torch.from_numpy(x), **args).shape)
    dy = grid_data(rng, shape, dtype)
    (ty, tind), tdx = torch_grads(lambda t: TF.max_pool1d(t, return_indices=True, **args), x, dy)
    (y, ind), dx = ours_grads(lambda t: F.max_pool1d(t, return_indices=True, **args), x, dy, device)
    assert_close(y, ty.detach().numpy(), "max_pool1d forward", args, 1, dtype)
    np.testing.assert_array_equal(ind, tind.numpy(), err_msg=f"max_pool1d indices {args}")
    assert_close(dx, tdx, "max_pool1d grad_input", args, 1, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("args", POOL1D_CASES + [dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)],
                         ids=adaptive_id)
def test_avg_pool1d_matches_torch(args, dtype, device):
    rng = np.random.default_rng(6)
    x = grid_data(rng, (2, 3, 11), dtype)
    with torch.no_grad():
        shape = tuple(TF.avg_pool1d(torch.from_numpy(x), **args).shape)
    dy = grid_data(rng, shape, dtype)
    ty, tdx = torch_grads(lambda t: TF.avg_pool1d(t, **args), x, dy)
    y, dx = ours_grads(lambda t: F.avg_pool1d(t, **args), x, dy, device)
    assert_close(y, ty.detach().numpy(), "avg_pool1d forward", args, 4, dtype)
    assert_close(dx, tdx, "avg_pool1d grad_input", args, 4, dtype)


# ---------------------------------------------------------------------------------------------------------
# finite differences, unbatched and strided inputs, threads

GRADCHECK_FNS = {
    "max_pool2d": lambda t: F.max_pool2d(t, 3, 2, 1, ceil_mode=True),
    "max_pool2d_dilated": lambda t: F.max_pool2d(t, 2, 1, 1, dilation=2),
    "avg_pool2d": lambda t: F.avg_pool2d(t, 3, 2, 1, ceil_mode=True, count_include_pad=False),
    "avg_pool2d_k2s2": lambda t: F.avg_pool2d(t, 2),
    "adaptive_avg_pool2d": lambda t: F.adaptive_avg_pool2d(t, (3, 2)),
    "adaptive_max_pool2d": lambda t: F.adaptive_max_pool2d(t, (3, 4)),
    "max_pool1d": lambda t: F.max_pool1d(t.reshape(2, 2, 30), 3, 2, 1),
    "avg_pool1d": lambda t: F.avg_pool1d(t.reshape(2, 2, 30), 4, 3, 2, ceil_mode=True),
}


@pytest.mark.parametrize("name", list(GRADCHECK_FNS))
def test_pooling_gradcheck_float64(name):
    x = fl.tensor(distinct_data(np.random.default_rng(7), (2, 2, 5, 6), np.float64), requires_grad=True)
    assert fl.autograd.gradcheck(GRADCHECK_FNS[name], (x,), eps=1e-6, atol=1e-6)


def test_max_unpool2d_gradcheck_float64():
    x0 = distinct_data(np.random.default_rng(8), (1, 2, 6, 6), np.float64)
    _, ind = F.max_pool2d(fl.tensor(x0), (2, 3), (2, 3), return_indices=True)  # windows apart: indices unique
    x = fl.tensor(np.random.default_rng(9).standard_normal(tuple(ind.shape)), requires_grad=True)
    assert fl.autograd.gradcheck(lambda t: F.max_unpool2d(t, ind, (2, 3), (2, 3), output_size=(6, 6)), (x,))


UNBATCHED = [
    (lambda m, t: m.max_pool2d(t, 3, 2, 1, return_indices=True), (3, 7, 8)),
    (lambda m, t: m.avg_pool2d(t, 2), (3, 7, 8)),
    (lambda m, t: m.adaptive_avg_pool2d(t, (2, 3)), (3, 7, 8)),
    (lambda m, t: m.adaptive_max_pool2d(t, 2, return_indices=True), (3, 7, 8)),
    (lambda m, t: m.max_pool1d(t, 2, return_indices=True), (3, 9)),
    (lambda m, t: m.avg_pool1d(t, 3, 2, 1), (3, 9)),
]


@pytest.mark.parametrize("index", range(len(UNBATCHED)))
def test_unbatched_and_non_contiguous_inputs_match_torch(index, device):
    fn, shape = UNBATCHED[index]
    rng = np.random.default_rng(10)
    base = distinct_data(rng, shape[::-1], np.float32)
    x = to_device(base, device).T  # a transposed, non-contiguous view (made on the device)
    assert not x.flags.c_contiguous
    with torch.no_grad():
        expected = fn(TF, torch.from_numpy(np.ascontiguousarray(base.T)))
    ours = fn(F, fl.Tensor(x))
    expected = expected if isinstance(expected, tuple) else (expected,)
    ours = ours if isinstance(ours, tuple) else (ours,)
    for o, e in zip(ours, expected):
        np.testing.assert_array_equal(to_host(o), e.numpy())
    # batched and strided 4-D input too
    if len(shape) == 3:
        xb = np.ascontiguousarray(np.stack([base.T, base.T + 1]))
        with torch.no_grad():
            e = fn(TF, torch.from_numpy(np.ascontiguousarray(xb[:, :, ::2, :])))
        o = fn(F, fl.Tensor(to_device(xb, device)[:, :, ::2, :]))
        np.testing.assert_array_equal(to_host(o[0] if isinstance(o, tuple) else o),
                                      (e[0] if isinstance(e, tuple) else e).numpy())


def test_pooling_one_and_two_threads_agree(threads):
    rng = np.random.default_rng(11)
    x = special_grid_data(rng, (3, 5, 17, 70), np.float32)  # wide rows: the vector columns too
    results = []
    for n in (1, 2):
        fl.set_num_threads(n)
        out = []
        for fn in (lambda t: F.max_pool2d(t, 3, 2, 1, return_indices=True), lambda t: F.max_pool2d(t, 2),
                   lambda t: F.avg_pool2d(t, 3, 2, 1), lambda t: F.avg_pool2d(t, 2), lambda t: F.avg_pool2d(t, 3, 1, 1),
                   lambda t: F.adaptive_avg_pool2d(t, 1), lambda t: F.adaptive_max_pool2d(t, (4, 5))):
            fx = fl.Tensor(x, requires_grad=True)
            y = fn(fx)
            if isinstance(y, tuple):  # and the indices
                y, ind = y
                out.append(ind.numpy())
            (y * y).sum().backward()
            out += [y.detach().numpy(), fx.grad.numpy()]
        results.append(out)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------------------------------
# modules

MODULES = [
    (nn.MaxPool2d, torch.nn.MaxPool2d, dict(kernel_size=2)),
    (nn.MaxPool2d, torch.nn.MaxPool2d, dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    (nn.MaxPool2d, torch.nn.MaxPool2d, dict(kernel_size=(3, 2), stride=(2, 1), dilation=(1, 2))),
    (nn.MaxPool1d, torch.nn.MaxPool1d, dict(kernel_size=3, stride=2, padding=1)),
    (nn.AvgPool2d, torch.nn.AvgPool2d, dict(kernel_size=2)),
    (nn.AvgPool2d, torch.nn.AvgPool2d, dict(kernel_size=3, stride=1, padding=1, count_include_pad=False,
                                            divisor_override=4)),
    (nn.AvgPool1d, torch.nn.AvgPool1d, dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    (nn.AdaptiveAvgPool2d, torch.nn.AdaptiveAvgPool2d, dict(output_size=1)),
    (nn.AdaptiveAvgPool2d, torch.nn.AdaptiveAvgPool2d, dict(output_size=(None, 3))),
    (nn.AdaptiveMaxPool2d, torch.nn.AdaptiveMaxPool2d, dict(output_size=(2, 3))),
    (nn.AdaptiveMaxPool2d, torch.nn.AdaptiveMaxPool2d, dict(output_size=2, return_indices=True)),
]


@pytest.mark.parametrize("ours_cls, torch_cls, args", MODULES, ids=lambda v: getattr(v, "__name__", adaptive_id(v)))
def test_pooling_modules_match_torch(ours_cls, torch_cls, args, device):
    ours, ref = ours_cls(**args), torch_cls(**args)
    assert repr(ours) == repr(ref)
    assert ours.state_dict() == {} and len(ref.state_dict()) == 0
    assert list(ours.parameters()) == []
    for attr in ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices", "output_size",
                 "count_include_pad", "divisor_override"):
        assert getattr(ours, attr, None) == getattr(ref, attr, None), attr
    shape = (2, 3, 9, 8) if "1d" not in ours_cls.__name__ else (2, 3, 9)
    x = distinct_data(np.random.default_rng(12), shape, np.float64)
    with torch.no_grad():
        expected = ref(torch.from_numpy(x))
    got = ours.to(device)(fl.tensor(to_device(x, device)))
    if isinstance(expected, tuple):
        for o, e in zip(got, expected):
            np.testing.assert_array_equal(to_host(o), e.numpy())
    else:
        np.testing.assert_array_equal(to_host(got), expected.numpy())


def test_max_unpool2d_module_repr_and_sequential_use():
    assert repr(nn.MaxUnpool2d(2)) == repr(torch.nn.MaxUnpool2d(2))
    assert repr(nn.MaxUnpool2d((3, 2), 1, 1)) == repr(torch.nn.MaxUnpool2d((3, 2), 1, 1))
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.MaxPool2d(2), nn.AdaptiveAvgPool2d(1))
    ref = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.MaxPool2d(2),
                              torch.nn.AdaptiveAvgPool2d(1))
    assert repr(model) == repr(ref)
    assert list(model.state_dict()) == list(ref.state_dict())


# ---------------------------------------------------------------------------------------------------------
# bad input

def _zeros(device, *shape, dtype=np.float32):
    return fl.tensor(to_device(np.zeros(shape, dtype), device))


# Each call takes (X4, IND, z): a (1, 2, 6, 6) float32 input, its 2x2 max-pooling indices and z(*shape, dtype=)
# making zeros, all on the test's device.
BAD_CALLS = [
    (lambda X4, IND, z: F.max_pool2d(X4, 0), ValueError, ["kernel_size", "(0, 0)"]),
    (lambda X4, IND, z: F.max_pool2d(X4, 2, stride=0), ValueError, ["stride", "(0, 0)"]),
    (lambda X4, IND, z: F.max_pool2d(X4, 2, dilation=0), ValueError, ["dilation", "(0, 0)"]),
    (lambda X4, IND, z: F.max_pool2d(X4, 3, padding=2), ValueError, ["pad should be at most half",
                                                                     "padding=(2, 2)", "kernel_size=(3, 3)"]),
    (lambda X4, IND, z: F.max_pool2d(X4, 2, padding=-1), ValueError, ["padding", "non-negative"]),
    (lambda X4, IND, z: F.max_pool2d(X4, 7), ValueError, ["output size is too small", "(2, 6, 6)", "(2, 0, 0)"]),
    (lambda X4, IND, z: F.max_pool2d(X4, (2, 2, 2)), TypeError, ["kernel_size", "(2, 2, 2)"]),
    (lambda X4, IND, z: F.max_pool2d(z(6, 6), 2), ValueError, ["3-D", "4-D", "(6, 6)"]),
    (lambda X4, IND, z: F.max_pool2d(z(1, 1, 4, 4).data, 2), TypeError, ["input", "fastlayers.Tensor"]),
    (lambda X4, IND, z: F.max_pool2d(z(1, 1, 4, 4, dtype=np.int64), 2), TypeError, ["float32", "int64"]),
    (lambda X4, IND, z: F.avg_pool2d(X4, 2, divisor_override=0), ValueError, ["divisor", "zero"]),
    (lambda X4, IND, z: F.avg_pool2d(X4, 2, padding=2), ValueError, ["pad should be at most half",
                                                                     "padding=(2, 2)"]),
    (lambda X4, IND, z: F.avg_pool1d(z(1, 2, 3), 5), ValueError, ["too small"]),
    (lambda X4, IND, z: F.adaptive_avg_pool2d(X4, 0), ValueError, ["output_size", "positive"]),
    (lambda X4, IND, z: F.adaptive_avg_pool2d(X4, (1, 2, 3)), TypeError, ["output_size", "(1, 2, 3)"]),
    (lambda X4, IND, z: F.adaptive_max_pool2d(X4, None), TypeError, ["output_size", "None"]),
    (lambda X4, IND, z: F.max_unpool2d(X4, IND.data, 2), TypeError, ["indices", "ndarray"]),
    (lambda X4, IND, z: F.max_unpool2d(F.max_pool2d(X4, 2), IND, 2, output_size=(9, 9)), ValueError,
     ["invalid output_size", "between 4 and 8"]),
    (lambda X4, IND, z: F.max_unpool2d(X4, IND, 2), ValueError, ["indices", "(1, 2, 3, 3)", "(1, 2, 6, 6)"]),
    (lambda X4, IND, z: F.max_unpool2d(F.max_pool2d(X4, 2), fl.tensor(IND.data + 40), 2), RuntimeError,
     ["Found an invalid max index", "6x6"]),
    (lambda X4, IND, z: _C.max_pool2d_backward(z(1, 2, 3, 3).data, IND.data * 10, (6, 6)), RuntimeError,
     ["Found an invalid max index", "6x6"]),
]


@pytest.mark.parametrize("call, error, words", BAD_CALLS)
def test_pooling_bad_input_raises_clear_error(call, error, words, device):
    X4 = _zeros(device, 1, 2, 6, 6)
    IND = F.max_pool2d(X4, 2, return_indices=True)[1]
    with pytest.raises(error) as info:
        call(X4, IND, lambda *shape, dtype=np.float32: _zeros(device, *shape, dtype=dtype))
    for word in words:
        assert word in str(info.value), f"{word!r} not in {str(info.value)!r}"


X4 = np.zeros((1, 2, 6, 6), np.float32)


# CPU-only: the choice among the CPU kernels, and the numpy index import (a CUDA index array's wrong dtype is
# reported by its DLPack code instead).
@pytest.mark.parametrize("call, error, words", [
    (lambda: _C.max_pool2d_forward(X4, (2, 2), (2, 2), impl="fastest"), ValueError,
     ["impl", "k2s2, direct, reference", "fastest"]),
    (lambda: _C.max_pool2d_forward(X4, (3, 3), (1, 1), impl="k2s2"), ValueError, ["k2s2", "does not accept"]),
    (lambda: _C.max_pool2d_backward(np.zeros((1, 2, 3, 3), np.float32), np.zeros((1, 2, 3, 3), np.int32), (6, 6)),
     TypeError, ["indices", "int64", "int32"]),
])
def test_pooling_cpu_binding_bad_input_raises_clear_error(call, error, words):
    with pytest.raises(error) as info:
        call()
    for word in words:
        assert word in str(info.value), f"{word!r} not in {str(info.value)!r}"
