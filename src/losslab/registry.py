"""The registry of public losses. It drives the contract test, the CLI and the plots.

Each family module registers a :class:`LossSpec` for each public loss when it is
imported. A spec says how to call the loss on generated inputs; the contract
test (``tests/test_contract.py``) then checks shapes, reductions, sample weights,
leading batch dims, float64 ``gradcheck``, finiteness at the domain's extremes
and ``torch.compile`` for every spec, without knowing any family.

A *sample* is one call: ``fn(*sample.args, **sample.kwargs)``. ``grad_argnums``
index the floating tensor arguments to differentiate, ``batched_argnums`` the
arguments whose leading dims are batch dims (flattened in the batch-dim
invariance check), and ``none_shape`` is the shape of ``reduction='none'``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch


@dataclass
class Sample:
    args: tuple
    kwargs: dict = field(default_factory=dict)
    grad_argnums: tuple[int, ...] = (0,)
    batched_argnums: tuple[int, ...] = (0, 1)
    none_shape: tuple[int, ...] | None = None


SampleFn = Callable[..., Sample]  # sample(batch_shape, *, dtype, generator) -> Sample


@dataclass(frozen=True)
class LossSpec:
    """How to exercise one public loss.

    Attributes:
        name: the public name (``losslab.<name>``).
        fn: the functional loss ``fn(input, target, *, ..., sample_weight=None, reduction='mean')``.
        family: the family module (``'matching'``, ``'classification'``, ...).
        domain: one line on the documented input domain.
        sample: ``sample(batch_shape, *, dtype, generator) -> Sample`` of typical inputs.
        extremes: ``extremes(dtype) -> list[Sample]`` at the edges of the domain
            (e.g. logits at ±1e4); value and gradient must stay finite there.
        reference: an independent implementation with ``fn``'s call signature
            returning the ``'none'`` output (PyTorch's own loss, a closed form).
            Naive loop references live in ``tests/reference`` and are looked up by name.
        supports_weight: ``fn`` takes a per-example ``sample_weight`` of ``none_shape``.
        leading_batch_dims: ``fn`` accepts arbitrary leading batch dims.
        reductions: the reductions ``fn`` supports.
        compile_smoke: include in the default ``torch.compile`` subset.
        extreme_dtypes: dtypes the extremes are checked in.
        gradcheck: run float64 gradcheck (False only for piecewise-constant
            gradients, where finite differences are meaningless; say why in ``notes``).
        notes: anything a reader of the registry listing should know.
    """

    name: str
    fn: Callable[..., torch.Tensor]
    family: str
    domain: str
    sample: SampleFn
    extremes: Callable[[torch.dtype], list[Sample]] | None = None
    reference: Callable[..., torch.Tensor] | None = None
    supports_weight: bool = True
    leading_batch_dims: bool = True
    reductions: tuple[str, ...] = ("none", "mean", "sum")
    compile_smoke: bool = False
    extreme_dtypes: tuple[torch.dtype, ...] = (torch.float32,)
    gradcheck: bool = True
    notes: str = ""


_REGISTRY: dict[str, LossSpec] = {}


def register(spec: LossSpec) -> LossSpec:
    """Add ``spec``; a second spec under the same name is an error."""
    if spec.name in _REGISTRY and _REGISTRY[spec.name].fn is not spec.fn:
        raise ValueError(f"a loss named {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def get(name: str) -> LossSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise KeyError(f"no registered loss named {name!r}; known: {known}") from None


def specs(family: str | None = None) -> list[LossSpec]:
    """All specs (of one family if given), sorted by family then name."""
    chosen = [s for s in _REGISTRY.values() if family is None or s.family == family]
    return sorted(chosen, key=lambda s: (s.family, s.name))


def names(family: str | None = None) -> list[str]:
    return [s.name for s in specs(family)]


def families() -> list[str]:
    return sorted({s.family for s in _REGISTRY.values()})


# ---------------------------------------------------------------------------
# Sample-building helpers shared by the family modules.


def randn(shape, *, dtype, generator, scale: float = 1.0, requires_grad: bool = False) -> torch.Tensor:
    x = torch.randn(*shape, dtype=dtype, generator=generator) * scale
    return x.requires_grad_(requires_grad)


def randint(high: int, shape, *, generator) -> torch.Tensor:
    return torch.randint(0, high, tuple(shape), generator=generator)


def rand_simplex(shape, *, dtype, generator) -> torch.Tensor:
    return torch.softmax(torch.randn(*shape, dtype=dtype, generator=generator), dim=-1)


def call(spec: LossSpec, sample: Sample, **overrides: Any) -> torch.Tensor:
    kwargs = dict(sample.kwargs)
    kwargs.update(overrides)
    return spec.fn(*sample.args, **kwargs)
