"""`python -m fastlayers.torch SCRIPT.py`: an unmodified PyTorch script runs with its layers swapped as it builds
them, with the same numbers as the same script with `replace(model)` added, and the swap report at exit."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn

import fastlayers as fl
import fastlayers.torch as flt
from fastlayers.torch.autoswap import AutoSwap

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PYTHONPATH = os.pathsep.join([str(Path(fl.__file__).resolve().parent.parent), os.environ.get("PYTHONPATH", "")])


def _run(args):
    r = subprocess.run([sys.executable] + args, env=dict(os.environ, PYTHONPATH=PYTHONPATH), capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, f"{args} failed:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    return r


def _losses(text):
    return re.findall(r"Loss: ([0-9.]+)|Average loss: ([0-9.]+)", text)


def test_unmodified_script_runs_swapped_with_the_numbers_of_the_replace_line(tmp_path):
    source = (EXAMPLES / "torch_dropin.py").read_text()
    line = "        print(fastlayers.torch.replace(model).fastlayers_report)  # fastlayers: the one added line\n"
    assert line in source
    plain = tmp_path / "plain_script.py"
    plain.write_text(source.replace(line, "        pass\n"))
    args = ["--fake-data", "--batches", "2", "--log-interval", "1"]
    auto = _run(["-m", "fastlayers.torch", str(plain)] + args)
    explicit = _run([str(EXAMPLES / "torch_dropin.py")] + args)
    assert _losses(auto.stdout) and _losses(auto.stdout) == _losses(explicit.stdout), (auto.stdout, explicit.stdout)
    report = auto.stderr
    assert "9 module(s) swapped, 0 left" in report, report
    for layer in ("Conv2d", "ReLU", "MaxPool2d", "Dropout", "Linear", "LogSoftmax"):
        assert f": {layer}" in report, report


def test_autoswap_swaps_torch_classes_not_user_subclasses_and_uninstalls():
    class MyConv(nn.Conv2d):
        pass

    with AutoSwap() as swap:
        conv, mine, relu = nn.Conv2d(2, 3, 3), MyConv(2, 3, 3), nn.ReLU()
    assert type(conv) is flt.Conv2d and type(relu) is flt.ReLU and type(mine) is MyConv
    assert [cls for _, cls in swap.report.swapped] == ["Conv2d", "ReLU"]
    assert type(nn.Conv2d(2, 3, 3)) is nn.Conv2d, "the constructors must be restored"


def test_autoswap_turns_a_module_moved_where_fastlayers_cannot_run_back_into_torch():
    with AutoSwap() as swap:
        model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU())
        assert type(model[0]) is flt.Conv2d
        model.half()  # float16 on the CPU: fastlayers has no CPU half kernels
    assert type(model[0]) is nn.Conv2d and type(model[1]) is nn.ReLU
    assert sum("float16" in why for _, _, why in swap.report.left) == 2, swap.report
    x = torch.randn(1, 2, 5, 5).half()
    assert model(x).dtype == torch.float16


def test_python_m_fastlayers_torch_without_a_script_prints_usage():
    r = subprocess.run([sys.executable, "-m", "fastlayers.torch"], env=dict(os.environ, PYTHONPATH=PYTHONPATH),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "SCRIPT.py" in r.stderr
