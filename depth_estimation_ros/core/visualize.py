"""Depth maps as pictures: colourised depth and a PNG with a labelled colour scale.

Invalid depth (NaN, inf, <= 0) is drawn black. Colours come from a matplotlib colormap
(``turbo`` by default; ``viridis`` etc. work too); near is the low end of the map.

`DepthColorizer` is the node's live view (``depth/image_color``): a fixed depth range and one
of the `BUILTIN_CMAPS` (turbo, viridis), whose lookup tables are built in (33 control points
of matplotlib's maps, linearly interpolated: within 4/255 of them), so the node never imports
matplotlib; about 0.3 ms for 640x480 on one CPU core.
"""

import functools
import os
from pathlib import Path

import numpy as np

from depth_estimation_ros.core.atomic import atomic_write_bytes

__all__ = ["BUILTIN_CMAPS", "DEFAULT_CMAP", "DepthColorizer", "VisualizeError", "builtin_lut",
           "colorize_depth", "depth_range", "save_depth_png"]

DEFAULT_CMAP = "turbo"

# matplotlib's maps sampled at 33 evenly spaced points (RGB, 0..255)
_CONTROL_POINTS: dict[str, tuple[tuple[int, int, int], ...]] = {
    "turbo": (
        (48, 18, 59), (57, 42, 115), (64, 64, 162), (68, 86, 199), (70, 107, 227),
        (70, 128, 246), (66, 148, 255), (55, 168, 250), (40, 188, 235), (28, 205, 216),
        (24, 221, 194), (31, 233, 175), (50, 242, 152), (78, 249, 125), (109, 254, 98),
        (139, 255, 75), (164, 252, 60), (185, 246, 53), (205, 236, 52), (223, 223, 55),
        (238, 207, 58), (248, 190, 57), (253, 172, 52), (254, 150, 43), (251, 126, 33),
        (244, 102, 23), (235, 80, 14), (223, 63, 8), (208, 47, 5), (190, 33, 2),
        (169, 22, 1), (146, 11, 1), (122, 4, 3)),
    "viridis": (
        (68, 1, 84), (71, 13, 96), (72, 24, 106), (72, 35, 116), (71, 45, 123),
        (69, 55, 129), (66, 64, 134), (62, 73, 137), (59, 82, 139), (55, 91, 141),
        (51, 99, 141), (47, 107, 142), (44, 114, 142), (41, 122, 142), (38, 130, 142),
        (35, 137, 142), (33, 145, 140), (31, 152, 139), (31, 160, 136), (34, 167, 133),
        (40, 174, 128), (50, 182, 122), (63, 188, 115), (78, 195, 107), (94, 201, 98),
        (112, 207, 87), (132, 212, 75), (152, 216, 62), (173, 220, 48), (194, 223, 35),
        (216, 226, 25), (236, 229, 27), (253, 231, 37)),
}
BUILTIN_CMAPS: tuple[str, ...] = tuple(_CONTROL_POINTS)


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


@functools.lru_cache(maxsize=4)
def builtin_lut(cmap: str) -> np.ndarray:
    """(256, 3) uint8 RGB lookup table of a built-in map (no matplotlib).

    Raises:
        VisualizeError: ``cmap`` is not one of `BUILTIN_CMAPS`.
    """
    points = _CONTROL_POINTS.get(cmap)
    if points is None:
        raise VisualizeError(
            f"colormap {cmap!r} is not built in; expected one of {', '.join(BUILTIN_CMAPS)}")
    knots = np.linspace(0.0, 1.0, len(points))
    table = np.asarray(points, dtype=np.float64)  # (33, 3)
    grid = np.linspace(0.0, 1.0, 256)
    lut = np.stack([np.interp(grid, knots, table[:, c]) for c in range(3)], axis=1)
    lut = np.rint(lut).astype(np.uint8)
    lut.flags.writeable = False
    return lut


class DepthColorizer:
    """Depth in metres -> rgb8 with a fixed range and a built-in colour map.

    Depth ``vmin`` and below gets the map's first colour, ``vmax`` and beyond (``+inf``
    too) its last, NaN is black.

    Args:
        vmin: Depth (metres) at the low end of the map.
        vmax: Depth (metres) at the high end, > vmin.
        cmap: One of `BUILTIN_CMAPS`.

    Raises:
        VisualizeError: an unknown map or vmin >= vmax.
    """

    def __init__(self, vmin: float, vmax: float, cmap: str = DEFAULT_CMAP) -> None:
        if not (np.isfinite(vmin) and np.isfinite(vmax)) or vmin >= vmax:
            raise VisualizeError(
                f"depth colour range {vmin}..{vmax} is invalid; expected finite vmin < vmax")
        lut = builtin_lut(cmap)
        # index 0 is black (NaN), 1..255 span the map
        table = np.zeros((256, 1, 3), dtype=np.uint8)
        table[1:, 0] = lut[np.rint(np.linspace(0.0, 255.0, 255)).astype(np.intp)]
        self._table = table
        self._scale = np.float32(254.0 / (vmax - vmin))
        self._offset = np.float32(1.0 - vmin * 254.0 / (vmax - vmin))
        self.vmin, self.vmax, self.cmap = float(vmin), float(vmax), cmap

    def __call__(self, depth: np.ndarray) -> np.ndarray:
        """(H, W) float32 metres -> (H, W, 3) uint8 RGB."""
        import cv2

        if depth.ndim != 2:
            raise VisualizeError(f"depth array is {depth.shape}; expected (H, W) metres")
        index = np.multiply(depth, self._scale, dtype=np.float32)  # (H, W) LUT position
        np.add(index, self._offset, out=index)
        np.clip(index, 1.0, 255.0, out=index)  # NaN stays NaN ...
        np.fmax(index, 0.0, out=index)  # ... and becomes 0 (black) here
        return cv2.applyColorMap(index.astype(np.uint8), self._table)


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
