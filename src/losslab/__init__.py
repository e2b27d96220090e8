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
    # ranking (issue 4)
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
]


def __getattr__(name: str):
    # analysis, metrics, slc, plots and experiments import lazily: the core never
    # imports the lab (DESIGN.md principle 10), and `import losslab` stays fast.
    import importlib

    if name in {"analysis", "metrics", "slc", "plots", "experiments", "data", "distributed"}:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'losslab' has no attribute {name!r}")
