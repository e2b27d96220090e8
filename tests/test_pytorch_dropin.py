"""losslab under PyTorch's names is a drop-in for PyTorch (DESIGN.md principle 4).

The cases are PyTorch's own criterion references, not ours:

* ``torch.testing._internal.common_modules.module_db``: for every ``torch.nn`` loss
  that ``losslab.nn`` also has, each ``ModuleInput`` (constructor args and kwargs,
  forward inputs) is run through both modules;
* ``torch.testing._internal.common_nn``: ``criterion_tests`` (torch's module built by
  the entry's constructor; losslab's is built from the same constructor arguments,
  read back from torch's module) and the ``*_no_reduce_test`` entries, whose
  constructor calls ``torch.nn.functional.<name>`` -- there the same call is made
  with losslab's function in its place.

Values and gradients (float64) must be equal. Then: every PyTorch-named class has
torch.nn's constructor signature, and the old per-example ``weight=`` spelling is a
``TypeError`` that names ``sample_weight``.
"""
from __future__ import annotations

import inspect

import pytest
import torch

import losslab as ll

pytest.importorskip("expecttest")  # common_nn imports it
common_nn = pytest.importorskip("torch.testing._internal.common_nn")
common_modules = pytest.importorskip("torch.testing._internal.common_modules")

D64 = torch.float64

#: losslab.nn classes that share a torch.nn loss's name but not its constructor, and why.
NOT_DROP_IN = {
    # torch's builds and owns its Linear (in_features, num_classes, bias=...); losslab's takes the
    # output layer's weight and bias at call time, so a model's own lm_head parameters are used.
    "LinearCrossEntropyLoss": "forward(input, linear_weight, target, linear_bias=None)",
}

#: losslab.nn classes that carry a torch.nn loss's name.
TORCH_NAMED = sorted(n for n in ll.nn.__all__ if isinstance(getattr(torch.nn, n, None), type)
                     and issubclass(getattr(torch.nn, n), torch.nn.modules.loss._Loss) and n not in NOT_DROP_IN)

#: torch.nn.functional names that losslab also has, by their module's name.
FUNCTIONAL = {
    "L1Loss": "l1_loss", "MSELoss": "mse_loss", "HuberLoss": "huber_loss", "SmoothL1Loss": "smooth_l1_loss",
    "KLDivLoss": "kl_div", "PoissonNLLLoss": "poisson_nll_loss", "BCEWithLogitsLoss": "binary_cross_entropy_with_logits",
    "CrossEntropyLoss": "cross_entropy", "MultiMarginLoss": "multi_margin_loss", "TripletMarginLoss": "triplet_margin_loss",
    "TripletMarginWithDistanceLoss": "triplet_margin_with_distance_loss",
    "MarginRankingLoss": "margin_ranking_loss", "SoftMarginLoss": "soft_margin_loss",
}

#: PyTorch takes these targets silently; losslab's losses are defined on {-1, +1}.
PM1_TARGET = {"MarginRankingLoss": 2, "SoftMarginLoss": 1}  # position of the target


def test_pytorch_names_are_exported():
    assert set(TORCH_NAMED) == set(FUNCTIONAL), set(FUNCTIONAL) ^ set(TORCH_NAMED)
    for fn in FUNCTIONAL.values():
        assert fn in ll.__all__ and callable(getattr(ll, fn)), fn


# -- equal values and gradients ------------------------------------------------------------------


def _detached(x):
    if isinstance(x, torch.Tensor):
        y = x.detach().clone()
        return y.requires_grad_(x.requires_grad) if y.is_floating_point() else y
    return x


def _assert_same(theirs_fn, ours_fn, inputs, msg, keep_requires_grad=False):
    """Equal value and equal gradient (a random cotangent) w.r.t. every floating input, or
    with ``keep_requires_grad`` w.r.t. those that require grad (PyTorch's choice of which)."""
    a = [_detached(x) for x in inputs]
    b = [_detached(x) for x in inputs]
    for x in a + b:
        if isinstance(x, torch.Tensor) and x.is_floating_point() and not keep_requires_grad:
            x.requires_grad_(True)
    theirs, ours = theirs_fn(*a), ours_fn(*b)
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12, equal_nan=True, msg=lambda m: f"{msg}: {m}")
    diff_a = [x for x in a if isinstance(x, torch.Tensor) and x.requires_grad]
    diff_b = [x for x in b if isinstance(x, torch.Tensor) and x.requires_grad]
    if not theirs.requires_grad:
        return
    cot = torch.rand(theirs.shape, dtype=theirs.dtype, generator=torch.Generator().manual_seed(0)) + 0.5
    ga = torch.autograd.grad(theirs, diff_a, cot, allow_unused=True)
    gb = torch.autograd.grad(ours, diff_b, cot, allow_unused=True)
    for x, y in zip(ga, gb):
        if x is None:
            assert y is None or not bool(y.any()), msg
            continue
        if bool(torch.isfinite(theirs.detach()).all()):
            # on purpose: where PyTorch's gradient of a finite loss is NaN (PoissonNLLLoss(full=True)
            # w.r.t. a target of 0: a masked log(0)) losslab's is finite; elsewhere they are equal
            keep = torch.isfinite(x)
            assert bool(torch.isfinite(y[~keep]).all()), msg
            x, y = x[keep], y[keep]
        torch.testing.assert_close(y, x, rtol=1e-10, atol=1e-12, equal_nan=True, msg=lambda m: f"{msg}: {m}")


def _outside_domain(name, kwargs, args):
    """Inputs that PyTorch takes silently and losslab rejects on purpose, and the same inputs
    brought into the domain: ``(argument named in the error or None, kwargs, args)``."""
    kwargs, args = dict(kwargs), list(args)
    bad = None
    w = kwargs.get("weight")
    if name in ("CrossEntropyLoss", "MultiMarginLoss") and w is not None and bool((w < 0).any()):
        bad, kwargs["weight"] = "weight", w.abs()  # negative class weights
    t = args[1] if len(args) > 1 else None
    if name == "KLDivLoss" and not kwargs.get("log_target", False) and not bool((t >= 0).all()):
        bad, args[1] = "target", t.detach().nan_to_num(0.5).abs().requires_grad_(t.requires_grad)  # probabilities are >= 0
    if name == "PoissonNLLLoss" and bool((t < 0).any()):
        bad, args[1] = "target", t.detach().abs().requires_grad_(t.requires_grad)  # counts are >= 0
    if name == "BCEWithLogitsLoss" and not bool(((t >= 0) & (t <= 1)).all()):
        bad, args[1] = "target", torch.sigmoid(t.detach()).requires_grad_(t.requires_grad)  # probabilities are in [0, 1]
    if name in PM1_TARGET:
        i = PM1_TARGET[name]
        y = args[i]
        if not bool(((y == 1) | (y == -1)).all()):
            bad, args[i] = "target", torch.where(y.detach() < 0, -1.0, 1.0).to(y.dtype).requires_grad_(y.requires_grad)
    return bad, kwargs, tuple(args)


def _module_db_cases():
    torch.manual_seed(0)  # module_inputs_func draws its tensors at collection time
    cases = []
    for info in common_modules.module_db:
        name = info.module_cls.__name__
        if name not in FUNCTIONAL:
            continue
        for i, mi in enumerate(info.module_inputs_func(info, device="cpu", dtype=D64, requires_grad=True, training=True)):
            cases.append(pytest.param(info.module_cls, mi, id=f"{name}-{mi.desc or i}"))
    return cases


@pytest.mark.parametrize("torch_cls,module_input", _module_db_cases())
def test_module_db_entries_match_pytorch(torch_cls, module_input):
    ci, fi = module_input.constructor_input, module_input.forward_input
    name = torch_cls.__name__
    ours_cls = getattr(ll.nn, name)
    kwargs, args = ci.kwargs, fi.args
    bad, fixed_kwargs, fixed_args = _outside_domain(name, kwargs, args)
    if bad:
        with pytest.raises(ValueError, match=bad):
            ours_cls(*ci.args, **kwargs)(*args, **fi.kwargs)
        kwargs, args = fixed_kwargs, fixed_args
    theirs = torch_cls(*ci.args, **kwargs)
    ours = ours_cls(*ci.args, **kwargs)
    _assert_same(lambda *x: theirs(*x, **fi.kwargs), lambda *x: ours(*x, **fi.kwargs), args, name, keep_requires_grad=True)


def _criterion_cases():
    torch.manual_seed(0)
    cases = []
    for entry in common_nn.criterion_tests:
        torch_module = entry["constructor"]()
        name = type(torch_module).__name__
        if name in FUNCTIONAL:
            cases.append(pytest.param(entry, id=entry["fullname"]))
    return cases


def _constructor_kwargs(module: torch.nn.Module) -> dict:
    """torch.nn module's constructor arguments, read back from its attributes and buffers."""
    params = inspect.signature(type(module).__init__).parameters
    return {k: getattr(module, k) for k in params if k not in ("self", "size_average", "reduce") and hasattr(module, k)}


def _entry_tensor(entry, kind):
    if f"{kind}_fn" in entry:
        return entry[f"{kind}_fn"]()
    return torch.randn(entry[f"{kind}_size"])


@pytest.mark.parametrize("entry", _criterion_cases())
def test_common_nn_criterion_tests_match_pytorch(entry):
    torch.manual_seed(0)
    theirs = entry["constructor"]()
    name = type(theirs).__name__
    kwargs = _constructor_kwargs(theirs)
    x = _entry_tensor(entry, "input")
    t = _entry_tensor(entry, "target")
    args = tuple(x) + (t,) if isinstance(x, tuple) else (x, t)  # common_nn calls module(*input, target)
    args = tuple(a.to(D64) if a.is_floating_point() else a for a in args)
    bad, fixed_kwargs, fixed_args = _outside_domain(name, kwargs, args)
    if bad:
        with pytest.raises(ValueError, match=bad):
            getattr(ll.nn, name)(**kwargs)(*args)
        kwargs, args = fixed_kwargs, fixed_args
    theirs = type(theirs)(**kwargs)
    ours = getattr(ll.nn, name)(**kwargs)
    _assert_same(theirs, ours, args, entry["fullname"])


def _no_reduce_cases():
    cases = []
    for attr in sorted(dir(common_nn)):
        if not attr.endswith("_test") or not callable(getattr(common_nn, attr)):
            continue
        entry = getattr(common_nn, attr)()
        fn = next((f for m, f in FUNCTIONAL.items() if entry["fullname"].lower().startswith(m.lower())), None)
        if fn is not None:
            cases.append(pytest.param(attr, fn, id=entry["fullname"]))
    return cases


@pytest.mark.parametrize("attr,fn", _no_reduce_cases())
def test_common_nn_functional_entries_match_pytorch(attr, fn):
    torch.manual_seed(0)
    entry = getattr(common_nn, attr)()  # the target, weights, ... live in the constructor's closure
    x = _entry_tensor(entry, "input")
    if x.is_complex():
        # on purpose: losslab's losses take real floating inputs
        with pytest.raises(TypeError, match="floating"):
            getattr(ll, fn)(x, x)
        return
    module = entry["constructor"]()
    target = next((v for k, v in entry.get("cpp_var_map", {}).items() if k in ("t", "target")), None)
    outside = {"poisson_nll_loss": lambda t: bool((t < 0).any()), "soft_margin_loss": lambda t: not bool((t.abs() == 1).all())}
    if fn in outside and outside[fn](target):
        # on purpose: Poisson targets are counts, soft-margin labels are +-1; PyTorch takes others silently
        with pytest.raises(ValueError, match="target"):
            _patched(module, fn)(x.to(D64))
        return
    _assert_same(module, _patched(module, fn), (x.to(D64),), entry["fullname"])


def _patched(module, fn):
    """Call ``module`` with ``torch.nn.functional.<fn>`` replaced by losslab's (only during the call)."""

    def call(*args):
        original, calls = getattr(torch.nn.functional, fn), []

        def ours(*a, **k):
            calls.append(1)
            return getattr(ll, fn)(*a, **k)

        setattr(torch.nn.functional, fn, ours)
        try:
            out = module(*args)
        finally:
            setattr(torch.nn.functional, fn, original)
        assert calls, f"the entry did not call torch.nn.functional.{fn}"
        return out

    return call


# -- PyTorch's signatures ------------------------------------------------------------------------


def _params(fn, skip_self):
    params = list(inspect.signature(fn).parameters.values())
    return params[1:] if skip_self else params


def _assert_prefix_signature(ours, theirs, what):
    head = [(p.name, p.kind, p.default) for p in ours[: len(theirs)]]
    assert head == [(p.name, p.kind, p.default) for p in theirs], what
    extra = ours[len(theirs):]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in extra), (what, [p.name for p in extra])


@pytest.mark.parametrize("name", TORCH_NAMED)
def test_module_constructor_has_pytorchs_signature(name):
    _assert_prefix_signature(_params(getattr(ll.nn, name).__init__, True), _params(getattr(torch.nn, name).__init__, True), name)


@pytest.mark.parametrize("fn", sorted(FUNCTIONAL.values()))
def test_function_has_pytorchs_signature(fn):
    _assert_prefix_signature(_params(getattr(ll, fn), False), _params(getattr(torch.nn.functional, fn), False), fn)


# -- losslab's extras and deliberate choices under PyTorch's names ---------------------------------


def _pair(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, dtype=D64, generator=g), torch.randn(*shape, dtype=D64, generator=g)


@pytest.mark.parametrize("fn", ["l1_loss", "mse_loss", "huber_loss"])
def test_pytorch_weight_of_pointwise_regression_losses(fn):
    x, t = _pair(4, 3)
    w = torch.rand(4, 3, dtype=D64, generator=torch.Generator().manual_seed(1))
    for red in ("none", "mean", "sum"):
        theirs = getattr(torch.nn.functional, fn)(x, t, reduction=red, weight=w)
        torch.testing.assert_close(getattr(ll, fn)(x, t, reduction=red, weight=w), theirs)
    none = getattr(torch.nn.functional, fn)(x, t, reduction="none")
    torch.testing.assert_close(getattr(ll, fn)(x, t, sample_weight=w), (w * none).sum() / w.sum())
    if fn == "huber_loss":  # PyTorch's huber weight rescales before a plain mean
        with pytest.raises(ValueError, match="weight must have the input's shape"):
            ll.huber_loss(x, t, weight=w[0])
    else:  # PyTorch's l1/mse weight is a weighted mean: the same as sample_weight
        with pytest.raises(TypeError, match="not both"):
            getattr(ll, fn)(x, t, weight=w, sample_weight=w)


def test_bce_with_logits_weight_broadcasts_as_pytorchs_and_sample_weight_is_a_weighted_mean():
    x, t = _pair(4, 3)
    t = torch.sigmoid(t)
    w, pw = torch.tensor([0.5, 2.0, 1.0], dtype=D64), torch.tensor([3.0, 1.0, 0.2], dtype=D64)
    for red in ("none", "mean", "sum"):
        torch.testing.assert_close(
            ll.binary_cross_entropy_with_logits(x, t, w, reduction=red, pos_weight=pw),
            torch.nn.functional.binary_cross_entropy_with_logits(x, t, w, reduction=red, pos_weight=pw),
        )
    s = torch.rand(4, 3, dtype=D64, generator=torch.Generator().manual_seed(2))
    none = torch.nn.functional.binary_cross_entropy_with_logits(x, t, w, reduction="none")
    torch.testing.assert_close(ll.binary_cross_entropy_with_logits(x, t, w, sample_weight=s), (s * none).sum() / s.sum())
    with pytest.raises(ValueError, match="weight must broadcast"):
        ll.binary_cross_entropy_with_logits(x, t, torch.ones(2, dtype=D64))


def test_cross_entropy_default_layout_is_pytorchs_and_dim_is_an_extra():
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(2, 4, 5, dtype=D64, generator=g), torch.randint(0, 4, (2, 5), generator=g)
    torch.testing.assert_close(ll.cross_entropy(x, y), torch.nn.functional.cross_entropy(x, y))
    torch.testing.assert_close(ll.cross_entropy(x.movedim(1, -1), y, dim=-1), torch.nn.functional.cross_entropy(x, y))
    w = torch.tensor([1.0, 0.5, 2.0, 0.1], dtype=D64)
    torch.testing.assert_close(ll.cross_entropy(x, y, w, None, 2), torch.nn.functional.cross_entropy(x, y, w, None, 2))
    s = torch.rand(2, 5, dtype=D64, generator=g)
    none = torch.nn.functional.cross_entropy(x, y, w, reduction="none")
    torch.testing.assert_close(ll.cross_entropy(x, y, w, sample_weight=s), (s * none).sum() / (s * w[y]).sum())


def test_kl_div_reductions_and_legacy_arguments():
    g = torch.Generator().manual_seed(4)
    q = torch.log_softmax(torch.randn(3, 5, dtype=D64, generator=g), 1)
    p = torch.softmax(torch.randn(3, 5, dtype=D64, generator=g), 1)
    for red in ("none", "batchmean", "mean", "sum"):
        torch.testing.assert_close(ll.kl_div(q, p, reduction=red), torch.nn.functional.kl_div(q, p, reduction=red))
    torch.testing.assert_close(ll.kl_div(q, p, reduction="batchmean"), ll.kl_divergence(q, p))  # the true KL per row
    with pytest.raises(ValueError, match="batchmean"):
        ll.kl_div(q, p, reduction="batchmean", sample_weight=torch.ones(3, 5, dtype=D64))
    with pytest.warns(UserWarning):
        torch.testing.assert_close(ll.nn.KLDivLoss(size_average=False)(q, p), torch.nn.functional.kl_div(q, p, reduction="sum"))
    with pytest.raises(TypeError, match="size_average must be a bool"):
        ll.kl_div(q, p, size_average="yes")


@pytest.mark.parametrize("fn", sorted(FUNCTIONAL.values()))
def test_sample_weight_is_a_weighted_mean_under_pytorchs_names(fn):
    g = torch.Generator().manual_seed(5)
    if fn == "margin_ranking_loss":
        args = (torch.randn(4, 3, dtype=D64, generator=g), torch.randn(4, 3, dtype=D64, generator=g),
                torch.randint(0, 2, (4, 3), generator=g) * 2 - 1)
    elif fn == "soft_margin_loss":
        args = (torch.randn(4, 3, dtype=D64, generator=g), torch.randint(0, 2, (4, 3), generator=g) * 2 - 1)
    elif fn in ("cross_entropy", "multi_margin_loss"):
        args = (torch.randn(4, 3, dtype=D64, generator=g), torch.randint(0, 3, (4,), generator=g))
    elif fn.startswith("triplet"):
        args = tuple(torch.randn(4, 3, dtype=D64, generator=g) for _ in range(3))
    elif fn == "kl_div":
        args = (torch.log_softmax(torch.randn(4, 3, dtype=D64, generator=g), 1), torch.rand(4, 3, dtype=D64, generator=g))
    else:
        args = (torch.randn(4, 3, dtype=D64, generator=g), torch.rand(4, 3, dtype=D64, generator=g))
    f = getattr(ll, fn)
    none = f(*args, reduction="none")
    s = torch.rand(none.shape, dtype=D64, generator=g) + 0.1
    torch.testing.assert_close(f(*args, reduction="sum", sample_weight=s), (s * none).sum())
    torch.testing.assert_close(f(*args, reduction="mean", sample_weight=s), (s * none).sum() / s.sum())


# -- the old spelling --------------------------------------------------------------------------------

#: losses whose PyTorch counterpart has a ``weight`` of its own: there ``weight`` is PyTorch's
PYTORCH_WEIGHT = {"cross_entropy", "binary_cross_entropy_with_logits", "multi_margin_loss", "l1_loss", "mse_loss", "huber_loss"}
SPECS = [s for s in ll.registry.specs() if s.supports_weight and s.name not in PYTORCH_WEIGHT]


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_old_weight_keyword_is_a_clear_type_error(spec):
    s = spec.sample((3,), dtype=D64, generator=torch.Generator().manual_seed(6))
    w = torch.ones(s.none_shape, dtype=D64)
    with pytest.raises(TypeError, match=r"got weight=; per-example weights are now sample_weight="):
        ll.registry.call(spec, s, weight=w)


@pytest.mark.parametrize("fn", sorted(set(FUNCTIONAL.values()) - PYTORCH_WEIGHT))
def test_old_weight_keyword_under_pytorchs_names(fn):
    x = torch.rand(3, dtype=D64)
    with pytest.raises(TypeError, match="sample_weight="):
        getattr(ll, fn)(x, x, x, weight=x) if fn.startswith(("triplet", "margin_ranking")) else getattr(ll, fn)(x, x, weight=x)


def test_old_weight_keyword_in_module_forward_and_old_class_weight():
    from losslab import links

    p, t = torch.rand(3, dtype=D64), torch.rand(3, dtype=D64)
    with pytest.raises(TypeError, match=r"MatchingLoss.forward\(\) got weight=; per-example weights are now sample_weight="):
        ll.nn.MatchingLoss(links.sigmoid())(p, t, weight=torch.ones(3, dtype=D64))
    with pytest.raises(TypeError, match="sample_weight="):
        ll.nn.MAELoss()(p, t, weight=torch.ones(3, dtype=D64))
    x, y = torch.randn(2, 3, dtype=D64), torch.tensor([0, 2])
    with pytest.raises(TypeError, match=r"class weights are now weight="):
        ll.cross_entropy(x, y, class_weight=torch.ones(3, dtype=D64))
    with pytest.raises(ValueError, match=r"sample_weight must have the per-example loss shape"):
        ll.mae(p, t, sample_weight=torch.ones(2, dtype=D64))
