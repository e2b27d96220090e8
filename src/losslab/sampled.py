"""Large-K softmax approximations (seed 003: sampled / approximate softmax).

Every loss here takes the *output layer* rather than its logits:
``(hidden [B, d], out_weight [K, d], out_bias [K] or None, labels [B])``, and
never forms the ``[B, K]`` logit matrix. The logit of class ``j`` for example
``i`` is ``s_ij = hidden_i · out_weight_j + out_bias_j``; only the true logits
``s_{i,y_i}`` and those of a sampled candidate set are computed, so one step
costs ``O(B (S + 1) d)`` instead of ``O(B K d)``.

(The class-weight matrix is called ``out_weight`` so that it is not confused with
PyTorch's ``weight=`` (class weights) or losslab's ``sample_weight=`` (per-example weights).)

Negatives are drawn from a *proposal* ``q`` over the ``K`` classes, shared by the
batch (one draw of ``S`` classes per call, as in Jean et al. 2015):

* ``"uniform"``      ``q_k = 1/K``;
* ``"log_uniform"``  Zipf, ``q_k = log((k+2)/(k+1)) / log(K+1)`` (classes sorted by
  decreasing frequency), sampled by inverting its CDF in ``O(S)``;
* ``"unigram"``      ``q_k ∝ counts_k ** power`` (``power=0.75`` is Mikolov's choice);
* a probability tensor ``[K]`` (strictly positive, summing to one).

The randomness is in the sample set only: for a fixed set (``sampled=`` given,
or the same seeded ``generator``) each loss is a deterministic, differentiable
function of ``hidden``, ``out_weight`` and ``out_bias``.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from . import registry
from ._reduce import _reduce
from ._validate import check_class_indices, check_floating, check_integer, check_reduction, value_checks_enabled
from ._validate import check_bool, check_finite_scalar, old_weight_keyword, promote_floating

__all__ = [
    "sample_candidates",
    "proposal_log_prob",
    "log_uniform_probs",
    "estimate_partition",
    "sampled_softmax_loss",
    "importance_sampling_loss",
    "negative_sampling_loss",
    "sampled_nce_loss",
    "in_batch_negatives_loss",
]

PROPOSALS = ("uniform", "log_uniform", "unigram")


# ---------------------------------------------------------------------------------
# Validation


def _check_layer(hidden, out_weight, out_bias, labels) -> tuple[int, int]:
    check_floating("hidden", hidden)
    check_floating("out_weight", out_weight)
    if hidden.dim() != 2:
        raise ValueError(f"hidden must have shape [B, d]; got shape {tuple(hidden.shape)}")
    if out_weight.dim() != 2:
        raise ValueError(f"out_weight must have shape [K, d]; got shape {tuple(out_weight.shape)}")
    K, d = out_weight.shape
    if d != hidden.shape[1]:
        raise ValueError(
            f"out_weight's d must match hidden's d; got out_weight {tuple(out_weight.shape)} and hidden {tuple(hidden.shape)}"
        )
    if out_bias is not None:
        check_floating("out_bias", out_bias)
        if tuple(out_bias.shape) != (K,):
            raise ValueError(f"out_bias must have shape [K]=({K},) or be None; got {tuple(out_bias.shape)}")
    check_integer("labels", labels)
    if tuple(labels.shape) != (hidden.shape[0],):
        raise ValueError(f"labels must have shape [B]=({hidden.shape[0]},); got {tuple(labels.shape)}")
    check_class_indices("labels", labels, K)
    return K, d


def _check_num_sampled(num_sampled, K: int) -> int:
    if isinstance(num_sampled, bool) or not isinstance(num_sampled, int):
        raise TypeError(f"num_sampled must be an int, got {num_sampled!r}")
    if not 1 <= num_sampled < K:
        raise ValueError(f"num_sampled must lie in [1, K) = [1, {K}); got {num_sampled}")
    return num_sampled


def _proposal_probs(proposal, K: int, counts, power: float, dtype, device) -> torch.Tensor | None:
    """The proposal as a [K] probability tensor; None for the closed-form ones."""
    if isinstance(proposal, torch.Tensor):
        check_floating("proposal", proposal)
        if tuple(proposal.shape) != (K,):
            raise ValueError(f"proposal must have shape [K]=({K},); got {tuple(proposal.shape)}")
        if value_checks_enabled(proposal):
            if not bool(torch.isfinite(proposal).all()) or bool((proposal <= 0).any()):
                bad = int(torch.nonzero(~(torch.isfinite(proposal) & (proposal > 0)))[0])
                raise ValueError(
                    f"proposal must be finite and strictly positive (every class must be reachable); "
                    f"class {bad} has probability {proposal[bad].item()!r}"
                )
            total = float(proposal.detach().double().sum())
            if abs(total - 1.0) > 1e-4:
                raise ValueError(f"proposal must sum to 1; got a sum of {total:.6g}")
        return proposal
    if proposal not in PROPOSALS:
        raise ValueError(f"proposal must be one of {PROPOSALS} or a probability tensor [K]; got {proposal!r}")
    if proposal == "unigram":
        if counts is None:
            raise ValueError("proposal='unigram' needs counts (a [K] tensor of class frequencies)")
        if not isinstance(counts, torch.Tensor) or tuple(counts.shape) != (K,):
            shape = tuple(counts.shape) if isinstance(counts, torch.Tensor) else type(counts).__name__
            raise ValueError(f"counts must be a [K]=({K},) tensor; got {shape}")
        c = counts.to(torch.float64)
        if value_checks_enabled(counts) and (not bool(torch.isfinite(c).all()) or bool((c <= 0).any())):
            bad = int(torch.nonzero(~(torch.isfinite(c) & (c > 0)))[0])
            raise ValueError(
                f"counts must be finite and strictly positive (a zero count gives a zero proposal "
                f"probability; smooth it, e.g. counts + 1); class {bad} has count {c[bad].item()!r}"
            )
        q = c.pow(float(power))
        return (q / q.sum()).to(dtype=dtype, device=device)
    if counts is not None:
        raise ValueError(f"counts is only used with proposal='unigram'; got proposal={proposal!r}")
    return None


def log_uniform_probs(num_classes: int, dtype=torch.float64) -> torch.Tensor:
    """The log-uniform (Zipf) proposal ``q_k = log((k+2)/(k+1)) / log(K+1)``, ``k = 0..K-1``.

    Example:
        >>> import losslab as ll
        >>> q = ll.log_uniform_probs(4)
        >>> round(float(q.sum()), 6), bool((q[:-1] > q[1:]).all())
        (1.0, True)
    """
    k = torch.arange(num_classes, dtype=dtype)
    return torch.log1p(1.0 / (k + 1.0)) / math.log(num_classes + 1.0)


def proposal_log_prob(classes: torch.Tensor, num_classes: int, proposal="uniform", *, counts=None, power: float = 1.0,
                      dtype=torch.float32) -> torch.Tensor:
    """``log q(classes)`` under ``proposal`` (see the module docstring), same shape as ``classes``.

    Example:
        >>> import torch, losslab as ll
        >>> ll.proposal_log_prob(torch.tensor([0, 1]), 3, "log_uniform", dtype=torch.float64).exp()
        tensor([0.5000, 0.2925], dtype=torch.float64)
    """
    q = _proposal_probs(proposal, num_classes, counts, power, dtype, classes.device)
    return _log_q(classes, num_classes, proposal, q, dtype)


def _log_q(classes, K, proposal, q, dtype):
    if q is not None:
        return torch.log(q[classes]).to(dtype)
    if proposal == "uniform":
        return torch.full(classes.shape, -math.log(K), dtype=dtype, device=classes.device)
    k = classes.to(torch.float64)
    return (torch.log(torch.log1p(1.0 / (k + 1.0))) - math.log(math.log(K + 1.0))).to(dtype)


def _as_generator(generator):
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, int) and not isinstance(generator, bool):
        return torch.Generator().manual_seed(generator)
    raise TypeError(f"generator must be a torch.Generator, an int seed or None; got {generator!r}")


def sample_candidates(num_classes: int, num_sampled: int, proposal="uniform", *, counts=None, power: float = 1.0,
                      replacement: bool = True, generator=None, device=None) -> torch.Tensor:
    """Draw ``num_sampled`` class indices ``[S]`` from ``proposal``.

    Uniform and log-uniform draws cost ``O(S)`` (``randint``; inverse CDF
    ``k = ⌊(K+1)^u⌋ − 1``); unigram and tensor proposals use ``torch.multinomial``.
    ``generator`` may be a ``torch.Generator`` or an int seed (a fresh generator per call).

    Example:
        >>> import losslab as ll
        >>> idx = ll.sample_candidates(10, 4, "log_uniform", generator=0)
        >>> idx.shape, bool((idx >= 0).all() and (idx < 10).all())
        (torch.Size([4]), True)
    """
    K = int(num_classes)
    S = _check_num_sampled(num_sampled, K)
    g = _as_generator(generator)
    _check_options(power, replacement=replacement)
    q = _proposal_probs(proposal, K, counts, power, torch.float64, device)
    if q is not None:
        return torch.multinomial(q.double(), S, replacement=replacement, generator=g)
    if not replacement:
        if proposal == "uniform":
            return torch.randperm(K, generator=g, device=device)[:S]
        return torch.multinomial(log_uniform_probs(K), S, replacement=False, generator=g)
    if proposal == "uniform":
        return torch.randint(0, K, (S,), generator=g, device=device)
    u = torch.rand(S, generator=g, dtype=torch.float64, device=device)
    return (torch.exp(u * math.log(K + 1.0)).floor().long() - 1).clamp_(0, K - 1)


# ---------------------------------------------------------------------------------
# Shared pieces


def _rows(out_weight, idx, sparse_grad=False):
    # F.embedding(sparse=True) makes out_weight.grad a sparse [K, d] tensor touching only
    # the gathered rows; index_select's backward writes a dense [K, d] zero-filled grad.
    if sparse_grad:
        return F.embedding(idx, out_weight, sparse=True)
    return out_weight.index_select(0, idx.reshape(-1)).reshape(idx.shape + (out_weight.shape[1],))


def _true_logits(hidden, out_weight, out_bias, labels, sparse_grad=False):
    s = (hidden * _rows(out_weight, labels, sparse_grad)).sum(-1)
    if out_bias is not None:
        s = s + out_bias.index_select(0, labels)
    return s


def _candidate_logits(hidden, out_weight, out_bias, idx, sparse_grad=False):
    """Logits of candidate classes: idx [S] (shared) -> [B, S]; idx [B, S] (per example) -> [B, S]."""
    if idx.dim() == 1:
        s = hidden @ _rows(out_weight, idx, sparse_grad).T
        if out_bias is not None:
            s = s + out_bias.index_select(0, idx)
        return s
    w = _rows(out_weight, idx, sparse_grad)
    s = torch.einsum("bd,bsd->bs", hidden, w)
    if out_bias is not None:
        s = s + out_bias.index_select(0, idx.reshape(-1)).reshape(idx.shape)
    return s


def _candidates(hidden, K, labels, num_sampled, proposal, counts, power, replacement, generator, sampled):
    """The negative set ``[S]`` or ``[B, S]``, its ``log q`` and ``S``."""
    q = _proposal_probs(proposal, K, counts, power, hidden.dtype, hidden.device)
    if sampled is not None:
        check_integer("sampled", sampled)
        if sampled.dim() not in (1, 2) or (sampled.dim() == 2 and sampled.shape[0] != hidden.shape[0]) or sampled.shape[-1] == 0:
            raise ValueError(f"sampled must have shape [S] or [B, S] with B={hidden.shape[0]}, S >= 1; got {tuple(sampled.shape)}")
        check_class_indices("sampled", sampled, K)
        idx = sampled.to(hidden.device)
    else:
        if num_sampled is None:
            raise ValueError("num_sampled is required unless an explicit sampled= set is given")
        idx = sample_candidates(K, num_sampled, proposal if q is None else q, replacement=replacement,
                                generator=generator, device=hidden.device)
    log_q = _log_q(idx, K, proposal, q, hidden.dtype)
    return idx, log_q, idx.shape[-1]


def _hits(idx, labels):
    """[B, S] mask of candidates equal to the row's label (accidental hits)."""
    if idx.dim() == 1:
        return idx.unsqueeze(0) == labels.unsqueeze(1)
    return idx == labels.unsqueeze(1)


def _finish(loss, reduction, sample_weight):
    return _reduce(loss, reduction, sample_weight)


# ---------------------------------------------------------------------------------
# The losses


@old_weight_keyword
def sampled_softmax_loss(hidden, out_weight, out_bias, labels, *, num_sampled=None, proposal="uniform", counts=None,
                         power: float = 1.0, remove_accidental_hits: bool = True, logq_correction: bool = True,
                         replacement: bool = True, generator=None, sampled=None, sparse_grad: bool = False, sample_weight=None,
                         reduction="mean"):
    r"""Sampled softmax cross-entropy (Jean et al. 2015; Bengio & Senécal 2008).

    The full softmax's partition function is replaced by the true class plus an
    importance-weighted sum over ``S`` sampled negatives ``n_1..n_S ~ q``:

    .. math::
        \ell = -s_y + \log\Big(e^{s_y} + \sum_{i:\,n_i \ne y} e^{\,s_{n_i} - \log(S\,q_{n_i})}\Big)

    (seed 003, sampled softmax). With ``logq_correction`` the sum is an unbiased
    estimate of :math:`\sum_{j\ne y} e^{s_j}` (draws with replacement, or uniform
    without), so :math:`e^{\ell + s_y}` is unbiased for the partition function
    ``Z``; the loss itself is biased upward by Jensen (seed 003's bias–variance
    decomposition: the bias shrinks as ``S`` grows). ``remove_accidental_hits``
    drops negatives equal to the label. With every class a candidate
    (``sampled=torch.arange(K)`` and a uniform proposal, or a per-example set of
    all non-label classes and ``logq_correction=False``) it equals full cross-entropy.

    Args:
        hidden: ``[B, d]`` final hidden states.
        out_weight: ``[K, d]`` output class embeddings.
        out_bias: ``[K]`` output bias, or ``None``.
        labels: ``[B]`` integer class indices in ``[0, K)``.
        num_sampled: ``S``, in ``[1, K)``; not needed when ``sampled`` is given.
        proposal: ``"uniform"``, ``"log_uniform"``, ``"unigram"`` or a ``[K]`` probability tensor.
        counts: ``[K]`` positive class counts for ``"unigram"`` (``q ∝ counts**power``).
        power: exponent of the unigram proposal.
        remove_accidental_hits: mask negatives that equal the row's label.
        logq_correction: subtract ``log(S q_j)`` from the negatives' logits.
        replacement: draw with replacement (default) or without.
        generator: a ``torch.Generator`` or an int seed for the draw.
        sampled: an explicit negative set, ``[S]`` (shared) or ``[B, S]`` (per example), overriding the draw.
        sparse_grad: make ``out_weight.grad`` sparse (only the gathered rows; use with
            ``torch.optim.SGD``/``SparseAdam``) instead of a dense zero-filled ``[K, d]``.
        sample_weight: ``[B]`` per-example weights.
        reduction: ``'none' | 'mean' | 'sum'``.

    Returns:
        ``[B]`` for ``reduction='none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll, torch.nn.functional as F
        >>> g = torch.Generator().manual_seed(0)
        >>> h, W, b = torch.randn(4, 3, generator=g), torch.randn(6, 3, generator=g), torch.randn(6, generator=g)
        >>> y = torch.tensor([0, 5, 2, 2])
        >>> full = F.cross_entropy(h @ W.T + b, y)
        >>> torch.allclose(ll.sampled_softmax_loss(h, W, b, y, sampled=torch.arange(6)), full)   # all classes, uniform q
        True
        >>> ll.sampled_softmax_loss(h, W, b, y, num_sampled=3, generator=0).shape
        torch.Size([])

    Reference:
        Jean, Cho, Memisevic & Bengio (2015), *On Using Very Large Target Vocabulary
        for Neural Machine Translation*; Bengio & Senécal (2008), *Adaptive Importance
        Sampling to Accelerate Training of a Neural Probabilistic Language Model*.
    """
    hidden, out_weight, out_bias, proposal = promote_floating(hidden, out_weight, out_bias, proposal)
    _check_options(power, replacement=replacement, sparse_grad=sparse_grad, remove_accidental_hits=remove_accidental_hits, logq_correction=logq_correction)
    K, _ = _check_layer(hidden, out_weight, out_bias, labels)
    check_reduction(reduction)
    idx, log_q, S = _candidates(hidden, K, labels, num_sampled, proposal, counts, power, replacement, generator, sampled)
    s_true = _true_logits(hidden, out_weight, out_bias, labels, sparse_grad)
    s_neg = _candidate_logits(hidden, out_weight, out_bias, idx, sparse_grad)
    if logq_correction:
        s_neg = s_neg - (log_q + math.log(S))
    if remove_accidental_hits:
        s_neg = s_neg.masked_fill(_hits(idx, labels), float("-inf"))
    logits = torch.cat([s_true.unsqueeze(1), s_neg], dim=1)
    loss = torch.logsumexp(logits, dim=1) - s_true
    return _finish(loss, reduction, sample_weight)


def estimate_partition(hidden, out_weight, out_bias, *, num_sampled=None, proposal="uniform", counts=None,
                       power: float = 1.0, replacement: bool = True, generator=None, sampled=None) -> torch.Tensor:
    r"""Importance-sampling estimate of the partition function, ``[B]``:

    .. math::
        \hat Z = \frac1S \sum_{i=1}^S \frac{e^{s_{n_i}}}{q_{n_i}}, \qquad \mathbb E_q[\hat Z] = Z = \sum_k e^{s_k}

    (unbiased for draws with replacement, and for uniform draws without).

    Example:
        >>> import torch, losslab as ll
        >>> h, W = torch.zeros(1, 2), torch.zeros(5, 2)
        >>> ll.estimate_partition(h, W, None, num_sampled=3, generator=0)   # all logits 0 -> Z = 5 exactly
        tensor([5.])
    """
    check_floating("hidden", hidden)
    if hidden.dim() != 2:
        raise ValueError(f"hidden must have shape [B, d]; got shape {tuple(hidden.shape)}")
    dummy = torch.zeros(hidden.shape[0], dtype=torch.long, device=hidden.device)
    hidden, out_weight, out_bias, proposal = promote_floating(hidden, out_weight, out_bias, proposal)
    _check_options(power, replacement=replacement)
    K, _ = _check_layer(hidden, out_weight, out_bias, dummy)
    idx, log_q, S = _candidates(hidden, K, dummy, num_sampled, proposal, counts, power, replacement, generator, sampled)
    s = _candidate_logits(hidden, out_weight, out_bias, idx) - log_q
    return torch.exp(torch.logsumexp(s, dim=1) - math.log(S))


@old_weight_keyword
def importance_sampling_loss(hidden, out_weight, out_bias, labels, *, num_sampled=None, proposal="uniform", counts=None,
                             power: float = 1.0, replacement: bool = True, generator=None, sampled=None, sparse_grad: bool = False,
                             sample_weight=None, reduction="mean"):
    r"""Self-normalised importance-sampled softmax (Bengio & Senécal 2003, 2008).

    ``log Z`` is replaced by the log of its importance-sampling estimate over
    ``S`` draws from the whole vocabulary (the label may be drawn too; nothing is removed):

    .. math::
        \ell = -s_y + \log \frac1S \sum_{i=1}^S e^{\,s_{n_i} - \log q_{n_i}}

    Its gradient w.r.t. the logits is :math:`-e_y + \sum_i \tilde w_i e_{n_i}` with
    self-normalised weights :math:`\tilde w_i \propto e^{s_{n_i}}/q_{n_i}` -- the
    self-normalised IS estimate of the softmax expectation (biased, consistent as
    ``S → ∞``); :math:`\hat Z` inside the log is unbiased (:func:`estimate_partition`).

    Args:
        hidden, out_weight, out_bias, labels: as in :func:`sampled_softmax_loss`.
        sparse_grad: as in :func:`sampled_softmax_loss`.
        num_sampled, proposal, counts, power, replacement, generator, sampled: the draw,
            as in :func:`sampled_softmax_loss`.
        sample_weight: ``[B]`` per-example weights.
        reduction: ``'none' | 'mean' | 'sum'``.

    Returns:
        ``[B]`` for ``reduction='none'``, else a scalar. May be negative (``Ẑ`` can
        underestimate ``e^{s_y}``).

    Example:
        >>> import torch, losslab as ll
        >>> h, W = torch.zeros(2, 3), torch.zeros(5, 3)
        >>> ll.importance_sampling_loss(h, W, None, torch.tensor([0, 4]), num_sampled=2, generator=0)   # = log 5
        tensor(1.6094)

    Reference:
        Bengio & Senécal (2008), *Adaptive Importance Sampling to Accelerate Training
        of a Neural Probabilistic Language Model*, IEEE TNN.
    """
    hidden, out_weight, out_bias, proposal = promote_floating(hidden, out_weight, out_bias, proposal)
    _check_options(power, replacement=replacement, sparse_grad=sparse_grad)
    K, _ = _check_layer(hidden, out_weight, out_bias, labels)
    check_reduction(reduction)
    idx, log_q, S = _candidates(hidden, K, labels, num_sampled, proposal, counts, power, replacement, generator, sampled)
    s_true = _true_logits(hidden, out_weight, out_bias, labels, sparse_grad)
    s = _candidate_logits(hidden, out_weight, out_bias, idx, sparse_grad) - log_q
    loss = torch.logsumexp(s, dim=1) - math.log(S) - s_true
    return _finish(loss, reduction, sample_weight)


@old_weight_keyword
def negative_sampling_loss(hidden, out_weight, out_bias, labels, *, num_sampled=None, proposal="uniform", counts=None,
                           power: float = 1.0, remove_accidental_hits: bool = True, replacement: bool = True,
                           generator=None, sampled=None, sparse_grad: bool = False, sample_weight=None,
                         reduction="mean"):
    r"""Negative sampling (Mikolov et al. 2013): logistic loss on the label vs ``S`` sampled negatives.

    .. math::
        \ell = -\log\sigma(s_y) - \sum_{i:\, n_i \ne y} \log\sigma(-s_{n_i})

    No ``log q`` correction: this is not a consistent estimator of softmax
    cross-entropy (it fits ``s_j ≈ log(p_j / (S q_j))``), but a cheap objective whose
    argmax ranking is what word2vec uses. Mikolov's proposal is ``"unigram"`` with ``power=0.75``.

    Args:
        hidden, out_weight, out_bias, labels: as in :func:`sampled_softmax_loss`.
        sparse_grad: as in :func:`sampled_softmax_loss`.
        num_sampled, proposal, counts, power, replacement, generator, sampled: the draw.
        remove_accidental_hits: drop negatives equal to the label.
        sample_weight: ``[B]`` per-example weights.
        reduction: ``'none' | 'mean' | 'sum'``.

    Returns:
        ``[B]`` for ``reduction='none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> h, W = torch.zeros(1, 2), torch.zeros(5, 2)
        >>> ll.negative_sampling_loss(h, W, None, torch.tensor([0]), sampled=torch.tensor([1, 2]))   # 3 log 2
        tensor(2.0794)

    Reference:
        Mikolov, Sutskever, Chen, Corrado & Dean (2013), *Distributed Representations
        of Words and Phrases and their Compositionality*.
    """
    hidden, out_weight, out_bias, proposal = promote_floating(hidden, out_weight, out_bias, proposal)
    _check_options(power, replacement=replacement, sparse_grad=sparse_grad, remove_accidental_hits=remove_accidental_hits)
    K, _ = _check_layer(hidden, out_weight, out_bias, labels)
    check_reduction(reduction)
    idx, _log_q, _S = _candidates(hidden, K, labels, num_sampled, proposal, counts, power, replacement, generator, sampled)
    s_true = _true_logits(hidden, out_weight, out_bias, labels, sparse_grad)
    neg = F.softplus(_candidate_logits(hidden, out_weight, out_bias, idx, sparse_grad))  # -log σ(-s)
    if remove_accidental_hits:
        neg = neg.masked_fill(_hits(idx, labels), 0.0)
    loss = F.softplus(-s_true) + neg.sum(1)
    return _finish(loss, reduction, sample_weight)


@old_weight_keyword
def sampled_nce_loss(hidden, out_weight, out_bias, labels, *, num_sampled=None, proposal="uniform", counts=None,
                     power: float = 1.0, remove_accidental_hits: bool = False, replacement: bool = True,
                     generator=None, sampled=None, sparse_grad: bool = False, sample_weight=None,
                         reduction="mean"):
    r"""Noise-contrastive estimation over a large vocabulary (Gutmann & Hyvärinen 2010; Mnih & Teh 2012).

    A logistic classifier tells the data class from ``S`` noise draws, with the
    noise log-odds ``Δ_j = s_j − log(S q_j)`` (the model treated as self-normalised, ``Z = 1``):

    .. math::
        \ell = -\log\sigma(\Delta_y) - \sum_{i=1}^{S} \log\sigma(-\Delta_{n_i}),\qquad \Delta_j = s_j - \log(S\,q_j)

    Its minimiser over unrestricted logits is ``s_j = log p(j|x)`` (NCE's
    consistency), unlike :func:`negative_sampling_loss`. (For seed 001's small-K
    ``nce`` on a logit matrix see ``losslab.nce``.)

    Args:
        hidden, out_weight, out_bias, labels: as in :func:`sampled_softmax_loss`.
        sparse_grad: as in :func:`sampled_softmax_loss`.
        num_sampled, proposal, counts, power, replacement, generator, sampled: the noise draw.
        remove_accidental_hits: drop noise draws equal to the label (off by default:
            NCE's noise may contain the data class).
        sample_weight: ``[B]`` per-example weights.
        reduction: ``'none' | 'mean' | 'sum'``.

    Returns:
        ``[B]`` for ``reduction='none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> h, W = torch.zeros(1, 2), torch.zeros(4, 2)
        >>> round(float(ll.sampled_nce_loss(h, W, None, torch.tensor([0]), sampled=torch.tensor([1, 2, 3, 1]))), 4)   # 5 log 2
        3.4657

    Reference:
        Gutmann & Hyvärinen (2010), *Noise-contrastive estimation*; Mnih & Teh (2012),
        *A fast and simple algorithm for training neural probabilistic language models*.
    """
    hidden, out_weight, out_bias, proposal = promote_floating(hidden, out_weight, out_bias, proposal)
    _check_options(power, replacement=replacement, sparse_grad=sparse_grad, remove_accidental_hits=remove_accidental_hits)
    K, _ = _check_layer(hidden, out_weight, out_bias, labels)
    check_reduction(reduction)
    idx, log_q, S = _candidates(hidden, K, labels, num_sampled, proposal, counts, power, replacement, generator, sampled)
    q = _proposal_probs(proposal, K, counts, power, hidden.dtype, hidden.device)
    log_q_true = _log_q(labels, K, proposal, q, hidden.dtype)
    s_true, d_neg = _label_and_candidate_logits(hidden, out_weight, out_bias, labels, idx, log_q + math.log(S), sparse_grad)
    d_true = s_true - (log_q_true + math.log(S))
    neg = F.softplus(d_neg)
    if remove_accidental_hits:
        neg.masked_fill_(_hits(idx, labels), 0.0)  # softplus's backward needs its input, not this output
    loss = F.softplus(-d_true) + neg.sum(1)
    return _finish(loss, reduction, sample_weight)


@old_weight_keyword
def in_batch_negatives_loss(hidden, out_weight, out_bias, labels, *, proposal=None, counts=None, power: float = 1.0,
                            logq_correction: bool = True, remove_accidental_hits: bool = True,
                            sparse_grad: bool = False, sample_weight=None, reduction="mean"):
    r"""Softmax over the batch's own label classes (in-batch negatives; Yi et al. 2019 logQ correction).

    The candidates of example ``i`` are the labels ``y_1..y_B`` of the batch; a
    class appears in a batch with probability proportional to its frequency, so
    with ``logq_correction`` each candidate's logit is corrected by ``log q_{y_j}``:

    .. math::
        \ell_i = -\tilde s_{i,y_i} + \log \sum_{j \in \mathcal C_i} e^{\tilde s_{i,y_j}},\qquad
        \tilde s_{i,k} = s_{i,k} - \log q_k

    where ``C_i`` holds ``i`` and, with ``remove_accidental_hits``, the ``j`` whose
    label differs from ``y_i`` (duplicates of the label are dropped). ``q`` is
    ``proposal``/``counts`` if given, else the label frequencies in the batch.
    Costs ``O(B² d)``.

    Args:
        hidden, out_weight, out_bias, labels: as in :func:`sampled_softmax_loss`.
        proposal: ``None`` (batch frequencies), a named proposal or a ``[K]`` probability tensor.
        counts, power: for ``proposal="unigram"``.
        logq_correction: subtract ``log q`` of each candidate class.
        remove_accidental_hits: drop other batch entries with the same label.
        sparse_grad: as in :func:`sampled_softmax_loss`.
        sample_weight: ``[B]`` per-example weights.
        reduction: ``'none' | 'mean' | 'sum'``.

    Returns:
        ``[B]`` for ``reduction='none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> h, W = torch.zeros(3, 2), torch.zeros(5, 2)
        >>> ll.in_batch_negatives_loss(h, W, None, torch.tensor([0, 1, 1]), reduction="none")   # log 2, log 3, log 3
        tensor([0.6931, 1.0986, 1.0986])

    Reference:
        Yi et al. (2019), *Sampling-Bias-Corrected Neural Modeling for Large Corpus
        Item Recommendations*, RecSys.
    """
    hidden, out_weight, out_bias, proposal = promote_floating(hidden, out_weight, out_bias, proposal)
    _check_options(power, sparse_grad=sparse_grad, remove_accidental_hits=remove_accidental_hits, logq_correction=logq_correction)
    K, _ = _check_layer(hidden, out_weight, out_bias, labels)
    check_reduction(reduction)
    B = labels.shape[0]
    log_q = None
    if logq_correction:
        if proposal is None:
            if counts is not None:
                raise ValueError("counts needs proposal='unigram'")
            # How often each label occurs in the batch, from the sorted labels in O(B log B):
            # no [B, B] comparison (whose int64 row sums cost a [B, B] int64 copy), no [K]
            # histogram, no device sync.
            srt = labels.sort().values
            freq = torch.searchsorted(srt, labels, right=True) - torch.searchsorted(srt, labels)
            log_q = torch.log(freq.to(hidden.dtype) / B)
        else:
            q = _proposal_probs(proposal, K, counts, power, hidden.dtype, hidden.device)
            log_q = _log_q(labels, K, proposal, q, hidden.dtype)
    # [B, B]: s[i, j] = s̃_{i, y_j}, or -inf where j != i has the label y_i
    s = _in_batch_logits(hidden, out_weight, out_bias, labels, log_q, remove_accidental_hits, sparse_grad)
    # logsumexp_j s[i, j] - s[i, i]; cross_entropy's backward (softmax - one-hot) keeps one [B, B]
    # tensor alive where logsumexp's keeps the logits and builds exp(s - lse) in three passes.
    loss = F.cross_entropy(s, torch.arange(B, device=s.device), reduction="none")
    return _finish(loss, reduction, sample_weight)


# ---------------------------------------------------------------------------------
# Registry specs: a fixed negative set (sampled=) makes every call deterministic, so
# the contract's repeated calls see the same loss; the draw itself is tested in
# tests/test_sampled.py.

_K, _D = 7, 3


def _layer_sample(extra: dict, with_negatives: bool = True):
    def sample(batch_shape, *, dtype, generator):
        B = int(math.prod(batch_shape))
        hidden = registry.randn((B, _D), dtype=dtype, generator=generator)
        W = registry.randn((_K, _D), dtype=dtype, generator=generator)
        b = registry.randn((_K,), dtype=dtype, generator=generator, scale=0.5)
        labels = registry.randint(_K, (B,), generator=generator)
        kw = dict(extra)
        if with_negatives:
            # 5 draws from the log-uniform proposal (with repeats), so hits and corrections are exercised.
            kw["sampled"] = sample_candidates(_K, 5, kw.get("proposal", "uniform"), generator=generator)
        return registry.Sample((hidden, W, b, labels), kw, grad_argnums=(0, 1, 2), batched_argnums=(0, 3), none_shape=(B,))

    return sample


def _layer_extremes(extra: dict, with_negatives: bool = True):
    def extremes(dtype):
        hidden = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4], [0.0, 0.0, 0.0]], dtype=dtype)
        W = torch.tensor([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 1.0], [0.0, -1.0, 0.0],
                          [1.0, 1.0, 1.0], [0.0, 0.0, -1.0], [0.5, -0.5, 0.0]], dtype=dtype)
        b = torch.tensor([1e4, -1e4, 0.0, 0.0, 0.0, 0.0, 0.0], dtype=dtype)
        labels = torch.tensor([1, 0, 2])
        kw = dict(extra)
        if with_negatives:
            kw["sampled"] = torch.tensor([0, 1, 2, 5, 5])
        return [registry.Sample((hidden, W, b, labels), kw, grad_argnums=(0, 1, 2), batched_argnums=(0, 3), none_shape=(3,))]

    return extremes


def _register() -> None:
    common = dict(family="sampled", leading_batch_dims=False)
    registry.register(registry.LossSpec(
        name="sampled_softmax_loss", fn=sampled_softmax_loss,
        domain="hidden [B, d], out_weight [K, d], out_bias [K]|None real; labels [B] in [0, K)",
        sample=_layer_sample({"proposal": "log_uniform"}), extremes=_layer_extremes({"proposal": "log_uniform"}),
        notes="fixed negative set via sampled= in the registry sample", **common))
    registry.register(registry.LossSpec(
        name="importance_sampling_loss", fn=importance_sampling_loss,
        domain="as sampled_softmax_loss", sample=_layer_sample({"proposal": "log_uniform"}),
        extremes=_layer_extremes({"proposal": "log_uniform"}), **common))
    registry.register(registry.LossSpec(
        name="negative_sampling_loss", fn=negative_sampling_loss,
        domain="as sampled_softmax_loss", sample=_layer_sample({}), extremes=_layer_extremes({}), **common))
    registry.register(registry.LossSpec(
        name="sampled_nce_loss", fn=sampled_nce_loss,
        domain="as sampled_softmax_loss", sample=_layer_sample({"proposal": "log_uniform"}),
        extremes=_layer_extremes({"proposal": "log_uniform"}), **common))
    registry.register(registry.LossSpec(
        name="in_batch_negatives_loss", fn=in_batch_negatives_loss,
        domain="as sampled_softmax_loss (candidates are the batch's labels)",
        sample=_layer_sample({}, with_negatives=False), extremes=_layer_extremes({}, with_negatives=False), **common))


_register()


def _check_options(power, **flags) -> None:
    """Type-check the draw options even where this call ignores them (an explicit
    ``sampled=`` set, or a proposal that has no ``power``)."""
    check_finite_scalar("power", power)
    for name, value in flags.items():
        check_bool(name, value)


# ---------------------------------------------------------------------------------
# Fused logits: one [B, S] / [B, B] allocation each, and one gather of out_weight.


def _label_and_candidate_logits(hidden, out_weight, out_bias, labels, idx, shift, sparse_grad=False):
    """``(s_true [B], s_cand [B, S] - shift)`` with ``shift`` ``[S]`` (or ``[B, S]`` for a per-example ``idx``).

    For a shared ``idx [S]`` the label rows and the candidate rows of ``out_weight`` are
    gathered in one ``index_select`` of ``B + S`` rows, so the backward scatters into one
    dense ``[K, d]`` gradient instead of two that autograd then adds; the bias and
    ``-shift`` ride in ``addmm``'s input, so the ``[B, S]`` block is written once.
    """
    if idx.dim() != 1:
        s_true = _true_logits(hidden, out_weight, out_bias, labels, sparse_grad)
        return s_true, _candidate_logits(hidden, out_weight, out_bias, idx, sparse_grad) - shift
    B, S = labels.shape[0], idx.shape[0]
    both = torch.cat([labels, idx.to(labels.dtype)])
    w_true, w_cand = _rows(out_weight, both, sparse_grad).split([B, S])
    s_true = (hidden * w_true).sum(-1)
    c = -shift
    if out_bias is not None:
        b_true, b_cand = out_bias.index_select(0, both).split([B, S])
        s_true = s_true + b_true
        c = b_cand - shift
    return s_true, torch.addmm(c.unsqueeze(0), hidden, w_cand.T)


def _in_batch_logits(hidden, out_weight, out_bias, labels, log_q, mask_hits, sparse_grad=False):
    """``s[i, j] = h_i · w_{y_j} + b_{y_j} - log q_j`` (``log_q`` ``[B]`` or None), ``-inf`` at the
    accidental hits ``j != i, y_j = y_i`` when ``mask_hits``, written by one GEMM.

    The column shift ``c_j = b_{y_j} - log q_j`` rides as an extra coordinate
    (``[h_i, 1] · [w_{y_j}, c_j]``), so its gradient ``Σ_i ∂s_ij`` falls out of the GEMM's
    backward instead of a ``[B, B]`` sum. The mask is the GEMM's accumulator: a constant
    ``[B, B]`` of ``0`` and ``-inf`` that ``addmm_`` adds to. A masked entry has the label of
    its row, so it equals the diagonal ``s_ii`` before masking: finite whenever the row's
    loss is, and then its softmax weight, hence its gradient, is exactly 0. The mask needs
    no backward pass of its own (masked_fill's would copy the [B, B] gradient).
    """
    w = _rows(out_weight, labels, sparse_grad)
    c = None
    if out_bias is not None:
        c = out_bias.index_select(0, labels)
    if log_q is not None:
        c = -log_q if c is None else c - log_q
    if c is not None:
        hidden = torch.cat([hidden, hidden.new_ones(hidden.shape[0], 1)], 1)
        w = torch.cat([w, c.unsqueeze(1)], 1)
    if not mask_hits:
        return hidden @ w.T
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    same.diagonal().fill_(False)
    acc = torch.where(same, hidden.new_full((), float("-inf")), hidden.new_zeros(()))
    return acc.addmm_(hidden, w.T)
