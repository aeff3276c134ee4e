"""fastlayers.cuda: whether the CUDA kernels are compiled in and whether a GPU can run them.

    fastlayers.cuda.is_built()      # this build contains the kernels (FASTLAYERS_CUDA found nvcc)
    fastlayers.cuda.is_available()  # built, and a device is present with a working driver
    fastlayers.cuda.device_count()

None of these raises on a machine without a GPU or a driver; they answer False / 0.
"""
from . import _C

__all__ = ["is_built", "is_available", "device_count", "set_stream", "current_stream"]


def is_built():
    return bool(_C.cuda_is_built())


def device_count():
    return int(_C.cuda_device_count())


def is_available():
    return is_built() and device_count() > 0


def set_stream(stream):
    """Launch fastlayers' kernels from this thread on `stream` (a cudaStream_t as an int, or an object with
    a `.ptr` such as a CuPy stream, or a torch stream's `.cuda_stream`; 0 is the legacy default stream), an
    override of the default rule. None removes the override: each call then launches on the current stream
    of its arrays' framework (CuPy's current stream, cupy.cuda.get_current_stream(), for CuPy arrays; the
    legacy default stream for other CUDA arrays). fastlayers.torch launches on torch's current stream."""
    if stream is None:
        _C.cuda_set_stream(None)
        return
    ptr = getattr(stream, "ptr", None)
    if ptr is None:
        ptr = getattr(stream, "cuda_stream", stream)
    _C.cuda_set_stream(int(ptr))


def current_stream():
    """The override set by set_stream (an int), or None when launches follow the arrays' framework."""
    return _C.cuda_get_stream()
