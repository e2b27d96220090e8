"""Run a test module's table of checks on spawned gloo processes (127.0.0.1).

``spawn(module_name, world, out_dir, rows=None)`` starts ``world`` processes; each joins a
gloo group, calls every ``check`` of ``module.CHECKS`` (with ``rows[world]``, or None)
and writes ``{name: result or "error: <traceback>"}`` to ``rank{r}.pkl``, which the
parent reads back: only files these processes have just written are unpickled. A start-up
failure (the rendezvous port taken by another process between picking and binding it) is
retried on a new port; nothing else is. Generous timeouts: on a loaded 2-core machine a
rank may lag its peers by many seconds; a collective that never completes is still caught
by the deadline.
"""
from __future__ import annotations

import datetime
import importlib
import os
import pickle
import socket
import time
import traceback

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _worker(rank, world, port, out_dir, module_name, rows):
    torch.set_num_threads(1)
    checks = importlib.import_module(module_name).CHECKS
    try:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
                                timeout=datetime.timedelta(seconds=90))
    except Exception:  # noqa: BLE001 - e.g. the free port was taken meanwhile: the parent retries
        with open(os.path.join(out_dir, f"rank{rank}.init_error"), "w") as f:
            f.write(traceback.format_exc())
        return
    results = {}
    for name, check in checks.items():
        try:
            results[name] = check(None if rows is None else rows[world])
        except Exception:  # noqa: BLE001 - reported to the test
            results[name] = "error: " + traceback.format_exc()
    with open(os.path.join(out_dir, f"rank{rank}.pkl"), "wb") as f:
        pickle.dump(results, f)
    dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(module_name, world, out_dir, rows=None, timeout=300.0, attempts=3):
    """Each rank's results, in rank order."""
    for attempt in range(attempts):
        run_dir = os.path.join(out_dir, f"attempt{attempt}")
        os.makedirs(run_dir)
        ctx = mp.start_processes(_worker, args=(world, free_port(), run_dir, module_name, rows), nprocs=world,
                                 join=False, start_method="spawn")
        deadline = time.monotonic() + timeout
        try:
            while not ctx.join(timeout=max(0.1, deadline - time.monotonic())):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"distributed workers (world size {world}) did not finish in {timeout} s")
        finally:
            for p in ctx.processes:
                if p.is_alive():
                    p.terminate()
        init_errors = [f for f in os.listdir(run_dir) if f.endswith(".init_error")]
        if not init_errors:
            results = []
            for r in range(world):
                with open(os.path.join(run_dir, f"rank{r}.pkl"), "rb") as f:
                    results.append(pickle.load(f))
            return results
    raise RuntimeError(f"the process group did not start in {attempts} attempts: "
                       + open(os.path.join(run_dir, init_errors[0])).read())
