"""``losslab bench``: every registered loss against its fastest available peer.

For each registered loss (and size), the loss and its peers
(:mod:`losslab.experiments.bench_peers`: PyTorch's own loss, optionally under
``torch.compile``, the ``entmax`` package, pytorch-metric-learning, or a
straightforward PyTorch implementation) run forward+backward of the mean loss on
the same float32 tensors, side by side in one process:

* **Values first.** Each peer's value must equal the loss's (relative difference
  <= ``VALUE_RTOL``); a peer that differs is reported as ``mismatch`` and left out of
  the ratios, so a ratio never compares different computations.
* **Time.** One warm-up call per method (``torch.compile`` compiles there, outside
  the timing), then ``rounds`` rounds; within a round every method runs once, in an
  order rotated every round, so that load from other processes hits all alike. Per
  round, loss time / peer time; the table gives the median of those per-round ratios
  and their range. The *fastest peer* is the one with the smallest median time. A call
  shorter than ``MIN_SAMPLE_S`` is timed as the mean of that many back-to-back calls
  that their total reaches it (the same count for every method of the row): one
  millisecond-long sample moves with each scheduler tick, a 20 ms one much less.
* **Memory.** Peak bytes allocated by torch's CPU allocator during one
  forward+backward, above what was allocated before the call (inputs excluded,
  the gradients included), read from ``torch.profiler``'s memory events
  (``profile_memory=True``: every allocation and free, in order); the ratio is the
  loss's peak over the smallest peak among the peers. Allocator-level bytes do not
  depend on machine load, unlike RSS sampling.

A peer that is not installed is ``skipped: <why>``; a peer that raises (e.g.
pytorch-metric-learning's NT-Xent asking for hundreds of GB at B = 4096) is
``failed: <reason>``; neither stops the run.
"""
from __future__ import annotations

import argparse
import datetime
import gc
import json
import math
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Callable

import torch

# Sizes a practitioner would use, per family (see bench_peers for what B and K mean).
DEFAULT_SIZES: dict[str, tuple[str, ...]] = {
    "classification": ("4096x1000", "1024x32768"),
    "single_logit": ("4096x1000", "1024x32768"),
    "fenchel_young": ("4096x1000", "256x32768"),
    "ranking": ("1024x128",),
    "contrastive": ("4096x256",),
    "regression": ("10000000",),
    "matching": ("4096x1000",),
    "rl": ("4096x18",),
    "sampled": ("4096x32768",),
}
# Elementwise losses measured at 10^7 elements rather than their family's matrix.
LOSS_SIZES: dict[str, tuple[str, ...]] = {
    "matching_loss": ("10000000",),
    "matching_loss[quadrature]": ("10000000",),
    "composite_sigmoid_loss": ("10000000",),
}
TINY = (8, 6)
TIME_TARGET, MEMORY_TARGET = 1.2, 1.5
VALUE_RTOL = 1e-3  # float32 means over up to 10^7 terms, summed in different orders
MIN_SAMPLE_S = 0.02  # shortest time sample; shorter calls are repeated within a sample
MAX_REPEAT = 50


# ------------------------------------------------------------------ sizes


def parse_size(text: str) -> tuple[int, ...]:
    """``"4096x1000"`` -> ``(4096, 1000)``; ``"10000000"`` or ``"1e7"`` -> ``(10000000,)``;
    ``"tiny"`` -> ``(8, 6)``. Raises ``ValueError`` naming the text otherwise."""
    t = text.strip().lower()
    if t == "tiny":
        return TINY
    parts = t.split("x")
    if len(parts) > 2 or not all(parts):
        raise ValueError(f"expected a size such as 4096x1000, 10000000, 1e7 or tiny, got {text!r}")
    dims = []
    for p in parts:
        try:
            v = float(p) if ("e" in p or "." in p) else int(p)
        except ValueError:
            raise ValueError(f"expected a size such as 4096x1000, 10000000, 1e7 or tiny, got {text!r}") from None
        if not (isinstance(v, int) or (math.isfinite(v) and v == int(v))) or int(v) < 1:
            raise ValueError(f"expected positive integer dimensions, got {text!r}")
        dims.append(int(v))
    return tuple(dims)


def size_label(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape)


# ------------------------------------------------------------------ measuring


def _grad_inputs(inputs) -> list[torch.Tensor]:
    return [t for t in inputs if isinstance(t, torch.Tensor) and t.requires_grad]


def _step(fn: Callable, inputs, repeat: int = 1) -> float:
    """Mean seconds of ``repeat`` forward+backwards of ``fn(*inputs)`` run back to back;
    the gradients are dropped after each (outside the timing)."""
    grads = _grad_inputs(inputs)
    elapsed = 0.0
    for _ in range(repeat):
        t0 = time.perf_counter()
        loss = fn(*inputs)
        loss.backward()
        elapsed += time.perf_counter() - t0
        for t in grads:
            t.grad = None
    return elapsed / repeat


def peak_allocated_bytes(fn: Callable, inputs) -> int:
    """Peak bytes held by torch's CPU allocator during one forward+backward of
    ``fn(*inputs)``, above the bytes held just before (torch keeps no allocator
    statistics for CPU tensors; the profiler's memory events are every allocation
    and free with its size, so their running sum is the live total)."""
    from torch.profiler import ProfilerActivity, profile

    gc.collect()
    # kineto prints start/stop lines on fd 2; they would interleave with progress
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            _step(fn, inputs)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    events.sort(key=lambda e: e.start_ns())
    live = peak = 0
    for e in events:
        live += e.nbytes()
        peak = max(peak, live)
    return peak


def _reason(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return f"{type(e).__name__}: {text[:240]}"


def measure_case(case, rounds: int, *, compile_peers: bool = False) -> dict:
    """Values, memory and interleaved times of ``case.loss`` and its peers (see the module doc)."""
    inputs = case.inputs
    peers: dict[str, dict] = {}
    methods: dict[str, Callable] = {"losslab": case.loss}
    for name, fn in case.peers.items():
        if isinstance(fn, str):
            peers[name] = {"status": fn}
            continue
        peers[name] = {"status": "ok"}
        methods[name] = fn
        if compile_peers and name in case.compilable:
            cname = f"torch.compile({name})"
            peers[cname] = {"status": "ok"}
            methods[cname] = torch.compile(fn, dynamic=False)
    out: dict = {"peers": peers}
    # values (and the warm-up call): a loss that fails ends the row; a peer that fails is dropped
    try:
        value = float(case.loss(*inputs).detach())
        warm_s = _step(case.loss, inputs)
    except Exception as e:  # noqa: BLE001 - the row reports it
        out["status"] = f"failed: {_reason(e)}"
        return out
    out["value"] = value
    for name in [m for m in methods if m != "losslab"]:
        try:
            v = float(methods[name](*inputs).detach())
            _step(methods[name], inputs)
        except Exception as e:  # noqa: BLE001
            peers[name]["status"] = f"failed: {_reason(e)}"
            del methods[name]
            continue
        diff = abs(v - value) / max(abs(value), 1e-12)
        peers[name].update(value=v, rel_diff=diff)
        if not diff <= VALUE_RTOL:
            peers[name]["status"] = f"mismatch: value {v:.6g} vs losslab {value:.6g}"
            del methods[name]
    out["status"] = "ok"
    # memory: one profiled call each
    mem = {}
    for name in list(methods):
        try:
            mem[name] = peak_allocated_bytes(methods[name], inputs)
        except Exception as e:  # noqa: BLE001
            if name == "losslab":
                out["status"] = f"failed: {_reason(e)}"
                return out
            peers[name]["status"] = f"failed: {_reason(e)}"
            del methods[name]
    out["peak_bytes"] = mem.get("losslab")
    # time: interleaved rounds, order rotated per round; short calls repeated per sample
    repeat = max(1, min(MAX_REPEAT, math.ceil(MIN_SAMPLE_S / max(warm_s, 1e-9))))
    out["repeat"] = repeat
    names = list(methods)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            gc.collect()
            try:
                times[name].append(_step(methods[name], inputs, repeat))
            except Exception as e:  # noqa: BLE001 - e.g. memory taken by another process meanwhile
                if name == "losslab":
                    out["status"] = f"failed: {_reason(e)}"
                    return out
                peers[name]["status"] = f"failed: {_reason(e)}"
                names.remove(name)
    out["median_s"] = statistics.median(times["losslab"])
    ok = [n for n in names if n != "losslab" and len(times[n]) == rounds]
    for name in ok:
        ratios = [a / b for a, b in zip(times["losslab"], times[name])]
        peers[name].update(median_s=statistics.median(times[name]), ratio=statistics.median(ratios),
                           ratio_min=min(ratios), ratio_max=max(ratios), peak_bytes=mem[name])
    if ok:
        fastest = min(ok, key=lambda n: peers[n]["median_s"])
        leanest = min(ok, key=lambda n: mem[n])
        out.update(fastest_peer=fastest, time_ratio=peers[fastest]["ratio"],
                   time_ratio_min=peers[fastest]["ratio_min"], time_ratio_max=peers[fastest]["ratio_max"],
                   leanest_peer=leanest,
                   memory_ratio=(mem["losslab"] / mem[leanest]) if mem[leanest] > 0 else None)
    return out


# ------------------------------------------------------------------ the run


def plan(families=None, losses=None, sizes=None) -> list[tuple[str, str, str, tuple[int, ...]]]:
    """``(row name, registered loss, family, shape)`` for every registered loss of
    ``families`` (all when ``None``) named in ``losses`` (all when ``None``), plus the
    extra variant rows, at ``sizes`` (the family's defaults when ``None``)."""
    from losslab import registry
    from losslab.experiments import bench_peers

    rows = []
    for spec in registry.specs():
        if families and spec.family not in families:
            continue
        names = [spec.name] + [v for v, (base, _) in bench_peers.VARIANTS.items() if base == spec.name]
        for name in names:
            if losses and name not in losses and spec.name not in losses:
                continue
            chosen = sizes or LOSS_SIZES.get(name) or DEFAULT_SIZES.get(spec.family, ("4096x1000",))
            for s in chosen:
                rows.append((name, spec.name, spec.family, s if isinstance(s, tuple) else parse_size(s)))
    return rows


def _machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "logical_cpus": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version()}


def _versions() -> dict:
    from importlib import metadata

    out = {"torch": torch.__version__}
    for dist in ("entmax", "pytorch-metric-learning"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def run_bench(families=None, losses=None, sizes=None, *, rounds: int = 5, compile_peers: bool = False,
              seed: int = 0, progress: bool = True, log: Callable[[str], None] | None = print,
              on_row: Callable[[dict], None] | None = None) -> dict:
    """Measure the planned rows (see :func:`plan`) and return the result dict that
    ``bench.json`` holds; ``log`` receives the markdown table line by line as rows finish,
    ``on_row`` the partial result after each row (a long run killed midway keeps its rows)."""
    from losslab.experiments import bench_peers
    from losslab.experiments._common import progress as progress_bar

    try:
        import losslab.kernels

        status = losslab.kernels.available()
        kernels = status.capability if status else f"not available ({status.reason})"
    except Exception as e:  # noqa: BLE001 - the report says so
        kernels = f"not available ({_reason(e)})"
    todo = plan(families, losses, sizes)
    result = {
        "experiment": "bench",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": _machine(), "versions": _versions(), "threads": torch.get_num_threads(),
        "kernels": kernels, "load_average_start": os.getloadavg()[0], "rounds": rounds,
        "compile_peers": compile_peers, "dtype": "float32",
        "memory_method": "peak bytes held by torch's CPU allocator during one forward+backward (torch.profiler "
                         "memory events), above the bytes held before the call; gradients included",
        "targets": {"time": TIME_TARGET, "memory": MEMORY_TARGET},
        "rows": [],
    }
    if log:
        for line in _table_head():
            log(line)
    bar = progress_bar(len(todo), "bench", enabled=progress, unit="case")
    for name, registered, family, shape in todo:
        bar.set_description(f"bench {name} {size_label(shape)}")
        row = {"loss": name, "registered": registered, "family": family, "size": size_label(shape)}
        make = bench_peers.CASES.get(name) or bench_peers.VARIANTS.get(name, (None, None))[1]
        if make is None:
            row["status"] = "no peer: no benchmark case is written for this loss in losslab.experiments.bench_peers"
        else:
            g = torch.Generator().manual_seed(seed)
            try:
                case = make(shape, torch.float32, g)
            except bench_peers.NeedsMatrix as e:
                row["status"] = f"skipped: {e}"
                case = None
            except Exception as e:  # noqa: BLE001 - e.g. the inputs do not fit in memory
                row["status"] = f"failed: {_reason(e)}"
                case = None
            if case is not None:
                row["note"] = case.note
                row.update(measure_case(case, rounds, compile_peers=compile_peers))
                if row.get("status") == "ok" and "fastest_peer" not in row:
                    row["status"] = "no peer: every peer was skipped, failed or computed another value"
                del case
            gc.collect()
        result["rows"].append(row)
        if log:
            log(_table_line(row))
        if on_row:
            on_row(result)
        bar.update(1)
    bar.close()
    result["load_average_end"] = os.getloadavg()[0]
    result["over_target"] = over_target(result)
    return result


def over_target(result: dict) -> list[dict]:
    """Rows above ``TIME_TARGET`` in time or ``MEMORY_TARGET`` in memory vs their peer."""
    out = []
    for r in result["rows"]:
        t, m = r.get("time_ratio"), r.get("memory_ratio")
        if (t is not None and t > TIME_TARGET) or (m is not None and m > MEMORY_TARGET):
            out.append({"loss": r["loss"], "size": r["size"], "peer": r.get("fastest_peer"), "time_ratio": t,
                        "memory_ratio": m, "leanest_peer": r.get("leanest_peer")})
    return out


# ------------------------------------------------------------------ reporting


def _table_head() -> list[str]:
    return ["| family | loss | size | fastest peer | time ratio, median [range] | memory ratio (vs leanest peer) "
            "| losslab s | other peers |",
            "|---|---|---|---|---|---|---|---|"]


def _fmt_peer(name: str, p: dict) -> str:
    if p["status"] != "ok":
        return f"{name}: {p['status']}"
    return f"{name}: {p['ratio']:.2f}x"


def _table_line(r: dict) -> str:
    esc = lambda s: str(s).replace("|", "\\|")  # noqa: E731
    head = f"| {r['family']} | `{r['loss']}` | {r['size']} |"
    if "fastest_peer" not in r:
        others = "; ".join(_fmt_peer(n, p) for n, p in r.get("peers", {}).items())
        return f"{head} — | {esc(r.get('status', ''))} | | | {esc(others)} |"
    t, m = r["time_ratio"], r.get("memory_ratio")
    ts = f"{t:.2f}x [{r['time_ratio_min']:.2f}–{r['time_ratio_max']:.2f}]"
    ms = "—" if m is None else f"{m:.2f}x"
    if t > TIME_TARGET:
        ts = f"**{ts}**"
    if m is not None and m > MEMORY_TARGET:
        ms = f"**{ms}**"
    others = "; ".join(_fmt_peer(n, p) for n, p in r["peers"].items() if n != r["fastest_peer"])
    return f"{head} {esc(r['fastest_peer'])} | {ts} | {ms} | {r['median_s']:.4f} | {esc(others)} |"


def markdown(result: dict) -> str:
    m = result["machine"]
    v = result["versions"]
    lines = [
        f"{result['date']}; {m['cpu']} ({m['logical_cpus']} logical CPUs), {result['threads']} torch thread(s), "
        f"torch {v['torch']}, entmax {v['entmax']}, pytorch-metric-learning {v['pytorch-metric-learning']}, "
        f"kernels: {result['kernels']}; load average {result['load_average_start']:.1f} at the start, "
        f"{result.get('load_average_end', float('nan')):.1f} at the end.",
        "",
        f"Forward+backward of the mean loss, {result['dtype']}, the same tensors for every method; "
        f"{result['rounds']} interleaved rounds (order rotated per round); a call under {MIN_SAMPLE_S * 1e3:g} ms is "
        f"timed as the mean of enough back-to-back calls (at most {MAX_REPEAT}) to reach it. Time ratio = losslab / fastest peer, "
        f"median of per-round ratios [min–max]; memory ratio = losslab's peak / the leanest peer's peak "
        f"({result['memory_method']}). Every peer's value equals losslab's (relative difference <= {VALUE_RTOL:g}); "
        f"**bold**: above {TIME_TARGET}x time or {MEMORY_TARGET}x memory.",
        "",
        *_table_head(),
        *(_table_line(r) for r in result["rows"]),
    ]
    over = result.get("over_target") or []
    lines += ["", f"Above target ({len(over)}):" if over else "Every measured loss is within the targets."]
    for o in over:
        t = "—" if o["time_ratio"] is None else f"{o['time_ratio']:.2f}x"
        mr = "—" if o["memory_ratio"] is None else f"{o['memory_ratio']:.2f}x"
        lines.append(f"- `{o['loss']}` at {o['size']}: time {t} vs {o['peer']}, memory {mr} vs {o['leanest_peer']}")
    return "\n".join(lines)


def plot_ratios(result: dict, path=None, *, dpi: int = 110):
    """Horizontal bars of the time ratio (log scale) of each measured row, the target
    line at 1.2x; bars above it in red."""
    from losslab.plots import save
    from matplotlib.figure import Figure

    rows = [r for r in result["rows"] if "time_ratio" in r]
    labels = [f"{r['loss']} {r['size']}" for r in rows]
    ratios = [r["time_ratio"] for r in rows]
    fig = Figure(figsize=(7.5, 1.2 + 0.22 * max(len(rows), 1)), layout="constrained")
    ax = fig.subplots()
    y = list(range(len(rows)))[::-1]
    colors = ["tab:red" if t > TIME_TARGET else "tab:blue" for t in ratios]
    ax.barh(y, [t - 1 for t in ratios], color=colors, left=1)  # from parity: faster to the left
    ax.errorbar(ratios, y, xerr=[[t - r["time_ratio_min"] for t, r in zip(ratios, rows)],
                                 [r["time_ratio_max"] - t for t, r in zip(ratios, rows)]],
                fmt="none", ecolor="k", lw=0.6, capsize=1.5)
    ax.set_xscale("log")
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    lo = min(min(r["time_ratio_min"] for r in rows), 0.5)
    hi = max(max(r["time_ratio_max"] for r in rows), 2.0)
    ticks = [v for v in (0.01, 0.03, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128) if lo / 1.5 <= v <= hi * 1.5]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.axvline(1.0, color="k", lw=0.6, ls=":")
    ax.axvline(TIME_TARGET, color="tab:red", lw=1.0, ls="--", label=f"target {TIME_TARGET}x")
    ax.set_yticks(y, labels, fontsize=7)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel("losslab time / fastest peer time (median of per-round ratios; bars: range)")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(f"losslab bench, {result['date']}, {result['threads']} thread(s), {result['rounds']} rounds",
                 fontsize=9)
    return save(fig, path, dpi=dpi)


# ------------------------------------------------------------------ command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from losslab import cli, registry
    from losslab.experiments import bench_peers

    families = registry.families()
    parser.add_argument("--family", type=cli.names(families, aliases={"all": families}), default=None,
                        metavar="F[,F...]", help="only these families (default all): " + ", ".join(families))
    known = tuple(registry.names()) + tuple(bench_peers.VARIANTS)
    parser.add_argument("--loss", type=cli.names(known), default=None, metavar="NAME[,NAME...]",
                        help="only these losses (default all registered)")
    parser.add_argument("--size", type=cli.comma_list(_size_arg, what="sizes such as 4096x1000, 1e7 or tiny"),
                        default=None, metavar="S[,S...]",
                        help="sizes for every chosen loss: BxK (rows x classes, lists x items, batch x width), "
                             "N (elements) or tiny (8x6); default: per family, e.g. classification "
                             "4096x1000,1024x32768, regression 1e7")
    parser.add_argument("--rounds", type=cli.positive_int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--compile", action="store_true",
                        help="also time torch.compile of each PyTorch peer (compiled in the warm-up, not timed)")
    cli.add_common(parser)


def _size_arg(text: str) -> tuple[int, ...]:
    try:
        return parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def run(args: argparse.Namespace) -> int:
    from losslab.cli import command_dir
    from losslab.experiments._common import draw

    out = command_dir(args)
    partial = out / "bench.partial.json"
    result = run_bench(args.family, args.loss, args.size, rounds=args.rounds, compile_peers=args.compile,
                       progress=not args.no_progress, log=lambda s: print(s, flush=True),
                       on_row=lambda r: partial.write_text(json.dumps(r, indent=2) + "\n"))
    (out / "bench.json").write_text(json.dumps(result, indent=2) + "\n")
    partial.unlink(missing_ok=True)
    md = "# losslab bench: every loss against its fastest peer\n\n" + markdown(result) + "\n"
    png = draw(plot_ratios, out / "bench.png", result) if any("time_ratio" in r for r in result["rows"]) else None
    if png is not None:
        md += "\n![time ratios](bench.png)\n"
    (out / "bench.md").write_text(md)
    over = result["over_target"]
    print(f"\n{len(over)} row(s) above {TIME_TARGET}x time or {MEMORY_TARGET}x memory" + (":" if over else ""))
    for o in over:
        t = "-" if o["time_ratio"] is None else f"{o['time_ratio']:.2f}x"
        mr = "-" if o["memory_ratio"] is None else f"{o['memory_ratio']:.2f}x"
        print(f"  {o['loss']} {o['size']}: time {t} ({o['peer']}), memory {mr} ({o['leanest_peer']})")
    print(f"wrote {out / 'bench.json'}, {out / 'bench.md'}" + (f" and {png}" if png else ""))
    return 0
