"""Torch tensors in and out of fastlayers' kernels, with no copy.

CPU tensors reach `_C` as numpy views of their memory (``Tensor.numpy()`` on a detached alias: zero-copy, and
numpy arrays take the bindings' fast import path); the kernels' numpy results come back through
``torch.from_numpy`` (zero-copy too). CUDA tensors reach `_C` as themselves: the bindings import them through
DLPack (zero-copy) and allocate their outputs with torch (``fastlayers._device.empty``: torch.empty on the
input's device), so results are torch tensors already. Every op asks `backend()` for the object that runs it on
the tensors' device: `_C` itself on the CPU, a `_CudaKernels` (the same function names, run on torch's current
stream) on a GPU; nothing above this file knows which.
"""
import functools

import numpy as np
import torch

from .. import _C
from .. import cuda as _flcuda

_FLOAT_DTYPES = (torch.float32, torch.float64)
_HALF_DTYPES = (torch.float16, torch.bfloat16)  # CUDA kernels only (float32 accumulation)
# What a binding says when an op has no CUDA front door (csrc/common/device.cpp, no_cuda_kernel).
_NO_CUDA_KERNEL = "has no CUDA kernel"


def _fallback(op):
    return (f"use torch.nn.functional.{op} (or the torch.nn module) for this input, or keep the module out of "
            f"fastlayers.torch.replace(model, exclude=...)")


def cuda_unavailable_reason():
    """Why fastlayers cannot run CUDA tensors here ("fastlayers built without CUDA", "no CUDA device"), or None."""
    if not _flcuda.is_built():
        return "fastlayers built without CUDA"
    if not _flcuda.is_available():
        return "no CUDA device"
    return None


def _current_stream(device):
    """torch's current stream on `device` as a cudaStream_t integer (0: the legacy default stream)."""
    return torch.cuda.current_stream(device).cuda_stream


class _CudaKernels:
    """_C's op functions for torch CUDA tensors of `device`: each call runs on torch's current stream there (set
    as fastlayers' stream for the call, the previous one restored after), so it is ordered with the caller's
    torch work without a synchronisation; the bindings also hand that stream to each tensor's __dlpack__. A
    binding without a CUDA front door raises an error naming the torch op and its fallback."""

    def __init__(self, op, device):
        self.op, self.device = op, device

    def __getattr__(self, name):
        fn = getattr(_C, name)
        op, device = self.op, self.device

        def call(*args, **kwargs):
            previous = _flcuda.current_stream()
            _flcuda.set_stream(_current_stream(device))
            try:
                return fn(*args, **kwargs)
            except RuntimeError as e:
                if _NO_CUDA_KERNEL in str(e):
                    raise RuntimeError(f"fastlayers.torch.{op}: no CUDA kernel for this op in this fastlayers build "
                                       f"({e}); nothing is copied to the CPU behind your back; {_fallback(op)}") from e
                raise
            finally:
                _flcuda.set_stream(previous)

        call.__name__ = name
        return call


def _cpu_kernels(op, device):
    return _C


def _cuda_kernels(op, device):
    why = cuda_unavailable_reason()
    if why is not None:
        raise RuntimeError(f"fastlayers.torch.{op}: got tensors on {device}, but {why} (fastlayers.cuda."
                           f"is_available() is False); nothing is copied to the CPU behind your back; {_fallback(op)}")
    return _CudaKernels(op, device)


# device type -> factory(op, torch.device) of the object with _C's op functions for that device.
_BACKENDS = {"cpu": _cpu_kernels, "cuda": _cuda_kernels}


def backend(op, *tensors, cpu_only=False, float32_params=False):
    """The kernels for `tensors` (None entries skipped): all on one supported device, all of one dtype:
    float32 or float64, or on CUDA float16 or bfloat16. `float32_params`: with a half input the other tensors
    may also be float32 (batch norm's mixed precision, as torch/cuDNN). `cpu_only`: the op has no device path
    at all (it mixes numpy code around the kernels). Errors name the op, what was given and the fallback."""
    first = None
    all_cpu = True  # tensor.is_cpu is a flag; tensor.device builds a torch.device object on each access
    for t in tensors:
        if t is None:
            continue
        all_cpu = all_cpu and t.is_cpu
        if first is None:
            first = t
            if t.dtype not in _FLOAT_DTYPES and not (t.dtype in _HALF_DTYPES and t.device.type == "cuda"):
                raise TypeError(f"fastlayers.torch.{op}: unsupported dtype {t.dtype} on {t.device.type} (supported: "
                                f"torch.float32, torch.float64; torch.float16 and torch.bfloat16 on cuda); "
                                f"{_fallback(op)}")
            continue
        if t.dtype != first.dtype and not (float32_params and first.dtype in _HALF_DTYPES and t.dtype == torch.float32):
            raise TypeError(f"fastlayers.torch.{op}: expected all tensors to have dtype {first.dtype}, got "
                            f"{t.dtype}; cast them to one dtype (model.to(dtype)) first")
        if not all_cpu and t.device != first.device:
            raise RuntimeError(f"fastlayers.torch.{op}: expected all tensors on one device, got {first.device} "
                               f"and {t.device}; move them to one device (model.to(device), input.to(device)) "
                               f"first")
    if all_cpu:
        return _BACKENDS["cpu"](op, None)
    device = first.device
    factory = _BACKENDS.get(device.type)
    if factory is None or (cpu_only and device.type != "cpu"):
        what = "this op has no device path in fastlayers.torch" if factory is not None else \
            f"fastlayers has no kernels for device {device}"
        raise RuntimeError(f"fastlayers.torch.{op}: {device.type} tensors are not supported yet ({what}; nothing "
                           f"is copied to the CPU behind your back); {_fallback(op)}")
    return factory(op, device)


def arr(t):
    """The kernel-side view of a tensor (None stays None): a numpy view of CPU memory; on another device the
    detached tensor itself, which a binding imports through __dlpack__."""
    if t is None:
        return None
    if t.is_cpu:
        return t.numpy() if not t.requires_grad else t.detach().numpy()
    return t.detach()


def ten(a):
    """A kernel result as a torch tensor, without a copy (None stays None): numpy arrays through from_numpy,
    torch tensors as they are, any other DLPack producer (a GPU binding's output) through from_dlpack."""
    if a is None or isinstance(a, torch.Tensor):
        return a
    if isinstance(a, np.ndarray):
        return torch.from_numpy(a)
    return torch.from_dlpack(a)


def once_differentiable(op):
    """Backward decorator: a clear error when a graph of the backward itself is asked for (create_graph=True,
    i.e. double backward), which the kernels cannot provide."""

    def wrap(backward):
        @functools.wraps(backward)
        def checked(ctx, *grads):
            if torch.is_grad_enabled():
                raise RuntimeError(f"fastlayers.torch.{op}: double backward (create_graph=True) is not supported; "
                                   f"{_fallback(op)}")
            return backward(ctx, *grads)

        return checked

    return wrap
