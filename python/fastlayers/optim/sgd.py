"""Stochastic gradient descent with optional momentum, dampening, Nesterov momentum and weight decay."""
import numpy as np

from ._functional import effective_grad
from .optimizer import Optimizer

__all__ = ["SGD"]


class SGD(Optimizer):
    """torch.optim.SGD: with momentum mu and dampening tau,
    b <- g (first step) or mu * b + (1 - tau) * g; then p <- p - lr * (g + mu * b if nesterov else b)."""

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weight_decay,
                    "nesterov": nesterov, "maximize": maximize}
        super().__init__(params, defaults)

    def _step_group(self, group):
        lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
        for p, param, grad in self._params_with_grad(group):
            grad = effective_grad(param, grad, group["weight_decay"], group["maximize"])
            if momentum != 0:  # like torch, SGD keeps state only for a momentum buffer
                state = self.state[p]
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = np.array(grad, copy=True)
                else:
                    buf *= momentum
                    buf += (1 - dampening) * grad
                grad = grad + momentum * buf if group["nesterov"] else buf
            param += -lr * grad
