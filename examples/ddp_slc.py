"""Train seed 001's network on digits with DDP and the *global* batch cross-entropy.

    torchrun --nproc-per-node 2 examples/ddp_slc.py            # CPU, gloo
    torchrun --nproc-per-node 2 examples/ddp_slc.py --epochs 3 # quicker

Every step draws one global batch of ``--batch-size`` examples (the same draw on every
rank) and each rank takes its share of the rows. Two networks are trained from the same
initial weights:

* ``global``: ``ll.distributed.batch_cross_entropy`` — Definition 2 on the whole global
  batch (one softmax over all ranks' logits); under DDP's gradient averaging this is
  exactly single-process training on the global batch;
* ``per-rank``: ``ll.batch_cross_entropy`` on each rank's rows — what the loss silently
  becomes under plain DDP (a batch of ``batch_size / world_size`` examples).

Rank 0 prints Table 1's single-logit measures (1 − AUPRC, 1 − Precision@0.9/0.99,
macro-averaged over the classes; :func:`losslab.metrics.slc_report`) on the test split.
BatchNorm layers are synchronised across ranks (``SyncBatchNorm``) where the backend
supports it, so that the whole network sees the global batch.
"""
from __future__ import annotations

import argparse
import os

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

import losslab as ll
from losslab.data import load_digits
from losslab.experiments.slc import SLCNet
from losslab.metrics import slc_report


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64, help="global batch size (split over the ranks)")
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--hidden", type=int, nargs="+", default=[128, 128])
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


def shares(n: int, world: int) -> list[int]:
    """Rows per rank: as even as possible (ranks may hold different numbers of rows)."""
    return [n // world + (r < n % world) for r in range(world)]


def train(loss_name: str, split, args, rank: int, world: int):
    torch.manual_seed(args.seed)  # same initial weights on every rank and for both losses
    model = SLCNet(split.num_features, args.hidden, split.num_classes)
    sync_bn = True
    try:
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        model(split.x_train[:4])  # SyncBatchNorm may refuse CPU tensors: find out now
    except (ValueError, RuntimeError):
        sync_bn = False
        torch.manual_seed(args.seed)
        model = SLCNet(split.num_features, args.hidden, split.num_classes)
    ddp = DDP(model)
    gen = torch.Generator().manual_seed(args.seed + 1)  # same batches on every rank
    n, B = len(split.y_train), args.batch_size
    rows = shares(B, world)
    lo = sum(rows[:rank])
    last = float("nan")
    for _ in range(args.epochs):
        ddp.train()
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n - n % B, B):
            idx = perm[i:i + B][lo:lo + rows[rank]]
            logits = ddp(split.x_train[idx])
            if loss_name == "global":
                loss = ll.distributed.batch_cross_entropy(logits, split.y_train[idx])
            else:
                loss = ll.batch_cross_entropy(logits, split.y_train[idx])
            ddp.zero_grad(set_to_none=True)
            loss.backward()  # DDP averages the gradients over the ranks
            with torch.no_grad():
                for p in ddp.parameters():
                    p.add_(p.grad, alpha=-args.lr)
            last = float(loss.detach())
    ddp.eval()
    with torch.no_grad():
        logits = ddp.module(split.x_test)
    return slc_report(logits, split.y_test).macro, last, sync_bn


def main():
    args = parse_args()
    if "RANK" not in os.environ:
        raise SystemExit("start me with torchrun, e.g. torchrun --nproc-per-node 2 examples/ddp_slc.py")
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    split = load_digits(seed=args.seed)
    rows = {}
    for name in ("global", "per-rank"):
        rows[name], _, sync_bn = train(name, split, args, rank, world)
    if rank == 0:
        print(f"digits, {world} ranks, global batch {args.batch_size} (rows per rank {shares(args.batch_size, world)}), "
              f"{args.epochs} epochs, lr {args.lr}, SyncBatchNorm {'on' if sync_bn else 'off (per-rank statistics)'}")
        print("Table 1 measures on the test split (lower is better):")
        keys = list(rows["global"])
        print(f"{'batch cross-entropy':<24}" + "".join(f"{k:>18}" for k in keys))
        for name, macro in rows.items():
            print(f"{name:<24}" + "".join(f"{macro[k]:>18.4f}" for k in keys))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
