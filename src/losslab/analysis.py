"""Analysis of losses: sensitivity, convexity, BUST/BLUST, properness (seed 000) and
logit separation (seed 001). Functions here only read losses; they never train.
"""
from __future__ import annotations

__all__: list[str] = []

# -- logit separation (seed 001, issue 3) -------------------------------------------------
from .pols import (  # noqa: E402
    COUNTER_EXAMPLES,
    PAPER_POLS_ALIGNED,
    AlignmentProbe,
    LogitSeparation,
    counter_example,
    logit_separation,
    pols_alignment,
)

__all__ += [
    "logit_separation",
    "LogitSeparation",
    "pols_alignment",
    "AlignmentProbe",
    "counter_example",
    "COUNTER_EXAMPLES",
    "PAPER_POLS_ALIGNED",
]
