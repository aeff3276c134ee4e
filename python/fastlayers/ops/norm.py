"""Normalization: batch, layer, group, instance, local response and batch-instance norm.

The running statistics of every norm are updated in one place per kind: batch norm's by its kernel (in place,
in the buffers' own memory), instance norm's by `update_instance_stats` below; batch-instance norm runs batch
norm's kernel. Everything here uses array methods only (numpy, CuPy, or torch tensors on a GPU), so it runs
where the arrays live.
"""
import math

import numpy as np

from ._args import is_int, number, per_channel_shapes


def _astype(a, dtype):
    """a in `dtype` without a copy where it already is: numpy / CuPy astype, torch's .to."""
    return a.astype(dtype, copy=False) if hasattr(a, "astype") else a.to(dtype)


def _float64(a):
    return a.astype(np.float64) if hasattr(a, "astype") else a.double()


def _channel_sum(a):
    """Sum of an (N, C, *) array over all axes but the channel axis, accumulated in float64."""
    axes = (0,) + tuple(range(2, a.ndim))
    if not hasattr(a, "astype"):  # a torch tensor; torch is not imported here
        return a.double().sum(dim=axes)
    return a.sum(axis=axes, dtype=np.float64)


def _spatial_size(input):
    return math.prod(tuple(input.shape[2:]))


def update_instance_stats(running_mean, running_var, mean, rstd, eps, momentum, spatial):
    """torch's running statistics of instance norm: the batch mean of the per-instance statistics (the variance
    unbiased over `spatial` elements), blended in with `momentum`, written into the buffers' memory."""
    mean64, rstd64 = _float64(mean), _float64(rstd)
    if running_mean is not None:
        running_mean[...] = (1 - momentum) * running_mean + momentum * mean64.mean(axis=0)
    if running_var is not None:
        var = (1.0 / (rstd64 * rstd64) - eps) * (spatial / (spatial - 1))
        running_var[...] = (1 - momentum) * running_var + momentum * var.mean(axis=0)


def _keep_stats(ctx, input, weight, result, extra):
    """After a forward kernel returning (y, mean, rstd): keeps what its backward needs; returns y."""
    y, mean, rstd = result
    ctx.save_for_backward(input, weight)
    ctx.stats, ctx.extra = (mean, rstd), extra
    return y


def _stats_grads(ctx, backward_kernel, grad_output, weight_at):
    """(dx, dw, db) of `<norm>_backward(dy, x, mean, rstd, weight, extra, mask)`, computing those asked for; the
    forward took weight and bias as its arguments weight_at and weight_at + 1."""
    input, weight = ctx.saved_tensors
    needs = ctx.needs_input_grad
    return tuple(backward_kernel(grad_output, input, *ctx.stats, weight, ctx.extra,
                                 mask=(needs[0], needs[weight_at], needs[weight_at + 1])))


class BatchNorm:
    """In training the kernel updates running_mean / running_var (the buffers' own arrays) in place."""
    name = "batch_norm"
    mixed_precision = True  # float32 parameters with a half input (GPU)

    @staticmethod
    def forward(ctx, input, running_mean, running_var, weight, bias, training, momentum, eps):
        result = ctx.K.batch_norm_forward(input, weight, bias, running_mean, running_var, training, momentum, eps)
        return _keep_stats(ctx, input, weight, result, training)

    @staticmethod
    def backward(ctx, grad_output):
        dx, dw, db = _stats_grads(ctx, ctx.K.batch_norm_backward, grad_output, 3)
        return dx, None, None, dw, db, None, None, None


class GroupNorm:
    """Group norm of an (N, C, *) input; layer norm runs it on (rows, D) with one group."""
    name = "group_norm"

    @staticmethod
    def forward(ctx, input, weight, bias, num_groups, eps):
        result = ctx.K.group_norm_forward(input, num_groups, weight, bias, eps)
        return _keep_stats(ctx, input, weight, result, num_groups)

    @staticmethod
    def backward(ctx, grad_output):
        return _stats_grads(ctx, ctx.K.group_norm_backward, grad_output, 1) + (None, None)


class InstanceNorm:
    """Instance norm with the input's statistics (a group norm with one channel per group); updates the running
    statistics when given."""
    name = "instance_norm"
    mixed_precision = True

    @staticmethod
    def forward(ctx, input, weight, bias, running_mean, running_var, momentum, eps):
        C = input.shape[1]
        y = GroupNorm.forward(ctx, input, weight, bias, C, eps)
        if running_mean is not None or running_var is not None:
            update_instance_stats(running_mean, running_var, *ctx.stats, eps, momentum, _spatial_size(input))
        return y

    @staticmethod
    def backward(ctx, grad_output):
        return GroupNorm.backward(ctx, grad_output)[:3] + (None,) * 4


class LocalResponseNorm:
    name = "local_response_norm"

    @staticmethod
    def forward(ctx, input, size, alpha, beta, k):
        K = ctx.K
        y, scale = K.lrn_forward(input, size, alpha, beta, k)
        ctx.save_for_backward(input)
        ctx.scale, ctx.lrn = scale, (size, alpha, beta, k)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        K = ctx.K
        if not ctx.needs_input_grad[0]:
            return None, None, None, None, None
        (input,) = ctx.saved_tensors
        return K.lrn_backward(grad_output, input, ctx.scale, *ctx.lrn), None, None, None, None


class BatchInstanceNorm:
    """y = (rho * x_hat_BN + (1 - rho) * x_hat_IN) * weight + bias per channel. The two normalized inputs come
    from the batch-norm and group-norm (one channel per group) kernels without affine, their gradients from the
    same kernels' backward; only the per-channel mixing is done here, with array methods."""
    name = "batch_instance_norm"
    mixed_precision = True
    array_glue = True  # array code around the kernels: runs where numpy (CPU) or torch/CuPy (CUDA) arrays do

    @staticmethod
    def forward(ctx, input, running_mean, running_var, weight, bias, rho, training, momentum, eps):
        K = ctx.K
        C = input.shape[1]
        pshape = (1, C) + (1,) * (input.ndim - 2)
        x_bn, mean_bn, rstd_bn = K.batch_norm_forward(input, None, None, running_mean, running_var, training,
                                                      momentum, eps)
        x_in, mean_in, rstd_in = K.group_norm_forward(input, C, None, None, eps)
        r = rho.reshape(pshape)
        mix = r * x_bn + (1 - r) * x_in
        y = mix if weight is None else mix * weight.reshape(pshape)
        if bias is not None:
            y = y + bias.reshape(pshape)
        ctx.save_for_backward(input, weight, rho)
        ctx.branches = (x_bn, mean_bn, rstd_bn, x_in, mean_in, rstd_in)
        ctx.training, ctx.pshape = training, pshape
        return _astype(y, input.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        K = ctx.K
        input, weight, rho = ctx.saved_tensors
        x_bn, mean_bn, rstd_bn, x_in, mean_in, rstd_in = ctx.branches
        needs = ctx.needs_input_grad
        dt, pshape, C = input.dtype, ctx.pshape, input.shape[1]
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


# ---------------------------------------------------------------------------------------------------------
# Front functions (A: the adapter)


def batch_norm(A, input, running_mean, running_var, weight, bias, training, momentum, eps):
    if input.ndim < 2:
        raise ValueError(f"batch_norm(): expected input of at least 2 dims (N, C, *), got shape {tuple(input.shape)}")
    per_channel_shapes("batch_norm", input, running_mean=running_mean, running_var=running_var, weight=weight,
                       bias=bias)
    if training:
        if input.shape[0] * _spatial_size(input) <= 1:
            raise ValueError(f"batch_norm(): expected more than 1 value per channel when training, got input size "
                             f"{tuple(input.shape)}")
    elif running_mean is None or running_var is None:
        raise RuntimeError("batch_norm(): running_mean and running_var must be defined in evaluation mode "
                           "(training=False)")
    return A.apply("batch_norm", BatchNorm, input, running_mean, running_var, weight, bias, bool(training),
                   float(momentum), float(eps))


def layer_norm_shape(input, normalized_shape, weight, bias):
    """layer_norm's normalized shape as a tuple, checked against the input and the parameters."""
    if is_int(normalized_shape):
        normalized_shape = (int(normalized_shape),)
    if not isinstance(normalized_shape, (tuple, list)) or not all(is_int(v) for v in normalized_shape):
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
    return shape


def layer_norm(A, input, normalized_shape, weight, bias, eps):
    """Group norm with one group over (rows, D): the trailing normalized_shape flattened to D."""
    shape = layer_norm_shape(input, normalized_shape, weight, bias)
    D = math.prod(shape)
    rows = math.prod(tuple(input.shape[:input.ndim - len(shape)]))
    w = None if weight is None else weight.reshape(D)
    b = None if bias is None else bias.reshape(D)
    y = A.apply("layer_norm", GroupNorm, input.reshape(rows, D), w, b, 1, float(eps))
    return y.reshape(tuple(input.shape))


def group_norm(A, input, num_groups, weight, bias, eps):
    if input.ndim < 2:
        raise ValueError(f"group_norm(): expected input of at least 2 dims (N, C, *), got shape "
                         f"{tuple(input.shape)}")
    if not is_int(num_groups) or num_groups < 1:
        raise ValueError(f"group_norm(): num_groups must be a positive integer, got {num_groups!r}")
    if input.shape[1] % num_groups:
        raise ValueError(f"group_norm(): expected number of channels in input to be divisible by num_groups, "
                         f"but got input of shape {tuple(input.shape)} and num_groups={num_groups}")
    return A.apply("group_norm", GroupNorm, input, weight, bias, int(num_groups), float(eps))


def _instance_checks(op, input, **params):
    if input.ndim < 3:
        raise ValueError(f"{op}(): expected input of at least 3 dims (N, C, *), got shape {tuple(input.shape)}")
    per_channel_shapes(op, input, **params)


def instance_norm(A, input, running_mean, running_var, weight, bias, use_input_stats, momentum, eps):
    op = "instance_norm"
    _instance_checks(op, input, running_mean=running_mean, running_var=running_var, weight=weight, bias=bias)
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise ValueError(f"{op}(): running_mean and running_var must be given when use_input_stats=False")
        return A.apply(op, BatchNorm, input, running_mean, running_var, weight, bias, False, 0.0, float(eps))
    if _spatial_size(input) <= 1:
        raise ValueError(f"{op}(): expected more than 1 spatial element when training, got input size "
                         f"{tuple(input.shape)}")
    return A.apply(op, InstanceNorm, input, weight, bias, running_mean, running_var, float(momentum), float(eps))


def local_response_norm(A, input, size, alpha, beta, k):
    op = "local_response_norm"
    if input.ndim < 3:
        raise ValueError(f"{op}(): expected 3D or higher dimensionality input (got {input.ndim} dimensions)")
    if not is_int(size):
        raise TypeError(f"{op}(): argument 'size' must be an int, got {size!r}")
    if size < 1:
        raise ValueError(f"{op}(): size must be a positive integer, got size={size}")
    return A.apply(op, LocalResponseNorm, input, int(size), number(alpha, op, "alpha"), number(beta, op, "beta"),
                   number(k, op, "k"))


def batch_instance_norm(A, input, running_mean, running_var, weight, bias, rho, training, momentum, eps):
    op = "batch_instance_norm"
    _instance_checks(op, input, running_mean=running_mean, running_var=running_var, weight=weight, bias=bias,
                     rho=rho)
    if _spatial_size(input) <= 1:
        raise ValueError(f"{op}(): expected more than 1 spatial element (instance statistics), got input size "
                         f"{tuple(input.shape)}")
    if not training and (running_mean is None or running_var is None):
        raise RuntimeError(f"{op}(): running_mean and running_var must be defined in evaluation mode "
                           f"(training=False)")
    return A.apply(op, BatchInstanceNorm, input, running_mean, running_var, weight, bias, rho, bool(training),
                   float(momentum), float(eps))


PUBLIC = ("batch_norm", "layer_norm", "group_norm", "instance_norm", "local_response_norm", "batch_instance_norm")


def public_functions(A):
    """torch.nn.functional's normalizations (and fastlayers' batch_instance_norm) over adapter A, in the order
    of PUBLIC."""

    def batch_norm_(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
                    eps=1e-05):
        """Batch normalization over the channel axis 1 of an (N, C, *) input, as torch.nn.functional.batch_norm.
        In training the batch statistics are used and the running ones (when given) updated in place with
        `momentum` (the variance unbiased); otherwise the running statistics are used."""
        A.check_tensors("batch_norm", input=input, running_mean=running_mean, running_var=running_var,
                        weight=weight, bias=bias)
        return batch_norm(A, input, running_mean, running_var, weight, bias, training, momentum, eps)

    def layer_norm_(input, normalized_shape, weight=None, bias=None, eps=1e-05):
        """Normalizes over the trailing dims given by normalized_shape, as torch.nn.functional.layer_norm."""
        A.check_operands("layer_norm", input, weight, bias)
        return layer_norm(A, input, normalized_shape, weight, bias, eps)

    def group_norm_(input, num_groups, weight=None, bias=None, eps=1e-05):
        """Group normalization of an (N, C, *) input, as torch.nn.functional.group_norm."""
        A.check_operands("group_norm", input, weight, bias)
        return group_norm(A, input, num_groups, weight, bias, eps)

    def instance_norm_(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                       momentum=0.1, eps=1e-05):
        """Instance normalization of an (N, C, *) input, as torch.nn.functional.instance_norm; the running
        statistics (when given) take the batch mean of the per-instance statistics (variance unbiased)."""
        A.check_tensors("instance_norm", input=input, running_mean=running_mean, running_var=running_var,
                        weight=weight, bias=bias)
        if use_input_stats:
            A.check_stats("instance_norm", input, running_mean=running_mean, running_var=running_var)
        return instance_norm(A, input, running_mean, running_var, weight, bias, use_input_stats, momentum, eps)

    def local_response_norm_(input, size, alpha=1e-4, beta=0.75, k=1.0):
        """Local response normalization across channels of an (N, C, *) input with at least 3 dims, as
        torch.nn.functional.local_response_norm: y = x / (k + alpha * a)^beta, where a is the average of x^2
        over a window of `size` channels holding size // 2 channels before and (size - 1) // 2 after the
        channel (channels outside the input count as zeros; the sum is always divided by size)."""
        A.check_operands("local_response_norm", input)
        return local_response_norm(A, input, size, alpha, beta, k)

    def batch_instance_norm_(input, running_mean, running_var, weight, bias, rho, training=False, momentum=0.1,
                             eps=1e-05):
        """Batch-Instance Normalization (Nam & Kim, 2018) of an (N, C, *) input:
            y = (rho * x_hat_BN + (1 - rho) * x_hat_IN) * weight + bias, per channel,
        where x_hat_BN is batch_norm(input, running_mean, running_var, training=training, momentum=momentum,
        eps=eps) without affine (batch statistics in training, the running ones updated in place when given;
        the running statistics otherwise) and x_hat_IN is the instance normalization with the input's own
        statistics (always). rho (C,) mixes the two; weight, bias (C,) may be None. Gradients flow to input,
        weight, bias and rho."""
        op = "batch_instance_norm"
        A.check_tensors(op, input=input, running_mean=running_mean, running_var=running_var, weight=weight,
                        bias=bias)
        A.check_tensors(op, rho=rho)
        A.check_like_input(op, input, weight=weight, bias=bias, rho=rho)
        A.check_stats(op, input, running_mean=running_mean, running_var=running_var)
        return batch_instance_norm(A, input, running_mean, running_var, weight, bias, rho, training, momentum, eps)

    functions = (batch_norm_, layer_norm_, group_norm_, instance_norm_, local_response_norm_, batch_instance_norm_)
    for fn, name in zip(functions, PUBLIC):
        fn.__name__ = fn.__qualname__ = name
    return functions
