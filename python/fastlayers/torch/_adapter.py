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

from ._bridge import arr, backend, once_differentiable, ten


class _ArrayCtx:
    """The ctx an op definition sees under torch.autograd: arrays in and out of save_for_backward."""

    def __init__(self, ctx, tensors):
        self._ctx = ctx
        self._tensors = tensors  # id(array) -> tensor, for this call's inputs and outputs (forward only)

    def _tensor(self, a):
        if a is None:
            return None
        t = self._tensors.get(id(a))
        if t is None:
            t = self._tensors[id(a)] = ten(a)
        return t

    def save_for_backward(self, *arrays):
        self._ctx.save_for_backward(*[self._tensor(a) for a in arrays])

    @property
    def saved_tensors(self):
        return tuple(None if t is None else arr(t) for t in self._ctx.saved_tensors)

    def mark_non_differentiable(self, *arrays):
        self._ctx.mark_non_differentiable(*[self._tensor(a) for a in arrays])


class _NoGraphCtx:
    """The ctx of a forward that nothing will differentiate: saves nothing."""

    def save_for_backward(self, *arrays):
        pass

    def mark_non_differentiable(self, *arrays):
        pass


_FUNCTIONS = {}


def function_of(definition):
    """The torch.autograd.Function running `definition` (made on first use, then cached); its first argument is
    the kernels object K."""
    fn = _FUNCTIONS.get(definition)
    if fn is not None:
        return fn
    forward, backward = definition.forward, definition.backward

    def fn_forward(ctx, K, *args):
        tensors = {}
        arrays = []
        for a in args:
            if isinstance(a, torch.Tensor):
                a_array = arr(a)
                tensors[id(a_array)] = a
                arrays.append(a_array)
            else:
                arrays.append(a)
        inner = ctx.inner = _ArrayCtx(ctx, tensors)
        ctx.K = K
        out = forward(inner, K, *arrays)
        out = tuple(inner._tensor(o) for o in out) if isinstance(out, tuple) else inner._tensor(out)
        inner._tensors = None
        return out

    def fn_backward(ctx, *grads):
        inner = ctx.inner
        inner.needs_input_grad = ctx.needs_input_grad[1:]
        result = backward(inner, ctx.K, *[None if g is None else arr(g) for g in grads])
        return (None,) + tuple(None if g is None else ten(g) for g in result)

    fn = type(definition.__name__, (torch.autograd.Function,), {
        "__doc__": definition.__doc__, "__module__": __name__, "forward": staticmethod(fn_forward),
        "backward": staticmethod(once_differentiable(definition.name)(fn_backward))})
    _FUNCTIONS[definition] = fn
    return fn


class _Adapter:
    """What the op layer's front functions call: apply, and pad (torch's own)."""

    pad = staticmethod(_TF.pad)

    @staticmethod
    def apply(op, definition, *args):
        index_args = getattr(definition, "index_arguments", ())
        operands = [a for i, a in enumerate(args) if isinstance(a, torch.Tensor) and i not in index_args]
        glue_only = getattr(definition, "array_glue", False) and operands[0].device.type not in ("cpu", "cuda")
        K = backend(op, *operands, cpu_only=glue_only,
                    float32_params=getattr(definition, "mixed_precision", False))
        args = [a.contiguous() if isinstance(a, torch.Tensor) else a for a in args]
        if torch.is_grad_enabled():
            for a in args:
                if isinstance(a, torch.Tensor) and a.requires_grad:
                    return function_of(definition).apply(K, *args)
        out = definition.forward(_NoGraphCtx(), K, *[arr(a) if isinstance(a, torch.Tensor) else a for a in args])
        return tuple([ten(o) for o in out]) if isinstance(out, tuple) else ten(out)


TORCH = _Adapter()
