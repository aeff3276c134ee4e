"""Functional forms of the layers, mirroring torch.nn.functional's names, arguments and defaults.

Each is the op layer's public function (fastlayers.ops.public_functions: conv1d in fastlayers/ops/conv.py,
...) bound to this side's one adapter (_adapter.NN). What is fastlayers' own lives beside: pad, the deprecated
upsample aliases, dropout with fastlayers' generator (dropout.py) and the losses (loss.py).
"""
import warnings

from ... import ops as _ops
from ...ops import pad as _pad
from ._adapter import NN, check_tensor
from .dropout import *  # noqa: F401,F403
from .dropout import __all__ as _dropout_all
from .loss import *  # noqa: F401,F403
from .loss import __all__ as _loss_all

globals().update(_ops.public_functions(NN))


def pad(input, pad, mode="constant", value=None):
    """Pads input; `pad` lists (left, right) pairs starting from the last axis, as torch.nn.functional.pad."""
    check_tensor(input, "pad", "input")
    return _pad.pad(NN, input, pad, mode, value)


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """Deprecated alias of interpolate (as in torch)."""
    warnings.warn("`nn.functional.upsample` is deprecated. Use `nn.functional.interpolate` instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    """Deprecated: interpolate(..., mode='nearest') (as in torch)."""
    warnings.warn("`nn.functional.upsample_nearest` is deprecated. Use `nn.functional.interpolate` instead.",
                  stacklevel=2)
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    """Deprecated: interpolate(..., mode='bilinear', align_corners=True) (as in torch)."""
    warnings.warn("`nn.functional.upsample_bilinear` is deprecated. Use `nn.functional.interpolate` instead.",
                  stacklevel=2)
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


__all__ = list(_ops.PUBLIC) + ["pad", "upsample", "upsample_nearest", "upsample_bilinear"] + _dropout_all + _loss_all
