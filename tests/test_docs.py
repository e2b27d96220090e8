"""The docs run: every code block in README.md and docs/*.md, read from the files at test time.

Conventions (what a doc writer must follow; the tests below enforce them):

* Every fenced block names its language (```python, ```bash, ```console, ```text, ...), so a
  command cannot hide in an untagged block.
* ```python blocks run, in file order, in one namespace per file (a reader runs them top to
  bottom), in a fresh temporary working directory, with matplotlib's Agg backend.
* A shown output is checked. Either a statement ends in a comment ``# -> VALUE``: the
  statement's value (an expression, the right-hand side of an assignment, or the argument
  of ``print``) must equal VALUE, a Python literal (number, nested list, bool, optionally
  wrapped in ``tensor(...)``) to the precision it is written with (half a unit in its last
  decimal; integers exactly). Or the block is doctest-style (``>>>`` prompts), run by
  :mod:`doctest` with its shown outputs compared. A trailing comment that looks like an
  output but is not in one of these forms fails the check (so no unchecked output stays).
* A block that cannot run in CI is preceded by ``<!-- no-run: reason -->``; it must give the
  reason and still compile.
* Shell blocks (bash, sh, shell, console) run only the entry points the README sets up:
  ``make ...``, ``.venv/bin/losslab ...``, ``.venv/bin/python benchmarks/...``,
  ``.venv/bin/pytest ...``, ``torchrun ...`` -- never ``PYTHONPATH=src python ...``.
  In ``console`` blocks the commands are the lines starting with ``$ ``.
* Every relative markdown link points to a file that exists (and a ``#fragment`` to a heading).
"""
from __future__ import annotations

import ast
import doctest
import io
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
_NO_RUN = re.compile(r"^\s*<!--\s*no-run\s*(?::\s*(?P<reason>.*?))?\s*-->\s*$")
SHELL_LANGS = {"bash", "sh", "shell", "console"}


@dataclass
class Block:
    path: Path
    index: int  # position among the file's python blocks
    line: int  # 1-based line of the opening fence
    lang: str
    info: str
    source: str
    no_run: str | None  # None: runs; otherwise the reason given (may be "")

    @property
    def id(self) -> str:
        name = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path.name
        return f"{name}:{self.index}@L{self.line}"


def _fenced_blocks(path: Path) -> list[tuple[int, str, str, str, str | None]]:
    """(line, lang, info, source, no-run reason) of every fenced block of a markdown file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, info = m["fence"], m["info"].strip()
        start = i
        body = []
        i += 1
        while i < len(lines) and not (lines[i].strip().startswith(fence) and lines[i].strip().strip(fence[0]) == ""):
            body.append(lines[i])
            i += 1
        i += 1  # closing fence
        # A `<!-- no-run: reason -->` on the closest non-blank line above the fence.
        reason = None
        j = start - 1
        while j >= 0 and not lines[j].strip():
            j -= 1
        if j >= 0 and (nm := _NO_RUN.match(lines[j])):
            reason = (nm["reason"] or "").strip()
        lang = info.split()[0].lower() if info else ""
        out.append((start + 1, lang, info, "\n".join(body) + "\n", reason))
    return out


def _python_blocks(path: Path) -> list[Block]:
    blocks = []
    for line, lang, info, src, reason in _fenced_blocks(path):
        if lang in ("python", "py", "pycon"):
            blocks.append(Block(path, len(blocks), line, lang, info, src, reason))
    return blocks


ALL_BLOCKS = [b for p in DOC_FILES for b in _python_blocks(p)]
RUN_BLOCKS = [b for b in ALL_BLOCKS if b.no_run is None]
NO_RUN_BLOCKS = [b for b in ALL_BLOCKS if b.no_run is not None]


# ---------------------------------------------------------------------------------------
# Shown outputs: `# -> VALUE` comments
# ---------------------------------------------------------------------------------------

_ARROW = re.compile(r"^#\s*->\s*(?P<value>.+?)\s*$")
# A trailing comment that reads like a printed value rather than prose.
_OUTPUT_LIKE = re.compile(
    r"^#\s*(tensor\(|\[\s*[-+\d.]|\(\s*[-+\d.]|[-+]?\d+(\.\d*)?([eE][-+]?\d+)?\s*$|True\s*$|False\s*$|None\s*$|\S+\s*==)"
)


def _comments(source: str) -> dict[int, str]:
    """Line number (1-based) -> comment text, from the tokenizer (no `#` inside strings)."""
    out = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            out[tok.start[0]] = tok.string
    return out


def _expected(text: str):
    """Parse a shown value: a Python literal, optionally wrapped in tensor(...)."""
    t = text.strip()
    m = re.fullmatch(r"tensor\((?P<inner>.*?)(,\s*\w+=.*)?\)", t, flags=re.S)
    if m:
        t = m["inner"]
    decimals = [len(d) for d in re.findall(r"\d\.(\d+)", t)]
    return ast.literal_eval(t), (max(decimals) if decimals else 0)


def _check_shown(actual, text: str, where: str) -> None:
    import numpy as np
    import torch

    expected, decimals = _expected(text)
    if isinstance(actual, torch.Tensor):
        actual = actual.detach().cpu().tolist()
    if isinstance(expected, bool) or expected is None:
        assert actual == expected, f"{where}: shows {text!r}, got {actual!r}"
        return
    got = np.asarray(actual, dtype=float)
    want = np.asarray(expected, dtype=float)
    assert got.shape == want.shape, f"{where}: shows {text!r} (shape {want.shape}), got {actual!r} (shape {got.shape})"
    # The shown digits are the claim: half a unit in the last decimal written.
    atol = 0.5 * 10.0 ** (-decimals) * (1 + 1e-9) if decimals else 0.0
    assert np.allclose(got, want, rtol=0.0, atol=atol, equal_nan=True), (
        f"{where}: shows {text!r}, got {actual!r} (tolerance {atol:g})"
    )


def _value_of(stmt: ast.stmt) -> ast.expr | None:
    """The expression whose value a `# -> VALUE` comment on this statement shows."""
    if isinstance(stmt, ast.Expr):
        v = stmt.value
        if isinstance(v, ast.Call) and isinstance(v.func, ast.Name) and v.func.id == "print" and len(v.args) == 1:
            return v.args[0]
        return v
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        return stmt.value
    if isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
        return stmt.value
    return None


def _run_python(block: Block, ns: dict) -> int:
    """Execute a block statement by statement; check `# -> VALUE` comments. Returns #checks."""
    where = block.id
    if re.search(r"^\s*>>> ", block.source, flags=re.M):
        parser = doctest.DocTestParser()
        test = parser.get_doctest(block.source, ns, where, str(block.path), block.line)
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        out = io.StringIO()
        result = runner.run(test, out=out.write, clear_globs=False)
        assert result.failed == 0, f"{where}: doctest failed\n{out.getvalue()}"
        return sum(1 for ex in test.examples if ex.want)
    tree = ast.parse(block.source, filename=where)
    comments = _comments(block.source)
    checks = 0
    for stmt in tree.body:
        arrows = {ln: _ARROW.match(comments[ln]) for ln in range(stmt.lineno, stmt.end_lineno + 1) if ln in comments}
        arrows = {ln: m for ln, m in arrows.items() if m}
        expr = _value_of(stmt)
        filename = f"{block.path.name}:{block.line + stmt.lineno}"
        if arrows:
            assert list(arrows) == [stmt.end_lineno], (
                f"{where}: a `# -> value` comment must end the statement it checks (line {list(arrows)})"
            )
            assert expr is not None, f"{where}: `# -> value` on a statement with no single value (line {stmt.lineno})"
            if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
                exec(compile(ast.Module([stmt], []), filename, "exec"), ns)
            value = eval(compile(ast.Expression(expr), filename, "eval"), ns)
            if isinstance(stmt, ast.Expr) and expr is not stmt.value:  # print(x): still print
                print(value)
            _check_shown(value, arrows[stmt.end_lineno]["value"], f"{where} line {stmt.end_lineno}")
            checks += 1
        else:
            exec(compile(ast.Module([stmt], []), filename, "exec"), ns)
    return checks


# One namespace and working directory per doc file, shared by its blocks (and rebuilt in a
# worker that did not run the earlier blocks, e.g. under pytest-xdist or `-k`).
_STATE: dict[Path, dict] = {}


def _namespace_for(block: Block, tmp_path_factory, monkeypatch) -> dict:
    import torch

    state = _STATE.get(block.path)
    if state is None:
        state = _STATE[block.path] = {
            "ns": {"__name__": "__docs__"},
            "cwd": tmp_path_factory.mktemp(block.path.stem),
            "next": 0,
            "failed": None,
        }
        torch.manual_seed(0)
    monkeypatch.chdir(state["cwd"])
    blocks = [b for b in RUN_BLOCKS if b.path == block.path]
    for earlier in blocks:
        if earlier.index >= block.index or earlier.index < state["next"]:
            continue
        try:
            _run_python(earlier, state["ns"])
        except BaseException as exc:  # noqa: BLE001 - reported on the block that needs it
            state["failed"] = f"{earlier.id}: {type(exc).__name__}: {exc}"
        state["next"] = earlier.index + 1
    if state["failed"]:
        pytest.fail(f"an earlier block of this file failed, so this one cannot run: {state['failed']}")
    return state


@pytest.fixture(autouse=True)
def _agg_backend(monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    try:
        import matplotlib
    except ImportError:  # the `plot` extra is optional; blocks that need it will say so
        matplotlib = None
    if matplotlib is not None:
        matplotlib.use("Agg", force=True)
    yield
    if matplotlib is not None:
        import matplotlib.pyplot as plt

        plt.close("all")


def test_blocks_are_found():
    assert (ROOT / "README.md").exists() and len(DOC_FILES) > 1
    assert RUN_BLOCKS, "no runnable python block found: the collector is broken"


@pytest.mark.parametrize("block", RUN_BLOCKS, ids=lambda b: b.id)
def test_python_block_runs(block, tmp_path_factory, monkeypatch):
    state = _namespace_for(block, tmp_path_factory, monkeypatch)
    try:
        _run_python(block, state["ns"])
    except BaseException as exc:
        state["failed"] = f"{block.id}: {type(exc).__name__}: {exc}"
        raise
    finally:
        state["next"] = block.index + 1


@pytest.mark.parametrize("block", NO_RUN_BLOCKS or [None], ids=lambda b: b.id if b else "none")
def test_no_run_blocks_give_a_reason_and_compile(block):
    if block is None:
        pytest.skip("every python block in the docs runs")
    assert block.no_run, f"{block.id}: `<!-- no-run: reason -->` must say why the block cannot run in CI"
    compile(block.source, block.id, "exec")


@pytest.mark.parametrize("block", ALL_BLOCKS, ids=lambda b: b.id)
def test_shown_outputs_are_checked(block):
    """A comment that shows a value must be a checked `# -> value` (or the block a doctest)."""
    if re.search(r"^\s*>>> ", block.source, flags=re.M):
        return
    bad = []
    for ln, text in _comments(block.source).items():
        if _ARROW.match(text):
            _expected(_ARROW.match(text)["value"])  # parses
        elif _OUTPUT_LIKE.match(text):
            bad.append(f"line {block.line + ln}: {text}")
    assert not bad, f"{block.id}: comments that show outputs without checking them (write `# -> value`): {bad}"


def test_python_fences_have_no_unknown_options():
    for b in ALL_BLOCKS:
        assert b.info.split()[1:] == [], (
            f"{b.id}: unknown fence option {b.info!r}; mark a block that cannot run with `<!-- no-run: reason -->`"
        )


# ---------------------------------------------------------------------------------------
# Shell blocks use the README's entry points
# ---------------------------------------------------------------------------------------

_ENTRY_POINTS = (
    "make ",
    ".venv/bin/losslab ",
    ".venv/bin/python benchmarks/",
    ".venv/bin/pytest ",
    "torchrun ",
    ".venv/bin/torchrun ",
)
_ENV = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)=\S*\s+")


def _shell_commands(lang: str, source: str) -> list[str]:
    cmds = []
    for raw in source.splitlines():
        line = raw.strip()
        if lang == "console":
            if not line.startswith("$ "):
                continue
            line = line[2:].strip()
        if not line or line.startswith("#"):
            continue
        cmds.append(line)
    return cmds


def _all_fenced():
    for p in DOC_FILES:
        for line, lang, info, src, reason in _fenced_blocks(p):
            yield p, line, lang, src


def test_every_fenced_block_names_its_language():
    untagged = [f"{p.relative_to(ROOT)}:{line}" for p, line, lang, _ in _all_fenced() if not lang]
    assert not untagged, f"fenced blocks without a language (python, bash, console, text, ...): {untagged}"


SHELL_BLOCKS = [(p, line, lang, src) for p, line, lang, src in _all_fenced() if lang in SHELL_LANGS]


@pytest.mark.parametrize("p,line,lang,src", SHELL_BLOCKS, ids=[f"{p.relative_to(ROOT)}@L{line}" for p, line, *_ in SHELL_BLOCKS])
def test_shell_blocks_use_the_readme_entry_points(p, line, lang, src):
    cmds = _shell_commands(lang, src)
    assert cmds, f"{p.name}:{line}: a {lang} block with no command"
    for cmd in cmds:
        rest = cmd
        while m := _ENV.match(rest):
            assert m["name"] != "PYTHONPATH", f"{p.name}:{line}: {cmd!r} sets PYTHONPATH; use the installed .venv entry points"
            rest = rest[m.end():]
        assert rest.startswith(_ENTRY_POINTS), (
            f"{p.name}:{line}: {cmd!r} does not start with one of the README's entry points {_ENTRY_POINTS}"
        )


def test_no_doc_tells_readers_to_set_pythonpath():
    hits = [
        f"{p.relative_to(ROOT)}:{i}"
        for p in DOC_FILES
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if "PYTHONPATH=src" in line
    ]
    assert not hits, f"`PYTHONPATH=src` in the docs (use make / .venv/bin/...): {hits}"


# ---------------------------------------------------------------------------------------
# Links between docs
# ---------------------------------------------------------------------------------------

_LINK = re.compile(r"(?<!!)\[[^\]]*\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    s = re.sub(r"`", "", heading.strip().lower())
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"^(`{3,}|~{3,}).*?^\1\s*$", "", text, flags=re.M | re.S)  # no headings in code
    return {_slug(m[1]) for m in re.finditer(r"^#{1,6}\s+(.*?)\s*#*\s*$", text, flags=re.M)}


def _relative_links():
    for p in DOC_FILES:
        text = p.read_text(encoding="utf-8")
        text = re.sub(r"^(`{3,}|~{3,}).*?^\1\s*$", "", text, flags=re.M | re.S)
        for m in _LINK.finditer(text):
            target = m["target"]
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, flags=re.I):  # http:, https:, mailto:
                continue
            yield p, target


def test_relative_links_resolve():
    links_seen = list(_relative_links())
    assert links_seen, "no relative link found: the collector is broken"
    broken = []
    for p, target in links_seen:
        file_part, _, fragment = target.partition("#")
        dest = (p.parent / file_part).resolve() if file_part else p
        if not dest.exists():
            broken.append(f"{p.relative_to(ROOT)}: ({target}) -> {dest} does not exist")
        elif fragment and dest.suffix == ".md" and fragment not in _anchors(dest):
            broken.append(f"{p.relative_to(ROOT)}: ({target}) -> no heading with anchor #{fragment}")
    assert not broken, "\n".join(broken)


def test_index_lists_every_guide():
    linked = {t.partition("#")[0] for p, t in _relative_links() if p.name == "index.md"}
    missing = [p.name for p in sorted((ROOT / "docs").glob("*.md")) if p.name != "index.md" and p.name not in linked]
    assert not missing, f"docs/index.md does not link: {missing}"


# ---------------------------------------------------------------------------------------
# The checker itself: a wrong shown value, an unchecked output, a bad command must fail
# ---------------------------------------------------------------------------------------


def _block(source: str) -> Block:
    return Block(ROOT / "README.md", 0, 1, "python", "python", source, None)


def test_shown_value_is_checked_to_its_written_precision():
    ns: dict = {}
    assert _run_python(_block("import math\nmath.log(2)  # -> 0.6931\nx = 2 + 1  # -> 3\n"), ns) == 2
    assert ns["x"] == 3
    _run_python(_block("import torch\nprint(torch.tensor([[0.75, 0.25]]))  # -> tensor([[0.75, 0.25]])\n"), {})
    with pytest.raises(AssertionError, match="shows"):
        _run_python(_block("import math\nmath.log(2)  # -> 0.6932\n"), {})  # off by 1.3 units of the last digit
    with pytest.raises(AssertionError, match="shape"):
        _run_python(_block("[1.0, 2.0]  # -> [1.0, 2.0, 3.0]\n"), {})
    with pytest.raises(AssertionError, match="shows"):
        _run_python(_block("1 < 2  # -> False\n"), {})
    with pytest.raises(AssertionError, match="doctest failed"):
        _run_python(_block(">>> 1 + 1\n3\n"), {})  # doctest-style blocks compare their output too


def test_unchecked_outputs_and_raw_commands_are_caught():
    bad = _block("import torch\ntorch.zeros(2)  # tensor([0., 0.])\n")
    with pytest.raises(AssertionError, match="without checking"):
        test_shown_outputs_are_checked(bad)
    test_shown_outputs_are_checked(_block("y = 1  # 0 for the two scores below 0, however predicted\n"))
    for cmd in ("PYTHONPATH=src python -m losslab plot\n", "python -m losslab plot\n", "python benchmarks/bench_matching.py\n"):
        with pytest.raises(AssertionError):
            test_shell_blocks_use_the_readme_entry_points(ROOT / "README.md", 1, "bash", cmd)
    test_shell_blocks_use_the_readme_entry_points(ROOT / "README.md", 1, "console", "$ OMP_NUM_THREADS=1 .venv/bin/losslab rank\nNDCG 0.8\n")


def test_no_run_marker_is_read_with_its_reason(tmp_path):
    md = tmp_path / "page.md"
    md.write_text(
        "<!-- no-run: needs a CUDA device -->\n```python\nx = 1\n```\n\n<!-- no-run -->\n\n```python\ny = 2\n```\n"
        "```python\nz = 3\n```\n",
        encoding="utf-8",
    )
    blocks = _python_blocks(md)
    assert [b.no_run for b in blocks] == ["needs a CUDA device", "", None]
    test_no_run_blocks_give_a_reason_and_compile(blocks[0])
    with pytest.raises(AssertionError, match="must say why"):
        test_no_run_blocks_give_a_reason_and_compile(blocks[1])
