"""Everything pickles (DESIGN.md principle 5: links are plain data).

Every link constructor of ``losslab.links``, every module of ``losslab.nn.__all__`` and a
model holding a losslab loss survive ``pickle``, ``copy.deepcopy`` and
``torch.save``/``torch.load``, and afterwards compute exactly what the original computes.
The lists of constructors and modules are read from the package, so a new constructor
without an entry in ``LINK_EXAMPLES`` or a new module that cannot be built fails here.
"""
from __future__ import annotations

import copy
import inspect
import io
import os
import pickle
import re
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

import losslab
from losslab import links, registry
from losslab import nn as lnn

F64 = torch.float64


def _cubic_plus(x):
    # Module level, so pickle stores it by reference.
    return x + x**3 / 3


def _cubic_plus_prime(x):
    return 1 + x * x


def _closure_link():
    # A closure over a tensor: only cloudpickle can store it (by value).
    shift = torch.tensor(0.25, dtype=F64)
    return links.custom(lambda x: torch.tanh(x) + shift * x, name="tanh_plus_ramp", alpha=1.5)


# Example arguments per public constructor of links.py; z in (-1.9, 1.9) must be inside
# every example's domain (logit: x = (z + 2)/4 in (0, 1)).
LINK_EXAMPLES = {
    "sigmoid": [dict(alpha=2.0, beta=0.5)],
    "identity": [dict(alpha=2.0, beta=-1.0)],
    "exp": [dict(alpha=0.7, beta=0.3), dict(alpha=2.0, cap=None)],
    "anti_exp": [dict(alpha=0.7, beta=-0.3)],
    "sinh": [dict(alpha=0.8, beta=0.5, cap=1.0)],
    "tanh": [dict(alpha=1.3, beta=-0.2)],
    "cosh": [dict(alpha=0.9, beta=0.4)],
    "arcsinh": [dict(alpha=2.0, beta=1.0)],
    "smelu": [dict(c=1.5, alpha=2.0, beta=0.5)],
    "huber": [dict(delta=0.8, beta=1.0)],
    "step": [dict(alpha=2.0, beta=0.5)],
    "sign": [dict(beta=-1.0)],
    "staircase": [dict(thresholds=[-1.0, 0.5, 2.0], heights=[1.0, 0.5, 2.0]), dict(thresholds=[0.0])],
    "piecewise_linear": [dict(knots=[-2.0, 0.0, 1.0, 3.0], values=[-1.0, 0.0, 2.0, 2.5])],
    "logit": [dict(alpha=0.25, beta=-2.0)],
    "power": [dict(d=3.0, alpha=0.5), dict(d=0.5, beta=0.05)],
    "sin": [dict(alpha=0.9, beta=0.2), dict(alpha=0.5, cap=None)],
    "arctan": [dict(alpha=1.5, beta=-0.5)],
    "arcsin": [dict(alpha=0.5)],  # x in (-0.95, 0.95)
    "arctanh": [dict(alpha=0.5, beta=0.05)],
    "tan": [dict(alpha=0.7)],  # |x| <= 1.33 < π/2
    "sign_log1p": [dict(alpha=2.0, beta=0.3)],
    "neg_log1m": [dict(alpha=0.4, beta=-0.5)],  # x <= 0.96 < 1
    "log": [dict(alpha=0.5, beta=-2.0)],  # x >= 0.05 > 0
    "custom": [
        dict(f=_cubic_plus, derivative=_cubic_plus_prime, alpha=2.0),
        dict(f=lambda x: x + torch.sin(x) / 2, name="sin_plus"),
    ],
}


def _constructors() -> list[str]:
    """Public functions defined in links.py (all of them build a Link) and those in ``__all__``."""
    own = {
        n for n, obj in vars(links).items()
        if not n.startswith("_") and inspect.isfunction(obj) and obj.__module__ == links.__name__
    }
    exported = {n for n in links.__all__ if inspect.isfunction(getattr(links, n))}
    return sorted(own | exported)


def _by_value(kwargs: dict) -> bool:
    """Whether some callable argument is a lambda/closure, which unpickles as a new object."""
    return any(callable(v) and "<" in getattr(v, "__qualname__", "<") for v in kwargs.values())


# (id, builder, holds a lambda/closure)
def _link_cases():
    cases = []
    for name in _constructors():
        for i, kw in enumerate(LINK_EXAMPLES.get(name, [])):
            cases.append((f"{name}-{i}", lambda name=name, kw=kw: getattr(links, name)(**kw), _by_value(kw)))
    cases += [
        ("exp.scaled", lambda: links.exp(alpha=0.5).scaled(0.5), False),
        ("scaled.scaled", lambda: links.sinh(alpha=0.5).scaled(2.0).scaled(0.25), False),
        ("sigmoid.capped", lambda: links.sigmoid(beta=0.3).capped(1.0), False),
        ("tanh.reparametrize", lambda: links.tanh().reparametrize(alpha=3.0, beta=0.2), False),
        ("custom.scaled", lambda: links.custom(_cubic_plus, primitive=lambda x: x**2 / 2 + x**4 / 12).scaled(3.0), True),
        ("custom.closure", _closure_link, True),
        ("composite_sigmoid_link", lambda: losslab.composite_sigmoid_link(links.cosh(alpha=0.5), gamma=0.7), True),
        ("Link.direct", lambda: links.Link("direct", torch.atan, lambda x: 1 / (1 + x * x), alpha=2.0), True),
    ]
    return cases


LINK_CASES = _link_cases()


def _torch_save_load(obj, **load_kwargs):
    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    return torch.load(buf, **load_kwargs)


ROUND_TRIPS = {
    "pickle": lambda obj: pickle.loads(pickle.dumps(obj)),
    "deepcopy": copy.deepcopy,
    "torch.save": lambda obj: _torch_save_load(obj, weights_only=False),
}


def _exact(a, b):
    torch.testing.assert_close(a, b, rtol=0, atol=0, equal_nan=True)


# -- links ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", _constructors())
def test_every_constructor_has_an_example(name):
    assert LINK_EXAMPLES.get(name), f"links.{name} has no example arguments in LINK_EXAMPLES of {__file__}"


@pytest.mark.parametrize("trip", sorted(ROUND_TRIPS))
@pytest.mark.parametrize("case_id,build,by_value", LINK_CASES, ids=[c[0] for c in LINK_CASES])
def test_link_round_trip(case_id, build, by_value, trip):
    link = build()
    copy_ = ROUND_TRIPS[trip](link)
    assert isinstance(copy_, links.Link) and copy_ is not link
    assert repr(copy_) == repr(link)
    assert (copy_.monotone, copy_.domain, copy_.has_primitive) == (link.monotone, link.domain, link.has_primitive)
    if not by_value or trip == "deepcopy":
        assert copy_ == link and hash(copy_) == hash(link)
    if not by_value:  # plain data: a recipe, no serialised code
        assert b"cloudpickle" not in pickle.dumps(link)
    z = torch.linspace(-1.9, 1.9, 12, dtype=F64)
    _exact(copy_(z), link(z))
    _exact(copy_.derivative(z), link.derivative(z))
    _exact(copy_.primitive(z), link.primitive(z))
    _exact(copy_.bregman(z.flip(0), z), link.bregman(z.flip(0), z))
    if link.g_inverse is not None:
        y = link(z)
        _exact(copy_.inverse(y), link.inverse(y))


@pytest.mark.parametrize("case_id,build,by_value", LINK_CASES, ids=[c[0] for c in LINK_CASES])
def test_links_compare_equal_by_value(case_id, build, by_value):
    a = build()
    if not by_value:  # two builds from the same recipe are the same link
        b = build()
        assert a == b and hash(a) == hash(b)
    assert a == a
    assert a != a.reparametrize(alpha=a.alpha * 2)
    assert a != a.reparametrize(beta=a.beta + 1)
    assert a != a.scaled(2.0)
    assert a != a.capped(0.5)
    assert len({a, a.reparametrize(alpha=a.alpha * 2)}) == 2


def test_links_with_different_shape_parameters_differ():
    assert links.smelu(c=1.0) != links.smelu(c=2.0)
    assert links.staircase([0.0, 1.0]) != links.staircase([0.0, 1.0], [1.0, 2.0])
    assert links.exp() != links.exp(cap=None)
    assert links.custom(_cubic_plus) != links.custom(_cubic_plus, name="other")
    assert links.custom(_cubic_plus) == links.custom(_cubic_plus)


# -- losslab.nn modules ----------------------------------------------------------------------

# Constructor arguments for modules that need them (or whose state is worth exercising);
# every other class in nn.__all__ is built with no arguments.
MODULE_ARGS = {
    "MatchingLoss": lambda: dict(link=links.sigmoid(alpha=2.0, beta=0.5)),
    "CompositeSigmoidLoss": lambda: dict(scaling=links.exp(alpha=0.5).scaled(0.5), gamma=0.7),
    "CompositeSoftmaxLoss": lambda: dict(scaling=links.exp(alpha=2.0)),
    "DecomposedMatchingLoss": lambda: dict(link=links.custom(lambda x: x + torch.sin(x) / 2)),
    "SelectivePointwiseLoss": lambda: dict(link=links.sinh(alpha=0.5)),
    "SelectivePairwiseLoss": lambda: dict(link=links.smelu(c=0.5, beta=0.2)),
    "SelectiveListwiseLoss": lambda: dict(scaling=links.exp(alpha=2.0), gamma=0.5),
    "LinearCrossEntropyLoss": lambda: dict(weight=torch.rand(6, dtype=F64) + 0.5, label_smoothing=0.1, chunk_size=2),
    "LinearCompositeSoftmaxLoss": lambda: dict(scaling=links.exp(alpha=0.5), gamma=0.7, chunk_size=2),
}
# Inputs for modules no registry entry describes.
MODULE_INPUTS = {
    "Sparsemax": lambda g: ((torch.randn(3, 5, dtype=F64, generator=g),), {}),
    "Entmax15": lambda g: ((torch.randn(3, 5, dtype=F64, generator=g),), {}),
    "EntmaxBisect": lambda g: ((torch.randn(3, 5, dtype=F64, generator=g),), {}),
    "LinearCrossEntropyLoss": lambda g: ((torch.randn(3, 4, dtype=F64, generator=g), torch.randn(6, 4, dtype=F64, generator=g),
                                          torch.tensor([0, 5, 2])), {}),
    "LinearCompositeSoftmaxLoss": lambda g: ((torch.randn(3, 4, dtype=F64, generator=g),
                                              torch.randn(6, 4, dtype=F64, generator=g),
                                              torch.randn(3, 6, dtype=F64, generator=g)), {}),
}
# Registry names that the class name does not spell.
SPEC_ALIASES = {"OneVsAllBCELoss": "binary_cross_entropy"}


def _build(name: str):
    cls = getattr(lnn, name)
    kwargs = MODULE_ARGS[name]() if name in MODULE_ARGS else {}
    try:
        return cls(**kwargs)
    except TypeError as exc:
        pytest.fail(f"losslab.nn.{name} cannot be built with {kwargs}; add its arguments to MODULE_ARGS: {exc}")


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def _spec_for(name: str, module):
    by_fn = {s.fn: s for s in registry.specs()}
    fn = getattr(module, "_fn", None)
    if fn in by_fn:
        return by_fn[fn]
    snake = _snake(name)
    for candidate in (SPEC_ALIASES.get(name), snake, snake.removesuffix("_loss")):
        if candidate in registry.names():
            return registry.get(candidate)
    return None


def _inputs(name: str, module):
    """(args, kwargs) of a forward call, from the module's registry spec where there is one."""
    g = torch.Generator().manual_seed(0)
    if name in MODULE_INPUTS:
        return MODULE_INPUTS[name](g)
    spec = _spec_for(name, module)
    if spec is None:
        return None
    sample = spec.sample((3,), dtype=F64, generator=g)
    # The module holds its own link and the hyper-parameters of MODULE_ARGS: pass the data
    # and the sample's other keywords that forward takes (e.g. the ignore_index its labels use).
    args = tuple(a for a in sample.args if not isinstance(a, links.Link))
    params = inspect.signature(module.forward).parameters
    var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    own = set(MODULE_ARGS[name]()) if name in MODULE_ARGS else set()
    kwargs = {
        k: v for k, v in sample.kwargs.items()
        if k not in own and not isinstance(v, links.Link) and (var_kw or k in params)
    }
    return args, kwargs


def _forward(module, inputs):
    args, kwargs = inputs
    torch.manual_seed(0)  # a sampling loss draws the same noise for both modules
    return module(*args, **kwargs)


def _assert_same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        _exact(sb[k], sa[k])
    assert [p.requires_grad for p in a.parameters()] == [p.requires_grad for p in b.parameters()]


MODULE_NAMES = list(lnn.__all__)
# Modules whose forward is compared; the acceptance bar asks at least for these.
MUST_FORWARD = {"MatchingLoss", "CompositeSigmoidLoss", "CompositeSoftmaxLoss", "DecomposedMatchingLoss",
                "CrossEntropyLoss", "SparsemaxLoss", "SelectiveListwiseLoss", "Sparsemax"}


@pytest.mark.parametrize("trip", sorted(ROUND_TRIPS))
@pytest.mark.parametrize("name", MODULE_NAMES)
def test_module_round_trip(name, trip):
    module = _build(name)
    copy_ = ROUND_TRIPS[trip](module)
    assert type(copy_) is type(module) and copy_ is not module
    assert repr(copy_) == repr(module)
    _assert_same_state(module, copy_)
    inputs = _inputs(name, module)
    if name in MUST_FORWARD:
        assert inputs is not None, f"no inputs for losslab.nn.{name}"
    if inputs is not None:
        _exact(_forward(copy_, inputs), _forward(module, inputs))


@pytest.mark.parametrize("name", MODULE_NAMES)
def test_module_state_dict_round_trip(name):
    module = _build(name)
    with torch.no_grad():  # make the loaded values distinguishable from a fresh module's
        for t in module.state_dict().values():
            if t.is_floating_point():
                t.add_(0.5)
    loaded = _torch_save_load(module.state_dict())  # torch's default (weights_only) loader
    fresh = _build(name)
    fresh.load_state_dict(loaded)
    _assert_same_state(module, fresh)


class _TinyModel(torch.nn.Module):
    """A linear scorer trained with a composite Softmax loss held as a submodule."""

    def __init__(self, scaling: links.Link) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 3)
        self.loss = lnn.CompositeSoftmaxLoss(scaling)

    def forward(self, x, target):
        return self.loss(self.linear(x), target)


def _model_loss_and_grads(model, x, target):
    model.zero_grad()
    loss = model(x, target)
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in model.parameters()]


SCALINGS = {
    "exp": lambda: links.exp(alpha=2.0),
    "exp.scaled": lambda: links.exp(alpha=2.0).scaled(2.0),  # the paper's q(z) = alpha e^{alpha z}
    "custom.lambda": lambda: links.custom(lambda x: 1 + torch.sigmoid(x), primitive=lambda x: x + F.softplus(x)),
}


@pytest.mark.parametrize("trip", sorted(ROUND_TRIPS))
@pytest.mark.parametrize("scaling", sorted(SCALINGS))
def test_model_holding_a_loss_round_trip(scaling, trip):
    torch.manual_seed(0)
    model = _TinyModel(SCALINGS[scaling]())
    x, target = torch.randn(5, 4), torch.randn(5, 3)
    copy_ = ROUND_TRIPS[trip](model)
    if scaling != "custom.lambda" or trip == "deepcopy":
        assert copy_.loss.scaling == model.loss.scaling
    loss, grads = _model_loss_and_grads(model, x, target)
    loss2, grads2 = _model_loss_and_grads(copy_, x, target)
    _exact(loss2, loss)
    for g, g2 in zip(grads, grads2):
        _exact(g2, g)


def test_model_state_dict_round_trip():
    torch.manual_seed(0)
    model = _TinyModel(SCALINGS["exp.scaled"]())
    loaded = _torch_save_load(model.state_dict())  # weights_only=True by default
    torch.manual_seed(1)
    fresh = _TinyModel(SCALINGS["exp.scaled"]())
    x, target = torch.randn(5, 4), torch.randn(5, 3)
    assert not torch.equal(fresh(x, target), model(x, target))
    fresh.load_state_dict(loaded)
    _exact(fresh(x, target), model(x, target))


def test_custom_link_loads_in_a_fresh_interpreter(tmp_path):
    # In-process round trips can find a lambda's module again; a new interpreter cannot,
    # so this checks the lambda's code itself travelled with the saved loss.
    module = lnn.CompositeSoftmaxLoss(SCALINGS["custom.lambda"](), gamma=0.5)
    g = torch.Generator().manual_seed(0)
    pred, target = torch.randn(4, 3, dtype=F64, generator=g), torch.randn(4, 3, dtype=F64, generator=g)
    torch.save({"loss": module, "pred": pred, "target": target}, tmp_path / "saved.pt")
    script = (
        "import sys, torch\n"
        "d = torch.load(sys.argv[1], weights_only=False)\n"
        "torch.save(d['loss'](d['pred'], d['target']), sys.argv[2])\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "saved.pt"), str(tmp_path / "out.pt")],
                   check=True, env=env, cwd=tmp_path, timeout=300)
    _exact(torch.load(tmp_path / "out.pt"), module(pred, target))
