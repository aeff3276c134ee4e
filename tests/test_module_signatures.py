"""Constructors take torch.nn's arguments in torch's order, so positional and keyword calls written for torch
(including device=... and dtype=...) build the same layer here."""
import inspect

import numpy as np
import pytest
import torch

import fastlayers as fl
from fastlayers import nn

# Our own layers (Maxout, BatchInstanceNorm2d, ...) have no torch counterpart; the rest must match.
MIRRORED = sorted(name for name in nn.__all__
                  if isinstance(getattr(nn, name), type) and issubclass(getattr(nn, name), nn.Module)
                  and hasattr(torch.nn, name) and name not in ("Module",))


@pytest.mark.parametrize("name", MIRRORED)
def test_constructor_arguments_are_torchs_in_torchs_order(name):
    ours = [p for p in inspect.signature(getattr(nn, name).__init__).parameters.values()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    theirs = [p for p in inspect.signature(getattr(torch.nn, name).__init__).parameters.values()
              if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    ours_pos = [p.name for p in ours if p.kind != p.KEYWORD_ONLY]
    theirs_pos = [p.name for p in theirs if p.kind != p.KEYWORD_ONLY]
    missing = sorted({p.name for p in theirs} - {p.name for p in ours})
    assert not missing, f"nn.{name}: arguments torch has and we lack: {missing}"
    assert ours_pos == theirs_pos[:len(ours_pos)], \
        f"nn.{name}: positional arguments {ours_pos} differ from torch's {theirs_pos}"
    for p in ours:
        q = next(q for q in theirs if q.name == p.name) if p.name in {q.name for q in theirs} else None
        if q is not None and q.default is not inspect.Parameter.empty and p.name not in ("dtype", "device"):
            assert p.default == q.default, f"nn.{name}: default of {p.name} is {p.default!r}, torch's {q.default!r}"


@pytest.mark.parametrize("make", [
    lambda **kw: nn.Conv2d(3, 4, 3, **kw), lambda **kw: nn.ConvTranspose2d(3, 4, 3, **kw),
    lambda **kw: nn.Linear(5, 2, **kw), lambda **kw: nn.BatchNorm2d(3, **kw), lambda **kw: nn.LayerNorm(4, **kw),
    lambda **kw: nn.GroupNorm(2, 4, **kw), lambda **kw: nn.InstanceNorm2d(3, affine=True, **kw),
    lambda **kw: nn.PReLU(**kw), lambda **kw: nn.BatchInstanceNorm2d(3, **kw)],
    ids=["Conv2d", "ConvTranspose2d", "Linear", "BatchNorm2d", "LayerNorm", "GroupNorm", "InstanceNorm2d",
         "PReLU", "BatchInstanceNorm2d"])
def test_device_cpu_and_dtype_keywords_build_the_layer_there(make):
    m = make(device="cpu", dtype=np.float64)
    tensors = list(m.parameters()) + [b for b in m.buffers() if b.dtype.kind == "f"]
    assert tensors
    assert all(t.dtype == np.float64 and isinstance(t.data, np.ndarray) for t in tensors)


def test_device_cuda_without_a_gpu_raises_a_clear_error():
    if fl.cuda.is_available():
        pytest.skip("a CUDA device is present: the layer is built there (covered by tests/test_cuda.py)")
    with pytest.raises(RuntimeError, match="cuda|CUDA"):
        nn.Linear(3, 2, device="cuda")
