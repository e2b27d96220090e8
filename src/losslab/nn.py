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
    # sampled (issue 5)
    "SampledSoftmaxLoss",
    "ImportanceSamplingLoss",
    "NegativeSamplingLoss",
    "SampledNCELoss",
    "InBatchNegativesLoss",
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


# -- sampled / large-K softmax (issue 5) -------------------------------------------------
from . import sampled as _sampled  # noqa: E402


class _SampledLoss(_Loss):
    """Stores the sampling keyword arguments; forward(hidden, out_weight, out_bias, labels)."""

    _fn = None

    def __init__(self, reduction: str = "mean", **kwargs) -> None:
        super().__init__(reduction)
        self.kwargs = kwargs

    def forward(self, hidden, out_weight, out_bias, labels, weight=None, **overrides):
        return type(self)._fn(hidden, out_weight, out_bias, labels, **{**self.kwargs, **overrides},
                              weight=weight, reduction=self.reduction)


class SampledSoftmaxLoss(_SampledLoss):
    """Module form of :func:`losslab.sampled_softmax_loss`."""

    _fn = staticmethod(_sampled.sampled_softmax_loss)


class ImportanceSamplingLoss(_SampledLoss):
    """Module form of :func:`losslab.importance_sampling_loss`."""

    _fn = staticmethod(_sampled.importance_sampling_loss)


class NegativeSamplingLoss(_SampledLoss):
    """Module form of :func:`losslab.negative_sampling_loss`."""

    _fn = staticmethod(_sampled.negative_sampling_loss)


class SampledNCELoss(_SampledLoss):
    """Module form of :func:`losslab.sampled_nce_loss`."""

    _fn = staticmethod(_sampled.sampled_nce_loss)


class InBatchNegativesLoss(_SampledLoss):
    """Module form of :func:`losslab.in_batch_negatives_loss`."""

    _fn = staticmethod(_sampled.in_batch_negatives_loss)
