"""The reverse-mode graph walk.

A node runs its backward once every node that feeds gradient into it has run (reverse topological order
over the part of the graph reachable from the roots), so each node sees the sum of its outputs' gradients.
Leaves' gradients are summed over all their uses and accumulated into `.grad` at the end.
"""
import numbers
import sys

from .. import _device
from . import _tensor_type as _tensor
from .function import FunctionCtx, _as_array

__all__ = ["backward", "grad"]


def backward(tensors, grad_tensors=None, retain_graph=None):
    """Accumulate into the leaves' `.grad` the gradient of `tensors` weighted by `grad_tensors`
    (None for a tensor with one element)."""
    roots, root_grads = _roots_and_gradients(tensors, grad_tensors)
    _execute(roots, root_grads, bool(retain_graph), capture=None)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, allow_unused=False):
    """The gradients of `outputs` with respect to each of `inputs`, as a tuple of Tensors;
    `.grad` attributes are left untouched."""
    roots, root_grads = _roots_and_gradients(outputs, grad_outputs)
    inputs = _as_tuple(inputs)
    for index, tensor in enumerate(inputs):
        if not isinstance(tensor, _tensor.Tensor) or not tensor.requires_grad:
            raise RuntimeError(f"grad(): input {index} is not a Tensor that requires grad")
    captured = _execute(roots, root_grads, bool(retain_graph), capture=inputs)
    for index, gradient in enumerate(captured):
        if gradient is None and not allow_unused:
            raise RuntimeError(f"grad(): input {index} appears to not have been used in the graph. "
                               "Set allow_unused=True if this is the desired behavior.")
    return tuple(None if gradient is None else _tensor.make(gradient) for gradient in captured)


def _as_tuple(values):
    return tuple(values) if isinstance(values, (tuple, list)) else (values,)


def _roots_and_gradients(tensors, gradients):
    tensors = _as_tuple(tensors)
    gradients = (None,) * len(tensors) if gradients is None else _as_tuple(gradients)
    if len(gradients) != len(tensors):
        raise RuntimeError(f"got {len(tensors)} tensors and {len(gradients)} gradients")
    root_grads = []
    for index, (tensor, gradient) in enumerate(zip(tensors, gradients)):
        if not isinstance(tensor, _tensor.Tensor):
            raise TypeError(f"element {index} of tensors is a {type(tensor).__name__}, not a Tensor")
        if not tensor.requires_grad:
            raise RuntimeError(f"element {index} of tensors does not require grad and does not have a grad_fn")
        root_grads.append(_root_gradient(tensor, gradient, index))
    return tensors, root_grads


def _root_gradient(tensor, gradient, index):
    xp = _device.array_module(tensor.data)
    if gradient is None:
        if tensor.data.size != 1:
            raise RuntimeError("grad can be implicitly created only for scalar outputs")
        return xp.ones(tensor.shape, tensor.dtype)
    if isinstance(gradient, numbers.Number):
        return xp.full(tensor.shape, gradient, dtype=tensor.dtype)
    if isinstance(gradient, _tensor.Tensor):
        gradient = gradient.data
    gradient = xp.asarray(gradient)
    if gradient.shape != tensor.shape:
        raise RuntimeError(f"Mismatch in shape: grad_output[{index}] has a shape of {gradient.shape} "
                           f"and output[{index}] has a shape of {tensor.shape}.")
    return gradient.astype(tensor.dtype, copy=False)


def _execute(roots, root_grads, retain_graph, capture):
    """Walk the graph from `roots`. With `capture` None, accumulate into leaves' `.grad`; otherwise
    return, for each Tensor in `capture`, the total gradient that reached it (None if none did)."""
    node_grads = {}   # node -> per-output summed gradient (None where none arrived yet)
    leaf_grads = {}   # id(leaf) -> [leaf, summed gradient, whether the sum is a fresh array]
    for tensor, gradient in zip(roots, root_grads):
        if tensor._grad_fn is None:
            _add_leaf_grad(leaf_grads, tensor, gradient)
        else:
            _add_node_grad(node_grads, tensor._grad_fn, tensor._output_nr, gradient)

    captured = None
    captured_at_node = {}
    if capture is not None:
        captured = [None] * len(capture)
        for slot, tensor in enumerate(capture):
            if tensor._grad_fn is not None:
                captured_at_node.setdefault(tensor._grad_fn, []).append((tensor._output_nr, slot))

    root_nodes = list(node_grads)
    pending = _count_dependencies(root_nodes)
    ready = [node for node in root_nodes if node not in pending]
    while ready:
        node = ready.pop()
        output_grads = node_grads.pop(node, None)
        input_grads = None
        if output_grads is not None:
            if node._retained:
                _retain_grads(node, output_grads)
            for output_nr, slot in captured_at_node.get(node, ()):
                captured[slot] = output_grads[output_nr]
            input_grads = _call_backward(node, output_grads)
        for index, edge in enumerate(node._next):
            if edge is None:
                continue
            target, output_nr = edge
            gradient = None if input_grads is None else input_grads[index]
            if type(target) is FunctionCtx:
                if gradient is not None:
                    gradient = _checked(gradient, target._output_meta[output_nr], node, index)
                    _add_node_grad(node_grads, target, output_nr, gradient)
                pending[target] -= 1
                if pending[target] == 0:
                    ready.append(target)
            elif gradient is not None:  # the target is a leaf Tensor
                gradient = _checked(gradient, (target.shape, target.dtype), node, index)
                _add_leaf_grad(leaf_grads, target, gradient)
        if not retain_graph:
            node._saved = None

    if capture is None:
        # Drop the walk's own references so that a gradient array nobody else holds can be stored as is.
        output_grads = input_grads = gradient = None
        while leaf_grads:
            leaf, gradient, fresh = leaf_grads.popitem()[1]
            fresh = fresh or _unshared(gradient)
            _accumulate(leaf, gradient, fresh)
        return None
    for slot, tensor in enumerate(capture):
        if tensor._grad_fn is None and id(tensor) in leaf_grads:
            captured[slot] = leaf_grads[id(tensor)][1]
    return captured


def _count_dependencies(roots):
    """For each node reachable from `roots`, the number of edges into it from reachable nodes."""
    pending = {}
    seen = set(roots)
    stack = list(roots)
    while stack:
        for edge in stack.pop()._next:
            if edge is not None and type(edge[0]) is FunctionCtx:
                target = edge[0]
                pending[target] = pending.get(target, 0) + 1
                if target not in seen:
                    seen.add(target)
                    stack.append(target)
    return pending


def _add_node_grad(node_grads, node, output_nr, gradient):
    grads = node_grads.get(node)
    if grads is None:
        grads = node_grads[node] = [None] * len(node._output_meta)
    previous = grads[output_nr]
    # out of place: the previous array may also have been handed to another node or leaf
    grads[output_nr] = gradient if previous is None else previous + gradient


def _add_leaf_grad(leaf_grads, leaf, gradient):
    entry = leaf_grads.get(id(leaf))
    if entry is None:
        leaf_grads[id(leaf)] = [leaf, gradient, False]
    else:
        entry[1] = entry[1] + gradient
        entry[2] = True


# References to an unshared leaf gradient while _unshared looks at it: _execute's local, _unshared's argument
# and getrefcount's own. Any more (the caller's array, a context's saved array, another leaf's gradient, a
# view's base reference) and it must be copied before `.grad` owns it.
_UNSHARED_REFS = 3


def _unshared(gradient):
    """Whether `.grad` may own this array without a copy, as torch steals a gradient nobody else uses: it
    owns its memory (not a view) and only the walk refers to it."""
    return getattr(gradient, "base", True) is None and sys.getrefcount(gradient) <= _UNSHARED_REFS


def _accumulate(tensor, gradient, fresh):
    if tensor._grad is None:
        # an array that is not fresh may be the caller's gradient or be shared with another leaf
        tensor._grad = _tensor.make(gradient if fresh else gradient.copy())
    else:
        tensor._grad.data += gradient


def _retain_grads(node, output_grads):
    for output_nr, reference in node._retained.items():
        tensor = reference()
        gradient = output_grads[output_nr]
        if tensor is not None and gradient is not None:
            _accumulate(tensor, gradient, fresh=False)


def _call_backward(node, output_grads):
    if node._materialize_grads and any(gradient is None for gradient in output_grads):
        xp = _device.array_module(next(gradient for gradient in output_grads if gradient is not None))
        output_grads = [xp.zeros(shape, dtype) if gradient is None else gradient
                        for gradient, (shape, dtype) in zip(output_grads, node._output_meta)]
    result = node._function.backward(node, *output_grads)
    if not isinstance(result, (tuple, list)):
        result = (result,)
    expected = len(node._next)
    if len(result) < expected or any(extra is not None for extra in result[expected:]):
        raise RuntimeError(f"function {node.name()} returned an incorrect number of gradients "
                           f"(expected {expected}, got {len(result)})")
    return result


def _checked(gradient, meta, node, index):
    """The gradient `node` returned for its input `index`, checked against that input's shape and cast
    to its dtype (an op may compute in a wider type than a mixed-precision input)."""
    shape, dtype = meta
    gradient = _as_array(gradient)
    if gradient.shape != shape:
        raise RuntimeError(f"Function {node.name()} returned an invalid gradient at index {index} - "
                           f"got shape {gradient.shape} but expected shape {shape}")
    if gradient.dtype != dtype:
        gradient = gradient.astype(dtype)
    return gradient
