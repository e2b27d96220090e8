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
    # single-logit classification (issue 3)
    "MaxMarginLoss",
    "SoftmaxCauchySchwarzLoss",
    "SigmoidCauchySchwarzLoss",
    "SoftmaxTanimotoLoss",
    "SigmoidTanimotoLoss",
    "SelfNormalizationLoss",
    "NCELoss",
    "OneVsAllBCELoss",
    "BatchCrossEntropyLoss",
    "BatchMaxMarginLoss",
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
# -- single-logit classification (seed 001, issue 3) ---------------------------------------
from . import single_logit as _slc  # noqa: E402


class MaxMarginLoss(_Loss):
    """Module form of :func:`losslab.max_margin`."""

    def __init__(self, margin: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.margin = margin

    def forward(self, logits, labels, weight=None):
        return _slc.max_margin(logits, labels, margin=self.margin, weight=weight, reduction=self.reduction)


class SoftmaxCauchySchwarzLoss(_Loss):
    """Module form of :func:`losslab.softmax_cauchy_schwarz`."""

    def forward(self, logits, labels, weight=None):
        return _slc.softmax_cauchy_schwarz(logits, labels, weight=weight, reduction=self.reduction)


class SigmoidCauchySchwarzLoss(_Loss):
    """Module form of :func:`losslab.sigmoid_cauchy_schwarz`."""

    def forward(self, logits, labels, weight=None):
        return _slc.sigmoid_cauchy_schwarz(logits, labels, weight=weight, reduction=self.reduction)


class SoftmaxTanimotoLoss(_Loss):
    """Module form of :func:`losslab.softmax_tanimoto`."""

    def forward(self, logits, labels, weight=None):
        return _slc.softmax_tanimoto(logits, labels, weight=weight, reduction=self.reduction)


class SigmoidTanimotoLoss(_Loss):
    """Module form of :func:`losslab.sigmoid_tanimoto`."""

    def forward(self, logits, labels, weight=None):
        return _slc.sigmoid_tanimoto(logits, labels, weight=weight, reduction=self.reduction)


class SelfNormalizationLoss(_Loss):
    """Module form of :func:`losslab.self_normalization`."""

    def __init__(self, alpha: float = 0.1, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.alpha = alpha

    def forward(self, logits, labels, weight=None):
        return _slc.self_normalization(logits, labels, alpha=self.alpha, weight=weight, reduction=self.reduction)


class NCELoss(_Loss):
    """Module form of :func:`losslab.nce` (``noise`` is a buffer; ``generator`` is used in sample mode)."""

    def __init__(self, num_noise: int = 10, noise: torch.Tensor | None = None, mode: str = "expectation",
                 generator: torch.Generator | None = None, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.num_noise, self.mode, self._generator = num_noise, mode, generator
        self.register_buffer("noise", noise)

    def forward(self, logits, labels, weight=None, noise_samples=None):
        return _slc.nce(logits, labels, num_noise=self.num_noise, noise=self.noise, mode=self.mode,
                        noise_samples=noise_samples, generator=self._generator, weight=weight, reduction=self.reduction)


class OneVsAllBCELoss(_Loss):
    """Module form of :func:`losslab.binary_cross_entropy` (one-vs-all from integer labels)."""

    def forward(self, logits, labels, weight=None):
        return _slc.binary_cross_entropy(logits, labels, weight=weight, reduction=self.reduction)


class BatchCrossEntropyLoss(_Loss):
    """Module form of :func:`losslab.batch_cross_entropy`."""

    def forward(self, logits, labels):
        return _slc.batch_cross_entropy(logits, labels, reduction=self.reduction)


class BatchMaxMarginLoss(_Loss):
    """Module form of :func:`losslab.batch_max_margin`."""

    def __init__(self, margin: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.margin = margin

    def forward(self, logits, labels):
        return _slc.batch_max_margin(logits, labels, margin=self.margin, reduction=self.reduction)
