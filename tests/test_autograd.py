"""Autograd: every differentiable Tensor operation against PyTorch (forward and gradients, float64),
finite-difference gradchecks, the graph walk's semantics and its errors, custom Functions, gradcheck."""
import threading

import numpy as np
import pytest
import torch  # the oracle: without it these tests must fail, never skip

import fastlayers as fl
from fastlayers.autograd import Function, GradcheckError, gradcheck

RTOL = 1e-12  # relative to max(|expected|, 1): float64 results differ from torch only by summation order


def assert_close(actual, expected, what, rtol=RTOL):
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, expected {expected.shape}"
    if actual.size == 0:
        return
    error = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
    error = np.where(np.isnan(actual) & np.isnan(expected), 0.0, error)
    tolerance = rtol * np.maximum(np.abs(expected), 1.0)
    if not (error <= tolerance).all():
        worst = np.unravel_index(np.argmax(np.where(np.isnan(error), np.inf, error)), error.shape)
        raise AssertionError(f"{what}: largest error {error[worst]:.3e} at index {tuple(int(i) for i in worst)} "
                             f"(got {actual[worst].item()!r}, expected {expected[worst].item()!r}; rtol {rtol:g})")


def make_array(shape, domain, rng):
    if domain == "normal":
        return np.asarray(rng.standard_normal(shape))
    if domain == "positive":
        return np.abs(rng.standard_normal(shape)) + 0.5
    if domain == "nonzero":
        values = rng.standard_normal(shape)
        return np.asarray(np.sign(values) * (np.abs(values) + 0.5))
    if domain == "grid":  # multiples of 0.25 in [-1, 1]: exact ties, zeros and values on clamp bounds
        return rng.integers(-4, 5, size=shape) / 4.0
    raise ValueError(domain)


def check_against_torch(name, fn, arrays, seed=0):
    """fn(lib, *inputs) with lib = fastlayers or torch: forward, then backward with a random gradient."""
    ours = [fl.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    what = f"{name} on inputs of shapes {[a.shape for a in arrays]}"
    out = fn(fl, *ours)
    expected = fn(torch, *theirs)
    assert isinstance(out, fl.Tensor), f"{what}: returned {type(out).__name__}"
    assert out.dtype == fl.float64, f"{what}: output dtype {out.dtype}"
    assert_close(out.detach().numpy(), expected.detach().numpy(), f"{what}: forward")
    upstream = np.asarray(np.random.default_rng(seed).standard_normal(out.shape))
    out.backward(fl.tensor(upstream))
    expected.backward(torch.tensor(upstream))
    for i, (x, t) in enumerate(zip(ours, theirs)):
        if t.grad is None:
            assert x.grad is None, f"{what}: input {i} got a gradient, torch gives none"
            continue
        assert x.grad is not None, f"{what}: input {i} got no gradient"
        assert x.grad.dtype == fl.float64, f"{what}: gradient of input {i} has dtype {x.grad.dtype}"
        assert_close(x.grad.numpy(), t.grad.numpy(), f"{what}: gradient of input {i}")


def case(name, shapes, fn, domain="normal"):
    return pytest.param(shapes, fn, domain, id=name)


# ---------------------------------------------------------------------------------------------------
# Operations against torch

SINGLE_INPUT_CASES = [
    case("neg", [(3, 4)], lambda lib, x: -x),
    case("exp", [(3, 4)], lambda lib, x: x.exp()),
    case("fn-exp", [(3, 4)], lambda lib, x: lib.exp(x)),
    case("log", [(3, 4)], lambda lib, x: x.log(), "positive"),
    case("fn-log", [(3, 4)], lambda lib, x: lib.log(x), "positive"),
    case("sqrt", [(3, 4)], lambda lib, x: x.sqrt(), "positive"),
    case("fn-sqrt", [(3, 4)], lambda lib, x: lib.sqrt(x), "positive"),
    case("abs-with-zeros", [(4, 5)], lambda lib, x: x.abs(), "grid"),
    case("builtin-abs", [(4, 5)], lambda lib, x: abs(x), "grid"),
    case("fn-abs", [(4, 5)], lambda lib, x: lib.abs(x), "grid"),
    case("clamp-bounds-inclusive", [(4, 5)], lambda lib, x: x.clamp(-0.5, 0.5), "grid"),
    case("clamp-min", [(4, 5)], lambda lib, x: x.clamp(min=0.25), "grid"),
    case("clamp-max", [(4, 5)], lambda lib, x: x.clamp(max=-0.25), "grid"),
    case("fn-clamp", [(4, 5)], lambda lib, x: lib.clamp(x, -0.5, 0.75), "grid"),
    case("pow-2", [(3, 4)], lambda lib, x: x ** 2),
    case("pow-3", [(3, 4)], lambda lib, x: x.pow(3)),
    case("pow-0.5", [(3, 4)], lambda lib, x: x ** 0.5, "positive"),
    case("pow-minus-1.5", [(3, 4)], lambda lib, x: x ** -1.5, "positive"),
    case("pow-0-with-zeros", [(3, 4)], lambda lib, x: x ** 0, "grid"),
    case("rpow-2", [(3, 4)], lambda lib, x: 2 ** x),
    case("rpow-0.5", [(3, 4)], lambda lib, x: 0.5 ** x),
    case("add-scalar", [(3, 4)], lambda lib, x: x + 2.5),
    case("radd-scalar", [(3, 4)], lambda lib, x: 2.5 + x),
    case("sub-scalar", [(3, 4)], lambda lib, x: x - 2),
    case("rsub-scalar", [(3, 4)], lambda lib, x: 2 - x),
    case("mul-scalar", [(3, 4)], lambda lib, x: x * 3),
    case("rmul-scalar", [(3, 4)], lambda lib, x: 3 * x),
    case("div-scalar", [(3, 4)], lambda lib, x: x / 3),
    case("rdiv-scalar", [(3, 4)], lambda lib, x: 3 / x, "nonzero"),
    case("sum-all", [(2, 3, 4)], lambda lib, x: x.sum()),
    case("sum-dim0", [(2, 3, 4)], lambda lib, x: x.sum(0)),
    case("sum-dim-neg1-keepdim", [(2, 3, 4)], lambda lib, x: x.sum(dim=-1, keepdim=True)),
    case("sum-dims-0-2", [(2, 3, 4)], lambda lib, x: x.sum(dim=(0, 2))),
    case("sum-dims-list-keepdim", [(2, 3, 4)], lambda lib, x: x.sum(dim=[0, -1], keepdim=True)),
    case("sum-0d", [()], lambda lib, x: x.sum()),
    case("mean-all", [(2, 3, 4)], lambda lib, x: x.mean()),
    case("mean-dim1", [(2, 3, 4)], lambda lib, x: x.mean(1)),
    case("mean-dims-keepdim", [(2, 3, 4)], lambda lib, x: x.mean(dim=(0, 2), keepdim=True)),
    case("var-all", [(2, 3, 4)], lambda lib, x: x.var()),
    case("var-dim1", [(2, 3, 4)], lambda lib, x: x.var(1)),
    case("var-correction0", [(2, 3, 4)], lambda lib, x: x.var(dim=-1, correction=0)),
    case("var-biased-dims-keepdim", [(2, 3, 4)], lambda lib, x: x.var(dim=(0, 2), unbiased=False, keepdim=True)),
    case("var-positional-unbiased", [(5,)], lambda lib, x: x.var(False)),
    case("std-all", [(3, 4)], lambda lib, x: x.std()),
    case("std-dim0", [(3, 4)], lambda lib, x: x.std(0)),
    case("max-all", [(3, 4)], lambda lib, x: x.max()),
    case("min-all", [(3, 4)], lambda lib, x: x.min()),
    case("max-all-ties-split-evenly", [(4, 5)], lambda lib, x: x.max(), "grid"),
    case("min-all-ties-split-evenly", [(4, 5)], lambda lib, x: x.min(), "grid"),
    case("max-dim1", [(3, 4)], lambda lib, x: x.max(dim=1).values),
    case("max-dim-neg1-keepdim", [(2, 3, 4)], lambda lib, x: x.max(-1, keepdim=True).values),
    case("min-dim0", [(3, 4)], lambda lib, x: x.min(0).values),
    case("min-dim-with-ties-first-index", [(4, 5)], lambda lib, x: x.min(1)[0], "grid"),
    case("max-dim-0d", [()], lambda lib, x: x.max(0).values),
    case("reshape", [(3, 4)], lambda lib, x: x.reshape(2, 6)),
    case("reshape-tuple-minus1", [(3, 4)], lambda lib, x: x.reshape((-1, 2))),
    case("view", [(3, 4)], lambda lib, x: x.view(12)),
    case("flatten", [(2, 3, 4)], lambda lib, x: x.flatten()),
    case("flatten-from-1", [(2, 3, 4)], lambda lib, x: x.flatten(1)),
    case("flatten-0-1", [(2, 3, 4)], lambda lib, x: x.flatten(0, 1)),
    case("permute", [(2, 3, 4)], lambda lib, x: x.permute(2, 0, 1)),
    case("permute-tuple-negative", [(2, 3, 4)], lambda lib, x: x.permute((-1, 0, 1))),
    case("transpose", [(2, 3, 4)], lambda lib, x: x.transpose(0, 2)),
    case("transpose-negative", [(2, 3, 4)], lambda lib, x: x.transpose(-1, -2)),
    case("t", [(3, 4)], lambda lib, x: x.t()),
    case("T", [(3, 4)], lambda lib, x: x.T),
    case("unsqueeze0", [(3, 4)], lambda lib, x: x.unsqueeze(0)),
    case("unsqueeze-neg1", [(3, 4)], lambda lib, x: x.unsqueeze(-1)),
    case("squeeze-all", [(1, 3, 1, 4)], lambda lib, x: x.squeeze()),
    case("squeeze-dim2", [(1, 3, 1, 4)], lambda lib, x: x.squeeze(2)),
    case("squeeze-non-1-dim-is-noop", [(1, 3, 1, 4)], lambda lib, x: x.squeeze(1)),
    case("expand", [(3, 1)], lambda lib, x: x.expand(2, 3, 4)),
    case("expand-minus1", [(3, 1)], lambda lib, x: x.expand(-1, 5)),
    case("index-int", [(3, 4)], lambda lib, x: x[1]),
    case("index-negative", [(3, 4)], lambda lib, x: x[-1]),
    case("index-0d-element", [(3, 4)], lambda lib, x: x[1, 2]),
    case("slice", [(5, 4)], lambda lib, x: x[1:3]),
    case("slice-steps", [(5, 4)], lambda lib, x: x[::2, 1:]),
    case("ellipsis", [(2, 3, 4)], lambda lib, x: x[..., 1]),
    case("none-and-int", [(3, 4)], lambda lib, x: x[None, 0]),
    case("none-in-middle", [(3, 4)], lambda lib, x: x[:, None, 1:3]),
    case("list-with-repeats", [(3, 4)], lambda lib, x: x[[0, 2, 0]]),
    case("two-lists", [(3, 4)], lambda lib, x: x[[0, 2, 0], [1, 1, 3]]),
    case("slice-then-list", [(3, 4)], lambda lib, x: x[:, [3, 0, 3]]),
    case("slice-and-repeated-list", [(3, 4)], lambda lib, x: x[1:, [0, 0]]),
    case("int-tensor-index", [(3, 4)], lambda lib, x: x[lib.tensor([2, 0, 2])]),
    case("lists-split-by-slice", [(2, 3, 4)], lambda lib, x: x[[0, 1], :, [2, 3]]),
    case("bool-mask-full", [(3, 4)], lambda lib, x: x[x > 0]),
    case("bool-mask-rows", [(3, 4)], lambda lib, x: x[x.sum(1) > 0]),
    case("bool-tensor-mask-columns", [(3, 4)], lambda lib, x: x[:, lib.tensor([True, False, True, True])]),
    case("float-roundtrip", [(3, 4)], lambda lib, x: x.float().double() * 2),
    case("clone", [(3, 4)], lambda lib, x: x.clone() * 2),
    case("contiguous-of-transpose", [(3, 4)], lambda lib, x: x.t().contiguous() * 2),
    case("iteration", [(3, 4)], lambda lib, x: lib.stack([row * i for i, row in enumerate(x)])),
]


@pytest.mark.parametrize("shapes, fn, domain", SINGLE_INPUT_CASES)
def test_single_input_op_matches_torch(request, shapes, fn, domain):
    rng = np.random.default_rng(1)
    check_against_torch(request.node.callspec.id, fn, [make_array(s, domain, rng) for s in shapes])


BROADCAST_SHAPE_PAIRS = [((3, 4), (3, 4)), ((3, 4), (4,)), ((4,), (3, 4)), ((2, 1, 4), (3, 1)), ((), (2, 3)),
                         ((2, 3), ()), ((1,), (2, 3)), ((4, 1), (1, 5)), ((2, 3, 1), (1, 1, 4))]
BINARY_OPS = [
    ("add", lambda lib, a, b: a + b, "normal", "normal"),
    ("sub", lambda lib, a, b: a - b, "normal", "normal"),
    ("mul", lambda lib, a, b: a * b, "normal", "normal"),
    ("div", lambda lib, a, b: a / b, "normal", "nonzero"),
    ("pow", lambda lib, a, b: a ** b, "positive", "normal"),
    ("maximum", lambda lib, a, b: lib.maximum(a, b), "normal", "normal"),
    ("minimum", lambda lib, a, b: lib.minimum(a, b), "normal", "normal"),
    ("max-of-tensors", lambda lib, a, b: a.max(b), "normal", "normal"),
    ("where", lambda lib, a, b: lib.where(a > b, a * 2, b), "normal", "normal"),
]


@pytest.mark.parametrize("shape_a, shape_b", BROADCAST_SHAPE_PAIRS, ids=lambda s: "x".join(map(str, s)) or "0d")
@pytest.mark.parametrize("name, fn, domain_a, domain_b", BINARY_OPS, ids=[op[0] for op in BINARY_OPS])
def test_broadcasting_binary_op_matches_torch(name, fn, domain_a, domain_b, shape_a, shape_b):
    rng = np.random.default_rng(2)
    check_against_torch(name, fn, [make_array(shape_a, domain_a, rng), make_array(shape_b, domain_b, rng)])


@pytest.mark.parametrize("name, fn", [
    ("maximum", lambda lib, a, b: lib.maximum(a, b)),
    ("minimum", lambda lib, a, b: lib.minimum(a, b)),
    ("where-of-equal-values", lambda lib, a, b: lib.where(a >= b, a, b)),
])
def test_elementwise_extremum_ties_split_like_torch(name, fn):
    rng = np.random.default_rng(3)
    check_against_torch(name, fn, [make_array((6, 5), "grid", rng), make_array((6, 5), "grid", rng)])


@pytest.mark.parametrize("name, fn", [
    ("array+tensor", lambda lib, x: np.full((3, 4), 1.5) + x if lib is fl else torch.full((3, 4), 1.5) + x),
    ("array-tensor", lambda lib, x: np.full((4,), 2.0) - x if lib is fl else torch.full((4,), 2.0) - x),
    ("array*tensor", lambda lib, x: np.arange(4.0) * x if lib is fl else torch.arange(4.0, dtype=torch.float64) * x),
    ("array/tensor", lambda lib, x: np.full((3, 1), 3.0) / x if lib is fl else torch.full((3, 1), 3.0) / x),
    ("tensor*array", lambda lib, x: x * (np.arange(4.0) if lib is fl else torch.arange(4.0, dtype=torch.float64))),
    ("array@tensor", lambda lib, x: np.ones((2, 3)) @ x if lib is fl else torch.ones(2, 3, dtype=torch.float64) @ x),
])
def test_numpy_array_operand_on_either_side(name, fn):
    check_against_torch(name, fn, [make_array((3, 4), "nonzero", np.random.default_rng(4))])


MATMUL_SHAPES = [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)), ((5, 2, 3), (3, 4)),
                 ((2, 3), (5, 3, 4)), ((5, 1, 2, 3), (4, 3, 2)), ((3,), (5, 3, 4)), ((5, 2, 3), (3,)),
                 ((2, 5, 2, 3), (5, 3, 4))]


@pytest.mark.parametrize("shape_a, shape_b", MATMUL_SHAPES, ids=[f"{a}@{b}" for a, b in MATMUL_SHAPES])
@pytest.mark.parametrize("form", ["operator", "method", "function"])
def test_matmul_matches_torch(form, shape_a, shape_b):
    fn = {"operator": lambda lib, a, b: a @ b,
          "method": lambda lib, a, b: a.matmul(b),
          "function": lambda lib, a, b: lib.matmul(a, b)}[form]
    rng = np.random.default_rng(5)
    check_against_torch(f"matmul ({form})", fn, [rng.standard_normal(shape_a), rng.standard_normal(shape_b)])


@pytest.mark.parametrize("name, shapes, fn", [
    ("cat-dim0", [(2, 3), (1, 3), (4, 3)], lambda lib, *xs: lib.cat(xs, dim=0)),
    ("cat-dim1", [(2, 3), (2, 1), (2, 2)], lambda lib, *xs: lib.cat(list(xs), 1)),
    ("cat-dim-neg1-3d", [(2, 3, 1), (2, 3, 4)], lambda lib, *xs: lib.cat(xs, dim=-1)),
    ("stack-dim0", [(2, 3), (2, 3), (2, 3)], lambda lib, *xs: lib.stack(xs)),
    ("stack-dim1", [(2, 3), (2, 3)], lambda lib, *xs: lib.stack(xs, dim=1)),
    ("stack-dim-neg1", [(2, 3), (2, 3)], lambda lib, *xs: lib.stack(xs, dim=-1)),
    ("stack-0d", [(), (), ()], lambda lib, *xs: lib.stack(xs)),
    ("cat-same-tensor-twice", [(2, 3)], lambda lib, x: lib.cat([x, x * 2, x], dim=1)),
])
def test_cat_and_stack_match_torch(name, shapes, fn):
    rng = np.random.default_rng(6)
    check_against_torch(name, fn, [rng.standard_normal(s) for s in shapes])


def test_max_with_dim_returns_values_and_int64_indices_like_torch():
    data = make_array((5, 6), "grid", np.random.default_rng(7))
    for dim in (0, 1, -1):
        for keepdim in (False, True):
            for method in ("max", "min"):
                values, indices = getattr(fl.tensor(data), method)(dim, keepdim=keepdim)
                expected = getattr(torch.tensor(data), method)(dim, keepdim=keepdim)
                what = f"{method}(dim={dim}, keepdim={keepdim}) on shape {data.shape}"
                assert_close(values.numpy(), expected.values.numpy(), what + ": values")
                assert indices.dtype == fl.int64 and not indices.requires_grad, what
                np.testing.assert_array_equal(indices.numpy(), expected.indices.numpy(), err_msg=what + ": indices")


def test_max_with_dim_routes_gradient_to_the_returned_index_on_ties():
    x = fl.tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 1.0]], requires_grad=True)
    values, indices = x.max(dim=1)
    values.sum().backward()
    np.testing.assert_array_equal(indices.numpy(), [1, 0])
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 1, 0], [1, 0, 0]])


def test_mixed_float32_and_float64_promote_and_gradients_keep_each_leaf_dtype():
    a = fl.tensor([1.0, 2.0, 3.0], requires_grad=True)  # float32
    b = fl.tensor(np.array([0.5, 0.25, 2.0]), requires_grad=True)  # float64
    out = a * b
    assert out.dtype == fl.float64
    out.sum().backward()
    assert a.grad.dtype == fl.float32 and b.grad.dtype == fl.float64
    np.testing.assert_array_equal(a.grad.numpy(), np.array([0.5, 0.25, 2.0], np.float32))
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 2.0, 3.0])


def test_float32_tensor_with_python_scalars_stays_float32():
    x = fl.tensor([1.0, 2.0], requires_grad=True)
    out = (x * 2.5 + 1 - 0.5) / 3.0 ** 2 + x ** 2 + 2.0 ** x
    assert out.dtype == fl.float32
    out.sum().backward()
    assert x.grad.dtype == fl.float32


@pytest.mark.parametrize("shape_a, shape_b", [((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (2, 3)), ((1,), (2, 3)),
                                              ((4, 1), (1, 5))])
def test_broadcast_gradient_is_reduced_to_each_operand_shape(shape_a, shape_b):
    a = fl.ones(shape_a, dtype=fl.float64, requires_grad=True)
    b = fl.ones(shape_b, dtype=fl.float64, requires_grad=True)
    out = a * b
    out.backward(np.ones(out.shape))
    assert a.grad.shape == shape_a and b.grad.shape == shape_b
    # each operand element is used once per element of the broadcast it is repeated over
    assert a.grad.numpy().sum() == out.numel() and b.grad.numpy().sum() == out.numel()
    np.testing.assert_array_equal(a.grad.numpy(), np.full(shape_a, out.numel() // a.numel()))


# ---------------------------------------------------------------------------------------------------
# Finite differences

GRADCHECK_CASES = [
    ("mul-broadcast", [(3, 4), (4,)], lambda a, b: a * b),
    ("div-broadcast", [(2, 3), (3,)], lambda a, b: a / (b * b + 1)),
    ("pow-tensor-exponent", [(2, 3), (2, 3)], lambda a, b: (a * a + 0.5) ** b),
    ("matmul-batched-broadcast", [(2, 1, 2, 3), (3, 3, 2)], lambda a, b: a @ b),
    ("matmul-vector", [(3,), (2, 3, 2)], lambda a, b: a @ b),
    ("var-dim", [(3, 4)], lambda x: x.var(1)),
    ("std-all", [(3, 4)], lambda x: x.std()),
    ("mean-keepdim", [(2, 3, 2)], lambda x: x.mean((0, 2), keepdim=True)),
    ("advanced-index-with-repeats", [(3, 4)], lambda x: x[[0, 2, 0], 1:]),
    ("bool-mask", [(3, 4)], lambda x: x[x > 0] * 3),
    ("cat-and-stack", [(2, 3), (2, 2)], lambda a, b: fl.stack([fl.cat([a, b], dim=1)] * 2, dim=-1)),
    ("max-dim", [(3, 4)], lambda x: x.max(1).values),
    ("exp-log-sqrt-abs", [(3, 4)], lambda x: (x.exp() + x.abs().sqrt() + (x * x + 1).log())),
    ("where", [(3, 4), (4,)], lambda a, b: fl.where(a > 0, a * b, b)),
    ("expand-permute-reshape", [(3, 1)], lambda x: x.expand(2, 3, 4).permute(2, 0, 1).reshape(4, 6)),
    ("tuple-output", [(2, 3)], lambda x: (x.exp(), x.sum(0), x.argmax())),
]


@pytest.mark.parametrize("name, shapes, fn", GRADCHECK_CASES, ids=[c[0] for c in GRADCHECK_CASES])
def test_gradcheck_passes(name, shapes, fn):
    rng = np.random.default_rng(8)
    inputs = [fl.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]
    assert gradcheck(fn, inputs)


# ---------------------------------------------------------------------------------------------------
# The graph walk


def test_gradients_accumulate_on_leaves_across_backward_calls():
    x = fl.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3 + 2, 3 + 4])


def test_leaf_grad_never_aliases_the_incoming_gradient():
    a = fl.tensor([1.0, 2.0], requires_grad=True)
    b = fl.tensor([3.0, 4.0], requires_grad=True)
    upstream = np.array([1.0, 1.0], np.float32)
    (a + b).backward(upstream)  # Add passes the same array to both inputs
    upstream[:] = 7
    a.grad.data[0] = 100
    np.testing.assert_array_equal(b.grad.numpy(), [1, 1])
    np.testing.assert_array_equal(a.grad.numpy(), [100, 1])


def test_diamond_graph_sums_the_gradient_of_both_paths():
    def diamond(lib, x):
        h = x * 2  # h feeds branches that meet again in the sum
        return (h.exp() + h * h).sum() + (h * 3).mean()

    check_against_torch("diamond", diamond, [np.array([0.1, -0.3, 0.7])])


def test_tensor_used_twice_in_one_operation():
    x = fl.tensor([1.5, -2.0], requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, -4.0])


def test_retain_graph_allows_backward_twice():
    x = fl.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward()
    assert_close(x.grad.numpy(), 2 * first, "two backward passes through one graph")


def test_second_backward_through_freed_graph_raises():
    x = fl.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()


def test_second_backward_through_nodes_that_saved_nothing_is_allowed_like_torch():
    x = fl.tensor([1.0, 2.0], requires_grad=True)
    y = (x + 1).sum()
    y.backward()
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2, 2])


def test_backward_on_non_scalar_without_gradient_raises():
    x = fl.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        (x * 2).backward()


def test_backward_on_one_element_tensor_needs_no_gradient():
    x = fl.tensor([[2.0]], requires_grad=True)
    (x * 3).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[3.0]])


def test_backward_with_gradient_of_wrong_shape_raises_naming_both_shapes():
    x = fl.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"\(3,\).*\(1, 3\)"):
        (x * 2).backward(np.ones(3))


@pytest.mark.parametrize("gradient", [np.array([1.0, -2.0]), [1.0, -2.0], "tensor", 2.0],
                         ids=["ndarray", "list", "tensor", "scalar"])
def test_backward_accepts_gradient_as_array_list_tensor_or_scalar(gradient):
    x = fl.tensor([1.0, 2.0], requires_grad=True)
    if isinstance(gradient, str):
        gradient = fl.tensor([1.0, -2.0])
    (x * 3).backward(gradient)
    expected = [6.0, 6.0] if np.isscalar(gradient) else [3.0, -6.0]
    np.testing.assert_array_equal(x.grad.numpy(), expected)


def test_backward_on_tensor_that_does_not_require_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        fl.tensor([1.0]).sum().backward()


def test_backward_on_a_leaf_sets_its_own_grad():
    x = fl.tensor(2.0, requires_grad=True)
    x.backward()
    assert x.grad.item() == 1.0


def test_setting_requires_grad_false_on_non_leaf_raises():
    y = fl.tensor([1.0], requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="leaf variables"):
        y.requires_grad = False
    with pytest.raises(RuntimeError, match="leaf variables"):
        y.requires_grad_(False)


def test_only_float_tensors_can_require_grad():
    with pytest.raises(RuntimeError, match="floating point"):
        fl.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="floating point"):
        fl.tensor([1, 2]).requires_grad_()


def test_non_leaf_grad_is_kept_only_after_retain_grad():
    x = fl.tensor([1.0, 2.0], requires_grad=True)
    hidden = x * 3
    kept = x.exp()
    kept.retain_grad()
    (hidden * kept).sum().backward()
    assert hidden.grad is None
    assert kept.retains_grad and not hidden.retains_grad
    assert_close(kept.grad.numpy(), hidden.detach().numpy(), "retained grad of exp(x)")
    assert x.is_leaf and not hidden.is_leaf


def test_autograd_grad_returns_gradients_without_touching_grad():
    x = fl.tensor([1.0, 2.0], requires_grad=True)
    w = fl.tensor([3.0, -1.0], requires_grad=True)
    h = x * w
    y = (h * h).sum()
    gx, gh = fl.autograd.grad(y, [x, h])
    assert x.grad is None and w.grad is None
    assert_close(gx.numpy(), 2 * (x * w * w).detach().numpy(), "d y / d x")
    assert_close(gh.numpy(), 2 * h.detach().numpy(), "d y / d h (a non-leaf)")


def test_autograd_grad_reports_unused_inputs():
    x = fl.tensor([1.0], requires_grad=True)
    unused = fl.tensor([1.0], requires_grad=True)
    y = (x * 2).sum()
    with pytest.raises(RuntimeError, match="allow_unused=True"):
        fl.autograd.grad(y, [x, unused], retain_graph=True)
    gx, gu = fl.autograd.grad(y, [x, unused], allow_unused=True)
    assert gx.item() == 2.0 and gu is None


def test_no_grad_records_no_graph():
    x = fl.tensor([1.0, 2.0], requires_grad=True)
    with fl.no_grad():
        assert not fl.is_grad_enabled()
        y = x * 2 + x.exp()
    assert fl.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None and y.is_leaf


@pytest.mark.parametrize("decorator", [fl.no_grad, fl.no_grad()], ids=["bare", "called"])
def test_no_grad_as_decorator(decorator):
    @decorator
    def double(t):
        return t * 2, fl.is_grad_enabled()

    y, enabled = double(fl.tensor([1.0], requires_grad=True))
    assert not enabled and not y.requires_grad and fl.is_grad_enabled()
    assert double.__name__ == "double"


def test_enable_grad_and_set_grad_enabled():
    x = fl.tensor([1.0], requires_grad=True)
    with fl.no_grad():
        with fl.enable_grad():
            assert (x * 2).requires_grad
        assert not (x * 2).requires_grad
    with fl.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert fl.is_grad_enabled()
    fl.set_grad_enabled(False)
    try:
        assert not fl.is_grad_enabled()
    finally:
        fl.set_grad_enabled(True)
    assert fl.is_grad_enabled()


def test_grad_mode_is_per_thread():
    seen = []
    with fl.no_grad():
        thread = threading.Thread(target=lambda: seen.append(fl.is_grad_enabled()))
        thread.start()
        thread.join()
    assert seen == [True]


def test_outputs_that_are_integer_or_bool_never_require_grad():
    x = fl.tensor([[1.0, 5.0], [3.0, 2.0]], requires_grad=True)
    assert not x.max(1).indices.requires_grad
    assert not x.argmax().requires_grad
    assert not (x > 2).requires_grad and (x > 2).dtype == fl.bool
    assert not x.long().requires_grad


def test_detach_leaves_the_graph_and_shares_memory():
    x = fl.tensor([1.0, 2.0], requires_grad=True)
    y = (x * 2).detach()
    assert y.is_leaf and not y.requires_grad
    z = x.detach()
    z.data[0] = 10
    assert x.data[0] == 10
    w = x * 2
    w.detach_()
    assert w.is_leaf and not w.requires_grad


def test_in_place_operations_on_leaf_that_requires_grad_raise():
    w = fl.tensor([1.0, 2.0], requires_grad=True)
    for op in (lambda: w.zero_(), lambda: w.fill_(1.0), lambda: w.copy_(fl.zeros(2)),
               lambda: w.__setitem__(0, 3.0), lambda: w.__iadd__(1.0)):
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            op()


def test_in_place_update_under_no_grad_changes_the_same_tensor():
    w = fl.tensor([1.0, 2.0], requires_grad=True)
    w.grad = fl.tensor([0.5, 0.5])
    before = w
    with fl.no_grad():
        w -= 2 * w.grad
        w *= 2
    assert w is before and w.is_leaf and w.requires_grad
    np.testing.assert_array_equal(w.detach().numpy(), [0.0, 2.0])


def test_augmented_assignment_in_a_graph_records_an_out_of_place_op():
    x = fl.tensor([1.0, 2.0], requires_grad=True)
    out = x * 2
    identity = x
    out += identity  # the residual connection pattern
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_grad_assignment_is_checked():
    x = fl.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"size.*\(3,\).*\(2,\)"):
        x.grad = fl.zeros(3)
    with pytest.raises(RuntimeError, match="type"):
        x.grad = fl.zeros(2, dtype=fl.float64)
    x.grad = fl.ones(2)
    x.grad = None
    assert x.grad is None


# ---------------------------------------------------------------------------------------------------
# Custom Functions


class ScaledProduct(Function):
    """alpha * x * y, recording what the engine passed in."""

    calls = []

    @staticmethod
    def forward(ctx, x, y, alpha):
        assert isinstance(x, np.ndarray) and isinstance(y, np.ndarray), "forward must receive raw arrays"
        ctx.save_for_backward(x, y)
        ctx.alpha = alpha
        return alpha * x * y

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        ScaledProduct.calls.append(ctx.needs_input_grad)
        need_x, need_y, _ = ctx.needs_input_grad
        return (ctx.alpha * grad * y if need_x else None,
                ctx.alpha * grad * x if need_y else None,
                None)


def test_custom_function_receives_arrays_and_needs_input_grad():
    ScaledProduct.calls.clear()
    x = fl.tensor([1.0, 2.0], requires_grad=True)
    y = fl.tensor([3.0, 4.0])
    out = ScaledProduct.apply(x, y, 0.5)
    assert out.grad_fn.name() == "ScaledProductBackward"
    out.sum().backward()
    assert ScaledProduct.calls == [(True, False, False)]
    np.testing.assert_array_equal(x.grad.numpy(), [1.5, 2.0])
    assert y.grad is None


def test_custom_function_under_no_grad_is_not_recorded():
    x = fl.tensor([1.0, 2.0], requires_grad=True)
    with fl.no_grad():
        out = ScaledProduct.apply(x, x, 2.0)
    assert out.grad_fn is None and not out.requires_grad
    np.testing.assert_array_equal(out.numpy(), [2.0, 8.0])


class SplitSigns(Function):
    """Two outputs: the positive and the negative part; backward records the gradients it got."""

    received = []

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x > 0)
        return np.maximum(x, 0), np.minimum(x, 0)

    @staticmethod
    def backward(ctx, grad_positive, grad_negative):
        (positive,) = ctx.saved_tensors
        SplitSigns.received.append((grad_positive.copy(), grad_negative.copy()))
        return np.where(positive, grad_positive, grad_negative)


def test_custom_function_with_two_outputs_gets_zeros_for_the_unused_one():
    SplitSigns.received.clear()
    x = fl.tensor([1.0, -2.0, 3.0], requires_grad=True)
    positive, negative = SplitSigns.apply(x)
    assert positive.grad_fn is negative.grad_fn
    (positive * 5).sum().backward()
    (grad_positive, grad_negative), = SplitSigns.received
    np.testing.assert_array_equal(grad_negative, [0, 0, 0])
    np.testing.assert_array_equal(x.grad.numpy(), [5, 0, 5])


def test_custom_function_with_both_outputs_used_is_called_once():
    SplitSigns.received.clear()
    x = fl.tensor([1.0, -2.0], requires_grad=True)
    positive, negative = SplitSigns.apply(x)
    (positive * 2 + negative * 3).sum().backward()
    assert len(SplitSigns.received) == 1
    np.testing.assert_array_equal(x.grad.numpy(), [2, 3])


def _function(forward, backward):
    return type("Custom", (Function,), {"forward": staticmethod(forward), "backward": staticmethod(backward)})


def test_custom_function_returning_too_few_gradients_raises():
    TooFew = _function(lambda ctx, x, y: x * y, lambda ctx, g: g)
    x = fl.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"incorrect number of gradients \(expected 2, got 1\)"):
        TooFew.apply(x, x).sum().backward()


def test_custom_function_may_return_extra_nones_but_not_extra_gradients():
    ExtraNone = _function(lambda ctx, x: x * 2, lambda ctx, g: (g * 2, None, None))
    x = fl.tensor([1.0], requires_grad=True)
    ExtraNone.apply(x).sum().backward()
    assert x.grad.item() == 2.0
    ExtraGradient = _function(lambda ctx, x: x * 2, lambda ctx, g: (g * 2, g))
    with pytest.raises(RuntimeError, match="incorrect number of gradients"):
        ExtraGradient.apply(x).sum().backward()


def test_custom_function_gradient_of_wrong_shape_raises_naming_both_shapes():
    WrongShape = _function(lambda ctx, x: x.sum(), lambda ctx, g: np.ones(5))
    x = fl.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"CustomBackward.*got shape \(5,\) but expected shape \(2,\)"):
        WrongShape.apply(x).backward()


def test_custom_function_mark_non_differentiable():
    class SortWithOrder(Function):
        @staticmethod
        def forward(ctx, x):
            order = np.argsort(x)
            ranks = x[order]
            ctx.mark_non_differentiable(ranks)
            return x * 1, ranks

        @staticmethod
        def backward(ctx, grad, grad_ranks):
            return grad

    x = fl.tensor([3.0, 1.0], requires_grad=True)
    copy, ranks = SortWithOrder.apply(x)
    assert copy.requires_grad and not ranks.requires_grad


def test_saved_tensors_are_freed_after_backward():
    x = fl.tensor([1.0, 2.0], requires_grad=True)
    y = ScaledProduct.apply(x, x, 1.0)
    y.sum().backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.grad_fn.saved_tensors


# ---------------------------------------------------------------------------------------------------
# gradcheck


class WrongCube(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x ** 2 + (x > 0.5) * 1e-3  # wrong by 1e-3 where x > 0.5


def test_gradcheck_detects_a_wrong_backward_and_says_where():
    x = fl.tensor(np.array([0.1, 0.9, -0.4]), requires_grad=True)
    with pytest.raises(GradcheckError, match=r"input 0.*largest error 1\.0\d*e-03.*input element \(1,\)"):
        gradcheck(WrongCube.apply, (x,))
    assert gradcheck(WrongCube.apply, (x,), raise_exception=False) is False
    assert issubclass(GradcheckError, RuntimeError)


def test_gradcheck_checks_every_input_and_names_the_failing_one():
    x = fl.tensor(np.array([0.2, 0.3]), requires_grad=True)
    y = fl.tensor(np.array([0.7, 0.8]), requires_grad=True)
    with pytest.raises(GradcheckError, match="input 1"):
        gradcheck(lambda a, b: a * 2 + WrongCube.apply(b), (x, y))


def test_gradcheck_rejects_float32_inputs_and_inputs_without_grad():
    with pytest.raises(TypeError, match="float64"):
        gradcheck(lambda x: x * 2, (fl.tensor([1.0], requires_grad=True),))
    with pytest.raises(ValueError, match="at least one input"):
        gradcheck(lambda x: x * 2, (fl.tensor(np.array([1.0])),))


def test_gradcheck_leaves_inputs_unchanged():
    data = np.array([0.3, -1.2, 2.5])
    x = fl.tensor(data, requires_grad=True)
    assert gradcheck(lambda t: t.exp() * t, x)
    np.testing.assert_array_equal(x.detach().numpy(), data)
