"""Dropout (fastlayers.ops.dropout), with the mask drawn from fastlayers' generator."""
import numpy as np

from ... import _C
from ... import random as _random
from ...ops import dropout as _dropout_op
from ._adapter import NN, check_tensor, records_in_place, take_result

__all__ = ["dropout", "dropout2d"]


def _dropout(op, input, p, training, inplace, mask_shape):
    check_tensor(input, op, "input")
    _dropout_op.check_p(p)
    if not training or p == 0:
        return input
    data = input.data
    if not isinstance(data, np.ndarray):  # ---- cuda ----: the counter-based mask kernel (scale folded in),
        seed = int(_random.default_generator().integers(2**63))  # seeded from fastlayers' generator
        mask, scale = _C.dropout_mask(data, mask_shape(data.shape), float(p), seed), 1.0
    else:
        # Keep each element (or channel) with probability 1 - p, drawn from fastlayers' generator.
        keep = _random.default_generator().random(mask_shape(data.shape)) >= p
        mask, scale = keep.astype(data.dtype), _dropout_op.scale(p)
    if not inplace:
        return NN.apply(op, _dropout_op.MaskScale, input, mask, scale)
    if records_in_place(input):
        return take_result(input, NN.apply(op, _dropout_op.MaskScale, input, mask, scale))
    data *= mask * data.dtype.type(scale)
    return input


def dropout(input, p=0.5, training=True, inplace=False):
    """Zeroes each element with probability p and scales the rest by 1 / (1 - p) (inverted dropout)."""
    return _dropout("dropout", input, p, training, inplace, _dropout_op.element_mask_shape)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zeroes whole channels of an (N, C, H, W) or (C, H, W) input with probability p; scales the rest
    by 1 / (1 - p)."""
    check_tensor(input, "dropout2d", "input")
    _dropout_op.check_dropout2d(input)
    return _dropout("dropout2d", input, p, training, inplace, _dropout_op.channel_mask_shape)
