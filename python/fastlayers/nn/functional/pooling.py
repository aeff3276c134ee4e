"""Pooling (fastlayers.ops.pool)."""
import numpy as np

from ...ops import pool as _pool
from ...tensor import Tensor
from ._adapter import NN, check_float, check_tensor

__all__ = ["max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d",
           "max_unpool2d"]


def _input(input, op):
    check_tensor(input, op, "input")
    check_float(input, op)
    return input


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """2-D max pooling over (N, C, H, W) or (C, H, W); with return_indices also the int64 flat positions of the
    maxima within each H*W plane."""
    return _pool.max_pool(NN, "max_pool2d", 2, _input(input, "max_pool2d"), kernel_size, stride, padding, dilation,
                          ceil_mode, return_indices)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """1-D max pooling over (N, C, L) or (C, L)."""
    return _pool.max_pool(NN, "max_pool1d", 1, _input(input, "max_pool1d"), kernel_size, stride, padding, dilation,
                          ceil_mode, return_indices)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """2-D average pooling over (N, C, H, W) or (C, H, W)."""
    return _pool.avg_pool(NN, "avg_pool2d", 2, _input(input, "avg_pool2d"), kernel_size, stride, padding, ceil_mode,
                          count_include_pad, divisor_override)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """1-D average pooling over (N, C, L) or (C, L)."""
    return _pool.avg_pool(NN, "avg_pool1d", 1, _input(input, "avg_pool1d"), kernel_size, stride, padding, ceil_mode,
                          count_include_pad, None)


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed output_size (int, or pair with None meaning the input's size)."""
    op = "adaptive_avg_pool2d"
    return _pool.adaptive_pool(NN, op, _input(input, op), output_size)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max pooling to a fixed output_size; with return_indices also the int64 positions of the maxima."""
    op = "adaptive_max_pool2d"
    return _pool.adaptive_pool(NN, op, _input(input, op), output_size, return_indices)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Inverse of max_pool2d: each value placed at its index in a zero output; other positions stay zero. Where
    an index repeats (overlapping windows), the last value in row-major order wins."""
    op = "max_unpool2d"
    _input(input, op)
    if not isinstance(indices, Tensor):
        raise TypeError(f"{op}(): argument 'indices' must be a fastlayers.Tensor, not {type(indices).__name__}")
    if indices.dtype != np.int64:
        raise TypeError(f"{op}(): indices must have dtype int64, got {indices.dtype}")
    return _pool.max_unpool(NN, op, input, indices, kernel_size, stride, padding, output_size)
