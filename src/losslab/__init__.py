"""losslab: a PyTorch library and laboratory for loss functions.

Design a loss for what matters (selective matching losses from link functions),
use the standard catalogue behind one API, analyse what a loss does, and
reproduce published results from the command line. See ``../docs`` and
``losslab --help``.
"""
from __future__ import annotations

from . import links, registry
from ._validate import set_validate_args
from .matching import (
    composite_sigmoid,
    composite_sigmoid_link,
    composite_sigmoid_loss,
    composite_softmax,
    composite_softmax_link,
    composite_softmax_loss,
    decomposed_matching_loss,
    matching_loss,
)
from .fenchel_young import (
    entmax15,
    entmax15_loss,
    entmax_bisect,
    entmax_bisect_loss,
    fenchel_young_loss,
    make_fenchel_young_loss,
    sparsemax,
    sparsemax_loss,
)
from .single_logit import (
    batch_cross_entropy,
    batch_max_margin,
    binary_cross_entropy,
    max_margin,
    nce,
    self_normalization,
    sigmoid_cauchy_schwarz,
    sigmoid_tanimoto,
    softmax_cauchy_schwarz,
    softmax_tanimoto,
)
from .classification import (
    arcface,
    binary_cross_entropy_with_logits,
    cross_entropy,
    focal_loss,
    ge2e,
    hinge,
    kl_div,
    kl_divergence,
    margin_ranking_loss,
    multi_margin_loss,
    multiclass_hinge,
    poly_loss,
    soft_dice,
    soft_margin_loss,
    squared_hinge,
)
from .regression import huber, log_cosh, mae, mape, mse, msle, poisson_nll, quantile, smooth_l1
from .regression import huber_loss, l1_loss, mse_loss, poisson_nll_loss, smooth_l1_loss
from .contrastive import contrastive, info_nce, multiple_negatives_ranking, nt_xent, triplet
from .contrastive import triplet_margin_loss, triplet_margin_with_distance_loss
from .rl import policy_gradient_loss, td_loss
from .ranking import (
    lambda_loss,
    listmle,
    listnet,
    pairwise_hinge,
    pointwise_mse,
    pointwise_sigmoid_ce,
    ranknet,
    selective_listwise,
    selective_pairwise,
    selective_pointwise,
    soft_pairwise,
)

from .sampled import (
    estimate_partition,
    importance_sampling_loss,
    in_batch_negatives_loss,
    log_uniform_probs,
    negative_sampling_loss,
    proposal_log_prob,
    sample_candidates,
    sampled_nce_loss,
    sampled_softmax_loss,
)
from .linear import linear_composite_softmax_loss, linear_cross_entropy

# Submodules that import from the losses above (dependency direction of DESIGN.md).
from . import nn  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "links",
    "registry",
    "nn",
    "set_validate_args",
    # selective matching losses (seed 000)
    "matching_loss",
    "composite_sigmoid",
    "composite_sigmoid_link",
    "composite_sigmoid_loss",
    "composite_softmax",
    "composite_softmax_link",
    "composite_softmax_loss",
    "decomposed_matching_loss",
    # fenchel_young
    "sparsemax",
    "entmax15",
    "entmax_bisect",
    "make_fenchel_young_loss",
    "fenchel_young_loss",
    "sparsemax_loss",
    "entmax15_loss",
    "entmax_bisect_loss",
    # single-logit classification
    "max_margin",
    "softmax_cauchy_schwarz",
    "sigmoid_cauchy_schwarz",
    "softmax_tanimoto",
    "sigmoid_tanimoto",
    "self_normalization",
    "nce",
    "binary_cross_entropy",
    "batch_cross_entropy",
    "batch_max_margin",
    # standard catalogue: classification, regression, contrastive, rl
    "cross_entropy",
    "binary_cross_entropy_with_logits",
    "focal_loss",
    "poly_loss",
    "kl_divergence",
    "hinge",
    "squared_hinge",
    "multiclass_hinge",
    "soft_dice",
    "arcface",
    "ge2e",
    "mae",
    "mse",
    "huber",
    "smooth_l1",
    "log_cosh",
    "quantile",
    "mape",
    "msle",
    "poisson_nll",
    "contrastive",
    "triplet",
    "info_nce",
    "nt_xent",
    "multiple_negatives_ranking",
    "td_loss",
    "policy_gradient_loss",
    # PyTorch's names (torch.nn.functional) with PyTorch's arguments; cross_entropy and
    # binary_cross_entropy_with_logits above are PyTorch's names too
    "l1_loss",
    "mse_loss",
    "huber_loss",
    "smooth_l1_loss",
    "kl_div",
    "poisson_nll_loss",
    "multi_margin_loss",
    "margin_ranking_loss",
    "soft_margin_loss",
    "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
    # ranking
    "pointwise_sigmoid_ce",
    "pointwise_mse",
    "ranknet",
    "soft_pairwise",
    "pairwise_hinge",
    "listnet",
    "listmle",
    "lambda_loss",
    "selective_pointwise",
    "selective_pairwise",
    "selective_listwise",
    # sampled
    "sampled_softmax_loss",
    "importance_sampling_loss",
    "negative_sampling_loss",
    "sampled_nce_loss",
    "in_batch_negatives_loss",
    "sample_candidates",
    "proposal_log_prob",
    "log_uniform_probs",
    "estimate_partition",
    # fused linear + loss
    "linear_cross_entropy",
    "linear_composite_softmax_loss",
]


def __getattr__(name: str):
    # analysis, metrics, slc, plots and experiments import lazily: the core never
    # imports the lab (DESIGN.md principle 10), and `import losslab` stays fast.
    import importlib

    if name in {"analysis", "metrics", "slc", "plots", "experiments", "data", "distributed"}:
        return importlib.import_module(f".{name}", __name__)
    if name in {"audit", "LossCard"}:  # the loss auditor lives in the lab (losslab.audit)
        return getattr(importlib.import_module(".audit", __name__), name)
    raise AttributeError(f"module 'losslab' has no attribute {name!r}")
