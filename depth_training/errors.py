"""The errors a user can cause in depth_training, one type per kind of input.

Each carries one sentence naming what was wrong and what was expected; the commands print it
as one ``error:`` line.
"""

from __future__ import annotations

__all__ = ["ConfigError", "DatasetError", "EvaluationError", "TrainingError"]


class ConfigError(ValueError):
    """A configuration file or override is malformed or out of range."""


class DatasetError(ValueError):
    """A dataset file or split is missing, unreadable, or not laid out as expected."""


class TrainingError(RuntimeError):
    """Training cannot start or continue (bad output folder, empty split, divergence...)."""


class EvaluationError(RuntimeError):
    """The evaluation cannot run: bad arguments, unusable inputs or outputs."""
