"""fastlayers: deep-learning layers with hand-written C++ kernels under a small torch-like autograd."""
from . import _C
from ._C import get_num_threads, set_num_threads
from .tensor import *  # noqa: F401,F403
from . import autograd
from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .random import manual_seed, seed
from . import nn
from . import optim, utils

__version__ = "0.1.0"
# ---- serialization ----
from .serialization import load, save  # noqa: E402,F401
