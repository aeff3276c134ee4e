"""Functional forms of the layers, mirroring torch.nn.functional's names, arguments and defaults.

Each family's module is a thin layer over the op layer (fastlayers.ops): the type checks of this side, then
the family's front function, which runs the op definitions through the one adapter in _adapter.py.
"""
from .activation import *  # noqa: F401,F403
from .activation import __all__ as _activation_all
from .conv import *  # noqa: F401,F403
from .conv import __all__ as _conv_all
from .dropout import *  # noqa: F401,F403
from .dropout import __all__ as _dropout_all
from .linear import *  # noqa: F401,F403
from .linear import __all__ as _linear_all
from .loss import *  # noqa: F401,F403
from .loss import __all__ as _loss_all
from .normalization import *  # noqa: F401,F403
from .normalization import __all__ as _normalization_all
from .padding import *  # noqa: F401,F403
from .padding import __all__ as _padding_all
from .pooling import *  # noqa: F401,F403
from .pooling import __all__ as _pooling_all
from .upsampling import *  # noqa: F401,F403
from .upsampling import __all__ as _upsampling_all

__all__ = (_conv_all + _padding_all + _normalization_all + _pooling_all + _activation_all + _dropout_all
           + _upsampling_all + _linear_all + _loss_all)
