"""Element-wise activations, softmax / log_softmax, PReLU and maxout.

Each activation function of torch.nn.functional maps to a kernel `kind` and its parameters (celu runs as elu
with an input scale, relu6 as hardtanh, selu as a scaled elu): `public_functions` below writes that mapping
once, with the arguments checked, for both frameworks.
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
    def forward(ctx, input, kind, params):
        K = ctx.K
        out = K.activation_forward(input, kind, **params)
        ctx.act = (kind, params)
        ctx.from_output = kind in FROM_OUTPUT
        ctx.save_for_backward(out if ctx.from_output else input)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        K = ctx.K
        (saved,) = ctx.saved_tensors
        kind, params = ctx.act
        return K.activation_backward(grad_output, saved, ctx.from_output, kind, **params), None, None


_NO_PARAMS = {}


def public_functions(A):
    """torch.nn.functional's activation functions, softmax, log_softmax, prelu and fastlayers' maxout, written
    once over adapter A (A.activation runs the Activation definition, in place or not, the framework's way).
    Returns them in the order of PUBLIC."""
    activation = A.activation

    def relu(input, inplace=False):
        """max(input, 0); the gradient at 0 is 0."""
        return activation("relu", input, inplace, "relu", _NO_PARAMS)

    def relu6(input, inplace=False):
        """min(max(input, 0), 6) (hardtanh(input, 0, 6))."""
        return activation("relu6", input, inplace, "hardtanh", {"min_val": 0.0, "max_val": 6.0})

    def leaky_relu(input, negative_slope=0.01, inplace=False):
        """input where positive, negative_slope * input elsewhere."""
        slope = number(negative_slope, "leaky_relu", "negative_slope")
        return activation("leaky_relu", input, inplace, "leaky_relu", {"alpha": slope})

    def elu(input, alpha=1.0, inplace=False):
        """input where positive, alpha * (exp(input) - 1) elsewhere."""
        return activation("elu", input, inplace, "elu", {"alpha": number(alpha, "elu", "alpha")})

    def selu(input, inplace=False):
        """scale * elu(input, alpha) with the self-normalizing constants."""
        return activation("selu", input, inplace, "elu", {"alpha": SELU_ALPHA, "scale": SELU_SCALE})

    def celu(input, alpha=1.0, inplace=False):
        """max(0, input) + min(0, alpha * (exp(input / alpha) - 1)): elu with an input scale."""
        alpha = number(alpha, "celu", "alpha")
        if alpha == 0:
            raise ValueError("celu(): ZeroDivisionError: alpha cannot be 0 for CELU, got alpha=0")
        return activation("celu", input, inplace, "elu", {"alpha": alpha, "input_scale": 1.0 / alpha})

    def gelu(input, approximate="none"):
        """input * Phi(input), or its tanh approximation with approximate='tanh'."""
        if approximate not in ("none", "tanh"):
            raise ValueError(f"gelu(): approximate argument must be either none or tanh, got {approximate!r}")
        return activation("gelu", input, False, "gelu" if approximate == "none" else "gelu_tanh", _NO_PARAMS)

    def silu(input, inplace=False):
        """input * sigmoid(input)."""
        return activation("silu", input, inplace, "silu", _NO_PARAMS)

    def mish(input, inplace=False):
        """input * tanh(softplus(input))."""
        return activation("mish", input, inplace, "mish", _NO_PARAMS)

    def softplus(input, beta=1.0, threshold=20.0):
        """log(1 + exp(beta * input)) / beta, and input itself where beta * input > threshold."""
        beta = number(beta, "softplus", "beta")
        threshold = number(threshold, "softplus", "threshold")
        if beta == 0:
            raise ValueError("softplus(): beta must be nonzero, got 0")
        return activation("softplus", input, False, "softplus", {"beta": beta, "threshold": threshold})

    def sigmoid(input):
        """1 / (1 + exp(-input))."""
        return activation("sigmoid", input, False, "sigmoid", _NO_PARAMS)

    def tanh(input):
        """Hyperbolic tangent."""
        return activation("tanh", input, False, "tanh", _NO_PARAMS)

    def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
        """input clamped to [min_val, max_val]; the gradient is 0 at and beyond the bounds."""
        min_val = number(min_val, "hardtanh", "min_val")
        max_val = number(max_val, "hardtanh", "max_val")
        if min_val > max_val:
            raise ValueError(f"hardtanh(): min_val cannot be greater than max_val, got min_val={min_val}, "
                             f"max_val={max_val}")
        return activation("hardtanh", input, inplace, "hardtanh", {"min_val": min_val, "max_val": max_val})

    def hardsigmoid(input, inplace=False):
        """relu6(input + 3) / 6."""
        return activation("hardsigmoid", input, inplace, "hardsigmoid", _NO_PARAMS)

    def hardswish(input, inplace=False):
        """input * relu6(input + 3) / 6."""
        return activation("hardswish", input, inplace, "hardswish", _NO_PARAMS)

    def _softmax(op, input, dim, stacklevel, dtype, log):
        A.check_operands(op, input)
        dim = softmax_dim(op, input, dim, stacklevel)
        if dtype is not None:
            input = input.to(dtype)
        A.check_float(op, input, "expected a float32 or float64 input, got")
        return A.apply(op, Softmax, input, dim, log)

    def softmax(input, dim=None, _stacklevel=3, dtype=None):
        """exp(input) / sum(exp(input)) along dim, computed stably (the row maximum subtracted first)."""
        return _softmax("softmax", input, dim, _stacklevel, dtype, False)

    def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
        """input - logsumexp(input) along dim."""
        return _softmax("log_softmax", input, dim, _stacklevel, dtype, True)

    def prelu(input, weight):
        """input where positive, weight * input elsewhere; weight has one element or one per channel (dim 1), its
        shape checked by the front door."""
        A.check_operands("prelu", input)
        A.check_tensors("prelu", weight=weight)
        A.check_like_input("prelu", input, weight=weight)
        return A.apply("prelu", PReLU, input, weight)

    def maxout(input, pieces, dim=1):
        """Maxout (Goodfellow et al., 2013): the maximum over each group of `pieces` consecutive entries of
        `dim`, which shrinks by a factor `pieces`. The gradient goes to the first maximum of each group."""
        A.check_operands("maxout", input)
        return _maxout(A, input, pieces, dim)

    return (relu, relu6, leaky_relu, elu, selu, celu, gelu, silu, mish, softplus, sigmoid, tanh, hardtanh,
            hardsigmoid, hardswish, softmax, log_softmax, prelu, maxout)


PUBLIC = ("relu", "relu6", "leaky_relu", "elu", "selu", "celu", "gelu", "silu", "mish", "softplus", "sigmoid",
          "tanh", "hardtanh", "hardsigmoid", "hardswish", "softmax", "log_softmax", "prelu", "maxout")


class Softmax:
    name = "softmax"

    @staticmethod
    def forward(ctx, input, dim, log):
        K = ctx.K
        out = K.softmax_forward(input, dim, log)
        ctx.save_for_backward(out)
        ctx.softmax = (dim, log)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        K = ctx.K
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
    def forward(ctx, input, weight):
        K = ctx.K
        ctx.save_for_backward(input, weight)
        return K.prelu_forward(input, weight)

    @staticmethod
    def backward(ctx, grad_output):
        K = ctx.K
        input, weight = ctx.saved_tensors
        needs = ctx.needs_input_grad
        return tuple(K.prelu_backward(grad_output, input, weight, mask=(needs[0], needs[1])))


class Maxout:
    name = "maxout"

    @staticmethod
    def forward(ctx, input, pieces, dim):
        K = ctx.K
        ctx.save_for_backward(input)
        ctx.maxout = (pieces, dim)
        return K.maxout_forward(input, pieces, dim)

    @staticmethod
    def backward(ctx, grad_output):
        K = ctx.K
        (input,) = ctx.saved_tensors
        return K.maxout_backward(grad_output, input, *ctx.maxout), None, None


def _maxout(A, input, pieces, dim):
    if not is_int(pieces) or pieces < 1:
        raise ValueError(f"maxout(): pieces must be a positive integer, got {pieces!r}")
    if not is_int(dim):
        raise TypeError(f"maxout(): argument 'dim' must be an int, not {type(dim).__name__}")
    if input.ndim == 0 or not -input.ndim <= dim < input.ndim:
        raise IndexError(f"maxout(): dim {dim} is out of range for an input of shape {tuple(input.shape)}")
    # the divisibility of dim by pieces is checked by the front door
    return A.apply("maxout", Maxout, input, int(pieces), int(dim) % input.ndim)
