"""fastlayers for PyTorch users: drop-in torch.nn modules and torch.nn.functional calls on fastlayers' kernels,
and replace(model) to swap them into an existing model. This is the only part of fastlayers that imports torch.

    import fastlayers.torch as flt
    model = flt.replace(model)          # same parameters, same numbers, fastlayers' kernels
"""
from . import functional
from .modules import *  # noqa: F401,F403
from .modules import __all__ as _module_names
from .replace import SUPPORTED, ReplaceReport, replace

__all__ = list(_module_names) + ["functional", "replace", "ReplaceReport", "SUPPORTED"]
