"""Padding (fastlayers.ops.pad)."""
from ...ops import pad as _pad
from ._adapter import NN, check_tensor

__all__ = ["pad"]


def pad(input, pad, mode="constant", value=None):
    """Pads input; `pad` lists (left, right) pairs starting from the last axis, as torch.nn.functional.pad."""
    check_tensor(input, "pad", "input")
    return _pad.pad(NN, input, pad, mode, value)
