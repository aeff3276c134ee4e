"""Drop-in torch.nn modules on fastlayers' kernels.

Each class subclasses its torch.nn counterpart and overrides only the computation, so the constructor,
parameters, buffers, default initialization, state_dict keys, repr and isinstance checks are torch's own and
checkpoints load both ways unchanged. Since they add no state, `replace()` can swap an existing module's class in
place and keep its Parameter objects.
"""
import numbers

import torch
import torch.nn as nn

from . import functional as F

__all__ = ["Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d", "MaxPool1d", "MaxPool2d", "AvgPool1d",
           "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "MaxUnpool2d", "Upsample", "BatchNorm1d",
           "BatchNorm2d", "GroupNorm", "LayerNorm", "InstanceNorm1d", "InstanceNorm2d", "LocalResponseNorm", "ReLU",
           "ReLU6", "LeakyReLU", "PReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish", "Softplus", "Sigmoid",
           "Tanh", "Hardtanh", "Hardsigmoid", "Hardswish", "Softmax", "LogSoftmax", "Dropout", "Dropout2d",
           "Linear", "Maxout", "BatchInstanceNorm2d"]


# Convolutions: torch's forward calls self._conv_forward (padding modes handled there).


def _conv_forward(module, input, weight, bias, conv):
    """Conv1d/Conv2d._conv_forward with `conv` (F.conv1d or F.conv2d): a padding mode other than zeros pads
    first, as torch does."""
    padding = module.padding
    if module.padding_mode != "zeros":
        input = F.pad(input, module._reversed_padding_repeated_twice, mode=module.padding_mode)
        padding = 0
    return conv(input, weight, bias, module.stride, padding, module.dilation, module.groups)


def _conv_transpose_forward(module, input, output_size, nd, conv_transpose):
    """ConvTranspose1d/2d.forward with `conv_transpose`: zeros padding only, output_padding from output_size as
    torch computes it."""
    if module.padding_mode != "zeros":
        raise ValueError(f"Only `zeros` padding mode is supported for {type(module).__name__}")
    output_padding = module._output_padding(input, output_size, module.stride, module.padding, module.kernel_size,
                                            nd, module.dilation)
    return conv_transpose(input, module.weight, module.bias, module.stride, module.padding, output_padding,
                          module.groups, module.dilation)


class Conv1d(nn.Conv1d):
    def _conv_forward(self, input, weight, bias):
        return _conv_forward(self, input, weight, bias, F.conv1d)


class Conv2d(nn.Conv2d):
    def _conv_forward(self, input, weight, bias):
        return _conv_forward(self, input, weight, bias, F.conv2d)


class ConvTranspose1d(nn.ConvTranspose1d):
    def forward(self, input, output_size=None):
        return _conv_transpose_forward(self, input, output_size, 1, F.conv_transpose1d)


class ConvTranspose2d(nn.ConvTranspose2d):
    def forward(self, input, output_size=None):
        return _conv_transpose_forward(self, input, output_size, 2, F.conv_transpose2d)


# Pooling and upsampling


class MaxPool1d(nn.MaxPool1d):
    def forward(self, input):
        return F.max_pool1d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            ceil_mode=self.ceil_mode, return_indices=self.return_indices)


class MaxPool2d(nn.MaxPool2d):
    def forward(self, input):
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            ceil_mode=self.ceil_mode, return_indices=self.return_indices)


class AvgPool1d(nn.AvgPool1d):
    def forward(self, input):
        return F.avg_pool1d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)


class AvgPool2d(nn.AvgPool2d):
    def forward(self, input):
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)


class AdaptiveAvgPool2d(nn.AdaptiveAvgPool2d):
    def forward(self, input):
        return F.adaptive_avg_pool2d(input, self.output_size)


class AdaptiveMaxPool2d(nn.AdaptiveMaxPool2d):
    def forward(self, input):
        return F.adaptive_max_pool2d(input, self.output_size, self.return_indices)


class MaxUnpool2d(nn.MaxUnpool2d):
    def forward(self, input, indices, output_size=None):
        return F.max_unpool2d(input, indices, self.kernel_size, self.stride, self.padding, output_size)


class Upsample(nn.Upsample):
    def forward(self, input):
        return F.interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners,
                             recompute_scale_factor=self.recompute_scale_factor)


# Normalization


def _running_stats_args(module):
    """torch's _BatchNorm.forward: the running statistics it passes (None in training without tracking)."""
    use_buffers = not module.training or module.track_running_stats
    return (module.running_mean if use_buffers else None), (module.running_var if use_buffers else None)


def _training_args(module):
    """torch's _BatchNorm.forward: (training, momentum, eps) it passes: batch statistics when training or without
    buffers; num_batches_tracked counted, and a cumulative average when momentum is None."""
    factor = 0.0 if module.momentum is None else module.momentum
    if module.training and module.track_running_stats and module.num_batches_tracked is not None:
        module.num_batches_tracked.add_(1)
        factor = 1.0 / float(module.num_batches_tracked) if module.momentum is None else module.momentum
    bn_training = module.training or (module.running_mean is None and module.running_var is None)
    return bn_training, factor, module.eps


class _BatchNormForward:
    """torch's _BatchNorm.forward (momentum=None: cumulative average; running statistics updated only when
    tracked and training; batch statistics in eval only without buffers) on fastlayers' batch_norm."""

    def forward(self, input):
        self._check_input_dim(input)
        return F.batch_norm(input, *_running_stats_args(self), self.weight, self.bias, *_training_args(self))


class BatchNorm1d(_BatchNormForward, nn.BatchNorm1d):
    pass


class BatchNorm2d(_BatchNormForward, nn.BatchNorm2d):
    pass


class _InstanceNormApply:
    """torch's _InstanceNorm.forward calls _apply_instance_norm (also for unbatched input, after unsqueezing)."""

    def _apply_instance_norm(self, input):
        return F.instance_norm(input, self.running_mean, self.running_var, self.weight, self.bias,
                               self.training or not self.track_running_stats,
                               self.momentum if self.momentum is not None else 0.0, self.eps)


class InstanceNorm1d(_InstanceNormApply, nn.InstanceNorm1d):
    pass


class InstanceNorm2d(_InstanceNormApply, nn.InstanceNorm2d):
    pass


class BatchInstanceNorm2d(nn.modules.batchnorm._NormBase):
    """fastlayers' Batch-Instance Normalization (Nam & Kim, 2018) as a torch module (see
    fastlayers.nn.BatchInstanceNorm2d): y = (rho * x_hat_BN + (1 - rho) * x_hat_IN) * weight + bias per channel.
    Parameters weight, bias (when affine) and rho (initialised to 1: pure batch norm); buffers running_mean,
    running_var, num_batches_tracked (when track_running_stats), as BatchNorm2d. Call clip_rho_() after each
    optimizer step to keep rho in [0, 1] as the paper does."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, device=None,
                 dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device=device, dtype=dtype)
        self.rho = nn.Parameter(torch.ones(num_features, device=device, dtype=dtype))

    def reset_parameters(self):
        super().reset_parameters()
        if getattr(self, "rho", None) is not None:
            nn.init.ones_(self.rho)

    def _check_input_dim(self, input):
        if input.dim() != 4:
            raise ValueError(f"expected 4D input (got {input.dim()}D input)")

    @torch.no_grad()
    def clip_rho_(self):
        self.rho.clamp_(0.0, 1.0)
        return self

    def forward(self, input):
        self._check_input_dim(input)
        if input.shape[1] != self.num_features:
            raise ValueError(f"expected input's size at dim=1 to match num_features ({self.num_features}), "
                             f"but got: {input.shape[1]}.")
        return F.batch_instance_norm(input, *_running_stats_args(self), self.weight, self.bias, self.rho,
                                     *_training_args(self))


# Modules whose forward is one call: torch's module with only forward on fastlayers' kernels.


def _drop_in(base, forward):
    """`base` (a torch.nn module class) whose forward is `forward`; all else is torch's."""
    return type(base.__name__, (base,), {"forward": forward, "__module__": __name__, "__qualname__": base.__name__})


ReLU = _drop_in(nn.ReLU, lambda self, input: F.relu(input, inplace=self.inplace))
ReLU6 = _drop_in(nn.ReLU6, lambda self, input: F.hardtanh(input, self.min_val, self.max_val, self.inplace))
Hardtanh = _drop_in(nn.Hardtanh, lambda self, input: F.hardtanh(input, self.min_val, self.max_val, self.inplace))
LeakyReLU = _drop_in(nn.LeakyReLU, lambda self, input: F.leaky_relu(input, self.negative_slope, self.inplace))
PReLU = _drop_in(nn.PReLU, lambda self, input: F.prelu(input, self.weight))
ELU = _drop_in(nn.ELU, lambda self, input: F.elu(input, self.alpha, self.inplace))
SELU = _drop_in(nn.SELU, lambda self, input: F.selu(input, self.inplace))
CELU = _drop_in(nn.CELU, lambda self, input: F.celu(input, self.alpha, self.inplace))
GELU = _drop_in(nn.GELU, lambda self, input: F.gelu(input, approximate=self.approximate))
SiLU = _drop_in(nn.SiLU, lambda self, input: F.silu(input, inplace=self.inplace))
Mish = _drop_in(nn.Mish, lambda self, input: F.mish(input, inplace=self.inplace))
Softplus = _drop_in(nn.Softplus, lambda self, input: F.softplus(input, self.beta, self.threshold))
Sigmoid = _drop_in(nn.Sigmoid, lambda self, input: F.sigmoid(input))
Tanh = _drop_in(nn.Tanh, lambda self, input: F.tanh(input))
Hardsigmoid = _drop_in(nn.Hardsigmoid, lambda self, input: F.hardsigmoid(input, self.inplace))
Hardswish = _drop_in(nn.Hardswish, lambda self, input: F.hardswish(input, self.inplace))
Softmax = _drop_in(nn.Softmax, lambda self, input: F.softmax(input, self.dim, _stacklevel=5))
LogSoftmax = _drop_in(nn.LogSoftmax, lambda self, input: F.log_softmax(input, self.dim, _stacklevel=5))
Dropout = _drop_in(nn.Dropout, lambda self, input: F.dropout(input, self.p, self.training, self.inplace))
Dropout2d = _drop_in(nn.Dropout2d, lambda self, input: F.dropout2d(input, self.p, self.training, self.inplace))
Linear = _drop_in(nn.Linear, lambda self, input: F.linear(input, self.weight, self.bias))
GroupNorm = _drop_in(nn.GroupNorm, lambda self, input: F.group_norm(input, self.num_groups, self.weight, self.bias,
                                                                      self.eps))
LayerNorm = _drop_in(nn.LayerNorm, lambda self, input: F.layer_norm(input, self.normalized_shape, self.weight,
                                                                      self.bias, self.eps))
LocalResponseNorm = _drop_in(nn.LocalResponseNorm,
                             lambda self, input: F.local_response_norm(input, self.size, self.alpha, self.beta, self.k))


class Maxout(nn.Module):
    """fastlayers' Maxout (Goodfellow et al., 2013) as a torch module: the maximum over groups of `pieces`
    consecutive entries of `dim` (channels by default)."""

    def __init__(self, pieces, dim=1):
        super().__init__()
        if isinstance(pieces, bool) or not isinstance(pieces, numbers.Integral) or pieces < 1:
            raise ValueError(f"Maxout: pieces must be a positive integer, got {pieces!r}")
        self.pieces = int(pieces)
        self.dim = dim

    def forward(self, input):
        return F.maxout(input, self.pieces, self.dim)

    def extra_repr(self):
        return f"pieces={self.pieces}, dim={self.dim}"
