"""Layers and the Module system, mirroring torch.nn."""
from . import functional, init
from . import utils
from .modules import *  # noqa: F401,F403
from .modules import __all__ as _modules_all
from .parameter import Parameter

__all__ = ["functional", "init", "Parameter"] + list(_modules_all)
