"""Fast paths of the RL losses: ``policy_gradient_loss`` and ``td_loss``.

``policy_gradient_loss`` forms its gradient in one ``[..., A]`` buffer (a custom
``autograd.Function``); both losses check the action range in the gather that reads the
chosen action (no min/max pass) and ``td_loss`` checks its dones with one ``aminmax``. Values
and gradients must equal an independent formula (the naive loops of ``reference.catalogue``
and autograd through the former expressions, copied here as ``_before_*``), float64
``gradcheck``/``gradgradcheck`` must pass, bad inputs must raise the former errors, and an
op count (``_dispatch_count.OpCounter``) pins the work against a plain implementation.
"""
from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

import losslab as ll
from _dispatch_count import OpCounter
from reference import catalogue as naive


def _before_pg(logits, actions, advantages, entropy_coef=0.0):
    # The former per-step expression, through autograd.
    logp = torch.log_softmax(logits, -1)
    value = -advantages.detach() * logp.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
    if entropy_coef > 0:
        p = logp.exp()
        plogp = p * torch.where((p == 0) & torch.isinf(logp), torch.zeros_like(logp), logp)
        value = value + entropy_coef * plogp.sum(-1)
    return value


def _before_td(q, actions, rewards, next_values, dones, gamma=0.99, loss="squared", delta=1.0):
    boot = next_values.amax(-1) if next_values.dim() == q.dim() else next_values
    boot = torch.where(dones.bool(), torch.zeros_like(boot), boot)
    target = (rewards + gamma * (1 - dones.to(q.dtype)) * boot).detach()
    u = q.gather(-1, actions.unsqueeze(-1)).squeeze(-1) - target
    if loss == "squared":
        return u * u
    au = u.abs()
    quad = au.clamp_max(delta)
    return 0.5 * quad * quad + delta * (au - quad)


def _reduced(per_step, reduction, w):
    if w is not None:
        per_step = per_step * w
    if reduction == "none":
        return per_step
    total = per_step.sum()
    return total if reduction == "sum" else total / (per_step.numel() if w is None else w.sum())


def _pg_inputs(shape=(5, 3), A=6, dtype=torch.float64, seed=0, masked=True):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(*shape, A, generator=g) * 2).to(dtype)
    a = torch.randint(0, A, shape, generator=g)
    adv = torch.randn(shape, generator=g).to(dtype)
    w = torch.rand(shape, generator=g).to(dtype)
    if masked:  # -inf logits (masked actions) never taken; one row with all but two masked
        x.view(-1, A)[0, 1] = float("-inf")
        x.view(-1, A)[1, 2:] = float("-inf")
        a.view(-1)[0], a.view(-1)[1] = 0, 1
    return x, a, adv, w


def _grad(fn, x):
    x = x.detach().clone().requires_grad_(True)
    out = fn(x)
    (g,) = torch.autograd.grad(out.sum(), x)
    return out.detach(), g


# ---------------------------------------------------------------- policy_gradient_loss values and gradients


@pytest.mark.parametrize("beta,reduction,weighted", list(itertools.product([0.0, 0.3], ["mean", "sum", "none"], [False, True])))
def test_pg_equals_former_expression_and_naive_loop(beta, reduction, weighted):
    x, a, adv, w = _pg_inputs()
    sw = w if weighted else None
    got, g_got = _grad(lambda x: ll.policy_gradient_loss(x, a, adv, entropy_coef=beta, reduction=reduction,
                                                          sample_weight=sw), x)
    want, g_want = _grad(lambda x: _reduced(_before_pg(x, a, adv, beta), reduction, sw), x)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(g_got, g_want, rtol=1e-12, atol=1e-12)
    assert torch.isfinite(g_got).all() and (g_got[x == float("-inf")] == 0).all()
    per_step = naive.policy_gradient_loss(x, a, adv, entropy_coef=beta)
    torch.testing.assert_close(got, _reduced(per_step, reduction, sw), rtol=1e-10, atol=1e-12)


def test_pg_gradient_closed_form_float32():
    # ∂ℓ/∂z = A (π − e_a) + β π (log π + H), here in float64 from float32 inputs.
    x, a, adv, _ = _pg_inputs(shape=(64,), A=18, dtype=torch.float32, masked=False)
    beta = 0.05
    _, g = _grad(lambda x: ll.policy_gradient_loss(x, a, adv, entropy_coef=beta, reduction="sum"), x)
    xd, advd = x.double(), adv.double()
    p, logp = torch.softmax(xd, -1), torch.log_softmax(xd, -1)
    H = -(p * logp).sum(-1, keepdim=True)
    want = advd[:, None] * (p - F.one_hot(a, 18).double()) + beta * p * (logp + H)
    torch.testing.assert_close(g.double(), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("beta", [0.0, 0.3])
def test_pg_gradcheck_and_gradgradcheck(beta):
    x, a, adv, w = _pg_inputs(shape=(4,), A=5, masked=False)
    fn = lambda x: ll.policy_gradient_loss(x, a, adv, entropy_coef=beta, sample_weight=w, reduction="sum")  # noqa: E731
    x = x.requires_grad_(True)
    assert torch.autograd.gradcheck(fn, (x,), eps=1e-6, atol=1e-6)
    assert torch.autograd.gradgradcheck(fn, (x,), eps=1e-6, atol=1e-6)


def test_pg_second_order_equals_former():
    x, a, adv, _ = _pg_inputs(shape=(3,), A=4, masked=False)
    v = torch.randn(x.shape, dtype=x.dtype, generator=torch.Generator().manual_seed(1))

    def hvp(fn):
        xx = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(fn(xx).sum(), xx, create_graph=True)
        (h,) = torch.autograd.grad((g * v).sum(), xx)
        return h

    torch.testing.assert_close(hvp(lambda x: ll.policy_gradient_loss(x, a, adv, entropy_coef=0.2, reduction="none")),
                               hvp(lambda x: _before_pg(x, a, adv, 0.2)), rtol=1e-10, atol=1e-12)


def test_pg_advantages_get_no_gradient_and_dtypes_promote():
    x, a, adv, _ = _pg_inputs(masked=False)
    adv = adv.clone().requires_grad_(True)
    xf = x.float().requires_grad_(True)
    out = ll.policy_gradient_loss(xf, a, adv, entropy_coef=0.1)  # float32 logits, float64 advantages
    out.backward()
    assert out.dtype == torch.float64 and adv.grad is None and xf.grad.dtype == torch.float32
    want, g_want = _grad(lambda x: _before_pg(x, a, adv, 0.1).mean(), xf.detach().double())
    torch.testing.assert_close(out.detach(), want)
    torch.testing.assert_close(xf.grad, g_want.float())


# ---------------------------------------------------------------- td_loss values and gradients


def _td_inputs(shape=(5, 3), A=4, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = (torch.randn(*shape, A, generator=g) * 2).to(dtype)
    a = torch.randint(0, A, shape, generator=g)
    r = torch.randn(shape, generator=g).to(dtype)
    nq = (torch.randn(*shape, A, generator=g) * 2).to(dtype)
    done = torch.randint(0, 2, shape, generator=g)
    done.view(-1)[:2] = torch.tensor([1, 0])
    w = torch.rand(shape, generator=g).to(dtype)
    return q, a, r, nq, done, w


@pytest.mark.parametrize("loss,reduction,weighted,boot,done_dtype", list(itertools.product(
    ["squared", "huber"], ["mean", "sum", "none"], [False, True], ["max", "values"],
    [torch.int64, torch.bool, torch.float64])))
def test_td_equals_former_expression_and_naive_loop(loss, reduction, weighted, boot, done_dtype):
    q, a, r, nq, done, w = _td_inputs()
    nv = nq if boot == "max" else nq[..., 0]
    d = done.to(done_dtype)
    sw = w if weighted else None
    kw = dict(gamma=0.9, loss=loss, delta=0.7)
    got, g_got = _grad(lambda q: ll.td_loss(q, a, r, nv, d, **kw, reduction=reduction, sample_weight=sw), q)
    want, g_want = _grad(lambda q: _reduced(_before_td(q, a, r, nv, d, **kw), reduction, sw), q)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(g_got, g_want, rtol=1e-12, atol=1e-12)
    per_step = naive.td_loss(q, a, r, nv, d, **kw)
    torch.testing.assert_close(got, _reduced(per_step, reduction, sw), rtol=1e-10, atol=1e-12)
    # and PyTorch's own losses on the gathered values against the detached target
    y = r + 0.9 * (1 - d.double()) * (nv.amax(-1) if nv.dim() == q.dim() else nv)
    picked = q.gather(-1, a.unsqueeze(-1)).squeeze(-1).requires_grad_(True)
    ref = F.mse_loss(picked, y, reduction="none") if loss == "squared" else F.huber_loss(picked, y, delta=0.7, reduction="none")
    ref = _reduced(ref, reduction, sw)
    (g_pick,) = torch.autograd.grad(ref.sum(), picked)
    torch.testing.assert_close(got, ref.detach(), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(g_got.gather(-1, a.unsqueeze(-1)).squeeze(-1), g_pick, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_td_bitwise_equal_to_former_in_low_precision(dtype):
    # γ enters as it did (γ·(1 − d) rounded in the loss's dtype), so values and gradients are
    # unchanged to the last bit, terminal states holding NaN next values included.
    q, a, r, nq, done, _ = _td_inputs(shape=(64,), A=18, dtype=dtype)
    nq[done.bool()] = float("nan")
    for loss in ("squared", "huber"):
        got, g_got = _grad(lambda q: ll.td_loss(q, a, r, nq, done, gamma=0.99, loss=loss, reduction="none"), q)
        want, g_want = _grad(lambda q: _before_td(q, a, r, nq, done, gamma=0.99, loss=loss), q)
        assert torch.equal(got, want) and torch.equal(g_got, g_want)


def test_td_gradcheck_and_target_detached():
    q, a, r, nq, done, w = _td_inputs(shape=(6,))
    nq = nq.requires_grad_(True)
    r = r.requires_grad_(True)
    for loss in ("squared", "huber"):
        fn = lambda q: ll.td_loss(q, a, r, nq, done, loss=loss, delta=0.5, sample_weight=w, reduction="sum")  # noqa: E731
        assert torch.autograd.gradcheck(fn, (q.clone().requires_grad_(True),), eps=1e-6, atol=1e-6)
        assert torch.autograd.gradgradcheck(fn, (q.clone().requires_grad_(True),), eps=1e-6, atol=1e-6)
        fn(q.clone().requires_grad_(True)).backward()
        assert nq.grad is None and r.grad is None


# ---------------------------------------------------------------- bad inputs: the former errors


def _message(fn):
    with pytest.raises(ValueError) as e:
        fn()
    return str(e.value)


@pytest.mark.parametrize("bad,label", [([0, 6, 1, -2, 7], -2), ([0, 6, 1, 2, 3], 6), ([-1, 0, 1, 2, 3], -1)])
def test_out_of_range_action_same_error(bad, label):
    # the former check reported the minimum if negative, else the maximum
    x, _, adv, _ = _pg_inputs(shape=(5,), A=6, masked=False)
    q, _, r, nq, done, _ = _td_inputs(shape=(5,), A=6)
    a = torch.tensor(bad)
    want = f"actions must lie in [0, 6); got a label {label}"
    assert _message(lambda: ll.policy_gradient_loss(x, a, adv)) == want
    assert _message(lambda: ll.policy_gradient_loss(x, a, adv, entropy_coef=0.1)) == want
    assert _message(lambda: ll.td_loss(q, a, r, nq, done)) == want
    assert _message(lambda: ll.td_loss(q, a, r, nq[:, 0], done, loss="huber")) == want
    # an invalid action is still reported before a later argument's fault
    assert _message(lambda: ll.policy_gradient_loss(x, a, adv[:3])) == want
    with pytest.raises(ValueError, match="actions must lie in"):
        ll.policy_gradient_loss(x, a, adv.long())
    assert _message(lambda: ll.td_loss(q, a, r[:3], nq, done)) == want
    assert _message(lambda: ll.td_loss(q, a, r, nq, done * 2)) == want


@pytest.mark.parametrize("bad,shown", [(torch.tensor([0, 1, 2, 1, 0]), "2"), (torch.tensor([0, -1, 1, 0, 0]), "-1"),
                                       (torch.tensor([0, 1, 0.5, 1, 3.0]), "0.5"),
                                       (torch.tensor([0, 1, float("nan"), 1, 0]), "nan"),
                                       (torch.tensor([0, float("inf"), 0, 1, 0]), "inf")])
def test_dones_not_zero_one_same_error(bad, shown):
    q, a, r, nq, _, _ = _td_inputs(shape=(5,), A=3)
    assert _message(lambda: ll.td_loss(q, a, r, nq, bad.to(torch.float64) if bad.is_floating_point() else bad)) == \
        f"dones must contain only (0, 1); got a value {shown}"


def test_other_bad_inputs_unchanged():
    x, a, adv, _ = _pg_inputs(shape=(5,), A=6, masked=False)
    with pytest.raises(TypeError, match="actions must be an integer tensor"):
        ll.policy_gradient_loss(x, a.double(), adv)
    with pytest.raises(ValueError, match=r"actions must have shape \(5,\)"):
        ll.policy_gradient_loss(x, a[:4], adv)
    with pytest.raises(ValueError, match=r"advantages must have shape \(5,\)"):
        ll.policy_gradient_loss(x, a, adv[:4])
    with pytest.raises(TypeError, match="advantages must be a floating-point tensor"):
        ll.policy_gradient_loss(x, a, adv.long())
    q, a, r, nq, done, _ = _td_inputs(shape=(5,), A=6)
    with pytest.raises(ValueError, match=r"dones must have shape \(5,\)"):
        ll.td_loss(q, a, r, nq, done[:4])
    with pytest.raises(ValueError, match=r"next_values must have shape"):
        ll.td_loss(q, a, r, nq[:, :, None], done)
    assert ll.td_loss(q[:0], a[:0], r[:0], nq[:0], done[:0].float(), reduction="sum").item() == 0  # empty batch


# ---------------------------------------------------------------- op counts


def _plain_pg(x, a, adv):
    lp = F.log_softmax(x, 1)
    entropy = -(lp.exp() * lp).sum(1)
    return (-adv * lp.gather(1, a[:, None])[:, 0] - 0.01 * entropy).mean()


def _plain_td(q, a, r, nv, done):
    target = r + 0.99 * (1 - done.to(q.dtype)) * nv.amax(1)
    return (q.gather(1, a[:, None])[:, 0] - target).square().mean()


def _count(fn, *inputs):
    inputs = [t.detach().clone().requires_grad_(i == 0) for i, t in enumerate(inputs)]
    with OpCounter() as c:
        fn(*inputs).backward()
    return c


def test_pg_op_count_and_buffers_at_most_a_plain_implementation():
    B, A = 64, 18
    x, a, adv, _ = _pg_inputs(shape=(B,), A=A, dtype=torch.float32, masked=False)
    ours = _count(lambda x, a, adv: ll.policy_gradient_loss(x, a, adv, entropy_coef=0.01), x, a, adv)
    plain = _count(_plain_pg, x, a, adv)
    assert len(ours.ops) <= len(plain.ops), (ours.ops, plain.ops)
    # no min/max pass over the actions and no device sync: the gather checks the range
    assert ours.count("min") == ours.count("max") == ours.count("_local_scalar_dense") == 0
    # [B, A] buffers: log π (reused for π log π), π, the gradient
    assert len(ours.big(B * A * 4)) <= 3 < len(plain.big(B * A * 4)), (ours.big(B * A * 4), plain.big(B * A * 4))


def test_td_op_count_at_most_a_plain_implementation_plus_its_checks():
    q, a, r, nq, done, _ = _td_inputs(shape=(64,), A=18, dtype=torch.float32)
    ours = _count(lambda *i: ll.td_loss(*i, gamma=0.99), q, a, r, nq, done)
    plain = _count(_plain_td, q, a, r, nq, done)
    # the dones check (aminmax and its two scalars) and the NaN-safe terminal select's zero
    assert len(ours.ops) <= len(plain.ops) + 4, (ours.ops, plain.ops)
    assert ours.count("min") == ours.count("max") == 0
    assert ours.count("_local_scalar_dense") <= 2


def test_pg_torch_func_transforms_as_before():
    # torch.func takes the autograd path (the Function has no jvp/vmap rules): same grad and Hessian.
    from torch.func import grad, hessian

    x, a, adv, _ = _pg_inputs(shape=(3,), A=4, masked=False)
    ours = lambda x: ll.policy_gradient_loss(x, a, adv, entropy_coef=0.2, reduction="sum")  # noqa: E731
    before = lambda x: _before_pg(x, a, adv, 0.2).sum()  # noqa: E731
    torch.testing.assert_close(grad(ours)(x), grad(before)(x))
    torch.testing.assert_close(hessian(ours)(x), hessian(before)(x))
