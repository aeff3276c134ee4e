"""Runs a snippet of Python in a fresh interpreter, so that a crash (SIGSEGV, SIGABRT, SIGFPE, heap
corruption) is a test failure that names the snippet instead of a dead pytest."""
import os
import subprocess
import sys
import textwrap

import fastlayers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the fastlayers these tests run against (installed, or the source tree with its built _C), not a guess at it
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(fastlayers.__file__)))
PRELUDE = """
import numpy as np
import fastlayers as fl
import fastlayers.nn.functional as F
from fastlayers import _C
T = fl.Tensor
def outcome(fn):
    try:
        fn()
        return "ok"
    except Exception as e:
        return type(e).__name__ + ": " + str(e)
"""


def run_isolated(code, timeout=120, env=None):
    """Runs PRELUDE + code in a subprocess; returns its stdout. Fails, with the code as the repro, if the
    interpreter died from a signal or exited non-zero."""
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = PACKAGE_PARENT + os.pathsep + full_env.get("PYTHONPATH", "")
    full_env.update(env or {})
    src = PRELUDE + textwrap.dedent(code)
    try:
        r = subprocess.run([sys.executable, "-c", src], capture_output=True, text=True, timeout=timeout,
                           env=full_env, cwd=ROOT)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"hung for more than {timeout} s; repro:\n{textwrap.dedent(code)}")
    if r.returncode != 0:
        how = f"signal {-r.returncode}" if r.returncode < 0 else f"exit status {r.returncode}"
        raise AssertionError(f"the interpreter died ({how}); repro:\n{textwrap.dedent(code)}\n"
                             f"stderr tail:\n{r.stderr[-2000:]}")
    return r.stdout
