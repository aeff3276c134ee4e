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


# ---- Sequential / ModuleList / ModuleDict ----


def pair_modules(n):
    """n (ours, torch) pairs of small distinct modules."""
    return [(nn.Linear(2 + i, 3 + i), torch.nn.Linear(2 + i, 3 + i)) for i in range(n)]


def names(container):
    return [name for name, _ in container.named_children()]


def test_sequential_indexing_slicing_and_mutation_match_torch():
    pairs = pair_modules(5)
    ours = nn.Sequential(*[a for a, _ in pairs])
    ref = torch.nn.Sequential(*[b for _, b in pairs])
    assert len(ours) == len(ref) == 5
    assert ours[-1] is pairs[4][0] and ours[1] is pairs[1][0]
    assert [m for m in ours] == [a for a, _ in pairs]
    for sl in (slice(1, 4), slice(None, None, 2), slice(-2, None)):
        s, t = ours[sl], ref[sl]
        assert type(s) is nn.Sequential and names(s) == names(t)
    with pytest.raises(IndexError):
        ours[5]
    with pytest.raises(IndexError):
        ours[-6]
    del ours[1]
    del ref[1]
    assert names(ours) == names(ref) == ["0", "1", "2", "3"]
    extra = [(nn.Identity(), torch.nn.Identity()) for _ in range(3)]
    ours.insert(1, extra[0][0])
    ref.insert(1, extra[0][1])
    ours.append(extra[1][0])
    ref.append(extra[1][1])
    ours.insert(-1, extra[2][0])
    ref.insert(-1, extra[2][1])
    assert names(ours) == names(ref)
    assert [type(m).__name__ for m in ours] == [type(m).__name__ for m in ref]
    assert type(ours.pop(0)).__name__ == type(ref.pop(0)).__name__ and names(ours) == names(ref)
    ours[0] = nn.Flatten()
    ref[0] = torch.nn.Flatten()
    assert repr(ours) == repr(ref)
    both = ours + nn.Sequential(nn.Identity())
    assert len(both) == len(ours) + 1 and names(both) == [str(i) for i in range(len(both))]
    assert len(nn.Sequential(nn.Identity()) * 3) == 3
    ours += nn.Sequential(nn.Identity())
    ref += torch.nn.Sequential(torch.nn.Identity())
    assert names(ours) == names(ref)
    ours.extend([nn.Identity()])
    ref.extend([torch.nn.Identity()])
    assert repr(ours) == repr(ref)


def test_sequential_from_ordered_dict_keeps_names_and_runs_in_order():
    ours = nn.Sequential(OrderedDict([("fc", nn.Linear(4, 3, dtype=np.float64)), ("flat", nn.Flatten(0))]))
    ref = torch.nn.Sequential(OrderedDict([("fc", torch.nn.Linear(4, 3)), ("flat", torch.nn.Flatten(0))])).double()
    ref.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    assert repr(ours) == repr(ref) and list(ours.state_dict()) == list(ref.state_dict()) == ["fc.weight", "fc.bias"]
    assert ours.fc is ours[0]
    x = np.random.default_rng(0).standard_normal((2, 4))
    np.testing.assert_allclose(ours(fl.Tensor(x)).detach().numpy(), ref(torch.tensor(x)).detach().numpy(),
                               rtol=1e-12)


def test_module_list_matches_torch():
    pairs = pair_modules(4)
    ours = nn.ModuleList([a for a, _ in pairs[:2]])
    ref = torch.nn.ModuleList([b for _, b in pairs[:2]])
    ours.append(pairs[2][0])
    ref.append(pairs[2][1])
    ours.insert(0, pairs[3][0])
    ref.insert(0, pairs[3][1])
    assert names(ours) == names(ref) and len(ours) == len(ref) == 4
    assert ours[0] is pairs[3][0] and ours[-1] is pairs[2][0]
    assert [m for m in ours] == [pairs[3][0], pairs[0][0], pairs[1][0], pairs[2][0]]
    sl = ours[1:3]
    assert type(sl) is nn.ModuleList and names(sl) == names(ref[1:3]) == ["0", "1"]
    ours += [nn.Identity(), nn.Identity()]
    ref += [torch.nn.Identity(), torch.nn.Identity()]
    ours.extend([nn.Identity()])
    ref.extend([torch.nn.Identity()])
    assert repr(ours) == repr(ref)  # includes the "(4-6): 3 x Identity()" run
    del ours[2]
    del ref[2]
    assert names(ours) == names(ref)
    assert type(ours.pop(-1)).__name__ == type(ref.pop(-1)).__name__
    assert list(ours.state_dict()) == list(ref.state_dict())
    assert repr(nn.ModuleList()) == repr(torch.nn.ModuleList())
    assert type(ours + ours) is nn.ModuleList and len(ours + ours) == 2 * len(ours)
    with pytest.raises(IndexError):
        ours[len(ours)]
    with pytest.raises(NotImplementedError):
        ours(fl.Tensor(np.zeros(2)))


def test_module_dict_matches_torch():
    ours = nn.ModuleDict({"b": nn.Linear(2, 3), "a": nn.Identity()})
    ref = torch.nn.ModuleDict({"b": torch.nn.Linear(2, 3), "a": torch.nn.Identity()})
    assert list(ours.keys()) == list(ref.keys()) == ["b", "a"]
    ours.update([("c", nn.Flatten())])
    ref.update([("c", torch.nn.Flatten())])
    ours.update(OrderedDict(d=nn.Identity()))
    ref.update(OrderedDict(d=torch.nn.Identity()))
    ours["e"] = nn.Linear(1, 1)
    ref["e"] = torch.nn.Linear(1, 1)
    assert list(ours) == list(ref) and len(ours) == len(ref) == 5
    assert "c" in ours and "z" not in ours
    assert [type(m).__name__ for m in ours.values()] == [type(m).__name__ for m in ref.values()]
    assert [k for k, _ in ours.items()] == [k for k, _ in ref.items()]
    assert type(ours.pop("c")).__name__ == "Flatten" and "c" not in ours
    ref.pop("c")
    del ours["d"]
    del ref["d"]
    assert repr(ours) == repr(ref)
    assert list(ours.state_dict()) == list(ref.state_dict()) == ["b.weight", "b.bias", "e.weight", "e.bias"]
    with pytest.raises(ValueError, match="has length 3; 2 is required"):
        ours.update([("x", nn.Identity(), 1)])
    with pytest.raises(TypeError):
        ours.update(3)
    ours.clear()
    assert len(ours) == 0


class _Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(6, 6, dtype=np.float64), nn.Linear(6, 6, dtype=np.float64)])
        self.heads = nn.ModuleDict({"main": nn.Linear(6, 3, dtype=np.float64),
                                    "aux": nn.Sequential(nn.Linear(6, 2, dtype=np.float64), nn.Identity())})

    def forward(self, x):
        for layer in self.layers:
            x = nn.functional.tanh(layer(x))
        return self.heads["main"](x), self.heads["aux"](x)


class _TorchBlock(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = torch.nn.ModuleList([torch.nn.Linear(6, 6), torch.nn.Linear(6, 6)])
        self.heads = torch.nn.ModuleDict({"main": torch.nn.Linear(6, 3),
                                          "aux": torch.nn.Sequential(torch.nn.Linear(6, 2), torch.nn.Identity())})

    def forward(self, x):
        for layer in self.layers:
            x = layer(x).tanh()
        return self.heads["main"](x), self.heads["aux"](x)


def test_nested_containers_state_dict_keys_equal_torch_and_load_torch_weights():
    ours = nn.Sequential(nn.Flatten(), nn.Linear(12, 6, dtype=np.float64), _Block())
    ref = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 6), _TorchBlock()).double()
    assert list(ours.state_dict()) == list(ref.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in ref.named_parameters()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in ref.named_modules()]
    assert [tuple(v.shape) for v in ours.state_dict().values()] == [tuple(v.shape) for v in ref.state_dict().values()]
    ours.load_state_dict(ref.state_dict())  # torch tensors straight in
    x = np.random.default_rng(0).standard_normal((5, 3, 4))
    tx = fl.Tensor(x, requires_grad=True)
    main, aux = ours[2](ours[1](ours[0](tx)))
    rx = torch.tensor(x, requires_grad=True)
    rmain, raux = ref(rx)
    np.testing.assert_allclose(main.detach().numpy(), rmain.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(aux.detach().numpy(), raux.detach().numpy(), rtol=1e-12, atol=1e-14)
    (main.sum() + aux.sum()).backward()
    (rmain.sum() + raux.sum()).backward()
    np.testing.assert_allclose(tx.grad.numpy(), rx.grad.numpy(), rtol=1e-12, atol=1e-14)
    for (name, p), (_, q) in zip(ours.named_parameters(), ref.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12, atol=1e-14, err_msg=name)
