"""Private helpers shared by the standard-catalogue families (classification,
regression, contrastive, rl): value checks the core ``_validate`` does not have,
a reduction whose mean has its own denominator (PyTorch's class weights and
``ignore_index``), and sample builders for the registry specs."""
from __future__ import annotations

import torch

from ._reduce import _reduce
from ._validate import check_floating, check_reduction, check_tensor, value_checks_enabled


def reduce_with_denominator(
    loss: torch.Tensor, reduction: str, sample_weight: torch.Tensor | None, denom: torch.Tensor | None
) -> torch.Tensor:
    """Like ``_reduce``, but ``'mean'`` divides by ``Σ sample_weight·denom`` instead of ``Σ sample_weight``.

    ``denom`` is the per-example count that PyTorch's mean divides by: the class
    weight of the label (``w_{y_i}``) and 0 for ignored entries. ``None`` means 1.
    """
    check_reduction(reduction)
    weight = sample_weight
    if reduction != "mean" or denom is None:
        return _reduce(loss, reduction, weight)
    total = _reduce(loss, "sum", weight)
    d = denom if weight is None else denom * weight
    d = d.sum()
    return total / torch.where(d == 0, torch.ones_like(d), d)


def check_closed_interval(name: str, value: torch.Tensor, low: float, high: float) -> None:
    """Tensor values in ``[low, high]``; NaN counts as outside."""
    if not value_checks_enabled(value) or value.numel() == 0:
        return
    if value.is_floating_point():
        # one pass and no full-size temporaries when all is well (min/max propagate NaN,
        # which then fails the comparison); the masks below only locate a bad value
        lo, hi = torch.aminmax(value)
        if bool((lo >= low) & (hi <= high)):
            return
    inside = (value >= low) & (value <= high)
    if not bool(inside.all()):
        bad = value[~inside].flatten()[0].item()
        raise ValueError(f"{name} must lie in [{low}, {high}]; got a value {bad!r}")


def check_at_least(name: str, value: torch.Tensor, low: float, strict: bool = False) -> None:
    """Tensor values ``>= low`` (``> low`` if ``strict``); NaN counts as outside."""
    if not value_checks_enabled(value) or value.numel() == 0:
        return
    if value.is_floating_point():
        # one pass and no full-size mask when all is well (amin propagates NaN, which
        # then fails the comparison); the mask below only locates a bad value
        lo = float(value.detach().amin())
        if lo > low if strict else lo >= low:
            return
    ok = value > low if strict else value >= low
    if not bool(ok.all()):
        bad = value[~ok].flatten()[0].item()
        raise ValueError(f"{name} must be {'>' if strict else '>='} {low}; got a value {bad!r}")


def check_values_in(name: str, value: torch.Tensor, allowed: tuple[float, ...], hint: str = "") -> None:
    """Every entry one of ``allowed`` (labels such as ±1 or 0/1)."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if not value_checks_enabled(value) or value.numel() == 0:
        return
    ok = torch.zeros_like(value, dtype=torch.bool)
    for a in allowed:
        ok |= value == a
    if not bool(ok.all()):
        bad = value[~ok].flatten()[0].item()
        raise ValueError(f"{name} must contain only {allowed}{hint}; got a value {bad!r}")


def check_class_weight(class_weight, num_classes: int, like: torch.Tensor, name: str = "class_weight") -> torch.Tensor | None:
    if class_weight is None:
        return None
    check_floating(name, class_weight)
    if class_weight.shape != (num_classes,):
        raise ValueError(f"{name} must have shape ({num_classes},); got {tuple(class_weight.shape)}")
    check_at_least(name, class_weight, 0.0)
    return class_weight.to(torch.promote_types(class_weight.dtype, like.dtype))


def check_target_shape(name: str, target: torch.Tensor, shape: torch.Size, layout: str) -> None:
    check_tensor(name, target)
    if target.shape != shape:
        raise ValueError(f"{name} must have shape {tuple(shape)} ({layout}); got {tuple(target.shape)}")


def check_embeddings(name: str, x, ndim: int, layout: str) -> torch.Tensor:
    check_floating(name, x)
    if x.dim() != ndim:
        raise ValueError(f"{name} must have shape {layout}; got shape {tuple(x.shape)}")
    return x


def safe_norm(diff: torch.Tensor, dim: int = -1) -> torch.Tensor:
    # Euclidean norm whose gradient stays finite at 0: sqrt of the squared norm
    # clamped at the dtype's tiny (the clamp has zero gradient below it).
    sq = (diff * diff).sum(dim)
    return torch.sqrt(sq.clamp_min(torch.finfo(diff.dtype).tiny))
