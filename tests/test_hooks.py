"""Module hooks against torch: forward pre hooks, forward hooks, full backward hooks and backward pre hooks
on every module of a small model (the container included) fire in torch's order with torch's tensors, with
and without an input that requires grad; replacements of inputs, outputs, grad_output and grad_input take
effect as in torch; handles remove hooks; prepend and with_kwargs; bad hook results raise."""
import numpy as np
import pytest
import torch

import fastlayers as fl
from fastlayers import nn


def _arr(value):
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        return value.detach().numpy()
    return value.detach().numpy()


def _record(model, events, names):
    """Registers every kind of hook on every named module; each appends (name, kind, arrays)."""
    for name, module in model.named_modules():
        tag = names(name)
        module.register_forward_pre_hook(lambda m, args, tag=tag: events.append((tag, "pre", [_arr(a) for a in args])))
        module.register_forward_hook(lambda m, args, out, tag=tag: events.append((tag, "fwd", [_arr(out)])))
        module.register_full_backward_pre_hook(
            lambda m, go, tag=tag: events.append((tag, "bwd_pre", [_arr(g) for g in go])))
        module.register_full_backward_hook(
            lambda m, gi, go, tag=tag: events.append((tag, "bwd", [_arr(g) for g in gi] + [_arr(g) for g in go])))


def _models():
    ours = nn.Sequential(nn.Linear(5, 4, dtype=np.float64), nn.ReLU(), nn.Linear(4, 3, dtype=np.float64))
    ref = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.ReLU(), torch.nn.Linear(4, 3)).double()
    ref.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    return ours, ref


def _compare_events(ours, ref):
    assert [(n, k) for n, k, _ in ours] == [(n, k) for n, k, _ in ref], "hook call order differs from torch"
    for (name, kind, a), (_, _, b) in zip(ours, ref):
        assert len(a) == len(b), f"{name} {kind}: {len(a)} tensors, torch {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            assert (x is None) == (y is None), f"{name} {kind} tensor {i}: None mismatch (ours {x is None})"
            if x is not None:
                np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-14, err_msg=f"{name} {kind} tensor {i}")


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")  # torch's note when no input requires grad
@pytest.mark.parametrize("input_requires_grad", [True, False])
def test_hooks_fire_in_torch_order_with_torch_tensors(input_requires_grad):
    ours, ref = _models()
    ev_ours, ev_ref = [], []
    _record(ours, ev_ours, lambda n: n or "model")
    _record(ref, ev_ref, lambda n: n or "model")
    x = np.random.default_rng(0).standard_normal((6, 5))
    tx = fl.Tensor(x, requires_grad=input_requires_grad)
    rx = torch.tensor(x, requires_grad=input_requires_grad)
    g = np.random.default_rng(1).standard_normal((6, 3))
    ours(tx).backward(fl.Tensor(g))
    ref(rx).backward(torch.tensor(g))
    assert len(ev_ref) == 4 * 4
    _compare_events(ev_ours, ev_ref)
    for p, q in zip(ours.parameters(), ref.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12)


def test_replacements_take_effect_as_in_torch():
    ours, ref = _models()
    x = np.random.default_rng(0).standard_normal((3, 5))
    results = []
    for model, wrap in ((ours, fl.Tensor), (ref, torch.tensor)):
        model[0].register_forward_pre_hook(lambda m, args: args[0] * 2)                 # one value, not a tuple
        model[1].register_forward_hook(lambda m, args, out: out + 1)
        model[2].register_full_backward_pre_hook(lambda m, go: (go[0] * 3,))
        model[0].register_full_backward_hook(lambda m, gi, go: (gi[0] * -1,))
        tx = wrap(x)
        tx.requires_grad_(True)
        y = model(tx)
        y.sum().backward()
        results.append([_arr(y), _arr(tx.grad)] + [_arr(p.grad) for p in model.parameters()])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


class _TwoInputs(nn.Module):
    def forward(self, a, scale, b):
        return a * scale + b * b, a - b


class _TorchTwoInputs(torch.nn.Module):
    def forward(self, a, scale, b):
        return a * scale + b * b, a - b


def test_backward_hook_with_several_inputs_and_outputs_matches_torch():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    events = []
    for module, wrap in ((_TwoInputs(), fl.Tensor), (_TorchTwoInputs(), torch.tensor)):
        seen = []
        module.register_full_backward_hook(lambda m, gi, go, seen=seen: seen.append(([_arr(g) for g in gi],
                                                                                     [_arr(g) for g in go])))
        ta, tb = wrap(a), wrap(b)
        ta.requires_grad_(True)  # b does not require grad: its grad_input entry is None
        y, z = module(ta, 2.0, tb)
        (y.sum() * 2 + (z * z).sum()).backward()
        events.append(seen)
    (ours,), (ref,) = events
    for x, y in zip(ours[0] + ours[1], ref[0] + ref[1]):
        assert (x is None) == (y is None)
        if x is not None:
            np.testing.assert_allclose(x, y, rtol=1e-12)
    # the float argument is None; b, a Tensor that does not require grad, gets zeros (torch's behaviour)
    assert len(ours[0]) == 3 and ours[0][1] is None and not ours[0][2].any()


def test_handles_remove_hooks_and_prepend_orders_them():
    m = nn.Linear(2, 2)
    calls = []
    h1 = m.register_forward_hook(lambda *a: calls.append("first"))
    h2 = m.register_forward_hook(lambda *a: calls.append("prepended"), prepend=True)
    hb = m.register_full_backward_hook(lambda *a: calls.append("backward"))
    x = fl.Tensor(np.ones((1, 2), np.float32), requires_grad=True)
    m(x).sum().backward()
    assert calls == ["prepended", "first", "backward"]
    h1.remove()
    h2.remove()
    hb.remove()
    h1.remove()  # removing twice is harmless, as in torch
    calls.clear()
    m(x).sum().backward()
    assert calls == []
    with m.register_forward_pre_hook(lambda *a: calls.append("ctx")):
        m(x)
    m(x)
    assert calls == ["ctx"]


def test_forward_hooks_with_kwargs():
    class Scale(nn.Module):
        def forward(self, x, factor=1.0):
            return x * factor

    m = Scale()
    seen = []
    m.register_forward_pre_hook(lambda mod, args, kwargs: (args, {"factor": kwargs["factor"] * 10}), with_kwargs=True)
    m.register_forward_hook(lambda mod, args, kwargs, out: seen.append(kwargs["factor"]), with_kwargs=True)
    y = m(fl.Tensor(np.ones(2)), factor=2.0)
    np.testing.assert_array_equal(y.numpy(), [20.0, 20.0])
    assert seen == [20.0]


def test_bad_hook_results_raise():
    m = nn.Linear(2, 2, dtype=np.float64)
    m.register_full_backward_hook(lambda mod, gi, go: (gi[0], gi[0]))
    x = fl.Tensor(np.ones((1, 2)), requires_grad=True)
    with pytest.raises(RuntimeError, match="invalid number of grad_input, got 2, but expected 1"):
        m(x).sum().backward()
    m2 = nn.Linear(2, 2, dtype=np.float64)
    m2.register_full_backward_hook(lambda mod, gi, go: (fl.Tensor(np.ones((1, 2))),))
    with pytest.raises(RuntimeError, match="no input requires gradient"):
        m2(fl.Tensor(np.ones((1, 2)))).sum().backward()


def test_no_hooks_under_no_grad_and_no_graph_cost():
    m = nn.Linear(2, 2, dtype=np.float64)
    calls = []
    m.register_full_backward_hook(lambda *a: calls.append(1))
    with fl.no_grad():
        y = m(fl.Tensor(np.ones((1, 2)), requires_grad=True))
    assert not y.requires_grad and calls == []


def test_module_called_twice_fires_its_hooks_per_call_as_torch():
    ours, ref = nn.Linear(3, 3, dtype=np.float64), torch.nn.Linear(3, 3).double()
    ref.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    events = []
    for module, wrap in ((ours, fl.Tensor), (ref, torch.tensor)):
        seen = []
        module.register_full_backward_hook(lambda m, gi, go, seen=seen: seen.append((_arr(gi[0]), _arr(go[0]))))
        module.register_forward_hook(lambda m, args, out, seen=seen: seen.append(("fwd", _arr(out))))
        x = wrap(np.arange(6.0).reshape(2, 3) / 7)
        x.requires_grad_(True)
        y = module(module(x) * 2)
        (y * y).sum().backward()
        events.append(seen)
    assert len(events[0]) == len(events[1]) == 4
    for a, b in zip(*events):
        for x, y in zip(a, b):
            if isinstance(x, str):
                assert x == y
            else:
                np.testing.assert_allclose(x, y, rtol=1e-12)


class _TwoOutputs(nn.Module):
    def forward(self, x):
        return x * 2, x * 3


class _TorchTwoOutputs(torch.nn.Module):
    def forward(self, x):
        return x * 2, x * 3


def test_an_output_unused_by_the_loss_reaches_the_hooks_as_none_like_torch():
    seen = {}
    for key, module, make in (("ours", _TwoOutputs(), lambda a: fl.Tensor(a, requires_grad=True)),
                              ("torch", _TorchTwoOutputs(), lambda a: torch.tensor(a, requires_grad=True))):
        events = seen[key] = []
        module.register_full_backward_pre_hook(lambda m, go, ev=events: ev.append(("m", "pre", [_arr(g) for g in go])))
        module.register_full_backward_hook(
            lambda m, gi, go, ev=events: ev.append(("m", "bwd", [_arr(g) for g in gi] + [_arr(g) for g in go])))
        x = make(np.arange(4.0))
        a, _ = module(x)  # the second output takes no part in the loss
        a.sum().backward()
    _compare_events(seen["ours"], seen["torch"])
    assert seen["ours"][0][2][1] is None, "the unused output's grad_output is not None"
