from .container import Sequential
from .conv import Conv1d, Conv2d
from .module import Module

__all__ = ["Module", "Sequential", "Conv1d", "Conv2d"]
# ---- pooling ----
from .pooling import (AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool1d, AvgPool2d, MaxPool1d, MaxPool2d,
                      MaxUnpool2d)

__all__ += ["MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d",
            "MaxUnpool2d"]
