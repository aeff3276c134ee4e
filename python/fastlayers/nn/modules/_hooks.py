"""Module hooks: removable handles, and the machinery behind full backward hooks.

A full backward hook needs the gradients with respect to a module call's inputs and outputs, which the
autograd graph does not keep per module. As torch does, the call's inputs (those requiring grad) and its
outputs are passed through identity Functions: the output identity's backward sees grad_output (and runs
the backward pre hooks, which may replace it), the input identity's backward sees grad_input and runs the
backward hooks, which may replace it (Tensor arguments that do not require grad appear there as zeros, as
in torch, and non-Tensor arguments as None). If no input requires grad, the hooks run at the output identity with
grad_input all None.
An output that took no part in the loss reaches the hooks as None, as in torch.
"""
import itertools
from collections import OrderedDict

from ...autograd import Function
from ...autograd import grad_mode as _grad_mode
from ..._device import array_module
from ...tensor import Tensor, _make

_handle_ids = itertools.count()


class RemovableHandle:
    """Returned by the register_*_hook methods: `remove()` unregisters the hook (also on leaving a `with`)."""

    def __init__(self, hooks):
        self.id = next(_handle_ids)
        self._hooks = hooks

    def remove(self):
        self._hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.remove()


def add_hook(hooks: OrderedDict, entry, prepend):
    handle = RemovableHandle(hooks)
    hooks[handle.id] = entry
    if prepend:
        hooks.move_to_end(handle.id, last=False)
    return handle


class _HookIdentity(Function):
    """Identity on its Tensor arguments whose backward hands the gradients to `on_backward` and passes on
    what it returns."""

    @staticmethod
    def forward(ctx, on_backward, *arrays):
        ctx.set_materialize_grads(False)  # hooks see None for an output without gradient, as torch's
        ctx.on_backward = on_backward
        return tuple(a.view() for a in arrays)

    @staticmethod
    def backward(ctx, *grads):
        return (None,) + tuple(ctx.on_backward(grads))


def _as_grad_array(value, what):
    if value is None or not isinstance(value, Tensor):
        if value is not None and not hasattr(value, "shape"):
            raise TypeError(f"{what} must be Tensors or None, got {type(value).__name__}")
        return value
    return value.data


def _run_replacing(hooks, call, grads, kind, name):
    """Runs call(hook, grads) for each hook in order; a result that is not None replaces grads (same length)."""
    for hook in hooks.values():
        result = call(hook, grads)
        if result is None:
            continue
        result = (result,) if isinstance(result, Tensor) else tuple(result)
        if len(result) != len(grads):
            raise RuntimeError(f"{kind} returned an invalid number of {name}, got {len(result)}, but expected "
                               f"{len(grads)}")
        grads = result
    return grads


class BackwardHook:
    """The full backward hooks (and backward pre hooks) of one call of `module`."""

    def __init__(self, module, hooks, pre_hooks):
        self.module = module
        self.hooks = hooks
        self.pre_hooks = pre_hooks
        self.n_inputs = 0
        self.input_positions = None  # positions of the wrapped inputs; None when no input requires grad
        self.zero_inputs = ()
        self.n_outputs = 0
        self.output_positions = ()
        self.grad_outputs = None

    def setup_inputs(self, args):
        self.n_inputs = len(args)
        if not _grad_mode._state.enabled:
            return args
        positions = [i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
        if not positions:
            return args
        self.input_positions = positions
        # Tensor arguments that do not require grad get zeros in grad_input, as in torch
        self.zero_inputs = [(i, a) for i, a in enumerate(args)
                            if isinstance(a, Tensor) and not a.requires_grad and a.dtype.kind in "fc"]
        wrapped = _HookIdentity.apply(self._on_input_grads, *[args[i] for i in positions])
        args = list(args)
        for i, t in zip(positions, wrapped):
            args[i] = t
        return tuple(args)

    def setup_outputs(self, result):
        single = isinstance(result, Tensor)
        if not single and not isinstance(result, (tuple, list)):
            return result
        outs = [result] if single else list(result)
        positions = [i for i, o in enumerate(outs) if isinstance(o, Tensor) and o.requires_grad]
        if not positions or not _grad_mode._state.enabled:
            return result
        self.n_outputs = len(outs)
        self.output_positions = positions
        wrapped = _HookIdentity.apply(self._on_output_grads, *[outs[i] for i in positions])
        for i, t in zip(positions, wrapped):
            outs[i] = t
        return outs[0] if single else type(result)(outs)

    def _on_output_grads(self, grads):
        grad_outputs = [None] * self.n_outputs
        for i, g in zip(self.output_positions, grads):
            grad_outputs[i] = None if g is None else _make(g)
        grad_outputs = _run_replacing(self.pre_hooks, lambda hook, g: hook(self.module, g), tuple(grad_outputs),
                                      "Backward pre hook", "grad_output")
        self.grad_outputs = grad_outputs
        if self.input_positions is None:
            grad_inputs = (None,) * self.n_inputs
            for hook in self.hooks.values():
                result = hook(self.module, grad_inputs, grad_outputs)
                if result is not None and not (isinstance(result, tuple) and all(r is None for r in result)):
                    raise RuntimeError("Backward hook for Modules where no input requires gradient should always "
                                       "return None or None for all gradients.")
            self.grad_outputs = None
        return [_as_grad_array(grad_outputs[i], "backward pre hook results") for i in self.output_positions]

    def _on_input_grads(self, grads):
        if self.grad_outputs is None:  # the outputs got no gradient through this call: nothing to report
            return grads
        grad_inputs = [None] * self.n_inputs
        for i, g in zip(self.input_positions, grads):
            grad_inputs[i] = None if g is None else _make(g)
        for i, a in self.zero_inputs:
            grad_inputs[i] = _make(array_module(a.data).zeros_like(a.data))
        grad_inputs = _run_replacing(self.hooks, lambda hook, g: hook(self.module, g, self.grad_outputs),
                                     tuple(grad_inputs), "Backward hook", "grad_input")
        self.grad_outputs = None
        return [_as_grad_array(grad_inputs[i], "backward hook results") for i in self.input_positions]
