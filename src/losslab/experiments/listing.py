"""``losslab list``: the registered losses, by family."""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--family", help="only this family")


def run(args: argparse.Namespace) -> int:
    import losslab
    from losslab import registry

    families = [args.family] if args.family else registry.families()
    if args.family and args.family not in registry.families():
        raise SystemExit(f"unknown family {args.family!r}; known: {', '.join(registry.families())}")
    for family in families:
        print(f"{family}:")
        for spec in registry.specs(family):
            summary = (spec.fn.__doc__ or "").strip().splitlines()[0] if spec.fn.__doc__ else ""
            print(f"  {spec.name:32s} {summary}")
    return 0
