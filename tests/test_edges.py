"""No silent NaN, inf or wrong answer at the edges of a domain.

One test per class of defect, each run over every registered loss
(``losslab.registry.specs()``) plus tables of the public mappings and metrics
that are not registered. Every spec must be classified in each table (applicable,
or the reason it is not), so a new loss cannot slip through:

a. ``-inf`` entries used as masks give the value and gradient of removing them;
b. gradients with respect to a target on the boundary of its domain are finite and right;
c. positions excluded by ``ignore_index`` / ``mask`` do not leak NaN/inf;
d. inputs outside a documented domain raise a ``ValueError`` naming the argument;
e. float hyper-parameters at the limits of float range are accepted (finite value and
   gradient) or rejected with a ``ValueError``/``TypeError`` naming the parameter.
"""
from __future__ import annotations

import inspect
import math

import pytest
import torch

import losslab as ll
from losslab import metrics, registry

SPECS = registry.specs()
NAMES = {s.name for s in SPECS}


def _sample(spec, batch_shape=(4,), dtype=torch.float64, seed=0) -> registry.Sample:
    g = torch.Generator().manual_seed(seed)
    return spec.sample(tuple(batch_shape), dtype=dtype, generator=g)


def _assert_classified(table: dict, cls: str) -> None:
    missing = sorted(NAMES - set(table))
    stale = sorted(set(table) - NAMES)
    assert not missing, f"class {cls}: classify these registered losses in the table: {missing}"
    assert not stale, f"class {cls}: the table names losses that are not registered: {stale}"


# ---------------------------------------------------------------------------
# a. -inf as a mask == removing the entries
#
# Applicable losses: how the masked column is chosen and removed. ``target`` is
# "index" (integer labels along the class dim, re-indexed after removal), "prob"
# (a distribution over classes: zero at the masked class) or "none".

_MASK_APPLICABLE = {
    "cross_entropy": dict(target="index"),
    "focal_loss": dict(target="index"),
    "poly_loss": dict(target="index"),
    "multiclass_hinge": dict(target="index"),
    "kl_divergence": dict(target="prob"),  # input log-probs: -inf where log_softmax of masked logits is
    "sparsemax_loss": dict(target="index"),
    "entmax15_loss": dict(target="prob"),
    "entmax_bisect_loss": dict(target="index"),
    "fenchel_young_loss": dict(target="prob"),
    "policy_gradient_loss": dict(target="index"),  # invalid actions; the entropy bonus included
    "batch_cross_entropy": dict(target="index"),
    "batch_max_margin": dict(target="index"),
    "binary_cross_entropy": dict(target="index"),
    "max_margin": dict(target="index"),
    "self_normalization": dict(target="index"),
    "sigmoid_cauchy_schwarz": dict(target="index"),
    "sigmoid_tanimoto": dict(target="index"),
    "softmax_cauchy_schwarz": dict(target="index"),
    "softmax_tanimoto": dict(target="index"),
}
_MASK_NOT_APPLICABLE = {
    "arcface": "input is a cosine in [-1, 1]; a -inf cosine is outside the domain",
    "binary_cross_entropy_with_logits": "no class dim: each logit is its own binary problem",
    "ge2e": "input is embeddings, not class scores",
    "hinge": "binary scores, no class dim",
    "squared_hinge": "binary scores, no class dim",
    "soft_dice": "dice is a ratio of probability mass per class; masked classes are ignore_index's job (class c)",
    "nce": "the noise distribution is over the K classes: removing a class changes the noise, so no identity",
    "contrastive": "embeddings, no class scores",
    "info_nce": "embeddings, no class scores",
    "multiple_negatives_ranking": "embeddings, no class scores",
    "nt_xent": "embeddings, no class scores",
    "triplet": "embeddings, no class scores",
    "composite_softmax_loss": "-inf is not a mask under a scaling: p_k ~ exp(Q(z_k)/gamma) and Q(-inf) is 0 for exp "
    "scaling and +inf for identity (Q = z^2/2), so the class keeps or takes the mass",
    "composite_sigmoid_loss": "scalar predictions, no class dim",
    "decomposed_matching_loss": "separable over classes: each coordinate is its own matching loss, nothing to mask",
    "matching_loss": "scalar predictions, no class dim",
    "td_loss": "action values enter through max/gather; a -inf Q-value is not a probability mask",
    "huber": "regression, no class dim",
    "log_cosh": "regression, no class dim",
    "mae": "regression, no class dim",
    "mape": "regression, no class dim",
    "mse": "regression, no class dim",
    "msle": "regression, no class dim",
    "poisson_nll": "regression, no class dim",
    "quantile": "regression, no class dim",
    "smooth_l1": "regression, no class dim",
    **{n: "classes are out_weight/out_bias rows and the mask is out_bias = -inf; dropping a padded class changes "
          "the estimator itself (number of samples S, proposal over K), so there is no removal identity: "
          "test_padded_classes_in_sampled_losses checks finite value and zero gradient instead"
       for n in ("importance_sampling_loss", "in_batch_negatives_loss", "sampled_nce_loss", "sampled_softmax_loss")},
    "negative_sampling_loss": "classes are out_weight/out_bias rows: test_padded_classes_in_sampled_losses checks "
    "that out_bias = -inf equals removing the padded samples",
    "lambda_loss": "ranking lists mask with mask= (class c)",
    "listmle": "ranking lists mask with mask= (class c)",
    "listnet": "ranking lists mask with mask= (class c)",
    "pairwise_hinge": "ranking lists mask with mask= (class c)",
    "pointwise_mse": "ranking lists mask with mask= (class c)",
    "pointwise_sigmoid_ce": "ranking lists mask with mask= (class c)",
    "ranknet": "ranking lists mask with mask= (class c)",
    "selective_listwise": "ranking lists mask with mask= (class c)",
    "selective_pairwise": "ranking lists mask with mask= (class c)",
    "selective_pointwise": "ranking lists mask with mask= (class c)",
    "soft_pairwise": "ranking lists mask with mask= (class c)",
}


def test_mask_table_classifies_every_loss():
    assert not set(_MASK_APPLICABLE) & set(_MASK_NOT_APPLICABLE)
    _assert_classified({**_MASK_APPLICABLE, **_MASK_NOT_APPLICABLE}, "a")


def _masked_and_removed(spec, how):
    """The sample with class column 1 (never a target) set to -inf, and the sample with it removed."""
    s = _sample(spec, batch_shape=(4,))
    args = [a.detach().clone() if isinstance(a, torch.Tensor) else a for a in s.args]
    x, t = args[0], args[1]
    K = x.shape[-1]
    col = 1
    keep = [k for k in range(K) if k != col]
    if how["target"] == "index":
        t = torch.where(t == col, torch.zeros_like(t), t)
        t_removed = t - (t > col).to(t.dtype)
    else:
        t = t.clone()
        t[..., col] = 0
        t[..., 0] += (t.sum(-1) == 0).to(t.dtype)  # a one-hot target at the masked class moves to class 0
        t = t / t.sum(-1, keepdim=True)
        t_removed = t[..., keep]
    if spec.name == "kl_divergence":
        # the input is log-probabilities: renormalise the rest so both sides are distributions
        x = torch.log_softmax(x, -1)
        x_masked = x.clone()
        x_masked[..., col] = float("-inf")
        x_removed = torch.log_softmax(x[..., keep], -1)
        x_masked = torch.cat([x_removed[..., :col], x_masked[..., col:col + 1], x_removed[..., col:]], -1)
    else:
        x_masked = x.clone()
        x_masked[..., col] = float("-inf")
        x_removed = x[..., keep].clone()
    masked = list(args)
    removed = list(args)
    masked[0], masked[1] = x_masked.requires_grad_(True), t
    removed[0], removed[1] = x_removed.requires_grad_(True), t_removed
    return s, masked, removed, col


@pytest.mark.parametrize("name", sorted(_MASK_APPLICABLE))
def test_neg_inf_mask_equals_removing_the_class(name):
    spec = registry.get(name)
    s, masked, removed, col = _masked_and_removed(spec, _MASK_APPLICABLE[name])
    kw = dict(s.kwargs)
    red = "none" if "none" in spec.reductions else "sum"
    got = spec.fn(*masked, **kw, reduction=red)
    want = spec.fn(*removed, **kw, reduction=red)
    assert torch.isfinite(got).all(), f"{name}: -inf mask gives {got}"
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)
    (g_masked,) = torch.autograd.grad(got.sum(), masked[0])
    (g_removed,) = torch.autograd.grad(want.sum(), removed[0])
    assert (g_masked[..., col] == 0).all(), f"{name}: gradient at the -inf entries is {g_masked[..., col]}, not 0"
    keep = [k for k in range(masked[0].shape[-1]) if k != col]
    torch.testing.assert_close(g_masked[..., keep], g_removed, rtol=1e-9, atol=1e-12)


_SAMPLED = ("importance_sampling_loss", "in_batch_negatives_loss", "negative_sampling_loss", "sampled_nce_loss",
            "sampled_softmax_loss")


@pytest.mark.parametrize("name", _SAMPLED)
def test_padded_classes_in_sampled_losses(name):
    """Padded classes (out_bias = -inf) that get sampled: finite value, zero gradient on their rows,
    and for negative sampling (one binary term per sample) exactly the value without them."""
    fn = getattr(ll, name)
    g = torch.Generator().manual_seed(0)
    h = torch.randn(4, 3, dtype=torch.float64, generator=g).requires_grad_(True)
    W = torch.randn(7, 3, dtype=torch.float64, generator=g).requires_grad_(True)
    b = torch.randn(7, dtype=torch.float64, generator=g)
    b[5:] = float("-inf")
    b.requires_grad_(True)
    labels = torch.tensor([0, 1, 2, 3])
    kw = {} if name == "in_batch_negatives_loss" else dict(sampled=torch.tensor([4, 5, 6, 1, 2]), proposal="uniform")
    out = fn(h, W, b, labels, **kw, reduction="none")
    assert torch.isfinite(out).all(), f"{name}: {out}"
    gh, gW, gb = torch.autograd.grad(out.sum(), (h, W, b))
    assert all(torch.isfinite(x).all() for x in (gh, gW, gb))
    assert (gW[5:] == 0).all() and (gb[5:] == 0).all()
    if name == "negative_sampling_loss":
        hr, Wr = h.detach().clone().requires_grad_(True), W.detach()[:5].clone().requires_grad_(True)
        removed = fn(hr, Wr, b.detach()[:5], labels, sampled=torch.tensor([4, 1, 2]), proposal="uniform", reduction="none")
        torch.testing.assert_close(out, removed)
        grh, grW = torch.autograd.grad(removed.sum(), (hr, Wr))
        torch.testing.assert_close(gh, grh)
        torch.testing.assert_close(gW[:5], grW)


# The mappings (not registered): output 0 at the masked class, the removed mapping elsewhere.
_MAPPINGS = {
    "sparsemax": lambda x: ll.sparsemax(x, dim=-1),
    "entmax15": lambda x: ll.entmax15(x, dim=-1),
    "entmax_bisect": lambda x: ll.entmax_bisect(x, alpha=1.3, dim=-1),
    "entmax_bisect(alpha=2)": lambda x: ll.entmax_bisect(x, alpha=2.0, dim=-1),
    "composite_softmax(identity scaling on z>=0 via exp link)": None,  # see _MAPPINGS_NOT_MASKABLE
}
_MAPPINGS_NOT_MASKABLE = {
    "composite_softmax": "p_k ~ exp(Q(z_k)/gamma): Q(-inf) is finite or +inf for the paper's scalings, so -inf is not a mask",
    "composite_sigmoid": "elementwise, no class dim",
}
_MAPPINGS = {k: v for k, v in _MAPPINGS.items() if v is not None}


@pytest.mark.parametrize("name", sorted(_MAPPINGS))
def test_neg_inf_mask_in_mappings(name):
    fn = _MAPPINGS[name]
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, 6, dtype=torch.float64, generator=g) * 2
    cot = torch.randn(4, 5, dtype=torch.float64, generator=g)
    col = 2
    keep = [k for k in range(6) if k != col]
    xm = x.clone()
    xm[:, col] = float("-inf")
    xm.requires_grad_(True)
    xr = x[:, keep].clone().requires_grad_(True)
    pm, pr = fn(xm), fn(xr)
    assert (pm[:, col] == 0).all()
    torch.testing.assert_close(pm[:, keep], pr, rtol=1e-9, atol=1e-12)
    (gm,) = torch.autograd.grad(pm[:, keep], xm, cot)
    (gr,) = torch.autograd.grad(pr, xr, cot)
    assert (gm[:, col] == 0).all(), f"{name}: gradient at -inf is {gm[:, col]}"
    torch.testing.assert_close(gm[:, keep], gr, rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------------------
# c. excluded positions (ignore_index, mask=, terminal states) do not leak NaN/inf
#
# Each applicable entry: poison(sample) -> (clean args, poisoned args, kwargs, excluded)
# where `excluded` is a boolean mask over args[0] of the entries whose gradient must be 0.

_RANKING = {s.name for s in SPECS if s.family == "ranking"}


def _poison_list(spec, s):
    scores, labels, mask = s.args[0], s.args[1], s.args[2]
    bad_scores = scores.masked_fill(~mask, float("nan"))
    bad_scores[0, ~mask[0]] = float("inf")  # one list padded with +inf instead
    if labels.is_floating_point():
        bad_labels = labels.masked_fill(~mask, float("nan"))
    else:
        bad_labels = labels.masked_fill(~mask, -1)  # padding grade -1, outside the grades' domain
    return (scores, labels, mask), (bad_scores, bad_labels, mask), dict(s.kwargs), ~mask


def _poison_ignore_index(spec, s):
    logits, labels = s.args[0], s.args[1]
    ii = s.kwargs.get("ignore_index", -100)
    labels = labels.clone()
    labels[..., 0] = ii
    labels[0] = ii if spec.name == "cross_entropy" else labels[0]  # a whole row ignored too
    ignored = labels == ii
    bad = logits.clone()
    bad[ignored] = float("nan")
    if ignored.flatten().nonzero().numel() > 1:
        bad[tuple(ignored.nonzero()[0].tolist())][0] = float("inf")  # one ignored position padded with +inf
    kw = dict(s.kwargs, ignore_index=ii)
    return (logits, labels), (bad, labels), kw, ignored.unsqueeze(-1).expand_as(logits)


def _poison_terminal(spec, s):
    q, a, r, nq, done = s.args
    done = done.clone()
    done[0], done[1] = 1, 0
    bad_nq = nq.clone()
    bad_nq[done.bool()] = float("nan")
    return (q, a, r, nq, done), (q, a, r, bad_nq, done), dict(s.kwargs), torch.zeros_like(q, dtype=torch.bool)


_EXCLUSION_APPLICABLE = {**{n: _poison_list for n in _RANKING},
                         "cross_entropy": _poison_ignore_index,
                         "soft_dice": _poison_ignore_index,
                         "td_loss": _poison_terminal}
_EXCLUSION_NOT_APPLICABLE = {
    n: "no ignore_index, mask or excluded positions"
    for n in NAMES - set(_EXCLUSION_APPLICABLE)
    if n not in {"in_batch_negatives_loss", "negative_sampling_loss", "sampled_nce_loss", "sampled_softmax_loss"}
}
_EXCLUSION_NOT_APPLICABLE.update({
    n: "remove_accidental_hits excludes sampled logits, but they are computed from the same finite "
    "out_weight rows as the kept ones: there is no separate input to poison"
    for n in ("in_batch_negatives_loss", "negative_sampling_loss", "sampled_nce_loss", "sampled_softmax_loss")
})


def test_exclusion_table_classifies_every_loss():
    _assert_classified({**_EXCLUSION_APPLICABLE, **_EXCLUSION_NOT_APPLICABLE}, "c")


@pytest.mark.parametrize("name", sorted(_EXCLUSION_APPLICABLE))
def test_excluded_positions_do_not_leak_nan(name):
    spec = registry.get(name)
    s = _sample(spec, batch_shape=(4,))
    clean, bad, kw, excluded = _EXCLUSION_APPLICABLE[name](spec, s)
    red = "none" if "none" in spec.reductions else "sum"
    x_clean = clean[0].detach().clone().requires_grad_(True)
    x_bad = bad[0].detach().clone().requires_grad_(True)
    want = spec.fn(x_clean, *clean[1:], **kw, reduction=red)
    got = spec.fn(x_bad, *bad[1:], **kw, reduction=red)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    (g_clean,) = torch.autograd.grad(want.sum(), x_clean)
    (g_bad,) = torch.autograd.grad(got.sum(), x_bad)
    assert (g_bad[excluded] == 0).all(), f"{name}: gradient at excluded positions {g_bad[excluded]}"
    torch.testing.assert_close(g_bad[~excluded], g_clean[~excluded], rtol=1e-12, atol=1e-12)
    for red in ("mean", "sum"):
        v = spec.fn(x_bad, *bad[1:], **kw, reduction=red)
        torch.testing.assert_close(v, spec.fn(x_clean, *clean[1:], **kw, reduction=red), rtol=1e-12, atol=1e-12)


_METRICS_WITH_MASK = {
    "ndcg_at_k(linear)": lambda s, y, m: metrics.ndcg_at_k(s, y, 3, m),
    "ndcg_at_k(exp2)": lambda s, y, m: metrics.ndcg_at_k(s, y, 3, m, gain="exp2"),
    "ndcg_at_k(ignore_ties)": lambda s, y, m: metrics.ndcg_at_k(s, y, 3, m, ignore_ties=True),
    "mrr": lambda s, y, m: metrics.mrr(s, y, m),
    "recall_at_k": lambda s, y, m: metrics.recall_at_k(s, y, 2, m),
}


@pytest.mark.parametrize("name", sorted(_METRICS_WITH_MASK))
def test_metric_masked_positions_do_not_leak_nan(name):
    g = torch.Generator().manual_seed(3)
    s = torch.randn(5, 6, generator=g)
    y = torch.randint(0, 4, (5, 6), generator=g).float()
    m = torch.rand(5, 6, generator=g) > 0.3
    m[:, 0] = True
    want = _METRICS_WITH_MASK[name](s, y, m)
    got = _METRICS_WITH_MASK[name](s.masked_fill(~m, float("nan")), y.masked_fill(~m, float("nan")), m)
    torch.testing.assert_close(got, want)
    got = _METRICS_WITH_MASK[name](s.masked_fill(~m, float("inf")), y.masked_fill(~m, -1.0), m)
    torch.testing.assert_close(got, want)


# ---------------------------------------------------------------------------
# e. float hyper-parameters at the limits of float range
#
# Discovered from the signatures: keyword parameters with a float default. Each extreme
# value must either be rejected with a ValueError/TypeError naming the parameter, or give
# a finite value with a finite gradient.

_EXTREMES = (1e308, -1e308, 1e150, 1e38, 1e-300, -1e-300, 1e-30, math.inf, -math.inf, math.nan, 0.0)


def _float_hyper_params(fn):
    return [n for n, p in inspect.signature(fn).parameters.items()
            if isinstance(p.default, float) and p.kind is inspect.Parameter.KEYWORD_ONLY]


# Float hyper-parameters whose default is None (so discovery by default type misses them).
_NONE_DEFAULT_FLOATS = {("focal_loss", "alpha"), ("pointwise_sigmoid_ce", "max_grade")}
_HYPER_CASES = [(s.name, p, v) for s in SPECS for p in _float_hyper_params(s.fn) for v in _EXTREMES]
_HYPER_CASES += [(n, p, v) for n, p in sorted(_NONE_DEFAULT_FLOATS) if n in NAMES for v in _EXTREMES]


def test_hyper_parameter_discovery_finds_them():
    found = {(n, p) for n, p, _ in _HYPER_CASES}
    assert {("huber", "delta"), ("focal_loss", "gamma"), ("info_nce", "temperature"),
            ("contrastive", "margin"), ("entmax_bisect_loss", "alpha")} <= found


def _accepted_or_named(call, param, value, dtype):
    try:
        out, x = call()
    except (ValueError, TypeError) as e:
        assert param in str(e), f"{param}={value!r}: the error does not name the parameter: {e}"
        return
    assert torch.isfinite(out).all(), f"{param}={value!r} ({dtype}) gives {out}"
    if x is not None and out.requires_grad:
        (g,) = torch.autograd.grad(out.sum(), x, allow_unused=True)
        assert g is None or torch.isfinite(g).all(), f"{param}={value!r} ({dtype}): gradient {g}"


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name,param,value", _HYPER_CASES, ids=[f"{n}-{p}={v!r}" for n, p, v in _HYPER_CASES])
def test_extreme_hyper_parameters_accepted_or_rejected_cleanly(name, param, value, dtype):
    spec = registry.get(name)
    s = _sample(spec, batch_shape=(3,), dtype=dtype)

    def call():
        args = [a.detach().clone().requires_grad_(i in s.grad_argnums and a.is_floating_point())
                if isinstance(a, torch.Tensor) else a for i, a in enumerate(s.args)]
        kw = dict(s.kwargs)
        kw[param] = value
        x = args[s.grad_argnums[0]] if s.grad_argnums else None
        return spec.fn(*args, **kw), x

    _accepted_or_named(call, param, value, dtype)


def _mapping_input(dtype):
    g = torch.Generator().manual_seed(2)
    return torch.randn(3, 5, dtype=dtype, generator=g).requires_grad_(True)


_MAPPING_HYPER = {
    ("entmax_bisect", "alpha"): lambda x, v: ll.entmax_bisect(x, alpha=v),
    ("composite_softmax", "gamma"): lambda x, v: ll.composite_softmax(x, ll.links.sinh(cap=20.0), gamma=v),
    ("composite_sigmoid", "gamma"): lambda x, v: ll.composite_sigmoid(x, ll.links.sinh(cap=20.0), gamma=v),
}
_MAPPING_HYPER_CASES = [(n, p, v) for (n, p) in _MAPPING_HYPER for v in _EXTREMES]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name,param,value", _MAPPING_HYPER_CASES, ids=[f"{n}-{p}={v!r}" for n, p, v in _MAPPING_HYPER_CASES])
def test_extreme_hyper_parameters_of_mappings(name, param, value, dtype):
    def call():
        x = _mapping_input(dtype)
        return _MAPPING_HYPER[(name, param)](x, value), x

    _accepted_or_named(call, param, value, dtype)


# ---------------------------------------------------------------------------
# d. inputs outside a documented domain raise a ValueError naming the argument
#
# Each case: (what, build(spec) -> (args, kwargs), argument name). Built from the spec's
# own sample so the rest of the call is valid.


def _with(spec, idx, fill, *, dtype=torch.float64, kw=None):
    s = _sample(spec, batch_shape=(3,), dtype=dtype)
    args = [a.detach().clone() if isinstance(a, torch.Tensor) else a for a in s.args]
    args[idx].view(-1)[0] = fill
    return args, {**s.kwargs, **(kw or {})}


def _list_labels(fill, dtype=torch.float64, kw=None):
    # the first item of every list is valid, so the bad grade is never masked out
    def build(spec):
        s = _sample(spec, batch_shape=(3,), dtype=dtype)
        args = [a.detach().clone() if isinstance(a, torch.Tensor) else a for a in s.args]
        args[2][:, 0] = True
        labels = args[1].to(dtype) if args[1].is_floating_point() or not math.isfinite(fill) else args[1]
        labels[0, 0] = fill
        args[1] = labels
        return args, {**s.kwargs, **(kw or {})}
    return build


_NAN = float("nan")
_OUT_OF_DOMAIN = {
    "poisson_nll": [
        ("log-rate whose exp overflows float32", lambda s: _with(s, 0, 100.0, dtype=torch.float32, kw=dict(log_input=True)), "input"),
        ("log-rate whose exp overflows float64", lambda s: _with(s, 0, 1000.0, kw=dict(log_input=True)), "input"),
        ("negative rate", lambda s: _with(s, 0, -1.0, kw=dict(log_input=False)), "input"),
        ("negative count", lambda s: _with(s, 1, -1.0), "target"),
        ("infinite count", lambda s: _with(s, 1, math.inf), "target"),
    ],
    "msle": [
        ("pred below -1", lambda s: _with(s, 0, -2.0), "pred"),
        ("target below -1", lambda s: _with(s, 1, -2.0), "target"),
    ],
    "arcface": [("cosine above 1", lambda s: _with(s, 0, 1.5), "cosine"),
                ("cosine below -1", lambda s: _with(s, 0, -1.5), "cosine")],
    "binary_cross_entropy_with_logits": [("target above 1", lambda s: _with(s, 1, 1.5), "target")],
    "kl_divergence": [("negative target", lambda s: _with(s, 1, -0.5), "target")],
    "hinge": [("target not +-1", lambda s: _with(s, 1, 0.5), "target")],
    "squared_hinge": [("target not +-1", lambda s: _with(s, 1, 0.5), "target")],
    "contrastive": [("target not 0/1", lambda s: _with(s, 2, 2), "target")],
    "td_loss": [("dones not 0/1", lambda s: _with(s, 4, 2), "dones")],
    "entmax15_loss": [("target off the simplex", lambda s: _with(s, 1, 3.0), "target")],
    "fenchel_young_loss": [("target off the simplex", lambda s: _with(s, 1, 3.0), "target")],
    "pointwise_sigmoid_ce": [("grade above max_grade", _list_labels(9.0), "labels"),
                             ("negative grade", _list_labels(-1.0), "labels")],
    "lambda_loss": [("grade whose 2^l overflows float32", _list_labels(200.0, dtype=torch.float32), "labels"),
                    ("grade whose 2^l overflows float64", _list_labels(2000.0), "labels"),
                    ("negative grade", _list_labels(-1.0), "labels")],
    "listnet": [("infinite grade", _list_labels(math.inf), "labels"),
                ("negative grade with target='normalize'", _list_labels(-1.0, kw=dict(target="normalize")), "labels")],
    **{n: [("NaN grade", _list_labels(_NAN), "labels"), ("infinite grade", _list_labels(math.inf), "labels")]
       for n in ("listmle", "pairwise_hinge", "pointwise_mse", "ranknet", "soft_pairwise",
                 "selective_listwise", "selective_pairwise", "selective_pointwise")},
}
_ALL_REAL = {
    n: "every input is any real (a NaN input propagates to a NaN loss, as in PyTorch: not silent), "
    "or an integer label whose range is checked by check_class_indices"
    for n in NAMES - set(_OUT_OF_DOMAIN)
}


def test_out_of_domain_table_classifies_every_loss():
    _assert_classified({**_OUT_OF_DOMAIN, **_ALL_REAL}, "d")


_OOD_CASES = [(n, what, build, arg) for n, cases in sorted(_OUT_OF_DOMAIN.items()) for what, build, arg in cases]


@pytest.mark.parametrize("name,what,build,arg", _OOD_CASES, ids=[f"{n}-{w}" for n, w, _, _ in _OOD_CASES])
def test_out_of_domain_input_raises_naming_the_argument(name, what, build, arg):
    spec = registry.get(name)
    args, kw = build(spec)
    with pytest.raises(ValueError, match=rf"\b{arg}\b"):
        out = spec.fn(*args, **kw)
        pytest.fail(f"{name} ({what}) returned {out} instead of raising")


def _metric_inputs():
    g = torch.Generator().manual_seed(5)
    return torch.randn(3, 6, generator=g), torch.randint(0, 4, (3, 6), generator=g).double()


def _bad(which, fill, k=0):
    s, y = _metric_inputs()
    (s if which == "scores" else y)[k, 1] = fill
    return s, y


_METRIC_OUT_OF_DOMAIN = [
    ("ndcg negative grade", lambda: metrics.ndcg_at_k(*_bad("labels", -2.0), 3), "labels"),
    ("ndcg exp2 grade overflowing 2^l", lambda: metrics.ndcg_at_k(*_bad("labels", 2000.0), 3, gain="exp2"), "labels"),
    ("ndcg NaN grade", lambda: metrics.ndcg_at_k(*_bad("labels", _NAN), 3), "labels"),
    ("ndcg NaN score", lambda: metrics.ndcg_at_k(*_bad("scores", _NAN), 3), "scores"),
    ("ndcg NaN score (ignore_ties)", lambda: metrics.ndcg_at_k(*_bad("scores", _NAN), 3, ignore_ties=True), "scores"),
    ("mrr NaN score", lambda: metrics.mrr(*_bad("scores", _NAN)), "scores"),
    ("mrr NaN grade", lambda: metrics.mrr(*_bad("labels", _NAN)), "labels"),
    ("recall NaN score", lambda: metrics.recall_at_k(*_bad("scores", _NAN), 2), "scores"),
    ("recall NaN grade", lambda: metrics.recall_at_k(*_bad("labels", _NAN), 2), "labels"),
    ("average_precision NaN score", lambda: metrics.average_precision(torch.tensor([0.1, _NAN, 0.3]), torch.tensor([0, 1, 1])), "scores"),
    ("average_precision non-binary target", lambda: metrics.average_precision(torch.tensor([0.1, 0.2, 0.3]), torch.tensor([0, 2, 1])), "targets"),
    ("precision_at_recall recall > 1", lambda: metrics.precision_at_recall(torch.tensor([0.1, 0.2]), torch.tensor([0, 1]), 1.5), "recall"),
    ("precision_at_recall recall NaN", lambda: metrics.precision_at_recall(torch.tensor([0.1, 0.2]), torch.tensor([0, 1]), _NAN), "recall"),
]


@pytest.mark.parametrize("what,call,arg", _METRIC_OUT_OF_DOMAIN, ids=[w for w, _, _ in _METRIC_OUT_OF_DOMAIN])
def test_metric_out_of_domain_raises_naming_the_argument(what, call, arg):
    with pytest.raises(ValueError, match=rf"\b{arg}\b"):
        out = call()
        pytest.fail(f"{what}: returned {out} instead of raising")


def test_ndcg_stays_in_unit_interval_at_the_top_of_the_exp2_range():
    # the largest grade whose 2^l - 1 is finite in float64 still gives NDCG in [0, 1]
    s = torch.tensor([[0.3, 0.2, 0.1]], dtype=torch.float64)
    y = torch.tensor([[0.0, 1022.0, 1022.0]], dtype=torch.float64)  # limit log2(max / L) = 1022.4 for L = 3
    v = metrics.ndcg_at_k(s, y, 3, gain="exp2")
    assert torch.isfinite(v).all() and 0 <= float(v) <= 1
    torch.testing.assert_close(v, torch.tensor([(1 / math.log2(3) + 1 / 2) / (1 + 1 / math.log2(3))], dtype=torch.float64))


# ---------------------------------------------------------------------------
# b. gradients with respect to a target on the boundary of its domain
#
# "box" targets (each entry in [0, 1] or >= 0, the loss smooth up to the boundary): the
# autograd gradient at a boundary target equals the one-sided finite difference from inside.
# "simplex" targets (probabilities with exact zeros): d/dy of y·log y is -inf at y = 0, so the
# partial derivative there is not a number a test can compare; what a user differentiates is
# a target produced by a map with exact zeros (a softmax over -inf-masked logits, a sparsemax),
# and the gradient with respect to that map's finite inputs must be finite and equal central
# finite differences.


class _LogTarget:
    """A loss taking a log-probability target: its teacher is log_softmax over masked logits."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, logy, x):
        return self.fn(logy, x)


def _box(build):
    return ("box", build)


def _simplex(build):
    return ("simplex", build)


def _bce_box():
    g = torch.Generator().manual_seed(7)
    x = torch.randn(6, dtype=torch.float64, generator=g) * 2
    t = torch.tensor([0.0, 1.0, 0.0, 1.0, 0.0, 1.0], dtype=torch.float64)
    return x, t


_TARGET_BOUNDARY = {
    "binary_cross_entropy_with_logits": _box(lambda: (lambda t, x=_bce_box()[0]: ll.binary_cross_entropy_with_logits(x, t, reduction="sum"), _bce_box()[1], (0.0, 1.0))),
    "focal_loss": _box(lambda: (lambda t, x=_bce_box()[0]: ll.focal_loss(x, t, gamma=2.0, reduction="sum"), _bce_box()[1], (0.0, 1.0))),
    "soft_dice": _box(lambda: (lambda t, x=_bce_box()[0].reshape(1, 3, 2): ll.soft_dice(x, t, reduction="sum"),
                               torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]], dtype=torch.float64), (0.0, 1.0))),
    "poisson_nll": _box(lambda: (lambda t, x=_bce_box()[0]: ll.poisson_nll(x, t, full=True, reduction="sum"),
                                 torch.zeros(6, dtype=torch.float64), (0.0, math.inf))),
    "msle": _box(lambda: (lambda t, x=_bce_box()[0].abs(): ll.msle(x, t, reduction="sum"),
                          torch.zeros(6, dtype=torch.float64), (0.0, math.inf))),
    "kl_divergence": _simplex(lambda: [lambda y, x: ll.kl_divergence(x, y, reduction="sum"),
                                       _LogTarget(lambda logy, x: ll.kl_divergence(x, logy, log_target=True, reduction="sum"))]),
    "cross_entropy": _simplex(lambda: [lambda y, x: ll.cross_entropy(x, y, reduction="sum"),
                                       lambda y, x: ll.cross_entropy(x, y, label_smoothing=0.2, reduction="sum")]),
    "fenchel_young_loss": _simplex(lambda: [lambda y, x: ll.fenchel_young_loss(x, y, regulariser="shannon", reduction="sum"),
                                            lambda y, x: ll.fenchel_young_loss(x, y, regulariser=1.7, reduction="sum")]),
    "entmax15_loss": _simplex(lambda: [lambda y, x: ll.entmax15_loss(x, y, reduction="sum")]),
    "sparsemax_loss": _simplex(lambda: [lambda y, x: ll.sparsemax_loss(x, y, reduction="sum")]),
    "entmax_bisect_loss": _simplex(lambda: [lambda y, x: ll.entmax_bisect_loss(x, y, alpha=1.3, reduction="sum")]),
}
_TARGET_NO_BOUNDARY = {
    **{n: "the target is a score on the whole real line: no boundary"
       for n in ("composite_sigmoid_loss", "composite_softmax_loss", "decomposed_matching_loss", "matching_loss",
                 "huber", "log_cosh", "mae", "mse", "quantile", "smooth_l1")},
    "mape": "|target| floored at eps: not differentiable at target 0 (a kink), by definition",
    **{n: "integer labels or a discrete target (+-1, 0/1): nothing to differentiate"
       for n in ("arcface", "hinge", "squared_hinge", "multiclass_hinge", "poly_loss", "contrastive", "ge2e",
                 "batch_cross_entropy", "batch_max_margin", "binary_cross_entropy", "max_margin", "nce",
                 "self_normalization", "sigmoid_cauchy_schwarz", "sigmoid_tanimoto", "softmax_cauchy_schwarz",
                 "softmax_tanimoto", "importance_sampling_loss", "in_batch_negatives_loss", "negative_sampling_loss",
                 "sampled_nce_loss", "sampled_softmax_loss")},
    **{n: "the second input is another embedding (any real), not a bounded target"
       for n in ("info_nce", "multiple_negatives_ranking", "nt_xent", "triplet")},
    **{n: "labels are detached by design (grades, not a differentiable target)"
       for n in _RANKING},
    "policy_gradient_loss": "advantages are detached by design (score-function estimator)",
    "td_loss": "the bootstrapped target is detached by design (semi-gradient TD)",
}


def test_target_boundary_table_classifies_every_loss():
    assert not set(_TARGET_BOUNDARY) & set(_TARGET_NO_BOUNDARY)
    _assert_classified({**_TARGET_BOUNDARY, **_TARGET_NO_BOUNDARY}, "b")


def _teacher_maps():
    """Target maps with exact zeros: a softmax over -inf-masked logits and a sparsemax."""
    def masked_softmax(theta):
        return torch.softmax(theta.masked_fill(_TEACHER_MASK, float("-inf")), -1)

    return {"masked_softmax": masked_softmax, "sparsemax": lambda theta: ll.sparsemax(theta, dim=-1)}


_TEACHER_MASK = torch.tensor([[False, True, False, False, True], [True, False, False, False, False],
                              [False, False, False, True, False]])


def _central_fd(f, theta, free, h=1e-6):
    grad = torch.zeros_like(theta)
    for idx in free.nonzero().tolist():
        e = torch.zeros_like(theta)
        e[tuple(idx)] = h
        grad[tuple(idx)] = (f(theta + e) - f(theta - e)) / (2 * h)
    return grad


@pytest.mark.parametrize("name", sorted(_TARGET_BOUNDARY))
def test_gradient_at_a_boundary_target_is_finite_and_right(name):
    kind, build = _TARGET_BOUNDARY[name]
    if kind == "box":
        f, t0, (lo, hi) = build()
        t = t0.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(f(t), t)
        assert torch.isfinite(grad).all(), f"{name}: gradient at a boundary target {grad}"
        h = 1e-7
        for i in range(t0.numel()):
            inward = 1.0 if t0.view(-1)[i] == lo else -1.0
            tp = t0.clone()
            tp.view(-1)[i] += inward * h
            one_sided = (f(tp) - f(t0)) / (inward * h)
            torch.testing.assert_close(grad.view(-1)[i], one_sided.detach(), rtol=1e-5, atol=1e-5)
        return
    g = torch.Generator().manual_seed(8)
    x_logits = torch.randn(3, 5, dtype=torch.float64, generator=g)
    theta0 = torch.randn(3, 5, dtype=torch.float64, generator=g) * 2
    for loss in build():
        maps = _teacher_maps()
        if isinstance(loss, _LogTarget):
            maps = {"masked_softmax": lambda th: torch.log_softmax(th.masked_fill(_TEACHER_MASK, float("-inf")), -1)}
        for map_name, teacher in maps.items():
            x = torch.log_softmax(x_logits, -1) if name == "kl_divergence" else x_logits
            y0 = teacher(theta0)
            assert ((y0 == 0) | (y0 == float("-inf"))).any(), "the teacher must produce exact zeros"
            theta = theta0.clone().requires_grad_(True)
            (grad,) = torch.autograd.grad(loss(teacher(theta), x), theta)
            free = ~_TEACHER_MASK if map_name == "masked_softmax" else torch.ones_like(theta0, dtype=torch.bool)
            assert torch.isfinite(grad[free]).all(), f"{name} ({map_name} target): gradient {grad}"
            fd = _central_fd(lambda th: loss(teacher(th), x).detach(), theta0, free)
            torch.testing.assert_close(grad[free], fd[free], rtol=1e-5, atol=1e-6)


# Links are hyper-parameters of the matching losses too: every float parameter of every link
# constructor, at the same extremes, through matching_loss (and its gradient).
def _link_ctors():
    from losslab import links

    out = []
    for name in links.__all__:
        ctor = getattr(links, name)
        if not callable(ctor) or name == "custom" or isinstance(ctor, type):
            continue
        try:
            params = inspect.signature(ctor).parameters
        except (TypeError, ValueError):
            continue
        if any(p.default is inspect.Parameter.empty for p in params.values()):
            continue
        out += [(name, pn) for pn, p in params.items() if isinstance(p.default, float)]
    return out


_LINK_CASES = [(n, p, v) for n, p in _link_ctors() for v in _EXTREMES]


def test_link_parameter_discovery_finds_them():
    found = {(n, p) for n, p, _ in _LINK_CASES}
    assert {("sigmoid", "alpha"), ("sinh", "beta"), ("smelu", "c"), ("huber", "delta"), ("power", "d")} <= found


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name,param,value", _LINK_CASES, ids=[f"{n}-{p}={v!r}" for n, p, v in _LINK_CASES])
def test_extreme_link_parameters_accepted_or_rejected_cleanly(name, param, value, dtype):
    from losslab import links

    def call():
        link = getattr(links, name)(**{param: value})
        g = torch.Generator().manual_seed(4)
        x = torch.randn(5, dtype=dtype, generator=g)
        t = torch.randn(5, dtype=dtype, generator=g)
        if name == "logit":  # the logit link's domain is alpha*(z - beta) in (0, 1)
            x, t = torch.sigmoid(x), torch.sigmoid(t)
        x.requires_grad_(True)
        return ll.matching_loss(x, t, link), x

    _accepted_or_named(call, param, value, dtype)


# Invalid actions differ from state to state: a different class masked in each row must give,
# row by row, the loss of that row with its class removed.
_ROW_SEPARABLE_MASKABLE = sorted(n for n in _MASK_APPLICABLE if not n.startswith("batch_"))


@pytest.mark.parametrize("name", _ROW_SEPARABLE_MASKABLE)
def test_neg_inf_mask_differs_per_row(name):
    spec = registry.get(name)
    how = _MASK_APPLICABLE[name]
    s = _sample(spec, batch_shape=(4,))
    x, t = s.args[0].detach().clone(), s.args[1].detach().clone()
    K = x.shape[-1]
    if spec.name == "kl_divergence":
        x = torch.log_softmax(x, -1)
    cols = []
    for i in range(x.shape[0]):
        if how["target"] == "index":
            c = (int(t[i]) + 1 + i % (K - 1)) % K  # never the target
        else:
            c = i % K
            t[i, c] = 0
            t[i, 0 if c else 1] += float(t[i].sum() == 0)
            t[i] = t[i] / t[i].sum()
        cols.append(c)
    xm = x.clone()
    for i, c in enumerate(cols):
        if spec.name == "kl_divergence":  # log-probabilities: renormalise the rest, as removal does
            keep = [k for k in range(K) if k != c]
            xm[i, keep] = torch.log_softmax(x[i, keep], -1)
        xm[i, c] = float("-inf")
    xm.requires_grad_(True)
    args = list(s.args)
    args[0], args[1] = xm, t
    got = spec.fn(*args, **s.kwargs, reduction="none")
    (gm,) = torch.autograd.grad(got.sum(), xm)
    for i, c in enumerate(cols):
        keep = [k for k in range(K) if k != c]
        row = [a[i:i + 1] if j in s.batched_argnums and isinstance(a, torch.Tensor) else a for j, a in enumerate(args)]
        xr = x[i:i + 1, keep]
        if spec.name == "kl_divergence":
            xr = torch.log_softmax(xr, -1)
        xr = xr.clone().requires_grad_(True)
        row[0] = xr
        if how["target"] == "index":
            row[1] = t[i:i + 1] - (t[i:i + 1] > c).to(t.dtype)
        else:
            row[1] = t[i:i + 1, keep]
        want = spec.fn(*row, **s.kwargs, reduction="none")
        torch.testing.assert_close(got[i:i + 1], want, rtol=1e-9, atol=1e-12)
        (gr,) = torch.autograd.grad(want.sum(), xr)
        assert gm[i, c] == 0
        torch.testing.assert_close(gm[i:i + 1, keep], gr, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("target_kind", ["labels", "labels+smoothing", "probabilities"])
def test_zero_class_weight_on_a_masked_class_equals_removing_it(target_kind):
    # 0·(-inf) must be 0 here too: a class that is both masked and weighted 0 is simply absent.
    inf = float("inf")
    x = torch.tensor([[1.0, 0.0, -inf, 0.3], [0.5, -inf, 2.0, -1.0]], dtype=torch.float64, requires_grad=True)
    w = torch.tensor([1.0, 0.5, 0.0, 2.0], dtype=torch.float64)
    keep = [[0, 1, 3], [0, 2, 3]]
    kw = {"label_smoothing": 0.1} if target_kind == "labels+smoothing" else {}
    if target_kind == "probabilities":
        t = torch.tensor([[0.6, 0.3, 0.0, 0.1], [0.2, 0.0, 0.5, 0.3]], dtype=torch.float64)
    else:
        t = torch.tensor([0, 3])
    loss = ll.cross_entropy(x, t, weight=w, reduction="none", **kw)
    loss.sum().backward()
    assert torch.isfinite(x.grad).all()
    for i, cols in enumerate(keep):
        xi = x.detach()[i : i + 1, cols].clone().requires_grad_(True)
        ti = t[i : i + 1, cols] if target_kind == "probabilities" else torch.tensor([cols.index(int(t[i]))])
        ref = ll.cross_entropy(xi, ti, weight=w[cols], reduction="none", **kw)
        ref.sum().backward()
        torch.testing.assert_close(loss[i], ref[0])
        torch.testing.assert_close(x.grad[i, cols], xi.grad[0])
