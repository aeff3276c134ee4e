"""nn.Conv2d / nn.Conv1d and the Module system against torch.nn: constructor arguments, parameter names,
shapes, default initialization, state_dict round trips both ways, padding modes, repr. Module behavior is also
checked on the GPU (`device`; skipped with "no CUDA device" where none is present); initialization (made on
the CPU, then moved) and constructor argument checks are device-free and run once."""
import numpy as np
import pytest
import torch

import fastlayers as fl
from fastlayers import nn
from conftest import check_module_with_torch_weights, grid_data, to_host

MODULE_ARGS = [
    (nn.Conv2d, torch.nn.Conv2d, dict(in_channels=3, out_channels=8, kernel_size=3)),
    (nn.Conv2d, torch.nn.Conv2d, dict(in_channels=4, out_channels=6, kernel_size=(3, 2), stride=2, padding=1,
                                      bias=False)),
    (nn.Conv2d, torch.nn.Conv2d, dict(in_channels=4, out_channels=4, kernel_size=3, groups=4, padding="same")),
    (nn.Conv2d, torch.nn.Conv2d, dict(in_channels=2, out_channels=3, kernel_size=4, padding="same", dilation=2)),
    (nn.Conv2d, torch.nn.Conv2d, dict(in_channels=2, out_channels=3, kernel_size=3, padding="valid")),
    (nn.Conv2d, torch.nn.Conv2d, dict(in_channels=3, out_channels=5, kernel_size=3, padding=2, dilation=(1, 2))),
    (nn.Conv1d, torch.nn.Conv1d, dict(in_channels=3, out_channels=4, kernel_size=5, stride=2, padding=2)),
    (nn.Conv1d, torch.nn.Conv1d, dict(in_channels=4, out_channels=4, kernel_size=2, groups=2, padding="same")),
] + [
    (nn.Conv2d, torch.nn.Conv2d, dict(in_channels=2, out_channels=3, kernel_size=3, padding=p, padding_mode=m))
    for m in ("reflect", "replicate", "circular") for p in (1, 2, "same")
] + [
    (nn.Conv1d, torch.nn.Conv1d, dict(in_channels=2, out_channels=3, kernel_size=3, padding=1, padding_mode=m))
    for m in ("reflect", "replicate", "circular")
]


def _ids(v):
    if isinstance(v, dict):
        return "-".join(f"{k}={v[k]}" for k in v if k not in ("in_channels", "out_channels"))
    return getattr(v, "__name__", None)


def _input_for(args, nd, dtype, rng):
    shape = (2, args["in_channels"]) + ((7, 9) if nd == 2 else (11,))
    return grid_data(rng, shape, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("ours_cls, torch_cls, args", MODULE_ARGS, ids=_ids)
def test_conv_module_matches_torch_with_loaded_weights(ours_cls, torch_cls, args, dtype, device):
    ref = torch_cls(**args).to(torch.float64 if dtype == np.float64 else torch.float32)
    ours = ours_cls(**args).to(dtype)
    rng = np.random.default_rng(0)
    x = _input_for(args, ours_cls is nn.Conv2d and 2 or 1, dtype, rng)
    check_module_with_torch_weights(ours, ref, x, args["in_channels"] * int(np.prod(ours.kernel_size)) * x.size, dtype,
                                    device)


@pytest.mark.parametrize("ours_cls, torch_cls, args", MODULE_ARGS, ids=_ids)
def test_conv_module_parameters_state_dict_and_repr_match_torch(ours_cls, torch_cls, args, device):
    ours, ref = ours_cls(**args, device=device), torch_cls(**args)
    assert [(n, tuple(p.shape)) for n, p in ours.named_parameters()] == \
           [(n, tuple(p.shape)) for n, p in ref.named_parameters()]
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == \
           {k: tuple(v.shape) for k, v in ref.state_dict().items()}
    assert repr(ours) == repr(ref)
    assert all(p.dtype == np.float32 and p.requires_grad for p in ours.parameters())
    assert all(p.device.split(":")[0] == device for p in ours.parameters())
    # Our weights load into torch too.
    ref.load_state_dict({k: torch.from_numpy(to_host(v).copy()) for k, v in ours.state_dict().items()})
    np.testing.assert_array_equal(ref.weight.detach().numpy(), to_host(ours.weight))


def test_conv_default_initialization_follows_torch_distribution():
    fl.manual_seed(0)
    conv = nn.Conv2d(16, 32, 3)
    bound = 1 / np.sqrt(16 * 9)  # kaiming_uniform_(a=sqrt(5)) gives U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    w, b = conv.weight.detach().numpy(), conv.bias.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    # A uniform on [-bound, bound] has standard deviation bound/sqrt(3); 4608 samples pin it within 3%.
    assert abs(w.std() / (bound / np.sqrt(3)) - 1) < 0.03, f"weight std {w.std()} vs {bound / np.sqrt(3)}"
    assert abs(w.mean()) < 0.05 * bound


def test_manual_seed_makes_initialization_reproducible():
    fl.manual_seed(123)
    a = nn.Conv2d(3, 4, 3).weight.detach().numpy()
    fl.manual_seed(123)
    b = nn.Conv2d(3, 4, 3).weight.detach().numpy()
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(in_channels=4, out_channels=6, kernel_size=3, groups=3), ValueError, ["in_channels", "divisible"]),
    (dict(in_channels=6, out_channels=4, kernel_size=3, groups=3), ValueError, ["out_channels", "divisible"]),
    (dict(in_channels=4, out_channels=4, kernel_size=3, groups=0), ValueError, ["groups", "positive"]),
    (dict(in_channels=4, out_channels=4, kernel_size=3, padding="full"), ValueError, ["padding", "full"]),
    (dict(in_channels=4, out_channels=4, kernel_size=3, stride=2, padding="same"), ValueError, ["same", "strided"]),
    (dict(in_channels=4, out_channels=4, kernel_size=3, padding_mode="mirror"), ValueError, ["padding_mode", "mirror"]),
])
def test_conv_module_bad_arguments_raise(kwargs, error, words):
    with pytest.raises(error) as info:
        nn.Conv2d(**kwargs)
    for word in words:
        assert word in str(info.value)


def test_sequential_indexing_children_train_eval_and_to(device):
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Conv2d(2, 3, 3))
    assert len(model) == 2 and isinstance(model[0], nn.Conv2d) and isinstance(model[-1], nn.Conv2d)
    assert len(model[1:]) == 1
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert len(list(model.children())) == 2 and len(list(model.modules())) == 3
    model.eval()
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    model.to(np.float64)
    assert all(p.dtype == np.float64 for p in model.parameters())
    assert model.to(device) is model and all(p.device.split(":")[0] == device for p in model.parameters())
    x = fl.randn(1, 1, 7, 7, dtype=fl.float64).to(device)
    assert model(x).shape == (1, 3, 3, 3)
    ref = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Conv2d(2, 3, 3))
    assert repr(model) == repr(ref)


def test_zero_grad_and_load_state_dict_strictness(device):
    conv = nn.Conv2d(2, 3, 3, device=device)
    conv(fl.randn(1, 2, 5, 5).to(device)).sum().backward()
    assert conv.weight.grad is not None
    conv.zero_grad()
    assert conv.weight.grad is None
    state = conv.state_dict()
    state.pop("bias")
    with pytest.raises(RuntimeError, match="Missing key"):
        conv.load_state_dict(state)
    missing, unexpected = conv.load_state_dict(state, strict=False)
    assert missing == ["bias"] and unexpected == []
    with pytest.raises(RuntimeError, match="size mismatch for weight"):
        conv.load_state_dict({"weight": np.zeros((3, 2, 2, 2)), "bias": np.zeros(3)})
