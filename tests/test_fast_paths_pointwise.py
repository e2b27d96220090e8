"""``pointwise_sigmoid_ce`` / ``pointwise_mse`` without a mask, with a plain mean or sum
over lists: one fused sum over all items instead of per-item terms summed per list.

Values and gradients equal the per-item formula (float64); an op count pins that the
per-list sums are gone (the old code summed a per-item ``[..., L]`` loss per list).
"""
import pytest
import torch
import torch.nn.functional as F

import losslab as ll
from _dispatch_count import OpCounter


def _naive(scores, labels, sigmoid, max_grade, normalize, reduction, sample_weight=None):
    t = labels / max_grade if max_grade is not None else labels
    if sigmoid:
        terms = F.softplus(scores) - t * scores
    else:
        terms = (scores - labels) ** 2
    per_list = terms.sum(-1)
    if normalize:
        per_list = per_list / scores.shape[-1]
    if sample_weight is not None:
        per_list = per_list * sample_weight
    if reduction == "none":
        return per_list
    if reduction == "sum":
        return per_list.sum()
    return per_list.sum() / (per_list.numel() if sample_weight is None else sample_weight.sum())


@pytest.mark.parametrize("sigmoid", [True, False])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("shape", [(6, 5), (2, 3, 4)])
def test_values_and_gradients(sigmoid, reduction, normalize, shape):
    g = torch.Generator().manual_seed(0)
    s = torch.randn(*shape, dtype=torch.float64, generator=g)
    top = 4.0 if sigmoid else None
    y = torch.randint(0, 5, shape, generator=g).double()
    if sigmoid:
        fn = lambda x: ll.pointwise_sigmoid_ce(x, y, max_grade=top, normalize=normalize, reduction=reduction)
    else:
        fn = lambda x: ll.pointwise_mse(x, y, normalize=normalize, reduction=reduction)
    x = s.clone().requires_grad_(True)
    ref = s.clone().requires_grad_(True)
    out, expected = fn(x), _naive(ref, y, sigmoid, top, normalize, reduction)
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
    cot = torch.rand(out.shape, dtype=torch.float64, generator=g) + 0.5
    torch.testing.assert_close(torch.autograd.grad(out, x, cot)[0], torch.autograd.grad(expected, ref, cot)[0],
                               rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(fn, (s.clone().requires_grad_(True),))


def test_sample_weight_keeps_the_per_list_path():
    g = torch.Generator().manual_seed(1)
    s = torch.randn(6, 5, dtype=torch.float64, generator=g, requires_grad=True)
    y = torch.rand(6, 5, dtype=torch.float64, generator=g)
    w = torch.rand(6, dtype=torch.float64, generator=g)
    torch.testing.assert_close(ll.pointwise_sigmoid_ce(s, y, sample_weight=w),
                               _naive(s, y, True, None, False, "mean", w), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("loss", ["pointwise_sigmoid_ce", "pointwise_mse"])
def test_mean_makes_no_per_item_loss_tensor(loss):
    s = torch.randn(64, 32, requires_grad=True)
    y = torch.randint(0, 5, (64, 32)).float()
    kw = {"max_grade": 4.0} if loss == "pointwise_sigmoid_ce" else {}
    with OpCounter() as counter:
        getattr(ll, loss)(s, y, **kw).backward()
    # the fused loss op reduces itself: one call, then no per-list sum and no mean over lists
    fused = "binary_cross_entropy_with_logits" if loss == "pointwise_sigmoid_ce" else "mse_loss"
    assert counter.count(fused) == 1, counter.ops
    assert counter.count("sum") == 0 and counter.count("mean") == 0, counter.ops
