from .container import Sequential
from .conv import Conv1d, Conv2d
from .module import Module

__all__ = ["Module", "Sequential", "Conv1d", "Conv2d"]
# ---- normalization ----
from .norm import BatchNorm1d, BatchNorm2d, GroupNorm, InstanceNorm1d, InstanceNorm2d, LayerNorm  # noqa: E402
__all__ += ["BatchNorm1d", "BatchNorm2d", "InstanceNorm1d", "InstanceNorm2d", "LayerNorm", "GroupNorm"]
# ---- transposed convolution ----
from .conv_transpose import ConvTranspose1d, ConvTranspose2d  # noqa: E402
__all__ += ["ConvTranspose1d", "ConvTranspose2d"]
