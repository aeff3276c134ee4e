"""Shared test helpers. torch is the oracle: it is imported without a skip, so a missing torch fails loudly."""
import numpy as np
import pytest
import torch  # noqa: F401  (the oracle must be present: no silent skips)

import fastlayers as fl
from fastlayers import _C


def simd_levels():
    """Every SIMD path this CPU can run: the portable one and the best one, and AVX2 in between if present."""
    levels = ["portable", "avx2", "avx512"]
    best = levels.index(_C.max_simd_level())
    return levels[: best + 1]


@pytest.fixture(params=simd_levels())
def simd(request):
    """Runs the test on one SIMD path, restoring the default afterwards."""
    before = _C.simd_level()
    _C.set_simd_level(request.param)
    yield request.param
    _C.set_simd_level(before)


@pytest.fixture
def threads():
    """Restores the thread count a test changes."""
    before = fl.get_num_threads()
    yield
    fl.set_num_threads(before)


HAS_GPU = fl.cuda.is_available()
# Every op test that checks semantics (not a CPU-only property such as a SIMD path or the thread count) runs
# on each device; the CUDA cases are skipped, with this reason shown, where no GPU is present.
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not HAS_GPU, reason="no CUDA device"))]


@pytest.fixture(params=DEVICES)
def device(request):
    """'cpu' or 'cuda': where the test puts our inputs (torch, the oracle, stays on the CPU)."""
    return request.param


def to_device(a, device):
    """A host array (or None) moved to `device`: a CuPy array for 'cuda', the array itself for 'cpu'."""
    if a is None or device == "cpu":
        return a
    import cupy
    return cupy.asarray(a)


def to_host(a):
    """A numpy copy of an array or Tensor from either device (detached), for comparisons."""
    if isinstance(a, fl.Tensor):
        a = a.detach().data
    if isinstance(a, np.ndarray) or np.isscalar(a):
        return np.asarray(a)
    import cupy
    return cupy.asnumpy(a)


def grid_data(rng, shape, dtype):
    """Values on a coarse grid (multiples of 1/4 in [-2, 2]) so sums of products are nearly exact and
    comparisons can be tight."""
    return (rng.integers(-8, 9, size=shape) / 4).astype(dtype)


def assert_close(ours, expected, op, case, reduction_len=1, dtype=np.float64):
    """Absolute plus relative tolerance scaled by the reduction length; the message names the op, the case
    and the largest error."""
    ours = np.asarray(ours)
    expected = np.asarray(expected)
    assert ours.shape == expected.shape, f"{op} {case}: shape {ours.shape} != expected {expected.shape}"
    eps = np.finfo(dtype).eps
    tol = 8 * eps * np.sqrt(reduction_len) * (1 + np.abs(expected))
    err = np.abs(ours.astype(np.float64) - expected.astype(np.float64))
    bad = err > tol
    if bad.any():
        worst = np.unravel_index(np.argmax(err - tol), err.shape)
        raise AssertionError(f"{op} {case}: {int(bad.sum())} of {err.size} elements off; largest error "
                             f"{err.max():.3g} (at {tuple(int(i) for i in worst)}: ours {ours[worst]!r}, expected "
                             f"{expected[worst]!r}, tolerance {tol[worst]:.3g})")


def check_module_with_torch_weights(ours, ref, x, reduction_len, dtype, device="cpu"):
    """Loads torch module `ref`'s state_dict into ours (same keys required), moves ours to `device`, runs both
    on x with the same output gradient, and compares the output and the gradients of the input and of every
    parameter (ours brought back to the host; torch on the CPU)."""
    assert list(ours.state_dict()) == list(ref.state_dict()), "state_dict keys differ from torch"
    ours.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    ours.to(device)
    tx = torch.from_numpy(x).requires_grad_()
    ty = ref(tx)
    dy = grid_data(np.random.default_rng(1), tuple(ty.shape), dtype)
    ty.backward(torch.from_numpy(dy))
    fx = fl.tensor(to_device(x, device), requires_grad=True)
    y = ours(fx)
    y.backward(to_device(dy, device))
    case = f"{ref!r} on {device}"
    assert_close(to_host(y), ty.detach().numpy(), "module forward", case, reduction_len, dtype)
    assert_close(to_host(fx.grad), tx.grad.numpy(), "module grad_input", case, reduction_len, dtype)
    for (name, p), (tname, tp) in zip(ours.named_parameters(), ref.named_parameters()):
        assert name == tname
        assert_close(to_host(p.grad), tp.grad.numpy(), f"module grad {name}", case, reduction_len, dtype)


# ---- devices A ----
@pytest.fixture(params=simd_levels() + [pytest.param("cuda", marks=DEVICES[1].marks)])
def simd_device(request):
    """For a test that runs every SIMD path on the CPU and also runs on the GPU: 'cpu' once per SIMD path (set
    as `simd` does), then 'cuda'. SIMD paths mean nothing to the CUDA kernels, so simd x device would only
    repeat the GPU case."""
    if request.param == "cuda":
        yield "cuda"
        return
    before = _C.simd_level()
    _C.set_simd_level(request.param)
    yield "cpu"
    _C.set_simd_level(before)
