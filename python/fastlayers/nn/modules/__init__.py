from .container import Sequential
from .conv import Conv1d, Conv2d
from .module import Module

__all__ = ["Module", "Sequential", "Conv1d", "Conv2d"]
# ---- transposed convolution ----
from .conv_transpose import ConvTranspose1d, ConvTranspose2d  # noqa: E402
__all__ += ["ConvTranspose1d", "ConvTranspose2d"]
