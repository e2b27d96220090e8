"""The standard regression losses (seed 002, *Regression Loss Functions*).

All are elementwise: ``pred`` and ``target`` of the same shape ``[...]`` (any
shape; a shape mismatch raises rather than broadcasting), ``'none'`` returns
``[...]``, ``sample_weight`` is a per-element weight (``_reduce``). NaN inputs give NaN
in the affected elements (not masked). Where PyTorch has the loss, the value is
exactly PyTorch's.
"""
from __future__ import annotations

import math

import torch

from . import kernels
from . import registry
from ._catalogue import check_at_least
from ._numerics import softplus
from ._reduce import _reduce
from ._validate import check_hyper_magnitude
from ._validate import check_exp_finite, check_finite_values
from ._validate import check_finite_scalar, check_floating, check_nonnegative, check_positive, check_same_shape
from ._validate import check_bool, legacy_reduction, old_weight_keyword, promote_floating

__all__ = ["mae", "mse", "huber", "smooth_l1", "log_cosh", "quantile", "mape", "msle", "poisson_nll",
           "l1_loss", "mse_loss", "huber_loss", "smooth_l1_loss", "poisson_nll_loss"]

# float64 machine epsilon: scikit-learn's MAPE floor for |target|.
_MAPE_EPS = 2.220446049250313e-16

# ATen's reduction code for 'none'. The fused ops are called through torch._C._nn, not
# torch.nn.functional, so that losslab's own PyTorch-named functions (patched into
# torch.nn.functional by drop-in users) cannot recurse into themselves.
_NONE = 0


def _pair(pred, target) -> None:
    check_floating("pred", pred)
    check_floating("target", target)
    check_same_shape("pred", pred, "target", target)


@old_weight_keyword
def mae(pred: torch.Tensor, target: torch.Tensor, *, sample_weight: torch.Tensor | None = None, reduction: str = "mean") -> torch.Tensor:
    r"""Mean absolute error (L1 loss), elementwise.

    .. math::

        \ell = |\hat y - y|

    (seed 002, *Mean Average Error or L1 loss*). Same as ``F.l1_loss``.

    Args:
        pred: predictions ``[...]``, floating.
        target: targets, same shape.
        sample_weight: optional per-element weights ``[...]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> ll.mae(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 4.0]))
        tensor(1.5000)

    Reference: Laplace, 1774 (least absolute deviations).
    """
    _pair(pred, target)
    return _reduce((pred - target).abs(), reduction, sample_weight)


@old_weight_keyword
def mse(pred: torch.Tensor, target: torch.Tensor, *, sample_weight: torch.Tensor | None = None, reduction: str = "mean") -> torch.Tensor:
    r"""Mean squared error (L2 loss), elementwise.

    .. math::

        \ell = (\hat y - y)^2

    (seed 002, *Mean Squared Error or L2 loss*). Same as ``F.mse_loss``.

    Args:
        pred: predictions ``[...]``, floating.
        target: targets, same shape.
        sample_weight: optional per-element weights ``[...]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> ll.mse(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 4.0]))
        tensor(2.5000)

    Reference: Gauss, 1809 (least squares).
    """
    _pair(pred, target)
    if pred.dtype == target.dtype:
        # PyTorch's fused kernel: one pass forward and one backward, no temporaries
        return _reduce(torch._C._nn.mse_loss(pred, target, _NONE), reduction, sample_weight)
    d = pred - target
    return _reduce(d * d, reduction, sample_weight)


@old_weight_keyword
def huber(
    pred: torch.Tensor, target: torch.Tensor, *, delta: float = 1.0, sample_weight: torch.Tensor | None = None, reduction: str = "mean"
) -> torch.Tensor:
    r"""Huber loss: quadratic within ``δ`` of the target, linear beyond.

    .. math::

        \ell = \begin{cases} \tfrac12 a^2 & |a| \le \delta \\ \delta (|a| - \tfrac12 \delta) & \text{otherwise} \end{cases},
        \qquad a = \hat y - y

    (seed 002, *Huber Loss*). Same as ``F.huber_loss``.

    Args:
        pred: predictions ``[...]``, floating.
        target: targets, same shape.
        delta: ``δ > 0``.
        sample_weight: optional per-element weights ``[...]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> ll.huber(torch.tensor([0.5, 3.0]), torch.zeros(2), reduction="none")
        tensor([0.1250, 2.5000])

    Reference: Huber, "Robust Estimation of a Location Parameter", 1964.
    """
    _pair(pred, target)
    d = check_positive("delta", delta)
    check_hyper_magnitude("delta", d, pred, power=2)
    if pred.dtype == target.dtype:
        # PyTorch's fused kernel (the same piecewise formula) instead of five full-size
        # temporaries; F.huber_loss does not promote mixed dtypes, so those take the formula
        return _reduce(torch._C._nn.huber_loss(pred, target, _NONE, d), reduction, sample_weight)
    a = (pred - target).abs()
    quad = a.clamp_max(d)
    # ½ q² + δ (|a| − q): the two branches joined without a where (one smooth formula).
    return _reduce(0.5 * quad * quad + d * (a - quad), reduction, sample_weight)


@old_weight_keyword
def smooth_l1(
    pred: torch.Tensor, target: torch.Tensor, *, beta: float = 1.0, sample_weight: torch.Tensor | None = None, reduction: str = "mean"
) -> torch.Tensor:
    r"""Smooth L1 loss: Huber divided by ``β`` (``β = 0`` is L1).

    .. math::

        \ell = \begin{cases} \tfrac12 a^2 / \beta & |a| < \beta \\ |a| - \tfrac12 \beta & \text{otherwise} \end{cases}

    (seed 002, *Huber Loss / Smooth Mean Absolute Error*). Same as ``F.smooth_l1_loss``.

    Args:
        pred: predictions ``[...]``, floating.
        target: targets, same shape.
        beta: ``β ≥ 0``.
        sample_weight: optional per-element weights ``[...]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> ll.smooth_l1(torch.tensor([0.5, 3.0]), torch.zeros(2), beta=2.0, reduction="none")
        tensor([0.0625, 2.0000])

    Reference: Girshick, "Fast R-CNN", ICCV 2015.
    """
    _pair(pred, target)
    b = check_nonnegative("beta", beta)
    check_hyper_magnitude("beta", check_hyper_magnitude("beta", b, pred), pred, reciprocal=True)
    if b != 0 and pred.dtype == target.dtype:
        # PyTorch's fused kernel (the same piecewise formula, Huber / β) instead of six temporaries
        return _reduce(torch._C._nn.smooth_l1_loss(pred, target, _NONE, b), reduction, sample_weight)
    a = (pred - target).abs()
    if b == 0:
        return _reduce(a, reduction, sample_weight)
    quad = a.clamp_max(b)
    return _reduce(0.5 * quad * quad / b + (a - quad), reduction, sample_weight)


@old_weight_keyword
def log_cosh(pred: torch.Tensor, target: torch.Tensor, *, sample_weight: torch.Tensor | None = None, reduction: str = "mean",
             impl: str = "auto") -> torch.Tensor:
    r"""Log-cosh loss, computed without overflow.

    .. math::

        \ell = \log\cosh(a) = |a| + \mathrm{softplus}(-2|a|) - \log 2, \qquad a = \hat y - y

    Behaves like ``½a²`` near 0 and ``|a| − log 2`` far out; ``cosh`` itself would
    overflow float32 beyond ``|a| ≈ 89``.

    Args:
        pred: predictions ``[...]``, floating.
        target: targets, same shape.
        sample_weight: optional per-element weights ``[...]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        impl: ``'auto'`` (the fused CPU kernel of :mod:`losslab.kernels`: loss and gradient in one
            pass; float32/float64 on the CPU), ``'reference'`` (the pure-PyTorch code) or
            ``'fused'`` (the kernel, else a ``ValueError``).

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> ll.log_cosh(torch.tensor([1e4]), torch.tensor([0.0]))   # cosh(1e4) overflows; this does not
        tensor(9999.3066)

    Reference: Chen et al., "Log Hyperbolic Cosine Loss Improves Variational Auto-Encoder", 2019 (log-cosh loss); the identity is elementary.
    """
    _pair(pred, target)
    fast = _fused_log_cosh(pred, target, impl, sample_weight, reduction)
    if fast is not None:
        return fast
    a = (pred - target).abs()
    return _reduce(a + softplus(-2 * a) - math.log(2.0), reduction, sample_weight)


@old_weight_keyword
def quantile(
    pred: torch.Tensor, target: torch.Tensor, *, q: float = 0.5, sample_weight: torch.Tensor | None = None, reduction: str = "mean"
) -> torch.Tensor:
    r"""Quantile (pinball) loss: minimised in expectation by the ``q``-quantile of the target.

    .. math::

        \ell = \max\big(q\,(y - \hat y),\ (q - 1)(y - \hat y)\big)

    ``q = 0.5`` is half the absolute error. Same as scikit-learn's ``mean_pinball_loss`` per element.

    Args:
        pred: predicted quantiles ``[...]``, floating.
        target: targets, same shape.
        q: the quantile level, ``0 < q < 1``.
        sample_weight: optional per-element weights ``[...]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> ll.quantile(torch.tensor([0.0, 0.0]), torch.tensor([1.0, -1.0]), q=0.9, reduction="none")
        tensor([0.9000, 0.1000])

    Reference: Koenker & Bassett, "Regression Quantiles", Econometrica 1978.
    """
    _pair(pred, target)
    qq = check_finite_scalar("q", q)
    if not 0.0 < qq < 1.0:
        raise ValueError(f"q must lie in the open interval (0, 1); got {qq!r}")
    r = target - pred
    return _reduce(torch.maximum(qq * r, (qq - 1) * r), reduction, sample_weight)


@old_weight_keyword
def mape(
    pred: torch.Tensor, target: torch.Tensor, *, eps: float = _MAPE_EPS, sample_weight: torch.Tensor | None = None, reduction: str = "mean"
) -> torch.Tensor:
    r"""Mean absolute percentage error (as a fraction, not in %).

    .. math::

        \ell = \frac{|\hat y - y|}{\max(|y|, \epsilon)}

    The floor ``ε`` (default float64 machine epsilon, scikit-learn's) keeps
    ``y = 0`` finite but huge: MAPE is meant for targets away from 0.

    Args:
        pred: predictions ``[...]``, floating.
        target: targets, same shape.
        eps: floor ``ε > 0`` for ``|y|``.
        sample_weight: optional per-element weights ``[...]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> ll.mape(torch.tensor([110.0, 45.0]), torch.tensor([100.0, 50.0]))
        tensor(0.1000)

    Reference: de Myttenaere et al., "Mean Absolute Percentage Error for regression models", Neurocomputing 2016.
    """
    _pair(pred, target)
    e = check_positive("eps", eps)
    check_hyper_magnitude("eps", check_hyper_magnitude("eps", e, pred), pred, reciprocal=True)
    return _reduce((pred - target).abs() / target.abs().clamp_min(e), reduction, sample_weight)


@old_weight_keyword
def msle(pred: torch.Tensor, target: torch.Tensor, *, sample_weight: torch.Tensor | None = None, reduction: str = "mean") -> torch.Tensor:
    r"""Mean squared logarithmic error, for non-negative targets spanning orders of magnitude.

    .. math::

        \ell = \big(\log(1 + \hat y) - \log(1 + y)\big)^2

    Domain: ``pred, target ≥ 0`` (scikit-learn's ``mean_squared_log_error``);
    a negative value raises ``ValueError``.

    Args:
        pred: predictions ``[...]``, ``≥ 0``, floating.
        target: targets, same shape, ``≥ 0``.
        sample_weight: optional per-element weights ``[...]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> ll.msle(torch.tensor([3.0]), torch.tensor([0.0]))   # (log 4)^2
        tensor(1.9218)

    Reference: e.g. scikit-learn, ``sklearn.metrics.mean_squared_log_error``.
    """
    pred, target = promote_floating(pred, target)
    _pair(pred, target)
    check_at_least("pred", pred, 0.0)
    check_at_least("target", target, 0.0)
    d = torch.log1p(pred) - torch.log1p(target)
    return _reduce(d * d, reduction, sample_weight)


@old_weight_keyword
def poisson_nll(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    log_input: bool = True,
    full: bool = False,
    eps: float = 1e-8,
    sample_weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Poisson negative log-likelihood of counts, PyTorch's ``poisson_nll_loss``.

    .. math::

        \ell = e^{x} - y\,x \ \ (\text{log\_input}), \qquad \ell = \lambda - y \log(\lambda + \epsilon)

    plus, with ``full=True``, Stirling's ``y \log y - y + \tfrac12 \log(2\pi y)`` for ``y > 1``
    (seed 002, *Summary*: Poisson regression for count targets).
    Domain: ``target ≥ 0``; ``λ = input ≥ 0`` when ``log_input=False``; with
    ``log_input=True`` the log-rate must keep ``e^x`` finite (``x ≲ 88`` in float32).

    Args:
        input: log-rates ``x`` (``log_input=True``) or rates ``λ``, ``[...]``, floating.
        target: counts, same shape, ``≥ 0``.
        log_input: whether ``input`` is the log-rate.
        full: add the Stirling term.
        eps: ``ε > 0`` inside the log when ``log_input=False``.
        sample_weight: optional per-element weights ``[...]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, torch.nn.functional as F, losslab as ll
        >>> x, y = torch.tensor([0.5, -1.0]), torch.tensor([2.0, 0.0])
        >>> torch.allclose(ll.poisson_nll(x, y, full=True), F.poisson_nll_loss(x, y, full=True))
        True

    Reference: Nelder & Wedderburn, "Generalized Linear Models", 1972.
    """
    input, target = promote_floating(input, target)
    check_floating("input", input)
    check_floating("target", target)
    check_same_shape("input", input, "target", target)
    e = check_positive("eps", eps)
    check_bool("log_input", log_input)
    check_bool("full", full)
    check_at_least("target", target, 0.0)
    check_finite_values("target", target)
    if log_input:
        check_exp_finite("input", input, what="the rate exp(input)")
        loss = torch.exp(input) - target * input
    else:
        check_at_least("input", input, 0.0)
        loss = input - target * torch.log(input + e)
    if full:
        t = target.clamp_min(1.0)  # the term is 0 for y <= 1; clamping keeps log finite there
        stirling = t * torch.log(t) - t + 0.5 * torch.log(2 * math.pi * t)
        loss = loss + torch.where(target > 1, stirling, torch.zeros_like(stirling))
    return _reduce(loss, reduction, sample_weight)


# ---------------------------------------------------------------------------------
# Registry specs


def _sample(nonneg=False, **kw):
    def sample(batch_shape, *, dtype, generator):
        a = registry.randn(batch_shape, dtype=dtype, generator=generator, scale=2.0)
        b = registry.randn(batch_shape, dtype=dtype, generator=generator, scale=2.0)
        if nonneg:
            a, b = a.abs(), b.abs()
        return registry.Sample((a, b), dict(kw), grad_argnums=(0, 1), none_shape=tuple(batch_shape))

    return sample


def _extremes(nonneg=False, **kw):
    def extremes(dtype):
        if nonneg:
            a = torch.tensor([0.0, 1e4, 1e4, 0.5], dtype=dtype)
            b = torch.tensor([1e4, 0.0, 1e4, 0.0], dtype=dtype)
        else:
            a = torch.tensor([1e4, -1e4, 1e4, 0.0, -1e4], dtype=dtype)
            b = torch.tensor([-1e4, 1e4, 1e4, 1e4, 0.0], dtype=dtype)
        return [registry.Sample((a, b), dict(kw), grad_argnums=(0, 1), none_shape=tuple(a.shape))]

    return extremes


def _poisson_sample(batch_shape, *, dtype, generator):
    x = registry.randn(batch_shape, dtype=dtype, generator=generator)
    y = registry.randint(5, batch_shape, generator=generator).to(dtype)
    return registry.Sample((x, y), {"full": True}, none_shape=tuple(batch_shape))


def _poisson_extremes(dtype):
    x = torch.tensor([-1e4, 80.0, 0.0, -1e4], dtype=dtype)
    y = torch.tensor([0.0, 1e4, 1e4, 1e4], dtype=dtype)
    rate = torch.tensor([0.0, 1e4, 1e4, 0.0], dtype=dtype)
    return [
        registry.Sample((x, y), {"full": True}, none_shape=(4,)),
        registry.Sample((rate, y), {"log_input": False, "full": True}, none_shape=(4,)),
    ]


def _torch_ref(name, **fixed):
    def ref(pred, target, **kw):
        import torch.nn.functional as F

        kw.pop("sample_weight", None)
        kw.pop("reduction", None)
        kw.update(fixed)
        return getattr(F, name)(pred, target, reduction="none", **kw)

    return ref


def _sklearn_ref(metric_name, **rename):
    # scikit-learn metric per element: one row, each element its own output column.
    def ref(pred, target, **kw):
        import numpy as np
        from sklearn import metrics

        extra = {rename[k]: v for k, v in kw.items() if k in rename}
        y = target.detach().reshape(1, -1).double().numpy()
        p = pred.detach().reshape(1, -1).double().numpy()
        out = getattr(metrics, metric_name)(y, p, multioutput="raw_values", **extra)
        return torch.as_tensor(np.asarray(out), dtype=pred.dtype).reshape(pred.shape)

    return ref


def _ref_log_cosh(pred, target, **_):
    import numpy as np

    return torch.as_tensor(np.log(np.cosh((pred - target).detach().double().numpy())), dtype=pred.dtype)


def _ref_huber(pred, target, delta=1.0, **_):
    import torch.nn.functional as F

    return F.huber_loss(pred, target, delta=delta, reduction="none")


def _ref_smooth_l1(pred, target, beta=1.0, **_):
    import torch.nn.functional as F

    return F.smooth_l1_loss(pred, target, beta=beta, reduction="none")


def _ref_poisson(input, target, log_input=True, full=False, eps=1e-8, **_):
    import torch.nn.functional as F

    return F.poisson_nll_loss(input, target, log_input=log_input, full=full, eps=eps, reduction="none")


def _register() -> None:
    R, S, fam = registry.register, registry.LossSpec, "regression"
    R(S("mae", mae, fam, "pred, target: any real, same shape", _sample(), _extremes(), reference=_torch_ref("l1_loss")))
    R(S("mse", mse, fam, "pred, target: any real, same shape", _sample(), _extremes(), reference=_torch_ref("mse_loss"),
        extreme_dtypes=(torch.float32, torch.bfloat16)))
    R(S("huber", huber, fam, "pred, target: any real; delta > 0", _sample(delta=1.5), _extremes(delta=1.0), reference=_ref_huber))
    R(S("smooth_l1", smooth_l1, fam, "pred, target: any real; beta >= 0", _sample(beta=0.5), _extremes(beta=1.0),
        reference=_ref_smooth_l1))
    R(S("log_cosh", log_cosh, fam, "pred, target: any real", _sample(), _extremes(), reference=_ref_log_cosh,
        extreme_dtypes=(torch.float32, torch.bfloat16)))
    R(S("quantile", quantile, fam, "pred, target: any real; 0 < q < 1", _sample(q=0.8), _extremes(q=0.1),
        reference=_sklearn_ref("mean_pinball_loss", q="alpha")))
    R(S("mape", mape, fam, "pred, target: any real; |target| floored at eps", _sample(), _extremes(),
        reference=_sklearn_ref("mean_absolute_percentage_error")))
    R(S("msle", msle, fam, "pred, target >= 0", _sample(nonneg=True), _extremes(nonneg=True),
        reference=_sklearn_ref("mean_squared_log_error")))
    R(S("poisson_nll", poisson_nll, fam, "target >= 0 counts; log-rate with finite exp, or rate >= 0", _poisson_sample,
        _poisson_extremes, reference=_ref_poisson))


_register()


# ---------------------------------------------------------------------------------
# PyTorch's names with PyTorch's arguments and positional order (torch.nn.functional).
# Unlike PyTorch, input and target must have the same shape (no broadcasting).


def _one_weight(weight, sample_weight):
    # PyTorch's `weight` of l1/mse/huber is a same-shape per-element weight whose mean is
    # Σw·ℓ/Σw -- exactly losslab's sample_weight -- so both spellings are accepted, not both at once.
    if weight is not None and sample_weight is not None:
        raise TypeError("give weight= (PyTorch's name) or sample_weight=, not both: here they are the same per-element weight")
    return sample_weight if weight is None else weight


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None, *, sample_weight=None):
    """``torch.nn.functional.l1_loss``: :func:`mae` under PyTorch's name and argument order.

    Args:
        input, target: ``[...]``, floating, same shape.
        size_average, reduce: PyTorch's deprecated pair, mapped to ``reduction`` as PyTorch maps it.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        weight: optional per-element weights ``[...]`` (PyTorch's; ``'mean'`` is ``Σ w·ℓ / Σ w``).
        sample_weight: losslab's name for the same weights.

    Example:
        >>> import torch, losslab as ll
        >>> ll.l1_loss(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 4.0]))
        tensor(1.5000)
    """
    _check_input_pair(input, target)
    return mae(input, target, sample_weight=_one_weight(weight, sample_weight), reduction=legacy_reduction(size_average, reduce, reduction))


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None, *, sample_weight=None):
    """``torch.nn.functional.mse_loss``: :func:`mse` under PyTorch's name and argument order.

    Args:
        input, target: ``[...]``, floating, same shape.
        size_average, reduce: PyTorch's deprecated pair, mapped to ``reduction`` as PyTorch maps it.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        weight: optional per-element weights ``[...]`` (PyTorch's; ``'mean'`` is ``Σ w·ℓ / Σ w``).
        sample_weight: losslab's name for the same weights.

    Example:
        >>> import torch, losslab as ll
        >>> ll.mse_loss(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 4.0]))
        tensor(2.5000)
    """
    _check_input_pair(input, target)
    return mse(input, target, sample_weight=_one_weight(weight, sample_weight), reduction=legacy_reduction(size_average, reduce, reduction))


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None, *, sample_weight=None):
    """``torch.nn.functional.huber_loss``: :func:`huber` under PyTorch's name and argument order.

    PyTorch's ``weight`` here rescales each element's loss before a *plain* mean (unlike
    its ``l1_loss``/``mse_loss``, whose weighted mean divides by ``Σ w``); losslab keeps
    that, and ``sample_weight`` is the weighted mean ``Σ s·ℓ / Σ s``.

    Args:
        input, target: ``[...]``, floating, same shape.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        delta: ``δ > 0``.
        weight: optional rescaling weights ``[...]``, the input's shape (PyTorch's).
        sample_weight: losslab's extra: per-element weights ``[...]``.

    Example:
        >>> import torch, losslab as ll
        >>> ll.huber_loss(torch.tensor([0.5, 3.0]), torch.tensor([0.0, 0.0]), delta=1.0, reduction="none")
        tensor([0.1250, 2.5000])
    """
    _check_input_pair(input, target)
    loss = huber(input, target, delta=delta, reduction="none")
    if weight is not None:
        check_floating("weight", weight)
        if weight.shape != loss.shape:
            raise ValueError(f"weight must have the input's shape {tuple(loss.shape)}; got {tuple(weight.shape)}")
        loss = loss * weight
    return _reduce(loss, reduction, sample_weight)


@old_weight_keyword
def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0, *, sample_weight=None):
    """``torch.nn.functional.smooth_l1_loss``: :func:`smooth_l1` under PyTorch's name and argument order.

    Args:
        input, target: ``[...]``, floating, same shape.
        size_average, reduce: PyTorch's deprecated pair, mapped to ``reduction`` as PyTorch maps it.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        beta: ``β ≥ 0`` (``0`` is the L1 loss).
        sample_weight: losslab's extra: per-element weights ``[...]``.

    Example:
        >>> import torch, losslab as ll
        >>> ll.smooth_l1_loss(torch.tensor([0.5, 3.0]), torch.tensor([0.0, 0.0]), reduction="none")
        tensor([0.1250, 2.5000])
    """
    _check_input_pair(input, target)
    return smooth_l1(input, target, beta=beta, sample_weight=sample_weight, reduction=legacy_reduction(size_average, reduce, reduction))


@old_weight_keyword
def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None, reduction="mean",
                     *, sample_weight=None):
    """``torch.nn.functional.poisson_nll_loss``: :func:`poisson_nll` under PyTorch's name and argument order.

    Args:
        input: log-rates (``log_input=True``) or rates, ``[...]``, floating.
        target: counts, same shape, ``≥ 0``.
        log_input: whether ``input`` is the log-rate.
        full: add the Stirling term.
        size_average, reduce: PyTorch's deprecated pair, mapped to ``reduction`` as PyTorch maps it.
        eps: ``ε > 0`` inside the log when ``log_input=False``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.
        sample_weight: losslab's extra: per-element weights ``[...]``.

    Example:
        >>> import torch, losslab as ll
        >>> ll.poisson_nll_loss(torch.tensor([0.0]), torch.tensor([1.0]))
        tensor(1.)
    """
    return poisson_nll(input, target, log_input=log_input, full=full, eps=eps, sample_weight=sample_weight,
                       reduction=legacy_reduction(size_average, reduce, reduction))


def _check_input_pair(input, target) -> None:
    """Name PyTorch's arguments (``input``) in errors raised under PyTorch's function names."""
    check_floating("input", input)
    check_floating("target", target)


def _fused_log_cosh(pred, target, impl, sample_weight, reduction):
    """:func:`log_cosh` on the kernel (inputs promoted as ``pred − target`` would), or ``None``
    where ``impl`` resolves to the reference."""
    p, t = promote_floating(pred, target)
    fused, _ = kernels.use_fused("log_cosh", impl, p, None)
    if not fused:
        return None
    sum_only = sample_weight is None and reduction in ("mean", "sum")
    loss = kernels.log_cosh(p, t, sum_only)
    if not sum_only:
        return _reduce(loss, reduction, sample_weight)
    n = p.numel()
    return loss / n if reduction == "mean" and n > 0 else loss
