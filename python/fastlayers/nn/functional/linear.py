"""Linear (fastlayers.ops.linear)."""
from ...ops import linear as _linear
from ._adapter import NN, check_tensors

__all__ = ["linear"]


def linear(input, weight, bias=None):
    """y = input @ weight.T + bias over the last dimension of input (*, in_features) -> (*, out_features).

    weight is (out_features, in_features), or (in_features,) for a single output whose dimension is
    dropped, as in torch; bias is (out_features,) or None, or broadcasts to the output.
    """
    check_tensors("linear", input=input, weight=weight, bias=bias)
    return _linear.linear(NN, input, weight, bias)
