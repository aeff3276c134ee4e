"""conv2d and conv1d against torch: forward and every gradient, float32 and float64, every SIMD path,
non-contiguous inputs, thread counts, finite differences, and bad input. The semantic tests also run on the
GPU (`device` / `simd_device`; skipped with "no CUDA device" where none is present), torch staying the oracle
on the CPU."""
import functools
import multiprocessing
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import fastlayers as fl
import fastlayers.nn.functional as F
from fastlayers import _C
from conftest import assert_close, grid_data, to_device, to_host


def pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


class Case:
    """One convolution problem; str() is the descriptor used in test ids and failure messages."""

    def __init__(self, N, C, H, W, K, R, S, stride=1, padding=0, dilation=1, groups=1, bias=True):
        self.N, self.C, self.H, self.W, self.K, self.R, self.S = N, C, H, W, K, R, S
        self.stride, self.dilation, self.groups, self.bias = pair(stride), pair(dilation), groups, bias
        self.padding = padding if isinstance(padding, str) else pair(padding)

    def __str__(self):
        pad = self.padding if isinstance(self.padding, str) else f"{self.padding[0]}pw{self.padding[1]}"
        return (f"mb{self.N}ic{self.C}ih{self.H}iw{self.W}oc{self.K}kh{self.R}kw{self.S}"
                f"sh{self.stride[0]}sw{self.stride[1]}ph{pad}dh{self.dilation[0]}dw{self.dilation[1]}"
                f"g{self.groups}{'' if self.bias else 'nb'}")

    def reduction_len(self):
        return (self.C // self.groups) * self.R * self.S * self.K * self.N


CASES = [
    Case(1, 1, 5, 5, 1, 3, 3),
    Case(2, 3, 7, 7, 4, 3, 3, padding=1),
    Case(3, 5, 9, 6, 7, 3, 2),                          # non-square input and kernel, odd channels
    Case(2, 4, 8, 8, 6, 2, 2),                          # even kernel
    Case(2, 4, 8, 8, 6, 4, 4, stride=2, padding=1),     # DCGAN-style
    Case(1, 3, 11, 13, 5, 5, 5, padding=2),
    Case(2, 3, 10, 9, 4, 3, 3, stride=(2, 3), padding=(1, 2)),
    Case(2, 2, 9, 9, 3, 3, 3, padding=3),              # padding larger than the kernel's half
    Case(2, 2, 6, 6, 3, 2, 2, padding=2),              # windows that start and end in padding
    Case(1, 3, 12, 12, 4, 3, 3, dilation=2, padding=2),
    Case(2, 3, 13, 11, 2, 3, 2, dilation=(2, 3), padding=(1, 0)),
    Case(2, 4, 7, 7, 4, 3, 3, groups=2, padding=1),
    Case(2, 6, 8, 7, 9, 3, 3, groups=3),
    Case(2, 8, 9, 9, 8, 3, 3, groups=8, padding=1),    # depthwise
    Case(2, 8, 10, 10, 8, 3, 3, groups=8, stride=2, padding=1),
    Case(1, 5, 8, 8, 10, 3, 3, groups=5, padding=1),   # depthwise with channel multiplier 2
    Case(2, 6, 9, 9, 6, 5, 5, groups=6, padding=2, dilation=1),
    Case(1, 4, 11, 11, 4, 3, 3, groups=4, dilation=2, padding=2),
    Case(2, 16, 8, 8, 8, 1, 1),                        # pointwise
    Case(3, 7, 5, 9, 5, 1, 1, stride=2),               # strided pointwise
    Case(2, 8, 6, 6, 4, 1, 1, padding=1),              # padded pointwise
    Case(1, 3, 7, 7, 2, 7, 7),                         # kernel as large as the input
    Case(2, 1, 28, 28, 6, 5, 5),                       # LeNet conv1
    Case(4, 6, 12, 12, 16, 5, 5),                      # LeNet conv2
    Case(2, 3, 16, 16, 17, 3, 3, padding=1),           # output channels past one register tile
    Case(1, 33, 9, 9, 19, 3, 3, padding=1),
    Case(2, 32, 6, 6, 40, 3, 3, padding=1),            # several K blocks of the GEMM
    Case(1, 64, 5, 5, 24, 3, 3, padding=1, bias=False),
    Case(5, 3, 4, 4, 2, 3, 3, padding=1),
    Case(1, 2, 1, 9, 3, 1, 3),                         # height 1, like conv1d
    Case(2, 3, 9, 1, 3, 3, 1, padding=(1, 0)),         # width 1
    Case(2, 4, 10, 10, 4, 3, 3, stride=3),             # stride leaves inputs unread
    Case(1, 4, 15, 15, 8, 3, 3, stride=2, dilation=2, padding=3),
    Case(2, 3, 8, 8, 4, 3, 3, padding="same"),
    Case(2, 3, 8, 9, 4, 4, 2, padding="same"),         # even kernels: asymmetric 'same' padding
    Case(1, 2, 7, 7, 3, 3, 3, padding="same", dilation=2),
    Case(2, 3, 8, 8, 4, 3, 3, padding="valid"),
    Case(1, 6, 14, 14, 12, 3, 3, groups=2, stride=2, padding=1, bias=False),
    Case(1, 8, 30, 30, 8, 3, 3, padding=1),            # many output columns: several column blocks
    Case(1, 12, 20, 20, 12, 3, 3, groups=12, padding=1, bias=False),
    Case(3, 2, 5, 5, 3, 2, 3, stride=(1, 2), padding=(0, 1), dilation=(2, 1)),
    Case(0, 3, 5, 5, 4, 3, 3),                          # empty batch
]
# Small outputs with a batch that fills the rows: one GEMM over the batch (cpu/conv2d_batch_gemm.cpp).
BATCH_GEMM_CASES = [
    Case(16, 8, 4, 4, 128, 3, 3, padding=1),            # ResNet-18 layer4-like, 16 pixels per image
    Case(16, 6, 8, 8, 130, 3, 3, stride=2, padding=1),  # stride 2 (8x8 -> 4x4)
    Case(17, 12, 8, 8, 136, 1, 1, stride=2, bias=False), # strided pointwise (downsample)
    Case(8, 5, 9, 9, 129, 3, 3, dilation=2, padding=1),  # dilation, 49 pixels per image
    Case(19, 7, 7, 5, 131, 3, 2, stride=(2, 1), padding=(2, 0), dilation=(1, 2)),  # 15 pixels: images across row panels
    Case(16, 30, 4, 4, 160, 3, 3, padding=1),           # forward reduction in 2 blocks, 2 column panels
    Case(20, 4, 6, 5, 300, 3, 3, padding=1),            # backward-data reduction (K) in 2 blocks
    Case(260, 3, 3, 3, 128, 3, 3),                      # one pixel per image, many images per task
    Case(9, 3, 10, 10, 133, 4, 4, stride=2, padding=3),  # windows in padding on both sides, even kernel
    Case(1, 8, 4, 4, 128, 3, 3, padding=1),             # batch 1
    Case(5, 24, 4, 4, 12, 4, 4),                        # 1 pixel, few channels (a DCGAN latent layer's adjoint)
    Case(3, 6, 3, 2, 10, 2, 1, padding=(0, 0)),         # 2 pixels per image, few channels
    Case(7, 5, 8, 8, 64, 5, 5),                         # LeNet's second layer shape (64 channels, 4x4 output)
]
CASES += BATCH_GEMM_CASES
DTYPES = [np.float32, np.float64]


def run_ours(case, x, w, b, dy, device, need=(True, True, True)):
    # fl.Tensor wraps without copying, so strided inputs reach the kernels strided (CuPy keeps the strides).
    x, w, b, dy = (to_device(a, device) for a in (x, w, b, dy))
    tx = fl.Tensor(x, requires_grad=need[0])
    tw = fl.Tensor(w, requires_grad=need[1])
    tb = fl.Tensor(b, requires_grad=need[2]) if b is not None else None
    y = F.conv2d(tx, tw, tb, case.stride, case.padding, case.dilation, case.groups)
    y.backward(dy)
    grads = [to_host(t.grad) if t is not None and t.grad is not None else None for t in (tx, tw, tb)]
    return to_host(y), grads


def run_torch(case, x, w, b, dy):
    tx = torch.from_numpy(x).requires_grad_()
    tw = torch.from_numpy(w).requires_grad_()
    tb = torch.from_numpy(b).requires_grad_() if b is not None else None
    y = TF.conv2d(tx, tw, tb, case.stride, case.padding, case.dilation, case.groups)
    y.backward(torch.from_numpy(dy))
    grads = [t.grad.numpy() if t is not None else None for t in (tx, tw, tb)]
    return y.detach().numpy(), grads


def make_data(case, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = grid_data(rng, (case.N, case.C, case.H, case.W), dtype)
    w = grid_data(rng, (case.K, case.C // case.groups, case.R, case.S), dtype)
    b = grid_data(rng, (case.K,), dtype) if case.bias else None
    with torch.no_grad():
        shape = TF.conv2d(torch.from_numpy(x), torch.from_numpy(w), None, case.stride, case.padding,
                          case.dilation, case.groups).shape
    dy = grid_data(rng, tuple(shape), dtype)
    return x, w, b, dy


def check_against_torch(case, dtype, x, w, b, dy, device):
    y, grads = run_ours(case, x, w, b, dy, device)
    # torch rejects negative strides: the oracle gets contiguous copies of the same values.
    ty, tgrads = run_torch(case, *(None if a is None else np.ascontiguousarray(to_host(a)) for a in (x, w, b, dy)))
    n = case.reduction_len()
    where = f"{case} on {device}"
    assert_close(y, ty, "conv2d forward", where, n, dtype)
    for name, g, tg in zip(("grad_input", "grad_weight", "grad_bias"), grads, tgrads):
        if tg is None:
            assert g is None, f"conv2d {name} {where}: expected no gradient"
        else:
            assert_close(g, tg, f"conv2d {name}", where, n * case.H * case.W, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_conv2d_matches_torch_forward_and_gradients(case, dtype, simd_device):
    check_against_torch(case, dtype, *make_data(case, dtype), simd_device)


@pytest.mark.parametrize("case", [CASES[1], CASES[4], CASES[13], CASES[18]], ids=str)
def test_conv2d_non_contiguous_inputs_match_torch(case, device):
    x, w, b, dy = make_data(case, np.float32)
    # Same values, strided memory: a transposed copy viewed back, a reversed copy viewed back, a sliced batch.
    # (Views taken where the arrays live, so that our kernels get strided memory on the GPU too.)
    xs = to_device(np.ascontiguousarray(x.transpose(0, 1, 3, 2)), device).transpose(0, 1, 3, 2)
    ws = to_device(np.ascontiguousarray(w[::-1]), device)[::-1]
    dys = to_device(np.repeat(dy, 2, axis=0), device)[::2]
    assert not xs.flags.c_contiguous and not ws.flags.c_contiguous and not dys.flags.c_contiguous
    check_against_torch(case, np.float32, xs, ws, b, dys, device)


def test_conv2d_accepts_dlpack_arrays_and_out():
    case = CASES[2]
    x, w, b, _ = make_data(case, np.float32)
    expected = _C.conv2d_forward(x, w, b, case.stride, case.padding, case.dilation, case.groups)
    via_dlpack = _C.conv2d_forward(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), case.stride,
                                   case.padding, case.dilation, case.groups)
    np.testing.assert_array_equal(via_dlpack, expected)
    out = np.empty_like(expected)
    returned = _C.conv2d_forward(x, w, b, case.stride, case.padding, case.dilation, case.groups, out=out)
    assert returned is out
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("case", [CASES[3], CASES[11], CASES[14], CASES[20], CASES[32]], ids=str)
def test_conv2d_gradcheck_float64(case):
    rng = np.random.default_rng(1)
    x = fl.tensor(rng.standard_normal((min(case.N, 2), case.C, case.H, case.W)), requires_grad=True)
    w = fl.tensor(rng.standard_normal((case.K, case.C // case.groups, case.R, case.S)), requires_grad=True)
    b = fl.tensor(rng.standard_normal(case.K), requires_grad=True)
    assert fl.autograd.gradcheck(
        lambda x, w, b: F.conv2d(x, w, b, case.stride, case.padding, case.dilation, case.groups), (x, w, b))


def test_small_output_batches_take_the_batch_gemm_path():
    for case in BATCH_GEMM_CASES:
        x = np.zeros((case.N, case.C, case.H, case.W), np.float32)
        w = np.zeros((case.K, case.C // case.groups, case.R, case.S), np.float32)
        impl = _C.conv2d_impl(x, w, case.stride, case.padding, case.dilation, case.groups)
        assert impl.startswith("batch_gemm "), f"conv2d {case}: took {impl}"
    # Batch 1 takes it too (measured: 512 -> 512 at 4x4, fwd+bwd 5.1 ms vs 13.5 ms per image); so do outputs of
    # at most 4 pixels with few channels (a DCGAN latent layer's adjoint). Large outputs and few output
    # channels over more pixels keep the per-image GEMM.
    for shape, pad in [(((1, 8, 4, 4), (128, 8, 3, 3)), 1), (((64, 16, 4, 4), (8, 16, 4, 4)), 0)]:
        impl = _C.conv2d_impl(np.zeros(shape[0], np.float32), np.zeros(shape[1], np.float32), (1, 1), (pad, pad))
        assert impl.startswith("batch_gemm "), f"conv2d input {shape[0]} weight {shape[1]}: took {impl}"
    for shape in [((16, 8, 16, 16), (128, 8, 3, 3)), ((16, 8, 4, 4), (32, 8, 3, 3))]:
        impl = _C.conv2d_impl(np.zeros(shape[0], np.float32), np.zeros(shape[1], np.float32), (1, 1), (1, 1))
        assert impl.startswith("gemm "), f"conv2d input {shape[0]} weight {shape[1]}: took {impl}"


@pytest.mark.parametrize("case", [Case(2, 16, 20, 20, 24, 3, 3, padding=1), Case(1, 32, 17, 17, 32, 3, 3, groups=32,
                                                                                    padding=1),
                                  Case(16, 32, 8, 8, 160, 3, 3, stride=2, padding=1)], ids=str)
def test_conv2d_one_and_two_threads_agree(case, threads):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((case.N, case.C, case.H, case.W)).astype(np.float32)
    w = rng.standard_normal((case.K, case.C // case.groups, case.R, case.S)).astype(np.float32)
    b = rng.standard_normal(case.K).astype(np.float32)
    results = []
    for n in (1, 2):
        fl.set_num_threads(n)
        y = _C.conv2d_forward(x, w, b, case.stride, case.padding, case.dilation, case.groups)
        results.append((y,) + tuple(_C.conv2d_backward(y, x, w, case.stride, case.padding, case.dilation, case.groups)))
    for name, one, two in zip(("output", "grad_input", "grad_weight", "grad_bias"), *results):
        assert_close(two, one, f"conv2d {name} 2 vs 1 threads", case, case.reduction_len(), np.float32)
    # The weight gradient is a reduction: it must not depend on the thread count at all.
    np.testing.assert_array_equal(results[0][2], results[1][2], err_msg=f"conv2d grad_weight {case}")


def _conv_in_child(queue):
    x = np.ones((2, 3, 9, 9), np.float32)
    w = np.ones((4, 3, 3, 3), np.float32)
    queue.put(float(_C.conv2d_forward(x, w).sum()))


def test_conv2d_runs_in_forked_child(threads):
    fl.set_num_threads(2)
    _C.conv2d_forward(np.ones((1, 1, 4, 4), np.float32), np.ones((1, 1, 2, 2), np.float32))  # start the team
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_conv_in_child, args=(queue,))
    child.start()
    child.join(60)
    assert child.exitcode == 0, f"forked child exited with {child.exitcode}"
    assert queue.get(timeout=5) == 2 * 4 * 7 * 7 * 27


def test_simd_environment_variable_forces_portable_path():
    env = dict(os.environ, FASTLAYERS_SIMD="portable")
    out = subprocess.run([sys.executable, "-c", "from fastlayers import _C; print(_C.simd_level())"], env=env,
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "portable"


# ---------------------------------------------------------------------------------------------------------
# conv1d

CASES_1D = [
    dict(N=2, C=3, L=10, K=4, k=3),
    dict(N=1, C=4, L=9, K=6, k=2, stride=2, padding=1),
    dict(N=3, C=6, L=12, K=6, k=3, groups=3, dilation=2, padding=2),
    dict(N=2, C=5, L=8, K=5, k=3, groups=5, padding="same"),
    dict(N=2, C=2, L=7, K=3, k=4, padding="same"),
    dict(N=1, C=3, L=11, K=2, k=5, padding="valid", bias=False),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("cfg", CASES_1D, ids=lambda c: "_".join(f"{k}{v}" for k, v in c.items()))
def test_conv1d_matches_torch_forward_and_gradients(cfg, dtype, device):
    cfg = dict(cfg)
    N, C, L, K, k = (cfg.pop(n) for n in ("N", "C", "L", "K", "k"))
    has_bias = cfg.pop("bias", True)
    groups = cfg.get("groups", 1)
    rng = np.random.default_rng(3)
    x, w = grid_data(rng, (N, C, L), dtype), grid_data(rng, (K, C // groups, k), dtype)
    b = grid_data(rng, (K,), dtype) if has_bias else None
    tx, tw = torch.from_numpy(x).requires_grad_(), torch.from_numpy(w).requires_grad_()
    tb = torch.from_numpy(b).requires_grad_() if has_bias else None
    ty = TF.conv1d(tx, tw, tb, **cfg)
    dy = grid_data(rng, tuple(ty.shape), dtype)
    ty.backward(torch.from_numpy(dy))
    fx, fw = fl.tensor(to_device(x, device), requires_grad=True), fl.tensor(to_device(w, device), requires_grad=True)
    fb = fl.tensor(to_device(b, device), requires_grad=True) if has_bias else None
    y = F.conv1d(fx, fw, fb, **cfg)
    y.backward(to_device(dy, device))
    case = f"conv1d {cfg} N{N} C{C} L{L} K{K} k{k} on {device}"
    assert_close(to_host(y), ty.detach().numpy(), "conv1d forward", case, C * k, dtype)
    assert_close(to_host(fx.grad), tx.grad.numpy(), "conv1d grad_input", case, K * k, dtype)
    assert_close(to_host(fw.grad), tw.grad.numpy(), "conv1d grad_weight", case, N * L, dtype)
    if has_bias:
        assert_close(to_host(fb.grad), tb.grad.numpy(), "conv1d grad_bias", case, N * L, dtype)


def test_conv2d_unbatched_input_matches_torch(device):
    rng = np.random.default_rng(4)
    x, w = grid_data(rng, (3, 6, 5), np.float64), grid_data(rng, (2, 3, 3, 3), np.float64)
    y = F.conv2d(fl.tensor(to_device(x, device)), fl.tensor(to_device(w, device)), padding=1)
    assert_close(to_host(y), TF.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1).numpy(),
                 "conv2d unbatched", f"C3H6W5 on {device}", 27)


# ---------------------------------------------------------------------------------------------------------
# Bad input: a clear exception naming the argument, never a crash or a wrong result.

def _t(*shape, dtype=np.float32, device="cpu"):
    return fl.tensor(to_device(np.ones(shape, dtype), device))


@pytest.mark.parametrize("call, error, words", [
    (lambda _t: F.conv2d(_t(3, 8, 8, 1, 1), _t(4, 3, 3, 3)), ValueError, ["input", "4-D"]),
    (lambda _t: F.conv2d(_t(1, 3, 8, 8), _t(4, 3, 3)), ValueError, ["weight", "(4, 3, 3)"]),
    (lambda _t: F.conv2d(_t(1, 3, 8, 8), _t(4, 2, 3, 3)), ValueError, ["3 channels", "expects 2"]),
    (lambda _t: F.conv2d(_t(1, 4, 8, 8), _t(6, 2, 3, 3), groups=3), ValueError,
     ["4 channels", "groups=3", "expects 6"]),
    (lambda _t: F.conv2d(_t(1, 6, 8, 8), _t(4, 2, 3, 3), groups=3), ValueError, ["groups=3", "out_channels=4"]),
    (lambda _t: F.conv2d(_t(1, 3, 8, 8), _t(4, 3, 3, 3), stride=0), ValueError, ["stride", "(0, 0)"]),
    (lambda _t: F.conv2d(_t(1, 3, 8, 8), _t(4, 3, 3, 3), stride=(1, -2)), ValueError, ["stride", "(1, -2)"]),
    (lambda _t: F.conv2d(_t(1, 3, 8, 8), _t(4, 3, 3, 3), dilation=0), ValueError, ["dilation"]),
    (lambda _t: F.conv2d(_t(1, 3, 8, 8), _t(4, 3, 3, 3), padding=-1), ValueError, ["padding", "(-1, -1)"]),
    (lambda _t: F.conv2d(_t(1, 3, 4, 4), _t(4, 3, 5, 5)), ValueError, ["kernel size (5, 5)", "(4, 4)"]),
    (lambda _t: F.conv2d(_t(1, 3, 4, 4), _t(4, 3, 3, 3), dilation=3), ValueError, ["larger than the padded input"]),
    (lambda _t: F.conv2d(_t(1, 3, 8, 8), _t(4, 3, 3, 3), stride=2, padding="same"), ValueError, ["same", "strided"]),
    (lambda _t: F.conv2d(_t(1, 3, 8, 8), _t(4, 3, 3, 3), padding="full"), ValueError, ["padding", "'full'"]),
    (lambda _t: F.conv2d(_t(1, 3, 8, 8), _t(4, 3, 3, 3), groups=0), ValueError, ["groups", "0"]),
    (lambda _t: F.conv2d(_t(1, 3, 8, 8), _t(4, 3, 3, 3), _t(5)), ValueError, ["bias", "(4,)", "(5,)"]),
    (lambda _t: F.conv2d(_t(1, 3, 8, 8), _t(4, 3, 3, 3, dtype=np.float64)), TypeError, ["weight", "float32",
                                                                                      "float64"]),
    (lambda _t: F.conv2d(_t(1, 3, 8, 8, dtype=np.int64), _t(4, 3, 3, 3)), TypeError, ["input", "int64"]),
    (lambda _t: F.conv2d(_t(1, 3, 8, 8, dtype=np.float16), _t(4, 3, 3, 3)), TypeError, ["input", "float16"]),
    (lambda _t: F.conv2d(np.ones((1, 3, 8, 8), np.float32), _t(4, 3, 3, 3)), TypeError, ["input", "Tensor"]),
    (lambda _t: F.conv2d(_t(1, 3, 8, 8), _t(4, 3, 3, 3), stride=(1, 2, 3)), TypeError, ["stride", "2 ints"]),
    (lambda _t: fl.set_num_threads(0), ValueError, ["n must be >= 1", "0"]),
], ids=lambda v: v.__name__ if isinstance(v, type) else None)
def test_conv2d_bad_input_raises_clear_error(call, error, words, device):
    with pytest.raises(error) as info:
        call(functools.partial(_t, device=device))  # the arrays are made on `device`
    message = str(info.value)
    for word in words:
        assert word in message, f"expected {word!r} in the error message: {message!r}"


def test_backward_through_freed_graph_raises():
    x = fl.tensor(np.ones((1, 2, 5, 5), np.float32), requires_grad=True)
    y = F.conv2d(x, _t(3, 2, 3, 3)).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_non_scalar_backward_without_gradient_raises():
    x = fl.tensor(np.ones((1, 2, 5, 5), np.float32), requires_grad=True)
    with pytest.raises(RuntimeError, match="scalar outputs"):
        F.conv2d(x, _t(3, 2, 3, 3)).backward()


def test_dlpack_input_with_unsupported_dtype_raises_type_error():
    x = torch.ones((1, 2, 5, 5), dtype=torch.int32)
    with pytest.raises(TypeError, match="input must have dtype float32 or float64"):
        _C.conv2d_forward(x, np.ones((3, 2, 3, 3), np.float32))


def test_non_array_input_raises_type_error():
    with pytest.raises(TypeError, match="input must be a numpy array or an array exporting __dlpack__, got list"):
        _C.conv2d_forward([[1.0]], np.ones((3, 2, 3, 3), np.float32))
