"""conv_transpose2d / conv_transpose1d and nn.ConvTranspose2d / nn.ConvTranspose1d against torch: forward and
every gradient, float32 and float64, every SIMD path, the naive C++ reference, gradient masks, non-contiguous
and unbatched inputs, thread counts, finite differences, output_size, module state_dict/repr/init, bad input. The
semantic tests also run on the GPU (`device` / `simd_device`; skipped with "no CUDA device" where none is
present), torch staying the oracle on the CPU."""
import functools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import fastlayers as fl
import fastlayers.nn.functional as F
from fastlayers import _C, nn
from conftest import assert_close, check_module_with_torch_weights, grid_data, to_device, to_host


def pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


class Case:
    """One transposed convolution: input N x C x H x W, weight C x K/groups x R x S, output channels K."""

    def __init__(self, N, C, H, W, K, R, S, stride=1, padding=0, output_padding=0, dilation=1, groups=1, bias=True):
        self.N, self.C, self.H, self.W, self.K, self.R, self.S = N, C, H, W, K, R, S
        self.stride, self.padding, self.output_padding = pair(stride), pair(padding), pair(output_padding)
        self.dilation, self.groups, self.bias = pair(dilation), groups, bias

    def __str__(self):
        return (f"mb{self.N}ic{self.C}ih{self.H}iw{self.W}oc{self.K}kh{self.R}kw{self.S}"
                f"sh{self.stride[0]}sw{self.stride[1]}ph{self.padding[0]}pw{self.padding[1]}"
                f"oph{self.output_padding[0]}opw{self.output_padding[1]}dh{self.dilation[0]}dw{self.dilation[1]}"
                f"g{self.groups}{'' if self.bias else 'nb'}")

    def args(self):
        return self.stride, self.padding, self.output_padding, self.groups, self.dilation

    def reduction_len(self):
        return max(1, self.C * self.R * self.S * (self.K // self.groups) * self.N)


CASES = [
    Case(1, 1, 5, 5, 1, 3, 3),                                           # channels 1, batch 1
    Case(2, 3, 4, 4, 5, 3, 3),
    Case(3, 5, 7, 6, 3, 3, 2),                                           # odd channels, non-square input/kernel
    Case(2, 4, 5, 5, 6, 4, 4, stride=2, padding=1),                      # DCGAN-style upsampling
    Case(2, 4, 5, 5, 6, 3, 3, stride=2, padding=1, output_padding=1),
    Case(2, 3, 6, 5, 4, 3, 3, stride=(2, 3), padding=(1, 0), output_padding=(1, 2)),
    Case(1, 3, 5, 7, 2, 2, 2, stride=2),                                 # even kernel = stride: no overlap
    Case(2, 2, 6, 6, 3, 3, 3, stride=3, output_padding=2),
    Case(2, 3, 5, 5, 2, 5, 5, padding=2),
    Case(2, 2, 4, 4, 3, 3, 3, padding=2),                                # padding trims most of the output
    Case(1, 3, 6, 6, 4, 3, 3, dilation=2),
    Case(2, 3, 5, 6, 2, 3, 2, dilation=(2, 3), padding=(1, 1)),
    Case(2, 2, 5, 5, 3, 3, 3, dilation=2, output_padding=1),             # output_padding >= stride, < dilation
    Case(1, 3, 4, 5, 2, 2, 3, stride=(1, 2), dilation=(3, 1), output_padding=(2, 1)),
    Case(2, 4, 5, 5, 6, 3, 3, groups=2, padding=1),
    Case(2, 6, 4, 5, 9, 3, 2, groups=3, stride=2, output_padding=1),
    Case(2, 8, 6, 6, 8, 3, 3, groups=8, padding=1),                     # depthwise-like
    Case(2, 8, 5, 5, 8, 4, 4, groups=8, stride=2, padding=1),
    Case(1, 5, 6, 6, 10, 3, 3, groups=5, padding=1),                    # depthwise-like, multiplier 2
    Case(1, 4, 7, 7, 4, 3, 3, groups=4, dilation=2, padding=1, bias=False),
    Case(2, 16, 5, 5, 8, 1, 1),                                          # pointwise
    Case(3, 7, 5, 4, 5, 1, 1, stride=2, output_padding=1),               # strided pointwise
    Case(1, 3, 1, 9, 2, 1, 3, stride=(1, 2)),                            # height 1, like conv_transpose1d
    Case(2, 3, 7, 1, 3, 3, 1, padding=(1, 0)),                           # width 1
    Case(1, 1, 1, 1, 3, 4, 4),                                           # single input pixel
    Case(2, 17, 6, 6, 19, 3, 3, padding=1),                              # channels past one register tile
    Case(1, 32, 4, 4, 24, 3, 3, stride=2, padding=1, output_padding=1, bias=False),
    Case(4, 3, 3, 3, 2, 3, 3, stride=2),
    Case(1, 6, 7, 7, 6, 3, 3, groups=2, stride=2, padding=2, dilation=2, output_padding=1),
    Case(0, 3, 4, 4, 2, 3, 3),                                           # empty batch
    # batches of small inputs: one GEMM over the batch (cpu/conv2d_batch_gemm.cpp, through the adjoint conv2d)
    Case(16, 20, 4, 4, 9, 4, 4, stride=2, padding=1),
    Case(5, 12, 7, 9, 5, 3, 3, stride=2, padding=1, output_padding=1),  # images straddle row panels
    Case(6, 9, 8, 6, 7, 3, 2, stride=(1, 2), padding=(2, 0), dilation=(2, 1), bias=False),
    Case(30, 10, 3, 3, 6, 4, 4, stride=2, padding=1),                  # 9-pixel images across row panels
]
DTYPES = [np.float32, np.float64]


def make_data(case, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = grid_data(rng, (case.N, case.C, case.H, case.W), dtype)
    w = grid_data(rng, (case.C, case.K // case.groups, case.R, case.S), dtype)
    b = grid_data(rng, (case.K,), dtype) if case.bias else None
    with torch.no_grad():
        shape = TF.conv_transpose2d(torch.from_numpy(x), torch.from_numpy(w), None, *case.args()).shape
    dy = grid_data(rng, tuple(shape), dtype)
    return x, w, b, dy


def run_ours(case, x, w, b, dy, device, need=(True, True, True)):
    x, w, b, dy = (to_device(a, device) for a in (x, w, b, dy))
    tx = fl.Tensor(x, requires_grad=need[0])
    tw = fl.Tensor(w, requires_grad=need[1])
    tb = fl.Tensor(b, requires_grad=need[2]) if b is not None else None
    y = F.conv_transpose2d(tx, tw, tb, *case.args())
    y.backward(dy)
    grads = [to_host(t.grad) if t is not None and t.grad is not None else None for t in (tx, tw, tb)]
    return to_host(y), grads


def run_torch(case, x, w, b, dy, need=(True, True, True)):
    tx = torch.from_numpy(x).requires_grad_(need[0])
    tw = torch.from_numpy(w).requires_grad_(need[1])
    tb = torch.from_numpy(b).requires_grad_(need[2]) if b is not None else None
    y = TF.conv_transpose2d(tx, tw, tb, *case.args())
    y.backward(torch.from_numpy(dy))
    grads = [t.grad.numpy() if t is not None and t.grad is not None else None for t in (tx, tw, tb)]
    return y.detach().numpy(), grads


def check_against_torch(case, dtype, x, w, b, dy, device, need=(True, True, True)):
    y, grads = run_ours(case, x, w, b, dy, device, need)
    host = (None if a is None else np.ascontiguousarray(to_host(a)) for a in (x, w, b, dy))
    ty, tgrads = run_torch(case, *host, need)
    n = case.reduction_len()
    where = f"{case} on {device}"
    assert_close(y, ty, "conv_transpose2d forward", where, n, dtype)
    for name, g, tg in zip(("grad_input", "grad_weight", "grad_bias"), grads, tgrads):
        if tg is None:
            assert g is None, f"conv_transpose2d {name} {where}: expected no gradient"
        else:
            assert g is not None, f"conv_transpose2d {name} {where}: gradient missing"
            assert_close(g, tg, f"conv_transpose2d {name}", where, n * case.H * case.W, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_conv_transpose2d_matches_torch_forward_and_gradients(case, dtype, simd_device):
    check_against_torch(case, dtype, *make_data(case, dtype), simd_device)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_conv_transpose2d_matches_naive_reference(case):
    """The front door (convolution kernels with roles swapped) against the direct C++ definition."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((case.N, case.C, case.H, case.W))
    w = rng.standard_normal((case.C, case.K // case.groups, case.R, case.S))
    b = rng.standard_normal(case.K)
    y = _C.conv_transpose2d_forward(x, w, b, *case.args())
    y_ref = _C.conv_transpose2d_forward(x, w, b, *case.args(), reference=True)
    dy = rng.standard_normal(y.shape)
    grads = _C.conv_transpose2d_backward(dy, x, w, *case.args())
    grads_ref = _C.conv_transpose2d_backward(dy, x, w, *case.args(), reference=True)
    n = case.reduction_len()
    assert_close(y, y_ref, "conv_transpose2d forward vs reference", case, n)
    for name, g, gr in zip(("grad_input", "grad_weight", "grad_bias"), grads, grads_ref):
        assert_close(g, gr, f"conv_transpose2d {name} vs reference", case, n * case.H * case.W)


@pytest.mark.parametrize("need", [(True, False, False), (False, True, False), (False, False, True),
                                  (False, True, True), (True, False, True)], ids=str)
@pytest.mark.parametrize("case", [CASES[4], CASES[12], CASES[15]], ids=str)
def test_conv_transpose2d_gradient_mask(case, need, device):
    check_against_torch(case, np.float64, *make_data(case, np.float64), device, need=need)


def test_conv_transpose2d_backward_mask_returns_none():
    case = CASES[4]
    x, w, _, dy = make_data(case, np.float32)
    dx, dw, db = _C.conv_transpose2d_backward(dy, x, w, *case.args(), mask=(False, True, False))
    assert dx is None and db is None and dw.shape == w.shape


@pytest.mark.parametrize("case", [CASES[3], CASES[15], CASES[16]], ids=str)
def test_conv_transpose2d_non_contiguous_inputs_match_torch(case, device):
    x, w, b, dy = make_data(case, np.float32)
    # (Views taken where the arrays live, so that our kernels get strided memory on the GPU too.)
    xs = to_device(np.ascontiguousarray(x.transpose(0, 1, 3, 2)), device).transpose(0, 1, 3, 2)
    ws = to_device(np.ascontiguousarray(w[::-1]), device)[::-1]
    dys = to_device(np.repeat(dy, 2, axis=0), device)[::2]
    assert not xs.flags.c_contiguous and not ws.flags.c_contiguous and not dys.flags.c_contiguous
    check_against_torch(case, np.float32, xs, ws, b, dys, device)


def test_conv_transpose2d_accepts_dlpack_arrays_and_out():
    case = CASES[5]
    x, w, b, _ = make_data(case, np.float32)
    expected = _C.conv_transpose2d_forward(x, w, b, *case.args())
    via_dlpack = _C.conv_transpose2d_forward(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b),
                                             *case.args())
    np.testing.assert_array_equal(via_dlpack, expected)
    out = np.empty_like(expected)
    assert _C.conv_transpose2d_forward(x, w, b, *case.args(), out=out) is out
    np.testing.assert_array_equal(out, expected)


def test_conv_transpose2d_descriptor_names_every_parameter():
    x = np.zeros((2, 4, 5, 6), np.float32)
    w = np.zeros((4, 3, 3, 2), np.float32)
    d = _C.conv_transpose2d_descriptor(x, w, (2, 1), (1, 0), (1, 0), 2, (1, 2))
    assert d == "mb2ic4ih5iw6oc6kh3kw2sh2sw1ph1pw0oph1opw0dh1dw2g2"


@pytest.mark.parametrize("case", [CASES[5], CASES[12], CASES[15], CASES[17]], ids=str)
def test_conv_transpose2d_gradcheck_float64(case):
    rng = np.random.default_rng(1)
    x = fl.tensor(rng.standard_normal((min(case.N, 2), case.C, case.H, case.W)), requires_grad=True)
    w = fl.tensor(rng.standard_normal((case.C, case.K // case.groups, case.R, case.S)), requires_grad=True)
    b = fl.tensor(rng.standard_normal(case.K), requires_grad=True)
    assert fl.autograd.gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, *case.args()), (x, w, b))


CASES_1D = [  # (N, C, L, K, k, stride, padding, output_padding, groups, dilation)
    (2, 3, 7, 4, 3, 1, 0, 0, 1, 1),
    (1, 4, 6, 6, 4, 2, 1, 1, 2, 1),
    (3, 1, 9, 2, 5, 3, 2, 2, 1, 1),
    (2, 4, 5, 4, 3, 1, 1, 1, 4, 2),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("c", CASES_1D, ids=lambda c: "mb{}ic{}il{}oc{}k{}s{}p{}op{}g{}d{}".format(*c))
def test_conv_transpose1d_matches_torch(c, dtype, device):
    N, C, L, K, k, st, pd, op, g, dl = c
    rng = np.random.default_rng(4)
    x, w, b = grid_data(rng, (N, C, L), dtype), grid_data(rng, (C, K // g, k), dtype), grid_data(rng, (K,), dtype)
    tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
    ty = TF.conv_transpose1d(tx, tw, tb, st, pd, op, g, dl)
    dy = grid_data(rng, tuple(ty.shape), dtype)
    ty.backward(torch.from_numpy(dy))
    fx, fw, fb = (fl.tensor(to_device(a, device), requires_grad=True) for a in (x, w, b))
    y = F.conv_transpose1d(fx, fw, fb, stride=st, padding=pd, output_padding=op, groups=g, dilation=dl)
    y.backward(to_device(dy, device))
    red = C * k * K * N * L
    where = f"{c} on {device}"
    assert_close(to_host(y), ty.detach().numpy(), "conv_transpose1d forward", where, red, dtype)
    for name, ours, t in zip(("grad_input", "grad_weight", "grad_bias"), (fx, fw, fb), (tx, tw, tb)):
        assert_close(to_host(ours.grad), t.grad.numpy(), f"conv_transpose1d {name}", where, red, dtype)
    if device != "cpu":
        return  # finite differences in float64 run on the CPU only (slow on a GPU)
    assert fl.autograd.gradcheck(
        lambda x, w, b: F.conv_transpose1d(x, w, b, st, pd, op, g, dl),
        tuple(fl.tensor(a.astype(np.float64)[:1] if a is x else a.astype(np.float64), requires_grad=True)
              for a in (x, w, b)))


@pytest.mark.parametrize("nd", [1, 2])
def test_conv_transpose_unbatched_input_matches_torch(nd, device):
    rng = np.random.default_rng(5)
    spatial = (5, 4)[:nd]
    x = grid_data(rng, (3,) + spatial, np.float64)
    w = grid_data(rng, (3, 2) + (3,) * nd, np.float64)
    b = grid_data(rng, (2,), np.float64)
    ours_f, torch_f = (F.conv_transpose1d, TF.conv_transpose1d) if nd == 1 else (F.conv_transpose2d,
                                                                                  TF.conv_transpose2d)
    tx = torch.from_numpy(x).requires_grad_()
    ty = torch_f(tx, torch.from_numpy(w), torch.from_numpy(b), 2, 1, 1)
    dy = grid_data(rng, tuple(ty.shape), np.float64)
    ty.backward(torch.from_numpy(dy))
    fx = fl.tensor(to_device(x, device), requires_grad=True)
    y = ours_f(fx, fl.tensor(to_device(w, device)), fl.tensor(to_device(b, device)), 2, 1, 1)
    y.backward(to_device(dy, device))
    assert y.shape == tuple(ty.shape)
    where = f"{x.shape} on {device}"
    assert_close(to_host(y), ty.detach().numpy(), f"conv_transpose{nd}d unbatched forward", where, 100)
    assert_close(to_host(fx.grad), tx.grad.numpy(), f"conv_transpose{nd}d unbatched grad_input", where, 100)


@pytest.mark.parametrize("case", [Case(2, 16, 9, 9, 12, 4, 4, stride=2, padding=1, output_padding=1),
                                  Case(24, 16, 4, 4, 12, 4, 4, stride=2, padding=1)], ids=str)
def test_conv_transpose2d_one_and_two_threads_agree(threads, case):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((case.N, case.C, case.H, case.W)).astype(np.float32)
    w = rng.standard_normal((case.C, case.K, case.R, case.S)).astype(np.float32)
    b = rng.standard_normal(case.K).astype(np.float32)
    results = []
    for n in (1, 2):
        fl.set_num_threads(n)
        y = _C.conv_transpose2d_forward(x, w, b, *case.args())
        results.append((y,) + tuple(_C.conv_transpose2d_backward(y, x, w, *case.args())))
    for name, one, two in zip(("output", "grad_input", "grad_weight", "grad_bias"), *results):
        assert_close(two, one, f"conv_transpose2d {name} 2 vs 1 threads", case, case.reduction_len(), np.float32)
    # Reductions (weight and bias gradients) must not depend on the thread count at all.
    np.testing.assert_array_equal(results[0][2], results[1][2], err_msg=f"grad_weight {case}")
    np.testing.assert_array_equal(results[0][3], results[1][3], err_msg=f"grad_bias {case}")


# ---------------------------------------------------------------------------------------------------------
# Bad input


def _t(shape, dtype=np.float32, device="cpu"):
    return fl.tensor(to_device(np.ones(shape, dtype), device))


BAD_INPUTS = [
    ("output_padding >= stride and dilation", lambda _t: F.conv_transpose2d(_t((1, 2, 4, 4)), _t((2, 3, 3, 3)),
                                                                            stride=2, output_padding=2),
     ValueError, r"output_padding \(2, 2\) must be smaller than either stride \(2, 2\) or dilation \(1, 1\)"),
    ("output_padding 1d", lambda _t: F.conv_transpose1d(_t((1, 2, 4)), _t((2, 3, 3)), output_padding=1),
     ValueError, r"output_padding \(1,\) must be smaller"),
    ("channel mismatch", lambda _t: F.conv_transpose2d(_t((1, 3, 4, 4)), _t((2, 3, 3, 3))),
     ValueError, r"input has 3 channels but weight of shape \(2, 3, 3, 3\) expects 2"),
    ("input ndim", lambda _t: F.conv_transpose2d(_t((4, 4)), _t((2, 3, 3, 3))),
     ValueError, r"expected 3-D \(unbatched\) or 4-D \(batched\) input, got input of shape \(4, 4\)"),
    ("weight ndim", lambda _t: F.conv_transpose2d(_t((1, 2, 4, 4)), _t((2, 3, 3))),
     ValueError, r"expected weight of 4 dims"),
    ("bias shape", lambda _t: F.conv_transpose2d(_t((1, 2, 4, 4)), _t((2, 3, 3, 3)), _t((2,)), groups=1),
     ValueError, r"expected bias of shape \(3,\), got \(2,\)"),
    ("groups divide", lambda _t: F.conv_transpose2d(_t((1, 3, 4, 4)), _t((3, 1, 3, 3)), groups=2),
     ValueError, r"groups=2 must divide in_channels=3"),
    ("negative padding", lambda _t: F.conv_transpose2d(_t((1, 2, 4, 4)), _t((2, 3, 3, 3)), padding=-1),
     ValueError, r"padding must be non-negative"),
    ("string padding", lambda _t: F.conv_transpose2d(_t((1, 2, 4, 4)), _t((2, 3, 3, 3)), padding="same"),
     ValueError, r"padding must be an int or a tuple of 2 ints"),
    ("zero stride", lambda _t: F.conv_transpose2d(_t((1, 2, 4, 4)), _t((2, 3, 3, 3)), stride=0),
     ValueError, r"stride must be positive"),
    ("output too small", lambda _t: F.conv_transpose2d(_t((1, 2, 1, 1)), _t((2, 3, 1, 1)), padding=1),
     ValueError, r"output size \(-1, -1\) is too small"),
    ("float16 input", lambda _t: F.conv_transpose2d(_t((1, 2, 4, 4), np.float16), _t((2, 3, 3, 3), np.float16)),
     TypeError, r"float16|dtype"),
    ("mixed dtypes", lambda _t: F.conv_transpose2d(_t((1, 2, 4, 4)), _t((2, 3, 3, 3), np.float64)),
     TypeError, r"weight must have dtype float32 like the input, got float64"),
    ("not a tensor", lambda _t: F.conv_transpose2d(np.ones((1, 2, 4, 4), np.float32), _t((2, 3, 3, 3))),
     TypeError, r"argument 'input' must be a fastlayers.Tensor"),
    ("stride tuple length", lambda _t: F.conv_transpose2d(_t((1, 2, 4, 4)), _t((2, 3, 3, 3)), stride=(1, 2, 3)),
     TypeError, r"argument 'stride' must be an int or a tuple of 2 ints"),
    ("binding channel mismatch", lambda _t: _C.conv_transpose2d_forward(_t((1, 3, 4, 4), np.float64).data,
                                                                        _t((2, 3, 3, 3), np.float64).data),
     ValueError, r"input has 3 channels but weight of shape \[2, 3, 3, 3\] expects 2"),
    ("binding output_padding", lambda _t: _C.conv_transpose2d_forward(_t((1, 2, 4, 4), np.float64).data,
                                                                      _t((2, 3, 3, 3), np.float64).data,
                                                                      output_padding=(1, 0)),
     ValueError, r"output_padding \(1, 0\) must be smaller than either stride \(1, 1\) or dilation \(1, 1\)"),
    ("binding grad_output shape", lambda _t: _C.conv_transpose2d_backward(_t((1, 3, 5, 5), np.float64).data,
                                                                          _t((1, 2, 4, 4), np.float64).data,
                                                                          _t((2, 3, 3, 3), np.float64).data),
     ValueError, r"grad_output must have shape \[1, 3, 6, 6\], got \[1, 3, 5, 5\]"),
]


@pytest.mark.parametrize("name, call, error, match", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_conv_transpose_bad_input_raises_clear_error(name, call, error, match, device):
    with pytest.raises(error, match=match):
        call(functools.partial(_t, device=device))  # the arrays are made on `device`


# ---------------------------------------------------------------------------------------------------------
# Modules

MODULE_ARGS = [
    (nn.ConvTranspose2d, torch.nn.ConvTranspose2d, dict(in_channels=3, out_channels=8, kernel_size=3)),
    (nn.ConvTranspose2d, torch.nn.ConvTranspose2d, dict(in_channels=4, out_channels=6, kernel_size=(3, 2), stride=2,
                                                        padding=1, output_padding=1, bias=False)),
    (nn.ConvTranspose2d, torch.nn.ConvTranspose2d, dict(in_channels=4, out_channels=4, kernel_size=3, groups=4,
                                                        padding=1)),
    (nn.ConvTranspose2d, torch.nn.ConvTranspose2d, dict(in_channels=4, out_channels=6, kernel_size=4, stride=(2, 1),
                                                        padding=(1, 2), groups=2, dilation=(1, 2))),
    (nn.ConvTranspose2d, torch.nn.ConvTranspose2d, dict(in_channels=2, out_channels=3, kernel_size=3, dilation=2,
                                                        output_padding=1)),
    (nn.ConvTranspose1d, torch.nn.ConvTranspose1d, dict(in_channels=3, out_channels=4, kernel_size=5, stride=2,
                                                        padding=2, output_padding=1)),
    (nn.ConvTranspose1d, torch.nn.ConvTranspose1d, dict(in_channels=4, out_channels=2, kernel_size=2, groups=2,
                                                        bias=False)),
]


def _ids(v):
    if isinstance(v, dict):
        return "-".join(f"{k}={v[k]}" for k in v)
    return getattr(v, "__name__", None)


def _nd(cls):
    return 2 if cls is nn.ConvTranspose2d else 1


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("ours_cls, torch_cls, args", MODULE_ARGS, ids=_ids)
def test_conv_transpose_module_matches_torch_with_loaded_weights(ours_cls, torch_cls, args, dtype, device):
    ref = torch_cls(**args).to(torch.float64 if dtype == np.float64 else torch.float32)
    ours = ours_cls(**args).to(dtype)
    rng = np.random.default_rng(0)
    x = grid_data(rng, (2, args["in_channels"]) + ((5, 6) if _nd(ours_cls) == 2 else (7,)), dtype)
    check_module_with_torch_weights(ours, ref, x, args["out_channels"] * int(np.prod(ours.kernel_size)) * x.size, dtype,
                                    device)


@pytest.mark.parametrize("ours_cls, torch_cls, args", MODULE_ARGS, ids=_ids)
def test_conv_transpose_module_parameters_state_dict_and_repr_match_torch(ours_cls, torch_cls, args, device):
    ours, ref = ours_cls(**args, device=device), torch_cls(**args)
    assert [(n, tuple(p.shape)) for n, p in ours.named_parameters()] == \
           [(n, tuple(p.shape)) for n, p in ref.named_parameters()]
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == \
           {k: tuple(v.shape) for k, v in ref.state_dict().items()}
    assert repr(ours) == repr(ref)
    for attr in ("in_channels", "out_channels", "kernel_size", "stride", "padding", "output_padding", "dilation",
                 "groups", "padding_mode", "transposed"):
        assert getattr(ours, attr) == getattr(ref, attr), attr
    assert all(p.dtype == np.float32 and p.requires_grad for p in ours.parameters())
    assert all(p.device.split(":")[0] == device for p in ours.parameters())
    ref.load_state_dict({k: torch.from_numpy(to_host(v).copy()) for k, v in ours.state_dict().items()})
    np.testing.assert_array_equal(ref.weight.detach().numpy(), to_host(ours.weight))


def test_conv_transpose_default_initialization_follows_torch_bounds():
    # torch: kaiming_uniform_(a=sqrt(5)) -> U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = weight.shape[1] * prod(k)
    # = (out_channels / groups) * kH * kW for the transposed layout; the bias uses the same bound.
    fl.manual_seed(0)
    m = nn.ConvTranspose2d(16, 12, (3, 5), groups=2)
    bound = 1 / math.sqrt(6 * 3 * 5)
    w, b = m.weight.detach().numpy(), m.bias.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert np.abs(b).max() <= bound and np.abs(b).max() > 0.5 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.1 * bound
    m64 = nn.ConvTranspose1d(3, 4, 3, dtype=np.float64)
    assert m64.weight.dtype == np.float64 and m64.bias.dtype == np.float64


OUTPUT_SIZES = [  # (input shape, output_size); stride 2, padding 1, kernel 3: sizes 9 or 10 per axis
    ((2, 3, 5, 5), [9, 10]),
    ((2, 3, 5, 5), (10, 9)),
    ((2, 3, 5, 5), [2, 4, 10, 10]),           # with the batch and channel dims
    ((3, 5, 5), [4, 10, 9]),                  # unbatched, with the channel dim
    ((3, 5, 5), [10, 10]),
    ((2, 3, 5, 5), None),
]


def _module_pair(device):
    ref = torch.nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1).double()
    ours = nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, dtype=np.float64)
    ours.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    return ours.to(device), ref


@pytest.mark.parametrize("shape, output_size", OUTPUT_SIZES, ids=str)
def test_conv_transpose2d_module_output_size_matches_torch(shape, output_size, device):
    ours, ref = _module_pair(device)
    x = grid_data(np.random.default_rng(6), shape, np.float64)
    expected = ref(torch.from_numpy(x), output_size=output_size).detach().numpy()
    y = to_host(ours(fl.tensor(to_device(x, device)), output_size=output_size))
    assert_close(y, expected, "ConvTranspose2d output_size", (shape, output_size, device), 100)


def test_conv_transpose2d_module_output_size_length_error_matches_torch(device):
    ours, ref = _module_pair(device)
    x = np.ones((3, 5, 5))
    with pytest.raises(ValueError) as torch_err:
        ref(torch.from_numpy(x), output_size=[3, 4, 10, 10])
    with pytest.raises(ValueError) as ours_err:
        ours(fl.tensor(to_device(x, device)), output_size=[3, 4, 10, 10])
    assert str(ours_err.value) == str(torch_err.value)
    assert "output_size must have 2 or 3 elements (got 4)" in str(ours_err.value)


def test_conv_transpose1d_module_output_size_matches_torch(device):
    ref = torch.nn.ConvTranspose1d(2, 3, 4, stride=3).double()
    ours = nn.ConvTranspose1d(2, 3, 4, stride=3, dtype=np.float64)
    ours.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    ours.to(device)
    x = grid_data(np.random.default_rng(7), (2, 2, 5), np.float64)
    for size in ([16], [17], [18], (2, 3, 18)):
        assert_close(to_host(ours(fl.tensor(to_device(x, device)), output_size=size)),
                     ref(torch.from_numpy(x), output_size=list(size)).detach().numpy(), "ConvTranspose1d output_size",
                     (size, device), 100)


def test_conv_transpose_module_impossible_output_size_raises_like_torch(device):
    m = nn.ConvTranspose2d(3, 4, 3, stride=2, device=device)
    x = fl.tensor(to_device(np.ones((1, 3, 5, 5), np.float32), device))
    with pytest.raises(ValueError, match=r"requested an output size of \[13, 12\], but valid sizes range from "
                                         r"\[11, 11\] to \[12, 12\] \(for an input of \(5, 5\)\)"):
        m(x, output_size=[13, 12])
    with pytest.raises(ValueError, match=r"valid sizes range from \[11, 11\] to \[12, 12\]"):
        m(x, output_size=[10, 11])
    with pytest.raises(ValueError, match=r"ConvTranspose2D: for 4D input, output_size must have 2 or 4 elements "
                                         r"\(got 3\)"):
        m(x, output_size=[3, 11, 11])


def test_conv_transpose_module_rejects_other_padding_modes_like_torch():
    for mode in ("reflect", "replicate", "circular"):
        with pytest.raises(ValueError, match='Only "zeros" padding mode is supported for ConvTranspose2d'):
            nn.ConvTranspose2d(2, 3, 3, padding_mode=mode)
        with pytest.raises(ValueError, match='Only "zeros" padding mode is supported for ConvTranspose1d'):
            nn.ConvTranspose1d(2, 3, 3, padding_mode=mode)
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        nn.ConvTranspose2d(3, 4, 3, groups=2)
