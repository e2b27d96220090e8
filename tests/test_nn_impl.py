"""The module forms of the fused losses take ``impl=`` and pass it on (losslab.kernels).

Each module built with ``impl='fused'`` must equal the same module with ``impl='reference'``
(value and the gradient of its input); a dispatch mode checks that ``'fused'`` really reaches
a ``losslab::`` operator and ``'reference'`` never does; ``impl`` survives pickling and a
module pickled before it had ``impl`` still loads and runs.
"""
from __future__ import annotations

import io
import pickle

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import losslab as ll
from losslab import links

D64 = torch.float64
_KERNELS = ll.kernels.available().cpu
needs_kernels = pytest.mark.skipif(not _KERNELS, reason="the fused CPU kernels are not built")


class _LosslabOps(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if str(func).startswith("losslab."):
            self.calls += 1
        return func(*args, **(kwargs or {}))


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _scores(*shape, seed=0):
    return torch.randn(*shape, dtype=D64, generator=_gen(seed))


def _labels(n, k, seed=1):
    return torch.randint(0, k, (n,), generator=_gen(seed))


# (module class, constructor kwargs, inputs builder): inputs[0] is the differentiable input
CASES = {
    "MatchingLoss": (ll.nn.MatchingLoss, dict(link=links.tanh(alpha=2.0, beta=0.5)),
                     lambda: (_scores(6, 5), _scores(6, 5, seed=2))),
    "MatchingLoss_sigmoid": (ll.nn.MatchingLoss, dict(link=links.sigmoid(), reduction="none"),
                             lambda: (_scores(6, 5), _scores(6, 5, seed=2))),
    "CompositeSigmoidLoss": (ll.nn.CompositeSigmoidLoss, dict(scaling=links.sinh(alpha=0.5), gamma=0.8),
                             lambda: (_scores(6, 5), _scores(6, 5, seed=2))),
    "CompositeSoftmaxLoss": (ll.nn.CompositeSoftmaxLoss, dict(scaling=links.exp(alpha=0.5), gamma=0.7, dim=0),
                             lambda: (_scores(9, 4), _scores(9, 4, seed=2))),
    "CrossEntropyLoss": (ll.nn.CrossEntropyLoss,
                         dict(weight=torch.rand(7, dtype=D64, generator=_gen(3)) + 0.5, label_smoothing=0.2),
                         lambda: (_scores(8, 7), _labels(8, 7))),
    "SelfNormalizationLoss": (ll.nn.SelfNormalizationLoss, dict(alpha=0.3, reduction="sum"),
                              lambda: (_scores(8, 7), _labels(8, 7))),
    "BatchCrossEntropyLoss": (ll.nn.BatchCrossEntropyLoss, dict(reduction="none"),
                              lambda: (_scores(8, 7), _labels(8, 7))),
    "HingeLoss": (ll.nn.HingeLoss, dict(margin=0.5), lambda: (_scores(8, 3), 1 - 2 * _labels(24, 2, seed=5).reshape(8, 3))),
    "SquaredHingeLoss": (ll.nn.SquaredHingeLoss, dict(reduction="sum"),
                         lambda: (_scores(10), 1 - 2 * _labels(10, 2, seed=6))),
    "LogCoshLoss": (ll.nn.LogCoshLoss, dict(reduction="none"), lambda: (_scores(5, 4), _scores(5, 4, seed=2))),
}


@needs_kernels
@pytest.mark.parametrize("name", list(CASES))
def test_module_fused_equals_reference(name):
    cls, kw, inputs = CASES[name]
    outs, grads = {}, {}
    for impl in ("fused", "reference"):
        x, *rest = inputs()
        x.requires_grad_()
        module = cls(**kw, impl=impl)
        with _LosslabOps() as ops:
            out = module(x, *rest)
            (g,) = torch.autograd.grad(out, x, torch.rand(out.shape, dtype=D64, generator=_gen(7)) + 0.5)
        # 'fused' goes through a losslab:: operator; 'reference' is pure PyTorch
        assert (ops.calls > 0) == (impl == "fused"), (name, impl, ops.calls)
        outs[impl], grads[impl] = out, g
    torch.testing.assert_close(outs["fused"], outs["reference"], rtol=1e-9, atol=1e-11)
    torch.testing.assert_close(grads["fused"], grads["reference"], rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("name", list(CASES))
def test_module_impl_default_and_bad_value(name):
    cls, kw, _ = CASES[name]
    assert cls(**kw).impl == "auto"
    for bad in ("fast", None, 1):
        with pytest.raises(ValueError, match=r"impl.*" + repr(bad).replace("(", r"\(")):
            cls(**kw, impl=bad)


@pytest.mark.parametrize("name", list(CASES))
def test_module_impl_survives_pickle_and_state_dict(name):
    cls, kw, inputs = CASES[name]
    module = cls(**kw, impl="reference")
    copy_ = pickle.loads(pickle.dumps(module))
    assert copy_.impl == "reference"
    fresh = cls(**kw, impl="reference")
    fresh.load_state_dict(module.state_dict())
    x, *rest = inputs()
    torch.testing.assert_close(copy_(x, *rest), module(x, *rest))
    torch.testing.assert_close(fresh(x, *rest), module(x, *rest))
    buf = io.BytesIO()
    torch.save(module, buf)
    buf.seek(0)
    assert torch.load(buf, weights_only=False).impl == "reference"


@pytest.mark.parametrize("name", [n for n in CASES if n != "CrossEntropyLoss"])
def test_module_pickled_before_impl_still_runs(name):
    # a module saved by a version without `impl` has no such attribute: it runs with the default
    cls, kw, inputs = CASES[name]
    module = cls(**kw)
    del module.impl
    if "impl" in getattr(module, "_keys", ()):  # keyword modules also list their stored hyper-parameters
        module._keys = tuple(k for k in module._keys if k != "impl")
    copy_ = pickle.loads(pickle.dumps(module))
    assert not hasattr(copy_, "impl")
    x, *rest = inputs()
    torch.testing.assert_close(copy_(x, *rest), cls(**kw, impl="reference")(x, *rest), rtol=1e-9, atol=1e-11)
