"""Upsampling (interpolate): nearest and (bi)linear; a 3-D (N, C, L) input runs as (N, C, 1, L)."""
import math
import numbers

from ._args import is_int

_TORCH_MODES = ("nearest", "linear", "bilinear", "bicubic", "trilinear", "area", "nearest-exact")


class Upsample2d:
    name = "interpolate"

    @staticmethod
    def forward(ctx, input, output_size, scales, mode, align_corners, size_shortcuts):
        K = ctx.K
        ctx.args = (tuple(input.shape[2:]), scales, mode, align_corners, size_shortcuts)
        return K.upsample2d_forward(input, output_size, scales, mode, align_corners, size_shortcuts)

    @staticmethod
    def backward(ctx, grad_output):
        K = ctx.K
        return (K.upsample2d_backward(grad_output, *ctx.args),) + (None,) * 5


def _check_length(values, dim, input, subject, given, layout):
    """A per-axis argument given as a sequence has one value per spatial axis (torch's message)."""
    if len(values) != dim:
        raise ValueError(f"Input and {subject} must have the same number of spatial dimensions, but got input with "
                         f"spatial dimensions of {list(input.shape[2:])} and {given} {values}. Please provide input "
                         f"tensor in (N, C, d1, d2, ...,dK) format and {layout} format.")


def _output_size(op, input, size, dim):
    if isinstance(size, (list, tuple)):
        _check_length(size, dim, input, "output", "output size of", "output size in (o1, o2, ...,oK)")
        if not all(is_int(s) for s in size):
            raise TypeError("expected size to be one of int or Tuple[int] or Tuple[int, int] or "
                            f"Tuple[int, int, int], but got size with types {[type(s) for s in size]}")
        return [int(s) for s in size]
    if is_int(size):
        return [int(size)] * dim
    raise TypeError(f"{op}(): argument 'size' must be an int or a tuple of ints, got {size!r}")


def _scales(op, input, scale_factor, dim):
    if isinstance(scale_factor, (list, tuple)):
        _check_length(scale_factor, dim, input, "scale_factor", "scale_factor of shape",
                      "scale_factor in (s1, s2, ...,sK)")
        scales = list(scale_factor)
    else:
        scales = [scale_factor] * dim
    if not all(isinstance(s, numbers.Real) and not isinstance(s, bool) for s in scales):
        raise TypeError(f"{op}(): argument 'scale_factor' must be a float or a tuple of floats, "
                        f"got {scale_factor!r}")
    return [float(s) for s in scales]


def _check_mode(op, input, mode):
    supported = {3: ("nearest", "linear"), 4: ("nearest", "bilinear")}
    if mode in supported.get(input.ndim, ()):
        return
    if input.ndim in (3, 4, 5) and mode in _TORCH_MODES:
        if mode in ("linear", "bilinear", "trilinear"):
            need = {"linear": 3, "bilinear": 4, "trilinear": 5}[mode]
            raise NotImplementedError(f"Got {input.ndim}D input, but {mode} mode needs {need}D input")
        raise NotImplementedError(f"{op}(): mode '{mode}' is not supported by fastlayers "
                                  f"(supported: nearest and linear for 3-D input, nearest and bilinear "
                                  f"for 4-D input), got mode={mode!r} with {input.ndim}-D input")
    raise NotImplementedError(
        f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for the modes: "
        f"nearest | linear | bilinear | bicubic | trilinear | area | nearest-exact (got {mode})")


def interpolate_args(input, size, scale_factor, mode, align_corners, recompute_scale_factor, antialias):
    """interpolate's arguments, torch's rules: (spatial dims, output size, the two scales for the kernel, the
    kernel's mode, align_corners)."""
    op = "interpolate"
    if not isinstance(mode, str):
        raise TypeError(f"{op}(): argument 'mode' must be str, not {type(mode).__name__}")
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError("align_corners option can only be set with the "
                             "interpolating modes: linear | bilinear | bicubic | trilinear")
    elif align_corners is None:
        align_corners = False
    if antialias:
        raise ValueError(f"{op}(): antialias=True is not supported by fastlayers, got antialias={antialias!r}")
    dim = input.ndim - 2
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is not None:
        output_size, scales = _output_size(op, input, size, dim), None
    elif scale_factor is not None:
        output_size, scales = None, _scales(op, input, scale_factor, dim)
    else:
        raise ValueError("either size or scale_factor should be defined")
    if recompute_scale_factor is not None and recompute_scale_factor and size is not None:
        raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
    if output_size is None:
        output_size = [math.floor(float(input.shape[i + 2]) * scales[i]) for i in range(dim)]
        if recompute_scale_factor:
            scales = None
    _check_mode(op, input, mode)
    in_size = list(input.shape[2:])
    if any(s <= 0 for s in in_size) or any(s <= 0 for s in output_size) or input.shape[1] == 0:
        raise RuntimeError(f"{op}(): input and output sizes should be greater than 0, but got input "
                           f"{tuple(input.shape)} and output size {tuple(output_size)}")
    if scales is not None and any(not (s > 0) for s in scales):
        raise ValueError(f"{op}(): scale_factor must be positive, got {scale_factor!r}")
    scales2 = [0.0, 0.0] if scales is None else [float(s) for s in scales]
    kernel_mode = "nearest" if mode == "nearest" else "bilinear"
    return dim, output_size, scales2, kernel_mode, bool(align_corners)


def _interpolate(A, input, size, scale_factor, mode, align_corners, recompute_scale_factor, antialias):
    dim, output_size, scales, kernel_mode, align_corners = interpolate_args(
        input, size, scale_factor, mode, align_corners, recompute_scale_factor, antialias)
    if dim == 1:
        # (N, C, L) runs as (N, C, 1, L): a size-1 axis maps to itself in both modes. torch's 1-D nearest
        # forward maps same-size and doubled axes with 1/scale_factor too (no shortcuts); our backward is
        # the adjoint of that forward (torch's 1-D backward takes the shortcuts, disagreeing with its forward).
        out = A.apply("interpolate", Upsample2d, input.unsqueeze(2), (1, output_size[0]), (0.0, scales[0]),
                      kernel_mode, align_corners, False)
        return out.squeeze(2)
    return A.apply("interpolate", Upsample2d, input, tuple(output_size), tuple(scales), kernel_mode, align_corners,
                   True)


PUBLIC = ("interpolate",)


def public_functions(A):
    """interpolate over adapter A (the deprecated aliases are each side's)."""

    def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                    recompute_scale_factor=None, antialias=False):
        """Resamples (N, C, L) or (N, C, H, W) input to `size` or by `scale_factor`, torch's rules.

        Modes: 'nearest' (3-D and 4-D input), 'linear' (3-D), 'bilinear' (4-D). The source index of output
        index d is floor(d * s) for nearest, and (d + 0.5) * s - 0.5 clamped at 0 (or d * (In-1)/(Out-1) with
        align_corners) for the linear modes, where s = 1/scale_factor when scale_factor is given and
        recompute_scale_factor is not True, else In/Out.
        """
        A.check_operands("interpolate", input)
        A.check_float("interpolate", input)
        return _interpolate(A, input, size, scale_factor, mode, align_corners, recompute_scale_factor, antialias)

    return (interpolate,)
