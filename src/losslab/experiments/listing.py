"""``losslab list``: the registered losses, by family (``--out DIR`` also writes
``DIR/list/list.json`` and ``list.md``)."""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from losslab import cli, registry

    parser.add_argument("--family", choices=registry.families(), help="only this family: %(choices)s")
    cli.add_common(parser, threads=False, progress=False, out_default=None)


def run(args: argparse.Namespace) -> int:
    import json

    from losslab import registry
    from losslab.cli import command_dir

    families = [args.family] if args.family else registry.families()
    table: dict[str, list[dict]] = {}
    lines = []
    for family in families:
        lines.append(f"{family}:")
        table[family] = []
        for spec in registry.specs(family):
            summary = (spec.fn.__doc__ or "").strip().splitlines()[0] if spec.fn.__doc__ else ""
            lines.append(f"  {spec.name:32s} {summary}")
            table[family].append({"name": spec.name, "summary": summary})
    print("\n".join(lines))
    if args.out is not None:
        out = command_dir(args)
        (out / "list.json").write_text(json.dumps(table, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        md = ["# Registered losses", ""]
        for family, rows in table.items():
            md += [f"## {family}", "", "| loss | summary |", "|---|---|"]
            md += ["| `{}` | {} |".format(r["name"], r["summary"].replace("|", "\\|")) for r in rows] + [""]
        (out / "list.md").write_text("\n".join(md), encoding="utf-8")
    return 0
