"""Shared numpy pieces of the update rules, written in the order torch evaluates them.

torch's CPU kernels fuse some multiply-adds (FMA), numpy does not, so results can differ from torch's in
the last bit of an operation; over many steps in float64 the parameters still agree to ~1e-13 relative.
"""


def lerp_(start, end, weight):
    """start <- start + weight * (end - start), in place, with torch.lerp's two formulas (the second
    keeps the result exact at weight 1)."""
    if abs(weight) < 0.5:
        start += weight * (end - start)
    else:
        start[...] = end - (end - start) * (1 - weight)
    return start


def effective_grad(param, grad, weight_decay, maximize):
    """The gradient an update sees: negated under `maximize`, plus L2 weight decay. The
    caller's array is never modified (it is returned as is when neither applies)."""
    grad = -grad if maximize else grad
    if weight_decay != 0:
        grad = grad + weight_decay * param
    return grad

