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
    # sampled (issue 5)
    "sampled_softmax_loss",
    "importance_sampling_loss",
    "negative_sampling_loss",
    "sampled_nce_loss",
    "in_batch_negatives_loss",
    "sample_candidates",
    "proposal_log_prob",
    "log_uniform_probs",
    "estimate_partition",
]


def __getattr__(name: str):
    # analysis, metrics, slc, plots and experiments import lazily: the core never
    # imports the lab (DESIGN.md principle 10), and `import losslab` stays fast.
    import importlib

    if name in {"analysis", "metrics", "slc", "plots", "experiments", "data", "distributed"}:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'losslab' has no attribute {name!r}")
