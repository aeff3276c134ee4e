"""Padding of the last axes: constant, reflect, replicate, circular (numpy or CuPy arrays).

Non-constant modes are gathers along each axis (index maps from numpy.pad of an arange), so the gradient is
the matching scatter-add, applied axis by axis. fastlayers.torch uses torch's own pad.
"""
import numbers

import numpy as np

from .._device import array_module

_NUMPY_PAD_MODE = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


class Pad:
    name = "pad"

    @staticmethod
    def forward(ctx, input, pads, mode, value):
        ctx.pads, ctx.mode, ctx.in_shape = pads, mode, input.shape
        width = [(0, 0)] * (input.ndim - len(pads)) + list(pads)
        if mode == "constant":
            return np.pad(input, width, mode="constant", constant_values=value)
        xp = array_module(input)
        ctx.index_maps = []
        out = input
        for axis, (lo, hi) in enumerate(width):
            if lo or hi:
                index = xp.asarray(np.pad(np.arange(input.shape[axis]), (lo, hi), mode=_NUMPY_PAD_MODE[mode]))
                ctx.index_maps.append((axis, index))
                out = xp.take(out, index, axis=axis)
        return out

    @staticmethod
    def backward(ctx, grad):
        if ctx.mode == "constant":
            lead = len(ctx.in_shape) - len(ctx.pads)
            index = (slice(None),) * lead + tuple(slice(lo, lo + n) for (lo, _), n in
                                                  zip(ctx.pads, ctx.in_shape[lead:]))
            return grad[index], None, None, None
        xp = array_module(grad)
        for axis, index in reversed(ctx.index_maps):
            shape = list(grad.shape)
            shape[axis] = ctx.in_shape[axis]
            folded = xp.zeros(shape, dtype=grad.dtype)
            xp.add.at(folded, (slice(None),) * axis + (index,), grad)
            grad = folded
        return grad, None, None, None


def pad(A, input, pad, mode="constant", value=None):
    """`pad` lists (left, right) pairs starting from the last axis, as torch.nn.functional.pad."""
    if not isinstance(pad, (tuple, list)) or len(pad) % 2 or not all(isinstance(p, numbers.Integral) for p in pad):
        raise ValueError(f"pad(): pad must be a sequence of an even number of ints, got {pad!r}")
    if len(pad) // 2 > input.ndim:
        raise ValueError(f"pad(): padding length {len(pad)} is too large for a {input.ndim}-D input")
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise ValueError(f"pad(): mode must be 'constant', 'reflect', 'replicate' or 'circular', got {mode!r}")
    if any(p < 0 for p in pad):
        raise ValueError(f"pad(): negative padding is not supported, got {tuple(pad)}")
    if mode != "constant" and value:
        raise ValueError(f"pad(): padding mode '{mode}' doesn't take a fill value")
    pairs = [(int(pad[2 * i]), int(pad[2 * i + 1])) for i in range(len(pad) // 2)][::-1]  # first axis first
    sizes = input.shape[input.ndim - len(pairs):]
    for (lo, hi), n in zip(pairs, sizes):
        if mode == "reflect" and max(lo, hi) >= n:
            raise ValueError(f"pad(): reflect padding ({lo}, {hi}) must be smaller than the dimension size {n}")
        if mode == "circular" and max(lo, hi) > n:
            raise ValueError(f"pad(): circular padding ({lo}, {hi}) must be at most the dimension size {n}")
    return A.apply("pad", Pad, input, tuple(pairs), mode, 0 if value is None else value)
