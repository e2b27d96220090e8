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
    # ranking (issue 4)
    "PointwiseSigmoidCELoss",
    "PointwiseMSELoss",
    "RankNetLoss",
    "SoftPairwiseLoss",
    "PairwiseHingeLoss",
    "ListNetLoss",
    "ListMLELoss",
    "LambdaLoss",
    "SelectivePointwiseLoss",
    "SelectivePairwiseLoss",
    "SelectiveListwiseLoss",
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


# -- ranking (issue 4) --------------------------------------------------------------------
class _RankingLoss(_Loss):
    """Stores keyword hyper-parameters; ``forward(scores, labels, mask=None, weight=None)``."""

    _fn_name = ""

    def __init__(self, reduction: str = "mean", **kwargs) -> None:
        super().__init__(reduction)
        self.kwargs = kwargs

    def forward(self, scores, labels, mask=None, weight=None):
        from . import ranking as _ranking

        fn = getattr(_ranking, self._fn_name)
        return fn(scores, labels, mask, **self.kwargs, weight=weight, reduction=self.reduction)


class PointwiseSigmoidCELoss(_RankingLoss):
    """Module form of :func:`losslab.pointwise_sigmoid_ce` (kwargs: ``max_grade``, ``normalize``)."""

    _fn_name = "pointwise_sigmoid_ce"


class PointwiseMSELoss(_RankingLoss):
    """Module form of :func:`losslab.pointwise_mse` (kwargs: ``normalize``)."""

    _fn_name = "pointwise_mse"


class RankNetLoss(_RankingLoss):
    """Module form of :func:`losslab.ranknet` (kwargs: ``sigma``, ``normalize``)."""

    _fn_name = "ranknet"


class SoftPairwiseLoss(_RankingLoss):
    """Module form of :func:`losslab.soft_pairwise` (kwargs: ``normalize``)."""

    _fn_name = "soft_pairwise"


class PairwiseHingeLoss(_RankingLoss):
    """Module form of :func:`losslab.pairwise_hinge` (kwargs: ``margin``, ``normalize``)."""

    _fn_name = "pairwise_hinge"


class ListNetLoss(_RankingLoss):
    """Module form of :func:`losslab.listnet` (kwargs: ``target``)."""

    _fn_name = "listnet"


class ListMLELoss(_RankingLoss):
    """Module form of :func:`losslab.listmle`."""

    _fn_name = "listmle"


class LambdaLoss(_RankingLoss):
    """Module form of :func:`losslab.lambda_loss` (kwargs: ``weighting``, ``sigma``)."""

    _fn_name = "lambda_loss"


class SelectivePointwiseLoss(_RankingLoss):
    """Module form of :func:`losslab.selective_pointwise` (kwargs: ``link``, ``normalize``)."""

    _fn_name = "selective_pointwise"


class SelectivePairwiseLoss(_RankingLoss):
    """Module form of :func:`losslab.selective_pairwise` (kwargs: ``link``, ``normalize``)."""

    _fn_name = "selective_pairwise"


class SelectiveListwiseLoss(_RankingLoss):
    """Module form of :func:`losslab.selective_listwise` (kwargs: ``scaling``, ``gamma``)."""

    _fn_name = "selective_listwise"
