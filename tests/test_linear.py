"""Linear against torch: F.linear over a table of shapes (1-D, 2-D and 3-D input, M = 1, odd sizes, no bias,
K below and above the dot-kernel step, reductions over several blocks), float32 and float64, forward and every
gradient, both SIMD paths and every implementation against the C++ reference; finite differences; non-contiguous
input and weight; thread-count independence; the nn.Linear module (init, repr, state_dict); bad input. The
semantic tests also run on the GPU (`device` / `simd_device`; skipped with "no CUDA device" where none is
present), torch staying the oracle on the CPU."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import fastlayers as fl
import fastlayers.nn.functional as F
from fastlayers import _C, nn
from conftest import assert_close, grid_data, to_device, to_host

DTYPES = [np.float32, np.float64]
DT_IDS = lambda d: np.dtype(d).name  # noqa: E731

# (input shape, out_features, bias)
CASES = [
    ((1, 256), 200, True),      # LeNet batch 1
    ((64, 256), 200, True),     # LeNet batch 64
    ((64, 200), 10, True),
    ((7,), 5, True),            # 1-D input
    ((2, 3, 17), 9, True),      # 3-D input
    ((4, 33), 1, False),        # one output, no bias
    ((1, 1), 1, True),          # smallest
    ((5, 15), 7, True),         # K below the dot step: packed GEMM forward
    ((3, 16), 3, False),        # K exactly one dot step
    ((13, 47), 70, True),       # odd sizes: edge tiles everywhere, K tail
    ((9, 520), 11, True),       # forward/backward-data reduction over several blocks
    ((300, 20), 37, False),     # backward-weight reduction (rows) over two blocks
    ((2, 2, 2, 31), 65, True),  # 4-D input
    ((0, 8), 4, True),          # empty batch
    ((130, 40), 33, True),      # 128 rows and more: packed GEMM forward
]


def case_id(case):
    shape, n, bias = case
    return f"in{'x'.join(map(str, shape))}_out{n}" + ("" if bias else "_nobias")


def make_case(case, dtype, seed=0):
    shape, n, bias = case
    rng = np.random.default_rng(seed)
    x = grid_data(rng, shape, dtype)
    w = grid_data(rng, (n, shape[-1]), dtype)
    b = grid_data(rng, (n,), dtype) if bias else None
    dy = grid_data(rng, shape[:-1] + (n,), dtype)
    return x, w, b, dy


def run_ours(x, w, b, dy, device):
    x, w, b, dy = (to_device(a, device) for a in (x, w, b, dy))
    tx = fl.Tensor(x, requires_grad=True)
    tw = fl.Tensor(w, requires_grad=True)
    tb = fl.Tensor(b, requires_grad=True) if b is not None else None
    y = F.linear(tx, tw, tb)
    y.backward(fl.Tensor(dy))
    return to_host(y), to_host(tx.grad), to_host(tw.grad), None if tb is None else to_host(tb.grad)


def run_torch(x, w, b, dy):
    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(w, requires_grad=True)
    tb = torch.tensor(b, requires_grad=True) if b is not None else None
    y = TF.linear(tx, tw, tb)
    y.backward(torch.tensor(dy))
    return (y.detach().numpy(), tx.grad.numpy(), tw.grad.numpy(), None if tb is None else tb.grad.numpy())


def compare(ours, ref, case, dtype, label):
    shape, n, _ = case
    rows = math.prod(shape[:-1])
    lens = [shape[-1], n, rows, rows]
    for name, a, r, k in zip(["output", "grad_input", "grad_weight", "grad_bias"], ours, ref, lens):
        if r is None:
            assert a is None, f"linear {label}: {name} should be absent"
            continue
        assert_close(a, r, f"linear {name}", f"{label} {case_id(case)} {np.dtype(dtype).name}", k, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_linear_matches_torch_forward_and_gradients(case, dtype, simd_device):
    x, w, b, dy = make_case(case, dtype)
    label = f"{_C.simd_level()} on cpu" if simd_device == "cpu" else simd_device
    compare(run_ours(x, w, b, dy, simd_device), run_torch(x, w, b, dy), case, dtype, label)


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("case", CASES[:3] + CASES[9:12], ids=case_id)
def test_linear_random_data_matches_torch(case, dtype, device):
    """Off-grid data: rounding differences only, within a tolerance scaled by the reduction length."""
    shape, n, bias = case
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((n, shape[-1])).astype(dtype)
    b = rng.standard_normal(n).astype(dtype) if bias else None
    dy = rng.standard_normal(shape[:-1] + (n,)).astype(dtype)
    ours, ref = run_ours(x, w, b, dy, device), run_torch(x, w, b, dy)
    rows = math.prod(shape[:-1])
    for name, a, r, k in zip(["output", "grad_input", "grad_weight", "grad_bias"], ours, ref,
                             [shape[-1], n, rows, rows]):
        if r is not None:
            scale = np.sqrt(k) * (np.abs(r).max() + 1)
            err = np.abs(a.astype(np.float64) - r).max()
            assert err <= 16 * np.finfo(dtype).eps * scale, \
                f"linear {name} {case_id(case)} on {device}: largest error {err:.3g}"


@pytest.mark.parametrize("case", [c for c in CASES if c[0][0] != 0][:10], ids=case_id)
def test_linear_gradcheck_float64(case):
    shape, n, bias = case
    shape = tuple(min(s, 6) for s in shape)
    n = min(n, 5)
    rng = np.random.default_rng(1)
    x = fl.Tensor(rng.standard_normal(shape), requires_grad=True)
    w = fl.Tensor(rng.standard_normal((n, shape[-1])), requires_grad=True)
    args = [x, w]
    if bias:
        args.append(fl.Tensor(rng.standard_normal(n), requires_grad=True))
    assert fl.autograd.gradcheck(F.linear, args)


def test_linear_kernels_match_reference_every_implementation(simd):
    """The front door's choice for each shape names the implementation; each agrees with the reference
    within the sums' rounding (the C++ test compares every SIMD level on a larger table)."""
    seen = set()
    for shape, n in [((3, 5), 4), ((3, 40), 4), ((1, 16), 1)]:
        rng = np.random.default_rng(0)
        x = rng.standard_normal(shape).astype(np.float32)
        w = rng.standard_normal((n, shape[-1])).astype(np.float32)
        seen.add(_C.linear_impl(x, w, "forward").split()[0])
        y = _C.linear_forward(x, w, None)
        assert_close(y, x.astype(np.float64) @ w.astype(np.float64).T, "linear", f"{simd} {shape} {n}",
                     shape[-1], np.float32)
    assert seen == {"gemm", "dot"}
    assert _C.linear_impl(np.zeros((2, 3)), np.zeros((4, 3)), "backward_data").startswith("gemm m2k3n4")


def test_linear_non_contiguous_input_and_weight(device):
    rng = np.random.default_rng(2)
    xb = grid_data(rng, (20, 6, 9), np.float64)
    wb = grid_data(rng, (6, 14), np.float64)
    bb = grid_data(rng, (14,), np.float64)
    dy = grid_data(rng, (10, 8, 7), np.float64)

    def views(xb, wb, bb):  # input (10, 8, 6) strided; weight (7, 6) transposed and strided; bias strided
        return xb[::2, :, 1:].transpose(0, 2, 1), wb.T[::2], bb[::2]

    x, w, b = views(xb, wb, bb)  # on the host, for torch
    # The views are taken where the arrays live, so that our kernels get strided memory on the GPU too.
    xd, wd, bd = views(*(to_device(a, device) for a in (xb, wb, bb)))
    assert not xd.flags.c_contiguous and not wd.flags.c_contiguous and not bd.flags.c_contiguous
    case = ((10, 8, 6), 7, True)
    compare(run_ours(xd, wd, bd, dy, device), run_torch(np.ascontiguousarray(x), np.ascontiguousarray(w), b, dy),
            case, np.float64, f"non-contiguous on {device}")
    # transposed weight through the autograd (Tensor.t()), as a user would write x @ W.t()
    tw = fl.Tensor(to_device(np.ascontiguousarray(w.T), device), requires_grad=True)
    y = F.linear(fl.Tensor(xd), tw.t())
    assert_close(to_host(y), np.ascontiguousarray(x) @ w.T, "linear", f"weight.t() on {device}", 6)


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("shape", [(96, 300, 130), (200, 64, 70)], ids=["dot_forward", "gemm_forward"])
def test_linear_bitwise_independent_of_thread_count(shape, dtype, threads):
    M, K, N = shape
    rng = np.random.default_rng(5)
    x = rng.standard_normal((M, K)).astype(dtype)
    w = rng.standard_normal((N, K)).astype(dtype)
    b = rng.standard_normal(N).astype(dtype)
    dy = rng.standard_normal((M, N)).astype(dtype)
    assert _C.linear_impl(x, w).split()[0] == ("dot" if M < 128 else "gemm")
    results = []
    for n in (1, 2):
        fl.set_num_threads(n)
        results.append((_C.linear_forward(x, w, b),) + tuple(_C.linear_backward(dy, x, w, (True, True, True))))
    for name, a, c in zip(["output", "grad_input", "grad_weight", "grad_bias"], *results):
        assert np.array_equal(a, c), f"linear {name} {shape}: 1 and 2 threads differ by {np.abs(a - c).max():.3g}"


def test_linear_backward_mask_and_needs_input_grad(device):
    rng = np.random.default_rng(0)
    x, w, dy = rng.standard_normal((4, 5)), rng.standard_normal((3, 5)), rng.standard_normal((4, 3))
    gx, gw, gb = _C.linear_backward(*(to_device(a, device) for a in (dy, x, w)), (False, True, False))
    assert gx is None and gb is None and np.allclose(to_host(gw), dy.T @ x)
    # only the weight requires grad: the input gradient is never asked for
    tw = fl.Tensor(to_device(w, device), requires_grad=True)
    tx = fl.Tensor(to_device(x, device))
    F.linear(tx, tw).sum().backward()
    assert tx.grad is None and np.allclose(to_host(tw.grad), np.ones((4, 3)).T @ x)


def test_linear_empty_batch_and_zero_in_features(device):
    def t(a, requires_grad=False):
        return fl.Tensor(to_device(a, device), requires_grad=requires_grad)

    y = F.linear(t(np.zeros((0, 3))), t(np.ones((2, 3))), t(np.ones(2)))
    assert y.shape == (0, 2)
    b = np.arange(4.0)
    y = F.linear(t(np.zeros((3, 0))), t(np.zeros((4, 0))), t(b))
    np.testing.assert_array_equal(to_host(y), np.tile(b, (3, 1)))
    tw = t(np.ones((2, 3)), requires_grad=True)
    F.linear(t(np.zeros((0, 3))), tw).sum().backward()
    np.testing.assert_array_equal(to_host(tw.grad), np.zeros((2, 3)))


def test_linear_vector_weight_and_broadcast_bias_as_torch(device):
    rng = np.random.default_rng(0)
    x, w, w2 = rng.standard_normal((2, 4, 5)), rng.standard_normal(5), rng.standard_normal((3, 5))
    for args in [(w,), (w2, rng.standard_normal(1)), (w2, rng.standard_normal((4, 3))), (w[None], np.array(0.5))]:
        ours = to_host(F.linear(fl.Tensor(to_device(x, device)), *[fl.Tensor(to_device(a, device)) for a in args]))
        ref = TF.linear(torch.tensor(x), *[torch.tensor(a) for a in args]).numpy()
        assert ours.shape == ref.shape, f"linear weight {args[0].shape}: shape {ours.shape} != {ref.shape}"
        np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-12, err_msg=f"linear on {device}")
    # the gradient reaches a broadcast bias summed over the broadcast dimensions
    tb = fl.Tensor(to_device(np.zeros((4, 1)), device), requires_grad=True)
    F.linear(fl.Tensor(to_device(x, device)), fl.Tensor(to_device(w2, device)), tb).sum().backward()
    np.testing.assert_array_equal(to_host(tb.grad), np.full((4, 1), 6.0))


def test_linear_bad_inputs_name_the_argument(device):
    def a(shape, dtype=np.float64):  # an array on `device`
        return to_device(np.zeros(shape, dtype), device)

    x = fl.Tensor(a((2, 5), np.float32))
    w = fl.Tensor(a((3, 5), np.float32))
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(2x4 and 5x3\)"):
        F.linear(fl.Tensor(a((2, 4), np.float32)), w)
    with pytest.raises(ValueError, match=r"bias must have shape \(3,\) or broadcast to the output shape \(2, 3\), "
                                         r"got \(4,\)"):
        F.linear(x, w, fl.Tensor(a(4, np.float32)))
    with pytest.raises(TypeError, match="weight must have dtype float32"):
        F.linear(x, fl.Tensor(a((3, 5))))
    # float16 and bfloat16 are accepted on the GPU only (half kernels)
    allowed = "float32 or float64" if device == "cpu" else "float16, bfloat16, float32 or float64"
    with pytest.raises(TypeError, match=f"input must have dtype {allowed}"):
        F.linear(fl.Tensor(a((2, 5), np.int64)), w)
    with pytest.raises(TypeError, match="argument 'weight' must be a fastlayers.Tensor"):
        F.linear(x, a((3, 5), np.float32))
    with pytest.raises(RuntimeError, match="at least 1D"):
        F.linear(fl.Tensor(to_device(np.asarray(1.0, np.float32), device)), w)
    with pytest.raises(ValueError, match="weight must be 2-D"):
        F.linear(x, fl.Tensor(a((3, 5, 1), np.float32)))
    with pytest.raises(ValueError, match="input must be 2-D"):
        _C.linear_forward(a(5, np.float32), a((3, 5), np.float32))
    with pytest.raises(ValueError, match="cannot be multiplied"):
        _C.linear_backward(a((2, 3)), a((2, 4)), a((3, 5)))
    with pytest.raises(ValueError, match="grad_output must have shape"):
        _C.linear_backward(a((2, 4)), a((2, 5)), a((3, 5)))
    with pytest.raises(ValueError, match="out_features must be a non-negative int"):
        nn.Linear(3, -1)


def test_linear_module_matches_torch_init_repr_and_state_dict(device):
    fl.manual_seed(0)
    m = nn.Linear(256, 200)
    tm = torch.nn.Linear(256, 200)
    assert repr(m) == repr(tm)
    assert repr(nn.Linear(3, 4, bias=False)) == repr(torch.nn.Linear(3, 4, bias=False))
    assert list(m.state_dict()) == list(tm.state_dict())
    assert [p.shape for p in m.parameters()] == [tuple(p.shape) for p in tm.parameters()]
    bound = 1 / math.sqrt(256)
    w, b = m.weight.detach().numpy(), m.bias.detach().numpy()
    assert w.dtype == np.float32 and np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert np.abs(b).max() <= bound and np.abs(b).max() > 0.9 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound  # uniform on [-bound, bound]
    assert nn.Linear(3, 4, dtype=np.float64).weight.dtype == np.float64
    # load torch's weights and agree on a batch (the initialization above is made on the CPU on every device)
    m.load_state_dict(tm.state_dict())
    assert m.to(device) is m and m.weight.device.split(":")[0] == device
    x = np.random.default_rng(0).standard_normal((3, 256)).astype(np.float32)
    assert_close(to_host(m(fl.Tensor(to_device(x, device)))), tm(torch.tensor(x)).detach().numpy(), "nn.Linear",
                 f"torch weights on {device}", 256, np.float32)


def test_linear_module_trains_like_torch(device):
    """Three SGD steps of a two-layer MLP from the same weights give the same weights as torch."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 12))
    target = rng.standard_normal((16, 3))
    ours = nn.Sequential(nn.Linear(12, 8, dtype=np.float64), nn.Linear(8, 3, dtype=np.float64))
    ref = torch.nn.Sequential(torch.nn.Linear(12, 8), torch.nn.Linear(8, 3)).double()
    ref.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    ours.to(device)
    x_ours, target_ours = fl.Tensor(to_device(x, device)), fl.Tensor(to_device(target, device))
    opt = fl.optim.SGD(ours.parameters(), lr=0.1)
    topt = torch.optim.SGD(ref.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        ((ours(x_ours) - target_ours) ** 2).mean().backward()
        opt.step()
        topt.zero_grad()
        ((ref(torch.tensor(x)) - torch.tensor(target)) ** 2).mean().backward()
        topt.step()
    for (k, v), (tk, tv) in zip(ours.state_dict().items(), ref.state_dict().items()):
        assert k == tk
        np.testing.assert_allclose(to_host(v), tv.numpy(), rtol=1e-10, atol=1e-12, err_msg=f"{k} on {device}")


def test_lenet_like_model_forward_and_gradients_match_torch(device):
    """The LeNet of the benchmark table, built from fastlayers modules alone, against torch (float64, batch 3)."""
    def build(lib, **dt):
        return lib.Sequential(lib.Conv2d(1, 32, 5, **dt), lib.ReLU(), lib.MaxPool2d(3), lib.Conv2d(32, 64, 5, **dt),
                              lib.ReLU(), lib.MaxPool2d(2), lib.Flatten(), lib.Linear(256, 200, **dt), lib.ReLU(),
                              lib.Linear(200, 10, **dt))

    ours = build(nn, dtype=np.float64)
    ref = build(torch.nn).double()
    ref.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    ours.to(device)
    x = np.random.default_rng(0).standard_normal((3, 1, 28, 28))
    y = ours(fl.Tensor(to_device(x, device)))
    ry = ref(torch.tensor(x))
    assert y.shape == (3, 10)
    np.testing.assert_allclose(to_host(y), ry.detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=f"output on {device}")
    (y * y).sum().backward()
    (ry * ry).sum().backward()
    for (name, p), (_, q) in zip(ours.named_parameters(), ref.named_parameters()):
        np.testing.assert_allclose(to_host(p.grad), q.grad.numpy(), rtol=1e-9, atol=1e-10,
                                   err_msg=f"{name} on {device}")
