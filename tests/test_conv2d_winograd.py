"""conv2d's Winograd F(4x4, 3x3) path (csrc/cpu/conv2d_winograd.cpp): float32 forward and backward data against
a float64 reference and against torch over a table of shapes it accepts (odd sizes, tile remainders, padding
0/1/2, batch 1 and more, odd and many channels), both SIMD paths, thread-count independence (bitwise),
non-contiguous input; which shapes it declines and why; the FASTLAYERS_CONV_ALGO=exact switch.

Error measure: the largest |ours - exact| over a tensor divided by the largest |exact| (elementwise relative error
means nothing where sums cancel to near zero). Measured over this table and over the 3x3 stride-1 conv2d cases of
bench/layers.json: `PYTHONPATH=python python tests/test_conv2d_winograd.py` prints the figures (README)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import fastlayers as fl
from fastlayers import _C

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the fastlayers these tests run against (installed, or the source tree with its built _C)
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(fl.__file__)))

# Bound on the relative error (see the module docstring) of float32 Winograd. Measured largest over this table
# and bench/layers.json (random normal data): 1.4e-5, growing slowly with the channel count (README); the bound
# leaves a margin of 3.5x, and stays far below what a wrong tap or tile (errors of order 1) gives.
REL_TOL = 5e-5


class Case:
    def __init__(self, N, C, H, W, K, pad=1, bias=True):
        self.N, self.C, self.H, self.W, self.K, self.pad, self.bias = N, C, H, W, K, pad, bias

    def __str__(self):
        return f"mb{self.N}ic{self.C}ih{self.H}iw{self.W}oc{self.K}kh3sh1ph{self.pad}{'' if self.bias else 'nb'}"


# Shapes Winograd takes (test_table_cases_take_winograd checks that they do: at least 64 channels in and out and
# 64 tiles of 4x4 outputs over the batch).
CASES = [
    Case(1, 64, 33, 31, 64),                # batch 1, odd sizes: tile remainders in both axes
    Case(3, 65, 22, 26, 67, pad=0),         # odd channels, no padding (output 20 x 24)
    Case(2, 64, 30, 29, 80, pad=2),         # padding 2: output larger than the input
    Case(4, 72, 16, 16, 64, bias=False),    # whole tiles, no bias
    Case(16, 64, 7, 7, 96),                 # 2 x 2 tiles per image, mostly remainder; blocks span images
    Case(8, 300, 9, 9, 64),                 # input channels past one reduction block (256)
    Case(6, 64, 13, 11, 300),               # output channels in several blocks
    Case(20, 64, 5, 4, 64, pad=2),          # narrow images (output 7 x 6)
    Case(1, 64, 40, 40, 64, pad=0),         # several tile blocks inside one image
]


def data(case, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((case.N, case.C, case.H, case.W)).astype(np.float32)
    w = rng.standard_normal((case.K, case.C, 3, 3)).astype(np.float32)
    b = rng.standard_normal(case.K).astype(np.float32) if case.bias else None
    P, Q = case.H + 2 * case.pad - 2, case.W + 2 * case.pad - 2
    dy = rng.standard_normal((case.N, case.K, P, Q)).astype(np.float32)
    return x, w, b, dy


def exact(case, x, w, b, dy):
    """float64 forward and grad_input (torch on the float32 values widened)."""
    t = lambda a: None if a is None else torch.from_numpy(a.astype(np.float64))
    tx = t(x).requires_grad_()
    y = TF.conv2d(tx, t(w), t(b), 1, case.pad)
    y.backward(t(dy))
    return y.detach().numpy(), tx.grad.numpy()


def torch32(case, x, w, b, dy):
    t = lambda a: None if a is None else torch.from_numpy(np.ascontiguousarray(a))
    tx = t(x).requires_grad_()
    y = TF.conv2d(tx, t(w), t(b), 1, case.pad)
    y.backward(t(dy))
    return y.detach().numpy(), tx.grad.numpy()


def ours(case, x, w, b, dy):
    y = _C.conv2d_forward(x, w, b, (1, 1), (case.pad, case.pad))
    dx, _, _ = _C.conv2d_backward(dy, x, w, (1, 1), (case.pad, case.pad), mask=(True, False, False))
    return y, dx


def rel_err(got, ref):
    return float(np.abs(got.astype(np.float64) - ref).max() / max(np.abs(ref).max(), 1e-30))


def check(case, got, ref, what):
    for name, g, r in zip(("forward", "grad_input"), got, ref):
        e = rel_err(g, r)
        assert e <= REL_TOL, f"conv2d winograd {name} {case} ({what}): relative error {e:.3g} > {REL_TOL:g}"


def test_table_cases_take_winograd():
    for case in CASES:
        impl = _C.conv2d_impl(np.zeros((case.N, case.C, case.H, case.W), np.float32),
                              np.zeros((case.K, case.C, 3, 3), np.float32), (1, 1), (case.pad, case.pad))
        assert impl.startswith("winograd "), f"conv2d {case}: took {impl}"


@pytest.mark.parametrize("case", CASES, ids=str)
def test_winograd_matches_float64_and_torch(case, simd):
    x, w, b, dy = data(case)
    got = ours(case, x, w, b, dy)
    check(case, got, exact(case, x, w, b, dy), f"vs float64, {simd}")
    # torch float32 rounds differently: compared with the same bound against the exact result's scale.
    ref64 = exact(case, x, w, b, dy)
    for name, g, t, r in zip(("forward", "grad_input"), got, torch32(case, x, w, b, dy), ref64):
        e = float(np.abs(g.astype(np.float64) - t).max() / np.abs(r).max())
        assert e <= REL_TOL, f"conv2d winograd {name} {case} vs torch float32 ({simd}): relative difference {e:.3g}"


@pytest.mark.parametrize("case", [CASES[0], CASES[2], CASES[4], CASES[5], CASES[8]], ids=str)
def test_winograd_results_do_not_depend_on_thread_count(case, simd, threads):
    x, w, b, dy = data(case, seed=3)
    fl.set_num_threads(1)
    one = ours(case, x, w, b, dy)
    fl.set_num_threads(2)
    two = ours(case, x, w, b, dy)
    for name, a, c in zip(("forward", "grad_input"), one, two):
        assert np.array_equal(a, c), f"conv2d winograd {name} {case} ({simd}): 1 and 2 threads differ"


@pytest.mark.parametrize("case", [CASES[0], CASES[2]], ids=str)
def test_winograd_non_contiguous_input(case):
    x, w, b, dy = data(case, seed=5)
    xs = np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
    dys = np.repeat(dy, 2, axis=1)[:, ::2]
    assert not xs.flags.c_contiguous and not dys.flags.c_contiguous
    got = ours(case, xs, w, b, dys)
    check(case, got, exact(case, x, w, b, dy), "strided input")
    contiguous = ours(case, x, w, b, dy)
    for a, c in zip(got, contiguous):
        assert np.array_equal(a, c), f"conv2d winograd {case}: strided and contiguous inputs differ"


@pytest.mark.parametrize("shape, why", [
    (((4, 64, 16, 16), (64, 64, 5, 5), 1, 1, 1), "5x5 kernel"),
    (((4, 64, 32, 32), (64, 64, 3, 3), 2, 1, 1), "stride 2"),
    (((4, 64, 18, 18), (64, 64, 3, 3), 1, 2, 2), "dilation 2"),
    (((4, 64, 16, 16), (64, 32, 3, 3), 1, 1, 1, 2), "two groups"),
    (((4, 64, 16, 16), (64, 64, 3, 3), 1, 3, 1), "padding 3: backward data would need padding -1"),
    (((64, 3, 32, 32), (64, 3, 3, 3), 1, 1, 1), "3 input channels (a stem)"),
    (((4, 1, 32, 32), (64, 1, 3, 3), 1, 1, 1), "1 input channel"),
    (((8, 32, 32, 32), (32, 32, 3, 3), 1, 1, 1), "32 channels: the transforms cost what they save"),
    (((4, 64, 16, 16), (32, 64, 3, 3), 1, 1, 1), "32 output channels"),
    (((2, 256, 16, 16), (256, 256, 3, 3), 1, 1, 1), "32 tiles: the weight transform is not amortized"),
    (((4, 512, 4, 4), (512, 512, 3, 3), 1, 1, 1), "4 tiles (ResNet's last stage at batch 4)"),
    (((16, 512, 7, 7), (512, 512, 3, 3), 1, 1, 1), "64 tiles and 37.7 MB of transformed weights"),
])
def test_winograd_declines(shape, why):
    (xs, ws, stride, pad, dil, *groups) = shape
    impl = _C.conv2d_impl(np.zeros(xs, np.float32), np.zeros(ws, np.float32), (stride, stride), (pad, pad),
                          (dil, dil), groups[0] if groups else 1)
    assert not impl.startswith("winograd "), f"conv2d input {xs} weight {ws} ({why}): took {impl}"


def test_declined_small_channel_cases_are_exact():
    # One input channel goes to the exact GEMM path: the result is as tight as the direct sum.
    case = Case(4, 1, 32, 32, 64)
    x, w, b, dy = data(case, seed=7)
    got = ours(case, x, w, b, dy)
    for name, g, r in zip(("forward", "grad_input"), got, exact(case, x, w, b, dy)):
        e = rel_err(g, r)
        assert e <= 1e-6, f"conv2d {name} {case} (declined by winograd): relative error {e:.3g}"


def run_logged(env_extra, code):
    env = dict(os.environ, PYTHONPATH=PACKAGE_PARENT, FASTLAYERS_VERBOSE="1", **env_extra)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout, out.stderr


SNIPPET = """
import numpy as np, sys
from fastlayers import _C
rng = np.random.default_rng(0)
x = rng.standard_normal((4, 64, 16, 16)).astype(np.{dt})
w = rng.standard_normal((64, 64, 3, 3)).astype(np.{dt})
y = _C.conv2d_forward(x, w, None, (1, 1), (1, 1))
dx = _C.conv2d_backward(y, x, w, (1, 1), (1, 1))[0]
sys.stdout.write(y.tobytes().hex()[:64] + dx.tobytes().hex()[:64])
"""


def test_exact_switch_turns_winograd_off():
    _, log_on = run_logged({}, SNIPPET.format(dt="float32"))
    assert "forward mb4ic64ih16oc64kh3sh1ph1dh1g1 -> winograd" in log_on, log_on
    assert "backward_data mb4ic64ih16oc64kh3sh1ph1dh1g1 -> winograd" in log_on, log_on
    out_off, log_off = run_logged({"FASTLAYERS_CONV_ALGO": "exact"}, SNIPPET.format(dt="float32"))
    assert "-> winograd" not in log_off, f"FASTLAYERS_CONV_ALGO=exact still ran winograd:\n{log_off}"
    assert "-> gemm" in log_off, log_off


def test_float64_keeps_exact_algorithms_and_says_so():
    _, log = run_logged({}, SNIPPET.format(dt="float64"))
    assert "winograd declines (float64 keeps the exact algorithms) -> gemm" in log, log
    # and the float64 result is as tight as the direct sum
    case = Case(4, 64, 16, 16, 64)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 64, 16, 16))
    w = rng.standard_normal((64, 64, 3, 3))
    dy = rng.standard_normal((4, 64, 16, 16))
    y = _C.conv2d_forward(x, w, None, (1, 1), (1, 1))
    dx = _C.conv2d_backward(dy, x, w, (1, 1), (1, 1), mask=(True, False, False))[0]
    ry, rdx = exact(case, x, w, None, dy)
    for name, g, r in (("forward", y, ry), ("grad_input", dx, rdx)):
        e = rel_err(g, r)
        assert e <= 1e-14, f"conv2d float64 {name} {case}: relative error {e:.3g}"


def winograd_net():
    """A small CNN whose 3x3 layers Winograd takes (64 channels, 16 x 16, batch 4: 64 tiles per layer). SiLU, not
    ReLU: behind batch norm some pre-activations lie within rounding of 0, and a ReLU turns the 1e-5 relative
    differences of any float32 algorithm there into gradient differences of 1e-3 (measured with ReLU: 5e-3 here,
    from a handful of flipped elements); a smooth activation shows the rounding itself."""
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 64, 3, padding=1), torch.nn.BatchNorm2d(64), torch.nn.SiLU(),
        torch.nn.Conv2d(64, 64, 3, padding=1), torch.nn.BatchNorm2d(64), torch.nn.SiLU(),
        torch.nn.Conv2d(64, 96, 3, padding=1), torch.nn.BatchNorm2d(96), torch.nn.SiLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(96, 10))


def test_drop_in_model_with_winograd_layers_trains_like_torch():
    import copy
    import fastlayers.torch as flt
    ref = winograd_net()
    ours = flt.replace(copy.deepcopy(ref))
    g = torch.Generator().manual_seed(2)
    batches = [(torch.randn(4, 3, 16, 16, generator=g), torch.randint(0, 10, (4,), generator=g)) for _ in range(4)]
    # the layers do run on Winograd
    for cin, cout in ((64, 64), (64, 96)):
        impl = _C.conv2d_impl(np.zeros((4, cin, 16, 16), np.float32), np.zeros((cout, cin, 3, 3), np.float32),
                              (1, 1), (1, 1))
        assert impl.startswith("winograd "), impl
    # one step: output and every gradient within the Winograd bound, relative to the largest torch value
    x, t = batches[0]
    out_ref, out = ref(x), ours(x)
    e = float((out - out_ref).detach().abs().max() / out_ref.detach().abs().max())
    assert e <= REL_TOL, f"winograd net forward: relative error {e:.3g}"
    TF.cross_entropy(out_ref, t).backward()
    TF.cross_entropy(out, t).backward()
    scale = max(p.grad.abs().max().item() for p in ref.parameters())
    for (name, pr), (_, po) in zip(ref.named_parameters(), ours.named_parameters()):
        e = float((po.grad - pr.grad).abs().max() / max(pr.grad.abs().max().item(), 1e-2 * scale))
        assert e <= 10 * REL_TOL, f"winograd net grad of {name}: relative error {e:.3g}"
    # 10 SGD steps: the losses stay together (rounding differences grow as training feeds them back)
    opt_ref = torch.optim.SGD(ref.parameters(), lr=0.01, momentum=0.5)
    opt = torch.optim.SGD(ours.parameters(), lr=0.01, momentum=0.5)
    losses_ref, losses = [], []
    for step in range(10):
        x, t = batches[step % len(batches)]
        for model, opt_, ls in ((ref, opt_ref, losses_ref), (ours, opt, losses)):
            opt_.zero_grad()
            loss = TF.cross_entropy(model(x), t)
            loss.backward()
            opt_.step()
            ls.append(loss.item())
    worst = max(abs(a - b) / abs(b) for a, b in zip(losses, losses_ref))
    assert worst <= 1e-4, f"winograd net: losses differ by {worst:.3g} relative:\nours  {losses}\ntorch {losses_ref}"


def layer_cases():
    """The conv2d cases of bench/layers.json that Winograd takes."""
    with open(os.path.join(ROOT, "bench", "layers.json")) as f:
        table = json.load(f)["conv2d"]
    out = []
    for c in table:
        if c["stride"] != 1 or c["dilation"] != 1 or c["groups"] != 1 or (c["R"], c["S"]) != (3, 3):
            continue
        case = Case(c["N"], c["C"], c["H"], c["W"], c["K"], pad=c["padding"])
        impl = _C.conv2d_impl(np.zeros((case.N, case.C, case.H, case.W), np.float32),
                              np.zeros((case.K, case.C, 3, 3), np.float32), (1, 1), (case.pad, case.pad))
        if impl.startswith("winograd "):
            out.append((c["name"], case))
    return out


@pytest.mark.parametrize("name, case", layer_cases(), ids=lambda v: v if isinstance(v, str) else "")
def test_winograd_error_on_benchmark_layers(name, case):
    x, w, b, dy = data(case, seed=11)
    check(case, ours(case, x, w, b, dy), exact(case, x, w, b, dy), f"bench/layers.json {name}")


if __name__ == "__main__":
    # The error figures of the README: largest relative error per case, forward and grad_input.
    worst = [0.0, 0.0]
    for name, case in [(str(c), c) for c in CASES] + layer_cases():
        x, w, b, dy = data(case, seed=11)
        ref = exact(case, x, w, b, dy)
        errs = [rel_err(g, r) for g, r in zip(ours(case, x, w, b, dy), ref)]
        direct = [rel_err(g, r) for g, r in zip(torch32(case, x, w, b, dy), ref)]
        worst = [max(a, e) for a, e in zip(worst, errs)]
        print(f"{name:40s} forward {errs[0]:.3g}  grad_input {errs[1]:.3g}   (torch float32: {direct[0]:.3g}, "
              f"{direct[1]:.3g})")
    print(f"largest: forward {worst[0]:.3g}  grad_input {worst[1]:.3g}")
