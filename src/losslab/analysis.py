"""Analysis of losses: sensitivity, convexity, BUST/BLUST, properness (seed 000) and
logit separation (seed 001). Functions here only read losses; they never train.
"""
from __future__ import annotations

__all__: list[str] = []
