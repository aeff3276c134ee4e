"""The Optimizer base class: parameter groups, per-parameter state, zero_grad, and torch's state_dict format."""
import collections
import copy
import numbers
import warnings

import numpy as np

from ..autograd import enable_grad, no_grad
from ..tensor import Tensor

__all__ = ["Optimizer", "required"]


class _RequiredParameter:
    """Marks an option a parameter group must give when the optimizer has no default for it."""

    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()


def _copy_value(value):
    """A state value detached from the optimizer: arrays copied, Tensors as their arrays' copies."""
    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, np.ndarray):
        return value.copy()
    return copy.deepcopy(value)


class Optimizer:
    """Base of all optimizers, mirroring torch.optim.Optimizer.

    `params` is an iterable of Tensors (one group) or of dicts, each with a "params" entry and any options
    that override `defaults` for that group. `state` maps each parameter to a dict of its buffers (numpy
    arrays) and counters (Python numbers). Subclasses implement `_step_group(group)`.
    """

    def __init__(self, params, defaults):
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            f"but got {type(params).__name__}")
        self.defaults = defaults
        self.state = collections.defaultdict(dict)
        self.param_groups = []
        param_groups = list(params)
        if not param_groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    def __repr__(self):
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {key}: {group[key]}" for key in sorted(group) if key != "params")
        lines.append(")")
        return "\n".join(lines)

    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state):
        self.__dict__.update(state)

    # ------------------------------------------------------------------------------------------------
    # Groups

    def add_param_group(self, param_group):
        """Add a group of parameters with its own options (missing options take the optimizer's defaults)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering "
                            "of tensors in sets will change between runs. Please use a list instead.")
        else:
            params = list(params)
        for param in params:
            if not isinstance(param, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is "
                                f"{type(param).__name__}")
            if not (param.is_leaf or param.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")
        param_group = dict(param_group)
        param_group["params"] = params
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            param_group.setdefault(name, default)
        ids = [id(p) for p in params]
        if len(ids) != len(set(ids)):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in future, this will "
                          "cause an error", stacklevel=3)
        existing = {id(p) for group in self.param_groups for p in group["params"]}
        if not existing.isdisjoint(ids):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # ------------------------------------------------------------------------------------------------
    # Gradients and steps

    def zero_grad(self, set_to_none=True):
        """Reset the gradients of every parameter: to None (the default) or to zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    grad = p.grad
                    if grad.data.flags.writeable:
                        grad.data[...] = 0
                    else:  # a read-only view (e.g. a broadcast) cannot be zeroed in place
                        grad.data = np.zeros_like(grad.data)

    def step(self, closure=None):
        """Update the parameters once; `closure` (re-evaluating the model and returning the loss) is
        called first with grad enabled and its loss returned."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                self._step_group(group)
        return loss

    def _step_group(self, group):
        raise NotImplementedError

    def _params_with_grad(self, group):
        """(parameter, its array, its grad's array) for each parameter of `group` that has a gradient."""
        for p in group["params"]:
            if p.grad is None:
                continue
            grad = p.grad.data
            yield p, p.data, grad

    # ------------------------------------------------------------------------------------------------
    # Saving and loading

    def state_dict(self):
        """{"state": {index: {name: value}}, "param_groups": [{options..., "params": [indices]}]}, with
        parameters numbered across groups in order, as torch does. Arrays are copies."""
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {key: copy.deepcopy(value) for key, value in group.items() if key != "params"}
            for p in group["params"]:
                if id(p) not in index:
                    index[id(p)] = len(index)
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: {key: _copy_value(value) for key, value in values.items()}
                 for p, values in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore options and state saved by `state_dict` onto this optimizer's own parameters."""
        groups = self.param_groups
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                             "optimizer's group")
        id_map = {}
        for group, saved in zip(groups, saved_groups):
            for index, p in zip(saved["params"], group["params"]):
                id_map[index] = p
        self.state = collections.defaultdict(dict)
        for index, values in state_dict["state"].items():
            p = id_map.get(index)
            if p is None:
                continue
            self.state[p] = {key: self._cast_state(p, key, value) for key, value in values.items()}
        new_groups = []
        for group, saved in zip(groups, saved_groups):
            saved["params"] = group["params"]
            new_groups.append(saved)
        self.param_groups = new_groups

    @staticmethod
    def _cast_state(param, key, value):
        """A loaded state value: buffers copied into the parameter's floating dtype ("step" kept as is)."""
        if isinstance(value, Tensor):
            value = value.data
        if isinstance(value, np.ndarray):
            if key != "step" and param.dtype.kind == "f":
                return value.astype(param.dtype, copy=True)
            return value.copy()
        if isinstance(value, numbers.Number):
            return value
        return copy.deepcopy(value)
