"""A DCGAN on scikit-learn's 8x8 handwritten digits, trained with fastlayers.

The generator maps a latent vector through transposed convolutions with batch norm and ReLU to an 8x8
image in [-1, 1] (tanh); the discriminator is strided convolutions with LeakyReLU, scoring real against
generated images with binary cross-entropy on logits. Both train with Adam. After every epoch a grid of
samples from a fixed set of latent vectors is written as a PNG (fastlayers.utils.image's few-line encoder on zlib, so
no imaging library is needed).

    python examples/dcgan_digits.py                      # 20 epochs, PNGs in ./dcgan_digits_samples
    python examples/dcgan_digits.py --epochs 5 --out /tmp/samples
"""
import argparse
import os
import time

# Idle OpenMP threads sleep instead of spinning (see examples/train_digits.py: on a shared machine spinning
# makes small models many times slower). An explicit OMP_WAIT_POLICY is respected.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

import fastlayers as fl  # noqa: E402
from fastlayers import nn  # noqa: E402
from fastlayers.utils.image import encode_png  # noqa: E402


def generator(nn, latent=32, width=64):
    """latent (N, latent, 1, 1) -> 2x2 -> 4x4 -> 8x8 image with one channel, in [-1, 1]."""
    return nn.Sequential(
        nn.ConvTranspose2d(latent, 2 * width, 2, 1, 0, bias=False), nn.BatchNorm2d(2 * width), nn.ReLU(),
        nn.ConvTranspose2d(2 * width, width, 4, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
        nn.ConvTranspose2d(width, 1, 4, 2, 1, bias=False), nn.Tanh())


def discriminator(nn, width=64):
    """(N, 1, 8, 8) -> 4x4 -> 2x2 -> one logit per image, shape (N, 1)."""
    return nn.Sequential(
        nn.Conv2d(1, width, 4, 2, 1, bias=False), nn.LeakyReLU(0.2),
        nn.Conv2d(width, 2 * width, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2),
        nn.Conv2d(2 * width, 1, 2, 1, 0), nn.Flatten())


def dcgan_init(module, lib):
    """DCGAN's initialization: convolution weights N(0, 0.02), batch-norm scales N(1, 0.02), shifts 0."""
    for m in module.modules():
        name = type(m).__name__
        if name.startswith(("Conv", "ConvTranspose")):
            lib.nn.init.normal_(m.weight, 0.0, 0.02)
        elif name.startswith("BatchNorm"):
            lib.nn.init.normal_(m.weight, 1.0, 0.02)
            lib.nn.init.zeros_(m.bias)


# ---------------------------------------------------------------------------------------------------------
# PNG


def write_png(path, image):
    with open(path, "wb") as f:
        f.write(encode_png(image))


def sample_grid(images, columns=8, scale=4, border=1):
    """(N, 1, H, W) images in [-1, 1] as one uint8 mosaic, each image enlarged `scale` times, framed in black."""
    images = np.asarray(images)[:, 0]
    n, h, w = images.shape
    rows = -(-n // columns)
    pixels = np.clip((images + 1) * 127.5 + 0.5, 0, 255).astype(np.uint8)
    pixels = pixels.repeat(scale, axis=1).repeat(scale, axis=2)
    ch, cw = h * scale + border, w * scale + border
    grid = np.zeros((rows * ch + border, columns * cw + border), np.uint8)
    for i in range(n):
        r, c = divmod(i, columns)
        grid[border + r * ch:border + r * ch + h * scale, border + c * cw:border + c * cw + w * scale] = pixels[i]
    return grid


# ---------------------------------------------------------------------------------------------------------
# Training


def load_digits_scaled():
    """scikit-learn's digits as float32 (N, 1, 8, 8) in [-1, 1]."""
    from sklearn.datasets import load_digits

    images = load_digits().images.astype(np.float32)
    return (images / 8.0 - 1.0)[:, None].astype(np.float32)


def train_step(G, D, opt_g, opt_d, loss_fn, real, noise, tensor):
    """One DCGAN step: the discriminator on real (label 1) and generated (label 0) images, then the
    generator against the discriminator's label 1. Returns (discriminator loss, generator loss)."""
    n = real.shape[0]
    ones, zeros = tensor(np.ones((n, 1), np.float32)), tensor(np.zeros((n, 1), np.float32))
    fake = G(tensor(noise))
    opt_d.zero_grad()
    loss_d = loss_fn(D(tensor(real)), ones) + loss_fn(D(fake.detach()), zeros)
    loss_d.backward()
    opt_d.step()
    opt_g.zero_grad()
    loss_g = loss_fn(D(fake), ones)
    loss_g.backward()
    opt_g.step()
    return loss_d.item(), loss_g.item()


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--latent", type=int, default=32)
    ap.add_argument("--width", type=int, default=64, help="channels of the first discriminator layer")
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--limit", type=int, default=None, help="use at most this many images (smoke runs)")
    ap.add_argument("--out", default="dcgan_digits_samples", help="folder of the per-epoch PNG grids")
    ap.add_argument("--no-progress", action="store_true", help="no tqdm progress bars")
    return ap.parse_args(argv)


def main(argv=None):
    """Runs the demo; returns {'history': [per-epoch losses and time], 'pngs': [paths written]}."""
    args = parse_args(argv)
    if args.threads:
        fl.set_num_threads(args.threads)
    fl.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    data = load_digits_scaled()
    if args.limit is not None:
        data = data[:args.limit]

    G, D = generator(nn, args.latent, args.width), discriminator(nn, args.width)
    dcgan_init(G, fl)
    dcgan_init(D, fl)
    opt_g = fl.optim.Adam(G.parameters(), lr=args.lr, betas=(0.5, 0.999))
    opt_d = fl.optim.Adam(D.parameters(), lr=args.lr, betas=(0.5, 0.999))
    loss_fn = nn.BCEWithLogitsLoss()
    fixed_noise = rng.standard_normal((64, args.latent, 1, 1), dtype=np.float32)
    os.makedirs(args.out, exist_ok=True)
    print(f"DCGAN on {len(data)} digit images: latent {args.latent}, batch {args.batch_size}, {args.epochs} epochs, "
          f"{fl.get_num_threads()} thread(s); samples -> {args.out}/")

    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None
    history, pngs = [], []
    for epoch in range(1, args.epochs + 1):
        tic = time.perf_counter()
        order = rng.permutation(len(data))
        batches = [order[i:i + args.batch_size] for i in range(0, len(order), args.batch_size)]
        batches = [b for b in batches if len(b) > 1]  # batch norm needs two images per batch
        if tqdm is not None and not args.no_progress:
            batches = tqdm(batches, desc=f"epoch {epoch}/{args.epochs}", leave=False, unit="batch")
        losses = []
        for index in batches:
            noise = rng.standard_normal((len(index), args.latent, 1, 1), dtype=np.float32)
            losses.append(train_step(G, D, opt_g, opt_d, loss_fn, data[index], noise, fl.from_numpy))
        G.eval()
        with fl.no_grad():
            samples = G(fl.from_numpy(fixed_noise)).numpy()
        G.train()
        path = os.path.join(args.out, f"epoch_{epoch:03d}.png")
        write_png(path, sample_grid(samples))
        pngs.append(path)
        loss_d, loss_g = np.mean(losses, axis=0)
        history.append({"epoch": epoch, "loss_d": float(loss_d), "loss_g": float(loss_g),
                        "seconds": time.perf_counter() - tic})
        print(f"epoch {epoch:3d}  D loss {loss_d:.4f}  G loss {loss_g:.4f}  {history[-1]['seconds']:.2f}s  "
              f"-> {path}", flush=True)
    return {"history": history, "pngs": pngs}


if __name__ == "__main__":
    main()
