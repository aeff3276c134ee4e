"""torch.nn.functional's calls on fastlayers' kernels, taking and returning torch tensors.

Each op is the op layer's definition (fastlayers.ops) run through this side's one adapter (_adapter.TORCH): a
torch.autograd.Function whose forward hands the tensors' memory to the kernel with no copy (a non-contiguous
input is made contiguous once, before it is saved for backward) and whose backward computes only the gradients
torch asks for (`ctx.needs_input_grad` becomes the kernels' mask). Without a graph to record (no_grad,
inference_mode, or no input requiring grad) the forward runs directly, skipping autograd's bookkeeping. What is
left here: the type checks of this side (torch tensors) and what is torch's own (in-place activations marking
their input dirty, dropout masks from torch's generator).
"""
import torch
import torch.nn.functional as _TF

from ..ops import activation as _act
from ..ops import conv as _conv
from ..ops import dropout as _dropout_op
from ..ops import linear as _linear
from ..ops import norm as _norm
from ..ops import pool as _pool
from ..ops import upsample as _upsample
from ._adapter import TORCH, _ArrayCtx, function_of
from ._bridge import arr, backend, ten

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


def _check_tensors(op, **tensors):
    """Each keyword a torch.Tensor; those after the first may be None (optional parameters)."""
    first = True
    for name, value in tensors.items():
        _check_tensor(value, op, name, optional=not first)
        first = False


# ---------------------------------------------------------------------------------------------------------
# Convolution and transposed convolution


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    _check_tensors("conv2d", input=input, weight=weight, bias=bias)
    return _conv.conv(TORCH, "conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    _check_tensors("conv1d", input=input, weight=weight, bias=bias)
    return _conv.conv(TORCH, "conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    _check_tensors("conv_transpose2d", input=input, weight=weight, bias=bias)
    return _conv.conv_transpose(TORCH, "conv_transpose2d", 2, input, weight, bias, stride, padding, output_padding,
                                groups, dilation)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    _check_tensors("conv_transpose1d", input=input, weight=weight, bias=bias)
    return _conv.conv_transpose(TORCH, "conv_transpose1d", 1, input, weight, bias, stride, padding, output_padding,
                                groups, dilation)


# ---------------------------------------------------------------------------------------------------------
# Pooling


def _input(input, op):
    _check_tensor(input, op, "input")
    return input


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return _pool.max_pool(TORCH, "max_pool2d", 2, _input(input, "max_pool2d"), kernel_size, stride, padding,
                          dilation, ceil_mode, return_indices)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return _pool.max_pool(TORCH, "max_pool1d", 1, _input(input, "max_pool1d"), kernel_size, stride, padding,
                          dilation, ceil_mode, return_indices)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    return _pool.avg_pool(TORCH, "avg_pool2d", 2, _input(input, "avg_pool2d"), kernel_size, stride, padding,
                          ceil_mode, count_include_pad, divisor_override)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    return _pool.avg_pool(TORCH, "avg_pool1d", 1, _input(input, "avg_pool1d"), kernel_size, stride, padding,
                          ceil_mode, count_include_pad, None)


def adaptive_avg_pool2d(input, output_size):
    op = "adaptive_avg_pool2d"
    return _pool.adaptive_pool(TORCH, op, _input(input, op), output_size)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    op = "adaptive_max_pool2d"
    return _pool.adaptive_pool(TORCH, op, _input(input, op), output_size, return_indices)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    op = "max_unpool2d"
    _check_tensor(input, op, "input")
    _check_tensor(indices, op, "indices")
    if indices.dtype != torch.int64:
        raise TypeError(f"{op}(): indices must have dtype torch.int64, got {indices.dtype}")
    return _pool.max_unpool(TORCH, op, input, indices, kernel_size, stride, padding, output_size)


# ---------------------------------------------------------------------------------------------------------
# Upsampling


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Modes 'nearest' (3-D and 4-D input), 'linear' (3-D) and 'bilinear' (4-D), with torch's index rules."""
    _check_tensor(input, "interpolate", "input")
    return _upsample.interpolate(TORCH, input, size, scale_factor, mode, align_corners, recompute_scale_factor,
                                 antialias)


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    return interpolate(input, size, scale_factor, mode, align_corners)


# ---------------------------------------------------------------------------------------------------------
# Normalization


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-05):
    _check_tensors("batch_norm", input=input, running_mean=running_mean, running_var=running_var, weight=weight,
                   bias=bias)
    return _norm.batch_norm(TORCH, input, running_mean, running_var, weight, bias, training, momentum, eps)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-05):
    _check_tensors("group_norm", input=input, weight=weight, bias=bias)
    return _norm.group_norm(TORCH, input, num_groups, weight, bias, eps)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-05):
    _check_tensors("layer_norm", input=input, weight=weight, bias=bias)
    return _norm.layer_norm(TORCH, input, normalized_shape, weight, bias, eps)


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-05):
    _check_tensors("instance_norm", input=input, running_mean=running_mean, running_var=running_var, weight=weight,
                   bias=bias)
    return _norm.instance_norm(TORCH, input, running_mean, running_var, weight, bias, use_input_stats, momentum, eps)


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    _check_tensor(input, "local_response_norm", "input")
    return _norm.local_response_norm(TORCH, input, size, alpha, beta, k)


def batch_instance_norm(input, running_mean, running_var, weight, bias, rho, training=False, momentum=0.1,
                        eps=1e-05):
    """Batch-Instance Normalization (see fastlayers.nn.functional.batch_instance_norm) on torch tensors; its
    mixing around the kernels uses array methods only, so it runs on numpy views of CPU tensors and on CUDA
    tensors as they are; any other device gets a clear error."""
    _check_tensors("batch_instance_norm", input=input, running_mean=running_mean, running_var=running_var,
                   weight=weight, bias=bias, rho=rho)
    _check_tensor(rho, "batch_instance_norm", "rho")
    return _norm.batch_instance_norm(TORCH, input, running_mean, running_var, weight, bias, rho, training, momentum,
                                     eps)


# ---------------------------------------------------------------------------------------------------------
# Activations

# Kinds whose input-based gradient gives the same result when handed the output (the sign / the clamp range is
# the same on both sides), so an in-place call need not keep a copy of its input.
_OUTPUT_AS_INPUT = {"relu", "hardtanh"}


class _ActivationInplaceFn(torch.autograd.Function):
    """The activation written over its input (inplace=True), the input marked dirty so autograd's version
    checks see the change; keeps a copy of the input only where the gradient cannot be read from the output.
    Its backward is the op definition's (fastlayers.ops.activation.Activation), through the adapter."""

    @staticmethod
    def forward(ctx, K, x, kind, params):
        from_output = kind in _act.FROM_OUTPUT
        output_as_input = kind in _OUTPUT_AS_INPUT or (kind == "leaky_relu" and params.get("alpha", 0) > 0)
        saved_input = None if from_output or output_as_input else x.detach().clone()
        if x.is_contiguous():
            data = arr(x)
            K.activation_forward(data, kind, out=data, **params)
            torch.autograd.graph.increment_version(x)
        else:
            x.copy_(ten(K.activation_forward(arr(x), kind, **params)))
        ctx.mark_dirty(x)
        ctx.K, ctx.inner = K, _ArrayCtx(ctx, None)
        ctx.inner.act, ctx.inner.from_output = (kind, params), from_output
        ctx.save_for_backward(x if saved_input is None else saved_input)
        return x

    backward = function_of(_act.Activation).backward


def _activation(op, input, inplace, kind, params):
    _check_tensor(input, op, "input")
    if not inplace:
        return TORCH.apply(op, _act.Activation, input, kind, params)
    K = backend(op, input)
    if torch.is_grad_enabled() and input.requires_grad:
        return _ActivationInplaceFn.apply(K, input, kind, params)
    return _ActivationInplaceFn.forward(_NoGraph(), K, input, kind, params)


class _NoGraph:
    """A ctx for an in-place forward outside a graph."""

    def mark_dirty(self, *tensors):
        pass

    def save_for_backward(self, *tensors):
        pass


(relu, relu6, leaky_relu, elu, selu, celu, gelu, silu, mish, softplus, sigmoid, tanh, hardtanh, hardsigmoid,
 hardswish) = _act.public_functions(_activation)


def relu_(input):
    return _activation("relu", input, True, "relu", {})


def _softmax(op, input, dim, stacklevel, dtype, log):
    _check_tensor(input, op, "input")
    dim = _act.softmax_dim(op, input, dim, stacklevel)
    if dtype is not None:
        input = input.to(dtype)
    return TORCH.apply(op, _act.Softmax, input, dim, log)


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    return _softmax("softmax", input, dim, _stacklevel, dtype, False)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    return _softmax("log_softmax", input, dim, _stacklevel, dtype, True)


def prelu(input, weight):
    _check_tensor(input, "prelu", "input")
    _check_tensor(weight, "prelu", "weight")
    return _act.prelu(TORCH, input, weight)


def maxout(input, pieces, dim=1):
    """fastlayers' maxout: the maximum over each group of `pieces` consecutive entries of `dim`."""
    _check_tensor(input, "maxout", "input")
    return _act.maxout(TORCH, input, pieces, dim)


# ---------------------------------------------------------------------------------------------------------
# Dropout: inverted dropout with a keep-mask drawn from torch's generator (torch.manual_seed reproduces it); the
# same distribution as torch's (keep probability 1 - p, survivors scaled by 1 / (1 - p)), not its random stream.


def _dropout(op, input, p, training, inplace, mask_shape):
    _check_tensor(input, op, "input")
    _dropout_op.check_p(p)
    if not training or p == 0:
        return input
    backend(op, input)
    keep = torch.rand(mask_shape(input.shape), dtype=input.dtype, device=input.device) >= p
    mask = keep.to(input.dtype) * _dropout_op.scale(p)
    return input.mul_(mask) if inplace else input * mask


def dropout(input, p=0.5, training=True, inplace=False):
    return _dropout("dropout", input, p, training, inplace, _dropout_op.element_mask_shape)


def dropout2d(input, p=0.5, training=True, inplace=False):
    _check_tensor(input, "dropout2d", "input")
    _dropout_op.check_dropout2d(input)
    return _dropout("dropout2d", input, p, training, inplace, _dropout_op.channel_mask_shape)


# ---------------------------------------------------------------------------------------------------------
# Linear


def linear(input, weight, bias=None):
    """input @ weight.T + bias over the last dimension of input (*, in_features) -> (*, out_features); a 1-D
    weight gives one output whose dimension is dropped, and a bias that is not (out_features,) broadcasts, as
    torch."""
    _check_tensors("linear", input=input, weight=weight, bias=bias)
    return _linear.linear(TORCH, input, weight, bias)
