"""Evaluation metrics: single-logit classification quality (seed 001) and ranking (seed 002)."""
from __future__ import annotations

__all__: list[str] = []
