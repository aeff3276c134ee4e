"""Losses: torch.nn.functional's names and arguments over fastlayers.ops.loss (element-wise losses in numpy,
cross_entropy and nll_loss on fused C++ kernels)."""
import warnings

import numpy as np

from ...ops import loss as _loss
from ...ops._args import number
from ._adapter import NN, check_tensor, half_on_gpu

__all__ = ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "nll_loss", "cross_entropy",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div", "margin_ranking_loss",
           "multi_margin_loss", "sigmoid_focal_loss"]

_REDUCTIONS = ("none", "mean", "sum")


def _legacy_reduction(size_average, reduce, reduction, op):
    """torch's reduction argument, from the deprecated size_average / reduce when either is given."""
    if size_average is not None or reduce is not None:
        warnings.warn("size_average and reduce args will be deprecated, please use reduction='"
                            + ("none" if reduce is False else "mean" if size_average is not False else "sum")
                            + "' instead.", stacklevel=3)
        if reduce is False:
            return "none"
        return "sum" if size_average is False else "mean"
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def _float_dtype(input, op):
    if input.dtype not in (np.float32, np.float64):
        raise TypeError(f"{op}(): expected a float32 or float64 input, got {input.dtype}")
    return input.dtype


def _pointwise(op, input, target, reduction, params, same_size=False, broadcast_warning=True):
    check_tensor(input, op, "input")
    check_tensor(target, op, "target")
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
            warnings.warn(f"Using a target size ({target.shape}) that is different to the input size "
                                f"({input.shape}). This will likely lead to incorrect results due to "
                                "broadcasting. Please ensure they have the same size.", stacklevel=3)
    return NN.apply(op, _loss.PointwiseLoss, input, target, op, params, reduction)


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
    beta = number(beta, "smooth_l1_loss", "beta")
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    return _pointwise("smooth_l1_loss", input, target, reduction, {"beta": beta})


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """0.5 d^2 where d = |input - target| < delta, else delta (d - 0.5 delta)."""
    reduction = _legacy_reduction(None, None, reduction, "huber_loss")
    delta = number(delta, "huber_loss", "delta")
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
    check_tensor(weight, op, arg)
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
    check_tensor(input, op, "input")
    check_tensor(target, op, "target")
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
    check_tensor(input, op, "input")
    check_tensor(target, op, "target")
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
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size."
                            "'batchmean' divides only by the batch size, and aligns with the KL div math "
                            "definition.'mean' will be changed to behave the same as 'batchmean' in the next "
                            "major release.", stacklevel=2)
    elif reduction not in _REDUCTIONS + ("batchmean",):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return _pointwise(op, input, target, reduction, {"log_target": bool(log_target)}, broadcast_warning=False)


def margin_ranking_loss(input1, input2, target, margin=0, size_average=None, reduce=None, reduction="mean"):
    """max(0, -target (input1 - input2) + margin), target in {1, -1}."""
    op = "margin_ranking_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction, op)
    for value, arg in ((input1, "input1"), (input2, "input2"), (target, "target")):
        check_tensor(value, op, arg)
    if not input1.ndim == input2.ndim == target.ndim:
        raise RuntimeError(f"margin_ranking_loss : All input tensors should have same dimension but got sizes: "
                           f"input1: {input1.shape}, input2: {input2.shape}, target: {target.shape} ")
    _float_dtype(input1, op)
    try:
        np.broadcast_shapes(input1.shape, input2.shape, target.shape)
    except ValueError:
        raise RuntimeError(f"{op}(): the sizes of input1 {input1.shape}, input2 {input2.shape} and target "
                           f"{target.shape} cannot be broadcast together") from None
    return NN.apply(op, _loss.MarginRanking, input1, input2, target, number(margin, op, "margin"), reduction)


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None, reduce=None,
                      reduction="mean"):
    """The multi-class hinge loss: sum over classes i != y of w[y] max(0, margin - x[y] + x[i])^p / C."""
    op = "multi_margin_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction, op)
    check_tensor(input, op, "input")
    check_tensor(target, op, "target")
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
        check_tensor(weight, op, "weight")
        if weight.shape != (x.shape[1],):
            raise RuntimeError(f"{op}(): weight must have shape ({x.shape[1]},), got {tuple(weight.shape)}")
        w = weight.data.astype(input.dtype, copy=False)
    out = NN.apply(op, _loss.MultiMargin, x, t, int(p), number(margin, op, "margin"), w, reduction)
    return out.reshape(()) if unbatched and reduction == "none" else out


def sigmoid_focal_loss(inputs, targets, alpha=0.25, gamma=2, reduction="none"):
    """torchvision.ops.sigmoid_focal_loss (RetinaNet): binary_cross_entropy_with_logits scaled by
    (1 - p_t)^gamma and, when alpha >= 0, by alpha_t; default reduction 'none'."""
    op = "sigmoid_focal_loss"
    check_tensor(inputs, op, "inputs")
    check_tensor(targets, op, "targets")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"Invalid Value for arg 'reduction': '{reduction} \n Supported reduction modes: "
                         "'none', 'mean', 'sum'")
    p = NN.activation(op, inputs, False, "sigmoid", {})
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
    check_tensor(weight, op, "weight")
    c = input.shape[0] if input.ndim == 1 else input.shape[1]
    if weight.shape != (c,):
        raise RuntimeError(f"weight tensor should be defined either for all {c} classes or no classes but got "
                           f"weight tensor of shape: {list(weight.shape)}")
    return weight.data.astype(input.dtype, copy=False)


def _check_class_input(input, op):
    check_tensor(input, op, "input")
    if not half_on_gpu(input):  # float16 on the GPU: the CUDA cross-entropy / nll_loss kernels take it
        _float_dtype(input, op)
    if input.ndim == 0:
        raise ValueError(f"{op}(): expected an input of shape (C,), (N, C) or (N, C, d1, ...), got a 0-d input")


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    """-weight[target] * input[target] over log-probabilities input (N, C, d1, ...) or (C,); rows whose
    target is ignore_index count for nothing; 'mean' divides by the sum of the weights of the rows kept."""
    op = "nll_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction, op)
    _check_class_input(input, op)
    check_tensor(target, op, "target")
    t = _class_target(input, target, op)
    w = _class_weight(weight, input, op)
    return NN.apply(op, _loss.NLLLoss, input, t, w, int(ignore_index), reduction)


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
                  label_smoothing=0.0):
    """log_softmax over the class axis (1, or 0 for an unbatched (C,) input) fused with nll_loss; target holds
    class indices (int64, shape (N, d1, ...)) or class probabilities (float, the input's shape). label_smoothing
    mixes the target with the uniform distribution, as torch."""
    op = "cross_entropy"
    reduction = _legacy_reduction(size_average, reduce, reduction, op)
    _check_class_input(input, op)
    check_tensor(target, op, "target")
    label_smoothing = number(label_smoothing, op, "label_smoothing")
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    w = _class_weight(weight, input, op)
    if target.dtype.kind == "f" and target.shape == input.shape:
        if ignore_index >= 0:
            raise RuntimeError("ignore_index is not supported for floating point target")
        if target.dtype != input.dtype:
            target = target.to(input.dtype)
        return NN.apply(op, _loss.CrossEntropy, input, target, w, int(ignore_index), label_smoothing, reduction)
    t = _class_target(input, target, op)
    return NN.apply(op, _loss.CrossEntropy, input, t, w, int(ignore_index), label_smoothing, reduction)
