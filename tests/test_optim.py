"""fastlayers.optim against torch.optim: the same float64 parameters and gradient sequence in, the same
parameters (and optimizer state) out, to 1e-12 relative; param groups, zero_grad, state_dict round trips,
argument validation, and learning-rate schedulers step by step."""
import copy

import numpy as np
import pytest
import torch

import fastlayers as fl
from fastlayers.optim import lr_scheduler as fl_sched

SHAPES = [(3, 4), (5,), (2, 3, 2)]
STEPS = 20
RTOL = 1e-12


def _initial_params(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for shape in SHAPES]


def _grad_sequence(steps=STEPS, seed=1):
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(shape) for shape in SHAPES] for _ in range(steps)]


def _assert_rel_close(ours, expected, what):
    ours, expected = np.asarray(ours, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert ours.shape == expected.shape, f"{what}: shape {ours.shape} != {expected.shape}"
    err = np.abs(ours - expected)
    tol = RTOL * (np.abs(expected) + np.abs(expected).max() * 1e-3 + 1e-300)
    assert (err <= tol).all(), (f"{what}: largest error {err.max():.3g} (relative "
                                f"{(err / (np.abs(expected) + 1e-300)).max():.3g}), tolerance rtol {RTOL}")


def _fl_params(arrays):
    return [fl.nn.Parameter(a.copy()) for a in arrays]


def _torch_params(arrays):
    return [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in arrays]


def _set_grads(fl_params, torch_params, grads):
    for p, q, g in zip(fl_params, torch_params, grads):
        p.grad = fl.Tensor(g.copy())
        q.grad = torch.from_numpy(g.copy())


def _torch_kwargs(name, kwargs):
    return dict(kwargs, foreach=False)  # torch's single-tensor path: the documented algorithm, op by op


def _run_both(name, kwargs, steps=STEPS):
    arrays = _initial_params()
    ours = _fl_params(arrays)
    theirs = _torch_params(arrays)
    opt = getattr(fl.optim, name)(ours, **kwargs)
    topt = getattr(torch.optim, name)(theirs, **_torch_kwargs(name, kwargs))
    for grads in _grad_sequence(steps):
        _set_grads(ours, theirs, grads)
        opt.step()
        topt.step()
    return ours, theirs, opt, topt


OPTIMIZER_CASES = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.5}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.1, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.1, "maximize": True}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "weight_decay": 0.01, "nesterov": True, "maximize": True}),
    ("SGD", {}),
    ("Adam", {}),
    ("Adam", {"lr": 0.01, "amsgrad": True}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.01, "betas": (0.5, 0.6), "eps": 1e-6}),
    ("Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.05, "maximize": True}),
    ("AdamW", {}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.0, "maximize": True}),
    ("RMSprop", {}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9}),
    ("RMSprop", {"lr": 0.01, "centered": True}),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.5, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.3, "maximize": True}),
    ("Adagrad", {}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.1}),
    ("Adagrad", {"lr": 0.1, "initial_accumulator_value": 0.5}),
    ("Adagrad", {"lr": 0.1, "weight_decay": 0.1, "lr_decay": 0.01, "maximize": True}),
]


def _case_id(case):
    name, kwargs = case
    return name + "-" + ("-".join(f"{k}={v}" for k, v in kwargs.items()) or "defaults")


@pytest.mark.parametrize("case", OPTIMIZER_CASES, ids=_case_id)
def test_optimizer_matches_torch_over_20_steps_in_float64(case):
    name, kwargs = case
    ours, theirs, opt, topt = _run_both(name, kwargs)
    for i, (p, q) in enumerate(zip(ours, theirs)):
        _assert_rel_close(p.data, q.detach().numpy(), f"{_case_id(case)} param {i}")
    # the optimizer state (buffers and step counts) matches torch's too
    tstate = topt.state_dict()["state"]
    state = opt.state_dict()["state"]
    assert sorted(state) == sorted(tstate), f"{_case_id(case)}: state indices {sorted(state)} != {sorted(tstate)}"
    for index, values in tstate.items():
        assert set(state[index]) == set(values), f"{_case_id(case)}: state keys {set(state[index])} != {set(values)}"
        for key, value in values.items():
            expected = value.numpy() if isinstance(value, torch.Tensor) else value
            _assert_rel_close(state[index][key], expected, f"{_case_id(case)} state[{index}][{key!r}]")


def test_param_groups_with_different_options_match_torch():
    arrays = _initial_params()
    ours, theirs = _fl_params(arrays), _torch_params(arrays)
    opt = fl.optim.SGD([{"params": ours[:2]}, {"params": ours[2:], "lr": 0.01, "momentum": 0.5}],
                       lr=0.1, momentum=0.9)
    topt = torch.optim.SGD([{"params": theirs[:2]}, {"params": theirs[2:], "lr": 0.01, "momentum": 0.5}],
                           lr=0.1, momentum=0.9, foreach=False)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.01]
    assert [g["momentum"] for g in opt.param_groups] == [0.9, 0.5]
    for grads in _grad_sequence():
        _set_grads(ours, theirs, grads)
        opt.step()
        topt.step()
    for i, (p, q) in enumerate(zip(ours, theirs)):
        _assert_rel_close(p.data, q.detach().numpy(), f"SGD two groups param {i}")
    ours_sd, theirs_sd = opt.state_dict(), topt.state_dict()
    assert [g["params"] for g in ours_sd["param_groups"]] == [g["params"] for g in theirs_sd["param_groups"]]


def test_add_param_group_fills_defaults_and_rejects_a_parameter_already_present():
    p, q = fl.nn.Parameter(np.zeros(2)), fl.nn.Parameter(np.zeros(3))
    opt = fl.optim.Adam([p], lr=0.5)
    opt.add_param_group({"params": q, "betas": (0.8, 0.9)})
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[1]["betas"] == (0.8, 0.9)
    assert len(opt.param_groups[1]["params"]) == 1 and opt.param_groups[1]["params"][0] is q
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter group"):
        opt.add_param_group({"params": [p]})
    with pytest.raises(TypeError, match="ordered collections"):
        opt.add_param_group({"params": {fl.nn.Parameter(np.zeros(1))}})
    with pytest.raises(TypeError, match="iterable of Tensors or dicts"):
        fl.optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        fl.optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        fl.optim.SGD([p * 2], lr=0.1)


def test_step_skips_parameters_without_grad_and_returns_the_closure_loss():
    p, q = fl.nn.Parameter(np.ones(2)), fl.nn.Parameter(np.ones(2))
    opt = fl.optim.SGD([p, q], lr=0.5)
    p.grad = fl.Tensor(np.array([1.0, 2.0]))
    loss = opt.step(lambda: 42.0)
    assert loss == 42.0
    np.testing.assert_array_equal(p.data, [0.5, 0.0])
    np.testing.assert_array_equal(q.data, [1.0, 1.0])


def test_zero_grad_sets_to_none_by_default():
    p = fl.nn.Parameter(np.ones(3))
    p.grad = fl.Tensor(np.ones(3))
    opt = fl.optim.SGD([p], lr=0.1)
    opt.zero_grad()
    assert p.grad is None


def test_zero_grad_set_to_none_false_zeroes_the_same_grad_in_place():
    p = fl.nn.Parameter(np.ones(3))
    (p * p).sum().backward()
    grad = p.grad
    opt = fl.optim.SGD([p], lr=0.1)
    opt.zero_grad(set_to_none=False)
    assert p.grad is grad, "zero_grad(set_to_none=False) replaced the grad Tensor instead of zeroing it"
    np.testing.assert_array_equal(p.grad.data, np.zeros(3))


ROUND_TRIP_CASES = [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("Adam", {"lr": 0.01, "amsgrad": True}),
    ("AdamW", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.05}),
]


@pytest.mark.parametrize("case", ROUND_TRIP_CASES, ids=_case_id)
def test_state_dict_round_trip_resumes_exactly_like_an_uninterrupted_run(case):
    name, kwargs = case
    cls = getattr(fl.optim, name)
    grads = _grad_sequence()
    whole = _fl_params(_initial_params())
    opt = cls(whole, **kwargs)
    first = _fl_params(_initial_params())
    opt_first = cls(first, **kwargs)
    for step, step_grads in enumerate(grads):
        for p, g in zip(whole, step_grads):
            p.grad = fl.Tensor(g.copy())
        opt.step()
        if step < 5:
            for p, g in zip(first, step_grads):
                p.grad = fl.Tensor(g.copy())
            opt_first.step()
    saved = opt_first.state_dict()
    snapshot = copy.deepcopy(saved)
    resumed = _fl_params([p.data for p in first])
    opt_resumed = cls(resumed, lr=123.0)  # the loaded groups' options replace these
    opt_resumed.load_state_dict(saved)
    assert opt_resumed.param_groups[0]["lr"] == kwargs["lr"]
    for step_grads in grads[5:]:
        for p, g in zip(resumed, step_grads):
            p.grad = fl.Tensor(g.copy())
        opt_resumed.step()
    for i, (p, q) in enumerate(zip(resumed, whole)):
        np.testing.assert_array_equal(p.data, q.data, err_msg=f"{_case_id(case)} param {i} after resuming")
    # loading copied the state: stepping the resumed optimizer did not write into the saved dict
    for index, values in snapshot["state"].items():
        for key, value in values.items():
            np.testing.assert_array_equal(saved["state"][index][key], value)


def test_state_dict_structure_matches_torchs():
    arrays = _initial_params()
    ours, theirs = _fl_params(arrays), _torch_params(arrays)
    opt = fl.optim.Adam([{"params": ours[:1]}, {"params": ours[1:], "lr": 0.1}])
    topt = torch.optim.Adam([{"params": theirs[:1]}, {"params": theirs[1:], "lr": 0.1}])
    _set_grads(ours, theirs, _grad_sequence(1)[0])
    opt.step()
    topt.step()
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert sorted(sd["state"]) == sorted(tsd["state"]) == [0, 1, 2]
    assert [g["params"] for g in sd["param_groups"]] == [g["params"] for g in tsd["param_groups"]] == [[0], [1, 2]]
    for group, tgroup in zip(sd["param_groups"], tsd["param_groups"]):
        for key in ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize"):
            assert group[key] == tgroup[key], f"param_groups {key}: {group[key]} != {tgroup[key]}"
    assert all(isinstance(v, np.ndarray) or isinstance(v, float) for s in sd["state"].values() for v in s.values())


def test_load_state_dict_rejects_mismatched_groups():
    p, q = fl.nn.Parameter(np.zeros(2)), fl.nn.Parameter(np.zeros(2))
    sd = fl.optim.SGD([p, q], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="different number of parameter groups"):
        fl.optim.SGD([{"params": [p]}, {"params": [q]}], lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match="doesn't match the size"):
        fl.optim.SGD([p], lr=0.1).load_state_dict(sd)


BAD_ARGUMENTS = [
    ("SGD", {"lr": -1}),
    ("SGD", {"lr": 0.1, "momentum": -0.5}),
    ("SGD", {"lr": 0.1, "weight_decay": -1e-3}),
    ("SGD", {"lr": 0.1, "nesterov": True}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "nesterov": True}),
    ("Adam", {"lr": -0.1}),
    ("Adam", {"eps": -1.0}),
    ("Adam", {"betas": (1.0, 0.999)}),
    ("Adam", {"betas": (0.9, -0.1)}),
    ("Adam", {"weight_decay": -1.0}),
    ("AdamW", {"betas": (0.9, 1.5)}),
    ("RMSprop", {"lr": -0.1}),
    ("RMSprop", {"alpha": -0.5}),
    ("RMSprop", {"momentum": -0.5}),
    ("RMSprop", {"eps": -1.0}),
    ("Adagrad", {"lr_decay": -1.0}),
    ("Adagrad", {"initial_accumulator_value": -1.0}),
    ("Adagrad", {"eps": -1.0}),
]


@pytest.mark.parametrize("case", BAD_ARGUMENTS, ids=_case_id)
def test_bad_arguments_raise_value_error_with_torchs_message(case):
    name, kwargs = case
    with pytest.raises(ValueError) as theirs:
        getattr(torch.optim, name)([torch.nn.Parameter(torch.zeros(2))], **kwargs)
    with pytest.raises(ValueError) as ours:
        getattr(fl.optim, name)([fl.nn.Parameter(np.zeros(2))], **kwargs)
    assert str(ours.value) == str(theirs.value), f"{_case_id(case)}: {ours.value!r} != torch's {theirs.value!r}"


# ---------------------------------------------------------------------------------------------------
# Learning-rate schedulers

SCHEDULER_CASES = [
    ("StepLR", {"step_size": 7}),
    ("StepLR", {"step_size": 3, "gamma": 0.5}),
    ("MultiStepLR", {"milestones": [4, 10, 10, 21]}),
    ("MultiStepLR", {"milestones": [2, 5], "gamma": 0.3}),
    ("ExponentialLR", {"gamma": 0.9}),
    ("CosineAnnealingLR", {"T_max": 10}),
    ("CosineAnnealingLR", {"T_max": 7, "eta_min": 0.001}),
]


def _two_group_optimizers():
    p, q = fl.nn.Parameter(np.zeros(2)), fl.nn.Parameter(np.zeros(2))
    tp, tq = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    opt = fl.optim.SGD([{"params": [p]}, {"params": [q], "lr": 0.02}], lr=0.1, momentum=0.9)
    topt = torch.optim.SGD([{"params": [tp]}, {"params": [tq], "lr": 0.02}], lr=0.1, momentum=0.9)
    return opt, topt


def _assert_lrs_equal(ours, theirs, what):
    err = max(abs(a - b) / abs(b) if b else abs(a) for a, b in zip(ours, theirs))
    assert len(ours) == len(theirs) and err <= 1e-15, f"{what}: lrs {ours} != torch's {theirs} (relative error {err:.3g})"


@pytest.mark.parametrize("case", SCHEDULER_CASES, ids=_case_id)
def test_scheduler_lr_sequence_matches_torch_over_30_steps(case):
    name, kwargs = case
    opt, topt = _two_group_optimizers()
    sched = getattr(fl_sched, name)(opt, **kwargs)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    assert [g["initial_lr"] for g in opt.param_groups] == [g["initial_lr"] for g in topt.param_groups]
    _assert_lrs_equal(sched.get_last_lr(), tsched.get_last_lr(), f"{_case_id(case)} epoch 0")
    for epoch in range(1, 31):
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
        assert sched.last_epoch == tsched.last_epoch == epoch
        _assert_lrs_equal(sched.get_last_lr(), tsched.get_last_lr(), f"{_case_id(case)} epoch {epoch}")
        _assert_lrs_equal([g["lr"] for g in opt.param_groups], [g["lr"] for g in topt.param_groups],
                          f"{_case_id(case)} param_groups epoch {epoch}")


@pytest.mark.parametrize("case", SCHEDULER_CASES[::2], ids=_case_id)
def test_scheduler_state_dict_round_trip_resumes_the_sequence(case):
    name, kwargs = case
    opt, _ = _two_group_optimizers()
    sched = getattr(fl_sched, name)(opt, **kwargs)
    for _ in range(12):
        sched.step()
    saved = copy.deepcopy(sched.state_dict())
    assert "optimizer" not in saved and saved["last_epoch"] == 12
    opt2, _ = _two_group_optimizers()
    opt2.load_state_dict(opt.state_dict())
    resumed = getattr(fl_sched, name)(opt2, **kwargs)
    resumed.load_state_dict(saved)
    for epoch in range(13, 25):
        sched.step()
        resumed.step()
        assert resumed.get_last_lr() == sched.get_last_lr(), f"{_case_id(case)} epoch {epoch}"


PLATEAU_CASES = [
    {},
    {"patience": 2, "factor": 0.5},
    {"mode": "max", "patience": 1, "cooldown": 2, "threshold": 0.05},
    {"patience": 0, "threshold_mode": "abs", "threshold": 0.5, "min_lr": 0.004},
    {"patience": 1, "min_lr": [0.05, 0.001], "eps": 1e-3},
]


@pytest.mark.parametrize("kwargs", PLATEAU_CASES, ids=lambda k: "-".join(f"{a}={b}" for a, b in k.items()) or "defaults")
def test_reduce_lr_on_plateau_matches_torch_on_a_fixed_metric_sequence(kwargs):
    metrics = [10, 9, 9.5, 9.2, 9.1, 9.0, 8.999, 9.3, 7, 7, 7, 7, 7.5, 8, 6, 6, 6, 6.1, 6.2, 6.0,
               5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5]
    opt, topt = _two_group_optimizers()
    sched = fl_sched.ReduceLROnPlateau(opt, **kwargs)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
    for epoch, metric in enumerate(metrics):
        sched.step(metric)
        tsched.step(metric)
        _assert_lrs_equal(sched.get_last_lr(), tsched.get_last_lr(), f"ReduceLROnPlateau {kwargs} epoch {epoch}")
        assert (sched.num_bad_epochs, sched.cooldown_counter, sched.best) == \
            (tsched.num_bad_epochs, tsched.cooldown_counter, tsched.best), f"ReduceLROnPlateau {kwargs} epoch {epoch}"


def test_reduce_lr_on_plateau_rejects_bad_arguments():
    opt, _ = _two_group_optimizers()
    with pytest.raises(ValueError, match="Factor should be < 1.0"):
        fl_sched.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="mode foo is unknown"):
        fl_sched.ReduceLROnPlateau(opt, mode="foo")
    with pytest.raises(ValueError, match="expected 2 min_lrs"):
        fl_sched.ReduceLROnPlateau(opt, min_lr=[0.1])
