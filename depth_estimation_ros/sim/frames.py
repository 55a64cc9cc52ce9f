"""A camera of rendered frames: the synthetic scene along its trajectory, rendered and
encoded ahead of whoever publishes it.

:class:`FrameSource` renders on a worker thread (live, or K cached poses over one loop) and
hands out :class:`CameraFrame` objects already encoded as image bytes (any of
``CAMERA_ENCODINGS``), jpeg and exact 32FC1 depth when asked. It knows no transport;
``python -m depth_estimation_ros.synthetic_camera`` publishes its frames on DDS.
"""

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from depth_estimation_ros.core.camera import CameraIntrinsics
from depth_estimation_ros.core.encodings import encode_compressed, encode_depth_32fc1, encode_image

__all__ = ["CAMERA_ENCODINGS", "CameraFrame", "FrameSource", "convert_rgb"]

CAMERA_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8")
_AHEAD = 3  # frames rendered ahead of the publisher (live mode)


@dataclass(frozen=True)
class CameraFrame:
    """One frame, already encoded for publishing.

    Attributes:
        index: frame (or cache slot) number.
        data: image bytes in the chosen encoding, ``height * step`` bytes.
        step: bytes per image row.
        jpeg: jpeg bytes when compressed publishing is on.
        depth: exact depth as 32FC1 bytes (``4 * width`` per row) when asked for.
        intrinsics: the camera.
        render_s: seconds the render and encode took.
    """

    index: int
    data: np.ndarray
    step: int
    jpeg: bytes | None
    depth: np.ndarray | None
    intrinsics: CameraIntrinsics
    render_s: float


def convert_rgb(rgb: np.ndarray, encoding: str) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB as an array laid out for ``encoding``."""
    if encoding == "rgb8":
        return rgb
    if encoding == "bgr8":
        return np.ascontiguousarray(rgb[..., ::-1])
    if encoding in ("rgba8", "bgra8"):
        colour = rgb if encoding == "rgba8" else rgb[..., ::-1]
        alpha = np.full(rgb.shape[:2] + (1,), 255, np.uint8)
        return np.concatenate([colour, alpha], axis=2)
    if encoding == "mono8":
        # ITU-R BT.601 luma, as OpenCV's RGB2GRAY
        weights = np.array([0.299, 0.587, 0.114], np.float32)
        return np.clip(rgb.astype(np.float32) @ weights + 0.5, 0, 255).astype(np.uint8)
    raise ValueError(f"camera encoding {encoding!r} is not supported; expected one of "
                     f"{', '.join(CAMERA_ENCODINGS)}")


class FrameSource:
    """Renders and encodes frames along the trajectory, ahead of the publisher.

    Args:
        seed: scene seed (``SyntheticScene.random``).
        width: image width, pixels.
        height: image height, pixels.
        rate: publishing rate, Hz; live frame ``i`` shows trajectory time ``i / rate``.
        encoding: one of ``CAMERA_ENCODINGS``.
        compressed: also produce jpeg bytes.
        ground_truth: also produce the exact depth.
        cache_frames: K > 0 cycles through K poses spread over one trajectory loop,
            each rendered once; 0 renders every frame.
        jpeg_quality: 1..100.
    """

    def __init__(self, seed: int, width: int, height: int, rate: float, encoding: str = "rgb8",
                 compressed: bool = False, ground_truth: bool = False, cache_frames: int = 0,
                 jpeg_quality: int = 90) -> None:
        from depth_estimation_ros.sim.scene import SyntheticScene

        if encoding not in CAMERA_ENCODINGS:
            raise ValueError(f"camera encoding {encoding!r} is not supported; expected one of "
                             f"{', '.join(CAMERA_ENCODINGS)}")
        self.scene = SyntheticScene.random(seed)
        self.width, self.height, self.rate = width, height, rate
        self.encoding, self.compressed, self.ground_truth = encoding, compressed, ground_truth
        self.cache_frames, self.jpeg_quality = cache_frames, jpeg_quality
        self._frames: OrderedDict[int, CameraFrame] = OrderedDict()
        self._cond = threading.Condition()
        self._wanted = 0  # the publisher's next frame index
        self._stop = False
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="camera-render", daemon=True)
        self._thread.start()

    def _slot(self, index: int) -> int:
        return index % self.cache_frames if self.cache_frames else index

    def _pose_time(self, slot: int) -> float:
        if self.cache_frames:
            return slot * self.scene.period / self.cache_frames
        return slot / self.rate

    def render(self, slot: int) -> CameraFrame:
        """Render and encode one frame (any thread)."""
        t0 = time.perf_counter()
        frame = self.scene.render(self.scene.trajectory_pose(self._pose_time(slot)),
                                  self.width, self.height)
        data, step = encode_image(convert_rgb(frame.rgb, self.encoding), self.encoding)
        jpeg = (encode_compressed(frame.rgb, "jpeg", self.jpeg_quality)[0]
                if self.compressed else None)
        depth = encode_depth_32fc1(frame.depth)[0] if self.ground_truth else None
        return CameraFrame(slot, data, step, jpeg, depth, frame.intrinsics,
                           time.perf_counter() - t0)

    def _next_to_render(self) -> int | None:
        """Slot to render next, or None when far enough ahead (holding the lock)."""
        for index in range(self._wanted, self._wanted + _AHEAD):
            slot = self._slot(index)
            if slot not in self._frames:
                return slot
        return None

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    slot = self._next_to_render()
                    while slot is None and not self._stop:
                        self._cond.wait()
                        slot = self._next_to_render()
                    if self._stop:
                        return
                frame = self.render(slot)
                with self._cond:
                    self._frames[slot] = frame
                    if not self.cache_frames:  # live: forget what was published
                        for old in [k for k in self._frames if k < self._wanted]:
                            del self._frames[old]
                    self._cond.notify_all()
        except BaseException as exc:  # surfaced to the publisher by get()
            with self._cond:
                self.error = exc
                self._cond.notify_all()

    def get(self, index: int, timeout: float = 60.0) -> CameraFrame:
        """Frame ``index`` (blocks until it is rendered).

        Raises:
            RuntimeError: the renderer failed or took longer than ``timeout`` seconds.
        """
        slot = self._slot(index)
        deadline = time.monotonic() + timeout
        with self._cond:
            self._wanted = index
            self._cond.notify_all()
            while slot not in self._frames:
                if self.error is not None:
                    raise RuntimeError(f"rendering frame {index} failed: {self.error}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RuntimeError(f"rendering frame {index} took over {timeout:.0f} s")
                self._cond.wait(remaining)
            frame = self._frames[slot]
            self._wanted = index + 1
            if not self.cache_frames:
                del self._frames[slot]
            self._cond.notify_all()
            return frame

    def close(self) -> None:
        """Stop the render thread."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout=10.0)
