"""Thin ``nn.Module`` wrappers: each stores hyper-parameters and calls its function.

The documentation lives on the functions (``losslab.<name>``); each module's
docstring points there.
"""
from __future__ import annotations

import torch
from torch import nn

from . import matching as _matching
from .links import Link

__all__ = [
    "MatchingLoss",
    "CompositeSigmoidLoss",
    "CompositeSoftmaxLoss",
    "DecomposedMatchingLoss",
    # fenchel_young (issue 5)
    "Sparsemax",
    "Entmax15",
    "EntmaxBisect",
    "SparsemaxLoss",
    "Entmax15Loss",
    "EntmaxBisectLoss",
    "FenchelYoungLoss",
]


class _Loss(nn.Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = reduction

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_") and k != "training")


# -- selective matching losses (seed 000) ------------------------------------------------
class MatchingLoss(_Loss):
    """Module form of :func:`losslab.matching_loss`."""

    def __init__(self, link: Link, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.link = link

    def forward(self, pred, target, weight=None):
        return _matching.matching_loss(pred, target, self.link, weight=weight, reduction=self.reduction)


class CompositeSigmoidLoss(_Loss):
    """Module form of :func:`losslab.composite_sigmoid_loss`."""

    def __init__(self, scaling: Link, gamma: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.scaling, self.gamma = scaling, gamma

    def forward(self, pred, target, weight=None):
        return _matching.composite_sigmoid_loss(pred, target, self.scaling, gamma=self.gamma, weight=weight, reduction=self.reduction)


class CompositeSoftmaxLoss(_Loss):
    """Module form of :func:`losslab.composite_softmax_loss`."""

    def __init__(self, scaling: Link, gamma: float = 1.0, dim: int = -1, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.scaling, self.gamma, self.dim = scaling, gamma, dim

    def forward(self, pred, target, weight=None):
        return _matching.composite_softmax_loss(
            pred, target, self.scaling, gamma=self.gamma, dim=self.dim, weight=weight, reduction=self.reduction
        )


class DecomposedMatchingLoss(_Loss):
    """Module form of :func:`losslab.decomposed_matching_loss`."""

    def __init__(self, link: Link, dim: int = -1, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.link, self.dim = link, dim

    def forward(self, pred, target, weight=None):
        return _matching.decomposed_matching_loss(pred, target, self.link, dim=self.dim, weight=weight, reduction=self.reduction)


# -- Fenchel–Young losses and sparse mappings (issue 5) ----------------------------------
from . import fenchel_young as _fy  # noqa: E402


class Sparsemax(nn.Module):
    """Module form of :func:`losslab.sparsemax`."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return _fy.sparsemax(x, dim=self.dim)


class Entmax15(nn.Module):
    """Module form of :func:`losslab.entmax15`."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return _fy.entmax15(x, dim=self.dim)


class EntmaxBisect(nn.Module):
    """Module form of :func:`losslab.entmax_bisect`."""

    def __init__(self, alpha: float = 1.5, dim: int = -1, n_iter: int = _fy.DEFAULT_N_ITER) -> None:
        super().__init__()
        self.alpha, self.dim, self.n_iter = alpha, dim, n_iter

    def forward(self, x):
        return _fy.entmax_bisect(x, alpha=self.alpha, dim=self.dim, n_iter=self.n_iter)


class SparsemaxLoss(_Loss):
    """Module form of :func:`losslab.sparsemax_loss`."""

    def forward(self, scores, target, weight=None):
        return _fy.sparsemax_loss(scores, target, weight=weight, reduction=self.reduction)


class Entmax15Loss(_Loss):
    """Module form of :func:`losslab.entmax15_loss`."""

    def forward(self, scores, target, weight=None):
        return _fy.entmax15_loss(scores, target, weight=weight, reduction=self.reduction)


class EntmaxBisectLoss(_Loss):
    """Module form of :func:`losslab.entmax_bisect_loss`."""

    def __init__(self, alpha: float = 1.5, n_iter: int = _fy.DEFAULT_N_ITER, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.alpha, self.n_iter = alpha, n_iter

    def forward(self, scores, target, weight=None):
        return _fy.entmax_bisect_loss(
            scores, target, alpha=self.alpha, n_iter=self.n_iter, weight=weight, reduction=self.reduction
        )


class FenchelYoungLoss(_Loss):
    """Module form of :func:`losslab.fenchel_young_loss`."""

    def __init__(self, regulariser="shannon", n_iter: int = _fy.DEFAULT_N_ITER, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.regulariser, self.n_iter = regulariser, n_iter

    def forward(self, scores, target, weight=None):
        return _fy.fenchel_young_loss(
            scores, target, regulariser=self.regulariser, n_iter=self.n_iter, weight=weight, reduction=self.reduction
        )
