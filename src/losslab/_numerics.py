"""Numerical tricks shared by the losses; each says in one comment why it is needed."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# Largest |x| fed to exp/sinh/cosh by a capped link: exp(80) ~ 5.5e34 stays
# below the float32 maximum (3.4e38) with room for the products a loss forms.
EXP_CAP = 80.0


def softplus(x: torch.Tensor) -> torch.Tensor:
    # log(1 + e^x) without overflow: torch's softplus switches to x for large x.
    return F.softplus(x)


def log1mexp(x: torch.Tensor) -> torch.Tensor:
    """log(1 - e^x) for x <= 0 (Mächler 2012): log(-expm1(x)) near 0, log1p(-exp(x)) far from it."""
    return torch.where(x > -math.log(2.0), torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


def xlogy(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    # 0·log 0 := 0, the convention entropy and KL terms need.
    return torch.special.xlogy(x, y)


def safe_log(x: torch.Tensor, eps: float | None = None) -> torch.Tensor:
    # Clamp at the dtype's tiny so log(0) gives a large finite negative, not -inf.
    tiny = torch.finfo(x.dtype).tiny if eps is None else eps
    return torch.log(x.clamp_min(tiny))


def masked_logsumexp(x: torch.Tensor, mask: torch.Tensor | None, dim: int = -1) -> torch.Tensor:
    """logsumexp over the entries where ``mask`` is True; -inf over an empty selection."""
    if mask is None:
        return torch.logsumexp(x, dim)
    # Filling with -inf (not a large negative) keeps masked entries exactly out
    # of the sum; torch.logsumexp handles an all -inf row by returning -inf.
    return torch.logsumexp(x.masked_fill(~mask, float("-inf")), dim)


def clamp_abs(x: torch.Tensor, cap: float) -> torch.Tensor:
    return x.clamp(-cap, cap)


def gauss_legendre(n: int, dtype: torch.dtype = torch.float64, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes and weights of n-point Gauss–Legendre quadrature on [-1, 1]."""
    import numpy as np

    nodes, weights = np.polynomial.legendre.leggauss(n)
    return (
        torch.as_tensor(nodes, dtype=dtype, device=device),
        torch.as_tensor(weights, dtype=dtype, device=device),
    )


# ---------------------------------------------------------------------------------
# Edges of a domain: -inf masks and boundary targets


def mul_where_zero(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``x·y`` with ``0·(±inf) := 0``: the limit a -inf mask (``y = log p = -inf`` where
    ``x = p = 0``) or a zero target weighting a -inf log-probability needs. ``y`` is replaced
    (not the product masked) so that the backward pass never forms ``0·inf = NaN`` either;
    where ``x = 0`` and ``y`` is finite the gradient ``∂/∂x = y`` is kept."""
    return x * torch.where((x == 0) & torch.isinf(y), torch.zeros_like(y), y)


def xlogx(x: torch.Tensor) -> torch.Tensor:
    """``x·log x`` with ``0·log 0 := 0`` in value *and* a finite gradient at 0. ``xlogy(x, x)``
    gives NaN there (its backward forms ``x/y = 0/0``). The true derivative ``log x + 1`` is
    ``-inf`` at 0; the finite stand-in (0) is what a target produced by a map with exact zeros
    (a masked softmax, a sparsemax) needs: its Jacobian is 0 in that coordinate, so any finite
    value gives the exact chained gradient, where -inf or NaN would poison it."""
    pos = x > 0
    return x * torch.log(torch.where(pos, x, torch.ones_like(x)))
