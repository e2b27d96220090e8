"""Single-logit classification (SLC, seed 001): the PoLS classification of the
objectives, the objective table, and a head that computes only the queried logits.

At test time SLC asks "is ``x`` of class ``c``?" and answers from the logit
``z_c(x)`` alone, so only one row of the output layer is evaluated: the cost no
longer grows with the number of classes (Keren, Sabato & Schuller, Sect. 6.3).
Whether one logit *suffices* depends on the training objective: the Principle of
Logit Separation (PoLS, Definition 1) asks that every true logit of every
training example exceed every false logit of every example. The seed's analysis
(Sects. 3-5) splits the eleven objectives into the two tuples below; this is the
one place losslab records that split.

Reference: G. Keren, S. Sabato, B. Schuller, "Analysis of loss functions for fast
single-class classification", Knowledge and Information Systems 62(1), 2019.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from .pols import PAPER_POLS_ALIGNED

__all__ = [
    "POLS_ALIGNED",
    "POLS_NOT_ALIGNED",
    "SLC_OBJECTIVES",
    "TABLE1_OBJECTIVES",
    "is_pols_aligned",
    "resolve_objective",
    "mean_relative_improvement",
    "SingleLogitHead",
]

#: The paper's PoLS classification has one home, :data:`losslab.pols.PAPER_POLS_ALIGNED`
#: (aligned: self-normalisation, NCE, binary CE, sigmoid Tanimoto, batch CE and batch
#: max-margin; not aligned: the Sect. 3 counter-examples). These tuples derive from it.
POLS_ALIGNED: tuple[str, ...] = tuple(n for n, aligned in PAPER_POLS_ALIGNED.items() if aligned)
POLS_NOT_ALIGNED: tuple[str, ...] = tuple(n for n, aligned in PAPER_POLS_ALIGNED.items() if not aligned)

#: All eleven objectives of the seed, non-aligned first (the order of Table 1).
SLC_OBJECTIVES: tuple[str, ...] = POLS_NOT_ALIGNED + POLS_ALIGNED

#: The seven objectives the seed trains in Table 1 (Sect. 6.1 leaves out the
#: Cauchy-Schwarz and Tanimoto losses), in the table's row order.
TABLE1_OBJECTIVES: tuple[str, ...] = (
    "cross_entropy",
    "max_margin",
    "self_normalization",
    "nce",
    "binary_cross_entropy",
    "batch_cross_entropy",
    "batch_max_margin",
)


def is_pols_aligned(name: str) -> bool:
    """Whether the objective ``name`` is aligned with the PoLS (seed 001, Sects. 3-5).

    Example:
        >>> is_pols_aligned("batch_cross_entropy"), is_pols_aligned("cross_entropy")
        (True, False)
    """
    if name in POLS_ALIGNED:
        return True
    if name in POLS_NOT_ALIGNED:
        return False
    raise ValueError(f"name must be one of the SLC objectives {SLC_OBJECTIVES}; got {name!r}")


def resolve_objective(name: str) -> Callable[..., torch.Tensor]:
    """The loss function ``fn(logits [B, K], labels [B], *, reduction="mean")`` named
    ``name``: one of :data:`SLC_OBJECTIVES`, looked up in :mod:`losslab`.

    Example:
        >>> fn = resolve_objective("cross_entropy")
        >>> float(fn(torch.zeros(2, 4), torch.tensor([0, 3]))) == float(torch.log(torch.tensor(4.0)))
        True
    """
    if name not in SLC_OBJECTIVES:
        raise ValueError(f"name must be one of the SLC objectives {SLC_OBJECTIVES}; got {name!r}")
    import losslab

    return getattr(losslab, name)


def mean_relative_improvement(aligned: Sequence[float], not_aligned: Sequence[float]) -> float:
    """Relative improvement of the mean of PoLS-aligned scores over the mean of the
    non-aligned ones, for "one minus" measures (lower is better), as in the bottom row
    of Table 1: ``(mean(not_aligned) - mean(aligned)) / mean(not_aligned)``.

    Returns ``nan`` when either group is empty or the non-aligned mean is 0.

    Example:
        >>> round(mean_relative_improvement([0.002, 0.001], [0.008, 0.012]), 3)
        0.85
    """
    if len(aligned) == 0 or len(not_aligned) == 0:
        return float("nan")
    a = sum(aligned) / len(aligned)
    n = sum(not_aligned) / len(not_aligned)
    if n == 0:
        return float("nan")
    return (n - a) / n


class SingleLogitHead(nn.Module):
    """An output layer that computes the logits of the queried classes only.

    Wraps an :class:`torch.nn.Linear` ``in_features -> num_classes`` (given, or made
    here). ``head(x)`` returns all logits ``[..., K]``; ``head(x, classes=c)`` with an
    ``int`` returns the single logit ``[...]`` of class ``c`` at the cost of one row
    of the weight (``O(d)`` instead of ``O(dK)``); with a sequence or 1-D tensor of
    ``C`` class indices it returns ``[..., C]``. :meth:`per_example` evaluates one
    (possibly different) class per example. The values equal the corresponding
    columns of the full head.

    Args:
        linear_or_in_features: an ``nn.Linear`` to wrap, or ``in_features``.
        num_classes: the number of classes when a new ``nn.Linear`` is made.
        bias: whether a new ``nn.Linear`` has a bias.
        validate_args: ``True`` checks that a *tensor* of queried classes lies in
            ``[0, num_classes)`` on every call (a ``.min()``/``.max()`` pass and, on a GPU,
            two device syncs) and raises a ``ValueError`` naming the bad value. The default
            ``None`` checks only when :func:`losslab.set_validate_args` was given ``True``;
            otherwise the row gather itself rejects an out-of-range index (a ``ValueError``
            on CPU, a device-side assert on CUDA), and negative indices never wrap around.
            Python ``int``/sequence classes are always checked on the host (no tensor op).

    Example:
        >>> _ = torch.manual_seed(0)
        >>> head = SingleLogitHead(8, 1000)
        >>> x = torch.randn(4, 8)
        >>> torch.allclose(head(x, classes=7), head(x)[:, 7], atol=1e-6)
        True
        >>> head(x, classes=[3, 5]).shape
        torch.Size([4, 2])

    Reference: Keren, Sabato & Schuller (2019), Sect. 6.3.
    """

    def __init__(self, linear_or_in_features: nn.Linear | int, num_classes: int | None = None, *, bias: bool = True,
                 validate_args: bool | None = None):
        super().__init__()
        if validate_args is not None and not isinstance(validate_args, bool):
            raise TypeError(f"validate_args must be None, True or False; got {validate_args!r}")
        self.validate_args = validate_args
        if isinstance(linear_or_in_features, nn.Linear):
            if num_classes is not None and num_classes != linear_or_in_features.out_features:
                raise ValueError(
                    f"num_classes={num_classes} disagrees with the wrapped layer's "
                    f"out_features={linear_or_in_features.out_features}"
                )
            self.linear = linear_or_in_features
        elif isinstance(linear_or_in_features, int) and not isinstance(linear_or_in_features, bool):
            if not isinstance(num_classes, int) or num_classes < 1:
                raise ValueError(f"num_classes must be a positive int when in_features is given; got {num_classes!r}")
            if linear_or_in_features < 1:
                raise ValueError(f"in_features must be a positive int; got {linear_or_in_features!r}")
            self.linear = nn.Linear(linear_or_in_features, num_classes, bias=bias)
        else:
            raise TypeError(
                "linear_or_in_features must be an nn.Linear or an int, got "
                f"{type(linear_or_in_features).__name__}"
            )

    @property
    def num_classes(self) -> int:
        return self.linear.out_features

    def _index(self, classes, device) -> torch.Tensor:
        if isinstance(classes, torch.Tensor) and classes.dtype == torch.long and classes.device == device:
            idx = classes  # the common case at inference: no conversion op
        else:
            idx = torch.as_tensor(classes, dtype=torch.long, device=device)
        if idx.dim() > 1:
            raise ValueError(f"classes must be an int or a 1-D sequence of class indices; got shape {tuple(idx.shape)}")
        if not isinstance(classes, torch.Tensor):
            # Host values: checked in Python, no tensor op and no device sync.
            values = [classes] if idx.dim() == 0 else list(classes)
            bad = [c for c in values if not 0 <= int(c) < self.num_classes]
            if bad:
                raise ValueError(f"classes must lie in [0, {self.num_classes}); got {bad[0]!r} in {classes!r}")
        elif self._validating() and idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= self.num_classes):
            raise ValueError(f"classes must lie in [0, {self.num_classes}); got {classes!r}")
        return idx

    def _validating(self) -> bool:
        validate = getattr(self, "validate_args", None)  # absent from heads pickled before it existed
        if validate is not None:
            return validate
        from . import _validate

        return _validate._VALIDATE_ARGS is True

    def _rows(self, param: torch.Tensor, idx: torch.Tensor, classes) -> torch.Tensor:
        """``param[idx]`` by ``index_select``, which bounds-checks on CPU in its own loop (at
        no extra pass) and, unlike ``param[idx]``, does not wrap negative indices around."""
        try:
            return param.index_select(0, idx)
        except IndexError as err:
            raise ValueError(f"classes must lie in [0, {self.num_classes}); got {classes!r}") from err

    def forward(self, x: torch.Tensor, classes=None) -> torch.Tensor:
        """Logits of ``classes`` (all when ``None``): ``[..., K]``, ``[...]`` or ``[..., C]``."""
        if classes is None:
            return self.linear(x)
        idx = self._index(classes, self.linear.weight.device)
        flat = idx.reshape(-1)
        weight = self._rows(self.linear.weight, flat, classes)  # [C, d]
        bias = None if self.linear.bias is None else self._rows(self.linear.bias, flat, classes)
        out = torch.nn.functional.linear(x, weight, bias)  # [..., C]
        return out.squeeze(-1) if idx.dim() == 0 else out

    def per_example(self, x: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """The logit ``z_{c_i}(x_i)`` of one queried class per example: ``x [B, d]``,
        ``classes [B]`` (int) -> ``[B]``."""
        if x.dim() != 2 or classes.shape != x.shape[:1]:
            raise ValueError(
                f"per_example expects x of shape [B, d] and classes of shape [B]; got "
                f"{tuple(x.shape)} and {tuple(classes.shape)}"
            )
        idx = self._index(classes, self.linear.weight.device)
        out = (x * self._rows(self.linear.weight, idx, classes)).sum(-1)
        if self.linear.bias is not None:
            out = out + self._rows(self.linear.bias, idx, classes)
        return out

    def extra_repr(self) -> str:
        return f"in_features={self.linear.in_features}, num_classes={self.num_classes}"
