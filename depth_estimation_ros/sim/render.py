"""Procedural synthetic indoor scenes rendered with exact metric depth.

A room is an axis-aligned box the camera is inside; furniture (tables, chairs, shelves,
cabinets, beds, sofas, ...) is built from boxes that may be yawed about the vertical axis.
Surfaces carry procedural textures (planks, tiles, wallpaper, fabric, book spines, ...)
and are lit by an ambient term, a directional light and a point light with Lambertian
shading and distance falloff, with a soft vignette.

Rendering is vectorised ray casting in numpy, done in inverse depth: for a plane, ``1/z``
of the hit is an affine function of the normalised pixel coordinates ``((u - cx)/fx,
(v - cy)/fy)``, so the room is a per-pixel maximum over six affine images and each box face
an affine image tested against its four edges (also affine) inside its screen rectangle.
The depth is therefore exact (``z`` along the optical axis, not the ray length).

World frame: x and y horizontal, z up; the room spans ``[0, Lx] x [0, Ly] x [0, Lz]`` with
the floor at ``z = 0``. Camera poses are a position and yaw / pitch / roll (see
:class:`CameraPose`); images use the REP 103 optical frame (z forward, x right, y down).
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from depth_estimation_ros.core.camera import CameraIntrinsics

__all__ = [
    "ROOM_KINDS",
    "TEXTURE_KINDS",
    "TEXTURE_SIZE",
    "Box",
    "CameraPose",
    "Lighting",
    "Material",
    "SyntheticFrame",
    "SyntheticScene",
    "procedural_texture",
    "render_scene",
]

TEXTURE_SIZE = 256  # texels per side of every procedural texture (a power of two)
_TEX_BITS = TEXTURE_SIZE.bit_length() - 1
_UV_BIAS = 64.0  # texture repeats added to u, v so they stay positive before truncation
_NEAR = 1e-3  # metres; faces are clipped at this optical-axis depth to bound them on screen
_ROOM_FACES = 6

Vec3 = tuple[float, float, float]


# ----------------------------------------------------------------------------- data types


@dataclass(frozen=True)
class CameraPose:
    """A camera pose in the world frame.

    Attributes:
        position: Camera centre ``(x, y, z)`` in metres (z up, floor at 0).
        yaw: Heading in radians about world z; 0 looks along +x, pi/2 along +y.
        pitch: Radians; positive tilts the view down (rotation about the camera's left axis).
        roll: Radians about the viewing axis; positive turns the camera clockwise as seen
            from behind it (right-handed about the forward axis).
    """

    position: Vec3
    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0

    def world_from_optical(self) -> np.ndarray:
        """(3, 3) rotation taking optical-frame vectors (x right, y down, z forward) to world."""
        cy, sy = math.cos(self.yaw), math.sin(self.yaw)
        cp, sp = math.cos(self.pitch), math.sin(self.pitch)
        cr, sr = math.cos(self.roll), math.sin(self.roll)
        rz = np.array([[cy, -sy, 0.0], [sy, cy, 0.0], [0.0, 0.0, 1.0]])
        ry = np.array([[cp, 0.0, sp], [0.0, 1.0, 0.0], [-sp, 0.0, cp]])
        rx = np.array([[1.0, 0.0, 0.0], [0.0, cr, -sr], [0.0, sr, cr]])
        # Body frame: x forward, y left, z up. Optical x = -left, y = -up, z = forward.
        body_from_optical = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
        return rz @ ry @ rx @ body_from_optical


@dataclass(frozen=True)
class Material:
    """A textured surface finish.

    Attributes:
        texture: Procedural texture kind, one of :data:`TEXTURE_KINDS`.
        variant: Which seeded variant of that kind.
        tint: Per-channel multiplier applied to the texture colour.
        tile_size: Metres covered by one texture repeat; None stretches the texture once
            over each face (pictures, doors, windows).
    """

    texture: str
    variant: int = 0
    tint: Vec3 = (1.0, 1.0, 1.0)
    tile_size: float | None = 1.0


@dataclass(frozen=True)
class Box:
    """A solid box, axis-aligned up to a yaw about the vertical axis.

    Attributes:
        center: Centre in metres, world frame.
        size: Full extents along the box's own x, y, z axes (metres).
        material: Index into the scene's materials.
        yaw: Radians about world z.
        uv_offset: Metres the texture is shifted by, so equal materials do not line up.
    """

    center: Vec3
    size: Vec3
    material: int
    yaw: float = 0.0
    uv_offset: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class Lighting:
    """Ambient + directional + point light (Lambertian), and a vignette.

    Attributes:
        light_position: Point light in metres; None puts it 0.3 m below the ceiling centre.
        light_intensity: Point-light strength (1.0 saturates a white wall facing it).
        light_falloff: Metres at which the point light falls to half strength.
        ambient: Light reaching every surface.
        sun_direction: Direction the directional light travels (normalised on use).
        sun_strength: Directional-light strength.
        vignette: Brightness lost in the image corners (0 = none).
    """

    light_position: Vec3 | None = None
    light_intensity: float = 0.8
    light_falloff: float = 3.0
    ambient: float = 0.38
    sun_direction: Vec3 = (0.45, 0.3, -0.84)
    sun_strength: float = 0.2
    vignette: float = 0.25


@dataclass
class SyntheticFrame:
    """One rendered view.

    Attributes:
        rgb: (H, W, 3) uint8 colour image.
        depth: (H, W) float32 metres along the optical axis, finite and positive everywhere.
        intrinsics: The camera the frame was rendered with.
        pose: The camera pose.
    """

    rgb: np.ndarray
    depth: np.ndarray
    intrinsics: CameraIntrinsics
    pose: CameraPose | None = None


# ----------------------------------------------------------------------------- textures


def _smooth_noise(rng: np.random.Generator, cells: int, size: int = TEXTURE_SIZE) -> np.ndarray:
    """(size, size) tileable value noise in [0, 1] with ``cells`` smooth bumps per side."""
    grid = rng.random((cells, cells))
    x = np.arange(size) * (cells / size)
    i0 = np.floor(x).astype(np.intp)
    f = x - i0
    f = f * f * (3.0 - 2.0 * f)
    i1 = (i0 + 1) % cells
    rows = grid[i0] * (1.0 - f)[:, None] + grid[i1] * f[:, None]  # (size, cells)
    return rows[:, i0] * (1.0 - f)[None, :] + rows[:, i1] * f[None, :]


def _fbm(rng: np.random.Generator, cells: int, octaves: int) -> np.ndarray:
    """Fractal sum of value-noise octaves, normalised to [0, 1]."""
    total = np.zeros((TEXTURE_SIZE, TEXTURE_SIZE))
    amplitude, norm = 1.0, 0.0
    for octave in range(octaves):
        total += amplitude * _smooth_noise(rng, min(cells << octave, TEXTURE_SIZE))
        norm += amplitude
        amplitude *= 0.5
    return total / norm


def _grey(values: np.ndarray) -> np.ndarray:
    return np.repeat(values[..., None], 3, axis=2)


def _colour(values: np.ndarray, rgb: Sequence[float]) -> np.ndarray:
    return values[..., None] * np.asarray(rgb, dtype=np.float64)


def _tex_paint(rng: np.random.Generator) -> np.ndarray:
    return _grey(
        232.0 + 14.0 * (_fbm(rng, 4, 3) - 0.5) + 4.0 * (rng.random((TEXTURE_SIZE,) * 2) - 0.5)
    )


def _tex_plaster(rng: np.random.Generator) -> np.ndarray:
    return _grey(222.0 + 36.0 * (_fbm(rng, 8, 5) - 0.5))


def _tex_wallpaper(rng: np.random.Generator) -> np.ndarray:
    period = int(rng.choice([16, 32, 64]))
    u = np.arange(TEXTURE_SIZE)
    light = rng.uniform(215, 240, 3)
    dark = light * rng.uniform(0.78, 0.92, 3)
    stripe = ((u % period) < period * rng.uniform(0.3, 0.6))[None, :, None]
    image = np.where(stripe, dark, light) * np.ones((TEXTURE_SIZE, 1, 1))
    return image * (0.96 + 0.08 * _fbm(rng, 8, 3))[..., None]


def _planks(rng: np.random.Generator, rows: int, gaps: bool) -> np.ndarray:
    """Wood grain running along u, in ``rows`` planks (with dark seams if ``gaps``)."""
    size = TEXTURE_SIZE
    v, u = np.mgrid[0:size, 0:size].astype(np.float64)
    plank = (v * rows // size).astype(np.intp)
    warp = _fbm(rng, 4, 3)
    grain = 0.5 + 0.5 * np.sin(2 * np.pi * (v / size * rows * 6.0 + 5.0 * warp))
    streaks = _fbm(rng, 32, 2)
    shade = 0.78 + 0.12 * grain + 0.14 * (streaks - 0.5) + rng.uniform(-0.1, 0.1, rows)[plank]
    if gaps:
        seam = (v % (size // rows)) < 2
        shift = rng.integers(0, size, rows)[plank]
        seam |= ((u + shift) % size) < 2  # staggered plank ends
        shade = np.where(seam, shade * 0.5, shade)
    base = np.array([168.0, 118.0, 72.0]) * rng.uniform(0.9, 1.1, 3)
    return _colour(shade, base)


def _tex_wood_floor(rng: np.random.Generator) -> np.ndarray:
    return _planks(rng, int(rng.choice([4, 8])), gaps=True)


def _tex_wood(rng: np.random.Generator) -> np.ndarray:
    return _planks(rng, 2, gaps=False)


def _tex_tiles(rng: np.random.Generator) -> np.ndarray:
    size = TEXTURE_SIZE
    count = int(rng.choice([2, 4, 8]))
    step = size // count
    v, u = np.mgrid[0:size, 0:size]
    tile = (v // step) * count + u // step
    grout = ((u % step) < 3) | ((v % step) < 3)
    value = 225.0 + rng.uniform(-10, 10, count * count)[tile] + 10.0 * (_fbm(rng, 16, 2) - 0.5)
    return _grey(np.where(grout, 150.0, value))


def _tex_checker(rng: np.random.Generator) -> np.ndarray:
    size = TEXTURE_SIZE
    count = int(rng.choice([4, 8]))
    v, u = np.mgrid[0:size, 0:size]
    odd = ((u * count // size) + (v * count // size)) % 2 == 1
    light, dark = rng.uniform(200, 235, 3), rng.uniform(40, 110, 3)
    image = np.where(odd[..., None], dark, light)
    return image * (0.95 + 0.1 * _fbm(rng, 16, 2))[..., None]


def _tex_carpet(rng: np.random.Generator) -> np.ndarray:
    return _grey(
        150.0 + 50.0 * (_fbm(rng, 8, 3) - 0.5) + 40.0 * (rng.random((TEXTURE_SIZE,) * 2) - 0.5)
    )


def _tex_fabric(rng: np.random.Generator) -> np.ndarray:
    v, u = np.mgrid[0:TEXTURE_SIZE, 0:TEXTURE_SIZE]
    weave = np.sin(u * np.pi / 2) * np.sin(v * np.pi / 2)
    return _grey(200.0 + 14.0 * weave + 40.0 * (_fbm(rng, 8, 3) - 0.5))


def _tex_books(rng: np.random.Generator) -> np.ndarray:
    size = TEXTURE_SIZE
    widths = rng.integers(6, 22, size)
    edges = np.cumsum(widths)
    book = np.searchsorted(edges, np.arange(size), side="right")  # (size,) book per column
    colours = rng.uniform(25, 220, (size, 3))
    colours[rng.random(size) < 0.3] *= 0.5
    image = colours[book][None, :, :] * np.ones((size, 1, 1))
    left = np.concatenate([[0], edges[:-1]])[book]
    image[:, (np.arange(size) - left) < 1] *= 0.35  # dark gap between spines
    label = (np.arange(size) > size * 0.2) & (np.arange(size) < size * 0.3)
    image[label] = image[label] * 0.6 + 90.0
    return image * (0.92 + 0.16 * _fbm(rng, 16, 2))[..., None]


def _tex_screen(rng: np.random.Generator) -> np.ndarray:
    v, u = np.mgrid[0:TEXTURE_SIZE, 0:TEXTURE_SIZE] / TEXTURE_SIZE
    glare = np.exp(-(((u + v) - rng.uniform(0.6, 1.4)) ** 2) / 0.02)
    return _grey(22.0 + 10.0 * v + 28.0 * glare)


def _framed(image: np.ndarray, border: int, colour: Sequence[float]) -> np.ndarray:
    image = image.copy()
    image[:border] = colour
    image[-border:] = colour
    image[:, :border] = colour
    image[:, -border:] = colour
    return image


def _tex_window(rng: np.random.Generator) -> np.ndarray:
    size = TEXTURE_SIZE
    v = np.arange(size)[:, None] / size
    sky = np.array([150.0, 190.0, 240.0]) * rng.uniform(0.9, 1.1)
    ground = np.array([120.0, 140.0, 110.0]) * rng.uniform(0.8, 1.2)
    horizon = rng.uniform(0.55, 0.8)
    outside = np.where((v < horizon)[..., None], sky + 60.0 * v[..., None], ground)
    outside = outside * (0.85 + 0.3 * _fbm(rng, 8, 3))[..., None] * np.ones((1, size, 1))
    frame = [235.0, 235.0, 230.0] if rng.random() < 0.7 else [90.0, 65.0, 45.0]
    outside = _framed(outside, 10, frame)
    outside[size // 2 - 4 : size // 2 + 4] = frame
    outside[:, size // 2 - 4 : size // 2 + 4] = frame
    return outside


def _tex_picture(rng: np.random.Generator) -> np.ndarray:
    channels = [_fbm(rng, int(rng.choice([2, 4])), 4) for _ in range(3)]
    art = np.stack(channels, axis=-1) * rng.uniform(120, 255, 3) + rng.uniform(0, 60, 3)
    return _framed(art, 14, rng.uniform(20, 200) * np.array([1.0, 0.8, 0.6]))


def _tex_door(rng: np.random.Generator) -> np.ndarray:
    size = TEXTURE_SIZE
    wood = _planks(rng, 1, gaps=False)
    v, u = np.mgrid[0:size, 0:size]
    panel = np.zeros((size, size), dtype=bool)
    for top, bottom in ((0.08, 0.45), (0.55, 0.92)):
        inner = (u > size * 0.15) & (u < size * 0.85) & (v > size * top) & (v < size * bottom)
        rim = (u > size * 0.13) & (u < size * 0.87) & (v > size * (top - 0.02))
        panel |= rim & (v < size * (bottom + 0.02)) & ~inner
    wood[panel] *= 0.7
    knob = ((u - size * 0.88) ** 2 + (v - size * 0.5) ** 2) < 36
    wood[knob] = [200.0, 180.0, 120.0]
    return wood


def _tex_leaves(rng: np.random.Generator) -> np.ndarray:
    blobs = _fbm(rng, 32, 2)
    leaf = np.array([60.0, 115.0, 45.0]) * rng.uniform(0.8, 1.2, 3)
    return _colour(np.where(blobs > 0.45, 0.6 + 0.8 * blobs, 0.25), leaf)


def _tex_cardboard(rng: np.random.Generator) -> np.ndarray:
    size = TEXTURE_SIZE
    image = _colour(0.9 + 0.2 * _fbm(rng, 16, 3), [172.0, 128.0, 84.0])
    image[size // 2 - 12 : size // 2 + 12] *= 1.2  # tape
    return image


def _tex_metal(rng: np.random.Generator) -> np.ndarray:
    brushed = rng.random((TEXTURE_SIZE, 1)) * np.ones((1, TEXTURE_SIZE))
    return _grey(185.0 + 20.0 * (brushed - 0.5) + 20.0 * (_fbm(rng, 4, 2) - 0.5))


_TEXTURE_MAKERS: dict[str, Callable[[np.random.Generator], np.ndarray]] = {
    "paint": _tex_paint,
    "plaster": _tex_plaster,
    "wallpaper": _tex_wallpaper,
    "wood_floor": _tex_wood_floor,
    "wood": _tex_wood,
    "tiles": _tex_tiles,
    "checker": _tex_checker,
    "carpet": _tex_carpet,
    "fabric": _tex_fabric,
    "books": _tex_books,
    "screen": _tex_screen,
    "window": _tex_window,
    "picture": _tex_picture,
    "door": _tex_door,
    "leaves": _tex_leaves,
    "cardboard": _tex_cardboard,
    "metal": _tex_metal,
}
TEXTURE_KINDS: tuple[str, ...] = tuple(_TEXTURE_MAKERS)
_TEXTURE_VARIANTS = 4  # random scenes draw variants 0..3 of each kind


@functools.lru_cache(maxsize=128)
def procedural_texture(kind: str, variant: int = 0) -> np.ndarray:
    """A seeded procedural texture, identical on every call.

    Args:
        kind: One of :data:`TEXTURE_KINDS`.
        variant: Any non-negative integer; each gives a different texture of the kind.

    Returns:
        Read-only (TEXTURE_SIZE, TEXTURE_SIZE, 3) uint8 RGB, tileable for repeating kinds.

    Raises:
        ValueError: For an unknown kind or a negative variant.
    """
    if kind not in _TEXTURE_MAKERS:
        raise ValueError(f"Texture kind {kind!r} is unknown; expected one of {TEXTURE_KINDS}.")
    if variant < 0:
        raise ValueError(f"Texture variant {variant} must be non-negative.")
    rng = np.random.default_rng([TEXTURE_KINDS.index(kind), variant, 20150])
    image = np.clip(_TEXTURE_MAKERS[kind](rng), 0.0, 255.0).astype(np.uint8)
    image.flags.writeable = False
    return image


# ----------------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class _Faces:
    """Planar rectangles of the scene; the first six are the room's, normals pointing in."""

    corners: np.ndarray  # (F, 4, 3) metres
    normal: np.ndarray  # (F, 3) unit, pointing to the visible side
    center: np.ndarray  # (F, 3) metres
    e1: np.ndarray  # (F, 3) unit tangent
    e2: np.ndarray  # (F, 3) unit tangent
    half: np.ndarray  # (F, 2) half extents along e1, e2 (metres)
    u_coef: np.ndarray  # (F, 4) texture u = P . u_coef[:3] + u_coef[3] (repeats)
    v_coef: np.ndarray  # (F, 4) texture v likewise
    texture_slot: np.ndarray  # (F,) index of the face's texture in the scene atlas
    tint: np.ndarray  # (F, 3) float32


def _box_frames(boxes: Sequence[Box]) -> tuple[np.ndarray, ...]:
    """Centre, outward normal, e1, e2 (each (6n, 3)) and half extents (6n, 2) of box faces.

    Faces per box: +x, -x, +y, -y, +z, -z of the box's own (yawed) axes. Vertical faces
    have e2 pointing down, so texture rows run top to bottom.
    """
    count = len(boxes)
    centre = np.array([box.center for box in boxes], dtype=np.float64).reshape(count, 3)
    half = np.array([box.size for box in boxes], dtype=np.float64).reshape(count, 3) / 2
    yaw = np.array([box.yaw for box in boxes], dtype=np.float64)
    zero, one = np.zeros(count), np.ones(count)
    ax = np.stack([np.cos(yaw), np.sin(yaw), zero], 1)  # (n, 3)
    ay = np.stack([-np.sin(yaw), np.cos(yaw), zero], 1)
    az = np.stack([zero, zero, one], 1)
    normal = np.stack([ax, -ax, ay, -ay, az, -az], 1)  # (n, 6, 3)
    e1 = np.stack([ay, -ay, -ax, ax, ax, ax], 1)
    e2 = np.stack([-az, -az, -az, -az, ay, -ay], 1)
    hx, hy, hz = half[:, 0], half[:, 1], half[:, 2]
    depth = np.stack([hx, hx, hy, hy, hz, hz], 1)  # (n, 6) half extent along the normal
    h1 = np.stack([hy, hy, hx, hx, hx, hx], 1)
    h2 = np.stack([hz, hz, hz, hz, hy, hy], 1)
    centres = centre[:, None, :] + depth[..., None] * normal
    return (
        centres.reshape(-1, 3),
        normal.reshape(-1, 3),
        e1.reshape(-1, 3),
        e2.reshape(-1, 3),
        np.stack([h1, h2], -1).reshape(-1, 2),
    )


def _room_frames(size: Vec3) -> tuple[np.ndarray, ...]:
    """The same arrays as :func:`_box_frames` for the room's six inner faces (normals in)."""
    lx, ly, lz = size
    x, y, z = np.eye(3)
    mid = np.array([lx, ly, lz]) / 2
    frames = [
        (mid * [0, 1, 1], x, -y, -z, ly / 2, lz / 2),
        (mid * [2, 1, 1], -x, y, -z, ly / 2, lz / 2),
        (mid * [1, 0, 1], y, x, -z, lx / 2, lz / 2),
        (mid * [1, 2, 1], -y, -x, -z, lx / 2, lz / 2),
        (mid * [1, 1, 0], z, x, y, lx / 2, ly / 2),  # floor
        (mid * [1, 1, 2], -z, x, -y, lx / 2, ly / 2),  # ceiling
    ]
    return tuple(np.array([f[i] for f in frames], dtype=np.float64) for i in range(4)) + (
        np.array([[f[4], f[5]] for f in frames], dtype=np.float64),
    )


def _build_faces(
    room_size: Vec3,
    boxes: Sequence[Box],
    room_materials: tuple[int, int, int],
    materials: Sequence[Material],
    slots: Sequence[int],
) -> _Faces:
    wall, floor, ceiling = room_materials
    room = _room_frames(room_size)
    boxed = _box_frames(boxes)
    centre, normal, e1, e2, half = (
        np.concatenate([r, b]) for r, b in zip(room, boxed, strict=True)
    )
    face_material = np.array(
        [wall, wall, wall, wall, floor, ceiling]
        + [box.material for box in boxes for _ in range(6)]
    )
    offsets = np.array(
        [(0.0, 0.0)] * _ROOM_FACES + [box.uv_offset for box in boxes for _ in range(6)],
        dtype=np.float64,
    )
    signs = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64)
    corners = (
        centre[:, None, :]
        + signs[None, :, 0, None] * half[:, None, 0, None] * e1[:, None, :]
        + signs[None, :, 1, None] * half[:, None, 1, None] * e2[:, None, :]
    )  # (F, 4, 3)
    tile = np.array(
        [np.nan if m.tile_size is None else m.tile_size for m in materials], dtype=np.float64
    )[face_material]
    stretched = np.isnan(tile)[:, None]  # stretch the texture once over the face, inside [0, 1)
    scale = np.where(stretched, 0.9999 / (2 * half), 1.0 / tile[:, None])  # (F, 2)
    offsets = np.where(stretched, 0.0, offsets)
    # u = ((P - c) . e1 + h1 + off1) * scale1, likewise v; the bias keeps them positive.
    u_coef = np.concatenate([e1 * scale[:, :1], np.zeros((len(tile), 1))], 1)
    v_coef = np.concatenate([e2 * scale[:, 1:], np.zeros((len(tile), 1))], 1)
    u_coef[:, 3] = (half[:, 0] + offsets[:, 0] - np.einsum("fi,fi->f", centre, e1)) * scale[
        :, 0
    ] + _UV_BIAS
    v_coef[:, 3] = (half[:, 1] + offsets[:, 1] - np.einsum("fi,fi->f", centre, e2)) * scale[
        :, 1
    ] + _UV_BIAS
    tint = np.array([m.tint for m in materials], dtype=np.float32)[face_material]
    texture_slot = np.asarray(slots, dtype=np.intp)[face_material]
    return _Faces(corners, normal, centre, e1, e2, half, u_coef, v_coef, texture_slot, tint)


def _clip_near(polygon: np.ndarray) -> np.ndarray:
    """Clip a convex polygon (N, 3) in the optical frame to ``z >= _NEAR``."""
    kept: list[np.ndarray] = []
    count = len(polygon)
    for i in range(count):
        a, b = polygon[i], polygon[(i + 1) % count]
        a_in, b_in = a[2] >= _NEAR, b[2] >= _NEAR
        if a_in:
            kept.append(a)
        if a_in != b_in:
            t = (_NEAR - a[2]) / (b[2] - a[2])
            kept.append(a + t * (b - a))
    return np.array(kept).reshape(-1, 3)


@dataclass(frozen=True)
class _Rays:
    """Per-resolution pixel ray terms; a pixel's ray is ``(xr[u], yr[v], 1)``."""

    xr: np.ndarray  # (W,) float64 (u - cx) / fx
    yr: np.ndarray  # (H,) float64 (v - cy) / fy
    col: np.ndarray  # (1, W) float32 xr
    row: np.ndarray  # (H, 1) float32 yr
    norm2: np.ndarray  # (H, W) float32 squared ray length 1 + xr^2 + yr^2
    radius2: np.ndarray  # (H, W) float32 squared distance from the image centre, corners 1


@functools.lru_cache(maxsize=8)
def _pixel_rays(intrinsics: CameraIntrinsics) -> _Rays:
    xr = (np.arange(intrinsics.width) - intrinsics.cx) / intrinsics.fx
    yr = (np.arange(intrinsics.height) - intrinsics.cy) / intrinsics.fy
    xn = (np.arange(intrinsics.width) + 0.5) / intrinsics.width * 2.0 - 1.0
    yn = (np.arange(intrinsics.height) + 0.5) / intrinsics.height * 2.0 - 1.0
    rays = _Rays(
        xr=xr,
        yr=yr,
        col=xr.astype(np.float32)[None, :],
        row=yr.astype(np.float32)[:, None],
        norm2=(1.0 + xr[None, :] ** 2 + yr[:, None] ** 2).astype(np.float32),
        radius2=((xn[None, :] ** 2 + yn[:, None] ** 2) / 2.0).astype(np.float32),
    )
    for array in (rays.xr, rays.yr, rays.col, rays.row, rays.norm2, rays.radius2):
        array.flags.writeable = False
    return rays


@functools.lru_cache(maxsize=128)
def _packed_texture(kind: str, variant: int) -> np.ndarray:
    """A texture as (T * T,) uint32 whose bytes in memory are r, g, b, 255."""
    texture = procedural_texture(kind, variant)
    rgba = np.empty(texture.shape[:2] + (4,), dtype=np.uint8)
    rgba[..., :3] = texture
    rgba[..., 3] = 255
    packed = rgba.reshape(-1, 4).view(np.uint32).reshape(-1)
    packed.flags.writeable = False
    return packed


def _rows16(values: np.ndarray) -> np.ndarray:
    """(F, 4) numbers -> (F,) 16-byte items (4 float32 each) so one gather fetches a row."""
    return np.ascontiguousarray(values, dtype=np.float32).view(np.complex128).reshape(-1)


class _Workspace:
    """Scratch images reused from frame to frame.

    Allocating fresh multi-megabyte temporaries every frame costs more in page faults than
    the arithmetic does, so the renderer writes into these with ``out=``.
    """

    def __init__(self, height: int, width: int) -> None:
        shape = (height, width)
        self.inv_depth = np.empty(shape, dtype=np.float32)  # 1/m
        self.face_id = np.empty(shape, dtype=np.intp)
        self.f32 = [np.empty(shape, dtype=np.float32) for _ in range(3)]
        self.mask = [np.empty(shape, dtype=bool) for _ in range(2)]
        self.i32 = [np.empty(shape, dtype=np.int32) for _ in range(2)]
        self.rows16 = [np.empty(shape, dtype=np.complex128) for _ in range(2)]  # _rows16 items
        self.u32 = np.empty(shape, dtype=np.uint32)


_THREAD_STATE = threading.local()


def _workspace(height: int, width: int) -> _Workspace:
    """This thread's workspace for a resolution (a few resolutions are kept)."""
    cache: dict[tuple[int, int], _Workspace] | None = getattr(_THREAD_STATE, "workspaces", None)
    if cache is None:
        cache = _THREAD_STATE.workspaces = {}
    work = cache.get((height, width))
    if work is None:
        if len(cache) >= 4:
            cache.clear()
        work = cache[(height, width)] = _Workspace(height, width)
    return work


def _resolve_intrinsics(
    width: int | None, height: int | None, intrinsics: CameraIntrinsics | None
) -> CameraIntrinsics:
    if intrinsics is None:
        return CameraIntrinsics.nyu_kinect(
            640 if width is None else width, 480 if height is None else height
        )
    if (width is not None and width != intrinsics.width) or (
        height is not None and height != intrinsics.height
    ):
        raise ValueError(
            f"Requested size {width}x{height} differs from the intrinsics' "
            f"{intrinsics.width}x{intrinsics.height}; pass one or make them agree."
        )
    return intrinsics


# ----------------------------------------------------------------------------- the scene

_DEFAULT_MATERIALS = (
    Material("paint", 0, (0.96, 0.94, 0.9), 1.5),
    Material("wood_floor", 0, (1.0, 1.0, 1.0), 1.6),
    Material("paint", 1, (0.98, 0.98, 0.98), 2.0),
)


class SyntheticScene:
    """A furnished room that renders RGB and exact depth from any camera pose inside it.

    Build one with :meth:`random` (seeded), or directly from a room size and boxes for
    scenes with known geometry.

    Args:
        room_size: ``(Lx, Ly, Lz)`` metres; the room spans ``[0, Lx] x [0, Ly] x [0, Lz]``.
        boxes: Furniture and objects.
        materials: Materials referenced by the boxes and the room; None uses plain walls,
            a wooden floor and a plain ceiling (indices 0, 1, 2).
        room_materials: Material indices of the walls, floor and ceiling.
        lighting: Light set-up.
        default_pose: Pose used when :meth:`render` gets none; None looks along +x from the
            room centre at 1.5 m (or mid-height in low rooms).
        path_radii: Semi-axes (metres) of the ellipse :meth:`trajectory_pose` follows around
            the room centre; None picks about a fifth of the room.
        path_height: Mean camera height (metres) on the trajectory.
        period: Seconds per loop of the trajectory.

    Raises:
        ValueError: On a non-positive room size or a material index out of range.
    """

    def __init__(
        self,
        room_size: Vec3,
        boxes: Sequence[Box] = (),
        materials: Sequence[Material] | None = None,
        room_materials: tuple[int, int, int] = (0, 1, 2),
        lighting: Lighting | None = None,
        default_pose: CameraPose | None = None,
        path_radii: tuple[float, float] | None = None,
        path_height: float | None = None,
        period: float = 30.0,
    ) -> None:
        size = tuple(float(v) for v in room_size)
        if len(size) != 3 or not all(math.isfinite(v) and v > 0.0 for v in size):
            raise ValueError(f"Room size {room_size!r} must be three positive lengths in metres.")
        self.room_size: Vec3 = size  # type: ignore[assignment]
        self.boxes: tuple[Box, ...] = tuple(boxes)
        self.materials: tuple[Material, ...] = tuple(
            _DEFAULT_MATERIALS if materials is None else materials
        )
        for index in list(room_materials) + [box.material for box in self.boxes]:
            if not 0 <= index < len(self.materials):
                raise ValueError(
                    f"Material index {index} is out of range for {len(self.materials)} materials."
                )
        for box in self.boxes:
            if not all(v > 0.0 for v in box.size):
                raise ValueError(f"Box size {box.size} must be positive along every axis.")
        self.room_materials = tuple(room_materials)
        self.lighting = lighting or Lighting()
        lx, ly, lz = size
        if path_radii is None:
            path_radii = _default_path_radii(lx, ly)
        self.path_radii = (float(path_radii[0]), float(path_radii[1]))
        self.path_height = float(min(1.45, 0.55 * lz) if path_height is None else path_height)
        if not period > 0.0:
            raise ValueError(f"Trajectory period {period} must be positive seconds.")
        self.period = float(period)
        self.default_pose = default_pose or CameraPose(
            (lx / 2, ly / 2, min(1.5, lz / 2)), yaw=0.0, pitch=0.0
        )
        # Texture atlas: one slot of T * T texels per distinct (kind, variant).
        keys: list[tuple[str, int]] = []
        slots: list[int] = []
        for material in self.materials:
            key = (material.texture, material.variant)
            if key not in keys:
                keys.append(key)
            slots.append(keys.index(key))
        # (slots * T * T,) uint32, each the four bytes r, g, b, 255.
        self._atlas = np.concatenate([_packed_texture(kind, variant) for kind, variant in keys])
        self._faces = _build_faces(size, self.boxes, self.room_materials, self.materials, slots)
        faces = self._faces
        light = self.lighting.light_position
        self._light = np.array(
            (lx / 2, ly / 2, lz - 0.3) if light is None else light, dtype=np.float64
        )
        sun = np.asarray(self.lighting.sun_direction, dtype=np.float64)
        sun = sun / np.linalg.norm(sun)
        # Per-face shading constants, 4 float32 per row, gathered per pixel in one go:
        # (point-light plane distance (m, >= 0), ambient + directional, texel base as int32
        # bits, 0).
        # On face f every point P has n.P = n.c, so n.(light - P) is constant per face.
        light_plane = np.einsum("fi,fi->f", self._light - faces.center, faces.normal)
        flat = self.lighting.ambient + self.lighting.sun_strength * np.clip(
            -(faces.normal @ sun), 0.0, None
        )
        face_light = np.zeros((len(flat), 4), dtype=np.float32)
        face_light[:, 0] = np.clip(light_plane, 0.0, None)
        face_light[:, 1] = flat
        face_light.view(np.int32)[:, 2] = faces.texture_slot * TEXTURE_SIZE * TEXTURE_SIZE
        self._face_light = _rows16(face_light)
        self._face_tint = _rows16(np.concatenate([faces.tint, np.zeros((len(flat), 1))], 1))

    # ------------------------------------------------------------------ construction

    @classmethod
    def random(cls, seed: int) -> SyntheticScene:
        """A random furnished room (bedroom, living room, kitchen, office, ...) from a seed.

        The same seed always gives the same scene; its :attr:`default_pose` is a random
        plausible camera pose drawn from the same seed.
        """
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"Scene seed {seed!r} must be a non-negative integer.")
        return _RoomBuilder(np.random.default_rng([int(seed), 0x5EED])).build()

    # ------------------------------------------------------------------ camera motion

    def trajectory_pose(self, t: float) -> CameraPose:
        """A smooth, looping camera pose at time ``t`` seconds (period :attr:`period`).

        The camera circles an ellipse around the room centre (kept clear of furniture in
        random scenes), looking roughly across the room with a gentle sway in heading,
        pitch, height and roll; ``t`` and ``t + period`` give the same pose.
        """
        theta = 2.0 * math.pi * (t / self.period)
        lx, ly, lz = self.room_size
        ax, ay = self.path_radii
        position = (
            lx / 2 + ax * math.cos(theta),
            ly / 2 + ay * math.sin(theta),
            min(self.path_height + 0.08 * math.sin(2 * theta), lz - 0.3),
        )
        return CameraPose(
            position,
            yaw=theta + math.pi + 0.5 * math.sin(theta),
            pitch=0.17 + 0.1 * math.sin(2 * theta + 1.0),
            roll=0.02 * math.sin(3 * theta),
        )

    # ------------------------------------------------------------------ rendering

    def render(
        self,
        pose: CameraPose | None = None,
        width: int | None = None,
        height: int | None = None,
        intrinsics: CameraIntrinsics | None = None,
    ) -> SyntheticFrame:
        """Render colour and exact depth.

        Args:
            pose: Camera pose; None uses :attr:`default_pose`.
            width: Image width; default 640, or the intrinsics' width.
            height: Image height; default 480, or the intrinsics' height.
            intrinsics: Camera; None uses the NYU Kinect camera scaled to the size.

        Returns:
            The frame; depth is z along the optical axis in metres, finite and positive.

        Raises:
            ValueError: If the pose is not strictly inside the room, or the size disagrees
                with the intrinsics.
        """
        camera = _resolve_intrinsics(width, height, intrinsics)
        pose = self.default_pose if pose is None else pose
        origin = np.asarray(pose.position, dtype=np.float64)
        if origin.shape != (3,) or not (
            np.all(origin > 0.0) and np.all(origin < np.asarray(self.room_size))
        ):
            raise ValueError(
                f"Camera position {pose.position} must lie strictly inside the room "
                f"[0, {self.room_size[0]}] x [0, {self.room_size[1]}] x "
                f"[0, {self.room_size[2]}]."
            )
        rotation = pose.world_from_optical()
        work = _workspace(camera.height, camera.width)
        self._rasterise(origin, rotation, camera, work)
        depth = np.reciprocal(work.inv_depth)  # (H, W) metres, a fresh array for the caller
        rgb = self._shade(origin, rotation, camera, depth, work)
        return SyntheticFrame(rgb=rgb, depth=depth, intrinsics=camera, pose=pose)

    def _rasterise(
        self, origin: np.ndarray, rotation: np.ndarray, camera: CameraIntrinsics, work: _Workspace
    ) -> None:
        """Fill ``work.inv_depth`` (1/m) and ``work.face_id`` with the nearest surfaces."""
        faces = self._faces
        rays = _pixel_rays(camera)
        # Signed distance of the camera to every face plane; > 0 means the face is seen
        # from its front. The room faces always are (the camera is inside).
        dist = np.einsum("fi,fi->f", origin - faces.center, faces.normal)
        # A ray D = R (xr, yr, 1) hits plane f at t = dist / -(n . D), so 1/t, the inverse
        # depth, is the linear form -(R^T n) / dist applied to (xr, yr, 1).
        w_room = -(faces.normal[:_ROOM_FACES] @ rotation) / dist[:_ROOM_FACES, None]  # (6, 3)
        row_terms = (w_room[:, 1, None] * rays.yr).astype(np.float32)[:, :, None]  # (6, H, 1)
        col_terms = (w_room[:, 0, None] * rays.xr + w_room[:, 2, None]).astype(np.float32)
        inv_depth, face_id = work.inv_depth, work.face_id
        candidate, closer = work.f32[0], work.mask[0]
        # The camera is inside the room: the exit face is the one with the largest 1/z.
        np.add(row_terms[0], col_terms[0], out=inv_depth)
        face_id.fill(0)
        for f in range(1, _ROOM_FACES):
            np.add(row_terms[f], col_terms[f], out=candidate)
            np.greater(candidate, inv_depth, out=closer)
            np.maximum(inv_depth, candidate, out=inv_depth)
            np.copyto(face_id, f, where=closer)
        if len(dist) > _ROOM_FACES:
            self._rasterise_boxes(origin, rotation, camera, dist, work)

    def _rasterise_boxes(
        self,
        origin: np.ndarray,
        rotation: np.ndarray,
        camera: CameraIntrinsics,
        dist: np.ndarray,
        work: _Workspace,
    ) -> None:
        """Z-buffer every front-facing box face into the workspace, in place."""
        faces = self._faces
        rays = _pixel_rays(camera)
        height, width = camera.height, camera.width
        index = np.flatnonzero(dist[_ROOM_FACES:] > 1e-9) + _ROOM_FACES
        if index.size == 0:
            return
        # Corners in the optical frame: (n, 4, 3) metres.
        corners = (faces.corners[index] - origin) @ rotation
        in_front = corners[..., 2] >= _NEAR
        rects: list[tuple[int, int, int, int]] = []
        nearest: list[float] = []
        kept: list[int] = []
        for k in np.flatnonzero(in_front.any(axis=1)):
            polygon = corners[k] if in_front[k].all() else _clip_near(corners[k])
            pz = polygon[:, 2]
            u = camera.fx * polygon[:, 0] / pz + camera.cx
            v = camera.fy * polygon[:, 1] / pz + camera.cy
            c0 = max(0, math.floor(u.min()))
            c1 = min(width, math.ceil(u.max()) + 1)
            r0 = max(0, math.floor(v.min()))
            r1 = min(height, math.ceil(v.max()) + 1)
            if c0 >= c1 or r0 >= r1:
                continue
            rects.append((r0, r1, c0, c1))
            nearest.append(float((1.0 / pz).max()))  # largest inverse depth on the face
            kept.append(int(index[k]))
        if not kept:
            return
        ids = np.asarray(kept)
        normal_t = faces.normal[ids] @ rotation  # (n, 3): R^T n
        w = -normal_t / dist[ids, None]  # inverse depth form
        rel = origin - faces.center[ids]  # (n, 3)
        # s_k * w = ((o - c) . e_k) w + (R^T e_k) . (xr, yr, 1) is the in-plane coordinate
        # times the inverse depth; |s_k| <= h_k becomes h_k w -/+ s_k w >= 0 (w > 0).
        s1 = np.einsum("ni,ni->n", rel, faces.e1[ids])[:, None] * w + faces.e1[ids] @ rotation
        s2 = np.einsum("ni,ni->n", rel, faces.e2[ids])[:, None] * w + faces.e2[ids] @ rotation
        h1 = faces.half[ids, 0, None]
        h2 = faces.half[ids, 1, None]
        forms = np.stack([w, h1 * w - s1, h1 * w + s1, h2 * w - s2, h2 * w + s2], axis=1)
        col_terms = (forms[..., 0, None] * rays.xr + forms[..., 2, None]).astype(np.float32)
        row_terms = (forms[..., 1, None] * rays.yr).astype(np.float32)
        row_terms[:, 1:] *= -1.0  # edges test col >= -row with one comparison
        inv_depth, face_id = work.inv_depth, work.face_id
        for n in np.argsort(-np.asarray(nearest), kind="stable"):  # nearest faces first
            r0, r1, c0, c1 = rects[n]
            depth_view = inv_depth[r0:r1, c0:c1]
            if nearest[n] < depth_view.min():
                continue  # everything here is already closer than this face can be
            cols, rows = col_terms[n, :, c0:c1], row_terms[n, :, r0:r1, None]
            shape = (r1 - r0, c1 - c0)
            candidate = work.f32[0][: shape[0], : shape[1]]
            mask = work.mask[0][: shape[0], : shape[1]]
            edge = work.mask[1][: shape[0], : shape[1]]
            np.add(rows[0], cols[0], out=candidate)
            np.greater(candidate, depth_view, out=mask)
            for k in range(1, 5):
                np.greater_equal(cols[k], rows[k], out=edge)
                mask &= edge
            np.copyto(depth_view, candidate, where=mask)
            np.copyto(face_id[r0:r1, c0:c1], ids[n], where=mask)

    def _shade(
        self,
        origin: np.ndarray,
        rotation: np.ndarray,
        camera: CameraIntrinsics,
        depth: np.ndarray,
        work: _Workspace,
    ) -> np.ndarray:
        """Textured, lit colour (H, W, 3) uint8 of the surfaces in ``work.face_id``.

        Everything is written as per-face linear forms in the ray ``(xr, yr, 1)`` and the
        depth z, so each pixel needs only a few gathers of per-face rows: with the hit point
        ``P = o + z D`` and ``D = R (xr, yr, 1)``, a texture coordinate ``P . e + k`` is
        ``z (R^T e) . (xr, yr, 1) + (o . e + k)``.
        """
        faces = self._faces
        lighting = self.lighting
        rays = _pixel_rays(camera)
        col, row = rays.col, rays.row  # (1, W), (H, 1)
        shape = depth.shape
        fid = work.face_id
        rows16, coord, scratch = work.rows16[0], work.f32[0], work.f32[1]
        texel, index = work.i32

        # Texture lookup: nearest texel, repeating; texel = base + (v_i << bits) | u_i.
        texel.fill(0)
        for shift, coef in ((0, faces.u_coef), (_TEX_BITS, faces.v_coef)):
            along = coef[:, :3] @ rotation  # (F, 3) on (xr, yr, 1)
            table = _rows16(
                np.concatenate([along, (coef[:, :3] @ origin + coef[:, 3])[:, None]], 1)
            )
            np.take(table, fid, out=rows16, mode="clip")  # (H, W) rows (a, b, c, k)
            form = rows16.view(np.float32).reshape(shape + (4,))
            np.multiply(form[..., 0], col, out=coord)
            np.multiply(form[..., 1], row, out=scratch)
            coord += scratch
            coord += form[..., 2]
            coord *= depth
            coord += form[..., 3]
            coord *= np.float32(TEXTURE_SIZE)  # texels, positive thanks to the bias
            np.copyto(index, coord, casting="unsafe")
            index &= TEXTURE_SIZE - 1
            if shift:
                index <<= shift
            texel |= index
        light = work.rows16[1]
        np.take(self._face_light, fid, out=light, mode="clip")
        light_f32 = light.view(np.float32).reshape(shape + (4,))
        texel += light.view(np.int32).reshape(shape + (4,))[..., 2]  # the texture's base
        albedo = work.u32
        np.take(self._atlas, texel, out=albedo, mode="clip")
        albedo_u8 = albedo.view(np.uint8).reshape(shape + (4,))  # r, g, b, 255

        # Squared distance to the point light, |l - o - z D|^2 = c - 2 z (l - o).D + z^2 |D|^2.
        to_light = self._light - origin
        along = 2.0 * (to_light @ rotation)  # 2 (l - o) . D as a form on (xr, yr, 1)
        dist2, shade = work.f32[0], work.f32[2]
        np.add(
            np.float32(along[0]) * col + np.float32(along[2]),
            np.float32(along[1]) * row,
            out=scratch,
        )
        np.multiply(depth, rays.norm2, out=dist2)
        dist2 -= scratch
        dist2 *= depth
        dist2 += np.float32(to_light @ to_light)
        np.maximum(dist2, np.float32(1e-6), out=dist2)
        # Lambert n.(l - P) / |l - P| (n.(l - P) is constant per face), falloff I / (1 + d^2/f^2).
        np.sqrt(dist2, out=shade)
        np.divide(light_f32[..., 0], shade, out=shade)
        dist2 *= np.float32(1.0 / lighting.light_falloff**2)
        dist2 += np.float32(1.0)
        shade *= np.float32(lighting.light_intensity)
        shade /= dist2
        shade += light_f32[..., 1]
        if lighting.vignette:
            np.multiply(rays.radius2, np.float32(-lighting.vignette), out=scratch)
            scratch += np.float32(1.0)
            shade *= scratch
        tint = rows16
        np.take(self._face_tint, fid, out=tint, mode="clip")
        tint_f32 = tint.view(np.float32).reshape(shape + (4,))
        rgb = np.empty(shape + (3,), dtype=np.uint8)
        channel = scratch
        for c in range(3):  # per channel: contiguous temporaries are faster than (H, W, 3)
            np.multiply(albedo_u8[..., c], tint_f32[..., c], out=channel)
            channel *= shade
            np.minimum(channel, np.float32(255.0), out=channel)
            rgb[..., c] = channel
        return rgb


# ----------------------------------------------------------------------------- generation


# A box of a piece of furniture in the piece's own frame: centre (x across, y towards the
# front, z up from the floor) and size in metres, and a material index.
Part = tuple[float, float, float, float, float, float, int]
Footprint = tuple[float, float, float, float, float]  # cx, cy, half x, half y, yaw

ROOM_KINDS = ("bedroom", "living_room", "kitchen", "office", "dining_room", "study", "bathroom")
_PATH_CLEARANCE = 0.6  # metres between furniture footprints and the camera trajectory
_POSE_CLEARANCE = 0.55  # metres between furniture footprints and a random camera
_WALL_COLOURS = (
    (1.0, 0.97, 0.92),
    (0.93, 0.96, 1.0),
    (0.96, 0.9, 0.8),
    (0.85, 0.93, 0.85),
    (0.97, 0.86, 0.84),
    (0.82, 0.87, 0.97),
    (0.99, 0.95, 0.78),
    (0.82, 0.82, 0.82),
)
_PAINT_COLOURS = (
    (0.95, 0.95, 0.95),
    (0.3, 0.3, 0.32),
    (0.6, 0.62, 0.65),
    (0.55, 0.7, 0.85),
    (0.85, 0.55, 0.45),
    (0.6, 0.75, 0.55),
)


def _default_path_radii(lx: float, ly: float) -> tuple[float, float]:
    """Trajectory semi-axes: about a fifth of the room, at least 1 m from the walls."""
    return (
        max(0.15, min(0.2 * lx, lx / 2 - 1.0, 1.2)),
        max(0.15, min(0.2 * ly, ly / 2 - 1.0, 1.2)),
    )


def _rect_corners(footprint: Footprint) -> list[tuple[float, float]]:
    """Corners of a yawed rectangle (plain floats: this runs thousands of times per room)."""
    cx, cy, hx, hy, yaw = footprint
    c, s = math.cos(yaw), math.sin(yaw)
    return [
        (cx + c * x - s * y, cy + s * x + c * y)
        for x, y in ((-hx, -hy), (hx, -hy), (hx, hy), (-hx, hy))
    ]


def _rects_overlap(a: Footprint, b: Footprint) -> bool:
    """Separating-axis test for two yawed rectangles."""
    if math.hypot(a[0] - b[0], a[1] - b[1]) > math.hypot(a[2], a[3]) + math.hypot(b[2], b[3]):
        return False
    ca, cb = _rect_corners(a), _rect_corners(b)
    for yaw in (a[4], b[4]):
        c, s = math.cos(yaw), math.sin(yaw)
        for ux, uy in ((c, s), (-s, c)):
            pa = [x * ux + y * uy for x, y in ca]
            pb = [x * ux + y * uy for x, y in cb]
            if max(pa) <= min(pb) or max(pb) <= min(pa):
                return False
    return True


def _rect_distance(points: np.ndarray, footprint: Footprint) -> float:
    """Smallest distance from (N, 2) points to a yawed rectangle (0 inside)."""
    cx, cy, hx, hy, yaw = footprint
    c, s = math.cos(yaw), math.sin(yaw)
    rel = points - np.array([cx, cy])
    along = np.abs(rel @ np.array([c, s])) - hx
    across = np.abs(rel @ np.array([-s, c])) - hy
    return float(np.hypot(np.maximum(along, 0.0), np.maximum(across, 0.0)).min())


def _table(h: float, w: float, d: float, top: int, legs: int) -> list[Part]:
    parts: list[Part] = [(0.0, 0.0, h - 0.02, w, d, 0.04, top)]
    for sx in (-1, 1):
        for sy in (-1, 1):
            x, y = sx * (w / 2 - 0.06), sy * (d / 2 - 0.06)
            parts.append((x, y, (h - 0.04) / 2, 0.05, 0.05, h - 0.04, legs))
    return parts


def _chair(rng: np.random.Generator, seat: int, frame: int) -> list[Part]:
    """A chair facing +y (its back at -y)."""
    s, h, back = rng.uniform(0.4, 0.5), rng.uniform(0.43, 0.48), rng.uniform(0.35, 0.5)
    parts: list[Part] = [(0.0, 0.0, h, s, s, 0.05, seat)]
    for sx in (-1, 1):
        for sy in (-1, 1):
            x, y = sx * (s / 2 - 0.03), sy * (s / 2 - 0.03)
            parts.append((x, y, (h - 0.025) / 2, 0.035, 0.035, h - 0.025, frame))
    parts.append((0.0, -s / 2 + 0.02, h + back / 2, s, 0.04, back, seat))
    return parts


def _turned(parts: Sequence[Part], dx: float = 0.0, dy: float = 0.0) -> list[Part]:
    """Parts turned by pi about the vertical (exact for boxes: negate x, y), then moved."""
    return [(dx - x, dy - y, *rest) for x, y, *rest in parts]  # type: ignore[misc]


def _moved(parts: Sequence[Part], dx: float = 0.0, dy: float = 0.0) -> list[Part]:
    return [(x + dx, y + dy, *rest) for x, y, *rest in parts]  # type: ignore[misc]


def _cabinet(
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


def _bookshelf(
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


def _bed(
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


def _sofa(w: float, d: float, fabric: int, cushions: int) -> list[Part]:
    """A sofa facing +y."""
    return [
        (0.0, 0.05, 0.2, w - 0.36, d - 0.1, 0.4, fabric),
        (-w / 2 + 0.09, 0.0, 0.31, 0.18, d, 0.62, fabric),
        (w / 2 - 0.09, 0.0, 0.31, 0.18, d, 0.62, fabric),
        (0.0, -d / 2 + 0.1, 0.43, w - 0.36, 0.2, 0.86, fabric),
        (0.0, 0.12, 0.46, w - 0.4, d - 0.32, 0.12, cushions),
    ]


class _RoomBuilder:
    """Furnishes one random room: see :meth:`SyntheticScene.random`.

    Furniture stands against the walls or free in the room, never overlapping, clear of the
    door and of the camera trajectory; wall items (door, windows, pictures) do not overlap.
    """

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.kind = str(rng.choice(ROOM_KINDS))
        low, high = (3.0, 4.0) if self.kind == "bathroom" else (3.0, 7.0)
        lx, ly = (float(v) for v in rng.uniform(low, high, 2))
        lz = float(rng.uniform(2.4, 3.2))
        self.size: Vec3 = (lx, ly, lz)
        self.radii = _default_path_radii(lx, ly)
        theta = np.linspace(0.0, 2 * np.pi, 64, endpoint=False)
        self.path = np.stack(
            [lx / 2 + self.radii[0] * np.cos(theta), ly / 2 + self.radii[1] * np.sin(theta)], 1
        )  # (64, 2) trajectory samples
        self.materials: list[Material] = []
        self.boxes: list[Box] = []
        self.footprints: list[Footprint] = []
        self.wall_items: list[tuple[int, float, float, float, float]] = []  # wall, s, z ranges
        self.last_wall: tuple[int, float] = (0, 0.0)  # wall and position of the last placement
        self._palette()

    # ------------------------------------------------------------------ materials

    def _material(self, texture: str, tint: Sequence[float], tile_size: float | None) -> int:
        variant = int(self.rng.integers(_TEXTURE_VARIANTS))
        colour = tuple(float(np.clip(c, 0.05, 1.6)) for c in tint)
        self.materials.append(Material(texture, variant, colour, tile_size))  # type: ignore
        return len(self.materials) - 1

    def _tint(self, base: Sequence[float], spread: float) -> Vec3:
        rng = self.rng
        jitter = rng.uniform(1.0 - spread, 1.0 + spread, 3) * rng.uniform(1 - spread, 1 + spread)
        return tuple(float(v) for v in np.asarray(base) * jitter)  # type: ignore[return-value]

    def _palette(self) -> None:
        rng = self.rng
        wall_texture = str(rng.choice(["paint", "paint", "plaster", "wallpaper"]))
        wall_colour = _WALL_COLOURS[int(rng.integers(len(_WALL_COLOURS)))]
        self.wall = self._material(
            wall_texture, self._tint(wall_colour, 0.04), float(rng.uniform(1.0, 2.5))
        )
        if self.kind in ("kitchen", "bathroom"):
            floor_texture = str(rng.choice(["tiles", "checker", "tiles"]))
        else:
            floor_texture = str(rng.choice(["wood_floor", "wood_floor", "carpet", "tiles"]))
        if floor_texture == "carpet":
            floor_tint: Sequence[float] = rng.uniform(0.35, 1.1, 3)
        else:
            floor_tint = self._tint((1.0, 1.0, 1.0), 0.15)
        self.floor = self._material(floor_texture, floor_tint, float(rng.uniform(0.8, 2.0)))
        self.ceiling = self._material("paint", self._tint((0.97, 0.97, 0.96), 0.02), 2.0)
        self.wood = [
            self._material("wood", self._tint((1.0, 1.0, 1.0), 0.25), rng.uniform(0.6, 1.2)),
            self._material("wood", self._tint((0.8, 0.75, 0.7), 0.25), 0.8),
        ]
        self.painted = [
            self._material(
                "paint", self._tint(_PAINT_COLOURS[rng.integers(len(_PAINT_COLOURS))], 0.08), 1.0
            )
            for _ in range(2)
        ]
        self.fabric = [self._material("fabric", rng.uniform(0.3, 1.05, 3), 0.5) for _ in range(2)]
        self.books = [
            self._material("books", (1.0, 1.0, 1.0), float(rng.uniform(0.5, 1.0)))
            for _ in range(2)
        ]
        self.metal = self._material("metal", self._tint((1.0, 1.0, 1.0), 0.1), 0.5)
        self.white = self._material("paint", (1.02, 1.02, 1.0), 1.0)
        self.cardboard = self._material("cardboard", self._tint((1.0, 1.0, 1.0), 0.1), 0.6)

    def _furniture_material(self) -> int:
        choices = self.wood + self.painted
        return choices[int(self.rng.integers(len(choices)))]

    # ------------------------------------------------------------------ placement

    def _wall_length(self, wall: int) -> float:
        return self.size[0] if wall % 2 == 0 else self.size[1]

    def _wall_slot(
        self, wall: int, s: float, depth: float, gap: float = 0.02
    ) -> tuple[float, float, float]:
        """Centre and yaw of a piece ``depth`` deep with its back ``gap`` from a wall, its
        centre ``s`` along it and its front (+y) facing into the room.

        Walls: 0 is y = 0, 1 is x = Lx, 2 is y = Ly, 3 is x = 0.
        """
        lx, ly, _ = self.size
        off = gap + depth / 2
        if wall == 0:
            return s, off, 0.0
        if wall == 1:
            return lx - off, s, math.pi / 2
        if wall == 2:
            return lx - s, ly - off, math.pi
        return off, ly - s, -math.pi / 2

    def _fits(self, footprint: Footprint, margin: float = 0.03) -> bool:
        """Whether a footprint lies in the room, clear of others and of the trajectory."""
        lx, ly, _ = self.size
        for x, y in _rect_corners(footprint):
            if not (-1e-6 <= x <= lx + 1e-6 and -1e-6 <= y <= ly + 1e-6):
                return False
        cx, cy, hx, hy, yaw = footprint
        grown = (cx, cy, hx + margin, hy + margin, yaw)
        if any(_rects_overlap(grown, other) for other in self.footprints):
            return False
        return _rect_distance(self.path, footprint) >= _PATH_CLEARANCE

    def _add(
        self,
        parts: Sequence[Part],
        cx: float,
        cy: float,
        yaw: float,
        footprint: tuple[float, float] | None = None,
    ) -> None:
        """Place parts given in a piece's frame; optionally reserve its ``(w, d)`` footprint."""
        c, s = math.cos(yaw), math.sin(yaw)
        for x, y, z, sx, sy, sz, material in parts:
            offset = (float(self.rng.uniform(0.0, 2.0)), float(self.rng.uniform(0.0, 2.0)))
            centre = (cx + c * x - s * y, cy + s * x + c * y, z)
            self.boxes.append(Box(centre, (sx, sy, sz), material, yaw, offset))
        if footprint is not None:
            self.footprints.append((cx, cy, footprint[0] / 2, footprint[1] / 2, yaw))

    def _on_wall(
        self,
        parts: Sequence[Part],
        width: float,
        depth: float,
        wall: int | None = None,
        at: float | None = None,
        tries: int = 16,
    ) -> tuple[float, float, float] | None:
        """Stand a piece against a (random) wall; returns its centre and yaw if it fitted."""
        for _ in range(tries if at is None else 1):
            k = int(self.rng.integers(4)) if wall is None else wall
            length = self._wall_length(k)
            if width > length - 0.1:
                continue
            s = self.rng.uniform(width / 2 + 0.05, length - width / 2 - 0.05) if at is None else at
            cx, cy, yaw = self._wall_slot(k, s, depth)
            if self._fits((cx, cy, width / 2, depth / 2, yaw)):
                self._add(parts, cx, cy, yaw, (width, depth))
                self.last_wall = (k, s)
                return cx, cy, yaw
        return None

    def _free(
        self, parts: Sequence[Part], width: float, depth: float, tries: int = 24
    ) -> tuple[float, float, float] | None:
        """Stand a piece anywhere on the floor (random heading) if it fits."""
        rng = self.rng
        lx, ly, _ = self.size
        for _ in range(tries):
            yaw = float(rng.choice([0.0, math.pi / 2, rng.uniform(-math.pi, math.pi)]))
            cx, cy = rng.uniform(0.0, lx), rng.uniform(0.0, ly)
            if self._fits((cx, cy, width / 2, depth / 2, yaw)):
                self._add(parts, cx, cy, yaw, (width, depth))
                return cx, cy, yaw
        return None

    def _clutter_on(
        self, top: float, spot: tuple[float, float, float] | None, w: float, d: float
    ) -> None:
        """A few small objects on a ``w`` x ``d`` top surface at height ``top``."""
        if spot is None:
            return
        rng = self.rng
        cx, cy, yaw = spot
        c, s = math.cos(yaw), math.sin(yaw)
        materials = [self.books[0], self.cardboard, self.painted[1], self.white, self.fabric[1]]
        for _ in range(int(rng.integers(0, 4))):
            sx, sy, sz = rng.uniform(0.08, 0.35), rng.uniform(0.08, 0.3), rng.uniform(0.04, 0.3)
            if sx > w - 0.05 or sy > d - 0.05:
                continue
            px = rng.uniform(-(w - sx) / 2, (w - sx) / 2)
            py = rng.uniform(-(d - sy) / 2, (d - sy) / 2)
            material = materials[int(rng.integers(len(materials)))]
            centre = (cx + c * px - s * py, cy + s * px + c * py, top + sz / 2)
            offset = (float(rng.uniform(0, 1)), float(rng.uniform(0, 1)))
            self.boxes.append(
                Box(centre, (sx, sy, sz), material, yaw + rng.uniform(-0.4, 0.4), offset)
            )

    def _wall_item(
        self, wall: int, width: float, bottom: float, height: float, depth: float, material: int
    ) -> bool:
        """Hang a flat item on a wall where no other wall item is; True if it was placed."""
        length = self._wall_length(wall)
        if width > length - 0.3:
            return False
        for _ in range(8):
            s = self.rng.uniform(width / 2 + 0.15, length - width / 2 - 0.15)
            clear = all(
                k != wall
                or s + width / 2 < s0
                or s - width / 2 > s1
                or bottom > z1
                or bottom + height < z0
                for k, s0, s1, z0, z1 in self.wall_items
            )
            if clear:
                self.wall_items.append(
                    (wall, s - width / 2 - 0.05, s + width / 2 + 0.05, bottom, bottom + height)
                )
                cx, cy, yaw = self._wall_slot(wall, s, depth, gap=0.0)
                self._add(
                    [(0.0, 0.0, bottom + height / 2, width, depth, height, material)], cx, cy, yaw
                )
                self.last_wall = (wall, s)
                return True
        return False

    # ------------------------------------------------------------------ pieces

    def door(self) -> None:
        rng = self.rng
        wall = int(rng.integers(4))
        width = float(rng.uniform(0.8, 0.95))
        material = self._material("door", self._tint((1.0, 1.0, 1.0), 0.2), None)
        if self._wall_item(wall, width, 0.0, 2.05, 0.04, material):
            # Keep the floor in front of the door clear.
            cx, cy, yaw = self._wall_slot(wall, self.last_wall[1], 0.9, gap=0.0)
            self.footprints.append((cx, cy, width / 2 + 0.1, 0.45, yaw))

    def windows(self) -> None:
        rng = self.rng
        for _ in range(int(rng.integers(0, 3))):
            width, height = rng.uniform(0.8, 1.6), rng.uniform(1.0, 1.4)
            bottom = min(rng.uniform(0.8, 1.0), self.size[2] - height - 0.15)
            material = self._material("window", (1.15, 1.15, 1.15), None)
            self._wall_item(int(rng.integers(4)), width, bottom, height, 0.05, material)

    def pictures(self) -> None:
        rng = self.rng
        for _ in range(int(rng.integers(0, 4))):
            width, height = rng.uniform(0.3, 0.9), rng.uniform(0.3, 0.7)
            bottom = rng.uniform(1.2, min(1.6, self.size[2] - height - 0.2))
            material = self._material("picture", (1.0, 1.0, 1.0), None)
            self._wall_item(int(rng.integers(4)), width, bottom, height, 0.03, material)

    def skirting(self) -> None:
        if self.rng.random() < 0.7:
            material = self.white if self.rng.random() < 0.6 else self.wood[1]
            for wall in range(4):
                length = self._wall_length(wall)
                cx, cy, yaw = self._wall_slot(wall, length / 2, 0.012, gap=0.0)
                self._add([(0.0, 0.0, 0.04, length, 0.012, 0.08, material)], cx, cy, yaw)

    def rug(self) -> None:
        rng = self.rng
        if rng.random() < 0.5 and self.kind not in ("kitchen", "bathroom"):
            lx, ly, _ = self.size
            texture = str(rng.choice(["carpet", "fabric"]))
            material = self._material(texture, rng.uniform(0.3, 1.1, 3), 0.7)
            size = (rng.uniform(1.2, min(2.6, lx - 0.6)), rng.uniform(0.8, min(1.8, ly - 0.6)))
            centre = (lx / 2 + rng.uniform(-0.3, 0.3), ly / 2 + rng.uniform(-0.3, 0.3), 0.005)
            self.boxes.append(Box(centre, (*size, 0.01), material))  # type: ignore[arg-type]

    def ceiling_lamp(self) -> None:
        lx, ly, lz = self.size
        material = self._material("paint", (1.25, 1.22, 1.1), 1.0)
        self.boxes.append(Box((lx / 2, ly / 2, lz - 0.04), (0.45, 0.45, 0.08), material))

    def bookshelf(self) -> None:
        rng = self.rng
        w, d = rng.uniform(0.6, 1.2), rng.uniform(0.28, 0.4)
        h = rng.uniform(1.0, min(2.2, self.size[2] - 0.2))
        self._on_wall(_bookshelf(rng, w, d, h, self._furniture_material(), self.books), w, d)

    def cabinet(self) -> None:
        rng = self.rng
        w, d, h = rng.uniform(0.6, 1.6), rng.uniform(0.4, 0.6), rng.uniform(0.5, 1.1)
        parts = _cabinet(rng, w, d, h, self._furniture_material(), self._furniture_material())
        self._clutter_on(h, self._on_wall(parts, w, d), w, d)

    def wardrobe(self) -> None:
        rng = self.rng
        w, d = rng.uniform(0.8, 1.6), rng.uniform(0.5, 0.65)
        h = rng.uniform(1.7, min(2.3, self.size[2] - 0.15))
        body = self._furniture_material()
        self._on_wall(_cabinet(rng, w, d, h, body, self._furniture_material()), w, d)

    def desk(self) -> None:
        rng = self.rng
        w, d, h = rng.uniform(1.0, 1.6), rng.uniform(0.55, 0.8), rng.uniform(0.72, 0.78)
        depth = d + 0.55  # the footprint keeps room for the chair
        back = (d - depth) / 2  # desk centre in the footprint frame
        top = self._furniture_material()
        parts = _table(h, w, d, top, self.metal if rng.random() < 0.5 else top)
        if rng.random() < 0.6:  # drawer pedestal
            parts.append((w / 2 - 0.25, 0.0, (h - 0.04) / 2, 0.42, d - 0.06, h - 0.04, top))
        if rng.random() < 0.7:  # monitor
            screen = self._material("screen", (1.0, 1.0, 1.0), None)
            parts.append(
                (0.0, -d / 2 + 0.15, h + 0.22, rng.uniform(0.45, 0.65), 0.04, 0.34, screen)
            )
        parts = _moved(parts, dy=back)
        parts += _turned(_chair(rng, self.fabric[0], self.metal), dy=back + d / 2 + 0.1)
        spot = self._on_wall(parts, w, depth)
        if spot is not None:
            cx, cy, yaw = spot
            c, s = math.cos(yaw), math.sin(yaw)
            self._clutter_on(h, (cx - s * back, cy + c * back, yaw), w * 0.5, d * 0.8)

    def bed(self) -> None:
        rng = self.rng
        w, length = float(rng.choice([0.9, 1.4, 1.6, 1.8])), rng.uniform(1.95, 2.1)
        frame = self._furniture_material()
        parts = _bed(rng, w, length, frame, self.white, self.fabric[0])
        if self._on_wall(parts, w + 0.04, length, tries=30) is None:
            return
        wall, s = self.last_wall
        for side in (-1, 1):  # nightstands beside the headboard
            if rng.random() < 0.6:
                stand = rng.uniform(0.4, 0.55)
                at = s + side * (w / 2 + 0.05 + stand / 2)
                parts = _cabinet(rng, stand, 0.4, 0.55, frame, frame)
                self._clutter_on(0.55, self._on_wall(parts, stand, 0.4, wall, at), stand, 0.4)

    def sofa(self) -> None:
        rng = self.rng
        w, d = rng.uniform(1.5, 2.3), rng.uniform(0.8, 0.95)
        self._on_wall(_sofa(w, d, self.fabric[0], self.fabric[1]), w, d)

    def armchair(self) -> None:
        rng = self.rng
        w, d = rng.uniform(0.75, 0.95), rng.uniform(0.75, 0.9)
        parts = _sofa(w, d, self.fabric[int(rng.integers(2))], self.fabric[1])
        if self._on_wall(parts, w, d, tries=4) is None:
            self._free(parts, w, d, tries=8)

    def tv_unit(self) -> None:
        rng = self.rng
        w, d, h = rng.uniform(1.1, 1.8), 0.45, rng.uniform(0.4, 0.6)
        parts = _cabinet(rng, w, d, h, self._furniture_material(), self._furniture_material())
        tw = min(w - 0.1, rng.uniform(0.8, 1.3))
        screen = self._material("screen", (1.0, 1.0, 1.0), None)
        parts.append((0.0, -0.05, h + 0.05 + 0.29 * tw, tw, 0.05, 0.58 * tw, screen))
        self._on_wall(parts, w, d)

    def counter(self) -> None:
        """Kitchen base cabinets with a worktop and wall cabinets, maybe a fridge."""
        rng = self.rng
        wall = int(rng.integers(4))
        w = min(self._wall_length(wall) - 0.3, rng.uniform(1.5, 3.2))
        body = self._furniture_material()
        top = self._material("tiles", self._tint((0.9, 0.9, 0.9), 0.2), 0.6)
        parts = _cabinet(rng, w, 0.6, 0.88, body, body)
        parts.append((0.0, 0.015, 0.9, w, 0.63, 0.04, top))
        upper = min(self.size[2] - 0.05, 2.2)
        parts.append((0.0, -0.13, (1.45 + upper) / 2, w, 0.34, upper - 1.45, body))
        self._on_wall(parts, w, 0.63, wall=wall)
        if rng.random() < 0.7:
            finish = self.white if rng.random() < 0.6 else self.metal
            self._on_wall([(0.0, 0.0, 0.9, 0.7, 0.68, 1.8, finish)], 0.7, 0.68)

    def plant(self) -> None:
        rng = self.rng
        leaves = self._material("leaves", (1.0, 1.0, 1.0), 0.5)
        pot, top = rng.uniform(0.25, 0.4), rng.uniform(0.4, 0.9)
        parts: list[Part] = [
            (0.0, 0.0, pot / 2, 0.3, 0.3, pot, self.painted[1]),
            (0.0, 0.0, pot + top / 2, 0.5, 0.5, top, leaves),
        ]
        self._on_wall(parts, 0.5, 0.5, tries=6)

    def floor_lamp(self) -> None:
        h = self.rng.uniform(1.3, 1.7)
        parts: list[Part] = [
            (0.0, 0.0, 0.015, 0.3, 0.3, 0.03, self.metal),
            (0.0, 0.0, h / 2, 0.03, 0.03, h, self.metal),
            (0.0, 0.0, h + 0.12, 0.35, 0.35, 0.26, self.fabric[1]),
        ]
        self._on_wall(parts, 0.35, 0.35, tries=6)

    def boxes_pile(self) -> None:
        rng = self.rng
        sx, sy, sz = rng.uniform(0.25, 0.6), rng.uniform(0.25, 0.6), rng.uniform(0.2, 0.5)
        parts: list[Part] = [(0.0, 0.0, sz / 2, sx, sy, sz, self.cardboard)]
        if rng.random() < 0.4:
            tz = rng.uniform(0.15, 0.35)
            parts.append((0.0, 0.0, sz + tz / 2, sx * 0.8, sy * 0.8, tz, self.cardboard))
        if self._on_wall(parts, sx, sy, tries=4) is None:
            self._free(parts, sx, sy, tries=8)

    def dining_set(self) -> None:
        rng = self.rng
        w, d, h = rng.uniform(0.9, 1.8), rng.uniform(0.8, 1.0), rng.uniform(0.73, 0.77)
        top = self._furniture_material()
        parts = _table(h, w, d, top, top)
        for x in np.linspace(-w / 2 + 0.3, w / 2 - 0.3, max(1, round(w / 0.6))):
            if rng.random() < 0.8:  # facing the table from the -y side
                parts += _moved(_chair(rng, self.fabric[1], top), x, -d / 2 - 0.2)
            if rng.random() < 0.8:  # and from the +y side
                parts += _turned(_chair(rng, self.fabric[1], top), x, d / 2 + 0.2)
        self._clutter_on(h, self._free(parts, w, d + 0.9, tries=40), w * 0.6, d * 0.6)

    def coffee_table(self) -> None:
        rng = self.rng
        w, d, h = rng.uniform(0.8, 1.2), rng.uniform(0.5, 0.7), rng.uniform(0.4, 0.5)
        parts = _table(h, w, d, self._furniture_material(), self.wood[1])
        self._clutter_on(h, self._free(parts, w, d), w, d)

    def bathroom_set(self) -> None:
        rng = self.rng
        ceramic = self._material("paint", (1.05, 1.05, 1.05), 1.0)
        tub = rng.uniform(1.5, 1.7)
        self._on_wall([(0.0, 0.0, 0.28, tub, 0.75, 0.56, ceramic)], tub, 0.75)
        toilet: list[Part] = [
            (0.0, 0.05, 0.2, 0.38, 0.5, 0.4, ceramic),
            (0.0, -0.2, 0.6, 0.42, 0.18, 0.4, ceramic),
        ]
        self._on_wall(toilet, 0.42, 0.7)
        w = rng.uniform(0.6, 1.0)
        vanity = _cabinet(rng, w, 0.5, 0.85, self._furniture_material(), self.white)
        mirror = self._material("metal", (1.1, 1.15, 1.2), 2.0)
        vanity.append((0.0, -0.24, 1.5, w * 0.9, 0.02, 0.7, mirror))
        self._on_wall(vanity, w, 0.5)

    # ------------------------------------------------------------------ the room

    _PROGRAMS: dict[str, tuple[str, ...]] = {
        "bedroom": ("bed", "wardrobe", "cabinet", "desk", "bookshelf", "plant", "boxes_pile"),
        "living_room": (
            "sofa",
            "tv_unit",
            "armchair",
            "bookshelf",
            "cabinet",
            "plant",
            "floor_lamp",
            "coffee_table",
        ),
        "kitchen": ("counter", "counter", "cabinet", "dining_set", "boxes_pile", "plant"),
        "office": (
            "desk",
            "desk",
            "bookshelf",
            "cabinet",
            "wardrobe",
            "boxes_pile",
            "plant",
            "boxes_pile",
        ),
        "dining_room": ("dining_set", "cabinet", "cabinet", "bookshelf", "plant", "floor_lamp"),
        "study": (
            "bookshelf",
            "bookshelf",
            "bookshelf",
            "desk",
            "cabinet",
            "floor_lamp",
            "armchair",
            "boxes_pile",
        ),
        "bathroom": ("bathroom_set", "cabinet", "boxes_pile"),
    }
    _EXTRAS = (
        "bookshelf",
        "cabinet",
        "boxes_pile",
        "plant",
        "desk",
        "floor_lamp",
        "armchair",
        "wardrobe",
    )

    def build(self) -> SyntheticScene:
        rng = self.rng
        self.door()
        self.windows()
        for name in self._PROGRAMS[self.kind]:
            getattr(self, name)()
        for _ in range(int(rng.integers(3, 9))):
            getattr(self, self._EXTRAS[int(rng.integers(len(self._EXTRAS)))])()
        self.pictures()
        self.skirting()
        self.rug()
        self.ceiling_lamp()
        lx, ly, lz = self.size
        lighting = Lighting(
            light_position=(
                lx / 2 + rng.uniform(-0.5, 0.5),
                ly / 2 + rng.uniform(-0.5, 0.5),
                lz - 0.35,
            ),
            light_intensity=float(rng.uniform(0.6, 1.0)),
            light_falloff=float(rng.uniform(2.5, 4.0)),
            ambient=float(rng.uniform(0.3, 0.45)),
            sun_direction=(float(rng.uniform(-1, 1)), float(rng.uniform(-1, 1)), -1.0),
            sun_strength=float(rng.uniform(0.05, 0.3)),
            vignette=float(rng.uniform(0.1, 0.35)),
        )
        scene = SyntheticScene(
            self.size,
            self.boxes,
            self.materials,
            room_materials=(self.wall, self.floor, self.ceiling),
            lighting=lighting,
            path_radii=self.radii,
        )
        pose = self._random_pose()
        scene.default_pose = (
            pose if pose is not None else scene.trajectory_pose(rng.uniform(0.0, scene.period))
        )
        return scene

    def _random_pose(self) -> CameraPose | None:
        """A camera in free space looking across the room, often at a piece of furniture."""
        rng = self.rng
        lx, ly, lz = self.size
        for _ in range(300):
            # Biased towards the middle of the room, where people stand to take pictures.
            spread = np.sign(rng.uniform(-1, 1, 2)) * rng.uniform(0, 1, 2) ** 1.5
            point = np.array(
                [[lx / 2 + (lx / 2 - 0.6) * spread[0], ly / 2 + (ly / 2 - 0.6) * spread[1]]]
            )
            if any(_rect_distance(point, fp) < _POSE_CLEARANCE for fp in self.footprints):
                continue
            if self.footprints and rng.random() < 0.6:
                target = np.array(self.footprints[int(rng.integers(len(self.footprints)))][:2])
                far_enough = 1.5
            else:
                target = np.array([rng.uniform(0.3, lx - 0.3), rng.uniform(0.3, ly - 0.3)])
                far_enough = 2.0
            heading = target - point[0]
            if np.hypot(*heading) < far_enough:
                continue
            height = float(rng.uniform(1.0, min(1.75, lz - 0.5)))
            return CameraPose(
                (float(point[0, 0]), float(point[0, 1]), height),
                yaw=float(math.atan2(heading[1], heading[0]) + rng.uniform(-0.25, 0.25)),
                pitch=float(rng.uniform(-0.05, 0.4)),
                roll=float(rng.uniform(-0.05, 0.05)),
            )
        return None


def render_scene(
    seed: int,
    width: int | None = None,
    height: int | None = None,
    intrinsics: CameraIntrinsics | None = None,
) -> SyntheticFrame:
    """Render a random scene from its random plausible camera pose, both from ``seed``.

    Args:
        seed: Non-negative scene seed; the same seed gives the same frame.
        width: Image width; default 640, or the intrinsics' width.
        height: Image height; default 480, or the intrinsics' height.
        intrinsics: Camera; None uses the NYU Kinect camera scaled to the size.
    """
    return SyntheticScene.random(seed).render(None, width, height, intrinsics)
