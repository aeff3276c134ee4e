"""Whole-model cases for bench/compare.py (the `end_to_end` table of bench/layers.json), and a
measurement of the fixed cost of one layer call.

compare.py registers the cases through `register()`: each case builds the same model twice, from
fastlayers.nn and from torch.nn (the same constructor code runs on both, since the names match), copies
fastlayers' initial weights into torch's, and times one mode:

  lenet_train_step      fwd+bwd: zero_grad, forward, cross-entropy, backward, SGD step (batch from 'about')
  lenet_infer_<bN>      fwd: forward under no_grad at batch N
  dcgan_generator_step  fwd+bwd: generator forward (BatchNorm in training mode) and backward of a fixed
                        gradient of its output

The models are read from each case's 'about' text (the layer list, the batch); only the parsing rules
live here, not the table.

    python bench/compare.py --ops end_to_end                 # the cases, 1 and 2 threads
    python bench/end_to_end.py [--threads 1,2]               # per-layer-call overhead, ours vs torch
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
import time

import numpy as np

# ---------------------------------------------------------------------------------------------------------
# Models, written once against torch.nn's names so either library's `nn` builds them


def lenet(nn):
    """conv(1->32,k5) relu maxpool3; conv(32->64,k5) relu maxpool2; flatten; linear(256->200) relu;
    linear(200->10), on 1x28x28 images."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 5), nn.ReLU(), nn.MaxPool2d(3),
        nn.Conv2d(32, 64, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(256, 200), nn.ReLU(), nn.Linear(200, 10))


def dcgan_generator(nn, latent=100, width=64, channels=3):
    """latent -> 4x4 (8w) -> 8x8 (4w) -> 16x16 (2w) -> 32x32 (channels), BatchNorm + ReLU between, tanh last."""
    return nn.Sequential(
        nn.ConvTranspose2d(latent, 8 * width, 4, 1, 0, bias=False), nn.BatchNorm2d(8 * width), nn.ReLU(),
        nn.ConvTranspose2d(8 * width, 4 * width, 4, 2, 1, bias=False), nn.BatchNorm2d(4 * width), nn.ReLU(),
        nn.ConvTranspose2d(4 * width, 2 * width, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * width), nn.ReLU(),
        nn.ConvTranspose2d(2 * width, channels, 4, 2, 1, bias=False), nn.Tanh())


LENET_IMAGE = (1, 28, 28)
DCGAN_LATENT = 100


def model_flops(model_spec, batch):
    """Multiply-adds x 2 of one forward pass: convolutions, transposed convolutions and linear layers."""
    if model_spec == "lenet":
        # conv1: 24x24 outputs of 32 channels x 1x5x5; conv2: 4x4 outputs of 64 x 32x5x5; linears
        macs = 24 * 24 * 32 * 25 + 4 * 4 * 64 * 32 * 25 + 256 * 200 + 200 * 10
    else:
        # transposed convolutions: each input pixel spreads C_out x 4 x 4 products
        macs = 1 * 1 * 100 * 512 * 16 + 4 * 4 * 512 * 256 * 16 + 8 * 8 * 256 * 128 * 16 + 16 * 16 * 128 * 3 * 16
    return 2.0 * macs * batch


# ---------------------------------------------------------------------------------------------------------
# Reading a case


def case_kind(spec):
    """(model, mode, batch) of a table entry: the model from its name, the mode from 'infer'/'step', the batch
    from '_b<N>' in the name or 'batch <N>' in 'about' (64 where neither says)."""
    name, about = spec["name"], spec.get("about", "")
    model = "lenet" if name.startswith("lenet") else "dcgan_generator" if name.startswith("dcgan") else None
    if model is None:
        raise ValueError(f"end_to_end case {name!r}: unknown model (expected a name starting lenet or dcgan)")
    mode = "fwd" if "infer" in name else "fwd+bwd"
    found = re.search(r"_b(\d+)$", name) or re.search(r"batch (\d+)", about)
    batch = spec.get("N", int(found.group(1)) if found else 64)
    return model, mode, batch


def _functional_needed(spec):
    """The fastlayers.nn.functional name whose absence means the case cannot run yet."""
    model, mode, _ = case_kind(spec)
    if model == "dcgan_generator":
        return "conv_transpose2d"
    return "cross_entropy" if mode == "fwd+bwd" else "linear"


def _shrink(spec):
    s = dict(spec)
    s["N"] = min(case_kind(spec)[2], 2)
    return s


def _copy_weights(ours, theirs, torch):
    theirs.load_state_dict({k: torch.from_numpy(np.array(v.numpy(), copy=True)) for k, v in ours.state_dict().items()})


def build_end_to_end(env, spec, api, Case):
    fl, torch = env.fl, env.torch
    model_name, mode, batch = case_kind(spec)
    rng = np.random.default_rng(2024)
    fl.manual_seed(0)
    builder = lenet if model_name == "lenet" else dcgan_generator
    ours_model, torch_model = builder(fl.nn), builder(torch.nn)
    _copy_weights(ours_model, torch_model, torch)
    flops = model_flops(model_name, batch)

    if model_name == "lenet":
        x = rng.standard_normal((batch,) + LENET_IMAGE, dtype=np.float32)
        labels = rng.integers(0, 10, batch).astype(np.int64)
        descriptor = f"lenet_mb{batch}ic1ih28"
    else:
        x = rng.standard_normal((batch, DCGAN_LATENT, 1, 1), dtype=np.float32)
        descriptor = f"dcgan_g_mb{batch}nz{DCGAN_LATENT}o32"
    ox, tx = fl.from_numpy(x), torch.from_numpy(x)

    if mode == "fwd":
        def ours():
            with fl.no_grad():
                return {"output": ours_model(ox)}

        def theirs():
            with torch.no_grad():
                return {"output": torch_model(tx)}

        work = flops
    elif model_name == "lenet":
        ol, tl = fl.from_numpy(labels), torch.from_numpy(labels)
        o_opt = fl.optim.SGD(ours_model.parameters(), lr=0.01, momentum=0.9)
        t_opt = torch.optim.SGD(torch_model.parameters(), lr=0.01, momentum=0.9)
        o_loss, t_loss = fl.nn.functional.cross_entropy, torch.nn.functional.cross_entropy

        # The results compared with torch are the loss and the gradients of the step (from identical weights
        # at the first call, which is the one compare.py checks).
        def ours():
            o_opt.zero_grad()
            loss = o_loss(ours_model(ox), ol)
            loss.backward()
            grads = {"grad_" + n: p.grad for n, p in ours_model.named_parameters()}
            o_opt.step()
            return {"loss": loss.detach(), **grads}

        def theirs():
            t_opt.zero_grad()
            loss = t_loss(torch_model(tx), tl)
            loss.backward()
            grads = {"grad_" + n: p.grad.clone() for n, p in torch_model.named_parameters()}
            t_opt.step()
            return {"loss": loss.detach(), **grads}

        work = 3 * flops
    else:
        out_shape = tuple(torch_model(tx).shape)
        g = rng.standard_normal(out_shape, dtype=np.float32)
        og, tg = fl.from_numpy(g), torch.from_numpy(g)

        def ours():
            ours_model.zero_grad()
            ours_model(ox).backward(og)
            return {"grad_" + n: p.grad for n, p in ours_model.named_parameters()}

        def theirs():
            torch_model.zero_grad()
            torch_model(tx).backward(tg)
            return {"grad_" + n: p.grad for n, p in torch_model.named_parameters()}

        work = 3 * flops
    return Case("end_to_end", spec["name"], descriptor, "-", api, {mode: ours}, {mode: theirs},
                {mode: (work, "flop")}, spec)


def register(family, Case):
    """Called by compare.py: registers the `end_to_end` family with its decorator and Case class."""
    family("end_to_end", functional=_functional_needed, shrink=_shrink)(
        lambda env, spec, api: build_end_to_end(env, spec, api, Case))


# ---------------------------------------------------------------------------------------------------------
# The fixed cost of a layer call


def _median_us(fn, reps, inner):
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - t0) / inner)
    return 1e6 * statistics.median(times)


def overhead_table(threads=1, reps=15, inner=200):
    """Microseconds per call of tiny layers (where the kernel's own work is negligible), ours and torch's,
    with and without the autograd recording; and the whole LeNet at batch 1 per layer call."""
    import torch

    import fastlayers as fl

    fl.set_num_threads(threads)
    torch.set_num_threads(threads)
    rows = []

    def pair(label, make, grad):
        ours_layer, ours_x = make(fl)
        torch_layer, torch_x = make(torch)
        ours_ctx = fl.enable_grad if grad else fl.no_grad
        torch_ctx = torch.enable_grad if grad else torch.no_grad
        if not grad:
            ours_x.requires_grad_(False)
            torch_x.requires_grad_(False)

        def ours():
            with ours_ctx():
                ours_layer(ours_x)

        def theirs():
            with torch_ctx():
                torch_layer(torch_x)

        ours(), theirs()
        o, t = [], []
        for _ in range(3):  # alternate to share the machine's noise
            o.append(_median_us(ours, reps, inner))
            t.append(_median_us(theirs, reps, inner))
        rows.append((label, min(o), min(t)))

    def _x(lib, shape):
        return lib.from_numpy(np.random.default_rng(0).standard_normal(shape, dtype=np.float32)).requires_grad_(True)

    small = (1, 4, 4, 4)
    layers = [
        ("ReLU", lambda lib: lib.nn.ReLU(), small),
        ("Conv2d 4->4 k1", lambda lib: lib.nn.Conv2d(4, 4, 1), small),
        ("MaxPool2d 2", lambda lib: lib.nn.MaxPool2d(2), small),
        ("BatchNorm2d 4 eval", lambda lib: lib.nn.BatchNorm2d(4).eval(), small),
        ("Linear 64->4", lambda lib: lib.nn.Linear(64, 4), (1, 64)),
    ]
    for grad in (False, True):
        for label, factory, shape in layers:
            pair(f"{label} {shape} {'grad' if grad else 'no_grad'}",
                 lambda lib: (_seeded(lib, lambda: factory(lib)), _x(lib, shape)), grad)

    fl.manual_seed(0)
    ours_model, torch_model = lenet(fl.nn), lenet(torch.nn)
    _copy_weights(ours_model, torch_model, torch)
    x = np.random.default_rng(0).standard_normal((1,) + LENET_IMAGE, dtype=np.float32)
    ox, tx = fl.from_numpy(x), torch.from_numpy(x)
    calls = len(list(ours_model.children()))

    def ours():
        with fl.no_grad():
            ours_model(ox)

    def theirs():
        with torch.no_grad():
            torch_model(tx)

    o, t = [], []
    for _ in range(3):
        o.append(_median_us(ours, reps, max(1, inner // 4)))
        t.append(_median_us(theirs, reps, max(1, inner // 4)))
    rows.append((f"LeNet b1 forward (kernels included) / {calls} layers", min(o) / calls, min(t) / calls))
    return rows


def _seeded(lib, make):
    lib.manual_seed(0)
    return make()


def main(argv=None):
    ap = argparse.ArgumentParser(description="Per-layer-call overhead of fastlayers vs torch, in microseconds")
    ap.add_argument("--threads", default="1")
    args = ap.parse_args(argv)
    for t in [int(v) for v in args.threads.split(",")]:
        print(f"== {t} thread(s): microseconds per layer call (median), tiny inputs ==")
        print(f"{'layer':52s} {'ours us':>9s} {'torch us':>9s} {'torch/ours':>10s}")
        for label, o, th in overhead_table(t):
            print(f"{label:52s} {o:9.2f} {th:9.2f} {th / o:10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
