"""Upsampling (fastlayers.ops.upsample)."""
import warnings

from ...ops import upsample as _upsample
from ._adapter import NN, check_float, check_tensor

__all__ = ["interpolate", "upsample", "upsample_nearest", "upsample_bilinear"]


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resamples (N, C, L) or (N, C, H, W) input to `size` or by `scale_factor`, torch's rules.

    Modes: 'nearest' (3-D and 4-D input), 'linear' (3-D), 'bilinear' (4-D). The source index of output
    index d is floor(d * s) for nearest, and (d + 0.5) * s - 0.5 clamped at 0 (or d * (In-1)/(Out-1) with
    align_corners) for the linear modes, where s = 1/scale_factor when scale_factor is given and
    recompute_scale_factor is not True, else In/Out.
    """
    check_tensor(input, "interpolate", "input")
    check_float(input, "interpolate")
    return _upsample.interpolate(NN, input, size, scale_factor, mode, align_corners, recompute_scale_factor,
                                 antialias)


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
