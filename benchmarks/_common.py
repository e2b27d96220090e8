"""What the benchmark commands share: peak-RSS sampling and the naive eq. (29) baseline.

Imported by the scripts in this folder (run as ``.venv/bin/python benchmarks/<name>.py``,
which puts this folder on ``sys.path``).
"""
from __future__ import annotations

import gc
import os
import threading
import time

import torch

_PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


class PeakRSS:
    """Peak RSS growth over a ``with`` block, sampled by a background thread."""

    def __enter__(self):
        gc.collect()
        self.base = self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss())
            time.sleep(0.0002)

    def __exit__(self, *exc):
        self.peak = max(self.peak, _rss())
        self._stop.set()
        self._thread.join()

    @property
    def growth(self) -> int:
        return self.peak - self.base


def naive_composite_softmax_loss(pred, target, q, gamma: float = 1.0):
    """Eq. (29) with γ (C.4-C.5), term by term, for autograd (and inductor) to differentiate."""
    Q_hat = q.primitive(pred) / gamma
    Q_s = q.primitive(target) / gamma
    H_hat = gamma * torch.logsumexp(Q_hat, -1)
    H_s = gamma * torch.logsumexp(Q_s, -1)
    h_s = q(target) * torch.softmax(Q_s, -1)
    return (H_hat - H_s - ((pred - target) * h_s).sum(-1)).mean()
