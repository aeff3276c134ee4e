"""torch.nn.functional's calls on fastlayers' kernels, taking and returning torch tensors.

Each op is a torch.autograd.Function whose forward hands the tensors' memory to the kernel with no copy (a
non-contiguous input is made contiguous once, before it is saved for backward) and whose backward computes
only the gradients torch asks for (`ctx.needs_input_grad` becomes the kernels' mask). Argument checks and
output sizes come from fastlayers.nn.functional's helpers, which accept torch tensors (they read only .ndim and
.shape). Without a graph to record (no_grad, inference_mode, or no input requiring grad) the forward runs
directly, skipping autograd's bookkeeping.
"""
import numbers

import torch
import torch.nn.functional as _TF

from ..nn import functional as _flF
from ._bridge import arr, backend, once_differentiable, run, ten

Function = torch.autograd.Function

__all__ = ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "max_pool1d", "max_pool2d", "avg_pool1d",
           "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d", "max_unpool2d", "interpolate", "upsample",
           "batch_norm", "group_norm", "layer_norm", "instance_norm", "local_response_norm", "batch_instance_norm",
           "relu", "relu_", "relu6", "leaky_relu", "prelu", "elu", "selu", "celu", "gelu", "silu", "mish",
           "softplus", "sigmoid", "tanh", "hardtanh", "hardsigmoid", "hardswish", "softmax", "log_softmax",
           "maxout", "dropout", "dropout2d", "pad", "linear"]

# Padding is data movement, not a layer: torch's own is used (conv padding modes, asymmetric 'same').
pad = _TF.pad


def __getattr__(name):
    """Every other torch.nn.functional name (losses, pad, one_hot, ...) is torch's own, so a script can swap
    `import torch.nn.functional as F` for `import fastlayers.torch.functional as F` and change nothing else."""
    try:
        return getattr(_TF, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r} (nor has torch.nn.functional)") from None


def _check_tensor(value, op, arg, optional=False):
    if value is None and optional:
        return
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"fastlayers.torch.{op}(): argument '{arg}' must be a torch.Tensor, "
                        f"not {type(value).__name__}")


# ---------------------------------------------------------------------------------------------------------
# Convolution and transposed convolution (1-D ones run as 2-D over a height of 1)


class _Conv2dFn(Function):
    @staticmethod
    def forward(ctx, K, x, w, b, stride, padding, dilation, groups):
        ctx.save_for_backward(x, w)
        ctx.K, ctx.conv = K, (stride, padding, dilation, groups)
        return ten(K.conv2d_forward(arr(x), arr(w), arr(b), stride, padding, dilation, groups))

    @staticmethod
    @once_differentiable("conv2d")
    def backward(ctx, gy):
        x, w = ctx.saved_tensors
        n = ctx.needs_input_grad
        gx, gw, gb = ctx.K.conv2d_backward(arr(gy), arr(x), arr(w), *ctx.conv, mask=(n[1], n[2], n[3]))
        return None, ten(gx), ten(gw), ten(gb), None, None, None, None


def _conv(op, nd, input, weight, bias, stride, padding, dilation, groups):
    _check_tensor(input, op, "input")
    _check_tensor(weight, op, "weight")
    _check_tensor(bias, op, "bias", optional=True)
    K = backend(op, input, weight, bias)
    stride, padding, dilation, same_pad = _flF._conv_args(op, nd, input, weight, bias, stride, padding, dilation,
                                                          groups)
    if same_pad:
        input = pad(input, same_pad)
    unbatched = input.ndim == nd + 1
    if unbatched:
        input = input.unsqueeze(0)
    if nd == 1:
        input, weight = input.unsqueeze(2), weight.unsqueeze(2)
        stride, padding, dilation = (1, stride[0]), (0, padding[0]), (1, dilation[0])
    out = run(_Conv2dFn, K, input.contiguous(), weight.contiguous(), bias, stride, padding, dilation, int(groups))
    if nd == 1:
        out = out.squeeze(2)
    return out.squeeze(0) if unbatched else out


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


class _ConvTranspose2dFn(Function):
    @staticmethod
    def forward(ctx, K, x, w, b, stride, padding, output_padding, groups, dilation):
        ctx.save_for_backward(x, w)
        ctx.K, ctx.conv = K, (stride, padding, output_padding, groups, dilation)
        return ten(K.conv_transpose2d_forward(arr(x), arr(w), arr(b), *ctx.conv))

    @staticmethod
    @once_differentiable("conv_transpose2d")
    def backward(ctx, gy):
        x, w = ctx.saved_tensors
        n = ctx.needs_input_grad
        gx, gw, gb = ctx.K.conv_transpose2d_backward(arr(gy), arr(x), arr(w), *ctx.conv, mask=(n[1], n[2], n[3]))
        return None, ten(gx), ten(gw), ten(gb), None, None, None, None, None


def _conv_transpose(op, nd, input, weight, bias, stride, padding, output_padding, groups, dilation):
    _check_tensor(input, op, "input")
    _check_tensor(weight, op, "weight")
    _check_tensor(bias, op, "bias", optional=True)
    K = backend(op, input, weight, bias)
    stride, padding, output_padding, dilation = _flF._conv_transpose_args(
        op, nd, input, weight, bias, stride, padding, output_padding, groups, dilation)
    unbatched = input.ndim == nd + 1
    if unbatched:
        input = input.unsqueeze(0)
    if nd == 1:
        input, weight = input.unsqueeze(2), weight.unsqueeze(2)
        stride, padding = (1, stride[0]), (0, padding[0])
        output_padding, dilation = (0, output_padding[0]), (1, dilation[0])
    out = run(_ConvTranspose2dFn, K, input.contiguous(), weight.contiguous(), bias, stride, padding,
              output_padding, int(groups), dilation)
    if nd == 1:
        out = out.squeeze(2)
    return out.squeeze(0) if unbatched else out


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    return _conv_transpose("conv_transpose2d", 2, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    return _conv_transpose("conv_transpose1d", 1, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


# ---------------------------------------------------------------------------------------------------------
# Pooling


class _MaxPool2dFn(Function):
    """Max pooling (fixed windows, or adaptive when `window` is None): (output, int64 indices)."""

    @staticmethod
    def forward(ctx, K, x, window, output_size):
        if window is None:
            out, idx = K.adaptive_max_pool2d_forward(arr(x), output_size)
        else:
            out, idx = K.max_pool2d_forward(arr(x), *window)
        out, idx = ten(out), ten(idx)
        ctx.K, ctx.input_size = K, tuple(x.shape[2:])
        ctx.save_for_backward(idx)
        ctx.mark_non_differentiable(idx)
        return out, idx

    @staticmethod
    @once_differentiable("max_pool2d")
    def backward(ctx, gy, _gidx=None):
        (idx,) = ctx.saved_tensors
        return None, ten(ctx.K.max_pool2d_backward(arr(gy), arr(idx), ctx.input_size)), None, None


class _AvgPool2dFn(Function):
    @staticmethod
    def forward(ctx, K, x, pool):
        ctx.K, ctx.pool, ctx.input_size = K, pool, tuple(x.shape[2:])
        return ten(K.avg_pool2d_forward(arr(x), *pool))

    @staticmethod
    @once_differentiable("avg_pool2d")
    def backward(ctx, gy):
        return None, ten(ctx.K.avg_pool2d_backward(arr(gy), ctx.input_size, *ctx.pool)), None


class _AdaptiveAvgPool2dFn(Function):
    @staticmethod
    def forward(ctx, K, x, output_size):
        ctx.K, ctx.input_size = K, tuple(x.shape[2:])
        return ten(K.adaptive_avg_pool2d_forward(arr(x), output_size))

    @staticmethod
    @once_differentiable("adaptive_avg_pool2d")
    def backward(ctx, gy):
        return None, ten(ctx.K.adaptive_avg_pool2d_backward(arr(gy), ctx.input_size)), None


class _MaxUnpool2dFn(Function):
    @staticmethod
    def forward(ctx, K, x, idx, output_size):
        ctx.K = K
        ctx.save_for_backward(idx)
        return ten(K.max_unpool2d_forward(arr(x), arr(idx), output_size))

    @staticmethod
    @once_differentiable("max_unpool2d")
    def backward(ctx, gy):
        (idx,) = ctx.saved_tensors
        return None, ten(ctx.K.max_unpool2d_backward(arr(gy), arr(idx))), None, None


def _pool_input(op, nd, input):
    """Checks a pooling input of nd spatial dims; returns (backend, batched contiguous input, whether unbatched)."""
    _check_tensor(input, op, "input")
    K = backend(op, input)
    if input.ndim not in (nd + 1, nd + 2) or any(s == 0 for s in input.shape[input.ndim - nd - 1:]):
        raise ValueError(f"{op}(): expected a non-empty {nd + 1}-D (unbatched) or {nd + 2}-D (batched) input, "
                         f"got input of shape {tuple(input.shape)}")
    unbatched = input.ndim == nd + 1
    if unbatched:
        input = input.unsqueeze(0)
    if nd == 1:
        input = input.unsqueeze(2)
    return K, input.contiguous(), unbatched


def _pool_output(out, nd, unbatched):
    if nd == 1:
        out = out.squeeze(2)
    return out.squeeze(0) if unbatched else out


def _max_pool(op, nd, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    K, x, unbatched = _pool_input(op, nd, input)
    kernel, stride, padding, dilation = _flF._pool_args(op, nd, kernel_size, stride, padding, dilation)
    _flF._check_pool_sizes(op, input.shape, kernel, stride, padding, dilation, ceil_mode)
    if nd == 1:
        kernel, stride, padding, dilation = (1, kernel[0]), (1, stride[0]), (0, padding[0]), (1, dilation[0])
    out, idx = run(_MaxPool2dFn, K, x, (kernel, stride, padding, dilation, bool(ceil_mode)), None)
    out, idx = _pool_output(out, nd, unbatched), _pool_output(idx, nd, unbatched)
    return (out, idx) if return_indices else out


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def _avg_pool(op, nd, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    K, x, unbatched = _pool_input(op, nd, input)
    kernel, stride, padding, _ = _flF._pool_args(op, nd, kernel_size, stride, padding, 1)
    if divisor_override is not None:
        if not isinstance(divisor_override, numbers.Integral) or isinstance(divisor_override, bool):
            raise TypeError(f"{op}(): divisor_override must be an int or None, got {divisor_override!r}")
        if divisor_override == 0:
            raise ValueError(f"{op}(): divisor must be not zero, got divisor_override={divisor_override}")
    _flF._check_pool_sizes(op, input.shape, kernel, stride, padding, (1,) * nd, ceil_mode)
    if nd == 1:
        kernel, stride, padding = (1, kernel[0]), (1, stride[0]), (0, padding[0])
    pool = (kernel, stride, padding, bool(ceil_mode), bool(count_include_pad), int(divisor_override or 0))
    return _pool_output(run(_AvgPool2dFn, K, x, pool), nd, unbatched)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    return _avg_pool("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    return _avg_pool("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode, count_include_pad, None)


def adaptive_avg_pool2d(input, output_size):
    K, x, unbatched = _pool_input("adaptive_avg_pool2d", 2, input)
    size = _flF._adaptive_output_size("adaptive_avg_pool2d", output_size, x.shape[2:])
    return _pool_output(run(_AdaptiveAvgPool2dFn, K, x, size), 2, unbatched)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    K, x, unbatched = _pool_input("adaptive_max_pool2d", 2, input)
    size = _flF._adaptive_output_size("adaptive_max_pool2d", output_size, x.shape[2:])
    out, idx = run(_MaxPool2dFn, K, x, None, size)
    out, idx = _pool_output(out, 2, unbatched), _pool_output(idx, 2, unbatched)
    return (out, idx) if return_indices else out


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    op = "max_unpool2d"
    K, x, unbatched = _pool_input(op, 2, input)
    _check_tensor(indices, op, "indices")
    if indices.dtype != torch.int64:
        raise TypeError(f"{op}(): indices must have dtype torch.int64, got {indices.dtype}")
    if unbatched:
        indices = indices.unsqueeze(0)
    if tuple(indices.shape) != tuple(x.shape):
        raise ValueError(f"{op}(): expected indices of the input's shape {tuple(x.shape)}, "
                         f"got {tuple(indices.shape)}")
    size = _flF._unpool_output_size(op, x.shape, kernel_size, stride, padding, output_size)
    return _pool_output(run(_MaxUnpool2dFn, K, x, indices.contiguous(), size), 2, unbatched)


# ---------------------------------------------------------------------------------------------------------
# Upsampling


class _Upsample2dFn(Function):
    @staticmethod
    def forward(ctx, K, x, output_size, scales, mode, align_corners, shortcuts):
        ctx.K, ctx.args = K, (tuple(x.shape[2:]), scales, mode, align_corners, shortcuts)
        return ten(K.upsample2d_forward(arr(x), output_size, scales, mode, align_corners, shortcuts))

    @staticmethod
    @once_differentiable("interpolate")
    def backward(ctx, gy):
        return (None, ten(ctx.K.upsample2d_backward(arr(gy), *ctx.args))) + (None,) * 5


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Modes 'nearest' (3-D and 4-D input), 'linear' (3-D) and 'bilinear' (4-D), with torch's index rules."""
    _check_tensor(input, "interpolate", "input")
    K = backend("interpolate", input)
    dim, output_size, scales, kernel_mode, align_corners = _flF._interpolate_args(
        input, size, scale_factor, mode, align_corners, recompute_scale_factor, antialias)
    x = input.contiguous()
    if dim == 1:  # as (N, C, 1, L), without the size shortcuts (see fastlayers.nn.functional.interpolate)
        out = run(_Upsample2dFn, K, x.unsqueeze(2), (1, output_size[0]), (0.0, scales[0]), kernel_mode,
                  align_corners, False)
        return out.squeeze(2)
    return run(_Upsample2dFn, K, x, tuple(output_size), tuple(scales), kernel_mode, align_corners, True)


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    return interpolate(input, size, scale_factor, mode, align_corners)


# ---------------------------------------------------------------------------------------------------------
# Normalization


class _BatchNormFn(Function):
    """Batch norm; in training the running statistics (torch buffers, seen as numpy views of their memory) are
    updated in place by the kernel."""

    @staticmethod
    def forward(ctx, K, x, running_mean, running_var, w, b, training, momentum, eps):
        y, mean, rstd = K.batch_norm_forward(arr(x), arr(w), arr(b), arr(running_mean), arr(running_var), training,
                                             momentum, eps)
        ctx.save_for_backward(x, w)
        ctx.K, ctx.stats, ctx.training = K, (mean, rstd), training
        return ten(y)

    @staticmethod
    @once_differentiable("batch_norm")
    def backward(ctx, gy):
        x, w = ctx.saved_tensors
        n = ctx.needs_input_grad
        gx, gw, gb = ctx.K.batch_norm_backward(arr(gy), arr(x), *ctx.stats, arr(w), ctx.training,
                                               mask=(n[1], n[4], n[5]))
        return None, ten(gx), None, None, ten(gw), ten(gb), None, None, None


def _norm_tensors(op, input, cpu_only=False, float32_params=False, **optional):
    _check_tensor(input, op, "input")
    for name, value in optional.items():
        _check_tensor(value, op, name, optional=True)
    return backend(op, input, *optional.values(), cpu_only=cpu_only, float32_params=float32_params)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-05):
    K = _norm_tensors("batch_norm", input, float32_params=True, running_mean=running_mean, running_var=running_var,
                      weight=weight, bias=bias)
    _flF._batch_norm_checks(input, running_mean, running_var, weight, bias, training)
    return run(_BatchNormFn, K, input.contiguous(), running_mean, running_var, weight, bias, bool(training),
               float(momentum), float(eps))


class _GroupNormFn(Function):
    """Group norm of a contiguous (N, C, *) input; layer norm runs it on (rows, D) with one group, instance
    norm with one channel per group (`running` then holds the running statistics to update, or None)."""

    @staticmethod
    def forward(ctx, K, x, w, b, groups, eps, running):
        y, mean, rstd = K.group_norm_forward(arr(x), groups, arr(w), arr(b), eps)
        ctx.save_for_backward(x, w)
        ctx.K, ctx.stats, ctx.groups = K, (mean, rstd), groups
        if running is not None:
            _update_instance_stats(x, mean, rstd, eps, *running)
        return ten(y)

    @staticmethod
    @once_differentiable("group_norm")
    def backward(ctx, gy):
        x, w = ctx.saved_tensors
        n = ctx.needs_input_grad
        gx, gw, gb = ctx.K.group_norm_backward(arr(gy), arr(x), *ctx.stats, arr(w), ctx.groups,
                                               mask=(n[1], n[2], n[3]))
        return None, ten(gx), ten(gw), ten(gb), None, None, None


def _update_instance_stats(x, mean, rstd, eps, running_mean, running_var, momentum):
    """torch's running statistics of instance norm: the batch mean of the per-instance statistics (variance
    unbiased), blended in with `momentum`, written into the buffers."""
    S = x[0, 0].numel()
    with torch.no_grad():
        mean64, rstd64 = ten(mean).double(), ten(rstd).double()
        if running_mean is not None:
            running_mean.mul_(1 - momentum).add_(momentum * mean64.mean(0).to(running_mean.dtype))
        if running_var is not None:
            var = (1.0 / (rstd64 * rstd64) - eps) * (S / (S - 1))
            running_var.mul_(1 - momentum).add_(momentum * var.mean(0).to(running_var.dtype))


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-05):
    K = _norm_tensors("group_norm", input, weight=weight, bias=bias)
    _flF._group_norm_checks(input, num_groups)
    return run(_GroupNormFn, K, input.contiguous(), weight, bias, int(num_groups), float(eps), None)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-05):
    K = _norm_tensors("layer_norm", input, weight=weight, bias=bias)
    shape, rows, D = _flF._layer_norm_shape(input, normalized_shape, weight, bias)
    w = None if weight is None else weight.reshape(D)
    b = None if bias is None else bias.reshape(D)
    y = run(_GroupNormFn, K, input.contiguous().reshape(rows, D), w, b, 1, float(eps), None)
    return y.reshape(input.shape)


def _per_channel_checks(op, input, **params):
    """An (N, C, *) input of at least 3 dims and (C,) per-channel tensors (None allowed)."""
    if input.ndim < 3:
        raise ValueError(f"{op}(): expected input of at least 3 dims (N, C, *), got shape {tuple(input.shape)}")
    C = input.shape[1]
    for name, p in params.items():
        if p is not None and tuple(p.shape) != (C,):
            raise ValueError(f"{op}(): expected {name} of shape ({C},) for an input with {C} channels, "
                             f"got {tuple(p.shape)}")


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-05):
    op = "instance_norm"
    K = _norm_tensors(op, input, float32_params=True, running_mean=running_mean, running_var=running_var,
                      weight=weight, bias=bias)
    _per_channel_checks(op, input, running_mean=running_mean, running_var=running_var, weight=weight, bias=bias)
    C = input.shape[1]
    x = input.contiguous()
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise ValueError(f"{op}(): running_mean and running_var must be given when use_input_stats=False")
        return run(_BatchNormFn, K, x, running_mean, running_var, weight, bias, False, 0.0, float(eps))
    if x[0, 0].numel() <= 1:
        raise ValueError(f"{op}(): expected more than 1 spatial element when training, got input size "
                         f"{tuple(input.shape)}")
    running = None
    if running_mean is not None or running_var is not None:
        running = (running_mean, running_var, float(momentum))
    return run(_GroupNormFn, K, x, weight, bias, int(C), float(eps), running)


class _LocalResponseNormFn(Function):
    @staticmethod
    def forward(ctx, K, x, size, alpha, beta, k):
        y, scale = K.lrn_forward(arr(x), size, alpha, beta, k)
        ctx.save_for_backward(x)
        ctx.K, ctx.scale, ctx.lrn = K, scale, (size, alpha, beta, k)
        return ten(y)

    @staticmethod
    @once_differentiable("local_response_norm")
    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        return None, ten(ctx.K.lrn_backward(arr(gy), arr(x), ctx.scale, *ctx.lrn)), None, None, None, None


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    op = "local_response_norm"
    _check_tensor(input, op, "input")
    K = backend(op, input)
    if input.ndim < 3:
        raise ValueError(f"{op}(): expected 3D or higher dimensionality input (got {input.ndim} dimensions)")
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
        raise ValueError(f"{op}(): size must be a positive integer, got size={size!r}")
    return run(_LocalResponseNormFn, K, input.contiguous(), int(size), _flF._number(alpha, op, "alpha"),
               _flF._number(beta, op, "beta"), _flF._number(k, op, "k"))


class _NumpyCtx:
    """The ctx a fastlayers (numpy) Function expects, so its forward/backward run unchanged under torch."""

    def __init__(self):
        self.saved_tensors = ()
        self.needs_input_grad = ()

    def save_for_backward(self, *arrays):
        self.saved_tensors = arrays


class _BatchInstanceNormFn(Function):
    """fastlayers' batch-instance norm Function (array mixing around the batch- and group-norm kernels), run on
    numpy views of CPU tensors, or on the CUDA tensors themselves with the kernels of K (torch's stream)."""

    @staticmethod
    def forward(ctx, K, x, running_mean, running_var, w, b, rho, training, momentum, eps):
        ctx.inner = _NumpyCtx()
        ctx.inner.kernels = K
        y = _flF._BatchInstanceNormFn.forward(ctx.inner, arr(x), arr(running_mean), arr(running_var), arr(w),
                                              arr(b), arr(rho), training, momentum, eps)
        return ten(y)

    @staticmethod
    @once_differentiable("batch_instance_norm")
    def backward(ctx, gy):
        ctx.inner.needs_input_grad = ctx.needs_input_grad[1:]
        grads = _flF._BatchInstanceNormFn.backward(ctx.inner, arr(gy.contiguous()))
        return (None,) + tuple(ten(g) for g in grads)


def batch_instance_norm(input, running_mean, running_var, weight, bias, rho, training=False, momentum=0.1,
                        eps=1e-05):
    """Batch-Instance Normalization (see fastlayers.nn.functional.batch_instance_norm) on torch tensors."""
    op = "batch_instance_norm"
    # Its mixing around the kernels uses array methods only: it runs on numpy views of CPU tensors and on CUDA
    # tensors as they are; any other device gets a clear error.
    K = _norm_tensors(op, input, cpu_only=input.device.type not in ("cpu", "cuda"), float32_params=True,
                      running_mean=running_mean, running_var=running_var, weight=weight, bias=bias, rho=rho)
    _check_tensor(rho, op, "rho")
    _per_channel_checks(op, input, running_mean=running_mean, running_var=running_var, weight=weight, bias=bias,
                        rho=rho)
    if input[0, 0].numel() <= 1:
        raise ValueError(f"{op}(): expected more than 1 spatial element (instance statistics), got input size "
                         f"{tuple(input.shape)}")
    if not training and (running_mean is None or running_var is None):
        raise RuntimeError(f"{op}(): running_mean and running_var must be defined in evaluation mode "
                           f"(training=False)")
    return run(_BatchInstanceNormFn, K, input.contiguous(), running_mean, running_var, weight, bias, rho,
               bool(training), float(momentum), float(eps))


# ---------------------------------------------------------------------------------------------------------
# Activations

# Kinds whose gradient the kernel reads from the output (as fastlayers.nn.functional does).
_FROM_OUTPUT = _flF._FROM_OUTPUT
# Kinds whose input-based gradient gives the same result when handed the output (the sign / the clamp range is
# the same on both sides), so an in-place call need not keep a copy of its input.
_OUTPUT_AS_INPUT = {"relu", "hardtanh"}


class _ActivationFn(Function):
    @staticmethod
    def forward(ctx, K, x, kind, params):
        out = ten(K.activation_forward(arr(x), kind, **params))
        ctx.K, ctx.act, ctx.from_output = K, (kind, params), kind in _FROM_OUTPUT
        ctx.save_for_backward(out if ctx.from_output else x)
        return out

    @staticmethod
    @once_differentiable("activation")
    def backward(ctx, gy):
        (saved,) = ctx.saved_tensors
        kind, params = ctx.act
        return None, ten(ctx.K.activation_backward(arr(gy), arr(saved), ctx.from_output, kind, **params)), None, None


class _ActivationInplaceFn(Function):
    """The activation written over its input (inplace=True), the input marked dirty so autograd's version
    checks see the change; keeps a copy of the input only where the gradient cannot be read from the output."""

    @staticmethod
    def forward(ctx, K, x, kind, params):
        from_output = kind in _FROM_OUTPUT
        output_as_input = kind in _OUTPUT_AS_INPUT or (kind == "leaky_relu" and params.get("alpha", 0) > 0)
        saved_input = None if from_output or output_as_input else x.detach().clone()
        if x.is_contiguous():
            data = arr(x)
            K.activation_forward(data, kind, out=data, **params)
            torch.autograd.graph.increment_version(x)
        else:
            x.copy_(ten(K.activation_forward(arr(x), kind, **params)))
        ctx.mark_dirty(x)
        ctx.K, ctx.act, ctx.from_output = K, (kind, params), from_output
        if saved_input is None:
            ctx.save_for_backward(x)
        else:
            ctx.save_for_backward(saved_input)
        return x

    backward = _ActivationFn.backward


def _activation(op, input, kind, inplace=False, **params):
    _check_tensor(input, op, "input")
    K = backend(op, input)
    if inplace:
        return run(_ActivationInplaceFn, K, input, kind, params)
    return run(_ActivationFn, K, input.contiguous(), kind, params)


def relu(input, inplace=False):
    return _activation("relu", input, "relu", inplace)


def relu_(input):
    return _activation("relu", input, "relu", True)


def relu6(input, inplace=False):
    return _activation("relu6", input, "hardtanh", inplace, min_val=0.0, max_val=6.0)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    return _activation("leaky_relu", input, "leaky_relu", inplace,
                       alpha=_flF._number(negative_slope, "leaky_relu", "negative_slope"))


def elu(input, alpha=1.0, inplace=False):
    return _activation("elu", input, "elu", inplace, alpha=_flF._number(alpha, "elu", "alpha"))


def selu(input, inplace=False):
    return _activation("selu", input, "elu", inplace, alpha=_flF._SELU_ALPHA, scale=_flF._SELU_SCALE)


def celu(input, alpha=1.0, inplace=False):
    alpha = _flF._number(alpha, "celu", "alpha")
    if alpha == 0:
        raise ValueError("celu(): ZeroDivisionError: alpha cannot be 0 for CELU, got alpha=0")
    return _activation("celu", input, "elu", inplace, alpha=alpha, input_scale=1.0 / alpha)


def gelu(input, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu(): approximate argument must be either none or tanh, got {approximate!r}")
    return _activation("gelu", input, "gelu" if approximate == "none" else "gelu_tanh")


def silu(input, inplace=False):
    return _activation("silu", input, "silu", inplace)


def mish(input, inplace=False):
    return _activation("mish", input, "mish", inplace)


def softplus(input, beta=1.0, threshold=20.0):
    beta = _flF._number(beta, "softplus", "beta")
    if beta == 0:
        raise ValueError("softplus(): beta must be nonzero, got 0")
    return _activation("softplus", input, "softplus", beta=beta,
                       threshold=_flF._number(threshold, "softplus", "threshold"))


def sigmoid(input):
    return _activation("sigmoid", input, "sigmoid")


def tanh(input):
    return _activation("tanh", input, "tanh")


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    min_val = _flF._number(min_val, "hardtanh", "min_val")
    max_val = _flF._number(max_val, "hardtanh", "max_val")
    if min_val > max_val:
        raise ValueError(f"hardtanh(): min_val cannot be greater than max_val, got min_val={min_val}, "
                         f"max_val={max_val}")
    return _activation("hardtanh", input, "hardtanh", inplace, min_val=min_val, max_val=max_val)


def hardsigmoid(input, inplace=False):
    return _activation("hardsigmoid", input, "hardsigmoid", inplace)


def hardswish(input, inplace=False):
    return _activation("hardswish", input, "hardswish", inplace)


class _SoftmaxFn(Function):
    @staticmethod
    def forward(ctx, K, x, dim, log):
        out = ten(K.softmax_forward(arr(x), dim, log))
        ctx.save_for_backward(out)
        ctx.K, ctx.softmax = K, (dim, log)
        return out

    @staticmethod
    @once_differentiable("softmax")
    def backward(ctx, gy):
        (out,) = ctx.saved_tensors
        return None, ten(ctx.K.softmax_backward(arr(gy), arr(out), *ctx.softmax)), None, None


def _softmax(op, input, dim, stacklevel, dtype, log):
    _check_tensor(input, op, "input")
    if dim is None:
        dim = _flF._softmax_dim(input.ndim, op, stacklevel + 1)
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
        raise TypeError(f"{op}(): argument 'dim' must be an int, not {type(dim).__name__}")
    extent = max(input.ndim, 1)
    if not -extent <= dim < extent:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-extent}, {extent - 1}], "
                         f"but got {dim})")
    if dtype is not None:
        input = input.to(dtype)
    K = backend(op, input)
    return run(_SoftmaxFn, K, input.contiguous(), int(dim) % extent, log)


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    return _softmax("softmax", input, dim, _stacklevel, dtype, False)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    return _softmax("log_softmax", input, dim, _stacklevel, dtype, True)


class _PReLUFn(Function):
    @staticmethod
    def forward(ctx, K, x, w):
        ctx.save_for_backward(x, w)
        ctx.K = K
        return ten(K.prelu_forward(arr(x), arr(w)))

    @staticmethod
    @once_differentiable("prelu")
    def backward(ctx, gy):
        x, w = ctx.saved_tensors
        n = ctx.needs_input_grad
        gx, gw = ctx.K.prelu_backward(arr(gy), arr(x), arr(w), mask=(n[1], n[2]))
        return None, ten(gx), ten(gw)


def prelu(input, weight):
    _check_tensor(input, "prelu", "input")
    _check_tensor(weight, "prelu", "weight")
    K = backend("prelu", input, weight)
    if weight.ndim > 1:
        raise ValueError(f"prelu(): weight must be 1-D, got shape {tuple(weight.shape)}")
    return run(_PReLUFn, K, input.contiguous(), weight.contiguous())


class _MaxoutFn(Function):
    @staticmethod
    def forward(ctx, K, x, pieces, dim):
        ctx.save_for_backward(x)
        ctx.K, ctx.maxout = K, (pieces, dim)
        return ten(K.maxout_forward(arr(x), pieces, dim))

    @staticmethod
    @once_differentiable("maxout")
    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        return None, ten(ctx.K.maxout_backward(arr(gy), arr(x), *ctx.maxout)), None, None


def maxout(input, pieces, dim=1):
    """fastlayers' maxout: the maximum over each group of `pieces` consecutive entries of `dim`."""
    _check_tensor(input, "maxout", "input")
    K = backend("maxout", input)
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
    return run(_MaxoutFn, K, input.contiguous(), int(pieces), dim)


# ---------------------------------------------------------------------------------------------------------
# Dropout: inverted dropout with a keep-mask drawn from torch's generator (torch.manual_seed reproduces it); the
# same distribution as torch's (keep probability 1 - p, survivors scaled by 1 / (1 - p)), not its random stream.


def _dropout(op, input, p, training, inplace, mask_shape):
    _check_tensor(input, op, "input")
    _flF._check_p(p)
    if not training or p == 0:
        return input
    backend(op, input)
    keep = torch.rand(mask_shape(input.shape), dtype=input.dtype, device=input.device) >= p
    scale = 0.0 if p == 1 else 1.0 / (1.0 - p)
    mask = keep.to(input.dtype) * scale
    return input.mul_(mask) if inplace else input * mask


def dropout(input, p=0.5, training=True, inplace=False):
    return _dropout("dropout", input, p, training, inplace, lambda shape: shape)


def dropout2d(input, p=0.5, training=True, inplace=False):
    _check_tensor(input, "dropout2d", "input")
    if input.ndim not in (3, 4):
        raise ValueError(f"dropout2d(): expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape "
                         f"{tuple(input.shape)}")
    if input.ndim == 3:  # torch reads a 3-D input as (N, C, L) (with a warning): channel-wise 1-D dropout
        _flF._warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D "
                            "dropout behavior is desired - input is interpreted as shape (N, C, L).", stacklevel=2)
    return _dropout("dropout2d", input, p, training, inplace,
                    lambda shape: tuple(shape[:2]) + (1,) * (len(shape) - 2))


# ---------------------------------------------------------------------------------------------------------
# Linear


class _LinearFn(Function):
    @staticmethod
    def forward(ctx, K, x, w, b):
        ctx.save_for_backward(x, w)
        ctx.K = K
        return ten(K.linear_forward(arr(x), arr(w), arr(b)))

    @staticmethod
    @once_differentiable("linear")
    def backward(ctx, gy):
        x, w = ctx.saved_tensors
        n = ctx.needs_input_grad
        gx, gw, gb = ctx.K.linear_backward(arr(gy), arr(x), arr(w), (n[1], n[2], n[3]))
        return None, ten(gx), ten(gw), ten(gb)


def linear(input, weight, bias=None):
    """input @ weight.T + bias over the last dimension of input (*, in_features) -> (*, out_features); a 1-D
    weight gives one output whose dimension is dropped, and a bias that is not (out_features,) broadcasts, as
    torch."""
    op = "linear"
    _check_tensor(input, op, "input")
    _check_tensor(weight, op, "weight")
    _check_tensor(bias, op, "bias", optional=True)
    K = backend(op, input, weight, bias)
    _flF._linear_checks(input, weight)
    if weight.ndim == 1:
        out = linear(input, weight.unsqueeze(0)).squeeze(-1)
        return out if bias is None else out + bias
    out_features, in_features = weight.shape
    if bias is not None and tuple(bias.shape) != (out_features,):
        return linear(input, weight) + bias  # torch's broadcasting of an unusual bias
    x = input if input.ndim == 2 else input.reshape(-1, in_features)
    out = run(_LinearFn, K, x.contiguous(), weight.contiguous(), bias)
    return out if input.ndim == 2 else out.reshape(tuple(input.shape[:-1]) + (out_features,))
