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
from ._validate import old_weight_keyword, promote_floating

__all__ = ["td_loss", "policy_gradient_loss"]


def _actions(actions, values: torch.Tensor) -> torch.Tensor:
    check_integer("actions", actions)
    check_target_shape("actions", actions, values.shape[:-1], "the action values without the action dim")
    check_class_indices("actions", actions, values.shape[-1])
    return actions.long()


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
    check_values_in("dones", dones, (0, 1))
    # A terminal state's next value is never used: select it out (not ×0) so that whatever a
    # buffer holds there (NaN, inf for an unreachable state) cannot reach the target.
    boot = torch.where(dones.bool(), torch.zeros_like(boot), boot)
    target = (rewards + g * (1 - dones.to(q_values.dtype)) * boot).detach()
    u = q_values.gather(-1, a.unsqueeze(-1)).squeeze(-1) - target.to(q_values.dtype)
    if loss == "squared":
        value = u * u
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
    check_floating("advantages", advantages)
    check_target_shape("advantages", advantages, logits.shape[:-1], "the batch shape")
    logits, advantages = promote_floating(logits, advantages)
    logp = torch.log_softmax(logits, -1)
    value = -advantages.detach().to(logits.dtype) * logp.gather(-1, a.unsqueeze(-1)).squeeze(-1)
    if beta > 0:
        entropy = -mul_where_zero(logp.exp(), logp).sum(-1)  # -inf logits (masked actions) add 0
        value = value - beta * entropy
    return _reduce(value, reduction, sample_weight)


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
