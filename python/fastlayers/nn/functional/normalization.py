"""Normalization (fastlayers.ops.norm): batch, layer, group, instance, local response, batch-instance."""
import numpy as np

from ...ops import norm as _norm
from ._adapter import NN, check_tensor, check_tensors, half_on_gpu

__all__ = ["batch_norm", "layer_norm", "group_norm", "instance_norm", "local_response_norm", "batch_instance_norm"]


def _check_stats_dtype(op, input, **stats):
    """Running statistics of the input's dtype; float32 ones with a half input on the GPU (mixed precision, as
    batch_norm and torch allow)."""
    for name, p in stats.items():
        if p is not None and p.dtype != input.dtype and not (half_on_gpu(input) and p.dtype == np.float32):
            raise TypeError(f"{op}(): expected {name} of dtype {input.dtype} like the input, got {p.dtype}")


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-05):
    """Batch normalization over the channel axis 1 of an (N, C, *) input, as torch.nn.functional.batch_norm.
    In training the batch statistics are used and the running ones (when given) updated in place with
    `momentum` (the variance unbiased); otherwise the running statistics are used."""
    check_tensors("batch_norm", input=input, running_mean=running_mean, running_var=running_var, weight=weight,
                  bias=bias)
    return _norm.batch_norm(NN, input, running_mean, running_var, weight, bias, training, momentum, eps)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-05):
    """Normalizes over the trailing dims given by normalized_shape, as torch.nn.functional.layer_norm."""
    check_tensors("layer_norm", input=input, weight=weight, bias=bias)
    return _norm.layer_norm(NN, input, normalized_shape, weight, bias, eps)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-05):
    """Group normalization of an (N, C, *) input, as torch.nn.functional.group_norm."""
    check_tensors("group_norm", input=input, weight=weight, bias=bias)
    return _norm.group_norm(NN, input, num_groups, weight, bias, eps)


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-05):
    """Instance normalization of an (N, C, *) input, as torch.nn.functional.instance_norm; the running
    statistics (when given) take the batch mean of the per-instance statistics (variance unbiased)."""
    op = "instance_norm"
    check_tensors(op, input=input, running_mean=running_mean, running_var=running_var, weight=weight, bias=bias)
    if use_input_stats:
        _check_stats_dtype(op, input, running_mean=running_mean, running_var=running_var)
    return _norm.instance_norm(NN, input, running_mean, running_var, weight, bias, use_input_stats, momentum, eps)


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """Local response normalization across channels of an (N, C, *) input with at least 3 dims, as
    torch.nn.functional.local_response_norm: y = x / (k + alpha * a)^beta, where a is the average of x^2 over a
    window of `size` channels holding size // 2 channels before and (size - 1) // 2 after the channel (channels
    outside the input count as zeros; the sum is always divided by size)."""
    check_tensor(input, "local_response_norm", "input")
    return _norm.local_response_norm(NN, input, size, alpha, beta, k)


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
    check_tensors(op, input=input, running_mean=running_mean, running_var=running_var, weight=weight, bias=bias)
    check_tensor(rho, op, "rho")
    for name, p in (("weight", weight), ("bias", bias), ("rho", rho)):
        if p is not None and p.dtype != input.dtype:
            raise TypeError(f"{op}(): expected {name} of dtype {input.dtype} like the input, got {p.dtype}")
    _check_stats_dtype(op, input, running_mean=running_mean, running_var=running_var)
    return _norm.batch_instance_norm(NN, input, running_mean, running_var, weight, bias, rho, training, momentum,
                                     eps)
