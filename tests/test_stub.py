"""The checked-in type stub of the extension (python/fastlayers/_C.pyi) is what pybind11-stubgen makes of the
built `fastlayers._C`: a binding added or changed without regenerating it fails here, with the command."""
import os
import subprocess
import sys
from pathlib import Path

import fastlayers as fl

PACKAGE = Path(fl.__file__).resolve().parent
REGENERATE = "python -m pybind11_stubgen fastlayers._C -o python  (from the repository root, with fastlayers built)"


def test_checked_in_c_stub_matches_the_built_extension(tmp_path):
    path = os.pathsep.join([str(PACKAGE.parent), os.environ.get("PYTHONPATH", "")])
    r = subprocess.run([sys.executable, "-m", "pybind11_stubgen", "fastlayers._C", "-o", str(tmp_path)],
                       env=dict(os.environ, PYTHONPATH=path), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    generated = (tmp_path / "fastlayers" / "_C.pyi").read_text()
    checked_in = (PACKAGE / "_C.pyi").read_text()
    assert generated == checked_in, f"python/fastlayers/_C.pyi is out of date; regenerate it: {REGENERATE}"
