"""What every command shares: progress reporting and figures that may be skipped."""
from __future__ import annotations

import math
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


# Two-sided 95% Student-t quantiles t_{0.975, df} for df = 1..30 (scipy.stats.t.ppf,
# 6 decimals); scipy is not a runtime dependency, so the table is written out.
_T975 = (12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004, 2.262157, 2.228139,
         2.200985, 2.178813, 2.160369, 2.144787, 2.131450, 2.119905, 2.109816, 2.100922, 2.093024, 2.085963,
         2.079614, 2.073873, 2.068658, 2.063899, 2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272)


def t_quantile_975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom (the half-width
    factor of a two-sided 95% interval): a table for df <= 30, beyond it the
    Cornish-Fisher expansion around the normal quantile (error < 1e-5 there)."""
    if isinstance(df, bool) or not isinstance(df, int) or df < 1:
        raise ValueError(f"df must be an integer >= 1; got {df!r}")
    if df <= len(_T975):
        return _T975[df - 1]
    z, v = 1.959963984540054, float(df)
    return (z + (z**3 + z) / (4 * v) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
            + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3))


def mean_ci95(values) -> dict:
    """Mean and two-sided 95% t-interval of ``values`` (independent repeats such as
    seeds): ``{"mean", "low", "high", "half_width", "n", "values"}``. Non-finite values
    (a diverged run) are dropped and counted out of ``n``; with fewer than two finite
    values the interval is undefined (``None``)."""
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    n = len(vals)
    if n == 0:
        return {"mean": float("nan"), "low": None, "high": None, "half_width": None, "n": 0, "values": vals}
    mean = sum(vals) / n
    if n < 2:
        return {"mean": mean, "low": None, "high": None, "half_width": None, "n": 1, "values": vals}
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1))
    half = t_quantile_975(n - 1) * sd / math.sqrt(n)
    return {"mean": mean, "low": mean - half, "high": mean + half, "half_width": half, "n": n, "values": vals}
