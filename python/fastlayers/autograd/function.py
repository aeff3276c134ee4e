"""torch-style custom autograd functions whose forward and backward work on raw arrays.

    class Cube(Function):
        @staticmethod
        def forward(ctx, x):              # x is the array inside the Tensor argument
            ctx.save_for_backward(x)
            return x ** 3                 # an array, or a tuple of arrays
        @staticmethod
        def backward(ctx, grad):          # one array per forward output
            (x,) = ctx.saved_tensors
            return 3 * x ** 2 * grad      # one array or None per forward argument

    y = Cube.apply(t)                     # a Tensor, connected to t's graph when t requires grad
"""
import numbers

import numpy as np

from . import grad_mode as _grad_mode
from . import _tensor_type as _tensor

__all__ = ["Function", "FunctionCtx"]

_FREED_MESSAGE = (
    "Trying to backward through the graph a second time (or directly access saved tensors after they "
    "have already been freed). Saved intermediate values of the graph are freed when you call .backward() "
    "or autograd.grad(). Specify retain_graph=True if you need to backward through the graph a second "
    "time or if you need to access saved tensors after calling backward.")


def _as_array(value):
    """numpy scalars (what full reductions and 0-d indexing return) and Python numbers as 0-d arrays;
    arrays, CuPy's included, unchanged."""
    if type(value) is np.ndarray:
        return value
    if isinstance(value, (np.generic, numbers.Number)):
        return np.asarray(value)
    return value


class FunctionCtx:
    """The `ctx` a Function's forward and backward receive. When the call is recorded it is also the
    graph node: the `grad_fn` of the outputs, holding the edges to the inputs' nodes or leaves."""

    # Defaults as class attributes, so that creating a context (once per operation) sets only two fields.
    _saved = ()
    _non_differentiable = ()
    _next = ()           # per forward argument: None, or (producing node, output index), or (leaf, None)
    _output_meta = ()    # per output: (shape, dtype), to check and materialize its gradient
    _retained = None     # output index -> weak reference to a non-leaf Tensor that retains its grad
    _materialize_grads = True

    def __init__(self, function, needs_input_grad):
        self._function = function
        self.needs_input_grad = needs_input_grad

    @property
    def K(self):
        """The kernels object the Function declares (Function.K): fastlayers.nn.functional runs fastlayers.ops'
        definitions, which call their kernels through ctx.K, as Functions with K = fastlayers._C."""
        return self._function.K

    def save_for_backward(self, *arrays):
        """Keep arrays (or None) for backward; freed after backward unless retain_graph=True."""
        self._saved = arrays

    @property
    def saved_tensors(self):
        if self._saved is None:
            raise RuntimeError(_FREED_MESSAGE)
        return self._saved

    def set_materialize_grads(self, value):
        """With False, backward gets None (not zeros) for outputs that received no gradient, as in torch."""
        self._materialize_grads = bool(value)

    def mark_non_differentiable(self, *outputs):
        """Mark output arrays (the very objects forward returns) that never require grad."""
        self._non_differentiable = outputs

    def name(self):
        return self._function.__name__ + "Backward"

    def __repr__(self):
        return f"<{self.name()} object>"


class Function:
    """Base class of differentiable operations; see the module docstring for the protocol.

    forward(ctx, *args) receives every Tensor argument as its raw array and other arguments unchanged.
    backward(ctx, *grad_outputs) receives one array per output (zeros for outputs that got no gradient)
    and returns one array or None per forward argument; extra trailing Nones are allowed.
    """

    K = None  # see FunctionCtx.K

    @staticmethod
    def forward(ctx, *args):
        raise NotImplementedError("subclasses of Function must implement forward")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("subclasses of Function must implement backward")

    @classmethod
    def apply(cls, *args):
        """Run forward on the unwrapped arguments and wrap its result in Tensors; when grad mode is on
        and some Tensor argument requires grad, connect the float outputs to the graph."""
        # This is the cost of every layer call at batch 1, so it avoids comprehensions and repeated lookups.
        Tensor = _tensor.Tensor
        record = _grad_mode._state.enabled
        arrays = []
        for arg in args:
            if isinstance(arg, Tensor):
                if record and arg._requires_grad:
                    return cls._apply_recorded(args)
                arrays.append(arg.data)
            else:
                arrays.append(arg)
        # Nothing to record (no_grad, or no input requires grad): no edges, no output metadata.
        ctx = FunctionCtx(cls, (False,) * len(args))
        result = cls.forward(ctx, *arrays)
        make = _tensor.make
        if type(result) is np.ndarray:
            return make(result)
        if isinstance(result, tuple):
            outputs = []
            for out in result:
                outputs.append(make(out if type(out) is np.ndarray else _as_array(out)))
            return tuple(outputs)
        return make(_as_array(result))

    @classmethod
    def _apply_recorded(cls, args):
        """apply() when grad mode is on and some Tensor argument requires grad: the call becomes a node."""
        Tensor = _tensor.Tensor
        arrays = []
        edges = []
        needs = []
        for arg in args:
            if isinstance(arg, Tensor):
                arrays.append(arg.data)
                if arg._requires_grad:
                    node = arg._grad_fn
                    edges.append((arg, None) if node is None else (node, arg._output_nr))
                    needs.append(True)
                    continue
            else:
                arrays.append(arg)
            edges.append(None)
            needs.append(False)

        ctx = FunctionCtx(cls, tuple(needs))
        result = cls.forward(ctx, *arrays)
        ctx._next = tuple(edges)
        make = _tensor.make
        if type(result) is np.ndarray and result.dtype.kind in "fc" and not ctx._non_differentiable:
            # the usual case, one float output, without the general loop below
            ctx._output_meta = ((result.shape, result.dtype),)
            return make(result, True, ctx, 0)
        single = not isinstance(result, tuple)
        outputs = [_as_array(out) for out in ((result,) if single else result)]

        ctx._output_meta = tuple((out.shape, out.dtype) for out in outputs)
        non_differentiable = ctx._non_differentiable
        tensors = []
        for index, out in enumerate(outputs):
            # integer and bool results (indices, masks) have no gradient
            if out.dtype.kind in "fc" and not any(out is marked for marked in non_differentiable):
                tensors.append(make(out, True, ctx, index))
            else:
                tensors.append(make(out))
        return tensors[0] if single else tuple(tensors)
