"""``losslab consistency``: which Softmax-family surrogates recover the Bayes-optimal prediction (seed 003).

Seed 003 asks whether each surrogate of the Softmax family is *consistent* with
classification and ranking metrics. For one input, let ``η ∈ Δ^K`` be the
conditional label distribution. A surrogate ``L(f, y)`` is consistent for a metric
when the minimiser ``f*`` of its expected value ``R(f) = E_{y~η}[L(f, y)]`` (for a
sampled loss, also the expectation over the negatives) gives the metric's
Bayes-optimal prediction:

* **top-1** (accuracy): ``argmax f* = argmax η``;
* **top-k** (recall / hit-rate@k): the ``k`` largest entries of ``f*`` are those of ``η``;
* **order (DCG/NDCG)**: with the label ``y ~ η`` the one relevant item, the expected
  DCG ``Σ_j η_j / log2(1 + rank_f(j))`` is maximal iff ``f*`` sorts the classes as ``η``
  does (Ravikumar et al. 2011's condition for NDCG consistency).

For many random ``η`` (Dirichlet(1): uniform on the simplex) this module finds ``f*``
numerically -- a damped Newton method on the exact expected loss, per distribution,
to a gradient below ``1e-10`` -- and counts how often each metric is recovered.
The sampled losses use a fixed *non-uniform* proposal ``Q`` (log-uniform/Zipf,
``losslab.log_uniform_probs``) and ``S`` negatives drawn with replacement; their
expectation over the negatives is computed *exactly*, by enumerating the
``C(K+S-1, S)`` multisets of negatives with their multinomial probabilities (above
``EXACT_LIMIT`` multisets, by a fixed sample of that many draws: the report says which).
Negative sampling and NCE are linear in the negatives' counts, so their expectation
is exact in closed form (``E[count_j] = S q_j``).

The theory beside each measurement (the closed-form minimisers of the tests in
``tests/test_seed003_claims.py``):

* softmax cross-entropy: ``f* = log η + c`` (consistent for all three);
* Fenchel–Young losses (sparsemax, entmax-α): ``p*(f*) = η``, and for ``η`` in the
  interior of the simplex the mapping ``p*`` is strictly increasing in each score on
  its support, so ``f*`` has ``η``'s order (sparsemax: ``f* = η + c``; entmax-α:
  ``f*_j = η_j^{α-1}/(α-1) + c``). Their sparsity ties the *probabilities* ``p*`` at
  zero only for classes with ``η_j = 0``, which DCG does not order;
* sampled softmax without the ``log Q`` correction: ``f* = log(η/q) + c`` exactly at ``S = 1``
  (a pairwise logistic loss), and ``f* = g* − log q`` as ``S → ∞`` with ``g*`` the in-batch
  limit below: biased *against* frequently proposed classes, not consistent when ``Q`` is
  not uniform (Bengio & Senécal 2008; Jean et al. 2015);
* sampled softmax with the correction: consistent as ``S → ∞`` (the estimate of the
  partition function is unbiased, its log is not: Jensen), biased at finite ``S``
  toward the classes ``Q`` rarely proposes (their importance weights are rarer and
  larger, and ``E log`` of a heavy-tailed sum is smaller);
* negative sampling (Mikolov et al. 2013): ``f*_j = log(η_j / ((1-η_j) S q_j))``: ordered by
  ``η/((1-η) q)``, consistent only for a uniform ``Q``;
* NCE (Gutmann & Hyvärinen 2010): ``f* = log η`` exactly, consistent;
* in-batch negatives with the ``log Q`` correction (Yi et al. 2019), the batch's other
  ``S`` labels drawn from ``Q``, every candidate (the label too) corrected by ``− log q``:
  at ``S = 1`` a pairwise logistic loss whose minimiser is exactly ``log η + c``; as
  ``S → ∞`` the label's corrected term ``e^{f_y}/(S q_y)`` vanishes against the negatives
  and the minimiser is that of ``Σ_y η_y [log Σ_{j≠y} e^{f_j} − f_y]`` (``η_k ∝ p_k(1 − p_k)``
  with ``p = softmax(f)``: order-preserving, sharper than ``η``); in between, biased by ``Q``.

The second experiment trains a linear softmax-regression model with each surrogate on
generated data (``η(x) = softmax(W* x + b*)``, Zipf-like class marginal) and records,
per step, the surrogate's loss, held-out top-1 and NDCG@10, and the relative error of
the surrogate's gradient against the full softmax cross-entropy gradient on the same batch.

Writes ``consistency.json``, ``consistency.md``, ``consistency.png`` (the table as a
heatmap) and ``consistency_convergence.png`` under ``<--out>/consistency/``.
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import time

SURROGATES = (
    "softmax CE", "sparsemax", "entmax-1.5", "entmax-2 (bisect)", "entmax-1.25 (bisect)",
    "sampled softmax (logQ)", "sampled softmax (no logQ)", "negative sampling", "NCE", "in-batch (logQ)",
)
METRICS = ("top-1", "top-k", "order (DCG)")
TOP_K = 3
EXACT_LIMIT = 20000  # multisets of negatives enumerated exactly; above, a sample of this many draws
TOL = 1e-9  # score gap below which two classes count as tied (Newton stops at |grad| < 1e-10)

# The known answer per surrogate at S negatives: (top-1, top-k, order) consistent? (None: not settled
# by theory at this S, only measured) and why.
def theory(name: str, num_sampled: int):
    """``((top-1, top-k, order), note)``: ``True``/``False`` where the theory decides at
    ``num_sampled`` negatives from a non-uniform proposal, ``None`` where only measured."""
    S = num_sampled
    yes, no = (True, True, True), (False, False, False)
    table = {
        "softmax CE": (yes, "f* = log η + c"),
        "sparsemax": (yes, "p*(f*) = η: f* = η + c"),
        "entmax-1.5": (yes, "p*(f*) = η: f*_j = 2 √η_j + c"),
        "entmax-2 (bisect)": (yes, "as sparsemax (α = 2 by bisection)"),
        "entmax-1.25 (bisect)": (yes, "p*(f*) = η: f*_j = 4 η_j^{1/4} + c"),
        "sampled softmax (logQ)": ((None,) * 3, "consistent only as S → ∞ (the log of an unbiased estimate of Z "
                                   "is biased: Jensen); at finite S biased toward classes Q rarely proposes"),
        "sampled softmax (no logQ)": (no, "S = 1: f* = log(η/q) + c exactly; S → ∞: f* = g* − log q with g* the "
                                      "order-preserving minimiser of Σ_y η_y [log Σ_{j≠y} e^{g_j} − g_y]; biased against "
                                      "frequently proposed classes, not consistent for a non-uniform Q"),
        "negative sampling": (no, "f* = log(η/((1−η) S q)): not consistent for a non-uniform Q"),
        "NCE": (yes, "f* = log η (self-normalised)"),
        "in-batch (logQ)": ((yes, "S = 1: pairwise logistic in f − log q, f* = log η + c") if S == 1 else
                            ((None,) * 3, "f* = log η + c only at S = 1; as S → ∞ the minimiser of "
                             "Σ_y η_y [log Σ_{j≠y} e^{f_j} − f_y] (order-preserving, sharper than η); between, biased by Q")),
    }
    return table[name]


_FY = {  # name -> (losslab loss, keywords, Tsallis α)
    "softmax CE": ("cross_entropy", {}, 1.0),
    "sparsemax": ("sparsemax_loss", {}, 2.0),
    "entmax-1.5": ("entmax15_loss", {}, 1.5),
    "entmax-2 (bisect)": ("entmax_bisect_loss", {"alpha": 2.0}, 2.0),
    "entmax-1.25 (bisect)": ("entmax_bisect_loss", {"alpha": 1.25}, 1.25),
}
_SHIFT_INVARIANT = set(_FY) | {"sampled softmax (logQ)", "sampled softmax (no logQ)", "in-batch (logQ)"}


# ---------------------------------------------------------------------------------
# Negatives: every multiset of S draws from Q, with its probability


def negative_multisets(q, num_sampled: int, *, limit: int = EXACT_LIMIT, generator=None):
    """The negatives of a sampled loss as count vectors: ``(counts [M, K], log_prob [M], exact)``.

    With ``C(K+S-1, S) <= limit`` every multiset of ``S`` draws with replacement from
    ``q`` is listed with its multinomial probability (``exact=True``, the probabilities
    sum to one); otherwise ``limit`` multisets are drawn (each weight ``1/limit``)."""
    import torch

    K, S = int(q.shape[0]), int(num_sampled)
    log_q = torch.log(q.double())
    if math.comb(K + S - 1, S) <= limit:
        combos = torch.tensor(list(itertools.combinations_with_replacement(range(K), S)), dtype=torch.long)
        counts = torch.zeros(combos.shape[0], K, dtype=torch.float64)
        counts.scatter_add_(1, combos, torch.ones_like(combos, dtype=torch.float64))
        log_prob = (math.lgamma(S + 1) - torch.lgamma(counts + 1).sum(1) + (counts * log_q).sum(1))
        return counts, log_prob, True
    draws = torch.multinomial(q.double().expand(limit, K), S, replacement=True, generator=generator)
    counts = torch.zeros(limit, K, dtype=torch.float64).scatter_add_(1, draws, torch.ones(limit, S, dtype=torch.float64))
    return counts, torch.full((limit,), -math.log(limit), dtype=torch.float64), False


# ---------------------------------------------------------------------------------
# Expected surrogates: value, gradient and Hessian per distribution


def _lse_terms(name, q, S):
    """Sampled softmax and in-batch negatives as, per label ``y`` and multiset ``c`` of negatives,
    ``ℓ = −(f_y + u_y) + log(e^{f_y + u_y} + Σ_{j ≠ y} c_j e^{f_j + v_j})`` (accidental hits removed):
    returns ``(u, v)``."""
    import torch

    log_q = torch.log(q.double())
    K = q.shape[0]
    if name == "sampled softmax (logQ)":  # losslab.sampled_softmax_loss: negatives' logits − log(S q)
        return torch.zeros(K, dtype=torch.float64), -(log_q + math.log(S))
    if name == "sampled softmax (no logQ)":
        return torch.zeros(K, dtype=torch.float64), torch.zeros(K, dtype=torch.float64)
    # in-batch: every candidate, the label too, corrected by − log q (losslab.in_batch_negatives_loss)
    return -log_q, -log_q


def expected_surrogate(name: str, eta, q=None, num_sampled: int = 4, negatives=None):
    """``f -> (R(f) [N], ∇R [N, K], ∇²R [N, K, K])`` for the surrogate ``name`` at the
    label distributions ``eta [N, K]`` (float64). ``q`` is the proposal (sampled
    losses), ``negatives`` a :func:`negative_multisets` triple (built when omitted).

    The Fenchel–Young losses and cross-entropy take their value from losslab's loss with
    the soft target ``η`` (``E_y L(f, e_y) = L(f, η) +`` const for these losses), their
    gradient ``p*(f) − η`` and Hessian the Jacobian of ``p*``, ``diag(s) − s sᵀ/Σs`` with
    ``s_j = p_j^{2−α}`` on the support (``s = p`` for softmax)."""
    import torch
    import torch.nn.functional as F

    import losslab as ll

    eta = eta.double()
    N, K = eta.shape
    if name in _FY:
        loss_name, kw, alpha = _FY[name]
        loss_fn = getattr(ll, loss_name)
        mapping = {1.0: lambda f: torch.softmax(f, -1), 2.0: ll.sparsemax, 1.5: ll.entmax15}.get(alpha)
        if name.endswith("(bisect)"):
            mapping = lambda f: ll.entmax_bisect(f, alpha=alpha)  # noqa: E731

        def objective(f, hessian=True):
            value = loss_fn(f, eta, reduction="none", **kw)
            p = mapping(f)
            grad = p - eta
            if not hessian:
                return value, grad, None
            s = torch.where(p > 0, p.clamp_min(1e-300) ** (2.0 - alpha), torch.zeros_like(p))
            H = torch.diag_embed(s) - s.unsqueeze(-1) * s.unsqueeze(-2) / s.sum(-1)[:, None, None]
            return value, grad, H

        return objective
    if name not in SURROGATES:
        raise ValueError(f"name must be one of {SURROGATES}; got {name!r}")
    if q is None:
        raise ValueError(f"{name!r} needs a proposal q")
    q = q.double()
    S = int(num_sampled)
    if name in ("negative sampling", "NCE"):
        # Σ_k α_k softplus(−(f_k − β_k)) + γ_k softplus(f_k − β_k), exact: the negatives enter linearly.
        if name == "negative sampling":  # accidental hits removed: class j is a negative only when y ≠ j
            a, g, b = eta, S * q * (1 - eta), torch.zeros_like(eta)
        else:
            a, g, b = eta, (S * q).expand(N, K), torch.log(S * q).expand(N, K)

        def objective(f, hessian=True):
            z = f - b
            value = (a * F.softplus(-z) + g * F.softplus(z)).sum(-1)
            sig = torch.sigmoid(z)
            grad = -a * (1 - sig) + g * sig
            H = torch.diag_embed((a + g) * sig * (1 - sig)) if hessian else None
            return value, grad, H

        return objective
    counts, log_prob, _exact = negatives if negatives is not None else negative_multisets(q, S)
    u, v = _lse_terms(name, q, S)
    P = log_prob.exp()

    def objective(f, hessian=True):
        # Per distribution n, multiset m, label y: D = σ_y + Σ_{j≠y} x_mj with x_mj = c_mj e^{a_j},
        # a = f + v, σ = e^{f + u}, all shifted by s_n = max(a, f + u). Σ_{j≠y} x_mj = E_m − x_my with
        # E_m = Σ_j x_mj: the subtraction loses at most eps·E/D, and D ≥ σ_y ≥ x_my / max(c/(S q)) keeps E/D
        # bounded, so no [N, M, K, K] tensor is needed.
        a, t = f + v, f + u
        s = torch.maximum(a.amax(-1), t.amax(-1)).unsqueeze(-1)
        ea, sig = torch.exp(a - s), torch.exp(t - s)  # [N, K]
        x = ea[:, None, :] * counts[None]  # [N, M, K]
        rest = (x.sum(-1, keepdim=True) - x).clamp_min(0)  # Σ_{j≠y} x_mj, [N, M, y]
        log_d = torch.logaddexp(torch.log(rest), (t - s)[:, None, :])  # log D − s
        W = P[None, :, None] * eta[:, None, :]  # [N, M, y]
        value = (W * log_d).sum((1, 2)) + s.squeeze(-1) - (eta * t).sum(-1)
        D = torch.exp(log_d)
        R = W / D  # [N, M, y]
        # ∂/∂f_j: the label slot (y = j) σ_j Σ_m R_mj, the negative slots x_mj Σ_{y≠j} R_my
        neg = (x * (R.sum(-1, keepdim=True) - R)).sum(1)
        slot = sig * R.sum(1)
        pbar = neg + slot  # Σ_{m,y} W p
        grad = pbar - eta
        if not hessian:
            return value, grad, None
        # Σ_{m,y} W p pᵀ with p_my = (x_m + δ_my e_y)/D_my, δ_my = σ_y − x_my:
        # = Σ_m [A_m x_m x_mᵀ + x_m b_mᵀ + b_m x_mᵀ] + diag(Σ_m V_m δ_m²), V = W/D², A = Σ_y V, b = V δ
        V = R / D
        delta = sig[:, None, :] - x
        A = V.sum(-1)
        b = V * delta
        xt = x.transpose(1, 2)
        xb = xt @ b
        outer = (xt * A[:, None, :]) @ x + xb + xb.transpose(1, 2) + torch.diag_embed((V * delta * delta).sum(1))
        H = torch.diag_embed(pbar) - outer
        return value, grad, H

    return objective


def minimise(objective, f0, *, shift_invariant: bool = False, tol: float = 1e-10, max_iter: int = 200):
    """Damped Newton with an Armijo line search, per row of ``f0 [N, K]``; returns
    ``(f*, max |∇R| per row, iterations)``. A Levenberg–Marquardt term ``μ I`` (``μ``
    the gradient's norm, capped at 1e-2) makes the step defined where the Hessian is
    singular (sparsemax's off-support classes); for shift-invariant objectives ``1 1ᵀ``
    is added too (the gradient is orthogonal to ``1``, so the step is unchanged)."""
    import torch

    f = f0.double().clone()
    N, K = f.shape
    eye = torch.eye(K, dtype=f.dtype)
    ones = torch.ones(K, K, dtype=f.dtype) if shift_invariant else torch.zeros(K, K, dtype=f.dtype)
    value, grad, H = objective(f)
    it = 0
    for it in range(1, max_iter + 1):
        gmax = grad.abs().amax(-1)
        if bool((gmax <= tol).all()):
            break
        mu = gmax.clamp(max=1e-2)[:, None, None]
        step = -torch.linalg.solve(H + mu * eye + ones, grad.unsqueeze(-1)).squeeze(-1)
        slope = (grad * step).sum(-1)
        t = torch.ones(N, dtype=f.dtype)
        active = gmax > tol
        for _ in range(40):
            trial = torch.where(active[:, None], f + t[:, None] * step, f)
            v_new, _, _ = objective(trial, hessian=False)
            # Armijo, with slack for rounding: near the minimum the decrease is below float64's
            # resolution of the value, and a Newton step is then accepted as it is.
            ok = (v_new <= value + 1e-4 * t * slope + 1e-13 * value.abs().clamp_min(1.0)) | ~active
            if bool(ok.all()):
                break
            t = torch.where(ok, t, t / 2)
        f = trial
        value, grad, H = objective(f)
    return f, grad.abs().amax(-1), it


def closed_form(name: str, eta, q=None, num_sampled: int = 4):
    """The known minimiser (up to ``+ c`` for shift-invariant losses), or ``None`` where
    there is no closed form (sampled softmax with the correction; without it and in-batch
    negatives for ``S > 1``)."""
    import torch

    eta = eta.double()
    if name == "softmax CE" or name == "NCE":
        return torch.log(eta)
    if name in ("sparsemax", "entmax-2 (bisect)"):
        return eta.clone()
    if name in ("entmax-1.5", "entmax-1.25 (bisect)"):
        alpha = _FY[name][2]
        return eta.pow(alpha - 1) / (alpha - 1)
    if name == "negative sampling":
        return torch.log(eta / ((1 - eta) * num_sampled * q.double()))
    if num_sampled == 1 and name == "sampled softmax (no logQ)":  # pairwise logistic: e^{f_i − f_j} = η_i q_j / (η_j q_i)
        return torch.log(eta / q.double())
    if num_sampled == 1 and name == "in-batch (logQ)":  # the same in f − log q
        return torch.log(eta)
    return None


def _centre(f, shift_invariant):
    return f - f.mean(-1, keepdim=True) if shift_invariant else f


# ---------------------------------------------------------------------------------
# Metrics of a score vector against η


def recovered(f, eta, *, k: int = TOP_K, tol: float = TOL) -> dict:
    """Per row, whether ``f`` gives the Bayes-optimal prediction under ``eta``:
    ``{"top-1", "top-k", "order (DCG)"}`` -> bool ``[N]``. A tie in ``f`` (within ``tol``)
    between classes of different ``η`` counts as not recovered; ties in ``η`` are free."""
    import torch

    order = eta.argsort(-1, descending=True)
    fs, es = f.gather(-1, order), eta.gather(-1, order)
    worse = es[:, :1] - es > 0  # classes strictly less likely than the best
    f_best = torch.where(worse, torch.full_like(fs, -math.inf), fs).amax(-1, keepdim=True)
    top1 = ((f_best - fs > tol) | ~worse).all(-1)
    K = f.shape[-1]
    if k >= K:  # every class is in the top k
        topk = torch.ones(f.shape[0], dtype=torch.bool)
    else:
        topk = (fs[:, :k].amin(-1) - fs[:, k:].amax(-1) > tol) | (es[:, k - 1] == es[:, k])
    # every pair with η_i > η_j must have f_i > f_j + tol
    gt = es.unsqueeze(-1) > es.unsqueeze(-2)
    ok = fs.unsqueeze(-1) - fs.unsqueeze(-2) > tol
    rank = (ok | ~gt).all(-1).all(-1)
    return {"top-1": top1, "top-k": topk, "order (DCG)": rank}


def ndcg_ratio(f, eta):
    """Expected DCG of the ranking by ``f`` (one relevant item ``y ~ η``, discount
    ``1/log2(1 + rank)``, ties broken against ``f``) over the ideal (ranking by ``η``), ``[N]``."""
    import torch

    K = f.shape[-1]
    disc = 1.0 / torch.log2(torch.arange(2, K + 2, dtype=torch.float64))
    # pessimistic rank: 1 + number of classes scoring at least as high (excluding itself)
    rank_f = (f.unsqueeze(-2) >= f.unsqueeze(-1)).sum(-1)  # [N, K], includes itself
    dcg = (eta * disc[rank_f - 1]).sum(-1)
    ideal = (eta.sort(-1, descending=True).values * disc).sum(-1)
    return dcg / ideal


# ---------------------------------------------------------------------------------
# The consistency table


def consistency_table(*, classes: int = 10, distributions: int = 200, seeds: int = 3, num_sampled: int = 4,
                      surrogates=SURROGATES, chunk: int = 25, on_step=None) -> dict:
    """Minimise every surrogate's expected loss for ``distributions × seeds`` Dirichlet(1)
    distributions over ``classes`` classes; returns the JSON-able result of the command."""
    import torch

    import losslab as ll
    from losslab.experiments._common import mean_ci95

    K, S = classes, num_sampled
    q = ll.log_uniform_probs(K)
    rows = {}
    g = torch.Generator().manual_seed(12345)
    negatives = negative_multisets(q, S, generator=g)
    etas = []
    for seed in range(seeds):
        gen = torch.Generator().manual_seed(seed)
        etas.append(_dirichlet(K, distributions, gen))
    for name in surrogates:
        t0 = time.perf_counter()
        per_seed = {m: [] for m in METRICS}
        hits = {m: 0 for m in METRICS}
        ratios, grad_max, iters, dev = [], 0.0, 0, 0.0
        inv = name in _SHIFT_INVARIANT
        for eta_all in etas:
            seed_hits = {m: 0 for m in METRICS}
            for i in range(0, eta_all.shape[0], chunk):
                eta = eta_all[i:i + chunk]
                obj = expected_surrogate(name, eta, q, S, negatives)
                f, gm, it = minimise(obj, torch.zeros_like(eta), shift_invariant=inv)
                grad_max, iters = max(grad_max, float(gm.max())), max(iters, it)
                rec = recovered(f, eta)
                for m in METRICS:
                    seed_hits[m] += int(rec[m].sum())
                ratios.append(ndcg_ratio(f, eta))
                ref = closed_form(name, eta, q, S)
                if ref is not None:
                    dev = max(dev, float((_centre(f, inv) - _centre(ref, inv)).abs().max()))
                if on_step is not None:
                    on_step(1)
            for m in METRICS:
                hits[m] += seed_hits[m]
                per_seed[m].append(seed_hits[m] / eta_all.shape[0])
        total = distributions * seeds
        th, why = theory(name, S)
        measured = {m: hits[m] / total for m in METRICS}
        rows[name] = {
            "fraction": measured,
            "per_seed": {m: mean_ci95(per_seed[m]) for m in METRICS},
            "verdict": {m: ("consistent" if hits[m] == total else "not consistent") for m in METRICS},
            "theory": {m: _theory_word(t) for m, t in zip(METRICS, th)},
            "theory_note": why,
            "agrees_with_theory": {m: _agrees(t, hits[m] == total) for m, t in zip(METRICS, th)},
            "mean_ndcg_over_ideal": float(torch.cat(ratios).mean()),
            "min_ndcg_over_ideal": float(torch.cat(ratios).min()),
            "max_abs_gradient": grad_max,
            "newton_iterations_max": iters,
            "max_deviation_from_closed_form": dev if closed_form(name, etas[0][:1], q, S) is not None else None,
            "seconds": time.perf_counter() - t0,
        }
    return {
        "classes": K, "distributions_per_seed": distributions, "seeds": seeds, "num_sampled": S, "top_k": TOP_K,
        "eta": "Dirichlet(1, ..., 1) (uniform on the simplex), seeds 0..seeds-1",
        "proposal": "log-uniform (Zipf) q_k = log((k+2)/(k+1))/log(K+1)", "q": [float(v) for v in q],
        "expectation_over_negatives": ("exact: all C(K+S-1, S) = %d multisets" % negatives[0].shape[0]) if negatives[2]
        else f"sample average over {negatives[0].shape[0]} fixed draws (C(K+S-1, S) > {EXACT_LIMIT})",
        "solver": "damped Newton, per distribution, to max |grad| <= 1e-10 (float64)",
        "tie_tolerance": TOL,
        "surrogates": rows,
    }


def _dirichlet(K, n, gen):
    # Dirichlet(1) = normalised exponentials; drawn with the seeded generator (torch.distributions has none).
    import torch

    e = -torch.log(torch.rand(n, K, dtype=torch.float64, generator=gen).clamp_min(1e-300))
    return e / e.sum(-1, keepdim=True)


def _theory_word(t):
    return {True: "consistent", False: "not consistent", None: "depends on S (measured)"}[t]


def _agrees(theory, measured_consistent):
    if theory is None:
        return None
    return theory == measured_consistent


# ---------------------------------------------------------------------------------
# Convergence: the family trained on the same generated data


def make_data(K: int, d: int, n: int, *, zipf: float = 1.0, generator=None):
    """``x ~ N(0, I_d)``, ``η(x) = softmax(W* x + b*)`` with ``b*_k = −zipf·log(k+1)`` (class 0 the
    most frequent, as the log-uniform proposal assumes) and ``y ~ η(x)``: ``(x, y, η)``."""
    import torch

    W = torch.randn(K, d, generator=generator) * (2.0 / math.sqrt(d))
    b = -zipf * torch.log(torch.arange(K, dtype=torch.float32) + 1.0)
    x = torch.randn(n, d, generator=generator)
    eta = torch.softmax(x @ W.T + b, -1)
    y = torch.multinomial(eta, 1, generator=generator).squeeze(1)
    return x, y, eta


def _train_losses(S, q):
    """name -> loss(x, W, b, y, generator) for the convergence runs (losslab's functions)."""
    import losslab as ll

    def fy(fn, **kw):
        return lambda x, W, b, y, g: fn(x @ W.T + b, y, **kw)

    kw = dict(num_sampled=S, proposal=q)
    return {
        "softmax CE": fy(ll.cross_entropy),
        "sparsemax": fy(ll.sparsemax_loss),
        "entmax-1.5": fy(ll.entmax15_loss),
        "entmax-2 (bisect)": fy(ll.entmax_bisect_loss, alpha=2.0),
        "entmax-1.25 (bisect)": fy(ll.entmax_bisect_loss, alpha=1.25),
        "sampled softmax (logQ)": lambda x, W, b, y, g: ll.sampled_softmax_loss(x, W, b, y, generator=g, **kw),
        "sampled softmax (no logQ)": lambda x, W, b, y, g: ll.sampled_softmax_loss(x, W, b, y, generator=g,
                                                                                   logq_correction=False, **kw),
        "negative sampling": lambda x, W, b, y, g: ll.negative_sampling_loss(x, W, b, y, generator=g, **kw),
        "NCE": lambda x, W, b, y, g: ll.sampled_nce_loss(x, W, b, y, generator=g, **kw),
        "in-batch (logQ)": lambda x, W, b, y, g: ll.in_batch_negatives_loss(x, W, b, y, proposal=q),
    }


def _eval(W, b, x, y):
    """Held-out top-1 accuracy and NDCG@10 (one relevant class: 1/log2(1 + rank) within the top 10)."""
    import torch

    with torch.no_grad():
        s = x @ W.T + b
        rank = (s >= s.gather(1, y[:, None])).sum(1)  # ties counted against the label (all-equal scores: no hit)
        top1 = float((rank == 1).double().mean())
        ndcg = float(torch.where(rank <= 10, 1.0 / torch.log2(rank.double() + 1), torch.zeros(())).mean())
    return top1, ndcg


def convergence_curves(*, classes: int = 50, dim: int = 16, train: int = 4000, test: int = 2000, steps: int = 300,
                       batch_size: int = 64, num_sampled: int = 4, lr: float = 0.05, seed: int = 0,
                       surrogates=SURROGATES, on_step=None) -> dict:
    """Train a linear model ``f = W x + b`` with each surrogate (Adam, one shared data stream) and
    record per step: the surrogate's batch loss, held-out top-1 and NDCG@10, and the relative error
    ``‖∇L − ∇CE‖ / ‖∇CE‖`` of the surrogate's gradient (w.r.t. ``W, b``) against the full softmax
    cross-entropy gradient on the same batch at the same parameters."""
    import torch
    import torch.nn.functional as F

    K = classes
    g = torch.Generator().manual_seed(seed)
    x, y, eta = make_data(K, dim, train + test, generator=g)
    xtr, ytr, xte, yte = x[:train], y[:train], x[train:], y[train:]
    counts = torch.bincount(ytr, minlength=K).double() + 1.0  # +1: every class reachable by the proposal
    q = (counts / counts.sum()).float()  # the label marginal: what in-batch negatives sample from
    losses = _train_losses(num_sampled, q)
    s_bayes = torch.log(eta[train:])
    with torch.no_grad():
        r = (s_bayes >= s_bayes.gather(1, yte[:, None])).sum(1)
        bayes_top1 = float((r == 1).double().mean())
        bayes_ndcg = float(torch.where(r <= 10, 1.0 / torch.log2(r.double() + 1), torch.zeros(())).mean())
    order = torch.randperm(train, generator=g)
    batches = [order[(i * batch_size) % train:][:batch_size] for i in range(steps)]
    curves = {}
    for name in surrogates:
        fn = losses[name]
        W = torch.zeros(K, dim, requires_grad=True)
        # -log K: the uniform self-normalised start, as in softmax-family (NCE and negative sampling are
        # not shift-invariant; the other losses are unaffected).
        b = torch.full((K,), -math.log(K), requires_grad=True)
        opt = torch.optim.Adam([W, b], lr=lr)
        sg = torch.Generator().manual_seed(seed + 1)
        c = {"loss": [], "top1": [], "ndcg@10": [], "grad_error": []}
        for idx in batches:
            xb, yb = xtr[idx], ytr[idx]
            ce_grad = torch.autograd.grad(F.cross_entropy(xb @ W.T + b, yb), (W, b))
            loss = fn(xb, W, b, yb, sg)
            gW, gb = torch.autograd.grad(loss, (W, b))
            num = (gW - ce_grad[0]).pow(2).sum() + (gb - ce_grad[1]).pow(2).sum()
            den = ce_grad[0].pow(2).sum() + ce_grad[1].pow(2).sum()
            c["grad_error"].append(float((num / den).sqrt()))
            c["loss"].append(float(loss.detach()))
            W.grad, b.grad = gW, gb
            opt.step()
            top1, ndcg = _eval(W.detach(), b.detach(), xte, yte)
            c["top1"].append(top1)
            c["ndcg@10"].append(ndcg)
            if on_step is not None:
                on_step(1)
        curves[name] = c
    return {"classes": K, "dim": dim, "train": train, "test": test, "steps": steps, "batch_size": batch_size,
            "num_sampled": num_sampled, "optimizer": f"Adam lr={lr}", "proposal": "empirical label marginal (+1 smoothed)",
            "bayes_top1": bayes_top1, "bayes_ndcg@10": bayes_ndcg, "curves": curves}


# ---------------------------------------------------------------------------------
# Pictures


def plot_consistency(result: dict, path=None, *, dpi: int = 110):
    """The table as a heatmap: one row per surrogate, one column per metric, the fraction of
    distributions whose Bayes-optimal prediction the minimiser recovers (one colour scale, 0 to 1),
    each cell marked with the theory's answer (✓ consistent, ✗ not, ? depends on S)."""
    import numpy as np
    from matplotlib.figure import Figure

    from losslab.plots import save

    rows = result["surrogates"]
    names = list(rows)
    cols = list(METRICS) + ["E NDCG / ideal"]
    labels = [f"top-{TOP_K}" if c == "top-k" else c for c in cols]
    data = np.array([[rows[n]["fraction"][m] for m in METRICS] + [rows[n]["mean_ndcg_over_ideal"]] for n in names])
    fig = Figure(figsize=(7.6, 0.42 * len(names) + 1.9), layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(data, vmin=0.0, vmax=1.0, cmap="RdYlGn", aspect="auto")
    mark = {"consistent": "✓", "not consistent": "✗", "depends on S (measured)": "?"}
    for i, n in enumerate(names):
        for j, col in enumerate(cols):
            v = data[i, j]
            text = f"{v:.2f}" if j == len(METRICS) else f"{v:.2f} {mark[rows[n]['theory'][col]]}"
            ax.text(j, i, text, ha="center", va="center", fontsize=8, color="black")
    ax.set_xticks(range(len(cols)), labels, fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.xaxis.tick_top()
    ax.xaxis.set_label_position("top")
    ax.set_xlabel("metric the minimiser is scored on")
    fig.colorbar(im, ax=ax, label="fraction recovered (last column: mean ratio)", shrink=0.8)
    fig.suptitle(f"Does the minimiser of E_y~η L(f, y) give the Bayes-optimal prediction?\n"
                 f"K={result['classes']}, S={result['num_sampled']} negatives from a log-uniform Q, "
                 f"{result['distributions_per_seed'] * result['seeds']} η ~ Dirichlet(1); "
                 "theory: ✓ consistent, ✗ not, ? depends on S", fontsize=9)
    return save(fig, path, dpi=dpi)


def plot_convergence(result: dict, path=None, *, dpi: int = 110):
    """Per step: each surrogate's own loss (log scale), held-out top-1 and NDCG@10 (dashed: the
    Bayes predictor ``argmax η(x)``), and the relative error of its gradient against the full
    softmax cross-entropy gradient (log scale; softmax CE itself is 0 and not drawn)."""
    from matplotlib.figure import Figure

    from losslab.plots import _legend_below, save

    fig = Figure(figsize=(10.5, 7.2), layout="constrained")
    axes = fig.subplots(2, 2).ravel()
    keys = [("loss", "surrogate loss on the batch (own scale; EMA 0.9)", True), ("top1", "held-out top-1 accuracy", False),
            ("ndcg@10", "held-out NDCG@10", False), ("grad_error", "‖∇L − ∇CE‖ / ‖∇CE‖ on the batch (EMA 0.9)", True)]

    def ema(values, beta=0.9):
        # per-batch values are noisy; the JSON keeps them raw, the picture smooths them
        out, m = [], None
        for v in values:
            m = v if m is None else beta * m + (1 - beta) * v
            out.append(m)
        return out

    for ax, (key, title, log) in zip(axes, keys):
        for i, (name, c) in enumerate(result["curves"].items()):
            if key == "grad_error" and name == "softmax CE":
                ax.plot([], [], color=f"C{i}")  # keeps the colours aligned with the legend
                continue
            # entmax-2 by bisection is sparsemax: dashed, so that the two coinciding curves both show
            ys = ema(c[key]) if log else c[key]
            ax.plot(range(1, len(ys) + 1), ys, color=f"C{i}", lw=1.1, label=name,
                    ls="--" if name == "entmax-2 (bisect)" else "-")
        if key in ("top1", "ndcg@10"):
            ax.axhline(result["bayes_" + key], color="black", ls="--", lw=0.8, label="Bayes predictor")
        if log:
            ax.set_yscale("log")
        if key == "grad_error":  # step 1 has tied scores, where sparse mappings equal softmax (error 0)
            ax.set_ylim(bottom=1e-2)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("step")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
    handles, labels = axes[1].get_legend_handles_labels()
    _legend_below(fig, handles, labels, ncol=4, fontsize=8, frameon=False)
    fig.suptitle(f"Softmax family on the same data: linear model, K={result['classes']}, d={result['dim']}, "
                 f"B={result['batch_size']}, S={result['num_sampled']}, {result['optimizer']}", fontsize=10)
    return save(fig, path, dpi=dpi)


class _one_thread:
    """These problems are many tiny tensors: extra intra-op threads only add synchronisation
    (measured 100× slower with 2 threads on a loaded 2-core machine), so run on one."""

    def __init__(self, n=1):
        self.n = n

    def __enter__(self):
        import torch

        self.before = torch.get_num_threads()
        torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        import torch

        torch.set_num_threads(self.before)


def _no_link(figure_id, link, scaling):
    if link is not None or scaling is not None:
        which = "--link" if link is not None else "--scaling"
        raise ValueError(f"{which}: figure {figure_id} draws the Softmax family and takes no link or scaling; "
                         f"got link={link!r}, scaling={scaling!r}")


def figure_consistency(link=None, scaling=None, quick: bool = False):
    """Seed 003, figure "003:1": the consistency table as a heatmap (see :func:`plot_consistency`)."""
    _no_link("003:1", link, scaling)
    with _one_thread():
        result = consistency_table(**(QUICK_TABLE if quick else FULL_TABLE))
    return plot_consistency(result)


def figure_convergence(link=None, scaling=None, quick: bool = False):
    """Seed 003, figure "003:2": per-step convergence of the family (see :func:`plot_convergence`)."""
    _no_link("003:2", link, scaling)
    with _one_thread():
        result = convergence_curves(**(QUICK_CURVES if quick else FULL_CURVES))
    return plot_convergence(result)


FULL_TABLE = dict(classes=10, distributions=200, seeds=3, num_sampled=4)
QUICK_TABLE = dict(classes=8, distributions=30, seeds=2, num_sampled=3)
FULL_CURVES = dict(classes=50, dim=16, train=4000, test=2000, steps=300, num_sampled=4)
QUICK_CURVES = dict(classes=20, dim=8, train=1000, test=500, steps=40, num_sampled=4)


# ---------------------------------------------------------------------------------
# The command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from losslab import cli

    parser.add_argument("--distributions", type=cli.positive_int, default=None, metavar="N",
                        help=f"label distributions η per seed (default {FULL_TABLE['distributions']}; "
                             f"--quick {QUICK_TABLE['distributions']})")
    parser.add_argument("--classes", type=cli.int_range(TOP_K + 1, 30), default=None, metavar="K",
                        help=f"K, in [{TOP_K + 1}, 30] (default {FULL_TABLE['classes']}; --quick {QUICK_TABLE['classes']})")
    parser.add_argument("--num-sampled", type=cli.positive_int, default=None, metavar="S",
                        help=f"S negatives per example, below K (default {FULL_TABLE['num_sampled']}; the expectation "
                             f"is exact while C(K+S-1, S) <= {EXACT_LIMIT}, else over {EXACT_LIMIT} fixed draws)")
    parser.add_argument("--seeds", type=cli.positive_int, default=None, metavar="N",
                        help=f"independent draws of the distributions, seeds 0..N-1 (default {FULL_TABLE['seeds']}; "
                             f"--quick {QUICK_TABLE['seeds']})")
    parser.add_argument("--steps", type=cli.positive_int, default=None, metavar="N",
                        help=f"training steps of the convergence curves (default {FULL_CURVES['steps']}; "
                             f"--quick {QUICK_CURVES['steps']})")
    parser.add_argument("--quick", action="store_true", help="small sizes: a few seconds")
    cli.add_common(parser)
    for action in parser._actions:
        if "--threads" in action.option_strings:
            action.help = "torch intra-op threads (default 1 here: many tiny tensors, where more threads only wait)"


def run(args: argparse.Namespace) -> int:
    import torch

    from losslab.cli import CLIError, command_dir
    from losslab.experiments._common import draw, progress

    table = dict(QUICK_TABLE if args.quick else FULL_TABLE)
    curves_cfg = dict(QUICK_CURVES if args.quick else FULL_CURVES)
    for key, value in (("distributions", args.distributions), ("classes", args.classes),
                       ("num_sampled", args.num_sampled), ("seeds", args.seeds)):
        if value is not None:
            table[key] = value
    if args.steps is not None:
        curves_cfg["steps"] = args.steps
    if args.num_sampled is not None:
        curves_cfg["num_sampled"] = args.num_sampled
    if table["num_sampled"] >= table["classes"]:
        raise CLIError(f"argument --num-sampled: must lie below --classes {table['classes']}; got {table['num_sampled']}")
    if curves_cfg["num_sampled"] >= curves_cfg["classes"]:
        raise CLIError(f"argument --num-sampled: must lie below the {curves_cfg['classes']} classes of the "
                       f"convergence run; got {curves_cfg['num_sampled']}")
    out = command_dir(args)
    chunks = -(-table["distributions"] // 25) * table["seeds"] * len(SURROGATES)
    bar = progress(chunks + curves_cfg["steps"] * len(SURROGATES), "consistency", enabled=not args.no_progress,
                   unit="step")
    t0 = time.perf_counter()
    # without --threads, one thread: see _one_thread
    with _one_thread(args.threads or 1):
        bar.set_description("consistency: minimisers")
        result = consistency_table(**table, on_step=bar.update)
        bar.set_description("consistency: convergence")
        curves = convergence_curves(**curves_cfg, on_step=bar.update)
    bar.close()
    payload = {"command": "consistency", "quick": bool(args.quick), "seconds": time.perf_counter() - t0,
               "threads": torch.get_num_threads() if args.threads else 1, "table": result, "convergence": curves}
    with open(out / "consistency.json", "w") as f:
        json.dump(payload, f, indent=1)
    lines = [f"# Consistency of the Softmax family (seed 003) at K={result['classes']}, S={result['num_sampled']}", "",
             f"For {result['distributions_per_seed']} × {result['seeds']} label distributions η ~ Dirichlet(1), the "
             "minimiser f* of each surrogate's expected loss E_{y~η}[L(f, y)] (sampled losses: also over the "
             f"negatives, {result['expectation_over_negatives']}; proposal {result['proposal']}) was found by "
             f"{result['solver']}. A cell is the fraction of distributions where f* gives the Bayes-optimal "
             f"prediction: top-1 (argmax f* = argmax η), top-{TOP_K} (same set), order (f* sorts the classes as η "
             "does: the DCG-optimal ranking). Verdict: consistent when every distribution is recovered.", "",
             "| surrogate | top-1 | top-k | order (DCG) | E NDCG / ideal (min) | verdict (top-1 / top-k / order) | theory | agrees | max |∇R| | dev. from closed form |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in result["surrogates"].items():
        fr = r["fraction"]
        verdict = " / ".join("✓" if r["verdict"][m] == "consistent" else "✗" for m in METRICS)
        agrees = " / ".join({True: "yes", False: "NO", None: "–"}[r["agrees_with_theory"][m]] for m in METRICS)
        dev = "–" if r["max_deviation_from_closed_form"] is None else f"{r['max_deviation_from_closed_form']:.1e}"
        lines.append(f"| {name} | {fr['top-1']:.3f} | {fr['top-k']:.3f} | {fr['order (DCG)']:.3f} | "
                     f"{r['mean_ndcg_over_ideal']:.4f} ({r['min_ndcg_over_ideal']:.3f}) | {verdict} | {r['theory_note']} | "
                     f"{agrees} | {r['max_abs_gradient']:.0e} | {dev} |")
    lines += ["", "Per-seed fractions are in `consistency.json` (mean and 95% interval over seeds).", "",
              f"## Convergence on the same family (K={curves['classes']}, d={curves['dim']}, {curves['steps']} steps, "
              f"B={curves['batch_size']}, S={curves['num_sampled']}, {curves['optimizer']})", "",
              f"Bayes predictor on the held-out set: top-1 {curves['bayes_top1']:.3f}, NDCG@10 {curves['bayes_ndcg@10']:.3f}.", "",
              "| surrogate | final top-1 | final NDCG@10 | mean grad. error (last 10% of steps) |", "|---|---|---|---|"]
    for name, c in curves["curves"].items():
        tail = c["grad_error"][-max(1, len(c["grad_error"]) // 10):]
        lines.append(f"| {name} | {c['top1'][-1]:.3f} | {c['ndcg@10'][-1]:.3f} | {sum(tail) / len(tail):.3f} |")
    pngs = [draw(plot_consistency, out / "consistency.png", result),
            draw(plot_convergence, out / "consistency_convergence.png", curves)]
    pngs = [p for p in pngs if p is not None]
    if pngs:
        lines += [""] + [f"![{p.stem}]({p.name})" for p in pngs]
    with open(out / "consistency.md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {out}/consistency.json, .md" + "".join(f", {p.name}" for p in pngs))
    return 0
