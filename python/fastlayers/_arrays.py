"""Array helpers below both the autograd and the op layer (numpy or CuPy arrays; no Tensor here)."""


def sum_to(grad, shape):
    """Sum a broadcast result's gradient back to an operand's shape."""
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, size in enumerate(shape)
                                      if size == 1 and grad.shape[lead + i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)
