"""Normalization modules with torch.nn's constructors, parameter and buffer names, state_dict keys, default
initialization and repr: BatchNorm1d/2d, InstanceNorm1d/2d, LayerNorm, GroupNorm."""
import numbers

import numpy as np

from .. import functional as F
from .. import init
from ..parameter import Parameter
from ..._device import array_module
from ...tensor import Tensor, empty
from .module import Module


class _NormBase(Module):
    """Shared by batch and instance norm: weight/bias (affine) and running_mean, running_var,
    num_batches_tracked (track_running_stats), in torch's registration order."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, device=None,
                 dtype=None, *, bias=True):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(empty(num_features, dtype=dtype))
        else:
            self.register_parameter("weight", None)
        if affine and bias:
            self.bias = Parameter(empty(num_features, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        if track_running_stats:
            float_dtype = np.float32 if dtype is None else np.dtype(dtype)
            self.register_buffer("running_mean", Tensor(np.zeros(num_features, float_dtype)))
            self.register_buffer("running_var", Tensor(np.ones(num_features, float_dtype)))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, dtype=np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()
        self._place(device)

    def reset_running_stats(self):
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def reset_parameters(self):
        self.reset_running_stats()
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def _check_input_dim(self, input):
        raise NotImplementedError

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class _BatchNorm(_NormBase):
    def forward(self, input):
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.data[...] += 1
            # momentum=None: a cumulative average, each batch weighted 1 / (batches seen).
            factor = 1.0 / float(self.num_batches_tracked.data) if self.momentum is None else self.momentum
        use_batch_stats = self.training or (self.running_mean is None and self.running_var is None)
        keep_running = not self.training or self.track_running_stats
        return F.batch_norm(input, self.running_mean if keep_running else None,
                            self.running_var if keep_running else None, self.weight, self.bias, use_batch_stats,
                            factor, self.eps)


def _dims_error(input, expected):
    return ValueError(f"expected {expected} input (got {input.ndim}D input)")


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L) input, per channel."""

    def _check_input_dim(self, input):
        if input.ndim not in (2, 3):
            raise _dims_error(input, "2D or 3D")


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W) input, per channel."""

    def _check_input_dim(self, input):
        if input.ndim != 4:
            raise _dims_error(input, "4D")


class _InstanceNorm(_NormBase):
    _batched_ndim = 0

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False, track_running_stats=False, device=None,
                 dtype=None, *, bias=True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias)

    def forward(self, input):
        nd = self._batched_ndim
        if input.ndim not in (nd - 1, nd):
            raise _dims_error(input, f"{nd - 1}D or {nd}D")
        unbatched = input.ndim == nd - 1
        if unbatched:
            input = input.unsqueeze(0)
        if input.shape[1] != self.num_features and self.affine:
            raise ValueError(f"expected input's size at dim=1 to match num_features ({self.num_features}), "
                             f"but got: {input.shape[1]}.")
        out = F.instance_norm(input, self.running_mean, self.running_var, self.weight, self.bias,
                              self.training or not self.track_running_stats,
                              self.momentum if self.momentum is not None else 0.0, self.eps)
        return out.squeeze(0) if unbatched else out


class InstanceNorm1d(_InstanceNorm):
    """Instance norm over (N, C, L) or (C, L) input."""
    _batched_ndim = 3


class InstanceNorm2d(_InstanceNorm):
    """Instance norm over (N, C, H, W) or (C, H, W) input."""
    _batched_ndim = 4


class LayerNorm(Module):
    """Normalizes over the trailing normalized_shape dims, with elementwise weight and bias."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, numbers.Integral):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(int(v) for v in normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(empty(*self.normalized_shape, dtype=dtype))
            if bias:
                self.bias = Parameter(empty(*self.normalized_shape, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()
        self._place(device)

    def reset_parameters(self):
        if self.elementwise_affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input):
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


class GroupNorm(Module):
    """Normalizes (N, C, *) input over groups of num_channels / num_groups channels, per-channel affine."""

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, device=None, dtype=None, *, bias=True):
        super().__init__()
        if num_channels % num_groups != 0:
            raise ValueError(f"num_channels must be divisible by num_groups, got num_channels={num_channels}, "
                             f"num_groups={num_groups}")
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        if affine:
            self.weight = Parameter(empty(num_channels, dtype=dtype))
        else:
            self.register_parameter("weight", None)
        if affine and bias:
            self.bias = Parameter(empty(num_channels, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()
        self._place(device)

    def reset_parameters(self):
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, input):
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


class LocalResponseNorm(Module):
    """Local response normalization across channels (AlexNet's NORM layers) of an (N, C, *) input with at least
    3 dims, as torch.nn.LocalResponseNorm: y = x / (k + alpha / size * sum of x^2 over `size` neighbouring
    channels)^beta."""

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, input):
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class BatchInstanceNorm2d(_NormBase):
    """Batch-Instance Normalization (Nam & Kim, "Batch-Instance Normalization for Adaptively Style-Invariant
    Neural Networks", 2018) over (N, C, H, W) input:

        y = (rho * x_hat_BN + (1 - rho) * x_hat_IN) * weight + bias

    x_hat_BN is the batch-normalized input (batch statistics in training, updating running_mean / running_var
    as BatchNorm2d does, momentum=None giving a cumulative average; the running statistics in evaluation when
    track_running_stats), x_hat_IN the instance-normalized input (always the input's own statistics).

    Parameters and buffers: weight and bias (C,) when affine (initialised to 1 and 0), rho (C,) always, a
    learnable gate initialised to 1 (pure batch norm at the start, as in the paper), and running_mean,
    running_var, num_batches_tracked when track_running_stats. The paper keeps rho in [0, 1]; this is left to
    the user: call clip_rho_() after each optimizer step (as the paper clips after each update)::

        optimizer.step()
        model.apply(lambda m: m.clip_rho_() if isinstance(m, nn.BatchInstanceNorm2d) else None)
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, device=None,
                 dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, None, dtype)
        self.rho = Parameter(empty(num_features, dtype=dtype))
        init.ones_(self.rho)
        self._place(device)

    def reset_parameters(self):
        super().reset_parameters()
        if getattr(self, "rho", None) is not None:
            init.ones_(self.rho)

    def clip_rho_(self):
        """Clamps rho into [0, 1] in place (no gradient recorded); call it after each optimizer step.
        Returns self."""
        rho = self.rho.data
        array_module(rho).clip(rho, 0.0, 1.0, out=rho)  # on rho's own device (numpy or CuPy)
        return self

    def forward(self, input):
        if input.ndim != 4:
            raise _dims_error(input, "4D")
        if input.shape[1] != self.num_features:
            raise ValueError(f"expected input's size at dim=1 to match num_features ({self.num_features}), "
                             f"but got: {input.shape[1]}.")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.data[...] += 1
            factor = 1.0 / float(self.num_batches_tracked.data) if self.momentum is None else self.momentum
        use_batch_stats = self.training or (self.running_mean is None and self.running_var is None)
        keep_running = not self.training or self.track_running_stats
        return F.batch_instance_norm(input, self.running_mean if keep_running else None,
                                     self.running_var if keep_running else None, self.weight, self.bias, self.rho,
                                     use_batch_stats, factor, self.eps)
