"""Rate, latency, drop and rejection statistics of the frame pipeline (no ROS imports).

`PipelineStats` is updated from the transport callbacks and the worker thread; `report()`
turns a window of it into a `DiagnosticReport` (level, message, key/values) that the shells
publish on ``/diagnostics`` and log periodically.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

# diagnostic_msgs/DiagnosticStatus levels
OK, WARN, ERROR, STALE = 0, 1, 2, 3

_WINDOW = 256  # recent frames kept for rate and latency


@dataclass(frozen=True)
class DiagnosticReport:
    """One DiagnosticStatus worth of state, ROS-free.

    Attributes:
        level: OK, WARN, ERROR or STALE (diagnostic_msgs levels).
        name: Status name, ``"<node>: depth pipeline"``.
        message: One-line summary.
        hardware_id: The inference device.
        values: (key, value) pairs, values already formatted.
    """

    level: int
    name: str
    message: str
    hardware_id: str
    values: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class StatsSnapshot:
    """Counters since start and rates over the last period.

    Attributes:
        received: Frames that arrived (all inputs count, including bad ones).
        processed: Frames turned into outputs.
        dropped: Frames replaced in the mailbox by a newer one before processing.
        rejected: Bad input messages (images and camera infos) that were refused.
        idle: Frames ignored because nobody subscribed to any output.
        inactive: Frames ignored because the node was deactivated (lifecycle).
        errors: Frames that failed inside the pipeline.
        skipped: Outputs left out of a frame because their settings do not fit the image
            (a scan band taller than it, range sectors wider than its field of view).
        filtered_pixels: Depth pixels the edge filter made invalid.
        filter_input_pixels: Valid depth pixels the filters were given.
        input_rate_hz: Received frames per second over the period.
        output_rate_hz: Processed frames per second over the period.
        latency_ms: Mean receive-to-publish latency of recent frames, NaN if none.
        latency_max_ms: Largest receive-to-publish latency of recent frames, NaN if none.
        stage_ms: Mean time per pipeline stage of recent frames.
        period_s: Length of the period the rates cover.
        new_rejected: Rejections during the period.
        new_errors: Errors during the period.
        new_skipped: Skipped outputs during the period.
        published: Messages published per output topic since start.
    """

    received: int
    processed: int
    dropped: int
    rejected: int
    idle: int
    inactive: int
    errors: int
    skipped: int
    filtered_pixels: int
    filter_input_pixels: int
    input_rate_hz: float
    output_rate_hz: float
    latency_ms: float
    latency_max_ms: float
    stage_ms: Mapping[str, float]
    period_s: float
    new_rejected: int
    new_errors: int
    new_skipped: int
    published: Mapping[str, int]


class PipelineStats:
    """Thread-safe counters and recent timings of the frame pipeline."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(
            ("received", "processed", "dropped", "rejected", "idle", "inactive", "errors",
             "skipped", "filtered_pixels", "filter_input_pixels"), 0
        )
        self._published: dict[str, int] = {}  # output topic -> messages
        # (monotonic time, latency s, {stage: s}) of recent processed frames
        self._recent: deque[tuple[float, float, Mapping[str, float]]] = deque(maxlen=_WINDOW)
        # Each reader (diagnostics, log line) measures its own period from its own mark.
        self._marks: dict[str, tuple[float, dict[str, int]]] = {}
        self._start = (clock(), dict(self._counts))

    def count(self, name: str, n: int = 1) -> int:
        """Add ``n`` to counter ``name`` and return its new value."""
        with self._lock:
            self._counts[name] += n
            return self._counts[name]

    def count_published(self, output: str, n: int = 1) -> None:
        """Count ``n`` messages published on output ``output`` (a topic name)."""
        with self._lock:
            self._published[output] = self._published.get(output, 0) + n

    def count_filtered(self, removed: int, valid: int) -> None:
        """Count one filtered frame: ``removed`` of its ``valid`` pixels made invalid."""
        with self._lock:
            self._counts["filtered_pixels"] += removed
            self._counts["filter_input_pixels"] += valid

    def record_processed(self, latency_s: float, stages_s: Mapping[str, float]) -> None:
        """Count one processed frame with its latency and per-stage times (seconds)."""
        with self._lock:
            self._counts["processed"] += 1
            self._recent.append((self._clock(), latency_s, dict(stages_s)))

    def snapshot(self, reader: str = "diagnostics") -> StatsSnapshot:
        """Return the counters, and rates and timings since ``reader``'s previous snapshot."""
        with self._lock:
            now = self._clock()
            since, before = self._marks.get(reader, self._start)
            counts = dict(self._counts)
            published = dict(self._published)
            self._marks[reader] = (now, counts)
            recent = [(lat, st) for t, lat, st in self._recent if t > since]
        period = max(now - since, 1e-9)
        latencies = [lat for lat, _ in recent]
        stages = [st for _, st in recent]
        stage_ms: dict[str, float] = {}
        for name in sorted({k for s in stages for k in s}):
            values = [s[name] for s in stages if name in s]
            stage_ms[name] = 1e3 * sum(values) / len(values)
        return StatsSnapshot(
            **counts,
            input_rate_hz=(counts["received"] - before["received"]) / period,
            output_rate_hz=(counts["processed"] - before["processed"]) / period,
            latency_ms=1e3 * sum(latencies) / len(latencies) if latencies else float("nan"),
            latency_max_ms=1e3 * max(latencies) if latencies else float("nan"),
            stage_ms=stage_ms,
            period_s=period,
            new_rejected=counts["rejected"] - before["rejected"],
            new_errors=counts["errors"] - before["errors"],
            new_skipped=counts["skipped"] - before["skipped"],
            published=published,
        )


def report(snapshot: StatsSnapshot, node_name: str, device: str) -> DiagnosticReport:
    """Turn a snapshot into a diagnostic status: ERROR on pipeline failures, WARN on
    rejected input, OK otherwise (drops are by design: only the newest frame is kept)."""
    if snapshot.new_errors:
        level, state = ERROR, f"{snapshot.new_errors} frame(s) failed"
    elif snapshot.new_rejected:
        level, state = WARN, f"{snapshot.new_rejected} bad input message(s) rejected"
    elif snapshot.new_skipped:
        level, state = WARN, (f"{snapshot.new_skipped} output(s) skipped: their settings do "
                              f"not fit the image")
    else:
        level, state = OK, "ok"
    values = [
        ("input rate (Hz)", f"{snapshot.input_rate_hz:.2f}"),
        ("output rate (Hz)", f"{snapshot.output_rate_hz:.2f}"),
        ("latency mean (ms)", f"{snapshot.latency_ms:.1f}"),
        ("latency max (ms)", f"{snapshot.latency_max_ms:.1f}"),
        ("frames received", str(snapshot.received)),
        ("frames processed", str(snapshot.processed)),
        ("frames dropped", str(snapshot.dropped)),
        ("messages rejected", str(snapshot.rejected)),
        ("frames idle (no subscribers)", str(snapshot.idle)),
        ("frames ignored (inactive)", str(snapshot.inactive)),
        ("frame errors", str(snapshot.errors)),
        ("outputs skipped", str(snapshot.skipped)),
        ("pixels removed by the edge filter", str(snapshot.filtered_pixels)),
        ("pixels removed by the edge filter (%)",
         f"{100.0 * snapshot.filtered_pixels / max(snapshot.filter_input_pixels, 1):.1f}"),
    ]
    values += [(f"published {topic}", str(n)) for topic, n in sorted(snapshot.published.items())]
    values += [(f"{stage} (ms)", f"{ms:.1f}") for stage, ms in snapshot.stage_ms.items()]
    return DiagnosticReport(
        level=level,
        name=f"{node_name}: depth pipeline",
        message=f"{state}; {summary(snapshot)}",
        hardware_id=device,
        values=tuple(values),
    )


def summary(snapshot: StatsSnapshot) -> str:
    """One log line: rates, latency and counters."""
    if snapshot.latency_ms == snapshot.latency_ms:  # not NaN: frames in this period
        latency = f"latency {snapshot.latency_ms:.0f} ms (max {snapshot.latency_max_ms:.0f})"
    else:
        latency = "latency n/a"
    return (
        f"in {snapshot.input_rate_hz:.1f} Hz, out {snapshot.output_rate_hz:.1f} Hz, {latency}, "
        f"processed {snapshot.processed}, dropped {snapshot.dropped}, "
        f"rejected {snapshot.rejected}, idle {snapshot.idle}, errors {snapshot.errors}"
    )
