"""Whole models, plain PyTorch vs after fastlayers.torch.replace, side by side (run by `compare.py --torch-dropin`).

Models (the plain torch.nn ones of tests/test_torch_models.py): the LeNet on MNIST-sized input (batch 64, 1x28x28)
and the ResNet-18-style network for 32x32 input (2-2-2-2 BasicBlocks, widths 64..512, batch 16). Modes:

  train  one SGD step: zero_grad, forward, cross-entropy, backward, optimizer.step (train mode)
  infer  forward under torch.no_grad in eval mode

Both models start from the same weights; the two sides are timed ALTERNATING (ours, torch, ...) after warm-up,
median of the repetitions, at fixed thread counts (torch.set_num_threads and fastlayers.set_num_threads). The
ratio is torch/ours (> 1: fastlayers faster). The adapter's overhead per layer call is the time of a drop-in call on
a 1-element input minus the time of the bare `_C` kernel call(s) on the same (numpy) data, without a graph (no_grad)
and with autograd's bookkeeping (forward + backward through torch.autograd.backward); torch's own op on the same
tensors is printed beside it for scale.

    python bench/compare.py --torch-dropin                  # both models, both modes, threads 1 and 2
    python bench/compare.py --torch-dropin --quick          # smoke run: tiny batches, 1 thread, 1 rep
"""
import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
DEFAULT_JSON = BENCH_DIR / "results" / "torch_dropin.json"
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(REPO / "tests"))  # the models are the tests' plain torch.nn ones


def _models(quick):
    from test_torch_models import LeNet, ResNet18

    return {
        "lenet": (LeNet, {}, (8 if quick else 64, 1, 28, 28)),
        "resnet18": (ResNet18, {"width": 8 if quick else 64}, (2 if quick else 16, 3, 32, 32)),
    }


def _median_ms(samples):
    return 1e3 * statistics.median(samples)


def bench_model(name, factory, kwargs, shape, mode, reps, warmup, max_seconds):
    import torch
    import torch.nn.functional as TF

    import fastlayers.torch as flt
    from harness import time_alternating

    torch.manual_seed(0)
    ref = factory(**kwargs)
    ours = flt.replace(copy.deepcopy(ref))
    x = torch.randn(shape)
    target = torch.randint(0, 10, (shape[0],))

    def step_fn(model):
        if mode == "infer":
            model.eval()

            def infer():
                with torch.no_grad():
                    return model(x)

            return infer
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

        def train():
            opt.zero_grad(set_to_none=True)
            loss = TF.cross_entropy(model(x), target)
            loss.backward()
            opt.step()
            return loss

        return train

    f_ours, f_torch = step_fn(ours), step_fn(ref)
    t_ours, t_torch = time_alternating(f_ours, f_torch, reps, warmup, max_seconds)
    left = [f"{n}:{c}" for n, c, _ in ours.fastlayers_report.left]
    return {"model": name, "mode": mode, "ours_ms": _median_ms(t_ours), "torch_ms": _median_ms(t_torch),
            "ratio_torch_over_ours": statistics.median(t_torch) / statistics.median(t_ours), "reps": len(t_ours),
            "batch": shape[0], "swapped": len(ours.fastlayers_report.swapped), "left": left}


def adapter_overhead_us(reps=2000):
    """Microseconds a drop-in call adds over the bare kernel call, on a 1-element input (kernel time ~0)."""
    import numpy as np
    import torch

    import fastlayers.torch.functional as FF
    from fastlayers import _C

    def per_call(fn, n=reps):
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            best = min(best, (time.perf_counter() - t0) / n)
        return 1e6 * best

    out = {}
    x_np = np.ones((1, 1, 1, 1), np.float32)
    w_np = np.ones((1, 1, 1, 1), np.float32)
    x = torch.ones(1, 1, 1, 1)
    w = torch.ones(1, 1, 1, 1)
    xg = x.clone().requires_grad_()
    wg = w.clone().requires_grad_()
    g = torch.ones(1, 1, 1, 1)

    bare_relu = per_call(lambda: _C.activation_forward(x_np, "relu"))
    bare_relu_fb = per_call(lambda: (_C.activation_forward(x_np, "relu"),
                                     _C.activation_backward(x_np, x_np, False, "relu")))
    bare_conv = per_call(lambda: _C.conv2d_forward(x_np, w_np, None, (1, 1), (0, 0), (1, 1), 1))
    bare_conv_fb = per_call(lambda: (_C.conv2d_forward(x_np, w_np, None, (1, 1), (0, 0), (1, 1), 1),
                                     _C.conv2d_backward(x_np, x_np, w_np, (1, 1), (0, 0), (1, 1), 1,
                                                        mask=(True, True, False))))
    with torch.no_grad():
        ours_relu, ours_conv = per_call(lambda: FF.relu(x)), per_call(lambda: FF.conv2d(x, w))
        torch_relu, torch_conv = per_call(lambda: torch.relu(x)), per_call(lambda: torch.nn.functional.conv2d(x, w))
    ours_relu_fb = per_call(lambda: torch.autograd.backward(FF.relu(xg), g), reps // 4)
    ours_conv_fb = per_call(lambda: torch.autograd.backward(FF.conv2d(xg, wg), g), reps // 4)
    torch_relu_fb = per_call(lambda: torch.autograd.backward(torch.relu(xg), g), reps // 4)
    torch_conv_fb = per_call(lambda: torch.autograd.backward(torch.nn.functional.conv2d(xg, wg), g), reps // 4)
    # (ours total, bare _C kernel calls, torch's own op total) per call, in microseconds.
    out["relu no_grad"] = (ours_relu, bare_relu, torch_relu)
    out["conv2d no_grad"] = (ours_conv, bare_conv, torch_conv)
    out["relu fwd+bwd"] = (ours_relu_fb, bare_relu_fb, torch_relu_fb)
    out["conv2d fwd+bwd"] = (ours_conv_fb, bare_conv_fb, torch_conv_fb)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="lenet,resnet18")
    ap.add_argument("--modes", default="train,infer")
    ap.add_argument("--threads", default=None, help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--reps", type=int, default=None, help="timed (ours, torch) pairs (default 15)")
    ap.add_argument("--warmup", type=int, default=None, help="warm-up pairs (default 3)")
    ap.add_argument("--max-seconds", type=float, default=30.0, help="time cap per model, mode and thread count")
    ap.add_argument("--quick", action="store_true", help="smoke run: small batches and widths, 1 thread, 1 rep")
    ap.add_argument("--json", default=str(DEFAULT_JSON), help="write results here (default %(default)s)")
    args, _ = ap.parse_known_args(argv)  # compare.py's own options may ride along

    import torch

    import fastlayers

    reps = args.reps if args.reps is not None else (1 if args.quick else 15)
    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 3)
    threads = [int(t) for t in (args.threads or ("1" if args.quick else "1,2")).split(",")]
    models = _models(args.quick)
    print(f"fastlayers.torch drop-in vs plain PyTorch (CPU, float32); torch {torch.__version__}")
    print(f"  method: alternating ours/torch after {warmup} warm-up pair(s), median of up to {reps} pairs")
    header = f"{'model':<10} {'mode':<6} {'thr':>3} {'batch':>5} {'ours ms':>9} {'torch ms':>9} {'torch/ours':>10}"
    print(header)
    results = []
    for n_threads in threads:
        torch.set_num_threads(n_threads)
        fastlayers.set_num_threads(n_threads)
        for name in args.models.split(","):
            factory, kwargs, shape = models[name]
            for mode in args.modes.split(","):
                r = bench_model(name, factory, kwargs, shape, mode, reps, warmup, args.max_seconds)
                r["threads"] = n_threads
                results.append(r)
                print(f"{name:<10} {mode:<6} {n_threads:>3} {r['batch']:>5} {r['ours_ms']:>9.2f} "
                      f"{r['torch_ms']:>9.2f} {r['ratio_torch_over_ours']:>10.2f}"
                      + (f"   (left as torch: {', '.join(r['left'])})" if r["left"] else ""))
    torch.set_num_threads(1)
    fastlayers.set_num_threads(1)
    overhead = adapter_overhead_us(200 if args.quick else 2000)
    print("adapter overhead per layer call, 1-element input, 1 thread, microseconds:")
    print(f"  {'call':<16} {'drop-in':>8} {'bare _C':>8} {'overhead':>8} {'torch op':>8}")
    for k, (ours_us, bare_us, torch_us) in overhead.items():
        print(f"  {k:<16} {ours_us:8.1f} {bare_us:8.1f} {ours_us - bare_us:8.1f} {torch_us:8.1f}")
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"results": results, "adapter_overhead_us": overhead}, indent=1))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
