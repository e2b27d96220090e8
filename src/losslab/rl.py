"""Reinforcement-learning losses (seed 002, *Losses in Deep Learning-based Reinforcement Learning*).

Per-transition losses over any leading batch dims ``[...]``; action values and
logits carry the action dim last (``[..., A]``). Bootstrapped targets and
advantages are treated as constants (``detach``): the gradient flows only into
the online network's outputs.
"""
from __future__ import annotations

import torch

from . import registry
from ._catalogue import check_target_shape, check_values_in
from ._numerics import mul_where_zero
from ._reduce import _reduce
from ._validate import check_hyper_magnitude
from ._validate import check_choice, check_class_indices, check_finite_scalar, check_floating, check_integer, check_nonnegative, check_positive
from ._validate import old_weight_keyword, promote_floating, value_checks_enabled

__all__ = ["td_loss", "policy_gradient_loss"]


def _actions(actions, values: torch.Tensor) -> torch.Tensor:
    check_integer("actions", actions)
    check_target_shape("actions", actions, values.shape[:-1], "the action values without the action dim")
    # On the CPU the range is checked by the gather that reads the chosen action's entry
    # (_pick): it raises on an index outside [0, A), with no min/max pass and no sync. Other
    # devices assert inside the kernel instead, which cannot be caught: check first there.
    if actions.device.type != "cpu":
        check_class_indices("actions", actions, values.shape[-1])
    return actions.long()


def _pick(values: torch.Tensor, a: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """``values[..., a]``; an action outside ``[0, A)`` gets ``actions``' own error."""
    try:
        return values.gather(-1, a.unsqueeze(-1)).squeeze(-1)
    except RuntimeError:
        check_class_indices("actions", actions, values.shape[-1])
        raise


def _zeros_and_ones(flags: torch.Tensor) -> bool:
    """Whether every entry of a non-empty ``flags`` is 0 or 1, in one pass and one sync."""
    if flags.is_floating_point():
        # each equals its own truth value (NaN, 2, -1, 0.5 do not)
        return not bool(flags.ne(flags.bool()).any())
    lo, hi = flags.aminmax()  # integers: within [0, 1] is in {0, 1}
    return int(lo) >= 0 and int(hi) <= 1


@old_weight_keyword
def td_loss(
    q_values: torch.Tensor,
    actions: torch.Tensor,
    rewards: torch.Tensor,
    next_values: torch.Tensor,
    dones: torch.Tensor,
    *,
    gamma: float = 0.99,
    loss: str = "squared",
    delta: float = 1.0,
    sample_weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Temporal-difference (Q-learning) loss: squared or Huber Bellman residual against a detached target.

    .. math::

        \ell = \rho\big(Q(s, a) - \mathrm{sg}[\,r + \gamma (1 - d) \max_{a'} Q'(s', a')\,]\big),
        \qquad \rho(u) = u^2 \ \text{or}\ \mathrm{huber}_\delta(u)

    (seed 002, *Q-Value Loss*). ``sg`` is stop-gradient. ``next_values`` of shape
    ``[..., A]`` are next-state action values (the max is taken); of shape ``[...]``
    they are the bootstrap values themselves (double DQN's ``Q'(s', argmax Q(s', ·))``,
    or ``V(s')``).

    Args:
        q_values: online action values ``[..., A]``, floating.
        actions: actions taken ``[...]``, integers in ``[0, A)``.
        rewards: ``[...]``, floating.
        next_values: ``[..., A']`` next-state action values or ``[...]`` bootstrap values (detached).
        dones: ``[...]`` terminal flags in ``{0, 1}`` (bool, integer or floating).
        gamma: discount ``γ ∈ [0, 1]``.
        loss: ``'squared'`` | ``'huber'``.
        delta: Huber threshold ``δ > 0``.
        sample_weight: optional per-transition weights ``[...]`` (e.g. importance weights).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> q = torch.tensor([[1.0, 2.0]], requires_grad=True)
        >>> loss = ll.td_loss(q, torch.tensor([1]), torch.tensor([1.0]), torch.tensor([[0.0, 3.0]]), torch.tensor([0]), gamma=0.5)
        >>> float(loss.detach())   # (2 - (1 + 0.5 * 3))^2
        0.25

    Reference: Mnih et al., "Human-level control through deep reinforcement learning", Nature 2015.
    """
    check_floating("q_values", q_values)
    if q_values.dim() < 1:
        raise ValueError("q_values must have shape [..., A]; got a 0-dim tensor")
    check_choice("loss", loss, ("squared", "huber"))
    g = check_finite_scalar("gamma", gamma)
    if not 0.0 <= g <= 1.0:
        raise ValueError(f"gamma must lie in [0, 1]; got {g!r}")
    d = check_positive("delta", delta)
    a = _actions(actions, q_values)
    picked = _pick(q_values, a, actions)  # before the checks that follow, as the range check was
    batch = q_values.shape[:-1]
    check_floating("rewards", rewards)
    check_target_shape("rewards", rewards, batch, "the batch shape")
    check_floating("next_values", next_values)
    q_values, rewards, next_values, dones = promote_floating(q_values, rewards, next_values, dones)
    if next_values.shape == batch:
        boot = next_values
    elif next_values.shape[:-1] == batch and next_values.dim() == q_values.dim():
        boot = next_values.amax(-1)
    else:
        raise ValueError(f"next_values must have shape {tuple(batch)} or {tuple(batch)} + (A,); got {tuple(next_values.shape)}")
    check_target_shape("dones", dones, batch, "the batch shape")
    if dones.dtype != torch.bool and dones.numel() and value_checks_enabled(dones) and not _zeros_and_ones(dones):
        check_values_in("dones", dones, (0, 1))  # names the first offending value
    done = dones.bool()
    # A terminal state's next value is never used: select it out (not ×0) so that whatever a
    # buffer holds there (NaN, inf for an unreachable state) cannot reach the target. With
    # dones in {0, 1} the factor (1 - d) is then 1 wherever boot is kept, and is dropped.
    if q_values.dtype in (torch.float16, torch.bfloat16):
        g = float(torch.tensor(g, dtype=q_values.dtype))  # γ rounded as γ·(1 - d) was
    target = rewards + g * torch.where(done, 0.0, boot)
    if target.requires_grad:
        target = target.detach()
    u = (picked if picked.dtype == q_values.dtype else picked.to(q_values.dtype)) - target
    if loss == "squared":
        value = u.square()  # = u * u, with one product fewer in the backward
    else:
        au = u.abs()
        quad = au.clamp_max(d)
        value = 0.5 * quad * quad + d * (au - quad)
    return _reduce(value, reduction, sample_weight)


@old_weight_keyword
def policy_gradient_loss(
    logits: torch.Tensor,
    actions: torch.Tensor,
    advantages: torch.Tensor,
    *,
    entropy_coef: float = 0.0,
    sample_weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Policy-gradient (REINFORCE / actor) loss with advantages and an optional entropy bonus.

    .. math::

        \ell = -\,\mathrm{sg}[A]\, \log \pi(a \mid s) \;-\; \beta\, \mathcal H\big(\pi(\cdot \mid s)\big),
        \qquad \pi = \mathrm{softmax}(\text{logits})

    (seed 002, *Policy Gradient Loss*): its gradient is the score-function estimator
    ``−A ∇ log π(a|s)``. The advantages are detached; ``β ≥ 0`` rewards entropy.
    Computed with ``log_softmax`` (finite at logits ±1e4).

    Args:
        logits: policy logits ``[..., A]``, floating.
        actions: actions taken ``[...]``, integers in ``[0, A)``.
        advantages: ``[...]``, floating (treated as constants).
        entropy_coef: ``β ≥ 0``.
        sample_weight: optional per-step weights ``[...]``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``.

    Returns:
        ``[...]`` for ``'none'``, else a scalar.

    Example:
        >>> import torch, losslab as ll
        >>> logits = torch.zeros(1, 2)
        >>> ll.policy_gradient_loss(logits, torch.tensor([0]), torch.tensor([2.0]))   # -2 log(1/2)
        tensor(1.3863)

    Reference: Williams, "Simple statistical gradient-following algorithms", Machine Learning 1992; Mnih et al. (A3C entropy bonus), 2016.
    """
    check_floating("logits", logits)
    if logits.dim() < 1:
        raise ValueError("logits must have shape [..., A]; got a 0-dim tensor")
    beta = check_nonnegative("entropy_coef", entropy_coef)
    check_hyper_magnitude("entropy_coef", beta, logits)
    a = _actions(actions, logits)
    try:
        check_floating("advantages", advantages)
        check_target_shape("advantages", advantages, logits.shape[:-1], "the batch shape")
    except (TypeError, ValueError):
        # The range of actions is checked later, by the gather; an invalid action still takes
        # precedence over a bad advantages argument, as when it was checked first.
        check_class_indices("actions", actions, logits.shape[-1])
        raise
    logits, advantages = promote_floating(logits, advantages)
    if torch._C._are_functorch_transforms_active():
        # torch.func (grad, hessian) needs plain autograd ops, not a Function without jvp/vmap rules
        value = _policy_gradient_autograd(logits, a, advantages.detach(), beta, actions)
    else:
        value = _PolicyGradient.apply(logits, a, advantages.detach(), beta, actions)
    return _reduce(value, reduction, sample_weight)


def _policy_gradient_autograd(logits, a, adv, beta, actions):
    """The per-step loss through autograd: what :class:`_PolicyGradient` computes, for the
    backward of its backward (``create_graph=True``) and for ``torch.func`` transforms."""
    logp = torch.log_softmax(logits, -1)
    value = -adv * _pick(logp, a, actions)
    if beta > 0:
        entropy = -mul_where_zero(logp.exp(), logp).sum(-1)  # -inf logits (masked actions) add 0
        value = value - beta * entropy
    return value


class _PolicyGradient(torch.autograd.Function):
    r"""Per-step ``−A log π(a|s) − β H(π)`` from one ``log_softmax``, and its gradient

    .. math::

        \partial \ell / \partial z_j = A\,(\pi_j - [j = a]) + \beta\, \pi_j (\log \pi_j + H)

    (``∂H/∂z_j = −π_j (log π_j + H)``) formed in one ``[..., A]`` buffer, where autograd would
    chain through the product, the exp and the log-softmax, each with its own buffers.
    """

    @staticmethod
    def forward(ctx, logits, a, adv, beta, actions):
        logp = torch.log_softmax(logits, -1)
        value = -adv * _pick(logp, a, actions)
        ctx.beta = beta
        if beta > 0:
            p = logp.exp()
            # π log π with 0·log 0 := 0: a -inf logit (a masked action) has π = 0 and log π = -inf;
            # log π clamped to the dtype's lowest finite value makes that product 0 (not NaN) and
            # changes no other entry (π > 0 needs log π > log of the smallest subnormal).
            plogp = logp.clamp_min_(torch.finfo(logp.dtype).min).mul_(p)
            entropy = -plogp.sum(-1)
            value = value - beta * entropy
            ctx.save_for_backward(logits, a, adv, p, plogp, entropy)
        else:
            ctx.save_for_backward(logits, a, adv, logp)
        return value

    @staticmethod
    def backward(ctx, g):
        if not ctx.needs_input_grad[0]:
            return None, None, None, None, None
        logits, a, adv = ctx.saved_tensors[:3]
        if torch.is_grad_enabled():
            # create_graph=True: the gradient must itself be differentiable, so take it through autograd.
            with torch.enable_grad():
                value = _policy_gradient_autograd(logits, a, adv, ctx.beta, a)
                (grad,) = torch.autograd.grad(value, logits, g, create_graph=True)
            return grad, None, None, None, None
        ga = (g * adv).unsqueeze(-1)
        if ctx.beta > 0:
            p, plogp, entropy = ctx.saved_tensors[3:]
            bg = (ctx.beta * g).unsqueeze(-1)
            # g [A π + β H π + β π log π]: one product and one fused multiply-add over [..., A]
            grad = plogp * bg
            grad.addcmul_(p, ga + bg * entropy.unsqueeze(-1))
        else:
            (logp,) = ctx.saved_tensors[3:]
            grad = logp.exp().mul_(ga)
        grad.scatter_add_(-1, a.unsqueeze(-1), -ga)
        return grad, None, None, None, None


# ---------------------------------------------------------------------------------
# Registry specs


def _td_sample(**kw):
    def sample(batch_shape, *, dtype, generator):
        bs = tuple(batch_shape)
        q = registry.randn(bs + (3,), dtype=dtype, generator=generator, scale=2.0)
        a = registry.randint(3, bs, generator=generator)
        r = registry.randn(bs, dtype=dtype, generator=generator)
        nq = registry.randn(bs + (3,), dtype=dtype, generator=generator, scale=2.0)
        done = registry.randint(2, bs, generator=generator)
        return registry.Sample((q, a, r, nq, done), dict(kw), batched_argnums=(0, 1, 2, 3, 4), none_shape=bs)

    return sample


def _td_extremes(dtype):
    q = torch.tensor([[1e4, -1e4], [-1e4, 1e4], [0.0, 0.0]], dtype=dtype)
    a = torch.tensor([0, 0, 1])
    r = torch.tensor([-1e4, 1e4, 1e4], dtype=dtype)
    nq = torch.tensor([[1e4, -1e4], [1e4, 1e4], [-1e4, 0.0]], dtype=dtype)
    done = torch.tensor([0, 0, 1])
    return [
        registry.Sample((q, a, r, nq, done), {"gamma": 0.99}, none_shape=(3,)),
        registry.Sample((q, a, r, nq, done), {"loss": "huber", "delta": 1.0}, none_shape=(3,)),
    ]


def _pg_sample(batch_shape, *, dtype, generator):
    bs = tuple(batch_shape)
    x = registry.randn(bs + (3,), dtype=dtype, generator=generator, scale=2.0)
    a = registry.randint(3, bs, generator=generator)
    adv = registry.randn(bs, dtype=dtype, generator=generator)
    return registry.Sample((x, a, adv), {"entropy_coef": 0.1}, batched_argnums=(0, 1, 2), none_shape=bs)


def _pg_extremes(dtype):
    x = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, -1e4], [0.0, 0.0, 0.0]], dtype=dtype)
    a = torch.tensor([1, 1, 2])
    adv = torch.tensor([1e4, -1e4, 1.0], dtype=dtype)
    return [registry.Sample((x, a, adv), {"entropy_coef": 0.01}, none_shape=(3,))]


def _register() -> None:
    R, S, fam = registry.register, registry.LossSpec, "rl"
    R(S("td_loss", td_loss, fam, "action values any real (float32: |Q| up to 1e4); actions in [0, A); dones in {0, 1}; gamma in [0, 1]",
        _td_sample(gamma=0.9), _td_extremes))
    R(S("policy_gradient_loss", policy_gradient_loss, fam, "logits any real [..., A]; actions in [0, A); entropy_coef >= 0",
        _pg_sample, _pg_extremes))


_register()
