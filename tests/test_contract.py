"""One contract, every registered loss (DESIGN.md principle 8).

Parametrised over ``losslab.registry``: shapes for each reduction, 'none' summed
equals 'sum', weights, leading batch dims, float64 gradcheck, agreement with an
independent reference, finite value and gradient at the domain's extremes, and
``torch.compile`` (a representative subset by default; ``-m compile_all`` for all).
"""
from __future__ import annotations

import pytest
import torch

import losslab  # noqa: F401  (fills the registry)
from losslab import registry
from reference import REFERENCES

SPECS = registry.specs()
IDS = [s.name for s in SPECS]


def _fresh(sample: registry.Sample, dtype=None, requires_grad=False) -> registry.Sample:
    """Clone tensor args (optionally cast floating ones) so tests never share graphs."""
    args = []
    for i, a in enumerate(sample.args):
        if isinstance(a, torch.Tensor):
            a = a.detach().clone()
            if dtype is not None and a.is_floating_point():
                a = a.to(dtype)
            if requires_grad and i in sample.grad_argnums:
                a.requires_grad_(True)
        args.append(a)
    kwargs = {
        k: (v.detach().clone().to(dtype) if isinstance(v, torch.Tensor) and dtype is not None and v.is_floating_point() else v)
        for k, v in sample.kwargs.items()
    }
    return registry.Sample(tuple(args), kwargs, sample.grad_argnums, sample.batched_argnums, sample.none_shape)


def _sample(spec, batch_shape=(4,), dtype=torch.float64, seed=0) -> registry.Sample:
    g = torch.Generator().manual_seed(seed)
    return spec.sample(tuple(batch_shape), dtype=dtype, generator=g)


def test_registry_is_populated():
    assert len(SPECS) >= 4
    assert {"matching_loss", "composite_softmax_loss"} <= set(IDS)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_every_loss_has_an_independent_reference(spec):
    assert spec.reference is not None or spec.name in REFERENCES, (
        f"{spec.name}: register a reference (PyTorch's own loss or a closed form) or add a naive one to tests/reference/"
    )


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_reductions_and_shapes(spec):
    s = _sample(spec)
    if "none" in spec.reductions:
        none = registry.call(spec, s, reduction="none")
        assert tuple(none.shape) == tuple(s.none_shape)
        if "sum" in spec.reductions:
            torch.testing.assert_close(none.sum(), registry.call(spec, s, reduction="sum"))
        if "mean" in spec.reductions:
            torch.testing.assert_close(none.mean(), registry.call(spec, s, reduction="mean"))
    for r in spec.reductions:
        if r != "none":
            assert registry.call(spec, s, reduction=r).dim() == 0
    with pytest.raises(ValueError, match="reduction"):
        registry.call(spec, s, reduction="avg")


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_matches_reference(spec):
    ref = spec.reference or REFERENCES.get(spec.name)
    if ref is None:
        pytest.fail(f"{spec.name} has no reference")
    s = _sample(spec, seed=1)
    reduction = "none" if "none" in spec.reductions else "sum"
    ours = registry.call(spec, s, reduction=reduction)
    theirs = ref(*s.args, **s.kwargs)
    if reduction == "sum" and theirs.dim() > 0:
        theirs = theirs.sum()
    torch.testing.assert_close(ours, theirs.to(ours.dtype), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("spec", [s for s in SPECS if s.supports_weight], ids=[s.name for s in SPECS if s.supports_weight])
def test_weights(spec):
    s = _sample(spec, seed=2)
    none = registry.call(spec, s, reduction="none")
    w = torch.rand(none.shape, dtype=none.dtype, generator=torch.Generator().manual_seed(3)) + 0.1
    torch.testing.assert_close(registry.call(spec, s, reduction="none", sample_weight=w), none * w)
    torch.testing.assert_close(registry.call(spec, s, reduction="sum", sample_weight=w), (none * w).sum())
    torch.testing.assert_close(registry.call(spec, s, reduction="mean", sample_weight=w), (none * w).sum() / w.sum())
    zero = torch.zeros_like(w)
    torch.testing.assert_close(registry.call(spec, s, reduction="mean", sample_weight=zero), none.new_zeros(()))
    with pytest.raises(ValueError, match="sample_weight"):
        registry.call(spec, s, reduction="mean", sample_weight=w.reshape(-1)[:-1])


@pytest.mark.parametrize("spec", [s for s in SPECS if s.leading_batch_dims], ids=[s.name for s in SPECS if s.leading_batch_dims])
def test_leading_batch_dims(spec):
    s = _sample(spec, batch_shape=(2, 3), seed=4)
    out = registry.call(spec, s, reduction="none" if "none" in spec.reductions else "sum")
    flat_args = list(s.args)
    for i in s.batched_argnums:
        a = flat_args[i]
        flat_args[i] = a.reshape((6,) + tuple(a.shape[2:]))
    flat = registry.Sample(tuple(flat_args), s.kwargs, s.grad_argnums, s.batched_argnums, (6,))
    out_flat = registry.call(spec, flat, reduction="none" if "none" in spec.reductions else "sum")
    torch.testing.assert_close(out.reshape(out_flat.shape), out_flat)


@pytest.mark.parametrize("spec", [s for s in SPECS if s.gradcheck], ids=[s.name for s in SPECS if s.gradcheck])
def test_gradcheck_float64(spec):
    s = _fresh(_sample(spec, batch_shape=(3,), seed=5), torch.float64, requires_grad=True)
    inputs = tuple(s.args[i] for i in s.grad_argnums)
    reduction = "sum" if "sum" in spec.reductions else spec.reductions[0]

    def fn(*diff):
        args = list(s.args)
        for i, d in zip(s.grad_argnums, diff):
            args[i] = d
        return spec.fn(*args, **s.kwargs, reduction=reduction)

    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-4)


def _extreme_cases():
    for spec in SPECS:
        if spec.extremes is None:
            continue
        for dtype in spec.extreme_dtypes:
            yield pytest.param(spec, dtype, id=f"{spec.name}-{str(dtype).replace('torch.', '')}")


@pytest.mark.parametrize("spec", [s for s in SPECS], ids=IDS)
def test_declares_extremes(spec):
    assert spec.extremes is not None, f"{spec.name}: register extremes(dtype) at the edges of its domain"


@pytest.mark.parametrize("spec,dtype", list(_extreme_cases()))
def test_finite_at_extremes(spec, dtype):
    for raw in spec.extremes(dtype):
        s = _fresh(raw, requires_grad=True)
        reduction = "sum" if "sum" in spec.reductions else spec.reductions[0]
        value = spec.fn(*s.args, **s.kwargs, reduction=reduction)
        assert torch.isfinite(value).all(), f"{spec.name}: non-finite value {value} at extremes ({dtype})"
        value.float().backward()
        for i in s.grad_argnums:
            g = s.args[i].grad
            assert g is not None and torch.isfinite(g).all(), f"{spec.name}: non-finite grad of arg {i} at extremes ({dtype}): {g}"


def _compile_check(spec, backend):
    torch._dynamo.reset()
    s = _sample(spec, dtype=torch.float32, seed=6)
    reduction = "sum" if "sum" in spec.reductions else spec.reductions[0]
    eager = registry.call(spec, s, reduction=reduction)

    def fn(*args):
        return spec.fn(*args, **s.kwargs, reduction=reduction)

    compiled = torch.compile(fn, backend=backend)
    torch.testing.assert_close(compiled(*s.args), eager, rtol=1e-4, atol=1e-5)


SMOKE = [s for s in SPECS if s.compile_smoke]


# The default run traces with dynamo + AOTAutograd ("aot_eager"); inductor's C++
# code generation takes minutes per loss on a 2-core CI machine, so the inductor
# sweep over every loss is behind the compile_all marker.
@pytest.mark.parametrize("spec", SMOKE, ids=[s.name for s in SMOKE])
def test_torch_compile_smoke(spec):
    _compile_check(spec, "aot_eager")


@pytest.mark.compile_all
@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_torch_compile_all(spec):
    _compile_check(spec, "inductor")


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_rejects_integer_prediction(spec):
    s = _sample(spec, seed=7)
    args = list(s.args)
    args[0] = torch.zeros(args[0].shape, dtype=torch.long)
    with pytest.raises(TypeError):
        spec.fn(*args, **s.kwargs)
