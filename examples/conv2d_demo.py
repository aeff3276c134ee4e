"""A first look at fastlayers: a Conv2d layer forward and backward, checked and timed against PyTorch
when it is installed, otherwise against a plain numpy convolution."""
import time

import numpy as np

import fastlayers as fl
from fastlayers import nn


def median_ms(fn, reps=10):
    fn()  # warm-up
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def numpy_conv2d(x, w, b, padding):
    """Direct convolution with numpy's einsum over shifted windows (stride 1)."""
    N, C, H, W = x.shape
    K, _, R, S = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    P, Q = H + 2 * padding - R + 1, W + 2 * padding - S + 1
    y = np.zeros((N, K, P, Q), x.dtype)
    for r in range(R):
        for s in range(S):
            y += np.einsum("nchw,kc->nkhw", xp[:, :, r:r + P, s:s + Q], w[:, :, r, s], optimize=True)
    return y + b[None, :, None, None]


def main():
    fl.manual_seed(0)
    conv = nn.Conv2d(32, 64, kernel_size=3, padding=1)
    x = fl.randn(16, 32, 32, 32, requires_grad=True)
    print(conv)
    print(f"fastlayers {fl.__version__}: {fl.get_num_threads()} threads, SIMD path {fl._C.simd_level()}")

    def ours():
        x.grad = None
        conv.zero_grad()
        conv(x).sum().backward()

    y = conv(x).detach().numpy()
    ours_ms = median_ms(ours)
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(fl.get_num_threads())
        ref = torch.nn.Conv2d(32, 64, kernel_size=3, padding=1)
        ref.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in conv.state_dict().items()})
        tx = torch.from_numpy(x.detach().numpy().copy()).requires_grad_()

        def theirs():
            tx.grad = None
            ref.zero_grad()
            ref(tx).sum().backward()

        err = np.abs(y - ref(tx).detach().numpy()).max()
        print(f"max |fastlayers - torch| = {err:.2e}")
        their_ms, name = median_ms(theirs), f"torch {torch.__version__}"
    else:
        w, b = conv.weight.detach().numpy(), conv.bias.detach().numpy()
        xs = x.detach().numpy()
        err = np.abs(y - numpy_conv2d(xs, w, b, 1)).max()
        print(f"max |fastlayers - numpy| = {err:.2e}")
        their_ms, name = median_ms(lambda: numpy_conv2d(xs, w, b, 1)), "numpy (forward only)"
    print(f"forward+backward, input {tuple(x.shape)}: fastlayers {ours_ms:.2f} ms, {name} {their_ms:.2f} ms, "
          f"ratio {their_ms / ours_ms:.2f}x")


if __name__ == "__main__":
    main()
