"""Convolution and transposed convolution (1-D ones run as 2-D over a height of 1).

The transposed kernels are the convolution's with roles swapped (csrc/ops/conv_transpose2d.cpp); its weight
has torch's layout (in_channels, out_channels/groups, *kernel).
"""
from ._args import as_tuple, batched, check_positive, is_int
from ._weighted import WeightedOp


class Conv2d(WeightedOp):
    """params: stride, padding, dilation, groups."""
    name = "conv2d"


class ConvTranspose2d(WeightedOp):
    """params: stride, padding, output_padding, groups, dilation."""
    name = "conv_transpose2d"


def same_padding(kernel, dilation):
    """Per axis (left, right) padding that keeps the size at stride 1; the odd extra goes right, as torch."""
    total = [d * (k - 1) for k, d in zip(kernel, dilation)]
    return [(t // 2, t - t // 2) for t in total]


def _check_groups(op, groups):
    if type(groups) is not int and not is_int(groups) or groups < 1:
        raise ValueError(f"{op}(): groups must be a positive integer, got {groups!r}")


def _check_ranks(op, nd, input, weight, weight_layout):
    if input.ndim not in (nd + 1, nd + 2):
        raise ValueError(f"{op}(): expected {nd + 1}-D (unbatched) or {nd + 2}-D (batched) input, "
                         f"got input of shape {tuple(input.shape)}")
    if weight.ndim != nd + 2:
        raise ValueError(f"{op}(): expected weight of {nd + 2} dims ({weight_layout}, *kernel), "
                         f"got shape {tuple(weight.shape)}")


def conv_args(op, nd, input, weight, bias, stride, padding, dilation, groups):
    """The arguments of an nd convolution as tuples: (stride, padding, dilation, same_pad); same_pad is the `pad`
    argument of the explicit right padding that an asymmetric 'same' needs first, or None."""
    _check_ranks(op, nd, input, weight, "out_channels, in_channels/groups")
    if bias is not None and (bias.ndim != 1 or bias.shape[0] != weight.shape[0]):
        raise ValueError(f"{op}(): expected bias of shape ({weight.shape[0]},), got {tuple(bias.shape)}")
    _check_groups(op, groups)
    stride = as_tuple(stride, nd, op, "stride")
    dilation = as_tuple(dilation, nd, op, "dilation")
    check_positive(stride, op, "stride")
    check_positive(dilation, op, "dilation")
    same_pad = None
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0,) * nd
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{op}(): padding='same' is not supported for strided convolutions")
            pairs = same_padding(tuple(weight.shape[2:]), dilation)
            extra = [r - l for l, r in pairs]
            if any(extra):
                # Asymmetric: pad the extra element on the right explicitly, the rest symmetrically.
                same_pad = []
                for e in reversed(extra):
                    same_pad += [0, e]
            padding = tuple(l for l, _ in pairs)
        else:
            raise ValueError(f"{op}(): padding must be 'valid', 'same', an int or a tuple of {nd} ints, "
                             f"got {padding!r}")
    else:
        padding = as_tuple(padding, nd, op, "padding")
        if any(p < 0 for p in padding):
            raise ValueError(f"{op}(): padding must be non-negative, got {padding}")
    return stride, padding, dilation, same_pad


def conv(A, op, nd, input, weight, bias, stride, padding, dilation, groups):
    """conv1d / conv2d on A's tensors: 'same'/'valid' padding, unbatched input, 1-D as 2-D."""
    stride, padding, dilation, same_pad = conv_args(op, nd, input, weight, bias, stride, padding, dilation, groups)
    if same_pad:
        input = A.pad(input, same_pad)
    input, unbatched = batched(input, nd)
    if nd == 1:
        out = A.apply(op, Conv2d, input.unsqueeze(2), weight.unsqueeze(2), bias, (1, stride[0]), (0, padding[0]),
                      (1, dilation[0]), int(groups)).squeeze(2)
    else:
        out = A.apply(op, Conv2d, input, weight, bias, stride, padding, dilation, int(groups))
    return out.squeeze(0) if unbatched else out


def conv_transpose_args(op, nd, input, weight, bias, stride, padding, output_padding, groups, dilation):
    """The arguments of an nd transposed convolution as tuples: (stride, padding, output_padding, dilation)."""
    _check_ranks(op, nd, input, weight, "in_channels, out_channels/groups")
    _check_groups(op, groups)
    channels = input.shape[input.ndim - nd - 1]
    if channels != weight.shape[0]:
        raise ValueError(f"{op}(): input has {channels} channels but weight of shape {tuple(weight.shape)} expects "
                         f"{weight.shape[0]} (weight.shape[0] is in_channels)")
    if weight.shape[0] % groups:
        raise ValueError(f"{op}(): groups={groups} must divide in_channels={weight.shape[0]}")
    out_channels = weight.shape[1] * groups
    if bias is not None and (bias.ndim != 1 or bias.shape[0] != out_channels):
        raise ValueError(f"{op}(): expected bias of shape ({out_channels},), got {tuple(bias.shape)}")
    if isinstance(padding, str):
        raise ValueError(f"{op}(): padding must be an int or a tuple of {nd} ints (no 'same'/'valid' for transposed "
                         f"convolution), got {padding!r}")
    stride = as_tuple(stride, nd, op, "stride")
    padding = as_tuple(padding, nd, op, "padding")
    output_padding = as_tuple(output_padding, nd, op, "output_padding")
    dilation = as_tuple(dilation, nd, op, "dilation")
    check_positive(stride, op, "stride")
    check_positive(dilation, op, "dilation")
    if any(p < 0 for p in padding):
        raise ValueError(f"{op}(): padding must be non-negative, got {padding}")
    if any(p < 0 for p in output_padding):
        raise ValueError(f"{op}(): output_padding must be non-negative, got {output_padding}")
    if any(p >= s and p >= d for p, s, d in zip(output_padding, stride, dilation)):
        raise ValueError(f"{op}(): output_padding {output_padding} must be smaller than either stride {stride} or "
                         f"dilation {dilation}")
    return stride, padding, output_padding, dilation


def conv_transpose(A, op, nd, input, weight, bias, stride, padding, output_padding, groups, dilation):
    """conv_transpose1d / conv_transpose2d on A's tensors: unbatched input, 1-D as 2-D."""
    stride, padding, output_padding, dilation = conv_transpose_args(op, nd, input, weight, bias, stride, padding,
                                                                    output_padding, groups, dilation)
    input, unbatched = batched(input, nd)
    if nd == 1:
        out = A.apply(op, ConvTranspose2d, input.unsqueeze(2), weight.unsqueeze(2), bias, (1, stride[0]),
                      (0, padding[0]), (0, output_padding[0]), int(groups), (1, dilation[0])).squeeze(2)
    else:
        out = A.apply(op, ConvTranspose2d, input, weight, bias, stride, padding, output_padding, int(groups),
                      dilation)
    return out.squeeze(0) if unbatched else out


PUBLIC = ("conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d")


def public_functions(A):
    """torch.nn.functional's convolutions over adapter A, in the order of PUBLIC."""

    def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        """1-D convolution over an input of shape (N, C, L) or (C, L)."""
        A.check_operands("conv1d", input, weight, bias)
        return conv(A, "conv1d", 1, input, weight, bias, stride, padding, dilation, groups)

    def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        """2-D convolution (cross-correlation) over an input of shape (N, C, H, W) or (C, H, W)."""
        A.check_operands("conv2d", input, weight, bias)
        return conv(A, "conv2d", 2, input, weight, bias, stride, padding, dilation, groups)

    def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
        """1-D transposed convolution over an input of shape (N, C_in, L) or (C_in, L); weight
        (C_in, C_out/groups, k)."""
        A.check_operands("conv_transpose1d", input, weight, bias)
        return conv_transpose(A, "conv_transpose1d", 1, input, weight, bias, stride, padding, output_padding,
                              groups, dilation)

    def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
        """2-D transposed convolution over an input of shape (N, C_in, H, W) or (C_in, H, W); weight
        (C_in, C_out/groups, kH, kW)."""
        A.check_operands("conv_transpose2d", input, weight, bias)
        return conv_transpose(A, "conv_transpose2d", 2, input, weight, bias, stride, padding, output_padding,
                              groups, dilation)

    return conv1d, conv2d, conv_transpose1d, conv_transpose2d
