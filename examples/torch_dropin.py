"""A typical PyTorch MNIST training script, running on fastlayers' kernels.

It differs from its plain-PyTorch form by the one line marked `fastlayers` below: `replace(model)` swaps the
model's layers for fastlayers' drop-ins, keeping their parameters (the optimizer is built as usual).

    python examples/torch_dropin.py                      # MNIST via torchvision (downloads it)
    python examples/torch_dropin.py --fake-data          # a few batches of random data, no download
    python examples/torch_dropin.py --fake-data --no-fastlayers   # the same script on plain torch
"""
import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.optim.lr_scheduler import StepLR

import fastlayers.torch


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, 1)
        self.conv2 = nn.Conv2d(16, 32, 3, 1)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(32 * 12 * 12, 128)
        self.fc2 = nn.Linear(128, 10)
        self.log_softmax = nn.LogSoftmax(dim=1)

    def forward(self, x):
        x = self.relu(self.conv1(x))
        x = self.pool(self.relu(self.conv2(x)))
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = self.dropout2(self.relu(self.fc1(x)))
        return self.log_softmax(self.fc2(x))


def train(args, model, loader, optimizer, epoch):
    model.train()
    for batch_idx, (data, target) in enumerate(loader):
        optimizer.zero_grad()
        loss = F.nll_loss(model(data), target)
        loss.backward()
        optimizer.step()
        if batch_idx % args.log_interval == 0:
            print(f"Train Epoch: {epoch} [{batch_idx * len(data)}/{len(loader.dataset)}]\tLoss: {loss.item():.6f}")


def test(model, loader):
    model.eval()
    test_loss, correct = 0.0, 0
    with torch.no_grad():
        for data, target in loader:
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction="sum").item()
            correct += output.argmax(dim=1).eq(target).sum().item()
    n = len(loader.dataset)
    print(f"Test set: Average loss: {test_loss / n:.4f}, Accuracy: {correct}/{n} ({100.0 * correct / n:.0f}%)")


def loaders(args):
    if args.fake_data:
        g = torch.Generator().manual_seed(args.seed)

        def fake(batches):
            n = batches * args.batch_size
            data = torch.randn(n, 1, 28, 28, generator=g)
            return torch.utils.data.TensorDataset(data, torch.randint(0, 10, (n,), generator=g))

        return (torch.utils.data.DataLoader(fake(args.batches), batch_size=args.batch_size, shuffle=True),
                torch.utils.data.DataLoader(fake(1), batch_size=args.batch_size))
    from torchvision import datasets, transforms  # only for the real data

    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    train_set = datasets.MNIST("../data", train=True, download=True, transform=transform)
    test_set = datasets.MNIST("../data", train=False, transform=transform)
    return (torch.utils.data.DataLoader(train_set, batch_size=args.batch_size, shuffle=True),
            torch.utils.data.DataLoader(test_set, batch_size=1000))


def main(argv=None):
    parser = argparse.ArgumentParser(description="PyTorch MNIST example on fastlayers")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, default=1.0)
    parser.add_argument("--gamma", type=float, default=0.7)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--log-interval", type=int, default=10)
    parser.add_argument("--fake-data", action="store_true", help="random data instead of MNIST (no download)")
    parser.add_argument("--batches", type=int, default=5, help="training batches of fake data per epoch")
    parser.add_argument("--no-fastlayers", action="store_true", help="run the plain PyTorch model")
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)

    train_loader, test_loader = loaders(args)
    model = Net()
    if not args.no_fastlayers:
        print(fastlayers.torch.replace(model).fastlayers_report)  # fastlayers: the one added line
    optimizer = optim.Adadelta(model.parameters(), lr=args.lr)
    scheduler = StepLR(optimizer, step_size=1, gamma=args.gamma)
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        train(args, model, train_loader, optimizer, epoch)
        test(model, test_loader)
        scheduler.step()
    print(f"done in {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
