"""fastlayers.nn.init: each initializer's bounds and statistics on big tensors, calculate_gain equal to
torch's, orthogonality, in-place/no-grad behaviour, errors, and reproducibility under manual_seed."""
import math

import numpy as np
import pytest
import torch

import fastlayers as fl
from fastlayers.nn import init


def _param(*shape, dtype=np.float32):
    return fl.nn.Parameter(np.zeros(shape, dtype=dtype))


def _assert_near(value, expected, rel, what):
    assert abs(value - expected) <= rel * abs(expected), \
        f"{what}: {value:.6g} vs expected {expected:.6g} (relative error {abs(value - expected) / abs(expected):.3g}, allowed {rel})"


NONLINEARITIES = [("linear", None), ("conv1d", None), ("conv2d", None), ("conv3d", None),
                  ("conv_transpose1d", None), ("conv_transpose2d", None), ("conv_transpose3d", None),
                  ("sigmoid", None), ("tanh", None), ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2),
                  ("leaky_relu", 0), ("leaky_relu", math.sqrt(5)), ("selu", None)]


@pytest.mark.parametrize("nonlinearity,param", NONLINEARITIES)
def test_calculate_gain_equals_torchs(nonlinearity, param):
    ours = init.calculate_gain(nonlinearity, param)
    theirs = torch.nn.init.calculate_gain(nonlinearity, param)
    assert ours == theirs, f"calculate_gain({nonlinearity!r}, {param}): {ours} != torch's {theirs}"


def test_calculate_gain_rejects_unknown_nonlinearity_and_bad_slope_like_torch():
    for args in [("swish",), ("leaky_relu", "x"), ("leaky_relu", True)]:
        with pytest.raises(ValueError) as theirs:
            torch.nn.init.calculate_gain(*args)
        with pytest.raises(ValueError) as ours:
            init.calculate_gain(*args)
        assert str(ours.value) == str(theirs.value), f"calculate_gain{args}: {ours.value} != {theirs.value}"


def test_uniform_stays_in_bounds_with_the_right_mean_and_returns_the_same_tensor():
    w = _param(400, 500)
    assert init.uniform_(w, -2.0, 3.0) is w
    assert w.data.min() >= -2.0 and w.data.max() < 3.0, f"uniform_ range [{w.data.min()}, {w.data.max()}]"
    _assert_near(w.data.mean(), 0.5, 0.02, "uniform_(-2, 3) mean")
    _assert_near(w.data.var(), 25 / 12, 0.02, "uniform_(-2, 3) variance")
    assert w.grad_fn is None and w.requires_grad


def test_normal_has_the_requested_mean_and_std():
    w = _param(400, 500, dtype=np.float64)
    init.normal_(w, mean=1.5, std=0.25)
    _assert_near(w.data.mean(), 1.5, 0.01, "normal_ mean")
    _assert_near(w.data.std(), 0.25, 0.01, "normal_ std")


def test_trunc_normal_stays_in_bounds_with_the_truncated_std():
    w = _param(300, 400)
    init.trunc_normal_(w, mean=0.0, std=1.0, a=-1.0, b=2.0)
    assert w.data.min() >= -1.0 and w.data.max() <= 2.0
    # moments of N(0, 1) truncated to [a, b]
    a, b = -1.0, 2.0
    pdf = lambda x: math.exp(-x * x / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    cdf = lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2)))  # noqa: E731
    z = cdf(b) - cdf(a)
    mean = (pdf(a) - pdf(b)) / z
    var = 1 + (a * pdf(a) - b * pdf(b)) / z - mean ** 2
    _assert_near(w.data.mean(), mean, 0.02, "trunc_normal_ mean")
    _assert_near(w.data.std(), math.sqrt(var), 0.02, "trunc_normal_ std")


def test_constant_zeros_ones_and_eye_fill_exactly():
    w = _param(3, 4)
    np.testing.assert_array_equal(init.constant_(w, 0.5).data, np.full((3, 4), 0.5))
    np.testing.assert_array_equal(init.ones_(w).data, np.ones((3, 4)))
    np.testing.assert_array_equal(init.zeros_(w).data, np.zeros((3, 4)))
    np.testing.assert_array_equal(init.eye_(w).data, np.eye(3, 4))
    assert w.data.dtype == np.float32


@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_xavier_uniform_bound_and_variance(gain):
    w = _param(200, 100, 3, 3)  # fan_in 900, fan_out 1800
    init.xavier_uniform_(w, gain=gain)
    bound = gain * math.sqrt(6.0 / (900 + 1800))
    assert np.abs(w.data).max() <= bound * (1 + 1e-6), f"xavier_uniform_ gain={gain}: max {np.abs(w.data).max()} > bound {bound}"
    assert np.abs(w.data).max() > 0.99 * bound
    _assert_near(w.data.std(), bound / math.sqrt(3), 0.02, f"xavier_uniform_ gain={gain} std")


def test_xavier_normal_std():
    w = _param(300, 700)
    init.xavier_normal_(w, gain=init.calculate_gain("tanh"))
    _assert_near(w.data.std(), 5 / 3 * math.sqrt(2.0 / 1000), 0.02, "xavier_normal_ std")
    _assert_near(abs(w.data.mean()) + 1, 1, 0.01, "xavier_normal_ mean")


@pytest.mark.parametrize("mode,nonlinearity,a", [("fan_in", "leaky_relu", 0), ("fan_out", "relu", 0),
                                                 ("fan_in", "leaky_relu", math.sqrt(5))])
def test_kaiming_uniform_bound(mode, nonlinearity, a):
    w = _param(128, 64, 5, 5)  # fan_in 1600, fan_out 3200
    init.kaiming_uniform_(w, a=a, mode=mode, nonlinearity=nonlinearity)
    fan = 1600 if mode == "fan_in" else 3200
    bound = math.sqrt(3.0) * torch.nn.init.calculate_gain(nonlinearity, a) / math.sqrt(fan)
    assert np.abs(w.data).max() <= bound * (1 + 1e-6) and np.abs(w.data).max() > 0.99 * bound, \
        f"kaiming_uniform_ {mode} {nonlinearity}: max {np.abs(w.data).max()} vs bound {bound}"


@pytest.mark.parametrize("mode,nonlinearity,a", [("fan_in", "relu", 0), ("fan_out", "leaky_relu", 0.1),
                                                 ("fan_in", "linear", 0)])
def test_kaiming_normal_std_within_two_percent(mode, nonlinearity, a):
    w = _param(256, 128, 3, 3)  # fan_in 1152, fan_out 2304
    init.kaiming_normal_(w, a=a, mode=mode, nonlinearity=nonlinearity)
    fan = 1152 if mode == "fan_in" else 2304
    std = torch.nn.init.calculate_gain(nonlinearity, a) / math.sqrt(fan)
    _assert_near(w.data.std(), std, 0.02, f"kaiming_normal_ {mode} {nonlinearity} a={a} std")


@pytest.mark.parametrize("shape", [(20, 20), (10, 30), (30, 10), (8, 3, 2, 2)])
def test_orthogonal_gives_orthonormal_rows_or_columns(shape):
    w = _param(*shape, dtype=np.float64)
    init.orthogonal_(w, gain=2.0)
    flat = w.data.reshape(shape[0], -1) / 2.0
    rows, cols = flat.shape
    gram = flat @ flat.T if rows <= cols else flat.T @ flat
    err = np.abs(gram - np.eye(min(rows, cols))).max()
    assert err < 1e-12, f"orthogonal_ {shape}: largest |W W^T - I| = {err:.3g}"


def test_initializers_reject_bad_arguments():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(_param(5))
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_normal_(_param(3, 3), mode="fan_avg")
    with pytest.raises(ValueError, match="Only tensors with 2 or more dimensions"):
        init.orthogonal_(_param(4))


@pytest.mark.parametrize("name", ["uniform_", "normal_", "trunc_normal_", "xavier_uniform_", "xavier_normal_",
                                  "kaiming_uniform_", "kaiming_normal_", "orthogonal_"])
def test_manual_seed_makes_initialization_reproducible(name):
    fn = getattr(init, name)
    fl.manual_seed(1234)
    first = fn(_param(6, 7)).data.copy()
    fl.manual_seed(1234)
    second = fn(_param(6, 7)).data.copy()
    fl.manual_seed(4321)
    third = fn(_param(6, 7)).data.copy()
    np.testing.assert_array_equal(first, second, err_msg=f"{name} after the same manual_seed")
    assert not np.array_equal(first, third), f"{name} gave the same values under a different seed"


def test_an_explicit_generator_is_used_instead_of_the_global_one():
    a = init.normal_(_param(4, 4), generator=np.random.default_rng(7)).data
    b = init.normal_(_param(4, 4), generator=np.random.default_rng(7)).data
    np.testing.assert_array_equal(a, b)
