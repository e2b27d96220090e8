"""The fused CPU kernels on one thread and on two: the same results.

The kernels split rows (or elements) over ``at::parallel_for``, which only runs in parallel
when the library is built with OpenMP (``-fopenmp``). Under ``make test`` every pytest
worker runs with one intra-op thread, so these tests set two threads themselves: a race
between threads (a shared scratch row, an unsynchronised reduction) shows up as a
difference from the one-thread result. Row kernels give bit-identical rows; kernels that
sum over all elements may differ in summation order only.
"""
import pytest
import torch

import losslab as ll
from losslab import links


def _gen(seed):
    return torch.Generator().manual_seed(seed)


# name -> (loss of (x, aux) with impl="fused", inputs builder, exact per-row result?)
CASES = {
    "composite_softmax": (lambda x, s: ll.composite_softmax_loss(x, s, links.sinh(alpha=0.7), impl="fused",
                                                                  reduction="none"),
                          lambda: (torch.randn(257, 700, generator=_gen(1)), torch.randn(257, 700, generator=_gen(2))),
                          True),
    "cross_entropy": (lambda x, y: ll.cross_entropy(x, y, impl="fused", reduction="none", label_smoothing=0.1),
                      lambda: (torch.randn(257, 700, generator=_gen(1)), torch.randint(0, 700, (257,), generator=_gen(2))),
                      True),
    "matching_sigmoid": (lambda x, s: ll.matching_loss(x, s, links.sigmoid(), impl="fused"),
                         lambda: (torch.randn(300, 700, generator=_gen(1)), torch.randn(300, 700, generator=_gen(2))),
                         False),
    "matching_tanh": (lambda x, s: ll.matching_loss(x, s, links.tanh(alpha=2.0), impl="fused", reduction="sum"),
                      lambda: (torch.randn(300, 700, generator=_gen(1)), torch.randn(300, 700, generator=_gen(2))),
                      False),
    "composite_sigmoid": (lambda x, s: ll.composite_sigmoid_loss(x, s, links.sinh(alpha=0.5), impl="fused"),
                          lambda: (torch.randn(300, 700, generator=_gen(1)), torch.randn(300, 700, generator=_gen(2))),
                          False),
    "hinge": (lambda x, y: ll.hinge(x, y, impl="fused"),
              lambda: (torch.randn(300, 700, generator=_gen(1)), 1 - 2 * torch.randint(0, 2, (300, 700), generator=_gen(2))),
              False),
    "log_cosh": (lambda x, s: ll.log_cosh(x, s, impl="fused", reduction="none"),
                 lambda: (torch.randn(300, 700, generator=_gen(1)), torch.randn(300, 700, generator=_gen(2))),
                 True),
    "self_normalization": (lambda x, y: ll.self_normalization(x, y, impl="fused", reduction="none"),
                           lambda: (torch.randn(257, 700, generator=_gen(1)), torch.randint(0, 700, (257,), generator=_gen(2))),
                           True),
    "batch_cross_entropy": (lambda x, y: ll.batch_cross_entropy(x, y, impl="fused", reduction="none"),
                            lambda: (torch.randn(257, 700, generator=_gen(1)), torch.randint(0, 700, (257,), generator=_gen(2))),
                            False),
}


def _run(fn, inputs, threads):
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        x = inputs[0].clone().requires_grad_(True)
        out = fn(x, *inputs[1:])
        cot = torch.rand(out.shape, generator=_gen(9)) + 0.5
        (out * cot).sum().backward()
        return out.detach(), x.grad
    finally:
        torch.set_num_threads(before)


@pytest.mark.skipif(not torch.backends.openmp.is_available(), reason="torch without OpenMP parallelises differently")
def test_kernels_run_on_the_threads_torch_is_given(built):
    # Built without -fopenmp, at::parallel_for's OpenMP pragma is dropped and every kernel
    # runs on one thread (what the library did before -fopenmp was in its flags).
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert torch.ops.losslab.parallel_threads(64) == 2
        torch.set_num_threads(1)
        assert torch.ops.losslab.parallel_threads(64) == 1
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("name", list(CASES))
def test_two_threads_equal_one(built, name):
    fn, make, exact = CASES[name]
    inputs = make()
    one = _run(fn, inputs, 1)
    for _ in range(3):  # a race need not show on every run
        two = _run(fn, inputs, 2)
        for a, b in zip(one, two):
            if exact:
                assert torch.equal(a, b)
            else:
                torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
