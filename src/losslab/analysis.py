"""Analysis of losses: sensitivity, convexity, BUST/BLUST, properness (seed 000) and
logit separation (seed 001). Functions here only read losses; they never train.
"""
from __future__ import annotations

__all__: list[str] = []


# -- sampled / large-K softmax: gradient bias and variance (issue 5, seed 003) ----------


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
