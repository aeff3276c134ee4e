"""Tensor basics: creation and dtypes, seeding, conversions, repr, indexing and in-place updates."""
import sys

import numpy as np
import pytest
import torch  # the oracle: without it these tests must fail, never skip

import fastlayers as fl
from fastlayers.random import default_generator

# ---------------------------------------------------------------------------------------------------
# dtypes and creation


@pytest.mark.parametrize("data, dtype", [
    (1.5, fl.float32), ([1.0, 2.0], fl.float32), ([[1, 2], [3, 4.5]], fl.float32), ([], fl.float32),
    (3, fl.int64), ([1, 2, 3], fl.int64),
    (True, fl.bool), ([True, False], fl.bool),
    (np.arange(3.0), fl.float64), (np.arange(3, dtype=np.int32), fl.int32), (np.float64(2.0), fl.float64),
    (np.zeros(2, np.float16), fl.float16), (np.array([True]), fl.bool),
], ids=["float", "float-list", "mixed-nested-list", "empty-list", "int", "int-list", "bool", "bool-list",
        "ndarray-float64", "ndarray-int32", "numpy-scalar-float64", "ndarray-float16", "ndarray-bool"])
def test_tensor_infers_dtype_like_torch(data, dtype):
    t = fl.tensor(data)
    assert t.dtype == dtype
    assert t.dtype == torch.tensor(data).numpy().dtype  # the same rule as torch's


@pytest.mark.parametrize("dtype", [fl.float64, "float64", np.float64])
def test_tensor_dtype_argument_overrides_inference(dtype):
    assert fl.tensor([1, 2], dtype=dtype).dtype == fl.float64


def test_dtype_constants_are_numpy_dtypes():
    assert fl.float32 == np.float32 and fl.float64 == np.dtype("float64") and fl.int64 == np.int64
    assert fl.bool == np.dtype(bool) and fl.int32 == np.int32
    assert isinstance(fl.float32, np.dtype)


def test_tensor_copies_its_data():
    source = np.array([1.0, 2.0])
    t = fl.tensor(source)
    source[0] = 9
    assert t.tolist() == [1.0, 2.0]
    x = fl.tensor([1.0, 2.0], requires_grad=True)
    y = fl.tensor(x)
    assert not y.requires_grad and not np.shares_memory(x.data, y.data)


def test_from_numpy_shares_memory_both_ways():
    array = np.array([[1.0, 2.0], [3.0, 4.0]])
    t = fl.from_numpy(array)
    assert t.dtype == fl.float64
    array[0, 0] = 10
    assert t[0, 0].item() == 10
    t.data[1, 1] = -1
    assert array[1, 1] == -1
    assert t.numpy() is array
    with pytest.raises(TypeError, match="numpy.ndarray"):
        fl.from_numpy([1.0, 2.0])


def test_tensor_constructor_wraps_an_array_without_copying():
    array = np.ones(3, np.float32)
    t = fl.Tensor(array, requires_grad=True)
    assert t.data is array and t.requires_grad and t.is_leaf


@pytest.mark.parametrize("factory, fill", [(fl.zeros, 0), (fl.ones, 1)])
def test_zeros_and_ones_take_sizes_as_varargs_tuple_or_list(factory, fill):
    for t in (factory(2, 3), factory((2, 3)), factory([2, 3])):
        assert t.shape == (2, 3) and t.dtype == fl.float32 and not t.requires_grad
        assert (t.numpy() == fill).all()
    assert factory().shape == ()
    assert factory(4, dtype=fl.int64).dtype == fl.int64
    assert factory(2, requires_grad=True).requires_grad


def test_empty_and_full():
    assert fl.empty(3, 2).shape == (3, 2) and fl.empty(3, 2).dtype == fl.float32
    assert fl.full((2, 2), 1.5).dtype == fl.float32
    assert fl.full((2,), 7).dtype == fl.int64 and fl.full((2,), 7).tolist() == [7, 7]
    assert fl.full(3, True).dtype == fl.bool
    assert fl.full((2,), 7, dtype=fl.float64).dtype == fl.float64


def test_arange():
    assert fl.arange(4).tolist() == [0, 1, 2, 3] and fl.arange(4).dtype == fl.int64
    assert fl.arange(1, 2, 0.5).tolist() == [1.0, 1.5] and fl.arange(1, 2, 0.5).dtype == fl.float32


def test_like_factories_keep_shape_and_dtype():
    base = fl.tensor(np.zeros((2, 3), np.float64))
    for factory in (fl.zeros_like, fl.ones_like, fl.empty_like, fl.randn_like, fl.rand_like):
        made = factory(base)
        assert made.shape == (2, 3) and made.dtype == fl.float64, factory.__name__
    assert fl.zeros_like(base, dtype=fl.float32).dtype == fl.float32
    assert fl.full_like(base, 2).tolist() == [[2.0] * 3] * 2
    assert fl.ones_like(base, requires_grad=True).requires_grad


def test_sizes_must_be_integers():
    with pytest.raises(TypeError, match="ints"):
        fl.zeros(2.5)


# ---------------------------------------------------------------------------------------------------
# Random numbers


def test_manual_seed_makes_randn_and_rand_reproducible():
    fl.manual_seed(123)
    first = (fl.randn(3, 4), fl.rand(5), fl.randn_like(fl.zeros(2, dtype=fl.float64)))
    fl.manual_seed(123)
    second = (fl.randn(3, 4), fl.rand(5), fl.randn_like(fl.zeros(2, dtype=fl.float64)))
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    fl.manual_seed(124)
    assert not np.array_equal(fl.randn(3, 4).numpy(), first[0].numpy())


def test_manual_seed_reseeds_the_generator_other_modules_hold():
    held = default_generator()
    fl.manual_seed(7)
    expected = held.standard_normal(3)
    fl.manual_seed(7)
    assert default_generator() is held
    np.testing.assert_array_equal(held.standard_normal(3), expected)


def test_seed_returns_a_seed_that_reproduces_the_stream():
    chosen = fl.seed()
    assert isinstance(chosen, int) and chosen >= 0
    draws = fl.randn(4).numpy()
    fl.manual_seed(chosen)
    np.testing.assert_array_equal(fl.randn(4).numpy(), draws)


def test_random_factories_dtypes_and_ranges():
    fl.manual_seed(0)
    assert fl.randn(2).dtype == fl.float32 and fl.randn(2, dtype=fl.float64).dtype == fl.float64
    assert fl.randn(2, dtype=fl.float16).dtype == fl.float16
    uniform = fl.rand(1000).numpy()
    assert uniform.min() >= 0 and uniform.max() < 1
    normal = fl.randn(10000, dtype=fl.float64).numpy()
    assert abs(normal.mean()) < 0.05 and abs(normal.std() - 1) < 0.05
    assert fl.randn(3, requires_grad=True).requires_grad
    with pytest.raises(TypeError, match="floating point"):
        fl.randn(2, dtype=fl.int64)
    with pytest.raises(ValueError, match="non-negative"):
        fl.manual_seed(-1)


def test_randn_accepts_its_own_generator():
    a = fl.randn(3, generator=np.random.default_rng(5)).numpy()
    b = fl.randn(3, generator=np.random.default_rng(5)).numpy()
    np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------------------------
# Attributes and conversions


def test_shape_attributes():
    t = fl.zeros(2, 3, 4)
    assert t.shape == (2, 3, 4) and isinstance(t.shape, tuple)
    assert t.ndim == 3 and t.dim() == 3 and t.numel() == 24
    assert t.size() == (2, 3, 4) and t.size(1) == 3 and t.size(-1) == 4
    assert t.device == "cpu" and t.is_contiguous() and len(t) == 2
    with pytest.raises(IndexError, match=r"range of \[-3, 2\], but got 3"):
        t.size(3)
    with pytest.raises(IndexError):
        fl.tensor(1.0).size(0)


@pytest.mark.parametrize("make, expected", [
    (lambda: fl.tensor([1.0, 2.5]), "tensor([1. , 2.5])"),
    (lambda: fl.tensor([1, 2]), "tensor([1, 2])"),
    (lambda: fl.tensor([True, False]), "tensor([ True, False])"),
    (lambda: fl.tensor(3.5), "tensor(3.5)"),
    (lambda: fl.tensor(np.array([1.0, 2.0])), "tensor([1., 2.], dtype=fastlayers.float64)"),
    (lambda: fl.tensor([1, 2], dtype=fl.int32), "tensor([1, 2], dtype=fastlayers.int32)"),
    (lambda: fl.tensor([1.0, 2.0], requires_grad=True), "tensor([1., 2.], requires_grad=True)"),
    (lambda: fl.tensor([1.0, 2.0], requires_grad=True) * 2, "tensor([2., 4.], grad_fn=<MulBackward>)"),
    (lambda: fl.zeros(2, 2), "tensor([[0., 0.],\n        [0., 0.]])"),
], ids=["float32", "int64", "bool", "0d", "float64", "int32", "requires-grad", "grad-fn", "2d"])
def test_repr_looks_like_torch(make, expected):
    assert repr(make()) == expected


def test_item_tolist_and_python_conversions():
    t = fl.tensor([[1.5, 2.0]])
    assert t.tolist() == [[1.5, 2.0]]
    assert fl.tensor([2.5]).item() == 2.5 and isinstance(fl.tensor([2.5]).item(), float)
    assert fl.tensor(3).item() == 3 and isinstance(fl.tensor(3).item(), int)
    with pytest.raises(RuntimeError, match="2 elements cannot be converted to Scalar"):
        t.item()
    assert float(fl.tensor(2.5)) == 2.5 and int(fl.tensor(7)) == 7 and bool(fl.tensor([True]))
    assert [10, 20, 30][fl.tensor(1)] == 20
    with pytest.raises(TypeError):
        [1, 2][fl.tensor(1.0)]
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(t)
    assert f"{fl.tensor(1.23456):.2f}" == "1.23"
    assert fl.tensor([1.0], requires_grad=True).item() == 1.0  # item() is allowed on tensors that need grad


def test_numpy_shares_memory_and_refuses_tensors_that_require_grad():
    t = fl.tensor([1.0, 2.0])
    t.numpy()[0] = 5
    assert t.tolist() == [5.0, 2.0]
    x = fl.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="detach"):
        x.numpy()
    assert x.detach().numpy().tolist() == [1.0]


def test_numpy_can_consume_tensors_through_array_protocol():
    t = fl.tensor([1.0, 2.0])
    assert np.shares_memory(np.asarray(t), t.data)
    copied = np.array(t, copy=True)
    assert not np.shares_memory(copied, t.data) and copied.tolist() == [1.0, 2.0]
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    with pytest.raises(ValueError, match="requires a copy"):
        np.asarray(t, dtype=np.float64, copy=False)
    with pytest.raises(RuntimeError, match="requires grad"):
        np.asarray(fl.tensor([1.0], requires_grad=True))


def test_len_and_iteration():
    t = fl.tensor([[1, 2], [3, 4], [5, 6]])
    assert len(t) == 3
    assert [row.tolist() for row in t] == [[1, 2], [3, 4], [5, 6]]
    with pytest.raises(TypeError):
        len(fl.tensor(1.0))
    with pytest.raises(TypeError):
        iter(fl.tensor(1.0))


def test_tensors_are_hashable_by_identity():
    a, b = fl.tensor([1.0]), fl.tensor([1.0])
    assert len({a, b}) == 2 and {a: 1}[a] == 1


def test_to_and_dtype_shortcuts():
    t = fl.tensor([1.5, -2.5])
    assert t.to(fl.float32) is t and t.to("cpu") is t and t.cpu() is t
    copied = t.to(fl.float32, copy=True)
    assert copied is not t and not np.shares_memory(copied.data, t.data)
    assert t.to(fl.tensor([1], dtype=fl.int32)).dtype == fl.int32
    assert t.to("cpu", fl.float64).dtype == fl.float64
    assert t.double().dtype == fl.float64 and t.double().float().dtype == fl.float32
    assert t.half().dtype == fl.float16 and t.long().tolist() == [1, -2] and t.int().dtype == fl.int32
    assert t.bool().tolist() == [True, True]
    if fl.cuda.is_available():  # ---- cuda ----: a device move where a GPU exists, a clear error where not
        assert t.to("cuda").device.startswith("cuda")
    else:
        with pytest.raises(RuntimeError, match="cuda"):
            t.to("cuda")


def test_clone_copies_and_detach_shares():
    t = fl.tensor([1.0, 2.0])
    assert not np.shares_memory(t.clone().data, t.data)
    assert np.shares_memory(t.detach().data, t.data)


def test_contiguous_returns_self_when_already_contiguous():
    t = fl.zeros(2, 3)
    assert t.contiguous() is t
    transposed = t.t()
    assert not transposed.is_contiguous() and transposed.contiguous().is_contiguous()


def test_comparisons_and_logic_return_bool_tensors_outside_the_graph():
    x = fl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for result, expected in [(x > 1.5, [False, True, True]), (x >= 2, [False, True, True]),
                             (x < 2, [True, False, False]), (x <= 2, [True, True, False]),
                             (x == 2, [False, True, False]), (x != 2, [True, False, True]),
                             ((x > 1) & (x < 3), [False, True, False]), ((x < 2) | (x > 2), [True, False, True]),
                             (~(x > 1), [True, False, False]), ((x > 1) ^ (x > 2), [False, True, False]),
                             (x == fl.tensor([1.0, 0.0, 3.0]), [True, False, True])]:
        assert result.dtype == fl.bool and not result.requires_grad and result.grad_fn is None
        assert result.tolist() == expected


@pytest.mark.parametrize("dim, keepdim", [(None, False), (None, True), (0, False), (1, True), (-1, False)])
def test_argmax_and_argmin_match_numpy(dim, keepdim):
    data = np.random.default_rng(0).standard_normal((3, 4))
    t = fl.tensor(data)
    for method in ("argmax", "argmin"):
        result = getattr(t, method)(dim, keepdim=keepdim)
        expected = getattr(torch.tensor(data), method)(dim, keepdim=keepdim).numpy()
        assert result.dtype == fl.int64
        np.testing.assert_array_equal(result.numpy(), expected, err_msg=f"{method}(dim={dim}, keepdim={keepdim})")


# ---------------------------------------------------------------------------------------------------
# Indexing

INDEX_KEYS = [
    ("int", lambda t: 1), ("negative-int", lambda t: -1), ("int-pair", lambda t: (1, 2)), ("slice", lambda t: slice(1, 3)),
    ("step-slices", lambda t: (slice(None, None, 2), slice(1, None))), ("ellipsis", lambda t: (Ellipsis, 1)),
    ("none", lambda t: (None, 0)), ("list", lambda t: [0, 2, 0]), ("two-lists", lambda t: ([0, 2], [1, 3])),
    ("int-tensor", lambda t: fl.tensor([2, 0])), ("bool-mask-tensor", lambda t: t > 0),
    ("bool-list-rows", lambda t: [True, False, True]), ("slice-and-list", lambda t: (slice(None), [3, 3, 0])),
]


@pytest.mark.parametrize("make_key", [k[1] for k in INDEX_KEYS], ids=[k[0] for k in INDEX_KEYS])
def test_indexing_matches_numpy(make_key):
    data = np.arange(12.0).reshape(3, 4) - 5
    t = fl.tensor(data)
    key = make_key(t)
    numpy_key = tuple(k.numpy() if isinstance(k, fl.Tensor) else k for k in key) if isinstance(key, tuple) else (
        key.numpy() if isinstance(key, fl.Tensor) else key)
    result = t[key]
    assert isinstance(result, fl.Tensor)
    np.testing.assert_array_equal(result.numpy(), data[numpy_key])


def test_basic_indexing_returns_a_view():
    t = fl.zeros(3, 4)
    t[1][2] = 5  # writes through the view, as in torch
    assert t[1, 2].item() == 5


def test_setitem():
    t = fl.zeros(3, 4)
    t[0] = 1.0
    t[:, 1] = fl.tensor([2.0, 3.0, 4.0])
    t[t > 3.5] = -1
    t[fl.tensor([2]), 3] = 7
    np.testing.assert_array_equal(t.numpy(), [[1, 2, 1, 1], [0, 3, 0, 0], [0, -1, 0, 7]])


def test_in_place_methods_return_self():
    t = fl.ones(2, 2)
    assert t.zero_() is t and t.tolist() == [[0, 0], [0, 0]]
    assert t.fill_(2.5) is t and t.tolist() == [[2.5, 2.5], [2.5, 2.5]]
    assert t.copy_(fl.tensor([1.0, 2.0])) is t and t.tolist() == [[1, 2], [1, 2]]  # broadcasts
    weight = fl.zeros(2, requires_grad=True)
    with fl.no_grad():  # how initializers write into parameters
        weight.fill_(3.0)
    assert weight.tolist() == [3.0, 3.0] and weight.requires_grad


# ---------------------------------------------------------------------------------------------------
# Shape errors


def test_shape_operation_errors_name_the_problem():
    t = fl.zeros(2, 3)
    with pytest.raises(RuntimeError, match="not a permutation"):
        t.permute(0, 0)
    with pytest.raises(RuntimeError, match="start_dim"):
        fl.zeros(2, 3, 4).flatten(2, 1)
    with pytest.raises(RuntimeError, match="number of sizes"):
        t.expand(3)
    with pytest.raises(RuntimeError, match="2 dimensions"):
        fl.zeros(2, 3, 4).t()
    with pytest.raises(IndexError, match="Dimension out of range"):
        t.sum(2)
    with pytest.raises(RuntimeError, match="more than once"):
        t.sum((0, -2))
    with pytest.raises(RuntimeError, match="non-empty"):
        fl.cat([])
    with pytest.raises(RuntimeError, match="zero-dimensional"):
        fl.cat([fl.tensor(1.0), fl.tensor(2.0)])
    with pytest.raises(RuntimeError, match="floating point"):
        fl.tensor([1, 2]).mean()
    with pytest.raises(RuntimeError, match="min.*max"):
        t.clamp()
    with pytest.raises(RuntimeError, match=r"\(2, 3\) and \(2, 3\) cannot be multiplied"):
        t @ t
    with pytest.raises(RuntimeError, match=r"\(\) and \(2, 3\) cannot be multiplied"):
        fl.tensor(1.0) @ t


def test_every_name_in_all_is_exported_by_the_package():
    tensor_module = sys.modules["fastlayers.tensor"]  # fl.tensor is the function, as torch.tensor
    missing = [name for name in tensor_module.__all__ if not hasattr(fl, name)]
    assert not missing
    assert fl.abs(fl.tensor([-2.0])).tolist() == [2.0]
    assert fl.where(fl.tensor([True, False]), 1.0, fl.tensor([5.0, 6.0])).tolist() == [1.0, 6.0]
