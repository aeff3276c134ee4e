"""fastlayers.Tensor: an array (numpy on the CPU, CuPy later) with torch-style autograd, the factories that
create one, and the differentiable operations a model needs between its layers.

dtypes follow torch: Python floats become float32, Python ints int64, bools bool, and numpy arrays keep
their dtype. Arithmetic promotes as numpy 2 does (a Python scalar never widens a float32 tensor).

This module exports `bool` and `abs`, as torch does, so inside it the builtins are only ever reached
as `builtins.bool` and `builtins.abs`.
"""
import builtins
import collections
import math
import operator
import weakref

import numpy as np

from . import _device
from ._arrays import canonical_dim, sum_to
from ._device import array_module
from . import random as _random
from .autograd import _tensor_type
from .autograd import engine as _engine
from .autograd import grad_mode as _grad_mode
from .autograd.function import _as_array
from .autograd.elementwise import (Add, Sub, Mul, Div, Pow, MatMul, Neg, Exp, Log, Sqrt, Abs, Clamp, Maximum,
                                      Minimum, Where, Sum, Mean, Var, Max, Min, Reshape, Permute, Expand,
                                      GetItem, Cat, Stack, Cast, Clone, Contiguous, ToDevice, arg_extremum)

__all__ = [
    "Tensor", "tensor", "from_numpy",
    "zeros", "ones", "empty", "full", "arange", "randn", "rand",
    "zeros_like", "ones_like", "empty_like", "full_like", "randn_like", "rand_like",
    "cat", "stack", "matmul", "exp", "log", "sqrt", "abs", "clamp", "where", "maximum", "minimum",
    "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool",
]

float16 = np.dtype(np.float16)
float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int8 = np.dtype(np.int8)
int16 = np.dtype(np.int16)
int32 = np.dtype(np.int32)
int64 = np.dtype(np.int64)
uint8 = np.dtype(np.uint8)
bool_ = np.dtype(np.bool_)

# The dtype a Tensor gets from Python data of each numpy kind when no dtype is given.
_DEFAULT_DTYPE_FOR_KIND = {"f": float32, "c": np.dtype(np.complex64), "i": int64, "u": int64, "b": bool_}

_LEAF_IN_PLACE_MESSAGE = "a leaf Variable that requires grad is being used in an in-place operation."

ValuesIndices = collections.namedtuple("ValuesIndices", ["values", "indices"])
ValuesIndices.__doc__ = "What max(dim) and min(dim) return: the extreme values and their indices along dim."


def _is_array(value):
    """Whether `value` is a numpy or CuPy array."""
    return isinstance(value, np.ndarray) or array_module(value) is not np


def _to_host(array):
    return array if isinstance(array, np.ndarray) else array.get()


def _dtype(dtype):
    return None if dtype is None else np.dtype(dtype)


def _to_array(data, dtype, copy):
    """`data` as an array: arrays (and Tensors' arrays) keep their dtype, Python data gets torch's
    defaults; `dtype` overrides. With copy False an array of the right dtype is shared, not copied."""
    if isinstance(data, Tensor):
        data = data.data
    if _is_array(data):
        if copy:  # a fresh C-contiguous copy, as torch.tensor makes
            return data.astype(data.dtype if dtype is None else dtype, order="C", copy=True)
        return data.astype(data.dtype if dtype is None else dtype, copy=False)
    if isinstance(data, np.generic):
        return np.array(data, dtype=dtype)
    array = np.array(data)
    if dtype is None:
        dtype = _DEFAULT_DTYPE_FOR_KIND.get(array.dtype.kind)
        if dtype is None:
            raise TypeError(f"can't convert data of type {type(data).__name__} (numpy dtype {array.dtype}) "
                            "to a Tensor")
    return array.astype(dtype, copy=False)


def _make(data, requires_grad=False, grad_fn=None, output_nr=0):
    """A Tensor around an array without the constructor's conversions: the autograd's hot path."""
    tensor = object.__new__(Tensor)
    tensor.data = data
    tensor._requires_grad = requires_grad
    tensor._grad = None
    tensor._grad_fn = grad_fn
    tensor._output_nr = output_nr
    tensor._retains_grad = False
    return tensor


def _operand(value):
    return value.data if isinstance(value, Tensor) else value


def _reduction_axes(dim, ndim):
    """None (every axis) or a sorted tuple of axes; a 0-d tensor reduces over no axis."""
    if dim is None:
        return None
    dims = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
    if not dims:
        return None  # torch reduces every dimension for an empty dim list
    axes = [canonical_dim(d, ndim) for d in dims]
    if len(set(axes)) != len(axes):
        raise RuntimeError(f"dim {dims} lists a dimension more than once")
    return tuple(sorted(axes)) if ndim else ()


def _shape_args(args):
    """Sizes given as varargs or as one tuple/list, as a tuple of ints."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = args[0]
    if type(args) is tuple:  # already a tuple of plain ints: nothing to convert
        for size in args:
            if type(size) is not int:
                break
        else:
            return args
    try:
        return tuple(operator.index(size) for size in args)
    except TypeError:
        raise TypeError(f"sizes must be ints, got {tuple(args)!r}") from None


def _index_key(key):
    """An index as a tuple of numpy-ready parts: Tensors unwrapped, lists as arrays, and boolean masks
    as the integer arrays of their nonzero positions (numpy's own equivalence), so that the backward
    can scatter-add through integer indices alone."""
    parts = []
    for part in key if isinstance(key, tuple) else (key,):
        if isinstance(part, Tensor):
            part = part.data
        elif isinstance(part, list):
            part = np.asarray(part)
        if _is_array(part) and part.dtype == bool_ and part.ndim > 0:
            parts.extend(part.nonzero())
        else:
            parts.append(part)
    return tuple(parts)


class Tensor:
    """An n-dimensional array with autograd.

    `Tensor(data, requires_grad=False)` wraps an array without copying it (other data is converted with
    `tensor()`'s dtype rules); use `fastlayers.tensor(data)` for a copy.
    """

    __slots__ = ("data", "_requires_grad", "_grad", "_grad_fn", "_output_nr", "_retains_grad", "__weakref__")

    # numpy defers to our reflected operators (ndarray + Tensor -> Tensor.__radd__) instead of
    # broadcasting over the Tensor as an object.
    __array_ufunc__ = None

    def __init__(self, data, requires_grad=False):
        self.data = _to_array(data, None, copy=False)
        self._requires_grad = False
        self._grad = None
        self._grad_fn = None
        self._output_nr = 0
        self._retains_grad = False
        if requires_grad:
            self.requires_grad = True

    # ------------------------------------------------------------------------------------------------
    # Attributes

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def device(self):
        device = self.data.device  # numpy >= 2 reports the string "cpu"; CuPy a Device object
        return device if isinstance(device, str) else f"cuda:{device.id}"

    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, requires_grad):
        requires_grad = builtins.bool(requires_grad)
        if self._grad_fn is not None:
            if not requires_grad:
                raise RuntimeError(
                    "you can only change requires_grad flags of leaf variables. If you want to use a computed "
                    "variable in a subgraph that doesn't require differentiation use var_no_grad = var.detach().")
            return
        if requires_grad and self.dtype.kind not in "fc":
            raise RuntimeError(f"only Tensors of floating point dtype can require gradients, got {self.dtype}")
        self._requires_grad = requires_grad

    @property
    def grad(self):
        return self._grad

    @grad.setter
    def grad(self, grad):
        if grad is not None:
            if not isinstance(grad, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got {type(grad).__name__}")
            if grad.shape != self.shape:
                raise RuntimeError(f"assigned grad has data of a different size: grad shape {grad.shape}, "
                                   f"tensor shape {self.shape}")
            if grad.dtype != self.dtype:
                raise RuntimeError(f"assigned grad has data of a different type: grad dtype {grad.dtype}, "
                                   f"tensor dtype {self.dtype}")
        self._grad = grad

    @property
    def grad_fn(self):
        return self._grad_fn

    @property
    def is_leaf(self):
        return self._grad_fn is None

    @property
    def retains_grad(self):
        return self._retains_grad

    @property
    def T(self):
        return self.permute(*reversed(range(self.ndim)))

    def dim(self):
        return self.data.ndim

    def size(self, dim=None):
        if dim is None:
            return self.shape
        if self.ndim == 0:
            raise IndexError(f"dimension specified as {dim} but tensor has no dimensions")
        return self.shape[canonical_dim(dim, self.ndim)]

    def numel(self):
        return int(self.data.size)

    def is_contiguous(self):
        return builtins.bool(self.data.flags.c_contiguous)

    # ------------------------------------------------------------------------------------------------
    # Autograd

    def backward(self, gradient=None, retain_graph=None):
        """Accumulate d(self)/d(leaf), weighted by `gradient` (a Tensor, array or number; may be omitted
        for a one-element tensor), into the `.grad` of every leaf that requires grad."""
        _engine.backward((self,), (gradient,), retain_graph)

    def requires_grad_(self, requires_grad=True):
        self.requires_grad = requires_grad
        return self

    def retain_grad(self):
        """Keep this non-leaf's gradient in `.grad` during backward (leaves always keep theirs)."""
        if not self._requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        node = self._grad_fn
        if node is None:
            return
        if node._retained is None:
            node._retained = {}
        node._retained[self._output_nr] = weakref.ref(self)
        self._retains_grad = True

    def detach(self):
        """A new leaf sharing this tensor's data, outside the graph."""
        return _make(self.data)

    def detach_(self):
        self._grad_fn = None
        self._requires_grad = False
        return self

    # ------------------------------------------------------------------------------------------------
    # Conversions

    def numpy(self):
        """The underlying numpy array (shared, not copied)."""
        if self._requires_grad:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        if not isinstance(self.data, np.ndarray):
            raise TypeError(f"can't convert {self.device} device type tensor to numpy; copy it to the host first")
        return self.data

    def __array__(self, dtype=None, copy=None):
        array = self.numpy()
        if dtype is not None and np.dtype(dtype) != array.dtype:
            if copy is False:
                raise ValueError(f"converting a {array.dtype} Tensor to {np.dtype(dtype)} requires a copy")
            return array.astype(dtype)
        return array.copy() if copy else array

    def item(self):
        if self.data.size != 1:
            raise RuntimeError(f"a Tensor with {self.data.size} elements cannot be converted to Scalar")
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def __bool__(self):
        if self.data.size != 1:
            raise RuntimeError(f"Boolean value of Tensor with {self.data.size} values is ambiguous")
        return builtins.bool(self.data.item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.dtype.kind not in "iub" or self.data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return operator.index(self.item())

    def to(self, *args, dtype=None, copy=False, device=None):
        """`to(dtype)`, `to(device)`, `to(other_tensor)` (its dtype), `to(device, dtype)`. A device move
        ('cpu', 'cuda', 'cuda:1'; CuPy holds GPU arrays) is differentiable."""
        for arg in args:
            if isinstance(arg, Tensor):
                dtype = arg.dtype
            elif isinstance(arg, str) and arg.split(":")[0] in ("cpu", "cuda"):
                device = arg
            else:
                dtype = arg
        dtype = self.dtype if dtype is None else np.dtype(dtype)
        moved = self
        if device is not None and not _device.is_on(self.data, device):
            moved, copy = ToDevice.apply(self, device), False
        if dtype == moved.dtype:
            return moved.clone() if copy else moved
        return Cast.apply(moved, dtype)

    def float(self):
        return self.to(float32)

    def double(self):
        return self.to(float64)

    def half(self):
        return self.to(float16)

    def long(self):
        return self.to(int64)

    def int(self):
        return self.to(int32)

    def bool(self):
        return self.to(bool_)

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else f"cuda:{operator.index(device)}")

    def clone(self):
        return Clone.apply(self)

    def contiguous(self):
        return self if self.is_contiguous() else Contiguous.apply(self)

    # ------------------------------------------------------------------------------------------------
    # Python protocol

    def __repr__(self):
        body = np.array2string(_to_host(self.data), separator=", ", prefix="tensor(")
        extras = []
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self.dtype not in (float32, int64, bool_):
            extras.append(f"dtype=fastlayers.{self.dtype.name}")
        if self._grad_fn is not None:
            extras.append(f"grad_fn=<{self._grad_fn.name()}>")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body] + extras) + ")"

    def __format__(self, spec):
        if self.ndim == 0:
            return format(self.item(), spec)
        return format(repr(self), spec)

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    __hash__ = object.__hash__  # defining __eq__ would otherwise make Tensors unhashable

    # ------------------------------------------------------------------------------------------------
    # Differentiable arithmetic

    def __add__(self, other):
        return Add.apply(self, other)

    def __radd__(self, other):
        return Add.apply(other, self)

    def __sub__(self, other):
        return Sub.apply(self, other)

    def __rsub__(self, other):
        return Sub.apply(other, self)

    def __mul__(self, other):
        return Mul.apply(self, other)

    def __rmul__(self, other):
        return Mul.apply(other, self)

    def __truediv__(self, other):
        return Div.apply(self, other)

    def __rtruediv__(self, other):
        return Div.apply(other, self)

    def __pow__(self, exponent):
        return Pow.apply(self, exponent)

    def __rpow__(self, base):
        return Pow.apply(base, self)

    def __matmul__(self, other):
        return MatMul.apply(self, other)

    def __rmatmul__(self, other):
        return MatMul.apply(other, self)

    def __neg__(self):
        return Neg.apply(self)

    def __abs__(self):
        return Abs.apply(self)

    def pow(self, exponent):
        return Pow.apply(self, exponent)

    def matmul(self, other):
        return MatMul.apply(self, other)

    def neg(self):
        return Neg.apply(self)

    def exp(self):
        return Exp.apply(self)

    def log(self):
        return Log.apply(self)

    def sqrt(self):
        return Sqrt.apply(self)

    def abs(self):
        return Abs.apply(self)

    def clamp(self, min=None, max=None):
        """Limit to [min, max] (numbers); the gradient passes where min <= x <= max, bounds included."""
        if min is None and max is None:
            raise RuntimeError("clamp(): at least one of 'min' or 'max' must not be None")
        if isinstance(min, Tensor) or isinstance(max, Tensor):
            raise TypeError("clamp(): min and max must be numbers")
        return Clamp.apply(self, min, max)

    def maximum(self, other):
        return Maximum.apply(self, other)

    def minimum(self, other):
        return Minimum.apply(self, other)

    # In-place arithmetic updates the data when no gradient is involved (e.g. an optimizer step under
    # no_grad). The autograd records no in-place operations: with a gradient involved, the out-of-place
    # result is returned and Python rebinds the name (`out += identity` in a residual block still works).
    def _inplace(self, other, array_op, out_of_place):
        if _grad_mode._state.enabled and (self._requires_grad or (isinstance(other, Tensor) and other._requires_grad)):
            if self._requires_grad and self._grad_fn is None:
                raise RuntimeError(_LEAF_IN_PLACE_MESSAGE)
            return out_of_place(self, other)
        self.data = array_op(self.data, _operand(other))  # the array's own in-place operator: same object
        return self

    def __iadd__(self, other):
        return self._inplace(other, operator.iadd, Tensor.__add__)

    def __isub__(self, other):
        return self._inplace(other, operator.isub, Tensor.__sub__)

    def __imul__(self, other):
        return self._inplace(other, operator.imul, Tensor.__mul__)

    def __itruediv__(self, other):
        return self._inplace(other, operator.itruediv, Tensor.__truediv__)

    def _check_inplace(self, op, value=None):
        if _grad_mode._state.enabled:
            if self._requires_grad and self._grad_fn is None:
                raise RuntimeError(_LEAF_IN_PLACE_MESSAGE)
            if self._requires_grad or (isinstance(value, Tensor) and value._requires_grad):
                raise RuntimeError(f"{op}: the autograd does not record in-place operations; use an "
                                   "out-of-place operation or run it under no_grad()")

    def zero_(self):
        self._check_inplace("zero_")
        self.data[...] = 0
        return self

    def fill_(self, value):
        self._check_inplace("fill_", value)
        self.data[...] = _operand(value)
        return self

    def copy_(self, src):
        self._check_inplace("copy_", src)
        self.data[...] = _operand(src)
        return self

    def __setitem__(self, key, value):
        self._check_inplace("__setitem__", value)
        self.data[_index_key(key)] = _operand(value)

    # ------------------------------------------------------------------------------------------------
    # Comparisons and logic: bool results, outside the graph

    def __eq__(self, other):
        return _make(_as_array(self.data == _operand(other)))

    def __ne__(self, other):
        return _make(_as_array(self.data != _operand(other)))

    def __lt__(self, other):
        return _make(_as_array(self.data < _operand(other)))

    def __le__(self, other):
        return _make(_as_array(self.data <= _operand(other)))

    def __gt__(self, other):
        return _make(_as_array(self.data > _operand(other)))

    def __ge__(self, other):
        return _make(_as_array(self.data >= _operand(other)))

    def __and__(self, other):
        return _make(_as_array(self.data & _operand(other)))

    def __or__(self, other):
        return _make(_as_array(self.data | _operand(other)))

    def __xor__(self, other):
        return _make(_as_array(self.data ^ _operand(other)))

    def __invert__(self):
        return _make(_as_array(~self.data))

    __rand__ = __and__
    __ror__ = __or__
    __rxor__ = __xor__

    def argmax(self, dim=None, keepdim=False):
        return _make(arg_extremum(self.data, dim, keepdim, largest=True))

    def argmin(self, dim=None, keepdim=False):
        return _make(arg_extremum(self.data, dim, keepdim, largest=False))

    # ------------------------------------------------------------------------------------------------
    # Reductions

    def sum(self, dim=None, keepdim=False):
        return Sum.apply(self, _reduction_axes(dim, self.ndim), keepdim)

    def mean(self, dim=None, keepdim=False):
        self._require_float("mean")
        return Mean.apply(self, _reduction_axes(dim, self.ndim), keepdim)

    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        """Variance over `dim` with `correction` subtracted from the element count (1 by default, Bessel's);
        `unbiased` is the older spelling (True: correction 1, False: 0)."""
        if isinstance(dim, builtins.bool):  # torch's var(unbiased) overload
            dim, unbiased = None, dim
        if unbiased is not None and correction is not None:
            raise TypeError("var(): pass either unbiased or correction, not both")
        if correction is None:
            correction = 1 if unbiased is None or unbiased else 0
        self._require_float("var")
        return Var.apply(self, _reduction_axes(dim, self.ndim), correction, keepdim)

    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return self.var(dim, unbiased, keepdim, correction=correction).sqrt()

    def max(self, dim=None, keepdim=False):
        """The largest element; with `dim`, (values, indices) along it, the gradient going to the
        returned index; with a Tensor, the elementwise maximum."""
        return self._extremum(dim, keepdim, Max, maximum)

    def min(self, dim=None, keepdim=False):
        return self._extremum(dim, keepdim, Min, minimum)

    def _extremum(self, dim, keepdim, function, elementwise):
        if isinstance(dim, Tensor):
            return elementwise(self, dim)
        if dim is None:
            return function.apply(self, None, False)
        if self.ndim == 0:
            values, indices = self.reshape(1)._extremum(dim, False, function, elementwise)
            return ValuesIndices(values.reshape(()), indices.reshape(()))
        return ValuesIndices(*function.apply(self, canonical_dim(dim, self.ndim), keepdim))

    def _require_float(self, op):
        if self.dtype.kind not in "fc":
            raise RuntimeError(f"{op}(): input dtype must be floating point or complex, got {self.dtype}")

    # ------------------------------------------------------------------------------------------------
    # Shape

    def reshape(self, *shape):
        return Reshape.apply(self, _shape_args(shape))

    def view(self, *shape):
        """Same as reshape: numpy decides whether the result shares memory."""
        return Reshape.apply(self, _shape_args(shape))

    def flatten(self, start_dim=0, end_dim=-1):
        if self.ndim == 0:
            return self.reshape(1)
        start = canonical_dim(start_dim, self.ndim)
        end = canonical_dim(end_dim, self.ndim)
        if start > end:
            raise RuntimeError(f"flatten(): start_dim {start_dim} cannot come after end_dim {end_dim}")
        shape = self.shape
        return self.reshape(shape[:start] + (math.prod(shape[start:end + 1]),) + shape[end + 1:])

    def unsqueeze(self, dim):
        axis = canonical_dim(dim, self.ndim + 1)
        return self.reshape(self.shape[:axis] + (1,) + self.shape[axis:])

    def squeeze(self, dim=None):
        """Drop size-1 dimensions (those listed in `dim` if given; others are left as they are)."""
        if dim is None:
            axes = range(self.ndim)
        else:
            axes = [canonical_dim(d, self.ndim) for d in (dim if isinstance(dim, (tuple, list)) else (dim,))]
        drop = {axis for axis in axes if self.ndim and self.shape[axis] == 1}
        return self.reshape(tuple(size for axis, size in enumerate(self.shape) if axis not in drop))

    def permute(self, *dims):
        dims = _shape_args(dims)
        order = tuple(canonical_dim(d, self.ndim) for d in dims)
        if sorted(order) != list(range(self.ndim)):
            raise RuntimeError(f"permute(): dims {dims} are not a permutation of the dimensions of a tensor "
                               f"of shape {self.shape}")
        return Permute.apply(self, order)

    def transpose(self, dim0, dim1):
        order = list(range(self.ndim))
        a, b = canonical_dim(dim0, self.ndim), canonical_dim(dim1, self.ndim)
        if self.ndim:
            order[a], order[b] = order[b], order[a]
        return Permute.apply(self, tuple(order))

    def t(self):
        if self.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {self.ndim}D")
        return self.transpose(0, -1)

    def expand(self, *sizes):
        """Broadcast to `sizes` (-1 keeps a dimension); new dimensions go in front."""
        sizes = _shape_args(sizes)
        lead = len(sizes) - self.ndim
        if lead < 0:
            raise RuntimeError(f"expand(): the number of sizes provided ({len(sizes)}) must be greater or equal "
                               f"to the number of dimensions in the tensor ({self.ndim})")
        if any(size == -1 for size in sizes[:lead]):
            raise RuntimeError(f"expand(): -1 is not allowed for a new leading dimension, got {sizes}")
        target = sizes[:lead] + tuple(own if size == -1 else size for size, own in zip(sizes[lead:], self.shape))
        return Expand.apply(self, target)

    def expand_as(self, other):
        return self.expand(other.shape)

    def __getitem__(self, key):
        return GetItem.apply(self, _index_key(key))


# ----------------------------------------------------------------------------------------------------
# Creation


def tensor(data, dtype=None, requires_grad=False):
    """A new Tensor holding a copy of `data`: Python floats -> float32, ints -> int64, bools -> bool;
    numpy arrays and scalars keep their dtype; `dtype` overrides."""
    return Tensor(_to_array(data, _dtype(dtype), copy=True), requires_grad=requires_grad)


def from_numpy(array):
    """A Tensor sharing memory with the numpy array `array`."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy() expected a numpy.ndarray, got {type(array).__name__}")
    return Tensor(array)


def _float_dtype(dtype, op):
    dtype = _dtype_or_default(dtype)
    if dtype.kind != "f":
        raise TypeError(f"{op}(): expected a floating point dtype, got {dtype}")
    return dtype


def _dtype_or_default(dtype):
    return float32 if dtype is None else np.dtype(dtype)


def zeros(*size, dtype=None, requires_grad=False):
    return Tensor(np.zeros(_shape_args(size), dtype=_dtype_or_default(dtype)), requires_grad)


def ones(*size, dtype=None, requires_grad=False):
    return Tensor(np.ones(_shape_args(size), dtype=_dtype_or_default(dtype)), requires_grad)


def empty(*size, dtype=None, requires_grad=False):
    return Tensor(np.empty(_shape_args(size), dtype=_dtype_or_default(dtype)), requires_grad)


def full(size, fill_value, dtype=None, requires_grad=False):
    """A tensor of `size` filled with `fill_value`, whose type gives the dtype unless `dtype` is given."""
    if dtype is None:
        dtype = _to_array(_operand(fill_value), None, copy=False).dtype
    return Tensor(np.full(_shape_args((size,)), _operand(fill_value), dtype=np.dtype(dtype)), requires_grad)


def arange(start, end=None, step=1, dtype=None, requires_grad=False):
    """Values from start (0 when only one bound is given) up to end, excluded; int64 unless a bound,
    the step or `dtype` is a float."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        dtype = float32 if any(isinstance(v, (float, np.floating)) for v in (start, end, step)) else int64
    return Tensor(np.arange(start, end, step, dtype=np.dtype(dtype)), requires_grad)


def randn(*size, dtype=None, requires_grad=False, generator=None):
    """Standard normal samples from fastlayers' global generator (see fastlayers.manual_seed)."""
    return Tensor(_sample("randn", _shape_args(size), dtype, generator, normal=True), requires_grad)


def rand(*size, dtype=None, requires_grad=False, generator=None):
    """Uniform samples in [0, 1) from fastlayers' global generator (see fastlayers.manual_seed)."""
    return Tensor(_sample("rand", _shape_args(size), dtype, generator, normal=False), requires_grad)


def _sample(op, shape, dtype, generator, normal):
    dtype = _float_dtype(dtype, op)
    generator = _random.default_generator() if generator is None else generator
    draw = generator.standard_normal if normal else generator.random
    # numpy's generators produce float32 and float64 directly; other float types are rounded from float32
    native = dtype if dtype in (float32, float64) else float32
    return draw(shape, dtype=native).astype(dtype, copy=False)


def _like(input, dtype):
    return input.shape, (input.dtype if dtype is None else np.dtype(dtype))


def zeros_like(input, dtype=None, requires_grad=False):
    shape, dtype = _like(input, dtype)
    return zeros(shape, dtype=dtype, requires_grad=requires_grad)


def ones_like(input, dtype=None, requires_grad=False):
    shape, dtype = _like(input, dtype)
    return ones(shape, dtype=dtype, requires_grad=requires_grad)


def empty_like(input, dtype=None, requires_grad=False):
    shape, dtype = _like(input, dtype)
    return empty(shape, dtype=dtype, requires_grad=requires_grad)


def full_like(input, fill_value, dtype=None, requires_grad=False):
    shape, dtype = _like(input, dtype)
    return full(shape, fill_value, dtype=dtype, requires_grad=requires_grad)


def randn_like(input, dtype=None, requires_grad=False):
    shape, dtype = _like(input, dtype)
    return randn(shape, dtype=dtype, requires_grad=requires_grad)


def rand_like(input, dtype=None, requires_grad=False):
    shape, dtype = _like(input, dtype)
    return rand(shape, dtype=dtype, requires_grad=requires_grad)


# ----------------------------------------------------------------------------------------------------
# Functions of several tensors, and function forms of the methods


def cat(tensors, dim=0):
    """Concatenate along an existing dimension."""
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("cat(): expected a non-empty list of Tensors")
    ndim = np.ndim(_operand(tensors[0]))
    if ndim == 0:
        raise RuntimeError("cat(): zero-dimensional tensors cannot be concatenated")
    return Cat.apply(canonical_dim(dim, ndim), *tensors)


def stack(tensors, dim=0):
    """Join along a new dimension."""
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack(): expected a non-empty list of Tensors")
    return Stack.apply(canonical_dim(dim, np.ndim(_operand(tensors[0])) + 1), *tensors)


def _lift(value):
    return value if isinstance(value, Tensor) else Tensor(value)


def matmul(input, other):
    return MatMul.apply(input, other)


def exp(input):
    return _lift(input).exp()


def log(input):
    return _lift(input).log()


def sqrt(input):
    return _lift(input).sqrt()


def clamp(input, min=None, max=None):
    return _lift(input).clamp(min, max)


def maximum(input, other):
    return Maximum.apply(input, other)


def minimum(input, other):
    return Minimum.apply(input, other)


def where(condition, input, other):
    """`input` where `condition` holds, else `other` (broadcast); the condition gets no gradient."""
    return Where.apply(condition, input, other)


# Public names that shadow builtins inside this module (see the module docstring).
def abs(input):  # noqa: A001
    return _lift(input).abs()


bool = bool_  # noqa: A001


_tensor_type.register(Tensor, _make)
