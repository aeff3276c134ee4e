"""Functional forms of the layers, mirroring torch.nn.functional's names, arguments and defaults."""
import numbers

import numpy as np

from .. import _C
from ..autograd import Function
from .._device import array_module
from ..tensor import Tensor

__all__ = ["conv1d", "conv2d", "pad"]


def _check_tensor(value, op, arg, optional=False):
    if value is None and optional:
        return
    if not isinstance(value, Tensor):
        raise TypeError(f"{op}(): argument '{arg}' must be a fastlayers.Tensor, not {type(value).__name__}")


def _tuple(value, n, op, arg):
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
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return (int(value),) * n
    if isinstance(value, (tuple, list)) and len(value) == n and all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value):
        return tuple(int(v) for v in value)
    raise TypeError(f"{op}(): argument '{arg}' must be an int or a tuple of {n} ints, got {value!r}")


def _check_positive(values, op, arg):
    if any(v < 1 for v in values):
        raise ValueError(f"{op}(): {arg} must be positive, got {values}")


# ---------------------------------------------------------------------------------------------------------
# Convolution


class _Conv2d(Function):
    @staticmethod
    def forward(ctx, input, weight, bias, stride, padding, dilation, groups):
        ctx.save_for_backward(input, weight)
        ctx.conv = (stride, padding, dilation, groups)
        return _C.conv2d_forward(input, weight, bias, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, grad_output):
        input, weight = ctx.saved_tensors
        needs = ctx.needs_input_grad
        grad_input, grad_weight, grad_bias = _C.conv2d_backward(
            grad_output, input, weight, *ctx.conv, mask=(needs[0], needs[1], needs[2]))
        return grad_input, grad_weight, grad_bias, None, None, None, None


def _same_padding(kernel, dilation):
    """Per axis (left, right) padding that keeps the size at stride 1; the odd extra goes right, as torch."""
    total = [d * (k - 1) for k, d in zip(kernel, dilation)]
    return [(t // 2, t - t // 2) for t in total]


def _conv_args(op, nd, input, weight, bias, stride, padding, dilation, groups):
    """Checks the arguments of an nd convolution given anything with .ndim and .shape (fastlayers.torch uses it
    on torch tensors). Returns (stride, padding, dilation, same_pad): same_pad is the `pad` argument of the
    explicit right padding that an asymmetric 'same' needs first, or None."""
    if input.ndim not in (nd + 1, nd + 2):
        raise ValueError(f"{op}(): expected {nd + 1}-D (unbatched) or {nd + 2}-D (batched) input, "
                         f"got input of shape {tuple(input.shape)}")
    if weight.ndim != nd + 2:
        raise ValueError(f"{op}(): expected weight of {nd + 2} dims (out_channels, in_channels/groups, *kernel), "
                         f"got shape {tuple(weight.shape)}")
    if bias is not None and (bias.ndim != 1 or bias.shape[0] != weight.shape[0]):
        raise ValueError(f"{op}(): expected bias of shape ({weight.shape[0]},), got {tuple(bias.shape)}")
    if type(groups) is not int and (not isinstance(groups, numbers.Integral) or isinstance(groups, bool)) \
            or groups < 1:
        raise ValueError(f"{op}(): groups must be a positive integer, got {groups!r}")
    stride = _tuple(stride, nd, op, "stride")
    dilation = _tuple(dilation, nd, op, "dilation")
    _check_positive(stride, op, "stride")
    _check_positive(dilation, op, "dilation")
    kernel = tuple(weight.shape[2:])
    same_pad = None
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0,) * nd
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{op}(): padding='same' is not supported for strided convolutions")
            pairs = _same_padding(kernel, dilation)
            extra = [r - l for l, r in pairs]
            if any(extra):
                # Asymmetric: pad the extra element on the right explicitly, the rest symmetrically.
                same_pad = []
                for e in reversed(extra):
                    same_pad += [0, e]
            padding = tuple(l for l, _ in pairs)
        else:
            raise ValueError(f"{op}(): padding must be 'valid', 'same', an int or a tuple of {nd} ints, "
                             f"got {padding!r}")
    else:
        padding = _tuple(padding, nd, op, "padding")
        if any(p < 0 for p in padding):
            raise ValueError(f"{op}(): padding must be non-negative, got {padding}")
    return stride, padding, dilation, same_pad


def _conv(op, nd, input, weight, bias, stride, padding, dilation, groups):
    """Shared by conv1d and conv2d: argument checks, 'same'/'valid' padding, unbatched input."""
    _check_tensor(input, op, "input")
    _check_tensor(weight, op, "weight")
    _check_tensor(bias, op, "bias", optional=True)
    stride, padding, dilation, same_pad = _conv_args(op, nd, input, weight, bias, stride, padding, dilation, groups)
    if same_pad:
        input = pad(input, same_pad)
    unbatched = input.ndim == nd + 1
    if unbatched:
        input = input.unsqueeze(0)
    if nd == 1:  # a 1-D convolution is a 2-D one over a height of 1
        out = _Conv2d.apply(input.unsqueeze(2), weight.unsqueeze(2), bias, (1, stride[0]), (0, padding[0]),
                            (1, dilation[0]), int(groups)).squeeze(2)
    else:
        out = _Conv2d.apply(input, weight, bias, stride, padding, dilation, int(groups))
    return out.squeeze(0) if unbatched else out


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation) over an input of shape (N, C, H, W) or (C, H, W)."""
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution over an input of shape (N, C, L) or (C, L)."""
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


# ---------------------------------------------------------------------------------------------------------
# Padding

_NUMPY_PAD_MODE = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


class _Pad(Function):
    """Pads the last len(pads) axes. Non-constant modes are gathers along each axis (index maps from
    numpy.pad of an arange), so the gradient is the matching scatter-add, applied axis by axis."""

    @staticmethod
    def forward(ctx, input, pads, mode, value):
        ctx.pads = pads
        ctx.mode = mode
        ctx.in_shape = input.shape
        width = [(0, 0)] * (input.ndim - len(pads)) + list(pads)
        if mode == "constant":
            return np.pad(input, width, mode="constant", constant_values=value)
        xp = array_module(input)
        ctx.index_maps = []
        out = input
        for axis, (lo, hi) in enumerate(width):
            if lo or hi:
                index = xp.asarray(np.pad(np.arange(input.shape[axis]), (lo, hi), mode=_NUMPY_PAD_MODE[mode]))
                ctx.index_maps.append((axis, index))
                out = xp.take(out, index, axis=axis)
        return out

    @staticmethod
    def backward(ctx, grad):
        if ctx.mode == "constant":
            lead = len(ctx.in_shape) - len(ctx.pads)
            index = (slice(None),) * lead + tuple(slice(lo, lo + n) for (lo, _), n in
                                                  zip(ctx.pads, ctx.in_shape[lead:]))
            return grad[index], None, None, None
        xp = array_module(grad)
        for axis, index in reversed(ctx.index_maps):
            shape = list(grad.shape)
            shape[axis] = ctx.in_shape[axis]
            folded = xp.zeros(shape, dtype=grad.dtype)
            xp.add.at(folded, (slice(None),) * axis + (index,), grad)
            grad = folded
        return grad, None, None, None


def pad(input, pad, mode="constant", value=None):
    """Pads input; `pad` lists (left, right) pairs starting from the last axis, as torch.nn.functional.pad."""
    _check_tensor(input, "pad", "input")
    if not isinstance(pad, (tuple, list)) or len(pad) % 2 or not all(isinstance(p, numbers.Integral) for p in pad):
        raise ValueError(f"pad(): pad must be a sequence of an even number of ints, got {pad!r}")
    if len(pad) // 2 > input.ndim:
        raise ValueError(f"pad(): padding length {len(pad)} is too large for a {input.ndim}-D input")
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise ValueError(f"pad(): mode must be 'constant', 'reflect', 'replicate' or 'circular', got {mode!r}")
    if any(p < 0 for p in pad):
        raise ValueError(f"pad(): negative padding is not supported, got {tuple(pad)}")
    if mode != "constant" and value:
        raise ValueError(f"pad(): padding mode '{mode}' doesn't take a fill value")
    pairs = [(int(pad[2 * i]), int(pad[2 * i + 1])) for i in range(len(pad) // 2)][::-1]  # first axis first
    sizes = input.shape[input.ndim - len(pairs):]
    for (lo, hi), n in zip(pairs, sizes):
        if mode == "reflect" and max(lo, hi) >= n:
            raise ValueError(f"pad(): reflect padding ({lo}, {hi}) must be smaller than the dimension size {n}")
        if mode == "circular" and max(lo, hi) > n:
            raise ValueError(f"pad(): circular padding ({lo}, {hi}) must be at most the dimension size {n}")
    return _Pad.apply(input, tuple(pairs), mode, 0 if value is None else value)


# ---- normalization ----
__all__ += ["batch_norm", "layer_norm", "group_norm", "instance_norm"]


class _BatchNormFn(Function):
    @staticmethod
    def forward(ctx, input, running_mean, running_var, weight, bias, training, momentum, eps):
        # running_mean / running_var arrive as the buffers' own arrays: the kernel updates them in place.
        y, mean, rstd = _C.batch_norm_forward(input, weight, bias, running_mean, running_var, training, momentum,
                                              eps)
        ctx.save_for_backward(input, mean, rstd, weight)
        ctx.training = training
        return y

    @staticmethod
    def backward(ctx, grad_output):
        input, mean, rstd, weight = ctx.saved_tensors
        needs = ctx.needs_input_grad
        dx, dw, db = _C.batch_norm_backward(grad_output, input, mean, rstd, weight, ctx.training,
                                            mask=(needs[0], needs[3], needs[4]))
        return dx, None, None, dw, db, None, None, None


def _check_norm_inputs(op, input, **optional):
    _check_tensor(input, op, "input")
    for name, value in optional.items():
        _check_tensor(value, op, name, optional=True)


def _batch_norm_checks(input, running_mean, running_var, weight, bias, training):
    """batch_norm's shape checks, on anything with .ndim and .shape."""
    if input.ndim < 2:
        raise ValueError(f"batch_norm(): expected input of at least 2 dims (N, C, *), got shape {tuple(input.shape)}")
    C = input.shape[1]
    for name, p in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if p is not None and tuple(p.shape) != (C,):
            raise ValueError(f"batch_norm(): expected {name} of shape ({C},) for an input with {C} channels, "
                             f"got {tuple(p.shape)}")
    if training:
        per_channel = input.shape[0] * int(np.prod(input.shape[2:], dtype=np.int64))
        if per_channel <= 1:
            raise ValueError(f"batch_norm(): expected more than 1 value per channel when training, got input size "
                             f"{tuple(input.shape)}")
    elif running_mean is None or running_var is None:
        raise RuntimeError("batch_norm(): running_mean and running_var must be defined in evaluation mode "
                           "(training=False)")


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-05):
    """Batch normalization over the channel axis 1 of an (N, C, *) input, as torch.nn.functional.batch_norm.
    In training the batch statistics are used and the running ones (when given) updated in place with
    `momentum` (the variance unbiased); otherwise the running statistics are used."""
    _check_norm_inputs("batch_norm", input, running_mean=running_mean, running_var=running_var, weight=weight,
                       bias=bias)
    _batch_norm_checks(input, running_mean, running_var, weight, bias, training)
    return _BatchNormFn.apply(input, running_mean, running_var, weight, bias, bool(training), float(momentum),
                              float(eps))


class _GroupNormFn(Function):
    """Group norm of an (N, C, *) input; layer norm uses it on (rows, normalized size) with one group."""

    @staticmethod
    def forward(ctx, input, weight, bias, num_groups, eps, view_shape, param_shape):
        ctx.in_shape, ctx.param_shape, ctx.num_groups = input.shape, param_shape, num_groups
        if view_shape is not None:
            input = input.reshape(view_shape)
            weight = None if weight is None else weight.reshape(-1)
            bias = None if bias is None else bias.reshape(-1)
        y, mean, rstd = _C.group_norm_forward(input, num_groups, weight, bias, eps)
        ctx.save_for_backward(input, mean, rstd, weight)
        return y.reshape(ctx.in_shape)

    @staticmethod
    def backward(ctx, grad_output):
        input, mean, rstd, weight = ctx.saved_tensors
        needs = ctx.needs_input_grad
        dx, dw, db = _C.group_norm_backward(grad_output.reshape(input.shape), input, mean, rstd, weight,
                                            ctx.num_groups, mask=(needs[0], needs[1], needs[2]))
        if dx is not None:
            dx = dx.reshape(ctx.in_shape)
        if dw is not None:
            dw = dw.reshape(ctx.param_shape)
        if db is not None:
            db = db.reshape(ctx.param_shape)
        return dx, dw, db, None, None, None, None


def _layer_norm_shape(input, normalized_shape, weight, bias):
    """layer_norm's checks, on anything with .ndim and .shape; returns (normalized shape, rows, row length)."""
    if isinstance(normalized_shape, numbers.Integral) and not isinstance(normalized_shape, bool):
        normalized_shape = (int(normalized_shape),)
    if not isinstance(normalized_shape, (tuple, list)) or not all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in normalized_shape):
        raise TypeError(f"layer_norm(): argument 'normalized_shape' must be an int or a sequence of ints, "
                        f"got {normalized_shape!r}")
    shape = tuple(int(v) for v in normalized_shape)
    k = len(shape)
    if k == 0 or input.ndim < k or tuple(input.shape[input.ndim - k:]) != shape:
        raise ValueError(f"layer_norm(): given normalized_shape={list(shape)}, expected input with shape "
                         f"[*, {', '.join(map(str, shape))}], but got input of size {tuple(input.shape)}")
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and tuple(p.shape) != shape:
            raise ValueError(f"layer_norm(): expected {name} of shape {shape} (normalized_shape), "
                             f"got {tuple(p.shape)}")
    D = int(np.prod(shape, dtype=np.int64))
    rows = int(np.prod(input.shape[:input.ndim - k], dtype=np.int64))
    return shape, rows, D


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-05):
    """Normalizes over the trailing dims given by normalized_shape, as torch.nn.functional.layer_norm."""
    _check_norm_inputs("layer_norm", input, weight=weight, bias=bias)
    shape, rows, D = _layer_norm_shape(input, normalized_shape, weight, bias)
    return _GroupNormFn.apply(input, weight, bias, 1, float(eps), (rows, D), shape)


def _group_norm_checks(input, num_groups):
    """group_norm's checks, on anything with .ndim and .shape."""
    if input.ndim < 2:
        raise ValueError(f"group_norm(): expected input of at least 2 dims (N, C, *), got shape "
                         f"{tuple(input.shape)}")
    if not isinstance(num_groups, numbers.Integral) or isinstance(num_groups, bool) or num_groups < 1:
        raise ValueError(f"group_norm(): num_groups must be a positive integer, got {num_groups!r}")
    if input.shape[1] % num_groups:
        raise ValueError(f"group_norm(): expected number of channels in input to be divisible by num_groups, "
                         f"but got input of shape {tuple(input.shape)} and num_groups={num_groups}")


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-05):
    """Group normalization of an (N, C, *) input, as torch.nn.functional.group_norm."""
    _check_norm_inputs("group_norm", input, weight=weight, bias=bias)
    _group_norm_checks(input, num_groups)
    return _GroupNormFn.apply(input, weight, bias, int(num_groups), float(eps), None, (input.shape[1],))


class _InstanceNormStatsFn(Function):
    """Instance norm with the input's statistics (a group norm with one channel per group); updates the
    running statistics in place when given, as torch (mean over the batch of the per-instance statistics,
    the variance unbiased)."""

    @staticmethod
    def forward(ctx, input, weight, bias, running_mean, running_var, momentum, eps):
        N, C = input.shape[:2]
        y, mean, rstd = _C.group_norm_forward(input, C, weight, bias, eps)
        ctx.save_for_backward(input, mean, rstd, weight)
        S = input.size // max(N * C, 1)
        if running_mean is not None or running_var is not None:
            mean64, rstd64 = mean.astype(np.float64), rstd.astype(np.float64)
            if running_mean is not None:
                running_mean[...] = (1 - momentum) * running_mean + momentum * mean64.mean(axis=0)
            if running_var is not None:
                var = (1.0 / (rstd64 * rstd64) - eps) * (S / (S - 1))
                running_var[...] = (1 - momentum) * running_var + momentum * var.mean(axis=0)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        input, mean, rstd, weight = ctx.saved_tensors
        needs = ctx.needs_input_grad
        dx, dw, db = _C.group_norm_backward(grad_output, input, mean, rstd, weight, input.shape[1],
                                            mask=(needs[0], needs[1], needs[2]))
        return dx, dw, db, None, None, None, None


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-05):
    """Instance normalization of an (N, C, *) input, as torch.nn.functional.instance_norm."""
    _check_norm_inputs("instance_norm", input, running_mean=running_mean, running_var=running_var, weight=weight,
                       bias=bias)
    if input.ndim < 3:
        raise ValueError(f"instance_norm(): expected input of at least 3 dims (N, C, *), got shape "
                         f"{tuple(input.shape)}")
    C = input.shape[1]
    for name, p in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if p is not None and tuple(p.shape) != (C,):
            raise ValueError(f"instance_norm(): expected {name} of shape ({C},), got {tuple(p.shape)}")
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise ValueError("instance_norm(): running_mean and running_var must be given when "
                             "use_input_stats=False")
        return _BatchNormFn.apply(input, running_mean, running_var, weight, bias, False, 0.0, float(eps))
    if int(np.prod(input.shape[2:], dtype=np.int64)) <= 1:
        raise ValueError(f"instance_norm(): expected more than 1 spatial element when training, got input size "
                         f"{tuple(input.shape)}")
    for name, p in (("running_mean", running_mean), ("running_var", running_var)):
        # float32 statistics for a half input on the GPU: mixed precision, as batch_norm and torch allow
        if p is not None and p.dtype != input.dtype and not (_half_on_gpu(input) and p.dtype == np.float32):
            raise TypeError(f"instance_norm(): expected {name} of dtype {input.dtype} like the input, got {p.dtype}")
    return _InstanceNormStatsFn.apply(input, weight, bias, running_mean, running_var, float(momentum), float(eps))


# ---- transposed convolution ----
# The kernels are the convolution's with roles swapped (csrc/ops/conv_transpose2d.cpp); the weight has
# torch's layout (in_channels, out_channels/groups, *kernel).
__all__ += ["conv_transpose1d", "conv_transpose2d"]


class _ConvTranspose2d(Function):
    @staticmethod
    def forward(ctx, input, weight, bias, stride, padding, output_padding, groups, dilation):
        ctx.save_for_backward(input, weight)
        ctx.conv = (stride, padding, output_padding, groups, dilation)
        return _C.conv_transpose2d_forward(input, weight, bias, stride, padding, output_padding, groups, dilation)

    @staticmethod
    def backward(ctx, grad_output):
        input, weight = ctx.saved_tensors
        needs = ctx.needs_input_grad
        grad_input, grad_weight, grad_bias = _C.conv_transpose2d_backward(
            grad_output, input, weight, *ctx.conv, mask=(needs[0], needs[1], needs[2]))
        return grad_input, grad_weight, grad_bias, None, None, None, None, None


def _conv_transpose_args(op, nd, input, weight, bias, stride, padding, output_padding, groups, dilation):
    """Checks the arguments of an nd transposed convolution given anything with .ndim and .shape; returns
    (stride, padding, output_padding, dilation) as tuples."""
    if input.ndim not in (nd + 1, nd + 2):
        raise ValueError(f"{op}(): expected {nd + 1}-D (unbatched) or {nd + 2}-D (batched) input, "
                         f"got input of shape {tuple(input.shape)}")
    if weight.ndim != nd + 2:
        raise ValueError(f"{op}(): expected weight of {nd + 2} dims (in_channels, out_channels/groups, *kernel), "
                         f"got shape {tuple(weight.shape)}")
    if not isinstance(groups, numbers.Integral) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"{op}(): groups must be a positive integer, got {groups!r}")
    channels = input.shape[input.ndim - nd - 1]
    if channels != weight.shape[0]:
        raise ValueError(f"{op}(): input has {channels} channels but weight of shape {tuple(weight.shape)} expects "
                         f"{weight.shape[0]} (weight.shape[0] is in_channels)")
    if weight.shape[0] % groups:
        raise ValueError(f"{op}(): groups={groups} must divide in_channels={weight.shape[0]}")
    out_channels = weight.shape[1] * groups
    if bias is not None and (bias.ndim != 1 or bias.shape[0] != out_channels):
        raise ValueError(f"{op}(): expected bias of shape ({out_channels},), got {tuple(bias.shape)}")
    if isinstance(padding, str):
        raise ValueError(f"{op}(): padding must be an int or a tuple of {nd} ints (no 'same'/'valid' for transposed "
                         f"convolution), got {padding!r}")
    stride = _tuple(stride, nd, op, "stride")
    padding = _tuple(padding, nd, op, "padding")
    output_padding = _tuple(output_padding, nd, op, "output_padding")
    dilation = _tuple(dilation, nd, op, "dilation")
    _check_positive(stride, op, "stride")
    _check_positive(dilation, op, "dilation")
    if any(p < 0 for p in padding):
        raise ValueError(f"{op}(): padding must be non-negative, got {padding}")
    if any(p < 0 for p in output_padding):
        raise ValueError(f"{op}(): output_padding must be non-negative, got {output_padding}")
    if any(p >= s and p >= d for p, s, d in zip(output_padding, stride, dilation)):
        raise ValueError(f"{op}(): output_padding {output_padding} must be smaller than either stride {stride} or "
                         f"dilation {dilation}")
    return stride, padding, output_padding, dilation


def _conv_transpose(op, nd, input, weight, bias, stride, padding, output_padding, groups, dilation):
    """Shared by conv_transpose1d and conv_transpose2d: argument checks and unbatched input."""
    _check_tensor(input, op, "input")
    _check_tensor(weight, op, "weight")
    _check_tensor(bias, op, "bias", optional=True)
    stride, padding, output_padding, dilation = _conv_transpose_args(op, nd, input, weight, bias, stride, padding,
                                                                     output_padding, groups, dilation)
    unbatched = input.ndim == nd + 1
    if unbatched:
        input = input.unsqueeze(0)
    if nd == 1:  # a 1-D transposed convolution is a 2-D one over a height of 1
        out = _ConvTranspose2d.apply(input.unsqueeze(2), weight.unsqueeze(2), bias, (1, stride[0]), (0, padding[0]),
                                     (0, output_padding[0]), int(groups), (1, dilation[0])).squeeze(2)
    else:
        out = _ConvTranspose2d.apply(input, weight, bias, stride, padding, output_padding, int(groups), dilation)
    return out.squeeze(0) if unbatched else out


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """2-D transposed convolution over an input of shape (N, C_in, H, W) or (C_in, H, W); weight
    (C_in, C_out/groups, kH, kW)."""
    return _conv_transpose("conv_transpose2d", 2, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """1-D transposed convolution over an input of shape (N, C_in, L) or (C_in, L); weight
    (C_in, C_out/groups, k)."""
    return _conv_transpose("conv_transpose1d", 1, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


# ---------------------------------------------------------------------------------------------------------
# ---- pooling ----
__all__ += ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d", "max_unpool2d",
            "max_pool1d", "avg_pool1d"]


class _MaxPool2d(Function):
    @staticmethod
    def forward(ctx, input, kernel_size, stride, padding, dilation, ceil_mode):
        output, indices = _C.max_pool2d_forward(input, kernel_size, stride, padding, dilation, ceil_mode)
        ctx.indices = indices
        ctx.input_size = input.shape[2:]
        ctx.mark_non_differentiable(indices)
        return output, indices

    @staticmethod
    def backward(ctx, grad_output, _grad_indices=None):
        return _C.max_pool2d_backward(grad_output, ctx.indices, ctx.input_size), None, None, None, None, None


class _AvgPool2d(Function):
    @staticmethod
    def forward(ctx, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor):
        ctx.pool = (kernel_size, stride, padding, ceil_mode, count_include_pad, divisor)
        ctx.input_size = input.shape[2:]
        return _C.avg_pool2d_forward(input, *ctx.pool)

    @staticmethod
    def backward(ctx, grad_output):
        return (_C.avg_pool2d_backward(grad_output, ctx.input_size, *ctx.pool),) + (None,) * 6


class _AdaptiveAvgPool2d(Function):
    @staticmethod
    def forward(ctx, input, output_size):
        ctx.input_size = input.shape[2:]
        return _C.adaptive_avg_pool2d_forward(input, output_size)

    @staticmethod
    def backward(ctx, grad_output):
        return _C.adaptive_avg_pool2d_backward(grad_output, ctx.input_size), None


class _AdaptiveMaxPool2d(Function):
    @staticmethod
    def forward(ctx, input, output_size):
        output, indices = _C.adaptive_max_pool2d_forward(input, output_size)
        ctx.indices = indices
        ctx.input_size = input.shape[2:]
        ctx.mark_non_differentiable(indices)
        return output, indices

    @staticmethod
    def backward(ctx, grad_output, _grad_indices=None):
        return _C.max_pool2d_backward(grad_output, ctx.indices, ctx.input_size), None


class _MaxUnpool2d(Function):
    @staticmethod
    def forward(ctx, input, indices, output_size):
        ctx.indices = indices
        return _C.max_unpool2d_forward(input, indices, output_size)

    @staticmethod
    def backward(ctx, grad_output):
        return _C.max_unpool2d_backward(grad_output, ctx.indices), None, None


def _half_on_gpu(input):
    """float16 on a GPU (CuPy) passes: the CUDA kernels of pooling, softmax and the layers take it."""
    return input.dtype == np.float16 and input.device != "cpu"


def _pool_input(input, op, nd):
    """Checks a pooling input of nd spatial dims (batched or not); returns it batched and whether it was not."""
    _check_tensor(input, op, "input")
    shape = input.data.shape
    ndim = len(shape)
    if (ndim != nd + 2 and ndim != nd + 1) or 0 in shape[ndim - nd - 1:]:
        raise ValueError(f"{op}(): expected a non-empty {nd + 1}-D (unbatched) or {nd + 2}-D (batched) input, "
                         f"got input of shape {tuple(input.shape)}")
    if input.data.dtype.char not in ("f", "d") and not _half_on_gpu(input):  # float32, float64
        raise TypeError(f"{op}(): input must have dtype float32 or float64, got {input.dtype}")
    unbatched = ndim == nd + 1
    return (input.unsqueeze(0) if unbatched else input), unbatched


# Pooling arguments (as tuples of ints that _tuple returned) and input sizes that passed the checks below.
# A layer pools with the same ones on every call, so at batch 1 re-checking them would cost more than the
# kernel. Bounded: cleared when full.
_POOL_CHECKED = set()


def _pool_checked(key):
    if len(_POOL_CHECKED) > 4096:
        _POOL_CHECKED.clear()
    _POOL_CHECKED.add(key)


def _pool_args(op, nd, kernel_size, stride, padding, dilation):
    kernel = _tuple(kernel_size, nd, op, "kernel_size")
    stride = kernel if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) else \
        _tuple(stride, nd, op, "stride")
    padding = _tuple(padding, nd, op, "padding")
    dilation = _tuple(dilation, nd, op, "dilation")
    key = (kernel, stride, padding, dilation)
    if key in _POOL_CHECKED:
        return key
    if min(kernel) < 1 or min(stride) < 1 or min(dilation) < 1:
        for name, values in (("kernel_size", kernel), ("stride", stride), ("dilation", dilation)):
            if min(values) < 1:
                raise ValueError(f"{op}(): {name} must be greater than zero, got {values}")
    if min(padding) < 0:
        raise ValueError(f"{op}(): padding must be non-negative, got {padding}")
    _pool_checked(key)
    return key


def _pool_out_size(size, k, s, p, d, ceil_mode):
    out = (size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _check_pool_sizes(op, input_shape, kernel, stride, padding, dilation, ceil_mode):
    """torch's rules: padding at most half the kernel (not the dilated one), an output of at least one element."""
    sizes = input_shape[-len(kernel):]
    key = (kernel, stride, padding, dilation, bool(ceil_mode), sizes)
    if key in _POOL_CHECKED:
        return
    for p, k in zip(padding, kernel):
        if p > k // 2:
            raise ValueError(f"{op}(): pad should be at most half of kernel size, but got padding={padding}, "
                             f"kernel_size={kernel}")
    out = tuple([_pool_out_size(n, k, s, p, d, ceil_mode)
                 for n, k, s, p, d in zip(sizes, kernel, stride, padding, dilation)])
    if min(out) < 1:
        raise ValueError(f"{op}(): output size is too small: given input size {tuple(input_shape[1:])}, "
                         f"calculated output size {(input_shape[1],) + out}")
    _pool_checked(key)


def _max_pool(op, nd, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    input, unbatched = _pool_input(input, op, nd)
    kernel, stride, padding, dilation = _pool_args(op, nd, kernel_size, stride, padding, dilation)
    _check_pool_sizes(op, input.shape, kernel, stride, padding, dilation, ceil_mode)
    if nd == 1:  # a 1-D pooling is a 2-D one over a height of 1; the plane index is then the position
        output, indices = _MaxPool2d.apply(input.unsqueeze(2), (1, kernel[0]), (1, stride[0]), (0, padding[0]),
                                           (1, dilation[0]), bool(ceil_mode))
        output, indices = output.squeeze(2), indices.squeeze(2)
    else:
        output, indices = _MaxPool2d.apply(input, kernel, stride, padding, dilation, bool(ceil_mode))
    if unbatched:
        output, indices = output.squeeze(0), indices.squeeze(0)
    return (output, indices) if return_indices else output


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """2-D max pooling over (N, C, H, W) or (C, H, W); with return_indices also the int64 flat positions of the
    maxima within each H*W plane."""
    return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """1-D max pooling over (N, C, L) or (C, L)."""
    return _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def _avg_pool(op, nd, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    input, unbatched = _pool_input(input, op, nd)
    kernel, stride, padding, _ = _pool_args(op, nd, kernel_size, stride, padding, 1)
    if divisor_override is not None:
        if not isinstance(divisor_override, numbers.Integral) or isinstance(divisor_override, bool):
            raise TypeError(f"{op}(): divisor_override must be an int or None, got {divisor_override!r}")
        if divisor_override == 0:
            raise ValueError(f"{op}(): divisor must be not zero, got divisor_override={divisor_override}")
    _check_pool_sizes(op, input.shape, kernel, stride, padding, (1,) * nd, ceil_mode)
    divisor = int(divisor_override or 0)
    if nd == 1:
        output = _AvgPool2d.apply(input.unsqueeze(2), (1, kernel[0]), (1, stride[0]), (0, padding[0]),
                                  bool(ceil_mode), bool(count_include_pad), divisor).squeeze(2)
    else:
        output = _AvgPool2d.apply(input, kernel, stride, padding, bool(ceil_mode), bool(count_include_pad), divisor)
    return output.squeeze(0) if unbatched else output


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """2-D average pooling over (N, C, H, W) or (C, H, W)."""
    return _avg_pool("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """1-D average pooling over (N, C, L) or (C, L)."""
    return _avg_pool("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode, count_include_pad, None)


def _adaptive_output_size(op, output_size, input_size):
    """output_size as an int or a pair whose None entries keep the input's size."""
    if output_size is None or isinstance(output_size, bool):
        raise TypeError(f"{op}(): output_size must be an int or a tuple of 2 ints or None, got {output_size!r}")
    if isinstance(output_size, numbers.Integral):
        output_size = (output_size, output_size)
    if not isinstance(output_size, (tuple, list)) or len(output_size) != 2 or not all(
            v is None or (isinstance(v, numbers.Integral) and not isinstance(v, bool)) for v in output_size):
        raise TypeError(f"{op}(): output_size must be an int or a tuple of 2 ints or None, got {output_size!r}")
    size = tuple(int(n) if v is None else int(v) for v, n in zip(output_size, input_size))
    if any(v < 1 for v in size):
        raise ValueError(f"{op}(): output_size must be positive, got {tuple(output_size)}")
    return size


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed output_size (int, or pair with None meaning the input's size)."""
    input, unbatched = _pool_input(input, "adaptive_avg_pool2d", 2)
    size = _adaptive_output_size("adaptive_avg_pool2d", output_size, input.shape[2:])
    output = _AdaptiveAvgPool2d.apply(input, size)
    return output.squeeze(0) if unbatched else output


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max pooling to a fixed output_size; with return_indices also the int64 positions of the maxima."""
    input, unbatched = _pool_input(input, "adaptive_max_pool2d", 2)
    size = _adaptive_output_size("adaptive_max_pool2d", output_size, input.shape[2:])
    output, indices = _AdaptiveMaxPool2d.apply(input, size)
    if unbatched:
        output, indices = output.squeeze(0), indices.squeeze(0)
    return (output, indices) if return_indices else output


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Inverse of max_pool2d: each value placed at its index in a zero output; other positions stay zero. Where
    an index repeats (overlapping windows), the last value in row-major order wins."""
    op = "max_unpool2d"
    input, unbatched = _pool_input(input, op, 2)
    if not isinstance(indices, Tensor):
        raise TypeError(f"{op}(): argument 'indices' must be a fastlayers.Tensor, not {type(indices).__name__}")
    if indices.dtype != np.int64:
        raise TypeError(f"{op}(): indices must have dtype int64, got {indices.dtype}")
    if unbatched:
        indices = indices.unsqueeze(0)
    if tuple(indices.shape) != tuple(input.shape):
        raise ValueError(f"{op}(): expected indices of the input's shape {tuple(input.shape)}, "
                         f"got {tuple(indices.shape)}")
    size = _unpool_output_size(op, input.shape, kernel_size, stride, padding, output_size)
    output = _MaxUnpool2d.apply(input, indices, size)
    return output.squeeze(0) if unbatched else output


def _unpool_output_size(op, input_shape, kernel_size, stride, padding, output_size):
    """The (H, W) of max_unpool2d's output for a batched (N, C, H, W) input shape, checked as torch does."""
    kernel, stride, padding, _ = _pool_args(op, 2, kernel_size, stride, padding, 1)
    default = tuple((n - 1) * s - 2 * p + k for n, s, p, k in zip(input_shape[2:], stride, padding, kernel))
    if output_size is None:
        size = default
    else:
        given = tuple(output_size) if isinstance(output_size, (tuple, list)) else None
        if given is not None and len(given) == 4:
            given = given[2:]
        if given is None or len(given) != 2 or not all(isinstance(v, numbers.Integral) for v in given):
            raise ValueError(f"{op}(): output_size must have 2 or 4 elements, got {output_size!r}")
        for v, d, s in zip(given, default, stride):
            if not d - s < v < d + s:
                raise ValueError(f"{op}(): invalid output_size {tuple(output_size)} (dim {v} must be between "
                                 f"{d - s} and {d + s})")
        size = tuple(int(v) for v in given)
    return size


# ---- activations (activation, softmax, prelu, maxout, dropout) ----
import warnings as _warnings

from .. import random as _random
from ..autograd import grad_mode as _act_grad_mode

__all__ += ["relu", "relu6", "leaky_relu", "elu", "selu", "celu", "gelu", "silu", "mish", "softplus", "sigmoid",
            "tanh", "hardtanh", "hardsigmoid", "hardswish", "softmax", "log_softmax", "prelu", "maxout", "dropout",
            "dropout2d"]

_LEAF_IN_PLACE = "a leaf Variable that requires grad is being used in an in-place operation."
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
# Kinds whose gradient the kernels can take from the output (cheaper than recomputing from the input).
_FROM_OUTPUT = {"sigmoid", "tanh"}


class _Activation(Function):
    @staticmethod
    def forward(ctx, input, kind, params):
        out = _C.activation_forward(input, kind, **params)
        ctx.act = (kind, params)
        ctx.from_output = kind in _FROM_OUTPUT
        ctx.save_for_backward(out if ctx.from_output else input)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        (saved,) = ctx.saved_tensors
        kind, params = ctx.act
        return _C.activation_backward(grad_output, saved, ctx.from_output, kind, **params), None, None


def _activation(op, input, kind, inplace=False, **params):
    """Applies activation `kind`. In place (inplace=True): without a graph to record, the input's array is
    overwritten; while recording a non-leaf, the input Tensor takes the result and becomes the node's output
    (its old array stays intact for whichever earlier node saved it, since no version counter guards it)."""
    _check_tensor(input, op, "input")
    if not inplace:
        return _Activation.apply(input, kind, params)
    if _act_grad_mode._state.enabled and input.requires_grad:
        if input.is_leaf:
            raise RuntimeError(_LEAF_IN_PLACE)
        out = _Activation.apply(input, kind, params)
        input.data = out.data
        input._grad_fn = out._grad_fn
        input._output_nr = out._output_nr
        return input
    data = input.data
    if isinstance(data, np.ndarray) and data.flags.c_contiguous and data.flags.writeable:
        _C.activation_forward(data, kind, out=data, **params)
    else:
        data[...] = _C.activation_forward(data, kind, **params)
    return input


def _number(value, op, arg):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{op}(): argument '{arg}' must be a number, not {type(value).__name__}")
    return float(value)


def relu(input, inplace=False):
    """max(input, 0); the gradient at 0 is 0."""
    return _activation("relu", input, "relu", inplace)


def relu6(input, inplace=False):
    """min(max(input, 0), 6) (hardtanh(input, 0, 6))."""
    return _activation("relu6", input, "hardtanh", inplace, min_val=0.0, max_val=6.0)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """input where positive, negative_slope * input elsewhere."""
    slope = _number(negative_slope, "leaky_relu", "negative_slope")
    return _activation("leaky_relu", input, "leaky_relu", inplace, alpha=slope)


def elu(input, alpha=1.0, inplace=False):
    """input where positive, alpha * (exp(input) - 1) elsewhere."""
    return _activation("elu", input, "elu", inplace, alpha=_number(alpha, "elu", "alpha"))


def selu(input, inplace=False):
    """scale * elu(input, alpha) with the self-normalizing constants."""
    return _activation("selu", input, "elu", inplace, alpha=_SELU_ALPHA, scale=_SELU_SCALE)


def celu(input, alpha=1.0, inplace=False):
    """max(0, input) + min(0, alpha * (exp(input / alpha) - 1))."""
    alpha = _number(alpha, "celu", "alpha")
    if alpha == 0:
        raise ValueError("celu(): ZeroDivisionError: alpha cannot be 0 for CELU, got alpha=0")
    return _activation("celu", input, "elu", inplace, alpha=alpha, input_scale=1.0 / alpha)


def gelu(input, approximate="none"):
    """input * Phi(input), or its tanh approximation with approximate='tanh'."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu(): approximate argument must be either none or tanh, got {approximate!r}")
    return _activation("gelu", input, "gelu" if approximate == "none" else "gelu_tanh")


def silu(input, inplace=False):
    """input * sigmoid(input)."""
    return _activation("silu", input, "silu", inplace)


def mish(input, inplace=False):
    """input * tanh(softplus(input))."""
    return _activation("mish", input, "mish", inplace)


def softplus(input, beta=1.0, threshold=20.0):
    """log(1 + exp(beta * input)) / beta, and input itself where beta * input > threshold."""
    beta = _number(beta, "softplus", "beta")
    threshold = _number(threshold, "softplus", "threshold")
    if beta == 0:
        raise ValueError("softplus(): beta must be nonzero, got 0")
    return _activation("softplus", input, "softplus", beta=beta, threshold=threshold)


def sigmoid(input):
    """1 / (1 + exp(-input))."""
    return _activation("sigmoid", input, "sigmoid")


def tanh(input):
    """Hyperbolic tangent."""
    return _activation("tanh", input, "tanh")


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """input clamped to [min_val, max_val]; the gradient is 0 at and beyond the bounds."""
    min_val = _number(min_val, "hardtanh", "min_val")
    max_val = _number(max_val, "hardtanh", "max_val")
    if min_val > max_val:
        raise ValueError(f"hardtanh(): min_val cannot be greater than max_val, got min_val={min_val}, "
                         f"max_val={max_val}")
    return _activation("hardtanh", input, "hardtanh", inplace, min_val=min_val, max_val=max_val)


def hardsigmoid(input, inplace=False):
    """relu6(input + 3) / 6."""
    return _activation("hardsigmoid", input, "hardsigmoid", inplace)


def hardswish(input, inplace=False):
    """input * relu6(input + 3) / 6."""
    return _activation("hardswish", input, "hardswish", inplace)


# Softmax


class _Softmax(Function):
    @staticmethod
    def forward(ctx, input, dim, log):
        out = _C.softmax_forward(input, dim, log)
        ctx.save_for_backward(out)
        ctx.softmax = (dim, log)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        (out,) = ctx.saved_tensors
        return _C.softmax_backward(grad_output, out, *ctx.softmax), None, None


def _softmax_dim(ndim, name, stacklevel):
    _warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to include "
                   "dim=X as an argument.", stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1


def _softmax(op, input, dim, stacklevel, dtype, log):
    _check_tensor(input, op, "input")
    if dim is None:
        dim = _softmax_dim(input.ndim, op, stacklevel)
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
        raise TypeError(f"{op}(): argument 'dim' must be an int, not {type(dim).__name__}")
    extent = max(input.ndim, 1)
    if not -extent <= dim < extent:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-extent}, {extent - 1}], "
                         f"but got {dim})")
    if dtype is not None:
        input = input.to(dtype)
    if input.dtype not in (np.float32, np.float64) and not _half_on_gpu(input):
        raise TypeError(f"{op}(): expected a float32 or float64 input, got {input.dtype}")
    return _Softmax.apply(input, int(dim) % extent, log)


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    """exp(input) / sum(exp(input)) along dim, computed stably (the row maximum subtracted first)."""
    return _softmax("softmax", input, dim, _stacklevel, dtype, False)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    """input - logsumexp(input) along dim."""
    return _softmax("log_softmax", input, dim, _stacklevel, dtype, True)


# PReLU and maxout


class _PReLU(Function):
    @staticmethod
    def forward(ctx, input, weight):
        ctx.save_for_backward(input, weight)
        return _C.prelu_forward(input, weight)

    @staticmethod
    def backward(ctx, grad_output):
        input, weight = ctx.saved_tensors
        needs = ctx.needs_input_grad
        return tuple(_C.prelu_backward(grad_output, input, weight, mask=(needs[0], needs[1])))


def prelu(input, weight):
    """input where positive, weight * input elsewhere; weight has one element or one per channel (dim 1)."""
    _check_tensor(input, "prelu", "input")
    _check_tensor(weight, "prelu", "weight")
    if weight.ndim > 1:
        raise ValueError(f"prelu(): weight must be 1-D, got shape {tuple(weight.shape)}")
    if weight.dtype != input.dtype:
        raise TypeError(f"prelu(): weight must have the input's dtype {input.dtype}, got {weight.dtype}")
    return _PReLU.apply(input, weight)


class _Maxout(Function):
    @staticmethod
    def forward(ctx, input, pieces, dim):
        ctx.save_for_backward(input)
        ctx.maxout = (pieces, dim)
        return _C.maxout_forward(input, pieces, dim)

    @staticmethod
    def backward(ctx, grad_output):
        (input,) = ctx.saved_tensors
        return _C.maxout_backward(grad_output, input, *ctx.maxout), None, None


def maxout(input, pieces, dim=1):
    """Maxout (Goodfellow et al., 2013): the maximum over each group of `pieces` consecutive entries of
    `dim`, which shrinks by a factor `pieces`. The gradient goes to the first maximum of each group."""
    _check_tensor(input, "maxout", "input")
    if isinstance(pieces, bool) or not isinstance(pieces, numbers.Integral) or pieces < 1:
        raise ValueError(f"maxout(): pieces must be a positive integer, got {pieces!r}")
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
        raise TypeError(f"maxout(): argument 'dim' must be an int, not {type(dim).__name__}")
    if input.ndim == 0 or not -input.ndim <= dim < input.ndim:
        raise IndexError(f"maxout(): dim {dim} is out of range for an input of shape {tuple(input.shape)}")
    dim = int(dim) % input.ndim
    if input.shape[dim] % pieces:
        raise ValueError(f"maxout(): the size of dim {dim} ({input.shape[dim]}) must be divisible by "
                         f"pieces={pieces}")
    return _Maxout.apply(input, int(pieces), dim)


# Dropout


class _MaskScale(Function):
    """input * mask * scale with a fixed mask (dropout's apply and backward)."""

    @staticmethod
    def forward(ctx, input, mask, scale):
        ctx.mask = (mask, scale)
        return input * (mask * input.dtype.type(scale))

    @staticmethod
    def backward(ctx, grad_output):
        mask, scale = ctx.mask
        return grad_output * (mask * grad_output.dtype.type(scale)), None, None


def _check_p(p):
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _dropout(op, input, p, training, inplace, mask_shape):
    _check_tensor(input, op, "input")
    _check_p(p)
    if not training or p == 0:
        return input
    data = input.data
    if not isinstance(data, np.ndarray):  # ---- cuda ----: the counter-based mask kernel (scale folded in),
        seed = int(_random.default_generator().integers(2**63))  # seeded from fastlayers' generator
        mask, scale = _C.dropout_mask(data, mask_shape(data.shape), float(p), seed), 1.0
    else:
        # Keep each element (or channel) with probability 1 - p, drawn from fastlayers' generator.
        keep = _random.default_generator().random(mask_shape(data.shape)) >= p
        mask = keep.astype(data.dtype)
        scale = 0.0 if p == 1 else 1.0 / (1.0 - p)
    if not inplace:
        return _MaskScale.apply(input, mask, scale)
    if _act_grad_mode._state.enabled and input.requires_grad:
        if input.is_leaf:
            raise RuntimeError(_LEAF_IN_PLACE)
        out = _MaskScale.apply(input, mask, scale)
        input.data = out.data
        input._grad_fn = out._grad_fn
        input._output_nr = out._output_nr
        return input
    data *= mask * data.dtype.type(scale)
    return input


def dropout(input, p=0.5, training=True, inplace=False):
    """Zeroes each element with probability p and scales the rest by 1 / (1 - p) (inverted dropout)."""
    return _dropout("dropout", input, p, training, inplace, lambda shape: shape)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zeroes whole channels of an (N, C, H, W) or (C, H, W) input with probability p; scales the rest
    by 1 / (1 - p)."""
    _check_tensor(input, "dropout2d", "input")
    if input.ndim not in (3, 4):
        raise ValueError(f"dropout2d(): expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape "
                         f"{tuple(input.shape)}")
    if input.ndim == 3:  # torch reads a 3-D input as (N, C, L): channel-wise 1-D dropout
        _warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout "
                       "behavior is desired - input is interpreted as shape (N, C, L), where C is the channel "
                       "dim. This behavior will change in a future release to interpret the input as one "
                       "without a batch dimension, i.e. shape (C, H, W). To maintain the 1D channel-wise "
                       "dropout behavior, please switch to using dropout1d instead.", stacklevel=2)
    return _dropout("dropout2d", input, p, training, inplace,
                    lambda shape: tuple(shape[:2]) + (1,) * (len(shape) - 2))


# ---- normalization: local response norm, batch-instance norm ----
__all__ += ["local_response_norm", "batch_instance_norm"]


class _LocalResponseNormFn(Function):
    @staticmethod
    def forward(ctx, input, size, alpha, beta, k):
        y, scale = _C.lrn_forward(input, size, alpha, beta, k)
        ctx.save_for_backward(input, scale)
        ctx.lrn = (size, alpha, beta, k)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        input, scale = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return None, None, None, None, None
        return _C.lrn_backward(grad_output, input, scale, *ctx.lrn), None, None, None, None


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """Local response normalization across channels of an (N, C, *) input with at least 3 dims, as
    torch.nn.functional.local_response_norm: y = x / (k + alpha * a)^beta, where a is the average of x^2 over a
    window of `size` channels holding size // 2 channels before and (size - 1) // 2 after the channel (channels
    outside the input count as zeros; the sum is always divided by size)."""
    op = "local_response_norm"
    _check_tensor(input, op, "input")
    if input.ndim < 3:
        raise ValueError(f"{op}(): expected 3D or higher dimensionality input (got {input.ndim} dimensions)")
    if isinstance(size, bool) or not isinstance(size, numbers.Integral):
        raise TypeError(f"{op}(): argument 'size' must be an int, got {size!r}")
    if size < 1:
        raise ValueError(f"{op}(): size must be a positive integer, got size={size}")
    for name, value in (("alpha", alpha), ("beta", beta), ("k", k)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{op}(): argument '{name}' must be a number, got {value!r}")
    return _LocalResponseNormFn.apply(input, int(size), float(alpha), float(beta), float(k))


def _channel_sum(a):
    """Sum of an (N, C, *) array over all axes but the channel axis, accumulated in float64. numpy and CuPy
    arrays, or torch tensors (fastlayers.torch runs the same glue on them, CPU or CUDA), on their own device."""
    axes = (0,) + tuple(range(2, a.ndim))
    if not hasattr(a, "astype"):  # a torch tensor; torch is not imported here
        return a.double().sum(dim=axes)
    return a.sum(axis=axes, dtype=np.float64)


def _astype(a, dtype):
    """a in `dtype` without a copy where it already is: numpy / CuPy astype, torch's .to."""
    return a.astype(dtype, copy=False) if hasattr(a, "astype") else a.to(dtype)


class _BatchInstanceNormFn(Function):
    """y = (rho * x_hat_BN + (1 - rho) * x_hat_IN) * weight + bias per channel. The two normalized inputs come
    from the batch-norm and group-norm (one channel per group) kernels without affine, their gradients from
    the same kernels' backward; only the per-channel mixing is done here, with array methods only, so it runs
    where the arrays live (numpy on the CPU; CuPy or torch CUDA tensors on the GPU, never copied to the host).
    ctx.kernels (when set) is the object whose batch/group norm functions to call: fastlayers.torch passes its
    backend, which launches on torch's current stream; otherwise _C."""

    @staticmethod
    def forward(ctx, input, running_mean, running_var, weight, bias, rho, training, momentum, eps):
        C = input.shape[1]
        pshape = (1, C) + (1,) * (input.ndim - 2)
        K = getattr(ctx, "kernels", _C)
        x_bn, mean_bn, rstd_bn = K.batch_norm_forward(input, None, None, running_mean, running_var, training,
                                                      momentum, eps)
        x_in, mean_in, rstd_in = K.group_norm_forward(input, C, None, None, eps)
        r = rho.reshape(pshape)
        mix = r * x_bn + (1 - r) * x_in
        y = mix if weight is None else mix * weight.reshape(pshape)
        if bias is not None:
            y = y + bias.reshape(pshape)
        ctx.save_for_backward(input, x_bn, mean_bn, rstd_bn, x_in, mean_in, rstd_in, weight, rho)
        ctx.training, ctx.pshape = training, pshape
        return _astype(y, input.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        input, x_bn, mean_bn, rstd_bn, x_in, mean_in, rstd_in, weight, rho = ctx.saved_tensors
        needs = ctx.needs_input_grad
        dt, pshape, C = input.dtype, ctx.pshape, input.shape[1]
        K = getattr(ctx, "kernels", _C)
        r = rho.reshape(pshape)
        g = grad_output if weight is None else grad_output * weight.reshape(pshape)
        dx = dw = db = drho = None
        if needs[0]:
            g_bn = g * r
            dx = K.batch_norm_backward(g_bn, input, mean_bn, rstd_bn, None, ctx.training,
                                       mask=(True, False, False))[0]
            dx += K.group_norm_backward(g - g_bn, input, mean_in, rstd_in, None, C, mask=(True, False, False))[0]
        if needs[3]:
            dw = _astype(_channel_sum(grad_output * (r * x_bn + (1 - r) * x_in)), dt)
        if needs[4]:
            db = _astype(_channel_sum(grad_output), dt)
        if needs[5]:
            drho = _astype(_channel_sum(g * (x_bn - x_in)), dt)
        return dx, None, None, dw, db, drho, None, None, None


def batch_instance_norm(input, running_mean, running_var, weight, bias, rho, training=False, momentum=0.1,
                        eps=1e-05):
    """Batch-Instance Normalization (Nam & Kim, 2018) of an (N, C, *) input:
        y = (rho * x_hat_BN + (1 - rho) * x_hat_IN) * weight + bias, per channel,
    where x_hat_BN is batch_norm(input, running_mean, running_var, training=training, momentum=momentum,
    eps=eps) without affine (batch statistics in training, the running ones updated in place when given; the
    running statistics otherwise) and x_hat_IN is the instance normalization with the input's own statistics
    (always). rho (C,) mixes the two; weight, bias (C,) may be None. Gradients flow to input, weight, bias and
    rho."""
    op = "batch_instance_norm"
    _check_norm_inputs(op, input, running_mean=running_mean, running_var=running_var, weight=weight, bias=bias)
    _check_tensor(rho, op, "rho")
    if input.ndim < 3:
        raise ValueError(f"{op}(): expected input of at least 3 dims (N, C, *), got shape {tuple(input.shape)}")
    C = input.shape[1]
    for name, p in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias), ("rho", rho)):
        if p is not None:
            if tuple(p.shape) != (C,):
                raise ValueError(f"{op}(): expected {name} of shape ({C},) for an input with {C} channels, "
                                 f"got {tuple(p.shape)}")
            mixed = name.startswith("running") and _half_on_gpu(input) and p.dtype == np.float32  # as batch_norm
            if p.dtype != input.dtype and not mixed:
                raise TypeError(f"{op}(): expected {name} of dtype {input.dtype} like the input, got {p.dtype}")
    if int(np.prod(input.shape[2:], dtype=np.int64)) <= 1:
        raise ValueError(f"{op}(): expected more than 1 spatial element (instance statistics), got input size "
                         f"{tuple(input.shape)}")
    if not training and (running_mean is None or running_var is None):
        raise RuntimeError(f"{op}(): running_mean and running_var must be defined in evaluation mode "
                           f"(training=False)")
    return _BatchInstanceNormFn.apply(input, running_mean, running_var, weight, bias, rho, bool(training),
                                      float(momentum), float(eps))


# ---------------------------------------------------------------------------------------------------------
# ---- upsampling ----
import math as _math  # noqa: E402
import warnings as _up_warnings  # noqa: E402

__all__ += ["interpolate", "upsample", "upsample_nearest", "upsample_bilinear"]

_TORCH_MODES = ("nearest", "linear", "bilinear", "bicubic", "trilinear", "area", "nearest-exact")


class _Upsample2d(Function):
    @staticmethod
    def forward(ctx, input, output_size, scales, mode, align_corners, size_shortcuts):
        ctx.args = (tuple(input.shape[2:]), scales, mode, align_corners, size_shortcuts)
        return _C.upsample2d_forward(input, output_size, scales, mode, align_corners, size_shortcuts)

    @staticmethod
    def backward(ctx, grad_output):
        return (_C.upsample2d_backward(grad_output, *ctx.args),) + (None,) * 5


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resamples (N, C, L) or (N, C, H, W) input to `size` or by `scale_factor`, torch's rules.

    Modes: 'nearest' (3-D and 4-D input), 'linear' (3-D), 'bilinear' (4-D). The source index of output
    index d is floor(d * s) for nearest, and (d + 0.5) * s - 0.5 clamped at 0 (or d * (In-1)/(Out-1) with
    align_corners) for the linear modes, where s = 1/scale_factor when scale_factor is given and
    recompute_scale_factor is not True, else In/Out.
    """
    op = "interpolate"
    _check_tensor(input, op, "input")
    if input.dtype not in (np.float32, np.float64) and not _half_on_gpu(input):
        raise TypeError(f"{op}(): input must have dtype float32 or float64, got {input.dtype}")
    dim, output_size, scales2, kernel_mode, align_corners = _interpolate_args(
        input, size, scale_factor, mode, align_corners, recompute_scale_factor, antialias)
    if dim == 1:
        # (N, C, L) runs as (N, C, 1, L): a size-1 axis maps to itself in both modes. torch's 1-D nearest
        # forward maps same-size and doubled axes with 1/scale_factor too (no shortcuts); our backward is
        # the adjoint of that forward (torch's 1-D backward takes the shortcuts, disagreeing with its forward).
        out = _Upsample2d.apply(input.unsqueeze(2), (1, output_size[0]), (0.0, scales2[0]), kernel_mode,
                                bool(align_corners), False)
        return out.squeeze(2)
    return _Upsample2d.apply(input, tuple(output_size), tuple(scales2), kernel_mode, bool(align_corners), True)


def _interpolate_args(input, size, scale_factor, mode, align_corners, recompute_scale_factor, antialias):
    """Checks interpolate's arguments given anything with .ndim and .shape (the dtype is the caller's to check);
    returns (spatial dims, output size, the two scales for the kernel, the kernel's mode, align_corners)."""
    op = "interpolate"
    if not isinstance(mode, str):
        raise TypeError(f"{op}(): argument 'mode' must be str, not {type(mode).__name__}")
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError("align_corners option can only be set with the "
                             "interpolating modes: linear | bilinear | bicubic | trilinear")
    elif align_corners is None:
        align_corners = False
    if antialias:
        raise ValueError(f"{op}(): antialias=True is not supported by fastlayers, got antialias={antialias!r}")
    dim = input.ndim - 2
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is not None:
        if isinstance(size, (list, tuple)):
            if len(size) != dim:
                raise ValueError("Input and output must have the same number of spatial dimensions, but got "
                                 f"input with spatial dimensions of {list(input.shape[2:])} and output size of "
                                 f"{size}. Please provide input tensor in (N, C, d1, d2, ...,dK) format and "
                                 "output size in (o1, o2, ...,oK) format.")
            if not all(_is_int(s) for s in size):
                raise TypeError("expected size to be one of int or Tuple[int] or Tuple[int, int] or "
                                f"Tuple[int, int, int], but got size with types {[type(s) for s in size]}")
            output_size = [int(s) for s in size]
        elif _is_int(size):
            output_size = [int(size)] * dim
        else:
            raise TypeError(f"{op}(): argument 'size' must be an int or a tuple of ints, got {size!r}")
        scales = None
    elif scale_factor is not None:
        if isinstance(scale_factor, (list, tuple)):
            if len(scale_factor) != dim:
                raise ValueError("Input and scale_factor must have the same number of spatial dimensions, but "
                                 f"got input with spatial dimensions of {list(input.shape[2:])} and "
                                 f"scale_factor of shape {scale_factor}. Please provide input tensor in "
                                 "(N, C, d1, d2, ...,dK) format and scale_factor in (s1, s2, ...,sK) format.")
            scales = list(scale_factor)
        else:
            scales = [scale_factor] * dim
        if not all(isinstance(s, numbers.Real) and not isinstance(s, bool) for s in scales):
            raise TypeError(f"{op}(): argument 'scale_factor' must be a float or a tuple of floats, "
                            f"got {scale_factor!r}")
        scales = [float(s) for s in scales]
        output_size = None
    else:
        raise ValueError("either size or scale_factor should be defined")
    if recompute_scale_factor is not None and recompute_scale_factor and size is not None:
        raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
    if output_size is None:
        output_size = [_math.floor(float(input.shape[i + 2]) * scales[i]) for i in range(dim)]
        if recompute_scale_factor:
            scales = None

    supported = {3: ("nearest", "linear"), 4: ("nearest", "bilinear")}
    if mode not in supported.get(input.ndim, ()):
        if input.ndim in (3, 4, 5) and mode in _TORCH_MODES:
            if mode in ("linear", "bilinear", "trilinear"):
                need = {"linear": 3, "bilinear": 4, "trilinear": 5}[mode]
                raise NotImplementedError(f"Got {input.ndim}D input, but {mode} mode needs {need}D input")
            raise NotImplementedError(f"{op}(): mode '{mode}' is not supported by fastlayers "
                                      f"(supported: nearest and linear for 3-D input, nearest and bilinear "
                                      f"for 4-D input), got mode={mode!r} with {input.ndim}-D input")
        raise NotImplementedError(
            f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for the modes: "
            f"nearest | linear | bilinear | bicubic | trilinear | area | nearest-exact (got {mode})")
    in_size = list(input.shape[2:])
    if any(s <= 0 for s in in_size) or any(s <= 0 for s in output_size) or input.shape[1] == 0:
        raise RuntimeError(f"{op}(): input and output sizes should be greater than 0, but got input "
                           f"{tuple(input.shape)} and output size {tuple(output_size)}")
    if scales is not None and any(not (s > 0) for s in scales):
        raise ValueError(f"{op}(): scale_factor must be positive, got {scale_factor!r}")
    scales2 = [0.0, 0.0] if scales is None else [float(s) for s in scales]
    kernel_mode = "nearest" if mode == "nearest" else "bilinear"
    return dim, output_size, scales2, kernel_mode, bool(align_corners)


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """Deprecated alias of interpolate (as in torch)."""
    _up_warnings.warn("`nn.functional.upsample` is deprecated. Use `nn.functional.interpolate` instead.",
                      stacklevel=2)
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    """Deprecated: interpolate(..., mode='nearest') (as in torch)."""
    _up_warnings.warn("`nn.functional.upsample_nearest` is deprecated. Use `nn.functional.interpolate` instead.",
                      stacklevel=2)
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    """Deprecated: interpolate(..., mode='bilinear', align_corners=True) (as in torch)."""
    _up_warnings.warn("`nn.functional.upsample_bilinear` is deprecated. Use `nn.functional.interpolate` instead.",
                      stacklevel=2)
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


# ---- linear ----
import math as _linear_math  # noqa: E402

__all__ += ["linear"]


class _Linear(Function):
    """y = x @ weight.T + bias on a 2-D x (rows, in_features); F.linear flattens the leading dims."""

    @staticmethod
    def forward(ctx, input, weight, bias):
        ctx.save_for_backward(input, weight)
        return _C.linear_forward(input, weight, bias)

    @staticmethod
    def backward(ctx, grad_output):
        input, weight = ctx.saved_tensors
        needs = ctx.needs_input_grad
        return _C.linear_backward(grad_output, input, weight, (needs[0], needs[1], needs[2]))


def _linear_checks(input, weight):
    """linear's checks of input (*, in_features) and weight (out_features, in_features) or (in_features,), on
    anything with .ndim and .shape."""
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
        rows = _linear_math.prod(shape[:-1])
        raise RuntimeError(f"{op}(): mat1 and mat2 shapes cannot be multiplied ({rows}x{shape[-1]} and "
                           f"{in_features}x{out_features}): input has {shape[-1]} features in its last dimension "
                           f"{shape}, weight {(out_features, in_features)} expects {in_features}")


def linear(input, weight, bias=None):
    """y = input @ weight.T + bias over the last dimension of input (*, in_features) -> (*, out_features).

    weight is (out_features, in_features), or (in_features,) for a single output whose dimension is
    dropped, as in torch; bias is (out_features,) or None.
    """
    # The common case (2-D input and weight, bias (out_features,) or None) straight to the kernel: at
    # batch 1 the checks below cost a sizeable part of the call.
    if isinstance(input, Tensor) and isinstance(weight, Tensor):
        ishape, wshape = input.data.shape, weight.data.shape
        if len(ishape) == 2 and len(wshape) == 2 and ishape[1] == wshape[1] and (
                bias is None or (isinstance(bias, Tensor) and bias.data.shape == wshape[:1])):
            return _Linear.apply(input, weight, bias)
    op = "linear"
    _check_tensor(input, op, "input")
    _check_tensor(weight, op, "weight")
    _check_tensor(bias, op, "bias", optional=True)
    shape = input.shape
    _linear_checks(input, weight)
    vector_weight = weight.ndim == 1
    if vector_weight:
        weight = weight.unsqueeze(0)
    in_features, out_features = weight.shape[1], weight.shape[0]
    extra_bias = None  # a bias that is not (out_features,) is added after the product, broadcasting as torch
    if bias is not None and (vector_weight or bias.shape != (out_features,)):
        out_shape = shape[:-1] + (() if vector_weight else (out_features,))
        try:
            broadcast = np.broadcast_shapes(bias.shape, out_shape)
        except ValueError:
            broadcast = None
        if broadcast != out_shape:
            raise ValueError(f"{op}(): bias must have shape ({out_features},) or broadcast to the output shape "
                             f"{out_shape}, got {tuple(bias.shape)}")
        extra_bias, bias = bias, None
    if input.ndim == 2:
        out = _Linear.apply(input, weight, bias)
    else:
        out = _Linear.apply(input.reshape(_linear_math.prod(shape[:-1]), in_features), weight, bias)
        out = out.reshape(shape[:-1] + (out_features,))
    if vector_weight:
        out = out.squeeze(-1)
    return out if extra_bias is None else out + extra_bias


# ---------------------------------------------------------------------------------------------------------
# ---- losses ----
# cross_entropy and nll_loss run fused C++ kernels (csrc/ops/loss.cpp); the element-wise losses are numpy
# inside autograd Functions, in torch's numerically stable forms. Gradients flow to the input (and to the
# target where torch gives one); class weights, pos_weight and margins get none.
import warnings as _loss_warnings  # noqa: E402

from ..tensor import _sum_to as _loss_sum_to  # noqa: E402

__all__ += ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "nll_loss", "cross_entropy",
            "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div", "margin_ranking_loss",
            "multi_margin_loss", "sigmoid_focal_loss"]

_REDUCTIONS = ("none", "mean", "sum")


def _legacy_reduction(size_average, reduce, reduction, op):
    """torch's reduction argument, from the deprecated size_average / reduce when either is given."""
    if size_average is not None or reduce is not None:
        _loss_warnings.warn("size_average and reduce args will be deprecated, please use reduction='"
                            + ("none" if reduce is False else "mean" if size_average is not False else "sum")
                            + "' instead.", stacklevel=3)
        if reduce is False:
            return "none"
        return "sum" if size_average is False else "mean"
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def _reduce_array(loss, reduction):
    if reduction == "none":
        return loss
    return array_module(loss).asarray(loss.mean() if reduction == "mean" else loss.sum(), dtype=loss.dtype)


def _expand_grad(grad, reduction, shape, dtype):
    """The gradient of each element of an unreduced loss of `shape` from the reduced loss's gradient."""
    if reduction == "none":
        return grad.astype(dtype, copy=False)
    n = int(np.prod(shape))
    g = grad / n if reduction == "mean" else grad
    xp = array_module(grad)
    return xp.broadcast_to(xp.asarray(g, dtype=dtype), shape)


def _float_dtype(input, op):
    if input.dtype not in (np.float32, np.float64):
        raise TypeError(f"{op}(): expected a float32 or float64 input, got {input.dtype}")
    return input.dtype


def _array_of(value):
    return None if value is None else (value.data if isinstance(value, Tensor) else array_module(value).asarray(value))


# Element-wise losses: kind -> (loss(x, y, **params), grads(x, y, g, **params) -> (d/dx, d/dy)).

def _mse(x, y):
    return (x - y) ** 2


def _mse_grad(x, y, g):
    d = 2 * (x - y) * g
    return d, -d


def _l1(x, y):
    return np.abs(x - y)


def _l1_grad(x, y, g):
    d = np.sign(x - y) * g
    return d, -d


def _smooth_l1(x, y, beta):
    d = np.abs(x - y)
    if beta == 0:
        return d
    return np.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta)


def _smooth_l1_grad(x, y, g, beta):
    z = x - y
    d = (np.sign(z) if beta == 0 else np.where(z < -beta, -1, np.where(z > beta, 1, z / beta))) * g
    return d, -d


def _huber(x, y, delta):
    d = np.abs(x - y)
    return np.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta))


def _huber_grad(x, y, g, delta):
    d = np.clip(x - y, -delta, delta) * g
    return d, -d


def _bce(x, y, weight):
    # torch clamps each log at -100 so that a probability of exactly 0 or 1 gives a finite loss.
    with np.errstate(divide="ignore"):
        loss = -(y * np.maximum(np.log(x), -100) + (1 - y) * np.maximum(np.log1p(-x), -100))
    return loss if weight is None else loss * weight


_BCE_EPS = float(np.float32(1e-12))  # torch's epsilon is a float32 constant, also in float64


def _bce_grad(x, y, g, weight):
    w = g if weight is None else g * weight
    dx = w * (x - y) / np.maximum((1 - x) * x, _BCE_EPS)
    with np.errstate(divide="ignore"):
        dy = w * (np.maximum(np.log1p(-x), -100) - np.maximum(np.log(x), -100))
    return dx, dy


def _softplus_neg(x):
    """log(1 + e^-x), stably."""
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(-x, 0)


def _bce_logits(x, y, weight, pos_weight):
    # (1 - y) x + lw log(1 + e^-x) with lw = 1 + (pos_weight - 1) y: the log-sum-exp form, finite for any x.
    lw = 1 if pos_weight is None else 1 + (pos_weight - 1) * y
    loss = (1 - y) * x + lw * _softplus_neg(x)
    return loss if weight is None else loss * weight


def _bce_logits_grad(x, y, g, weight, pos_weight):
    w = g if weight is None else g * weight
    sig_neg = 0.5 * (1 - np.tanh(0.5 * x))  # sigmoid(-x) without overflow
    if pos_weight is None:
        return w * ((1 - y) - sig_neg), -w * x
    lw = 1 + (pos_weight - 1) * y
    return w * ((1 - y) - lw * sig_neg), w * (-x + (pos_weight - 1) * _softplus_neg(x))


def _kl_div(x, y, log_target):
    if log_target:
        return np.exp(y) * (y - x)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(y > 0, y * np.log(np.where(y > 0, y, 1)), 0) - y * x


def _kl_div_grad(x, y, g, log_target):
    if log_target:
        e = np.exp(y)
        return -e * g, e * (y - x + 1) * g
    with np.errstate(divide="ignore"):
        return -y * g, (np.log(y) + 1 - x) * g


_POINTWISE = {
    "mse_loss": (_mse, _mse_grad), "l1_loss": (_l1, _l1_grad), "smooth_l1_loss": (_smooth_l1, _smooth_l1_grad),
    "huber_loss": (_huber, _huber_grad), "binary_cross_entropy": (_bce, _bce_grad),
    "binary_cross_entropy_with_logits": (_bce_logits, _bce_logits_grad), "kl_div": (_kl_div, _kl_div_grad),
}


class _PointwiseLoss(Function):
    @staticmethod
    def forward(ctx, input, target, kind, params, reduction):
        dtype = np.result_type(input.dtype, target.dtype) if target.dtype.kind == "f" else input.dtype
        x, y = input.astype(dtype, copy=False), target.astype(dtype, copy=False)
        loss = _POINTWISE[kind][0](x, y, **params).astype(dtype, copy=False)
        ctx.save_for_backward(x, y)
        ctx.args = (kind, params, reduction, loss.shape, input.shape, target.shape, input.dtype, target.dtype)
        if reduction == "batchmean":
            return array_module(loss).asarray(loss.sum() / (loss.shape[0] if loss.ndim else 1), dtype=dtype)
        return _reduce_array(loss, reduction)

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        kind, params, reduction, shape, x_shape, y_shape, x_dtype, y_dtype = ctx.args
        if reduction == "batchmean":
            grad, reduction = grad / (shape[0] if len(shape) else 1), "sum"
        g = _expand_grad(grad, reduction, shape, x.dtype)
        dx, dy = _POINTWISE[kind][1](x, y, g, **params)
        needs = ctx.needs_input_grad
        dx = _loss_sum_to(np.broadcast_to(dx, shape), x_shape).astype(x_dtype) if needs[0] else None
        dy = (_loss_sum_to(np.broadcast_to(dy, shape), y_shape).astype(y_dtype)
              if needs[1] and y_dtype.kind == "f" else None)
        return dx, dy, None, None, None


def _pointwise(op, input, target, reduction, params, same_size=False, broadcast_warning=True):
    _check_tensor(input, op, "input")
    _check_tensor(target, op, "target")
    _float_dtype(input, op)
    if same_size and target.shape != input.shape:
        raise ValueError(f"Using a target size ({target.shape}) that is different to the input size "
                         f"({input.shape}) is deprecated. Please ensure they have the same size.")
    if target.shape != input.shape:
        try:
            np.broadcast_shapes(input.shape, target.shape)
        except ValueError:
            raise RuntimeError(f"{op}(): the size of input {tuple(input.shape)} and of target "
                               f"{tuple(target.shape)} cannot be broadcast together") from None
        if broadcast_warning:
            _loss_warnings.warn(f"Using a target size ({target.shape}) that is different to the input size "
                                f"({input.shape}). This will likely lead to incorrect results due to "
                                "broadcasting. Please ensure they have the same size.", stacklevel=3)
    return _PointwiseLoss.apply(input, target, op, params, reduction)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """(input - target)^2, reduced; weight (torch >= 2.6) multiplies each element."""
    reduction = _legacy_reduction(size_average, reduce, reduction, "mse_loss")
    if weight is not None:
        return _reduce_tensor(mse_loss(input, target, reduction="none") * weight, reduction)
    return _pointwise("mse_loss", input, target, reduction, {})


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """|input - target|, reduced (gradient sign(input - target), 0 where they are equal)."""
    reduction = _legacy_reduction(size_average, reduce, reduction, "l1_loss")
    if weight is not None:
        return _reduce_tensor(l1_loss(input, target, reduction="none") * weight, reduction)
    return _pointwise("l1_loss", input, target, reduction, {})


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """0.5 d^2 / beta where d = |input - target| < beta, else d - 0.5 beta (l1_loss when beta == 0)."""
    reduction = _legacy_reduction(size_average, reduce, reduction, "smooth_l1_loss")
    beta = _number(beta, "smooth_l1_loss", "beta")
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    return _pointwise("smooth_l1_loss", input, target, reduction, {"beta": beta})


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """0.5 d^2 where d = |input - target| < delta, else delta (d - 0.5 delta)."""
    reduction = _legacy_reduction(None, None, reduction, "huber_loss")
    delta = _number(delta, "huber_loss", "delta")
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    if weight is not None:
        return _reduce_tensor(huber_loss(input, target, reduction="none", delta=delta) * weight, reduction)
    return _pointwise("huber_loss", input, target, reduction, {"delta": delta})


def _reduce_tensor(loss, reduction):
    return loss if reduction == "none" else (loss.mean() if reduction == "mean" else loss.sum())


def _broadcast_weight(weight, shape, op, arg):
    if weight is None:
        return None
    _check_tensor(weight, op, arg)
    try:
        np.broadcast_shapes(weight.shape, shape)
    except ValueError:
        raise RuntimeError(f"{op}(): {arg} of shape {tuple(weight.shape)} cannot be broadcast to the input's "
                           f"shape {tuple(shape)}") from None
    return weight.data


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """-w (target log(input) + (1 - target) log(1 - input)) with each log clamped to >= -100 (as torch);
    input and target must lie in [0, 1]."""
    op = "binary_cross_entropy"
    reduction = _legacy_reduction(size_average, reduce, reduction, op)
    _check_tensor(input, op, "input")
    _check_tensor(target, op, "target")
    if target.shape != input.shape:
        raise ValueError(f"Using a target size ({target.shape}) that is different to the input size "
                         f"({input.shape}) is deprecated. Please ensure they have the same size.")
    x, y = input.data, target.data
    if x.size and not ((x >= 0) & (x <= 1)).all():
        raise RuntimeError("binary_cross_entropy(): all elements of input should be between 0 and 1")
    if y.size and not ((y >= 0) & (y <= 1)).all():
        raise RuntimeError("binary_cross_entropy(): all elements of target should be between 0 and 1")
    params = {"weight": _broadcast_weight(weight, input.shape, op, "weight")}
    return _pointwise(op, input, target, reduction, params, same_size=True)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None, reduction="mean",
                                     pos_weight=None):
    """binary_cross_entropy(sigmoid(input), target) in the log-sum-exp form, finite for any logit;
    pos_weight (broadcast along the last, class, axis) weighs the positive term."""
    op = "binary_cross_entropy_with_logits"
    reduction = _legacy_reduction(size_average, reduce, reduction, op)
    _check_tensor(input, op, "input")
    _check_tensor(target, op, "target")
    if target.shape != input.shape:
        raise ValueError(f"Target size ({target.shape}) must be the same as input size ({input.shape})")
    params = {"weight": _broadcast_weight(weight, input.shape, op, "weight"),
              "pos_weight": _broadcast_weight(pos_weight, input.shape, op, "pos_weight")}
    return _pointwise(op, input, target, reduction, params, same_size=True)


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """target (log(target) - input) (0 where target is 0), or with log_target exp(target) (target - input);
    input holds log-probabilities. 'batchmean' divides the sum by the batch size (input.shape[0])."""
    op = "kl_div"
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce, reduction, op)
    elif reduction == "mean":
        _loss_warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size."
                            "'batchmean' divides only by the batch size, and aligns with the KL div math "
                            "definition.'mean' will be changed to behave the same as 'batchmean' in the next "
                            "major release.", stacklevel=2)
    elif reduction not in _REDUCTIONS + ("batchmean",):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return _pointwise(op, input, target, reduction, {"log_target": bool(log_target)}, broadcast_warning=False)


class _MarginRanking(Function):
    @staticmethod
    def forward(ctx, x1, x2, y, margin, reduction):
        z = -y * (x1 - x2) + margin
        loss = np.maximum(z, 0).astype(np.result_type(x1, x2), copy=False)
        ctx.save_for_backward(x1, x2, y, z > 0)
        ctx.args = (reduction, loss.shape)
        return _reduce_array(loss, reduction)

    @staticmethod
    def backward(ctx, grad):
        x1, x2, y, active = ctx.saved_tensors
        reduction, shape = ctx.args
        g = _expand_grad(grad, reduction, shape, np.result_type(x1, x2)) * active
        needs = ctx.needs_input_grad
        return (_loss_sum_to(-y * g, x1.shape).astype(x1.dtype) if needs[0] else None,
                _loss_sum_to(y * g, x2.shape).astype(x2.dtype) if needs[1] else None,
                _loss_sum_to(-(x1 - x2) * g, y.shape).astype(y.dtype) if needs[2] else None, None, None)


def margin_ranking_loss(input1, input2, target, margin=0, size_average=None, reduce=None, reduction="mean"):
    """max(0, -target (input1 - input2) + margin), target in {1, -1}."""
    op = "margin_ranking_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction, op)
    for value, arg in ((input1, "input1"), (input2, "input2"), (target, "target")):
        _check_tensor(value, op, arg)
    if not input1.ndim == input2.ndim == target.ndim:
        raise RuntimeError(f"margin_ranking_loss : All input tensors should have same dimension but got sizes: "
                           f"input1: {input1.shape}, input2: {input2.shape}, target: {target.shape} ")
    _float_dtype(input1, op)
    try:
        np.broadcast_shapes(input1.shape, input2.shape, target.shape)
    except ValueError:
        raise RuntimeError(f"{op}(): the sizes of input1 {input1.shape}, input2 {input2.shape} and target "
                           f"{target.shape} cannot be broadcast together") from None
    return _MarginRanking.apply(input1, input2, target, _number(margin, op, "margin"), reduction)


class _MultiMargin(Function):
    @staticmethod
    def forward(ctx, x, t, p, margin, w, reduction):
        n, c = x.shape
        rows = np.arange(n)
        z = margin - x[rows, t][:, None] + x
        z[rows, t] = 0  # the target class is not compared with itself
        h = np.maximum(z, 0)
        wy = 1 if w is None else w[t][:, None]
        loss = ((h if p == 1 else h * h) * wy).sum(axis=1) / c
        ctx.save_for_backward(h, t, w)
        ctx.args = (p, reduction)
        return _reduce_array(loss.astype(x.dtype, copy=False), reduction)

    @staticmethod
    def backward(ctx, grad):
        h, t, w = ctx.saved_tensors
        p, reduction = ctx.args
        n, c = h.shape
        g = _expand_grad(grad, reduction, (n,), h.dtype)[:, None]
        wy = 1 if w is None else w[t][:, None]
        dz = (h > 0) * (1 if p == 1 else 2 * h) * wy * g / c
        rows = np.arange(n)
        dz[rows, t] = 0
        dx = dz.copy()
        dx[rows, t] = -dz.sum(axis=1)
        return dx.astype(h.dtype, copy=False), None, None, None, None, None


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None, reduce=None,
                      reduction="mean"):
    """The multi-class hinge loss: sum over classes i != y of w[y] max(0, margin - x[y] + x[i])^p / C."""
    op = "multi_margin_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction, op)
    _check_tensor(input, op, "input")
    _check_tensor(target, op, "target")
    if p not in (1, 2):
        raise ValueError("only p == 1 and p == 2 supported")
    _float_dtype(input, op)
    if target.dtype != np.int64:
        raise RuntimeError(f"expected scalar type Long but found {_torch_dtype_name(target.dtype)}")
    unbatched = input.ndim <= 1
    x = input.reshape(1, -1) if unbatched else input
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"{op}(): expected a non-empty 1-D (C,) or 2-D (N, C) input, got {tuple(input.shape)}")
    t = target.data.reshape(-1)
    if target.ndim > 1 or t.shape[0] != x.shape[0]:
        raise RuntimeError(f"multi_margin_loss: target tensor should be 1-D with size equal to the number of input "
                           f"samples (batch size). Expected target size [{x.shape[0]}], but got "
                           f"{list(target.shape)}. Input has shape {list(input.shape)}.")
    if t.size and (t.min() < 0 or t.max() >= x.shape[1]):
        bad = int(t[(t < 0) | (t >= x.shape[1])][0])
        raise IndexError(f"multi_margin_loss(): target {bad} out of range for {x.shape[1]} classes")
    w = None
    if weight is not None:
        _check_tensor(weight, op, "weight")
        if weight.shape != (x.shape[1],):
            raise RuntimeError(f"{op}(): weight must have shape ({x.shape[1]},), got {tuple(weight.shape)}")
        w = weight.data.astype(input.dtype, copy=False)
    out = _MultiMargin.apply(x, t, int(p), _number(margin, op, "margin"), w, reduction)
    return out.reshape(()) if unbatched and reduction == "none" else out


def sigmoid_focal_loss(inputs, targets, alpha=0.25, gamma=2, reduction="none"):
    """torchvision.ops.sigmoid_focal_loss (RetinaNet): binary_cross_entropy_with_logits scaled by
    (1 - p_t)^gamma and, when alpha >= 0, by alpha_t; default reduction 'none'."""
    op = "sigmoid_focal_loss"
    _check_tensor(inputs, op, "inputs")
    _check_tensor(targets, op, "targets")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"Invalid Value for arg 'reduction': '{reduction} \n Supported reduction modes: "
                         "'none', 'mean', 'sum'")
    p = sigmoid(inputs)
    ce_loss = binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    return _reduce_tensor(loss, reduction)


# Class-index losses: fused C++ kernels.

_TORCH_DTYPE_NAMES = {"float32": "Float", "float64": "Double", "int32": "Int", "int16": "Short", "int8": "Char",
                      "uint8": "Byte", "int64": "Long", "bool": "Bool", "float16": "Half"}


def _torch_dtype_name(dtype):
    return _TORCH_DTYPE_NAMES.get(np.dtype(dtype).name, str(dtype))


def _class_target(input, target, op):
    """The int64 class-index array for an (N, C, d1, ...) or (C,) input, with torch's checks and messages."""
    if target.dtype not in (np.int64, np.uint8):
        raise RuntimeError(f"expected target dtype to be Long or Byte, but got {_torch_dtype_name(target.dtype)}")
    unbatched = input.ndim == 1
    expect = () if unbatched else (input.shape[0],) + tuple(input.shape[2:])
    if target.shape != expect:
        if not unbatched and target.ndim >= 1 and target.shape[0] != input.shape[0]:
            raise ValueError(f"Expected input batch_size ({input.shape[0]}) to match target batch_size "
                             f"({target.shape[0]}).")
        raise RuntimeError(f"{op}(): expected target size {list(expect)} for input of shape "
                           f"{list(input.shape)}, got {list(target.shape)}")
    return target.data.astype(np.int64, copy=False)


def _class_weight(weight, input, op):
    if weight is None:
        return None
    _check_tensor(weight, op, "weight")
    c = input.shape[0] if input.ndim == 1 else input.shape[1]
    if weight.shape != (c,):
        raise RuntimeError(f"weight tensor should be defined either for all {c} classes or no classes but got "
                           f"weight tensor of shape: {list(weight.shape)}")
    return weight.data.astype(input.dtype, copy=False)


def _check_class_input(input, op):
    _check_tensor(input, op, "input")
    if not _half_on_gpu(input):  # float16 on the GPU: the CUDA cross-entropy / nll_loss kernels take it
        _float_dtype(input, op)
    if input.ndim == 0:
        raise ValueError(f"{op}(): expected an input of shape (C,), (N, C) or (N, C, d1, ...), got a 0-d input")


from fastlayers._device import array_module as _ce_array_module  # noqa: E402


class _NLLLoss(Function):
    @staticmethod
    def forward(ctx, input, target, weight, ignore_index, reduction):
        unbatched = input.ndim == 1
        x, t = (input[None], target[None]) if unbatched else (input, target)
        loss, total_weight = _C.nll_loss_forward(x, t, weight, ignore_index, reduction)
        ctx.save_for_backward(x, t, weight)
        ctx.args = (total_weight, ignore_index, reduction, input.shape, unbatched)
        return loss[0] if unbatched and reduction == "none" else loss

    @staticmethod
    def backward(ctx, grad):
        x, t, weight = ctx.saved_tensors
        total_weight, ignore_index, reduction, shape, unbatched = ctx.args
        g = grad.reshape(1) if unbatched and reduction == "none" else grad
        g = _ce_array_module(g).ascontiguousarray(g)  # numpy or CuPy, where the input lives
        dx = _C.nll_loss_backward(g, x, t, weight, total_weight, ignore_index, reduction)
        return dx.reshape(shape), None, None, None, None


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    """-weight[target] * input[target] over log-probabilities input (N, C, d1, ...) or (C,); rows whose
    target is ignore_index count for nothing; 'mean' divides by the sum of the weights of the rows kept."""
    op = "nll_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction, op)
    _check_class_input(input, op)
    _check_tensor(target, op, "target")
    t = _class_target(input, target, op)
    w = _class_weight(weight, input, op)
    return _NLLLoss.apply(input, t, w, int(ignore_index), reduction)


class _CrossEntropy(Function):
    @staticmethod
    def forward(ctx, input, target, weight, ignore_index, label_smoothing, reduction):
        unbatched = input.ndim == 1
        x, t = (input[None], target[None]) if unbatched else (input, target)
        loss, lse, total_weight = _C.cross_entropy_forward(x, t, weight, ignore_index, label_smoothing, reduction)
        ctx.save_for_backward(x, t, weight, lse)
        ctx.args = (total_weight, ignore_index, label_smoothing, reduction, input.shape, unbatched)
        return loss[0] if unbatched and reduction == "none" else loss

    @staticmethod
    def backward(ctx, grad):
        x, t, weight, lse = ctx.saved_tensors
        total_weight, ignore_index, eps, reduction, shape, unbatched = ctx.args
        g = grad.reshape(1) if unbatched and reduction == "none" else grad
        g = _ce_array_module(g).ascontiguousarray(g)  # numpy or CuPy, where the logits live
        needs = ctx.needs_input_grad
        dx = dt = None
        if needs[0]:
            dx = _C.cross_entropy_backward(g, x, t, weight, lse, total_weight, ignore_index, eps,
                                           reduction).reshape(shape)
        if needs[1] and t.dtype.kind == "f":
            # d loss / d target = scale (1 - eps) w (lse - x): the negative log-softmax, weighted.
            rows = x.shape[0] * int(np.prod(x.shape[2:]))
            scale = g / rows if reduction == "mean" else g
            if reduction == "none":
                scale = scale[:, None]
            neg_lsm = lse[:, None] - x
            w = 1 if weight is None else weight.reshape((1, -1) + (1,) * (x.ndim - 2))
            dt = ((1 - eps) * scale * w * neg_lsm).astype(t.dtype, copy=False).reshape(shape)
        return dx, dt, None, None, None, None


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
                  label_smoothing=0.0):
    """log_softmax over the class axis (1, or 0 for an unbatched (C,) input) fused with nll_loss; target holds
    class indices (int64, shape (N, d1, ...)) or class probabilities (float, the input's shape). label_smoothing
    mixes the target with the uniform distribution, as torch."""
    op = "cross_entropy"
    reduction = _legacy_reduction(size_average, reduce, reduction, op)
    _check_class_input(input, op)
    _check_tensor(target, op, "target")
    label_smoothing = _number(label_smoothing, op, "label_smoothing")
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    w = _class_weight(weight, input, op)
    if target.dtype.kind == "f" and target.shape == input.shape:
        if ignore_index >= 0:
            raise RuntimeError("ignore_index is not supported for floating point target")
        if target.dtype != input.dtype:
            target = target.to(input.dtype)
        return _CrossEntropy.apply(input, target, w, int(ignore_index), label_smoothing, reduction)
    t = _class_target(input, target, op)
    return _CrossEntropy.apply(input, t, w, int(ignore_index), label_smoothing, reduction)
