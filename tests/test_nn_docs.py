"""Every module of ``losslab.nn.__all__`` documents itself.

Its docstring points to the function that holds the full documentation, has an ``Args:``
section naming every constructor argument, says what ``forward`` takes, and ends with an
``Example:`` that builds the module and calls it (``ll.nn.Name(...)(inputs...)``; links are
written ``ll.links.<name>()``). The example is run here (with ``torch``, ``ll`` = ``losslab``
and ``links`` = ``losslab.links`` in scope) and compared with the function it points to, so a
docstring that drifts from the code fails.
"""
from __future__ import annotations

import ast
import inspect
import re

import pytest
import torch

import losslab
from losslab import links
from losslab import nn as lnn

CLASSES = [getattr(lnn, name) for name in lnn.__all__]
IDS = list(lnn.__all__)


def _doc(cls) -> str:
    return inspect.cleandoc(cls.__doc__ or "")


def _args_section(doc: str) -> list[str]:
    """The names documented under ``Args:`` (``a, b: ...`` documents both ``a`` and ``b``)."""
    lines = doc.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Args:")
    except StopIteration:
        return []
    body = []
    for line in lines[start + 1:]:
        if not line.strip():
            break
        body.append(line)
    if not body:
        return []
    indent = len(body[0]) - len(body[0].lstrip())
    names = []
    for line in body:
        if len(line) - len(line.lstrip()) != indent:
            continue  # a continuation line of the previous entry
        head = line.strip().split(":", 1)[0]
        names += [n.strip().lstrip("*") for n in head.split(",")]
    return names


def _function(cls):
    """The function the docstring points to (``:func:`losslab.name```), the first pointer."""
    m = re.search(r":func:`losslab\.(\w+)`", _doc(cls))
    assert m, f"{cls.__name__}: the docstring does not point to its function (:func:`losslab.<name>`)"
    assert hasattr(losslab, m.group(1)), f"{cls.__name__}: losslab has no {m.group(1)!r}"
    return getattr(losslab, m.group(1))


def _example(cls) -> str:
    found = re.findall(r"Example:\s*``(.+?)``", _doc(cls), flags=re.S)
    assert len(found) == 1, f"{cls.__name__}: expected one inline ``Example: ``...```` expression, found {len(found)}"
    return found[0]


@pytest.mark.parametrize("cls", CLASSES, ids=IDS)
def test_docstring_points_to_its_function(cls):
    _function(cls)


@pytest.mark.parametrize("cls", CLASSES, ids=IDS)
def test_args_names_every_constructor_argument(cls):
    documented = _args_section(_doc(cls))
    assert documented, f"{cls.__name__}: no Args: section"
    params = inspect.signature(cls.__init__).parameters
    wanted = [p.name for p in params.values()
              if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        # the module forwards **kwargs to its function: those keywords are its arguments too
        fn_params = inspect.signature(_function(cls)).parameters.values()
        wanted += [p.name for p in fn_params
                   if p.kind is p.KEYWORD_ONLY and p.name not in ("sample_weight", "reduction")]
    missing = [name for name in wanted if name not in documented]
    assert not missing, f"{cls.__name__}: Args: does not document {missing} (documents {documented})"


@pytest.mark.parametrize("cls", CLASSES, ids=IDS)
def test_docstring_says_what_forward_takes(cls):
    assert "``forward(" in _doc(cls), f"{cls.__name__}: the docstring does not say what forward takes"


@pytest.mark.parametrize("cls", CLASSES, ids=IDS)
def test_example_runs(cls):
    source = _example(cls)
    tree = ast.parse(source, mode="eval")
    call = tree.body
    # ``ll.nn.Name(...)(inputs...)``: a call of a call of ``ll.nn.<the documented class>``
    assert isinstance(call, ast.Call) and isinstance(call.func, ast.Call), (
        f"{cls.__name__}: the example {source!r} is not ``ll.nn.{cls.__name__}(...)(inputs...)``")
    assert ast.unparse(call.func.func) == f"ll.nn.{cls.__name__}", (
        f"{cls.__name__}: the example {source!r} does not build ll.nn.{cls.__name__}")
    assert source.lstrip().startswith(f"ll.nn.{cls.__name__}(")

    scope = {"torch": torch, "ll": losslab, "links": links}
    torch.manual_seed(0)
    # build the module first, then call it: the same evaluation order as the whole expression
    module = eval(compile(ast.Expression(call.func), "<example>", "eval"), scope)
    assert isinstance(module, cls)
    scope["__module"] = module
    called = ast.Call(func=ast.Name("__module", ast.Load()), args=call.args, keywords=call.keywords)
    out = eval(compile(ast.fix_missing_locations(ast.Expression(called)), "<example>", "eval"), scope)

    assert isinstance(out, torch.Tensor), f"{cls.__name__}: the example returns {type(out).__name__}"
    assert out.numel() > 0 and torch.isfinite(out).all(), f"{cls.__name__}: the example returns {out}"
    if getattr(module, "reduction", None) == "mean":
        assert out.dim() == 0, f"{cls.__name__}: reduction='mean' returns shape {tuple(out.shape)}"


@pytest.mark.parametrize("cls", CLASSES, ids=IDS)
def test_example_agrees_with_its_function(cls):
    """The module computes what the function it points to computes on the example's inputs."""
    source = _example(cls)
    call = ast.parse(source, mode="eval").body
    scope = {"torch": torch, "ll": losslab, "links": links}
    torch.manual_seed(0)
    module = eval(compile(ast.Expression(call.func), "<example>", "eval"), scope)
    args = [eval(compile(ast.Expression(a), "<example>", "eval"), scope) for a in call.args]
    kwargs = {k.arg: eval(compile(ast.Expression(k.value), "<example>", "eval"), scope) for k in call.keywords}
    torch.manual_seed(1)  # the sampled losses draw: the same draws for module and function
    out = module(*args, **kwargs)
    if not isinstance(module, lnn._Loss):
        return  # the sparse mappings have no reduction; test_example_runs covers them
    fn = _function(cls)
    fn_params = inspect.signature(fn).parameters
    keys = getattr(module, "_keys", None)
    if keys is None:  # the hand-written modules store their hyper-parameters under the function's names
        keys = [k for k in fn_params if hasattr(module, k) and k not in ("reduction", "sample_weight")]
    hyper = {k: getattr(module, k) for k in keys}
    if "generator" in fn_params and getattr(module, "_generator", None) is not None:
        hyper["generator"] = module._generator
    torch.manual_seed(1)
    expected = fn(*args, **{**hyper, **kwargs}, reduction=module.reduction)
    torch.testing.assert_close(out, expected)
