"""tests/gpu_check.sh (the GPU verification harness) keeps working where CI has no GPU: its --dry-run mode
prints every step with its time cap and checks the files, commands and test selections the steps need."""
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "tests", "gpu_check.sh")


def test_gpu_check_script_parses():
    r = subprocess.run(["bash", "-n", SCRIPT], capture_output=True, text=True)
    assert r.returncode == 0, f"bash -n tests/gpu_check.sh: {r.stderr}"


def test_gpu_check_dry_run_lists_every_step_within_ten_minutes_and_finds_its_plumbing(tmp_path):
    import fastlayers
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(fastlayers.__file__)))
    env = dict(os.environ, OUT=str(tmp_path / "out"), DRY_RUN_PYTHONPATH=package_parent)
    r = subprocess.run(["bash", SCRIPT, "--dry-run"], capture_output=True, text=True, env=env, timeout=300,
                       cwd=ROOT)
    out = r.stdout + r.stderr
    assert r.returncode == 0, f"gpu_check.sh --dry-run failed (exit {r.returncode}):\n{out}"
    for step, needle in (("build", "-DFASTLAYERS_CUDA=ON"), ("tests", "tests/test_torch_cuda.py"),
                         ("sanitize", "tests/cuda_sanitize.sh"), ("bench", "bench/compare.py --device cuda")):
        lines = [l for l in out.splitlines() if l.startswith(f"step {step} ")]
        assert lines and needle in lines[0], f"step {step} missing or without {needle!r}:\n{out}"
    assert "MISSING" not in out, out
    caps = int(out.split("gpu_check --dry-run: ")[1].split(" s of caps")[0])
    assert caps <= 600, f"the steps' time caps add up to {caps} s, over the 10-minute budget"
    assert not (tmp_path / "out").exists(), "a dry run must not write logs"


def test_gpu_check_refuses_an_unknown_argument():
    r = subprocess.run(["bash", SCRIPT, "--bogus"], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown argument" in r.stderr, (r.returncode, r.stderr)
