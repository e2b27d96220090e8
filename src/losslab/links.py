"""Link functions as values (seed 000, Sections 2-4; DESIGN.md principle 4).

A :class:`Link` carries a non-decreasing (usually) function ``h(z)``, its
derivative ``h'(z)`` -- the loss *sensitivity* (Appendix B) -- and, where one
exists in closed form, its primitive ``H(z)`` and inverse ``h^{-1}(y)``. Every
constructor takes the affine reparametrisation ``x = alpha * (z - beta)`` of
eq. (3)-(7):

.. math::

    h(z) = g(x), \\quad h'(z) = \\alpha\\, g'(x), \\quad H(z) = G(x) / \\alpha,
    \\quad h^{-1}(y) = g^{-1}(y)/\\alpha + \\beta

where ``g`` is the base shape (sigmoid, exp, sinh, ...) and ``G`` its primitive.
The same value serves as a matching-loss link ``h`` (primitive ``H``) and as a
composite scaling function ``q`` (primitive ``Q``).

An optional ``cap`` clamps ``x`` to ``[-cap, cap]`` before the base shape is
applied (the paper caps ``sinh``/``exp`` links to a finite range, Section 2,
"Norm sensitivity"). Beyond the cap the link is constant, its derivative zero
and its primitive continues linearly, so losses stay finite at any input.

Example:
    >>> import torch
    >>> from losslab import links
    >>> h = links.sigmoid(alpha=2.0, beta=1.0)
    >>> z = torch.tensor([0.0, 1.0, 3.0])
    >>> h(z)
    tensor([0.1192, 0.5000, 0.9820])
    >>> h.derivative(torch.tensor([1.0]))   # alpha * sigma * (1 - sigma) at x = 0
    tensor([0.5000])
    >>> torch.allclose(h.inverse(h(z)), z)
    True
"""
from __future__ import annotations

import functools
import math
import pickle
from dataclasses import dataclass, field, fields, replace
from typing import Callable, Optional

import torch
import torch.nn.functional as F

from . import _numerics as nm
from ._validate import check_bool, check_finite_scalar, check_in_open_interval, check_positive

TensorFn = Callable[[torch.Tensor], torch.Tensor]
DivergenceFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

__all__ = [
    "Link",
    "sigmoid",
    "identity",
    "exp",
    "anti_exp",
    "sinh",
    "tanh",
    "cosh",
    "arcsinh",
    "smelu",
    "huber",
    "step",
    "sign",
    "staircase",
    "piecewise_linear",
    "logit",
    "power",
    "custom",
    "QUADRATURE_NODES",
]

# Gauss-Legendre nodes used when a link has no closed-form primitive: exact for
# polynomial links up to degree 2n-1; for smooth non-polynomial links the error
# grows with |x_hat - x|: ~1e-12 relative for |dx| <= 1, ~1e-7 for arcsinh over
# |dx| = 26 (tests/test_links.py).
QUADRATURE_NODES = 48


@dataclass(frozen=True)
class Link:
    """A link ``h(z) = g(alpha * (z - beta))`` with its derivative, primitive and inverse.

    Build one with a constructor of this module (``links.sigmoid()``, ...) or
    :func:`custom`. Call it like a function: ``h(z)``.

    Attributes:
        name: the base shape's name.
        alpha, beta: the reparametrisation ``x = alpha * (z - beta)``; ``alpha > 0``.
        cap: ``x`` is clamped to ``[-cap, cap]`` (``None``: no cap).
        params: shape parameters (``c`` of SmeLU, ``d`` of power, ...), for display.
        monotone: whether ``h`` is non-decreasing (so its matching loss is convex).
        domain: open interval of ``x`` outside which the link is undefined.
        recipe: how a constructor of this module built the link --
            ``(constructor name, ((keyword, value), ...), scale factors)`` -- or ``None``
            for a ``Link`` built directly. Links with a recipe pickle, deep-copy and
            ``torch.save`` as that recipe plus ``alpha``, ``beta``, ``cap`` (plain data,
            DESIGN.md principle 5) and compare equal when recipe, ``alpha``, ``beta``
            and ``cap`` are equal.
    """

    name: str
    g: TensorFn
    g_prime: Optional[TensorFn] = None
    g_primitive: Optional[TensorFn] = None
    g_inverse: Optional[TensorFn] = None
    g_divergence: Optional[DivergenceFn] = field(default=None, repr=False)
    alpha: float = 1.0
    beta: float = 0.0
    cap: Optional[float] = None
    params: tuple = ()
    monotone: bool = True
    domain: tuple[float, float] = (-math.inf, math.inf)
    recipe: Optional[tuple] = field(default=None, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "alpha", check_positive("alpha", self.alpha))
        object.__setattr__(self, "beta", check_finite_scalar("beta", self.beta))
        if self.cap is not None:
            object.__setattr__(self, "cap", check_positive("cap", self.cap))

    # -- coordinates -----------------------------------------------------------------
    def x(self, z: torch.Tensor) -> torch.Tensor:
        """The reparametrised variable ``alpha * (z - beta)``."""
        _check_params_for(self, z)
        if self.alpha == 1.0 and self.beta == 0.0:
            return z
        return (z - self.beta) * self.alpha

    def _clamp(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.cap is None else x.clamp(-self.cap, self.cap)

    def _check_domain(self, x: torch.Tensor, name: str = "z") -> None:
        lo, hi = self.domain
        if math.isfinite(lo) or math.isfinite(hi):
            check_in_open_interval(f"{name} (as alpha*({name}-beta)) for the {self.name} link", x.detach(), lo, hi)

    # -- the link and its relatives ----------------------------------------------------
    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        """``h(z)``."""
        x = self.x(z)
        self._check_domain(x)
        return self.g(self._clamp(x))

    f = __call__

    def derivative(self, z: torch.Tensor) -> torch.Tensor:
        """``h'(z) = alpha * g'(x)``: the local sensitivity (eq. B.1 for composite links); 0 beyond a cap."""
        x = self.x(z)
        self._check_domain(x)
        xc = self._clamp(x)
        if self.g_prime is not None:
            d = self.g_prime(xc)
        else:
            with torch.enable_grad():
                xg = xc.detach().requires_grad_(True)
                d = torch.autograd.grad(self.g(xg).sum(), xg)[0]
        d = d * self.alpha
        if self.cap is not None:
            d = torch.where(x.abs() <= self.cap, d, torch.zeros_like(d))
        return d

    @property
    def has_primitive(self) -> bool:
        """Whether ``H`` is known in closed form (else it is computed by quadrature)."""
        return self.g_primitive is not None

    def _base_primitive(self, x: torch.Tensor) -> torch.Tensor:
        if self.g_primitive is not None:
            return self.g_primitive(x)
        # G(x) = ∫_0^x g(t) dt by Gauss-Legendre; the additive constant is irrelevant
        # to every loss (it cancels in Bregman divergences and log-partitions).
        return _quadrature(self.g, torch.zeros_like(x), x)

    def primitive(self, z: torch.Tensor) -> torch.Tensor:
        """``H(z) = G(x) / alpha``; continued linearly beyond a cap so that ``H' = h`` everywhere."""
        x = self.x(z)
        self._check_domain(x)
        xc = self._clamp(x)
        value = self._base_primitive(xc)
        if self.cap is not None:
            value = value + self.g(xc) * (x - xc)
        return value / self.alpha

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """``h^{-1}(y) = g^{-1}(y) / alpha + beta`` (only inside the range of an uncapped part)."""
        if self.g_inverse is None:
            raise NotImplementedError(f"the {self.name} link has no inverse (it is not injective or none is known)")
        return self.g_inverse(y) / self.alpha + self.beta

    def bregman(self, z_hat: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``D_H(z_hat, z) = H(z_hat) - H(z) - (z_hat - z) h(z)`` (eq. 2), elementwise.

        Uses the shape's cancellation-free form where one is known, Gauss-Legendre
        quadrature of ``∫_z^{z_hat} (h(t) - h(z)) dt`` where no primitive is.
        """
        x_hat, x = self.x(z_hat), self.x(z)
        self._check_domain(x_hat, "pred")
        self._check_domain(x, "target")
        xh_c, x_c = self._clamp(x_hat), self._clamp(x)
        if self.g_divergence is not None:
            inner = self.g_divergence(xh_c, x_c)
        elif self.g_primitive is not None:
            inner = self.g_primitive(xh_c) - self.g_primitive(x_c) - (xh_c - x_c) * self.g(x_c)
        else:
            g_x = self.g(x_c)
            inner = _quadrature(lambda t: self.g(t) - g_x.unsqueeze(-1), x_c, xh_c)
        if self.cap is not None:
            # Past the cap g is constant, so the divergence grows linearly (see module docstring).
            inner = inner + (x_hat - xh_c) * (self.g(xh_c) - self.g(x_c))
        return inner / self.alpha

    # -- building new links from this one ----------------------------------------------
    def reparametrize(self, alpha: float | None = None, beta: float | None = None) -> "Link":
        """The same shape with a new ``alpha`` and/or ``beta``."""
        return replace(self, alpha=self.alpha if alpha is None else alpha, beta=self.beta if beta is None else beta)

    def capped(self, cap: float | None) -> "Link":
        """The same link with ``x`` clamped to ``[-cap, cap]`` (``None`` removes the cap)."""
        return replace(self, cap=cap)

    def scaled(self, c: float) -> "Link":
        """``c * h`` (``c > 0``), e.g. the paper's ``q(z) = alpha * e^x`` is ``links.exp(alpha).scaled(alpha)``."""
        c = check_positive("c", c)
        g, gp, gP, gi, gd = self.g, self.g_prime, self.g_primitive, self.g_inverse, self.g_divergence
        return replace(
            self,
            name=f"{c:g}*{self.name}",
            g=lambda x: c * g(x),
            g_prime=None if gp is None else (lambda x: c * gp(x)),
            g_primitive=None if gP is None else (lambda x: c * gP(x)),
            g_inverse=None if gi is None else (lambda y: gi(y / c)),
            g_divergence=None if gd is None else (lambda a, b: c * gd(a, b)),
            recipe=None if self.recipe is None else (*self.recipe[:2], self.recipe[2] + (c,)),
        )

    def __repr__(self) -> str:
        parts = [f"alpha={self.alpha:g}", f"beta={self.beta:g}"]
        parts += [f"{k}={v!r}" for k, v in self.params]
        if self.cap is not None:
            parts.append(f"cap={self.cap:g}")
        return f"Link({self.name}, {', '.join(parts)})"

    # -- plain data: equality and pickling by recipe -----------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Link):
            return NotImplemented
        if self.recipe is not None and other.recipe is not None:
            return (self.recipe, self.alpha, self.beta, self.cap) == (other.recipe, other.alpha, other.beta, other.cap)
        return all(getattr(self, f.name) == getattr(other, f.name) for f in fields(self))

    def __hash__(self) -> int:
        # Equal links share name, alpha, beta and cap; hashing the callables is not needed.
        return hash((self.name, self.alpha, self.beta, self.cap))

    def __reduce__(self):
        if self.recipe is not None:
            ctor, kwargs, scales = self.recipe
            kwargs = tuple((k, _ByValue(v) if callable(v) else v) for k, v in kwargs)
            return (_from_recipe, (ctor, kwargs, scales, self.alpha, self.beta, self.cap))
        state = {f.name: getattr(self, f.name) for f in fields(self)}
        return (_from_fields, ({k: _ByValue(v) if callable(v) else v for k, v in state.items()},))


def _quadrature(fn: TensorFn, lo: torch.Tensor, hi: torch.Tensor, n: int | None = None) -> torch.Tensor:
    """``∫_lo^hi fn(t) dt`` elementwise by n-point Gauss-Legendre (fn sees a trailing node dim)."""
    nodes, weights = _gauss_legendre(n or QUADRATURE_NODES, lo.dtype if lo.is_floating_point() else torch.float64, lo.device)
    mid = (hi + lo) / 2
    half = (hi - lo) / 2
    # addcmul and a matrix-vector product: two passes over the [..., n] nodes fewer than
    # mid + half * nodes and (fn * weights).sum(-1).
    t = torch.addcmul(mid.unsqueeze(-1), half.unsqueeze(-1), nodes)
    return half * (fn(t) @ weights)


def _gauss_legendre(n: int, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    # numpy's leggauss refines its roots by Newton steps (~ms a call) and the chunked
    # quadrature of matching_loss asks for the same nodes hundreds of times: the numpy
    # arrays are cached (not tensors, which a fake-tensor trace must make itself).
    nodes, weights = _leggauss(n)
    return torch.as_tensor(nodes, dtype=dtype, device=device), torch.as_tensor(weights, dtype=dtype, device=device)


@functools.lru_cache(maxsize=8)
def _leggauss(n: int):
    import numpy as np

    return np.polynomial.legendre.leggauss(n)


def _params(alpha: float, beta: float, cap: float | None) -> dict:
    return {"alpha": alpha, "beta": beta, "cap": cap}


def _recipe(constructor: str, **kwargs) -> tuple:
    """``Link.recipe`` of a constructor call: its shape keywords (not alpha/beta/cap), no scale yet."""
    return (constructor, tuple(kwargs.items()), ())


# ---------------------------------------------------------------------------------
# Smooth links


def _sigmoid_divergence(xh: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    # softplus(xh) - softplus(x) - (xh - x) σ(x) is KL(Bern σ(x) || Bern σ(xh)); written
    # with logsigmoid it has no cancellation between large softplus values.
    p, q = torch.sigmoid(x), torch.sigmoid(-x)
    return p * (F.logsigmoid(x) - F.logsigmoid(xh)) + q * (F.logsigmoid(-x) - F.logsigmoid(-xh))


def sigmoid(alpha: float = 1.0, beta: float = 0.0) -> Link:
    """``h(z) = σ(α(z−β))``, ``H(z) = softplus(α(z−β))/α`` (eq. 3-4).

    Unshifted: low-norm sensitivity; ``beta > 0``: high-score; ``beta < 0``: low-score (Table H.1).
    """
    return Link(
        "sigmoid",
        torch.sigmoid,
        lambda x: torch.sigmoid(x) * torch.sigmoid(-x),
        nm.softplus,
        torch.logit,
        _sigmoid_divergence,
        recipe=_recipe("sigmoid"), **_params(alpha, beta, None),
    )


def identity(alpha: float = 1.0, beta: float = 0.0) -> Link:
    """``h(z) = α(z−β)``, ``H(z) = [α(z−β)]²/(2α)``: the square loss (eq. 6), uniform sensitivity."""
    return Link(
        "identity",
        lambda x: x,
        torch.ones_like,
        lambda x: x * x / 2,
        lambda y: y,
        lambda xh, x: (xh - x) ** 2 / 2,
        recipe=_recipe("identity"), **_params(alpha, beta, None),
    )


def _exp_divergence(xh: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    # e^xh - e^x - (xh - x) e^x = e^x (expm1(d) - d): no cancellation for small d. For
    # |d| > 1 the direct form e^xh - e^x (1 + d) has no harmful cancellation and, unlike
    # e^x * expm1(d), does not overflow when x = -50, xh = 50 (a capped link at ±1e4).
    d = xh - x
    small = d.abs() <= 1
    ds = torch.where(small, d, torch.zeros_like(d))  # keeps the unused branch finite
    near = torch.exp(x) * (torch.expm1(ds) - ds)
    far = torch.exp(xh) - torch.exp(x) * (1 + d)
    return torch.where(small, near, far)


def exp(alpha: float = 1.0, beta: float = 0.0, cap: float | None = 50.0) -> Link:
    """``h(z) = e^{α(z−β)}``, ``H(z) = e^{α(z−β)}/α`` (eq. 7): high-score sensitivity.

    Capped at ``|x| <= 50`` by default (e^50 ≈ 5e21) so float32 losses stay finite
    for inputs up to 1e4; pass ``cap=None`` to remove the cap.
    """
    return Link(
        "exp", torch.exp, torch.exp, torch.exp, torch.log, _exp_divergence, recipe=_recipe("exp"), **_params(alpha, beta, cap)
    )


def anti_exp(alpha: float = 1.0, beta: float = 0.0, cap: float | None = 50.0) -> Link:
    """``h(z) = −e^{−α(z−β)}``, ``H(z) = e^{−α(z−β)}/α``: low-score sensitivity (Table H.1)."""
    return Link(
        "anti_exp",
        lambda x: -torch.exp(-x),
        lambda x: torch.exp(-x),
        lambda x: torch.exp(-x),
        lambda y: -torch.log(-y),
        lambda xh, x: _exp_divergence(-xh, -x),
        recipe=_recipe("anti_exp"), **_params(alpha, beta, cap),
    )


def _cosh_divergence(xh: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    # cosh(xh) - cosh(x) - (xh - x) sinh(x) = [e^x(expm1(d)-d) + e^-x(expm1(-d)+d)]/2.
    return (_exp_divergence(xh, x) + _exp_divergence(-xh, -x)) / 2


def sinh(alpha: float = 1.0, beta: float = 0.0, cap: float | None = 50.0) -> Link:
    """``h(z) = sinh(α(z−β))``, ``H(z) = cosh(α(z−β))/α``: high-norm sensitivity (Table H.1)."""
    return Link(
        "sinh", torch.sinh, torch.cosh, torch.cosh, torch.asinh, _cosh_divergence, recipe=_recipe("sinh"), **_params(alpha, beta, cap)
    )


def _log_cosh(x: torch.Tensor) -> torch.Tensor:
    # log cosh x = |x| + log1p(e^{-2|x|}) - log 2, finite for any x.
    ax = x.abs()
    return ax + nm.softplus(-2 * ax) - math.log(2.0)


def tanh(alpha: float = 1.0, beta: float = 0.0) -> Link:
    """``h(z) = tanh(α(z−β))``, ``H(z) = log cosh(α(z−β))/α``: low-norm sensitivity, symmetric loss."""
    return Link(
        "tanh",
        torch.tanh,
        lambda x: 1 - torch.tanh(x) ** 2,
        _log_cosh,
        torch.atanh,
        recipe=_recipe("tanh"), **_params(alpha, beta, None),
    )


def cosh(alpha: float = 1.0, beta: float = 0.0, cap: float | None = 50.0) -> Link:
    """``h(z) = cosh(α(z−β))``, ``H(z) = sinh(α(z−β))/α``.

    Not monotone, so not a convex matching-loss link by itself; it is the scaling
    ``q`` whose primitive ``Q = sinh`` gives an injective composite Sigmoid (Cor. G.4).
    """
    return Link(
        "cosh",
        torch.cosh,
        torch.sinh,
        torch.sinh,
        None,
        lambda xh, x: (_exp_divergence(xh, x) - _exp_divergence(-xh, -x)) / 2,
        monotone=False,
        recipe=_recipe("cosh"), **_params(alpha, beta, cap),
    )


def arcsinh(alpha: float = 1.0, beta: float = 0.0) -> Link:
    """``h(z) = arcsinh(α(z−β))``, ``H = [x·arcsinh(x) − sqrt(1+x²)]/α``: low-norm sensitivity."""
    return Link(
        "arcsinh",
        torch.asinh,
        lambda x: torch.rsqrt(1 + x * x),
        lambda x: x * torch.asinh(x) - torch.hypot(x, torch.ones_like(x)),
        torch.sinh,
        recipe=_recipe("arcsinh"), **_params(alpha, beta, None),
    )


# ---------------------------------------------------------------------------------
# Piecewise links


def smelu(c: float = 1.0, alpha: float = 1.0, beta: float = 0.0) -> Link:
    """The SmeLU gradient as a link (eq. 14): 0 below ``−c``, ``(x+c)/(2c)`` on ``|x| ≤ c``, 1 above.

    Its primitive is SmeLU itself. Shifted right it gives high-score sensitivity and caps scores
    that are too high (Section 2, "Piecewise Sensitivity").
    """
    c = check_positive("c", c)
    return Link(
        "smelu",
        lambda x: ((x + c) / (2 * c)).clamp(0.0, 1.0),
        lambda x: torch.where(x.abs() <= c, torch.full_like(x, 1 / (2 * c)), torch.zeros_like(x)),
        lambda x: torch.where(x >= c, x, (x + c).clamp_min(0.0) ** 2 / (4 * c)),
        lambda y: 2 * c * y - c,
        params=(("c", c),),
        recipe=_recipe("smelu", c=c), **_params(alpha, beta, None),
    )


def huber(delta: float = 1.0, alpha: float = 1.0, beta: float = 0.0) -> Link:
    """The Huber gradient ``clamp(x, −δ, δ)`` as a link; its primitive is the Huber function."""
    delta = check_positive("delta", delta)
    return Link(
        "huber",
        lambda x: x.clamp(-delta, delta),
        lambda x: (x.abs() <= delta).to(x.dtype),
        lambda x: torch.where(x.abs() <= delta, x * x / 2, delta * (x.abs() - delta / 2)),
        lambda y: y,
        params=(("delta", delta),),
        recipe=_recipe("huber", delta=delta), **_params(alpha, beta, None),
    )


def step(alpha: float = 1.0, beta: float = 0.0) -> Link:
    """Heaviside step ``1[x > 0]``; primitive ReLU, giving a hinge-shaped loss (Section 2)."""
    return Link(
        "step",
        lambda x: (x > 0).to(x.dtype),
        torch.zeros_like,
        torch.relu,
        None,
        recipe=_recipe("step"), **_params(alpha, beta, None),
    )


def sign(alpha: float = 1.0, beta: float = 0.0) -> Link:
    """``sign(x)``; primitive ``|x|``: distinguishes two regions, not inside them (Section 2)."""
    return Link("sign", torch.sign, torch.zeros_like, torch.abs, None, recipe=_recipe("sign"), **_params(alpha, beta, None))


def _as_float_list(name: str, values) -> list[float]:
    out = [check_finite_scalar(f"{name}[{i}]", v) for i, v in enumerate(values)]
    if not out:
        raise ValueError(f"{name} must not be empty")
    return out


def staircase(thresholds, heights=None, alpha: float = 1.0, beta: float = 0.0) -> Link:
    """``h(x) = Σ_i heights[i]·1[x > thresholds[i]]``: one plateau per region (Section 2).

    Args:
        thresholds: increasing step positions (in ``x``).
        heights: non-negative step sizes, one per threshold (default 1 each).
    """
    t = _as_float_list("thresholds", thresholds)
    if any(b <= a for a, b in zip(t, t[1:])):
        raise ValueError(f"thresholds must be strictly increasing; got {t}")
    a = [1.0] * len(t) if heights is None else _as_float_list("heights", heights)
    if len(a) != len(t):
        raise ValueError(f"heights must have one entry per threshold ({len(t)}); got {len(a)}")
    if any(v < 0 for v in a):
        raise ValueError(f"heights must be non-negative for a non-decreasing link; got {a}")

    def _tensors(x):
        return (torch.tensor(t, dtype=x.dtype, device=x.device), torch.tensor(a, dtype=x.dtype, device=x.device))

    def g(x):
        tt, aa = _tensors(x)
        return ((x.unsqueeze(-1) > tt) * aa).sum(-1)

    def G(x):
        tt, aa = _tensors(x)
        return (torch.relu(x.unsqueeze(-1) - tt) * aa).sum(-1)

    return Link(
        "staircase",
        g,
        torch.zeros_like,
        G,
        None,
        params=(("thresholds", tuple(t)), ("heights", tuple(a))),
        recipe=_recipe("staircase", thresholds=tuple(t), heights=tuple(a)), **_params(alpha, beta, None),
    )


def piecewise_linear(knots, values, alpha: float = 1.0, beta: float = 0.0) -> Link:
    """Continuous piecewise-linear link through ``(knots[i], values[i])``, constant outside the knots.

    Values must be non-decreasing for a convex loss; the primitive is piecewise quadratic (closed form).
    """
    xk = _as_float_list("knots", knots)
    yk = _as_float_list("values", values)
    if len(xk) != len(yk) or len(xk) < 2:
        raise ValueError(f"knots and values need the same length >= 2; got {len(xk)} and {len(yk)}")
    if any(b <= a for a, b in zip(xk, xk[1:])):
        raise ValueError(f"knots must be strictly increasing; got {xk}")
    monotone = all(b >= a for a, b in zip(yk, yk[1:]))
    slopes = [(y1 - y0) / (x1 - x0) for x0, x1, y0, y1 in zip(xk, xk[1:], yk, yk[1:])]
    # Area under the link from knots[0] to each knot (trapezoids), so G is exact.
    areas = [0.0]
    for x0, x1, y0, y1 in zip(xk, xk[1:], yk, yk[1:]):
        areas.append(areas[-1] + (x1 - x0) * (y0 + y1) / 2)

    def _seg(x):
        kx = torch.tensor(xk, dtype=x.dtype, device=x.device)
        j = torch.searchsorted(kx[1:-1].contiguous(), x.contiguous(), right=True)
        return kx, j

    def g(x):
        kx, j = _seg(x)
        x0 = kx[j]
        y0 = torch.tensor(yk, dtype=x.dtype, device=x.device)[j]
        m = torch.tensor(slopes, dtype=x.dtype, device=x.device)[j]
        xc = x.clamp(xk[0], xk[-1])
        return y0 + m * (xc - x0)

    def g_prime(x):
        _, j = _seg(x)
        m = torch.tensor(slopes, dtype=x.dtype, device=x.device)[j]
        inside = (x >= xk[0]) & (x <= xk[-1])
        return torch.where(inside, m, torch.zeros_like(m))

    def G(x):
        kx, j = _seg(x)
        xc = x.clamp(xk[0], xk[-1])
        x0 = kx[j]
        y0 = torch.tensor(yk, dtype=x.dtype, device=x.device)[j]
        m = torch.tensor(slopes, dtype=x.dtype, device=x.device)[j]
        area0 = torch.tensor(areas, dtype=x.dtype, device=x.device)[j]
        inner = area0 + (xc - x0) * y0 + m * (xc - x0) ** 2 / 2
        # Constant continuation outside the knots: linear primitive there.
        below = torch.clamp(x - xk[0], max=0.0) * yk[0]
        above = torch.clamp(x - xk[-1], min=0.0) * yk[-1]
        return inner + below + above

    return Link(
        "piecewise_linear",
        g,
        g_prime,
        G,
        None,
        params=(("knots", tuple(xk)), ("values", tuple(yk))),
        monotone=monotone,
        recipe=_recipe("piecewise_linear", knots=tuple(xk), values=tuple(yk)), **_params(alpha, beta, None),
    )


def _logit_divergence(xh: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    # Bregman of the negative entropy: KL(Bern(xh) || Bern(x)); xlogy gives 0·log 0 = 0.
    return nm.xlogy(xh, xh / x) + nm.xlogy(1 - xh, (1 - xh) / (1 - x))


def logit(alpha: float = 1.0, beta: float = 0.0) -> Link:
    """``h(z) = σ^{-1}(x) = log(x/(1−x))`` for ``x = α(z−β) ∈ (0, 1)``: high-norm sensitivity on probabilities.

    ``H`` is the negative binary entropy, so the matching loss is ``KL(Bern(x̂) || Bern(x))/α``.
    Inputs outside (0, 1) raise ``ValueError``.
    """
    return Link(
        "logit",
        torch.logit,
        lambda x: 1 / (x * (1 - x)),
        lambda x: nm.xlogy(x, x) + nm.xlogy(1 - x, 1 - x),
        torch.sigmoid,
        _logit_divergence,
        domain=(0.0, 1.0),
        recipe=_recipe("logit"), **_params(alpha, beta, None),
    )


def power(d: float = 2.0, alpha: float = 1.0, beta: float = 0.0) -> Link:
    """``h(z) = sign(x)|x|^d``, ``H = |x|^{d+1}/((d+1)α)``.

    ``d > 1``: high-norm (sinh-like) sensitivity; ``0 < d < 1``: low-norm (sigmoid-like) (Table H.1).
    """
    d = check_positive("d", d)
    return Link(
        "power",
        lambda x: torch.sign(x) * x.abs() ** d,
        lambda x: d * x.abs() ** (d - 1),
        lambda x: x.abs() ** (d + 1) / (d + 1),
        lambda y: torch.sign(y) * y.abs() ** (1 / d),
        params=(("d", d),),
        recipe=_recipe("power", d=d), **_params(alpha, beta, None),
    )


def custom(
    f: TensorFn,
    derivative: TensorFn | None = None,
    primitive: TensorFn | None = None,
    inverse: TensorFn | None = None,
    *,
    name: str = "custom",
    alpha: float = 1.0,
    beta: float = 0.0,
    cap: float | None = None,
    monotone: bool = True,
) -> Link:
    """A user-defined link from a callable ``f`` (applied to ``x = α(z−β)``).

    Without ``derivative`` the sensitivity comes from autograd; without ``primitive``
    the loss value comes from Gauss–Legendre quadrature while its gradient
    ``h(ŝ) − h(s)`` stays exact -- "analytic gradients even without an analytic loss".

    Pickling: a custom link (and a model holding one) survives ``pickle``,
    ``copy.deepcopy`` and ``torch.save``/``torch.load(weights_only=False)``. Callables
    importable by name (module-level functions, ``torch.sin``) are stored by reference,
    as pickle always does; lambdas and closures are stored by value with ``cloudpickle``
    (their code and captured variables), so loading needs a compatible Python version.
    ``deepcopy`` keeps the callables themselves. Two custom links compare equal when
    built from the same callables and arguments; after a pickle round trip a lambda is a
    new object, so the copy computes the same values but is not ``==`` the original.

    Example:
        >>> import math, torch, losslab as ll
        >>> h = ll.links.custom(lambda x: x + torch.sin(x) / 2)   # increasing: h' = 1 + cos/2 > 0
        >>> loss = ll.matching_loss(torch.tensor([1.0]), torch.tensor([0.0]), h, reduction="sum")
        >>> exact = 0.5 + (1 - math.cos(1.0)) / 2                  # ∫_0^1 (h(z) - h(0)) dz
        >>> abs(loss.item() - exact) < 1e-6
        True
    """
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    for nm_, fn in (("derivative", derivative), ("primitive", primitive), ("inverse", inverse)):
        if fn is not None and not callable(fn):
            raise TypeError(f"{nm_} must be callable or None, got {type(fn).__name__}")
    check_bool("monotone", monotone)
    recipe = _recipe("custom", f=f, derivative=derivative, primitive=primitive, inverse=inverse, name=name, monotone=monotone)
    return Link(name, f, derivative, primitive, inverse, None, monotone=monotone, recipe=recipe, **_params(alpha, beta, cap))



# ---------------------------------------------------------------------------------
# More link shapes of Table H.1 (seed 000, Appendix H.1), by sensitivity type:
#   low norm (sigmoid-like): sin on |x| <= π/2, arctan;
#   high norm (sinh-like): arcsin, arctanh, tan;
#   high score (exp-like): −log(1−x);  low score (anti-exp-like): log x.
# sign(x)·log(1+|x|) is listed under high norms in Table H.1, but its derivative
# 1/(1+|x|) peaks at 0: it is sigmoid-shaped (low norm); its inverse is the sinh shape.

__all__ += ["sin", "arctan", "arcsin", "arctanh", "tan", "sign_log1p", "neg_log1m", "log"]

_HALF_PI = math.pi / 2


def _sin_divergence(xh: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    # −cos(x+d) + cos x − d sin x = cos x · 2 sin²(d/2) + sin x (sin d − d): no cancellation
    # of the O(d²) term between two cosines of nearly equal arguments.
    d = xh - x
    return torch.cos(x) * 2 * torch.sin(d / 2) ** 2 + torch.sin(x) * (torch.sin(d) - d)


def sin(alpha: float = 1.0, beta: float = 0.0, cap: float | None = _HALF_PI) -> Link:
    """``h(z) = sin(α(z−β))``, ``H(z) = −cos(α(z−β))/α``: low-norm sensitivity (Table H.1).

    ``sin`` is increasing only on ``|x| ≤ π/2``, i.e. on ``z ∈ [β − π/(2α), β + π/(2α)]``.
    The default ``cap=π/2`` clamps ``x`` there, so ``h`` is ``−1`` below and ``1`` above that
    interval (``h' = 0``, the loss grows linearly, like a SmeLU gradient's flat ends) and the
    matching loss is convex on all of ℝ. With ``cap=None`` (or a cap above ``π/2``) the link
    is the periodic sine, not monotone (``monotone=False``), and its matching loss is not convex
    outside ``|x| ≤ π/2``. The inverse is the principal ``arcsin`` (values in ``|x| ≤ π/2``).
    """
    return Link(
        "sin",
        torch.sin,
        torch.cos,
        lambda x: -torch.cos(x),
        torch.asin,
        _sin_divergence,
        monotone=cap is not None and cap <= _HALF_PI,
        recipe=_recipe("sin", cap=cap), **_params(alpha, beta, cap),
    )


def _half_log1p_square(x: torch.Tensor) -> torch.Tensor:
    # ½ log(1 + x²): log1p keeps small x exact; log(hypot(x, 1)) does not overflow x² for huge x.
    small = x.abs() < 1
    xs = torch.where(small, x, torch.zeros_like(x))
    return torch.where(small, 0.5 * torch.log1p(xs * xs), torch.log(torch.hypot(x, torch.ones_like(x))))


def arctan(alpha: float = 1.0, beta: float = 0.0) -> Link:
    """``h(z) = arctan(α(z−β))``, ``H = [x·arctan(x) − ½ log(1+x²)]/α``: low-norm sensitivity (Table H.1).

    Bounded in ``(−π/2, π/2)`` like a sigmoid, with heavier (``1/(1+x²)``) sensitivity tails.
    The inverse ``tan`` is defined on ``(−π/2, π/2)``.
    """
    return Link(
        "arctan",
        torch.atan,
        lambda x: 1 / (1 + x * x),
        lambda x: x * torch.atan(x) - _half_log1p_square(x),
        torch.tan,
        recipe=_recipe("arctan"), **_params(alpha, beta, None),
    )


def _sqrt_one_minus_square(x: torch.Tensor) -> torch.Tensor:
    # sqrt(1 − x²) as sqrt((1 − x)(1 + x)): no cancellation near |x| = 1.
    return torch.sqrt((1 - x) * (1 + x))


def arcsin(alpha: float = 1.0, beta: float = 0.0) -> Link:
    """``h(z) = arcsin(α(z−β))`` for ``x = α(z−β) ∈ (−1, 1)``: high-norm sensitivity (Table H.1).

    ``h' = α/sqrt(1−x²)``, ``H = [x·arcsin(x) + sqrt(1−x²)]/α``, inverse ``sin``.
    Inputs with ``x`` outside ``(−1, 1)`` raise ``ValueError``.
    """
    return Link(
        "arcsin",
        torch.asin,
        lambda x: torch.rsqrt((1 - x) * (1 + x)),
        lambda x: x * torch.asin(x) + _sqrt_one_minus_square(x),
        torch.sin,
        domain=(-1.0, 1.0),
        recipe=_recipe("arcsin"), **_params(alpha, beta, None),
    )


def arctanh(alpha: float = 1.0, beta: float = 0.0) -> Link:
    """``h(z) = arctanh(α(z−β))`` for ``x = α(z−β) ∈ (−1, 1)``: high-norm sensitivity (Table H.1).

    ``h' = α/(1−x²)``, ``H = [x·arctanh(x) + ½ log(1−x²)]/α``, inverse ``tanh``.
    Inputs with ``x`` outside ``(−1, 1)`` raise ``ValueError``.
    """
    return Link(
        "arctanh",
        torch.atanh,
        lambda x: 1 / ((1 - x) * (1 + x)),
        lambda x: x * torch.atanh(x) + 0.5 * (torch.log1p(-x) + torch.log1p(x)),
        torch.tanh,
        domain=(-1.0, 1.0),
        recipe=_recipe("arctanh"), **_params(alpha, beta, None),
    )


def tan(alpha: float = 1.0, beta: float = 0.0) -> Link:
    """``h(z) = tan(α(z−β))`` for ``x = α(z−β) ∈ (−π/2, π/2)``: high-norm sensitivity (Table H.1).

    ``h' = α(1 + tan²x)``, ``H = −log(cos x)/α``, inverse ``arctan``.
    Inputs with ``x`` outside ``(−π/2, π/2)`` raise ``ValueError``.
    """
    return Link(
        "tan",
        torch.tan,
        lambda x: 1 + torch.tan(x) ** 2,
        lambda x: -torch.log(torch.cos(x)),
        torch.atan,
        domain=(-_HALF_PI, _HALF_PI),
        recipe=_recipe("tan"), **_params(alpha, beta, None),
    )


def sign_log1p(alpha: float = 1.0, beta: float = 0.0) -> Link:
    """``h(z) = sign(x)·log(1+|x|)``, ``H = [(1+|x|)·log(1+|x|) − |x|]/α``, ``x = α(z−β)``.

    ``h' = α/(1+|x|)`` is largest at ``x = 0``: despite its row in Table H.1 (high norms) this
    is a sigmoid-like, *low-norm* shape (unbounded, like ``arcsinh``). Its inverse
    ``sign(y)·(e^{|y|} − 1)`` is the sinh-like high-norm shape.
    """
    return Link(
        "sign_log1p",
        lambda x: torch.sign(x) * torch.log1p(x.abs()),
        lambda x: 1 / (1 + x.abs()),
        lambda x: (1 + x.abs()) * torch.log1p(x.abs()) - x.abs(),
        lambda y: torch.sign(y) * torch.expm1(y.abs()),
        recipe=_recipe("sign_log1p"), **_params(alpha, beta, None),
    )


def _gen_kl(uh: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    # Bregman divergence of u·log u − u: the generalised KL uh·log(uh/u) − uh + u, with xlogy's 0·log 0 = 0.
    return nm.xlogy(uh, uh / u) - uh + u


def neg_log1m(alpha: float = 1.0, beta: float = 0.0) -> Link:
    """``h(z) = −log(1 − x)`` for ``x = α(z−β) < 1``: high-score (exp-like) sensitivity (Table H.1).

    ``h' = α/(1−x)`` grows without bound as ``x → 1``; ``H = [(1−x)·log(1−x) + x]/α``, so the
    matching loss is the generalised KL divergence of ``1 − x̂`` from ``1 − x`` (divided by α);
    inverse ``1 − e^{−y}``. Inputs with ``x ≥ 1`` raise ``ValueError``.
    """
    return Link(
        "neg_log1m",
        lambda x: -torch.log1p(-x),
        lambda x: 1 / (1 - x),
        lambda x: nm.xlogy(1 - x, 1 - x) + x,
        lambda y: -torch.expm1(-y),
        lambda xh, x: _gen_kl(1 - xh, 1 - x),
        domain=(-math.inf, 1.0),
        recipe=_recipe("neg_log1m"), **_params(alpha, beta, None),
    )


def log(alpha: float = 1.0, beta: float = 0.0) -> Link:
    """``h(z) = log(x)`` for ``x = α(z−β) > 0``: low-score (anti-exp-like) sensitivity (Table H.1).

    ``h' = α/x`` is largest for small ``x``; ``H = [x·log(x) − x]/α``, so the matching loss is the
    generalised KL divergence ``x̂ log(x̂/x) − x̂ + x`` (divided by α); inverse ``e^y``.
    Inputs with ``x ≤ 0`` raise ``ValueError``.
    """
    return Link(
        "log",
        torch.log,
        lambda x: 1 / x,
        lambda x: nm.xlogy(x, x) - x,
        torch.exp,
        _gen_kl,
        domain=(0.0, math.inf),
        recipe=_recipe("log"), **_params(alpha, beta, None),
    )

# ---------------------------------------------------------------------------------
# Pickling: a Link travels as its recipe (constructor name, shape keywords, scale
# factors) plus alpha, beta and cap, and is rebuilt by calling the constructor again.

_RECIPE_CONSTRUCTORS = frozenset(__all__) - {"Link", "QUADRATURE_NODES"}


def _from_recipe(constructor: str, kwargs: tuple, scales: tuple, alpha: float, beta: float, cap: float | None) -> Link:
    if constructor not in _RECIPE_CONSTRUCTORS:
        raise ValueError(f"cannot rebuild a link from unknown constructor {constructor!r}")
    link = globals()[constructor](**dict(kwargs))
    link = replace(link, alpha=alpha, beta=beta, cap=cap)
    for c in scales:
        link = link.scaled(c)
    return link


def _from_fields(state: dict) -> Link:
    return Link(**state)


def _load_by_value(data: bytes):
    return pickle.loads(data)


class _ByValue:
    """Pickles a user's callable with cloudpickle: by reference when importable, else by value.

    Lambdas and closures (the usual ``links.custom(lambda x: ...)``) cannot be pickled by the
    standard library; cloudpickle serialises their code and captured variables. ``deepcopy``
    keeps the callable itself, as it does for any function.
    """

    __slots__ = ("fn",)

    def __init__(self, fn) -> None:
        self.fn = fn

    def __reduce__(self):
        try:
            import cloudpickle
        except ImportError as exc:  # pragma: no cover - cloudpickle is a declared dependency
            raise pickle.PicklingError(
                f"pickling the link callable {self.fn!r} needs the 'cloudpickle' package "
                "(pip install cloudpickle), or define it at module level"
            ) from exc
        return (_load_by_value, (cloudpickle.dumps(self.fn),))

    def __deepcopy__(self, memo):
        return self.fn



def _check_params_for(link: Link, z: torch.Tensor) -> None:
    """A link is built without a dtype; on first contact with a tensor, reject parameters that
    tensor's dtype cannot carry (1e308 is inf in float32; H = G(x)/alpha overflows for a tiny
    alpha), naming the parameter, instead of returning inf/NaN from deep inside the loss."""
    from ._validate import check_hyper_magnitude

    if link.alpha != 1.0:
        check_hyper_magnitude("alpha", check_hyper_magnitude("alpha", link.alpha, z), z, reciprocal=True)
    if link.beta != 0.0:
        check_hyper_magnitude("beta", link.beta, z)
    if link.cap is not None:
        check_hyper_magnitude("cap", link.cap, z)
    for name, value in link.params:
        if name in ("c", "delta") and isinstance(value, float):  # SmeLU's c and Huber's delta divide and scale
            check_hyper_magnitude(name, check_hyper_magnitude(name, value, z), z, reciprocal=True)
    if link.name == "power" and link.cap is None:
        _check_power_range(link, z)


def _check_power_range(link: Link, z: torch.Tensor) -> None:
    """The power link's primitive |x|^(d+1) must stay finite: past that its matching loss is inf - inf."""
    from ._validate import value_checks_enabled

    d = dict(link.params)["d"]
    if not value_checks_enabled(z) or z.numel() == 0 or not z.is_floating_point():
        return
    top = float((z.detach() - link.beta).abs().max()) * link.alpha
    limit = math.log(torch.finfo(z.dtype).max) / 2  # headroom for the divergence's sums
    if top > 0 and (d + 1) * math.log(top) > limit:
        raise ValueError(
            f"the power link with d={d!r}, alpha={link.alpha!r}, beta={link.beta!r} overflows {z.dtype}: "
            f"|alpha*(z - beta)|^(d+1) reaches {top!r}^{d + 1!r}; use a smaller d or alpha, or rescale the inputs"
        )
