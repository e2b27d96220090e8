"""The Principle of Logit Separation (seed 001: Keren, Sabato & Schuller, 2019).

PoLS (Definition 1): every *true* logit ``z_y(x)`` of the sample exceeds every *false*
logit ``z_{y''}(x')``, ``y'' ≠ y'``, of the same or any other example. A loss is
*aligned* with the PoLS if a small enough loss value on any sample guarantees it.

* :func:`logit_separation` measures how far a set of logits is from the PoLS.
* :func:`counter_example` builds the paper's Sect. 3 families: the loss tends to its
  infimum while the separation stays below 1.
* :func:`pols_alignment` probes a loss empirically on a small random sample.
* :data:`PAPER_POLS_ALIGNED` is the paper's classification of its eleven objectives.

These are analysis tools (re-exported from :mod:`losslab.analysis`); they import the
losses, never the other way round.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from ._validate import check_class_indices, check_floating, check_integer, check_positive

__all__ = [
    "LogitSeparation",
    "logit_separation",
    "AlignmentProbe",
    "pols_alignment",
    "counter_example",
    "COUNTER_EXAMPLES",
    "PAPER_POLS_ALIGNED",
]

#: The paper's classification (Sects. 3-5): ``True`` for the objectives it proves aligned.
PAPER_POLS_ALIGNED: dict[str, bool] = {
    "cross_entropy": False,
    "max_margin": False,
    "softmax_cauchy_schwarz": False,
    "sigmoid_cauchy_schwarz": False,
    "softmax_tanimoto": False,
    "self_normalization": True,
    "nce": True,
    "binary_cross_entropy": True,
    "sigmoid_tanimoto": True,
    "batch_cross_entropy": True,
    "batch_max_margin": True,
}


@dataclass(frozen=True)
class LogitSeparation:
    """How well one threshold on single logits separates true from false logits.

    Attributes:
        fraction: fraction of (true logit, false logit) pairs across the whole sample
            with ``true > false`` (strict; ties count as not separated). 1 iff PoLS holds.
        margin: ``min(true logits) − max(false logits)``; ``> 0`` iff PoLS holds.
        threshold: the single threshold ``T`` (predict "true" when ``z > T``) with the best
            balanced accuracy; the midpoint of the gap between adjacent logit values.
        balanced_accuracy: ``(TPR + TNR) / 2`` at ``threshold``; 1 iff PoLS holds.
        num_pairs: ``N · N(K−1)``, the number of (true, false) pairs.
        class_fraction: ``[K]`` the same pair fraction within each class (true logits of
            class ``k`` vs false logits of class ``k``; the weaker, class-level separation
            the paper mentions). NaN for a class with no true or no false logit.
    """

    fraction: float
    margin: float
    threshold: float
    balanced_accuracy: float
    num_pairs: int
    class_fraction: torch.Tensor

    @property
    def separated(self) -> bool:
        """Whether the PoLS (Definition 1) holds: every true logit exceeds every false one."""
        return self.margin > 0


def _check_sample(logits, labels) -> None:
    check_floating("logits", logits)
    check_integer("labels", labels)
    if logits.dim() != 2 or logits.shape[-1] < 2 or logits.shape[0] < 1:
        raise ValueError(f"logits must have shape [N, K] with N >= 1, K >= 2; got {tuple(logits.shape)}")
    if labels.shape != logits.shape[:1]:
        raise ValueError(f"labels must have shape ({logits.shape[0]},); got {tuple(labels.shape)}")
    check_class_indices("labels", labels, logits.shape[1])


def _pair_fraction(true: torch.Tensor, false: torch.Tensor) -> float:
    """Fraction of pairs with ``t > f``: sort the false values, count those strictly below each t."""
    if true.numel() == 0 or false.numel() == 0:
        return float("nan")
    below = torch.searchsorted(torch.sort(false).values, true, right=False)  # #false < t
    return float(below.sum()) / (true.numel() * false.numel())


def logit_separation(logits: torch.Tensor, labels: torch.Tensor) -> LogitSeparation:
    r"""Measure the Principle of Logit Separation on a labelled sample (seed 001, Definition 1).

    .. math::

        \text{fraction} = \frac{\#\{(i, i', j): z_{y_i}(x_i) > z_j(x_{i'}),\ j \ne y_{i'}\}}{N \cdot N(K-1)},
        \qquad \text{margin} = \min_i z_{y_i}(x_i) - \max_{i',\, j \ne y_{i'}} z_j(x_{i'})

    Counting uses one sort and a binary search: ``O(NK log NK)``, no ``N²K`` pair tensor.

    Args:
        logits: ``[N, K]`` logits of the whole sample, floating.
        labels: ``[N]`` integer class indices.

    Returns:
        A :class:`LogitSeparation` (``fraction``, ``margin``, ``threshold``,
        ``balanced_accuracy``, ``class_fraction``, ``separated``).

    Example:
        >>> import torch
        >>> from losslab.analysis import logit_separation
        >>> z = torch.tensor([[2.0, 1.0], [-2.0, -1.0]])     # Sect. 3.1 counter-example, α = 1
        >>> r = logit_separation(z, torch.tensor([0, 1]))
        >>> r.fraction, r.margin, r.separated
        (0.75, -2.0, False)

    Reference: Keren, Sabato & Schuller, 2019, Definition 1.
    """
    _check_sample(logits, labels)
    z = logits.detach().to(torch.float64).cpu()
    y = labels.detach().cpu().long()
    N, K = z.shape
    true_mask = torch.zeros_like(z, dtype=torch.bool)
    true_mask[torch.arange(N), y] = True
    true, false = z[true_mask], z[~true_mask]
    fraction = _pair_fraction(true, false)
    margin = float(true.min() - false.max())

    # Best threshold by balanced accuracy: sweep T over the distinct logit values
    # (z > T is "true"); ties fall on the same side of every threshold.
    values, inverse = torch.unique(z.reshape(-1), sorted=True, return_inverse=True)
    flat_true = true_mask.reshape(-1)
    n_true_at = torch.zeros(values.numel(), dtype=torch.float64).index_add_(0, inverse, flat_true.double())
    n_false_at = torch.zeros(values.numel(), dtype=torch.float64).index_add_(0, inverse, (~flat_true).double())
    n_true, n_false = float(true.numel()), float(false.numel())
    tpr = (n_true - torch.cumsum(n_true_at, 0)) / n_true  # T = values[i]
    tnr = torch.cumsum(n_false_at, 0) / n_false
    bal = torch.cat([torch.tensor([0.5], dtype=torch.float64), (tpr + tnr) / 2])  # index 0: T below all
    best = int(torch.argmax(bal))
    if best == 0:
        threshold = float(values[0]) - 1.0
    elif best == values.numel():
        threshold = float(values[-1])
    else:
        threshold = float((values[best - 1] + values[best]) / 2)

    class_fraction = torch.tensor(
        [_pair_fraction(z[y == k, k], z[y != k, k]) for k in range(K)], dtype=torch.float64
    )
    return LogitSeparation(
        fraction=fraction,
        margin=margin,
        threshold=threshold,
        balanced_accuracy=float(bal[best]),
        num_pairs=int(true.numel() * false.numel()),
        class_fraction=class_fraction,
    )


# ---------------------------------------------------------------------------------
# Sect. 3 counter-examples

#: Losses with a Sect. 3 counter-example family in :func:`counter_example`.
COUNTER_EXAMPLES = ("cross_entropy", "max_margin", "softmax_cauchy_schwarz", "softmax_tanimoto", "sigmoid_cauchy_schwarz")


def counter_example(loss_name: str, alpha: float, *, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The paper's Sect. 3 counter-example sample for a non-aligned loss, at parameter ``α``.

    * ``cross_entropy``, ``max_margin``, ``softmax_cauchy_schwarz``, ``softmax_tanimoto``
      (Sects. 3.1-3.3, 3.5): ``S = ((x_1, 1), (x_2, 2))`` with ``z(x_1) = (2α, α)``,
      ``z(x_2) = (−2α, −α)``. The loss tends to its infimum (0, 0 from ``α = γ`` on, 0, −1)
      as ``α → ∞`` -- cross-entropy sums to ``2 log(1 + e^{−α})`` -- while the false logit
      ``z_2(x_1) = α`` exceeds the true ``z_2(x_2) = −α``: separation 3/4.
    * ``sigmoid_cauchy_schwarz`` (Sect. 3.4): ``S = ((x_1, 1), (x_2, 1))`` with
      ``σ(z(x_1)) = (0.5, 0.5/α)``, ``σ(z(x_2)) = (0.5/α, 0.5/α²)`` (the extracted seed
      prints ``z(x_2)`` for the second; ``σ`` is what makes its stated loss value hold).
      Each example's loss is ``−log(α/√(α²+1)) → 0``, while the true ``z_1(x_2)`` *equals*
      the false ``z_2(x_1)`` (the seed's "≠" is garbled; it is a tie, which Definition 1's
      strict inequality rules out): separation 3/4. Needs ``α > 1``.

    Labels are 0-based: the paper's classes 1, 2 are 0, 1 here.

    Args:
        loss_name: one of :data:`COUNTER_EXAMPLES`.
        alpha: the family parameter ``α > 0`` (``> 1`` for ``sigmoid_cauchy_schwarz``).
        dtype: floating dtype of the logits.

    Returns:
        ``(logits [2, 2], labels [2])``.

    Example:
        >>> import torch, torch.nn.functional as F
        >>> from losslab.analysis import counter_example, logit_separation
        >>> z, y = counter_example("cross_entropy", 20.0)
        >>> F.cross_entropy(z, y, reduction="sum").item() < 1e-8, logit_separation(z, y).fraction
        (True, 0.75)

    Reference: Keren, Sabato & Schuller, 2019, Sect. 3.
    """
    if loss_name not in COUNTER_EXAMPLES:
        raise ValueError(f"loss_name must be one of {COUNTER_EXAMPLES}; got {loss_name!r}")
    alpha = check_positive("alpha", alpha)
    if loss_name == "sigmoid_cauchy_schwarz":
        if alpha <= 1:
            raise ValueError(f"alpha must be > 1 for the sigmoid Cauchy-Schwarz family (σ values 0.5/α, 0.5/α²); got {alpha!r}")
        probs = torch.tensor([[0.5, 0.5 / alpha], [0.5 / alpha, 0.5 / alpha**2]], dtype=torch.float64)
        logits = torch.log(probs) - torch.log1p(-probs)  # σ^{-1}
        return logits.to(dtype), torch.tensor([0, 0])
    logits = torch.tensor([[2 * alpha, alpha], [-2 * alpha, -alpha]], dtype=dtype)
    return logits, torch.tensor([0, 1])


# ---------------------------------------------------------------------------------
# Empirical alignment probe


@dataclass(frozen=True)
class AlignmentProbe:
    """Result of :func:`pols_alignment`.

    Attributes:
        aligned: the probe's verdict: ``gap > tol``.
        gap: ``constrained_loss − unconstrained_loss``: how much the loss must rise when one
            PoLS violation is imposed. A non-aligned loss reaches (nearly) its infimum anyway.
        unconstrained_loss: the lowest loss reached with free logits (an estimate of the infimum).
        constrained_loss: the lowest loss reached with the violation imposed.
        separation: :func:`logit_separation` of the first iterate whose loss is within ``eps``
            of ``unconstrained_loss`` ("a small enough loss", in Definition 1's sense).
        final_separation: :func:`logit_separation` of the last unconstrained iterate.
        steps_to_eps: the index of that first ``eps``-good iterate.
    """

    aligned: bool
    gap: float
    unconstrained_loss: float
    constrained_loss: float
    separation: LogitSeparation
    final_separation: LogitSeparation
    steps_to_eps: int


def _minimise(loss_fn, z0, labels, steps, lr, tie):
    """Minimise ``loss_fn`` over free logits; ``tie=(i, i2, k)`` forces ``z[i2, k] := z[i, k]``.

    The optimiser is Adam with a short second-moment memory (β = 0.9, 0.9) and a tiny ε,
    so that steps stay ~``lr`` while gradients decay exponentially (losses whose infimum
    lies at infinity), and a geometric learning-rate decay (×0.97 per step) so that losses
    with a finite minimiser settle on it.
    """
    z = z0.clone()
    m = torch.zeros_like(z)
    v = torch.zeros_like(z)
    b1 = b2 = 0.9
    losses, iterates = [], []
    for step in range(steps + 1):
        param = z.detach().requires_grad_(True)
        if tie is None:
            logits = param
        else:
            i, i2, k = tie
            logits = param.clone()
            logits[i2, k] = param[i, k]
        value = loss_fn(logits, labels)
        if not isinstance(value, torch.Tensor) or value.dim() != 0:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ValueError(f"loss must return a scalar tensor (use its default reduction); got {shape}")
        current = value.item()
        if not math.isfinite(current):
            raise ValueError(f"loss became non-finite ({current}) during the probe")
        losses.append(current)
        iterates.append(logits.detach())
        if step == steps:
            break
        (grad,) = torch.autograd.grad(value, param)
        with torch.no_grad():
            m.mul_(b1).add_(grad, alpha=1 - b1)
            v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
            m_hat = m / (1 - b1 ** (step + 1))
            v_hat = v / (1 - b2 ** (step + 1))
            z = z - lr * 0.97**step * m_hat / (v_hat.sqrt() + 1e-30)
    return losses, iterates


def pols_alignment(
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    num_examples: int = 6,
    num_classes: int = 3,
    steps: int = 150,
    lr: float = 1.0,
    offset: float = 10.0,
    eps: float = 1e-3,
    tol: float = 1e-2,
    seed: int = 0,
) -> AlignmentProbe:
    r"""Probe whether a loss is aligned with the PoLS by minimising it over free logits (seed 001, Sect. 2).

    A loss is aligned if a small enough loss value forces every true logit above every
    false one. On a small sample (labels ``i mod K``; logits ``N(0, 1)`` plus per-example
    offsets alternating ``±offset``, as in the Sect. 3 counter-examples) the probe runs an
    Adam-like descent (see ``_minimise``) in float64 twice from the same start:

    1. free logits: the lowest loss is the infimum estimate; :attr:`AlignmentProbe.separation`
       is the separation at the first iterate within ``eps`` of it;
    2. with one violation imposed -- the false logit of example 1 for class ``y_0`` tied to
       the true logit of example 0 (class-level, like Sect. 3.1) -- to see whether the loss
       can still approach its infimum.

    ``aligned = (constrained − unconstrained) > tol``. The batch losses see the whole sample
    as one batch (Lemma 1 lifts alignment from batches to the sample). The verdict is
    empirical: a probe on one sample, with finite steps, not a proof.

    Args:
        loss: ``loss(logits [N, K], labels [N]) -> scalar`` (e.g. ``losslab.nce`` or
            ``torch.nn.functional.cross_entropy``; bind hyper-parameters with a lambda).
        num_examples: ``N >= 2``.
        num_classes: ``K >= 2``.
        steps: descent steps per run.
        lr: initial step size (decays ×0.97 per step).
        offset: magnitude of the per-example offsets of the starting logits.
        eps: "small enough" loss excess for :attr:`AlignmentProbe.separation`.
        tol: gap above which the loss is judged aligned.
        seed: seed of the starting logits.

    Returns:
        An :class:`AlignmentProbe`.

    Example:
        >>> import torch.nn.functional as F, losslab as ll
        >>> from losslab.analysis import pols_alignment
        >>> pols_alignment(F.cross_entropy).aligned
        False
        >>> probe = pols_alignment(ll.binary_cross_entropy)
        >>> probe.aligned, probe.separation.separated
        (True, True)

    Reference: Keren, Sabato & Schuller, 2019, Sect. 2 and Appendix.
    """
    if not callable(loss):
        raise TypeError(f"loss must be callable as loss(logits, labels); got {type(loss).__name__}")
    for name, v, low in (("num_examples", num_examples, 2), ("num_classes", num_classes, 2), ("steps", steps, 1)):
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise ValueError(f"{name} must be an integer >= {low}; got {v!r}")
    lr = check_positive("lr", lr)
    eps = check_positive("eps", eps)
    tol = check_positive("tol", tol)
    offset = float(offset)
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(num_examples) % num_classes
    signs = torch.tensor([1.0 if i % 2 == 0 else -1.0 for i in range(num_examples)], dtype=torch.float64)
    z0 = torch.randn(num_examples, num_classes, generator=g, dtype=torch.float64) + offset * signs[:, None]

    free_losses, free_iterates = _minimise(loss, z0, labels, steps, lr, None)
    tie = (0, 1, int(labels[0]))  # z_{y0}(x_1) := z_{y0}(x_0), with y_1 != y_0
    tied_losses, _ = _minimise(loss, z0, labels, steps, lr, tie)
    best_free, best_tied = min(free_losses), min(tied_losses)
    first = next(i for i, v in enumerate(free_losses) if v <= best_free + eps)
    gap = best_tied - best_free
    return AlignmentProbe(
        aligned=bool(gap > tol),
        gap=gap,
        unconstrained_loss=best_free,
        constrained_loss=best_tied,
        separation=logit_separation(free_iterates[first], labels),
        final_separation=logit_separation(free_iterates[-1], labels),
        steps_to_eps=first,
    )
