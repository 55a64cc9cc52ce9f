"""Timing primitives of the benchmark: a stage clock, repeated and interleaved runs, and
p50/p99 summaries.

Host work is timed with ``time.perf_counter``; device work on a GPU with CUDA events on the
current stream (after a synchronisation), so queued kernels are counted where they run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch


def summarize(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p99/mean/min of a list of durations, in milliseconds."""
    ms = np.asarray(seconds, dtype=np.float64) * 1e3
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
            "mean_ms": float(ms.mean()), "min_ms": float(ms.min()), "n": int(ms.size)}


class StageClock:
    """Times callables on the host (``perf_counter``) or on a CUDA stream (events)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.cuda = device.type == "cuda"

    def sync(self) -> None:
        """Wait for all queued device work."""
        if self.cuda:
            torch.cuda.synchronize(self.device)

    def time(self, fn: Callable[[], Any], on_device: bool) -> tuple[Any, float]:
        """Run ``fn``; return its result and seconds taken (device time if ``on_device``)."""
        if self.cuda and on_device:
            self.sync()
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            stream = torch.cuda.current_stream(self.device)
            start.record(stream)
            result = fn()
            end.record(stream)
            end.synchronize()
            return result, start.elapsed_time(end) / 1e3
        t0 = time.perf_counter()
        result = fn()
        return result, time.perf_counter() - t0



def repeat(fn: Callable[[], Any], iterations: int, warmup: int,
            sync: Callable[[], None]) -> tuple[list[float], float]:
    """Per-call seconds of ``fn`` after ``warmup`` calls, and the total wall time."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    start = time.perf_counter()
    for _ in range(iterations):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return times, time.perf_counter() - start


def interleaved(fns: dict[str, Callable[[], Any]], iterations: int, warmup: int,
                 sync: Callable[[], None]) -> dict[str, list[float]]:
    """Per-call seconds of each of ``fns``, called in turn ``iterations`` times after
    ``warmup`` rounds."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    sync()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(iterations):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - t0)
    return times
