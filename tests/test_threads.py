"""Thread-count policy (torch's): set_num_threads, then FASTLAYERS_NUM_THREADS, then OMP_NUM_THREADS, then the
CPUs the process may run on; and set_flush_denormal. Each source is checked in a fresh interpreter, since the
default is decided once per process."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastlayers as fl

PYTHONPATH = os.pathsep.join([str(Path(fl.__file__).resolve().parent.parent), os.environ.get("PYTHONPATH", "")])


def _threads_in_child(env_updates, code="print(fl.get_num_threads(), fl._C.num_threads_source(), sep='|')"):
    env = {k: v for k, v in os.environ.items() if k not in ("FASTLAYERS_NUM_THREADS", "OMP_NUM_THREADS")}
    env.update(env_updates, PYTHONPATH=PYTHONPATH)
    out = subprocess.run([sys.executable, "-c", "import fastlayers as fl\n" + code], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    n, source = out.stdout.strip().split("|")
    return int(n), source


def _affinity_physical_cores():
    cores = set()
    for cpu in os.sched_getaffinity(0):
        topo = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            cores.add(((topo / "physical_package_id").read_text(), (topo / "core_id").read_text()))
        except OSError:
            return None
    return len(cores)


def test_fastlayers_num_threads_wins_over_omp_num_threads():
    assert _threads_in_child({"FASTLAYERS_NUM_THREADS": "3", "OMP_NUM_THREADS": "5"}) == (3, "FASTLAYERS_NUM_THREADS")


def test_omp_num_threads_is_honoured_and_its_first_list_entry_used():
    assert _threads_in_child({"OMP_NUM_THREADS": "5"}) == (5, "OMP_NUM_THREADS")
    assert _threads_in_child({"OMP_NUM_THREADS": "4,2"}) == (4, "OMP_NUM_THREADS")


@pytest.mark.parametrize("bad", ["0", "-2", "abc", "2x"])
def test_malformed_thread_variables_fall_through_to_the_next_source(bad):
    assert _threads_in_child({"FASTLAYERS_NUM_THREADS": bad, "OMP_NUM_THREADS": "2"}) == (2, "OMP_NUM_THREADS")


def test_default_is_the_physical_cores_of_the_affinity_mask():
    n, source = _threads_in_child({})
    cores = _affinity_physical_cores()
    if cores is None:
        assert (n, source) == (len(os.sched_getaffinity(0)), "affinity mask (logical CPUs)")
    else:
        assert (n, source) == (cores, "affinity mask (physical cores)")


def test_default_follows_a_narrowed_affinity_mask():
    cpu = min(os.sched_getaffinity(0))
    code = (f"import os\nos.sched_setaffinity(0, {{{cpu}}})\nimport fastlayers as fl\n"
            "print(fl.get_num_threads(), fl._C.num_threads_source(), sep='|')")
    n, source = _threads_in_child({}, code)
    assert n == 1 and source.startswith("affinity mask")


def test_set_num_threads_overrides_the_environment():
    code = "fl.set_num_threads(2)\nprint(fl.get_num_threads(), fl._C.num_threads_source(), sep='|')"
    assert _threads_in_child({"FASTLAYERS_NUM_THREADS": "3"}, code) == (2, "set_num_threads")


def test_flush_denormal_zeroes_denormal_results_in_kernels_and_switches_back():
    tiny = np.float32(1e-39)  # a float32 denormal
    x = fl.tensor(np.full((4, 4096), tiny, dtype=np.float32))
    old = fl.get_num_threads()
    try:
        fl.set_num_threads(2)
        assert fl.set_flush_denormal(True) is True
        flushed = fl.nn.functional.relu(x).numpy()
        assert fl.set_flush_denormal(False) is True
        kept = fl.nn.functional.relu(x).numpy()
    finally:
        fl.set_flush_denormal(False)
        fl.set_num_threads(old)
    assert np.all(flushed == 0), f"relu of denormals with flushing on: max {np.abs(flushed).max()}"
    assert np.all(kept == tiny), "relu of denormals with flushing off must keep them"
