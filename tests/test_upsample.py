"""Upsampling against torch: F.interpolate (nearest and bilinear on 4-D input, nearest and linear on 3-D input)
with size and scale_factor forms, non-integer scales, downsampling, align_corners both ways and
recompute_scale_factor; forward and gradient in float32 and float64, fast kernels against the C++
references, finite differences, non-contiguous input, thread counts, modules (repr, attributes,
state_dict) and bad input. The checks against torch run on each device (`device`); the direct-vs-reference,
thread and finite-difference checks are CPU properties."""
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

# (input shape, interpolate keyword arguments)
CASES = [
    ((2, 3, 5, 7), dict(size=(9, 4))),
    ((1, 1, 4, 4), dict(scale_factor=2)),
    ((2, 5, 7, 3), dict(scale_factor=1.7)),
    ((1, 3, 9, 11), dict(scale_factor=(0.5, 0.37))),
    ((2, 3, 5, 7), dict(scale_factor=2.5, recompute_scale_factor=True)),
    ((1, 3, 5, 7), dict(scale_factor=(1.3, 2.9), recompute_scale_factor=False)),
    ((1, 1, 6, 6), dict(size=6)),
    ((1, 2, 3, 5), dict(size=(13, 11))),
    ((2, 3, 5, 7), dict(size=(9, 4), mode="bilinear")),
    ((2, 3, 5, 7), dict(size=(9, 4), mode="bilinear", align_corners=True)),
    ((1, 5, 6, 4), dict(scale_factor=(2.3, 1.6), mode="bilinear")),
    ((1, 5, 6, 4), dict(scale_factor=(2.3, 1.6), mode="bilinear", align_corners=True)),
    ((2, 1, 9, 11), dict(scale_factor=0.4, mode="bilinear")),
    ((2, 3, 7, 5), dict(size=(3, 2), mode="bilinear", align_corners=True)),
    ((1, 3, 5, 7), dict(scale_factor=1.5, mode="bilinear", recompute_scale_factor=True)),
    ((1, 2, 1, 1), dict(size=(3, 4), mode="bilinear", align_corners=True)),
    ((1, 2, 1, 1), dict(size=(3, 4), mode="bilinear")),
    ((1, 2, 4, 4), dict(size=(1, 1), mode="bilinear", align_corners=True)),
    ((1, 2, 4, 4), dict(size=1, mode="bilinear")),
    ((1, 3, 4, 5), dict(size=(4, 5), mode="bilinear")),
    ((1, 3, 4, 5), dict(scale_factor=3, mode="bilinear", align_corners=False)),
    ((2, 3, 7), dict(size=11)),
    ((2, 3, 7), dict(scale_factor=0.6)),
    ((1, 2, 9), dict(scale_factor=1.1)),  # torch's backward disagrees with its forward: torch_backward_disagrees
    ((1, 3, 7), dict(scale_factor=2.047)),
    ((1, 3, 7, 4), dict(scale_factor=(2.047, 1.2))),
    ((1, 2, 3, 9), dict(scale_factor=(1.0, 1.1))),
    ((1, 2, 9, 5), dict(scale_factor=(1.1, 1.829), mode="bilinear")),
    ((1, 2, 9), dict(scale_factor=1.05, mode="linear")),
    ((1, 4, 5), dict(size=9, mode="linear")),
    ((1, 4, 5), dict(scale_factor=2.2, mode="linear", align_corners=True)),
    ((3, 1, 8), dict(scale_factor=0.45, mode="linear")),
]


def torch_backward_disagrees(shape, kw, out_shape):
    """torch 2.13's 1-D nearest backward copies an axis that keeps its size and reads dst/2 on one that
    doubles, while its forward maps both with 1/scale_factor. Our gradient is the exact adjoint of the
    (torch-matching) forward, so there the oracle is the transpose of torch's forward map instead."""
    return (len(shape) == 3 and kw.get("mode", "nearest") == "nearest" and kw.get("scale_factor") is not None
            and not kw.get("recompute_scale_factor") and out_shape[-1] in (shape[-1], 2 * shape[-1]))


def forward_adjoint(x, dy, kw):
    """J^T dy for J the Jacobian of torch's forward (exact for these linear maps), one plane at a time."""
    n, c = x.shape[:2]
    plane = int(np.prod(x.shape[2:]))
    cols = []
    for i in range(plane):
        e = np.zeros((1, 1) + x.shape[2:], x.dtype)
        e.reshape(-1)[i] = 1
        cols.append(TF.interpolate(torch.from_numpy(e), **kw).numpy().reshape(-1))
    jac = np.stack(cols, axis=1)  # (out plane, in plane)
    return (dy.reshape(n * c, -1) @ jac).reshape(x.shape).astype(x.dtype)


def case_id(case):
    shape, kw = case
    return "x".join(map(str, shape)) + "-" + "-".join(f"{k}={v}" for k, v in kw.items())


def torch_run(x, dy, kw):
    tx = torch.from_numpy(x).requires_grad_()
    y = TF.interpolate(tx, **kw)
    y.backward(torch.from_numpy(dy))
    return y.detach().numpy(), tx.grad.numpy()


def ours_run(x, dy, kw, device):
    """Our output and input gradient (host copies), x and dy on `device` (arrays there are passed as they are)."""
    fx = fl.Tensor(to_device(x, device), requires_grad=True)
    y = F.interpolate(fx, **kw)
    y.backward(to_device(dy, device))
    return to_host(y), to_host(fx.grad)


def taps(shape, out_shape):
    """How many output elements may land on one input element (the gradient's reduction length)."""
    n = 1
    for i, o in zip(shape[2:], out_shape[2:]):
        n *= -(-o // i) + 1
    return n


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_interpolate_matches_torch(case, dtype, device):
    shape, kw = case
    rng = np.random.default_rng(len(shape) * 100 + sum(shape))
    x = grid_data(rng, shape, dtype)
    y_t = TF.interpolate(torch.from_numpy(x), **kw).numpy()
    dy = grid_data(rng, y_t.shape, dtype)
    y_t, dx_t = torch_run(x, dy, kw)
    y, dx = ours_run(x, dy, kw, device)
    assert y.dtype == dtype and dx.dtype == dtype
    if torch_backward_disagrees(shape, kw, y.shape):
        dx_t = forward_adjoint(x, dy, kw)
    label = f"{case_id(case)} {np.dtype(dtype).name}"
    if kw.get("mode", "nearest") == "nearest":
        np.testing.assert_array_equal(y, y_t, err_msg=f"interpolate nearest forward {label}")
    else:
        assert_close(y, y_t, "interpolate", f"forward {label}", reduction_len=4, dtype=dtype)
    assert_close(dx, dx_t, "interpolate", f"grad_input {label}", reduction_len=4 * taps(shape, y.shape), dtype=dtype)


def as_4d(shape, kw, x):
    """The kernel-level arguments the functional passes for case (shape, kw)."""
    y = TF.interpolate(torch.from_numpy(x), **kw)
    out = tuple(y.shape[2:])
    scales = [0.0] * (len(shape) - 2)
    sf = kw.get("scale_factor")
    if sf is not None and not kw.get("recompute_scale_factor"):
        scales = [float(s) for s in (sf if isinstance(sf, tuple) else (sf,) * len(scales))]
    mode = "nearest" if kw.get("mode", "nearest") == "nearest" else "bilinear"
    if len(shape) == 3:
        return x[:, :, None, :], (1, out[0]), (0.0, scales[0]), mode, False
    return x, out, tuple(scales), mode, True


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_direct_kernels_match_reference(case, dtype):
    shape, kw = case
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape).astype(dtype)
    x4, out, scales, mode, copy = as_4d(shape, kw, x)
    ac = bool(kw.get("align_corners", False))
    y_ref = _C.upsample2d_forward(x4, out, scales, mode, ac, copy, impl="reference")
    y = _C.upsample2d_forward(x4, out, scales, mode, ac, copy, impl="direct")
    np.testing.assert_array_equal(y, y_ref, err_msg=f"upsample2d forward direct vs reference {case_id(case)}")
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx_ref = _C.upsample2d_backward(dy, x4.shape[2:], scales, mode, ac, copy, impl="reference")
    dx = _C.upsample2d_backward(dy, x4.shape[2:], scales, mode, ac, copy, impl="direct")
    np.testing.assert_array_equal(dx, dx_ref, err_msg=f"upsample2d backward direct vs reference {case_id(case)}")


GRADCHECK = [
    ((1, 2, 3, 4), dict(size=(5, 7))),
    ((1, 2, 5, 4), dict(scale_factor=0.6)),
    ((1, 2, 3, 4), dict(size=(5, 7), mode="bilinear")),
    ((2, 1, 3, 4), dict(scale_factor=(1.5, 0.75), mode="bilinear", align_corners=True)),
    ((1, 2, 4), dict(size=7, mode="linear")),
]


@pytest.mark.parametrize("case", GRADCHECK, ids=[case_id(c) for c in GRADCHECK])
def test_interpolate_gradcheck_float64(case):
    shape, kw = case
    x = fl.Tensor(np.random.default_rng(3).standard_normal(shape), requires_grad=True)
    assert fl.autograd.gradcheck(lambda t: F.interpolate(t, **kw), (x,))


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_non_contiguous_input_matches_torch(mode, device):
    rng = np.random.default_rng(11)
    base = rng.standard_normal((7, 5, 3, 2)).astype(np.float32)
    x = to_device(base, device).transpose(3, 2, 1, 0)  # (2, 3, 5, 7), not contiguous (a view on the device)
    assert not x.flags.c_contiguous
    kw = dict(scale_factor=(1.6, 0.7), mode=mode)
    dy = rng.standard_normal((2, 3, 8, 4)).astype(np.float32)
    y_t, dx_t = torch_run(np.ascontiguousarray(base.transpose(3, 2, 1, 0)), dy, kw)
    y, dx = ours_run(x, to_device(dy[..., ::-1].copy(), device)[..., ::-1], kw, device)  # strided dy as well
    assert_close(y, y_t, "interpolate", f"non-contiguous forward {mode}", reduction_len=4, dtype=np.float32)
    assert_close(dx, dx_t, "interpolate", f"non-contiguous grad_input {mode}", reduction_len=16, dtype=np.float32)


def test_one_and_two_threads_agree(threads):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 5, 17, 13)).astype(np.float32)
    results = {}
    for n in (1, 2):
        fl.set_num_threads(n)
        for kw in (dict(scale_factor=2.3), dict(size=(31, 7), mode="bilinear"),
                   dict(scale_factor=0.6, mode="bilinear", align_corners=True)):
            fx = fl.Tensor(x, requires_grad=True)
            y = F.interpolate(fx, **kw)
            y.backward(np.ones(y.shape, np.float32) * np.arange(y.shape[-1], dtype=np.float32))
            results.setdefault(str(kw), []).append((y.detach().numpy(), fx.grad.numpy()))
    for key, ((y1, g1), (y2, g2)) in results.items():
        np.testing.assert_array_equal(y1, y2, err_msg=f"interpolate {key}: forward differs between 1 and 2 threads")
        np.testing.assert_array_equal(g1, g2, err_msg=f"interpolate {key}: gradient differs between 1 and 2 threads")


MODULES = [
    ("Upsample", dict(scale_factor=2)),
    ("Upsample", dict(size=(4, 5), mode="bilinear", align_corners=True)),
    ("Upsample", dict(scale_factor=(2, 1.5), mode="bilinear")),
    ("Upsample", dict(size=7)),
    ("Upsample", dict(scale_factor=1.5, recompute_scale_factor=True)),
    ("UpsamplingNearest2d", dict(size=(6, 9))),
    ("UpsamplingNearest2d", dict(scale_factor=3)),
    ("UpsamplingBilinear2d", dict(scale_factor=2)),
    ("UpsamplingBilinear2d", dict(size=(3, 8))),
]


@pytest.mark.parametrize("name,kw", MODULES, ids=[f"{n}-{kw}" for n, kw in MODULES])
def test_modules_match_torch(name, kw, device):
    ours, theirs = getattr(nn, name)(**kw), getattr(torch.nn, name)(**kw)
    assert repr(ours) == repr(theirs)
    for attr in ("size", "scale_factor", "mode", "align_corners", "recompute_scale_factor"):
        assert getattr(ours, attr) == getattr(theirs, attr), f"{name}: attribute {attr}"
    assert list(ours.state_dict().keys()) == list(theirs.state_dict().keys()) == []
    x = grid_data(np.random.default_rng(1), (2, 3, 4, 5), np.float64)
    assert_close(to_host(ours.to(device)(fl.Tensor(to_device(x, device)))), theirs(torch.from_numpy(x)).numpy(), name,
                 str(kw), reduction_len=4)


def test_upsample_aliases_match_torch(device):
    x = grid_data(np.random.default_rng(2), (1, 2, 3, 4), np.float64)
    tx = torch.from_numpy(x)
    calls = [
        ("upsample_nearest", dict(scale_factor=2), 1),
        ("upsample_bilinear", dict(size=(5, 7)), 4),
        ("upsample", dict(size=(2, 9), mode="bilinear"), 4),
    ]
    for name, kw, taps_ in calls:
        with pytest.warns(UserWarning, match="deprecated"):
            ours = to_host(getattr(F, name)(fl.Tensor(to_device(x, device)), **kw))
        with pytest.warns(UserWarning, match="deprecated"):
            theirs = getattr(TF, name)(tx, **kw).numpy()
        assert_close(ours, theirs, name, str(kw), reduction_len=taps_)


BAD = [
    ("size-and-scale", (1, 2, 4, 4), dict(size=3, scale_factor=2), ValueError, "only one of size or scale_factor"),
    ("neither", (1, 2, 4, 4), dict(), ValueError, "either size or scale_factor"),
    ("align-corners-nearest", (1, 2, 4, 4), dict(size=3, align_corners=True), ValueError,
     "align_corners option can only be set with the interpolating modes"),
    ("align-corners-false-nearest", (1, 2, 4, 4), dict(size=3, align_corners=False), ValueError,
     "align_corners option can only be set"),
    ("bad-mode", (1, 2, 4, 4), dict(size=3, mode="cubic"), NotImplementedError, "cubic"),
    ("bilinear-on-3d", (1, 2, 4), dict(size=3, mode="bilinear"), NotImplementedError, "bilinear mode needs 4D"),
    ("linear-on-4d", (1, 2, 4, 4), dict(size=3, mode="linear"), NotImplementedError, "linear mode needs 3D"),
    ("size-length", (1, 2, 4, 4), dict(size=(3, 4, 5)), ValueError, "same number of spatial dimensions"),
    ("scale-length", (1, 2, 4, 4), dict(scale_factor=(2.0,)), ValueError, "same number of spatial dimensions"),
    ("size-float", (1, 2, 4, 4), dict(size=(3.0, 4)), TypeError, "expected size"),
    ("recompute-with-size", (1, 2, 4, 4), dict(size=3, recompute_scale_factor=True), ValueError,
     "recompute_scale_factor is not meaningful"),
    ("output-empty", (1, 2, 4, 4), dict(scale_factor=0.1), RuntimeError, "greater than 0"),
]


@pytest.mark.parametrize("name,shape,kw,exc,match", BAD, ids=[b[0] for b in BAD])
def test_bad_arguments_raise_like_torch(name, shape, kw, exc, match, device):
    x = np.zeros(shape, np.float32)
    with pytest.raises(exc, match=match):
        F.interpolate(fl.Tensor(to_device(x, device)), **kw)
    with pytest.raises(exc):
        TF.interpolate(torch.from_numpy(x), **kw)


def test_bad_inputs_raise_clear_errors(device):
    def zeros(shape, dtype=np.float32):
        return to_device(np.zeros(shape, dtype), device)

    with pytest.raises(TypeError, match="input"):
        F.interpolate(zeros((1, 1, 2, 2), np.float32), size=3)
    with pytest.raises(TypeError, match="float32 or float64"):
        F.interpolate(fl.Tensor(zeros((1, 1, 2, 2), np.int64)), size=3)
    with pytest.raises(NotImplementedError, match="bicubic"):
        F.interpolate(fl.Tensor(zeros((1, 1, 2, 2), np.float32)), size=3, mode="bicubic")
    with pytest.raises(ValueError, match="4-D"):
        _C.upsample2d_forward(zeros((1, 2, 3), np.float32), (4, 4))
    with pytest.raises(ValueError, match="mode must be 'nearest' or 'bilinear', got 'bicubic'"):
        _C.upsample2d_forward(zeros((1, 2, 3, 3), np.float32), (4, 4), mode="bicubic")
    with pytest.raises(ValueError, match="output sizes must be greater than 0"):
        _C.upsample2d_forward(zeros((1, 2, 3, 3), np.float32), (0, 4))
    with pytest.raises(ValueError, match="scale factors must be >= 0"):
        _C.upsample2d_forward(zeros((1, 2, 3, 3), np.float32), (4, 4), scales=(-1.0, 0.0))
    with pytest.raises(ValueError, match="impl must be one of direct, reference, got 'bogus'"):
        _C.upsample2d_forward(zeros((1, 2, 3, 3), np.float32), (4, 4), impl="bogus")
    with pytest.raises(TypeError):
        _C.upsample2d_backward(zeros((1, 2, 3, 3), np.int32), (2, 2))
