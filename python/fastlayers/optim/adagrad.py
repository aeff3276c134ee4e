"""Adagrad."""
import numpy as np

from ._functional import effective_grad
from .optimizer import Optimizer

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """torch.optim.Adagrad: s <- s + g^2; p <- p - lr / (1 + (t - 1) * lr_decay) * g / (sqrt(s) + eps),
    with s starting at initial_accumulator_value."""

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10, *,
                 maximize=False):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(f"Invalid initial_accumulator_value value: {initial_accumulator_value}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        defaults = {"lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
                    "initial_accumulator_value": initial_accumulator_value, "maximize": maximize}
        super().__init__(params, defaults)
        for group in self.param_groups:  # torch creates the accumulators up front
            for p in group["params"]:
                self.state[p] = {"step": 0.0,
                                 "sum": np.full_like(p.data, group["initial_accumulator_value"])}

    def _step_group(self, group):
        lr, lr_decay, eps = group["lr"], group["lr_decay"], group["eps"]
        for p, param, grad in self._params_with_grad(group):
            state = self.state[p]
            if not state:  # a parameter added later with add_param_group
                state["step"] = 0.0
                state["sum"] = np.full_like(param, group["initial_accumulator_value"])
            state["step"] += 1
            step = state["step"]
            grad = effective_grad(param, grad, group["weight_decay"], group["maximize"])
            clr = lr / (1 + (step - 1) * lr_decay)
            state_sum = state["sum"]
            state_sum += grad * grad
            std = np.sqrt(state_sum)
            std += eps
            param += -clr * grad / std
