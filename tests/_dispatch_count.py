"""Count the ATen ops and the fresh allocations of a block of code, on any machine.

``with OpCounter() as c: ...`` records every op that reaches the dispatcher (forward and
backward), its overload name, and the byte size of each output that does not share storage
with an input (a fresh allocation; views and in-place results share their input's). Tests
use it to pin how many full-size ``[N, K]`` temporaries a loss creates, which is what its
peak memory and its memory traffic are made of, without timing anything.
"""
from __future__ import annotations

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves


def _storages(args) -> set[int]:
    out = set()
    for a in tree_leaves(args):
        if isinstance(a, torch.Tensor) and a.numel():
            out.add(a.untyped_storage().data_ptr())
    return out


class OpCounter(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops: list[str] = []
        self.allocs: list[tuple[str, int]] = []  # (op name, bytes) of each fresh output

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = func.overloadpacket.__name__
        self.ops.append(name)
        seen = _storages((args, kwargs))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor) and t.numel() and t.untyped_storage().data_ptr() not in seen:
                self.allocs.append((name, t.untyped_storage().nbytes()))
        return out

    def count(self, name: str) -> int:
        return sum(op == name for op in self.ops)

    def big(self, nbytes: int) -> list[tuple[str, int]]:
        """The fresh allocations of at least ``nbytes`` bytes."""
        return [a for a in self.allocs if a[1] >= nbytes]
