"""The ``losslab`` command line: one verb per job, each in its own module.

A verb's module defines ``add_arguments(parser)`` and ``run(args) -> int``; it is
imported only when the verb runs, so ``losslab --help`` stays fast and the core
never imports the lab.

A user's mistake is one line on stderr, ``losslab VERB: error: ...`` naming the
option and the value, and exit status 2, never a traceback: options are checked
by the ``type=`` callables below (argparse reports them), and problems found later
(a malformed data file, a combination of options) raise :class:`CLIError`, which
:func:`main` prints the same way.
"""
from __future__ import annotations

import argparse
import importlib
import math
import os
import sys
from pathlib import Path

# verb -> (module, one-line help). Keep sorted by verb.
COMMANDS: dict[str, tuple[str, str]] = {
    "audit": ("losslab.experiments.audit", "a property card per loss (convex? proper? robust? ...); --all: the properties table"),
    "bench": ("losslab.experiments.bench", "time and memory of every registered loss against its fastest peer"),
    "consistency": ("losslab.experiments.consistency", "which Softmax-family surrogates are consistent with top-1, top-k and DCG; convergence curves (seed 003)"),
    "demo": ("losslab.experiments.demo", "the main job: a tour of the library, report under ./report/demo/"),
    "distill": ("losslab.experiments.distill", "distil a teacher's ranking: selective composite Softmax vs KL/MSE, top-k and NDCG@10 (seed 000)"),
    "figure": ("losslab.experiments.figures", "draw a figure of the seed papers by its number (000:1 ... 001:2); --list"),
    "list": ("losslab.experiments.listing", "list the registered losses by family"),
    "plot": ("losslab.experiments.gallery", "write the selective-loss gallery (PNG) of the four sensitivity types"),
    "rank": ("losslab.experiments.rank", "learning to rank: listwise/pairwise/selective losses, NDCG@{1,5,10} with error bars over seeds"),
    "slc": ("losslab.experiments.slc", "single-logit classification on digits or MNIST: Tables 1-2 of seed 001"),
    "slc-speed": ("losslab.experiments.slc_speed", "forward time of a full head vs a single logit: Table 3 of seed 001"),
    "softmax-family": ("losslab.experiments.softmax_family", "full vs Fenchel-Young vs sampled softmax at large K (seed 003)"),
    "reproduce": ("losslab.experiments.reproduce", "one paper's claims and figures beside what losslab measures: report/reproduce-PAPER/README.md"),
}

DEFAULT_OUT = "report"


class CLIError(Exception):
    """A user's mistake found after parsing (a bad data file, options that do not fit
    together); :func:`main` prints ``losslab VERB: error: <message>`` and exits with 2.
    The message names the option and the value."""


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line, ``PROG: error: MESSAGE``
    (argparse's default prints the usage first), with exit status 2."""

    def error(self, message: str):  # noqa: D102 - argparse's hook
        self.exit(2, f"{self.prog}: error: {_one_line(message)}\n")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


# ------------------------------------------------------------------ option types
# Each raises argparse.ArgumentTypeError; argparse prefixes "argument --OPTION: ".


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1."""
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def nonnegative_int(text: str) -> int:
    """An integer >= 0 (seeds)."""
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def int_range(lo: int, hi: int | None = None):
    """An integer in ``[lo, hi]`` (``hi=None``: no upper bound)."""

    def parse(text: str) -> int:
        value = _int(text)
        if value < lo or (hi is not None and value > hi):
            where = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
            raise argparse.ArgumentTypeError(f"expected an integer {where}, got {text!r}")
        return value

    parse.__name__ = f"int_range({lo}, {hi})"
    return parse


def positive_float(text: str) -> float:
    """A finite number > 0 (learning rates, scales)."""
    value = _float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def nonnegative_float(text: str) -> float:
    """A finite number >= 0."""
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def fraction(text: str) -> float:
    """A number in the open interval (0, 1)."""
    value = _float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1), got {text!r}")
    return value


def momentum(text: str) -> float:
    """A number in [0, 1): SGD momentum (1 or more never forgets a gradient)."""
    value = _float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}")
    return value


def comma_list(item, *, what: str = "values", length: int | None = None):
    """A non-empty comma-separated list of ``item(text)`` values (exactly ``length`` of
    them when given), as a tuple."""

    def parse(text: str) -> tuple:
        parts = [t.strip() for t in text.split(",")]
        if not text.strip() or any(not p for p in parts):
            raise argparse.ArgumentTypeError(f"expected comma-separated {what}, got {text!r}")
        if length is not None and len(parts) != length:
            raise argparse.ArgumentTypeError(f"expected {length} comma-separated {what}, got {len(parts)} in {text!r}")
        try:
            return tuple(item(p) for p in parts)
        except argparse.ArgumentTypeError as e:
            raise argparse.ArgumentTypeError(f"{e} in {text!r}" if len(parts) > 1 else str(e)) from None

    parse.__name__ = f"comma_list({what})"
    return parse


class Names(tuple):
    """The known names of a comma-separated option, for argparse's ``choices``: it
    lists them in ``--help`` (``%(choices)s``) and contains every tuple of them."""

    def __contains__(self, value) -> bool:
        if isinstance(value, tuple):
            return all(tuple.__contains__(self, v) for v in value)
        return tuple.__contains__(self, value)


def names(known, *, aliases: dict | None = None):
    """A comma-separated list of names from ``known`` (a tuple, order kept, no
    duplicates); ``aliases`` maps a whole-value word (``"all"``) to a tuple."""
    known = tuple(known)
    aliases = dict(aliases or {})

    def parse(text: str) -> tuple[str, ...]:
        if text.strip() in aliases:
            return tuple(aliases[text.strip()])
        parts = [t.strip() for t in text.split(",")]
        if not text.strip() or any(not p for p in parts):
            raise argparse.ArgumentTypeError(f"expected comma-separated names, got {text!r}")
        unknown = [p for p in parts if p not in known]
        if unknown:
            extra = f" or {' / '.join(aliases)}" if aliases else ""
            raise argparse.ArgumentTypeError(
                f"unknown name(s) {', '.join(map(repr, unknown))} in {text!r}; known: {', '.join(known)}{extra}")
        return tuple(dict.fromkeys(parts))

    parse.__name__ = "names"
    return parse


def existing_path(text: str) -> Path:
    """A path that exists (file or directory); what it must hold is checked when loaded."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a path, got ''")
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"no such file or directory: {text!r}")
    return path


def existing_file(text: str) -> Path:
    """An existing regular file."""
    path = existing_path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"expected a file, got the directory {text!r}")
    return path


def output_root(text: str) -> Path:
    """The ``--out`` folder: not an existing file, and creatable where it does not exist."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a folder, got ''")
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"expected a folder, got the file {text!r}")
    parent = path
    while not parent.exists():  # the nearest existing ancestor must be a writable folder
        parent = parent.parent if parent.parent != parent else Path(".")
    if not parent.is_dir():
        raise argparse.ArgumentTypeError(f"cannot create {text!r}: {str(parent)!r} is a file")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot write under {text!r}: {str(parent)!r} is not writable")
    return path


def device(text: str) -> str:
    """A torch device this build can use: ``cpu``, ``cuda`` or ``cuda:N``, ``mps``."""
    import torch

    try:
        dev = torch.device(text)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected cpu, cuda, cuda:N or mps, got {text!r}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise argparse.ArgumentTypeError(f"{text!r} is not available: this torch {torch.__version__} build has no "
                                             "usable CUDA device")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise argparse.ArgumentTypeError(f"{text!r}: only {torch.cuda.device_count()} CUDA device(s)")
    elif dev.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise argparse.ArgumentTypeError(f"{text!r} is not available on this machine")
    elif dev.type != "cpu":
        raise argparse.ArgumentTypeError(f"expected cpu, cuda, cuda:N or mps, got {text!r}")
    return str(dev)


# ------------------------------------------------------------- shared options


def add_common(parser: argparse.ArgumentParser, *, out: bool = True, threads: bool = True,
               progress: bool = True, out_default: str | None = DEFAULT_OUT) -> None:
    """The options every long command takes: ``--out``, ``--threads``, ``--no-progress``."""
    if out:
        where = f"(default ./{out_default}/)" if out_default else "(default: none, print only)"
        parser.add_argument("--out", type=output_root, default=out_default, metavar="DIR",
                            help=f"report root: files go to DIR/{parser.prog.split()[-1]}/ {where}")
    if threads:
        parser.add_argument("--threads", type=positive_int, default=None, metavar="N",
                            help="torch intra-op threads (default: torch's choice)")
    if progress:
        parser.add_argument("--no-progress", action="store_true", help="no progress bars or per-epoch lines")


def command_dir(args: argparse.Namespace) -> Path:
    """``<--out>/<verb>/``, created; an OSError becomes a :class:`CLIError`."""
    path = Path(args.out) / args.command
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CLIError(f"argument --out: cannot create {str(path)!r}: {e.strerror or e}") from None
    return path


# ------------------------------------------------------------------------ main


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="losslab", description="A laboratory for loss functions.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for verb, (module, help_) in sorted(COMMANDS.items()):
        p = sub.add_parser(verb, help=help_, description=help_)
        p.set_defaults(_module=module)
        # Arguments are added lazily in main() for the chosen verb only.
    return parser


def verb_parser(verb: str) -> Parser:
    """The full parser of one verb (imports its module)."""
    module = importlib.import_module(COMMANDS[verb][0])
    parser = Parser(prog=f"losslab {verb}", description=COMMANDS[verb][1])
    module.add_arguments(parser)
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
    vparser = verb_parser(verb)
    args = vparser.parse_args(argv[1:])
    args.command = verb
    try:
        if getattr(args, "threads", None):
            import torch

            torch.set_num_threads(args.threads)
        return int(module.run(args) or 0)
    except CLIError as e:
        print(f"losslab {verb}: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except MemoryError as e:  # sizes beyond this machine: the user's options, not a bug
        print(f"losslab {verb}: error: out of memory ({_one_line(e) or 'MemoryError'}); choose smaller sizes",
              file=sys.stderr)
        return 2
    except RuntimeError as e:
        # torch's allocators raise RuntimeError (torch.OutOfMemoryError on a GPU)
        if "alloc" not in str(e).lower() and "out of memory" not in str(e).lower():
            raise
        print(f"losslab {verb}: error: out of memory ({_one_line(e)[:200]}); choose smaller sizes", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"losslab {verb}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
