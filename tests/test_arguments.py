"""Arguments are checked the same way everywhere (DESIGN.md principle 8).

One table-driven test per rule, over every registered loss (``losslab.registry``)
and over a table of the other public functions (mappings, metrics, analysis) and
the ``losslab.nn`` modules:

(a) a bool flag given a non-bool (``"no"``, ``1``, a NumPy or tensor bool) is a
    ``TypeError`` naming the flag -- truthiness would silently pick a branch;
(b) a list, NumPy array or number where a tensor is required is a ``TypeError`` naming
    the argument (not an ``AttributeError`` from inside);
(c) mixed float32/float64 floating tensors (inputs, targets, per-example weights,
    class weights) are promoted to float64, and the result equals the call on
    inputs cast to float64 beforehand;
(d) errors for bad input are ``ValueError``/``TypeError`` naming the argument,
    never an error from inside torch;
(e) a hyper-parameter given as a tensor that requires grad is either
    differentiated (float64 ``gradcheck`` passes) or rejected with an error naming
    it -- never silently detached.

Inputs come from the registry samples, so the tests follow each loss's own
argument names (including the per-example weight keyword's spelling).
"""
from __future__ import annotations

import inspect
import re

import numpy as np
import pytest
import torch

import losslab as ll
from losslab import links, registry

SPECS = registry.specs()
IDS = [s.name for s in SPECS]


def _sample(spec, dtype=torch.float64, seed=0) -> registry.Sample:
    return spec.sample((3,), dtype=dtype, generator=torch.Generator().manual_seed(seed))


def _params(fn) -> dict:
    return dict(inspect.signature(fn).parameters)


def _weight_kw(fn) -> str:
    """The per-example weight keyword, whichever spelling the loss uses."""
    p = _params(fn)
    return "sample_weight" if "sample_weight" in p else "weight"


def _slots(fn, sample) -> list[tuple[object, str, object]]:
    """(slot, name, value) for every argument of a sample: slot is an int (positional) or a str (keyword)."""
    names = list(_params(fn))
    out = [(i, names[i], a) for i, a in enumerate(sample.args)]
    out += [(k, k, v) for k, v in sample.kwargs.items()]
    return out


def _with(sample, slot, value) -> tuple[list, dict]:
    args, kwargs = list(sample.args), dict(sample.kwargs)
    if isinstance(slot, int):
        args[slot] = value
    else:
        kwargs[slot] = value
    return args, kwargs


def _detached(sample) -> tuple[list, dict]:
    d = lambda v: v.detach() if isinstance(v, torch.Tensor) else v  # noqa: E731
    return [d(a) for a in sample.args], {k: d(v) for k, v in sample.kwargs.items()}


def _raises_naming(exc_types, name, fn, *args, **kwargs):
    with pytest.raises(exc_types) as info:
        fn(*args, **kwargs)
    assert re.search(rf"\b{re.escape(name)}\b", str(info.value)), (
        f"the error does not name {name!r}: {type(info.value).__name__}: {info.value}"
    )
    return info.value


# ---------------------------------------------------------------------------------
# The public functions outside the registry: (name, fn, build(dtype) -> (args, kwargs)).
def _x(dtype, *shape, seed=0):
    return torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


_BIN = torch.tensor([1, 0, 1, 1, 0, 0, 1, 0])
_GRADES = torch.tensor([[0, 1, 2, 0, 1], [2, 0, 0, 1, 1], [1, 1, 0, 2, 0]])
_HIDDEN = lambda d: (_x(d, 3, 4), _x(d, 7, 4, seed=1), _x(d, 7, seed=2))  # noqa: E731

FUNCTIONS = {
    "linear_cross_entropy": (ll.linear_cross_entropy, lambda d: ((_x(d, 3, 4), _x(d, 6, 4, seed=1), torch.tensor([0, 5, 2])),
                                                                 {"linear_bias": _x(d, 6, seed=2), "chunk_size": 2})),
    "linear_composite_softmax_loss": (ll.linear_composite_softmax_loss, lambda d: (
        (_x(d, 3, 4), _x(d, 6, 4, seed=1), _x(d, 3, 6, seed=2), links.exp(alpha=0.5)),
        {"linear_bias": _x(d, 6, seed=3), "chunk_size": 2})),
    "sparsemax": (ll.sparsemax, lambda d: ((_x(d, 3, 5),), {})),
    "entmax15": (ll.entmax15, lambda d: ((_x(d, 3, 5),), {})),
    "entmax_bisect": (ll.entmax_bisect, lambda d: ((_x(d, 3, 5),), {"alpha": 1.3})),
    "composite_sigmoid": (ll.composite_sigmoid, lambda d: ((_x(d, 6), links.sigmoid()), {"gamma": 1.5})),
    "composite_softmax": (ll.composite_softmax, lambda d: ((_x(d, 3, 5), links.exp(alpha=0.5)), {"gamma": 1.5})),
    "composite_softmax_link": (ll.composite_softmax_link, lambda d: ((_x(d, 3, 5), links.exp(alpha=0.5)), {"gamma": 1.5})),
    "estimate_partition": (ll.estimate_partition, lambda d: (_HIDDEN(d), {"sampled": torch.tensor([0, 2, 5])})),
    "sample_candidates": (ll.sample_candidates, lambda d: ((10, 3), {"generator": 0})),
    # PyTorch's names, in PyTorch's layout (thin wrappers around registered losses)
    "l1_loss": (ll.l1_loss, lambda d: ((_x(d, 4, 3), _x(d, 4, 3, seed=1)), {})),
    "mse_loss": (ll.mse_loss, lambda d: ((_x(d, 4, 3), _x(d, 4, 3, seed=1)), {})),
    "huber_loss": (ll.huber_loss, lambda d: ((_x(d, 4, 3), _x(d, 4, 3, seed=1)), {"delta": 0.5})),
    "smooth_l1_loss": (ll.smooth_l1_loss, lambda d: ((_x(d, 4, 3), _x(d, 4, 3, seed=1)), {"beta": 0.5})),
    "kl_div": (ll.kl_div, lambda d: ((_x(d, 4, 3).log_softmax(-1), _x(d, 4, 3, seed=1).softmax(-1)), {"reduction": "batchmean"})),
    "poisson_nll_loss": (ll.poisson_nll_loss, lambda d: ((_x(d, 4, 3), _x(d, 4, 3, seed=1).abs().round()), {})),
    "multi_margin_loss": (ll.multi_margin_loss, lambda d: ((_x(d, 4, 3), torch.tensor([0, 2, 1, 0])), {"margin": 0.5})),
    "margin_ranking_loss": (
        ll.margin_ranking_loss,
        lambda d: ((_x(d, 4), _x(d, 4, seed=1), torch.tensor([1.0, -1.0, 1.0, 1.0], dtype=d)), {"margin": 0.1}),
    ),
    "soft_margin_loss": (ll.soft_margin_loss, lambda d: ((_x(d, 4), torch.tensor([1.0, -1.0, 1.0, -1.0], dtype=d)), {})),
    "triplet_margin_loss": (ll.triplet_margin_loss, lambda d: ((_x(d, 4, 8), _x(d, 4, 8, seed=1), _x(d, 4, 8, seed=2)), {})),
    "triplet_margin_with_distance_loss": (
        ll.triplet_margin_with_distance_loss,
        lambda d: ((_x(d, 4, 8), _x(d, 4, 8, seed=1), _x(d, 4, 8, seed=2)), {"margin": 0.5}),
    ),
    "metrics.average_precision": (ll.metrics.average_precision, lambda d: ((_x(d, 8), _BIN), {})),
    "metrics.precision_at_recall": (ll.metrics.precision_at_recall, lambda d: ((_x(d, 8), _BIN, 0.5), {})),
    "metrics.precision_recall_points": (ll.metrics.precision_recall_points, lambda d: ((_x(d, 8), _BIN), {})),
    "metrics.slc_report": (ll.metrics.slc_report, lambda d: ((_x(d, 6, 3), torch.tensor([0, 1, 2, 0, 1, 2])), {})),
    "metrics.all_logits_scores": (ll.metrics.all_logits_scores, lambda d: ((_x(d, 6, 3),), {})),
    "metrics.ndcg_at_k": (ll.metrics.ndcg_at_k, lambda d: ((_x(d, 3, 5), _GRADES, 3), {})),
    "metrics.mrr": (ll.metrics.mrr, lambda d: ((_x(d, 3, 5), _GRADES), {})),
    "metrics.recall_at_k": (ll.metrics.recall_at_k, lambda d: ((_x(d, 3, 5), _GRADES, 3), {})),
    "analysis.logit_separation": (ll.analysis.logit_separation, lambda d: ((_x(d, 3, 4), torch.tensor([0, 1, 3])), {})),
    "analysis.sensitivity": (ll.analysis.sensitivity, lambda d: ((links.sigmoid(), _x(d, 6)), {})),
    "analysis.composite_sensitivity": (ll.analysis.composite_sensitivity, lambda d: ((_x(d, 3, 5), links.exp(alpha=0.5)), {"gamma": 1.5})),
    "analysis.proper_prediction": (
        ll.analysis.proper_prediction,
        lambda d: ((links.sigmoid(), _x(d, 8)), {"weights": torch.rand(8, dtype=d, generator=torch.Generator().manual_seed(3))}),
    ),
}
FN_IDS = list(FUNCTIONS)


def _fn_sample(name, dtype=torch.float64):
    fn, build = FUNCTIONS[name]
    args, kwargs = build(dtype)
    return fn, registry.Sample(tuple(args), dict(kwargs))


def test_function_table_lists_the_public_mappings_metrics_and_analysis():
    # A new public function in these namespaces must join the table (or be exempted here, with the reason).
    exempt = {
        "make_fenchel_young_loss": "a factory; the losses it makes are registered",
        "composite_sigmoid_link": "returns a Link; checked by its gamma (tested through composite_sigmoid)",
        "proposal_log_prob": "int class indices and names only; covered by the sampled losses",
        "log_uniform_probs": "an int and a dtype only",
        "analysis.check_convexity": "a link and a domain tuple; no tensor arguments",
        "analysis.bust": "links and floats only", "analysis.blust": "links and floats only",
        "analysis.pols_alignment": "a loss callable and ints; an experiment driver",
        "analysis.counter_example": "a name and a float; builds its own tensors",
        "analysis.gradient_bias_variance": "an experiment driver over a loss callable",
        "analysis.audit": "takes a loss callable or name and never raises on bad losses; tested in tests/test_audit.py",
    }
    registered = set(registry.names())
    public = {n for n in ll.__all__ if callable(getattr(ll, n)) and not inspect.ismodule(getattr(ll, n))}
    public = {n for n in public if n not in registered and n != "set_validate_args"}
    for mod in ("metrics", "analysis"):
        m = getattr(ll, mod)
        public |= {f"{mod}.{n}" for n in m.__all__ if inspect.isfunction(getattr(m, n))}
    missing = public - set(FUNCTIONS) - set(exempt)
    assert not missing, f"add these public functions to FUNCTIONS in tests/test_arguments.py: {sorted(missing)}"


# ---------------------------------------------------------------------------------
# (a) bool flags
BAD_BOOLS = ["no", 1, 0, None, np.bool_(True), torch.tensor(True)]


def _bool_params(fn) -> list[str]:
    return [p.name for p in _params(fn).values() if isinstance(p.default, bool)]


BOOL_CASES = [(s, p) for s in SPECS for p in _bool_params(s.fn)]
BOOL_CASES += [(n, p) for n in FUNCTIONS for p in _bool_params(FUNCTIONS[n][0])]


@pytest.mark.parametrize("owner,flag", BOOL_CASES, ids=[f"{getattr(o, 'name', o)}-{p}" for o, p in BOOL_CASES])
@pytest.mark.parametrize("bad", BAD_BOOLS, ids=repr)
def test_bool_flags_reject_non_bools(owner, flag, bad):
    if isinstance(owner, str):
        fn, sample = _fn_sample(owner)
    else:
        fn, sample = owner.fn, _sample(owner)
    args, kwargs = _detached(sample)
    kwargs[flag] = bad
    _raises_naming(TypeError, flag, fn, *args, **kwargs)


def test_bool_flags_are_discovered():
    # The discovery above must see the flags listed here; if a signature stops
    # declaring a bool default the test would silently shrink.
    found = {p for _, p in BOOL_CASES}
    assert {"log_target", "swap", "full", "log_input", "easy_margin", "normalize", "replacement", "ignore_ties"} <= found


NN_BOOL_CASES = [
    (name, p.name)
    for name in ll.nn.__all__
    for p in inspect.signature(getattr(ll.nn, name).__init__).parameters.values()
    if isinstance(p.default, bool)
]


@pytest.mark.parametrize("module,flag", NN_BOOL_CASES, ids=[f"{m}-{f}" for m, f in NN_BOOL_CASES])
def test_nn_module_bool_flags_reject_non_bools_at_construction(module, flag):
    _raises_naming(TypeError, flag, getattr(ll.nn, module), **{flag: "no"})


# ---------------------------------------------------------------------------------
# (b) a list / NumPy array where a tensor is required
def _tensor_cases():
    cases = []
    for s in SPECS:
        for slot, name, v in _slots(s.fn, _sample(s)):
            if isinstance(v, torch.Tensor):
                cases.append((s, slot, name))
        if s.supports_weight:
            cases.append((s, "<weight>", _weight_kw(s.fn)))
    for n in FUNCTIONS:
        fn, sample = _fn_sample(n)
        for slot, name, v in _slots(fn, sample):
            if isinstance(v, torch.Tensor):
                cases.append((n, slot, name))
    return cases


TENSOR_CASES = _tensor_cases()


@pytest.mark.parametrize("owner,slot,name", TENSOR_CASES, ids=[f"{getattr(o, 'name', o)}-{n}" for o, _, n in TENSOR_CASES])
@pytest.mark.parametrize("convert", ["list", "numpy", "number"])
def test_non_tensor_where_a_tensor_is_required_is_a_type_error(owner, slot, name, convert):
    if isinstance(owner, str):
        fn, sample = _fn_sample(owner)
    else:
        fn, sample = owner.fn, _sample(owner)
    args, kwargs = _detached(sample)
    if slot == "<weight>":
        shape = fn(*args, **kwargs, reduction="none").shape
        value = torch.ones(shape, dtype=torch.float64)
        slot = name
    else:
        value = args[slot] if isinstance(slot, int) else kwargs[slot]
    value = {"list": value.tolist, "numpy": value.numpy, "number": lambda: value.flatten()[0].item()}[convert]()
    sample = registry.Sample(tuple(args), kwargs)
    args, kwargs = _with(sample, slot, value)
    _raises_naming(TypeError, name, fn, *args, **kwargs)


# ---------------------------------------------------------------------------------
# (c) mixed float32 / float64
def _class_count(sample):
    return sample.args[0].shape[-1]


# Floating tensor keywords the registry samples do not exercise: class weights and the like.
EXTRA_FLOAT_KWARGS = {
    "cross_entropy": {"weight": lambda s, d: torch.linspace(0.5, 2.0, _class_count(s), dtype=d)},
    "focal_loss": {"alpha": lambda s, d: torch.linspace(0.25, 1.0, _class_count(s), dtype=d)},
    "binary_cross_entropy_with_logits": {"pos_weight": lambda s, d: torch.tensor([2.0], dtype=d)},
    "nce": {"noise": lambda s, d: torch.softmax(torch.arange(_class_count(s), dtype=d), 0)},
    **{
        name: {"proposal": lambda s, d: torch.softmax(-torch.arange(s.args[1].shape[0], dtype=d) / 4, 0)}
        for name in ("sampled_softmax_loss", "importance_sampling_loss", "negative_sampling_loss",
                     "sampled_nce_loss", "in_batch_negatives_loss")
    },
}

# A spec with one floating tensor and no per-example weight has nothing to mix.
NO_MIXING = {
    "batch_cross_entropy": "one floating tensor (logits) and no per-example weight",
    "batch_max_margin": "one floating tensor (logits) and no per-example weight",
}


# Labels from a discrete set ({0, 1}, ±1) that the registry samples give as integers
# but the losses also take as floating tensors (which then promote like any input).
FLOAT_LABELS = {"hinge": (1,), "squared_hinge": (1,), "contrastive": (2,), "td_loss": (4,)}


def _input_slots(spec, sample):
    """The floating inputs (tensors of the sample, floating keywords of EXTRA_FLOAT_KWARGS)."""
    sample = _float_labels(spec, sample, torch.float64)
    slots = [(slot, name) for slot, name, v in _slots(spec.fn, sample) if isinstance(v, torch.Tensor) and v.is_floating_point()]
    return slots + [(k, k) for k in EXTRA_FLOAT_KWARGS.get(spec.name, {})]


def _float_labels(spec, sample, dtype):
    args = [a.to(dtype) if i in FLOAT_LABELS.get(spec.name, ()) else a for i, a in enumerate(sample.args)]
    return registry.Sample(tuple(args), sample.kwargs)


def _dtype_sample(spec, dtype):
    """The sample in ``dtype`` with the extra floating keywords filled in."""
    s = _float_labels(spec, _sample(spec, dtype=dtype), dtype)
    args, kwargs = _detached(s)
    for k, make in EXTRA_FLOAT_KWARGS.get(spec.name, {}).items():
        kwargs[k] = make(s, dtype)
    return registry.Sample(tuple(args), kwargs)


def _up(v):
    return v.double() if isinstance(v, torch.Tensor) and v.is_floating_point() else v


DTYPE_CASES = [
    (s, slot, name) for s in SPECS if len(_input_slots(s, _sample(s))) >= 2 for slot, name in _input_slots(s, _sample(s))
]
WEIGHT_DTYPE_CASES = [s for s in SPECS if s.supports_weight]


def test_every_spec_is_covered_by_the_dtype_rule():
    covered = {s.name for s, _, _ in DTYPE_CASES} | {s.name for s in WEIGHT_DTYPE_CASES}
    missing = set(IDS) - covered - set(NO_MIXING)
    assert not missing, f"give a reason in NO_MIXING or a floating keyword in EXTRA_FLOAT_KWARGS: {missing}"


@pytest.mark.parametrize("spec,slot,name", DTYPE_CASES, ids=[f"{s.name}-{n}" for s, _, n in DTYPE_CASES])
@pytest.mark.parametrize("base,other", [(torch.float64, torch.float32), (torch.float32, torch.float64)], ids=["f64+f32", "f32+f64"])
def test_mixed_float_inputs_promote(spec, slot, name, base, other):
    # Floating inputs are promoted before any computation: the result equals the
    # call on the inputs cast to float64 beforehand (float32 -> float64 is exact).
    s = _dtype_sample(spec, base)
    value = s.args[slot] if isinstance(slot, int) else s.kwargs[slot]
    args, kwargs = _with(s, slot, value.to(other))
    out = spec.fn(*args, **kwargs)
    expected = spec.fn(*[_up(a) for a in args], **{k: _up(v) for k, v in kwargs.items()})
    assert out.dtype == torch.float64, f"{name} in {other} with the rest in {base} gave {out.dtype}"
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("spec", WEIGHT_DTYPE_CASES, ids=[s.name for s in WEIGHT_DTYPE_CASES])
@pytest.mark.parametrize("base,other", [(torch.float64, torch.float32), (torch.float32, torch.float64)], ids=["f64+f32", "f32+f64"])
def test_per_example_weight_of_another_dtype_promotes_the_result(spec, base, other):
    # The per-example weight multiplies the per-example loss (DESIGN principle 3),
    # so the result has the promoted dtype and equals loss.double() * weight.double().
    s = _dtype_sample(spec, base)
    args, kwargs = _detached(s)
    per = spec.fn(*args, **kwargs, reduction="none")
    w = torch.rand(per.shape, dtype=other, generator=torch.Generator().manual_seed(5)) + 0.5
    out = spec.fn(*args, **kwargs, **{_weight_kw(spec.fn): w}, reduction="none")
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, per.double() * w.double(), rtol=1e-12, atol=1e-12)


FN_DTYPE_CASES = []
for _n in FUNCTIONS:
    _fn, _s = _fn_sample(_n)
    _fl = [(slot, name) for slot, name, v in _slots(_fn, _s) if isinstance(v, torch.Tensor) and v.is_floating_point()]
    if len(_fl) >= 2:
        FN_DTYPE_CASES += [(_n, slot, name) for slot, name in _fl]


@pytest.mark.parametrize("owner,slot,name", FN_DTYPE_CASES, ids=[f"{o}-{n}" for o, _, n in FN_DTYPE_CASES])
def test_mixed_float_dtypes_promote_in_functions(owner, slot, name):
    fn, s = _fn_sample(owner)
    args, kwargs = _detached(s)
    value = args[slot] if isinstance(slot, int) else kwargs[slot]
    args, kwargs = _with(registry.Sample(tuple(args), kwargs), slot, value.float())
    out = fn(*args, **kwargs)
    expected = fn(*[_up(a) for a in args], **{k: _up(v) for k, v in kwargs.items()})
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------
# (d) every error names its argument
# Tensor arguments whose leading size may legitimately differ from the others'.
FREE_LEADING_DIM = {("ge2e", "embeddings"), ("*", "sampled"), ("*", "negative_keys"), ("*", "negatives"), ("*", "out_weight")}


def _error_cases():
    cases = []
    for s in SPECS:
        p = _params(s.fn)
        cases.append((s, "reduction", "bogus", ("reduction",)))
        for slot, name, v in _slots(s.fn, _sample(s)):
            if isinstance(v, torch.Tensor) and (s.name, name) not in FREE_LEADING_DIM and ("*", name) not in FREE_LEADING_DIM:
                # One more row than the others: a shape mismatch; the error names this tensor or the one it is checked against.
                tensors = tuple(n for _, n, t in _slots(s.fn, _sample(s)) if isinstance(t, torch.Tensor))
                cases.append((s, slot, "extra-row", tensors))
            if isinstance(v, torch.Tensor) and v.is_floating_point() and slot == 0:
                cases.append((s, slot, "integer", (name,)))
        for name, param in p.items():
            if isinstance(param.default, float) or isinstance(_sample(s).kwargs.get(name), float):
                cases.append((s, name, "a string", (name,)))
    return cases


ERROR_CASES = _error_cases()


@pytest.mark.parametrize(
    "spec,slot,bad,names", ERROR_CASES, ids=[f"{s.name}-{slot}-{bad}" for s, slot, bad, _ in ERROR_CASES]
)
def test_errors_name_the_argument(spec, slot, bad, names):
    s = _sample(spec)
    args, kwargs = _detached(s)
    if bad == "extra-row":
        v = args[slot] if isinstance(slot, int) else kwargs[slot]
        value = torch.cat([v, v[:1]], 0)
    elif bad == "integer":
        value = args[slot].round().long()
    else:
        value = bad
    args, kwargs = _with(registry.Sample(tuple(args), kwargs), slot, value)
    with pytest.raises((ValueError, TypeError)) as info:
        spec.fn(*args, **kwargs)
    msg = str(info.value)
    assert any(re.search(rf"\b{re.escape(n)}\b", msg) for n in names), f"{type(info.value).__name__}: {msg!r} names none of {names}"
    assert "Traceback" not in msg


# Every ValueError/TypeError that losslab raises names an argument of the function
# raising it (or of the helper's caller, spelled out here with the reason).
MESSAGE_AUDIT_EXEMPT = {
    "pols.py:_minimise": "its loss_fn is pols_alignment's argument 'loss', which the messages name",
    "pols.py:pols_alignment": "loops over its int arguments; each message names one through {name}",
    "_validate.py:renamed_keywords": "a decorator factory; its message names the renamed keyword through {k}",
    "_validate.py:wrapper": "renamed_keywords' wrapper; its message names the renamed keyword through {k}",
    "_validate.py:decorate": "renamed_keywords' wrapper; its message names the renamed keyword through {k}",
    "metrics.py:_ranking_rows": "loops over scores and labels; each message names one through {name}",
    "_validate.py:legacy_reduction": "loops over size_average and reduce; each message names one through {name}",
}
_AUDITED = ("_validate", "_catalogue", "_reduce", "analysis", "classification", "contrastive", "fenchel_young",
            "links", "matching", "metrics", "nn", "pols", "ranking", "regression", "rl", "sampled", "single_logit")


def _unnamed_raises():
    import ast
    import pathlib

    root = pathlib.Path(ll.__file__).parent
    bad = []
    for mod in _AUDITED:
        tree = ast.parse((root / f"{mod}.py").read_text())
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            a = fn.args
            params = {x.arg for x in a.posonlyargs + a.args + a.kwonlyargs} - {"self", "cls"}
            params |= {x.arg for x in (a.vararg, a.kwarg) if x is not None}
            for node in ast.walk(fn):
                if (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)
                        and getattr(node.exc.func, "id", "") in ("ValueError", "TypeError")):
                    msg = ast.unparse(node.exc.args[0]) if node.exc.args else ""
                    if not set(re.findall(r"[A-Za-z_]\w*", msg)) & params and f"{mod}.py:{fn.name}" not in MESSAGE_AUDIT_EXEMPT:
                        bad.append(f"{mod}.py:{node.lineno} in {fn.name}: {msg[:100]}")
    return bad


def test_every_raised_message_names_an_argument():
    assert not _unnamed_raises()


# ---------------------------------------------------------------------------------
# (e) a hyper-parameter tensor that requires grad: differentiated or rejected
# Tensor-valued hyper-parameters the registry samples leave at None (value builders from the sample).
TENSOR_HYPER = {
    "cross_entropy": {"weight": lambda s: torch.linspace(0.5, 2.0, _class_count(s), dtype=torch.float64)},
    "focal_loss": {"alpha": lambda s: torch.linspace(0.25, 1.0, _class_count(s), dtype=torch.float64)},
    "binary_cross_entropy_with_logits": {"pos_weight": lambda s: torch.tensor([2.0], dtype=torch.float64)},
    "nce": {"noise": lambda s: torch.softmax(torch.arange(_class_count(s), dtype=torch.float64), 0)},
    **{
        name: {"proposal": lambda s: torch.softmax(-torch.arange(s.args[1].shape[0], dtype=torch.float64) / 4, 0)}
        for name in ("sampled_softmax_loss", "importance_sampling_loss", "negative_sampling_loss",
                     "sampled_nce_loss", "in_batch_negatives_loss")
    },
}


# Hyper-parameters that do not enter the value for the sample's call (nothing to differentiate).
NOT_IN_VALUE = {
    ("negative_sampling_loss", "proposal"): "word2vec's negative sampling uses q only to draw the negatives "
    "(no log q correction), and the sample gives the negatives explicitly",
}


def _hyper_cases():
    cases = []
    for s in SPECS:
        smp = _sample(s)
        found = {}
        for name, p in _params(s.fn).items():
            if isinstance(p.default, float):
                found[name] = lambda _s, v=p.default: torch.tensor(v, dtype=torch.float64)
        for k, v in smp.kwargs.items():
            if isinstance(v, float):
                found[k] = lambda _s, v=v: torch.tensor(v, dtype=torch.float64)
        found.update(TENSOR_HYPER.get(s.name, {}))
        cases += [(s, k, make) for k, make in found.items()]
    for n in FUNCTIONS:
        fn, smp = _fn_sample(n)
        for k, v in smp.kwargs.items():
            if isinstance(v, float):
                cases.append((n, k, lambda _s, v=v: torch.tensor(v, dtype=torch.float64)))
    return cases


HYPER_CASES = _hyper_cases()


@pytest.mark.parametrize("owner,name,make", HYPER_CASES, ids=[f"{getattr(o, 'name', o)}-{n}" for o, n, _ in HYPER_CASES])
def test_hyper_parameter_that_requires_grad_is_differentiated_or_rejected(owner, name, make):
    if isinstance(owner, str):
        fn, s = _fn_sample(owner)
    else:
        fn, s = owner.fn, _sample(owner)
    args, kwargs = _detached(s)
    h = make(s).requires_grad_(True)

    def f(h):
        out = fn(*args, **{**kwargs, name: h})
        return out if isinstance(out, torch.Tensor) else out[0]

    try:
        out = f(h)
    except (TypeError, ValueError) as e:
        assert re.search(rf"\b{re.escape(name)}\b", str(e)), f"rejected without naming {name!r}: {e}"
        assert "grad" in str(e), f"the rejection should say the gradient is the problem: {e}"
        return
    if (getattr(owner, "name", owner), name) in NOT_IN_VALUE:
        # Then the value must not depend on it at all (so no gradient is lost).
        other = (make(s) * torch.linspace(0.5, 1.5, h.numel(), dtype=h.dtype).reshape(h.shape))
        torch.testing.assert_close(f(other / other.sum() if other.dim() else other), out.detach(), rtol=0, atol=0)
        return
    assert out.requires_grad, f"{name} given as a tensor that requires grad was silently detached"
    assert torch.autograd.gradcheck(f, (h,), eps=1e-6, atol=1e-6)


def test_ge2e_learnable_w_b_are_differentiated():
    # GE2E's w and b are learnable on purpose: the gradient must reach them.
    spec = registry.get("ge2e")
    s = _sample(spec)
    (emb,), kw = _detached(s)
    w = torch.tensor(5.0, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(-2.0, dtype=torch.float64, requires_grad=True)
    kw = {k: v for k, v in kw.items() if k not in ("w", "b")}
    assert torch.autograd.gradcheck(lambda w, b: ll.ge2e(emb, w=w, b=b, **kw), (w, b))


@pytest.mark.parametrize("bad", ["no", 0, None])
def test_custom_link_monotone_flag_must_be_a_bool(bad):
    with pytest.raises(TypeError, match="monotone"):
        links.custom(torch.tanh, monotone=bad)
