"""Furniture pieces (tables, chairs, cabinets, shelves, beds, sofas) as boxes in the piece's
own frame, and the footprint geometry used to place them without overlap."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

# A box of a piece of furniture in the piece's own frame: centre (x across, y towards the
# front, z up from the floor) and size in metres, and a material index.
Part = tuple[float, float, float, float, float, float, int]
Footprint = tuple[float, float, float, float, float]  # cx, cy, half x, half y, yaw


def rect_corners(footprint: Footprint) -> list[tuple[float, float]]:
    """Corners of a yawed rectangle (plain floats: this runs thousands of times per room)."""
    cx, cy, hx, hy, yaw = footprint
    c, s = math.cos(yaw), math.sin(yaw)
    return [
        (cx + c * x - s * y, cy + s * x + c * y)
        for x, y in ((-hx, -hy), (hx, -hy), (hx, hy), (-hx, hy))
    ]


def rects_overlap(a: Footprint, b: Footprint) -> bool:
    """Separating-axis test for two yawed rectangles."""
    if math.hypot(a[0] - b[0], a[1] - b[1]) > math.hypot(a[2], a[3]) + math.hypot(b[2], b[3]):
        return False
    ca, cb = rect_corners(a), rect_corners(b)
    for yaw in (a[4], b[4]):
        c, s = math.cos(yaw), math.sin(yaw)
        for ux, uy in ((c, s), (-s, c)):
            pa = [x * ux + y * uy for x, y in ca]
            pb = [x * ux + y * uy for x, y in cb]
            if max(pa) <= min(pb) or max(pb) <= min(pa):
                return False
    return True


def rect_distance(points: np.ndarray, footprint: Footprint) -> float:
    """Smallest distance from (N, 2) points to a yawed rectangle (0 inside)."""
    cx, cy, hx, hy, yaw = footprint
    c, s = math.cos(yaw), math.sin(yaw)
    rel = points - np.array([cx, cy])
    along = np.abs(rel @ np.array([c, s])) - hx
    across = np.abs(rel @ np.array([-s, c])) - hy
    return float(np.hypot(np.maximum(along, 0.0), np.maximum(across, 0.0)).min())


def table(h: float, w: float, d: float, top: int, legs: int) -> list[Part]:
    parts: list[Part] = [(0.0, 0.0, h - 0.02, w, d, 0.04, top)]
    for sx in (-1, 1):
        for sy in (-1, 1):
            x, y = sx * (w / 2 - 0.06), sy * (d / 2 - 0.06)
            parts.append((x, y, (h - 0.04) / 2, 0.05, 0.05, h - 0.04, legs))
    return parts


def chair(rng: np.random.Generator, seat: int, frame: int) -> list[Part]:
    """A chair facing +y (its back at -y)."""
    s, h, back = rng.uniform(0.4, 0.5), rng.uniform(0.43, 0.48), rng.uniform(0.35, 0.5)
    parts: list[Part] = [(0.0, 0.0, h, s, s, 0.05, seat)]
    for sx in (-1, 1):
        for sy in (-1, 1):
            x, y = sx * (s / 2 - 0.03), sy * (s / 2 - 0.03)
            parts.append((x, y, (h - 0.025) / 2, 0.035, 0.035, h - 0.025, frame))
    parts.append((0.0, -s / 2 + 0.02, h + back / 2, s, 0.04, back, seat))
    return parts


def turned(parts: Sequence[Part], dx: float = 0.0, dy: float = 0.0) -> list[Part]:
    """Parts turned by pi about the vertical (exact for boxes: negate x, y), then moved."""
    return [(dx - x, dy - y, *rest) for x, y, *rest in parts]  # type: ignore[misc]


def moved(parts: Sequence[Part], dx: float = 0.0, dy: float = 0.0) -> list[Part]:
    return [(x + dx, y + dy, *rest) for x, y, *rest in parts]  # type: ignore[misc]


def cabinet(
    rng: np.random.Generator, w: float, d: float, h: float, body: int, front: int
) -> list[Part]:
    """A closed cabinet (doors or drawers slightly proud of the front), back at -y."""
    parts: list[Part] = [(0.0, 0.0, h / 2, w, d, h, body)]
    doors = max(1, round(w / rng.uniform(0.4, 0.6)))
    rows = 1 if h > 1.2 or rng.random() < 0.5 else int(rng.integers(2, 4))
    door_w = (w - 0.02 * (doors + 1)) / doors
    door_h = (h - 0.08 - 0.02 * (rows + 1)) / rows
    for i in range(doors):
        for j in range(rows):
            x = -w / 2 + 0.02 + door_w / 2 + i * (door_w + 0.02)
            z = 0.1 + door_h / 2 + j * (door_h + 0.02)
            parts.append((x, d / 2 + 0.008, z, door_w, 0.016, door_h, front))
    return parts


def bookshelf(
    rng: np.random.Generator, w: float, d: float, h: float, body: int, books: Sequence[int]
) -> list[Part]:
    """An open shelf unit with rows of books, back at -y."""
    t = 0.02  # board thickness
    inner = w - 2 * t
    parts: list[Part] = [
        (-w / 2 + t / 2, 0.0, h / 2, t, d, h, body),
        (w / 2 - t / 2, 0.0, h / 2, t, d, h, body),
        (0.0, 0.0, h - t / 2, inner, d, t, body),
        (0.0, 0.0, 0.04, inner, d, 0.08, body),
        (0.0, -d / 2 + 0.005, h / 2, inner, 0.01, h - 0.02, body),
    ]
    shelves = max(2, int((h - 0.1) / rng.uniform(0.3, 0.4)))
    gap = (h - 0.08 - t) / shelves
    for i in range(shelves):
        floor = 0.08 + i * gap
        if i > 0:
            parts.append((0.0, 0.0, floor + t / 2, inner, d - 0.01, t, body))
        if rng.random() < 0.85:
            bw = inner * rng.uniform(0.3, 0.95)
            bh = min(gap - 0.04, rng.uniform(0.17, 0.3))
            bx = rng.uniform(-(inner - bw) / 2, (inner - bw) / 2)
            book = books[int(rng.integers(len(books)))]
            parts.append((bx, 0.0, floor + t + bh / 2, bw, d * 0.8, bh, book))
    return parts


def bed(
    rng: np.random.Generator, w: float, length: float, frame: int, sheet: int, blanket: int
) -> list[Part]:
    """A bed with its headboard at -y."""
    parts: list[Part] = [
        (0.0, 0.0, 0.17, w, length, 0.34, frame),
        (0.0, 0.0, 0.44, w - 0.04, length - 0.06, 0.2, sheet),
        (0.0, -length / 2 + 0.03, 0.55, w + 0.04, 0.06, rng.uniform(0.9, 1.2), frame),
        (0.0, length * 0.12, 0.555, w + 0.02, length * 0.7, 0.03, blanket),
    ]
    pillows = 2 if w > 1.2 else 1
    pw = (w - 0.15) / pillows
    for i in range(pillows):
        x = -w / 2 + 0.075 + pw / 2 + i * pw
        parts.append((x, -length / 2 + 0.32, 0.6, pw - 0.05, 0.35, 0.12, sheet))
    return parts


def sofa(w: float, d: float, fabric: int, cushions: int) -> list[Part]:
    """A sofa facing +y."""
    return [
        (0.0, 0.05, 0.2, w - 0.36, d - 0.1, 0.4, fabric),
        (-w / 2 + 0.09, 0.0, 0.31, 0.18, d, 0.62, fabric),
        (w / 2 - 0.09, 0.0, 0.31, 0.18, d, 0.62, fabric),
        (0.0, -d / 2 + 0.1, 0.43, w - 0.36, 0.2, 0.86, fabric),
        (0.0, 0.12, 0.46, w - 0.4, d - 0.32, 0.12, cushions),
    ]
