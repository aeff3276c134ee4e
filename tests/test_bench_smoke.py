"""Smoke test of bench/compare.py: a tiny run in a subprocess must exit 0 and write well-formed JSON.

It checks the harness, not speed: nothing here asserts on timings.
"""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch  # noqa: F401  (compare.py needs torch: a missing torch must fail here, not skip)

REPO = Path(__file__).resolve().parents[1]
COMPARE = REPO / "bench" / "compare.py"


def _default_table():
    """compare.py's default table (bench/layers.json, shipped in the repository)."""
    spec = importlib.util.spec_from_file_location("_fl_compare", COMPARE)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses look their module up
    try:
        spec.loader.exec_module(mod)
    finally:
        del sys.modules[spec.name]
    return Path(mod.DEFAULT_TABLE)


SHARED_TABLE = _default_table()
# The team's copy of the table, beside the project root (absent for a person who cloned the repository alone).
TEAM_TABLE = REPO.parent / "shared" / "bench" / "layers.json"


def test_compare_reads_the_table_shipped_in_the_repository():
    assert SHARED_TABLE == REPO / "bench" / "layers.json" and SHARED_TABLE.is_file()


@pytest.mark.skipif(not TEAM_TABLE.is_file(), reason=f"{TEAM_TABLE} not present (a clone without ../shared)")
def test_shipped_table_is_identical_to_the_team_table():
    assert SHARED_TABLE.read_bytes() == TEAM_TABLE.read_bytes(), (
        f"{SHARED_TABLE} differs from {TEAM_TABLE}: copy the team's table into the repository")

# A made-up table of two small convolutions (not the public cases), so the test does not need ../shared.
TINY_TABLE = {
    "about": "smoke-test table",
    "conv2d": [
        {"name": "tiny_plain", "N": 3, "C": 4, "H": 9, "W": 9, "K": 5, "R": 3, "S": 3,
         "stride": 1, "padding": 1, "dilation": 1, "groups": 1},
        {"name": "tiny_strided_grouped", "N": 2, "C": 6, "H": 11, "W": 11, "K": 4, "R": 3, "S": 3,
         "stride": 2, "padding": 2, "dilation": 2, "groups": 2},
    ],
    "some_future_family": [{"name": "later"}],
}

RESULT_KEYS = {"family", "case", "descriptor", "impl", "api", "mode", "threads", "ours_ms", "torch_ms",
               "ratio_torch_over_ours", "ours_rate", "rate_unit", "pct_peak", "max_abs_diff",
               "max_abs_diff_max", "mismatch", "reps"}


def run_compare(*args, timeout=120):
    proc = subprocess.run([sys.executable, str(COMPARE), *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, f"compare.py exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def check_doc(doc, cases, threads):
    assert set(doc) >= {"meta", "skipped", "results", "summary", "errors"}
    assert doc["errors"] == []
    meta = doc["meta"]
    for key in ("date", "table", "torch_version", "simd_level", "threads", "modes", "peak"):
        assert key in meta
    rows = doc["results"]
    assert {(r["case"], r["mode"], r["threads"]) for r in rows} == {
        (c, m, t) for c in cases for m in ("fwd", "fwd+bwd") for t in threads}
    for r in rows:
        assert RESULT_KEYS <= set(r), RESULT_KEYS - set(r)
        assert r["family"] == "conv2d"
        assert r["ours_ms"] > 0 and r["torch_ms"] > 0 and r["reps"] >= 1
        assert r["rate_unit"] == "GFLOP/s"
        assert r["descriptor"].startswith("mb")
        # correctness is part of the harness: every result of the case was compared with torch
        expected = {"output"} if r["mode"] == "fwd" else {"grad_input", "grad_weight", "grad_bias"}
        assert set(r["max_abs_diff"]) == expected
    assert {(s["mode"], s["threads"]) for s in doc["summary"]} == {
        (m, t) for m in ("fwd", "fwd+bwd") for t in threads}


def test_compare_quick_on_tiny_table(tmp_path):
    table = tmp_path / "table.json"
    table.write_text(json.dumps(TINY_TABLE))
    out = tmp_path / "out.json"
    proc = run_compare("--table", str(table), "--quick", "--cases", "tiny_plain,tiny_strided_grouped",
                       "--threads", "1,2", "--json", str(out))
    doc = json.loads(out.read_text())
    check_doc(doc, ["tiny_plain", "tiny_strided_grouped"], [1, 2])
    assert {"1", "2"} == set(doc["meta"]["peak"])
    for p in doc["meta"]["peak"].values():
        assert {"peak_gflops", "peak_method", "bandwidth_gbs", "bandwidth_method", "gemm_gflops",
                "stream_copy_gbs", "stream_triad_gbs"} <= set(p)
    assert all(r["pct_peak"] is not None for r in doc["results"])
    # the family compare.py has no runner for is reported as skipped, with a reason
    skipped = {s["family"]: s["reason"] for s in doc["skipped"]}
    assert "some_future_family" in skipped and skipped["some_future_family"]
    assert "some_future_family" in proc.stdout
    assert "geomean" in proc.stdout


@pytest.mark.skipif(not SHARED_TABLE.is_file(), reason=f"{SHARED_TABLE} not present")
def test_compare_quick_on_shared_table(tmp_path):
    out = tmp_path / "out.json"
    run_compare("--quick", "--ops", "conv2d", "--cases", "lenet_conv1", "--no-peak", "--json", str(out))
    doc = json.loads(out.read_text())
    check_doc(doc, ["lenet_conv1"], [1])
    assert doc["meta"]["peak"] == {}
    assert all(r["pct_peak"] is None for r in doc["results"])


# Memory-bound families: rates in GB/s of minimal traffic, %peak of the STREAM bandwidth measured in the run.
TINY_MEMORY_TABLE = {
    "softmax": [{"name": "log_softmax_6x37", "rows": 6, "cols": 37}],
    "group_norm": [{"name": "tiny_gn", "N": 2, "C": 4, "H": 3, "W": 5, "groups": 2}],
}


def test_compare_memory_bound_rates_use_measured_stream_bandwidth(tmp_path):
    table = tmp_path / "table.json"
    table.write_text(json.dumps(TINY_MEMORY_TABLE))
    out = tmp_path / "out.json"
    run_compare("--table", str(table), "--quick", "--threads", "1", "--json", str(out))
    doc = json.loads(out.read_text())
    assert doc["errors"] == [] and not doc["meta"]["mismatches"]
    peak = doc["meta"]["peak"]["1"]
    stream = [v for v in (peak["stream_copy_gbs"], peak["stream_triad_gbs"]) if v]
    if stream:  # the helper compiled: the bandwidth is our own STREAM measurement
        assert peak["bandwidth_gbs"] == max(stream)
        assert "peak_stream.cpp" in peak["bandwidth_method"]
    assert {(r["family"], r["mode"]) for r in doc["results"]} == {
        (f, m) for f in ("softmax", "group_norm") for m in ("fwd", "fwd+bwd")}
    for r in doc["results"]:
        assert r["rate_unit"] == "GB/s" and r["work_unit"] == "byte"
        assert r["pct_peak"] == pytest.approx(100 * r["ours_rate"] / peak["bandwidth_gbs"])


def test_plot_draws_a_roofline_and_a_ratio_chart_from_a_compare_run(tmp_path):
    from PIL import Image
    table = tmp_path / "table.json"
    table.write_text(json.dumps({**TINY_TABLE, **TINY_MEMORY_TABLE}))
    out = tmp_path / "out.json"
    run_compare("--table", str(table), "--quick", "--threads", "1", "--json", str(out))
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "plot.py"), "--json", str(out), "--out",
                           str(tmp_path / "charts")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for name in ("roofline_1t.png", "ratios_1t.png"):
        with Image.open(tmp_path / "charts" / name) as im:
            assert im.format == "PNG" and im.size[0] > 400 and im.size[1] > 300
