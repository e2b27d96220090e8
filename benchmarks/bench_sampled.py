"""Sampled softmax vs full cross-entropy: one training step at large K, side by side.

    PYTHONPATH=src python benchmarks/bench_sampled.py                  # K = 1e5 and 1e6, d = 256, B = 256
    PYTHONPATH=src python benchmarks/bench_sampled.py --sizes 20000    # quick

One step = forward + backward w.r.t. ``hidden [B, d]`` and the output layer
``out_weight [K, d]``, ``out_bias [K]`` on the same hidden states. Full:
``F.cross_entropy(hidden @ out_weight.T + out_bias, labels)`` (materialises B×K).
Sampled: ``losslab.sampled_softmax_loss`` with a log-uniform proposal, S ∈ {64, 1024},
dense (``index_select``) and sparse (``sparse_grad=True``) weight gradients.

Time: median of ``--repeats`` steps (after one warm-up), ``time.perf_counter``.
Memory: peak resident-set growth during one step, measured by resetting the
kernel's high-water mark (``echo 5 > /proc/self/clear_refs``) and reading
``VmHWM`` from ``/proc/self/status`` after the step, minus ``VmRSS`` before it
(torch allocates large tensors with mmap and returns them, so this sees them;
``tracemalloc`` does not see torch). Also printed: bytes autograd saved for backward.
Quality: the sampled loss next to the full loss, and the cosine of each gradient with the full one.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

import losslab as ll


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def measure(step, repeats):
    """(median seconds, peak RSS growth bytes or None, saved-for-backward bytes, loss, grads)."""
    step()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    before = _status_kib("VmRSS")
    ok = _reset_peak()
    seen = {}

    def pack(t):
        s = t.untyped_storage()
        seen[s.data_ptr()] = max(seen.get(s.data_ptr(), 0), s.nbytes())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss, grads = step()
    peak = (_status_kib("VmHWM") - before) * 1024 if ok else None
    return statistics.median(times), peak, sum(seen.values()), loss, grads


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="100000,1000000", help="comma-separated K values")
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--samples", default="64,1024")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    d, B = args.dim, args.batch
    print(f"bench_sampled: d={d} B={B} threads={torch.get_num_threads()} torch={torch.__version__}; "
          f"median of {args.repeats} steps; memory = peak RSS growth in one step (VmHWM)")
    header = (f"{'K':>8} {'method':34} {'ms/step':>9} {'x full':>7} {'peak MiB':>9} {'x full':>7} {'saved MiB':>9} "
              f"{'loss':>8} {'full loss':>9} {'cos g_h':>7} {'cos g_W':>7}")
    print(header)
    for K in [int(k) for k in args.sizes.split(",")]:
        g = torch.Generator().manual_seed(0)
        W = (torch.randn(K, d, generator=g) / d ** 0.5).requires_grad_(True)
        b = torch.zeros(K, requires_grad=True)
        h = torch.randn(B, d, generator=g).requires_grad_(True)
        # Zipf labels, matching the log-uniform proposal's frequency order
        u = torch.rand(B, generator=g, dtype=torch.float64)
        y = (torch.exp(u * torch.log(torch.tensor(K + 1.0, dtype=torch.float64))).floor().long() - 1).clamp(0, K - 1)

        def make_step(loss_fn):
            def step():
                h.grad = W.grad = b.grad = None
                loss = loss_fn()
                loss.backward()
                return float(loss.detach()), (h.grad, W.grad, b.grad)
            return step

        rows = []
        t_full, m_full, s_full, l_full, g_full = measure(make_step(lambda: F.cross_entropy(h @ W.T + b, y)), args.repeats)
        gh_full, gW_full = g_full[0], g_full[1]  # the next step rebinds .grad, so no copy is needed
        rows.append(("full cross-entropy", t_full, m_full, s_full, l_full, 1.0, 1.0))
        for S in [int(s) for s in args.samples.split(",")]:
            for sparse in (False, True):
                def fn(S=S, sparse=sparse):
                    return ll.sampled_softmax_loss(h, W, b, y, num_sampled=S, proposal="log_uniform",
                                                   generator=1, sparse_grad=sparse)
                t, m, s, l, gr = measure(make_step(fn), args.repeats)
                gW = gr[1].to_dense() if gr[1].is_sparse else gr[1]
                cos_h = float(F.cosine_similarity(gr[0].flatten(), gh_full.flatten(), dim=0))
                cos_W = float(F.cosine_similarity(gW.flatten(), gW_full.flatten(), dim=0))
                rows.append((f"sampled S={S} ({'sparse' if sparse else 'dense'} W.grad)", t, m, s, l, cos_h, cos_W))
                del gW, gr
        for name, t, m, s, l, ch, cw in rows:
            mm = f"{m / 2**20:9.1f}" if m is not None else f"{'n/a':>9}"
            mr = f"{m / m_full:7.3f}" if (m is not None and m_full) else f"{'n/a':>7}"
            print(f"{K:8d} {name:34} {t * 1e3:9.1f} {t / t_full:7.3f} {mm} {mr} {s / 2**20:9.1f} "
                  f"{l:8.3f} {l_full:9.3f} {ch:7.3f} {cw:7.3f}")
        del W, b, h, gh_full, gW_full, g_full
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
