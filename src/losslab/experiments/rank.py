"""``losslab rank``: learning to rank with listwise, pairwise and selective losses.

Data: an SVMlight/LETOR file (``rel qid:N 1:v 2:v ...``) given by ``--data``, split by query
into train/test, or by default a generated set: Gaussian item features, a known scoring
function ``f(x) = w·x + 0.5 x_0 x_1`` plus noise, quantised into grades 0-4 by fixed quantiles
(50/75/90/97 %) so that high grades are rare, as in web search data. A linear (or small
MLP) scorer is trained full-batch with Adam for each loss and seed; the test metric is
NDCG@{1,5,10} with exponential gains ``2^l − 1`` (the LETOR convention), tied scores
averaged (``losslab.metrics.ndcg_at_k``). Writes ``rank.json``, ``rank.md`` and ``rank.png`` (NDCG@k,
mean and standard deviation over ``--seeds``) under ``<--out>/rank/``.
"""
from __future__ import annotations

import argparse
import json
import time

# name -> (description, builder(links) -> loss_fn(scores, labels, mask))
LOSSES = {
    "listnet": "listwise softmax cross-entropy (ListNet, softmax of grades)",
    "ranknet": "pairwise logistic (RankNet, mean over pairs)",
    "lambda_loss": "LambdaLoss NDCG-Loss2 weights (sum over pairs)",
    "pointwise_mse": "pointwise squared error on grades (mean over items)",
    "selective_pointwise": "selective pointwise, exp link (mean over items)",
    "selective_pairwise": "selective pairwise, capped sinh link (mean over pairs)",
    "selective_listwise": "selective listwise, composite softmax, exp(0.5) scaling",
}
DEFAULT_LOSSES = ["listnet", "ranknet", "lambda_loss", "selective_pointwise", "selective_pairwise", "selective_listwise"]
KS = (1, 5, 10)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from losslab import cli

    parser.add_argument("--data", type=cli.existing_file, metavar="FILE",
                        help="SVMlight/LETOR file (rel qid:N 1:v ...); default: a generated set")
    parser.add_argument("--queries", type=cli.int_range(2), default=300,
                        help="generated queries, train + test (default 300, at least 2)")
    parser.add_argument("--list-size", type=cli.positive_int, default=30, help="generated items per query (default 30)")
    parser.add_argument("--features", type=cli.positive_int, default=20, help="generated feature dimension (default 20)")
    parser.add_argument("--test-fraction", type=cli.fraction, default=0.3,
                        help="fraction of queries held out, in (0, 1) (default 0.3)")
    parser.add_argument("--model", choices=("linear", "mlp"), default="linear", help="scorer (default linear)")
    parser.add_argument("--epochs", type=cli.positive_int, default=200, help="full-batch Adam steps (default 200)")
    parser.add_argument("--lr", type=cli.positive_float, default=0.05, help="Adam learning rate (default 0.05)")
    parser.add_argument("--seeds", type=cli.positive_int, default=3,
                        help="seeds 0..N-1, each a query split and an initialisation; the error bars (default 3)")
    parser.add_argument("--losses", type=cli.names(LOSSES), default=tuple(DEFAULT_LOSSES), metavar="NAMES",
                        choices=cli.Names(LOSSES),
                        help=f"comma list (default {','.join(DEFAULT_LOSSES)}) of: %(choices)s")
    cli.add_common(parser)


def _loss_fn(name):
    import losslab as ll
    from losslab import links

    table = {
        "listnet": lambda s, y, m: ll.listnet(s, y, m),
        "ranknet": lambda s, y, m: ll.ranknet(s, y, m, normalize=True),
        "lambda_loss": lambda s, y, m: ll.lambda_loss(s, y, m),
        "pointwise_mse": lambda s, y, m: ll.pointwise_mse(s, y, m, normalize=True),
        "selective_pointwise": lambda s, y, m: ll.selective_pointwise(s, y, m, link=links.exp(alpha=1.0, cap=50.0), normalize=True),
        "selective_pairwise": lambda s, y, m: ll.selective_pairwise(s, y, m, link=links.sinh(alpha=1.0, cap=20.0), normalize=True),
        "selective_listwise": lambda s, y, m: ll.selective_listwise(s, y, m, scaling=links.exp(alpha=0.5, cap=20.0)),
    }
    return table[name]


def generate(queries, list_size, features, seed=0):
    """Generated LTR set: ``X [Q, L, d]``, grades ``[Q, L]`` in 0..4, mask all True."""
    import torch

    g = torch.Generator().manual_seed(10_000 + seed)
    X = torch.randn(queries, list_size, features, generator=g, dtype=torch.float64)
    w = torch.randn(features, generator=g, dtype=torch.float64) / features**0.5
    f = X @ w + 0.5 * X[..., 0] * X[..., 1] + 0.3 * torch.randn(queries, list_size, generator=g, dtype=torch.float64)
    cuts = torch.quantile(f.flatten(), torch.tensor([0.5, 0.75, 0.9, 0.97], dtype=torch.float64))
    y = torch.bucketize(f, cuts).to(torch.float64)
    mask = torch.ones(queries, list_size, dtype=torch.bool)
    return X.float(), y.float(), mask


def load_svmlight(path):
    """Parse an SVMlight/LETOR file into padded ``X [Q, Lmax, d]``, ``y [Q, Lmax]``, ``mask``."""
    import numpy as np
    import torch
    from sklearn.datasets import load_svmlight_file

    from losslab.data import DataError

    try:
        X, y, qid = load_svmlight_file(str(path), query_id=True)
    except (ValueError, OSError, UnicodeDecodeError) as e:
        raise DataError(f"not an SVMlight/LETOR file (rel qid:N 1:v 2:v ...): {e}") from None
    if X.shape[0] == 0:
        raise DataError("the file holds no examples")
    if len(qid) == 0:
        raise DataError("no qid: fields; ranking needs lines of the form 'rel qid:N 1:v 2:v ...'")
    X = X.toarray()
    if not np.isfinite(X).all():
        raise DataError("a feature value is NaN or infinite")
    # exponential gains 2^l - 1 overflow float32 from l = 128
    if not (np.isfinite(y).all() and y.min() >= 0 and y.max() < 128):
        raise DataError(f"relevance grades must lie in [0, 128); got values in [{y.min():g}, {y.max():g}]")
    # Queries in order of first appearance.
    _, first = np.unique(qid, return_index=True)
    qids = qid[np.sort(first)]
    groups = [np.flatnonzero(qid == q) for q in qids]
    if len(groups) < 2:
        raise DataError(f"{len(groups)} query; the train/test split needs at least 2")
    Lmax = max(len(g) for g in groups)
    Q, d = len(groups), X.shape[1]
    Xp = np.zeros((Q, Lmax, d), dtype=np.float32)
    yp = np.zeros((Q, Lmax), dtype=np.float32)
    mp = np.zeros((Q, Lmax), dtype=bool)
    for i, idx in enumerate(groups):
        Xp[i, : len(idx)] = X[idx]
        yp[i, : len(idx)] = y[idx]
        mp[i, : len(idx)] = True
    return torch.from_numpy(Xp), torch.from_numpy(yp), torch.from_numpy(mp)


def _split(n, test_fraction, seed):
    import torch

    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_test = min(n - 1, max(1, int(round(n * test_fraction)))) if n > 1 else 0  # both sides non-empty
    return perm[n_test:], perm[:n_test]


def _standardise(X, mask, train_idx):
    rows = X[train_idx][mask[train_idx]]
    mu, sd = rows.mean(0), rows.std(0).clamp_min(1e-6)
    return torch_where_mask((X - mu) / sd, mask)


def torch_where_mask(X, mask):
    import torch

    return torch.where(mask.unsqueeze(-1), X, torch.zeros((), dtype=X.dtype))


def _model(kind, d, seed):
    import torch

    torch.manual_seed(seed)
    if kind == "linear":
        return torch.nn.Linear(d, 1)
    return torch.nn.Sequential(torch.nn.Linear(d, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))


def train_and_eval(name, X, y, mask, train_idx, test_idx, *, model="linear", epochs=200, lr=0.05, seed=0,
                   on_epoch=None):
    import torch

    from losslab import metrics

    fn = _loss_fn(name)
    net = _model(model, X.shape[-1], seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    Xtr, ytr, mtr = X[train_idx], y[train_idx], mask[train_idx]
    for _ in range(epochs):
        opt.zero_grad()
        loss = fn(net(Xtr).squeeze(-1), ytr, mtr)
        loss.backward()
        opt.step()
        if on_epoch is not None:
            on_epoch()
    with torch.no_grad():
        s = net(X[test_idx]).squeeze(-1)
    if not torch.isfinite(s).all():  # diverged (too large a --lr): no ranking to score
        res = {f"ndcg@{k}": float("nan") for k in KS}
        res.update(final_train_loss=float(loss.detach()), diverged=True)
        return res
    res = {f"ndcg@{k}": float(metrics.ndcg_at_k(s, y[test_idx], k, mask[test_idx], gain="exp2").mean()) for k in KS}
    res["final_train_loss"] = float(loss.detach())
    return res


def run(args: argparse.Namespace) -> int:
    import statistics

    import torch

    from losslab import plots
    from losslab.cli import CLIError, command_dir
    from losslab.data import DataError
    from losslab.experiments._common import draw, progress

    t0 = time.perf_counter()
    names = list(args.losses)
    if args.data:
        try:
            X, y, mask = load_svmlight(args.data)
        except DataError as e:
            raise CLIError(f"argument --data {str(args.data)!r}: {e}") from None
        source = f"SVMlight file {args.data}"
    else:
        X, y, mask = generate(args.queries, args.list_size, args.features)
        source = (
            f"generated: {args.queries} queries x {args.list_size} items, {args.features} features, "
            "f(x)=w.x+0.5*x0*x1+noise, grades 0-4 at quantiles 50/75/90/97%"
        )
    out = command_dir(args)
    results = {n: [] for n in names}
    bar = progress(args.seeds * len(names) * args.epochs, "rank", enabled=not args.no_progress)
    for seed in range(args.seeds):
        train_idx, test_idx = _split(X.shape[0], args.test_fraction, seed)
        Xs = _standardise(X, mask, train_idx)
        for n in names:
            bar.set_description(f"rank {n} seed {seed}")
            results[n].append(train_and_eval(n, Xs, y, mask, train_idx, test_idx, model=args.model, epochs=args.epochs,
                                             lr=args.lr, seed=seed, on_epoch=bar.update))
    bar.close()
    summary = {}
    for n in names:
        summary[n] = {}
        for key in [f"ndcg@{k}" for k in KS]:
            vals = [r[key] for r in results[n]]
            summary[n][key] = {
                "mean": statistics.fmean(vals),
                "std": statistics.stdev(vals) if len(vals) > 1 else 0.0,
            }
    elapsed = time.perf_counter() - t0
    best = {key: max(names, key=lambda n: summary[n][key]["mean"]) for key in [f"ndcg@{k}" for k in KS]}
    payload = {
        "source": source,
        "model": args.model,
        "epochs": args.epochs,
        "lr": args.lr,
        "seeds": args.seeds,
        "test_fraction": args.test_fraction,
        "losses": {n: LOSSES[n] for n in names},
        "summary": summary,
        "per_seed": results,
        "best": best,
        "seconds": elapsed,
        "torch": torch.__version__,
    }
    with open(out / "rank.json", "w") as fh:
        json.dump(payload, fh, indent=2)
    lines = [
        "# losslab rank",
        "",
        f"Data: {source}. Model: {args.model}; full-batch Adam, {args.epochs} steps, lr {args.lr}; "
        f"{args.seeds} seeds (query split and init); test NDCG with gains 2^l-1, ties averaged.",
        "",
        "| loss | NDCG@1 | NDCG@5 | NDCG@10 |",
        "|---|---|---|---|",
    ]
    for n in names:
        cells = [f"{summary[n][f'ndcg@{k}']['mean']:.4f} ± {summary[n][f'ndcg@{k}']['std']:.4f}" for k in KS]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    lines.append("")
    for key, n in best.items():
        others = sorted((summary[m][key]["mean"] for m in names if m != n), reverse=True)
        gap = summary[n][key]["mean"] - others[0] if others else 0.0
        lines.append(f"- best {key}: {n} (+{gap:.4f} over the runner-up)")
    lines.append(f"\nWall time: {elapsed:.1f} s (after imports).")
    png = draw(plots.plot_rank_ndcg, out / "rank.png", payload)
    if png is not None:
        lines.append("\n![NDCG@k, mean and std over seeds](rank.png)")
    text = "\n".join(lines) + "\n"
    with open(out / "rank.md", "w") as fh:
        fh.write(text)
    print(text)
    return 0
