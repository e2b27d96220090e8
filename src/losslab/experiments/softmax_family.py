"""``losslab softmax-family``: full softmax vs Fenchel–Young and sampled approximations at large K (seed 003).

Generated data: ``K`` classes with a Zipf prior ``p_k ∝ (k+1)^(-a)`` (class 0 the
most frequent, so the log-uniform proposal matches the frequency order), Gaussian
class prototypes ``μ_k`` in ``d`` dims and inputs ``x = μ_y + σ ε``. The model is
softmax regression on ``x`` (``out_weight [K, d]`` from zero, ``out_bias [K]`` from
``-log K``), trained with Adam by each loss. Reported per loss: top-1 and NDCG@10 on held-out data, wall time
per epoch, bytes saved for backward in one step (a measured proxy for peak
activation memory; ``saved_tensors_hooks``), the per-epoch complexity formula, and
the gradient bias² / variance of each sampled estimator against the exact softmax
gradient at the trained full-softmax state (:func:`losslab.analysis.gradient_bias_variance`).

Writes ``softmax_family.json``, ``softmax_family.md``, ``softmax_family_training.png`` (loss and
held-out top-1 per epoch) and ``softmax_family_bias_variance.png`` (bias² and variance vs S,
log-log) under ``<--out>/softmax-family/``.
"""
from __future__ import annotations

import argparse
import json
import math
import time


# The --losses names, in the order of the table (the keys of _methods()).
LOSS_NAMES = (
    "softmax (full)", "sparsemax FY", "entmax-1.5 FY", "entmax bisect FY", "sampled softmax (uniform)",
    "sampled softmax (log-uniform)", "importance sampling (log-uniform)", "negative sampling (unigram^0.75)",
    "NCE (unigram)", "in-batch negatives (logQ)",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from losslab import cli

    parser.add_argument("--num-classes", type=cli.int_range(2), default=2000, help="K (default 2000; up to 100000)")
    parser.add_argument("--dim", type=cli.positive_int, default=32, help="d, input / embedding dimension (default 32)")
    parser.add_argument("--train", type=cli.positive_int, default=10000, help="training examples N (default 10000)")
    parser.add_argument("--test", type=cli.positive_int, default=2000, help="held-out examples (default 2000)")
    parser.add_argument("--epochs", type=cli.positive_int, default=2, help="(default 2)")
    parser.add_argument("--batch-size", type=cli.positive_int, default=256, help="B (default 256)")
    parser.add_argument("--num-sampled", type=cli.positive_int, default=64,
                        help="S, negatives per step, below K (default 64)")
    parser.add_argument("--lr", type=cli.positive_float, default=0.02, help="Adam learning rate (default 0.02)")
    parser.add_argument("--zipf", type=cli.nonnegative_float, default=1.0,
                        help="Zipf exponent a >= 0 of the class prior (default 1; 0 = uniform)")
    parser.add_argument("--noise", type=cli.nonnegative_float, default=0.8, help="σ >= 0 of the input noise (default 0.8)")
    parser.add_argument("--repeats", type=cli.int_range(2), default=4,
                        help="draws per S for gradient bias/variance, at least 2 (default 4)")
    parser.add_argument("--losses", type=cli.names(LOSS_NAMES, aliases={"all": LOSS_NAMES}), default=LOSS_NAMES,
                        metavar="NAMES", choices=cli.Names(LOSS_NAMES + ("all",)),
                        help="'all' (default) or a comma list of: %(choices)s")
    parser.add_argument("--seed", type=cli.nonnegative_int, default=0)
    cli.add_common(parser)


def make_data(K, d, n, *, zipf, noise, generator):
    """Zipf-distributed labels and Gaussian-prototype inputs; returns (x [n, d], y [n], prototypes, prior)."""
    import torch

    prior = (torch.arange(K, dtype=torch.float64) + 1.0).pow(-zipf)
    prior = prior / prior.sum()
    mu = torch.randn(K, d, generator=generator)
    y = torch.multinomial(prior, n, replacement=True, generator=generator)
    x = mu[y] + noise * torch.randn(n, d, generator=generator)
    return x, y, mu, prior


def _methods(S, counts):
    """name -> (loss(h, W, b, y, generator) builder, complexity formula, kind)."""
    import torch.nn.functional as F

    import losslab as ll

    def full(h, W, b, y, g):
        return F.cross_entropy(h @ W.T + b, y)

    def fy(name):
        fn = getattr(ll, name)
        return lambda h, W, b, y, g: fn(h @ W.T + b, y)

    m = {
        "softmax (full)": (full, "O(N·K·d)", "full"),
        "sparsemax FY": (fy("sparsemax_loss"), "O(N·K·d + N·K log K)", "full"),
        "entmax-1.5 FY": (fy("entmax15_loss"), "O(N·K·d + N·K log K)", "full"),
        "entmax bisect FY": (fy("entmax_bisect_loss"), "O(N·K·d + N·K·T), T bisection steps", "full"),
        "sampled softmax (uniform)": (
            lambda h, W, b, y, g: ll.sampled_softmax_loss(h, W, b, y, num_sampled=S, proposal="uniform", generator=g),
            "O(N·(S+1)·d)", "sampled"),
        "sampled softmax (log-uniform)": (
            lambda h, W, b, y, g: ll.sampled_softmax_loss(h, W, b, y, num_sampled=S, proposal="log_uniform", generator=g),
            "O(N·(S+1)·d)", "sampled"),
        "importance sampling (log-uniform)": (
            lambda h, W, b, y, g: ll.importance_sampling_loss(h, W, b, y, num_sampled=S, proposal="log_uniform", generator=g),
            "O(N·(S+1)·d)", "sampled"),
        "negative sampling (unigram^0.75)": (
            lambda h, W, b, y, g: ll.negative_sampling_loss(h, W, b, y, num_sampled=S, proposal="unigram", counts=counts,
                                                            power=0.75, generator=g),
            "O(N·(S+1)·d)", "sampled"),
        "NCE (unigram)": (
            lambda h, W, b, y, g: ll.sampled_nce_loss(h, W, b, y, num_sampled=S, proposal="unigram", counts=counts, generator=g),
            "O(N·(S+1)·d)", "sampled"),
        "in-batch negatives (logQ)": (
            lambda h, W, b, y, g: ll.in_batch_negatives_loss(h, W, b, y, proposal="unigram", counts=counts),
            "O(N·B·d)", "inbatch"),
    }
    return m


def _cost(formula_kind, N, K, d, S, B):
    if formula_kind == "full":
        return N * K * d
    if formula_kind == "sampled":
        return N * (S + 1) * d
    return N * B * d


def evaluate(W, b, x, y, chunk=1024):
    """top-1 accuracy and NDCG@10 (one relevant class: 1/log2(1+rank) if rank <= 10)."""
    import torch

    correct, ndcg = 0.0, 0.0
    with torch.no_grad():
        for i in range(0, x.shape[0], chunk):
            s = x[i:i + chunk] @ W.T + b
            yy = y[i:i + chunk]
            s_y = s.gather(1, yy[:, None])
            rank = (s > s_y).sum(1) + 1
            correct += float((rank == 1).sum())
            ndcg += float(torch.where(rank <= 10, 1.0 / torch.log2(rank.double() + 1), torch.zeros_like(rank, dtype=torch.float64)).sum())
    return correct / x.shape[0], ndcg / x.shape[0]


def saved_bytes(step):
    """Bytes of the tensors autograd saves for backward in ``step()`` (unique storages)."""
    import torch

    seen: dict[int, int] = {}

    def pack(t):
        try:
            ptr = t.untyped_storage().data_ptr()
            seen[ptr] = max(seen.get(ptr, 0), t.untyped_storage().nbytes())
        except Exception:  # pragma: no cover - exotic tensors
            pass
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = step()
    loss.backward()
    return sum(seen.values())


def run(args: argparse.Namespace) -> int:
    import torch

    import losslab as ll

    from losslab import plots
    from losslab.cli import CLIError, command_dir
    from losslab.experiments._common import draw, progress

    torch.manual_seed(args.seed)
    g = torch.Generator().manual_seed(args.seed)
    K, d, S, B = args.num_classes, args.dim, args.num_sampled, args.batch_size
    if not 1 <= S < K:
        raise CLIError(f"argument --num-sampled: must lie below --num-classes {K}; got {S}")
    out = command_dir(args)
    x, y, _mu, prior = make_data(K, d, args.train + args.test, zipf=args.zipf, noise=args.noise, generator=g)
    xtr, ytr, xte, yte = x[:args.train], y[:args.train], x[args.train:], y[args.train:]
    counts = torch.bincount(ytr, minlength=K).double() + 1.0  # +1 smoothing: every class reachable
    methods = _methods(S, counts)
    methods = {k: v for k, v in methods.items() if k in args.losses}
    N = xtr.shape[0]
    print(f"softmax-family: K={K} d={d} N={N} test={xte.shape[0]} B={B} S={S} epochs={args.epochs} "
          f"zipf={args.zipf}; top class share {float(prior[0]):.3f}")
    results = {}
    curves = {}
    final_state = None
    steps_per_epoch = -(-N // B)
    # about ten points per epoch on the loss curve, each the mean over its steps
    chunk = max(1, steps_per_epoch // 10)
    bar = progress(len(methods) * args.epochs, "softmax-family", enabled=not args.no_progress)
    for name, (fn, formula, kind) in methods.items():
        bar.set_description(f"softmax-family {name}")
        torch.manual_seed(args.seed)
        W = torch.zeros(K, d, requires_grad=True)
        # Biases start at -log K, the uniform self-normalised model (Σ_j e^{s_j} = 1), as
        # NCE practice does: NCE and negative sampling are not shift-invariant, and with
        # zero biases the rare classes (seldom drawn as noise) keep logits far above
        # log p and win the argmax (top-1 0.03-0.06 at K=2000). The softmax, FY and
        # sampled-softmax losses are shift-invariant, so their runs are unchanged.
        b = torch.full((K,), -math.log(K), requires_grad=True)
        opt = torch.optim.Adam([W, b], lr=args.lr)
        sg = torch.Generator().manual_seed(args.seed + 1)
        epoch_times, last_loss = [], float("nan")
        mem = saved_bytes(lambda: fn(xtr[:B], W, b, ytr[:B], sg))
        W.grad = b.grad = None
        # no epoch-0 point: at the start every logit ties and evaluate() counts a tie as a hit
        curve = {"loss_epochs": [], "loss": [], "epochs": [], "top1": []}
        for epoch in range(args.epochs):
            perm = torch.randperm(N, generator=g)
            t0 = time.perf_counter()
            acc, n_acc = 0.0, 0
            for step, i in enumerate(range(0, N, B)):
                idx = perm[i:i + B]
                opt.zero_grad(set_to_none=True)
                loss = fn(xtr[idx], W, b, ytr[idx], sg)
                loss.backward()
                opt.step()
                acc, n_acc = acc + float(loss.detach()), n_acc + 1
                if n_acc == chunk or step == steps_per_epoch - 1:
                    curve["loss_epochs"].append(epoch + (step + 1) / steps_per_epoch)
                    curve["loss"].append(acc / n_acc)
                    acc, n_acc = 0.0, 0
            epoch_times.append(time.perf_counter() - t0)
            last_loss = float(loss.detach())
            curve["epochs"].append(epoch + 1)
            curve["top1"].append(evaluate(W.detach(), b.detach(), xte, yte)[0])
            bar.update(1)
        curves[name] = curve
        top1, ndcg = evaluate(W.detach(), b.detach(), xte, yte)
        results[name] = {"top1": top1, "ndcg@10": ndcg, "epoch_seconds": sum(epoch_times) / len(epoch_times),
                         "saved_bytes_per_step": mem, "formula": formula,
                         "model_macs_per_epoch": _cost(kind, N, K, d, S, B), "final_train_loss": last_loss}
        print(f"  {name:36s} top1={top1:.3f} ndcg@10={ndcg:.3f} epoch={results[name]['epoch_seconds']:.2f}s "
              f"saved={mem / 2**20:.2f} MiB")
        if name == "softmax (full)":
            final_state = (W.detach().clone(), b.detach().clone())
    bar.close()

    # gradient bias / variance of the sampled estimators at the trained full-softmax state
    bv = {}
    if final_state is not None:
        W, b = final_state
        hb, yb = xte[:B], yte[:B]
        s_list = sorted({max(1, S // 8), S, min(K - 1, 8 * S)})
        est = {
            "sampled softmax (uniform)": (ll.sampled_softmax_loss, {"proposal": "uniform"}),
            "sampled softmax (log-uniform)": (ll.sampled_softmax_loss, {"proposal": "log_uniform"}),
            "importance sampling (log-uniform)": (ll.importance_sampling_loss, {"proposal": "log_uniform"}),
            "negative sampling (unigram^0.75)": (ll.negative_sampling_loss, {"proposal": "unigram", "counts": counts, "power": 0.75}),
            "NCE (unigram)": (ll.sampled_nce_loss, {"proposal": "unigram", "counts": counts}),
        }
        print(f"gradient bias/variance vs exact softmax gradient (w.r.t. hidden and out_weight; B={B}, "
              f"repeats={args.repeats}, S in {s_list}):")
        for name, (fn, kw) in est.items():
            if name not in methods:
                continue
            rows = ll.analysis.gradient_bias_variance(hb, W, b, yb, fn, s_list, repeats=args.repeats,
                                                      generator=args.seed, **kw)
            bv[name] = rows
            for r in rows:
                print(f"  {name:36s} S={r['num_sampled']:5d} bias²={r['bias2_unbiased']:.3e} var={r['variance']:.3e} "
                      f"(|g|²={r['exact_norm2']:.3e}) cos={r['cosine']:.3f}")

    config = {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(args).items()}
    payload = {"config": config, "results": results, "training_curves": curves, "gradient_bias_variance": bv}
    with open(out / "softmax_family.json", "w") as f:
        json.dump(payload, f, indent=2, default=str)
    lines = [f"# Softmax family at K={K} (seed 003)", "",
             f"Zipf(a={args.zipf}) labels, d={d}, N={N}, B={B}, S={S}, {args.epochs} epochs, Adam lr={args.lr}.", ""]
    lines += ["| loss | top-1 | NDCG@10 | s/epoch | per-epoch cost | model MACs/epoch | saved for backward / step |",
              "|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['top1']:.3f} | {r['ndcg@10']:.3f} | {r['epoch_seconds']:.2f} | {r['formula']} | "
                     f"{r['model_macs_per_epoch']:.2e} | {r['saved_bytes_per_step'] / 2**20:.2f} MiB |")
    if bv:
        lines += ["", "## Gradient bias² and variance vs the exact softmax gradient", "",
                  "| estimator | S | bias² | variance | ‖g‖² | cos(E ĝ, g) |", "|---|---|---|---|---|---|"]
        for name, rows in bv.items():
            for r in rows:
                lines.append(f"| {name} | {r['num_sampled']} | {r['bias2_unbiased']:.3e} | {r['variance']:.3e} | "
                             f"{r['exact_norm2']:.3e} | {r['cosine']:.3f} |")
    pngs = [draw(plots.plot_training_curves, out / "softmax_family_training.png", curves)]
    if bv:
        pngs.append(draw(plots.plot_bias_variance, out / "softmax_family_bias_variance.png", bv))
    pngs = [p for p in pngs if p is not None]
    if pngs:
        lines += [""] + [f"![{p.stem}]({p.name})" for p in pngs]
    with open(out / "softmax_family.md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {out}/softmax_family.json, .md" + "".join(f", {p.name}" for p in pngs))
    return 0
