"""The benchmark's inputs: deterministic 640×480 frames, points and clouds, and the CDR
bytes of an ``sensor_msgs/Image`` as they arrive from DDS.
"""

from __future__ import annotations

import numpy as np

from depth_estimation_ros.core.camera import CameraIntrinsics, backproject
from depth_estimation_ros.core.pointcloud import CloudBuffer, pack_cloud
from depth_estimation_ros.dds import messages

WIDTH, HEIGHT = 640, 480  # camera frame (pixels)
FRAME_ID = "camera_color_optical_frame"


def sample_frame(width: int = WIDTH, height: int = HEIGHT, seed: int = 0) -> np.ndarray:
    """A deterministic picture-like (H, W, 3) uint8 RGB frame (smooth blocks plus noise)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (height // 16 + 1, width // 16 + 1, 3), dtype=np.uint8)
    img = np.kron(coarse, np.ones((16, 16, 1), dtype=np.uint8))[:height, :width]
    noise = rng.integers(0, 8, img.shape, dtype=np.uint8)
    return np.ascontiguousarray(img // 2 + noise)


def sample_points() -> np.ndarray:
    """(480, 640, 3) points over a depth ramp, with NaN (invalid) points as real clouds have."""
    depth = np.linspace(0.5, 6.0, WIDTH * HEIGHT, dtype=np.float32).reshape(HEIGHT, WIDTH)
    depth[::7, ::5] = np.nan
    return backproject(depth, CameraIntrinsics.nyu_kinect(WIDTH, HEIGHT))


def sample_cloud(colour: bool = True) -> CloudBuffer:
    """``sample_points`` packed, coloured with ``sample_frame``."""
    return pack_cloud(sample_points(), sample_frame() if colour else None)


def image_cdr(rgb: np.ndarray, stamp: tuple[int, int] = (1, 0)) -> bytes:
    """The CDR bytes of a ``sensor_msgs/Image`` rgb8 message carrying ``rgb``."""
    height, width = rgb.shape[:2]
    msg = messages.Image(
        header=messages.Header(stamp=messages.Time(sec=stamp[0], nanosec=stamp[1]),
                               frame_id=FRAME_ID),
        height=height, width=width, encoding="rgb8", is_bigendian=0, step=width * 3,
        data=rgb)
    return msg.serialize(use_version_2=False)  # XCDR1, as ROS 2 publishers send it
