"""fastlayers.torch on torch CUDA tensors: the drop-in modules and replace()d LeNet / ResNet-18 against the
untouched torch modules on the GPU (forward, every gradient, buffers), torch's current stream, outputs allocated by
torch on the input's device; and, on every machine, the routing and its errors: mixed devices, CUDA tensors where
fastlayers cannot run them ("fastlayers built without CUDA" / "no CUDA device"), ops without a CUDA kernel, the
stream handed to the bindings, and what replace() leaves alone and why.

The GPU tests are skipped with the reason "no CUDA device" where torch or fastlayers sees no GPU."""
import copy
import sys

import numpy as np
import pytest
import torch
import torch.nn as nn

import fastlayers as fl
import fastlayers.torch as flt
import fastlayers.torch.functional as FF
from fastlayers.torch import _bridge
from test_cuda import _FakeCudaArray
from test_torch_models import MODELS, _assert_close
from test_torch_modules import CASES, DTYPES, _check, _input, _pair, _run_both

_replace = sys.modules["fastlayers.torch.replace"]

HAS_GPU = torch.cuda.is_available() and fl.cuda.is_available()
needs_gpu = pytest.mark.skipif(not HAS_GPU, reason="no CUDA device")
needs_build = pytest.mark.skipif(not fl.cuda.is_built(), reason="built without CUDA (FASTLAYERS_CUDA=OFF)")


# ---------------------------------------------------------------------------------------------------------
# Routing and errors, on every machine (meta tensors stand in for a device; stand-in CUDA arrays for the bindings)


def test_mixed_devices_raise_naming_the_op_and_both_devices():
    meta, cpu = torch.empty(1, 2, 5, 5, device="meta"), torch.randn(3, 2, 3, 3)
    with pytest.raises(RuntimeError, match=r"fastlayers.torch.conv2d: expected all tensors on one device, got "
                                           r"meta and cpu; move them to one device"):
        FF.conv2d(meta, cpu)
    with pytest.raises(RuntimeError, match=r"fastlayers.torch.linear: expected all tensors on one device, got "
                                           r"meta and cpu"):
        flt.Linear(4, 3)(torch.empty(2, 4, device="meta"))
    with pytest.raises(RuntimeError, match=r"fastlayers.torch.batch_norm: expected all tensors on one device"):
        flt.BatchNorm2d(2)(torch.empty(1, 2, 3, 3, device="meta"))


@pytest.mark.skipif(HAS_GPU, reason="checks the error where fastlayers cannot run CUDA tensors")
@pytest.mark.parametrize("built", [True, False], ids=["built_no_device", "not_built"])
def test_cuda_tensors_where_fastlayers_cannot_run_them_name_the_reason(monkeypatch, built):
    # torch here has no CUDA: meta tensors take the CUDA route instead (the same factory backend() picks for them).
    monkeypatch.setitem(_bridge._BACKENDS, "meta", _bridge._BACKENDS["cuda"])
    if not built:
        monkeypatch.setattr(fl.cuda, "is_built", lambda: False)
    why = "no CUDA device" if built and fl.cuda.is_built() else "fastlayers built without CUDA"
    x, w = torch.empty(1, 2, 5, 5, device="meta"), torch.empty(3, 2, 3, 3, device="meta")
    with pytest.raises(RuntimeError, match=rf"fastlayers.torch.conv2d: got tensors on meta, but {why} .*nothing is "
                                           rf"copied to the CPU.*torch.nn.functional.conv2d"):
        FF.conv2d(x, w)
    with pytest.raises(RuntimeError, match=rf"fastlayers.torch.relu: got tensors on meta, but {why}"):
        flt.ReLU()(x)


def test_a_device_without_kernels_and_a_cpu_only_op_are_refused_without_a_copy(monkeypatch):
    x = torch.empty(2, 3, 4, 4, device="meta")
    with pytest.raises(RuntimeError, match=r"fastlayers.torch.relu: meta tensors are not supported yet \(fastlayers "
                                           r"has no kernels for device meta; nothing is copied"):
        FF.relu(x)
    # batch_instance_norm mixes numpy code around its kernels: no device path even where the device has kernels.
    monkeypatch.setitem(_bridge._BACKENDS, "meta", _bridge._BACKENDS["cpu"])
    c = torch.empty(3, device="meta")
    with pytest.raises(RuntimeError, match=r"fastlayers.torch.batch_instance_norm: meta tensors are not supported "
                                           r"yet \(this op has no device path"):
        FF.batch_instance_norm(x, c, c, c, c, c, training=True)


class _StreamRecordingArray(_FakeCudaArray):
    """A stand-in CUDA array that records the stream the binding hands its __dlpack__."""

    def __init__(self, array):
        super().__init__(array)
        self.streams = []

    def __dlpack__(self, stream=None, max_version=None, **kwargs):
        self.streams.append(stream)
        return super().__dlpack__(stream, max_version, **kwargs)


@needs_build
def test_cuda_calls_run_on_torchs_current_stream_and_restore_fastlayers_stream(monkeypatch):
    torch_stream = 0x5EED0
    monkeypatch.setattr(_bridge, "_current_stream", lambda device: torch_stream)
    before = fl.cuda.current_stream()
    K = _bridge._CudaKernels("conv2d", torch.device("cuda:0"))
    assert K.cuda_get_stream() == torch_stream, "the call must run with torch's current stream as fastlayers' stream"
    assert fl.cuda.current_stream() == before, "fastlayers' own stream must be restored after the call"
    # The binding hands the same stream to each tensor's __dlpack__ (so the producer orders its work before ours);
    # mismatched channels stop the call after the import, before any launch.
    x, w = _StreamRecordingArray(np.zeros((1, 2, 5, 5), np.float32)), _StreamRecordingArray(np.zeros((3, 4, 3, 3),
                                                                                                     np.float32))
    with pytest.raises(ValueError, match="conv2d: input has 2 channels"):
        K.conv2d_forward(x, w)
    assert x.streams == [torch_stream] and w.streams == [torch_stream], (x.streams, w.streams)
    assert fl.cuda.current_stream() == before


@needs_build
def test_a_binding_without_a_cuda_kernel_names_the_torch_op_and_its_fallback(monkeypatch):
    monkeypatch.setattr(_bridge, "_current_stream", lambda device: 0)
    K = _bridge._CudaKernels("conv2d", torch.device("cuda:0"))
    fake = _FakeCudaArray(np.zeros((1, 2, 5, 5), np.float32))
    # conv2d_impl (a diagnostic) never has a CUDA path: it stands for any binding without one.
    with pytest.raises(RuntimeError, match=r"fastlayers.torch.conv2d: no CUDA kernel for this op in this fastlayers "
                                           r"build .*nothing is copied to the CPU.*torch.nn.functional.conv2d"):
        K.conv2d_impl(fake, fake)


def _meta_model():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4, 2)).to("meta")


def test_replace_leaves_a_model_on_a_device_without_kernels_alone_with_the_reason():
    model = flt.replace(_meta_model())
    report = model.fastlayers_report
    assert report.swapped == [], report
    left = {name: why for name, _, why in report.left}
    assert set(left) == {"0", "1", "2", "4"}, report
    assert all("fastlayers runs on cpu and cuda only" in why for why in left.values()), report
    assert type(model[0]) is nn.Conv2d


@pytest.mark.skipif(HAS_GPU, reason="checks the reason where fastlayers cannot run CUDA tensors")
@pytest.mark.parametrize("built", [True, False], ids=["built_no_device", "not_built"])
def test_replace_leaves_cuda_modules_alone_where_fastlayers_cannot_run_them(monkeypatch, built):
    # The model is on meta; meta is made to answer as CUDA does on this machine.
    device_reason = _replace._device_reason
    monkeypatch.setattr(_replace, "_device_reason",
                        lambda d: device_reason(torch.device("cuda") if d.type == "meta" else d))
    if not built:
        monkeypatch.setattr(fl.cuda, "is_built", lambda: False)
    why = "no CUDA device" if built and fl.cuda.is_built() else "fastlayers built without CUDA"
    model = flt.replace(_meta_model())
    report = model.fastlayers_report
    assert report.swapped == [], report
    assert len(report.left) == 4 and all(why in r for _, _, r in report.left), report
    assert f"({why})" in str(report)


@needs_build
def test_replace_swaps_every_module_on_a_device_fastlayers_can_run(monkeypatch):
    # meta made to answer as an available CUDA device: every module is swapped, Linear included.
    monkeypatch.setattr(_replace, "_device_reason", lambda d: None)
    model = flt.replace(_meta_model())
    report = model.fastlayers_report
    assert dict(report.swapped).keys() >= {"0", "1", "2", "4"} and report.left == [], report
    assert type(model[0]) is flt.Conv2d and type(model[1]) is flt.BatchNorm2d and type(model[4]) is flt.Linear


# ---------------------------------------------------------------------------------------------------------
# On a GPU: against torch's own modules on the same device


@pytest.fixture
def exact_torch():
    """torch's float32 convolutions and matmuls in full float32 (TF32 off), as the comparisons assume."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@needs_gpu
@DTYPES
@pytest.mark.parametrize("case,factory,shape", CASES, ids=[c[0] for c in CASES])
def test_dropin_on_cuda_matches_torch_on_cuda(case, factory, shape, dtype, exact_torch):
    ref, ours = (m.cuda() for m in _pair(factory, dtype))
    x = _input(shape, dtype).cuda()
    with torch.no_grad():  # both, so that buffers updated in training mode stay equal
        y, _ = ours(x), ref(x)
    assert isinstance(y, torch.Tensor) and y.device == x.device, f"{case}: output on {y.device}, not {x.device}"
    _run_both(ref, ours, x, case, dtype)  # the CPU test's comparison (and per-label tolerances), on the GPU


@needs_gpu
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", ["lenet", "resnet18"])
def test_replaced_model_on_cuda_matches_torch_on_cuda(name, dtype, exact_torch):
    factory, shape, loss_fn, target = MODELS[name]
    torch.manual_seed(0)
    ref = factory().to(dtype).cuda()
    ours = flt.replace(copy.deepcopy(ref))
    report = ours.fastlayers_report
    assert report.swapped, f"{name}: nothing was swapped on cuda: {report}"
    assert not report.left, f"{name}: unexpectedly left: {report.left}"
    g = torch.Generator().manual_seed(1)
    x = torch.randn(shape, generator=g, dtype=dtype).cuda()
    t = target(g).cuda()
    out_ref, out = ref(x), ours(x)
    _assert_close(out, out_ref, f"{name} cuda forward", dtype)
    loss_fn(out_ref, t).backward()
    loss_fn(out, t).backward()
    scale = max(p.grad.abs().max().item() for p in ref.parameters())
    for (pname, p_ref), (_, p) in zip(ref.named_parameters(), ours.named_parameters()):
        _assert_close(p.grad, p_ref.grad, f"{name} cuda grad of {pname}", dtype, scale)
    for (bname, b_ref), (_, b) in zip(ref.named_buffers(), ours.named_buffers()):
        if b_ref.is_floating_point():
            _assert_close(b, b_ref, f"{name} cuda buffer {bname} after a training step", dtype)
    ref.eval()
    ours.eval()
    with torch.no_grad():
        _assert_close(ours(x), ref(x), f"{name} cuda eval forward", dtype)


@needs_gpu
def test_cuda_op_runs_on_a_side_stream_and_leaves_fastlayers_stream_as_it_was(exact_torch):
    x = _input((2, 3, 9, 8), torch.float32).cuda()
    w = _input((4, 3, 3, 3), torch.float32, seed=1).cuda()
    before = fl.cuda.current_stream()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        y = FF.conv2d(x, w, padding=1)
        y_ref = torch.nn.functional.conv2d(x, w, padding=1)
    side.synchronize()
    assert fl.cuda.current_stream() == before
    assert y.device == x.device
    _check(y, y_ref, "conv2d on a side stream", torch.float32)


@needs_gpu
def test_mixed_cpu_and_cuda_tensors_raise_a_clear_error():
    conv = flt.Conv2d(2, 3, 3)  # weight on the cpu
    with pytest.raises(RuntimeError, match=r"fastlayers.torch.conv2d: expected all tensors on one device, got "
                                           r"cuda:0 and cpu"):
        conv(torch.randn(1, 2, 5, 5, device="cuda"))


# ---------------------------------------------------------------------------------------------------------
# Half precision: float16 / bfloat16 models run on fastlayers' CUDA half kernels (float32 accumulation); on the
# CPU they are left to torch with the reason.

HALF_TOL = {torch.float16: 2e-2, torch.bfloat16: 6e-2}  # relative to max|torch|: a few units of half rounding
# through a few layers, each side rounding its intermediates differently


def test_replace_leaves_a_half_model_on_the_cpu_with_the_reason():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()).half()
    flt.replace(model)
    assert type(model[0]) is nn.Conv2d, "a float16 CPU conv was swapped, but fastlayers has no CPU half kernels"
    reasons = " ".join(str(r) for r in model.fastlayers_report.left)
    assert "torch.float16 on cpu" in reasons, f"no dtype reason in the report: {reasons}"


@needs_gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["float16", "bfloat16"])
@pytest.mark.parametrize("name", ["lenet", "resnet18"])
def test_replaced_half_model_on_cuda_matches_torch_on_cuda(name, dtype):
    factory, shape, loss_fn, target = MODELS[name]
    torch.manual_seed(0)
    ref = factory().cuda().to(dtype)
    ours = flt.replace(copy.deepcopy(ref))
    assert ours.fastlayers_report.swapped and not ours.fastlayers_report.left, ours.fastlayers_report
    g = torch.Generator().manual_seed(1)
    x = torch.randn(shape, generator=g).to("cuda", dtype)
    t = target(g).cuda()
    out_ref, out = ref(x), ours(x)
    assert out.dtype == dtype, f"{name}: output dtype {out.dtype}, input {dtype}"

    def close(a, b, what, scale=0.0):
        a, b = a.detach().float(), b.detach().float()
        err = ((a - b).abs().max() / max(b.abs().max().item(), scale, 1e-30)).item()
        assert err <= HALF_TOL[dtype], f"{name} {dtype} {what}: largest error relative to max|torch| {err:.3g}"

    close(out, out_ref, "forward")
    loss_fn(out_ref.float(), t).backward()
    loss_fn(out.float(), t).backward()
    scale = max(p.grad.abs().max().item() for p in ref.parameters())
    for (pname, p_ref), (_, p) in zip(ref.named_parameters(), ours.named_parameters()):
        assert p.grad.dtype == p_ref.grad.dtype, f"{name}: grad of {pname} is {p.grad.dtype}"
        close(p.grad, p_ref.grad, f"grad of {pname}", scale)


@needs_gpu
def test_half_input_batch_norm_with_float32_statistics_matches_torch_on_cuda():
    # torch/cuDNN's mixed precision: a float16 input with float32 weight, bias and running statistics.
    torch.manual_seed(2)
    ref = nn.BatchNorm2d(6).cuda()
    ours = flt.BatchNorm2d(6).cuda()
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(4, 6, 5, 5, device="cuda").half()
    y_ref, y = ref(x), ours(x)
    assert y.dtype == torch.float16
    assert ((y.float() - y_ref.float()).abs().max() <= 1e-2 * y_ref.float().abs().max()).item()
    for buf in ("running_mean", "running_var"):
        a, b = getattr(ours, buf), getattr(ref, buf)
        assert a.dtype == torch.float32 and torch.allclose(a, b, rtol=1e-3, atol=1e-4), buf
