"""Analysis of losses: sensitivity, convexity, BUST/BLUST, properness (seed 000) and
logit separation (seed 001). Functions here only read losses; they never train.
"""
from __future__ import annotations

__all__: list[str] = []

# -- logit separation (seed 001) -------------------------------------------------
from .pols import (  # noqa: E402
    COUNTER_EXAMPLES,
    PAPER_POLS_ALIGNED,
    AlignmentProbe,
    LogitSeparation,
    counter_example,
    logit_separation,
    pols_alignment,
)

__all__ += [
    "logit_separation",
    "LogitSeparation",
    "pols_alignment",
    "AlignmentProbe",
    "counter_example",
    "COUNTER_EXAMPLES",
    "PAPER_POLS_ALIGNED",
]

# ==========================================================================# Selective matching losses (seed 000): sensitivity, convexity, BUST/BLUST,
# properness. Everything here reads a Link; nothing trains.

import math as _math
from dataclasses import dataclass as _dataclass
from typing import Union as _Union

import torch as _torch
import torch.nn.functional as _F

from ._validate import (
    check_dim as _check_dim,
    check_finite_scalar as _check_finite_scalar,
    check_floating as _check_floating,
    check_positive as _check_positive,
)
from ._validate import promote_floating as _promote_floating
from .links import Link as _Link
from .matching import composite_sigmoid_link as _composite_sigmoid_link

__all__ += [
    "sensitivity",
    "composite_sensitivity",
    "ConvexityReport",
    "check_convexity",
    "bust",
    "blust",
    "proper_prediction",
]

_CONVEXITY_KINDS = ("matching", "composite_sigmoid", "composite_softmax")
# Relative tolerance for "non-negative" in the scans: rounding in float64 leaves
# exact zeros (e.g. the constant direction of a plain softmax) at ~1e-16 * scale.
_CONVEXITY_RTOL = 1e-9


def _check_link_arg(name: str, link) -> _Link:
    if not isinstance(link, _Link):
        raise TypeError(f"{name} must be a losslab.links.Link (e.g. links.sigmoid()), got {type(link).__name__}")
    return link


def _check_domain_arg(domain) -> tuple[float, float]:
    try:
        lo, hi = domain
    except (TypeError, ValueError):
        raise ValueError(f"domain must be a (low, high) pair, got {domain!r}") from None
    lo = _check_finite_scalar("domain[0]", lo)
    hi = _check_finite_scalar("domain[1]", hi)
    if not lo < hi:
        raise ValueError(f"domain must satisfy low < high (a non-empty interval); got {domain!r}")
    return lo, hi


def _as_tensor(name: str, value, like: "_torch.Tensor | None" = None) -> "_torch.Tensor":
    if isinstance(value, _torch.Tensor):
        return _check_floating(name, value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a float or a floating-point tensor, got {type(value).__name__}")
    dtype = like.dtype if like is not None else _torch.float64
    return _torch.tensor(float(value), dtype=dtype)


def sensitivity(link: _Link, z: "_torch.Tensor") -> "_torch.Tensor":
    r"""Local sensitivity ``Δ(z) = h'(z)`` of a link (seed 000, Section 2 and eq. B.1).

    .. math::

        \Delta(z) = h'(z) = \lim_{\delta\to 0} \frac{2\,\mathcal{L}_m(z+\delta, z)}{\delta^2};
        \qquad h = q\,p:\ \Delta(z) = p(z)\{q'(z) + \tfrac{1}{\gamma}[1-p(z)]\,q(z)^2\} \quad \text{(B.1)}

    For a composite Sigmoid pass ``losslab.composite_sigmoid_link(scaling, gamma)``,
    whose derivative is (B.1) with ``γ``.

    Args:
        link: a :class:`losslab.links.Link` ``h``.
        z: scores, any shape ``[...]``, floating.

    Returns:
        ``h'(z)``, shape ``[...]``.

    Example:
        >>> import torch, losslab as ll
        >>> ll.analysis.sensitivity(ll.links.sigmoid(alpha=2.0), torch.tensor([0.0]))  # α σ(1-σ)
        tensor([0.5000])
        >>> h = ll.composite_sigmoid_link(ll.links.identity())   # q = z, Q = z²/2
        >>> ll.analysis.sensitivity(h, torch.tensor([0.0]))      # p (q' + (1-p) q²) = 1/2
        tensor([0.5000])

    Reference: Shamir & Warmuth, "Selective Matching Losses -- Not All Scores Are Created Equal", 2025.
    """
    _check_link_arg("link", link)
    _check_floating("z", z)
    return link.derivative(z)


def composite_sensitivity(
    scores: "_torch.Tensor", scaling: _Link, gamma: float = 1.0, dim: int = -1
) -> "_torch.Tensor":
    r"""Per-class sensitivity ``Δ_k`` of a composite Softmax loss (seed 000, eq. C.6 / B.5).

    .. math::

        \Delta_k(\mathbf z) = h_k'(\mathbf z) = p_k(\mathbf z)\Big\{q'(z_k)
          + \frac{1}{\gamma}[1 - p_k(\mathbf z)]\, q(z_k)^2\Big\},
        \qquad p_k = \frac{e^{Q(z_k)/\gamma}}{\sum_j e^{Q(z_j)/\gamma}}

    the diagonal of the Hessian (B.2) of ``H(z) = γ log Σ_k e^{Q(z_k)/γ}``.

    Args:
        scores: ``[..., K]`` scores (``dim`` is the class dim), floating.
        scaling: the scaling ``q`` as a :class:`~losslab.links.Link` (primitive ``Q``).
        gamma: regularisation ``γ > 0``.
        dim: the class dimension.

    Returns:
        ``Δ``, the shape of ``scores``.

    Example:
        >>> import torch, losslab as ll
        >>> q = ll.links.custom(torch.ones_like, torch.zeros_like, lambda x: x)   # q = 1: plain Softmax
        >>> z = torch.tensor([0.0, 0.0])
        >>> ll.analysis.composite_sensitivity(z, q)                               # p (1 - p)
        tensor([0.2500, 0.2500])

    Reference: Shamir & Warmuth, 2025, Appendix C.1.
    """
    _check_floating("scores", scores)
    _check_link_arg("scaling", scaling)
    gamma = _check_positive("gamma", gamma)
    if scores.dim() == 0:
        raise ValueError("scores must have a class dimension; got a 0-dim tensor")
    dim = _check_dim("dim", dim, scores)
    logits = scaling.primitive(scores) / gamma
    p = _torch.softmax(logits, dim)
    # 1 - p_k = Σ_{j≠k} p_j computed as exp(log_softmax over the others) would cost a
    # [K, K] tensor; 1 - p is exact enough here because p ≤ 1 and is multiplied by p.
    q = scaling(scores)
    return p * (scaling.derivative(scores) + (1 - p) * q * q / gamma)


@_dataclass(frozen=True)
class ConvexityReport:
    """Result of :func:`check_convexity` (numerical scan; not a proof).

    Attributes:
        kind: ``'matching'``, ``'composite_sigmoid'`` or ``'composite_softmax'``.
        convex: whether the scanned curvature is non-negative everywhere (up to rounding).
        worst_z: the point of minimum curvature (a float; a tuple of ``K`` floats for
            ``composite_softmax``).
        min_curvature: the minimum of the quantity whose sign decides convexity:
            ``h'(z)`` (matching); the left side of (G.2), ``q' + (1-p) q²/γ = h'/p``
            (composite Sigmoid); the least eigenvalue of ``P^{-1/2} ∇²H P^{-1/2}``,
            ``P = diag(p)``, congruent to the Hessian (B.2) (composite Softmax).
        sufficient: whether the sufficient condition holds on the scan: ``q`` non-decreasing
            (Thm 3-4); for ``'matching'``, ``h`` non-decreasing (also necessary).
        gamma: the ``γ`` used.
        domain: the scanned interval ``(low, high)`` of each score.
        points: number of points (score vectors) evaluated.
        nonfinite: points where the curvature was not finite (left out of the minimum).
    """

    kind: str
    convex: bool
    worst_z: _Union[float, tuple]
    min_curvature: float
    sufficient: bool
    gamma: float
    domain: tuple
    points: int
    nonfinite: int = 0

    def __str__(self) -> str:
        verdict = "convex" if self.convex else "NOT convex"
        cond = {
            "matching": "h non-decreasing",
            "composite_sigmoid": "q non-decreasing (Thm 3)",
            "composite_softmax": "q non-decreasing (Thm 4)",
        }[self.kind]
        wz = (
            f"{self.worst_z:.6g}"
            if isinstance(self.worst_z, float)
            else "(" + ", ".join(f"{v:.4g}" for v in self.worst_z) + ")"
        )
        lines = [
            f"{self.kind} loss on [{self.domain[0]:g}, {self.domain[1]:g}] with gamma={self.gamma:g}: {verdict}",
            f"  min curvature {self.min_curvature:.6g} at z = {wz} ({self.points} points scanned)",
            f"  sufficient condition ({cond}): {'holds' if self.sufficient else 'fails'}",
        ]
        if self.nonfinite:
            lines.append(f"  {self.nonfinite} points had a non-finite curvature and were left out")
        return "\n".join(lines)


def _is_nonneg_pointwise(values: "_torch.Tensor", scale: "_torch.Tensor") -> bool:
    return bool((values >= -_CONVEXITY_RTOL * scale.clamp_min(1e-300)).all())


def _scan_grid(lo: float, hi: float, n: int) -> "_torch.Tensor":
    return _torch.linspace(lo, hi, n, dtype=_torch.float64)


def _non_decreasing(q: _Link, z: "_torch.Tensor") -> bool:
    """q' >= 0 at the grid and no downward jump between neighbours (piecewise links)."""
    with _torch.no_grad():
        d = q.derivative(z)
        v = q(z)
    ok_d = bool((d[_torch.isfinite(d)] >= 0).all())
    steps = v.diff()
    vscale = _torch.maximum(v[1:].abs(), v[:-1].abs())
    fin = _torch.isfinite(steps)
    ok_v = _is_nonneg_pointwise(steps[fin], vscale[fin]) if bool(fin.any()) else True
    return ok_d and ok_v


def _scalar_curvature(kind: str, link: _Link, z: "_torch.Tensor", gamma: float) -> tuple["_torch.Tensor", "_torch.Tensor"]:
    """(curvature, scale) on a 1-D grid for the scalar kinds."""
    if kind == "matching":
        c = link.derivative(z)
        return c, c.abs()
    q, dq = link(z), link.derivative(z)
    # (G.2): q' + (1/γ)(1 - p) q², with 1 - p = σ(-Q/γ) computed without cancellation.
    tail = _torch.sigmoid(-link.primitive(z) / gamma) * q * q / gamma
    return dq + tail, dq.abs() + tail.abs()


def _softmax_points(lo: float, hi: float, K: int, points: int) -> "_torch.Tensor":
    """Score vectors in [lo, hi]^K: random ones, the diagonal, and one free coordinate
    against the others at the ends and middle (where the Hessian's extremes tend to be)."""
    g = _torch.Generator().manual_seed(0)
    n_line = max(points // 8, 16)
    line = _scan_grid(lo, hi, n_line)
    parts = [lo + (hi - lo) * _torch.rand(points, K, dtype=_torch.float64, generator=g)]
    parts.append(line.unsqueeze(-1).expand(n_line, K))  # all scores equal
    for other in (lo, (lo + hi) / 2, hi):
        pts = _torch.full((n_line, K), other, dtype=_torch.float64)
        pts[:, 0] = line
        parts.append(pts)
    return _torch.cat(parts)


def _softmax_min_eig(q: _Link, z: "_torch.Tensor", gamma: float) -> tuple["_torch.Tensor", "_torch.Tensor"]:
    """Least eigenvalue of M = P^{-1/2} ∇²H P^{-1/2} = diag(q') + (1/γ)[diag(q²) - v vᵀ], v = √p q.

    By (B.2) with γ, ∇²H = P^{1/2} M P^{1/2} with P = diag(p) > 0, so by Sylvester's law
    of inertia ∇²H ⪰ 0 iff M ⪰ 0 -- and M stays informative where some p_k underflow.
    """
    p = _torch.softmax(q.primitive(z) / gamma, -1)
    qz, dq = q(z), q.derivative(z)
    v = p.sqrt() * qz
    M = _torch.diag_embed(dq + qz * qz / gamma) - v.unsqueeze(-1) * v.unsqueeze(-2) / gamma
    eig = _torch.linalg.eigvalsh(M)[..., 0]
    scale = (dq.abs() + qz * qz / gamma).amax(-1)
    return eig, scale


def check_convexity(
    link_or_scaling: _Link,
    kind: str,
    domain,
    gamma: float = 1.0,
    points: int = 2001,
    num_classes: int = 3,
) -> ConvexityReport:
    r"""Scan a loss design for convexity on a domain (seed 000, Thm 3-4, Cor. G.1, eq. D.1).

    .. math::

        \text{matching:}\ h'(z) \ge 0; \qquad
        \text{composite Sigmoid (G.2):}\ q'(z) + \tfrac{1}{\gamma}[1 - p(z)]\,q(z)^2 \ge 0;

        \text{composite Softmax (D.1):}\ \mathbf x^\top \nabla^2 H(\mathbf z)\,\mathbf x
          = \sum_k p_k q'(z_k) x_k^2 + \tfrac{1}{\gamma}\mathrm{Var}_{p(\mathbf z)}[q(z)\,x] \ge 0

    A numerical check, not a proof: the scalar kinds evaluate a grid of ``points``
    scores on ``domain`` and refine around the worst one; ``'composite_softmax'``
    evaluates the least eigenvalue of the ``K×K`` Hessian (B.2 with ``γ``, normalised
    by ``diag(p)^{-1/2}`` on both sides, which keeps its inertia) on ``points`` random
    score vectors in ``domain^K`` plus structured lines (the diagonal, one coordinate
    against the others at the ends). The report also says whether the sufficient
    condition of Theorems 3-4, ``q`` non-decreasing, holds on the grid.

    Args:
        link_or_scaling: the link ``h`` (``kind='matching'``) or the scaling ``q`` (its
            primitive is ``Q``) as a :class:`~losslab.links.Link`.
        kind: ``'matching'`` | ``'composite_sigmoid'`` | ``'composite_softmax'``.
        domain: ``(low, high)``, the score interval ``S`` (finite, ``low < high``).
        gamma: regularisation ``γ > 0`` (ignored by ``'matching'``).
        points: grid size (score vectors for ``'composite_softmax'``), ``>= 16``.
        num_classes: ``K`` for ``'composite_softmax'`` (``>= 2``; small keeps the scan cheap).

    Returns:
        A :class:`ConvexityReport` with ``.convex``, ``.worst_z``, ``.min_curvature``,
        ``.sufficient``; ``print(report)`` explains it.

    Example:
        >>> import losslab as ll
        >>> q = ll.links.cosh(alpha=1.0).scaled(1.0)    # Q = sinh: increasing but not convex (Cor. G.4)
        >>> ll.analysis.check_convexity(q, "composite_sigmoid", (-6, 6), gamma=0.7).convex
        True
        >>> r = ll.analysis.check_convexity(q, "composite_sigmoid", (-6, 6), gamma=2.0)
        >>> r.convex, r.sufficient, r.worst_z < 0
        (False, False, True)

    Reference: Shamir & Warmuth, 2025, Theorems 3-4, Appendices D and G.
    """
    _check_link_arg("link_or_scaling", link_or_scaling)
    if kind not in _CONVEXITY_KINDS:
        raise ValueError(f"kind must be one of {_CONVEXITY_KINDS}; got {kind!r}")
    lo, hi = _check_domain_arg(domain)
    gamma = _check_positive("gamma", gamma)
    if isinstance(points, bool) or not isinstance(points, int) or points < 16:
        raise ValueError(f"points must be an int >= 16, got {points!r}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
    link = link_or_scaling
    grid = _scan_grid(lo, hi, points)

    with _torch.no_grad():
        if kind == "matching":
            sufficient = None  # h' >= 0 is necessary and sufficient: set below
        else:
            sufficient = _non_decreasing(link, grid)

        if kind == "composite_softmax":
            z = _softmax_points(lo, hi, num_classes, points)
            curv, scale = _softmax_min_eig(link, z, gamma)
        else:
            z = grid
            curv, scale = _scalar_curvature(kind, link, z, gamma)

        finite = _torch.isfinite(curv)
        nonfinite = int((~finite).sum())
        if not bool(finite.any()):
            raise ValueError(
                f"the curvature of {link!r} is not finite anywhere on domain {domain!r}; "
                "check the link's domain (e.g. links.logit needs alpha*(z-beta) in (0, 1))"
            )
        # Non-negative up to rounding *at each point* (a global scale would let the huge
        # curvature of exp/cosh tails hide a negative region near the origin).
        convex = _is_nonneg_pointwise(curv[finite], scale[finite])
        masked = _torch.where(finite, curv, _torch.full_like(curv, _math.inf))
        i = int(masked.argmin())
        worst, min_c = z[i], float(curv[i])

        if kind != "composite_softmax":
            # Refine: a fine grid between the neighbours of the coarse minimum.
            a, b = grid[max(i - 1, 0)].item(), grid[min(i + 1, points - 1)].item()
            fine = _scan_grid(a, b, points)
            c2, s2 = _scalar_curvature(kind, link, fine, gamma)
            ok2 = _torch.isfinite(c2)
            if bool(ok2.any()):
                convex = convex and _is_nonneg_pointwise(c2[ok2], s2[ok2])
                j = int(_torch.where(ok2, c2, _torch.full_like(c2, _math.inf)).argmin())
                if float(c2[j]) < min_c:
                    worst, min_c = fine[j], float(c2[j])

        if sufficient is None:
            sufficient = convex
    worst_z = float(worst) if worst.dim() == 0 else tuple(float(v) for v in worst)
    return ConvexityReport(
        kind=kind,
        convex=bool(convex),
        worst_z=worst_z,
        min_curvature=min_c,
        sufficient=bool(sufficient),
        gamma=gamma,
        domain=(lo, hi),
        points=int(z.shape[0]),
        nonfinite=nonfinite,
    )


def _link_span(link: _Link, domain, like: "_torch.Tensor") -> "_torch.Tensor":
    lo, hi = _check_domain_arg(domain)
    ends = _torch.tensor([lo, hi], dtype=like.dtype if like.is_floating_point() else _torch.float64, device=like.device)
    h_ends = link(ends)
    span = h_ends[1] - h_ends[0]
    if not bool(_torch.isfinite(span)) or float(span) <= 0:
        raise ValueError(
            f"the link span h(S_M) - h(S_m) over domain {domain!r} must be finite and > 0 "
            f"(Theorem 1 needs a non-decreasing, non-constant link); got {float(span)!r} for {link!r}"
        )
    return span


def _check_in_domain(name: str, w: "_torch.Tensor", domain) -> None:
    lo, hi = domain
    bad = ~((w >= lo) & (w <= hi))
    if bool(bad.any()):
        raise ValueError(f"{name} must lie in domain [{lo:g}, {hi:g}]; got a value {w[bad].flatten()[0].item()!r}")


def bust(link: _Link, w_u, d, domain) -> "_torch.Tensor":
    r"""Bias Underspecification Sensitivity of a link (seed 000, Definition 1, Theorem 1 eq. 10).

    .. math::

        \Delta_{BUST}(w_u) = \frac{h(w_u + d) - h(w_u)}{h(S_M) - h(S_m)}

    The offset (per unit interval length ``τ → 0``) that an optimal model's prediction
    moves when observed scores in a tiny interval around ``w_u`` are biased by ``d``,
    scores being uniform on ``S = [S_m, S_M]``.

    Args:
        link: a non-decreasing :class:`~losslab.links.Link` ``h``.
        w_u: the underspecified location(s) in ``domain``, a float or tensor ``[...]``.
        d: the bias, a float or tensor broadcastable with ``w_u``.
        domain: ``(S_m, S_M)``.

    Returns:
        ``Δ_BUST``, the broadcast shape of ``w_u`` and ``d``.

    Example:
        >>> import torch, losslab as ll
        >>> h = ll.links.exp()                                   # high-score sensitivity
        >>> ll.analysis.bust(h, torch.tensor([-2.0, 2.0]), 0.5, (-3.0, 3.0))   # larger at high scores
        tensor([0.0044, 0.2392])
        >>> ll.analysis.bust(ll.links.identity(), 1.0, 0.5, (-3.0, 3.0))     # square loss: d / |S|
        tensor(0.0833, dtype=torch.float64)

    Reference: Shamir & Warmuth, 2025, Section 2.
    """
    _check_link_arg("link", link)
    w = _as_tensor("w_u", w_u)
    dd = _as_tensor("d", d, like=w)
    domain = _check_domain_arg(domain)
    _check_in_domain("w_u", w, domain)
    span = _link_span(link, domain, w)
    return (link(w + dd) - link(w)) / span


def blust(link: _Link, w_u, domain) -> "_torch.Tensor":
    r"""Bias Local Underspecification Sensitivity (seed 000, Definition 2, Theorem 1 eq. 10).

    .. math::

        \Delta_{BLUST}(w_u) = \lim_{d\to 0} \frac{\Delta_{BUST}(w_u)}{d} = \frac{h'(w_u)}{h(S_M) - h(S_m)}

    Args:
        link: a non-decreasing :class:`~losslab.links.Link` ``h``.
        w_u: location(s) in ``domain``, a float or tensor ``[...]``.
        domain: ``(S_m, S_M)``.

    Returns:
        ``Δ_BLUST``, the shape of ``w_u``.

    Example:
        >>> import torch, losslab as ll
        >>> ll.analysis.blust(ll.links.sigmoid(), torch.tensor([0.0, 3.0]), (-3.0, 3.0))
        tensor([0.2762, 0.0499])

    Reference: Shamir & Warmuth, 2025, Section 2.
    """
    _check_link_arg("link", link)
    w = _as_tensor("w_u", w_u)
    domain = _check_domain_arg(domain)
    _check_in_domain("w_u", w, domain)
    span = _link_span(link, domain, w)
    return link.derivative(w) / span


def _invert_monotone(link: _Link, y: "_torch.Tensor", iters: int = 200) -> "_torch.Tensor":
    """Solve h(z) = y by bisection for a non-decreasing link without a known inverse."""
    lo = _torch.full_like(y, -1.0)
    hi = _torch.full_like(y, 1.0)
    for _ in range(64):  # widen the bracket geometrically
        need_lo = link(lo) > y
        need_hi = link(hi) < y
        if not bool((need_lo | need_hi).any()):
            break
        lo = _torch.where(need_lo, lo * 2, lo)
        hi = _torch.where(need_hi, hi * 2, hi)
    else:
        raise ValueError(f"E h(S) lies outside the range of {link!r}; cannot invert it")
    for _ in range(iters):
        mid = (lo + hi) / 2
        up = link(mid) < y
        lo, hi = _torch.where(up, mid, lo), _torch.where(up, hi, mid)
    return (lo + hi) / 2


def proper_prediction(link: _Link, samples: "_torch.Tensor", weights: "_torch.Tensor | None" = None) -> "_torch.Tensor":
    r"""The minimiser of the expected matching loss: ``h^{-1}(E h(S))`` (seed 000, Prop. 1).

    .. math::

        \arg\min_{\hat s}\ \mathbb{E}_{S\sim P}\,\mathcal{L}_m(\hat s, S) = h^{-1}\{\mathbb{E}_P\, h(S)\}

    The expectation is the (weighted) mean over the leading dim of ``samples``. Links
    without a closed-form inverse (``links.custom``, ``composite_sigmoid_link``) are
    inverted by bisection (they must be increasing).

    Args:
        link: a :class:`~losslab.links.Link` ``h`` (strictly increasing on the samples' range).
        samples: observed scores ``[N, ...]``, floating; ``N >= 1``.
        weights: optional non-negative weights ``[N]`` or ``[N, ...]`` (not all zero).

    Returns:
        ``[...]``: the proper prediction per trailing position.

    Example:
        >>> import torch, losslab as ll
        >>> s = torch.tensor([0.0, 0.0, 0.0, 3.0])
        >>> ll.analysis.proper_prediction(ll.links.identity(), s)       # square loss: the mean
        tensor(0.7500)
        >>> ll.analysis.proper_prediction(ll.links.exp(), s) > 0.75      # high-score link: pulled up
        tensor(True)

    Reference: Shamir & Warmuth, 2025, Proposition 1 and Appendix I.
    """
    _check_link_arg("link", link)
    samples, weights = _promote_floating(samples, weights)
    _check_floating("samples", samples)
    if samples.dim() == 0 or samples.shape[0] == 0:
        raise ValueError(f"samples must have a non-empty leading dim; got shape {tuple(samples.shape)}")
    hs = link(samples)
    if weights is None:
        mean = hs.mean(0)
    else:
        _check_floating("weights", weights)
        if weights.shape != samples.shape and weights.shape != samples.shape[:1]:
            raise ValueError(
                f"weights must have shape {tuple(samples.shape[:1])} or {tuple(samples.shape)}; got {tuple(weights.shape)}"
            )
        if bool((weights < 0).any()) or not bool(_torch.isfinite(weights).all()):
            raise ValueError("weights must be finite and non-negative")
        w = weights.reshape(weights.shape + (1,) * (samples.dim() - weights.dim()))
        total = w.sum(0)
        if bool((total == 0).any()):
            raise ValueError("weights must not sum to zero")
        mean = (w * hs).sum(0) / total
    if link.g_inverse is not None:
        # A capped link's values lie in [g(-cap), g(cap)], so their mean does too and the
        # uncapped inverse lands inside the cap: exact either way.
        return link.inverse(mean)
    if not link.monotone:
        raise ValueError(f"proper_prediction needs an increasing link; {link!r} is not monotone")
    return _invert_monotone(link, mean)

# -- sampled / large-K softmax: gradient bias and variance (seed 003) ----------


def gradient_bias_variance(hidden, out_weight, out_bias, labels, loss_fn, num_samples_list, repeats=32, *,
                           wrt=("hidden", "out_weight"), generator=None, **loss_kwargs):
    r"""Bias and variance of an approximate loss's gradient against the exact softmax gradient.

    For each ``S`` in ``num_samples_list``, draws ``repeats`` independent sample sets,
    computes ``ĝ = ∇ loss_fn(hidden, out_weight, out_bias, labels, num_sampled=S, ...)``
    (mean reduction; w.r.t. the tensors named in ``wrt``, flattened together) and
    compares with ``g = ∇ F.cross_entropy(hidden @ out_weight.T + out_bias, labels)``
    (seed 003's bias–variance decomposition, ``MSE = bias² + var``):

    .. math::
        \mathrm{bias}^2 = \lVert \mathbb E\hat g - g\rVert^2,\quad
        \mathrm{var} = \mathbb E\lVert \hat g - \mathbb E\hat g\rVert^2

    Estimated by the sample mean ``ḡ``; ``var`` uses ``R − 1``; ``bias2`` is the plug-in
    ``‖ḡ − g‖²`` (biased up by ``var/R``) and ``bias2_unbiased = bias2 − var/R``
    (may be slightly negative when the true bias is ~0).

    Args:
        hidden, out_weight, out_bias, labels: the model state (``[B, d]``, ``[K, d]``, ``[K]|None``, ``[B]``).
        loss_fn: a losslab sampled loss (takes ``num_sampled=`` and ``generator=``).
        num_samples_list: the ``S`` values.
        repeats: ``R`` draws per ``S``.
        wrt: any of ``"hidden"``, ``"out_weight"``, ``"out_bias"``.
        generator: seed or ``torch.Generator`` for the draws.
        **loss_kwargs: passed to ``loss_fn`` (``proposal=``, ``counts=``, ...).

    Returns:
        a list of dicts ``{num_sampled, bias2, bias2_unbiased, variance, mse, exact_norm2, cosine}``
        (``cosine``: of the mean gradient with ``g``).

    Example:
        >>> import torch, losslab as ll
        >>> g = torch.Generator().manual_seed(0)
        >>> h, W = torch.randn(8, 4, generator=g), torch.randn(50, 4, generator=g)
        >>> y = torch.randint(0, 50, (8,), generator=g)
        >>> rows = ll.analysis.gradient_bias_variance(h, W, None, y, ll.sampled_softmax_loss, [4, 32], repeats=8, generator=0)
        >>> rows[1]["variance"] < rows[0]["variance"]
        True
    """
    import torch
    import torch.nn.functional as F

    if repeats < 2:
        raise ValueError(f"repeats must be >= 2; got {repeats}")
    names = ("hidden", "out_weight", "out_bias")
    for w in wrt:
        if w not in names or (w == "out_bias" and out_bias is None):
            raise ValueError(f"wrt entries must be among {names} (out_bias only if given); got {w!r}")
    base = {"hidden": hidden, "out_weight": out_weight, "out_bias": out_bias}
    leaves = {k: (v.detach().clone().requires_grad_(k in wrt) if v is not None else None) for k, v in base.items()}
    targets = [leaves[k] for k in wrt]

    def flat_grad(loss):
        return torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, targets)])

    logits = leaves["hidden"] @ leaves["out_weight"].T
    if leaves["out_bias"] is not None:
        logits = logits + leaves["out_bias"]
    exact = flat_grad(F.cross_entropy(logits, labels)).double()
    if generator is None or isinstance(generator, int):
        generator = torch.Generator().manual_seed(0 if generator is None else generator)
    rows = []
    for S in num_samples_list:
        draws = []
        for _ in range(repeats):
            loss = loss_fn(leaves["hidden"], leaves["out_weight"], leaves["out_bias"], labels,
                           num_sampled=int(S), generator=generator, reduction="mean", **loss_kwargs)
            draws.append(flat_grad(loss).double())
        G = torch.stack(draws)
        mean = G.mean(0)
        var = float(((G - mean) ** 2).sum(1).sum() / (repeats - 1))
        bias2 = float(((mean - exact) ** 2).sum())
        mse = float(((G - exact) ** 2).sum(1).mean())
        cos = float(torch.dot(mean, exact) / (mean.norm() * exact.norm()).clamp_min(1e-300))
        rows.append({"num_sampled": int(S), "bias2": bias2, "bias2_unbiased": bias2 - var / repeats,
                     "variance": var, "mse": mse, "exact_norm2": float((exact ** 2).sum()), "cosine": cos})
    return rows

__all__ += ["gradient_bias_variance"]

# -- the loss auditor: one card of properties per loss --------------------------
from .audit import LossCard, audit  # noqa: E402

__all__ += ["audit", "LossCard"]
