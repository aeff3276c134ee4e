from .container import Sequential
from .conv import Conv1d, Conv2d
from .module import Module

__all__ = ["Module", "Sequential", "Conv1d", "Conv2d"]
# ---- activations ----
from .activation import (CELU, ELU, GELU, SELU, Dropout, Dropout2d, Hardsigmoid, Hardswish, Hardtanh,  # noqa: E402
                         LeakyReLU, LogSoftmax, Maxout, Mish, PReLU, ReLU, ReLU6, Sigmoid, SiLU, Softmax, Softplus,
                         Tanh)
from .activation import __all__ as _activation_all  # noqa: E402

__all__ += _activation_all
