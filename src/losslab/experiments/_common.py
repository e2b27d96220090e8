"""What every command shares: progress reporting and figures that may be skipped."""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable


class _Silent:
    def update(self, n: int = 1) -> None:
        pass

    def set_description(self, desc: str) -> None:
        pass

    def close(self) -> None:
        pass


class _Lines:
    """Progress without tqdm: a plain line on stderr per update, at most one a second
    (``rank``'s epochs are single full-batch steps, thousands per run), plus the last."""

    def __init__(self, total: int, desc: str, unit: str, min_interval: float = 1.0):
        self.total, self.desc, self.unit, self.n = total, desc, unit, 0
        self.min_interval, self._last = min_interval, float("-inf")

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self._last >= self.min_interval or self.n >= self.total:
            self._last = now
            print(f"{self.desc}: {self.n}/{self.total} {self.unit}s", file=sys.stderr, flush=True)

    def set_description(self, desc: str) -> None:
        self.desc = desc

    def close(self) -> None:
        pass


def progress(total: int, desc: str, *, enabled: bool = True, unit: str = "epoch"):
    """A progress reporter on stderr with ``update(n)``, ``set_description(s)`` and
    ``close()``: tqdm when installed, else plain lines; nothing when not ``enabled``."""
    if not enabled:
        return _Silent()
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _Lines(total, desc, unit)
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False, dynamic_ncols=True)


def matplotlib_available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def draw(make: Callable[..., object], path: Path, *args, **kwargs) -> Path | None:
    """``make(*args, path=path, **kwargs)`` (a ``losslab.plots`` function writing a PNG);
    without matplotlib, say on stderr that the PNG was skipped and return ``None``."""
    if not matplotlib_available():
        print(f"skipped {path}: matplotlib is not installed (pip install 'losslab[plot]')", file=sys.stderr)
        return None
    make(*args, path=path, **kwargs)
    return Path(path)
