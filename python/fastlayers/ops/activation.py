"""Element-wise activations, softmax / log_softmax, PReLU and maxout.

Each activation function of torch.nn.functional maps to a kernel `kind` and its parameters (celu runs as elu
with an input scale, relu6 as hardtanh, selu as a scaled elu): `<name>_kind(...)` below give that mapping,
with the arguments checked, for both frameworks.
"""
import warnings

from ._args import is_int, number

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
# Kinds whose gradient the kernels take from the output (cheaper than recomputing from the input).
FROM_OUTPUT = {"sigmoid", "tanh"}


class Activation:
    name = "activation"

    @staticmethod
    def forward(ctx, K, input, kind, params):
        out = K.activation_forward(input, kind, **params)
        ctx.act = (kind, params)
        ctx.from_output = kind in FROM_OUTPUT
        ctx.save_for_backward(out if ctx.from_output else input)
        return out

    @staticmethod
    def backward(ctx, K, grad_output):
        (saved,) = ctx.saved_tensors
        kind, params = ctx.act
        return K.activation_backward(grad_output, saved, ctx.from_output, kind, **params), None, None


def relu6_kind():
    return "hardtanh", {"min_val": 0.0, "max_val": 6.0}


def leaky_relu_kind(negative_slope):
    return "leaky_relu", {"alpha": number(negative_slope, "leaky_relu", "negative_slope")}


def elu_kind(alpha):
    return "elu", {"alpha": number(alpha, "elu", "alpha")}


def selu_kind():
    return "elu", {"alpha": SELU_ALPHA, "scale": SELU_SCALE}


def celu_kind(alpha):
    alpha = number(alpha, "celu", "alpha")
    if alpha == 0:
        raise ValueError("celu(): ZeroDivisionError: alpha cannot be 0 for CELU, got alpha=0")
    return "elu", {"alpha": alpha, "input_scale": 1.0 / alpha}


def gelu_kind(approximate):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu(): approximate argument must be either none or tanh, got {approximate!r}")
    return ("gelu" if approximate == "none" else "gelu_tanh"), {}


def softplus_kind(beta, threshold):
    beta = number(beta, "softplus", "beta")
    threshold = number(threshold, "softplus", "threshold")
    if beta == 0:
        raise ValueError("softplus(): beta must be nonzero, got 0")
    return "softplus", {"beta": beta, "threshold": threshold}


def hardtanh_kind(min_val, max_val):
    min_val = number(min_val, "hardtanh", "min_val")
    max_val = number(max_val, "hardtanh", "max_val")
    if min_val > max_val:
        raise ValueError(f"hardtanh(): min_val cannot be greater than max_val, got min_val={min_val}, "
                         f"max_val={max_val}")
    return "hardtanh", {"min_val": min_val, "max_val": max_val}


class Softmax:
    name = "softmax"

    @staticmethod
    def forward(ctx, K, input, dim, log):
        out = K.softmax_forward(input, dim, log)
        ctx.save_for_backward(out)
        ctx.softmax = (dim, log)
        return out

    @staticmethod
    def backward(ctx, K, grad_output):
        (out,) = ctx.saved_tensors
        return K.softmax_backward(grad_output, out, *ctx.softmax), None, None


def softmax_dim(op, input, dim, stacklevel):
    """softmax's dim as a non-negative int; None picks torch's legacy default with its deprecation warning
    (stacklevel counts from the caller of this function)."""
    if dim is None:
        warnings.warn(f"Implicit dimension choice for {op} has been deprecated. Change the call to include "
                      "dim=X as an argument.", stacklevel=stacklevel + 1)
        dim = 0 if input.ndim in (0, 1, 3) else 1
    if not is_int(dim):
        raise TypeError(f"{op}(): argument 'dim' must be an int, not {type(dim).__name__}")
    extent = max(input.ndim, 1)
    if not -extent <= dim < extent:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-extent}, {extent - 1}], "
                         f"but got {dim})")
    return int(dim) % extent


class PReLU:
    name = "prelu"

    @staticmethod
    def forward(ctx, K, input, weight):
        ctx.save_for_backward(input, weight)
        return K.prelu_forward(input, weight)

    @staticmethod
    def backward(ctx, K, grad_output):
        input, weight = ctx.saved_tensors
        needs = ctx.needs_input_grad
        return tuple(K.prelu_backward(grad_output, input, weight, mask=(needs[0], needs[1])))


def prelu(A, input, weight):
    if weight.ndim > 1:
        raise ValueError(f"prelu(): weight must be 1-D, got shape {tuple(weight.shape)}")
    return A.apply("prelu", PReLU, input, weight)


class Maxout:
    name = "maxout"

    @staticmethod
    def forward(ctx, K, input, pieces, dim):
        ctx.save_for_backward(input)
        ctx.maxout = (pieces, dim)
        return K.maxout_forward(input, pieces, dim)

    @staticmethod
    def backward(ctx, K, grad_output):
        (input,) = ctx.saved_tensors
        return K.maxout_backward(grad_output, input, *ctx.maxout), None, None


def maxout(A, input, pieces, dim):
    """Maxout (Goodfellow et al., 2013): the maximum over each group of `pieces` consecutive entries of
    `dim`, which shrinks by a factor `pieces`. The gradient goes to the first maximum of each group."""
    if not is_int(pieces) or pieces < 1:
        raise ValueError(f"maxout(): pieces must be a positive integer, got {pieces!r}")
    if not is_int(dim):
        raise TypeError(f"maxout(): argument 'dim' must be an int, not {type(dim).__name__}")
    if input.ndim == 0 or not -input.ndim <= dim < input.ndim:
        raise IndexError(f"maxout(): dim {dim} is out of range for an input of shape {tuple(input.shape)}")
    dim = int(dim) % input.ndim
    if input.shape[dim] % pieces:
        raise ValueError(f"maxout(): the size of dim {dim} ({input.shape[dim]}) must be divisible by "
                         f"pieces={pieces}")
    return A.apply("maxout", Maxout, input, int(pieces), dim)
