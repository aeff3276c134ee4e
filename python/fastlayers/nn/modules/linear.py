"""Linear and shape modules with torch.nn's constructors, parameter names, default initialization and repr."""
import math

from .. import functional as F
from .. import init
from ..parameter import Parameter
from ...tensor import empty
from .module import Module

__all__ = ["Identity", "Linear", "Flatten", "Unflatten"]


class Identity(Module):
    """Returns its input unchanged; constructor arguments are accepted and ignored, as in torch."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


class Linear(Module):
    """y = x @ weight.T + bias: input (*, in_features) -> (*, out_features).

    weight (out_features, in_features) and bias (out_features,) start as torch's do: kaiming_uniform_ with
    a=sqrt(5), i.e. U(-1/sqrt(in_features), 1/sqrt(in_features)), and the bias from the same range.
    """

    def __init__(self, in_features, out_features, bias=True, dtype=None):
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"Linear: {name} must be a non-negative int, got {value!r}")
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(empty(out_features, in_features, dtype=dtype))
        if bias:
            self.bias = Parameter(empty(out_features, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        params = self._parameters  # not self.weight / self.bias: Module.__getattr__ is slow at batch 1
        return F.linear(input, params["weight"], params["bias"])

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Flatten(Module):
    """Flattens dimensions start_dim..end_dim into one: (N, C, H, W) -> (N, C*H*W) by default."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input):
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Expands dimension `dim` into `unflattened_size` (a tuple or list of ints; one may be -1)."""

    def __init__(self, dim, unflattened_size):
        super().__init__()
        if not isinstance(dim, int) or isinstance(dim, bool):
            raise TypeError(f"Unflatten: dim must be an int, got {type(dim).__name__}")
        if not isinstance(unflattened_size, (tuple, list)) or not all(
                isinstance(s, int) and not isinstance(s, bool) for s in unflattened_size):
            raise TypeError(f"unflattened_size must be tuple of ints, but found type {type(unflattened_size).__name__}")
        self.dim = dim
        self.unflattened_size = unflattened_size

    def forward(self, input):
        ndim = input.ndim
        if not -ndim <= self.dim < ndim:
            raise IndexError(f"Dimension out of range (expected to be in range of [{-ndim}, {ndim - 1}], "
                             f"but got {self.dim})")
        dim = self.dim % ndim
        sizes = list(self.unflattened_size)
        size = input.shape[dim]
        unknown = [i for i, s in enumerate(sizes) if s == -1]
        known = math.prod(s for s in sizes if s != -1)
        if len(unknown) > 1 or any(s < -1 for s in sizes):
            raise RuntimeError(f"unflatten: invalid sizes {tuple(sizes)}: at most one -1 and no other negatives")
        if unknown and known > 0 and size % known == 0:
            sizes[unknown[0]] = size // known
        if unknown and sizes[unknown[0]] == -1 or math.prod(sizes) != size:
            raise RuntimeError(f"unflatten: Provided sizes {tuple(self.unflattened_size)} don't multiply up to the "
                               f"size of dim {self.dim} ({size}) in the input tensor")
        return input.reshape(input.shape[:dim] + tuple(sizes) + input.shape[dim + 1:])

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
