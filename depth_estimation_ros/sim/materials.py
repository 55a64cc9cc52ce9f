"""Surface materials and the textures they use: seeded procedural ones (planks, tiles,
fabric, ...) and, optionally, photographs of real surfaces (:class:`PhotoTextures`)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from depth_estimation_ros.sim.camera import Vec3

__all__ = ["PHOTO_SUFFIXES", "TEXTURE_KINDS", "TEXTURE_SIZE", "Material", "PhotoTextures",
           "photo_texture", "procedural_texture"]

TEXTURE_SIZE = 256  # texels per side of every procedural texture (a power of two)


@dataclass(frozen=True)
class Material:
    """A textured surface finish.

    Attributes:
        texture: Procedural texture kind, one of :data:`TEXTURE_KINDS`.
        variant: Which seeded variant of that kind.
        tint: Per-channel multiplier applied to the texture colour.
        tile_size: Metres covered by one texture repeat; None stretches the texture once
            over each face (pictures, doors, windows).
        photo: Path of a photograph used instead of the procedural texture (see
            :class:`PhotoTextures`); None for the procedural one.
    """

    texture: str
    variant: int = 0
    tint: Vec3 = (1.0, 1.0, 1.0)
    tile_size: float | None = 1.0
    photo: str | None = None


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
TEXTURE_VARIANTS = 4  # random scenes draw variants 0..3 of each kind


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


PHOTO_SUFFIXES = (".png", ".jpg", ".jpeg")


@functools.lru_cache(maxsize=256)
def photo_texture(path: str) -> np.ndarray:
    """A photograph as a texture: read once, centre-cropped square, resized to
    TEXTURE_SIZE × TEXTURE_SIZE RGB.

    Raises:
        ValueError: a file that is missing or is not a readable PNG or JPEG image.
    """
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)  # (H, W, 3) BGR, or None
    if image is None:
        raise ValueError(f"photo texture {path} is missing or not a readable PNG or JPEG "
                         "image")
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = image[top:top + side, left:left + side]
    interpolation = cv2.INTER_AREA if side > TEXTURE_SIZE else cv2.INTER_CUBIC
    rgb = cv2.resize(square, (TEXTURE_SIZE, TEXTURE_SIZE), interpolation=interpolation)[..., ::-1]
    rgb = np.ascontiguousarray(rgb)
    rgb.flags.writeable = False
    return rgb


class PhotoTextures:
    """Photographs of real surfaces that replace procedural textures in rendered rooms.

    A folder holds one sub-folder per texture kind it replaces, named as in
    :data:`TEXTURE_KINDS` (``wood/``, ``wood_floor/``, ``tiles/``, ``plaster/``, ``fabric/``,
    ...), each with PNG or JPEG images; repeating kinds (all but ``picture``, ``window`` and
    ``door``) want tileable images, such as GIMP's patterns or Sweet Home 3D's textures
    (``scripts/photo_textures.py`` sorts those into such a folder). :meth:`dress` gives
    each material of a kind that has photographs, with probability ``p``, one of them drawn
    at random, keeping the material's tint and shrinking its tile size by a random 0.4–1 (a
    photograph holds more detail per repeat than a procedural tile); the rest keep their
    procedural texture.

    Args:
        folder: the folder described above.
        p: probability per material, in [0, 1].

    Raises:
        ValueError: a missing folder, a sub-folder that is not a texture kind, no image at
            all, an unreadable image, or ``p`` outside [0, 1].
    """

    def __init__(self, folder: str | os.PathLike[str], p: float = 0.5) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"the photo texture probability must be in [0, 1], got {p}")
        root = Path(folder)
        if not root.is_dir():
            raise ValueError(f"photo texture folder {root} does not exist; expected a folder "
                             f"with one sub-folder per texture kind ({', '.join(TEXTURE_KINDS)})")
        photos: dict[str, tuple[str, ...]] = {}
        for sub in sorted(d for d in root.iterdir() if d.is_dir()):
            if sub.name not in TEXTURE_KINDS:
                raise ValueError(f"photo texture folder {sub} is not named after a texture "
                                 f"kind; expected one of {', '.join(TEXTURE_KINDS)}")
            files = sorted(str(f) for f in sub.iterdir()
                           if f.is_file() and f.suffix.lower() in PHOTO_SUFFIXES)
            if files:
                photos[sub.name] = tuple(files)
        if not photos:
            raise ValueError(f"photo texture folder {root} has no PNG or JPEG image in a "
                             f"texture-kind sub-folder ({', '.join(TEXTURE_KINDS)})")
        for files in photos.values():
            for f in files:
                photo_texture(f)  # read every image now: a bad file fails here, not mid-run
        self.folder = root
        self.p = float(p)
        self.photos = photos

    def __len__(self) -> int:
        return sum(len(v) for v in self.photos.values())

    def __repr__(self) -> str:
        kinds = ", ".join(f"{k}: {len(v)}" for k, v in self.photos.items())
        return f"PhotoTextures({str(self.folder)!r}, p={self.p:g}; {kinds})"

    def dress(self, materials: Sequence[Material], rng: np.random.Generator
              ) -> tuple[Material, ...]:
        """``materials`` with some procedural textures swapped for photographs (see the
        class); the same ``rng`` state gives the same result."""
        out = []
        for material in materials:
            choices = self.photos.get(material.texture)
            draw, pick, scale = rng.random(3)  # three draws per material, always
            if choices and material.photo is None and draw < self.p:
                tile = material.tile_size
                material = replace(material, photo=choices[int(pick * len(choices))],
                                   tile_size=None if tile is None else tile * (0.4 + 0.6 * scale))
            out.append(material)
        return tuple(out)


@functools.lru_cache(maxsize=128)
def _packed_texture(kind: str, variant: int, photo: str | None = None) -> np.ndarray:
    """A texture as (T * T,) uint32 whose bytes in memory are r, g, b, 255."""
    texture = procedural_texture(kind, variant) if photo is None else photo_texture(photo)
    rgba = np.empty(texture.shape[:2] + (4,), dtype=np.uint8)
    rgba[..., :3] = texture
    rgba[..., 3] = 255
    packed = rgba.reshape(-1, 4).view(np.uint32).reshape(-1)
    packed.flags.writeable = False
    return packed


def texture_atlas(materials: Sequence[Material]) -> tuple[np.ndarray, list[int]]:
    """The textures of ``materials`` packed in one atlas, and each material's slot in it.

    Returns:
        ``(slots * T * T,)`` uint32 atlas, each texel the four bytes r, g, b, 255, with one
        slot of T * T texels per distinct (kind, variant, photo); and the slot of every material.
    """
    keys: list[tuple[str, int, str | None]] = []
    slots: list[int] = []
    for material in materials:
        key = (material.texture, material.variant, material.photo)
        if key not in keys:
            keys.append(key)
        slots.append(keys.index(key))
    atlas = np.concatenate([_packed_texture(*key) for key in keys])
    return atlas, slots
