"""Reverse-mode automatic differentiation: Function, the graph walk, grad mode and gradcheck."""
from .function import Function, FunctionCtx
from .engine import backward, grad
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import GradcheckError, gradcheck

__all__ = ["Function", "FunctionCtx", "backward", "grad", "no_grad", "enable_grad", "is_grad_enabled",
           "set_grad_enabled", "gradcheck", "GradcheckError"]
