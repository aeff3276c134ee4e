"""fastlayers: deep-learning layers with hand-written C++ kernels under a small torch-like autograd."""
__version__ = "0.1.0"  # the one version source: pyproject.toml reads it from here
from . import _C
from ._C import get_num_threads, set_flush_denormal, set_num_threads
from . import _device

# GPU outputs come from the caller's own framework: _C calls these instead of importing this package. They look
# _device's functions up at each call (only CUDA arrays reach them), so replacing one there takes effect.
_C.set_array_hooks(lambda like, shape, dtype: _device.empty(like, shape, dtype),
                   lambda array: _device.ascontiguousarray(array),
                   lambda array: _device.cupy_stream(array))

import logging as _logging
# The C++ front doors log their implementation choices (FASTLAYERS_VERBOSE=1 or _C.set_verbose) to this logger;
# with logging left unconfigured, FASTLAYERS_VERBOSE=1 still prints them on stderr.
_logger = _logging.getLogger("fastlayers")
if _C.get_verbose() and not _logger.handlers and not _logging.getLogger().handlers:
    _logger.addHandler(_logging.StreamHandler())
    _logger.setLevel(_logging.INFO)
_C._set_log_sink(_logger.info)
from .tensor import *  # noqa: F401,F403
from . import autograd
from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .random import manual_seed, seed
from . import nn
from . import optim, utils
# ---- cuda ----
from . import cuda
# ---- serialization ----
from .serialization import load, save  # noqa: E402,F401
from .safetensors import load_safetensors, save_safetensors  # noqa: E402,F401
