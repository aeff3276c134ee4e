"""Losses on arrays: the element-wise losses in numpy/CuPy, in torch's numerically stable forms, and the fused
C++ kernels of cross_entropy and nll_loss (csrc/ops/loss.cpp). Gradients flow to the input (and to the target
where torch gives one); class weights, pos_weight and margins get none. Only fastlayers.nn.functional uses these:
fastlayers.torch keeps torch's own losses."""
import numpy as np

from .._arrays import sum_to
from .._device import array_module


def reduce_array(loss, reduction):
    if reduction == "none":
        return loss
    return array_module(loss).asarray(loss.mean() if reduction == "mean" else loss.sum(), dtype=loss.dtype)


def expand_grad(grad, reduction, shape, dtype):
    """The gradient of each element of an unreduced loss of `shape` from the reduced loss's gradient."""
    if reduction == "none":
        return grad.astype(dtype, copy=False)
    n = int(np.prod(shape))
    g = grad / n if reduction == "mean" else grad
    xp = array_module(grad)
    return xp.broadcast_to(xp.asarray(g, dtype=dtype), shape)




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


POINTWISE = {
    "mse_loss": (_mse, _mse_grad), "l1_loss": (_l1, _l1_grad), "smooth_l1_loss": (_smooth_l1, _smooth_l1_grad),
    "huber_loss": (_huber, _huber_grad), "binary_cross_entropy": (_bce, _bce_grad),
    "binary_cross_entropy_with_logits": (_bce_logits, _bce_logits_grad), "kl_div": (_kl_div, _kl_div_grad),
}


class PointwiseLoss:
    @staticmethod
    def forward(ctx, input, target, kind, params, reduction):
        dtype = np.result_type(input.dtype, target.dtype) if target.dtype.kind == "f" else input.dtype
        x, y = input.astype(dtype, copy=False), target.astype(dtype, copy=False)
        loss = POINTWISE[kind][0](x, y, **params).astype(dtype, copy=False)
        ctx.save_for_backward(x, y)
        ctx.args = (kind, params, reduction, loss.shape, input.shape, target.shape, input.dtype, target.dtype)
        if reduction == "batchmean":
            return array_module(loss).asarray(loss.sum() / (loss.shape[0] if loss.ndim else 1), dtype=dtype)
        return reduce_array(loss, reduction)

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        kind, params, reduction, shape, x_shape, y_shape, x_dtype, y_dtype = ctx.args
        if reduction == "batchmean":
            grad, reduction = grad / (shape[0] if len(shape) else 1), "sum"
        g = expand_grad(grad, reduction, shape, x.dtype)
        dx, dy = POINTWISE[kind][1](x, y, g, **params)
        needs = ctx.needs_input_grad
        dx = sum_to(np.broadcast_to(dx, shape), x_shape).astype(x_dtype) if needs[0] else None
        dy = (sum_to(np.broadcast_to(dy, shape), y_shape).astype(y_dtype)
              if needs[1] and y_dtype.kind == "f" else None)
        return dx, dy, None, None, None


class MarginRanking:
    @staticmethod
    def forward(ctx, x1, x2, y, margin, reduction):
        z = -y * (x1 - x2) + margin
        loss = np.maximum(z, 0).astype(np.result_type(x1, x2), copy=False)
        ctx.save_for_backward(x1, x2, y, z > 0)
        ctx.args = (reduction, loss.shape)
        return reduce_array(loss, reduction)

    @staticmethod
    def backward(ctx, grad):
        x1, x2, y, active = ctx.saved_tensors
        reduction, shape = ctx.args
        g = expand_grad(grad, reduction, shape, np.result_type(x1, x2)) * active
        needs = ctx.needs_input_grad
        return (sum_to(-y * g, x1.shape).astype(x1.dtype) if needs[0] else None,
                sum_to(y * g, x2.shape).astype(x2.dtype) if needs[1] else None,
                sum_to(-(x1 - x2) * g, y.shape).astype(y.dtype) if needs[2] else None, None, None)


class MultiMargin:
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
        return reduce_array(loss.astype(x.dtype, copy=False), reduction)

    @staticmethod
    def backward(ctx, grad):
        h, t, w = ctx.saved_tensors
        p, reduction = ctx.args
        n, c = h.shape
        g = expand_grad(grad, reduction, (n,), h.dtype)[:, None]
        wy = 1 if w is None else w[t][:, None]
        dz = (h > 0) * (1 if p == 1 else 2 * h) * wy * g / c
        rows = np.arange(n)
        dz[rows, t] = 0
        dx = dz.copy()
        dx[rows, t] = -dz.sum(axis=1)
        return dx.astype(h.dtype, copy=False), None, None, None, None, None


class NLLLoss:
    @staticmethod
    def forward(ctx, input, target, weight, ignore_index, reduction):
        K = ctx.K
        unbatched = input.ndim == 1
        x, t = (input[None], target[None]) if unbatched else (input, target)
        loss, total_weight = K.nll_loss_forward(x, t, weight, ignore_index, reduction)
        ctx.save_for_backward(x, t, weight)
        ctx.args = (total_weight, ignore_index, reduction, input.shape, unbatched)
        return loss[0] if unbatched and reduction == "none" else loss

    @staticmethod
    def backward(ctx, grad):
        K = ctx.K
        x, t, weight = ctx.saved_tensors
        total_weight, ignore_index, reduction, shape, unbatched = ctx.args
        g = grad.reshape(1) if unbatched and reduction == "none" else grad
        g = array_module(g).ascontiguousarray(g)  # numpy or CuPy, where the input lives
        dx = K.nll_loss_backward(g, x, t, weight, total_weight, ignore_index, reduction)
        return dx.reshape(shape), None, None, None, None


class CrossEntropy:
    @staticmethod
    def forward(ctx, input, target, weight, ignore_index, label_smoothing, reduction):
        K = ctx.K
        unbatched = input.ndim == 1
        x, t = (input[None], target[None]) if unbatched else (input, target)
        loss, lse, total_weight = K.cross_entropy_forward(x, t, weight, ignore_index, label_smoothing, reduction)
        ctx.save_for_backward(x, t, weight, lse)
        ctx.args = (total_weight, ignore_index, label_smoothing, reduction, input.shape, unbatched)
        return loss[0] if unbatched and reduction == "none" else loss

    @staticmethod
    def backward(ctx, grad):
        K = ctx.K
        x, t, weight, lse = ctx.saved_tensors
        total_weight, ignore_index, eps, reduction, shape, unbatched = ctx.args
        g = grad.reshape(1) if unbatched and reduction == "none" else grad
        g = array_module(g).ascontiguousarray(g)  # numpy or CuPy, where the logits live
        needs = ctx.needs_input_grad
        dx = dt = None
        if needs[0]:
            dx = K.cross_entropy_backward(g, x, t, weight, lse, total_weight, ignore_index, eps,
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
