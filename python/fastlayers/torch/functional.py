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

from .. import ops as _ops
from ..ops import dropout as _dropout_op
from ._adapter import TORCH, _check_tensor
from ._bridge import backend

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


globals().update(_ops.public_functions(TORCH))


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    return interpolate(input, size, scale_factor, mode, align_corners)


def relu_(input):
    return TORCH.activation("relu", input, True, "relu", {})


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
