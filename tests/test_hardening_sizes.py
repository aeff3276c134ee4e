"""Hostile sizes: strides, paddings and dilations near 2**62 .. 2**63 are refused with ValueError naming the
argument (never a wrapped size, a crash or values read outside the input), and workspaces scale with the
input, the kernel and the output, not with the stride (a stride far larger than the input computes torch's
result in bounded memory). Each call runs in a subprocess, so a crash fails the test with its repro."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import fastlayers as fl
import fastlayers.nn.functional as F
from conftest import assert_close
from hardening_subproc import run_isolated

BIG = 2**62
MAX = 2**63 - 1

# (name, call, the argument the error must name). x: (1, 6, 2, 2); w: (3, 2, 1, 1) unless said.
REFUSED = [
    ("conv2d_stride_2p62", "F.conv2d(T(x), T(w), stride=(2**62, 2), padding=1, groups=3)", "stride 4611686018427387904"),
    ("conv2d_backward_stride_2p62",
     "_C.conv2d_backward(np.ones((1, 3, 1, 2), np.float32), x, w, (2**62, 2), (1, 1), (1, 1), 3, (True, True, True))",
     "stride 4611686018427387904"),
    ("conv2d_forward_C_stride_w_max", "_C.conv2d_forward(x, w, None, (1, 2**63 - 1), (0, 0), (1, 1), 3)",
     "stride 9223372036854775807"),
    ("conv2d_padding_max", "F.conv2d(T(x), T(w), padding=2**63 - 1, groups=3)", "padding 9223372036854775807"),
    ("conv2d_padding_2p62", "F.conv2d(T(x), T(w), padding=(0, 2**62), groups=3)", "padding 4611686018427387904"),
    ("conv2d_dilation_2p62_k3", "F.conv2d(T(x), T(np.ones((3, 2, 3, 3), np.float32)), dilation=2**62, groups=3)",
     "dilation 4611686018427387904"),
    ("conv1d_stride_2p62", "F.conv1d(T(x[0, :, :, 0][None]), T(w[:, :, :, 0]), stride=2**62, padding=1, groups=3)",
     "stride 4611686018427387904"),
    ("conv_transpose2d_stride_2p62",
     "F.conv_transpose2d(T(np.ones((1, 2, 3, 3), np.float32)), T(np.ones((2, 1, 2, 2), np.float32)), stride=2**62)",
     "stride 4611686018427387904"),
    ("conv_transpose2d_padding_2p62",
     "F.conv_transpose2d(T(np.ones((1, 2, 3, 3), np.float32)), T(np.ones((2, 1, 2, 2), np.float32)), padding=2**62)",
     "padding (4611686018427387904"),  # -2 * 2**62 fits: the output size is negative, refused as such
    ("conv_transpose2d_dilation_max",
     "F.conv_transpose2d(T(np.ones((1, 2, 3, 3), np.float32)), T(np.ones((2, 1, 3, 3), np.float32)), dilation=2**63 - 1)",
     "dilation 9223372036854775807"),
    ("conv_transpose1d_stride_max",
     "F.conv_transpose1d(T(np.ones((1, 2, 3), np.float32)), T(np.ones((2, 1, 2), np.float32)), stride=2**63 - 1)",
     "stride 9223372036854775807"),
    ("conv_transpose2d_C_backward_stride_2p62",
     "_C.conv_transpose2d_backward(np.ones((1, 1, 4, 4), np.float32), np.ones((1, 2, 3, 3), np.float32), "
     "np.ones((2, 1, 2, 2), np.float32), (2**62, 1), (0, 0), (0, 0), 1, (1, 1), (True, True, True))",
     "stride 4611686018427387904"),
    ("max_pool2d_stride_2p62", "F.max_pool2d(T(x), 2**62, stride=2**62, padding=2**61)", "index beyond int64"),
]


@pytest.mark.parametrize("name,call,arg", REFUSED, ids=[c[0] for c in REFUSED])
def test_hostile_sizes_raise_value_error_naming_the_argument(name, call, arg):
    out = run_isolated(f"""
        x = np.ones((1, 6, 2, 2), np.float32)
        w = np.ones((3, 2, 1, 1), np.float32)
        print(outcome(lambda: {call}))
    """)
    assert out.startswith("ValueError") and arg in out, f"{name}: expected ValueError naming {arg!r}, got {out!r}"


def test_conv1d_huge_dilation_refused_every_time_without_heap_corruption():
    # issue 12: this call once read outside the input (values ~1e38) and corrupted the heap within 200 calls.
    out = run_isolated("""
        x = T(np.ones((1, 2, 5), np.float32)); w = T(np.ones((3, 2, 2), np.float32))
        res = {outcome(lambda: F.conv1d(x, w, stride=2, dilation=2**63 - 1)).split(":")[0] for _ in range(300)}
        print(sorted(res))
    """)
    assert out.strip() == "['ValueError']", out


def _torch_conv(x, w, **kw):
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    y = TF.conv2d(xt, wt, **kw)
    y.backward(torch.ones_like(y))
    return y.detach().numpy(), xt.grad.numpy(), wt.grad.numpy()


# Strides far beyond the input (and beyond the window): the result is torch's; the phase-split workspace
# once held stride_h * stride_w planes (51 GB for 20000 x 20000).
LARGE_STRIDES = [
    dict(N=2, C=3, H=2, W=2, K=4, R=1, S=1, stride=(20000, 20000), padding=0, dilation=1),
    dict(N=2, C=5, H=7, W=9, K=3, R=2, S=3, stride=(1000, 1000), padding=1, dilation=1),
    dict(N=1, C=4, H=9, W=11, K=2, R=3, S=2, stride=(7, 2**40), padding=(2, 1), dilation=(3, 5)),
    dict(N=1, C=8, H=6, W=40, K=8, R=3, S=3, stride=(3, 5), padding=1, dilation=(2, 4)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("c", LARGE_STRIDES, ids=lambda c: f"s{c['stride']}k{c['R']}x{c['S']}d{c['dilation']}")
def test_stride_larger_than_input_matches_torch(c, dtype):
    rng = np.random.default_rng(0)
    x = rng.integers(-3, 4, (c["N"], c["C"], c["H"], c["W"])).astype(dtype)
    w = rng.integers(-2, 3, (c["K"], c["C"], c["R"], c["S"])).astype(dtype)
    kw = dict(stride=c["stride"], padding=c["padding"], dilation=c["dilation"])
    y, dx, dw = _torch_conv(x, w, **kw)
    xf, wf = fl.Tensor(x, requires_grad=True), fl.Tensor(w, requires_grad=True)
    yf = F.conv2d(xf, wf, **kw)
    yf.backward(fl.Tensor(np.ones_like(y)))
    n = c["C"] * c["R"] * c["S"]
    assert_close(yf.detach().numpy(), y, "conv2d forward", c, n, dtype)
    assert_close(xf.grad.numpy(), dx, "conv2d grad_input", c, c["K"] * c["R"] * c["S"], dtype)
    assert_close(wf.grad.numpy(), dw, "conv2d grad_weight", c, c["N"] * c["H"] * c["W"], dtype)


def test_huge_stride_workspace_does_not_scale_with_the_stride():
    # forward and both gradients at stride 20000 x 20000 on a 2 x 2 input: a few MB, well under a second
    out = run_isolated("""
        import resource, time
        x = np.ones((2, 16, 40, 40), np.float32); w = np.ones((4, 16, 2, 2), np.float32)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t = time.perf_counter()
        y = _C.conv2d_forward(x, w, None, (20000, 20000), (1, 1), (1, 1), 1)
        _C.conv2d_backward(np.ones_like(y), x, w, (20000, 20000), (1, 1), (1, 1), 1, (True, True, True))
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024, time.perf_counter() - t)
    """)
    grown_mb, secs = out.split()
    assert int(grown_mb) < 64 and float(secs) < 5, f"stride 20000x20000: grew {grown_mb} MB in {secs} s"


@pytest.mark.parametrize("x_shape,w_shape,kw", [
    # found by tests/test_fuzz.py: (W + 2*pad - dil*(S-1) - 1) / stride truncated a negative numerator to 0,
    # so a kernel wider than the padded input gave one output column read outside the input
    ((2, 6, 7, 1), (2, 3, 4, 2), dict(stride=(2, 3), padding=(2, 0), dilation=(3, 1), groups=2)),
    ((1, 2, 1, 3), (1, 2, 3, 3), dict(stride=(3, 2), padding=(0, 2), dilation=(1, 3))),
    ((1, 3, 6, 2), (6, 1, 3, 2), dict(stride=2, dilation=(3, 1), groups=3)),
], ids=["w", "h_and_w", "h"])
def test_kernel_larger_than_padded_input_is_refused_as_torch(x_shape, w_shape, kw):
    x, w = np.ones(x_shape), np.ones(w_shape)
    with pytest.raises(RuntimeError, match="Kernel size can't be greater"):
        TF.conv2d(torch.tensor(x), torch.tensor(w), **kw)
    with pytest.raises(ValueError, match="larger than the padded input"):
        F.conv2d(fl.Tensor(x), fl.Tensor(w), **kw)
