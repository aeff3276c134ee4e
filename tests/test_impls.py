"""The one implementation-selection mechanism of the C++ front doors (csrc/ops/impls.h): an ordered list per op,
the reference last; one override (_C.set_impl / FASTLAYERS_IMPL=op:name); the verbose log through the
'fastlayers' logger, saying what was chosen and why the faster entries declined."""
import logging
import os
import subprocess
import sys

import numpy as np
import pytest

from fastlayers import _C

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the fastlayers these tests run against (installed, or the source tree with its built _C)
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(_C.__file__)))


@pytest.fixture
def verbose():
    was = _C.get_verbose()
    _C.set_verbose(True)
    yield
    _C.set_verbose(was)


@pytest.fixture
def restore_impls():
    yield
    for op in _C.impl_ops():
        _C.set_impl(op, "")


def test_every_op_lists_its_implementations_with_the_reference_last():
    ops = _C.impl_ops()
    for op in ("conv2d", "conv_transpose2d", "linear", "batch_norm", "group_norm", "activation", "softmax",
               "max_pool2d", "avg_pool2d", "upsample2d", "cross_entropy", "nll_loss"):
        assert op in ops, f"{op} has no implementation list; lists: {ops}"
    for op in ops:
        names = _C.impls(op)
        assert names[-1] == "reference", f"{op}: {names} does not end with the reference"
        assert len(names) == len(set(names)), f"{op}: {names} repeats a name"


def test_set_impl_forces_the_reference_and_gives_the_same_result(restore_impls):
    rng = np.random.default_rng(0)
    x = rng.integers(-3, 4, size=(2, 4, 9, 9)).astype(np.float64)
    w = rng.integers(-3, 4, size=(6, 4, 3, 3)).astype(np.float64)
    fast = _C.conv2d_forward(x, w, None, (1, 1), (1, 1))
    _C.set_impl("conv2d", "reference")
    assert _C.get_impl("conv2d") == "reference"
    assert _C.conv2d_impl(x, w, (1, 1), (1, 1)).split()[0] == "reference"
    ref = _C.conv2d_forward(x, w, None, (1, 1), (1, 1))
    _C.set_impl("conv2d", "")
    assert _C.get_impl("conv2d") == ""
    assert _C.conv2d_impl(x, w, (1, 1), (1, 1)).split()[0] != "reference"
    err = np.abs(fast - ref).max()
    assert err == 0, f"conv2d gemm vs forced reference on integer data: largest error {err}"


def test_a_forced_implementation_that_declines_says_what_it_needs(restore_impls):
    _C.set_impl("conv2d", "depthwise")
    x = np.zeros((1, 3, 8, 8), np.float32)
    with pytest.raises(ValueError, match=r"conv2d: implementation 'depthwise' does not accept mb1ic3ih8oc4.*needs "
                                         r"groups == in_channels"):
        _C.conv2d_forward(x, np.zeros((4, 3, 3, 3), np.float32))
    # a problem it accepts runs
    assert _C.conv2d_forward(x, np.zeros((3, 1, 3, 3), np.float32), groups=3).shape == (1, 3, 6, 6)


def test_set_impl_rejects_unknown_ops_and_names_listing_the_known_ones():
    with pytest.raises(ValueError, match="unknown op 'conv9d'.*conv2d"):
        _C.set_impl("conv9d", "reference")
    with pytest.raises(ValueError, match="linear has no implementation 'fastest'; it has dot, gemm, reference"):
        _C.set_impl("linear", "fastest")
    with pytest.raises(ValueError, match="unknown op"):
        _C.impls("nope")


def test_an_override_naming_an_entry_a_pass_lacks_leaves_that_pass_automatic(restore_impls):
    # linear's "dot" exists for the forward only: the backward passes keep choosing for themselves.
    _C.set_impl("linear", "dot")
    x, w = np.ones((4, 32), np.float32), np.ones((3, 32), np.float32)
    assert _C.linear_impl(x, w, "forward").split()[0] == "dot"
    assert _C.linear_impl(x, w, "backward_data").split()[0] == "gemm"
    dx, dw, db = _C.linear_backward(np.ones((4, 3), np.float32), x, w)
    assert np.all(dx == 3) and np.all(dw == 4) and np.all(db == 4), "linear backward under linear:dot"


def test_the_family_switches_are_aliases_of_the_override(restore_impls):
    _C.set_norm_use_reference(True)
    assert [_C.get_impl(op) for op in ("batch_norm", "group_norm", "local_response_norm")] == ["reference"] * 3
    _C.set_norm_use_reference(False)
    assert _C.get_impl("batch_norm") == ""
    _C.set_activation_reference(True)
    assert [_C.get_impl(op) for op in ("activation", "softmax", "prelu", "maxout")] == ["reference"] * 4
    _C.set_activation_reference(False)
    assert _C.get_impl("softmax") == ""


def test_verbose_log_goes_to_the_fastlayers_logger_with_the_reasons_for_declining(verbose, caplog):
    x = np.zeros((1, 3, 8, 8), np.float32)
    with caplog.at_level(logging.INFO, logger="fastlayers"):
        _C.conv2d_forward(x, np.zeros((4, 3, 3, 3), np.float32))
    lines = [r.getMessage() for r in caplog.records if r.name == "fastlayers"]
    assert any(line.startswith("conv2d forward mb1ic3ih8oc4") and "-> gemm" in line and
               "depthwise declined: needs groups == in_channels" in line for line in lines), lines


def test_per_call_impl_argument_uses_the_same_lists(verbose, caplog):
    x = np.arange(2 * 3 * 6 * 6, dtype=np.float32).reshape(2, 3, 6, 6)
    with caplog.at_level(logging.INFO, logger="fastlayers"):
        y, _ = _C.max_pool2d_forward(x, (2, 2), (2, 2), impl="reference")
    assert any("max_pool2d forward" in r.getMessage() and "-> reference (forced by impl=)" in r.getMessage()
               for r in caplog.records), [r.getMessage() for r in caplog.records]
    assert np.array_equal(y, x.reshape(2, 3, 3, 2, 3, 2).max(axis=(3, 5)))


def test_environment_override_and_verbose_log_on_stderr():
    code = ("import numpy as np; from fastlayers import _C; "
            "_C.linear_forward(np.ones((4, 32), np.float32), np.ones((3, 32), np.float32)); "
            "print(_C.get_impl('linear'), _C.get_impl('conv2d') or '-')")
    env = dict(os.environ, FASTLAYERS_IMPL="linear:reference,conv2d:gemm", FASTLAYERS_VERBOSE="1",
               PYTHONPATH=PACKAGE_PARENT)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["reference", "gemm"], proc.stdout
    assert "linear forward m4k32n3 -> reference (forced)" in proc.stderr, proc.stderr


def test_environment_override_with_an_unknown_name_fails_the_call_clearly():
    code = ("import numpy as np; from fastlayers import _C; "
            "_C.linear_forward(np.ones((4, 32), np.float32), np.ones((3, 32), np.float32))")
    env = dict(os.environ, FASTLAYERS_IMPL="linear:bogus", PYTHONPATH=PACKAGE_PARENT)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "FASTLAYERS_IMPL: linear has no implementation 'bogus'; it has dot, gemm, reference" in proc.stderr, \
        proc.stderr
