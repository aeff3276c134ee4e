"""fastlayers.nn.functional's one adapter over the op layer (fastlayers.ops).

`NN.apply(op, Definition, *args)` runs an op definition as a fastlayers.autograd Function: a Function class is
made once per definition, whose forward and backward are the definition's, with K = fastlayers._C (which
takes numpy and CuPy arrays alike) as the ctx.K they call. What only this side does lives here too: arguments must be fastlayers
Tensors of the dtypes the kernels take, and in-place ops follow fastlayers' rule.
"""
import numpy as np

from ... import _C
from ...autograd import Function
from ...autograd import grad_mode as _grad_mode
from ...ops import pad as _pad
from ...ops.activation import Activation
from ...ops.adapter import Adapter
from ...tensor import Tensor

LEAF_IN_PLACE = "a leaf Variable that requires grad is being used in an in-place operation."

_FUNCTIONS = {}


def function_of(definition):
    """The fastlayers.autograd Function running `definition` (made on first use, then cached)."""
    fn = _FUNCTIONS.get(definition)
    if fn is None:
        fn = type(definition.__name__, (Function,), {
            "__doc__": definition.__doc__, "__module__": __name__, "K": _C,
            "forward": staticmethod(definition.forward), "backward": staticmethod(definition.backward)})
        _FUNCTIONS[definition] = fn
    return fn


def check_tensor(value, op, arg, optional=False):
    if value is None and optional:
        return
    if not isinstance(value, Tensor):
        raise TypeError(f"{op}(): argument '{arg}' must be a fastlayers.Tensor, not {type(value).__name__}")


class _Adapter(Adapter):
    """The op layer's adapter protocol (fastlayers.ops.adapter) for fastlayers Tensors."""

    @staticmethod
    def apply(op, definition, *args):
        fn = _FUNCTIONS.get(definition)
        return (fn or function_of(definition)).apply(*args)

    @staticmethod
    def pad(input, pads):
        return _pad.pad(NN, input, pads)

    @staticmethod
    def activation(op, input, inplace, kind, params):
        """In place: without a graph to record, the input's array is overwritten; while recording, the input
        Tensor takes the result (see take_result)."""
        check_tensor(input, op, "input")
        if not inplace:
            return NN.apply(op, Activation, input, kind, params)
        if records_in_place(input):
            return take_result(input, NN.apply(op, Activation, input, kind, params))
        data = input.data
        if isinstance(data, np.ndarray) and data.flags.c_contiguous and data.flags.writeable:
            _C.activation_forward(data, kind, out=data, **params)
        else:
            data[...] = _C.activation_forward(data, kind, **params)
        return input

    check_tensor = staticmethod(check_tensor)

    @classmethod
    def check_operands(cls, op, input, weight=None, bias=None):
        if not isinstance(input, Tensor) or (weight is not None and not isinstance(weight, Tensor)) or (
                bias is not None and not isinstance(bias, Tensor)):
            cls.check_tensors(op, input=input, weight=weight, bias=bias)  # raises, naming the argument

    @staticmethod
    def check_tensors(op, **tensors):
        """Each keyword a fastlayers.Tensor; those after the first may be None (optional parameters)."""
        first = True
        for name, value in tensors.items():
            if not isinstance(value, Tensor) and (first or value is not None):
                check_tensor(value, op, name, not first)
            first = False

    @staticmethod
    def check_float(op, input, message="input must have dtype float32 or float64, got"):
        """The dtypes the kernels take: float32, float64, and float16 on a GPU."""
        if input.dtype not in (np.float32, np.float64) and not half_on_gpu(input):
            raise TypeError(f"{op}(): {message} {input.dtype}")

    @staticmethod
    def check_like_input(op, input, **params):
        for name, p in params.items():
            if p is not None and p.dtype != input.dtype:
                raise TypeError(f"{op}(): expected {name} of dtype {input.dtype} like the input, got {p.dtype}")

    @staticmethod
    def check_stats(op, input, **stats):
        """Of the input's dtype; float32 with a half input on the GPU (mixed precision, as batch_norm and torch
        allow)."""
        for name, p in stats.items():
            if p is not None and p.dtype != input.dtype and not (half_on_gpu(input) and p.dtype == np.float32):
                raise TypeError(f"{op}(): expected {name} of dtype {input.dtype} like the input, got {p.dtype}")

    @staticmethod
    def check_indices(op, indices):
        if not isinstance(indices, Tensor):
            raise TypeError(f"{op}(): argument 'indices' must be a fastlayers.Tensor, not {type(indices).__name__}")
        if indices.dtype != np.int64:
            raise TypeError(f"{op}(): indices must have dtype int64, got {indices.dtype}")


NN = _Adapter()


def half_on_gpu(input):
    """float16 on a GPU (CuPy) passes: the CUDA kernels of pooling, softmax and the layers take it."""
    return input.dtype == np.float16 and input.device != "cpu"


def records_in_place(input):
    """Whether an in-place op on `input` must be recorded in the graph (refused on a leaf that requires grad)."""
    if _grad_mode._state.enabled and input.requires_grad:
        if input.is_leaf:
            raise RuntimeError(LEAF_IN_PLACE)
        return True
    return False


def take_result(input, out):
    """A recorded in-place op: the input Tensor takes the result and becomes the node's output (its old array
    stays intact for whichever earlier node saved it, since no version counter guards it)."""
    input.data = out.data
    input._grad_fn = out._grad_fn
    input._output_nr = out._output_nr
    return input
