"""Triton kernels (losslab.kernels.triton_kernels) against the reference implementations.

Without a CUDA device the kernels run on CPU tensors in Triton's interpreter
(``TRITON_INTERPRET=1``, set here before the kernels are first defined), on small
shapes with column blocks smaller than a row, so the online log-sum-exp runs over
several blocks and a masked tail. Everything skips when ``triton`` is not installed.
"""
import math
import os
import sys

import pytest
import torch

_ON_GPU = torch.cuda.is_available() and os.environ.get("TRITON_INTERPRET", "0") != "1"
if not _ON_GPU:
    # Triton picks the interpreter when a kernel is decorated, i.e. when
    # losslab.kernels._triton_src is first imported (on the first launch).
    os.environ["TRITON_INTERPRET"] = "1"

pytest.importorskip("triton", reason="triton is not installed (pip install 'losslab[test]')")

import torch.nn.functional as F  # noqa: E402

import losslab as ll  # noqa: E402
from losslab import links  # noqa: E402
from losslab.kernels import triton_kernels as T  # noqa: E402
from reference import matching as naive  # noqa: E402

DEVICE = "cuda" if _ON_GPU else "cpu"


@pytest.fixture(scope="module", autouse=True)
def _interpreter_selected():
    src = sys.modules.get("losslab.kernels._triton_src")
    if src is not None and not _ON_GPU:
        from triton.runtime.interpreter import InterpretedFunction

        if not all(isinstance(f, InterpretedFunction) for f in (src.composite_softmax_kernel, src._link)):
            pytest.skip("the Triton kernels were compiled for a GPU earlier in this process; no interpreter")


def spec(link):
    """``(shape, alpha, beta, cap, scale)`` of a links.* scaling, from its recipe."""
    ctor, kwargs, scales = link.recipe
    assert not kwargs
    return ctor, float(link.alpha), float(link.beta), math.inf if link.cap is None else float(link.cap), float(math.prod(scales))


SCALINGS = {
    "identity": lambda: links.identity(),
    "identity-shifted": lambda: links.identity(alpha=1.5, beta=0.5),
    "exp0.5": lambda: links.exp(alpha=0.5),
    "exp-capped": lambda: links.exp(alpha=0.5, beta=-1.0, cap=2.0),
    "exp-scaled": lambda: links.exp(alpha=0.5).scaled(2.0),
    "anti_exp-capped": lambda: links.anti_exp(alpha=0.8, beta=0.3, cap=3.0),
    "sinh1": lambda: links.sinh(alpha=1.0),
    "sinh0.5-nocap": lambda: links.sinh(alpha=0.5, cap=None),
    "cosh-capped": lambda: links.cosh(alpha=0.3, beta=0.2, cap=1.0),
}

TOL = {torch.float64: dict(rtol=1e-9, atol=1e-9), torch.float32: dict(rtol=2e-4, atol=2e-4)}


def _close(a, b, dtype, **override):
    tol = dict(TOL[dtype], **override)
    # Absolute tolerance relative to the reference's magnitude (sinh gradients reach 1e2-1e3).
    finite = b[torch.isfinite(b)]
    tol["atol"] = tol["atol"] * max(1.0, float(finite.abs().max()) if finite.numel() else 0.0)
    torch.testing.assert_close(a.cpu(), b.cpu(), equal_nan=True, **tol)


def _reference_csl(pred, target, scaling, gamma=1.0, dim=-1):
    """Loss per example ('none') and the gradients of its sum wrt pred and target."""
    p = pred.detach().clone().requires_grad_(True)
    t = target.detach().clone().requires_grad_(True)
    loss = ll.composite_softmax_loss(p, t, scaling, gamma=gamma, dim=dim, reduction="none")
    gp, gt = torch.autograd.grad(loss.sum(), (p, t))
    return loss.detach(), gp, gt


def _rand(shape, seed, dtype, scale=2.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=dtype) * scale


# ---------------------------------------------------------------------------------
# composite_softmax_fwd


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", list(SCALINGS))
@pytest.mark.parametrize("rows,K,block,gamma", [(3, 7, 8, 1.0), (5, 33, 8, 0.7)])
def test_composite_softmax_matches_reference(name, dtype, rows, K, block, gamma):
    pred, target = _rand((rows, K), 1, dtype), _rand((rows, K), 2, dtype)
    q = SCALINGS[name]()
    loss, gp, gt = T.composite_softmax_fwd_triton(
        pred.to(DEVICE), target.to(DEVICE), *spec(q), gamma, True, True, block_k=block
    )
    assert loss.shape == (rows,) and gp.shape == gt.shape == (rows, K)
    assert loss.dtype == gp.dtype == gt.dtype == dtype
    for got, ref in zip((loss, gp, gt), _reference_csl(pred, target, q, gamma)):
        _close(got, ref, dtype)


def test_composite_softmax_block_size_does_not_matter():
    # Blocks of 4 and 16 (the online rescaling path) and the default (one block holding the row) agree.
    pred, target = _rand((4, 50), 3, torch.float64), _rand((4, 50), 4, torch.float64)
    s = spec(links.sinh(alpha=0.8))
    outs = [T.composite_softmax_fwd_triton(pred.to(DEVICE), target.to(DEVICE), *s, 0.9, True, True, block_k=b) for b in (4, 16, None)]
    for other in outs[1:]:
        for a, b in zip(outs[0], other):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_composite_softmax_matches_naive_loop():
    # An independent reference: eq. (29) written out row by row in Python floats.
    pred, target = _rand((3, 11), 5, torch.float64, 1.0), _rand((3, 11), 6, torch.float64, 1.0)
    for q in (links.exp(alpha=0.5), links.sinh(alpha=1.0), links.identity()):
        loss, _, _ = T.composite_softmax_fwd_triton(pred.to(DEVICE), target.to(DEVICE), *spec(q), 0.8, False, False, block_k=4)
        torch.testing.assert_close(loss.cpu(), naive.composite_softmax_loss(pred, target, q, gamma=0.8), rtol=1e-10, atol=1e-10)


def test_composite_softmax_gradient_flags():
    pred, target = _rand((3, 9), 7, torch.float32), _rand((3, 9), 8, torch.float32)
    s = spec(links.exp(alpha=0.5))
    full = T.composite_softmax_fwd_triton(pred.to(DEVICE), target.to(DEVICE), *s, 1.0, True, True, block_k=4)
    for need_p, need_t in ((False, False), (True, False), (False, True)):
        loss, gp, gt = T.composite_softmax_fwd_triton(pred.to(DEVICE), target.to(DEVICE), *s, 1.0, need_p, need_t, block_k=4)
        torch.testing.assert_close(loss, full[0])
        assert gp.shape == ((3, 9) if need_p else (0,)) and gt.shape == ((3, 9) if need_t else (0,))
        if need_p:
            torch.testing.assert_close(gp, full[1])
        if need_t:
            torch.testing.assert_close(gt, full[2])


def test_composite_softmax_leading_batch_by_flattening():
    # The op takes [rows, K]; a [2, 3, 9] input (classes at dim 1) flattens to [6, 9].
    pred, target = _rand((2, 9, 3), 9, torch.float64), _rand((2, 9, 3), 10, torch.float64)
    q = links.sinh(alpha=0.7)
    flat = lambda x: x.movedim(1, -1).reshape(-1, 9).to(DEVICE)  # noqa: E731
    loss, gp, gt = T.composite_softmax_fwd_triton(flat(pred), flat(target), *spec(q), 1.0, True, True, block_k=4)
    ref_loss, ref_gp, ref_gt = _reference_csl(pred, target, q, dim=1)
    _close(loss.reshape(2, 3), ref_loss, torch.float64)
    _close(gp.reshape(2, 3, 9).movedim(-1, 1), ref_gp, torch.float64)
    _close(gt.reshape(2, 3, 9).movedim(-1, 1), ref_gt, torch.float64)


@pytest.mark.parametrize(
    "make",
    [
        lambda: links.exp(alpha=0.5, cap=20.0),
        lambda: links.sinh(alpha=0.5, cap=20.0),
        links.identity,
        lambda: links.cosh(alpha=0.3, beta=0.2, cap=1.0),  # Q-logits of -1e4 rows are ~ -4e3
    ],
)
def test_composite_softmax_extremes_float32(make):
    # ±1e4 in float32: finite wherever the reference is finite, and equal to it.
    # Symmetric rows (sinh at ±1e4) need bit-equal Q(z) and Q(-z); rows whose Q-logits
    # are all very negative need the first block's rescaling to avoid 0 * inf.
    pred = torch.tensor([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [30.0, -30.0, 1e4]])
    target = torch.tensor([[-1e4, 1e4, 0.0], [1e4, 1e4, -1e4], [0.0, 0.0, 0.0]])
    q = make()
    got = T.composite_softmax_fwd_triton(pred.to(DEVICE), target.to(DEVICE), *spec(q), 1.0, True, True, block_k=2)
    for a, b in zip(got, _reference_csl(pred, target, q)):
        assert torch.isfinite(a.cpu())[torch.isfinite(b)].all()
        _close(a, b, torch.float32, rtol=1e-4, atol=1e-4)


def test_composite_softmax_minus_inf_entries_follow_the_reference():
    # -inf is not a class mask here: with a capped exp scaling Q(-inf) = -inf gives
    # p = 0, while (pred - target) = -inf - (-inf) makes the value NaN, as in the reference.
    ninf = float("-inf")
    q = links.exp(alpha=0.5, cap=20.0)
    cases = [
        ([[0.0, 1.0, ninf]], [[0.5, -1.0, ninf]]),
        ([[0.0, 1.0, ninf]], [[0.5, -1.0, 2.0]]),
        ([[0.0, 1.0, 2.0]], [[0.5, -1.0, ninf]]),
        ([[ninf, ninf, ninf, 1.0, 0.0]], [[ninf, 0.0, 1.0, 2.0, ninf]]),  # a block of only -inf first
    ]
    for a, b in cases:
        pred, target = torch.tensor(a), torch.tensor(b)
        got = T.composite_softmax_fwd_triton(pred.to(DEVICE), target.to(DEVICE), *spec(q), 1.0, True, True, block_k=2)
        for x, y in zip(got, _reference_csl(pred, target, q)):
            torch.testing.assert_close(x.cpu(), y, rtol=1e-5, atol=1e-5, equal_nan=True)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_composite_softmax_half_inputs_accumulate_in_float32(dtype):
    # Half inputs, float32 arithmetic: equal to the float32 reference on the same
    # (rounded) values up to the output's rounding.
    pred, target = _rand((4, 40), 11, torch.float32).to(dtype), _rand((4, 40), 12, torch.float32).to(dtype)
    q = links.exp(alpha=0.5)
    got = T.composite_softmax_fwd_triton(pred.to(DEVICE), target.to(DEVICE), *spec(q), 1.0, True, True, block_k=16)
    assert all(t.dtype == dtype for t in got)
    rtol = 1e-2 if dtype == torch.bfloat16 else 2e-3
    for a, b in zip(got, _reference_csl(pred.float(), target.float(), q)):
        torch.testing.assert_close(a.float().cpu(), b, rtol=rtol, atol=rtol * max(1.0, float(b.abs().max())))


def test_composite_softmax_rejects_bad_arguments():
    x = torch.zeros(2, 3, device=DEVICE)
    with pytest.raises(ValueError, match="scaling shape 'tanh'"):
        T.composite_softmax_fwd_triton(x, x, "tanh", 1.0, 0.0, math.inf, 1.0, 1.0, False, False)
    with pytest.raises(ValueError, match="rows, K"):
        T.composite_softmax_fwd_triton(x, x[:1], "exp", 1.0, 0.0, math.inf, 1.0, 1.0, False, False)
    with pytest.raises(ValueError, match="block_k"):
        T.composite_softmax_fwd_triton(x, x, "exp", 1.0, 0.0, math.inf, 1.0, 1.0, False, False, block_k=6)


# ---------------------------------------------------------------------------------
# cross_entropy_fwd


def _reference_ce(logits, target, eps, ignore_index=-100):
    x = logits.detach().clone().requires_grad_(True)
    probs = target.is_floating_point()
    t = target.detach().clone().requires_grad_(True) if probs else target
    loss = ll.cross_entropy(x, t, ignore_index=ignore_index, label_smoothing=eps, reduction="none", dim=-1)
    grads = torch.autograd.grad(loss.sum(), (x, t) if probs else (x,))
    return (loss.detach(), *grads)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("eps", [0.0, 0.1])
@pytest.mark.parametrize("probs", [False, True], ids=["labels", "probs"])
def test_cross_entropy_matches_reference(dtype, eps, probs):
    logits = _rand((5, 33), 13, dtype)
    if probs:
        target = torch.softmax(_rand((5, 33), 14, dtype), -1)
    else:
        target = torch.tensor([0, 32, -100, 7, 16])
    loss, gx, gt = T.cross_entropy_fwd_triton(logits.to(DEVICE), target.to(DEVICE), -100, eps, True, probs, block_k=8)
    ref = _reference_ce(logits, target, eps)
    _close(loss, ref[0], dtype)
    _close(gx, ref[1], dtype)
    if probs:
        _close(gt, ref[2], dtype)
    else:
        assert gt.shape == (0,)
        assert loss[2] == 0 and (gx[2] == 0).all()  # the ignored row


def test_cross_entropy_matches_torch():
    # An independent reference: PyTorch's own F.cross_entropy.
    logits = _rand((6, 21), 15, torch.float64)
    labels = torch.tensor([3, 0, 20, 11, 5, 5])
    for eps in (0.0, 0.25):
        x = logits.clone().requires_grad_(True)
        ref = F.cross_entropy(x, labels, label_smoothing=eps, reduction="none")
        (ref_g,) = torch.autograd.grad(ref.sum(), x)
        loss, gx, _ = T.cross_entropy_fwd_triton(logits.to(DEVICE), labels.to(DEVICE), -100, eps, True, False, block_k=4)
        torch.testing.assert_close(loss.cpu(), ref.detach())
        torch.testing.assert_close(gx.cpu(), ref_g)


def test_cross_entropy_minus_inf_masks_a_class():
    # A -inf logit removes its class (also from label smoothing's uniform part).
    full = _rand((4, 6), 16, torch.float64, 1.0)
    keep = [0, 1, 3, 4, 5]
    labels = torch.tensor([0, 3, 5, 1])
    probs_kept = torch.softmax(_rand((4, 5), 17, torch.float64), -1)
    probs_full = torch.zeros(4, 6, dtype=torch.float64)
    probs_full[:, keep] = probs_kept
    masked = full.clone()
    masked[:, 2] = float("-inf")
    for eps in (0.0, 0.3):
        for tgt_full, tgt_kept in ((labels, torch.tensor([0, 2, 4, 1])), (probs_full, probs_kept)):
            loss, gx, _ = T.cross_entropy_fwd_triton(masked.to(DEVICE), tgt_full.to(DEVICE), -100, eps, True, False, block_k=2)
            xr = full[:, keep].clone().requires_grad_(True)
            ref = F.cross_entropy(xr, tgt_kept, label_smoothing=eps, reduction="none")
            (ref_g,) = torch.autograd.grad(ref.sum(), xr)
            torch.testing.assert_close(loss.cpu(), ref.detach())
            torch.testing.assert_close(gx.cpu()[:, keep], ref_g)
            assert (gx[:, 2] == 0).all()


def test_cross_entropy_extremes_and_ignored_rows_float32():
    logits = torch.tensor([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [30.0, -30.0, 1e4], [float("nan"), 0.0, 1.0]])
    labels = torch.tensor([1, 0, 2, -100])
    for eps in (0.0, 0.1):
        loss, gx, _ = T.cross_entropy_fwd_triton(logits.to(DEVICE), labels.to(DEVICE), -100, eps, True, False, block_k=2)
        assert torch.isfinite(loss).all() and torch.isfinite(gx).all()  # the NaN row is ignored, not read
        x = logits[:3].clone().requires_grad_(True)
        ref = F.cross_entropy(x, labels[:3], label_smoothing=eps, reduction="none")
        (ref_g,) = torch.autograd.grad(ref.sum(), x)
        torch.testing.assert_close(loss[:3].cpu(), ref.detach(), rtol=1e-5, atol=1e-3)
        torch.testing.assert_close(gx[:3].cpu(), ref_g, rtol=1e-5, atol=1e-6)
        assert loss[3] == 0 and (gx[3] == 0).all()


def test_cross_entropy_rejects_labels_out_of_range():
    x = torch.zeros(2, 3, device=DEVICE)
    with pytest.raises(ValueError, match="label 3 outside"):
        T.cross_entropy_fwd_triton(x, torch.tensor([0, 3], device=DEVICE), -100, 0.0, True, False)


# ---------------------------------------------------------------------------------
# matching_sigmoid_fwd


def _reference_matching(pred, target, link):
    p = pred.detach().clone().requires_grad_(True)
    t = target.detach().clone().requires_grad_(True)
    loss = ll.matching_loss(p, t, link, reduction="none")
    gp, gt = torch.autograd.grad(loss.sum(), (p, t))
    return loss.detach(), gp, gt


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    "make", [lambda: links.sigmoid(), lambda: links.sigmoid(alpha=2.0, beta=0.5), lambda: links.sigmoid(alpha=0.7, beta=-1.0).scaled(3.0)]
)
def test_matching_sigmoid_matches_reference(dtype, make):
    h = make()
    pred, target = _rand((3, 7, 5), 18, dtype, 3.0), _rand((3, 7, 5), 19, dtype, 3.0)
    alpha, beta, scale = float(h.alpha), float(h.beta), float(math.prod(h.recipe[2]))
    got = T.matching_sigmoid_fwd_triton(pred.to(DEVICE), target.to(DEVICE), alpha, beta, scale, True, True, block=32)
    assert got[0].shape == pred.shape
    for a, b in zip(got, _reference_matching(pred, target, h)):
        _close(a.reshape(b.shape), b, dtype)


def test_matching_sigmoid_extremes_float32():
    pred = torch.tensor([-1e4, -1e4, 1e4, 1e4, 0.0, 30.0, -30.0, 1e-4])
    target = torch.tensor([1e4, -1e4, -1e4, 1e4, 1e4, -1e4, 1e4, 0.0])
    h = links.sigmoid(alpha=1.0, beta=0.0)
    got = T.matching_sigmoid_fwd_triton(pred.to(DEVICE), target.to(DEVICE), 1.0, 0.0, 1.0, True, True, block=4)
    for a, b in zip(got, _reference_matching(pred, target, h)):
        assert torch.isfinite(a.cpu())[torch.isfinite(b)].all()
        _close(a, b, torch.float32, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------------
# Against the C++ operators, where they are built (same inputs on CPU, same outputs)


@pytest.fixture(scope="module")
def cpp_ops():
    import losslab.kernels as K

    if not hasattr(K, "available"):
        pytest.skip("the C++ operators (losslab.kernels.available) are not part of this checkout")
    status = K.available()
    if not status.cpu:
        pytest.skip(f"the C++ operators are not built: {status.reason}")
    return torch.ops.losslab


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_same_outputs_as_the_cpp_operators(cpp_ops, dtype):
    pred, target = _rand((5, 33), 20, dtype), _rand((5, 33), 21, dtype)
    for q in (links.identity(alpha=1.5, beta=0.5), links.exp(alpha=0.5).scaled(2.0), links.sinh(alpha=1.0), links.cosh(alpha=0.3, beta=0.2, cap=1.0)):
        args = (*spec(q), 0.7, True, True)
        got = T.composite_softmax_fwd_triton(pred.to(DEVICE), target.to(DEVICE), *args, block_k=8)
        for a, b in zip(got, cpp_ops.composite_softmax_fwd(pred, target, *args)):
            _close(a, b, dtype)
    probs = torch.softmax(target, -1)
    labels = torch.tensor([0, 32, -100, 7, 16])
    for tgt, need_t in ((labels, False), (probs, True)):
        got = T.cross_entropy_fwd_triton(pred.to(DEVICE), tgt.to(DEVICE), -100, 0.1, True, need_t, block_k=8)
        for a, b in zip(got, cpp_ops.cross_entropy_fwd(pred, tgt, -100, 0.1, True, need_t)):
            _close(a, b, dtype)
    got = T.matching_sigmoid_fwd_triton(pred.to(DEVICE), target.to(DEVICE), 0.7, -1.0, 3.0, True, True, block=64)
    for a, b in zip(got, cpp_ops.matching_sigmoid_fwd(pred, target, 0.7, -1.0, 3.0, True, True)):
        _close(a, b, dtype)


def test_launchers_register_as_the_operators_cuda_kernels(cpp_ops):
    # Registration needs no GPU: the CUDA dispatch key of each operator gets a kernel.
    assert T.register_cuda_kernels()
    for name in ("composite_softmax_fwd", "cross_entropy_fwd", "matching_sigmoid_fwd"):
        assert torch._C._dispatch_has_kernel_for_dispatch_key(f"losslab::{name}", "CUDA")
    assert T.register_cuda_kernels()  # idempotent
