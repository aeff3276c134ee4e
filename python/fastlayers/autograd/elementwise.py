"""The differentiable operations between layers that fastlayers.Tensor's methods and functions call (arithmetic,
reductions, reshapes, indexing, concatenation, casts, device moves). Each forward works on raw arrays (numpy or
CuPy); Function.apply does the wrapping. The classes' names give the grad_fn names (Add -> AddBackward)."""
import builtins
import math

import numpy as np

from .. import _device
from .._arrays import canonical_dim, expand_reduced, is_basic_index, shape_of, sum_to
from .._device import array_module
from .function import Function


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (shape_of(a), shape_of(b))
        return a + b

    @staticmethod
    def backward(ctx, grad):
        need_a, need_b = ctx.needs_input_grad
        return (sum_to(grad, ctx.shapes[0]) if need_a else None,
                sum_to(grad, ctx.shapes[1]) if need_b else None)


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (shape_of(a), shape_of(b))
        return a - b

    @staticmethod
    def backward(ctx, grad):
        need_a, need_b = ctx.needs_input_grad
        return (sum_to(grad, ctx.shapes[0]) if need_a else None,
                sum_to(-grad, ctx.shapes[1]) if need_b else None)


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        need_a, need_b = ctx.needs_input_grad
        ctx.shapes = (shape_of(a), shape_of(b))
        ctx.save_for_backward(a if need_b else None, b if need_a else None)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (sum_to(grad * b, ctx.shapes[0]) if need_a else None,
                sum_to(grad * a, ctx.shapes[1]) if need_b else None)


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (shape_of(a), shape_of(b))
        ctx.save_for_backward(a if ctx.needs_input_grad[1] else None, b)
        return a / b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (sum_to(grad / b, ctx.shapes[0]) if need_a else None,
                sum_to(-grad * a / (b * b), ctx.shapes[1]) if need_b else None)


class Pow(Function):
    @staticmethod
    def forward(ctx, a, b):
        out = a ** b
        ctx.shapes = (shape_of(a), shape_of(b))
        ctx.save_for_backward(a, b, out if ctx.needs_input_grad[1] else None)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        xp = array_module(grad)
        grad_a = grad_b = None
        # the inf and nan that a = 0 produces below are masked out, as torch does: no warnings
        with np.errstate(divide="ignore", invalid="ignore"):
            if need_a:
                # zero where the exponent is 0, even at a = 0 where b * a ** (b - 1) is nan
                grad_a = sum_to(grad * xp.where(b == 0, 0, b * a ** (b - 1)), ctx.shapes[0])
            if need_b:
                # zero where a = 0 and b >= 0, the limit of a ** b * log(a)
                grad_b = sum_to(grad * xp.where((a == 0) & (b >= 0), 0, out * xp.log(a)), ctx.shapes[1])
        return grad_a, grad_b


class MatMul(Function):
    """torch.matmul: 1-D operands become a row (left) or a column (right) vector; batch dims broadcast."""

    @staticmethod
    def forward(ctx, a, b):
        need_a, need_b = ctx.needs_input_grad
        ctx.save_for_backward(a if need_b else None, b if need_a else None)
        ctx.shapes = (shape_of(a), shape_of(b))
        try:
            return a @ b
        except ValueError as error:  # numpy's message names neither shape
            raise RuntimeError(f"matmul(): shapes {ctx.shapes[0]} and {ctx.shapes[1]} cannot be multiplied") from error

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        a_shape, b_shape = ctx.shapes
        # with 1-D operands promoted to matrices, one batched formula covers every case
        a_matrix = (1,) + a_shape if len(a_shape) == 1 else a_shape
        b_matrix = b_shape + (1,) if len(b_shape) == 1 else b_shape
        batch = np.broadcast_shapes(a_matrix[:-2], b_matrix[:-2])
        grad = grad.reshape(batch + (a_matrix[-2], b_matrix[-1]))
        xp = array_module(grad)
        grad_a = grad_b = None
        if need_a:
            grad_a = sum_to(grad @ xp.swapaxes(b.reshape(b_matrix), -1, -2), a_matrix).reshape(a_shape)
        if need_b:
            grad_b = sum_to(xp.swapaxes(a.reshape(a_matrix), -1, -2) @ grad, b_matrix).reshape(b_shape)
        return grad_a, grad_b


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, grad):
        return -grad


def _unary(name, forward, backward, from_output, doc):
    """A Function of one array: forward(xp, a) -> out; backward(xp, grad, saved) -> the input's gradient, where
    saved is the output (from_output) or the input."""

    def fn_forward(ctx, a):
        out = forward(array_module(a), a)
        ctx.save_for_backward(out if from_output else a)
        return out

    def fn_backward(ctx, grad):
        (saved,) = ctx.saved_tensors
        return backward(array_module(grad), grad, saved)

    return type(name, (Function,), {"__doc__": doc, "__module__": __name__, "forward": staticmethod(fn_forward),
                                    "backward": staticmethod(fn_backward)})


Exp = _unary("Exp", lambda xp, a: xp.exp(a), lambda xp, grad, out: grad * out, True, "e^a")
Log = _unary("Log", lambda xp, a: xp.log(a), lambda xp, grad, a: grad / a, False, "natural logarithm")
Sqrt = _unary("Sqrt", lambda xp, a: xp.sqrt(a), lambda xp, grad, out: grad / (2 * out), True, "square root")
# sign(0) = 0: no gradient at the kink, as torch
Abs = _unary("Abs", lambda xp, a: xp.abs(a), lambda xp, grad, a: grad * xp.sign(a), False, "absolute value")


class Clamp(Function):
    @staticmethod
    def forward(ctx, a, low, high):
        xp = array_module(a)
        if ctx.needs_input_grad[0]:
            inside = xp.ones(a.shape, np.bool_)
            if low is not None:
                inside &= a >= low
            if high is not None:
                inside &= a <= high
            ctx.save_for_backward(inside)
        return xp.clip(a, low, high)

    @staticmethod
    def backward(ctx, grad):
        (inside,) = ctx.saved_tensors
        return array_module(grad).where(inside, grad, 0), None, None


def _elementwise_extreme(name, largest):
    """maximum (largest) or minimum of two arrays; the gradient goes to the selected operand, halved on ties."""

    def fn_forward(ctx, a, b):
        ctx.shapes = (shape_of(a), shape_of(b))
        ctx.save_for_backward(a, b)
        xp = array_module(a)
        return xp.maximum(a, b) if largest else xp.minimum(a, b)

    def fn_backward(ctx, grad):
        a, b = ctx.saved_tensors
        return _split_between(grad, a, b, a < b, a > b, ctx) if largest else \
            _split_between(grad, a, b, a > b, a < b, ctx)

    return type(name, (Function,), {"__module__": __name__, "forward": staticmethod(fn_forward),
                                    "backward": staticmethod(fn_backward)})


Maximum = _elementwise_extreme("Maximum", True)
Minimum = _elementwise_extreme("Minimum", False)


def _split_between(grad, a, b, a_loses, b_loses, ctx):
    """maximum/minimum's gradient as torch defines it: to the selected operand, halved on ties."""
    xp = array_module(grad)
    shared = xp.where(a == b, grad / 2, grad)
    need_a, need_b = ctx.needs_input_grad
    return (sum_to(xp.where(a_loses, 0, shared), ctx.shapes[0]) if need_a else None,
            sum_to(xp.where(b_loses, 0, shared), ctx.shapes[1]) if need_b else None)


class Where(Function):
    @staticmethod
    def forward(ctx, condition, a, b):
        ctx.shapes = (shape_of(a), shape_of(b))
        ctx.save_for_backward(condition)
        return array_module(condition).where(condition, a, b)

    @staticmethod
    def backward(ctx, grad):
        (condition,) = ctx.saved_tensors
        xp = array_module(grad)
        _, need_a, need_b = ctx.needs_input_grad
        return (None,
                sum_to(xp.where(condition, grad, 0), ctx.shapes[0]) if need_a else None,
                sum_to(xp.where(condition, 0, grad), ctx.shapes[1]) if need_b else None)


class Sum(Function):
    @staticmethod
    def forward(ctx, a, axes, keepdim):
        ctx.reduced = (a.shape, axes, keepdim)
        return a.sum(axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, grad):
        return expand_reduced(grad, *ctx.reduced), None, None


class Mean(Function):
    @staticmethod
    def forward(ctx, a, axes, keepdim):
        ctx.reduced = (a.shape, axes, keepdim)
        ctx.count = a.size if axes is None else math.prod(a.shape[axis] for axis in axes)
        return a.mean(axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, grad):
        return expand_reduced(grad / ctx.count, *ctx.reduced), None, None


class Var(Function):
    @staticmethod
    def forward(ctx, a, axes, correction, keepdim):
        centered = a - a.mean(axis=axes, keepdims=True)
        count = a.size if axes is None else math.prod(a.shape[axis] for axis in axes)
        ctx.divisor = builtins.max(count - correction, 0)  # 0 gives inf/nan, as torch
        ctx.axes = axes
        ctx.keepdim = keepdim
        ctx.save_for_backward(centered)
        return (centered * centered).sum(axis=axes, keepdims=keepdim) / ctx.divisor

    @staticmethod
    def backward(ctx, grad):
        (centered,) = ctx.saved_tensors
        scale = 2.0 / ctx.divisor if ctx.divisor else math.inf
        return expand_reduced(grad, centered.shape, ctx.axes, ctx.keepdim) * centered * scale, None, None, None


class Max(Function):
    largest = True

    @classmethod
    def forward(cls, ctx, a, dim, keepdim):
        return _extremum_forward(ctx, a, dim, keepdim, cls.largest)

    @staticmethod
    def backward(ctx, grad, *unused_index_grad):
        return _extremum_backward(ctx, grad)


class Min(Max):
    largest = False


def _extremum_forward(ctx, a, dim, keepdim, largest):
    """max/min over everything (one output) or along `dim` (values and int64 indices)."""
    xp = array_module(a)
    ctx.shape = a.shape
    ctx.dim = dim
    ctx.keepdim = keepdim
    if dim is None:
        out = a.max() if largest else a.min()
        if ctx.needs_input_grad[0]:
            # torch splits the gradient evenly among tied extrema; a NaN, when present, is the extremum
            ctx.save_for_backward(xp.isnan(a) if xp.isnan(out) else a == out)
        return out
    indices = (a.argmax if largest else a.argmin)(axis=dim, keepdims=True)
    values = xp.take_along_axis(a, indices, axis=dim)
    ctx.save_for_backward(indices)
    if not keepdim:
        values, indices = values.squeeze(dim), indices.squeeze(dim)
    return values, indices.astype(np.int64, copy=False)


def _extremum_backward(ctx, grad):
    (saved,) = ctx.saved_tensors
    xp = array_module(grad)
    if ctx.dim is None:
        ties = saved
        return xp.where(ties, grad / int(ties.sum()), 0), None, None
    if not ctx.keepdim:
        grad = xp.expand_dims(grad, ctx.dim)
    full = xp.zeros(ctx.shape, grad.dtype)
    xp.put_along_axis(full, saved, grad, axis=ctx.dim)
    return full, None, None


def arg_extremum(a, dim, keepdim, largest):
    find = a.argmax if largest else a.argmin
    if dim is None:
        flat = array_module(a).asarray(find())
        return flat.reshape((1,) * a.ndim if keepdim else ()).astype(np.int64, copy=False)
    axis = canonical_dim(dim, a.ndim)
    if a.ndim == 0:
        return array_module(a).zeros((), np.int64)
    return find(axis=axis, keepdims=keepdim).astype(np.int64, copy=False)


class Reshape(Function):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        return a.reshape(shape)

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.shape), None


class Permute(Function):
    @staticmethod
    def forward(ctx, a, order):
        ctx.inverse = tuple(np.argsort(order))
        return array_module(a).transpose(a, order)

    @staticmethod
    def backward(ctx, grad):
        return array_module(grad).transpose(grad, ctx.inverse), None


class Expand(Function):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        return array_module(a).broadcast_to(a, shape)

    @staticmethod
    def backward(ctx, grad):
        return sum_to(grad, ctx.shape), None


class GetItem(Function):
    @staticmethod
    def forward(ctx, a, key):
        ctx.shape = a.shape
        ctx.key = key
        return a[key]

    @staticmethod
    def backward(ctx, grad):
        xp = array_module(grad)
        full = xp.zeros(ctx.shape, grad.dtype)
        if is_basic_index(ctx.key):
            full[ctx.key] = grad
        else:
            xp.add.at(full, ctx.key, grad)  # an index may repeat: its gradients add up
        return full, None


class Cat(Function):
    @staticmethod
    def forward(ctx, dim, *arrays):
        ctx.dim = dim
        ctx.sizes = [array.shape[dim] for array in arrays]
        return array_module(arrays[0]).concatenate(arrays, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        bounds = np.cumsum(ctx.sizes)[:-1].tolist()
        return (None, *array_module(grad).split(grad, bounds, axis=ctx.dim))


class Stack(Function):
    @staticmethod
    def forward(ctx, dim, *arrays):
        ctx.dim = dim
        return array_module(arrays[0]).stack(arrays, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        return (None, *array_module(grad).moveaxis(grad, ctx.dim, 0))


class Cast(Function):
    @staticmethod
    def forward(ctx, a, dtype):
        return a.astype(dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad, None  # the engine casts it back to the input's dtype


class Clone(Function):
    @staticmethod
    def forward(ctx, a):
        return a.copy()

    @staticmethod
    def backward(ctx, grad):
        return grad


class Contiguous(Function):
    @staticmethod
    def forward(ctx, a):
        return array_module(a).ascontiguousarray(a)

    @staticmethod
    def backward(ctx, grad):
        return grad


# ---- cuda ----
class ToDevice(Function):
    """A copy on another device; the gradient goes back to the source device."""

    @staticmethod
    def forward(ctx, a, device):
        ctx.source = _device.device_of(a)
        return _device.to_device(a, device)

    @staticmethod
    def backward(ctx, grad):
        return _device.to_device(grad, ctx.source), None
