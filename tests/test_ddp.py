"""DistributedDataParallel (gloo, 2 processes on this machine) over fastlayers.torch layers: after 3 SGD steps
the gradients of every step and the parameters equal those of the same DDP run on plain torch layers
(float64), i.e. DDP's all-reduce sees fastlayers' gradients like torch's."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastlayers as fl

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ddp_train.py"


def _run(tmp_path, use_fastlayers):
    out = tmp_path / f"ddp_{'fl' if use_fastlayers else 'torch'}.npz"
    path = os.pathsep.join([str(Path(fl.__file__).resolve().parent.parent), os.environ.get("PYTHONPATH", "")])
    cmd = [sys.executable, str(EXAMPLE), "--world-size", "2", "--steps", "3", "--out", str(out)]
    if not use_fastlayers:
        cmd.append("--no-fastlayers")
    r = subprocess.run(cmd, env=dict(os.environ, PYTHONPATH=path), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"{' '.join(cmd)} failed:\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}"
    assert r.stdout.count("step ") == 3, r.stdout
    if use_fastlayers:  # every layer of the model runs on fastlayers' kernels
        for layer in ("Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "Tanh", "Linear"):
            assert f": {layer}" in r.stdout and "swapped" in r.stdout, r.stdout
    return dict(np.load(out))


def test_ddp_with_fastlayers_layers_matches_ddp_with_torch_layers(tmp_path):
    ours, theirs = _run(tmp_path, True), _run(tmp_path, False)
    assert sorted(ours) == sorted(theirs)
    assert any(k.startswith("grad2/") for k in ours) and any(k.startswith("param/") for k in ours)
    for key in sorted(theirs):
        err = np.abs(ours[key] - theirs[key]).max()
        scale = max(1.0, np.abs(theirs[key]).max())
        assert err <= 1e-10 * scale, f"DDP {key}: largest difference {err:.3g} (scale {scale:.3g})"
