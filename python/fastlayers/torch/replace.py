"""replace(model): swap the supported submodules of an existing torch model for fastlayers' in place."""
import logging

import torch
import torch.nn as nn

from . import modules as M
from ._bridge import cuda_unavailable_reason

__all__ = ["replace", "ReplaceReport", "SUPPORTED"]

_log = logging.getLogger("fastlayers.torch")

# torch.nn class -> its drop-in (the drop-in subclasses it and adds no state).
SUPPORTED = {getattr(nn, name): getattr(M, name) for name in M.__all__ if hasattr(nn, name)}
_FLOAT_DTYPES = (torch.float32, torch.float64)
_HALF_DTYPES = (torch.float16, torch.bfloat16)  # on CUDA only
# torch.nn leaf modules that only reshape or pass through: not worth a line in the report.
_NOT_LAYERS = {"Flatten", "Unflatten", "Identity"}


def _unsupported_config(module):
    """Why a module of a supported class cannot be swapped, or None."""
    if isinstance(module, (nn.ConvTranspose1d, nn.ConvTranspose2d)) and module.padding_mode != "zeros":
        return f"padding_mode={module.padding_mode!r} (torch supports only 'zeros' for transposed convolutions)"
    if isinstance(module, nn.Upsample) and module.mode not in ("nearest", "linear", "bilinear"):
        return f"mode={module.mode!r} (fastlayers has nearest, linear and bilinear)"
    for name, t in list(module.named_parameters(recurse=False)) + list(module.named_buffers(recurse=False)):
        if t is None or not t.is_floating_point():
            continue
        if t.device.type != "cpu":
            why = _device_reason(t.device)
            if why is not None:
                return f"{name} is on {t.device} ({why})"
        if t.dtype not in _FLOAT_DTYPES and not (t.dtype in _HALF_DTYPES and t.device.type == "cuda"):
            return (f"{name} has dtype {t.dtype} on {t.device.type} (fastlayers has float32 and float64, and "
                    f"float16 and bfloat16 on cuda)")
    return None


def _device_reason(device):
    """Why fastlayers cannot run on a torch device, or None."""
    if device.type == "cpu":
        return None
    if device.type == "cuda":
        return cuda_unavailable_reason()
    return "fastlayers runs on cpu and cuda only"


def _model_device(model):
    for t in list(model.parameters()) + list(model.buffers()):
        return t.device
    return None


def _matches(entries, qualname, module):
    """Whether a submodule is named by `entries`: torch.nn classes, class names, or qualified submodule names
    (a name also matches everything below it)."""
    for e in entries:
        if isinstance(e, type):
            if type(module) is e or SUPPORTED.get(e) is type(module):
                return True
        elif isinstance(e, str):
            if e == type(module).__name__ or e == qualname or qualname.startswith(e + "."):
                return True
        else:
            raise TypeError(f"replace(): include/exclude entries must be torch.nn classes, class names or "
                            f"submodule names, got {e!r}")
    return False


class ReplaceReport:
    """What replace() did: `swapped` lists (name, class name), `left` lists (name, class name, reason)."""

    def __init__(self):
        self.swapped = []
        self.left = []

    def __str__(self):
        lines = [f"fastlayers.torch.replace: {len(self.swapped)} module(s) swapped, {len(self.left)} left"]
        lines += [f"  swapped {name or '(root)'}: {cls}" for name, cls in self.swapped]
        lines += [f"  left    {name or '(root)'}: {cls} ({why})" for name, cls, why in self.left]
        return "\n".join(lines)

    __repr__ = __str__


def replace(model, include=None, exclude=None):
    """Swaps, in place, every submodule of `model` (the model itself included) whose class fastlayers.torch
    supports for its drop-in: the module object stays the same and keeps its Parameter and buffer objects (an
    optimizer built before still works), only its class changes. CUDA modules are swapped where
    fastlayers.cuda.is_available() (else left with the reason "fastlayers built without CUDA" or "no CUDA
    device"); unsupported configurations (another device, a dtype other than float32/float64, an unsupported
    mode, a user subclass of a torch.nn class, an op without a CUDA kernel in this build) are left alone.
    `include` / `exclude` restrict the swap to / keep from it submodules named by torch.nn class, class name
    (e.g. "BatchNorm2d") or qualified name (e.g. "layer1.0"). Returns the model; the report of what was swapped
    and what was left, and why, is logged (logger "fastlayers.torch", INFO) and kept as
    `model.fastlayers_report`."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"replace(): model must be a torch.nn.Module, got {type(model).__name__}")
    include = None if include is None else list(include)
    exclude = [] if exclude is None else list(exclude)
    report = ReplaceReport()
    device = _model_device(model)
    for qualname, module in model.named_modules():
        cls = type(module)
        if cls in SUPPORTED.values():
            continue  # already swapped
        drop_in = SUPPORTED.get(cls)
        if drop_in is None:
            base = next((b for b in cls.__mro__[1:] if b in SUPPORTED), None)
            if base is not None:
                report.left.append((qualname, cls.__name__, f"a subclass of torch.nn.{base.__name__} with its own "
                                    f"code; only the torch.nn class itself is swapped"))
            elif cls.__module__.startswith("torch.nn.") and not any(True for _ in module.children()) \
                    and cls.__name__ not in _NOT_LAYERS:
                report.left.append((qualname, cls.__name__, "no fastlayers counterpart"))
            continue
        if include is not None and not _matches(include, qualname, module):
            report.left.append((qualname, cls.__name__, "not in include"))
            continue
        if _matches(exclude, qualname, module):
            report.left.append((qualname, cls.__name__, "excluded"))
            continue
        why = _unsupported_config(module)
        if why is None and device is not None and device.type != "cpu":
            device_why = _device_reason(device)
            why = f"the model is on {device} ({device_why})" if device_why else None
        if why is not None:
            report.left.append((qualname, cls.__name__, why))
            continue
        module.__class__ = drop_in
        report.swapped.append((qualname, cls.__name__))
    _log.info("%s", report)
    model.fastlayers_report = report
    return model
