"""The ``losslab`` command line: one verb per job, each in its own module.

A verb's module defines ``add_arguments(parser)`` and ``run(args) -> int``; it is
imported only when the verb runs, so ``losslab --help`` stays fast and the core
never imports the lab.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# verb -> (module, one-line help). Keep sorted by verb.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("losslab.experiments.demo", "the main job: a tour of the library, report under ./report/"),
    "list": ("losslab.experiments.listing", "list the registered losses by family"),
    "plot": ("losslab.experiments.gallery", "write the selective-loss gallery (PNG) of the four sensitivity types"),
    "slc": ("losslab.experiments.slc", "single-logit classification on digits or MNIST: Tables 1-2 of seed 001"),
    "slc-speed": ("losslab.experiments.slc_speed", "forward time of a full head vs a single logit: Table 3 of seed 001"),
    "rank": ("losslab.experiments.rank", "learning to rank: listwise/pairwise/selective losses, NDCG@{1,5,10} (JSON + markdown)"),
    "softmax-family": ("losslab.experiments.softmax_family", "full vs Fenchel-Young vs sampled softmax at large K (seed 003)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="losslab", description="A laboratory for loss functions.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for verb, (module, help_) in sorted(COMMANDS.items()):
        p = sub.add_parser(verb, help=help_, description=help_)
        p.set_defaults(_module=module)
        # Arguments are added lazily in main() for the chosen verb only.
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        args = parser.parse_args(argv)  # prints help or the unknown-verb error
        if args.command is None:
            parser.print_help()
        return 0 if args.command else 2
    verb = argv[0]
    module = importlib.import_module(COMMANDS[verb][0])
    verb_parser = argparse.ArgumentParser(prog=f"losslab {verb}", description=COMMANDS[verb][1])
    module.add_arguments(verb_parser)
    args = verb_parser.parse_args(argv[1:])
    return int(module.run(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
