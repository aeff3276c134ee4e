"""Containers and shape modules against torch: Flatten / Unflatten / Identity (forward, gradient, repr),
Sequential / ModuleList / ModuleDict (indexing, slicing, mutation, iteration, repr), state_dict keys of nested
containers equal torch's, and torch's state_dict loaded into ours gives the same outputs."""
from collections import OrderedDict

import numpy as np
import pytest
import torch

import fastlayers as fl
from fastlayers import nn
from conftest import grid_data


# ---- Flatten / Unflatten / Identity ----

FLATTEN_CASES = [((2, 3, 4, 5), dict()), ((2, 3, 4, 5), dict(start_dim=0)), ((2, 3, 4, 5), dict(start_dim=2)),
                 ((2, 3, 4, 5), dict(start_dim=1, end_dim=2)), ((2, 3, 4, 5), dict(start_dim=-3, end_dim=-2)),
                 ((6, 1), dict()), ((3, 4), dict(start_dim=1))]


@pytest.mark.parametrize("shape,kw", FLATTEN_CASES, ids=lambda c: str(c))
def test_flatten_matches_torch(shape, kw):
    x = grid_data(np.random.default_rng(0), shape, np.float64)
    ours, ref = nn.Flatten(**kw), torch.nn.Flatten(**kw)
    assert repr(ours) == repr(ref)
    tx = fl.Tensor(x, requires_grad=True)
    y = ours(tx)
    r = ref(torch.tensor(x))
    assert y.shape == tuple(r.shape)
    np.testing.assert_array_equal(y.detach().numpy(), r.numpy())
    y.backward(fl.Tensor(np.arange(y.data.size, dtype=np.float64).reshape(y.shape)))
    np.testing.assert_array_equal(tx.grad.numpy(), np.arange(x.size, dtype=np.float64).reshape(shape))


UNFLATTEN_CASES = [((2, 12), 1, (3, 4)), ((2, 12, 5), 1, [2, 2, 3]), ((2, 12), -1, (4, -1)), ((6,), 0, (2, 3)),
                   ((2, 3, 8), -1, (2, 2, 2))]


@pytest.mark.parametrize("shape,dim,sizes", UNFLATTEN_CASES, ids=lambda c: str(c))
def test_unflatten_matches_torch(shape, dim, sizes):
    x = grid_data(np.random.default_rng(0), shape, np.float64)
    ours, ref = nn.Unflatten(dim, sizes), torch.nn.Unflatten(dim, sizes)
    assert repr(ours) == repr(ref)
    y = ours(fl.Tensor(x))
    np.testing.assert_array_equal(y.numpy(), ref(torch.tensor(x)).numpy())


def test_unflatten_bad_sizes_raise_like_torch():
    x = fl.Tensor(np.zeros((2, 12)))
    with pytest.raises(RuntimeError, match="don't multiply up to the size of dim 1"):
        nn.Unflatten(1, (5, 2))(x)
    with pytest.raises(RuntimeError):
        nn.Unflatten(1, (-1, -1))(x)
    with pytest.raises(IndexError, match="Dimension out of range"):
        nn.Unflatten(2, (3, 4))(x)
    with pytest.raises(TypeError, match="unflattened_size must be tuple of ints"):
        nn.Unflatten(1, 12)


def test_identity_passes_its_input_and_gradient():
    assert repr(nn.Identity(54, unused="x")) == repr(torch.nn.Identity(54, unused="x"))
    t = fl.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    y = nn.Identity()(t)
    assert y is t
    (y * 2).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), np.full((2, 3), 2.0))
