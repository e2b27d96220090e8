"""Single-logit classification objectives (seed 001: Keren, Sabato & Schuller, 2019).

Ten of the paper's eleven training objectives, for logits ``[..., K]`` and integer
labels ``[...]`` (the eleventh, cross-entropy, is :func:`losslab.cross_entropy`).
Sect. 3 losses (max-margin, the softmax/sigmoid Cauchy–Schwarz divergences, the
softmax Tanimoto loss) do *not* satisfy the Principle of Logit Separation (PoLS,
Definition 1); Sect. 4-5 losses (self-normalization, NCE, binary cross-entropy,
sigmoid Tanimoto, batch cross-entropy, batch max-margin) do.
:mod:`losslab.pols` probes this empirically.

Every formula is evaluated in log space (``logsumexp``, ``logsigmoid``,
``softplus``) so that value and gradient stay finite for logits at ±1e4 in
float32; plain autograd suffices (no formula here needs a custom backward).

The two batch losses (Definitions 2-3) couple all examples of the batch: they take
exactly ``[B, K]`` logits with ``B > 1`` and do not support per-example weights.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from . import kernels
from . import registry
from ._reduce import _reduce
from ._rowstats import SigmoidStats, SoftmaxStats, TrueAndWorstFalse, tied_max
from ._validate import check_hyper_magnitude
from ._validate import (
    old_weight_keyword,
    check_class_indices,
    check_floating,
    check_integer,
    check_positive,
    check_reduction,
    check_tensor,
    value_checks_enabled,
)
from ._validate import promote_floating

__all__ = [
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
]


# ---------------------------------------------------------------------------------
# Validation shared by the objectives


def _check_logits_labels(logits, labels, *, batch: bool = False, name: str = "") -> int:
    """Floating ``[..., K]`` logits (K >= 2), integer labels of shape ``[...]`` in ``[0, K)``."""
    check_floating("logits", logits)
    check_integer("labels", labels)
    if logits.dim() < 1:
        raise ValueError("logits must have shape [..., K] with a class dimension; got a 0-dim tensor")
    if batch and logits.dim() != 2:
        raise ValueError(f"{name} takes logits of shape [B, K]; got shape {tuple(logits.shape)}")
    K = logits.shape[-1]
    if K < 2:
        raise ValueError(f"logits must have K >= 2 classes in the last dim; got shape {tuple(logits.shape)}")
    if labels.shape != logits.shape[:-1]:
        raise ValueError(
            f"labels must have shape {tuple(logits.shape[:-1])} (logits' shape without the class dim); "
            f"got {tuple(labels.shape)}"
        )
    if batch and logits.shape[0] < 2:
        raise ValueError(f"{name} is a batch loss and needs a batch of B > 1 examples (Definitions 2-3); got B={logits.shape[0]}")
    check_class_indices("labels", labels, K)
    return K


def _true_logit(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return logits.gather(-1, labels.unsqueeze(-1)).squeeze(-1)


def _false_mask(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Boolean ``[..., K]``: True at the false classes ``j != y``."""
    classes = torch.arange(logits.shape[-1], device=logits.device)
    return classes != labels.unsqueeze(-1)


def _no_weight(name: str, weight) -> None:
    if weight is not None:
        raise ValueError(
            f"{name} is a batch loss: its value couples all examples, so per-example weights are not "
            f"supported; got sample_weight of shape {tuple(weight.shape) if isinstance(weight, torch.Tensor) else weight!r}"
        )


# ---------------------------------------------------------------------------------
# Sect. 3: objectives that do not satisfy the PoLS


@old_weight_keyword
def max_margin(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    margin: float = 1.0,
    sample_weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Crammer–Singer multiclass max-margin (hinge) loss (seed 001, eq. 2).

    .. math:: \ell(z, y) = \max\bigl(0,\ \gamma - z_y + \max_{j \ne y} z_j\bigr)

    Not aligned with the PoLS (Sect. 3.2): it only orders the logits of each example.

    Args:
        logits: ``[..., K]`` logits ``z``, floating, ``K >= 2``.
        labels: ``[...]`` integer class indices in ``[0, K)``.
        margin: the margin ``γ > 0``.
        sample_weight: optional per-example weights ``[...]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> z = torch.tensor([[2.0, 1.0], [-2.0, -1.0]])      # the Sect. 3 counter-example, α = 1
        >>> ll.max_margin(z, torch.tensor([0, 1]), reduction="none")
        tensor([0., 0.])

    Reference: Crammer & Singer, 2001; Keren, Sabato & Schuller, 2019, eq. (2).
    """
    _check_logits_labels(logits, labels)
    gamma = check_positive("margin", margin)
    check_hyper_magnitude("margin", gamma, logits)
    check_reduction(reduction)
    # max_{j≠y} z_j from the row max: no masked copy of the logits
    true, worst_false, _ = TrueAndWorstFalse.apply(logits, labels)
    loss = torch.clamp_min(gamma - true + worst_false, 0.0)
    return _reduce(loss, reduction, sample_weight)


@old_weight_keyword
def softmax_cauchy_schwarz(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    sample_weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Softmax Cauchy–Schwarz divergence between the one-hot target and ``softmax(z)`` (eq. 3-4).

    .. math::

        \ell(z, y) = -\log\frac{p_y}{\lVert p\rVert}
          = \tfrac12 \log\sum_j e^{2 z_j} - z_y, \qquad p = \mathrm{softmax}(z)

    The right-hand form (``log p_y = z_y − lse(z)``, ``log‖p‖ = ½ lse(2z) − lse(z)``)
    is what is computed: one ``logsumexp``, finite at any logits. Minimum 0. Not aligned
    with the PoLS (Sect. 3.3).

    Args:
        logits: ``[..., K]`` logits, floating, ``K >= 2``.
        labels: ``[...]`` integer class indices.
        sample_weight: optional per-example weights ``[...]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> z, y = torch.tensor([[1.0, 0.0, -1.0]]), torch.tensor([0])
        >>> p = torch.softmax(z, -1)
        >>> torch.allclose(ll.softmax_cauchy_schwarz(z, y), -torch.log(p[0, 0] / p.norm()))
        True

    Reference: Kampa et al., 2011; Janocha & Czarnecki, 2017; Keren, Sabato & Schuller, 2019, eq. (4).
    """
    _check_logits_labels(logits, labels)
    check_reduction(reduction)
    true, _, lse2 = SoftmaxStats.apply(logits, labels)
    loss = 0.5 * lse2 - true
    return _reduce(loss, reduction, sample_weight)


def _log_sigmoid_norm(logits: torch.Tensor) -> torch.Tensor:
    # log‖σ(z)‖₂ = ½ logsumexp(2·logσ(z)): no sqrt at 0 (whose gradient is infinite)
    # when every σ(z_j) underflows, and no overflow.
    return 0.5 * torch.logsumexp(2.0 * F.logsigmoid(logits), -1)


@old_weight_keyword
def sigmoid_cauchy_schwarz(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    sample_weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Sigmoid Cauchy–Schwarz divergence between the one-hot target and ``σ(z)`` (eq. 5).

    .. math::

        \ell(z, y) = -\log\frac{\sigma(z_y)}{\lVert \sigma(z)\rVert}
          = \mathrm{softplus}(-z_y) + \tfrac12 \log\sum_j \sigma(z_j)^2

    computed as ``softplus(−z_y) + ½ logsumexp(2 logσ(z))``. Minimum 0 (approached when
    ``σ(z_j)/σ(z_y) → 0`` for ``j ≠ y``). Not aligned with the PoLS (Sect. 3.4): it only
    sees ratios of sigmoids.

    Args:
        logits: ``[..., K]`` logits, floating, ``K >= 2``.
        labels: ``[...]`` integer class indices.
        sample_weight: optional per-example weights ``[...]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> z, y = torch.tensor([[1.0, 0.0, -1.0]]), torch.tensor([0])
        >>> s = torch.sigmoid(z)
        >>> torch.allclose(ll.sigmoid_cauchy_schwarz(z, y), -torch.log(s[0, 0] / s.norm()))
        True

    Reference: Janocha & Czarnecki, 2017; Keren, Sabato & Schuller, 2019, eq. (5).
    """
    _check_logits_labels(logits, labels)
    check_reduction(reduction)
    true, lse2 = SigmoidStats.apply(logits, labels)  # lse2 = lse(2 logσ(z)) = 2 log‖σ(z)‖
    loss = F.softplus(-true) + 0.5 * lse2
    return _reduce(loss, reduction, sample_weight)


@old_weight_keyword
def softmax_tanimoto(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    sample_weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Softmax Tanimoto loss (seed 001, eq. 6-7).

    .. math::

        \ell(z, y) = -\frac{p_y}{1 + \lVert p\rVert - p_y}, \qquad p = \mathrm{softmax}(z)

    with the seed's Tanimoto form ``D(f,g) = −f·g / (‖f‖ + ‖g‖ − f·g)`` (eq. 6, L2 norms,
    not squared; Janocha & Czarnecki's original squares them -- the PoLS classification is
    the same). ``p_y`` and ``‖p‖`` are formed from log-space quantities, both in ``[0, 1]``;
    the denominator is ``≥ 1``. Minimum −1 at ``p_y = 1``. Not aligned with the PoLS
    (Sect. 3.5).

    Args:
        logits: ``[..., K]`` logits, floating, ``K >= 2``.
        labels: ``[...]`` integer class indices.
        sample_weight: optional per-example weights ``[...]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar (values in ``[−1, 0)``).

    Example:
        >>> import torch, losslab as ll
        >>> ll.softmax_tanimoto(torch.tensor([[50.0, 0.0]]), torch.tensor([0]))
        tensor(-1.)

    Reference: Janocha & Czarnecki, 2017; Keren, Sabato & Schuller, 2019, eq. (7).
    """
    _check_logits_labels(logits, labels)
    check_reduction(reduction)
    true, lse, lse2 = SoftmaxStats.apply(logits, labels)
    p_y = torch.exp(true - lse)
    p_norm = torch.exp(0.5 * lse2 - lse)
    loss = -p_y / (1.0 + p_norm - p_y)
    return _reduce(loss, reduction, sample_weight)


@old_weight_keyword
def sigmoid_tanimoto(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    sample_weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Sigmoid Tanimoto loss (seed 001, eq. 9).

    .. math::

        \ell(z, y) = -\frac{\sigma(z_y)}{1 + \lVert \sigma(z)\rVert - \sigma(z_y)}

    Minimum −1, reached only as ``σ(z_y) → 1`` and ``σ(z_j) → 0`` for ``j ≠ y``: aligned
    with the PoLS (Sect. 4.4). ``‖σ(z)‖`` is formed as ``exp(½ lse(2 logσ(z)))``.

    Args:
        logits: ``[..., K]`` logits, floating, ``K >= 2``.
        labels: ``[...]`` integer class indices.
        sample_weight: optional per-example weights ``[...]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar (values in ``[−1, 0)``).

    Example:
        >>> import torch, losslab as ll
        >>> ll.sigmoid_tanimoto(torch.tensor([[50.0, -50.0]]), torch.tensor([0]))
        tensor(-1.)

    Reference: Janocha & Czarnecki, 2017; Keren, Sabato & Schuller, 2019, eq. (9).
    """
    _check_logits_labels(logits, labels)
    check_reduction(reduction)
    true, lse2 = SigmoidStats.apply(logits, labels)
    s_y = torch.sigmoid(true)
    s_norm = torch.exp(0.5 * lse2)
    loss = -s_y / (1.0 + s_norm - s_y)
    return _reduce(loss, reduction, sample_weight)


# ---------------------------------------------------------------------------------
# Sect. 4: known objectives that satisfy the PoLS


@old_weight_keyword
def self_normalization(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    alpha: float = 0.1,
    sample_weight: torch.Tensor | None = None,
    reduction: str = "mean",
    impl: str = "auto",
) -> torch.Tensor:
    r"""Self-normalization loss: cross-entropy plus ``α`` times the squared log-partition (Sect. 4.1).

    .. math::

        \ell(z, y) = -\log p_y + \alpha \log^2\Bigl(\sum_{j=1}^K e^{z_j}\Bigr)
          = \mathrm{lse}(z) - z_y + \alpha\, \mathrm{lse}(z)^2

    The second term is minimal when the partition function is 1, so the true logit
    converges to 0 and the false ones to −∞: aligned with the PoLS (Appendix A).

    Args:
        logits: ``[..., K]`` logits, floating, ``K >= 2``.
        labels: ``[...]`` integer class indices.
        alpha: weight ``α > 0`` of the normalization term (Devlin et al. used 0.1).
        sample_weight: optional per-example weights ``[...]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        impl: ``'auto'`` (the fused kernel of :mod:`losslab.kernels` for float32/float64 on CPU,
            any floating dtype on CUDA with Triton; else the reference), ``'reference'`` or
            ``'fused'`` (the kernel, or a ``ValueError`` saying why it cannot run).

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> z, y = torch.log(torch.tensor([[0.7, 0.2, 0.1]])), torch.tensor([0])   # Σ e^z = 1
        >>> torch.allclose(ll.self_normalization(z, y), -torch.log(torch.tensor(0.7)))
        True

    Reference: Devlin et al., 2014; Keren, Sabato & Schuller, 2019, Sect. 4.1.
    """
    _check_logits_labels(logits, labels)
    alpha = check_positive("alpha", alpha)
    check_hyper_magnitude("alpha", alpha, logits)
    check_reduction(reduction)
    if kernels.use_fused("self_normalization", impl, logits, None)[0]:
        return _reduce(kernels.self_normalization(logits, labels, alpha), reduction, sample_weight)
    lse = torch.logsumexp(logits, -1)
    loss = lse - _true_logit(logits, labels) + alpha * lse.square()
    return _reduce(loss, reduction, sample_weight)


def _check_noise(noise, K: int, like: torch.Tensor) -> torch.Tensor:
    if noise is None:
        return torch.full((K,), 1.0 / K, dtype=like.dtype, device=like.device)
    check_tensor("noise", noise)
    if not noise.is_floating_point():
        raise TypeError(f"noise must be a floating tensor of class probabilities, got dtype {noise.dtype}")
    if noise.shape != (K,):
        raise ValueError(f"noise must be a distribution over the K={K} classes, shape ({K},); got {tuple(noise.shape)}")
    if value_checks_enabled(noise):
        if not bool(torch.isfinite(noise).all()) or bool((noise < 0).any()):
            raise ValueError(f"noise must be finite and non-negative; got {noise.tolist()}")
        total = float(noise.detach().double().sum())
        if abs(total - 1.0) > 1e-4:
            raise ValueError(f"noise must sum to one (a distribution q over classes); it sums to {total:.6g}")
    return noise.to(like.dtype)


@old_weight_keyword
def nce(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    num_noise: int = 10,
    noise: torch.Tensor | None = None,
    mode: str = "expectation",
    noise_samples: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    sample_weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Noise-contrastive estimation loss of Mnih & Teh in the seed's notation (eq. 8).

    .. math::

        \ell(z, y) = -\log g_y - t\, \mathbb{E}_{j\sim q}\bigl[\log(1 - g_j)\bigr],
        \qquad g_j = \bigl(1 + t\, q(j)\, e^{-z_j}\bigr)^{-1} = \sigma\bigl(z_j - \log(t\, q(j))\bigr)

    computed as ``softplus(−(z_y − log t q_y)) + t Σ_j q_j softplus(z_j − log t q_j)``
    (``mode='expectation'``, exact; classes with ``q_j = 0`` contribute nothing) or, with
    ``mode='sample'``, the Monte-Carlo estimate of the paper: the expectation replaced by the
    sum over ``t`` draws ``j_1..j_t ~ q`` (i.i.d. per example; ``noise_samples`` gives them
    explicitly, else they are drawn with ``generator``). Aligned with the PoLS (Appendix B).

    Args:
        logits: ``[..., K]`` logits, floating, ``K >= 2``.
        labels: ``[...]`` integer class indices.
        num_noise: ``t``, the number of noise samples per example (integer ``>= 1``).
        noise: the noise distribution ``q`` over classes, ``[K]`` summing to one; default uniform.
        mode: ``'expectation'`` (exact) | ``'sample'`` (Monte-Carlo, as in training).
        noise_samples: optional integer ``[..., t]`` class indices drawn from ``q`` (sample mode).
        generator: ``torch.Generator`` for drawing noise samples in sample mode.
        sample_weight: optional per-example weights ``[...]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> z, y = torch.tensor([[2.0, -1.0, 0.5]]), torch.tensor([0])
        >>> exact = ll.nce(z, y, num_noise=3)                  # t·q(j) = 1: g_j = σ(z_j)
        >>> ref = torch.nn.functional.softplus(-z[0, 0]) + torch.nn.functional.softplus(z).sum()
        >>> torch.allclose(exact, ref)
        True
        >>> g = torch.Generator().manual_seed(0)
        >>> mc = ll.nce(z.expand(20000, 3), y.expand(20000), num_noise=3, mode="sample", generator=g)
        >>> abs(mc - exact).item() < 0.05
        True

    Reference: Mnih & Teh, 2012; Keren, Sabato & Schuller, 2019, eq. (8).
    """
    logits, noise = promote_floating(logits, noise)
    K = _check_logits_labels(logits, labels)
    if isinstance(num_noise, bool) or not isinstance(num_noise, int) or num_noise < 1:
        raise ValueError(f"num_noise (t) must be an integer >= 1; got {num_noise!r}")
    if mode not in ("expectation", "sample"):
        raise ValueError(f"mode must be 'expectation' or 'sample'; got {mode!r}")
    check_reduction(reduction)
    q = _check_noise(noise, K, logits)
    t = float(num_noise)
    if noise is None and mode == "expectation" and noise_samples is None:
        # Uniform noise: log(t·q_j) = log(t/K) is one number and every class is positive, so
        # no [K] masks, no where and no per-class weight: (t/K)·Σ_j softplus(z_j − log(t/K)).
        c = math.log(t / K)
        data_term = F.softplus(c - _true_logit(logits, labels))
        return _reduce(data_term + (t / K) * F.softplus(logits - c).sum(-1), reduction, sample_weight)
    # log(t·q_j), with q_j = 0 mapped to a finite placeholder: such classes are masked
    # out of the expectation, and a zero-probability true class gives g_y = 1 exactly.
    positive = q > 0
    log_tq = torch.where(positive, torch.log(t * q.clamp_min(torch.finfo(q.dtype).tiny)), torch.zeros_like(q))
    true = _true_logit(logits, labels)
    true_pos = positive[labels]
    data_term = torch.where(true_pos, F.softplus(-(true - log_tq[labels])), torch.zeros_like(true))
    if mode == "expectation":
        if noise_samples is not None:
            raise ValueError("noise_samples are only used with mode='sample'")
        per_class = torch.where(positive, q * F.softplus(logits - log_tq), torch.zeros_like(logits))
        noise_term = t * per_class.sum(-1)
    else:
        if noise_samples is None:
            # Zero-probability classes are never drawn by multinomial.
            n = labels.numel() * num_noise
            flat = (
                torch.multinomial(q.detach().double(), n, replacement=True, generator=generator)
                if n
                else torch.zeros(0, dtype=torch.long, device=logits.device)
            )
            noise_samples = flat.reshape(tuple(labels.shape) + (num_noise,))
        else:
            check_integer("noise_samples", noise_samples)
            if noise_samples.shape != tuple(labels.shape) + (num_noise,):
                raise ValueError(
                    f"noise_samples must have shape {tuple(labels.shape) + (num_noise,)} (labels' shape + (t,)); "
                    f"got {tuple(noise_samples.shape)}"
                )
            check_class_indices("noise_samples", noise_samples, K)
            if value_checks_enabled(noise_samples) and noise_samples.numel():
                bad = ~positive[noise_samples]
                if bool(bad.any()):
                    j = int(noise_samples[bad].flatten()[0])
                    raise ValueError(f"noise_samples contains class {j}, where the noise distribution q is 0")
        z_s = logits.gather(-1, noise_samples)
        noise_term = F.softplus(z_s - log_tq[noise_samples]).sum(-1)
    return _reduce(data_term + noise_term, reduction, sample_weight)


@old_weight_keyword
def binary_cross_entropy(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    sample_weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""One-vs-all binary cross-entropy from integer labels (seed 001, Sect. 4.3).

    .. math::

        \ell(z, y) = -\log\sigma(z_y) - \sum_{j \ne y} \log\bigl(1 - \sigma(z_j)\bigr)
          = \mathrm{softplus}(-z_y) + \sum_{j\ne y} \mathrm{softplus}(z_j)

    (The extracted seed prints ``+ Σ log(1 − σ(z_j))``; the sign is a typo, re-derived
    from its multilabel form with ``r_j = 1[j = y]``.) Summed over classes, not averaged
    -- ``F.binary_cross_entropy_with_logits(z, one_hot(y)) · K`` per example. Aligned with
    the PoLS (Appendix C).

    Args:
        logits: ``[..., K]`` logits, floating, ``K >= 2``.
        labels: ``[...]`` integer class indices (not one-hot).
        sample_weight: optional per-example weights ``[...]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> z, y = torch.tensor([[2.0, -1.0, 0.5]]), torch.tensor([0])
        >>> r = torch.nn.functional.one_hot(y, 3).float()
        >>> torch.allclose(ll.binary_cross_entropy(z, y, reduction="sum"),
        ...                torch.nn.functional.binary_cross_entropy_with_logits(z, r, reduction="sum"))
        True

    Reference: Keren, Sabato & Schuller, 2019, Sect. 4.3.
    """
    _check_logits_labels(logits, labels)
    check_reduction(reduction)
    # softplus(z_j) for every j, with the true class's replaced by softplus(−z_y):
    # softplus(−z) = softplus(z) − z, so subtract z_y once.
    loss = F.softplus(logits).sum(-1) - _true_logit(logits, labels)
    return _reduce(loss, reduction, sample_weight)


# ---------------------------------------------------------------------------------
# Sect. 5: the batch losses


@old_weight_keyword
def batch_cross_entropy(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    sample_weight: None = None,
    reduction: str = "mean",
    impl: str = "auto",
) -> torch.Tensor:
    r"""Batch cross-entropy: KL between the batch's label distribution and a softmax over the whole ``B×K`` batch (Definition 2).

    .. math::

        L_c(B) = \mathrm{KL}(P_B \,\Vert\, Q_B), \quad P_B(i, j) = \tfrac1m 1[j = y_i], \quad
        Q_B(i, j) = \frac{e^{z_j(x_i)}}{\sum_{i'=1}^m \sum_{j'=1}^K e^{z_{j'}(x_{i'})}}

    so that ``L_c(B) = (1/m) Σ_i ℓ_i`` with the per-example KL terms
    ``ℓ_i = −log(m · Q_B(i, y_i)) = lse(z_{all}) − z_{y_i}(x_i) − log m``.
    ``reduction='mean'`` returns ``L_c(B)`` itself (minimum 0), ``'sum'`` returns
    ``m · L_c(B)``, ``'none'`` the terms ``ℓ_i`` (each depends on the whole batch and may
    be negative). The expectation over random batches in Definition 2 is the training
    loop's. Aligned with the PoLS (Appendix D): all true logits converge to a common
    value and the false ones to −∞.

    Args:
        logits: ``[B, K]`` logits of one batch, ``B > 1`` (no leading batch dims).
        labels: ``[B]`` integer class indices.
        sample_weight: not supported (must be ``None``): the batch distribution couples examples.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        impl: ``'auto'`` (the fused kernel of :mod:`losslab.kernels`: one pass for the global
            log-sum-exp, one for the gradient; float32/float64 on CPU, any floating dtype on CUDA
            with Triton; else the reference), ``'reference'`` or ``'fused'`` (the kernel, or a
            ``ValueError`` saying why it cannot run).

    Returns:
        ``[B]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> z = torch.tensor([[0.0, -30.0], [-30.0, 0.0]])      # true logits equal, false ones tiny
        >>> ll.batch_cross_entropy(z, torch.tensor([0, 1])).abs().item() < 1e-12
        True

    Reference: Keren, Sabato & Schuller, 2019, Definition 2.
    """
    _check_logits_labels(logits, labels, batch=True, name="batch_cross_entropy")
    _no_weight("batch_cross_entropy", sample_weight)
    check_reduction(reduction)
    if kernels.use_fused("batch_cross_entropy", impl, logits, None)[0]:
        return _reduce(kernels.batch_cross_entropy(logits, labels), reduction)
    m = logits.shape[0]
    log_z = torch.logsumexp(logits.reshape(-1), 0)
    loss = log_z - _true_logit(logits, labels) - math.log(m)
    return _reduce(loss, reduction)


@old_weight_keyword
def batch_max_margin(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    margin: float = 1.0,
    sample_weight: None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Batch max-margin: a hinge between the batch's smallest true and largest false logit, plus the per-example hinge (Definition 3).

    .. math::

        L_m(B) = \frac1m \max\bigl(0,\ \gamma - z^B_+ + z^B_-\bigr) + \frac1m \sum_{(x,y)\in B} \ell(z(x), y),
        \quad z^B_+ = \min_{(x,y)\in B} z_y(x), \quad z^B_- = \max_{(x,y)\in B,\, j\ne y} z_j(x)

    with ``ℓ`` the max-margin loss of eq. (2) (:func:`max_margin`). ``reduction='mean'``
    returns ``L_m(B)``, ``'sum'`` returns ``m · L_m(B)``; there is no per-example
    ``'none'`` form (the batch term belongs to no single example). Aligned with the PoLS
    (Appendix D): ``L_m < γ/m`` implies every true logit exceeds every false one.

    Args:
        logits: ``[B, K]`` logits of one batch, ``B > 1``.
        labels: ``[B]`` integer class indices.
        margin: ``γ > 0``.
        sample_weight: not supported (must be ``None``).
        reduction: ``'mean'`` | ``'sum'``.

    Returns:
        A scalar.

    Example:
        >>> import torch, losslab as ll
        >>> z, y = torch.tensor([[2.0, 1.0], [-2.0, -1.0]]), torch.tensor([0, 1])
        >>> ll.max_margin(z, y), ll.batch_max_margin(z, y)     # 0 per example, but not separated
        (tensor(0.), tensor(1.5000))

    Reference: Keren, Sabato & Schuller, 2019, Definition 3.
    """
    _check_logits_labels(logits, labels, batch=True, name="batch_max_margin")
    gamma = check_positive("margin", margin)
    check_hyper_magnitude("margin", gamma, logits)
    _no_weight("batch_max_margin", sample_weight)
    check_reduction(reduction)
    if reduction == "none":
        raise ValueError(
            "batch_max_margin has no per-example form (its batch term belongs to no single example); "
            "reduction must be 'mean' or 'sum', got 'none'"
        )
    m = logits.shape[0]
    true, worst_false, ties = TrueAndWorstFalse.apply(logits, labels, True)
    z_plus = true.amin()
    # the batch's largest false logit; its gradient is shared by every tied false entry
    z_minus = tied_max(worst_false, ties)
    batch_term = torch.clamp_min(gamma - z_plus + z_minus, 0.0)
    per_example = torch.clamp_min(gamma - true + worst_false, 0.0)
    total = batch_term + per_example.sum()
    return total / m if reduction == "mean" else total


# ---------------------------------------------------------------------------------
# Registry specs


def _sample_fn(K: int = 4, kwargs: dict | None = None, scale: float = 2.0, batch: bool = False):
    def sample(batch_shape, *, dtype, generator):
        shape = tuple(batch_shape)
        if batch:
            shape = (max(2, math.prod(shape)),)
        logits = registry.randn(shape + (K,), dtype=dtype, generator=generator, scale=scale)
        labels = registry.randint(K, shape, generator=generator)
        return registry.Sample((logits, labels), dict(kwargs or {}), grad_argnums=(0,), none_shape=shape)

    return sample


def _extremes_fn(kwargs: dict | None = None):
    def extremes(dtype):
        logits = torch.tensor(
            [
                [1e4, -1e4, 0.0, 1e4],
                [-1e4, -1e4, -1e4, -1e4],
                [1e4, 1e4, 1e4, 1e4],
                [-1e4, 1e4, 30.0, -30.0],
                [0.0, -1e4, -1e4, -1e4],
            ],
            dtype=dtype,
        )
        labels = torch.tensor([0, 2, 3, 0, 0])
        return [registry.Sample((logits, labels), dict(kwargs or {}), grad_argnums=(0,), none_shape=(5,))]

    return extremes


def _register() -> None:
    domain = "logits: [..., K] real (K >= 2); labels: [...] integer in [0, K)"
    batch_domain = "logits: [B, K] real, B > 1, K >= 2; labels: [B] integer in [0, K)"
    common = dict(family="single_logit", extremes=_extremes_fn())
    per_example = [
        ("max_margin", max_margin, {"margin": 1.0}, "eq. (2); not PoLS-aligned. Piecewise linear: gradcheck on random inputs away from kinks."),
        ("softmax_cauchy_schwarz", softmax_cauchy_schwarz, {}, "eq. (4); not PoLS-aligned."),
        ("sigmoid_cauchy_schwarz", sigmoid_cauchy_schwarz, {}, "eq. (5); not PoLS-aligned."),
        ("softmax_tanimoto", softmax_tanimoto, {}, "eq. (7); minimum -1; not PoLS-aligned."),
        ("sigmoid_tanimoto", sigmoid_tanimoto, {}, "eq. (9); minimum -1; PoLS-aligned."),
        ("self_normalization", self_normalization, {"alpha": 0.5}, "Sect. 4.1; PoLS-aligned."),
        ("nce", nce, {"num_noise": 3, "noise": None}, "eq. (8), exact expectation; PoLS-aligned."),
        ("binary_cross_entropy", binary_cross_entropy, {}, "Sect. 4.3, one-vs-all from integer labels; PoLS-aligned."),
    ]
    for name, fn, kw, notes in per_example:
        registry.register(
            registry.LossSpec(
                name=name,
                fn=fn,
                domain=domain,
                sample=_sample_fn(kwargs=kw),
                notes=notes,
                **{**common, "extremes": _extremes_fn(kw)},
            )
        )
    registry.register(
        registry.LossSpec(
            name="batch_cross_entropy",
            fn=batch_cross_entropy,
            domain=batch_domain,
            sample=_sample_fn(batch=True),
            supports_weight=False,
            leading_batch_dims=False,
            compile_smoke=False,
            extreme_dtypes=(torch.float32, torch.bfloat16),
            notes="Definition 2; 'mean' is L_c(B), 'none' the per-example KL terms; PoLS-aligned.",
            **common,
        )
    )
    registry.register(
        registry.LossSpec(
            name="batch_max_margin",
            fn=batch_max_margin,
            domain=batch_domain,
            sample=_sample_fn(kwargs={"margin": 1.0}, batch=True),
            supports_weight=False,
            leading_batch_dims=False,
            reductions=("mean", "sum"),
            notes="Definition 3; 'mean' is L_m(B); no 'none' form; PoLS-aligned.",
            **{**common, "extremes": _extremes_fn({"margin": 1.0})},
        )
    )


_register()
