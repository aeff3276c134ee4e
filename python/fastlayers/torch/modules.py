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


class Conv1d(nn.Conv1d):
    def _conv_forward(self, input, weight, bias):
        if self.padding_mode != "zeros":
            input = F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return F.conv1d(input, weight, bias, self.stride, 0, self.dilation, self.groups)
        return F.conv1d(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)


class Conv2d(nn.Conv2d):
    def _conv_forward(self, input, weight, bias):
        if self.padding_mode != "zeros":
            input = F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return F.conv2d(input, weight, bias, self.stride, 0, self.dilation, self.groups)
        return F.conv2d(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)


class ConvTranspose1d(nn.ConvTranspose1d):
    def forward(self, input, output_size=None):
        if self.padding_mode != "zeros":
            raise ValueError("Only `zeros` padding mode is supported for ConvTranspose1d")
        output_padding = self._output_padding(input, output_size, self.stride, self.padding, self.kernel_size, 1,
                                              self.dilation)
        return F.conv_transpose1d(input, self.weight, self.bias, self.stride, self.padding, output_padding,
                                  self.groups, self.dilation)


class ConvTranspose2d(nn.ConvTranspose2d):
    def forward(self, input, output_size=None):
        if self.padding_mode != "zeros":
            raise ValueError("Only `zeros` padding mode is supported for ConvTranspose2d")
        output_padding = self._output_padding(input, output_size, self.stride, self.padding, self.kernel_size, 2,
                                              self.dilation)
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding, output_padding,
                                  self.groups, self.dilation)


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


class _BatchNormForward:
    """torch's _BatchNorm.forward (momentum=None: cumulative average; running statistics updated only when
    tracked and training; batch statistics in eval only without buffers) on fastlayers' batch_norm."""

    def forward(self, input):
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        bn_training = self.training or (self.running_mean is None and self.running_var is None)
        use_buffers = not self.training or self.track_running_stats
        return F.batch_norm(input, self.running_mean if use_buffers else None,
                            self.running_var if use_buffers else None, self.weight, self.bias, bn_training,
                            factor, self.eps)


class BatchNorm1d(_BatchNormForward, nn.BatchNorm1d):
    pass


class BatchNorm2d(_BatchNormForward, nn.BatchNorm2d):
    pass


class GroupNorm(nn.GroupNorm):
    def forward(self, input):
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)


class LayerNorm(nn.LayerNorm):
    def forward(self, input):
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)


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


class LocalResponseNorm(nn.LocalResponseNorm):
    def forward(self, input):
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)


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
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        bn_training = self.training or (self.running_mean is None and self.running_var is None)
        use_buffers = not self.training or self.track_running_stats
        return F.batch_instance_norm(input, self.running_mean if use_buffers else None,
                                     self.running_var if use_buffers else None, self.weight, self.bias, self.rho,
                                     bn_training, factor, self.eps)


# Activations


class ReLU(nn.ReLU):
    def forward(self, input):
        return F.relu(input, inplace=self.inplace)


class ReLU6(nn.ReLU6):
    def forward(self, input):
        return F.hardtanh(input, self.min_val, self.max_val, self.inplace)


class Hardtanh(nn.Hardtanh):
    def forward(self, input):
        return F.hardtanh(input, self.min_val, self.max_val, self.inplace)


class LeakyReLU(nn.LeakyReLU):
    def forward(self, input):
        return F.leaky_relu(input, self.negative_slope, self.inplace)


class PReLU(nn.PReLU):
    def forward(self, input):
        return F.prelu(input, self.weight)


class ELU(nn.ELU):
    def forward(self, input):
        return F.elu(input, self.alpha, self.inplace)


class SELU(nn.SELU):
    def forward(self, input):
        return F.selu(input, self.inplace)


class CELU(nn.CELU):
    def forward(self, input):
        return F.celu(input, self.alpha, self.inplace)


class GELU(nn.GELU):
    def forward(self, input):
        return F.gelu(input, approximate=self.approximate)


class SiLU(nn.SiLU):
    def forward(self, input):
        return F.silu(input, inplace=self.inplace)


class Mish(nn.Mish):
    def forward(self, input):
        return F.mish(input, inplace=self.inplace)


class Softplus(nn.Softplus):
    def forward(self, input):
        return F.softplus(input, self.beta, self.threshold)


class Sigmoid(nn.Sigmoid):
    def forward(self, input):
        return F.sigmoid(input)


class Tanh(nn.Tanh):
    def forward(self, input):
        return F.tanh(input)


class Hardsigmoid(nn.Hardsigmoid):
    def forward(self, input):
        return F.hardsigmoid(input, self.inplace)


class Hardswish(nn.Hardswish):
    def forward(self, input):
        return F.hardswish(input, self.inplace)


class Softmax(nn.Softmax):
    def forward(self, input):
        return F.softmax(input, self.dim, _stacklevel=5)


class LogSoftmax(nn.LogSoftmax):
    def forward(self, input):
        return F.log_softmax(input, self.dim, _stacklevel=5)


class Dropout(nn.Dropout):
    def forward(self, input):
        return F.dropout(input, self.p, self.training, self.inplace)


class Dropout2d(nn.Dropout2d):
    def forward(self, input):
        return F.dropout2d(input, self.p, self.training, self.inplace)


class Linear(nn.Linear):
    def forward(self, input):
        return F.linear(input, self.weight, self.bias)


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
