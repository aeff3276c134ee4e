"""General utilities, mirroring torch.utils."""
from . import collect_env, data
from .image import make_grid, save_image

__all__ = ["collect_env", "data", "make_grid", "save_image"]
