"""Entry-point validation: raise ``TypeError``/``ValueError`` naming the argument
and the value received (DESIGN.md, principle 7). Never ``assert`` on user input.

Checks on tensor *values* (label ranges, probability simplexes, domain bounds)
force a device sync on accelerators, so they run by default only for CPU
tensors; :func:`set_validate_args` turns them on everywhere (``True``) or off
everywhere (``False``).

Conventions every public function follows:

* tensor arguments must be ``torch.Tensor`` (a list, NumPy array or number is a
  ``TypeError`` naming the argument; nothing is converted silently);
* boolean flags must be Python ``bool`` (``"no"``, ``1``, a NumPy or tensor bool
  is a ``TypeError``);
* floating tensor arguments of different dtypes (input, target, class weights,
  ``pos_weight``, tensor hyper-parameters) are promoted to their common dtype
  (:func:`promote_floating`) before any computation, as ``F.mse_loss``,
  ``F.kl_div`` and ``F.triplet_margin_loss`` promote (class weights too, where
  ``F.cross_entropy`` raises); a per-example weight multiplies the per-example
  loss (``_reduce``), so it promotes the result's dtype;
* a hyper-parameter documented as a number (a margin, a temperature, alpha)
  is a constant: a tensor that requires grad is rejected with a ``TypeError``
  rather than silently detached. Hyper-parameters documented as learnable
  (GE2E's ``w`` and ``b``) keep their graph.
"""
from __future__ import annotations

import functools
import math
from numbers import Real
from typing import Any, Iterable

import torch

_VALIDATE_ARGS: bool | None = None  # None: value checks on CPU tensors only


def set_validate_args(value: bool | None) -> None:
    """Turn value checks on (``True``), off (``False``) or back to CPU-only (``None``)."""
    global _VALIDATE_ARGS
    if value is not None and not isinstance(value, bool):
        raise TypeError(f"validate_args must be a bool or None, got {value!r}")
    _VALIDATE_ARGS = value


def value_checks_enabled(tensor: torch.Tensor) -> bool:
    """Whether checks that read tensor values should run for ``tensor``."""
    if _VALIDATE_ARGS is not None:
        return _VALIDATE_ARGS
    if torch.compiler.is_compiling():
        return False
    return tensor.device.type == "cpu"


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    return repr(value)


def check_reduction(reduction: Any) -> None:
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"reduction must be one of 'none', 'mean', 'sum'; got {reduction!r}")


def check_tensor(name: str, value: Any) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    return value


def check_floating(name: str, value: Any) -> torch.Tensor:
    check_tensor(name, value)
    if not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
    return value


def check_integer(name: str, value: Any) -> torch.Tensor:
    check_tensor(name, value)
    if value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor of class indices, got dtype {value.dtype}")
    return value


def check_same_shape(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape; got {name_a} {tuple(a.shape)} "
            f"and {name_b} {tuple(b.shape)}"
        )


def check_min_ndim(name: str, value: torch.Tensor, ndim: int, layout: str) -> None:
    if value.dim() < ndim:
        raise ValueError(f"{name} must have shape {layout}; got shape {tuple(value.shape)}")


def check_weight(weight: Any, loss: torch.Tensor) -> None:
    check_floating("sample_weight", weight)
    if weight.shape != loss.shape:
        raise ValueError(
            f"sample_weight must have the per-example loss shape {tuple(loss.shape)}; got {tuple(weight.shape)}"
        )


def _as_float(name: str, value: Any) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"{name} must be a scalar, got {_describe(value)}")
        check_no_grad(name, value)
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    return float(value)


def check_finite_scalar(name: str, value: Any) -> float:
    x = _as_float(name, value)
    if not math.isfinite(x):
        raise ValueError(f"{name} must be finite, got {x!r}")
    return x


def check_positive(name: str, value: Any) -> float:
    x = check_finite_scalar(name, value)
    if x <= 0:
        raise ValueError(f"{name} must be > 0, got {x!r}")
    return x


def check_nonnegative(name: str, value: Any) -> float:
    x = check_finite_scalar(name, value)
    if x < 0:
        raise ValueError(f"{name} must be >= 0, got {x!r}")
    return x


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}; got {value!r}")
    return value


def check_dim(name: str, dim: int, tensor: torch.Tensor) -> int:
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise TypeError(f"{name} must be an int, got {dim!r}")
    nd = max(tensor.dim(), 1)
    if not -nd <= dim < nd:
        raise ValueError(f"{name}={dim} is out of range for a tensor with {tensor.dim()} dims")
    return dim % nd


def check_class_indices(name: str, labels: torch.Tensor, num_classes: int, ignore_index: int | None = None) -> None:
    """Integer labels in ``[0, num_classes)`` (entries equal to ``ignore_index`` excepted)."""
    check_integer(name, labels)
    if not value_checks_enabled(labels) or labels.numel() == 0:
        return
    valid = labels if ignore_index is None else labels[labels != ignore_index]
    if valid.numel() == 0:
        return
    lo, hi = int(valid.min()), int(valid.max())
    if lo < 0 or hi >= num_classes:
        bad = lo if lo < 0 else hi
        raise ValueError(f"{name} must lie in [0, {num_classes}); got a label {bad}")


def check_in_open_interval(name: str, value: torch.Tensor, low: float, high: float) -> None:
    """Tensor values strictly inside (low, high); NaN counts as outside."""
    if not value_checks_enabled(value) or value.numel() == 0:
        return
    inside = (value > low) & (value < high)
    if not bool(inside.all()):
        bad = value[~inside].flatten()[0].item()
        raise ValueError(f"{name} must lie in the open interval ({low}, {high}); got a value {bad!r}")


def check_probabilities(name: str, value: torch.Tensor, dim: int = -1, atol: float = 1e-4) -> None:
    """Non-negative entries summing to one along ``dim``."""
    if not value_checks_enabled(value) or value.numel() == 0:
        return
    if bool((value < 0).any()) or not bool(torch.isfinite(value).all()):
        raise ValueError(f"{name} must be finite and non-negative")
    total = value.sum(dim)
    if not bool(torch.allclose(total, torch.ones_like(total), atol=atol)):
        worst = (total - 1).abs().max().item()
        raise ValueError(f"{name} must sum to 1 along dim {dim}; off by up to {worst:.3g}")


def check_bool(name: str, value: Any) -> bool:
    """A Python ``bool`` flag; ``"no"`` or ``1`` would silently pick a branch by truthiness."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool (True or False), got {value!r}")
    return value


def check_no_grad(name: str, value: Any) -> None:
    """Reject a tensor that requires grad where the code would read it as a constant
    (``.item()``/``float()`` would drop its gradient without a word)."""
    if isinstance(value, torch.Tensor) and value.requires_grad:
        raise TypeError(
            f"{name} is a tensor that requires grad, but {name} is a constant here and its "
            f"gradient would be lost; pass a float or {name}.detach() (got {_describe(value)})"
        )


def promote_floating(*tensors: Any) -> tuple:
    """Cast the floating tensors among ``tensors`` to their common dtype
    (``torch.promote_types``); others (None, integer labels, links) pass through."""
    dtype, mixed = None, False
    for t in tensors:
        if isinstance(t, torch.Tensor) and t.is_floating_point():
            if dtype is None:
                dtype = t.dtype
            elif t.dtype != dtype:
                dtype, mixed = torch.promote_types(dtype, t.dtype), True
    if not mixed:  # one floating dtype (or none): nothing to cast, no second pass
        return tensors
    return tuple(
        t.to(dtype) if isinstance(t, torch.Tensor) and t.is_floating_point() and t.dtype != dtype else t
        for t in tensors
    )


# Keywords whose meaning changed: the old spelling gets a TypeError that says what to
# write now, instead of Python's bare "unexpected keyword argument".
_RENAMED = {
    "weight": "per-example weights are now sample_weight= (weight= is PyTorch's class weight, "
    "so losslab uses scikit-learn's name for per-example weights)",
    "class_weight": "class weights are now weight=, PyTorch's name and meaning",
}


def renamed_keywords(*old: str):
    """Decorator: passing any keyword in ``old`` raises a ``TypeError`` naming its new spelling."""
    for k in old:
        if k not in _RENAMED:
            raise ValueError(f"no renaming recorded for keyword {k!r}")

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            for k in old:
                if k in kwargs:
                    raise TypeError(f"{wrapper.__qualname__}() got {k}=; {_RENAMED[k]}")
            return fn(*args, **kwargs)

        return wrapper

    return decorate


#: Decorator for every loss whose PyTorch counterpart has no ``weight``: ``weight=`` is an error.
old_weight_keyword = renamed_keywords("weight")


def legacy_reduction(size_average: Any, reduce: Any, reduction: str) -> str:
    """PyTorch's deprecated ``size_average``/``reduce`` pair mapped to a ``reduction``, as PyTorch maps it."""
    if size_average is None and reduce is None:
        return reduction
    for name, value in (("size_average", size_average), ("reduce", reduce)):
        if value is not None and not isinstance(value, bool):
            raise TypeError(f"{name} must be a bool or None, got {value!r}")
    from torch.nn import _reduction  # PyTorch's own mapping (it also emits PyTorch's deprecation warning)

    return _reduction.legacy_get_string(size_average, reduce)


# ---------------------------------------------------------------------------------
# Hyper-parameters at the limits of float range
#
# A finite Python float can still be too large (or, as a divisor, too small) for the
# loss's dtype: 1e308 is inf in float32, and a margin of 1e200 squared is inf in float64.
# Such values are rejected at the entry point, naming the argument, instead of
# surfacing as inf/NaN from deep inside torch.


def hyper_magnitude_limit(dtype: torch.dtype, power: float = 1.0) -> float:
    """Largest ``|v|`` a hyper-parameter entering a loss as ``v**power`` may have in ``dtype``:
    ``|v|**power <= sqrt(finfo.max)``, leaving headroom for the sums and products a loss forms."""
    return math.sqrt(torch.finfo(dtype).max) ** (1.0 / power)


def check_hyper_magnitude(name: str, value: float, like: Any, *, power: float = 1.0,
                          reciprocal: bool = False) -> float:
    """Reject a finite hyper-parameter the computation in ``like``'s dtype cannot carry.

    ``like`` is the input tensor (or a dtype); anything else means the default dtype.
    ``reciprocal=True`` is for divisors (a temperature, a γ that divides scores): then
    ``1/|value|`` is bounded instead, and ``0`` is left to the caller's own check.
    """
    dtype = like.dtype if isinstance(like, torch.Tensor) else like
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        dtype = torch.get_default_dtype()
    limit = hyper_magnitude_limit(dtype, power)
    if reciprocal:
        if value != 0 and abs(value) < 1.0 / limit:
            raise ValueError(
                f"{name}={value!r} is too small for {dtype}: 1/|{name}| must stay <= {limit:.3g} "
                f"(|{name}| >= {1.0 / limit:.3g})"
            )
    elif abs(value) > limit:
        raise ValueError(f"{name}={value!r} is too large for {dtype}: |{name}| must be <= {limit:.3g}")
    return value


# ---------------------------------------------------------------------------------
# Inputs at the edges of their domain


def check_finite_values(name: str, value: torch.Tensor, mask: torch.Tensor | None = None) -> None:
    """Every entry (where ``mask`` is True) finite: a NaN or inf there would give a silent wrong answer."""
    if not value_checks_enabled(value) or value.numel() == 0:
        return
    bad = ~torch.isfinite(value)
    if mask is not None:
        bad = bad & mask
    if bool(bad.any()):
        raise ValueError(f"{name} must be finite; got a value {value[bad].flatten()[0].item()!r}")


def check_exp_finite(name: str, value: torch.Tensor, *, base2: bool = False, terms: int = 1,
                     mask: torch.Tensor | None = None, what: str = "exp") -> None:
    """``exp(value)`` (``2**value`` if ``base2``) finite in ``value``'s dtype, with room for a sum of
    ``terms`` of them: a log-rate or a gain exponent past that overflows to inf (and inf/inf = NaN)."""
    if not value_checks_enabled(value) or value.numel() == 0:
        return
    dtype = value.dtype if value.is_floating_point() else torch.float64
    log_max = math.log(torch.finfo(dtype).max / max(terms, 1))
    limit = log_max / math.log(2.0) if base2 else log_max
    over = value > limit
    if mask is not None:
        over = over & mask
    if bool(over.any()):
        raise ValueError(
            f"{name} must be <= {limit:.6g} so that {what} stays finite in {dtype}; "
            f"got a value {value[over].flatten()[0].item()!r}"
        )
