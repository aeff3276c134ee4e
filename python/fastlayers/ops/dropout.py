"""Dropout: inverted dropout with a keep-mask (elements, or whole channels for dropout2d).

Where the mask comes from is the framework's: fastlayers draws it from its own generator (or the CUDA mask
kernel), fastlayers.torch from torch's (torch.manual_seed reproduces it). Applying it is `MaskScale`.
"""
import numbers
import warnings


class MaskScale:
    """input * mask * scale with a fixed mask (dropout's apply and backward)."""
    name = "dropout"

    @staticmethod
    def forward(ctx, input, mask, scale):
        ctx.mask = (mask, scale)
        return input * (mask * input.dtype.type(scale))

    @staticmethod
    def backward(ctx, grad_output):
        mask, scale = ctx.mask
        return grad_output * (mask * grad_output.dtype.type(scale)), None, None


def check_p(p):
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def scale(p):
    """What the kept elements are multiplied by."""
    return 0.0 if p == 1 else 1.0 / (1.0 - p)


def element_mask_shape(shape):
    return tuple(shape)


def channel_mask_shape(shape):
    return tuple(shape[:2]) + (1,) * (len(shape) - 2)


def check_dropout2d(input):
    """dropout2d's input: (C, H, W) or (N, C, H, W); torch reads a 3-D one as (N, C, L), with a warning."""
    if input.ndim not in (3, 4):
        raise ValueError(f"dropout2d(): expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape "
                         f"{tuple(input.shape)}")
    if input.ndim == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout "
                      "behavior is desired - input is interpreted as shape (N, C, L), where C is the channel "
                      "dim. This behavior will change in a future release to interpret the input as one "
                      "without a batch dimension, i.e. shape (C, H, W). To maintain the 1D channel-wise "
                      "dropout behavior, please switch to using dropout1d instead.", stacklevel=3)
