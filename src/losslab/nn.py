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


# -- standard catalogue: classification, regression, contrastive, rl (issue 4) --------------
from . import classification as _cls  # noqa: E402
from . import contrastive as _con  # noqa: E402
from . import regression as _reg  # noqa: E402
from . import rl as _rl  # noqa: E402


class _KwLoss(_Loss):
    """Stores a function's keyword hyper-parameters (tensors as buffers) and calls it."""

    def __init__(self, fn, reduction: str = "mean", **kw) -> None:
        super().__init__(reduction)
        self._fn, self._keys = fn, tuple(kw)
        for k, v in kw.items():
            if isinstance(v, torch.Tensor) and not isinstance(v, nn.Parameter):
                self.register_buffer(k, v)
            else:
                setattr(self, k, v)

    def forward(self, *inputs, weight=None):
        kw = {k: getattr(self, k) for k in self._keys}
        return self._fn(*inputs, **kw, weight=weight, reduction=self.reduction)


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
        if learnable:
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
