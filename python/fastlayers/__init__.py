"""fastlayers: deep-learning layers with hand-written C++ kernels under a small torch-like autograd."""
from . import _C
from ._C import get_num_threads, set_num_threads

__version__ = "0.1.0"
