"""Activations, softmax, PReLU and maxout (fastlayers.ops.activation)."""
import numpy as np

from ... import _C
from ...ops import activation as _act
from ._adapter import NN, check_float, check_tensor, records_in_place, take_result

__all__ = ["relu", "relu6", "leaky_relu", "elu", "selu", "celu", "gelu", "silu", "mish", "softplus", "sigmoid",
           "tanh", "hardtanh", "hardsigmoid", "hardswish", "softmax", "log_softmax", "prelu", "maxout"]


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


_NO_PARAMS = {}


def relu(input, inplace=False):
    """max(input, 0); the gradient at 0 is 0."""
    return _activation("relu", input, inplace, "relu", _NO_PARAMS)


def relu6(input, inplace=False):
    """min(max(input, 0), 6) (hardtanh(input, 0, 6))."""
    return _activation("relu6", input, inplace, *_act.relu6_kind())


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """input where positive, negative_slope * input elsewhere."""
    return _activation("leaky_relu", input, inplace, *_act.leaky_relu_kind(negative_slope))


def elu(input, alpha=1.0, inplace=False):
    """input where positive, alpha * (exp(input) - 1) elsewhere."""
    return _activation("elu", input, inplace, *_act.elu_kind(alpha))


def selu(input, inplace=False):
    """scale * elu(input, alpha) with the self-normalizing constants."""
    return _activation("selu", input, inplace, *_act.selu_kind())


def celu(input, alpha=1.0, inplace=False):
    """max(0, input) + min(0, alpha * (exp(input / alpha) - 1))."""
    return _activation("celu", input, inplace, *_act.celu_kind(alpha))


def gelu(input, approximate="none"):
    """input * Phi(input), or its tanh approximation with approximate='tanh'."""
    return _activation("gelu", input, False, *_act.gelu_kind(approximate))


def silu(input, inplace=False):
    """input * sigmoid(input)."""
    return _activation("silu", input, inplace, "silu", _NO_PARAMS)


def mish(input, inplace=False):
    """input * tanh(softplus(input))."""
    return _activation("mish", input, inplace, "mish", _NO_PARAMS)


def softplus(input, beta=1.0, threshold=20.0):
    """log(1 + exp(beta * input)) / beta, and input itself where beta * input > threshold."""
    return _activation("softplus", input, False, *_act.softplus_kind(beta, threshold))


def sigmoid(input):
    """1 / (1 + exp(-input))."""
    return _activation("sigmoid", input, False, "sigmoid", _NO_PARAMS)


def tanh(input):
    """Hyperbolic tangent."""
    return _activation("tanh", input, False, "tanh", _NO_PARAMS)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """input clamped to [min_val, max_val]; the gradient is 0 at and beyond the bounds."""
    return _activation("hardtanh", input, inplace, *_act.hardtanh_kind(min_val, max_val))


def hardsigmoid(input, inplace=False):
    """relu6(input + 3) / 6."""
    return _activation("hardsigmoid", input, inplace, "hardsigmoid", _NO_PARAMS)


def hardswish(input, inplace=False):
    """input * relu6(input + 3) / 6."""
    return _activation("hardswish", input, inplace, "hardswish", _NO_PARAMS)


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
