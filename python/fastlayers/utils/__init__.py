"""General utilities, mirroring torch.utils."""
from . import collect_env, data

__all__ = ["collect_env", "data"]
