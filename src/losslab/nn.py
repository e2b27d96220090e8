"""Thin ``nn.Module`` wrappers: each stores hyper-parameters and calls its function.

The documentation lives on the functions (``losslab.<name>``); each module's
docstring points there.
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
    # standard catalogue (issue 4)
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
    # sampled (issue 5)
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
    """Module form of :func:`losslab.matching_loss`."""

    def __init__(self, link: Link, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.link = link

    @old_weight_keyword
    def forward(self, pred, target, sample_weight=None):
        return _matching.matching_loss(pred, target, self.link, sample_weight=sample_weight, reduction=self.reduction)


class CompositeSigmoidLoss(_Loss):
    """Module form of :func:`losslab.composite_sigmoid_loss`."""

    def __init__(self, scaling: Link, gamma: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.scaling, self.gamma = scaling, gamma

    @old_weight_keyword
    def forward(self, pred, target, sample_weight=None):
        return _matching.composite_sigmoid_loss(pred, target, self.scaling, gamma=self.gamma, sample_weight=sample_weight, reduction=self.reduction)


class CompositeSoftmaxLoss(_Loss):
    """Module form of :func:`losslab.composite_softmax_loss`."""

    def __init__(self, scaling: Link, gamma: float = 1.0, dim: int = -1, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.scaling, self.gamma, self.dim = scaling, gamma, dim

    @old_weight_keyword
    def forward(self, pred, target, sample_weight=None):
        return _matching.composite_softmax_loss(
            pred, target, self.scaling, gamma=self.gamma, dim=self.dim, sample_weight=sample_weight, reduction=self.reduction
        )


class DecomposedMatchingLoss(_Loss):
    """Module form of :func:`losslab.decomposed_matching_loss`."""

    def __init__(self, link: Link, dim: int = -1, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.link, self.dim = link, dim

    @old_weight_keyword
    def forward(self, pred, target, sample_weight=None):
        return _matching.decomposed_matching_loss(pred, target, self.link, dim=self.dim, sample_weight=sample_weight, reduction=self.reduction)


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

    @old_weight_keyword
    def forward(self, scores, target, sample_weight=None):
        return _fy.sparsemax_loss(scores, target, sample_weight=sample_weight, reduction=self.reduction)


class Entmax15Loss(_Loss):
    """Module form of :func:`losslab.entmax15_loss`."""

    @old_weight_keyword
    def forward(self, scores, target, sample_weight=None):
        return _fy.entmax15_loss(scores, target, sample_weight=sample_weight, reduction=self.reduction)


class EntmaxBisectLoss(_Loss):
    """Module form of :func:`losslab.entmax_bisect_loss`."""

    def __init__(self, alpha: float = 1.5, n_iter: int = _fy.DEFAULT_N_ITER, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.alpha, self.n_iter = alpha, n_iter

    @old_weight_keyword
    def forward(self, scores, target, sample_weight=None):
        return _fy.entmax_bisect_loss(
            scores, target, alpha=self.alpha, n_iter=self.n_iter, sample_weight=sample_weight, reduction=self.reduction
        )


class FenchelYoungLoss(_Loss):
    """Module form of :func:`losslab.fenchel_young_loss`."""

    def __init__(self, regulariser="shannon", n_iter: int = _fy.DEFAULT_N_ITER, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.regulariser, self.n_iter = regulariser, n_iter

    @old_weight_keyword
    def forward(self, scores, target, sample_weight=None):
        return _fy.fenchel_young_loss(
            scores, target, regulariser=self.regulariser, n_iter=self.n_iter, sample_weight=sample_weight, reduction=self.reduction
        )
# -- single-logit classification (seed 001, issue 3) ---------------------------------------
from . import single_logit as _slc  # noqa: E402


class MaxMarginLoss(_Loss):
    """Module form of :func:`losslab.max_margin`."""

    def __init__(self, margin: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.margin = margin

    @old_weight_keyword
    def forward(self, logits, labels, sample_weight=None):
        return _slc.max_margin(logits, labels, margin=self.margin, sample_weight=sample_weight, reduction=self.reduction)


class SoftmaxCauchySchwarzLoss(_Loss):
    """Module form of :func:`losslab.softmax_cauchy_schwarz`."""

    @old_weight_keyword
    def forward(self, logits, labels, sample_weight=None):
        return _slc.softmax_cauchy_schwarz(logits, labels, sample_weight=sample_weight, reduction=self.reduction)


class SigmoidCauchySchwarzLoss(_Loss):
    """Module form of :func:`losslab.sigmoid_cauchy_schwarz`."""

    @old_weight_keyword
    def forward(self, logits, labels, sample_weight=None):
        return _slc.sigmoid_cauchy_schwarz(logits, labels, sample_weight=sample_weight, reduction=self.reduction)


class SoftmaxTanimotoLoss(_Loss):
    """Module form of :func:`losslab.softmax_tanimoto`."""

    @old_weight_keyword
    def forward(self, logits, labels, sample_weight=None):
        return _slc.softmax_tanimoto(logits, labels, sample_weight=sample_weight, reduction=self.reduction)


class SigmoidTanimotoLoss(_Loss):
    """Module form of :func:`losslab.sigmoid_tanimoto`."""

    @old_weight_keyword
    def forward(self, logits, labels, sample_weight=None):
        return _slc.sigmoid_tanimoto(logits, labels, sample_weight=sample_weight, reduction=self.reduction)


class SelfNormalizationLoss(_Loss):
    """Module form of :func:`losslab.self_normalization`."""

    def __init__(self, alpha: float = 0.1, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.alpha = alpha

    @old_weight_keyword
    def forward(self, logits, labels, sample_weight=None):
        return _slc.self_normalization(logits, labels, alpha=self.alpha, sample_weight=sample_weight, reduction=self.reduction)


class NCELoss(_Loss):
    """Module form of :func:`losslab.nce` (``noise`` is a buffer; ``generator`` is used in sample mode)."""

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
    """Module form of :func:`losslab.binary_cross_entropy` (one-vs-all from integer labels)."""

    @old_weight_keyword
    def forward(self, logits, labels, sample_weight=None):
        return _slc.binary_cross_entropy(logits, labels, sample_weight=sample_weight, reduction=self.reduction)


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


# -- standard catalogue: classification, regression, contrastive, rl (issue 4) --------------
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

    ``forward(input, target, sample_weight=None)``.

    Example: ``ll.nn.CrossEntropyLoss(label_smoothing=0.1)(torch.randn(4, 3), torch.tensor([0, 2, 1, 0]))``
    """

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean", label_smoothing=0.0,
                 *, dim=None):
        super().__init__(_cls.cross_entropy, legacy_reduction(size_average, reduce, reduction), weight=weight,
                         ignore_index=ignore_index, label_smoothing=label_smoothing, dim=dim)


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
    """Module form of :func:`losslab.focal_loss`."""

    def __init__(self, *, gamma=2.0, alpha=None, dim=-1, reduction="mean"):
        super().__init__(_cls.focal_loss, reduction, gamma=gamma, alpha=alpha, dim=dim)


class PolyLoss(_KwLoss):
    """Module form of :func:`losslab.poly_loss`."""

    def __init__(self, *, epsilon=1.0, dim=-1, reduction="mean"):
        super().__init__(_cls.poly_loss, reduction, epsilon=epsilon, dim=dim)


class KLDivergenceLoss(_KwLoss):
    """Module form of :func:`losslab.kl_divergence`."""

    def __init__(self, *, dim=-1, log_target=False, reduction="mean"):
        super().__init__(_cls.kl_divergence, reduction, dim=dim, log_target=log_target)


class HingeLoss(_KwLoss):
    """Module form of :func:`losslab.hinge`."""

    def __init__(self, *, margin=1.0, reduction="mean"):
        super().__init__(_cls.hinge, reduction, margin=margin)


class SquaredHingeLoss(_KwLoss):
    """Module form of :func:`losslab.squared_hinge`."""

    def __init__(self, *, margin=1.0, reduction="mean"):
        super().__init__(_cls.squared_hinge, reduction, margin=margin)


class MulticlassHingeLoss(_KwLoss):
    """Module form of :func:`losslab.multiclass_hinge`."""

    def __init__(self, *, margin=1.0, variant="weston_watkins", p=1, dim=-1, reduction="mean"):
        super().__init__(_cls.multiclass_hinge, reduction, margin=margin, variant=variant, p=p, dim=dim)


class SoftDiceLoss(_KwLoss):
    """Module form of :func:`losslab.soft_dice`."""

    def __init__(self, *, ignore_index=None, smooth=1.0, reduction="mean"):
        super().__init__(_cls.soft_dice, reduction, ignore_index=ignore_index, smooth=smooth)


class ArcFaceLoss(_KwLoss):
    """Module form of :func:`losslab.arcface` (on cosines; the class centres live in your model)."""

    def __init__(self, *, scale=64.0, margin=0.5, easy_margin=False, dim=-1, reduction="mean"):
        super().__init__(_cls.arcface, reduction, scale=scale, margin=margin, easy_margin=easy_margin, dim=dim)


class GE2ELoss(_KwLoss):
    """Module form of :func:`losslab.ge2e`; ``w`` and ``b`` are learnable parameters (as in the paper) by default."""

    def __init__(self, *, variant="softmax", w=10.0, b=-5.0, learnable=True, reduction="mean"):
        if _check_bool("learnable", learnable):
            w, b = nn.Parameter(torch.tensor(float(w))), nn.Parameter(torch.tensor(float(b)))
        super().__init__(_cls.ge2e, reduction, variant=variant, w=w, b=b)


class MAELoss(_KwLoss):
    """Module form of :func:`losslab.mae`."""

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
    """Module form of :func:`losslab.log_cosh`."""

    def __init__(self, *, reduction="mean"):
        super().__init__(_reg.log_cosh, reduction)


class QuantileLoss(_KwLoss):
    """Module form of :func:`losslab.quantile`."""

    def __init__(self, *, q=0.5, reduction="mean"):
        super().__init__(_reg.quantile, reduction, q=q)


class MAPELoss(_KwLoss):
    """Module form of :func:`losslab.mape`."""

    def __init__(self, *, eps=_reg._MAPE_EPS, reduction="mean"):
        super().__init__(_reg.mape, reduction, eps=eps)


class MSLELoss(_KwLoss):
    """Module form of :func:`losslab.msle`."""

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
    """Module form of :func:`losslab.contrastive`."""

    def __init__(self, *, margin=1.0, reduction="mean"):
        super().__init__(_con.contrastive, reduction, margin=margin)


class TripletLoss(_KwLoss):
    """Module form of :func:`losslab.triplet`."""

    def __init__(self, *, margin=1.0, distance=None, swap=False, reduction="mean"):
        super().__init__(_con.triplet, reduction, margin=margin, distance=distance, swap=swap)


class InfoNCELoss(_KwLoss):
    """Module form of :func:`losslab.info_nce`."""

    def __init__(self, *, temperature=0.1, reduction="mean"):
        super().__init__(_con.info_nce, reduction, temperature=temperature)


class NTXentLoss(_KwLoss):
    """Module form of :func:`losslab.nt_xent`."""

    def __init__(self, *, temperature=0.5, reduction="mean"):
        super().__init__(_con.nt_xent, reduction, temperature=temperature)


class MultipleNegativesRankingLoss(_KwLoss):
    """Module form of :func:`losslab.multiple_negatives_ranking`."""

    def __init__(self, *, scale=20.0, reduction="mean"):
        super().__init__(_con.multiple_negatives_ranking, reduction, scale=scale)


class TDLoss(_KwLoss):
    """Module form of :func:`losslab.td_loss`."""

    def __init__(self, *, gamma=0.99, loss="squared", delta=1.0, reduction="mean"):
        super().__init__(_rl.td_loss, reduction, gamma=gamma, loss=loss, delta=delta)


class PolicyGradientLoss(_KwLoss):
    """Module form of :func:`losslab.policy_gradient_loss`."""

    def __init__(self, *, entropy_coef=0.0, reduction="mean"):
        super().__init__(_rl.policy_gradient_loss, reduction, entropy_coef=entropy_coef)


# -- ranking (issue 4) --------------------------------------------------------------------
from . import ranking as _ranking  # noqa: E402


class _RankingLoss(_KwLoss):
    """``forward(scores, labels, mask=None, sample_weight=None, **overrides)``; calls ``losslab.ranking.<_fn_name>``."""

    _fn_name = ""

    def __init__(self, reduction: str = "mean", **kwargs) -> None:
        super().__init__(getattr(_ranking, self._fn_name), reduction, **kwargs)


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


# -- sampled / large-K softmax (issue 5) -------------------------------------------------
from . import sampled as _sampled  # noqa: E402


class _SampledLoss(_KwLoss):
    """``forward(hidden, out_weight, out_bias, labels, sample_weight=None, **overrides)``; calls ``_fn``."""

    _fn = None

    def __init__(self, reduction: str = "mean", **kwargs) -> None:
        super().__init__(type(self)._fn, reduction, **kwargs)


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
