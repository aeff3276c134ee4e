"""Pooling: max, average, adaptive average / max, max unpooling (1-D ones run as 2-D over a height of 1).

Sizes and windows are checked by the C++ front door (csrc/ops/pool2d.cpp: positive kernel, stride and
dilation, padding at most half the kernel, an output of at least one element); only the argument forms are
normalized here.
"""
from ._args import as_tuple, is_int


class MaxPool2d:
    """Fixed windows: (output, int64 flat indices of the maxima within each H*W plane); the backward scatters
    the gradient to those positions."""
    name = "max_pool2d"

    @staticmethod
    def pool(K, input, *params):
        return K.max_pool2d_forward(input, *params)

    @classmethod
    def forward(cls, ctx, input, *params):
        output, indices = cls.pool(ctx.K, input, *params)
        ctx.indices, ctx.input_size, ctx.n_params = indices, tuple(input.shape[2:]), len(params)
        ctx.mark_non_differentiable(indices)
        return output, indices

    @staticmethod
    def backward(ctx, grad_output, _grad_indices=None):
        return (ctx.K.max_pool2d_backward(grad_output, ctx.indices, ctx.input_size),) + (None,) * ctx.n_params


class AdaptiveMaxPool2d(MaxPool2d):
    """Max pooling to a fixed output size: the same indices and backward as MaxPool2d."""
    name = "adaptive_max_pool2d"

    @staticmethod
    def pool(K, input, output_size):
        return K.adaptive_max_pool2d_forward(input, output_size)


class AvgPool2d:
    name = "avg_pool2d"

    @staticmethod
    def forward(ctx, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor):
        K = ctx.K
        ctx.pool = (kernel_size, stride, padding, ceil_mode, count_include_pad, divisor)
        ctx.input_size = tuple(input.shape[2:])
        return K.avg_pool2d_forward(input, *ctx.pool)

    @staticmethod
    def backward(ctx, grad_output):
        K = ctx.K
        return (K.avg_pool2d_backward(grad_output, ctx.input_size, *ctx.pool),) + (None,) * 6


class AdaptiveAvgPool2d:
    name = "adaptive_avg_pool2d"

    @staticmethod
    def forward(ctx, input, output_size):
        K = ctx.K
        ctx.input_size = tuple(input.shape[2:])
        return K.adaptive_avg_pool2d_forward(input, output_size)

    @staticmethod
    def backward(ctx, grad_output):
        K = ctx.K
        return K.adaptive_avg_pool2d_backward(grad_output, ctx.input_size), None


class MaxUnpool2d:
    name = "max_unpool2d"
    index_arguments = (1,)  # int64 indices: not a float operand

    @staticmethod
    def forward(ctx, input, indices, output_size):
        K = ctx.K
        ctx.indices = indices
        return K.max_unpool2d_forward(input, indices, output_size)

    @staticmethod
    def backward(ctx, grad_output):
        K = ctx.K
        return K.max_unpool2d_backward(grad_output, ctx.indices), None, None


def check_input(op, nd, input):
    """A non-empty pooling input of nd spatial dims, batched or not."""
    shape = input.shape
    ndim = len(shape)
    if (ndim != nd + 2 and ndim != nd + 1) or 0 in tuple(shape[ndim - nd - 1:]):
        raise ValueError(f"{op}(): expected a non-empty {nd + 1}-D (unbatched) or {nd + 2}-D (batched) input, "
                         f"got input of shape {tuple(shape)}")


def pool_args(op, nd, kernel_size, stride, padding, dilation):
    """(kernel, stride, padding, dilation) as tuples of nd ints; stride None or () means the kernel size."""
    kernel = as_tuple(kernel_size, nd, op, "kernel_size")
    stride = kernel if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) else \
        as_tuple(stride, nd, op, "stride")
    return kernel, stride, as_tuple(padding, nd, op, "padding"), as_tuple(dilation, nd, op, "dilation")


def _as_2d(nd, *tuples):
    """1-D pooling parameters as 2-D ones over a height of 1 (window 1, stride 1, padding 0)."""
    if nd == 2:
        return tuples
    kernel, stride, padding, *rest = tuples
    return ((1, kernel[0]), (1, stride[0]), (0, padding[0])) + tuple((1, t[0]) for t in rest)


def _unbatch(out, nd, unbatched):
    if nd == 1:
        out = out.squeeze(2)
    return out.squeeze(0) if unbatched else out


def max_pool(A, op, nd, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    check_input(op, nd, input)
    kernel, stride, padding, dilation = _as_2d(nd, *pool_args(op, nd, kernel_size, stride, padding, dilation))
    unbatched = input.ndim == nd + 1
    x = input.unsqueeze(0) if unbatched else input
    output, indices = A.apply(op, MaxPool2d, x.unsqueeze(2) if nd == 1 else x, kernel, stride, padding, dilation,
                              bool(ceil_mode))
    output = _unbatch(output, nd, unbatched)
    return (output, _unbatch(indices, nd, unbatched)) if return_indices else output


def divisor(op, divisor_override):
    """avg_pool's divisor_override as the kernel's divisor argument (0: none)."""
    if divisor_override is None:
        return 0
    if not is_int(divisor_override):
        raise TypeError(f"{op}(): divisor_override must be an int or None, got {divisor_override!r}")
    if divisor_override == 0:
        raise ValueError(f"{op}(): divisor must be not zero, got divisor_override={divisor_override}")
    return int(divisor_override)


def avg_pool(A, op, nd, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    check_input(op, nd, input)
    kernel, stride, padding = _as_2d(nd, *pool_args(op, nd, kernel_size, stride, padding, 1)[:3])
    div = divisor(op, divisor_override)
    unbatched = input.ndim == nd + 1
    x = input.unsqueeze(0) if unbatched else input
    output = A.apply(op, AvgPool2d, x.unsqueeze(2) if nd == 1 else x, kernel, stride, padding, bool(ceil_mode),
                     bool(count_include_pad), div)
    return _unbatch(output, nd, unbatched)


def adaptive_output_size(op, output_size, input_size):
    """output_size as an int or a pair whose None entries keep the input's size."""
    if output_size is None or isinstance(output_size, bool):
        raise TypeError(f"{op}(): output_size must be an int or a tuple of 2 ints or None, got {output_size!r}")
    if is_int(output_size):
        output_size = (output_size, output_size)
    if not isinstance(output_size, (tuple, list)) or len(output_size) != 2 or not all(
            v is None or is_int(v) for v in output_size):
        raise TypeError(f"{op}(): output_size must be an int or a tuple of 2 ints or None, got {output_size!r}")
    size = tuple(int(n) if v is None else int(v) for v, n in zip(output_size, input_size))
    if any(v < 1 for v in size):
        raise ValueError(f"{op}(): output_size must be positive, got {tuple(output_size)}")
    return size


def adaptive_pool(A, op, input, output_size, return_indices=False):
    """adaptive_avg_pool2d, or adaptive_max_pool2d (op names it) with its indices when return_indices."""
    check_input(op, 2, input)
    unbatched = input.ndim == 3
    x = input.unsqueeze(0) if unbatched else input
    size = adaptive_output_size(op, output_size, tuple(x.shape[2:]))
    if op == "adaptive_avg_pool2d":
        return _unbatch(A.apply(op, AdaptiveAvgPool2d, x, size), 2, unbatched)
    output, indices = A.apply(op, AdaptiveMaxPool2d, x, size)
    output = _unbatch(output, 2, unbatched)
    return (output, _unbatch(indices, 2, unbatched)) if return_indices else output


def unpool_output_size(op, input_shape, kernel_size, stride, padding, output_size):
    """The (H, W) of max_unpool2d's output for a batched (N, C, H, W) input shape, checked as torch does."""
    kernel, stride, padding, _ = pool_args(op, 2, kernel_size, stride, padding, 1)
    default = tuple((n - 1) * s - 2 * p + k for n, s, p, k in zip(input_shape[2:], stride, padding, kernel))
    if output_size is None:
        return default
    given = tuple(output_size) if isinstance(output_size, (tuple, list)) else None
    if given is not None and len(given) == 4:
        given = given[2:]
    if given is None or len(given) != 2 or not all(is_int(v) for v in given):
        raise ValueError(f"{op}(): output_size must have 2 or 4 elements, got {output_size!r}")
    for v, d, s in zip(given, default, stride):
        if not d - s < v < d + s:
            raise ValueError(f"{op}(): invalid output_size {tuple(output_size)} (dim {v} must be between "
                             f"{d - s} and {d + s})")
    return tuple(int(v) for v in given)


def max_unpool(A, op, input, indices, kernel_size, stride, padding, output_size):
    """max_unpool2d; indices of the input's shape (the caller checks their type and dtype)."""
    check_input(op, 2, input)
    unbatched = input.ndim == 3
    x = input.unsqueeze(0) if unbatched else input
    if unbatched:
        indices = indices.unsqueeze(0)
    if tuple(indices.shape) != tuple(x.shape):
        raise ValueError(f"{op}(): expected indices of the input's shape {tuple(x.shape)}, "
                         f"got {tuple(indices.shape)}")
    size = unpool_output_size(op, x.shape, kernel_size, stride, padding, output_size)
    return _unbatch(A.apply(op, MaxUnpool2d, x, indices, size), 2, unbatched)


PUBLIC = ("max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d",
          "max_unpool2d")


def public_functions(A):
    """torch.nn.functional's poolings over adapter A, in the order of PUBLIC."""

    def _input(op, input):
        A.check_operands(op, input)
        A.check_float(op, input)
        return input

    def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
        """1-D max pooling over (N, C, L) or (C, L)."""
        return max_pool(A, "max_pool1d", 1, _input("max_pool1d", input), kernel_size, stride, padding, dilation,
                        ceil_mode, return_indices)

    def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
        """2-D max pooling over (N, C, H, W) or (C, H, W); with return_indices also the int64 flat positions of
        the maxima within each H*W plane."""
        return max_pool(A, "max_pool2d", 2, _input("max_pool2d", input), kernel_size, stride, padding, dilation,
                        ceil_mode, return_indices)

    def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        """1-D average pooling over (N, C, L) or (C, L)."""
        return avg_pool(A, "avg_pool1d", 1, _input("avg_pool1d", input), kernel_size, stride, padding, ceil_mode,
                        count_include_pad, None)

    def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                   divisor_override=None):
        """2-D average pooling over (N, C, H, W) or (C, H, W)."""
        return avg_pool(A, "avg_pool2d", 2, _input("avg_pool2d", input), kernel_size, stride, padding, ceil_mode,
                        count_include_pad, divisor_override)

    def adaptive_avg_pool2d(input, output_size):
        """Average pooling to a fixed output_size (int, or pair with None meaning the input's size)."""
        return adaptive_pool(A, "adaptive_avg_pool2d", _input("adaptive_avg_pool2d", input), output_size)

    def adaptive_max_pool2d(input, output_size, return_indices=False):
        """Max pooling to a fixed output_size; with return_indices also the int64 positions of the maxima."""
        return adaptive_pool(A, "adaptive_max_pool2d", _input("adaptive_max_pool2d", input), output_size,
                             return_indices)

    def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
        """Inverse of max_pool2d: each value placed at its index in a zero output; other positions stay zero.
        Where an index repeats (overlapping windows), the last value in row-major order wins."""
        _input("max_unpool2d", input)
        A.check_indices("max_unpool2d", indices)
        return max_unpool(A, "max_unpool2d", input, indices, kernel_size, stride, padding, output_size)

    return max_pool1d, max_pool2d, avg_pool1d, avg_pool2d, adaptive_avg_pool2d, adaptive_max_pool2d, max_unpool2d
