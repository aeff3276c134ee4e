"""The CUDA side: build/availability queries, device checks at the door, and (where a GPU is present) every
op with a CUDA kernel against torch on the GPU and against our own CPU path.

Tests that need a GPU are skipped with the reason "no CUDA device" where fastlayers.cuda.is_available() is
False. The device checks run everywhere: a CPU-memory DLPack export relabelled as a CUDA one stands in for
a GPU array; it only ever reaches checks that raise before any kernel runs (or, without a driver, the
CUDA runtime's own error), never a kernel.
"""
import ctypes
from pathlib import Path

import numpy as np
import pytest
import torch

import fastlayers as fl
from fastlayers import _C
from fastlayers.nn import functional as F
from fastlayers.ops.norm import BatchInstanceNorm

from conftest import assert_close, grid_data

HAS_GPU = fl.cuda.is_available()
needs_gpu = pytest.mark.skipif(not HAS_GPU, reason="no CUDA device")
needs_build = pytest.mark.skipif(not fl.cuda.is_built(), reason="built without CUDA (FASTLAYERS_CUDA=OFF)")


# ---------------------------------------------------------------------------------------------------------
# Queries


def test_is_built_and_is_available_answer_without_raising():
    built, available, count = fl.cuda.is_built(), fl.cuda.is_available(), fl.cuda.device_count()
    assert isinstance(built, bool) and isinstance(available, bool) and isinstance(count, int)
    assert built == bool(_C.cuda_is_built())
    assert available == (built and count > 0)
    if not built:
        assert count == 0


def test_is_available_is_stable_when_asked_twice():
    # A failed driver query must not leave a sticky error that changes the next answer.
    assert fl.cuda.is_available() == fl.cuda.is_available()
    assert fl.cuda.device_count() == fl.cuda.device_count()


def test_set_stream_round_trips_and_resets():
    before = fl.cuda.current_stream()
    try:
        fl.cuda.set_stream(12345)
        assert fl.cuda.current_stream() == 12345
        fl.cuda.set_stream(0)  # an explicit legacy default stream is an override too
        assert fl.cuda.current_stream() == 0
        fl.cuda.set_stream(None)  # no override: each call follows its arrays' framework
        assert fl.cuda.current_stream() is None
    finally:
        fl.cuda.set_stream(before)


@pytest.mark.skipif(HAS_GPU, reason="checks the error where no GPU is present")
def test_to_cuda_without_a_device_raises_a_clear_error():
    t = fl.tensor(np.ones((2, 3), np.float32))
    with pytest.raises(RuntimeError, match="no CUDA device|CuPy"):
        t.to("cuda")


@pytest.mark.skipif(HAS_GPU, reason="checks the error where no GPU is present")
def test_module_cuda_without_a_device_raises_and_leaves_the_module_usable():
    m = fl.nn.Conv2d(3, 4, 3)
    with pytest.raises(RuntimeError, match="no CUDA device|CuPy"):
        m.cuda()
    assert m.weight.device == "cpu" and m(fl.zeros(1, 3, 5, 5)).shape == (1, 4, 3, 3)


def test_module_to_cpu_is_in_place_and_keeps_parameters():
    m = fl.nn.BatchNorm2d(3)
    w = m.weight
    assert m.to("cpu") is m and m.cpu() is m and m.weight is w and m.running_mean.device == "cpu"


def test_to_cpu_of_a_cpu_tensor_is_itself_and_casts():
    t = fl.tensor(np.ones((2, 3), np.float32), requires_grad=True)
    assert t.to("cpu") is t and t.cpu() is t
    assert t.to("cpu", fl.float64).dtype == np.float64
    assert t.device == "cpu"


# ---------------------------------------------------------------------------------------------------------
# Device checks with a stand-in CUDA array


class _FakeCudaArray:
    """A numpy array's DLPack export with the device field rewritten to kDLCUDA: what a CuPy array looks
    like to the bindings, without a GPU. Its memory is host memory: it must never reach a kernel."""

    def __init__(self, array):
        self.array = np.ascontiguousarray(array)
        self.shape, self.dtype = self.array.shape, self.array.dtype

    def __dlpack_device__(self):
        return (2, 0)

    def __dlpack__(self, stream=None, max_version=None, **kwargs):
        capsule = self.array.__dlpack__(max_version=(1, 0))
        get = ctypes.pythonapi.PyCapsule_GetPointer
        get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
        managed = get(capsule, b"dltensor_versioned")
        # DLManagedTensorVersioned: version (8 bytes), manager_ctx, deleter, flags (8 each), then DLTensor:
        # data (8), device {device_type int32, device_id int32}.
        ctypes.c_int32.from_address(managed + 40).value = 2
        return capsule


def _fake(shape, dtype=np.float32):
    return _FakeCudaArray(np.zeros(shape, dtype))


@needs_build
def test_conv2d_rejects_a_cpu_weight_with_a_cuda_input():
    x, y = _fake((1, 2, 5, 5)), _fake((1, 3, 3, 3))
    w = np.zeros((3, 2, 3, 3), np.float32)
    with pytest.raises(RuntimeError, match=r"conv2d_forward: weight is on cpu but input is on cuda:0"):
        _C.conv2d_forward(x, w, out=y)


@needs_build
def test_conv2d_rejects_a_cuda_weight_with_a_cpu_input():
    x = np.zeros((1, 2, 5, 5), np.float32)
    with pytest.raises(RuntimeError, match=r"conv2d_forward: weight is on cuda:0 but input is on cpu"):
        _C.conv2d_forward(x, _fake((3, 2, 3, 3)))


@needs_build
def test_cuda_out_with_a_cpu_input_is_refused():
    x, w = np.zeros((1, 2, 5, 5), np.float32), np.zeros((3, 2, 3, 3), np.float32)
    with pytest.raises(ValueError, match="out is a cuda array but the input is on the cpu"):
        _C.conv2d_forward(x, w, out=_fake((1, 3, 3, 3)))


@needs_build
def test_activation_rejects_a_cpu_output_for_a_cuda_input():
    with pytest.raises(ValueError, match="out must be a cuda array like the input"):
        _C.activation_forward(_fake((4,)), "relu", out=np.zeros(4, np.float32))


@needs_build
def test_cuda_input_checks_shape_before_any_launch():
    with pytest.raises(ValueError, match=r"conv2d: input has 2 channels but weight"):
        _C.conv2d_forward(_fake((1, 2, 5, 5)), _fake((3, 4, 3, 3)), out=_fake((1, 3, 3, 3)))


@needs_build
def test_cuda_input_with_an_unsupported_dtype_names_the_argument():
    with pytest.raises(TypeError, match="conv2d: input must have dtype float16, bfloat16, float32 or float64, got int32"):
        _C.conv2d_forward(_FakeCudaArray(np.zeros((1, 2, 5, 5), np.int32)), _fake((3, 2, 3, 3)))


@needs_build
def test_op_without_a_cuda_path_names_itself():
    with pytest.raises(RuntimeError, match="conv2d_impl: got a cuda array, but conv2d_impl has no CUDA kernel"):
        _C.conv2d_impl(_fake((1, 2, 5, 5)), _fake((3, 2, 3, 3)))


@pytest.mark.skipif(not fl.cuda.is_built() or HAS_GPU, reason="needs a CUDA build on a machine without a GPU")
def test_cuda_kernel_without_a_driver_raises_instead_of_crashing():
    # All operands agree, so the call reaches the launcher; the CUDA runtime reports that there is no
    # usable device, which surfaces as a RuntimeError.
    with pytest.raises(RuntimeError, match="fastlayers CUDA"):
        _C.activation_forward(_fake((4,)), "relu", out=_fake((4,)))


@pytest.mark.skipif(fl.cuda.is_built(), reason="checks the build without CUDA")
def test_cuda_array_in_a_cpu_only_build_says_so():
    with pytest.raises(RuntimeError, match="built without CUDA"):
        _C.conv2d_forward(_fake((1, 2, 5, 5)), _fake((3, 2, 3, 3)))


# ---------------------------------------------------------------------------------------------------------
# The dropout mask: one formula for every device


def test_dropout_mask_is_reproducible_by_seed_and_has_the_right_rate():
    like = np.zeros(1, np.float32)
    a = _C.dropout_mask(like, (200, 100), 0.3, 7)
    b = _C.dropout_mask(like, (200, 100), 0.3, 7)
    c = _C.dropout_mask(like, (200, 100), 0.3, 8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert set(np.unique(a)) <= {0.0, np.float32(1 / 0.7)}
    assert abs((a == 0).mean() - 0.3) < 0.02, f"dropout_mask p=0.3: zero rate {(a == 0).mean():.3f}"


def test_dropout_mask_offset_draws_the_continuation_of_the_stream():
    like = np.zeros(1, np.float64)
    whole = _C.dropout_mask(like, (1000,), 0.5, 3)
    tail = _C.dropout_mask(like, (400,), 0.5, 3, offset=600)
    np.testing.assert_array_equal(whole[600:], tail)


def test_dropout_mask_rejects_a_bad_probability():
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got 1.5"):
        _C.dropout_mask(np.zeros(1, np.float32), (10,), 1.5, 0)


# ---------------------------------------------------------------------------------------------------------
# On a GPU: every op with a CUDA kernel against torch on the GPU and against our CPU path

if HAS_GPU:
    import cupy


def _gpu(a):
    return cupy.asarray(a)


def _host(a):
    return cupy.asnumpy(a) if not isinstance(a, np.ndarray) else a


def _close(ours, expected, op, case, n=1, dtype=np.float32):
    """assert_close at float32 tolerance unless told otherwise (most GPU cases run in float32)."""
    assert_close(ours, expected, op, case, n, dtype)


def _torch_cuda(a, grad=False):
    return torch.from_numpy(np.ascontiguousarray(a)).cuda().requires_grad_(grad)


def _check(ours_gpu, ours_cpu, theirs, op, case, n=1, dtype=np.float32):
    _close(_host(ours_gpu), theirs.detach().cpu().numpy(), op + " vs torch cuda", case, n, dtype)
    _close(_host(ours_gpu), ours_cpu, op + " vs our cpu", case, n, dtype)


CONV_CASES = [  # N, C, H, W, K, R, S, stride, pad, dil, groups
    (2, 3, 9, 7, 4, 3, 3, 1, 1, 1, 1),
    (1, 4, 8, 8, 6, 2, 3, 2, 0, 1, 2),
    (2, 5, 7, 7, 5, 3, 3, 1, 2, 2, 5),   # depthwise
    (1, 8, 6, 6, 16, 1, 1, 1, 0, 1, 1),  # 1x1
]


@needs_gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "mb%dic%dih%diw%doc%dkh%dkw%ds%dp%dd%dg%d" % c)
def test_conv2d_cuda_matches_torch_and_cpu(case, dtype):
    N, C, H, W, K, R, S, st, pad, dil, g = case
    rng = np.random.default_rng(0)
    x, w, b = grid_data(rng, (N, C, H, W), dtype), grid_data(rng, (K, C // g, R, S), dtype), grid_data(rng, (K,), dtype)
    args = ((st, st), (pad, pad), (dil, dil), g)
    y_gpu = _C.conv2d_forward(_gpu(x), _gpu(w), _gpu(b), *args)
    y_cpu = _C.conv2d_forward(x, w, b, *args)
    tx, tw, tb = _torch_cuda(x, True), _torch_cuda(w, True), _torch_cuda(b, True)
    ty = torch.nn.functional.conv2d(tx, tw, tb, st, pad, dil, g)
    n = C // g * R * S
    _check(y_gpu, y_cpu, ty, "conv2d", case, n, dtype)
    dy = grid_data(rng, y_cpu.shape, dtype)
    grads_gpu = _C.conv2d_backward(_gpu(dy), _gpu(x), _gpu(w), *args)
    grads_cpu = _C.conv2d_backward(dy, x, w, *args)
    ty.backward(_torch_cuda(dy))
    for name, ours, cpu, theirs in zip(("grad_input", "grad_weight", "grad_bias"), grads_gpu, grads_cpu,
                                       (tx.grad, tw.grad, tb.grad)):
        _check(ours, cpu, theirs, "conv2d " + name, case, N * H * W * K, dtype)


@needs_gpu
def test_conv2d_cuda_weight_gradient_is_deterministic():
    rng = np.random.default_rng(1)
    x, w = _gpu(rng.standard_normal((4, 8, 16, 16), np.float32)), _gpu(rng.standard_normal((8, 8, 3, 3), np.float32))
    dy = _gpu(rng.standard_normal((4, 8, 16, 16), np.float32))
    runs = [_C.conv2d_backward(dy, x, w, (1, 1), (1, 1), (1, 1), 1) for _ in range(3)]
    for r in runs[1:]:
        for a, b in zip(runs[0], r):
            assert cupy.array_equal(a, b), "conv2d backward on cuda differs between identical runs"


@needs_gpu
@pytest.mark.parametrize("case", [(2, 4, 5, 5, 6, 3, 3, 2, 1, 1, 1, 1), (1, 4, 4, 6, 4, 4, 3, 2, 1, 1, 1, 2),
                                  (1, 2, 3, 3, 2, 3, 3, 1, 1, 1, 2, 1)],
                         ids=lambda c: "mb%dic%dih%diw%doc%dkh%dkw%ds%dp%dop%dd%dg%d" % c)
def test_conv_transpose2d_cuda_matches_torch_and_cpu(case):
    N, C, H, W, K, R, S, st, pad, op_, dil, g = case
    rng = np.random.default_rng(2)
    x, w, b = grid_data(rng, (N, C, H, W), np.float32), grid_data(rng, (C, K // g, R, S), np.float32), \
        grid_data(rng, (K,), np.float32)
    args = ((st, st), (pad, pad), (op_, op_), g, (dil, dil))
    y_gpu = _C.conv_transpose2d_forward(_gpu(x), _gpu(w), _gpu(b), *args)
    y_cpu = _C.conv_transpose2d_forward(x, w, b, *args)
    tx, tw, tb = _torch_cuda(x, True), _torch_cuda(w, True), _torch_cuda(b, True)
    ty = torch.nn.functional.conv_transpose2d(tx, tw, tb, st, pad, op_, g, dil)
    _check(y_gpu, y_cpu, ty, "conv_transpose2d", case, C * R * S)
    dy = grid_data(rng, y_cpu.shape, np.float32)
    grads_gpu = _C.conv_transpose2d_backward(_gpu(dy), _gpu(x), _gpu(w), *args)
    grads_cpu = _C.conv_transpose2d_backward(dy, x, w, *args)
    ty.backward(_torch_cuda(dy))
    for name, ours, cpu, theirs in zip(("grad_input", "grad_weight", "grad_bias"), grads_gpu, grads_cpu,
                                       (tx.grad, tw.grad, tb.grad)):
        _check(ours, cpu, theirs, "conv_transpose2d " + name, case, N * y_cpu.shape[2] * y_cpu.shape[3] * K)


ACTIVATIONS = ["relu", "leaky_relu", "elu", "gelu", "gelu_tanh", "silu", "mish", "softplus", "sigmoid", "tanh",
               "hardtanh", "hardsigmoid", "hardswish"]


@needs_gpu
@pytest.mark.parametrize("kind", ACTIVATIONS)
def test_activation_cuda_matches_cpu(kind):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(1000) * 4).astype(np.float64)
    y_gpu, y_cpu = _C.activation_forward(_gpu(x), kind), _C.activation_forward(x, kind)
    _close(_host(y_gpu), y_cpu, kind, "n1000", 4, np.float64)
    dy = rng.standard_normal(1000)
    dx_gpu = _C.activation_backward(_gpu(dy), _gpu(x), False, kind)
    dx_cpu = _C.activation_backward(dy, x, False, kind)
    _close(_host(dx_gpu), dx_cpu, kind + " backward", "n1000", 4, np.float64)


@needs_gpu
@pytest.mark.parametrize("shape,dim", [((7, 300), 1), ((3, 5, 4), 1), ((2, 1), 0)])
@pytest.mark.parametrize("log", [False, True])
def test_softmax_cuda_matches_torch_and_cpu(shape, dim, log):
    rng = np.random.default_rng(4)
    x, dy = rng.standard_normal(shape).astype(np.float32), rng.standard_normal(shape).astype(np.float32)
    case = f"{shape} dim={dim}"
    y_gpu, y_cpu = _C.softmax_forward(_gpu(x), dim, log), _C.softmax_forward(x, dim, log)
    tx = _torch_cuda(x, True)
    ty = (torch.log_softmax if log else torch.softmax)(tx, dim)
    _check(y_gpu, y_cpu, ty, "log_softmax" if log else "softmax", case, shape[dim])
    ty.backward(_torch_cuda(dy))
    dx_gpu = _C.softmax_backward(_gpu(dy), y_gpu, dim, log)
    _check(dx_gpu, _C.softmax_backward(dy, y_cpu, dim, log), tx.grad, "softmax backward", case, shape[dim])


@needs_gpu
@pytest.mark.parametrize("ceil_mode", [False, True])
def test_max_and_avg_pool_cuda_match_torch_and_cpu(ceil_mode):
    rng = np.random.default_rng(5)
    x = grid_data(rng, (2, 3, 9, 8), np.float32)
    k, s, p, d = (3, 2), (2, 2), (1, 1), (1, 1)
    y_gpu, i_gpu = _C.max_pool2d_forward(_gpu(x), k, s, p, d, ceil_mode, "")
    y_cpu, i_cpu = _C.max_pool2d_forward(x, k, s, p, d, ceil_mode, "")
    tx = _torch_cuda(x, True)
    ty, ti = torch.nn.functional.max_pool2d(tx, k, s, p, d, ceil_mode, return_indices=True)
    _check(y_gpu, y_cpu, ty, "max_pool2d", f"ceil={ceil_mode}")
    np.testing.assert_array_equal(_host(i_gpu), ti.cpu().numpy())
    dy = grid_data(rng, y_cpu.shape, np.float32)
    ty.backward(_torch_cuda(dy))
    dx_gpu = _C.max_pool2d_backward(_gpu(dy), i_gpu, (9, 8))
    _check(dx_gpu, _C.max_pool2d_backward(dy, i_cpu, (9, 8)), tx.grad, "max_pool2d backward", f"ceil={ceil_mode}", 9)
    a_gpu = _C.avg_pool2d_forward(_gpu(x), k, s, p, ceil_mode, True, 0, "")
    ta = torch.nn.functional.avg_pool2d(_torch_cuda(x), k, s, p, ceil_mode, True)
    _check(a_gpu, _C.avg_pool2d_forward(x, k, s, p, ceil_mode, True, 0, ""), ta, "avg_pool2d", f"ceil={ceil_mode}", 9)
    da_gpu = _C.avg_pool2d_backward(_gpu(dy), (9, 8), k, s, p, ceil_mode, True, 0, "")
    da_cpu = _C.avg_pool2d_backward(dy, (9, 8), k, s, p, ceil_mode, True, 0, "")
    _close(_host(da_gpu), da_cpu, "avg_pool2d backward", f"ceil={ceil_mode}", 9)


@needs_gpu
def test_adaptive_pool_and_unpool_cuda_match_cpu():
    rng = np.random.default_rng(6)
    x = grid_data(rng, (2, 3, 10, 7), np.float32)
    for fn in ("adaptive_avg_pool2d_forward",):
        ours, cpu = getattr(_C, fn)(_gpu(x), (4, 3), ""), getattr(_C, fn)(x, (4, 3), "")
        _close(_host(ours), cpu, fn, "10x7->4x3", 9)
    dy = grid_data(rng, (2, 3, 4, 3), np.float32)
    _close(_host(_C.adaptive_avg_pool2d_backward(_gpu(dy), (10, 7), "")),
                 _C.adaptive_avg_pool2d_backward(dy, (10, 7), ""), "adaptive_avg_pool2d backward", "4x3->10x7", 9)
    y_gpu, i_gpu = _C.adaptive_max_pool2d_forward(_gpu(x), (4, 3), "")
    y_cpu, i_cpu = _C.adaptive_max_pool2d_forward(x, (4, 3), "")
    _close(_host(y_gpu), y_cpu, "adaptive_max_pool2d", "10x7->4x3")
    np.testing.assert_array_equal(_host(i_gpu), i_cpu)
    u_gpu = _C.max_unpool2d_forward(y_gpu, i_gpu, (10, 7))
    _close(_host(u_gpu), _C.max_unpool2d_forward(y_cpu, i_cpu, (10, 7)), "max_unpool2d", "4x3->10x7")
    with pytest.raises(RuntimeError, match="Found an invalid max index"):
        _C.max_unpool2d_forward(y_gpu, i_gpu, (2, 2))


@needs_gpu
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_cuda_matches_torch_and_cpu(training):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 3, 5, 5)).astype(np.float32)
    w, b = rng.standard_normal(3).astype(np.float32), rng.standard_normal(3).astype(np.float32)
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    rm_gpu, rv_gpu = _gpu(rm), _gpu(rv)
    y_gpu, m_gpu, r_gpu = _C.batch_norm_forward(_gpu(x), _gpu(w), _gpu(b), rm_gpu, rv_gpu, training, 0.1, 1e-5)
    y_cpu, m_cpu, r_cpu = _C.batch_norm_forward(x, w, b, rm, rv, training, 0.1, 1e-5)
    trm, trv = _torch_cuda(np.zeros(3, np.float32)), _torch_cuda(np.ones(3, np.float32))
    ty = torch.nn.functional.batch_norm(_torch_cuda(x), trm, trv, _torch_cuda(w), _torch_cuda(b), training, 0.1, 1e-5)
    _check(y_gpu, y_cpu, ty, "batch_norm", f"training={training}", 100)
    _close(_host(rm_gpu), trm.cpu().numpy(), "batch_norm running_mean", f"training={training}", 100)
    _close(_host(rv_gpu), trv.cpu().numpy(), "batch_norm running_var", f"training={training}", 100)


@needs_gpu
@pytest.mark.parametrize("groups", [1, 3, 6])
def test_group_norm_cuda_matches_torch_and_cpu(groups):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 6, 4, 5)).astype(np.float32)
    w, b = rng.standard_normal(6).astype(np.float32), rng.standard_normal(6).astype(np.float32)
    y_gpu = _C.group_norm_forward(_gpu(x), groups, _gpu(w), _gpu(b), 1e-5)[0]
    y_cpu = _C.group_norm_forward(x, groups, w, b, 1e-5)[0]
    ty = torch.nn.functional.group_norm(_torch_cuda(x), groups, _torch_cuda(w), _torch_cuda(b), 1e-5)
    _check(y_gpu, y_cpu, ty, "group_norm", f"G={groups}", 120)


@needs_gpu
@pytest.mark.parametrize("mode,align", [("nearest", False), ("bilinear", False), ("bilinear", True)])
def test_upsample_cuda_matches_torch_and_cpu(mode, align):
    rng = np.random.default_rng(9)
    x = grid_data(rng, (2, 3, 5, 4), np.float32)
    args = ((9, 11), (0.0, 0.0), mode, align, True, "")
    y_gpu, y_cpu = _C.upsample2d_forward(_gpu(x), *args), _C.upsample2d_forward(x, *args)
    tx = _torch_cuda(x, True)
    ty = torch.nn.functional.interpolate(tx, size=(9, 11), mode=mode, align_corners=align if mode != "nearest" else None)
    _check(y_gpu, y_cpu, ty, "interpolate " + mode, f"align={align}", 4)
    dy = grid_data(rng, y_cpu.shape, np.float32)
    ty.backward(_torch_cuda(dy))
    bargs = ((5, 4), (0.0, 0.0), mode, align, True, "")
    dx_gpu, dx_cpu = _C.upsample2d_backward(_gpu(dy), *bargs), _C.upsample2d_backward(dy, *bargs)
    _check(dx_gpu, dx_cpu, tx.grad, "interpolate backward " + mode, f"align={align}", 12)


@needs_gpu
def test_dropout_mask_is_the_same_on_gpu_and_cpu():
    a_gpu = _C.dropout_mask(_gpu(np.zeros(1, np.float32)), (300, 7), 0.4, 11)
    a_cpu = _C.dropout_mask(np.zeros(1, np.float32), (300, 7), 0.4, 11)
    np.testing.assert_array_equal(_host(a_gpu), a_cpu)


@needs_gpu
def test_tensor_to_cuda_conv_and_backward_match_cpu():
    rng = np.random.default_rng(10)
    x_np, w_np = grid_data(rng, (2, 3, 8, 8), np.float32), grid_data(rng, (4, 3, 3, 3), np.float32)
    x_cpu, w_cpu = fl.tensor(x_np, requires_grad=True), fl.tensor(w_np, requires_grad=True)
    x_gpu = fl.tensor(x_np, requires_grad=True)
    w_gpu = fl.tensor(w_np).to("cuda").detach().requires_grad_()
    assert w_gpu.device == "cuda:0"
    y_gpu = F.conv2d(x_gpu.to("cuda"), w_gpu, padding=1)
    y_cpu = F.conv2d(x_cpu, w_cpu, padding=1)
    assert y_gpu.device == "cuda:0"
    _close(_host(y_gpu.data), y_cpu.data, "F.conv2d on cuda", "mb2ic3ih8oc4kh3", 27)
    y_gpu.sum().backward()
    y_cpu.sum().backward()
    assert x_gpu.grad.device == "cpu", "the gradient of .to('cuda') must come back to the cpu leaf"
    _close(x_gpu.grad.data, x_cpu.grad.data, "F.conv2d grad_input through .to", "mb2ic3ih8", 36)
    _close(_host(w_gpu.grad.data), w_cpu.grad.data, "F.conv2d grad_weight on cuda", "mb2ic3ih8", 128)


@needs_gpu
def test_functional_op_mixing_devices_raises():
    x = fl.tensor(np.ones((1, 2, 5, 5), np.float32)).to("cuda")
    w = fl.tensor(np.ones((3, 2, 3, 3), np.float32))
    with pytest.raises(RuntimeError, match="weight is on cpu but input is on cuda:0"):
        F.conv2d(x, w)


@needs_gpu
def test_module_cuda_forward_backward_and_state_match_cpu():
    rng = np.random.default_rng(11)
    x_np = grid_data(rng, (2, 3, 6, 6), np.float32)
    cpu = fl.nn.Sequential(fl.nn.Conv2d(3, 4, 3, padding=1), fl.nn.BatchNorm2d(4), fl.nn.ReLU())
    gpu = fl.nn.Sequential(fl.nn.Conv2d(3, 4, 3, padding=1), fl.nn.BatchNorm2d(4), fl.nn.ReLU())
    gpu.load_state_dict(cpu.state_dict())
    weight = gpu[0].weight
    assert gpu.cuda() is gpu and gpu[0].weight is weight and weight.device == "cuda:0"
    y_cpu = cpu(fl.tensor(x_np))
    y_gpu = gpu(fl.tensor(x_np).to("cuda"))
    _close(_host(y_gpu.data), y_cpu.data, "Sequential(conv, bn, relu) on cuda", "mb2ic3ih6", 27)
    y_cpu.sum().backward()
    y_gpu.sum().backward()
    _close(_host(gpu[0].weight.grad.data), cpu[0].weight.grad.data, "conv weight grad on cuda", "mb2ic3ih6", 72)
    _close(_host(gpu[1].running_var.data), cpu[1].running_var.data, "bn running_var on cuda", "mb2ic3ih6", 72)


# ---------------------------------------------------------------------------------------------------------
# Linear and cross-entropy


@needs_build
def test_linear_rejects_a_cpu_weight_with_a_cuda_input():
    with pytest.raises(RuntimeError, match=r"linear_forward: weight is on cpu but input is on cuda:0"):
        _C.linear_forward(_fake((3, 4)), np.zeros((5, 4), np.float32), out=_fake((3, 5)))


@needs_build
def test_cross_entropy_with_a_cuda_input_wants_a_cuda_target():
    with pytest.raises(TypeError, match=r"cross_entropy: target must be an int64 cuda array like the input"):
        _C.cross_entropy_forward(_fake((3, 4)), np.zeros(3, np.int64))


@needs_build
def test_cross_entropy_with_a_cuda_input_checks_the_target_shape():
    with pytest.raises(ValueError, match=r"cross_entropy: target must have shape \(3,\)"):
        _C.cross_entropy_forward(_fake((3, 4)), _FakeCudaArray(np.zeros(4, np.int64)))


@needs_build
def test_nll_loss_with_a_cuda_input_wants_a_cuda_target():
    with pytest.raises(TypeError, match=r"nll_loss: target must be an int64 cuda array like the input"):
        _C.nll_loss_forward(_fake((3, 4)), np.zeros(3, np.int64))


LINEAR_CASES = [(1, 7, 3), (5, 16, 9), (130, 33, 70), (0, 4, 3)]  # M (rows), K (in), N (out)


@needs_gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("case", LINEAR_CASES, ids=lambda c: "m%dk%dn%d" % c)
def test_linear_cuda_matches_torch_and_cpu(case, bias, dtype):
    M, K, N = case
    rng = np.random.default_rng(12)
    x, w, b = grid_data(rng, (M, K), dtype), grid_data(rng, (N, K), dtype), grid_data(rng, (N,), dtype)
    y_gpu = _C.linear_forward(_gpu(x), _gpu(w), _gpu(b) if bias else None)
    y_cpu = _C.linear_forward(x, w, b if bias else None)
    tx, tw, tb = _torch_cuda(x, True), _torch_cuda(w, True), _torch_cuda(b, True)
    ty = torch.nn.functional.linear(tx, tw, tb if bias else None)
    desc = "m%dk%dn%d bias=%s" % (M, K, N, bias)
    _check(y_gpu, y_cpu, ty, "linear", desc, K, dtype)
    dy = grid_data(rng, (M, N), dtype)
    grads_gpu = _C.linear_backward(_gpu(dy), _gpu(x), _gpu(w), (True, True, bias))
    grads_cpu = _C.linear_backward(dy, x, w, (True, True, bias))
    ty.backward(_torch_cuda(dy))
    theirs = (tx.grad if M else torch.zeros_like(tx), tw.grad, tb.grad if bias else None)
    for name, ours, cpu, t in zip(("grad_input", "grad_weight", "grad_bias"), grads_gpu, grads_cpu, theirs):
        if t is None:
            assert ours is None and cpu is None, f"linear {name} not asked for but returned ({desc})"
            continue
        _check(ours, cpu, t, "linear " + name, desc, max(M, N, 1), dtype)


@needs_gpu
def test_nn_linear_on_cuda_trains_like_cpu():
    rng = np.random.default_rng(13)
    x_np = grid_data(rng, (6, 2, 5), np.float32)
    cpu, gpu = fl.nn.Linear(5, 3), fl.nn.Linear(5, 3)
    gpu.load_state_dict(cpu.state_dict())
    gpu.cuda()
    y_cpu, y_gpu = cpu(fl.tensor(x_np)), gpu(fl.tensor(x_np).to("cuda"))
    assert y_gpu.device == "cuda:0" and y_gpu.shape == (6, 2, 3)
    _close(_host(y_gpu.data), y_cpu.data, "nn.Linear on cuda", "in5out3 x(6,2,5)", 5)
    y_cpu.sum().backward()
    y_gpu.sum().backward()
    _close(_host(gpu.weight.grad.data), cpu.weight.grad.data, "nn.Linear weight grad on cuda", "in5out3", 12)
    _close(_host(gpu.bias.grad.data), cpu.bias.grad.data, "nn.Linear bias grad on cuda", "in5out3", 12)


@needs_gpu
def test_linear_cuda_weight_gradient_is_deterministic():
    rng = np.random.default_rng(14)
    # 9000 rows: the bias gradient's reduction spans several chunks of the two-level reduction
    x_np, w_np = rng.standard_normal((9000, 64), np.float32), rng.standard_normal((32, 64), np.float32)
    dy_np = rng.standard_normal((9000, 32), np.float32)
    x, w, dy = _gpu(x_np), _gpu(w_np), _gpu(dy_np)
    runs = [_C.linear_backward(dy, x, w) for _ in range(3)]
    for r in runs[1:]:
        for a, b in zip(runs[0], r):
            assert cupy.array_equal(a, b), "linear backward on cuda differs between identical runs"
    grads_cpu = _C.linear_backward(dy_np, x_np, w_np)
    for name, ours, cpu in zip(("grad_input", "grad_weight", "grad_bias"), runs[0], grads_cpu):
        _close(_host(ours), cpu, "linear " + name, "m9000k64n32", 9000)


CE_CASES = [  # shape, target kind, weighted, ignore_index, label_smoothing, reduction
    ((6, 5), "index", False, -100, 0.0, "mean"),
    ((6, 5), "index", True, 2, 0.1, "mean"),
    ((4, 7, 3), "index", True, -100, 0.0, "sum"),
    ((4, 7, 3), "index", False, 1, 0.2, "none"),
    ((5, 4), "prob", False, -100, 0.0, "mean"),
    ((3, 4, 2, 2), "prob", True, -100, 0.3, "none"),
]


@needs_gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CE_CASES, ids=lambda c: "%s_%s_w%d_ii%d_ls%g_%s" % (
    "x".join(map(str, c[0])), *c[1:]))
def test_cross_entropy_cuda_matches_torch_and_cpu(case, dtype):
    shape, kind, weighted, ii, ls, red = case
    rng = np.random.default_rng(15)
    x = rng.standard_normal(shape).astype(dtype)
    C = shape[1]
    rows = (shape[0],) + shape[2:]
    if kind == "index":
        t = rng.integers(0, C, rows).astype(np.int64)
        t.flat[0] = ii if ii >= 0 else t.flat[0]
    else:
        t = rng.random(shape).astype(dtype)
    w = rng.random(C).astype(dtype) + 0.5 if weighted else None
    args = (ii, ls, red)
    loss_gpu, lse_gpu, tw_gpu = _C.cross_entropy_forward(_gpu(x), _gpu(t), None if w is None else _gpu(w), *args)
    loss_cpu, lse_cpu, tw_cpu = _C.cross_entropy_forward(x, t, w, *args)
    tx = _torch_cuda(x, True)
    tl = torch.nn.functional.cross_entropy(tx, _torch_cuda(t), None if w is None else _torch_cuda(w),
                                           ignore_index=ii, reduction=red, label_smoothing=ls)
    desc = str(case)
    _check(loss_gpu, loss_cpu, tl, "cross_entropy", desc, C * int(np.prod(rows)), dtype)
    assert abs(tw_gpu - tw_cpu) <= 1e-5 * max(1.0, abs(tw_cpu)), f"cross_entropy total_weight {tw_gpu} vs {tw_cpu}"
    g = rng.standard_normal(loss_cpu.shape).astype(dtype)
    tl.backward(_torch_cuda(g))
    dx_gpu = _C.cross_entropy_backward(_gpu(g), _gpu(x), _gpu(t), None if w is None else _gpu(w), lse_gpu, tw_gpu,
                                       *args)
    dx_cpu = _C.cross_entropy_backward(g, x, t, w, lse_cpu, tw_cpu, *args)
    _check(dx_gpu, dx_cpu, tx.grad, "cross_entropy backward", desc, C, dtype)


@needs_gpu
def test_cross_entropy_cuda_reports_a_bad_target_like_torch():
    x, t = _gpu(np.zeros((3, 4), np.float32)), _gpu(np.array([0, 7, 1], np.int64))
    with pytest.raises(IndexError, match="Target 7 is out of bounds."):
        _C.cross_entropy_forward(x, t)


@needs_gpu
def test_functional_cross_entropy_on_cuda_backward_matches_cpu():
    rng = np.random.default_rng(16)
    x_np, t_np = rng.standard_normal((8, 5)).astype(np.float32), rng.integers(0, 5, 8)
    x_cpu = fl.tensor(x_np, requires_grad=True)
    x_gpu = fl.tensor(x_np).to("cuda").detach().requires_grad_()
    l_cpu = F.cross_entropy(x_cpu, fl.tensor(t_np), label_smoothing=0.1)
    l_gpu = F.cross_entropy(x_gpu, fl.tensor(t_np).to("cuda"), label_smoothing=0.1)
    _close(_host(l_gpu.data), l_cpu.data, "F.cross_entropy on cuda", "mb8c5 ls0.1", 40)
    l_cpu.backward()
    l_gpu.backward()
    _close(_host(x_gpu.grad.data), x_cpu.grad.data, "F.cross_entropy grad on cuda", "mb8c5 ls0.1", 5)


# ---------------------------------------------------------------------------------------------------------
# Norms: shapes whose reductions span several chunks of the two-level reduction (4096 values per chunk)


@needs_gpu
@pytest.mark.parametrize("shape", [(8, 3, 32, 33), (2, 5, 3, 3)], ids=lambda s: "x".join(map(str, s)))
def test_batch_norm_cuda_backward_matches_torch_and_is_deterministic(shape):
    rng = np.random.default_rng(17)
    C = shape[1]
    x, dy = rng.standard_normal(shape).astype(np.float32), rng.standard_normal(shape).astype(np.float32)
    w, b = rng.standard_normal(C).astype(np.float32), rng.standard_normal(C).astype(np.float32)
    _, m_gpu, r_gpu = _C.batch_norm_forward(_gpu(x), _gpu(w), _gpu(b), None, None, True, 0.1, 1e-5)
    _, m_cpu, r_cpu = _C.batch_norm_forward(x, w, b, None, None, True, 0.1, 1e-5)
    runs = [_C.batch_norm_backward(_gpu(dy), _gpu(x), m_gpu, r_gpu, _gpu(w), True) for _ in range(2)]
    grads_cpu = _C.batch_norm_backward(dy, x, m_cpu, r_cpu, w, True)
    tx, tw, tb = _torch_cuda(x, True), _torch_cuda(w, True), _torch_cuda(b, True)
    torch.nn.functional.batch_norm(tx, None, None, tw, tb, True, 0.1, 1e-5).backward(_torch_cuda(dy))
    M = x.size // C
    for name, ours, cpu, theirs in zip(("grad_input", "grad_weight", "grad_bias"), runs[0], grads_cpu,
                                       (tx.grad, tw.grad, tb.grad)):
        _check(ours, cpu, theirs, "batch_norm " + name, str(shape), M)
    for a, c in zip(runs[0], runs[1]):
        assert cupy.array_equal(a, c), f"batch_norm backward on cuda differs between identical runs {shape}"


@needs_gpu
@pytest.mark.parametrize("groups", [1, 4])
def test_group_norm_cuda_backward_matches_torch(groups):
    rng = np.random.default_rng(18)
    shape = (3, 8, 40, 30)  # a (sample, group) segment of up to 9600 values: several chunks
    x, dy = rng.standard_normal(shape).astype(np.float32), rng.standard_normal(shape).astype(np.float32)
    w, b = rng.standard_normal(8).astype(np.float32), rng.standard_normal(8).astype(np.float32)
    y_gpu, m_gpu, r_gpu = _C.group_norm_forward(_gpu(x), groups, _gpu(w), _gpu(b), 1e-5)
    y_cpu, m_cpu, r_cpu = _C.group_norm_forward(x, groups, w, b, 1e-5)
    tx, tw, tb = _torch_cuda(x, True), _torch_cuda(w, True), _torch_cuda(b, True)
    ty = torch.nn.functional.group_norm(tx, groups, tw, tb, 1e-5)
    _check(y_gpu, y_cpu, ty, "group_norm", f"G={groups} {shape}", x.size // (3 * groups))
    ty.backward(_torch_cuda(dy))
    grads_gpu = _C.group_norm_backward(_gpu(dy), _gpu(x), m_gpu, r_gpu, _gpu(w), groups)
    grads_cpu = _C.group_norm_backward(dy, x, m_cpu, r_cpu, w, groups)
    for name, ours, cpu, theirs in zip(("grad_input", "grad_weight", "grad_bias"), grads_gpu, grads_cpu,
                                       (tx.grad, tw.grad, tb.grad)):
        _check(ours, cpu, theirs, "group_norm " + name, f"G={groups} {shape}", x.size // 8)


# ---------------------------------------------------------------------------------------------------------
# Half types (float16, bfloat16): CUDA only


@pytest.mark.parametrize("call", [
    ("conv2d", lambda x: _C.conv2d_forward(x, np.zeros((3, 2, 3, 3), np.float32))),
    ("linear", lambda x: _C.linear_forward(x, np.zeros((3, 5), np.float32))),
    ("activation", lambda x: _C.activation_forward(x, "relu")),
    ("batch_norm", lambda x: _C.batch_norm_forward(x, None, None, None, None, True)),
], ids=lambda c: c[0])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_input_on_the_cpu_is_refused_naming_op_argument_and_dtype(call, dtype):
    name, fn = call
    shape = (1, 2, 5, 5) if name == "conv2d" else (4, 5)
    # numpy has no bfloat16: a torch CPU tensor reaches the bindings through DLPack.
    x = np.zeros(shape, np.float16) if dtype == "float16" else torch.zeros(shape, dtype=torch.bfloat16)
    with pytest.raises(TypeError, match=rf"{name}: input has dtype {dtype}, which is supported on cuda only"):
        fn(x)


HALF_DTYPES = ["float16", "bfloat16"]


def _half_close(ours, theirs, op, case, tol=2e-2):
    """ours: a torch CUDA tensor from our kernels; theirs: torch's result in the same half dtype. Both are
    rounded to 8 (bfloat16) or 11 (float16) bits; float accumulation on both sides keeps them within tol."""
    a, b = ours.float().cpu().numpy(), theirs.detach().float().cpu().numpy()
    err = np.abs(a - b) / (1.0 + np.abs(b))
    assert err.max() <= tol, f"{op} {case}: largest scaled error {err.max():.3g} > {tol}"


def _th(a, dtype):
    return torch.from_numpy(np.ascontiguousarray(a)).cuda().to(getattr(torch, dtype))


@needs_gpu
@pytest.mark.parametrize("dtype", HALF_DTYPES)
def test_half_activation_and_softmax_cuda_match_torch(dtype):
    rng = np.random.default_rng(19)
    x = _th(rng.standard_normal((6, 300)).astype(np.float32) * 3, dtype)
    _half_close(_C.activation_forward(x, "gelu"), torch.nn.functional.gelu(x), "gelu", dtype)
    _half_close(_C.activation_forward(x, "silu"), torch.nn.functional.silu(x), "silu", dtype)
    _half_close(_C.softmax_forward(x, 1, False), torch.softmax(x, 1), "softmax", dtype)
    _half_close(_C.softmax_forward(x, 1, True), torch.log_softmax(x, 1), "log_softmax", dtype, 5e-2)


@needs_gpu
@pytest.mark.parametrize("dtype", HALF_DTYPES)
@pytest.mark.parametrize("case", [(1, 7, 3), (70, 130, 33)], ids=lambda c: "m%dk%dn%d" % c)
def test_half_linear_cuda_matches_torch(case, dtype):
    M, K, N = case
    rng = np.random.default_rng(20)
    x, w, b = (_th(grid_data(rng, s, np.float32), dtype) for s in ((M, K), (N, K), (N,)))
    _half_close(_C.linear_forward(x, w, b), torch.nn.functional.linear(x, w, b), "linear", f"{case} {dtype}")
    dy = _th(grid_data(rng, (M, N), np.float32), dtype)
    dx, dw, db = _C.linear_backward(dy, x, w)
    _half_close(dx, dy @ w, "linear grad_input", f"{case} {dtype}")
    _half_close(dw, dy.t() @ x, "linear grad_weight", f"{case} {dtype}")
    _half_close(db, dy.float().sum(0).to(dy.dtype), "linear grad_bias", f"{case} {dtype}")


@needs_gpu
@pytest.mark.parametrize("dtype", HALF_DTYPES)
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "mb%dic%dih%diw%doc%dkh%dkw%ds%dp%dd%dg%d" % c)
def test_half_conv2d_cuda_matches_torch(case, dtype):
    N, C, H, W, K, R, S, st, pad, dil, g = case
    rng = np.random.default_rng(21)
    x, w, b = (_th(grid_data(rng, s, np.float32), dtype) for s in ((N, C, H, W), (K, C // g, R, S), (K,)))
    args = ((st, st), (pad, pad), (dil, dil), g)
    ty = torch.nn.functional.conv2d(x, w, b, st, pad, dil, g)
    _half_close(_C.conv2d_forward(x, w, b, *args), ty, "conv2d", f"{case} {dtype}")
    dy = _th(grid_data(rng, tuple(ty.shape), np.float32), dtype)
    tx, tw = x.clone().requires_grad_(), w.clone().requires_grad_()
    torch.nn.functional.conv2d(tx, tw, None, st, pad, dil, g).backward(dy)
    dx, dw, _ = _C.conv2d_backward(dy, x, w, *args)
    _half_close(dx, tx.grad, "conv2d grad_input", f"{case} {dtype}")
    _half_close(dw, tw.grad, "conv2d grad_weight", f"{case} {dtype}", 5e-2)


@needs_gpu
@pytest.mark.parametrize("dtype", HALF_DTYPES)
def test_half_norms_and_pooling_cuda_match_torch(dtype):
    rng = np.random.default_rng(22)
    x = _th(rng.standard_normal((4, 6, 9, 8)).astype(np.float32), dtype)
    w, b = _th(rng.standard_normal(6).astype(np.float32), dtype), _th(rng.standard_normal(6).astype(np.float32), dtype)
    y = _C.batch_norm_forward(x, w, b, None, None, True, 0.1, 1e-5)[0]
    _half_close(y, torch.nn.functional.batch_norm(x, None, None, w, b, True, 0.1, 1e-5), "batch_norm", dtype, 5e-2)
    y = _C.group_norm_forward(x, 3, w, b, 1e-5)[0]
    _half_close(y, torch.nn.functional.group_norm(x, 3, w, b, 1e-5), "group_norm", dtype, 5e-2)
    y, ind = _C.max_pool2d_forward(x, (3, 3), (2, 2), (1, 1), (1, 1), False, "")
    ty, tind = torch.nn.functional.max_pool2d(x, 3, 2, 1, 1, False, return_indices=True)
    _half_close(y, ty, "max_pool2d", dtype, 0)
    assert torch.equal(ind, tind), f"max_pool2d indices differ from torch's ({dtype})"
    y = _C.avg_pool2d_forward(x, (3, 3), (2, 2), (1, 1), False, True, 0, "")
    _half_close(y, torch.nn.functional.avg_pool2d(x, 3, 2, 1), "avg_pool2d", dtype)


# ---------------------------------------------------------------------------------------------------------
# bench/compare.py --device cuda


_BENCH = __import__("pathlib").Path(__file__).resolve().parent.parent / "bench"


@pytest.mark.skipif(HAS_GPU, reason="checks the message where no GPU is present")
def test_compare_device_cuda_without_a_gpu_exits_with_a_clear_message():
    import os
    import subprocess
    import sys
    # the fastlayers this test imported (installed, or the source tree on PYTHONPATH), not a guess at it
    path = os.pathsep.join([str(Path(fl.__file__).resolve().parent.parent), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, PYTHONPATH=path)
    r = subprocess.run([sys.executable, str(_BENCH / "compare.py"), "--device", "cuda", "--quick"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, f"compare.py --device cuda without a GPU: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    assert "no CUDA device available" in r.stderr, r.stderr


def test_cuda_bench_covers_every_layer_family_of_the_shared_table():
    import importlib.util
    import json
    import sys
    spec = importlib.util.spec_from_file_location("cuda_bench", _BENCH / "cuda_bench.py")
    cb = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cb)
    table_path = cb.default_table()
    if not table_path.is_file():
        pytest.skip(f"shared table {table_path} not present")
    # every family that the CPU side-by-side runs (compare.FAMILIES) is timed on the GPU too; families with no
    # fastlayers op yet (the 3-D ones) are skipped by both, with the reason printed
    sys.path.insert(0, str(_BENCH))
    try:
        import compare
    finally:
        sys.path.remove(str(_BENCH))
    families = {k for k, v in json.load(open(table_path)).items() if isinstance(v, list)} - {"end_to_end"}
    implemented = families & set(compare.FAMILIES)
    assert implemented, f"compare.py runs none of {sorted(families)}"
    assert implemented <= set(cb.BUILDERS), f"no CUDA bench builder for {sorted(implemented - set(cb.BUILDERS))}"
    assert cb.wants_cuda(["--device", "cuda", "--quick"]) and not cb.wants_cuda(["--quick"])


@needs_gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", [((6, 5), False, -100, "mean"), ((4, 7, 3), True, 2, "mean"),
                                  ((4, 7, 3), True, -100, "sum"), ((5, 4), False, 1, "none")],
                         ids=lambda c: "%s_w%d_ii%d_%s" % ("x".join(map(str, c[0])), *c[1:]))
def test_nll_loss_cuda_matches_torch_and_cpu(case, dtype):
    shape, weighted, ii, red = case
    rng = np.random.default_rng(23)
    x = rng.standard_normal(shape).astype(dtype)
    C, rows = shape[1], (shape[0],) + shape[2:]
    t = rng.integers(0, C, rows).astype(np.int64)
    t.flat[0] = ii if ii >= 0 else t.flat[0]
    w = rng.random(C).astype(dtype) + 0.5 if weighted else None
    loss_gpu, tw_gpu = _C.nll_loss_forward(_gpu(x), _gpu(t), None if w is None else _gpu(w), ii, red)
    loss_cpu, tw_cpu = _C.nll_loss_forward(x, t, w, ii, red)
    tx = _torch_cuda(x, True)
    tl = torch.nn.functional.nll_loss(tx, _torch_cuda(t), None if w is None else _torch_cuda(w), ignore_index=ii,
                                      reduction=red)
    _check(loss_gpu, loss_cpu, tl, "nll_loss", str(case), int(np.prod(rows)), dtype)
    assert abs(tw_gpu - tw_cpu) <= 1e-5 * max(1.0, abs(tw_cpu)), f"nll_loss total_weight {tw_gpu} vs {tw_cpu}"
    g = rng.standard_normal(loss_cpu.shape).astype(dtype)
    tl.backward(_torch_cuda(g))
    dx_gpu = _C.nll_loss_backward(_gpu(g), _gpu(x), _gpu(t), None if w is None else _gpu(w), tw_gpu, ii, red)
    dx_cpu = _C.nll_loss_backward(g, x, t, w, tw_cpu, ii, red)
    _check(dx_gpu, dx_cpu, tx.grad, "nll_loss backward", str(case), 1, dtype)


# ---- half kernels ----
# Every launcher of cuda/kernels.h takes float16 / bfloat16 (float32 math). On a GPU each op that gained them
# here runs against torch on the GPU in the same half dtype and against our float32 CPU path fed the same
# half-rounded inputs. Tolerances (largest |ours - theirs| / (1 + |theirs|)):
#   vs our CPU float32: the half kernels compute in float32 from the same rounded inputs, so they differ by the
#     final rounding to the half type plus the few roundings of stored half intermediates (the LRN scale, a
#     dropout scale): 8 units of half roundoff, 4e-3 for float16 (11 bits) and 3e-2 for bfloat16 (8 bits);
#   vs torch half: both sides round, and torch keeps some intermediates (and some backward sums) in the half
#     type: 2e-2 for float16, 5e-2 for bfloat16.
# Without a GPU: the CPU still refuses the half types, and half stand-in CUDA arrays pass every front-door
# check of these ops up to the launcher (where the CUDA runtime, without a driver, stops them).

_HALF_TOL_CPU = {"float16": 4e-3, "bfloat16": 3e-2}
_HALF_TOL_TORCH = {"float16": 2e-2, "bfloat16": 5e-2}


def _scaled_err(ours, theirs):
    a, b = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    assert a.shape == b.shape, f"shape {a.shape} != {b.shape}"
    return float((np.abs(a - b) / (1.0 + np.abs(b))).max()) if a.size else 0.0


def _f32(t):
    """A torch tensor (any dtype, any device) as a float32 numpy array: the CPU path's input."""
    return t.detach().float().cpu().numpy()


def _check_half(ours, theirs, cpu, op, case, dtype):
    """ours: our half CUDA result (a torch tensor); theirs: torch's, same dtype; cpu: our float32 CPU result on
    the same rounded inputs."""
    assert ours.dtype == getattr(torch, dtype), f"{op} {case}: result dtype {ours.dtype}, expected {dtype}"
    e = _scaled_err(_f32(ours), _f32(theirs))
    assert e <= _HALF_TOL_TORCH[dtype], f"{op} {case} {dtype} vs torch cuda: largest scaled error {e:.3g}"
    e = _scaled_err(_f32(ours), cpu)
    assert e <= _HALF_TOL_CPU[dtype], f"{op} {case} {dtype} vs our cpu float32: largest scaled error {e:.3g}"


def _half_inputs(rng, dtype, *shapes, grid=True):
    """Half CUDA tensors of random data (on the 1/4 grid unless grid=False)."""
    out = []
    for s in shapes:
        a = grid_data(rng, s, np.float32) if grid else rng.standard_normal(s).astype(np.float32)
        out.append(_th(a, dtype))
    return out


@needs_gpu
@pytest.mark.parametrize("dtype", HALF_DTYPES)
@pytest.mark.parametrize("case", [(2, 4, 5, 5, 6, 3, 3, 2, 1, 1, 1, 1), (1, 4, 4, 6, 4, 4, 3, 2, 1, 1, 1, 2),
                                  (1, 2, 3, 3, 2, 3, 3, 1, 1, 1, 2, 1)],
                         ids=lambda c: "mb%dic%dih%diw%doc%dkh%dkw%ds%dp%dop%dd%dg%d" % c)
def test_half_conv_transpose2d_cuda_matches_torch_and_cpu(case, dtype):
    N, C, H, W, K, R, S, st, pad, op_, dil, g = case
    rng = np.random.default_rng(30)
    x, w, b = _half_inputs(rng, dtype, (N, C, H, W), (C, K // g, R, S), (K,))
    args = ((st, st), (pad, pad), (op_, op_), g, (dil, dil))
    tx, tw, tb = (t.clone().requires_grad_() for t in (x, w, b))
    ty = torch.nn.functional.conv_transpose2d(tx, tw, tb, st, pad, op_, g, dil)
    y_cpu = _C.conv_transpose2d_forward(_f32(x), _f32(w), _f32(b), *args)
    _check_half(_C.conv_transpose2d_forward(x, w, b, *args), ty, y_cpu, "conv_transpose2d", case, dtype)
    dy = _th(grid_data(rng, y_cpu.shape, np.float32), dtype)
    ty.backward(dy)
    ours = _C.conv_transpose2d_backward(dy, x, w, *args)
    cpu = _C.conv_transpose2d_backward(_f32(dy), _f32(x), _f32(w), *args)
    for name, o, c, t in zip(("grad_input", "grad_weight", "grad_bias"), ours, cpu, (tx.grad, tw.grad, tb.grad)):
        _check_half(o, t, c, "conv_transpose2d " + name, case, dtype)


@needs_gpu
@pytest.mark.parametrize("dtype", HALF_DTYPES)
@pytest.mark.parametrize("mode,align", [("nearest", False), ("bilinear", False), ("bilinear", True)])
def test_half_upsample_cuda_matches_torch_and_cpu(mode, align, dtype):
    rng = np.random.default_rng(31)
    (x,) = _half_inputs(rng, dtype, (2, 3, 5, 4))
    args = ((9, 11), (0.0, 0.0), mode, align, True, "")
    tx = x.clone().requires_grad_()
    ty = torch.nn.functional.interpolate(tx, size=(9, 11), mode=mode, align_corners=align if mode != "nearest" else None)
    y_cpu = _C.upsample2d_forward(_f32(x), *args)
    case = f"{mode} align={align}"
    _check_half(_C.upsample2d_forward(x, *args), ty, y_cpu, "interpolate", case, dtype)
    dy = _th(grid_data(rng, y_cpu.shape, np.float32), dtype)
    ty.backward(dy)
    bargs = ((5, 4), (0.0, 0.0), mode, align, True, "")
    _check_half(_C.upsample2d_backward(dy, *bargs), tx.grad, _C.upsample2d_backward(_f32(dy), *bargs),
                "interpolate backward", case, dtype)


@needs_gpu
@pytest.mark.parametrize("dtype", HALF_DTYPES)
@pytest.mark.parametrize("size", [3, 4])
def test_half_local_response_norm_cuda_matches_torch_and_cpu(size, dtype):
    rng = np.random.default_rng(32)
    (x,) = _half_inputs(rng, dtype, (2, 7, 4, 5), grid=False)
    lrn = (size, 1e-2, 0.75, 2.0)
    tx = x.clone().requires_grad_()
    ty = torch.nn.functional.local_response_norm(tx, size, 1e-2, 0.75, 2.0)
    y, scale = _C.lrn_forward(x, *lrn)
    y_cpu, scale_cpu = _C.lrn_forward(_f32(x), *lrn)
    _check_half(y, ty, y_cpu, "local_response_norm", f"size={size}", dtype)
    dy = _th(rng.standard_normal(x.shape).astype(np.float32), dtype)
    ty.backward(dy)
    _check_half(_C.lrn_backward(dy, x, scale, *lrn), tx.grad, _C.lrn_backward(_f32(dy), _f32(x), scale_cpu, *lrn),
                "local_response_norm backward", f"size={size}", dtype)


@needs_gpu
@pytest.mark.parametrize("dtype", HALF_DTYPES)
def test_half_prelu_cuda_matches_torch_and_cpu(dtype):
    rng = np.random.default_rng(33)
    x, w, dy = _half_inputs(rng, dtype, (4, 3, 6, 5), (3,), (4, 3, 6, 5))
    tx, tw = x.clone().requires_grad_(), w.clone().requires_grad_()
    ty = torch.nn.functional.prelu(tx, tw)
    _check_half(_C.prelu_forward(x, w), ty, _C.prelu_forward(_f32(x), _f32(w)), "prelu", "4x3x6x5", dtype)
    ty.backward(dy)
    ours, cpu = _C.prelu_backward(dy, x, w), _C.prelu_backward(_f32(dy), _f32(x), _f32(w))
    for name, o, c, t in zip(("grad_input", "grad_weight"), ours, cpu, (tx.grad, tw.grad)):
        _check_half(o, t, c, "prelu " + name, "4x3x6x5", dtype)


@needs_gpu
@pytest.mark.parametrize("dtype", HALF_DTYPES)
def test_half_maxout_cuda_matches_torch_and_cpu(dtype):
    rng = np.random.default_rng(34)
    # distinct values exactly representable in both half types: no ties, so the winner is unambiguous
    x_np = ((rng.permutation(2 * 6 * 3 * 3) - 54) / 4).astype(np.float32).reshape(2, 6, 3, 3)
    x = _th(x_np, dtype)
    tx = x.clone().requires_grad_()
    ty = tx.reshape(2, 3, 2, 3, 3).amax(dim=2)  # maxout of 2 pieces: channels (2j, 2j + 1) -> j
    _check_half(_C.maxout_forward(x, 2), ty, _C.maxout_forward(x_np, 2), "maxout", "2x6x3x3 pieces=2", dtype)
    dy = _th(grid_data(rng, (2, 3, 3, 3), np.float32), dtype)
    ty.backward(dy)
    _check_half(_C.maxout_backward(dy, x, 2), tx.grad, _C.maxout_backward(_f32(dy), x_np, 2), "maxout backward",
                "2x6x3x3 pieces=2", dtype)


@needs_gpu
@pytest.mark.parametrize("dtype", HALF_DTYPES)
def test_half_dropout_mask_is_the_float32_mask_rounded(dtype):
    like = _th(np.zeros(1, np.float32), dtype)
    ours = _C.dropout_mask(like, (300, 7), 0.3, 11)
    cpu = _C.dropout_mask(np.zeros(1, np.float32), (300, 7), 0.3, 11)
    assert ours.dtype == like.dtype
    expected = torch.from_numpy(cpu).to(like.dtype)  # the same keep/drop pattern, the scale rounded once
    assert torch.equal(ours.cpu(), expected), f"dropout mask {dtype} differs from the float32 mask rounded"


HALF_CE_CASES = [  # shape, target kind, weighted, ignore_index, label_smoothing, reduction
    ((6, 5), "index", False, -100, 0.0, "mean"),
    ((4, 7, 3), "index", True, 2, 0.1, "sum"),
    ((5, 4), "index", False, 1, 0.0, "none"),
    ((3, 4, 2, 2), "prob", True, -100, 0.2, "mean"),
]


@needs_gpu
@pytest.mark.parametrize("dtype", HALF_DTYPES)
@pytest.mark.parametrize("case", HALF_CE_CASES, ids=lambda c: "%s_%s_w%d_ii%d_ls%g_%s" % (
    "x".join(map(str, c[0])), *c[1:]))
def test_half_cross_entropy_cuda_matches_torch_and_cpu(case, dtype):
    shape, kind, weighted, ii, ls, red = case
    rng = np.random.default_rng(35)
    C, rows = shape[1], (shape[0],) + shape[2:]
    (x,) = _half_inputs(rng, dtype, shape, grid=False)
    if kind == "index":
        t_np = rng.integers(0, C, rows).astype(np.int64)
        t_np.flat[0] = ii if ii >= 0 else t_np.flat[0]
        t, t_cpu = torch.from_numpy(t_np).cuda(), t_np
    else:
        t = _th(rng.random(shape).astype(np.float32), dtype)
        t_cpu = _f32(t)
    w = _th(rng.random(C).astype(np.float32) + 0.5, dtype) if weighted else None
    w_cpu = None if w is None else _f32(w)
    args = (ii, ls, red)
    loss, lse, tw = _C.cross_entropy_forward(x, t, w, *args)
    loss_cpu, lse_cpu, tw_cpu = _C.cross_entropy_forward(_f32(x), t_cpu, w_cpu, *args)
    tx = x.clone().requires_grad_()
    tl = torch.nn.functional.cross_entropy(tx, t, w, ignore_index=ii, reduction=red, label_smoothing=ls)
    _check_half(loss, tl, loss_cpu, "cross_entropy", str(case), dtype)
    assert abs(tw - tw_cpu) <= _HALF_TOL_CPU[dtype] * max(1.0, abs(tw_cpu)), f"total_weight {tw} vs {tw_cpu}"
    g = _th(rng.standard_normal(loss_cpu.shape).astype(np.float32), dtype)
    tl.backward(g)
    dx = _C.cross_entropy_backward(g, x, t, w, lse, tw, *args)
    dx_cpu = _C.cross_entropy_backward(_f32(g), _f32(x), t_cpu, w_cpu, lse_cpu, tw_cpu, *args)
    _check_half(dx, tx.grad, dx_cpu, "cross_entropy backward", str(case), dtype)


@needs_gpu
@pytest.mark.parametrize("dtype", HALF_DTYPES)
@pytest.mark.parametrize("case", [((6, 5), False, -100, "mean"), ((4, 7, 3), True, 2, "sum"),
                                  ((5, 4), True, 1, "none")],
                         ids=lambda c: "%s_w%d_ii%d_%s" % ("x".join(map(str, c[0])), *c[1:]))
def test_half_nll_loss_cuda_matches_torch_and_cpu(case, dtype):
    shape, weighted, ii, red = case
    rng = np.random.default_rng(36)
    C, rows = shape[1], (shape[0],) + shape[2:]
    (x,) = _half_inputs(rng, dtype, shape, grid=False)
    t_np = rng.integers(0, C, rows).astype(np.int64)
    t_np.flat[0] = ii if ii >= 0 else t_np.flat[0]
    t = torch.from_numpy(t_np).cuda()
    w = _th(rng.random(C).astype(np.float32) + 0.5, dtype) if weighted else None
    w_cpu = None if w is None else _f32(w)
    loss, tw = _C.nll_loss_forward(x, t, w, ii, red)
    loss_cpu, tw_cpu = _C.nll_loss_forward(_f32(x), t_np, w_cpu, ii, red)
    tx = x.clone().requires_grad_()
    tl = torch.nn.functional.nll_loss(tx, t, w, ignore_index=ii, reduction=red)
    _check_half(loss, tl, loss_cpu, "nll_loss", str(case), dtype)
    g = _th(rng.standard_normal(loss_cpu.shape).astype(np.float32), dtype)
    tl.backward(g)
    _check_half(_C.nll_loss_backward(g, x, t, w, tw, ii, red), tx.grad,
                _C.nll_loss_backward(_f32(g), _f32(x), t_np, w_cpu, tw_cpu, ii, red), "nll_loss backward", str(case),
                dtype)


@needs_gpu
def test_functional_ops_take_float16_cupy_tensors():
    rng = np.random.default_rng(43)
    x16, t_np = rng.standard_normal((6, 5)).astype(np.float16), rng.integers(0, 5, 6)
    x = fl.tensor(x16).to("cuda").detach().requires_grad_()
    loss = F.cross_entropy(x, fl.tensor(t_np).to("cuda"), label_smoothing=0.1)
    tx = torch.from_numpy(x16).cuda().requires_grad_()
    tl = torch.nn.functional.cross_entropy(tx, torch.from_numpy(t_np).cuda(), label_smoothing=0.1)
    assert loss.dtype == np.float16, loss.dtype
    assert _scaled_err(_host(loss.data).astype(np.float32), _f32(tl)) <= _HALF_TOL_TORCH["float16"]
    loss.backward()
    tl.backward()
    assert _scaled_err(_host(x.grad.data).astype(np.float32), _f32(tx.grad)) <= _HALF_TOL_TORCH["float16"]
    img = fl.tensor(rng.standard_normal((1, 2, 4, 4)).astype(np.float16)).to("cuda")
    up = F.interpolate(img, scale_factor=2, mode="bilinear", align_corners=False)
    assert up.dtype == np.float16 and up.shape == (1, 2, 8, 8)
    dropped = F.dropout(img, 0.5)
    assert dropped.dtype == np.float16 and isinstance(dropped.data, cupy.ndarray)


_NEW_HALF_OPS = [  # (op name in the error, call on an input array x of shape (2, 4, 3, 3))
    ("conv_transpose2d", lambda x, mk: _C.conv_transpose2d_forward(x, mk((4, 2, 2, 2)))),
    ("upsample2d_forward", lambda x, mk: _C.upsample2d_forward(x, (6, 6), (0.0, 0.0), "bilinear", False, True, "")),
    ("local_response_norm", lambda x, mk: _C.lrn_forward(x, 3)),
    ("prelu", lambda x, mk: _C.prelu_forward(x, mk((4,)))),
    ("maxout", lambda x, mk: _C.maxout_forward(x, 2)),
    ("dropout", lambda x, mk: _C.dropout_mask(x, (10,), 0.5, 1)),
    ("cross_entropy", lambda x, mk: _C.cross_entropy_forward(x, mk((2, 3, 3), np.int64))),
    ("nll_loss", lambda x, mk: _C.nll_loss_forward(x, mk((2, 3, 3), np.int64))),
]


@pytest.mark.parametrize("dtype", HALF_DTYPES)
@pytest.mark.parametrize("call", _NEW_HALF_OPS, ids=lambda c: c[0])
def test_half_input_on_the_cpu_is_refused_by_the_ops_with_new_half_kernels(call, dtype):
    name, fn = call

    def cpu_array(shape, dt=None):
        if dt is not None:
            return np.zeros(shape, dt)
        return np.zeros(shape, np.float16) if dtype == "float16" else torch.zeros(shape, dtype=torch.bfloat16)

    with pytest.raises(TypeError, match=rf"{name}: input has dtype {dtype}, which is supported on cuda only"):
        fn(cpu_array((2, 4, 3, 3)), cpu_array)


@pytest.fixture
def fake_cuda_outputs(monkeypatch):
    """Outputs of stand-in CUDA inputs become stand-in CUDA arrays (the bindings allocate them through
    fastlayers._device.empty); returns the list of (shape, dtype) asked for."""
    from fastlayers import _device
    asked, real_empty = [], _device.empty

    def empty(like, shape, dtype):
        if not isinstance(like, _FakeCudaArray):
            return real_empty(like, shape, dtype)
        asked.append((tuple(shape), dtype))
        out = _FakeCudaArray(np.zeros(1, dtype))
        out.array = np.zeros(tuple(shape), dtype)  # 0-d too (ascontiguousarray would make it 1-d)
        out.shape = out.array.shape
        return out

    monkeypatch.setattr(_device, "empty", empty)
    return asked


@pytest.mark.skipif(not fl.cuda.is_built() or HAS_GPU, reason="needs a CUDA build on a machine without a GPU")
@pytest.mark.parametrize("call", _NEW_HALF_OPS, ids=lambda c: c[0])
def test_half_cuda_input_passes_every_front_door_check_of_the_new_half_ops(call, fake_cuda_outputs):
    # float16 stand-ins (numpy has no bfloat16) get through the dtype, shape and device checks to the launcher;
    # there the CUDA runtime (no driver here) raises: no TypeError about a missing half kernel.
    name, fn = call

    def mk(shape, dt=np.float16):
        return _FakeCudaArray(np.zeros(shape, dt))

    with pytest.raises(RuntimeError, match="fastlayers CUDA"):
        fn(mk((2, 4, 3, 3)), mk)


# ---- mixed-precision batch norm ----
# float16/bfloat16 input with float32 weight, bias and running statistics (torch/cuDNN under autocast); the
# saved mean/rstd are float32 for a half input, the weight/bias gradients take the weight's dtype.


def test_batch_norm_on_the_cpu_refuses_parameters_of_another_dtype():
    x = np.zeros((2, 3, 4), np.float32)
    with pytest.raises(TypeError, match="batch_norm_forward: weight must have dtype float32 like the input, got "
                                        "float64"):
        _C.batch_norm_forward(x, np.ones(3), None, None, None, True)
    with pytest.raises(TypeError, match="batch_norm_forward: running_mean must have dtype float32 like the input"):
        _C.batch_norm_forward(x, None, None, np.zeros(3), np.ones(3), True)


@pytest.mark.skipif(not fl.cuda.is_built() or HAS_GPU, reason="needs a CUDA build on a machine without a GPU")
def test_mixed_batch_norm_on_cuda_asks_float32_stats_and_checks_parameter_dtypes(fake_cuda_outputs):
    def mk(shape, dt):
        return _FakeCudaArray(np.zeros(shape, dt))

    x, f32 = mk((2, 3, 4), np.float16), np.float32
    # half input, float32 parameters: every check passes (the launcher's runtime stops it: no driver here) and
    # the saved statistics are asked for in float32
    with pytest.raises(RuntimeError, match="fastlayers CUDA"):
        _C.batch_norm_forward(x, mk(3, f32), mk(3, f32), mk(3, f32), mk(3, f32), True)
    assert fake_cuda_outputs == [((2, 3, 4), "float16"), ((3,), "float32"), ((3,), "float32")], fake_cuda_outputs
    # the parameters in the input's dtype still pass; the statistics are float32 all the same
    fake_cuda_outputs.clear()
    with pytest.raises(RuntimeError, match="fastlayers CUDA"):
        _C.batch_norm_forward(x, mk(3, np.float16), None, None, None, True)
    assert fake_cuda_outputs[1:] == [((3,), "float32"), ((3,), "float32")], fake_cuda_outputs
    with pytest.raises(TypeError, match="batch_norm_forward: weight must have dtype float16 or float32 like the "
                                        "input, got float64"):
        _C.batch_norm_forward(x, mk(3, np.float64), None, None, None, True)
    with pytest.raises(TypeError, match="batch_norm_forward: bias must have dtype float32 like weight, got float16"):
        _C.batch_norm_forward(x, mk(3, f32), mk(3, np.float16), None, None, True)
    with pytest.raises(TypeError, match="batch_norm_forward_eval: running_var must have dtype float32 like "
                                        "running_mean, got float16"):
        _C.batch_norm_forward(x, None, None, mk(3, f32), mk(3, np.float16), False)
    # backward: float32 mean/rstd, and the weight gradient in the weight's dtype
    fake_cuda_outputs.clear()
    with pytest.raises(RuntimeError, match="fastlayers CUDA"):
        _C.batch_norm_backward(x, x, mk(3, f32), mk(3, f32), mk(3, f32), True)
    assert fake_cuda_outputs == [((2, 3, 4), "float16"), ((3,), "float32"), ((3,), "float32")], fake_cuda_outputs
    with pytest.raises(TypeError, match="batch_norm_backward: mean must have dtype float32"):
        _C.batch_norm_backward(x, x, mk(3, np.float16), mk(3, np.float16), None, True)


@needs_gpu
@pytest.mark.parametrize("dtype", HALF_DTYPES)
@pytest.mark.parametrize("training", [True, False])
def test_mixed_batch_norm_cuda_matches_torch(training, dtype):
    rng = np.random.default_rng(37)
    C = 5
    (x,) = _half_inputs(rng, dtype, (4, C, 6, 7), grid=False)
    w, b = (torch.from_numpy(rng.standard_normal(C).astype(np.float32)).cuda() for _ in range(2))
    rm0, rv0 = rng.standard_normal(C).astype(np.float32), rng.random(C).astype(np.float32) + 0.5
    rm, rv = torch.from_numpy(rm0).cuda(), torch.from_numpy(rv0).cuda()
    trm, trv = rm.clone(), rv.clone()
    y, mean, rstd = _C.batch_norm_forward(x, w, b, rm, rv, training, 0.1, 1e-5)
    assert y.dtype == x.dtype and mean.dtype == torch.float32 and rstd.dtype == torch.float32, \
        (y.dtype, mean.dtype, rstd.dtype)
    tx, tw, tb = x.clone().requires_grad_(), w.clone().requires_grad_(), b.clone().requires_grad_()
    ty = torch.nn.functional.batch_norm(tx, trm, trv, tw, tb, training, 0.1, 1e-5)
    case = f"training={training}"
    e = _scaled_err(_f32(y), _f32(ty))
    assert e <= _HALF_TOL_TORCH[dtype], f"mixed batch_norm {case} {dtype}: output off by {e:.3g}"
    # running statistics in float32 from the same half input: float32 accuracy over the 168 values per channel
    for name, ours, theirs in (("running_mean", rm, trm), ("running_var", rv, trv)):
        _close(_f32(ours), _f32(theirs), "mixed batch_norm " + name, f"{case} {dtype}", 168)
    if training:
        xf = x.float()
        _close(_f32(mean), _f32(xf.mean(dim=(0, 2, 3))), "mixed batch_norm mean", dtype, 168)
        var = xf.var(dim=(0, 2, 3), unbiased=False)
        _close(_f32(rstd), _f32(1 / torch.sqrt(var + 1e-5)), "mixed batch_norm rstd", dtype, 168)
    dy = _th(rng.standard_normal(x.shape).astype(np.float32), dtype)
    ty.backward(dy)
    dx, dw, db = _C.batch_norm_backward(dy, x, mean, rstd, w, training)
    assert dx.dtype == x.dtype and dw.dtype == torch.float32 and db.dtype == torch.float32, (dx.dtype, dw.dtype)
    for name, ours, theirs, tol in (("grad_input", dx, tx.grad, _HALF_TOL_TORCH[dtype]),
                                    ("grad_weight", dw, tw.grad, 1e-2), ("grad_bias", db, tb.grad, 1e-2)):
        e = _scaled_err(_f32(ours), _f32(theirs))
        assert e <= tol, f"mixed batch_norm {name} {case} {dtype}: off by {e:.3g}"


@needs_gpu
def test_batchnorm2d_module_with_float32_parameters_takes_a_float16_cupy_input_like_torch():
    rng = np.random.default_rng(38)
    x_np = rng.standard_normal((4, 3, 5, 5)).astype(np.float16)
    ours = fl.nn.BatchNorm2d(3).cuda()
    theirs = torch.nn.BatchNorm2d(3).cuda()
    y = ours(fl.tensor(x_np).to("cuda"))
    ty = theirs(torch.from_numpy(x_np).cuda())
    assert y.dtype == np.float16 and ours.running_mean.dtype == np.float32
    e = _scaled_err(_host(y.data).astype(np.float32), _f32(ty))
    assert e <= _HALF_TOL_TORCH["float16"], f"BatchNorm2d float16 input: output off by {e:.3g}"
    _close(_host(ours.running_var.data), _f32(theirs.running_var), "BatchNorm2d float16 running_var", "4x3x5x5", 100)
    y.sum().backward()
    ty.float().sum().backward()
    _close(_host(ours.weight.grad.data), _f32(theirs.weight.grad), "BatchNorm2d float16 weight grad", "", 100,
           np.float16)



@needs_gpu
def test_instance_norm_of_a_float16_cupy_input_updates_float32_running_stats_like_torch():
    rng = np.random.default_rng(44)
    x16 = rng.standard_normal((3, 4, 5, 6)).astype(np.float16)
    rm, rv = fl.tensor(np.zeros(4, np.float32)).to("cuda"), fl.tensor(np.ones(4, np.float32)).to("cuda")
    y = F.instance_norm(fl.tensor(x16).to("cuda"), rm, rv, use_input_stats=True, momentum=0.1)
    trm, trv = torch.zeros(4, device="cuda"), torch.ones(4, device="cuda")
    ty = torch.nn.functional.instance_norm(torch.from_numpy(x16).cuda(), trm, trv, use_input_stats=True, momentum=0.1)
    assert y.dtype == np.float16 and rm.dtype == np.float32
    assert _scaled_err(_host(y.data).astype(np.float32), _f32(ty)) <= _HALF_TOL_TORCH["float16"]
    # the per-instance statistics come from float16 values: their float16-rounded saved statistics bound it
    assert _scaled_err(_host(rm.data), _f32(trm)) <= _HALF_TOL_CPU["float16"]
    assert _scaled_err(_host(rv.data), _f32(trv)) <= _HALF_TOL_CPU["float16"]

# ---- batch-instance norm on cuda ----


def test_batch_instance_glue_runs_on_torch_tensors_with_the_given_kernels():
    # What fastlayers.torch does on a GPU, checked on the CPU: the glue gets torch tensors and a kernels object
    # returning torch tensors, and must give what it gives on numpy arrays with _C.
    class TorchKernels:
        def __getattr__(self, name):
            fn = getattr(_C, name)

            def call(*args, **kwargs):
                args = [a.numpy() if isinstance(a, torch.Tensor) else a for a in args]
                return tuple(None if r is None else torch.from_numpy(r) for r in fn(*args, **kwargs))
            return call

    class Ctx:
        def save_for_backward(self, *a):
            self.saved_tensors = a

    rng = np.random.default_rng(39)
    x, g = rng.standard_normal((3, 4, 5, 5)), rng.standard_normal((3, 4, 5, 5))
    w, b, rho = rng.random(4), rng.random(4), rng.random(4)
    rm_np, rv_np = np.zeros(4), np.ones(4)
    rm_t, rv_t = torch.zeros(4, dtype=torch.float64), torch.ones(4, dtype=torch.float64)
    ref_ctx, ctx = Ctx(), Ctx()
    ref_ctx.K, ctx.K = _C, TorchKernels()
    y_ref = BatchInstanceNorm.forward(ref_ctx, x, rm_np, rv_np, w, b, rho, True, 0.1, 1e-5)
    t = torch.from_numpy
    y = BatchInstanceNorm.forward(ctx, t(x), rm_t, rv_t, t(w), t(b), t(rho), True, 0.1, 1e-5)
    assert isinstance(y, torch.Tensor) and y.dtype == torch.float64
    _close(y.numpy(), y_ref, "batch_instance_norm glue on torch tensors", "3x4x5x5", 25, np.float64)
    _close(rv_t.numpy(), rv_np, "batch_instance_norm glue running_var", "3x4x5x5", 25, np.float64)
    ref_ctx.needs_input_grad = ctx.needs_input_grad = (True,) * 6
    grads_ref = BatchInstanceNorm.backward(ref_ctx, g)
    grads = BatchInstanceNorm.backward(ctx, t(g))
    for name, ours, ref in zip(("grad_input", "", "", "grad_weight", "grad_bias", "grad_rho"), grads, grads_ref):
        if ref is None:
            assert ours is None
            continue
        assert isinstance(ours, torch.Tensor) and ours.dtype == torch.float64, (name, type(ours))
        _close(ours.numpy(), ref, "batch_instance_norm glue " + name, "3x4x5x5", 75, np.float64)


@needs_gpu
def test_batch_instance_norm_module_on_cuda_matches_cpu_and_stays_on_the_device():
    rng = np.random.default_rng(40)
    x_np, g_np = rng.standard_normal((4, 3, 6, 5)).astype(np.float32), rng.standard_normal((4, 3, 6, 5)).astype(
        np.float32)
    cpu = fl.nn.BatchInstanceNorm2d(3)
    cpu.rho.data[...] = np.array([0.2, 0.7, 1.0], np.float32)  # both branches matter
    cpu.weight.data[...] = rng.standard_normal(3).astype(np.float32)
    gpu = fl.nn.BatchInstanceNorm2d(3)
    gpu.load_state_dict(cpu.state_dict())
    gpu.cuda()
    x_cpu, x_gpu = fl.tensor(x_np, requires_grad=True), fl.tensor(x_np).to("cuda").detach().requires_grad_()
    y_cpu, y_gpu = cpu(x_cpu), gpu(x_gpu)
    assert y_gpu.device == "cuda:0" and isinstance(y_gpu.data, cupy.ndarray)
    _close(_host(y_gpu.data), y_cpu.data, "BatchInstanceNorm2d on cuda", "4x3x6x5 train", 120)
    (y_cpu * fl.tensor(g_np)).sum().backward()
    (y_gpu * fl.tensor(g_np).to("cuda")).sum().backward()
    for name, a, b in (("input grad", x_gpu, x_cpu), ("weight grad", gpu.weight, cpu.weight),
                       ("bias grad", gpu.bias, cpu.bias), ("rho grad", gpu.rho, cpu.rho)):
        assert isinstance(a.grad.data, cupy.ndarray), f"BatchInstanceNorm2d {name} left the device"
        _close(_host(a.grad.data), b.grad.data, "BatchInstanceNorm2d " + name, "4x3x6x5", 120)
    _close(_host(gpu.running_var.data), cpu.running_var.data, "BatchInstanceNorm2d running_var", "4x3x6x5", 120)
    gpu.rho.data[...] = 1.5
    gpu.clip_rho_()
    assert isinstance(gpu.rho.data, cupy.ndarray) and float(gpu.rho.data.max()) == 1.0
    cpu.eval(), gpu.eval()
    cpu.rho.data[...] = 1.0
    _close(_host(gpu(fl.tensor(x_np).to("cuda")).data), cpu(fl.tensor(x_np)).data, "BatchInstanceNorm2d on cuda",
           "4x3x6x5 eval", 120)


@needs_gpu
def test_torch_batch_instance_norm_on_cuda_matches_cpu():
    import fastlayers.torch.functional as FF
    rng = np.random.default_rng(41)
    x = torch.from_numpy(rng.standard_normal((3, 4, 5, 6)).astype(np.float32))
    w, b, rho = (torch.from_numpy(rng.random(4).astype(np.float32)) for _ in range(3))
    outs = {}
    for dev in ("cpu", "cuda"):
        xd = x.to(dev).requires_grad_()
        wd, bd, rd = (t.to(dev).requires_grad_() for t in (w, b, rho))
        rm, rv = torch.zeros(4, device=dev), torch.ones(4, device=dev)
        y = FF.batch_instance_norm(xd, rm, rv, wd, bd, rd, training=True)
        assert y.device.type == dev
        y.square().sum().backward()
        outs[dev] = [t.detach().cpu().numpy() for t in (y, xd.grad, wd.grad, bd.grad, rd.grad, rm, rv)]
    for name, a, c in zip(("output", "grad_input", "grad_weight", "grad_bias", "grad_rho", "running_mean",
                           "running_var"), outs["cuda"], outs["cpu"]):
        _close(a, c, "fastlayers.torch.batch_instance_norm on cuda " + name, "3x4x5x6", 90)


# ---- streams ----
# Standalone calls with CuPy arrays launch on CuPy's current stream; fastlayers.cuda.set_stream overrides it.


def test_cupy_stream_is_none_for_arrays_that_are_not_cupy():
    from fastlayers import _device
    assert _device.cupy_stream(np.zeros(3, np.float32)) is None
    assert _device.cupy_stream(_fake((3,))) is None


@needs_build
def test_a_cupy_call_launches_on_cupys_current_stream_unless_overridden(monkeypatch):
    from fastlayers import _device
    # a stand-in CUDA array recording the stream the binding hands its __dlpack__ (the launch stream)
    from test_torch_cuda import _StreamRecordingArray as _StreamRecordingFake
    monkeypatch.setattr(_device, "cupy_stream", lambda a: 0xC0FFEE0 if isinstance(a, _StreamRecordingFake) else None)
    before = fl.cuda.current_stream()
    try:
        fl.cuda.set_stream(None)

        def call():
            x = _StreamRecordingFake(np.zeros((1, 2, 5, 5), np.float32))
            w = _StreamRecordingFake(np.zeros((3, 4, 3, 3), np.float32))
            with pytest.raises(ValueError, match="conv2d: input has 2 channels"):  # stops after the imports
                _C.conv2d_forward(x, w)
            return x.streams + w.streams

        assert call() == [0xC0FFEE0, 0xC0FFEE0], "CuPy's current stream must reach the call"
        assert fl.cuda.current_stream() is None, "following CuPy's stream must not set an override"
        fl.cuda.set_stream(0x5EED0)
        assert call() == [0x5EED0, 0x5EED0], "set_stream must override CuPy's stream"
        fl.cuda.set_stream(None)
        monkeypatch.setattr(_device, "cupy_stream", lambda a: 0)
        assert call() == [1, 1], "CuPy's legacy default stream (0) is DLPack's 1"
    finally:
        fl.cuda.set_stream(before)


@needs_gpu
def test_cuda_op_under_a_non_default_cupy_stream_is_ordered_on_that_stream():
    rng = np.random.default_rng(42)
    x_np = rng.standard_normal((64, 1024, 64)).astype(np.float32)
    expected = 2 * np.maximum(x_np, 0)
    s = cupy.cuda.Stream(non_blocking=True)  # no implicit ordering with the legacy default stream
    with s:
        x = cupy.asarray(x_np) * 1  # written by work queued on s
        y = _C.activation_forward(x, "relu")
        z = y * 2  # read on s right after our kernel
    s.synchronize()  # that stream only
    np.testing.assert_array_equal(cupy.asnumpy(z, stream=s), expected)


@needs_gpu
def test_cuda_op_is_captured_into_a_cuda_graph_of_the_current_cupy_stream():
    # Capture records only the work queued on the capturing stream (a launch on the legacy default stream
    # while capturing is an error), so a graph that replays our kernel proves the launch went on CuPy's stream.
    s = cupy.cuda.Stream(non_blocking=True)
    if not hasattr(s, "begin_capture"):
        pytest.skip("this CuPy has no stream capture")
    x = cupy.asarray(np.linspace(-2, 2, 4096, dtype=np.float32))
    y = cupy.empty_like(x)
    with s:
        s.begin_capture()
        _C.activation_forward(x, "relu", out=y)
        graph = s.end_capture()
    with s:  # on s too: s does not wait for the legacy default stream
        y.fill(-1)
    graph.launch(stream=s)
    s.synchronize()
    np.testing.assert_array_equal(cupy.asnumpy(y), np.maximum(np.linspace(-2, 2, 4096, dtype=np.float32), 0))
