"""The loss auditor: ask a loss what it does and get a :class:`LossCard`.

``audit(loss)`` probes a loss numerically -- convexity, properness and calibration,
logit separation, invariances, sensitivity, robustness, cost -- and returns a card
with one verdict per property (``"holds"``, ``"fails"``, ``"n/a"``,
``"inconclusive"``), the evidence (the worst point found and the measured value)
and how it was tested. Every verdict is an empirical probe on sampled points, not a
proof; the card says what was sampled.

The probes only *call* the loss, ``loss(input, target, reduction=...)``; a loss
that raises, returns NaN or a tensor of the wrong shape makes the affected
property ``"inconclusive"`` with the reason, and the audit carries on.
"""
from __future__ import annotations

import inspect
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

__all__ = ["audit", "LossCard", "Property", "PROPERTIES", "KINDS", "VERDICTS", "properties_table"]

KINDS = ("regression", "classification", "ranking", "scores")
VERDICTS = ("holds", "fails", "n/a", "inconclusive")

#: The properties on every card, in the order they are printed.
PROPERTIES = (
    "convex",
    "quasi_convex",
    "proper",
    "classification_calibrated",
    "ranking_calibrated",
    "pols_aligned",
    "shift_invariant",
    "scale_invariant",
    "permutation_invariant",
    "symmetric",
    "region_sensitive",
    "rank_sensitive",
    "bounded_gradient",
    "finite_at_extremes",
    "per_example",
)

#: Sample counts per preset. ``quick`` keeps a whole-registry audit inside CI's budget.
PRESETS: dict[str, dict[str, int]] = {
    "quick": {"points": 12, "pairs": 128, "dists": 4, "reg_dists": 16, "grid": 401, "pols_steps": 150,
              "cost_repeats": 3, "profile": 41},
    "full": {"points": 64, "pairs": 1024, "dists": 16, "reg_dists": 64, "grid": 2001, "pols_steps": 150,
             "cost_repeats": 15, "profile": 161},
}

_FAMILY_KIND = {
    "regression": "regression",
    "classification": "classification",
    "single_logit": "classification",
    "fenchel_young": "classification",
    "ranking": "ranking",
}
# Registered losses whose kind is not their family's (scalar scores vs scalar targets, score
# vectors vs score vectors; embedding losses are audited on their registry samples only).
_NAME_KIND = {
    "matching_loss": "regression",
    "composite_sigmoid_loss": "regression",
    "composite_softmax_loss": "scores",  # score vectors vs score vectors (distillation form)
    "decomposed_matching_loss": "scores",
    "ge2e": "other",
    "arcface": "other",  # cosines in [-1, 1], not free logits
    "soft_dice": "other",
}
# Binary classifiers: a scalar score per example and a {0,1} or {-1,+1} label.
_BINARY = {"binary_cross_entropy_with_logits", "hinge", "squared_hinge"}
# Hyper-parameters audited where the signature's default would hide the interesting case.
_AUDIT_KWARGS: dict[str, dict[str, Any]] = {"quantile": {"q": 0.8}, "pointwise_sigmoid_ce": {"max_grade": 3.0}}
# Input domains other than the default (-5, 5): (prediction domain, target domain).
_DOMAINS: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "msle": ((0.0, 10.0), (0.0, 10.0)),
    "poisson_nll": ((-3.0, 3.0), (0.0, 10.0)),
    "mape": ((-5.0, 5.0), (0.5, 5.0)),
    "kl_divergence": ((-5.0, 0.0), (-5.0, 0.0)),
}
_DEFAULT_DOMAIN = (-5.0, 5.0)
_K = 4  # classes of the classification probes
_L = 4  # items per list of the ranking probes
_GRADES = 4  # relevance grades 0 .. _GRADES - 1


class _Inconclusive(Exception):
    """A probe could not decide: the message says why (the loss raised, returned NaN, ...)."""


# ============================================================================ the card


@dataclass
class Property:
    """One property's verdict on a card.

    Attributes:
        name: the property (one of :data:`PROPERTIES`).
        verdict: ``"holds"`` | ``"fails"`` | ``"n/a"`` | ``"inconclusive"``.
        evidence: one line: the worst point found and the measured value, or why not tested.
        method: one line on how it was tested.
        value: the measured number the verdict rests on (``None`` where there is none).
        worst: the worst point found (a list of floats), if any.
    """

    name: str
    verdict: str
    evidence: str
    method: str = ""
    value: float | None = None
    worst: list | None = None

    def to_dict(self) -> dict:
        return {"verdict": self.verdict, "evidence": self.evidence, "method": self.method,
                "value": self.value, "worst": self.worst}


@dataclass
class LossCard:
    """The audit of one loss: a verdict per property with its evidence.

    Attributes:
        name: the loss's name.
        kind: ``"regression"``, ``"classification"``, ``"ranking"``, ``"scores"`` (score
            vectors vs score vectors, seed 000 Sect. 5) or ``"other"`` (a registered loss of
            another shape, audited on its registry samples only).
        properties: ``{name: Property}`` for every name in :data:`PROPERTIES`.
        statistic: what the minimiser of the expected loss recovers (``"mean"``,
            ``"median"``, ``"quantile 0.8"``, ``"softmax probabilities"``, ...), or ``None``.
        cost: ``{"time_ratio", "memory_ratio", "shape", "note"}`` against cross-entropy.
        settings: what was sampled: preset, seed, domain, hyper-parameters.
        profiles: the curves behind :meth:`plot` (lists of floats).
    """

    name: str
    kind: str
    properties: dict[str, Property]
    statistic: str | None = None
    cost: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    profiles: dict = field(default_factory=dict)

    @property
    def verdicts(self) -> dict[str, str]:
        """``{property: verdict}``, every verdict one of :data:`VERDICTS`."""
        return {k: p.verdict for k, p in self.properties.items()}

    def __getitem__(self, name: str) -> Property:
        return self.properties[name]

    def _cost_line(self) -> str:
        if not self.cost or self.cost.get("time_ratio") is None:
            return "cost: " + self.cost.get("note", "not measured")
        return (f"cost: x{self.cost['time_ratio']:.2g} time, x{self.cost['memory_ratio']:.2g} memory saved for "
                f"backward vs cross-entropy on {self.cost['ce_shape']} (input {self.cost['shape']}; indicative: "
                f"{self.cost['repeats']} repeats)")

    def __str__(self) -> str:
        head = f"{self.name} ({self.kind}; preset {self.settings.get('preset')}, seed {self.settings.get('seed')})"
        if self.statistic:
            head += f"; the expected loss's minimiser recovers: {self.statistic}"
        w = max(len(n) for n in self.properties)
        lines = [head]
        for n, p in self.properties.items():
            lines.append(f"  {n:<{w}}  {p.verdict:<12}  {p.evidence}")
        lines.append("  " + self._cost_line())
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "statistic": self.statistic, "settings": self.settings,
                "verdicts": self.verdicts, "properties": {k: p.to_dict() for k, p in self.properties.items()},
                "cost": self.cost}

    def to_json(self, **kwargs) -> str:
        """The card (without the plot's curves) as JSON; ``kwargs`` go to :func:`json.dumps`."""
        kwargs.setdefault("indent", 2)
        return json.dumps(_jsonable(self.to_dict()), ensure_ascii=False, **kwargs)

    def to_markdown(self, image: str | None = None) -> str:
        """A markdown page: the settings, a table of verdicts, evidence and methods, the cost;
        ``image`` (a relative path to the PNG of :meth:`plot`) is embedded when given."""
        s = self.settings
        md = [f"# Loss card: `{self.name}`", "",
              f"kind **{self.kind}**; preset `{s.get('preset')}`, seed {s.get('seed')}, "
              f"prediction domain {s.get('domain')}, target domain {s.get('target_domain')}"
              + (f"; hyper-parameters `{s.get('hyper')}`" if s.get("hyper") else "") + ".", ""]
        if self.statistic:
            md += [f"The minimiser of the expected loss recovers: **{self.statistic}**.", ""]
        md += ["| property | verdict | evidence | how it was tested |", "|---|---|---|---|"]
        for n, p in self.properties.items():
            md.append(f"| {n} | {p.verdict} | {_md(p.evidence)} | {_md(p.method)} |")
        cost = self._cost_line()
        md += ["", cost[:1].upper() + cost[1:] + ".", ""]
        md += ["Verdicts are numerical probes on sampled points (see `docs/auditing-a-loss.md`), not proofs.", ""]
        if image:
            md += [f"![sensitivity and gradient profiles of {self.name}]({image})", ""]
        return "\n".join(md)

    def plot(self, path=None):
        """Draw the loss, its gradient magnitude over the prediction range and its
        sensitivity profile (by target region or by class/item rank); saves to ``path``
        when given. Returns the matplotlib ``Figure`` (matplotlib is imported here)."""
        from . import plots

        fig, axes = plots.new_figure(1, 3, width=3.6, height=2.9)
        pr = self.profiles
        ax = axes[0][0]
        if "loss_x" in pr:
            for label, ys in pr["loss_y"].items():
                ax.plot(pr["loss_x"], ys, label=label)
            ax.set_xlabel(pr.get("loss_xlabel", "prediction"))
            ax.set_title("loss", fontsize=9)
            ax.legend(fontsize=6)
        ax = axes[0][1]
        if "grad_x" in pr:
            for label, ys in pr["grad_y"].items():
                ax.plot(pr["grad_x"], ys, label=label)
            ax.set_xlabel(pr.get("loss_xlabel", "prediction"))
            ax.set_title("|gradient| over the prediction range", fontsize=9)
            ax.legend(fontsize=6)
        ax = axes[0][2]
        if "sens_x" in pr:
            if pr.get("sens_bar"):
                ax.bar([str(x) for x in pr["sens_x"]], pr["sens_y"])
            elif isinstance(pr["sens_y"], dict):  # one curve per rank: ranking sensitivity is their gap
                for label, ys in pr["sens_y"].items():
                    ax.plot(pr["sens_x"], ys, label=label)
                ax.set_yscale("symlog", linthresh=1e-3)
                ax.legend(fontsize=6)
            else:
                ax.plot(pr["sens_x"], pr["sens_y"])
            ax.set_xlabel(pr.get("sens_xlabel", ""))
            ax.set_title(pr.get("sens_title", "sensitivity"), fontsize=9)
        for a in axes[0]:
            if not a.has_data():
                a.text(0.5, 0.5, "n/a", ha="center", va="center", transform=a.transAxes)
        fig.suptitle(f"{self.name} ({self.kind})", fontsize=10)
        return plots.save(fig, path)


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _jsonable(x):
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    return repr(x)


def properties_table(cards: list[LossCard], columns=PROPERTIES) -> str:
    """One markdown table, a row per card: each property's verdict, the recovered
    statistic and the time ratio to cross-entropy (a ``docs/properties.md`` table)."""
    short = {"holds": "✓", "fails": "✗", "n/a": "–", "inconclusive": "?"}
    head = "| loss | kind | " + " | ".join(columns) + " | recovers | time vs CE |"
    rows = [head, "|" + "---|" * (len(columns) + 4)]
    for c in cards:
        cells = [short[c.properties[p].verdict] for p in columns]
        t = c.cost.get("time_ratio")
        rows.append(f"| `{c.name}` | {c.kind} | " + " | ".join(cells)
                    + f" | {_md(c.statistic or '–')} | {'–' if t is None else f'x{t:.2g}'} |")
    return "\n".join(rows)


# ====================================================================== the subject


@dataclass
class _Subject:
    name: str
    kind: str
    fn: Callable[..., torch.Tensor]  # fn(input, target, **kw)
    domain: tuple[float, float]
    target_domain: tuple[float, float]
    spec: Any = None
    link: Any = None  # the matching link h (Prop. 1 statistic), when known
    binary: bool = False
    label_values: tuple = (0.0, 1.0)  # binary: (negative, positive) label
    targets: str = "labels"  # classification: "labels" or "probs"
    log_input: bool = False  # the prediction is a log-rate (exp link)
    hyper: dict = field(default_factory=dict)
    none_ok: bool | None = None
    vlink: Any = None  # scores: the multi-class link z [..., K] -> h(z) [..., K], when known
    scaling: Any = None  # scores: the composite Softmax scaling q and its γ, when known
    gamma: float = 1.0


def _lookup_spec(loss):
    from . import registry

    for s in registry.specs():
        if s.fn is loss:
            return s
    return None


def _bind_registered(spec) -> tuple[Callable, dict, Any]:
    """The spec's function with the hyper-parameters it is audited with: the signature's
    defaults, the registry sample's values for arguments without a default (a link, a
    scaling), and :data:`_AUDIT_KWARGS`."""
    g = torch.Generator().manual_seed(0)
    sample = spec.sample((2,), dtype=torch.float64, generator=g)
    sig = inspect.signature(spec.fn)
    params = list(sig.parameters.values())
    extra = []
    for p, a in zip(params[2:], sample.args[2:]):
        if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            extra.append(a)
        else:
            break  # an optional positional (a ranking mask): leave it at its default
    kwargs = {k: v for k, v in sample.kwargs.items()
              if k in sig.parameters and sig.parameters[k].default is inspect.Parameter.empty}
    kwargs.update(_AUDIT_KWARGS.get(spec.name, {}))
    hyper = {**{params[2 + i].name: a for i, a in enumerate(extra)}, **kwargs}
    fn = spec.fn

    def bound(x, t, **kw):
        return fn(x, t, *extra, **{**kwargs, **kw})

    return bound, hyper, _links_of(spec, hyper)


def _links_of(spec, hyper: dict) -> dict:
    """The link a registered matching loss is proper for (seed 000 Prop. 1), from its
    hyper-parameters: ``link`` (scalar h), ``vlink`` (multi-class h, eq. C.5), ``scaling``
    and ``gamma``; ``{}`` for other losses or when the hyper-parameters are not given."""
    from .links import Link

    name = getattr(spec, "name", None)
    gamma = hyper.get("gamma", 1.0)
    if name in ("matching_loss", "decomposed_matching_loss") and isinstance(hyper.get("link"), Link):
        h = hyper["link"]
        return {"link": h, "vlink": h if name == "decomposed_matching_loss" else None}
    if name in ("composite_sigmoid_loss", "composite_softmax_loss") and isinstance(hyper.get("scaling"), Link):
        from .matching import composite_sigmoid_link, composite_softmax_link

        q = hyper["scaling"]
        if name == "composite_sigmoid_loss":
            return {"link": composite_sigmoid_link(q, gamma), "scaling": q, "gamma": gamma}
        dim = hyper.get("dim", -1)
        return {"vlink": lambda z: composite_softmax_link(z, q, gamma=gamma, dim=dim), "scaling": q, "gamma": gamma}
    return {}


def _subject(loss, kind, domain) -> _Subject:
    from . import registry
    from .analysis import _check_domain_arg

    spec = None
    if isinstance(loss, str):
        try:
            spec = registry.get(loss)
        except KeyError as e:
            raise ValueError(f"loss: {e.args[0]}") from None
    elif callable(loss):
        spec = _lookup_spec(loss)
        wrapped = None if spec is not None else _resolve_wrapper(loss)
        if wrapped is not None:
            spec = wrapped[0]
    else:
        raise TypeError(f"loss must be a callable (input, target, **kw) -> loss or a registered name; "
                        f"got {type(loss).__name__}")
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS} (or None for a registered loss); got {kind!r}")
    if domain is not None:
        domain = _check_domain_arg(domain)
    if spec is None:
        if kind is None:
            name = getattr(loss, "__name__", type(loss).__name__)
            raise ValueError(f"kind is required for a loss that is not registered ({name!r}): pass "
                             f"kind='regression', 'classification', 'ranking' or 'scores'")
        name = getattr(loss, "__name__", None) or getattr(getattr(loss, "func", None), "__name__", None) \
            or type(loss).__name__
        dom = domain or _DEFAULT_DOMAIN
        return _Subject(name=str(name), kind=kind, fn=loss, domain=dom, target_domain=dom)
    inferred = _NAME_KIND.get(spec.name) or _FAMILY_KIND.get(spec.family, "other")
    kind = kind or inferred
    name = spec.name
    if isinstance(loss, str) or spec.fn is loss or kind == "other":
        fn, hyper, links = _bind_registered(spec) if kind != "other" else (spec.fn, {}, {})
    else:  # a module, partial or alias of a registered loss: audit it with its own hyper-parameters
        _, fn, hyper, name = wrapped
        links = _links_of(spec, hyper)
    dom, tdom = _DOMAINS.get(spec.name, (_DEFAULT_DOMAIN, _DEFAULT_DOMAIN))
    if domain is not None:
        dom = tdom = domain
    sub = _Subject(name=name, kind=kind, fn=fn, domain=dom, target_domain=tdom, spec=spec, hyper=hyper,
                   **{k: v for k, v in links.items() if v is not None})
    if spec.name in _BINARY:
        sub.binary = True
        g = torch.Generator().manual_seed(0)
        t = spec.sample((8,), dtype=torch.float64, generator=g).args[1]
        sub.label_values = (-1.0, 1.0) if bool((t < 0).any()) else (0.0, 1.0)
    if spec.name == "kl_divergence":
        sub.targets = "probs"
    if spec.name == "poisson_nll":
        sub.log_input = True
    return sub


# ===================================================================== evaluation


def _event_shape(sub: _Subject) -> tuple:
    if sub.kind == "regression" or sub.binary:
        return ()
    return (_L,) if sub.kind == "ranking" else (_K,)


def _check_out(sub, out, batch) -> torch.Tensor:
    if not isinstance(out, torch.Tensor):
        raise _Inconclusive(f"the loss returned {type(out).__name__}, not a tensor")
    if tuple(out.shape) != tuple(batch):
        raise _Inconclusive(f"the loss returned {tuple(out.shape)} for reduction='none' on a batch of shape "
                            f"{tuple(batch)}")
    return out


def _losses(sub: _Subject, x: torch.Tensor, t: torch.Tensor, *, check_finite: bool = True) -> torch.Tensor:
    """Per-example losses ``[B]`` of ``x [B, *event]`` against ``t [B, ...]``: the loss's
    ``reduction='none'``, or one call per example when the callable takes no ``reduction``."""
    batch = x.shape[: x.dim() - len(_event_shape(sub))]
    if sub.none_ok is not False:
        try:
            out = sub.fn(x, t, reduction="none")
            sub.none_ok = True
        except TypeError as e:
            if "reduction" not in str(e) or sub.none_ok:
                raise _Inconclusive(f"the loss raised TypeError: {_short(e)}") from None
            sub.none_ok = False
        except _Inconclusive:
            raise
        except Exception as e:  # the user's loss may raise anything on a sampled input
            raise _Inconclusive(f"the loss raised {type(e).__name__} on sampled inputs: {_short(e)}") from None
    if sub.none_ok:
        out = _check_out(sub, out, batch)
    else:
        rows = []
        for i in range(x.shape[0]):
            try:
                v = sub.fn(x[i:i + 1], t[i:i + 1])
            except Exception as e:
                raise _Inconclusive(f"the loss raised {type(e).__name__} on sampled inputs: {_short(e)}") from None
            if not isinstance(v, torch.Tensor) or v.numel() != 1:
                shape = tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
                raise _Inconclusive(f"the loss returned {shape} for one example, not a scalar")
            rows.append(v.reshape(()))
        out = torch.stack(rows)
    if check_finite and not bool(torch.isfinite(out).all()):
        i = int((~torch.isfinite(out)).nonzero()[0])
        raise _Inconclusive(f"the loss is {out[i].item()} at input {_pt(x[i])}, target {_pt(t[i])}")
    return out


def _short(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text[:160] + ("..." if len(text) > 160 else "")


def _pt(x) -> str:
    if isinstance(x, torch.Tensor):
        x = x.detach().double().reshape(-1).tolist()
    if isinstance(x, (list, tuple)):
        return "(" + ", ".join(f"{v:.3g}" for v in x) + ")" if len(x) != 1 else f"{x[0]:.4g}"
    return f"{x:.4g}"


def _uniform(shape, lo, hi, g) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(*shape, dtype=torch.float64, generator=g)


def _targets(sub: _Subject, n: int, g) -> torch.Tensor:
    """Typical targets for ``n`` examples."""
    lo, hi = sub.target_domain
    if sub.kind == "regression":
        return _uniform((n,), lo, hi, g)
    if sub.kind == "ranking":
        return torch.randint(0, _GRADES, (n, _L), generator=g).double()
    if sub.kind == "scores":
        return _uniform((n, _K), lo, hi, g)
    if sub.binary:
        neg, pos = sub.label_values
        return torch.where(torch.rand(n, generator=g) < 0.5, torch.tensor(neg), torch.tensor(pos)).double()
    labels = torch.randint(0, _K, (n,), generator=g)
    return _label_target(sub, labels)


def _label_target(sub: _Subject, labels: torch.Tensor) -> torch.Tensor:
    if sub.binary:
        neg, pos = sub.label_values
        return torch.where(labels > 0, torch.tensor(pos), torch.tensor(neg)).double()
    if sub.targets == "probs":
        return torch.nn.functional.one_hot(labels, _K).double()
    return labels


def _inputs(sub: _Subject, n: int, g) -> torch.Tensor:
    lo, hi = sub.domain
    return _uniform((n, *_event_shape(sub)), lo, hi, g)


# ============================================================================ probes


def _na(name, why) -> Property:
    return Property(name, "n/a", why)


def _probe(name: str, fn, *args) -> Property:
    try:
        return fn(*args)
    except _Inconclusive as e:
        return Property(name, "inconclusive", str(e))
    except Exception as e:  # a probe must never crash the audit
        return Property(name, "inconclusive", f"{type(e).__name__}: {_short(e)}")


def _batch_sum(sub, x, t):
    """The summed loss of a small batch (``reduction='sum'``; the default reduction for a
    callable without one): defined for batch losses too, which have no per-example form."""
    try:
        out = sub.fn(x, t, reduction="sum")
    except TypeError as e:
        if "reduction" not in str(e):
            raise
        out = sub.fn(x, t)
    if not isinstance(out, torch.Tensor) or out.numel() != 1:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise _Inconclusive(f"the loss returned {shape} for reduction='sum', not a scalar")
    return out.reshape(())


def _one(sub, x_pair, t_pair):
    """The summed loss of a batch of two examples as a function of their predictions."""

    def f(z):
        return _batch_sum(sub, z, t_pair)

    return f


def _pair_losses(sub, a, b, t):
    """Per-pair summed losses of the batches ``(a_i, b_i)`` with targets ``(t_i, t_i)``:
    vectorised through ``reduction='none'`` where the loss has it."""
    try:
        return _losses(sub, a, t) + _losses(sub, b, t)
    except _Inconclusive:
        if sub.none_ok:
            raise
    out = []
    for i in range(a.shape[0]):
        try:
            out.append(_batch_sum(sub, torch.stack([a[i], b[i]]), torch.stack([t[i], t[i]])))
        except _Inconclusive:
            raise
        except Exception as e:
            raise _Inconclusive(f"the loss raised {type(e).__name__} on sampled inputs: {_short(e)}") from None
    return torch.stack(out)


def _hessian(f, z: torch.Tensor) -> tuple[torch.Tensor, str]:
    """The Hessian of scalar ``f`` at ``z`` (flattened): ``torch.func.hessian``, else central
    differences of the autograd gradient (custom autograd Functions without forward AD)."""
    n = z.numel()
    try:
        from torch.func import hessian

        H = hessian(lambda v: f(v.reshape(z.shape)))(z.reshape(-1).clone())
        H = H.reshape(n, n)
        if bool(torch.isfinite(H).all()):
            return H, "torch.func.hessian"
    except Exception:
        pass

    def grad(v):
        v = v.detach().clone().requires_grad_(True)
        (gv,) = torch.autograd.grad(f(v.reshape(z.shape)), v)
        return gv

    eps = 1e-5 * max(1.0, float(z.abs().max()))
    base = z.reshape(-1).detach()
    cols = []
    for i in range(n):
        e = torch.zeros_like(base)
        e[i] = eps
        cols.append((grad(base + e) - grad(base - e)) / (2 * eps))
    H = torch.stack(cols, 1)
    return (H + H.T) / 2, "central differences of the gradient"


def _prop_convex(sub: _Subject, cfg, g) -> tuple[Property, Property]:
    """Min eigenvalue of the Hessian in the prediction at sampled points, and a midpoint
    (Jensen) check on random pairs, which also sees kinks the Hessian misses."""
    n = cfg["points"]
    x, t = _inputs(sub, 2 * n, g), _targets(sub, 2 * n, g)
    try:
        _batch_sum(sub, x[:2], t[:2])
    except _Inconclusive:
        raise
    except Exception as e:
        raise _Inconclusive(f"the loss raised {type(e).__name__} on sampled inputs: {_short(e)}") from None
    worst, worst_eig, method, scale_at = None, math.inf, None, 1.0
    for i in range(n):
        xi, ti = x[2 * i:2 * i + 2], t[2 * i:2 * i + 2]
        try:
            H, method = _hessian(_one(sub, xi, ti), xi.clone())
        except _Inconclusive:
            raise
        except Exception as e:
            raise _Inconclusive(f"the loss raised {type(e).__name__} on sampled inputs: {_short(e)}") from None
        if not bool(torch.isfinite(H).all()):
            raise _Inconclusive(f"the Hessian is not finite (nan/inf) at input {_pt(xi)}")
        eig = torch.linalg.eigvalsh((H + H.T) / 2)
        scale = max(1.0, float(eig.abs().max()))
        if worst is None or float(eig[0]) / scale < worst_eig / max(scale_at, 1.0):
            worst, worst_eig, scale_at = i, float(eig[0]), scale
    tol = 1e-8 if method == "torch.func.hessian" else 1e-5
    hess_ok = worst_eig >= -tol * scale_at
    # Jensen on pairs with the same target.
    m = cfg["pairs"]
    a, b = _inputs(sub, m, g), _inputs(sub, m, g)
    tt = _targets(sub, m, g)
    c, d = _inputs(sub, m, g), _inputs(sub, m, g)
    # Each example is a batch of two, (a, c) and (b, d): batch losses are judged as a whole.
    la, lb = _pair_losses(sub, a, c, tt), _pair_losses(sub, b, d, tt)
    lm = _pair_losses(sub, (a + b) / 2, (c + d) / 2, tt)
    excess = lm - (la + lb) / 2
    rel = excess / (la.abs() + lb.abs() + 1.0)
    j = int(rel.argmax())
    jensen_ok = float(rel[j]) <= 1e-9
    wx, wt = x[2 * worst:2 * worst + 2], t[2 * worst:2 * worst + 2]
    how = (f"min eigenvalue of the Hessian in the predictions of a batch of 2 ({method}, float64) at {n} points "
           f"in {sub.domain}; midpoint (Jensen) inequality on {m} random pairs")
    if hess_ok and jensen_ok:
        convex = Property("convex", "holds", f"min Hessian eigenvalue {worst_eig:.3g} at {_pt(wx)}; "
                          "no midpoint violation", how, worst_eig, wx.reshape(-1).tolist())
    elif not hess_ok:
        convex = Property("convex", "fails", f"Hessian eigenvalue {worst_eig:.3g} < 0 at inputs {_pt(wx)}, "
                          f"targets {_pt(wt)}", how, worst_eig, wx.reshape(-1).tolist())
    else:
        convex = Property("convex", "fails", f"L(midpoint) exceeds the chord by {float(excess[j]):.3g} between "
                          f"{_pt(a[j])} and {_pt(b[j])} (target {_pt(tt[j])})", how, float(excess[j]),
                          a[j].reshape(-1).tolist())
    if convex.verdict == "holds":
        return convex, Property("quasi_convex", "holds", "convex, hence quasi-convex", how)
    # Quasi-convexity: L(λa + (1-λ)b) <= max(L(a), L(b)) on the same pairs, λ in a grid. One
    # example at a time where the loss has a per-example form: a sum of quasi-convex
    # functions need not be quasi-convex.
    single = bool(sub.none_ok)
    if single:
        la, lb = _losses(sub, a, tt), _losses(sub, b, tt)
    worst_q, at = -math.inf, None
    for lam in (0.1, 0.25, 0.5, 0.75, 0.9):
        lc = _losses(sub, lam * a + (1 - lam) * b, tt) if single else \
            _pair_losses(sub, lam * a + (1 - lam) * b, lam * c + (1 - lam) * d, tt)
        ex = (lc - torch.maximum(la, lb)) / (la.abs() + lb.abs() + 1.0)
        k = int(ex.argmax())
        if float(ex[k]) > worst_q:
            worst_q, at = float(ex[k]), (lam, k)
    qhow = f"L(λa+(1-λ)b) <= max(L(a), L(b)) on {m} random pairs, λ in {{0.1, 0.25, 0.5, 0.75, 0.9}}"
    if worst_q <= 1e-9:
        return convex, Property("quasi_convex", "holds", f"largest relative excess {worst_q:.2g}", qhow, worst_q)
    lam, k = at
    return convex, Property("quasi_convex", "fails", f"relative excess {worst_q:.3g} at λ={lam} between "
                            f"{_pt(a[k])} and {_pt(b[k])}", qhow, worst_q, a[k].reshape(-1).tolist())


# ---------------------------------------------------------------- properness


def _weighted_quantile(support, weights, tau):
    order = torch.argsort(support)
    s, w = support[order], weights[order]
    cdf = torch.cumsum(w, 0) / w.sum()
    i = int(torch.searchsorted(cdf, torch.tensor(tau - 1e-12, dtype=cdf.dtype)))
    return float(s[min(i, len(s) - 1)])


def _minimise_scalar(sub, support, weights, lo, hi, grid, targets_of=None):
    """argmin over z in [lo, hi] of Σ_j w_j L(z, s_j): a grid, then three zooms (works for
    non-smooth and non-convex losses)."""
    n = support.shape[0]
    tj = support if targets_of is None else targets_of
    for _ in range(4):
        z = torch.linspace(lo, hi, grid, dtype=torch.float64)
        x = z.repeat_interleave(n)
        t = tj.repeat(grid) if tj.dim() == 1 else tj.repeat(grid, *([1] * (tj.dim() - 1)))
        L = _losses(sub, x, t).reshape(grid, n) @ weights
        i = int(L.argmin())
        step = (hi - lo) / (grid - 1)
        edge = i in (0, grid - 1)
        lo, hi = float(z[i]) - 2 * step, float(z[i]) + 2 * step
    return float(z[i]), edge


def _prop_proper_regression(sub, cfg, g):
    M, n = cfg["reg_dists"], 5
    lo, hi = sub.target_domain
    span = hi - lo
    zs, means, supports, weights, edges = [], [], [], [], 0
    for _ in range(M):
        s = _uniform((n,), lo, hi, g)
        w = -torch.log(torch.rand(n, dtype=torch.float64, generator=g))  # Dirichlet(1) after normalising
        w = w / w.sum()
        zlo, zhi = sub.domain
        zlo, zhi = min(zlo, lo) - 0.1 * span, max(zhi, hi) + 0.1 * span
        if sub.domain[0] >= 0:
            zlo = max(zlo, sub.domain[0])
        z, edge = _minimise_scalar(sub, s, w, zlo, zhi, cfg["grid"])
        edges += edge
        zs.append(z), supports.append(s), weights.append(w), means.append(float((w * s).sum()))
    z = torch.tensor(zs, dtype=torch.float64)
    tol = 2e-3 * span
    how = (f"argmin of Σ_j w_j L(z, s_j) by grid search and zoom, over {M} random 5-point target "
           f"distributions on {sub.target_domain}; compared with the mean, the loss's link statistic "
           "h⁻¹(E h(S)) (seed 000 Prop. 1), the median and quantiles")
    cands = []
    if sub.link is not None:
        from .analysis import proper_prediction

        try:
            stat = torch.stack([proper_prediction(sub.link, s, w) for s, w in zip(supports, weights)])
            cands.append(("h⁻¹(E h(S)) of its link (seed 000 Prop. 1)", stat, True))
        except Exception:
            pass
    mean = torch.tensor(means, dtype=torch.float64)
    if sub.log_input:
        cands.append(("mean, through exp (the prediction is a log-rate)", torch.log(mean.clamp_min(1e-300)), True))
    cands.append(("mean", mean, True))
    if lo >= 0:
        geo = torch.stack([torch.expm1((w * torch.log1p(s)).sum()) for s, w in zip(supports, weights)])
        cands.append(("expm1(E log1p S) (a log1p link)", geo, False))
    taus = [round(0.05 * k, 2) for k in range(1, 20)]
    qs = {tau: torch.tensor([_weighted_quantile(s, w, tau) for s, w in zip(supports, weights)]) for tau in taus}
    ok_taus = [tau for tau in taus if float((qs[tau] - z).abs().max()) <= tol]
    for label, stat, proper in cands:
        err = float((stat - z).abs().max())
        if err <= tol:
            ev = f"minimiser matches the {label} (max deviation {err:.2g}) over {M} distributions"
            return Property("proper", "holds" if proper else "fails", ev + ("" if proper else "; not the mean"),
                            how, err), label
    err_mean = float((mean - z).abs().max())
    k = int((mean - z).abs().argmax())
    if edges:
        return Property("proper", "fails", f"the minimiser sits on the edge of the search interval for {edges} of "
                        f"{M} distributions (no finite minimiser inside)", how, err_mean), None
    if ok_taus:
        mid = round(20 * (ok_taus[0] + ok_taus[-1]) / 2) / 20  # the consistent τ interval's middle
        label = "median" if mid == 0.5 else f"quantile {mid:g}"
        return Property("proper", "fails", f"minimiser is the {label}, not the mean (|z - mean| up to {err_mean:.3g}, "
                        f"e.g. z = {zs[k]:.4g} vs mean {means[k]:.4g})", how, err_mean), label
    return Property("proper", "fails", f"minimiser z = {zs[k]:.4g} vs mean {means[k]:.4g}: deviation {err_mean:.3g}; "
                    "matches no mean, link statistic or quantile", how, err_mean), None


def _expected_loss_min(sub, targets, weights, dim, g, *, iters=200):
    """argmin over z in R^dim of Σ_j w_j L(z, t_j) (L-BFGS, float64, from a small random start)."""
    n = targets.shape[0]
    z = (0.1 * torch.randn(dim, dtype=torch.float64, generator=g)).requires_grad_(True)
    opt = torch.optim.LBFGS([z], lr=1.0, max_iter=iters, tolerance_grad=1e-11, tolerance_change=1e-14,
                            history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        x = z.unsqueeze(0).expand(n, dim)
        v = (_losses(sub, x, targets) * weights).sum()
        v.backward()
        return v

    opt.step(closure)
    opt.step(closure)
    zz = z.detach()
    if not bool(torch.isfinite(zz).all()):
        raise _Inconclusive("the minimisation of the expected loss diverged (non-finite logits)")
    return zz


def _maps(z, sub=None):
    """Prediction maps from logits to probabilities: a proper loss recovers p through one."""
    from .fenchel_young import entmax15, entmax_bisect, sparsemax

    out = {"softmax probabilities": torch.softmax(z, -1), "sigmoid probabilities (one-vs-all)": torch.sigmoid(z),
           "sparsemax probabilities": sparsemax(z.unsqueeze(0)).squeeze(0),
           "1.5-entmax probabilities": entmax15(z.unsqueeze(0)).squeeze(0)}
    if sub is not None and sub.name == "entmax_bisect_loss":
        a = sub.hyper.get("alpha", inspect.signature(sub.spec.fn).parameters["alpha"].default)
        out[f"{a:g}-entmax probabilities"] = entmax_bisect(z.unsqueeze(0), alpha=a).squeeze(0)
    return out


def _random_distribution(K, g):
    while True:
        e = -torch.log(torch.rand(K, dtype=torch.float64, generator=g))
        p = 0.7 * e / e.sum() + 0.3 / K
        top = torch.topk(p, 2).values
        if float(top[0] - top[1]) > 0.05:
            return p


def _prop_proper_classification(sub, cfg, g):
    M = cfg["dists"]
    how_cal = f"argmax of the minimiser vs argmax of the distribution, {M} random distributions"
    if sub.binary:
        neg, pos = sub.label_values
        zs, ps = [], []
        for _ in range(M):
            while True:
                p = float(0.1 + 0.8 * torch.rand((), dtype=torch.float64, generator=g))
                if abs(p - 0.5) > 0.05:
                    break
            tj = torch.tensor([neg, pos], dtype=torch.float64)
            z, edge = _minimise_scalar(sub, tj, torch.tensor([1 - p, p], dtype=torch.float64), -30.0, 30.0,
                                       cfg["grid"])
            zs.append(z), ps.append(p)
        z, p = torch.tensor(zs), torch.tensor(ps, dtype=torch.float64)
        how = (f"argmin over the score of p L(z, +) + (1-p) L(z, -) by grid search on [-30, 30] for {M} random p; "
               "σ(z) compared with p")
        err = float((torch.sigmoid(z) - p).abs().max())
        proper = Property("proper", "holds" if err <= 2e-3 else "fails",
                          f"max |σ(z*) - p| = {err:.3g} (e.g. p = {ps[0]:.3g}, z* = {zs[0]:.4g})", how, err)
        bad = int(((z > 0) != (p > 0.5)).sum())
        cal = Property("classification_calibrated", "holds" if bad == 0 else "fails",
                       f"sign(z*) = sign(p - 1/2) for {M - bad} of {M} distributions", how_cal, float(bad))
        return proper, cal, ("sigmoid probability" if err <= 2e-3 else None)
    zs, ps = [], []
    labels = torch.arange(_K)
    targets = _label_target(sub, labels)
    for _ in range(M):
        p = _random_distribution(_K, g)
        zs.append(_expected_loss_min(sub, targets, p, _K, g)), ps.append(p)
    how = (f"argmin over logits z in R^{_K} of Σ_k p_k L(z, k) (L-BFGS, float64) for {M} random distributions p; "
           "softmax / sigmoid / sparsemax / entmax of the minimiser compared with p")
    best, label = math.inf, None
    for name in _maps(zs[0], sub):
        err = max(float((_maps(z, sub)[name] - p).abs().max()) for z, p in zip(zs, ps))
        if err < best:
            best, label = err, name
    diverged = max(float(z.abs().max()) for z in zs) > 1e3
    if best <= 2e-3:
        proper = Property("proper", "holds", f"the {label} of the minimiser equal p (max deviation {best:.2g})", how,
                          best)
    else:
        z0, p0 = zs[0], ps[0]
        ev = (f"best map ({label}) deviates from p by {best:.3g}; e.g. p = {_pt(p0)}, softmax(z*) = "
              f"{_pt(torch.softmax(z0, -1))}" + ("; the minimiser runs off to infinity" if diverged else ""))
        proper = Property("proper", "fails", ev, how, best, z0.tolist())
        label = None
    bad = [i for i, (z, p) in enumerate(zip(zs, ps)) if int(z.argmax()) != int(p.argmax())]
    if bad:
        i = bad[0]
        cal = Property("classification_calibrated", "fails", f"argmax z* = {int(zs[i].argmax())} but argmax p = "
                       f"{int(ps[i].argmax())} for p = {_pt(ps[i])}", how_cal, float(len(bad)), ps[i].tolist())
    else:
        cal = Property("classification_calibrated", "holds", f"argmax preserved for {M} of {M} distributions",
                       how_cal, 0.0)
    return proper, cal, label


def _prop_ranking_calibrated(sub, cfg, g):
    M = cfg["dists"]
    how = (f"argmin over scores of Σ_j w_j L(s, g_j) over 4 random grade vectors per list (L-BFGS), {M} lists; "
           "order of the minimiser vs order of the expected grade E g and gain E (2^g - 1)")
    mism = 0
    first = None
    for _ in range(M):
        while True:
            grades = torch.randint(0, _GRADES, (4, _L), generator=g).double()
            w = -torch.log(torch.rand(4, dtype=torch.float64, generator=g))
            w = w / w.sum()
            eg = w @ grades
            gain = w @ (2 ** grades - 1)
            d = torch.sort(eg).values.diff().min()
            dg = torch.sort(gain).values.diff().min()
            if float(d) > 0.05 and float(dg) > 0.05:
                break
        z = _expected_loss_min(sub, grades, w, _L, g)
        o = torch.argsort(z)
        if not (torch.equal(o, torch.argsort(eg)) or torch.equal(o, torch.argsort(gain))):
            mism += 1
            first = first or (z, eg)
    if mism:
        z, eg = first
        return Property("ranking_calibrated", "fails", f"{mism} of {M} lists misordered; e.g. scores {_pt(z)} for "
                        f"expected grades {_pt(eg)}", how, float(mism))
    return Property("ranking_calibrated", "holds", f"the minimiser orders all {M} lists by expected grade or gain",
                    how, 0.0)


# ---------------------------------------------------------------- PoLS


def _prop_pols(sub, cfg):
    from .pols import COUNTER_EXAMPLES, counter_example, logit_separation, pols_alignment

    if sub.kind != "classification" or sub.binary or sub.targets != "labels":
        return _na("pols_aligned", "PoLS is defined for multi-class logits with integer labels (seed 001)")

    def loss(z, y):
        out = sub.fn(z, y)
        if isinstance(out, torch.Tensor) and out.dim() == 1:
            out = out.mean()
        return out

    probe = pols_alignment(loss, steps=cfg["pols_steps"], num_classes=3)
    how = (f"seed 001 probe (ll.analysis.pols_alignment, {cfg['pols_steps']} steps): minimise over free logits, "
           "then with one PoLS violation imposed; aligned iff the loss must rise")
    ev = (f"gap {probe.gap:.3g} (free {probe.unconstrained_loss:.3g}, with a violation {probe.constrained_loss:.3g}); "
          f"separation at near-infimum {probe.separation.fraction:.3g}")
    if sub.spec is not None and sub.name in COUNTER_EXAMPLES:
        z, y = counter_example(sub.name, 20.0)
        v = float(loss(z, y))
        ev += (f"; Sect. 3 counter-example at α=20: loss {v:.3g} with separation "
               f"{logit_separation(z, y).fraction:.3g}")
    return Property("pols_aligned", "holds" if probe.aligned else "fails", ev, how, probe.gap)


# ---------------------------------------------------------------- invariances


def _rel_change(a, b) -> tuple[float, int]:
    d = (a - b).abs() / (a.abs() + b.abs() + 1e-12)
    i = int(d.argmax())
    return float(d[i]), i


def _invariance(name, sub, x, t, x2, t2, how, what):
    a, b = _losses(sub, x, t), _losses(sub, x2, t2)
    d, i = _rel_change(a, b)
    if d <= 1e-6:
        return Property(name, "holds", f"largest relative change {d:.2g} {what}", how, d)
    return Property(name, "fails", f"loss {a[i].item():.4g} -> {b[i].item():.4g} {what} at input {_pt(x[i])}",
                    how, d, x[i].reshape(-1).tolist())


def _prop_invariances(sub, cfg, g):
    n = cfg["points"] * 2
    x, t = _inputs(sub, n, g), _targets(sub, n, g)
    out = {}
    if sub.kind == "regression":
        c = 0.37 * (sub.domain[1] - sub.domain[0])
        out["shift_invariant"] = _probe("shift_invariant", _invariance, "shift_invariant", sub, x, t, x + c, t + c,
                                        f"L(z + c, s + c) vs L(z, s), c = {c:g}, {n} points", f"under z, s += {c:g}")
        out["scale_invariant"] = _probe("scale_invariant", _invariance, "scale_invariant", sub, x, t, 2 * x, 2 * t,
                                        f"L(2z, 2s) vs L(z, s), {n} points", "under z, s *= 2")
        out["permutation_invariant"] = _na("permutation_invariant", "a scalar prediction has no classes to permute")
        if sub.log_input or tuple(sub.domain) != tuple(sub.target_domain):
            out["symmetric"] = _na("symmetric", "prediction and target live on different domains")
        else:
            out["symmetric"] = _probe("symmetric", _invariance, "symmetric", sub, x, t, t, x,
                                      f"L(s, z) vs L(z, s), {n} points", "when input and target swap")
        return out
    if sub.kind == "scores":
        return _invariances_scores(sub, x, t, n, g)
    if sub.kind == "classification" and sub.binary:
        for k, why in (("shift_invariant", "one score per example"), ("scale_invariant", "one score per example"),
                       ("permutation_invariant", "one score per example")):
            out[k] = _na(k, f"a binary classifier has {why}")
        out["symmetric"] = _na("symmetric", "input (scores) and target (labels) are different things")
        return out
    what = "logits" if sub.kind == "classification" else "scores of a list"
    out["shift_invariant"] = _probe("shift_invariant", _invariance, "shift_invariant", sub, x, t, x + 2.5, t,
                                    f"L(z + c·1, y) vs L(z, y) for all {what}, c = 2.5, {n} points", "under z += 2.5")
    out["scale_invariant"] = _probe("scale_invariant", _invariance, "scale_invariant", sub, x, t, 2 * x, t,
                                    f"L(2z, y) vs L(z, y), {n} points", "under z *= 2")
    dim = x.shape[-1]
    perm = torch.randperm(dim, generator=g)
    if sub.kind == "classification" and sub.targets == "labels":
        inv = torch.argsort(perm)
        t2 = inv[t]
    else:
        t2 = t[:, perm]
    out["permutation_invariant"] = _probe("permutation_invariant", _invariance, "permutation_invariant", sub, x, t,
                                          x[:, perm], t2, f"permute the classes/items of input and target together "
                                          f"({perm.tolist()}), {n} points", "under the permutation")
    out["symmetric"] = _na("symmetric", "input (scores) and target (labels/grades) are different things")
    return out


# ---------------------------------------------------------------- sensitivity and gradients


def _grad_norm(sub, x, t):
    x = x.detach().clone().requires_grad_(True)
    L = _losses(sub, x, t).sum()
    (gx,) = torch.autograd.grad(L, x)
    return gx.reshape(gx.shape[0], -1).norm(dim=1)


def _prop_sensitivity(sub, cfg, g, profiles):
    G = cfg["profile"]
    if sub.kind == "regression":
        lo, hi = sub.target_domain
        span = hi - lo
        s = torch.linspace(lo, hi, G, dtype=torch.float64)
        d = 1e-3 * span
        z = (s + d).clamp(max=sub.domain[1]) if sub.domain[0] >= 0 else s + d
        delta = 2 * _losses(sub, z, s) / (z - s) ** 2
        z = torch.linspace(sub.domain[0], sub.domain[1], G, dtype=torch.float64)
        targets = [lo + 0.25 * span, lo + 0.5 * span, lo + 0.75 * span]
        profiles.update({"loss_x": z.tolist(), "loss_xlabel": "prediction z",
                         "loss_y": {f"s={v:.3g}": _losses(sub, z, torch.full_like(z, v)).tolist() for v in targets},
                         "grad_x": z.tolist(),
                         "grad_y": {f"s={v:.3g}": _grad_norm(sub, z, torch.full_like(z, v)).tolist()
                                    for v in targets},
                         "sens_x": s.tolist(), "sens_y": delta.tolist(), "sens_xlabel": "observed score s",
                         "sens_title": "local sensitivity 2L(s+δ,s)/δ²"})
        ratio = float(delta.max() / delta.min().clamp_min(1e-300))
        i = int(delta.argmax())
        how = f"Δ(s) = 2 L(s+δ, s)/δ², δ = {d:.2g}, on {G} scores in {sub.target_domain} (seed 000 Sect. 2)"
        ev = f"Δ ranges {float(delta.min()):.3g} .. {float(delta.max()):.3g} (max at s = {float(s[i]):.3g})"
        region = Property("region_sensitive", "holds" if ratio > 1.5 else "fails", ev, how, ratio)
        return region, _na("rank_sensitive", "a scalar prediction has no ranks")
    if sub.kind == "scores":
        return _sensitivity_scores(sub, cfg, profiles)
    # margins of the true class / relevant item: the loss and |gradient| as it is under- or over-scored
    m = torch.linspace(-10, 10, G, dtype=torch.float64)
    if sub.kind == "classification" and sub.binary:
        neg, pos = sub.label_values
        x = m
        t = torch.full_like(m, pos)
        region_x = "score z of a positive example"
    else:
        dim = _event_shape(sub)[0]
        x = torch.zeros(G, dim, dtype=torch.float64)
        x[:, 0] = m
        if sub.kind == "classification":
            t = _label_target(sub, torch.zeros(G, dtype=torch.long))
            region_x = "true logit z_y (others 0)"
        else:
            t = torch.zeros(G, dim, dtype=torch.float64)
            t[:, 0] = _GRADES - 1
            region_x = "score of the top-graded item (others 0)"
    profiles.update({"loss_x": m.tolist(), "loss_xlabel": region_x, "loss_y": {"loss": _losses(sub, x, t).tolist()},
                     "grad_x": m.tolist(), "grad_y": {"|grad|": _grad_norm(sub, x, t).tolist()}})
    region = _na("region_sensitive", "see the |gradient| profile over the true logit on the plot; "
                 "region sensitivity is judged for scalar predictions")
    if sub.kind == "classification" and sub.binary:
        return region, _na("rank_sensitive", "a binary classifier has one score")
    # rank sensitivity: diagonal of the Hessian of the expected loss at its own target distribution
    n = cfg["points"]
    dim = _event_shape(sub)[0]
    by_rank = torch.zeros(dim, dtype=torch.float64)
    for _ in range(n):
        z = _uniform((dim,), -3, 3, g)
        if sub.kind == "classification":
            p = torch.softmax(z, -1)
            tj = _label_target(sub, torch.arange(dim))
            w = p
        else:
            tj = torch.randint(0, _GRADES, (4, dim), generator=g).double()
            w = torch.full((4,), 0.25, dtype=torch.float64)

        def F(v):
            return (_losses(sub, v.unsqueeze(0).expand(tj.shape[0], dim), tj) * w).sum()

        H, _ = _hessian(F, z.clone())
        order = torch.argsort(z, descending=True)
        by_rank += H.diagonal()[order].abs() / n
    profiles.update({"sens_x": list(range(1, dim + 1)), "sens_y": by_rank.tolist(), "sens_bar": True,
                     "sens_xlabel": "rank of the class/item score", "sens_title": "mean |∂²E L/∂z_k²| by rank"})
    ratio = float(by_rank.max() / by_rank.min().clamp_min(1e-300))
    how = (f"diagonal of the Hessian of the expected loss (targets drawn from softmax(z) for classes, random "
           f"grades for lists) at {n} random score vectors, averaged by the rank of z_k (seed 000 eq. C.6)")
    rank = Property("rank_sensitive", "holds" if ratio > 1.5 else "fails",
                    "by rank (1 = highest): " + ", ".join(f"{v:.3g}" for v in by_rank.tolist()), how, ratio)
    return region, rank


def _prop_bounded(sub):
    errors = [1.0, 10.0, 100.0, 1000.0]
    rows = []
    for e in errors:
        if sub.kind == "regression":
            lo, hi = sub.target_domain
            s0 = (lo + hi) / 2
            zs = [s0 + e] + ([s0 - e] if sub.domain[0] < 0 else [])
            x = torch.tensor(zs, dtype=torch.float64)
            t = torch.full_like(x, s0)
        elif sub.binary:
            neg, pos = sub.label_values
            x = torch.tensor([-e, e], dtype=torch.float64)
            t = torch.tensor([pos, neg], dtype=torch.float64)
        elif sub.kind in ("classification", "scores"):
            x = torch.zeros(1, _K, dtype=torch.float64)
            x[0, 0], x[0, 1] = -e / 2, e / 2
            t = torch.zeros(1, _K, dtype=torch.float64) if sub.kind == "scores" else \
                _label_target(sub, torch.zeros(1, dtype=torch.long))
        else:
            x = torch.zeros(1, _L, dtype=torch.float64)
            x[0, 0] = -e
            t = torch.zeros(1, _L, dtype=torch.float64)
            t[0, 0] = _GRADES - 1
        if x.shape[0] == 1:  # a batch of two identical examples: batch losses need B > 1
            x, t = torch.cat([x, x]), torch.cat([t, t])
        try:
            xx = x.detach().clone().requires_grad_(True)
            try:
                (gx,) = torch.autograd.grad(_batch_sum(sub, xx, t), xx)
            except _Inconclusive:
                raise
            except Exception as e:
                raise _Inconclusive(f"the loss raised {type(e).__name__} on sampled inputs: {_short(e)}") from None
            rows.append(float(gx.reshape(gx.shape[0], -1).norm(dim=1).max()))
        except _Inconclusive:
            if len(rows) < 3:
                raise
            break  # the loss rejects larger errors (e.g. exp(input) overflows): judge on those reached
    errors = errors[:len(rows)]
    if not all(math.isfinite(r) for r in rows):
        raise _Inconclusive(f"the gradient is not finite at errors {errors}: {rows}")
    ratio = max(rows[1:]) / max(rows[0], 1e-300)
    how = ("|∂L/∂prediction| at errors 1, 10, 100, 1000 (prediction pushed away from the target; for "
           "classes, a wrong logit above the true one; for score vectors, two scores pulled apart around 0 "
           "targets); bounded iff it grows less than 10x over the range")
    ev = "gradient norm " + ", ".join(f"{r:.3g}" for r in rows) + f" at errors {', '.join(f'{e:g}' for e in errors)}"
    return Property("bounded_gradient", "holds" if ratio < 10 * (errors[-1] / 1000) ** 0.5 else "fails", ev, how,
                    ratio)


def _extreme_inputs(sub, g):
    big = 1e4
    if sub.kind == "regression":
        lo, hi = sub.target_domain
        s0 = (lo + hi) / 2
        zs = [big] + ([-big] if sub.domain[0] < 0 else [sub.domain[0]])
        x = torch.tensor(zs + [s0, s0], dtype=torch.float64)
        ts = [s0, s0, big if hi > 0 else s0, -big if lo < 0 else max(lo, 0.0)]
        return x, torch.tensor(ts, dtype=torch.float64)
    if sub.binary:
        neg, pos = sub.label_values
        return (torch.tensor([big, -big, big, -big], dtype=torch.float64),
                torch.tensor([pos, pos, neg, neg], dtype=torch.float64))
    dim = _event_shape(sub)[0]
    x = torch.zeros(4, dim, dtype=torch.float64)
    x[0, 0], x[1, 1], x[2, :] = big, big, -big
    x[3, 0], x[3, 1] = -big, big
    if sub.kind == "scores":
        return x, x[[1, 0, 3, 2]].clone()
    if sub.kind == "classification":
        lo, hi = sub.domain
        if lo >= -1 and hi <= 1:  # bounded inputs (cosines): the domain's edges are the extremes
            x = x.clamp(lo, hi)
        return x, _label_target(sub, torch.tensor([0, 0, 1, 0]))
    t = torch.randint(0, _GRADES, (4, dim), generator=g).double()
    return x, t


def _finite_check(call, tensors, grad_idx):
    """(ok, message) for one call at extreme inputs: value and gradient finite."""
    leaves = [a.detach().clone().requires_grad_(True) if i in grad_idx else a for i, a in enumerate(tensors)]
    try:
        v = call(leaves)
    except (ValueError, TypeError) as e:
        return None, f"rejected with {type(e).__name__} ({_short(e)[:60]})"
    vs = v.float().sum()
    if not bool(torch.isfinite(vs)):
        return False, f"value {vs.item()}"
    gs = torch.autograd.grad(vs, [leaves[i] for i in grad_idx], allow_unused=True)
    for gg in gs:
        if gg is not None and not bool(torch.isfinite(gg.float()).all()):
            return False, "non-finite gradient"
    return True, "finite"


def _prop_finite(sub, g):
    from . import registry

    notes, bad, any_ok = [], [], False
    if sub.kind != "other":
        x, t = _extreme_inputs(sub, g)
        for dtype in (torch.float32, torch.bfloat16):
            tt = t.to(dtype) if t.is_floating_point() else t
            ok, msg = _finite_check(lambda ls: sub.fn(ls[0], ls[1], reduction="none") if sub.none_ok is not False
                                    else sub.fn(ls[0], ls[1]), [x.to(dtype), tt], (0,))
            notes.append(f"±1e4 {str(dtype)[6:]}: {msg}")
            any_ok |= bool(ok)
            if ok is False:
                bad.append(f"{str(dtype)[6:]} at input {_pt(x)}: {msg}")
    if sub.spec is not None and sub.spec.extremes is not None:
        for dtype in sub.spec.extreme_dtypes:
            for smp in sub.spec.extremes(dtype):
                ok, msg = _finite_check(lambda ls, smp=smp: registry.call(sub.spec, registry.Sample(
                    tuple(ls), smp.kwargs, smp.grad_argnums)), list(smp.args), smp.grad_argnums)
                any_ok |= bool(ok)
                if ok is False:
                    bad.append(f"registry extreme {str(dtype)[6:]}: {msg}")
        notes.append("registry extremes checked")
    how = ("value and gradient at predictions ±1e4 (and targets at the domain's edge) in float32 and bfloat16"
           + (", plus the registry's extreme samples" if sub.spec is not None else "")
           + "; a clear ValueError/TypeError counts as a documented rejection")
    if bad:
        return Property("finite_at_extremes", "fails", "; ".join(bad), how)
    if not any_ok:
        raise _Inconclusive("every extreme input was rejected: " + "; ".join(notes))
    return Property("finite_at_extremes", "holds", "; ".join(notes), how)


def _prop_per_example(sub, g):
    n = 6
    if sub.kind == "other":
        from . import registry

        smp = sub.spec.sample((n,), dtype=torch.float64, generator=g)
        if "none" not in sub.spec.reductions:
            return _na("per_example", "the loss has no reduction='none'")
        out = registry.call(sub.spec, smp, reduction="none")
        shape = smp.none_shape or (n,)
        if tuple(out.shape) != tuple(shape):
            return Property("per_example", "fails", f"reduction='none' gave {tuple(out.shape)}, expected {shape}")
        args = list(smp.args)
        a0 = args[0].detach().clone()
        a0[-1] = sub.spec.sample((n,), dtype=torch.float64, generator=g).args[0][-1]  # a fresh in-domain row
        args[0] = a0
        out2 = registry.call(sub.spec, registry.Sample(tuple(args), smp.kwargs), reduction="none")
        d = float((out.reshape(n, -1)[:-1] - out2.reshape(n, -1)[:-1]).abs().max())
        how = "reduction='none' shape on a registry sample; perturb the last example's first input, compare the others"
        verdict = "holds" if d <= 1e-12 * (1 + float(out.abs().max())) else "fails"
        return Property("per_example", verdict, f"others' losses moved by {d:.3g}", how, d)
    x, t = _inputs(sub, n, g), _targets(sub, n, g)
    if sub.none_ok is False:
        return _na("per_example", "the callable takes no reduction='none' (audited one example per call)")
    try:
        a = _losses(sub, x, t)
    except _Inconclusive as e:
        try:
            _batch_sum(sub, x, t)
        except Exception:
            raise e from None
        return Property("per_example", "fails", f"no per-example form: {e}",
                        "reduction='none' must give one loss per example")
    x2 = x.clone()
    x2[-1] = _inputs(sub, 1, g)[0]
    b = _losses(sub, x2, t)
    d = float((a[:-1] - b[:-1]).abs().max())
    how = "reduction='none' has the batch's shape; perturbing example n's input leaves examples i < n unchanged"
    if d <= 1e-12 * (1 + float(a.abs().max())):
        return Property("per_example", "holds", f"shape {tuple(a.shape)}; others' losses moved by {d:.2g}", how, d)
    return Property("per_example", "fails", f"perturbing the last example moved the others' losses by {d:.3g}",
                    how, d)


# ---------------------------------------------------------------- cost


def _measure(call, x, repeats):
    saved = [0]

    def pack(tensor):
        saved[0] += tensor.numel() * tensor.element_size()
        return tensor

    times = []
    for r in range(repeats + 1):
        xx = x.detach().clone().requires_grad_(True)
        saved[0] = 0
        t0 = time.perf_counter()
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            v = call(xx)
        v.backward()
        if r:  # the first call warms caches up
            times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2], saved[0]


def _cost(sub, cfg, g):
    import torch.nn.functional as F

    B, K = 256, 16
    repeats = cfg["cost_repeats"]
    try:
        if sub.kind == "other":
            from . import registry

            smp = sub.spec.sample((B,), dtype=torch.float32, generator=g)
            args = list(smp.args)

            def call(z):
                return registry.call(sub.spec, registry.Sample((z, *args[1:]), smp.kwargs))

            x, shape = args[0], tuple(args[0].shape)
        elif sub.kind == "regression" or sub.binary:
            x = _inputs(sub, B * K, g).float()
            t = _targets(sub, B * K, g)
            t = t.float() if t.is_floating_point() else t
            call, shape = (lambda z: sub.fn(z, t)), (B * K,)
        else:
            dim = _event_shape(sub)[0]
            x = _inputs(sub, B * K // dim, g).float()
            t = _targets(sub, B * K // dim, g)
            t = t.float() if t.is_floating_point() else t
            call, shape = (lambda z: sub.fn(z, t)), tuple(x.shape)
        tl, ml = _measure(call, x, repeats)
    except Exception as e:
        return {"time_ratio": None, "memory_ratio": None, "note": f"not measured: {type(e).__name__}: {_short(e)}"}
    # Cross-entropy on the same logits shape ([N, K] inputs), else on [numel/4, 4].
    ce_shape = tuple(shape) if len(shape) == 2 and sub.kind in ("classification", "ranking", "scores") \
        else (max(x.numel() // 4, 1), 4)
    labels = torch.randint(0, ce_shape[1], ce_shape[:1], generator=g)
    logits = torch.randn(*ce_shape, generator=g)
    t_ce, m_ce = _measure(lambda z: F.cross_entropy(z, labels), logits, repeats)
    return {"time_ratio": tl / t_ce, "memory_ratio": ml / max(m_ce, 1), "shape": list(shape),
            "ce_shape": list(ce_shape), "repeats": repeats,
            "note": "indicative: median of a few forward+backward runs on this machine, float32, one thread"}


# ============================================================================ audit


def audit(loss, *, kind: str | None = None, domain=None, samples: int | None = None, seed: int = 0,
          preset: str = "full") -> LossCard:
    r"""Audit a loss: a verdict per property with evidence, as a :class:`LossCard`.

    Probes (each a numerical test on sampled points, float64 unless said):

    * ``convex``: least eigenvalue of the Hessian in the prediction (``torch.func.hessian``)
      at sampled points, and the midpoint inequality on random pairs; ``quasi_convex``
      where not convex.
    * ``proper``: the minimiser of the expected loss over random target distributions
      recovers the mean (regression; or, for a matching loss, its link's
      ``h⁻¹(E h(S))``, seed 000 Prop. 1), or the probabilities (classification: softmax,
      sigmoid or sparsemax of the minimising logits equals the distribution); for score
      vectors, ``h(z*) = E h(S)`` with the multi-class link (eq. C.5), or the link read off
      the loss's gradient for a loss of unknown link;
      :attr:`LossCard.statistic` names what it recovers (``"median"``, ``"quantile 0.8"``).
      ``classification_calibrated``: argmax of the minimiser is the distribution's;
      ``ranking_calibrated``: the minimiser orders a list by expected grade (or gain).
    * ``pols_aligned``: seed 001's probe (:func:`losslab.analysis.pols_alignment`).
    * ``shift_invariant``, ``scale_invariant``, ``permutation_invariant``, ``symmetric``.
    * ``region_sensitive`` (local sensitivity ``2L(s+δ, s)/δ²`` over the target range) and
      ``rank_sensitive`` (Hessian diagonal of the expected loss by class rank, eq. C.6); for
      score vectors, ``Δ_k = ∂²L/∂ŝ_k²`` at ``ŝ = s`` as the constellation shifts (region)
      and as class k moves from first to last rank at the same score (ranking).
    * ``bounded_gradient`` (outlier robustness), ``finite_at_extremes`` (±1e4 in float32
      and bfloat16), ``per_example`` (``reduction='none'`` independence).
    * cost: time and memory saved for backward relative to cross-entropy (indicative).

    Args:
        loss: a callable ``loss(input, target, *, reduction=...)`` (``reduction='none'``
            is used when accepted; otherwise one example per call), or a registered name.
        kind: ``"regression"`` (input ``[B]`` vs target ``[B]``), ``"classification"``
            (logits ``[B, K]`` vs integer labels ``[B]``), ``"ranking"`` (scores ``[B, L]``
            vs grades ``[B, L]``) or ``"scores"`` (scores ``[B, K]`` vs target scores
            ``[B, K]``: composite Softmax, distillation). Inferred for a registered loss, a
            ``functools.partial`` of one, its ``ll.nn`` module and the PyTorch-named
            aliases (``ll.mse_loss``, ...); required otherwise.
        domain: ``(low, high)``, the prediction range sampled (default ``(-5, 5)``).
        samples: number of sampled points for the Hessian probe (default: the preset's).
        seed: seed of every sample.
        preset: ``"full"`` or ``"quick"`` (fewer samples; what CI runs).

    Returns:
        A :class:`LossCard`; ``card.verdicts`` maps each of :data:`PROPERTIES` to a verdict.

    Example:
        >>> import losslab as ll
        >>> card = ll.audit(ll.mse, preset="quick")
        >>> card.verdicts["convex"], card.verdicts["proper"], card.statistic, card.verdicts["bounded_gradient"]
        ('holds', 'holds', 'mean', 'fails')
    """
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {tuple(PRESETS)}; got {preset!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    cfg = dict(PRESETS[preset])
    if samples is not None:
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 2:
            raise ValueError(f"samples must be an int >= 2; got {samples!r}")
        cfg["points"] = samples
    sub = _subject(loss, kind, domain)
    g = torch.Generator().manual_seed(seed)
    other = sub.kind == "other"
    why_other = (f"the auditor's @ probe needs a regression, classification or ranking loss; "
                 f"{sub.name} ({sub.spec.family if sub.spec else '?'}) takes {sub.spec.domain if sub.spec else '?'}")
    # The probes run thousands of tiny ops: one intra-op thread avoids the thread pool's
    # wake-up cost, which dominates on a busy machine (1000x on a shared 2-core box).
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        card = _run_probes(sub, cfg, g, other, why_other)
    finally:
        torch.set_num_threads(torch_threads)
    props, profiles, statistic, cost = card
    targets = {"regression": list(sub.target_domain), "ranking": f"grades 0..{_GRADES - 1}",
               "scores": f"score vectors [{_K}] in {list(sub.target_domain)}",
               "classification": "labels" if not sub.binary else f"labels {sub.label_values}"}
    targets = targets.get(sub.kind, "registry samples")
    settings = {"preset": preset, "seed": seed, "domain": list(sub.domain), "target_domain": targets,
                "hyper": ", ".join(f"{k}={v!r}" for k, v in sub.hyper.items()), "samples": cfg["points"]}
    return LossCard(name=sub.name, kind=sub.kind, properties={k: props[k] for k in PROPERTIES}, statistic=statistic,
                    cost=cost, settings=settings, profiles=profiles)


def _run_probes(sub, cfg, g, other, why_other):
    props: dict[str, Property] = {}
    profiles: dict = {}
    statistic = None
    with torch.enable_grad():
        if other:
            props["convex"], props["quasi_convex"] = _other_convex(sub, cfg, g)
        else:
            try:
                props["convex"], props["quasi_convex"] = _prop_convex(sub, cfg, g)
            except _Inconclusive as e:
                props["convex"] = Property("convex", "inconclusive", str(e))
                props["quasi_convex"] = Property("quasi_convex", "inconclusive", str(e))
            except Exception as e:
                props["convex"] = Property("convex", "inconclusive", f"{type(e).__name__}: {_short(e)}")
                props["quasi_convex"] = Property("quasi_convex", "inconclusive", f"{type(e).__name__}: {_short(e)}")
        # properness
        props["ranking_calibrated"] = _na("ranking_calibrated", "not a ranking loss")
        if sub.kind == "regression":
            try:
                props["proper"], statistic = _prop_proper_regression(sub, cfg, g)
            except _Inconclusive as e:
                props["proper"] = Property("proper", "inconclusive", str(e))
            except Exception as e:
                props["proper"] = Property("proper", "inconclusive", f"{type(e).__name__}: {_short(e)}")
            props["classification_calibrated"] = _na("classification_calibrated", "not a classification loss")
        elif sub.kind == "classification":
            try:
                props["proper"], props["classification_calibrated"], statistic = \
                    _prop_proper_classification(sub, cfg, g)
            except Exception as e:
                msg = str(e) if isinstance(e, _Inconclusive) else f"{type(e).__name__}: {_short(e)}"
                props["proper"] = Property("proper", "inconclusive", msg)
                props["classification_calibrated"] = Property("classification_calibrated", "inconclusive", msg)
        elif sub.kind == "scores":
            try:
                props["proper"], statistic = _prop_proper_scores(sub, cfg, g)
            except Exception as e:
                msg = str(e) if isinstance(e, _Inconclusive) else f"{type(e).__name__}: {_short(e)}"
                props["proper"] = Property("proper", "inconclusive", msg)
            props["classification_calibrated"] = _na("classification_calibrated",
                                                     "the targets are score vectors, not labels")
        elif sub.kind == "ranking":
            props["proper"] = _na("proper", "a list has no single target statistic; see ranking_calibrated")
            props["classification_calibrated"] = _na("classification_calibrated", "not a classification loss")
            props["ranking_calibrated"] = _probe("ranking_calibrated", _prop_ranking_calibrated, sub, cfg, g)
        else:
            for k in ("proper", "classification_calibrated"):
                props[k] = _na(k, why_other.replace("@", k))
        props["pols_aligned"] = _na("pols_aligned", why_other.replace("@", "PoLS")) if other else \
            _probe("pols_aligned", _prop_pols, sub, cfg)
        if other:
            for k in ("shift_invariant", "scale_invariant", "permutation_invariant", "symmetric", "region_sensitive",
                      "rank_sensitive", "bounded_gradient"):
                props[k] = _na(k, why_other.replace("@", k))
        else:
            try:
                props.update(_prop_invariances(sub, cfg, g))
            except Exception as e:
                msg = str(e) if isinstance(e, _Inconclusive) else f"{type(e).__name__}: {_short(e)}"
                for k in ("shift_invariant", "scale_invariant", "permutation_invariant", "symmetric"):
                    props[k] = Property(k, "inconclusive", msg)
            try:
                props["region_sensitive"], props["rank_sensitive"] = _prop_sensitivity(sub, cfg, g, profiles)
            except Exception as e:
                msg = str(e) if isinstance(e, _Inconclusive) else f"{type(e).__name__}: {_short(e)}"
                props["region_sensitive"] = Property("region_sensitive", "inconclusive", msg)
                props["rank_sensitive"] = Property("rank_sensitive", "inconclusive", msg)
            props["bounded_gradient"] = _probe("bounded_gradient", _prop_bounded, sub)
        props["finite_at_extremes"] = _probe("finite_at_extremes", _prop_finite, sub, g)
        props["per_example"] = _probe("per_example", _prop_per_example, sub, g)
        cost = _cost(sub, cfg, g)
    return props, profiles, statistic, cost


def _other_convex(sub, cfg, g):
    """Convexity of a registered loss of another shape: the Hessian of its summed loss in
    its first input, at registry samples (small batches)."""
    from . import registry

    if sub.spec is None:
        return (_na("convex", "no registry samples"), _na("quasi_convex", "no registry samples"))
    try:
        worst, worst_eig, method = None, math.inf, None
        n = max(4, cfg["points"] // 3)
        for _ in range(n):
            smp = sub.spec.sample((2,), dtype=torch.float64, generator=g)
            args = list(smp.args)
            x0 = args[0].detach()

            def f(v):
                return registry.call(sub.spec, registry.Sample((v, *args[1:]), smp.kwargs), reduction="sum")

            H, method = _hessian(f, x0.clone())
            eig = torch.linalg.eigvalsh((H + H.T) / 2)
            scale = max(1.0, float(eig.abs().max()))
            if float(eig[0]) / scale < (worst_eig if worst is not None else math.inf):
                worst, worst_eig = x0, float(eig[0]) / scale
        how = (f"least eigenvalue (relative to the largest) of the Hessian of the summed loss in its first input "
               f"({method}) at {n} registry samples")
        tol = 1e-8 if method == "torch.func.hessian" else 1e-5
        verdict = "holds" if worst_eig >= -tol else "fails"
        convex = Property("convex", verdict, f"least relative eigenvalue {worst_eig:.3g}", how, worst_eig)
    except Exception as e:
        convex = Property("convex", "inconclusive", f"{type(e).__name__}: {_short(e)}")
    return convex, _na("quasi_convex", "judged for regression, classification and ranking losses only")


# ---------------------------------------------------------------- score-vector losses (seed 000 Sect. 5)


def _score_link(sub):
    """``(h, label, short)``: the multi-class link the minimiser should satisfy ``h(z*) = E h(S)``
    for (seed 000 Prop. 1): the loss's known link, else the one read off its gradient,
    ``h(z) = ∇_z L(z, s₀)`` -- for a Bregman divergence ``∇_z L(z, s) = h(z) - h(s)``
    (eq. 27), so this is ``h`` up to the constant ``h(s₀)``, which cancels."""
    if sub.vlink is not None:
        if sub.scaling is not None:
            return (sub.vlink, f"h_k(z) = q(z_k) p_k(z), the composite Softmax link (eq. C.5) of q = "
                    f"{sub.scaling.name}", f"h_k = q(z_k) p_k(z), q = {sub.scaling.name}")
        name = getattr(sub.link, "name", "its link")
        return sub.vlink, f"h = {name} per class (eq. 28)", f"h = {name} per class"
    s0 = torch.full((_K,), sum(sub.target_domain) / 2, dtype=torch.float64)

    def h(z):
        flat = z.detach().reshape(-1, _K).clone().requires_grad_(True)
        (gz,) = torch.autograd.grad(_losses(sub, flat, s0.expand_as(flat)).sum(), flat)
        return gz.reshape(z.shape)

    return (h, "h(z) = ∇_z L(z, s₀) read off the loss's gradient (eq. 27: ∇L = h(z) - h(s))",
            "h read off its gradient")


def _prop_proper_scores(sub, cfg, g):
    """Seed 000 Prop. 1 for score vectors: the minimiser z* of Σ_j w_j L(z, S_j) satisfies
    h(z*) = Σ_j w_j h(S_j), i.e. z* = h⁻¹(E h(S)); compared in link space, where a
    shift-invariant link (q constant: plain Softmax) is compared without its free shift."""
    M, n = cfg["dists"], 5
    lo, hi = sub.target_domain
    span = hi - lo
    a, b = lo + span / 4, hi - span / 4  # the middle half: keeps exp-type links well conditioned
    h, hlabel, hshort = _score_link(sub)
    worst_link, worst_mean, apart, first = 0.0, 0.0, 0.0, None
    for _ in range(M):
        S = _uniform((n, _K), a, b, g)
        w = -torch.log(torch.rand(n, dtype=torch.float64, generator=g))
        w = w / w.sum()
        z = _expected_loss_min(sub, S, w, _K, g)
        m = w @ h(S)
        dev = float((h(z) - m).abs().max() / (m.abs().max() + 1e-8))
        mean = w @ S
        dmean = float((z - mean).abs().max())
        worst_mean = max(worst_mean, dmean)
        apart = max(apart, dmean)
        if dev >= worst_link:
            worst_link, first = dev, (z, mean, h(z), m)
    how = (f"argmin over z in R^{_K} of Σ_j w_j L(z, S_j) (L-BFGS, float64) for {M} random distributions of "
           f"{n} score vectors on [{a:g}, {b:g}]^{_K}; h(z*) compared with E h(S) (seed 000 Prop. 1), "
           f"{hlabel}; z* compared with E S")
    z, mean, hz, m = first
    if worst_link <= 1e-5:
        ev = (f"h(z*) = E h(S) to relative {worst_link:.2g} over {M} distributions: z* = h⁻¹(E h(S)); "
              f"z* differs from E S by up to {apart:.3g}")
        return Property("proper", "holds", ev, how, worst_link), f"h⁻¹(E h(S)), {hshort} (seed 000 Prop. 1)"
    if worst_mean <= 2e-3 * span:
        return Property("proper", "holds", f"z* = E S to {worst_mean:.2g} over {M} distributions", how,
                        worst_mean), "mean"
    ev = (f"h(z*) deviates from E h(S) by relative {worst_link:.3g}: h(z*) = {_pt(hz)} vs E h(S) = {_pt(m)}; "
          f"z* = {_pt(z)} vs E S = {_pt(mean)}")
    return Property("proper", "fails", ev, how, worst_link, z.tolist()), None


def _invariances_scores(sub, x, t, n, g):
    out = {}
    c = 0.37 * (sub.domain[1] - sub.domain[0])
    out["shift_invariant"] = _probe("shift_invariant", _invariance, "shift_invariant", sub, x, t, x + c, t + c,
                                    f"L(ŝ + c·1, s + c·1) vs L(ŝ, s) (a constellation shift), c = {c:g}, "
                                    f"{n} points",
                                    f"when all scores shift by {c:g}")
    out["scale_invariant"] = _probe("scale_invariant", _invariance, "scale_invariant", sub, x, t, 2 * x, 2 * t,
                                    f"L(2ŝ, 2s) vs L(ŝ, s), {n} points", "under ŝ, s *= 2")
    perm = torch.randperm(_K, generator=g)
    out["permutation_invariant"] = _probe("permutation_invariant", _invariance, "permutation_invariant", sub, x, t,
                                          x[:, perm], t[:, perm], f"permute the classes of ŝ and s together "
                                          f"({perm.tolist()}), {n} points", "under the permutation")
    out["symmetric"] = _probe("symmetric", _invariance, "symmetric", sub, x, t, t, x,
                              f"L(s, ŝ) vs L(ŝ, s), {n} points", "when prediction and target swap")
    return out


def _sensitivity_scores(sub, cfg, profiles):
    """Seed 000 eq. (B.4)/(C.6): Δ_k(s) = ∂²L/∂ŝ_k² at ŝ = s, by symmetric second differences
    of the loss, for class k ranked first (the others below it) and last (the others
    above), as the whole constellation shifts. Region sensitivity: Δ_k changes along the
    shift; ranking sensitivity: Δ_k at the same own score changes with the rank."""
    G = cfg["profile"]
    lo, hi = sub.target_domain
    span = hi - lo
    v = torch.linspace(lo, hi, G, dtype=torch.float64)
    offs = 0.1 * span * torch.arange(1, _K, dtype=torch.float64)
    eps = 1e-3 * span
    e0 = torch.zeros(_K, dtype=torch.float64)
    e0[0] = eps

    def delta(s):  # L(s, s) need not be 0 (cross-entropy on soft targets keeps their entropy)
        return (_losses(sub, s + e0, s) + _losses(sub, s - e0, s) - 2 * _losses(sub, s, s)) / eps ** 2

    top = torch.cat([v[:, None], v[:, None] - offs], 1)
    bottom = torch.cat([v[:, None], v[:, None] + offs], 1)
    d_top, d_bot = delta(top), delta(bottom)
    # the plot: seed 000 Fig. 4's projections, L vs ŝ_k with the other predictions at their targets
    s_ref = lo + span * (torch.arange(_K, dtype=torch.float64) + 0.5) / _K
    z = torch.linspace(sub.domain[0], sub.domain[1], G, dtype=torch.float64)
    loss_y, grad_y = {}, {}
    for k in range(_K):
        xs = s_ref.repeat(G, 1)
        xs[:, k] = z
        ts = s_ref.repeat(G, 1)
        loss_y[f"s_k={float(s_ref[k]):.3g}"] = _losses(sub, xs, ts).tolist()
        xx = xs.clone().requires_grad_(True)
        (gx,) = torch.autograd.grad(_losses(sub, xx, ts).sum(), xx)
        grad_y[f"s_k={float(s_ref[k]):.3g}"] = gx[:, k].abs().tolist()
    profiles.update({"loss_x": z.tolist(), "loss_xlabel": "prediction ŝ_k (the others at their targets)",
                     "loss_y": loss_y, "grad_x": z.tolist(), "grad_y": grad_y, "sens_x": v.tolist(),
                     "sens_y": {"ranked first": d_top.tolist(), f"ranked last (of {_K})": d_bot.tolist()},
                     "sens_xlabel": f"own score s_k (the other {_K - 1} shift with it)",
                     "sens_title": "sensitivity Δ_k = ∂²L/∂ŝ_k² at ŝ = s"})
    how = (f"Δ_k = [L(s + δe_k, s) + L(s - δe_k, s) - 2L(s, s)]/δ², δ = {eps:.2g} (seed 000 eq. B.4), "
           f"for class k ranked first and last among {_K} scores spaced {0.1 * span:g} apart, the constellation "
           f"shifted over "
           f"{sub.target_domain} ({G} points)")
    ref = None
    if sub.scaling is not None:
        from .analysis import composite_sensitivity

        ref = ("eq. (C.6), ll.analysis.composite_sensitivity",
               torch.cat([composite_sensitivity(top, sub.scaling, sub.gamma)[:, 0],
                          composite_sensitivity(bottom, sub.scaling, sub.gamma)[:, 0]]))
    elif sub.vlink is not None and sub.link is not None:
        ref = ("h'(s_k) of its link (eq. 28)", torch.cat([sub.link.derivative(v), sub.link.derivative(v)]))
    agree = ""
    if ref is not None:
        both = torch.cat([d_top, d_bot])
        err = float((both - ref[1]).abs().max() / ref[1].abs().max().clamp_min(1e-300))
        profiles["sens_reference"] = ref[1].tolist()
        agree = f"; matches {ref[0]} to relative {err:.2g}"
    tiny = 1e-12 * float(torch.cat([d_top, d_bot]).abs().max())
    region_ratio = max(float(d.max() / d.min().clamp_min(tiny)) if float(d.max()) > 0 else 1.0 for d in (d_top, d_bot))
    i = int(d_top.argmax())
    region = Property("region_sensitive", "holds" if region_ratio > 1.5 else "fails",
                      f"ranked first, Δ_k ranges {float(d_top.min()):.3g} .. {float(d_top.max()):.3g} (max at "
                      f"s_k = {float(v[i]):.3g}); ranked last, {float(d_bot.min()):.3g} .. {float(d_bot.max()):.3g}"
                      + agree, how, region_ratio)
    hi_, lo_ = torch.maximum(d_top, d_bot), torch.minimum(d_top, d_bot).clamp_min(tiny)
    r = hi_ / lo_
    j = int(r.argmax())
    rank_ratio = float(r[j])
    ratio_text = f"ratio {rank_ratio:.3g}" if float(lo_[j]) > tiny else "one of them ~0"
    rank = Property("rank_sensitive", "holds" if rank_ratio > 1.5 else "fails",
                    f"at s_k = {float(v[j]):.3g}: Δ_k = {float(d_top[j]):.3g} ranked first vs {float(d_bot[j]):.3g} "
                    f"ranked last ({ratio_text})", how, rank_ratio)
    return region, rank


# PyTorch-named functions that wrap a registered loss with the same per-example value (up to
# a constant factor): audited as themselves, with the registered loss's kind and domain.
_ALIASES = {
    "mse_loss": "mse",
    "l1_loss": "mae",
    "huber_loss": "huber",
    "smooth_l1_loss": "smooth_l1",
    "poisson_nll_loss": "poisson_nll",
    "kl_div": "kl_divergence",  # elementwise terms: summed per distribution below
    "multi_margin_loss": "multiclass_hinge",  # Weston-Watkins divided by C
    "soft_margin_loss": "hinge",  # a binary score vs a ±1 label
}


def _alias_spec(fn):
    """``(spec, callable)`` for a PyTorch-named alias of a registered loss, else ``None``."""
    import losslab

    from . import registry

    for alias, target in _ALIASES.items():
        if getattr(losslab, alias, None) is fn:
            if alias == "kl_div":
                def per_distribution(x, t, reduction="mean", _fn=fn):
                    v = _fn(x, t, reduction="none").sum(-1)  # kl_div's 'batchmean' is the mean of these
                    return v if reduction == "none" else v.sum() if reduction == "sum" else v.mean()

                return registry.get(target), per_distribution
            return registry.get(target), fn
    return None


def _resolve_wrapper(loss):
    """``(spec, callable(input, target, reduction=...), hyper-parameters, name)`` for a loss
    that wraps a registered one: a ``functools.partial`` of it, an ``ll.nn`` module (its
    wrapped function ``_fn``, else the function its docstring's "Module form of" names) or
    a PyTorch-named alias; ``None`` otherwise."""
    import functools
    import re

    import losslab

    if isinstance(loss, functools.partial):
        inner = _lookup_spec(loss.func)
        found = (inner, loss) if inner is not None else _alias_spec(loss.func)
        if found is None:
            return None
        spec, _ = found
        hyper = dict(loss.keywords)
        try:
            params = list(inspect.signature(loss.func).parameters)[2:]
            hyper.update(zip(params, loss.args))
        except (TypeError, ValueError):
            pass
        return spec, loss, hyper, getattr(loss.func, "__name__", spec.name)
    if isinstance(loss, torch.nn.Module) and hasattr(loss, "reduction"):
        fn = getattr(loss, "_fn", None)
        if fn is None:
            m = re.search(r"Module form of :func:`losslab\.(\w+)`", type(loss).__doc__ or "")
            fn = getattr(losslab, m.group(1), None) if m else None
        if fn is None:
            return None
        spec = _lookup_spec(fn)
        if spec is None:
            found = _alias_spec(fn)
            if found is None:
                return None
            spec = found[0]
        keys = getattr(loss, "_keys", None)
        if keys is not None:
            hyper = {k: getattr(loss, k) for k in keys}
        else:
            hyper = {k: v for k, v in vars(loss).items()
                     if not k.startswith("_") and k not in ("training", "reduction")}

        def call(x, t, reduction="mean", _m=loss):
            # a module takes its reduction at construction: set it for the call
            old = _m.reduction
            _m.reduction = reduction
            try:
                return _m(x, t)
            finally:
                _m.reduction = old

        return spec, call, hyper, type(loss).__name__
    found = _alias_spec(loss)
    if found is not None:
        return found[0], found[1], {}, getattr(loss, "__name__", found[0].name)
    return None


class _CallableModule(type(json)):
    """``losslab.audit`` is both this module and the function :func:`audit`: importing the
    submodule binds the name on the package, so the module itself forwards calls."""

    def __call__(self, *args, **kwargs):
        return audit(*args, **kwargs)


import sys as _sys  # noqa: E402

_sys.modules[__name__].__class__ = _CallableModule
