"""Triton kernels of matching_loss (matching_link_fwd) and composite_sigmoid_loss
(composite_sigmoid_fwd) against the reference implementations and the C++ operators.

Without a CUDA device the kernels run on CPU tensors in Triton's interpreter
(``TRITON_INTERPRET=1``, set here before the kernels are first defined), on small
shapes with blocks smaller than the input so several programs and a masked tail run.
Everything skips when ``triton`` is not installed.
"""
import math
import os
import sys

import pytest
import torch

_ON_GPU = torch.cuda.is_available() and os.environ.get("TRITON_INTERPRET", "0") != "1"
if not _ON_GPU:
    os.environ["TRITON_INTERPRET"] = "1"

pytest.importorskip("triton", reason="triton is not installed (pip install 'losslab[test]')")

import losslab as ll  # noqa: E402
import losslab.kernels as K  # noqa: E402
from losslab import links  # noqa: E402
from losslab.kernels import triton_kernels as T  # noqa: E402
from test_kernels_matching import LINKS, SCALINGS  # noqa: E402

DEVICE = "cuda" if _ON_GPU else "cpu"
# The interpreter evaluates both sides of tl.where in numpy: log(0) on the branch not taken warns.
pytestmark = pytest.mark.filterwarnings("ignore:divide by zero encountered:RuntimeWarning")


@pytest.fixture(scope="module", autouse=True)
def _interpreter_selected():
    src = sys.modules.get("losslab.kernels._triton_src")
    if src is not None and not _ON_GPU:
        from triton.runtime.interpreter import InterpretedFunction

        if not isinstance(src.matching_link_kernel, InterpretedFunction):
            pytest.skip("the Triton kernels were compiled for a GPU earlier in this process; no interpreter")


TOL = {torch.float64: dict(rtol=1e-9, atol=1e-9), torch.float32: dict(rtol=2e-4, atol=2e-5)}


def _close(a, b, dtype, **override):
    tol = dict(TOL[dtype], **override)
    finite = b[torch.isfinite(b)]
    tol["atol"] = tol["atol"] * max(1.0, float(finite.abs().max()) if finite.numel() else 0.0)
    torch.testing.assert_close(a.cpu(), b.cpu(), equal_nan=True, **tol)


def _reference(fn, pred, target):
    p = pred.detach().clone().requires_grad_(True)
    t = target.detach().clone().requires_grad_(True)
    loss = fn(p, t)
    gp, gt = torch.autograd.grad(loss.sum(), (p, t))
    return loss.detach(), gp, gt


TRITON_LINKS = [n for n, (make, _) in LINKS.items() if K.link_spec(make())[0] in T.MATCHING_SHAPES]


def test_shapes_missing_on_the_gpu_are_declared():
    # What the Triton kernel lacks is exactly what kernels.use_fused sends to the reference on CUDA.
    assert set(K.MATCHING_SHAPES) - set(T.MATCHING_SHAPES) == set(K._TRITON_MISSING)
    assert not K._GPU_COVERS["matching_loss"](("arctan",)) and K._GPU_COVERS["matching_loss"](("tanh",))
    with pytest.raises(ValueError, match="no Triton kernel for the link shape 'arctan'"):
        T.matching_link_fwd_triton(torch.zeros(3), torch.zeros(3), "arctan", 1.0, 0.0, math.inf, 1.0, [], True, True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", TRITON_LINKS)
def test_matching_link_matches_reference(name, dtype):
    make, inputs = LINKS[name]
    g = torch.Generator().manual_seed(sum(map(ord, name)))
    pred, target = inputs(37, g, dtype), inputs(37, g, dtype)
    link = make()
    spec = K.link_spec(link)
    got = T.matching_link_fwd_triton(pred.to(DEVICE), target.to(DEVICE), *spec, True, True, block=16)
    ref = _reference(lambda p, t: ll.matching_loss(p, t, link, impl="reference", reduction="none"), pred, target)
    for a, b in zip(got, ref):
        assert a.shape == b.shape and a.dtype == b.dtype
        _close(a, b, dtype)


@pytest.mark.parametrize("name", [n for n in TRITON_LINKS if LINKS[n][1] is LINKS["identity"][1]])
def test_matching_link_extremes_float32(name):
    pred = torch.tensor([-1e4, -1e4, 1e4, 1e4, 0.0, 30.0, -30.0, 1e4])
    target = torch.tensor([1e4, -1e4, -1e4, 1e4, 1e4, -1e4, 1e4, 1e4 - 1])
    link = LINKS[name][0]()
    if link.cap is None and K.link_spec(link)[0] in ("exp", "sinh", "cosh"):
        link = link.capped(40.0)
    got = T.matching_link_fwd_triton(pred.to(DEVICE), target.to(DEVICE), *K.link_spec(link), True, True, block=4)
    ref = _reference(lambda p, t: ll.matching_loss(p, t, link, impl="reference", reduction="none"), pred, target)
    # Both paths form H(ŝ) − H(s) − (ŝ − s)h(s) for the shapes without a cancellation-free
    # divergence: in float32 that is exact only to a few ulp of H (|x|^2.5 ~ 1e10 for the power
    # link), and h(ŝ) − h(s) to a few ulp of h.
    z = torch.cat([pred, target]).double()
    H, h = float(link.primitive(z).abs().max()), float(link(z).abs().max())
    for a, b, atol in zip(got, ref, (max(1e-3, 1e-6 * H), max(1e-3, 1e-6 * h), 1e-3)):
        assert torch.isfinite(a.cpu()).all(), (name, a)
        torch.testing.assert_close(a.cpu(), b, rtol=1e-4, atol=atol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", [n for n, make in SCALINGS.items() if K.link_spec(make())[0] in T.MATCHING_SHAPES])
@pytest.mark.parametrize("gamma", [1.0, 0.6])
def test_composite_sigmoid_matches_reference(name, dtype, gamma):
    g = torch.Generator().manual_seed(7)
    pred, target = torch.randn(5, 7, generator=g, dtype=dtype) * 2, torch.randn(5, 7, generator=g, dtype=dtype) * 2
    q = SCALINGS[name]()
    got = T.composite_sigmoid_fwd_triton(pred.to(DEVICE), target.to(DEVICE), *K.composite_sigmoid_spec(q), gamma,
                                         True, True, block=16)
    ref = _reference(lambda p, t: ll.composite_sigmoid_loss(p, t, q, gamma=gamma, impl="reference", reduction="none"),
                     pred, target)
    for a, b in zip(got, ref):
        assert a.shape == b.shape
        # float64: the reference subtracts two softplus values of size Q, the kernel does not
        _close(a, b, dtype, **({} if dtype == torch.float32 else dict(rtol=1e-8)))


def test_composite_sigmoid_extremes_float32():
    pred = torch.tensor([-1e4, -1e4, 1e4, 1e4, 0.0, 30.0, -30.0])
    target = torch.tensor([1e4, -1e4, -1e4, 1e4, 1e4, -1e4, 1e4])
    for q in (links.exp(alpha=0.5, cap=20.0), links.sinh(cap=20.0), links.cosh(cap=5.0), links.identity()):
        got = T.composite_sigmoid_fwd_triton(pred.to(DEVICE), target.to(DEVICE), *K.composite_sigmoid_spec(q), 1.0,
                                             True, True, block=4)
        ref = _reference(lambda p, t: ll.composite_sigmoid_loss(p, t, q, impl="reference", reduction="none"), pred, target)
        for a, b in zip(got, ref):
            assert torch.isfinite(a.cpu()).all()
            torch.testing.assert_close(a.cpu(), b, rtol=1e-4, atol=1e-3)


def test_sum_only_and_gradient_flags():
    g = torch.Generator().manual_seed(8)
    pred, target = torch.randn(3, 11, generator=g, dtype=torch.float64), torch.randn(3, 11, generator=g, dtype=torch.float64)
    spec = K.link_spec(links.huber(delta=0.5))
    full = T.matching_link_fwd_triton(pred.to(DEVICE), target.to(DEVICE), *spec, True, True, block=8)
    total, gp, gt = T.matching_link_fwd_triton(pred.to(DEVICE), target.to(DEVICE), *spec, False, False, True, block=8)
    assert total.shape == () and gp.shape == gt.shape == (0,)
    torch.testing.assert_close(total.cpu(), full[0].sum().cpu())
    qspec = K.composite_sigmoid_spec(links.sinh(alpha=0.5))
    full = T.composite_sigmoid_fwd_triton(pred.to(DEVICE), target.to(DEVICE), *qspec, 0.8, True, False, block=8)
    total, gp, gt = T.composite_sigmoid_fwd_triton(pred.to(DEVICE), target.to(DEVICE), *qspec, 0.8, True, False, True, block=8)
    torch.testing.assert_close(total.cpu(), full[0].sum().cpu())
    torch.testing.assert_close(gp, full[1])
    assert gt.shape == (0,)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_inputs_compute_in_float32(dtype):
    g = torch.Generator().manual_seed(9)
    pred, target = torch.randn(40, generator=g), torch.randn(40, generator=g)
    spec = K.link_spec(links.tanh(alpha=0.7))
    got = T.matching_link_fwd_triton(pred.to(dtype).to(DEVICE), target.to(dtype).to(DEVICE), *spec, True, True, block=16)
    ref = T.matching_link_fwd_triton(pred.to(dtype).float().to(DEVICE), target.to(dtype).float().to(DEVICE), *spec,
                                     True, True, block=16)
    for a, b in zip(got, ref):
        assert a.dtype == dtype
        torch.testing.assert_close(a.cpu(), b.to(dtype).cpu())  # only the final rounding differs


def test_rejects_bad_arguments():
    z = torch.zeros(3)
    with pytest.raises(ValueError, match="shapes differ"):
        T.matching_link_fwd_triton(z, torch.zeros(4), "tanh", 1.0, 0.0, math.inf, 1.0, [], True, True)
    with pytest.raises(ValueError, match="takes 1 params; got 0"):
        T.matching_link_fwd_triton(z, z, "huber", 1.0, 0.0, math.inf, 1.0, [], True, True)
    with pytest.raises(ValueError, match="must be positive"):
        T.composite_sigmoid_fwd_triton(z, z, "exp", 1.0, 0.0, math.inf, 1.0, [], 0.0, True, True)
    with pytest.raises(ValueError, match="float16, bfloat16, float32 or float64"):
        T.matching_link_fwd_triton(z.int(), z.int(), "tanh", 1.0, 0.0, math.inf, 1.0, [], True, True)


@pytest.fixture(scope="module")
def cpp_ops():
    status = K.available()
    if not status.cpu:
        pytest.skip(f"the C++ operators are not built: {status.reason}")
    return torch.ops.losslab


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_same_outputs_as_the_cpp_operators(cpp_ops, dtype):
    g = torch.Generator().manual_seed(10)
    pred, target = torch.randn(5, 9, generator=g, dtype=dtype) * 2, torch.randn(5, 9, generator=g, dtype=dtype) * 2
    for link in (links.sinh(alpha=0.5, cap=2.0).scaled(3.0), links.power(d=2.5), links.smelu(c=0.5, beta=0.2)):
        shape, alpha, beta, cap, scale, params = K.link_spec(link)
        args = (shape, alpha, beta, cap, scale, list(params), True, True)
        got = T.matching_link_fwd_triton(pred.to(DEVICE), target.to(DEVICE), *args, block=8)
        for a, b in zip(got, cpp_ops.matching_link_fwd(pred, target, *args)):
            _close(a, b, dtype)
    args = (*K.composite_sigmoid_spec(links.exp(alpha=0.5, cap=3.0))[:5], [], 0.7, True, True)
    got = T.composite_sigmoid_fwd_triton(pred.to(DEVICE), target.to(DEVICE), *args, block=8)
    for a, b in zip(got, cpp_ops.composite_sigmoid_fwd(pred, target, *args)):
        _close(a, b, dtype)


def test_launchers_register_as_the_operators_cuda_kernels(cpp_ops):
    # Registration needs no GPU: the CUDA dispatch key of each operator gets a kernel.
    assert T.register_cuda_kernels()
    for name in ("matching_link_fwd", "composite_sigmoid_fwd"):
        assert torch._C._dispatch_has_kernel_for_dispatch_key(f"losslab::{name}", "CUDA")
