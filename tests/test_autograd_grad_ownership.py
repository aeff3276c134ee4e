"""Leaf gradients: `.grad` takes over an array that nothing else holds (no copy, as torch steals an unshared
gradient) and copies every array that something else can still see or change."""
import weakref

import numpy as np

import fastlayers as fl
from fastlayers.autograd import Function


def _leaf(n=6):
    return fl.tensor(np.arange(n, dtype=np.float64), requires_grad=True)


class _Scale(Function):
    """y = 3x whose backward records (weakly) the array it returns."""
    returned = None

    @staticmethod
    def forward(ctx, x):
        return x * 3

    @staticmethod
    def backward(ctx, g):
        out = g * 3
        _Scale.returned = weakref.ref(out)
        return out


class _SavedGrad(Function):
    """y = 2x whose backward returns an array saved in forward (so the graph still holds it)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(np.full(x.shape, 2.0))
        return x * 2

    @staticmethod
    def backward(ctx, g):
        (two,) = ctx.saved_tensors
        return two


class _SameForBoth(Function):
    """y = a + b whose backward hands the same fresh array to both inputs."""

    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, g):
        shared = g * 1.0
        return shared, shared


def test_an_unshared_leaf_gradient_is_taken_without_a_copy():
    x = _leaf()
    _Scale.apply(x).sum().backward()
    assert x.grad.data is _Scale.returned(), "leaf grad was copied although nothing else held the array"
    np.testing.assert_array_equal(x.grad.numpy(), np.full(6, 3.0))


def test_a_gradient_the_graph_still_holds_is_copied_and_accumulates_without_changing_it():
    x = _leaf()
    y = _SavedGrad.apply(x).sum()
    for _ in range(3):
        y.backward(retain_graph=True)
    np.testing.assert_array_equal(x.grad.numpy(), np.full(6, 6.0))  # 2 + 2 + 2: the saved 2s stayed 2s


def test_the_callers_gradient_for_a_leaf_root_is_copied():
    x = _leaf()
    g = np.ones(6)
    x.backward(g)
    g[:] = 100.0
    np.testing.assert_array_equal(x.grad.numpy(), np.ones(6))


def test_one_array_returned_for_two_leaves_gives_two_independent_grads():
    a, b = _leaf(), _leaf()
    _SameForBoth.apply(a, b).sum().backward()
    assert a.grad.data is not b.grad.data
    a.grad.data += 5.0
    np.testing.assert_array_equal(b.grad.numpy(), np.ones(6))


def test_a_view_returned_as_a_gradient_is_copied():
    x = fl.tensor(np.ones((2, 3)), requires_grad=True)
    base = np.arange(12.0).reshape(4, 3)

    class _ViewGrad(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, g):
            return base[1:3]

    _ViewGrad.apply(x).sum().backward()
    x.grad.data += 1.0
    np.testing.assert_array_equal(base[1:3], np.arange(3.0, 9.0).reshape(2, 3))
