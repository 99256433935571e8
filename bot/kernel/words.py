"""Plain words for numbers: "1 minute", "30 minutes"."""

from __future__ import annotations


def count(n: int, unit: str) -> str:
    """``n`` ``unit``s as people say it: "1 day", "2 days", "0 minutes"."""
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"
