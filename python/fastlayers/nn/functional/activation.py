"""Activations, softmax, PReLU and maxout (fastlayers.ops.activation)."""
import numpy as np

from ... import _C
from ...ops import activation as _act
from ._adapter import NN, check_float, check_tensor, records_in_place, take_result

__all__ = list(_act.ACTIVATIONS) + ["softmax", "log_softmax", "prelu", "maxout"]


def _activation(op, input, inplace, kind, params):
    """Applies activation `kind`. In place (inplace=True): without a graph to record, the input's array is
    overwritten; while recording, the input Tensor takes the result (see take_result)."""
    check_tensor(input, op, "input")
    if not inplace:
        return NN.apply(op, _act.Activation, input, kind, params)
    if records_in_place(input):
        return take_result(input, NN.apply(op, _act.Activation, input, kind, params))
    data = input.data
    if isinstance(data, np.ndarray) and data.flags.c_contiguous and data.flags.writeable:
        _C.activation_forward(data, kind, out=data, **params)
    else:
        data[...] = _C.activation_forward(data, kind, **params)
    return input


(relu, relu6, leaky_relu, elu, selu, celu, gelu, silu, mish, softplus, sigmoid, tanh, hardtanh, hardsigmoid,
 hardswish) = _act.public_functions(_activation)


def _softmax(op, input, dim, stacklevel, dtype, log):
    check_tensor(input, op, "input")
    dim = _act.softmax_dim(op, input, dim, stacklevel)
    if dtype is not None:
        input = input.to(dtype)
    check_float(input, op, "expected a float32 or float64 input, got")
    return NN.apply(op, _act.Softmax, input, dim, log)


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    """exp(input) / sum(exp(input)) along dim, computed stably (the row maximum subtracted first)."""
    return _softmax("softmax", input, dim, _stacklevel, dtype, False)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    """input - logsumexp(input) along dim."""
    return _softmax("log_softmax", input, dim, _stacklevel, dtype, True)


def prelu(input, weight):
    """input where positive, weight * input elsewhere; weight has one element or one per channel (dim 1)."""
    check_tensor(input, "prelu", "input")
    check_tensor(weight, "prelu", "weight")
    if weight.dtype != input.dtype:
        raise TypeError(f"prelu(): weight must have the input's dtype {input.dtype}, got {weight.dtype}")
    return _act.prelu(NN, input, weight)


def maxout(input, pieces, dim=1):
    """Maxout (Goodfellow et al., 2013): the maximum over each group of `pieces` consecutive entries of
    `dim`, which shrinks by a factor `pieces`. The gradient goes to the first maximum of each group."""
    check_tensor(input, "maxout", "input")
    return _act.maxout(NN, input, pieces, dim)
