"""Argument normalizers shared by the op families: Python values in, plain ints / floats / tuples out, with
errors naming the op and the argument."""
import numbers


def is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def as_tuple(value, n, op, arg):
    """An int or a sequence of n ints as a tuple of n ints, with an error naming the argument."""
    # Fast path for what modules pass on every call (plain ints, tuples of them): no ABC isinstance checks.
    kind = type(value)
    if kind is int:
        return (value,) * n
    if kind is tuple and len(value) == n:
        for v in value:
            if type(v) is not int:
                break
        else:
            return value
    if is_int(value):
        return (int(value),) * n
    if isinstance(value, (tuple, list)) and len(value) == n and all(is_int(v) for v in value):
        return tuple(int(v) for v in value)
    raise TypeError(f"{op}(): argument '{arg}' must be an int or a tuple of {n} ints, got {value!r}")


def check_positive(values, op, arg):
    if any(v < 1 for v in values):
        raise ValueError(f"{op}(): {arg} must be positive, got {values}")


def number(value, op, arg):
    """A real number argument as a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{op}(): argument '{arg}' must be a number, not {type(value).__name__}")
    return float(value)


def per_channel_shapes(op, input, **params):
    """(C,) per-channel parameters (None allowed) for an (N, C, *) input."""
    C = input.shape[1]
    for name, p in params.items():
        if p is not None and tuple(p.shape) != (C,):
            raise ValueError(f"{op}(): expected {name} of shape ({C},) for an input with {C} channels, "
                             f"got {tuple(p.shape)}")


def batched(input, nd):
    """input with a batch axis (unsqueezed when it has nd + 1 dims) and whether it had none; any tensor type."""
    if input.ndim == nd + 1:
        return input.unsqueeze(0), True
    return input, False
