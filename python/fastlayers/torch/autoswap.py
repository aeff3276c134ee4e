"""Swapping torch.nn layers for fastlayers' drop-ins as a script builds them, with no edit to the script
(`python -m fastlayers.torch SCRIPT.py [ARGS]`).

While installed, every module of a supported torch.nn class (the class itself, not a user subclass) becomes its
drop-in when its constructor returns, under the rules of `replace()`; a later `.to()`, `.cuda()`, `.half()` or
`.double()` that moves a swapped module where fastlayers cannot run it (a device or dtype it lacks) turns it back
into the torch class, with the reason. `report` lists both, as `replace()`'s does."""
import functools

import torch
import torch.nn as nn

from .replace import SUPPORTED, ReplaceReport, _device_reason, _unsupported_config

__all__ = ["AutoSwap"]


class AutoSwap:
    """Patches the supported torch.nn constructors and `nn.Module._apply` until `uninstall()`."""

    def __init__(self):
        self.report = ReplaceReport()
        self._saved = {}
        self._torch_class = {drop_in: cls for cls, drop_in in SUPPORTED.items()}

    def _why_not(self, module, like=None):
        """Why `module` cannot run on fastlayers; a module without tensors of its own is judged by `like` (a
        tensor of the model it was moved with), as replace() judges by the model's device."""
        why = _unsupported_config(module)
        own = list(module.parameters(recurse=False)) + list(module.buffers(recurse=False))
        for t in own or ([like] if like is not None else []):
            if why is not None:
                break
            device_why = _device_reason(t.device)
            if device_why is not None:
                why = f"on {t.device} ({device_why})"
            elif t.is_floating_point() and t.dtype in (torch.float16, torch.bfloat16) and t.device.type == "cpu":
                why = f"the model has dtype {t.dtype} on cpu (fastlayers has float16 and bfloat16 on cuda only)"
        return why

    def _swap_new(self, module, cls):
        why = self._why_not(module)
        if why is None:
            module.__class__ = SUPPORTED[cls]
            self.report.swapped.append((f"#{len(self.report.swapped) + len(self.report.left)}", cls.__name__))
        else:
            self.report.left.append((f"#{len(self.report.swapped) + len(self.report.left)}", cls.__name__, why))

    def _recheck(self, root):
        like = next((t for t in list(root.parameters()) + list(root.buffers()) if t.is_floating_point()), None)
        for module in root.modules():
            torch_cls = self._torch_class.get(type(module))
            if torch_cls is None:
                continue
            why = self._why_not(module, like)
            if why is not None:
                module.__class__ = torch_cls
                self.report.left.append((f"(moved) {torch_cls.__name__}", torch_cls.__name__, why))

    def install(self):
        for cls in SUPPORTED:
            original = cls.__init__

            @functools.wraps(original)
            def init(module, *args, __original=original, __cls=cls, **kwargs):
                __original(module, *args, **kwargs)
                if type(module) is __cls:  # a user subclass keeps its own code, as with replace()
                    self._swap_new(module, __cls)

            self._saved[cls] = original
            cls.__init__ = init
        apply = nn.Module._apply
        self._saved[nn.Module] = apply

        @functools.wraps(apply)
        def _apply(module, *args, **kwargs):
            result = apply(module, *args, **kwargs)
            self._recheck(module)
            return result

        nn.Module._apply = _apply
        return self

    def uninstall(self):
        for cls, original in self._saved.items():
            if cls is nn.Module:
                cls._apply = original
            else:
                cls.__init__ = original
        self._saved.clear()

    def __enter__(self):
        return self.install()

    def __exit__(self, *exc):
        self.uninstall()
