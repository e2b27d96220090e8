"""``losslab audit NAME|module:function|--all``: a property card per loss (markdown, JSON,
PNG) under ``<--out>/audit/``; with ``--all`` also ``properties.md``, one table of every
registered loss x every property (``docs/properties.md`` is a copy of it)."""
from __future__ import annotations

import argparse
import datetime
import importlib
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from losslab import cli
    from losslab.audit import KINDS

    parser.add_argument("loss", nargs="?", metavar="NAME|module:function",
                        help="a registered loss (`losslab list`) or an importable callable, e.g. mypkg.losses:my_loss")
    parser.add_argument("--all", action="store_true", help="every registered loss, plus properties.md")
    parser.add_argument("--quick", action="store_true", help="fewer samples (the preset CI runs); default: full")
    parser.add_argument("--kind", choices=KINDS, default=None,
                        help="the loss's kind (%(choices)s); required for a module:function loss")
    parser.add_argument("--seed", type=cli.nonnegative_int, default=0, help="seed of every sample (default 0)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG cards")
    cli.add_common(parser)


def _resolve(text: str):
    """A registered name -> its name; ``module:function`` -> the callable (one CLIError line otherwise)."""
    from losslab import registry
    from losslab.cli import CLIError

    if ":" not in text:
        if text in registry.names():
            return text
        raise CLIError(f"argument NAME: unknown loss {text!r}; `losslab list` shows the registered names, "
                       "or pass module:function")
    module_name, _, attr = text.partition(":")
    if not module_name or not attr:
        raise CLIError(f"argument NAME: expected module:function, got {text!r}")
    try:
        obj = importlib.import_module(module_name)
    except Exception as e:  # ImportError, or the user's module raising on import
        raise CLIError(f"argument NAME: cannot import module {module_name!r} ({type(e).__name__}: {e})") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise CLIError(f"argument NAME: module {module_name!r} has no attribute {attr!r}") from None
    if not callable(obj):
        raise CLIError(f"argument NAME: {text!r} is a {type(obj).__name__}, not a callable loss")
    return obj


def run(args: argparse.Namespace) -> int:
    from losslab import registry
    from losslab.audit import audit
    from losslab.cli import CLIError, command_dir
    from losslab.experiments._common import draw, progress

    if args.all == (args.loss is not None):
        raise CLIError("give exactly one of NAME|module:function and --all")
    if args.all:
        targets = registry.names()
    else:
        target = _resolve(args.loss)
        if not isinstance(target, str) and args.kind is None and _registered(target) is None:
            raise CLIError(f"argument --kind: required for {args.loss!r}, which is not a registered loss "
                           "(regression, classification or ranking)")
        targets = [target]
    preset = "quick" if args.quick else "full"
    out = command_dir(args)
    bar = progress(len(targets), "audit", enabled=not args.no_progress, unit="loss")
    cards = []
    for target in targets:
        try:
            card = audit(target, kind=args.kind if not args.all else None, seed=args.seed, preset=preset)
        except (TypeError, ValueError) as e:  # a bad --kind for this loss, a loss that is not callable
            raise CLIError(f"argument NAME: {e}") from None
        stem = card.name
        png = None
        if not args.no_plots:
            png = draw(card.plot, out / f"{stem}.png")
        (out / f"{stem}.md").write_text(card.to_markdown(image=f"{stem}.png" if png else None), encoding="utf-8")
        (out / f"{stem}.json").write_text(card.to_json() + "\n", encoding="utf-8")
        cards.append(card)
        bar.update(1)
        if not args.all:
            print(card)
    bar.close()
    if args.all:
        text = properties_page(cards, preset=preset, seed=args.seed)
        (out / "properties.md").write_text(text, encoding="utf-8")
        print(f"wrote {len(cards)} cards and {out / 'properties.md'}")
    else:
        print(f"wrote {out / cards[0].name}.md", file=sys.stderr)
    return 0


def _registered(fn):
    from losslab.audit import _lookup_spec

    return _lookup_spec(fn)


def properties_page(cards, *, preset: str, seed: int) -> str:
    """The ``properties.md`` page: how it was made, the legend and the table."""
    from losslab.audit import properties_table

    cmd = "losslab audit --all" + (" --quick" if preset == "quick" else "") + (f" --seed {seed}" if seed else "")
    today = datetime.date.today().isoformat()
    return "\n".join([
        "# Properties of every registered loss",
        "",
        f"Generated by `{cmd}` on {today} (preset `{preset}`, seed {seed}); regenerate it with that",
        "command and copy `report/audit/properties.md` here. Each cell is a numerical probe's verdict,",
        "not a proof: [Auditing a loss](auditing-a-loss.md) says how each is tested and what it means",
        "for training; `report/audit/<loss>.md` holds each card with its evidence.",
        "",
        "✓ holds · ✗ fails · – not applicable · ? inconclusive (the card says why). Registered losses",
        "of another shape (contrastive, sampled, RL, embeddings) are kind `other`: only",
        "convexity, finiteness at extremes, per-example form and cost are probed, on their registry",
        "samples. \"recovers\" is what the minimiser of the expected loss equals; \"time vs CE\" is",
        "forward+backward time relative to cross-entropy on the same logits shape (indicative).",
        "",
        properties_table(cards),
        "",
    ])
