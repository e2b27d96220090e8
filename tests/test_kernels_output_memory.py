"""Output buffers and the fast exponential of the fused CPU kernels.

* With ``LOSSLAB_HUGE_PAGES=1`` large gradient buffers are advised transparent huge pages
  before their first write (``csrc/output_buffers.h``); by default they are not.
* In float32 the composite-Softmax kernel takes ATen's polynomial ``exp_u20`` for the
  link's exponentials on rows whose exponents stay in [-80, 80] and Q-logits in
  [-64, 64], and Sleef's exp (as ``torch.exp``) elsewhere. Both kinds of rows must
  agree with the float64 reference to float32 accuracy.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import losslab as ll
from losslab import links

ROOT = Path(__file__).resolve().parents[1]


def _vm_flags(address: int) -> list[str]:
    """The VmFlags of the mapping of this process that contains ``address``."""
    current = None
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()[0] if line else ""
        if "-" in head and ":" not in head:
            lo, hi = (int(v, 16) for v in head.split("-"))
            current = lo <= address < hi
        elif line.startswith("VmFlags:") and current:
            return line.split()[1:]
    raise AssertionError(f"no mapping contains {address:#x}")


_CHECK = """
import torch, losslab.kernels as K
from pathlib import Path
K.available()
x = torch.randn(64, 32768)
_, g, _ = torch.ops.losslab.composite_softmax_fwd(x, x.flip(1), "exp", 0.5, 0.0, 20.0, 1.0, 1.0, True, False)
a = g.data_ptr() + g.nbytes // 2
for line in Path("/proc/self/smaps").read_text().splitlines():
    h = line.split()[0] if line else ""
    if "-" in h and ":" not in h:
        lo, hi = (int(v, 16) for v in h.split("-")); inside = lo <= a < hi
    elif line.startswith("VmFlags:") and inside:
        print("hg" in line.split()[1:])
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="madvise(MADV_HUGEPAGE) is Linux's")
def test_large_gradient_values_do_not_depend_on_the_pages(built):
    # 64 x 32768 float32 = 8 MB: the advice (when on) covers the middle of the gradient; it
    # changes where the pages come from, never the values.
    x = torch.randn(64, 32768)
    _, grad, _ = torch.ops.losslab.composite_softmax_fwd(x, x.flip(1), "exp", 0.5, 0.0, 20.0, 1.0, 1.0, True, False)
    flags = _vm_flags(grad.data_ptr() + grad.nbytes // 2)
    assert ("hg" in flags) == (os.environ.get("LOSSLAB_HUGE_PAGES") == "1"), flags
    xd = x.double().requires_grad_(True)
    ll.composite_softmax_loss(xd, x.flip(1).double(), links.exp(alpha=0.5, cap=20.0), impl="reference",
                              reduction="sum").backward()
    torch.testing.assert_close(grad.double(), xd.grad, rtol=1e-4, atol=1e-7)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="madvise(MADV_HUGEPAGE) is Linux's")
def test_huge_page_advice_is_opt_in(built):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    env.pop("LOSSLAB_HUGE_PAGES", None)
    for value, advised in ((None, "False"), ("0", "False"), ("1", "True")):
        if value is not None:
            env["LOSSLAB_HUGE_PAGES"] = value
        out = subprocess.run([sys.executable, "-c", _CHECK], env=env, capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == advised, (value, out.stdout)


def _float64_reference(pred, target, scaling):
    p = pred.double().requires_grad_(True)
    loss = ll.composite_softmax_loss(p, target.double(), scaling, impl="reference", reduction="none")
    loss.sum().backward()
    return loss.detach(), p.grad


@pytest.mark.parametrize("scaling, spread", [
    (links.exp(alpha=0.5), 3.0),          # e^x <= e^5: every row on the fast exponential
    (links.sinh(alpha=1.0), 1.0),         # cosh(z) up to ~60: still fast
    (links.sinh(alpha=1.0), 2.5),         # cosh(z) beyond 64 in most rows: Sleef's exp
    (links.anti_exp(alpha=0.7), 2.0),
    (links.cosh(alpha=0.5, cap=3.0), 4.0),
    (links.exp(alpha=2.0, cap=50.0), 20.0),  # exponents past 80 inside the cap: Sleef's exp
])
def test_float32_rows_match_float64_reference(built, scaling, spread):
    g = torch.Generator().manual_seed(3)
    pred = spread * torch.randn(48, 3000, generator=g)
    target = spread * torch.randn(48, 3000, generator=g)
    ref_loss, ref_grad = _float64_reference(pred, target, scaling)
    p = pred.clone().requires_grad_(True)
    loss = ll.composite_softmax_loss(p, target, scaling, impl="fused", reduction="none")
    loss.sum().backward()
    finite = torch.isfinite(ref_loss)
    assert finite.any()
    scale = ref_loss[finite].abs().max().clamp_min(1.0)
    # float32 inputs, float64 truth: the loss to a few float32 ULPs of its scale.
    torch.testing.assert_close(loss.double()[finite], ref_loss[finite], rtol=1e-5, atol=2e-5 * float(scale))
    gscale = ref_grad[finite].abs().max().clamp_min(1e-30)
    torch.testing.assert_close(p.grad.double()[finite], ref_grad[finite], rtol=1e-4, atol=1e-5 * float(gscale))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kind", ["labels", "ignored", "probabilities", "masked"])
def test_cross_entropy_inplace_equals_out_of_place(built, dtype, kind):
    # The in-place variant (linear_cross_entropy's chunk step) writes the gradient over the
    # logits; loss and gradient must be those of cross_entropy_fwd, bit for bit.
    g = torch.Generator().manual_seed(5)
    x = (3 * torch.randn(37, 301, generator=g)).to(dtype)
    if kind == "probabilities":
        target = torch.softmax(torch.randn(37, 301, generator=g), -1).to(dtype)
    else:
        target = torch.randint(0, 301, (37,), generator=g)
    if kind == "ignored":
        target[::4] = -100
    if kind == "masked":
        x[:, 7::13] = -float("inf")
        target = torch.where(target % 13 == 7, target + 1, target)
    loss, grad, _ = torch.ops.losslab.cross_entropy_fwd(x, target, -100, 0.0, True, False)
    buf = x.clone()
    loss_inplace = torch.ops.losslab.cross_entropy_fwd_inplace_(buf, target, -100, 0.0)
    assert torch.equal(loss_inplace, loss)
    assert torch.equal(buf, grad)
    # ... and the loss is cross-entropy's
    expected = torch.nn.functional.cross_entropy(x.double(), target if kind != "probabilities" else target.double(),
                                                 reduction="none")
    torch.testing.assert_close(loss.double(), expected, rtol=1e-5 if dtype == torch.float32 else 1e-12, atol=1e-6)


def test_cross_entropy_inplace_refuses_label_smoothing(built):
    x = torch.randn(4, 5)
    with pytest.raises(RuntimeError, match="label smoothing"):
        torch.ops.losslab.cross_entropy_fwd_inplace_(x, torch.tensor([0, 1, 2, 3]), -100, 0.1)


def test_linear_cross_entropy_holds_one_chunk_buffer(built):
    # Every chunk's logits and gradient live in one [rows, K] buffer: with 4 chunks the
    # walk allocates it once, not once per chunk (counted at the dispatcher).
    from _dispatch_count import OpCounter

    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 16, generator=g, requires_grad=True)
    W = torch.randn(300, 16, generator=g, requires_grad=True)
    y = torch.randint(0, 300, (32,), generator=g)
    with OpCounter() as counter:
        ll.linear_cross_entropy(x, W, y, chunk_size=8, impl="fused").backward()
    chunk_bytes = 8 * 300 * 4
    chunk_sized = [a for a in counter.allocs if a[1] == chunk_bytes]
    assert len(chunk_sized) == 1, counter.allocs
    ref_x = x.detach().clone().requires_grad_(True)
    ref_W = W.detach().clone().requires_grad_(True)
    torch.nn.functional.cross_entropy(ref_x @ ref_W.T, y).backward()
    torch.testing.assert_close(x.grad, ref_x.grad, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(W.grad, ref_W.grad, rtol=1e-5, atol=1e-6)
