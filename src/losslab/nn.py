"""Thin ``nn.Module`` wrappers: each stores hyper-parameters and calls its function.

The documentation lives on the functions (``losslab.<name>``); each module's
docstring points there, lists the constructor's arguments (``Args:``), says what
``forward`` takes and ends with a one-line ``Example:`` that runs with
``import torch, losslab as ll`` (links as ``ll.links.<name>()``; tests/test_nn_docs.py runs it).
"""
from __future__ import annotations

import torch
from torch import nn

from . import matching as _matching
from ._validate import check_bool as _check_bool
from ._validate import legacy_reduction, old_weight_keyword
from .links import Link

__all__ = [
    "MatchingLoss",
    "CompositeSigmoidLoss",
    "CompositeSoftmaxLoss",
    "DecomposedMatchingLoss",
    # fenchel_young
    "Sparsemax",
    "Entmax15",
    "EntmaxBisect",
    "SparsemaxLoss",
    "Entmax15Loss",
    "EntmaxBisectLoss",
    "FenchelYoungLoss",
    # single-logit classification
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
    # standard catalogue
    "CrossEntropyLoss",
    "BCEWithLogitsLoss",
    "BinaryCrossEntropyWithLogitsLoss",
    "FocalLoss",
    "PolyLoss",
    "KLDivergenceLoss",
    "HingeLoss",
    "SquaredHingeLoss",
    "MulticlassHingeLoss",
    "SoftDiceLoss",
    "ArcFaceLoss",
    "GE2ELoss",
    "MAELoss",
    "MSELoss",
    "HuberLoss",
    "SmoothL1Loss",
    "LogCoshLoss",
    "QuantileLoss",
    "MAPELoss",
    "MSLELoss",
    "PoissonNLLLoss",
    "ContrastiveLoss",
    "TripletLoss",
    "InfoNCELoss",
    "NTXentLoss",
    "MultipleNegativesRankingLoss",
    "TDLoss",
    "PolicyGradientLoss",
    # ranking
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
    # sampled
    "SampledSoftmaxLoss",
    "ImportanceSamplingLoss",
    "NegativeSamplingLoss",
    "SampledNCELoss",
    "InBatchNegativesLoss",
    # PyTorch's names where losslab's own differ (torch.nn); CrossEntropyLoss, BCEWithLogitsLoss,
    # MSELoss, HuberLoss, SmoothL1Loss and PoissonNLLLoss above are PyTorch's modules too
    "L1Loss",
    "KLDivLoss",
    "MultiMarginLoss",
    "MarginRankingLoss",
    "SoftMarginLoss",
    "TripletMarginLoss",
    "TripletMarginWithDistanceLoss",
]


class _Loss(nn.Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = reduction

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_") and k != "training")


# -- selective matching losses (seed 000) ------------------------------------------------
class MatchingLoss(_Loss):
    """Module form of :func:`losslab.matching_loss`.

    Args:
        link: the link ``h`` (a :class:`losslab.links.Link`), e.g. ``ll.links.sigmoid()``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).
        impl: ``'auto'`` (default) | ``'reference'`` | ``'fused'``: the fused kernel or the pure-PyTorch code (:mod:`losslab.kernels`).

    ``forward(pred, target, sample_weight=None)``: ``pred`` and ``target`` of one shape ``[...]``; ``sample_weight`` per
    element.

    Example: ``ll.nn.MatchingLoss(ll.links.sigmoid())(torch.randn(4, 3), torch.randn(4, 3))``
    """

    def __init__(self, link: Link, reduction: str = "mean", impl: str = "auto") -> None:
        super().__init__(reduction)
        self.link = link
        self.impl = _check_impl(impl)

    @old_weight_keyword
    def forward(self, pred, target, sample_weight=None):
        return _matching.matching_loss(pred, target, self.link, sample_weight=sample_weight, reduction=self.reduction,
                                       impl=_impl_of(self))


class CompositeSigmoidLoss(_Loss):
    """Module form of :func:`losslab.composite_sigmoid_loss`.

    Args:
        scaling: the scaling function ``q`` (a :class:`losslab.links.Link`), e.g. ``ll.links.tanh()``.
        gamma: regularisation ``γ > 0`` (default 1.0).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).
        impl: ``'auto'`` (default) | ``'reference'`` | ``'fused'``: the fused kernel or the pure-PyTorch code (:mod:`losslab.kernels`).

    ``forward(pred, target, sample_weight=None)``: ``pred`` and ``target`` of one shape ``[...]``; ``sample_weight`` per
    element.

    Example: ``ll.nn.CompositeSigmoidLoss(ll.links.tanh())(torch.randn(4), torch.randn(4))``
    """

    def __init__(self, scaling: Link, gamma: float = 1.0, reduction: str = "mean", impl: str = "auto") -> None:
        super().__init__(reduction)
        self.scaling, self.gamma = scaling, gamma
        self.impl = _check_impl(impl)

    @old_weight_keyword
    def forward(self, pred, target, sample_weight=None):
        return _matching.composite_sigmoid_loss(pred, target, self.scaling, gamma=self.gamma, sample_weight=sample_weight, reduction=self.reduction,
                                                impl=_impl_of(self))


class CompositeSoftmaxLoss(_Loss):
    """Module form of :func:`losslab.composite_softmax_loss`.

    Args:
        scaling: the scaling function ``q`` (a :class:`losslab.links.Link`), e.g. ``ll.links.exp()``.
        gamma: regularisation ``γ > 0`` (default 1.0).
        dim: the class dimension (default -1).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).
        impl: ``'auto'`` (default) | ``'reference'`` | ``'fused'``: the fused kernel or the pure-PyTorch code (:mod:`losslab.kernels`).

    ``forward(pred, target, sample_weight=None)``: scores ``[..., K]`` and target scores of the same shape;
    ``sample_weight`` ``[...]``.

    Example: ``ll.nn.CompositeSoftmaxLoss(ll.links.exp())(torch.randn(4, 3), torch.randn(4, 3))``
    """

    def __init__(self, scaling: Link, gamma: float = 1.0, dim: int = -1, reduction: str = "mean",
                 impl: str = "auto") -> None:
        super().__init__(reduction)
        self.scaling, self.gamma, self.dim = scaling, gamma, dim
        self.impl = _check_impl(impl)

    @old_weight_keyword
    def forward(self, pred, target, sample_weight=None):
        return _matching.composite_softmax_loss(
            pred, target, self.scaling, gamma=self.gamma, dim=self.dim, sample_weight=sample_weight, reduction=self.reduction,
            impl=_impl_of(self)
        )


class DecomposedMatchingLoss(_Loss):
    """Module form of :func:`losslab.decomposed_matching_loss`.

    Args:
        link: the link ``h`` (a :class:`losslab.links.Link`), applied per class.
        dim: the class dimension summed over (default -1).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).

    ``forward(pred, target, sample_weight=None)``: scores ``[..., K]`` and target scores of the same shape;
    ``sample_weight`` ``[...]``.

    Example: ``ll.nn.DecomposedMatchingLoss(ll.links.sigmoid())(torch.randn(4, 3), torch.randn(4, 3))``
    """

    def __init__(self, link: Link, dim: int = -1, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.link, self.dim = link, dim

    @old_weight_keyword
    def forward(self, pred, target, sample_weight=None):
        return _matching.decomposed_matching_loss(pred, target, self.link, dim=self.dim, sample_weight=sample_weight, reduction=self.reduction)


# -- Fenchel–Young losses and sparse mappings ----------------------------------
from . import fenchel_young as _fy  # noqa: E402


class Sparsemax(nn.Module):
    """Module form of :func:`losslab.sparsemax`.

    Args:
        dim: the dimension normalised over (default -1).

    ``forward(x)``: scores ``[..., K, ...]``; returns probabilities of the same shape (some exactly 0).

    Example: ``ll.nn.Sparsemax()(torch.randn(4, 3))``
    """

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return _fy.sparsemax(x, dim=self.dim)


class Entmax15(nn.Module):
    """Module form of :func:`losslab.entmax15`.

    Args:
        dim: the dimension normalised over (default -1).

    ``forward(x)``: scores ``[..., K, ...]``; returns probabilities of the same shape (some exactly 0).

    Example: ``ll.nn.Entmax15()(torch.randn(4, 3))``
    """

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return _fy.entmax15(x, dim=self.dim)


class EntmaxBisect(nn.Module):
    """Module form of :func:`losslab.entmax_bisect`.

    Args:
        alpha: the Tsallis index, ``> 1`` (default 1.5).
        dim: the dimension normalised over (default -1).
        n_iter: bisection steps (default 50, float64 resolution).

    ``forward(x)``: scores ``[..., K, ...]``; returns probabilities of the same shape.

    Example: ``ll.nn.EntmaxBisect(alpha=1.3)(torch.randn(4, 3))``
    """

    def __init__(self, alpha: float = 1.5, dim: int = -1, n_iter: int = _fy.DEFAULT_N_ITER) -> None:
        super().__init__()
        self.alpha, self.dim, self.n_iter = alpha, dim, n_iter

    def forward(self, x):
        return _fy.entmax_bisect(x, alpha=self.alpha, dim=self.dim, n_iter=self.n_iter)


class SparsemaxLoss(_Loss):
    """Module form of :func:`losslab.sparsemax_loss`.

    Args:
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).

    ``forward(scores, target, sample_weight=None)``: scores ``[..., K]``; integer labels ``[...]`` or probabilities
    ``[..., K]``; ``sample_weight`` ``[...]``.

    Example: ``ll.nn.SparsemaxLoss()(torch.randn(4, 3), torch.tensor([0, 2, 1, 0]))``
    """

    @old_weight_keyword
    def forward(self, scores, target, sample_weight=None):
        return _fy.sparsemax_loss(scores, target, sample_weight=sample_weight, reduction=self.reduction)


class Entmax15Loss(_Loss):
    """Module form of :func:`losslab.entmax15_loss`.

    Args:
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).

    ``forward(scores, target, sample_weight=None)``: scores ``[..., K]``; integer labels ``[...]`` or probabilities
    ``[..., K]``; ``sample_weight`` ``[...]``.

    Example: ``ll.nn.Entmax15Loss()(torch.randn(4, 3), torch.tensor([0, 2, 1, 0]))``
    """

    @old_weight_keyword
    def forward(self, scores, target, sample_weight=None):
        return _fy.entmax15_loss(scores, target, sample_weight=sample_weight, reduction=self.reduction)


class EntmaxBisectLoss(_Loss):
    """Module form of :func:`losslab.entmax_bisect_loss`.

    Args:
        alpha: the Tsallis index, ``> 1`` (default 1.5).
        n_iter: bisection steps (default 50).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).

    ``forward(scores, target, sample_weight=None)``: scores ``[..., K]``; integer labels ``[...]`` or probabilities
    ``[..., K]``; ``sample_weight`` ``[...]``.

    Example: ``ll.nn.EntmaxBisectLoss(alpha=1.3)(torch.randn(4, 3), torch.tensor([0, 2, 1, 0]))``
    """

    def __init__(self, alpha: float = 1.5, n_iter: int = _fy.DEFAULT_N_ITER, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.alpha, self.n_iter = alpha, n_iter

    @old_weight_keyword
    def forward(self, scores, target, sample_weight=None):
        return _fy.entmax_bisect_loss(
            scores, target, alpha=self.alpha, n_iter=self.n_iter, sample_weight=sample_weight, reduction=self.reduction
        )


class FenchelYoungLoss(_Loss):
    """Module form of :func:`losslab.fenchel_young_loss`.

    Args:
        regulariser: ``'shannon'`` (default) | ``'gini'``/``'sparsemax'`` | ``'tsallis15'``/``'entmax15'`` | a Tsallis α
            ≥ 1.
        n_iter: bisection steps for a numeric α ≠ 1 (default 50).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).

    ``forward(scores, target, sample_weight=None)``: scores ``[..., K]``; integer labels ``[...]`` or probabilities
    ``[..., K]``; ``sample_weight`` ``[...]``.

    Example: ``ll.nn.FenchelYoungLoss(regulariser="gini")(torch.randn(4, 3), torch.rand(4, 3).softmax(-1))``
    """

    def __init__(self, regulariser="shannon", n_iter: int = _fy.DEFAULT_N_ITER, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.regulariser, self.n_iter = regulariser, n_iter

    @old_weight_keyword
    def forward(self, scores, target, sample_weight=None):
        return _fy.fenchel_young_loss(
            scores, target, regulariser=self.regulariser, n_iter=self.n_iter, sample_weight=sample_weight, reduction=self.reduction
        )
# -- single-logit classification (seed 001) ---------------------------------------
from . import single_logit as _slc  # noqa: E402


class MaxMarginLoss(_Loss):
    """Module form of :func:`losslab.max_margin`.

    Args:
        margin: the margin ``γ > 0`` (default 1.0).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).

    ``forward(logits, labels, sample_weight=None)``: logits ``[..., K]``, integer labels ``[...]``, ``sample_weight``
    ``[...]``.

    Example: ``ll.nn.MaxMarginLoss(margin=0.5)(torch.randn(4, 3), torch.tensor([0, 2, 1, 0]))``
    """

    def __init__(self, margin: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.margin = margin

    @old_weight_keyword
    def forward(self, logits, labels, sample_weight=None):
        return _slc.max_margin(logits, labels, margin=self.margin, sample_weight=sample_weight, reduction=self.reduction)


class SoftmaxCauchySchwarzLoss(_Loss):
    """Module form of :func:`losslab.softmax_cauchy_schwarz`.

    Args:
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).

    ``forward(logits, labels, sample_weight=None)``: logits ``[..., K]``, integer labels ``[...]``, ``sample_weight``
    ``[...]``.

    Example: ``ll.nn.SoftmaxCauchySchwarzLoss()(torch.randn(4, 3), torch.tensor([0, 2, 1, 0]))``
    """

    @old_weight_keyword
    def forward(self, logits, labels, sample_weight=None):
        return _slc.softmax_cauchy_schwarz(logits, labels, sample_weight=sample_weight, reduction=self.reduction)


class SigmoidCauchySchwarzLoss(_Loss):
    """Module form of :func:`losslab.sigmoid_cauchy_schwarz`.

    Args:
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).

    ``forward(logits, labels, sample_weight=None)``: logits ``[..., K]``, integer labels ``[...]``, ``sample_weight``
    ``[...]``.

    Example: ``ll.nn.SigmoidCauchySchwarzLoss()(torch.randn(4, 3), torch.tensor([0, 2, 1, 0]))``
    """

    @old_weight_keyword
    def forward(self, logits, labels, sample_weight=None):
        return _slc.sigmoid_cauchy_schwarz(logits, labels, sample_weight=sample_weight, reduction=self.reduction)


class SoftmaxTanimotoLoss(_Loss):
    """Module form of :func:`losslab.softmax_tanimoto`.

    Args:
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).

    ``forward(logits, labels, sample_weight=None)``: logits ``[..., K]``, integer labels ``[...]``, ``sample_weight``
    ``[...]``.

    Example: ``ll.nn.SoftmaxTanimotoLoss()(torch.randn(4, 3), torch.tensor([0, 2, 1, 0]))``
    """

    @old_weight_keyword
    def forward(self, logits, labels, sample_weight=None):
        return _slc.softmax_tanimoto(logits, labels, sample_weight=sample_weight, reduction=self.reduction)


class SigmoidTanimotoLoss(_Loss):
    """Module form of :func:`losslab.sigmoid_tanimoto`.

    Args:
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).

    ``forward(logits, labels, sample_weight=None)``: logits ``[..., K]``, integer labels ``[...]``, ``sample_weight``
    ``[...]``.

    Example: ``ll.nn.SigmoidTanimotoLoss()(torch.randn(4, 3), torch.tensor([0, 2, 1, 0]))``
    """

    @old_weight_keyword
    def forward(self, logits, labels, sample_weight=None):
        return _slc.sigmoid_tanimoto(logits, labels, sample_weight=sample_weight, reduction=self.reduction)


class SelfNormalizationLoss(_Loss):
    """Module form of :func:`losslab.self_normalization`.

    Args:
        alpha: weight ``α > 0`` of the normalisation term (default 0.1).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).
        impl: ``'auto'`` (default) | ``'reference'`` | ``'fused'``: the fused kernel or the pure-PyTorch code (:mod:`losslab.kernels`).

    ``forward(logits, labels, sample_weight=None)``: logits ``[..., K]``, integer labels ``[...]``, ``sample_weight``
    ``[...]``.

    Example: ``ll.nn.SelfNormalizationLoss(alpha=0.5)(torch.randn(4, 3), torch.tensor([0, 2, 1, 0]))``
    """

    def __init__(self, alpha: float = 0.1, reduction: str = "mean", impl: str = "auto") -> None:
        super().__init__(reduction)
        self.alpha = alpha
        self.impl = _check_impl(impl)

    @old_weight_keyword
    def forward(self, logits, labels, sample_weight=None):
        return _slc.self_normalization(logits, labels, alpha=self.alpha, sample_weight=sample_weight, reduction=self.reduction,
                                       impl=_impl_of(self))


class NCELoss(_Loss):
    """Module form of :func:`losslab.nce` (``noise`` is a buffer; ``generator`` is used in sample mode).

    Args:
        num_noise: ``t``, noise samples per example, integer ``≥ 1`` (default 10).
        noise: the noise distribution ``q``, ``[K]`` summing to one (a buffer); ``None`` (default) is uniform.
        mode: ``'expectation'`` (default, exact) | ``'sample'`` (Monte-Carlo).
        generator: ``torch.Generator`` for the draws in sample mode (default the global RNG).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).

    ``forward(logits, labels, sample_weight=None, noise_samples=None)``: logits ``[..., K]``, integer labels ``[...]``,
    ``sample_weight`` ``[...]``, optional integer ``noise_samples`` ``[..., t]`` (sample mode).

    Example: ``ll.nn.NCELoss(num_noise=5)(torch.randn(4, 6), torch.tensor([0, 2, 5, 1]))``
    """

    def __init__(self, num_noise: int = 10, noise: torch.Tensor | None = None, mode: str = "expectation",
                 generator: torch.Generator | None = None, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.num_noise, self.mode, self._generator = num_noise, mode, generator
        self.register_buffer("noise", noise)

    @old_weight_keyword
    def forward(self, logits, labels, sample_weight=None, noise_samples=None):
        return _slc.nce(logits, labels, num_noise=self.num_noise, noise=self.noise, mode=self.mode,
                        noise_samples=noise_samples, generator=self._generator, sample_weight=sample_weight, reduction=self.reduction)


class OneVsAllBCELoss(_Loss):
    """Module form of :func:`losslab.binary_cross_entropy` (one-vs-all from integer labels).

    Args:
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).

    ``forward(logits, labels, sample_weight=None)``: logits ``[..., K]``, integer labels ``[...]`` (not one-hot),
    ``sample_weight`` ``[...]``.

    Example: ``ll.nn.OneVsAllBCELoss()(torch.randn(4, 3), torch.tensor([0, 2, 1, 0]))``
    """

    @old_weight_keyword
    def forward(self, logits, labels, sample_weight=None):
        return _slc.binary_cross_entropy(logits, labels, sample_weight=sample_weight, reduction=self.reduction)


class BatchCrossEntropyLoss(_Loss):
    """Module form of :func:`losslab.batch_cross_entropy`.

    Args:
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).
        impl: ``'auto'`` (default) | ``'reference'`` | ``'fused'``: the fused kernel or the pure-PyTorch code (:mod:`losslab.kernels`).

    ``forward(logits, labels)``: logits ``[B, K]`` of one batch (``B > 1``), integer labels ``[B]``; no
    ``sample_weight`` (the batch couples its examples).

    Example: ``ll.nn.BatchCrossEntropyLoss()(torch.randn(4, 3), torch.tensor([0, 2, 1, 0]))``
    """

    def __init__(self, reduction: str = "mean", impl: str = "auto") -> None:
        super().__init__(reduction)
        self.impl = _check_impl(impl)

    def forward(self, logits, labels):
        return _slc.batch_cross_entropy(logits, labels, reduction=self.reduction, impl=_impl_of(self))


class BatchMaxMarginLoss(_Loss):
    """Module form of :func:`losslab.batch_max_margin`.

    Args:
        margin: the margin ``γ > 0`` (default 1.0).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).

    ``forward(logits, labels)``: logits ``[B, K]`` of one batch (``B > 1``), integer labels ``[B]``; no
    ``sample_weight`` (the batch couples its examples).

    Example: ``ll.nn.BatchMaxMarginLoss(margin=0.5)(torch.randn(4, 3), torch.tensor([0, 2, 1, 0]))``
    """

    def __init__(self, margin: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.margin = margin

    def forward(self, logits, labels):
        return _slc.batch_max_margin(logits, labels, margin=self.margin, reduction=self.reduction)


# -- standard catalogue: classification, regression, contrastive, rl --------------
from . import classification as _cls  # noqa: E402
from importlib import import_module  # noqa: E402

_con = import_module(f"{__package__}.contrastive")  # the package attribute `contrastive` is the function
from . import regression as _reg  # noqa: E402
from . import rl as _rl  # noqa: E402


class _KwLoss(_Loss):
    """Stores a function's keyword hyper-parameters (tensors as buffers) and calls it."""

    def __init__(self, fn, reduction: str = "mean", **kw) -> None:
        super().__init__(reduction)
        _check_flags(fn, kw)
        self._fn, self._keys = fn, tuple(kw)
        for k, v in kw.items():
            if isinstance(v, torch.Tensor) and not isinstance(v, nn.Parameter):
                self.register_buffer(k, v)
            else:
                setattr(self, k, v)

    def forward(self, *inputs, sample_weight=None, **overrides):
        kw = {k: getattr(self, k) for k in self._keys}
        return self._fn(*inputs, **{**kw, **overrides}, sample_weight=sample_weight, reduction=self.reduction)


class CrossEntropyLoss(_KwLoss):
    """``torch.nn.CrossEntropyLoss`` (same arguments, layout and values); module form of :func:`losslab.cross_entropy`.

    Args:
        weight: optional class weights ``[C]`` (kept as a buffer).
        size_average, reduce: PyTorch's deprecated pair, mapped to ``reduction`` as PyTorch maps it.
        ignore_index: target value that contributes nothing.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        label_smoothing: ``ε ∈ [0, 1]``.
        dim: losslab's extra: the class dim (default PyTorch's: 1, or 0 for a ``[C]`` input).
        impl: ``'auto'`` (default) | ``'reference'`` | ``'fused'``: the fused kernel or the pure-PyTorch code (:mod:`losslab.kernels`).

    ``forward(input, target, sample_weight=None)``.

    Example: ``ll.nn.CrossEntropyLoss(label_smoothing=0.1)(torch.randn(4, 3), torch.tensor([0, 2, 1, 0]))``
    """

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean", label_smoothing=0.0,
                 *, dim=None, impl="auto"):
        super().__init__(_cls.cross_entropy, legacy_reduction(size_average, reduce, reduction), weight=weight,
                         ignore_index=ignore_index, label_smoothing=label_smoothing, dim=dim, impl=_check_impl(impl))


class BCEWithLogitsLoss(_KwLoss):
    """``torch.nn.BCEWithLogitsLoss``; module form of :func:`losslab.binary_cross_entropy_with_logits`.

    Args:
        weight: optional rescaling weight broadcastable to the input (PyTorch's; a buffer).
        size_average, reduce: PyTorch's deprecated pair, mapped to ``reduction`` as PyTorch maps it.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        pos_weight: optional weight of positives ``[C]`` (last dim) or one element (a buffer).

    ``forward(input, target, sample_weight=None)``.

    Example: ``ll.nn.BCEWithLogitsLoss(pos_weight=torch.tensor([2.0]))(torch.randn(4), torch.rand(4))``
    """

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean", pos_weight=None):
        super().__init__(_cls.binary_cross_entropy_with_logits, legacy_reduction(size_average, reduce, reduction),
                         weight=weight, pos_weight=pos_weight)


BinaryCrossEntropyWithLogitsLoss = BCEWithLogitsLoss  # losslab's longer name for the same module


class FocalLoss(_KwLoss):
    """Module form of :func:`losslab.focal_loss`.

    Args:
        gamma: focusing parameter ``γ ≥ 0`` (default 2.0).
        alpha: binary: a float in ``[0, 1]``; multi-class: class weights ``[K]`` (a buffer); ``None`` (default): none.
        dim: the class dimension, multi-class (default -1).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).

    ``forward(logits, target, sample_weight=None, **overrides)``: binary: logits ``[...]`` and floating target in ``[0,
    1]``; multi-class: logits ``[..., K]`` and integer labels ``[...]``; ``overrides`` replace stored hyper-parameters
    for one call.

    Example: ``ll.nn.FocalLoss(gamma=1.0)(torch.randn(4, 3), torch.tensor([0, 2, 1, 0]))``
    """

    def __init__(self, *, gamma=2.0, alpha=None, dim=-1, reduction="mean"):
        super().__init__(_cls.focal_loss, reduction, gamma=gamma, alpha=alpha, dim=dim)


class PolyLoss(_KwLoss):
    """Module form of :func:`losslab.poly_loss`.

    Args:
        epsilon: ``ε`` (Poly-1) or a sequence ``ε_1..ε_N`` (Poly-N) (default 1.0).
        dim: the class dimension (default -1).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).

    ``forward(logits, target, sample_weight=None, **overrides)``: logits ``[..., K]``, integer labels ``[...]``;
    ``overrides`` replace stored hyper-parameters for one call.

    Example: ``ll.nn.PolyLoss(epsilon=2.0)(torch.randn(4, 3), torch.tensor([0, 2, 1, 0]))``
    """

    def __init__(self, *, epsilon=1.0, dim=-1, reduction="mean"):
        super().__init__(_cls.poly_loss, reduction, epsilon=epsilon, dim=dim)


class KLDivergenceLoss(_KwLoss):
    """Module form of :func:`losslab.kl_divergence`.

    Args:
        dim: the distribution dimension summed over (default -1).
        log_target: whether the target is given in log space (default ``False``).
        reduction: ``'none'`` | ``'mean'`` (= ``'batchmean'``, default) | ``'sum'``.

    ``forward(input, target, sample_weight=None, **overrides)``: log-probabilities ``[..., K]`` and target
    (log-)probabilities of the same shape; ``sample_weight`` ``[...]``; ``overrides`` replace stored hyper-parameters
    for one call.

    Example: ``ll.nn.KLDivergenceLoss()(torch.randn(4, 3).log_softmax(-1), torch.rand(4, 3).softmax(-1))``
    """

    def __init__(self, *, dim=-1, log_target=False, reduction="mean"):
        super().__init__(_cls.kl_divergence, reduction, dim=dim, log_target=log_target)


class HingeLoss(_KwLoss):
    """Module form of :func:`losslab.hinge`.

    Args:
        margin: ``m ≥ 0`` (default 1.0).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).
        impl: ``'auto'`` (default) | ``'reference'`` | ``'fused'``: the fused kernel or the pure-PyTorch code (:mod:`losslab.kernels`).

    ``forward(scores, target, sample_weight=None, **overrides)``: scores ``[...]``, labels ``[...]`` in ``{-1, +1}``;
    ``overrides`` replace stored hyper-parameters for one call.

    Example: ``ll.nn.HingeLoss()(torch.randn(4), torch.tensor([1, -1, 1, -1]))``
    """

    def __init__(self, *, margin=1.0, reduction="mean", impl="auto"):
        super().__init__(_cls.hinge, reduction, margin=margin, impl=_check_impl(impl))


class SquaredHingeLoss(_KwLoss):
    """Module form of :func:`losslab.squared_hinge`.

    Args:
        margin: ``m ≥ 0`` (default 1.0).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).
        impl: ``'auto'`` (default) | ``'reference'`` | ``'fused'``: the fused kernel or the pure-PyTorch code (:mod:`losslab.kernels`).

    ``forward(scores, target, sample_weight=None, **overrides)``: scores ``[...]``, labels ``[...]`` in ``{-1, +1}``;
    ``overrides`` replace stored hyper-parameters for one call.

    Example: ``ll.nn.SquaredHingeLoss()(torch.randn(4), torch.tensor([1, -1, 1, -1]))``
    """

    def __init__(self, *, margin=1.0, reduction="mean", impl="auto"):
        super().__init__(_cls.squared_hinge, reduction, margin=margin, impl=_check_impl(impl))


class MulticlassHingeLoss(_KwLoss):
    """Module form of :func:`losslab.multiclass_hinge`.

    Args:
        margin: ``m ≥ 0`` (default 1.0).
        variant: ``'weston_watkins'`` (default, sum) | ``'crammer_singer'`` (max).
        p: 1 (default, hinge) or 2 (squared hinge).
        dim: the class dimension (default -1).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).

    ``forward(scores, target, sample_weight=None, **overrides)``: scores ``[..., K]``, integer labels ``[...]``;
    ``overrides`` replace stored hyper-parameters for one call.

    Example: ``ll.nn.MulticlassHingeLoss(variant="crammer_singer")(torch.randn(4, 3), torch.tensor([0, 2, 1, 0]))``
    """

    def __init__(self, *, margin=1.0, variant="weston_watkins", p=1, dim=-1, reduction="mean"):
        super().__init__(_cls.multiclass_hinge, reduction, margin=margin, variant=variant, p=p, dim=dim)


class SoftDiceLoss(_KwLoss):
    """Module form of :func:`losslab.soft_dice`.

    Args:
        ignore_index: label value left out (integer targets), or ``None`` (default).
        smooth: Laplace smoothing ``s ≥ 0`` (default 1.0).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).

    ``forward(logits, target, sample_weight=None, **overrides)``: logits ``[..., N, K]`` (``N`` positions, classes
    last), integer labels ``[..., N]`` or probabilities ``[..., N, K]``; ``sample_weight`` ``[...]``; ``overrides``
    replace stored hyper-parameters for one call.

    Example: ``ll.nn.SoftDiceLoss()(torch.randn(2, 16, 3), torch.randint(0, 3, (2, 16)))``
    """

    def __init__(self, *, ignore_index=None, smooth=1.0, reduction="mean"):
        super().__init__(_cls.soft_dice, reduction, ignore_index=ignore_index, smooth=smooth)


class ArcFaceLoss(_KwLoss):
    """Module form of :func:`losslab.arcface` (on cosines; the class centres live in your model).

    Args:
        scale: ``s > 0`` (default 64.0).
        margin: additive angular margin ``m ∈ [0, π/2)`` (default 0.5).
        easy_margin: apply the margin only for positive cosines (default ``False``).
        dim: the class dimension (default -1).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).

    ``forward(cosine, target, sample_weight=None, **overrides)``: cosines ``[..., K]`` in ``[-1, 1]``, integer labels
    ``[...]``; ``overrides`` replace stored hyper-parameters for one call.

    Example: ``ll.nn.ArcFaceLoss(scale=8.0)(torch.rand(4, 5) * 2 - 1, torch.tensor([0, 4, 2, 1]))``
    """

    def __init__(self, *, scale=64.0, margin=0.5, easy_margin=False, dim=-1, reduction="mean"):
        super().__init__(_cls.arcface, reduction, scale=scale, margin=margin, easy_margin=easy_margin, dim=dim)


class GE2ELoss(_KwLoss):
    """Module form of :func:`losslab.ge2e`; ``w`` and ``b`` are learnable parameters (as in the paper) by default.

    Args:
        variant: ``'softmax'`` (default) | ``'contrast'``.
        w: similarity scale ``> 0`` (default 10.0).
        b: similarity bias (default -5.0).
        learnable: make ``w`` and ``b`` ``nn.Parameter`` s (default ``True``); else plain floats.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).

    ``forward(embeddings, sample_weight=None, **overrides)``: embeddings ``[N, M, D]`` (``N ≥ 2`` speakers × ``M ≥ 2``
    utterances), ``sample_weight`` ``[N, M]``; ``overrides`` replace stored hyper-parameters for one call.

    Example: ``ll.nn.GE2ELoss()(torch.randn(3, 4, 8))``
    """

    def __init__(self, *, variant="softmax", w=10.0, b=-5.0, learnable=True, reduction="mean"):
        if _check_bool("learnable", learnable):
            w, b = nn.Parameter(torch.tensor(float(w))), nn.Parameter(torch.tensor(float(b)))
        super().__init__(_cls.ge2e, reduction, variant=variant, w=w, b=b)


class MAELoss(_KwLoss):
    """Module form of :func:`losslab.mae`.

    Args:
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).

    ``forward(pred, target, sample_weight=None)``: ``pred`` and ``target`` of one shape ``[...]``; ``sample_weight`` per
    element.

    Example: ``ll.nn.MAELoss()(torch.randn(4, 2), torch.randn(4, 2))``
    """

    def __init__(self, *, reduction="mean"):
        super().__init__(_reg.mae, reduction)


class MSELoss(_KwLoss):
    """``torch.nn.MSELoss``; module form of :func:`losslab.mse_loss` (:func:`losslab.mse`).

    Args:
        size_average, reduce: PyTorch's deprecated pair, mapped to ``reduction`` as PyTorch maps it.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    ``forward(input, target, sample_weight=None)``.

    Example: ``ll.nn.MSELoss()(torch.randn(4, 2), torch.randn(4, 2))``
    """

    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        super().__init__(_reg.mse_loss, legacy_reduction(size_average, reduce, reduction))


class HuberLoss(_KwLoss):
    """``torch.nn.HuberLoss``; module form of :func:`losslab.huber_loss` (:func:`losslab.huber`).

    Args:
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        delta: ``δ > 0``, where the loss turns from quadratic to linear.

    ``forward(input, target, sample_weight=None)``.

    Example: ``ll.nn.HuberLoss(delta=0.5)(torch.randn(4), torch.randn(4))``
    """

    def __init__(self, reduction="mean", delta=1.0):
        super().__init__(_reg.huber_loss, reduction, delta=delta)


class SmoothL1Loss(_KwLoss):
    """``torch.nn.SmoothL1Loss``; module form of :func:`losslab.smooth_l1_loss` (:func:`losslab.smooth_l1`).

    Args:
        size_average, reduce: PyTorch's deprecated pair, mapped to ``reduction`` as PyTorch maps it.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        beta: ``β ≥ 0``, where the loss turns from quadratic to linear.

    ``forward(input, target, sample_weight=None)``.

    Example: ``ll.nn.SmoothL1Loss(beta=0.5)(torch.randn(4), torch.randn(4))``
    """

    def __init__(self, size_average=None, reduce=None, reduction="mean", beta=1.0):
        super().__init__(_reg.smooth_l1_loss, legacy_reduction(size_average, reduce, reduction), beta=beta)


class LogCoshLoss(_KwLoss):
    """Module form of :func:`losslab.log_cosh`.

    Args:
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).
        impl: ``'auto'`` (default) | ``'reference'`` | ``'fused'``: the fused kernel or the pure-PyTorch code (:mod:`losslab.kernels`).

    ``forward(pred, target, sample_weight=None)``: ``pred`` and ``target`` of one shape ``[...]``; ``sample_weight`` per
    element.

    Example: ``ll.nn.LogCoshLoss()(torch.randn(4, 2), torch.randn(4, 2))``
    """

    def __init__(self, *, reduction="mean", impl="auto"):
        super().__init__(_reg.log_cosh, reduction, impl=_check_impl(impl))


class QuantileLoss(_KwLoss):
    """Module form of :func:`losslab.quantile`.

    Args:
        q: the quantile level, ``0 < q < 1`` (default 0.5).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).

    ``forward(pred, target, sample_weight=None, **overrides)``: ``pred`` and ``target`` of one shape ``[...]``;
    ``overrides`` replace stored hyper-parameters for one call.

    Example: ``ll.nn.QuantileLoss(q=0.9)(torch.randn(4), torch.randn(4))``
    """

    def __init__(self, *, q=0.5, reduction="mean"):
        super().__init__(_reg.quantile, reduction, q=q)


class MAPELoss(_KwLoss):
    """Module form of :func:`losslab.mape`.

    Args:
        eps: floor ``ε > 0`` for ``|y|`` (default machine epsilon of float64).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).

    ``forward(pred, target, sample_weight=None, **overrides)``: ``pred`` and ``target`` of one shape ``[...]``;
    ``overrides`` replace stored hyper-parameters for one call.

    Example: ``ll.nn.MAPELoss()(torch.randn(4), torch.rand(4) + 1)``
    """

    def __init__(self, *, eps=_reg._MAPE_EPS, reduction="mean"):
        super().__init__(_reg.mape, reduction, eps=eps)


class MSLELoss(_KwLoss):
    """Module form of :func:`losslab.msle`.

    Args:
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).

    ``forward(pred, target, sample_weight=None)``: ``pred ≥ 0`` and ``target ≥ 0`` of one shape ``[...]``;
    ``sample_weight`` per element.

    Example: ``ll.nn.MSLELoss()(torch.rand(4), torch.rand(4))``
    """

    def __init__(self, *, reduction="mean"):
        super().__init__(_reg.msle, reduction)


class PoissonNLLLoss(_KwLoss):
    """``torch.nn.PoissonNLLLoss``; module form of :func:`losslab.poisson_nll_loss` (:func:`losslab.poisson_nll`).

    Args:
        log_input: whether the input is the log-rate.
        full: add the Stirling term.
        size_average, reduce: PyTorch's deprecated pair, mapped to ``reduction`` as PyTorch maps it.
        eps: ``ε > 0`` inside the log when ``log_input=False``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    ``forward(log_input, target, sample_weight=None)``.

    Example: ``ll.nn.PoissonNLLLoss()(torch.randn(4), torch.tensor([0.0, 1.0, 3.0, 2.0]))``
    """

    def __init__(self, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None, reduction="mean"):
        super().__init__(_reg.poisson_nll_loss, legacy_reduction(size_average, reduce, reduction), log_input=log_input,
                         full=full, eps=eps)


class ContrastiveLoss(_KwLoss):
    """Module form of :func:`losslab.contrastive`.

    Args:
        margin: ``m > 0`` (default 1.0).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).

    ``forward(x1, x2, target, sample_weight=None, **overrides)``: embeddings ``[..., D]``, ``target`` ``[...]`` in ``{0,
    1}``; ``overrides`` replace stored hyper-parameters for one call.

    Example: ``ll.nn.ContrastiveLoss()(torch.randn(4, 8), torch.randn(4, 8), torch.tensor([1, 0, 1, 0]))``
    """

    def __init__(self, *, margin=1.0, reduction="mean"):
        super().__init__(_con.contrastive, reduction, margin=margin)


class TripletLoss(_KwLoss):
    """Module form of :func:`losslab.triplet`.

    Args:
        margin: ``m > 0`` (default 1.0).
        distance: callable ``(x, y) -> [...]``, or ``None`` (default) for Euclidean.
        swap: use the distance swap (default ``False``).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).

    ``forward(anchor, positive, negative, sample_weight=None, **overrides)``: embeddings ``[..., D]`` of one shape;
    ``overrides`` replace stored hyper-parameters for one call.

    Example: ``ll.nn.TripletLoss(margin=0.5)(torch.randn(4, 8), torch.randn(4, 8), torch.randn(4, 8))``
    """

    def __init__(self, *, margin=1.0, distance=None, swap=False, reduction="mean"):
        super().__init__(_con.triplet, reduction, margin=margin, distance=distance, swap=swap)


class InfoNCELoss(_KwLoss):
    """Module form of :func:`losslab.info_nce`.

    Args:
        temperature: ``τ > 0`` (default 0.1).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).

    ``forward(query, positive_key, negative_keys=None, sample_weight=None, **overrides)``: ``query`` and
    ``positive_key`` ``[N, D]``, ``negative_keys`` ``None`` (in-batch), ``[M, D]`` or ``[N, M, D]``; ``overrides``
    replace stored hyper-parameters for one call.

    Example: ``ll.nn.InfoNCELoss()(torch.randn(4, 8), torch.randn(4, 8))``
    """

    def __init__(self, *, temperature=0.1, reduction="mean"):
        super().__init__(_con.info_nce, reduction, temperature=temperature)


class NTXentLoss(_KwLoss):
    """Module form of :func:`losslab.nt_xent`.

    Args:
        temperature: ``τ > 0`` (default 0.5).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).

    ``forward(z1, z2, sample_weight=None, **overrides)``: the two views' embeddings ``[N, D]``; ``sample_weight``
    ``[N]``; ``overrides`` replace stored hyper-parameters for one call.

    Example: ``ll.nn.NTXentLoss()(torch.randn(4, 8), torch.randn(4, 8))``
    """

    def __init__(self, *, temperature=0.5, reduction="mean"):
        super().__init__(_con.nt_xent, reduction, temperature=temperature)


class MultipleNegativesRankingLoss(_KwLoss):
    """Module form of :func:`losslab.multiple_negatives_ranking`.

    Args:
        scale: ``s > 0``, the inverse temperature (default 20.0).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).

    ``forward(anchors, positives, negatives=None, sample_weight=None, **overrides)``: ``[N, D]`` each, optional hard
    negatives ``[M, D]``; ``overrides`` replace stored hyper-parameters for one call.

    Example: ``ll.nn.MultipleNegativesRankingLoss()(torch.randn(4, 8), torch.randn(4, 8))``
    """

    def __init__(self, *, scale=20.0, reduction="mean"):
        super().__init__(_con.multiple_negatives_ranking, reduction, scale=scale)


class TDLoss(_KwLoss):
    """Module form of :func:`losslab.td_loss`.

    Args:
        gamma: discount ``γ ∈ [0, 1]`` (default 0.99).
        loss: ``'squared'`` (default) | ``'huber'``.
        delta: Huber threshold ``δ > 0`` (default 1.0).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).

    ``forward(q_values, actions, rewards, next_values, dones, sample_weight=None, **overrides)``: ``q_values`` ``[...,
    A]``, integer ``actions`` ``[...]``, ``rewards`` ``[...]``, ``next_values`` ``[..., A']`` or ``[...]``, ``dones``
    ``[...]`` in ``{0, 1}``; ``overrides`` replace stored hyper-parameters for one call.

    Example: ``ll.nn.TDLoss()(torch.randn(4, 2), torch.tensor([0, 1, 1, 0]), torch.randn(4), torch.randn(4, 2), torch.tensor([0, 0, 1, 0]))``
    """

    def __init__(self, *, gamma=0.99, loss="squared", delta=1.0, reduction="mean"):
        super().__init__(_rl.td_loss, reduction, gamma=gamma, loss=loss, delta=delta)


class PolicyGradientLoss(_KwLoss):
    """Module form of :func:`losslab.policy_gradient_loss`.

    Args:
        entropy_coef: entropy bonus ``β ≥ 0`` (default 0.0).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).

    ``forward(logits, actions, advantages, sample_weight=None, **overrides)``: logits ``[..., A]``, integer actions
    ``[...]``, advantages ``[...]``; ``overrides`` replace stored hyper-parameters for one call.

    Example: ``ll.nn.PolicyGradientLoss(entropy_coef=0.01)(torch.randn(4, 3), torch.tensor([0, 2, 1, 0]), torch.randn(4))``
    """

    def __init__(self, *, entropy_coef=0.0, reduction="mean"):
        super().__init__(_rl.policy_gradient_loss, reduction, entropy_coef=entropy_coef)


# -- ranking --------------------------------------------------------------------
from . import ranking as _ranking  # noqa: E402


class _RankingLoss(_KwLoss):
    """``forward(scores, labels, mask=None, sample_weight=None, **overrides)``; calls ``losslab.ranking.<_fn_name>``."""

    _fn_name = ""

    def __init__(self, reduction: str = "mean", **kwargs) -> None:
        super().__init__(getattr(_ranking, self._fn_name), reduction, **kwargs)


class PointwiseSigmoidCELoss(_RankingLoss):
    """Module form of :func:`losslab.pointwise_sigmoid_ce` (kwargs: ``max_grade``, ``normalize``).

    Args:
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).
        max_grade: the top grade ``> 0`` that scales grades into ``[0, 1]``; ``None`` (default): labels already in ``[0,
            1]``.
        normalize: divide each list's sum by its number of valid items (default ``False``).

    ``forward(scores, labels, mask=None, sample_weight=None, **overrides)``: ``scores`` and ``labels`` ``[..., L]``
    (``L`` items per list), ``mask`` boolean ``[..., L]``, ``sample_weight`` per list ``[...]``; ``overrides`` replace
    stored hyper-parameters for one call.

    Example: ``ll.nn.PointwiseSigmoidCELoss(max_grade=3.0)(torch.randn(2, 4), torch.tensor([[3.0, 1, 0, 2], [0, 2, 1, 0]]))``
    """

    _fn_name = "pointwise_sigmoid_ce"


class PointwiseMSELoss(_RankingLoss):
    """Module form of :func:`losslab.pointwise_mse` (kwargs: ``normalize``).

    Args:
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).
        normalize: divide each list's sum by its number of valid items (default ``False``).

    ``forward(scores, labels, mask=None, sample_weight=None, **overrides)``: ``scores`` and ``labels`` ``[..., L]``
    (``L`` items per list), ``mask`` boolean ``[..., L]``, ``sample_weight`` per list ``[...]``; ``overrides`` replace
    stored hyper-parameters for one call.

    Example: ``ll.nn.PointwiseMSELoss()(torch.randn(2, 4), torch.tensor([[3.0, 1, 0, 2], [0, 2, 1, 0]]))``
    """

    _fn_name = "pointwise_mse"


class RankNetLoss(_RankingLoss):
    """Module form of :func:`losslab.ranknet` (kwargs: ``sigma``, ``normalize``).

    Args:
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).
        sigma: slope ``σ > 0`` of the pair probability (default 1.0).
        normalize: divide each list's sum by its number of pairs (default ``False``).

    ``forward(scores, labels, mask=None, sample_weight=None, **overrides)``: ``scores`` and ``labels`` ``[..., L]``
    (``L`` items per list), ``mask`` boolean ``[..., L]``, ``sample_weight`` per list ``[...]``; ``overrides`` replace
    stored hyper-parameters for one call.

    Example: ``ll.nn.RankNetLoss(sigma=2.0)(torch.randn(2, 4), torch.tensor([[3.0, 1, 0, 2], [0, 2, 1, 0]]))``
    """

    _fn_name = "ranknet"


class SoftPairwiseLoss(_RankingLoss):
    """Module form of :func:`losslab.soft_pairwise` (kwargs: ``normalize``).

    Args:
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).
        normalize: divide each list's sum by its number of ordered pairs (default ``False``).

    ``forward(scores, labels, mask=None, sample_weight=None, **overrides)``: ``scores`` and ``labels`` ``[..., L]``
    (``L`` items per list), ``mask`` boolean ``[..., L]``, ``sample_weight`` per list ``[...]``; ``overrides`` replace
    stored hyper-parameters for one call.

    Example: ``ll.nn.SoftPairwiseLoss()(torch.randn(2, 4), torch.tensor([[3.0, 1, 0, 2], [0, 2, 1, 0]]))``
    """

    _fn_name = "soft_pairwise"


class PairwiseHingeLoss(_RankingLoss):
    """Module form of :func:`losslab.pairwise_hinge` (kwargs: ``margin``, ``normalize``).

    Args:
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).
        margin: ``m ≥ 0`` (default 1.0).
        normalize: divide each list's sum by its number of pairs (default ``False``).

    ``forward(scores, labels, mask=None, sample_weight=None, **overrides)``: ``scores`` and ``labels`` ``[..., L]``
    (``L`` items per list), ``mask`` boolean ``[..., L]``, ``sample_weight`` per list ``[...]``; ``overrides`` replace
    stored hyper-parameters for one call.

    Example: ``ll.nn.PairwiseHingeLoss(margin=0.5)(torch.randn(2, 4), torch.tensor([[3.0, 1, 0, 2], [0, 2, 1, 0]]))``
    """

    _fn_name = "pairwise_hinge"


class ListNetLoss(_RankingLoss):
    """Module form of :func:`losslab.listnet` (kwargs: ``target``).

    Args:
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).
        target: how grades become the target distribution: ``'softmax'`` (default) | ``'normalize'``.

    ``forward(scores, labels, mask=None, sample_weight=None, **overrides)``: ``scores`` and ``labels`` ``[..., L]``
    (``L`` items per list), ``mask`` boolean ``[..., L]``, ``sample_weight`` per list ``[...]``; ``overrides`` replace
    stored hyper-parameters for one call.

    Example: ``ll.nn.ListNetLoss()(torch.randn(2, 4), torch.tensor([[3.0, 1, 0, 2], [0, 2, 1, 0]]))``
    """

    _fn_name = "listnet"


class ListMLELoss(_RankingLoss):
    """Module form of :func:`losslab.listmle`.

    Args:
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).

    ``forward(scores, labels, mask=None, sample_weight=None, **overrides)``: ``scores`` and ``labels`` ``[..., L]``
    (``L`` items per list), ``mask`` boolean ``[..., L]``, ``sample_weight`` per list ``[...]``; ``overrides`` replace
    stored hyper-parameters for one call.

    Example: ``ll.nn.ListMLELoss()(torch.randn(2, 4), torch.tensor([[3.0, 1, 0, 2], [0, 2, 1, 0]]))``
    """

    _fn_name = "listmle"


class LambdaLoss(_RankingLoss):
    """Module form of :func:`losslab.lambda_loss` (kwargs: ``weighting``, ``sigma``).

    Args:
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).
        weighting: ``'ndcg_loss2'`` (default) | ``'lambdarank'``.
        sigma: slope ``σ > 0`` (default 1.0).

    ``forward(scores, labels, mask=None, sample_weight=None, **overrides)``: ``scores`` and ``labels`` ``[..., L]``
    (``L`` items per list), ``mask`` boolean ``[..., L]``, ``sample_weight`` per list ``[...]``; ``overrides`` replace
    stored hyper-parameters for one call.

    Example: ``ll.nn.LambdaLoss(weighting="lambdarank")(torch.randn(2, 4), torch.tensor([[3.0, 1, 0, 2], [0, 2, 1, 0]]))``
    """

    _fn_name = "lambda_loss"


class SelectivePointwiseLoss(_RankingLoss):
    """Module form of :func:`losslab.selective_pointwise` (kwargs: ``link``, ``normalize``).

    Args:
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).
        link: a :class:`losslab.links.Link`; ``None`` (default): capped exp link.
        normalize: divide each list's sum by its number of valid items (default ``False``).

    ``forward(scores, labels, mask=None, sample_weight=None, **overrides)``: ``scores`` and ``labels`` ``[..., L]``
    (``L`` items per list), ``mask`` boolean ``[..., L]``, ``sample_weight`` per list ``[...]``; ``overrides`` replace
    stored hyper-parameters for one call.

    Example: ``ll.nn.SelectivePointwiseLoss(link=ll.links.sigmoid(beta=1.0))(torch.randn(2, 4), torch.tensor([[3.0, 1, 0, 2], [0, 2, 1, 0]]))``
    """

    _fn_name = "selective_pointwise"


class SelectivePairwiseLoss(_RankingLoss):
    """Module form of :func:`losslab.selective_pairwise` (kwargs: ``link``, ``normalize``).

    Args:
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).
        link: a :class:`losslab.links.Link`; ``None`` (default): capped sinh link.
        normalize: divide each list's sum by its number of pairs (default ``False``).

    ``forward(scores, labels, mask=None, sample_weight=None, **overrides)``: ``scores`` and ``labels`` ``[..., L]``
    (``L`` items per list), ``mask`` boolean ``[..., L]``, ``sample_weight`` per list ``[...]``; ``overrides`` replace
    stored hyper-parameters for one call.

    Example: ``ll.nn.SelectivePairwiseLoss()(torch.randn(2, 4), torch.tensor([[3.0, 1, 0, 2], [0, 2, 1, 0]]))``
    """

    _fn_name = "selective_pairwise"


class SelectiveListwiseLoss(_RankingLoss):
    """Module form of :func:`losslab.selective_listwise` (kwargs: ``scaling``, ``gamma``).

    Args:
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).
        scaling: the scaling ``q`` (a :class:`losslab.links.Link`); ``None`` (default): capped exp with α = 0.5.
        gamma: regularisation ``γ > 0`` (default 1.0).

    ``forward(scores, labels, mask=None, sample_weight=None, **overrides)``: ``scores`` and ``labels`` ``[..., L]``
    (``L`` items per list), ``mask`` boolean ``[..., L]``, ``sample_weight`` per list ``[...]``; ``overrides`` replace
    stored hyper-parameters for one call.

    Example: ``ll.nn.SelectiveListwiseLoss(gamma=2.0)(torch.randn(2, 4), torch.tensor([[3.0, 1, 0, 2], [0, 2, 1, 0]]))``
    """

    _fn_name = "selective_listwise"


# -- sampled / large-K softmax -------------------------------------------------
from . import sampled as _sampled  # noqa: E402


class _SampledLoss(_KwLoss):
    """``forward(hidden, out_weight, out_bias, labels, sample_weight=None, **overrides)``; calls ``_fn``."""

    _fn = None

    def __init__(self, reduction: str = "mean", **kwargs) -> None:
        super().__init__(type(self)._fn, reduction, **kwargs)


class SampledSoftmaxLoss(_SampledLoss):
    """Module form of :func:`losslab.sampled_softmax_loss`.

    Args:
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).
        num_sampled: ``S`` negatives to draw, in ``[1, K)`` (required unless ``sampled`` is given).
        proposal: ``'uniform'`` (default) | ``'log_uniform'`` | ``'unigram'`` | a ``[K]`` probability tensor.
        counts: ``[K]`` positive class counts for ``'unigram'``.
        power: exponent of the unigram proposal (default 1.0).
        replacement: draw with replacement (default ``True``).
        remove_accidental_hits: drop negatives equal to the label (default ``True``).
        logq_correction: subtract ``log(S q_j)`` from the negatives' logits (default ``True``).
        generator: a ``torch.Generator`` or int seed for the draw (default the global RNG).
        sampled: an explicit negative set ``[S]`` or ``[B, S]`` instead of a draw.
        sparse_grad: make ``out_weight.grad`` sparse (default ``False``).

    ``forward(hidden, out_weight, out_bias, labels, sample_weight=None, **overrides)``: ``hidden`` ``[B, d]``,
    ``out_weight`` ``[K, d]``, ``out_bias`` ``[K]`` or ``None``, ``labels`` ``[B]`` in ``[0, K)``, ``sample_weight``
    ``[B]``; ``overrides`` replace stored hyper-parameters for one call.

    Example: ``ll.nn.SampledSoftmaxLoss(num_sampled=4)(torch.randn(4, 8), torch.randn(10, 8), torch.zeros(10), torch.tensor([0, 3, 7, 9]))``
    """

    _fn = staticmethod(_sampled.sampled_softmax_loss)


class ImportanceSamplingLoss(_SampledLoss):
    """Module form of :func:`losslab.importance_sampling_loss`.

    Args:
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).
        num_sampled: ``S`` negatives to draw, in ``[1, K)`` (required unless ``sampled`` is given).
        proposal: ``'uniform'`` (default) | ``'log_uniform'`` | ``'unigram'`` | a ``[K]`` probability tensor.
        counts: ``[K]`` positive class counts for ``'unigram'``.
        power: exponent of the unigram proposal (default 1.0).
        replacement: draw with replacement (default ``True``).
        generator: a ``torch.Generator`` or int seed for the draw (default the global RNG).
        sampled: an explicit negative set ``[S]`` or ``[B, S]`` instead of a draw.
        sparse_grad: make ``out_weight.grad`` sparse (default ``False``).

    ``forward(hidden, out_weight, out_bias, labels, sample_weight=None, **overrides)``: ``hidden`` ``[B, d]``,
    ``out_weight`` ``[K, d]``, ``out_bias`` ``[K]`` or ``None``, ``labels`` ``[B]`` in ``[0, K)``, ``sample_weight``
    ``[B]``; ``overrides`` replace stored hyper-parameters for one call.

    Example: ``ll.nn.ImportanceSamplingLoss(num_sampled=4)(torch.randn(4, 8), torch.randn(10, 8), torch.zeros(10), torch.tensor([0, 3, 7, 9]))``
    """

    _fn = staticmethod(_sampled.importance_sampling_loss)


class NegativeSamplingLoss(_SampledLoss):
    """Module form of :func:`losslab.negative_sampling_loss`.

    Args:
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).
        num_sampled: ``S`` negatives to draw, in ``[1, K)`` (required unless ``sampled`` is given).
        proposal: ``'uniform'`` (default) | ``'log_uniform'`` | ``'unigram'`` | a ``[K]`` probability tensor.
        counts: ``[K]`` positive class counts for ``'unigram'``.
        power: exponent of the unigram proposal (default 1.0).
        replacement: draw with replacement (default ``True``).
        remove_accidental_hits: drop negatives equal to the label (default ``True``).
        generator: a ``torch.Generator`` or int seed for the draw (default the global RNG).
        sampled: an explicit negative set ``[S]`` or ``[B, S]`` instead of a draw.
        sparse_grad: make ``out_weight.grad`` sparse (default ``False``).

    ``forward(hidden, out_weight, out_bias, labels, sample_weight=None, **overrides)``: ``hidden`` ``[B, d]``,
    ``out_weight`` ``[K, d]``, ``out_bias`` ``[K]`` or ``None``, ``labels`` ``[B]`` in ``[0, K)``, ``sample_weight``
    ``[B]``; ``overrides`` replace stored hyper-parameters for one call.

    Example: ``ll.nn.NegativeSamplingLoss(num_sampled=4)(torch.randn(4, 8), torch.randn(10, 8), torch.zeros(10), torch.tensor([0, 3, 7, 9]))``
    """

    _fn = staticmethod(_sampled.negative_sampling_loss)


class SampledNCELoss(_SampledLoss):
    """Module form of :func:`losslab.sampled_nce_loss`.

    Args:
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).
        num_sampled: ``S`` negatives to draw, in ``[1, K)`` (required unless ``sampled`` is given).
        proposal: ``'uniform'`` (default) | ``'log_uniform'`` | ``'unigram'`` | a ``[K]`` probability tensor.
        counts: ``[K]`` positive class counts for ``'unigram'``.
        power: exponent of the unigram proposal (default 1.0).
        replacement: draw with replacement (default ``True``).
        remove_accidental_hits: drop negatives equal to the label (default ``False``: NCE's noise may contain the data
            class).
        generator: a ``torch.Generator`` or int seed for the draw (default the global RNG).
        sampled: an explicit negative set ``[S]`` or ``[B, S]`` instead of a draw.
        sparse_grad: make ``out_weight.grad`` sparse (default ``False``).

    ``forward(hidden, out_weight, out_bias, labels, sample_weight=None, **overrides)``: ``hidden`` ``[B, d]``,
    ``out_weight`` ``[K, d]``, ``out_bias`` ``[K]`` or ``None``, ``labels`` ``[B]`` in ``[0, K)``, ``sample_weight``
    ``[B]``; ``overrides`` replace stored hyper-parameters for one call.

    Example: ``ll.nn.SampledNCELoss(num_sampled=4)(torch.randn(4, 8), torch.randn(10, 8), torch.zeros(10), torch.tensor([0, 3, 7, 9]))``
    """

    _fn = staticmethod(_sampled.sampled_nce_loss)


class InBatchNegativesLoss(_SampledLoss):
    """Module form of :func:`losslab.in_batch_negatives_loss`.

    Args:
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (default ``'mean'``).
        proposal: ``None`` (default: the batch's label frequencies), a named proposal or a ``[K]`` probability tensor.
        counts: ``[K]`` positive class counts for ``'unigram'``.
        power: exponent of the unigram proposal (default 1.0).
        logq_correction: subtract ``log q`` of each candidate class (default ``True``).
        remove_accidental_hits: drop other batch entries with the same label (default ``True``).
        sparse_grad: make ``out_weight.grad`` sparse (default ``False``).

    ``forward(hidden, out_weight, out_bias, labels, sample_weight=None, **overrides)``: ``hidden`` ``[B, d]``,
    ``out_weight`` ``[K, d]``, ``out_bias`` ``[K]`` or ``None``, ``labels`` ``[B]`` in ``[0, K)`` (the batch's labels
    are the candidates), ``sample_weight`` ``[B]``; ``overrides`` replace stored hyper-parameters for one call.

    Example: ``ll.nn.InBatchNegativesLoss()(torch.randn(4, 8), torch.randn(10, 8), torch.zeros(10), torch.tensor([0, 3, 7, 9]))``
    """

    _fn = staticmethod(_sampled.in_batch_negatives_loss)


def _check_flags(fn, kw) -> None:
    """Fail at construction, not at the first call, for a flag that is not a bool
    (the function's keywords whose default is a bool)."""
    import inspect

    params = inspect.signature(fn).parameters
    for k, v in kw.items():
        if k in params and isinstance(params[k].default, bool):
            _check_bool(k, v)



# -- PyTorch's names where losslab's own differ (torch.nn) ----------------------------------
# Same constructor signature as torch.nn's (losslab's extras only after it); each forward
# takes PyTorch's inputs plus losslab's ``sample_weight``.


class L1Loss(_KwLoss):
    """``torch.nn.L1Loss``; module form of :func:`losslab.l1_loss` (:func:`losslab.mae`).

    Args:
        size_average, reduce: PyTorch's deprecated pair, mapped to ``reduction`` as PyTorch maps it.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    ``forward(input, target, sample_weight=None)``.

    Example: ``ll.nn.L1Loss()(torch.randn(4, 2), torch.randn(4, 2))``
    """

    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        super().__init__(_reg.l1_loss, legacy_reduction(size_average, reduce, reduction))


class KLDivLoss(_KwLoss):
    """``torch.nn.KLDivLoss`` (elementwise, with ``'batchmean'``); module form of :func:`losslab.kl_div`.

    Args:
        size_average, reduce: PyTorch's deprecated pair, mapped to ``reduction`` as PyTorch maps it.
        reduction: ``'none'`` | ``'batchmean'`` | ``'mean'`` (over elements) | ``'sum'``.
        log_target: whether the target is given in log space.

    ``forward(input, target, sample_weight=None)``: ``input`` holds log-probabilities.

    Example: ``ll.nn.KLDivLoss(reduction="batchmean")(torch.randn(4, 3).log_softmax(1), torch.rand(4, 3).softmax(1))``
    """

    def __init__(self, size_average=None, reduce=None, reduction="mean", log_target=False):
        super().__init__(_cls.kl_div, legacy_reduction(size_average, reduce, reduction), log_target=log_target)


class MultiMarginLoss(_KwLoss):
    """``torch.nn.MultiMarginLoss``; module form of :func:`losslab.multi_margin_loss`.

    Args:
        p: 1 or 2.
        margin: ``m ≥ 0``.
        weight: optional class weights ``[C]`` (a buffer).
        size_average, reduce: PyTorch's deprecated pair, mapped to ``reduction`` as PyTorch maps it.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    ``forward(input, target, sample_weight=None)``.

    Example: ``ll.nn.MultiMarginLoss(margin=0.5)(torch.randn(4, 3), torch.tensor([0, 2, 1, 0]))``
    """

    def __init__(self, p=1, margin=1.0, weight=None, size_average=None, reduce=None, reduction="mean"):
        super().__init__(_cls.multi_margin_loss, legacy_reduction(size_average, reduce, reduction), p=p, margin=margin,
                         weight=weight)


class TripletMarginLoss(_KwLoss):
    """``torch.nn.TripletMarginLoss``; module form of :func:`losslab.triplet_margin_loss` (:func:`losslab.triplet`).

    Args:
        margin: ``m > 0``.
        p: the norm's degree of the pairwise distance.
        eps: PyTorch's ``ε`` added to the difference.
        swap: use the distance swap.
        size_average, reduce: PyTorch's deprecated pair, mapped to ``reduction`` as PyTorch maps it.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    ``forward(anchor, positive, negative, sample_weight=None)``.

    Example: ``ll.nn.TripletMarginLoss(margin=0.5)(torch.randn(4, 8), torch.randn(4, 8), torch.randn(4, 8))``
    """

    def __init__(self, margin=1.0, p=2.0, eps=1e-6, swap=False, size_average=None, reduce=None, reduction="mean"):
        super().__init__(_con.triplet_margin_loss, legacy_reduction(size_average, reduce, reduction), margin=margin, p=p,
                         eps=eps, swap=swap)


class TripletMarginWithDistanceLoss(_KwLoss):
    """``torch.nn.TripletMarginWithDistanceLoss``; module form of :func:`losslab.triplet_margin_with_distance_loss`.

    Args:
        distance_function: callable ``(x, y) -> [N]``; ``None`` is ``F.pairwise_distance``.
        margin: ``m > 0``.
        swap: use the distance swap.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    ``forward(anchor, positive, negative, sample_weight=None)``.

    Example: ``ll.nn.TripletMarginWithDistanceLoss(margin=0.5)(torch.randn(4, 8), torch.randn(4, 8), torch.randn(4, 8))``
    """

    def __init__(self, *, distance_function=None, margin=1.0, swap=False, reduction="mean"):
        super().__init__(_con.triplet_margin_with_distance_loss, reduction, distance_function=distance_function,
                         margin=margin, swap=swap)


class MarginRankingLoss(_KwLoss):
    """``torch.nn.MarginRankingLoss``; module form of :func:`losslab.margin_ranking_loss` (:func:`losslab.hinge`).

    Args:
        margin: ``m ≥ 0``.
        size_average, reduce: PyTorch's deprecated pair, mapped to ``reduction`` as PyTorch maps it.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    ``forward(input1, input2, target, sample_weight=None)``, target in ``{-1, +1}``.

    Example: ``ll.nn.MarginRankingLoss(margin=0.1)(torch.randn(4), torch.randn(4), torch.tensor([1.0, -1.0, 1.0, 1.0]))``
    """

    def __init__(self, margin=0.0, size_average=None, reduce=None, reduction="mean"):
        super().__init__(_cls.margin_ranking_loss, legacy_reduction(size_average, reduce, reduction), margin=margin)


class SoftMarginLoss(_KwLoss):
    """``torch.nn.SoftMarginLoss``; module form of :func:`losslab.soft_margin_loss`.

    Args:
        size_average, reduce: PyTorch's deprecated pair, mapped to ``reduction`` as PyTorch maps it.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    ``forward(input, target, sample_weight=None)``, target in ``{-1, +1}``.

    Example: ``ll.nn.SoftMarginLoss()(torch.randn(4), torch.tensor([1.0, -1.0, 1.0, 1.0]))``
    """

    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        super().__init__(_cls.soft_margin_loss, legacy_reduction(size_average, reduce, reduction))


# -- fused linear + loss -----------------------------------------------------------------------
# The output layer's parameters are forward arguments, not state: the module stays a loss (no
# parameters of its own), so a model's existing lm_head.weight / lm_head.bias are passed as they are.
from . import linear as _linear  # noqa: E402


class LinearCrossEntropyLoss(_KwLoss):
    """Module form of :func:`losslab.linear_cross_entropy`: cross-entropy of ``input @ W.T + b`` in row chunks.

    Unlike ``torch.nn.LinearCrossEntropyLoss`` (which builds and owns its ``Linear``), it takes the
    output layer's weight and bias at call time, so a model passes its own ``lm_head``'s parameters.

    Args:
        weight: optional class weights ``[K]`` (kept as a buffer).
        ignore_index: target value that contributes nothing.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        label_smoothing: ``ε ∈ [0, 1]``.
        chunk_size: rows per chunk (``None``: about 32 MB of float32 logits per chunk).
        impl: ``'auto'`` | ``'reference'`` | ``'fused'``: whether each chunk uses the fused operator.

    ``forward(input, linear_weight, target, linear_bias=None, sample_weight=None)``: ``input [..., d]``,
    ``linear_weight [K, d]``, labels ``[...]``.

    Example: ``ll.nn.LinearCrossEntropyLoss(chunk_size=2)(torch.randn(5, 8), torch.randn(10, 8), torch.tensor([1, 0, 9, 3, 3]))``
    """

    def __init__(self, *, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0, chunk_size=None,
                 impl="auto"):
        super().__init__(_linear.linear_cross_entropy, reduction, weight=weight, ignore_index=ignore_index,
                         label_smoothing=label_smoothing, chunk_size=chunk_size, impl=impl)


class LinearCompositeSoftmaxLoss(_Loss):
    """Module form of :func:`losslab.linear_composite_softmax_loss`: the composite Softmax matching loss
    of ``input @ W.T + b`` against target scores, in row chunks.

    Args:
        scaling: the scaling function ``q`` (a :class:`losslab.links.Link`), e.g. ``ll.links.exp()``.
        gamma: regularisation ``γ > 0`` (default 1.0).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        chunk_size: rows per chunk (``None``: about 32 MB of float32 logits per chunk).
        impl: ``'auto'`` | ``'reference'`` | ``'fused'``: whether each chunk uses the fused operator.

    ``forward(input, linear_weight, target, linear_bias=None, sample_weight=None)``: ``input [..., d]``,
    ``linear_weight [K, d]``, target scores ``[..., K]``.

    Example: ``ll.nn.LinearCompositeSoftmaxLoss(ll.links.exp(), chunk_size=2)(torch.randn(5, 8), torch.randn(10, 8), torch.randn(5, 10))``
    """

    def __init__(self, scaling: Link, *, gamma=1.0, reduction="mean", chunk_size=None, impl="auto"):
        super().__init__(reduction)
        self.scaling, self.gamma, self.chunk_size, self.impl = scaling, gamma, chunk_size, impl

    def forward(self, input, linear_weight, target, linear_bias=None, sample_weight=None):
        return _linear.linear_composite_softmax_loss(
            input, linear_weight, target, self.scaling, linear_bias=linear_bias, gamma=self.gamma,
            chunk_size=self.chunk_size, sample_weight=sample_weight, reduction=self.reduction,
            impl=getattr(self, "impl", "auto"))


__all__ += ["LinearCrossEntropyLoss", "LinearCompositeSoftmaxLoss"]


# impl= of the module forms whose function has a fused kernel (losslab.kernels)
def _check_impl(impl):
    """``impl`` of a module with a fused kernel, checked when the module is built."""
    if not isinstance(impl, str) or impl not in ("auto", "reference", "fused"):
        raise ValueError(f"impl must be one of 'auto', 'reference', 'fused'; got {impl!r}")
    return impl


def _impl_of(module) -> str:
    # modules pickled before they had `impl` load without the attribute: the functions' default
    return getattr(module, "impl", "auto")
