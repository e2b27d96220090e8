"""Class-parallel losses at world size 2 vs the unsharded loss in one process: memory and bytes.

    PYTHONPATH=src python benchmarks/bench_distributed.py                       # B = 4096, K = 131072
    PYTHONPATH=src python benchmarks/bench_distributed.py --batch 512 --classes 16384   # quick

One step = forward + backward w.r.t. the logits (float32) of:

* ``unsharded``: ``ll.cross_entropy`` / ``ll.composite_softmax_loss`` on ``[B, K]`` in one process;
* ``class-parallel[fused]`` / ``[reference]``: ``ll.distributed.vocab_parallel_*`` on ``[B, K/2]``
  per rank, 2 ranks (gloo), with ``impl='fused'`` (the operators of ``csrc/class_parallel.cpp``)
  and ``impl='reference'`` (row-chunked PyTorch);
* ``all-gather``: each rank all-gathers the logit shards (differentiable
  ``torch.distributed.nn.functional.all_gather``) and runs the unsharded loss on ``[B, K]``
  (``--gather-batch`` rows; the default is ``B/4`` because at full size it needs ~8 GiB per rank).

Each configuration runs in fresh processes. Memory: the peak resident set of one rank
during "allocate the inputs, forward, backward", above its resident set just before
(the kernel's high-water mark reset with ``echo 5 > /proc/self/clear_refs``, then
``VmHWM − VmRSS``); it includes the inputs. Bytes: what this rank contributes to each
collective, forward and backward (``ll.distributed.communication()``; for the all-gather
approach its shard forward and its gradient list backward). Time: the one step's wall
time (1 thread per process).
"""
from __future__ import annotations

import argparse
import datetime
import os
import socket
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import losslab as ll
from losslab import distributed as lld


def _kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _inputs(loss, B, K, seed):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(B, K, generator=g).requires_grad_()
    if loss == "ce":
        return z, torch.randint(K, (B,), generator=g)
    return z, torch.randn(B, K, generator=g)


def _step(approach, loss, B, K, rank, world):
    """Returns (peak MiB above the pre-step resident set, bytes sent, seconds, loss value)."""
    q = ll.links.exp()
    base = _kib("VmRSS")
    _reset_peak()
    t0 = time.perf_counter()
    if approach == "unsharded":
        z, y = _inputs(loss, B, K, 0)
        out = ll.cross_entropy(z, y) if loss == "ce" else ll.composite_softmax_loss(z, y, q)
        out.backward()
        sent = 0
    else:
        k = K // world
        z, y = _inputs(loss, B, k, rank + 1)
        if loss == "ce":
            labels = torch.randint(K, (B,), generator=torch.Generator().manual_seed(99))
        lld.reset_communication()
        if approach.startswith("class-parallel"):
            impl = approach[len("class-parallel["):-1]
            if loss == "ce":
                out = lld.vocab_parallel_cross_entropy(z, labels, group=None, class_start=rank * k, impl=impl)
            else:
                out = lld.vocab_parallel_composite_softmax_loss(z, y, q, group=None, impl=impl)
            out.backward()
            sent = lld.communication()["bytes"]
        else:
            from torch.distributed.nn.functional import all_gather

            full = torch.cat(all_gather(z), 1)
            sent = z.numel() * z.element_size()
            if loss == "ce":
                out = ll.cross_entropy(full, labels)
            else:
                tgt = [torch.empty_like(y) for _ in range(world)]
                dist.all_gather(tgt, y)
                sent += y.numel() * y.element_size()
                out = ll.composite_softmax_loss(full, torch.cat(tgt, 1), q)
            out.backward()
            sent += full.numel() * full.element_size()  # the backward's all-to-all of the gradient
    seconds = time.perf_counter() - t0
    peak = (_kib("VmHWM") - base) / 1024
    return peak, sent, seconds, float(out.detach())


def _worker(rank, world, port, approach, loss, B, K, queue):
    torch.set_num_threads(1)
    ll.kernels.available()  # load the compiled operators before the measured step
    if world > 1:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
                                timeout=datetime.timedelta(minutes=10))
    queue.put((rank, _step(approach, loss, B, K, rank, world)))
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(approach, loss, B, K, world):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=_worker, args=(r, world, port, approach, loss, B, K, queue)) for r in range(world)]
    for p in procs:
        p.start()
    results = dict(queue.get() for _ in procs)
    for p in procs:
        p.join()
    return [results[r] for r in range(world)]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--classes", type=int, default=131072)
    p.add_argument("--gather-batch", type=int, default=None, help="rows for the all-gather approach (default B/4)")
    p.add_argument("--losses", nargs="+", default=["ce", "composite"])
    p.add_argument("--impls", nargs="+", default=["fused", "reference"], choices=["fused", "reference"],
                   help="the class-parallel implementations to run")
    p.add_argument("--no-gather", action="store_true", help="skip the all-gather-the-logits row")
    args = p.parse_args()
    B, K = args.batch, args.classes
    Bg = args.gather_batch or max(2, B // 4)
    print(f"# {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, torch {torch.__version__}, "
          f"{os.cpu_count()} CPUs, float32, world size 2 (gloo), 1 thread per process")
    print(f"{'loss':<10} {'approach':<26} {'B':>6} {'K':>8} {'peak MiB/rank':>14} {'vs unsharded':>13} "
          f"{'bytes sent/rank':>16} {'bytes/row':>10} {'s/step':>8}")
    for loss in args.losses:
        ref = None
        rows = [("unsharded", B, 1)] + [(f"class-parallel[{impl}]", B, 2) for impl in args.impls]
        if loss == "ce" and not args.no_gather:
            rows.append(("all-gather", Bg, 2))
        for approach, b, world in rows:
            res = run(approach, loss, b, K, world)
            peak = max(r[0] for r in res)
            sent = max(r[1] for r in res)
            secs = max(r[2] for r in res)
            if approach == "unsharded":
                ref = peak
                ratio = "1.00"
            elif b == B:
                ratio = f"{peak / ref:.2f}"
            else:
                ratio = f"{peak / (ref * b / B):.2f}*"
            print(f"{loss:<10} {approach:<26} {b:>6} {K:>8} {peak:>14.0f} {ratio:>13} {sent:>16,} "
                  f"{sent / b:>10,.0f} {secs:>8.1f}")
    print("* vs the unsharded peak scaled to the same number of rows")


if __name__ == "__main__":
    main()
