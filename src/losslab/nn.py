"""Thin ``nn.Module`` wrappers: each stores hyper-parameters and calls its function.

The documentation lives on the functions (``losslab.<name>``); each module's
docstring points there.
"""
from __future__ import annotations

import torch
from torch import nn

from . import matching as _matching
from ._validate import check_bool as _check_bool
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

    def forward(self, *inputs, weight=None, **overrides):
        kw = {k: getattr(self, k) for k in self._keys}
        return self._fn(*inputs, **{**kw, **overrides}, weight=weight, reduction=self.reduction)


class CrossEntropyLoss(_KwLoss):
    """Module form of :func:`losslab.cross_entropy`."""

    def __init__(self, *, dim=-1, class_weight=None, ignore_index=-100, label_smoothing=0.0, reduction="mean"):
        super().__init__(_cls.cross_entropy, reduction, dim=dim, class_weight=class_weight, ignore_index=ignore_index, label_smoothing=label_smoothing)


class BinaryCrossEntropyWithLogitsLoss(_KwLoss):
    """Module form of :func:`losslab.binary_cross_entropy_with_logits`."""

    def __init__(self, *, pos_weight=None, reduction="mean"):
        super().__init__(_cls.binary_cross_entropy_with_logits, reduction, pos_weight=pos_weight)


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
    """Module form of :func:`losslab.mse`."""

    def __init__(self, *, reduction="mean"):
        super().__init__(_reg.mse, reduction)


class HuberLoss(_KwLoss):
    """Module form of :func:`losslab.huber`."""

    def __init__(self, *, delta=1.0, reduction="mean"):
        super().__init__(_reg.huber, reduction, delta=delta)


class SmoothL1Loss(_KwLoss):
    """Module form of :func:`losslab.smooth_l1`."""

    def __init__(self, *, beta=1.0, reduction="mean"):
        super().__init__(_reg.smooth_l1, reduction, beta=beta)


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
    """Module form of :func:`losslab.poisson_nll`."""

    def __init__(self, *, log_input=True, full=False, eps=1e-8, reduction="mean"):
        super().__init__(_reg.poisson_nll, reduction, log_input=log_input, full=full, eps=eps)


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
    """``forward(scores, labels, mask=None, weight=None, **overrides)``; calls ``losslab.ranking.<_fn_name>``."""

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
    """``forward(hidden, out_weight, out_bias, labels, weight=None, **overrides)``; calls ``_fn``."""

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
