"""Packaging facts a user relies on: one version source, build information at run time, the environment report
(`python -m fastlayers`), typing marker, license, and code that parses on the oldest Python it declares."""
import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import fastlayers as fl

REPO = Path(__file__).resolve().parents[1]
PACKAGE = Path(fl.__file__).resolve().parent


def test_version_has_one_source_that_pyproject_reads():
    pyproject = (REPO / "pyproject.toml").read_text()
    assert re.search(r'^dynamic = \["version"\]', pyproject, re.M), "pyproject.toml must not repeat the version"
    assert 'metadata.version.input = "python/fastlayers/__init__.py"' in pyproject
    assert re.fullmatch(r"\d+\.\d+\.\d+", fl.__version__)


def test_build_info_names_compiler_openmp_simd_units_and_cuda():
    info = fl._C.build_info()
    assert set(info) >= {"git_revision", "compiler", "openmp", "build_type", "simd_units", "cuda",
                         "cuda_architectures"}
    assert info["compiler"].strip() and info["openmp"].strip()
    assert info["cuda"] == fl.cuda.is_built()
    if fl._C.max_simd_level() != "portable":
        assert fl._C.max_simd_level() in info["simd_units"].split(",")


def test_python_m_fastlayers_prints_the_environment_report():
    path = os.pathsep.join([str(PACKAGE.parent), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, PYTHONPATH=path, FASTLAYERS_NUM_THREADS="1")
    env.pop("OMP_NUM_THREADS", None)
    r = subprocess.run([sys.executable, "-m", "fastlayers"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for needle in (f"fastlayers: {fl.__version__}", "compiler:", "running:", "best_available:", "count: 1",
                   "source: FASTLAYERS_NUM_THREADS", "built:", "numpy:", "torch:"):
        assert needle in out, f"{needle!r} missing from the report:\n{out}"
    code = "import sys, fastlayers.utils.collect_env as c; c.get_env_info(); print('torch' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "False", "the environment report must not import torch"


def test_package_is_typed_and_licensed():
    assert (PACKAGE / "py.typed").is_file()
    assert "MIT License" in (REPO / "LICENSE").read_text()
    assert 'license = {file = "LICENSE"}' in (REPO / "pyproject.toml").read_text()


def test_every_module_parses_on_the_oldest_declared_python():
    declared = re.search(r'requires-python = ">=3\.(\d+)"', (REPO / "pyproject.toml").read_text())
    minor = int(declared.group(1))
    for path in sorted(PACKAGE.rglob("*.py")):
        ast.parse(path.read_text(), filename=str(path), feature_version=(3, minor))
