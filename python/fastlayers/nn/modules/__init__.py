from .container import Sequential
from .conv import Conv1d, Conv2d
from .module import Module

__all__ = ["Module", "Sequential", "Conv1d", "Conv2d"]
