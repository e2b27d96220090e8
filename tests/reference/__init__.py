"""Naive reference implementations, one module per family, looked up by loss name.

Each module defines ``REFERENCES = {name: fn}`` where ``fn`` takes the loss's
call signature (``reduction`` and ``sample_weight`` ignored) and returns the
``reduction='none'`` output computed independently -- loops, closed forms,
scipy -- never by calling the loss under test.
"""
from __future__ import annotations

import importlib
import pkgutil

REFERENCES: dict = {}

for _info in pkgutil.iter_modules(__path__):
    _module = importlib.import_module(f"{__name__}.{_info.name}")
    REFERENCES.update(getattr(_module, "REFERENCES", {}))
