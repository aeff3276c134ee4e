"""Train a LeNet-style CNN on handwritten digits with fastlayers.

By default the data are the 1,797 8x8 digit images that ship inside scikit-learn (no download), split
into a stratified training set and a held-out test set. `--mnist DIR` reads the real MNIST IDX files
(train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte,
optionally gzipped) from a local folder instead. `--compare-torch` trains the same model from the same
initial weights on the same batches in PyTorch, when installed, and prints both runs side by side.

    python examples/train_digits.py                     # 20 epochs, a few seconds on 2 cores, ~98-99%
    python examples/train_digits.py --compare-torch
    python examples/train_digits.py --mnist ~/data/mnist --epochs 3
"""
import argparse
import os
import sys
import time

# Idle OpenMP threads sleep instead of spinning. On a machine whose cores are shared with other work (or
# oversubscribed), spinning threads take the CPU the others need and this run becomes many times slower;
# OpenMP reads the setting once, when fastlayers loads it. An explicit OMP_WAIT_POLICY is respected.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

import fastlayers as fl  # noqa: E402
from fastlayers import nn  # noqa: E402
from fastlayers.utils.data import MNIST, read_idx  # noqa: E402,F401  (read_idx: the IDX reader, tested here)


def lenet(nn, image_size=8, channels=(32, 64), hidden=128, dropout=0.25, num_classes=10):
    """The model, built from either fastlayers.nn or torch.nn (same names, same state_dict keys):
    two blocks of 3x3 convolution, batch norm, ReLU and 2x2 max pooling, then two linear layers."""
    c1, c2 = channels
    side = image_size // 4
    return nn.Sequential(
        nn.Conv2d(1, c1, 3, padding=1), nn.BatchNorm2d(c1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 3, padding=1), nn.BatchNorm2d(c2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Dropout(dropout), nn.Flatten(),
        nn.Linear(c2 * side * side, hidden), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(hidden, num_classes))


# ---------------------------------------------------------------------------------------------------------
# Data

def load_mnist(folder):
    """(train images, train labels, test images, test labels) from MNIST IDX files; images as uint8 (N, 28, 28)."""
    train, test = MNIST(folder, train=True), MNIST(folder, train=False)
    return [train.data, train.targets, test.data, test.targets]


def load_digits_split(test_fraction, seed):
    """scikit-learn's 8x8 digits (values 0..16), split per class so both parts keep the class balance."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images, labels = digits.images, digits.target
    rng = np.random.default_rng(seed)
    test = np.zeros(len(labels), bool)
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        test[members[:int(round(test_fraction * len(members)))]] = True
    return images[~test], labels[~test], images[test], labels[test]


def prepare(train_x, test_x):
    """float32 (N, 1, H, W) images standardized with the training set's mean and deviation."""
    train_x = train_x.astype(np.float32)
    mean, std = train_x.mean(), train_x.std()
    norm = lambda x: ((x.astype(np.float32) - mean) / std)[:, None].astype(np.float32)  # noqa: E731
    return norm(train_x), norm(test_x)


# ---------------------------------------------------------------------------------------------------------
# Training


class Trainer:
    """One library's model, loss and optimizer; `lib` is "fastlayers" or "torch"."""

    def __init__(self, lib, model, lr, momentum, weight_decay, epochs):
        self.lib = lib
        self.model = model
        if lib == "torch":
            import torch

            self.torch = torch
            lib_nn, optim = torch.nn, torch.optim
        else:
            lib_nn, optim = nn, fl.optim
        self.loss_fn = lib_nn.CrossEntropyLoss()
        self.optimizer = optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
        # the learning rate decays to 0 along a half cosine over the run: the last epochs settle
        self.scheduler = optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=epochs)

    def tensor(self, array):
        return self.torch.from_numpy(array) if self.lib == "torch" else fl.from_numpy(array)

    def no_grad(self):
        return self.torch.no_grad() if self.lib == "torch" else fl.no_grad()

    def train_step(self, x, y):
        self.optimizer.zero_grad()
        loss = self.loss_fn(self.model(self.tensor(x)), self.tensor(y))
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def evaluate(self, x, y, batch_size=500):
        """(mean loss, accuracy) over (x, y) in evaluation mode."""
        self.model.eval()
        total_loss, correct = 0.0, 0
        with self.no_grad():
            for start in range(0, len(x), batch_size):
                xb, yb = x[start:start + batch_size], y[start:start + batch_size]
                logits = self.model(self.tensor(xb))
                total_loss += self.loss_fn(logits, self.tensor(yb)).item() * len(xb)
                correct += int((np.asarray(logits.numpy()).argmax(1) == yb).sum())
        self.model.train()
        return total_loss / len(x), correct / len(x)


def _progress(iterable, enabled, desc):
    if enabled:
        try:
            from tqdm import tqdm
        except ImportError:  # tqdm is the `examples` extra; without it, no bar
            return iterable
        return tqdm(iterable, desc=desc, leave=False, unit="batch", dynamic_ncols=True)
    return iterable


def _torch_copy(model, image_size, dropout):
    """The same architecture in PyTorch with our model's current weights and buffers."""
    import torch

    ours = model.state_dict()
    twin = lenet(torch.nn, image_size=image_size, dropout=dropout)
    twin.load_state_dict({k: torch.from_numpy(np.array(v.numpy(), copy=True)) for k, v in ours.items()})
    return twin


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.05, help="initial SGD learning rate (cosine decay to 0)")
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--dropout", type=float, default=0.25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="fastlayers (and torch) threads (default: all cores)")
    ap.add_argument("--test-fraction", type=float, default=0.2, help="held-out share of the sklearn digits")
    ap.add_argument("--limit", type=int, default=None, help="use at most this many training images (smoke runs)")
    ap.add_argument("--mnist", metavar="DIR", default=None, help="read MNIST IDX files from DIR instead")
    ap.add_argument("--compare-torch", action="store_true", help="also train in PyTorch from the same weights")
    ap.add_argument("--no-progress", action="store_true", help="no tqdm progress bars")
    return ap.parse_args(argv)


def main(argv=None):
    """Runs the demo; returns a dict with the per-epoch history of each library trained."""
    args = parse_args(argv)
    if args.threads:
        fl.set_num_threads(args.threads)
    threads = fl.get_num_threads()
    fl.manual_seed(args.seed)

    if args.mnist:
        train_x, train_y, test_x, test_y = load_mnist(args.mnist)
        source = f"MNIST IDX files in {args.mnist}"
    else:
        train_x, train_y, test_x, test_y = load_digits_split(args.test_fraction, args.seed)
        source = "scikit-learn digits (8x8)"
    if args.limit is not None:
        train_x, train_y = train_x[:args.limit], train_y[:args.limit]
    train_x, test_x = prepare(train_x, test_x)
    train_y, test_y = train_y.astype(np.int64), test_y.astype(np.int64)
    image_size = train_x.shape[-1]
    if train_x.shape[-2] != image_size or image_size % 4:
        raise ValueError(f"expected square images with a side divisible by 4, got {train_x.shape[-2:]}")

    model = lenet(nn, image_size=image_size, dropout=args.dropout)
    trainers = {"fastlayers": None}
    if args.compare_torch:
        try:
            import torch
        except ImportError:
            print("--compare-torch: PyTorch is not installed; training fastlayers alone", file=sys.stderr)
        else:
            torch.set_num_threads(threads)
            trainers["torch"] = Trainer("torch", _torch_copy(model, image_size, args.dropout), args.lr,
                                        args.momentum, args.weight_decay, args.epochs)
    trainers["fastlayers"] = Trainer("fastlayers", model, args.lr, args.momentum, args.weight_decay, args.epochs)

    n_params = sum(p.numel() for p in model.parameters())
    print(f"data: {source}: {len(train_x)} training and {len(test_x)} test images of {image_size}x{image_size}")
    print(f"model: LeNet-style CNN, {n_params} parameters; SGD lr={args.lr} momentum={args.momentum}, "
          f"cosine decay, batch {args.batch_size}, {args.epochs} epochs, {threads} thread(s)")

    rng = np.random.default_rng(args.seed)
    history = {name: [] for name in trainers}
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(len(train_x))  # the same batches for every library
        batches = [order[i:i + args.batch_size] for i in range(0, len(order), args.batch_size)]
        for name, trainer in trainers.items():
            tic = time.perf_counter()
            losses = []
            bar = _progress(batches, not args.no_progress, f"{name} epoch {epoch}/{args.epochs}")
            for index in bar:
                losses.append(trainer.train_step(train_x[index], train_y[index]))
                if bar is not batches and len(losses) % 10 == 0:
                    bar.set_postfix(loss=f"{np.mean(losses[-10:]):.4f}")
            trainer.scheduler.step()
            seconds = time.perf_counter() - tic
            test_loss, test_acc = trainer.evaluate(test_x, test_y)
            history[name].append({"epoch": epoch, "train_loss": float(np.mean(losses)), "test_loss": test_loss,
                                  "test_acc": test_acc, "seconds": seconds})
        print("  ".join(f"{name}: epoch {epoch:2d} train loss {h[-1]['train_loss']:.4f} test loss "
                        f"{h[-1]['test_loss']:.4f} acc {100 * h[-1]['test_acc']:5.2f}% {h[-1]['seconds']:.2f}s"
                        for name, h in history.items()), flush=True)
    total = time.perf_counter() - start

    ours = history["fastlayers"]
    print(f"fastlayers: test accuracy {100 * ours[-1]['test_acc']:.2f}% after {args.epochs} epochs; "
          f"training {sum(h['seconds'] for h in ours):.1f}s, whole run {total:.1f}s")
    if "torch" in history:
        theirs = history["torch"]
        t_ours, t_theirs = sum(h["seconds"] for h in ours), sum(h["seconds"] for h in theirs)
        print(f"torch:      test accuracy {100 * theirs[-1]['test_acc']:.2f}%; training {t_theirs:.1f}s "
              f"(torch/fastlayers time ratio {t_theirs / t_ours:.2f})")
    return history


if __name__ == "__main__":
    main()
