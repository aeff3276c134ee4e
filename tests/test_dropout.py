"""dropout / dropout2d and nn.Dropout / nn.Dropout2d: statistics (fraction zeroed, scaling), gradient
through the same mask, eval is the identity, reproducibility with manual_seed, in-place, errors, reprs. Each
behavior is checked on every device (`device`; cuda skipped with "no CUDA device" where none is present): the
GPU draws its mask with the counter-based kernel, the CPU with fastlayers' generator."""
import numpy as np
import pytest
import torch

import fastlayers as fl
from fastlayers import nn
from fastlayers.nn import functional as F
from conftest import assert_close, to_device, to_host


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_statistics_scaling_and_gradient(p, dtype, device):
    fl.manual_seed(0)
    x = fl.tensor(to_device(np.full((200, 500), 2.0, dtype=dtype), device), requires_grad=True)
    y = F.dropout(x, p)
    assert y.dtype == dtype and y.device.split(":")[0] == device
    out = to_host(y)
    kept = out != 0
    frac_zero = 1 - kept.mean()
    assert abs(frac_zero - p) < 4 * np.sqrt(p * (1 - p) / out.size), f"p={p} on {device}: zeroed {frac_zero}"
    assert_close(out[kept], np.full(kept.sum(), 2.0 / (1 - p)), "dropout", f"p={p} scale on {device}", dtype=dtype)
    g = np.arange(out.size, dtype=dtype).reshape(out.shape) % 7
    y.backward(fl.tensor(to_device(g, device)))
    assert_close(to_host(x.grad), np.where(kept, g / (1 - p), 0), "dropout grad", f"p={p} on {device}", dtype=dtype)


def test_dropout2d_zeroes_whole_channels(device):
    fl.manual_seed(1)
    x = fl.tensor(to_device(np.ones((8, 64, 3, 5)), device), requires_grad=True)
    y = to_host(F.dropout2d(x, 0.5))
    per_channel = y.reshape(8, 64, -1)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2.0).all(-1))
    assert 0.3 < (per_channel[..., 0] == 0).mean() < 0.7
    with pytest.warns(UserWarning, match="3D input"):
        y3 = to_host(F.dropout2d(fl.tensor(to_device(np.ones((4, 16, 7)), device)), 0.5))
    assert np.all((y3 == 0).all(-1) | (y3 == 2.0).all(-1))  # (N, C, L): whole rows of L, like torch
    with pytest.raises(ValueError, match="3-D"):
        F.dropout2d(fl.zeros(4, 5).to(device), 0.5)


def test_dropout_eval_p0_p1_identity_and_reproducible(device):
    x = fl.tensor(to_device(np.arange(12.0).reshape(3, 4), device))
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    assert np.all(to_host(F.dropout(x, 1.0)) == 0)
    fl.manual_seed(123)
    a = to_host(F.dropout(fl.ones(1000).to(device), 0.3))
    fl.manual_seed(123)
    b = to_host(F.dropout(fl.ones(1000).to(device), 0.3))
    c = to_host(F.dropout(fl.ones(1000).to(device), 0.3))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    m = nn.Dropout(0.4)
    m.eval()
    assert m(x) is x
    m.train()
    assert (to_host(m(fl.ones(1000).to(device))) == 0).any()


def test_dropout_inplace(device):
    fl.manual_seed(2)
    x = fl.ones(50, 40).to(device)
    array = x.data
    out = F.dropout(x, 0.5, inplace=True)
    assert out is x and x.data is array and set(np.unique(to_host(array))) <= {0.0, 2.0}
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        F.dropout(fl.ones(3).to(device).requires_grad_(), 0.5, inplace=True)
    t = fl.ones(30).to(device).requires_grad_()
    h = t * 1.0
    F.dropout(h, 0.5, inplace=True)
    h.sum().backward()
    assert_close(to_host(t.grad), to_host(h), "dropout inplace grad", f"non-leaf on {device}", dtype=np.float32)


@pytest.mark.parametrize("name,kwargs", [("Dropout", {}), ("Dropout", dict(p=0.2, inplace=True)),
                                         ("Dropout2d", {}), ("Dropout2d", dict(p=0.7))])
def test_dropout_modules_match_torch(name, kwargs):
    ours, theirs = getattr(nn, name)(**kwargs), getattr(torch.nn, name)(**kwargs)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == []


@pytest.mark.parametrize("p", [-0.1, 1.5, "0.5"])
def test_dropout_bad_p(p, device):
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got"):
        F.dropout(fl.ones(3).to(device), p)
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got"):
        nn.Dropout2d(p)
    if not isinstance(p, str):
        with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got"):
            torch.nn.functional.dropout(torch.ones(3), p)
