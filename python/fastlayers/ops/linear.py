"""Linear: y = x @ weight.T + bias on a 2-D x (rows, in_features); leading dims are flattened into rows."""
import math

import numpy as np

from ._weighted import WeightedOp


class Linear(WeightedOp):
    name = "linear"


def check_shapes(input, weight):
    """input (*, in_features) and weight (out_features, in_features) or (in_features,)."""
    op = "linear"
    if input.ndim == 0 or weight.ndim == 0:
        raise RuntimeError(f"{op}(): both arguments to linear need to be at least 1D, but they are "
                           f"{input.ndim}D and {weight.ndim}D")
    if weight.ndim > 2:
        raise ValueError(f"{op}(): weight must be 2-D (out_features, in_features) or 1-D (in_features,), "
                         f"got shape {tuple(weight.shape)}")
    shape = tuple(input.shape)
    in_features = weight.shape[-1]
    out_features = weight.shape[0] if weight.ndim == 2 else 1
    if shape[-1] != in_features:
        rows = math.prod(shape[:-1])
        raise RuntimeError(f"{op}(): mat1 and mat2 shapes cannot be multiplied ({rows}x{shape[-1]} and "
                           f"{in_features}x{out_features}): input has {shape[-1]} features in its last dimension "
                           f"{shape}, weight {(out_features, in_features)} expects {in_features}")


def _general(A, input, weight, bias):
    """linear off the common case: leading dims flattened into rows, a 1-D weight (one output, its dimension
    dropped), a bias that is not (out_features,)."""
    ishape = tuple(input.shape)
    check_shapes(input, weight)
    vector_weight = weight.ndim == 1
    if vector_weight:
        weight = weight.unsqueeze(0)
    out_features, in_features = weight.shape[0], weight.shape[1]
    extra_bias = None
    if bias is not None and (vector_weight or tuple(bias.shape) != (out_features,)):
        out_shape = ishape[:-1] + (() if vector_weight else (out_features,))
        try:
            broadcast = np.broadcast_shapes(tuple(bias.shape), out_shape)
        except ValueError:
            broadcast = None
        if broadcast != out_shape:
            raise ValueError(f"linear(): bias must have shape ({out_features},) or broadcast to the output shape "
                             f"{out_shape}, got {tuple(bias.shape)}")
        extra_bias, bias = bias, None
    if len(ishape) == 2:
        out = A.apply("linear", Linear, input, weight, bias)
    else:
        out = A.apply("linear", Linear, input.reshape(math.prod(ishape[:-1]), in_features), weight, bias)
        out = out.reshape(ishape[:-1] + (out_features,))
    if vector_weight:
        out = out.squeeze(-1)
    return out if extra_bias is None else out + extra_bias


PUBLIC = ("linear",)


def public_functions(A):
    """torch.nn.functional.linear over adapter A."""

    def linear(input, weight, bias=None):
        """y = input @ weight.T + bias over the last dimension of input (*, in_features) -> (*, out_features).

        weight is (out_features, in_features), or (in_features,) for a single output whose dimension is
        dropped, as in torch; bias is (out_features,) or None, or broadcasts to the output (added after the
        product, as torch).
        """
        A.check_operands("linear", input, weight, bias)
        ishape, wshape = input.shape, weight.shape
        # The common case (2-D input and weight, bias (out_features,) or None) straight to the kernel: at batch 1
        # the checks below cost a sizeable part of the call.
        if len(ishape) == 2 and len(wshape) == 2 and ishape[1] == wshape[1] and (
                bias is None or bias.shape == wshape[:1]):
            return A.apply("linear", Linear, input, weight, bias)
        return _general(A, input, weight, bias)

    return (linear,)
