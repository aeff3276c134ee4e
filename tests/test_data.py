"""fastlayers.utils.data (Dataset, TensorDataset, DataLoader, random_split, default_collate) and
fastlayers.nn.utils gradient clipping against torch's on the same gradients."""
import math

import numpy as np
import pytest
import torch

import fastlayers as fl
from fastlayers.utils.data import DataLoader, Dataset, Subset, TensorDataset, default_collate, random_split


def _dataset(n=10):
    x = fl.tensor(np.arange(n * 3, dtype=np.float32).reshape(n, 3))
    y = fl.tensor(np.arange(n, dtype=np.int64))
    return TensorDataset(x, y)


@pytest.mark.parametrize("n,batch_size,drop_last", [(10, 3, False), (10, 3, True), (10, 5, False), (10, 5, True),
                                                    (7, 1, False), (4, 10, False), (4, 10, True)])
def test_dataloader_batches_in_order_and_len_counts_them(n, batch_size, drop_last):
    loader = DataLoader(_dataset(n), batch_size=batch_size, drop_last=drop_last)
    batches = list(loader)
    expected = n // batch_size if drop_last else math.ceil(n / batch_size)
    assert len(loader) == expected == len(batches), f"n={n} bs={batch_size} drop_last={drop_last}: len {len(loader)}, {len(batches)} batches, expected {expected}"
    seen = []
    for i, (x, y) in enumerate(batches):
        assert isinstance(x, fl.Tensor) and isinstance(y, fl.Tensor)
        size = min(batch_size, n - i * batch_size)
        assert x.shape == (size, 3) and y.shape == (size,) and x.dtype == np.float32 and y.dtype == np.int64
        np.testing.assert_array_equal(x.data[:, 0], y.data * 3)
        seen.extend(y.data.tolist())
    assert seen == list(range(len(seen)))


def test_dataloader_shuffle_covers_every_index_once_per_epoch_and_is_reproducible_with_manual_seed():
    loader = DataLoader(_dataset(23), batch_size=4, shuffle=True)

    def epoch():
        return [i for _, y in loader for i in y.data.tolist()]

    fl.manual_seed(5)
    first, second = epoch(), epoch()
    assert sorted(first) == sorted(second) == list(range(23)), "a shuffled epoch missed or repeated an index"
    assert first != second and first != list(range(23)), "epochs were not reshuffled"
    fl.manual_seed(5)
    assert epoch() == first and epoch() == second, "manual_seed did not reproduce the epochs"


def test_dataloader_uses_the_given_generator():
    orders = [[i for _, y in DataLoader(_dataset(12), batch_size=5, shuffle=True,
                                        generator=np.random.default_rng(3)) for i in y.data.tolist()]
              for _ in range(2)]
    assert orders[0] == orders[1] and sorted(orders[0]) == list(range(12))


class _Mixed(Dataset):
    def __len__(self):
        return 5

    def __getitem__(self, i):
        return {"x": np.full((2,), i, dtype=np.float64), "n": i, "f": i / 2, "pair": (i, fl.tensor([i, -i])),
                "name": f"s{i}"}


def test_default_collate_recurses_into_dicts_tuples_and_numbers_like_torch():
    batch = next(iter(DataLoader(_Mixed(), batch_size=3)))
    assert batch["x"].shape == (3, 2) and batch["x"].dtype == np.float64
    assert batch["n"].dtype == np.int64 and batch["n"].data.tolist() == [0, 1, 2]
    assert batch["f"].dtype == np.float64 and batch["f"].data.tolist() == [0.0, 0.5, 1.0]
    assert isinstance(batch["pair"], list) and batch["pair"][0].data.tolist() == [0, 1, 2]
    assert batch["pair"][1].data.tolist() == [[0, 0], [1, -1], [2, -2]]
    assert batch["name"] == ["s0", "s1", "s2"]
    # same structure and values as torch's default_collate on the same samples
    tbatch = torch.utils.data.default_collate([{"n": i, "f": i / 2, "pair": (i, i + 1)} for i in range(3)])
    ours = default_collate([{"n": i, "f": i / 2, "pair": (i, i + 1)} for i in range(3)])
    assert ours["n"].data.tolist() == tbatch["n"].tolist() and str(tbatch["n"].dtype) == "torch.int64"
    assert ours["f"].data.tolist() == tbatch["f"].tolist() and str(tbatch["f"].dtype) == "torch.float64"
    assert type(ours["pair"]) is type(tbatch["pair"]) and [t.data.tolist() for t in ours["pair"]] == [t.tolist() for t in tbatch["pair"]]


def test_dataloader_custom_collate_fn_and_unbatched_mode():
    loader = DataLoader(_dataset(5), batch_size=2, collate_fn=lambda samples: len(samples))
    assert list(loader) == [2, 2, 1]
    samples = list(DataLoader(_dataset(3), batch_size=None))
    assert len(samples) == 3 and samples[1][1].item() == 1
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        DataLoader(_dataset(3), batch_size=0)


def test_tensor_dataset_indexes_every_tensor_and_rejects_mismatched_first_dims():
    ds = _dataset(4)
    x, y = ds[2]
    assert len(ds) == 4 and x.data.tolist() == [6.0, 7.0, 8.0] and y.item() == 2
    with pytest.raises(ValueError, match="Size mismatch between tensors"):
        TensorDataset(fl.zeros(3, 2), fl.zeros(4))
    with pytest.raises(TypeError):
        TensorDataset(np.zeros(3))


@pytest.mark.parametrize("lengths,expected", [([3, 7], [3, 7]), ([0.3, 0.7], [3, 7]), ([0.5, 0.25, 0.25], [6, 3, 2]),
                                              ([1 / 3, 1 / 3, 1 / 3], [4, 4, 3])])
def test_random_split_sizes_match_torch_and_subsets_are_disjoint_and_cover_the_dataset(lengths, expected):
    n = sum(expected)
    ds = _dataset(n)
    torch_sizes = [len(s) for s in torch.utils.data.random_split(range(n), lengths)]
    subsets = random_split(ds, lengths)
    sizes = [len(s) for s in subsets]
    assert sizes == expected == torch_sizes, f"random_split({lengths}) sizes {sizes}, torch {torch_sizes}"
    assert all(isinstance(s, Subset) for s in subsets)
    indices = [s[i][1].item() for s in subsets for i in range(len(s))]
    assert sorted(indices) == list(range(n)), f"random_split({lengths}) subsets overlap or miss items"


def test_random_split_is_reproducible_and_rejects_wrong_lengths():
    fl.manual_seed(9)
    a = [s.indices for s in random_split(range(20), [5, 15])]
    fl.manual_seed(9)
    b = [s.indices for s in random_split(range(20), [5, 15])]
    c = [s.indices for s in random_split(range(20), [5, 15], generator=np.random.default_rng(1))]
    assert a == b and sorted(c[0] + c[1]) == list(range(20))
    with pytest.raises(ValueError, match="Sum of input lengths does not equal"):
        random_split(range(10), [3, 8])
    with pytest.raises(ValueError, match="Fraction at index 1 is not between 0 and 1"):
        random_split(range(10), [0.5, 1.5, -1.0])


# ---------------------------------------------------------------------------------------------------
# Gradient clipping

def _grads_pair(dtype=np.float64, scale=1.0, seed=0):
    rng = np.random.default_rng(seed)
    shapes = [(4, 3), (5,), (2, 2, 2)]
    arrays = [scale * rng.standard_normal(shape).astype(dtype) for shape in shapes]
    ours, theirs = [], []
    for g in arrays:
        p = fl.nn.Parameter(np.zeros(g.shape, dtype=dtype))
        p.grad = fl.Tensor(g.copy())
        q = torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64 if dtype == np.float64 else torch.float32))
        q.grad = torch.from_numpy(g.copy())
        ours.append(p)
        theirs.append(q)
    return ours, theirs


def _assert_close(ours, theirs, rtol, what):
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    err = np.abs(ours - theirs).max()
    assert err <= rtol * (np.abs(theirs).max() + 1e-30), f"{what}: largest error {err:.3g}"


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf, "inf", 0.5])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    ours, theirs = _grads_pair()
    total = fl.nn.utils.clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    what = f"clip_grad_norm_(max_norm={max_norm}, norm_type={norm_type})"
    assert isinstance(total, fl.Tensor) and total.shape == () and total.dtype == np.float64
    _assert_close(total.data, ttotal.numpy(), 1e-13, what + " total norm")
    for i, (p, q) in enumerate(zip(ours, theirs)):
        _assert_close(p.grad.data, q.grad.numpy(), 1e-13, f"{what} grad {i}")


def test_clip_grad_norm_float32_single_tensor_and_no_grads():
    ours, theirs = _grads_pair(np.float32, scale=10.0)
    total = fl.nn.utils.clip_grad_norm_(ours[0], 1.0)
    ttotal = torch.nn.utils.clip_grad_norm_(theirs[0], 1.0)
    assert total.dtype == np.float32
    _assert_close(total.data, ttotal.numpy(), 1e-6, "clip_grad_norm_ float32 total")
    _assert_close(ours[0].grad.data, theirs[0].grad.numpy(), 1e-6, "clip_grad_norm_ float32 grad")
    assert fl.nn.utils.clip_grad_norm_([fl.nn.Parameter(np.zeros(2))], 1.0).item() == 0.0


def test_clip_grad_norm_error_if_nonfinite():
    ours, _ = _grads_pair()
    ours[1].grad.data[0] = np.inf
    with pytest.raises(RuntimeError, match="non-finite"):
        fl.nn.utils.clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
    assert math.isinf(fl.nn.utils.clip_grad_norm_(ours, 1.0).item())


def test_clip_grad_value_matches_torch():
    ours, theirs = _grads_pair(scale=2.0)
    assert fl.nn.utils.clip_grad_value_(ours, 0.75) is None
    torch.nn.utils.clip_grad_value_(theirs, 0.75)
    for i, (p, q) in enumerate(zip(ours, theirs)):
        np.testing.assert_array_equal(p.grad.data, q.grad.numpy(), err_msg=f"clip_grad_value_(0.75) grad {i}")
        assert np.abs(p.grad.data).max() <= 0.75


def test_clipping_a_backward_gradient_works():
    p = fl.nn.Parameter(np.array([3.0, 4.0]))
    (p * p).sum().backward()  # grad [6, 8], norm 10
    total = fl.nn.utils.clip_grad_norm_([p], 5.0)
    assert total.item() == 10.0
    np.testing.assert_allclose(p.grad.data, [3.0, 4.0], rtol=1e-6)
