"""The one reduction helper every loss ends with.

Semantics (DESIGN.md, principle 3):

* ``'none'``  returns the per-example losses, multiplied by ``sample_weight`` if given;
* ``'sum'``   returns their sum, so ``loss(..., reduction='none').sum()`` equals
  ``loss(..., reduction='sum')`` exactly;
* ``'mean'``  returns ``sum(w * l) / sum(w)`` (plain mean when ``sample_weight`` is None);
* an empty selection (no elements, or all weights zero) gives ``0`` -- computed as
  ``sum(w * l)``, so a NaN in a selected-out loss still propagates instead of
  being hidden.
"""
from __future__ import annotations

import torch

from ._validate import check_reduction, check_weight

REDUCTIONS = ("none", "mean", "sum")


def _reduce(
    loss: torch.Tensor,
    reduction: str = "mean",
    sample_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Reduce per-example ``loss`` by ``reduction`` with optional per-example ``sample_weight``.

    ``sample_weight`` must have exactly the shape of ``loss`` (no silent broadcasting).
    """
    check_reduction(reduction)
    weight = sample_weight
    if weight is not None:
        check_weight(weight, loss)
        loss = loss * weight
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return total
    if weight is None:
        count = loss.numel()
        return total / count if count > 0 else total
    denominator = weight.sum()
    # Σw = 0 means nothing is selected: return Σ(w·l) (= 0, or NaN if an input is
    # NaN) rather than the 0/0 that would hide where a NaN came from.
    return total / torch.where(denominator == 0, torch.ones_like(denominator), denominator)
