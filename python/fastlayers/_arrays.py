"""Array helpers below both the autograd and the op layer (numpy or CuPy arrays; no Tensor here)."""
import builtins
import numbers

from ._device import array_module


def sum_to(grad, shape):
    """Sum a broadcast result's gradient back to an operand's shape."""
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, size in enumerate(shape)
                                      if size == 1 and grad.shape[lead + i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def shape_of(value):
    """An operand's shape; Python scalars are 0-d. (np.shape would build an array from a scalar.)"""
    return getattr(value, "shape", ())


def canonical_dim(dim, ndim):
    """`dim` in [0, ndim), accepting negative dims; a 0-d tensor accepts 0 and -1 (mapped to 0)."""
    if type(dim) is int and -ndim <= dim < ndim:  # the common case, without the slow ABC check
        return dim % ndim
    if isinstance(dim, builtins.bool) or not isinstance(dim, numbers.Integral):
        raise TypeError(f"dim must be an int, got {type(dim).__name__}")
    extent = builtins.max(ndim, 1)
    if not -extent <= dim < extent:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-extent}, {extent - 1}], "
                         f"but got {dim})")
    return int(dim) % extent


def expand_reduced(grad, shape, axes, keepdim):
    """Broadcast the gradient of a reduction back to the reduced input's shape."""
    if not keepdim:
        grad = grad.reshape(tuple(1 if axes is None or axis in axes else size for axis, size in enumerate(shape)))
    return array_module(grad).broadcast_to(grad, shape)


def is_basic_index(key):
    """Whether indexing with `key` selects each element at most once (no array or bool parts)."""
    return all(part is None or part is Ellipsis or isinstance(part, slice)
               or (isinstance(part, numbers.Integral) and not isinstance(part, builtins.bool))
               for part in key)
