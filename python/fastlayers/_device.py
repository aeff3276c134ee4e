"""Arrays on either device: which module owns an array, and allocation with that module.

The C++ bindings call `empty` and `ascontiguousarray` for CUDA arrays, so GPU memory always comes from the
caller's own framework (CuPy or torch), never from an allocator of ours. CuPy is imported only when an
array of it is already in hand (it is then in sys.modules) or when a tensor is moved to 'cuda'.
"""
import sys

import numpy as np


def _cupy():
    return sys.modules.get("cupy")


def _torch_tensor_type():
    torch = sys.modules.get("torch")
    return torch.Tensor if torch is not None else None


def array_module(x):
    """numpy for numpy arrays (and anything else), cupy for CuPy arrays."""
    if isinstance(x, np.ndarray):
        return np
    cupy = _cupy()
    if cupy is not None and isinstance(x, cupy.ndarray):
        return cupy
    return np


def cupy_stream(x):
    """CuPy's current stream on CuPy array x's device as a cudaStream_t integer (0: the legacy default), or None
    when x is not a CuPy array. The bindings launch a CuPy call's kernels there unless fastlayers.cuda.set_stream
    set an override."""
    cupy = _cupy()
    if cupy is None or not isinstance(x, cupy.ndarray):
        return None
    with x.device:
        return int(cupy.cuda.get_current_stream().ptr)


def import_cupy():
    """CuPy, imported on demand; a clear error where it is not installed."""
    try:
        import cupy
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise RuntimeError("CUDA arrays need CuPy: pip install 'fastlayers[cuda]' (cupy-cuda13x)") from e
    return cupy


def device_of(x):
    """'cpu' or 'cuda:<index>' for a numpy, CuPy or torch array."""
    cupy = _cupy()
    if cupy is not None and isinstance(x, cupy.ndarray):
        return f"cuda:{x.device.id}"
    tt = _torch_tensor_type()
    if tt is not None and isinstance(x, tt):
        return str(x.device) if x.device.type == "cuda" else "cpu"
    return "cpu"


def is_on(x, device):
    """Whether array x already lives on `device` ('cpu', 'cuda' meaning the current GPU, 'cuda:<i>')."""
    here = device_of(x)
    if device == "cpu" or here == "cpu":
        return here == device
    if device == "cuda":
        return here == f"cuda:{import_cupy().cuda.Device().id}"
    return here == device


def empty(like, shape, dtype):
    """An uninitialised C-contiguous array of `shape` and `dtype` (a name) on like's device, made by
    like's own framework."""
    tt = _torch_tensor_type()
    if tt is not None and isinstance(like, tt):
        import torch
        return torch.empty(tuple(shape), dtype=getattr(torch, dtype), device=like.device)
    xp = array_module(like)
    if xp is np:
        return np.empty(tuple(shape), dtype=dtype)
    with like.device:
        return xp.empty(tuple(shape), dtype=dtype)


def ascontiguousarray(x):
    """A C-contiguous copy of a strided device array, by its own framework."""
    tt = _torch_tensor_type()
    if tt is not None and isinstance(x, tt):
        return x.contiguous()
    xp = array_module(x)
    if xp is np:
        return np.ascontiguousarray(x)
    with x.device:
        return xp.ascontiguousarray(x)


def to_device(x, device):
    """A copy of the numpy/CuPy array x on `device` ('cpu', 'cuda' or 'cuda:<index>'), or x itself when it
    is already there."""
    kind, _, index = device.partition(":")
    if kind == "cpu":
        return x if isinstance(x, np.ndarray) else x.get()
    if kind != "cuda":
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:<index>', got {device!r}")
    cupy = import_cupy()
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception:  # no driver: CuPy raises its CUDARuntimeError
        count = 0
    if count == 0:
        raise RuntimeError(f"cannot move a tensor to {device!r}: no CUDA device is available")
    target = int(index) if index else cupy.cuda.Device().id
    if isinstance(x, cupy.ndarray) and x.device.id == target:
        return x
    with cupy.cuda.Device(target):
        return cupy.asarray(x)
