"""Small helpers for the one clear line a bad input gets (ROS-free, no dependencies)."""

from __future__ import annotations

__all__ = ["first_line", "worth_logging"]


def first_line(exc: BaseException) -> str:
    """An exception's message on one line: its first non-empty line (many errors, e.g.
    YAML's and torch's, span several), or the exception's type name if it has none."""
    return next((line.strip() for line in str(exc).splitlines() if line.strip()),
                type(exc).__name__)


def worth_logging(count: int) -> bool:
    """Rate limit for a repeated warning counted as it happens: log the 1st, 10th, 100th
    and every 1000th occurrence (the counters themselves count every one)."""
    return count in (1, 10, 100) or count % 1000 == 0
