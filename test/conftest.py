"""Shared fixtures: small untrained checkpoints made on the fly (no weights are shipped to
tests)."""

import logging
from pathlib import Path

import pytest
import torch

from depth_estimation_ros.core.checkpoint import save_checkpoint
from depth_estimation_ros.core.model import PreprocessConfig, build_model


def make_compact_checkpoint(path: Path, preprocess: PreprocessConfig | None = None,
                            seed: int = 0) -> Path:
    """Write an untrained ``compact`` checkpoint (paper preprocessing by default) to ``path``.

    Its depth is close to the init bias (about 2.5 m) everywhere: valid, finite metres.
    """
    torch.manual_seed(seed)
    model = build_model("compact")
    return save_checkpoint(path, model, model_config=model.config,
                           preprocess=preprocess or PreprocessConfig.paper(),
                           training={"note": "untrained, made by test/conftest.py"})


@pytest.fixture(scope="session")
def compact_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained compact checkpoint with the paper's crop (NaN border at input size)."""
    return make_compact_checkpoint(tmp_path_factory.mktemp("weights") / "compact.pt")


@pytest.fixture(autouse=True)
def _package_loggers_propagate():
    """Let the packages' loggers reach caplog (which listens on the root logger) in every test.

    On a ROS install, ``colcon test`` loads launch_testing's pytest plugin, which imports
    ``launch``; its logger class makes every logger created afterwards stop propagating, so
    without this the modules' log lines never reach caplog there.
    """
    loggers = [logger for name, logger in logging.Logger.manager.loggerDict.items()
               if isinstance(logger, logging.Logger)
               and name.partition(".")[0] in ("depth_estimation_ros", "depth_training")]
    saved = [(logger, logger.propagate) for logger in loggers]
    for logger in loggers:
        logger.propagate = True
    yield
    for logger, propagate in saved:
        logger.propagate = propagate
