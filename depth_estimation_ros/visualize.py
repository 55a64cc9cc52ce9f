"""Depth maps as pictures: colourised depth and a PNG with a labelled colour scale.

Invalid depth (NaN, inf, <= 0) is drawn black. Colours come from a matplotlib colormap
(``turbo`` by default; ``viridis`` etc. work too); near is the low end of the map.
"""

import functools
import os
from pathlib import Path

import numpy as np

from depth_estimation_ros.atomic import atomic_write_bytes

__all__ = ["DEFAULT_CMAP", "VisualizeError", "colorize_depth", "depth_range", "save_depth_png"]

DEFAULT_CMAP = "turbo"


class VisualizeError(ValueError):
    """A depth array or colour setting that cannot be drawn."""


@functools.lru_cache(maxsize=8)
def _lut(cmap: str) -> np.ndarray:
    """(256, 3) uint8 RGB lookup table of a matplotlib colormap."""
    import matplotlib

    try:
        colormap = matplotlib.colormaps[cmap]
    except KeyError:
        raise VisualizeError(
            f"colormap {cmap!r} is not a matplotlib colormap; expected e.g. turbo or viridis"
        ) from None
    return (colormap(np.linspace(0.0, 1.0, 256))[:, :3] * 255.0 + 0.5).astype(np.uint8)


def _check_depth(depth: np.ndarray) -> np.ndarray:
    depth = np.asarray(depth)
    if depth.ndim == 3 and depth.shape[2] == 1:
        depth = depth[..., 0]
    if depth.ndim != 2 or depth.dtype.kind not in "fiu" or 0 in depth.shape:
        raise VisualizeError(f"depth array is {depth.shape} {depth.dtype}; expected (H, W) metres")
    return depth.astype(np.float32, copy=False)


def depth_range(depth: np.ndarray) -> tuple[float, float]:
    """(min, max) of the valid (finite, > 0) depth; (0, 1) when there is none."""
    depth = _check_depth(depth)
    valid = depth[np.isfinite(depth) & (depth > 0)]
    if valid.size == 0:
        return 0.0, 1.0
    return float(valid.min()), float(valid.max())


def colorize_depth(depth: np.ndarray, vmin: float | None = None, vmax: float | None = None,
                   cmap: str = DEFAULT_CMAP) -> np.ndarray:
    """Colourise an ``(H, W)`` depth map in metres.

    Args:
        depth: depth in metres; NaN, inf and <= 0 are invalid.
        vmin: depth at the low end of the colormap; default the valid minimum.
        vmax: depth at the high end; default the valid maximum.
        cmap: matplotlib colormap name.

    Returns:
        ``(H, W, 3)`` uint8 RGB, invalid pixels black.

    Raises:
        VisualizeError: bad array, unknown colormap, or vmin > vmax.
    """
    depth = _check_depth(depth)
    lo, hi = depth_range(depth)
    vmin = lo if vmin is None else float(vmin)
    vmax = hi if vmax is None else float(vmax)
    if not (np.isfinite(vmin) and np.isfinite(vmax)) or vmin > vmax:
        raise VisualizeError(
            f"depth colour range {vmin}..{vmax} is invalid; expected finite vmin <= vmax"
        )
    valid = np.isfinite(depth) & (depth > 0)
    scale = 255.0 / max(vmax - vmin, 1e-6)
    index = np.clip((np.where(valid, depth, vmin) - vmin) * scale + 0.5, 0, 255).astype(np.uint8)
    rgb = _lut(cmap)[index]
    rgb[~valid] = 0
    return rgb


def _color_bar(height: int, vmin: float, vmax: float, cmap: str) -> np.ndarray:
    """(H, bar_w, 3) strip: the colormap (far at the top) and tick labels in metres."""
    import cv2

    bar_w = max(8, height // 24)
    font_scale = float(np.clip(height / 600.0, 0.3, 1.0))
    thickness = 1 if font_scale < 0.8 else 2
    labels = [f"{v:.2f} m" for v in np.linspace(vmax, vmin, 5)]
    text_w = max(cv2.getTextSize(t, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)[0][0]
                 for t in labels)
    strip = np.full((height, 6 + bar_w + 6 + text_w + 6, 3), 255, np.uint8)
    ramp = np.linspace(255, 0, height).astype(np.uint8)  # top = far = high end
    strip[:, 6:6 + bar_w] = _lut(cmap)[ramp][:, None, :]
    text_h = cv2.getTextSize("0", cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)[0][1]
    for i, label in enumerate(labels):
        y = int(round(i * (height - 1) / (len(labels) - 1)))
        strip[max(0, y - 1):y + 1, 6 + bar_w:6 + bar_w + 4] = 0  # tick
        baseline = int(np.clip(y + text_h // 2, text_h + 1, height - 2))
        cv2.putText(strip, label, (6 + bar_w + 6, baseline), cv2.FONT_HERSHEY_SIMPLEX,
                    font_scale, (0, 0, 0), thickness, cv2.LINE_AA)
    return strip


def save_depth_png(path: str | os.PathLike, depth: np.ndarray, vmin: float | None = None,
                   vmax: float | None = None, cmap: str = DEFAULT_CMAP,
                   color_bar: bool = True) -> Path:
    """Write a colourised depth PNG (depth pixels 1:1 on the left, colour scale on the right).

    The file is written to a temporary name in the same directory and renamed, so readers
    never see a partial PNG.

    Returns:
        The path written.

    Raises:
        VisualizeError: bad array or colour settings.
        OSError: the file cannot be written.
    """
    import cv2

    depth = _check_depth(depth)
    lo, hi = depth_range(depth)
    vmin = lo if vmin is None else float(vmin)
    vmax = hi if vmax is None else float(vmax)
    image = colorize_depth(depth, vmin, vmax, cmap)
    if color_bar:
        image = np.concatenate([image, _color_bar(image.shape[0], vmin, vmax, cmap)], axis=1)
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise VisualizeError(f"OpenCV could not encode a {image.shape} PNG")
    return atomic_write_bytes(path, encoded.tobytes())
