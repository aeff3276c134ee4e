"""fastlayers.torch's one adapter over the op layer (fastlayers.ops).

`TORCH.apply(op, Definition, *args)` runs an op definition on torch tensors: it picks the kernels for the
tensors' device (`backend`: `_C` on the CPU, torch's current stream on a GPU), makes tensor arguments
contiguous (once, before anything is saved), and then
- with a graph to record (grad mode on and some tensor requires grad): runs a torch.autograd.Function made once
  per definition, whose forward hands the definition arrays (numpy views of CPU memory, the tensors
  themselves on a GPU) and whose backward gives it only the gradients torch asks for;
- otherwise calls the definition's forward straight away, skipping autograd's bookkeeping.
Tensors a definition saves go through torch's ctx: inputs and outputs as the very tensors autograd knows, so
torch's checks of in-place changes hold.
"""
import torch
import torch.nn.functional as _TF

from ..ops.activation import FROM_OUTPUT, Activation
from ..ops.adapter import Adapter
from ._bridge import arr, backend, once_differentiable, ten


class _ArrayCtx:
    """The ctx an op definition sees under torch.autograd: arrays in and out of save_for_backward."""

    def __init__(self, ctx, pairs):
        self._ctx = ctx
        self._pairs = pairs  # (array, tensor) of this call's inputs and outputs (forward only; a few)

    def _tensor(self, a):
        if a is None:
            return None
        for array, t in self._pairs:
            if array is a:
                return t
        t = ten(a)
        self._pairs.append((a, t))
        return t

    def _tensors_of(self, arrays):
        tensors = []
        for a in arrays:
            tensors.append(self._tensor(a))
        return tensors

    def save_for_backward(self, *arrays):
        self._ctx.save_for_backward(*self._tensors_of(arrays))

    @property
    def saved_tensors(self):
        arrays = []
        for t in self._ctx.saved_tensors:
            arrays.append(None if t is None else arr(t))
        return arrays

    def mark_non_differentiable(self, *arrays):
        self._ctx.mark_non_differentiable(*self._tensors_of(arrays))


class _NoGraphCtx:
    """The ctx of a forward that nothing will differentiate: saves nothing."""

    def save_for_backward(self, *arrays):
        pass

    def mark_non_differentiable(self, *arrays):
        pass

    def mark_dirty(self, *tensors):
        pass


_FUNCTIONS = {}


def function_of(definition):
    """The torch.autograd.Function running `definition` (made on first use, then cached); its first argument is
    the kernels object K."""
    fn = _FUNCTIONS.get(definition)
    if fn is not None:
        return fn
    forward, backward = definition.forward, definition.backward

    def fn_forward(ctx, K, *args):  # K: the kernels for the tensors' device, the definition's ctx.K
        pairs = []
        arrays = list(args)
        for i, a in enumerate(args):
            if isinstance(a, torch.Tensor):
                a_array = arrays[i] = arr(a)
                pairs.append((a_array, a))
        inner = ctx.inner = _ArrayCtx(ctx, pairs)
        inner.K = K
        out = forward(inner, *arrays)
        out = tuple(inner._tensors_of(out)) if isinstance(out, tuple) else inner._tensor(out)
        inner._pairs = None
        return out

    def fn_backward(ctx, *grads):
        inner = ctx.inner
        inner.needs_input_grad = ctx.needs_input_grad[1:]
        grad_arrays = []
        for g in grads:
            grad_arrays.append(None if g is None else arr(g))
        result = [None]  # K's
        for g in backward(inner, *grad_arrays):
            result.append(None if g is None else ten(g))
        return tuple(result)

    fn = type(definition.__name__, (torch.autograd.Function,), {
        "__doc__": definition.__doc__, "__module__": __name__, "forward": staticmethod(fn_forward),
        "backward": staticmethod(once_differentiable(definition.name)(fn_backward))})
    _FUNCTIONS[definition] = fn
    return fn


# Kinds whose input-based gradient gives the same result when handed the output (the sign / the clamp range is
# the same on both sides), so an in-place call need not keep a copy of its input.
_OUTPUT_AS_INPUT = {"relu", "hardtanh"}


class _ActivationInplaceFn(torch.autograd.Function):
    """The activation written over its input (inplace=True), the input marked dirty so autograd's version
    checks see the change; keeps a copy of the input only where the gradient cannot be read from the output.
    Its backward is the op definition's (fastlayers.ops.activation.Activation), through the adapter."""

    @staticmethod
    def forward(ctx, K, x, kind, params):
        from_output = kind in FROM_OUTPUT
        output_as_input = kind in _OUTPUT_AS_INPUT or (kind == "leaky_relu" and params.get("alpha", 0) > 0)
        saved_input = None if from_output or output_as_input else x.detach().clone()
        if x.is_contiguous():
            data = arr(x)
            K.activation_forward(data, kind, out=data, **params)
            torch.autograd.graph.increment_version(x)
        else:
            x.copy_(ten(K.activation_forward(arr(x), kind, **params)))
        ctx.mark_dirty(x)
        ctx.inner = _ArrayCtx(ctx, [])
        ctx.inner.K, ctx.inner.act, ctx.inner.from_output = K, (kind, params), from_output
        ctx.save_for_backward(x if saved_input is None else saved_input)
        return x

    backward = function_of(Activation).backward


def _check_tensor(value, op, arg, optional=False):
    if value is None and optional:
        return
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"fastlayers.torch.{op}(): argument '{arg}' must be a torch.Tensor, "
                        f"not {type(value).__name__}")


class _Adapter(Adapter):
    """The op layer's adapter protocol (fastlayers.ops.adapter) for torch tensors; their dtypes and devices are
    checked by `backend` in apply (one float dtype for all operands, float32 statistics allowed with a half
    input where the definition says so), so the dtype checks stay the protocol's no-ops."""

    pad = staticmethod(_TF.pad)
    check_tensor = staticmethod(_check_tensor)

    @classmethod
    def check_operands(cls, op, input, weight=None, bias=None):
        if not isinstance(input, torch.Tensor) or (weight is not None and not isinstance(weight, torch.Tensor)) or (
                bias is not None and not isinstance(bias, torch.Tensor)):
            cls.check_tensors(op, input=input, weight=weight, bias=bias)  # raises, naming the argument

    @staticmethod
    def check_tensors(op, **tensors):
        """Each keyword a torch.Tensor; those after the first may be None (optional parameters)."""
        first = True
        for name, value in tensors.items():
            if not isinstance(value, torch.Tensor) and (first or value is not None):
                _check_tensor(value, op, name, not first)
            first = False

    @staticmethod
    def activation(op, input, inplace, kind, params):
        """In place: written over the input, which is marked dirty (see _ActivationInplaceFn)."""
        _check_tensor(input, op, "input")
        if not inplace:
            return TORCH.apply(op, Activation, input, kind, params)
        K = backend(op, input)
        if torch.is_grad_enabled() and input.requires_grad:
            return _ActivationInplaceFn.apply(K, input, kind, params)
        return _ActivationInplaceFn.forward(_NoGraphCtx(), K, input, kind, params)

    @staticmethod
    def check_indices(op, indices):
        _check_tensor(indices, op, "indices")
        if indices.dtype != torch.int64:
            raise TypeError(f"{op}(): indices must have dtype torch.int64, got {indices.dtype}")

    @staticmethod
    def apply(op, definition, *args):
        try:
            index_args, array_glue, mixed_precision = _TRAITS[definition]
        except KeyError:
            index_args, array_glue, mixed_precision = _traits(definition)
        arrays = list(args)
        operands = []
        positions = []
        record = False
        for i, a in enumerate(args):
            if isinstance(a, torch.Tensor):
                if i not in index_args:
                    operands.append(a)
                a = arrays[i] = a.contiguous()
                positions.append(i)
                record = record or a.requires_grad
        glue_only = array_glue and operands[0].device.type not in ("cpu", "cuda")
        K = backend(op, *operands, cpu_only=glue_only, float32_params=mixed_precision)
        if record and torch.is_grad_enabled():
            fn = _FUNCTIONS.get(definition) or function_of(definition)
            return fn.apply(K, *arrays)
        for i in positions:
            arrays[i] = arr(arrays[i])
        ctx = _NoGraphCtx()
        ctx.K = K
        out = definition.forward(ctx, *arrays)
        return tuple([ten(o) for o in out]) if isinstance(out, tuple) else ten(out)


_TRAITS = {}


def _traits(definition):
    """What a definition says about its operands, read once: the positions of int64 index arguments (not
    dtype-checked), whether it is array code around the kernels (CPU and CUDA only), whether float32
    parameters may go with a half input."""
    traits = _TRAITS[definition] = (getattr(definition, "index_arguments", ()),
                                    getattr(definition, "array_glue", False),
                                    getattr(definition, "mixed_precision", False))
    return traits


TORCH = _Adapter()
