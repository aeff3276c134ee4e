"""Torch tensors in and out of fastlayers' kernels, with no copy.

CPU tensors reach `_C` as numpy views of their memory (``Tensor.numpy()`` on a detached alias: zero-copy, and
numpy arrays take the bindings' fast import path); the kernels' numpy results come back through
``torch.from_numpy`` (zero-copy too). Every op asks `backend()` for the module that runs it on the tensors'
device: the CPU one is `_C` itself; a CUDA route would be one more entry in `_BACKENDS` with the same function
names (taking DLPack, returning torch tensors), and nothing above this file would change.
"""
import functools

import numpy as np
import torch

from .. import _C

_FLOAT_DTYPES = (torch.float32, torch.float64)
# device type -> module with _C's op functions. CUDA kernels live on another branch: until they are bound,
# CUDA tensors get a clear error rather than a silent round trip through host memory.
_BACKENDS = {"cpu": _C}


def _fallback(op):
    return (f"use torch.nn.functional.{op} (or the torch.nn module) for this input, or keep the module out of "
            f"fastlayers.torch.replace(model, exclude=...)")


def backend(op, *tensors):
    """The kernel module for `tensors` (None entries skipped): all on one supported device, all float32 or all
    float64. Errors name the op, what was given and the fallback."""
    first = None
    for t in tensors:
        if t is None:
            continue
        if first is None:
            first = t
            if t.dtype not in _FLOAT_DTYPES:
                raise TypeError(f"fastlayers.torch.{op}: unsupported dtype {t.dtype} (supported: torch.float32, "
                                f"torch.float64); {_fallback(op)}")
            continue
        if t.dtype != first.dtype:
            raise TypeError(f"fastlayers.torch.{op}: expected all tensors to have dtype {first.dtype}, got "
                            f"{t.dtype}; cast them to one dtype (model.to(dtype)) first")
        if t.device != first.device:
            raise RuntimeError(f"fastlayers.torch.{op}: expected all tensors on one device, got {first.device} "
                               f"and {t.device}")
    kind = first.device.type
    module = _BACKENDS.get(kind)
    if module is None:
        raise RuntimeError(f"fastlayers.torch.{op}: {kind} tensors are not supported yet (this build has no "
                           f"fastlayers kernels for device {first.device}; nothing is copied to the CPU "
                           f"behind your back); {_fallback(op)}")
    return module


def arr(t):
    """The kernel-side view of a tensor (None stays None): a numpy view of CPU memory; on another device the
    detached tensor itself, which a binding imports through __dlpack__."""
    if t is None:
        return None
    t = t.detach()
    return t.numpy() if t.device.type == "cpu" else t


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


class _NoGraphCtx:
    """Stands in for the autograd ctx when nothing will be differentiated: forward runs without recording."""

    def save_for_backward(self, *tensors):
        pass

    def mark_non_differentiable(self, *tensors):
        pass

    def mark_dirty(self, *tensors):
        pass


def run(fn, *args):
    """fn.apply(*args) when a graph is needed (grad mode on and some tensor argument requires grad), else
    fn.forward straight away: inference skips the autograd bookkeeping."""
    if torch.is_grad_enabled():
        for a in args:
            if isinstance(a, torch.Tensor) and a.requires_grad:
                return fn.apply(*args)
    return fn.forward(_NoGraphCtx(), *args)
