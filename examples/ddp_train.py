"""Data-parallel training with torch.distributed on fastlayers' kernels: DistributedDataParallel over a model
whose layers `fastlayers.torch.replace` swapped, with the gloo backend, one process per rank on this machine.

    python examples/ddp_train.py                     # 2 processes, 3 steps, fastlayers layers
    python examples/ddp_train.py --no-fastlayers     # the same run on plain torch layers
    torchrun --nproc_per_node 2 examples/ddp_train.py --torchrun

fastlayers builds no engine of its own for this: DDP sees ordinary torch Parameters (replace() keeps them) and
all-reduces their gradients as for any torch model. Each rank trains on its own shard of a seeded random
batch, so a run is reproducible; `--out FILE` saves rank 0's final parameters and per-step gradients (npz).
"""
import argparse
import os
import socket

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel


def make_model():
    return nn.Sequential(
        nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 8, 3), nn.Tanh(), nn.Flatten(), nn.Linear(8 * 3 * 3, 10))


def shard(rank, batch=8):
    g = torch.Generator().manual_seed(1000 + rank)
    x = torch.randn(batch, 1, 10, 10, generator=g, dtype=torch.float64)
    y = torch.randint(0, 10, (batch,), generator=g)
    return x, y


def train(rank, world_size, use_fastlayers, steps, out=None):
    """One rank: builds the same model on every rank (seeded), wraps it in DDP, runs `steps` SGD steps."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        torch.manual_seed(0)
        model = make_model().double()
        if use_fastlayers:
            import fastlayers
            import fastlayers.torch
            fastlayers.set_num_threads(1)
            fastlayers.torch.replace(model)
            if rank == 0:
                print(model.fastlayers_report)
        ddp = DistributedDataParallel(model)
        opt = torch.optim.SGD(ddp.parameters(), lr=0.05, momentum=0.9)
        x, y = shard(rank)
        record = {}
        for step in range(steps):
            opt.zero_grad()
            loss = F.cross_entropy(ddp(x), y)
            loss.backward()
            for name, p in model.named_parameters():
                record[f"grad{step}/{name}"] = p.grad.detach().numpy().copy()
            opt.step()
            if rank == 0:
                print(f"step {step}: loss {loss.item():.6f} (rank 0's shard)")
        if rank == 0 and out:
            for name, p in model.named_parameters():
                record[f"param/{name}"] = p.detach().numpy().copy()
            np.savez(out, **record)
    finally:
        dist.destroy_process_group()


def _spawned(rank, world_size, port, use_fastlayers, steps, out):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    train(rank, world_size, use_fastlayers, steps, out)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(world_size=2, use_fastlayers=True, steps=3, out=None):
    """Starts `world_size` processes on this machine (torch.multiprocessing.spawn) and waits for them."""
    import torch.multiprocessing as mp
    mp.spawn(_spawned, args=(world_size, free_port(), use_fastlayers, steps, out), nprocs=world_size, join=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--world-size", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--no-fastlayers", action="store_true", help="plain torch layers")
    ap.add_argument("--out", help="save rank 0's parameters and gradients to this .npz")
    ap.add_argument("--torchrun", action="store_true", help="started by torchrun (reads RANK/WORLD_SIZE)")
    args = ap.parse_args()
    if args.torchrun:
        train(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), not args.no_fastlayers, args.steps, args.out)
    else:
        run(args.world_size, not args.no_fastlayers, args.steps, args.out)


if __name__ == "__main__":
    main()
