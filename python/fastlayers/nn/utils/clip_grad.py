"""Gradient clipping, mirroring torch.nn.utils.clip_grad_norm_ and clip_grad_value_."""
import math

import numpy as np

from ...tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def _vector_norm(array, norm_type):
    """torch.linalg.vector_norm of a flattened array, in the array's dtype."""
    magnitude = np.abs(array.ravel())
    if norm_type == math.inf:
        return magnitude.max() if magnitude.size else array.dtype.type(0)
    if norm_type == -math.inf:
        return magnitude.min()
    if norm_type == 0:
        return array.dtype.type(np.count_nonzero(magnitude))
    if norm_type == 1:
        return magnitude.sum(dtype=array.dtype)
    if norm_type == 2:
        return np.sqrt(np.dot(magnitude, magnitude)).astype(array.dtype)
    return (magnitude ** norm_type).sum(dtype=array.dtype) ** (1.0 / norm_type)


def _scale_in_place(grad, factor):
    with np.errstate(invalid="ignore"):  # a non-finite norm scales by nan/0, silently, as in torch
        if grad.data.flags.writeable:
            grad.data *= factor
        else:  # a read-only view from the autograd: replace rather than write through it
            grad.data = grad.data * factor


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale the gradients of `parameters` in place so their joint `norm_type` norm (the norm of the
    per-gradient norms) is at most `max_norm`, and return that total norm (before clipping) as a 0-d
    Tensor. Gradients are scaled by min(1, max_norm / (total + 1e-6))."""
    grads = _grads(parameters)
    max_norm = float(max_norm)
    norm_type = float(norm_type)
    if not grads:
        return Tensor(np.array(0.0, dtype=np.float32))
    norms = np.stack([_vector_norm(g.data, norm_type) for g in grads])
    total = _vector_norm(norms, norm_type)
    total = np.asarray(total, dtype=norms.dtype)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so "
                           "it cannot be clipped. To disable this error and scale the gradients by the non-finite "
                           "norm anyway, set `error_if_nonfinite=False`")
    clip_coef = np.asarray(max_norm, dtype=total.dtype) / (total + total.dtype.type(1e-6))
    clip_coef = np.minimum(clip_coef, total.dtype.type(1.0))
    for grad in grads:
        _scale_in_place(grad, clip_coef.astype(grad.dtype))
    return Tensor(total)


def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient of `parameters` in place to [-clip_value, clip_value]."""
    clip_value = float(clip_value)
    for grad in _grads(parameters):
        if grad.data.flags.writeable:
            np.clip(grad.data, -clip_value, clip_value, out=grad.data)
        else:
            grad.data = np.clip(grad.data, -clip_value, clip_value)
