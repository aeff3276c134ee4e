"""Convolution and transposed convolution (fastlayers.ops.conv)."""
from ...ops import conv as _conv
from ._adapter import NN, check_tensors

__all__ = ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d"]


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation) over an input of shape (N, C, H, W) or (C, H, W)."""
    check_tensors("conv2d", input=input, weight=weight, bias=bias)
    return _conv.conv(NN, "conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution over an input of shape (N, C, L) or (C, L)."""
    check_tensors("conv1d", input=input, weight=weight, bias=bias)
    return _conv.conv(NN, "conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """2-D transposed convolution over an input of shape (N, C_in, H, W) or (C_in, H, W); weight
    (C_in, C_out/groups, kH, kW)."""
    check_tensors("conv_transpose2d", input=input, weight=weight, bias=bias)
    return _conv.conv_transpose(NN, "conv_transpose2d", 2, input, weight, bias, stride, padding, output_padding,
                                groups, dilation)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """1-D transposed convolution over an input of shape (N, C_in, L) or (C_in, L); weight
    (C_in, C_out/groups, k)."""
    check_tensors("conv_transpose1d", input=input, weight=weight, bias=bias)
    return _conv.conv_transpose(NN, "conv_transpose1d", 1, input, weight, bias, stride, padding, output_padding,
                                groups, dilation)
