"""Linear: fastlayers._C.linear_forward / linear_backward vs torch.nn.functional.linear (and autograd), and
the per-call Python cost of fl.nn.Linear vs torch.nn.Linear at batch 1.

Run from the repository root:  PYTHONPATH=python python bench/bench_linear.py [--threads 2] [--reps 400]
Each line: median over alternating (ours, torch) calls in one process after warm-up; ratio = torch/ours.
"""
import argparse
import time

import numpy as np
import torch
import torch.nn.functional as TF

import fastlayers as fl
from fastlayers import _C

SHAPES = [(1, 256, 200), (64, 256, 200), (64, 200, 10), (256, 256, 200), (256, 1024, 1024)]


def median_pair(f_ours, f_torch, reps, warmup=20):
    for _ in range(warmup):
        f_ours()
        f_torch()
    a, b = [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        f_ours()
        t1 = time.perf_counter()
        f_torch()
        t2 = time.perf_counter()
        a.append(t1 - t0)
        b.append(t2 - t1)
    return float(np.median(a)), float(np.median(b))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=400)
    args = ap.parse_args()
    fl.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    print(f"threads {args.threads}, SIMD {_C.simd_level()}, torch {torch.__version__}; median of {args.reps} "
          "alternating pairs; float32")
    print(f"{'M,K,N':>16} {'pass':>9} {'impl':>6} {'ours us':>9} {'torch us':>9} {'torch/ours':>10} {'GFLOP/s':>8}")
    rng = np.random.default_rng(0)
    for M, K, N in SHAPES:
        x = rng.standard_normal((M, K), dtype=np.float32)
        w = rng.standard_normal((N, K), dtype=np.float32)
        b = rng.standard_normal(N, dtype=np.float32)
        dy = rng.standard_normal((M, N), dtype=np.float32)
        tx, tw, tb, tdy = (torch.from_numpy(a) for a in (x, w, b, dy))
        reps = args.reps if M * K * N < 1 << 24 else max(20, args.reps // 10)
        ours, theirs = median_pair(lambda: _C.linear_forward(x, w, b), lambda: TF.linear(tx, tw, tb), reps)
        impl = _C.linear_impl(x, w, "forward").split()[0]
        print(f"{f'{M},{K},{N}':>16} {'forward':>9} {impl:>6} {ours * 1e6:9.1f} {theirs * 1e6:9.1f} "
              f"{theirs / ours:10.2f} {2 * M * K * N / ours / 1e9:8.1f}")
        # backward of all three (torch: the same products through its ATen ops, no autograd)
        ours, theirs = median_pair(lambda: _C.linear_backward(dy, x, w, (True, True, True)),
                                   lambda: (tdy.mm(tw), tdy.t().mm(tx), tdy.sum(0)), reps)
        print(f"{f'{M},{K},{N}':>16} {'backward':>9} {'gemm':>6} {ours * 1e6:9.1f} {theirs * 1e6:9.1f} "
              f"{theirs / ours:10.2f} {4 * M * K * N / ours / 1e9:8.1f}")

    # Python cost of one module call at batch 1, no grad and with grad
    m = fl.nn.Linear(256, 200)
    tm = torch.nn.Linear(256, 200)
    x = rng.standard_normal((1, 256), dtype=np.float32)
    fx, tx = fl.Tensor(x), torch.from_numpy(x)
    with fl.no_grad(), torch.no_grad():
        ours, theirs = median_pair(lambda: m(fx), lambda: tm(tx), args.reps * 4)
    kern, _ = median_pair(lambda: _C.linear_forward(x, m.weight.data, m.bias.data), lambda: None, args.reps * 4)
    print(f"nn.Linear(256, 200) at batch 1, no_grad: ours {ours * 1e6:.1f} us (kernel call {kern * 1e6:.1f} us, "
          f"Python {max(ours - kern, 0) * 1e6:.1f} us), torch {theirs * 1e6:.1f} us")
    ours, theirs = median_pair(lambda: m(fx), lambda: tm(tx), args.reps * 4)
    print(f"nn.Linear(256, 200) at batch 1, parameters requiring grad (graph recorded): ours {ours * 1e6:.1f} us, "
          f"torch {theirs * 1e6:.1f} us")


if __name__ == "__main__":
    main()
