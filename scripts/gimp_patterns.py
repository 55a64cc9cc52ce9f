"""Sort GIMP's photographic patterns into a photo-texture folder for the renderer.

GIMP's patterns are small, tileable photographs of wood, stone, paper and cloth. Debian's
``gimp-data`` package ships them (GPL; they stay out of this repository), so a training
machine gets them without GIMP itself:

    apt-get download gimp-data && dpkg-deb -x gimp-data_*.deb gimp-data
    .venv/bin/python scripts/gimp_patterns.py \
        gimp-data/usr/share/gimp/2.0/patterns photo_textures

writes ``photo_textures/<kind>/<name>.png``, one sub-folder per texture kind of the renderer
(:data:`KINDS` says which pattern goes where), ready for ``data.synthetic_photo_textures``
(``depth_estimation_ros.sim.materials.PhotoTextures``; docs/weights.md says what it measured).

A ``.pat`` file (GIMP's pattern format, version 1) is a big-endian header — header size,
version, width, height, bytes per pixel (1 grey, 2 grey + alpha, 3 RGB, 4 RGBA), the magic
``GPAT`` and a NUL-terminated name — then the pixels, row by row.
"""

from __future__ import annotations

import argparse
import struct
import sys
from pathlib import Path

import cv2
import numpy as np

from depth_estimation_ros.core.atomic import atomic_write_bytes

# texture kind -> pattern files (relative to GIMP's patterns folder) that look like it
KINDS: dict[str, tuple[str, ...]] = {
    "wood": ("Wood/wood1.pat", "Wood/wood2.pat", "Wood/wood3.pat", "Wood/wood4.pat",
             "Wood/wood5.pat", "Wood/walnut.pat", "Wood/pine.pat", "Wood/burlwood.pat"),
    "wood_floor": ("Wood/parque1.pat", "Wood/parque2.pat", "Wood/parque3.pat",
                   "Wood/wood1.pat", "Wood/wood4.pat", "Wood/pine.pat"),
    "tiles": ("Stone/marble1.pat", "Stone/marble2.pat", "Stone/marble3.pat",
              "Stone/pink_marble.pat", "Stone/granite1.pat", "Stone/slate.pat",
              "Stone/stone33.pat"),
    "plaster": ("Paper/paper.pat", "Paper/crinklepaper.pat", "Stone/cracked.pat",
                "Stone/granite1.pat"),
    "wallpaper": ("Paper/crinklepaper.pat", "Legacy/fibers.pat", "Stone/brick.pat"),
    "fabric": ("Fabric/burlap.pat", "Animal/leather.pat"),
    "carpet": ("Fabric/burlap.pat", "Legacy/fibers.pat"),
    "cardboard": ("Wood/corkboard.pat", "Paper/crinklepaper.pat"),
    "picture": ("Sky/sky.pat", "Plant/leaves.pat", "Stone/rock.pat", "Water/pool.pat",
                "Food/java.pat", "Animal/leopard.pat"),
}

_HEADER = struct.Struct(">5I4s")  # header size, version, width, height, bytes; "GPAT"


def read_pat(path: Path) -> np.ndarray:
    """A GIMP ``.pat`` file as (H, W, 3) uint8 RGB (grey repeated, alpha dropped).

    Raises:
        ValueError: not a version-1 GIMP pattern, or its pixels are cut short.
    """
    data = path.read_bytes()
    if len(data) < _HEADER.size:
        raise ValueError(f"{path} is not a GIMP pattern: {len(data)} bytes")
    size, version, width, height, depth, magic = _HEADER.unpack_from(data)
    if magic != b"GPAT" or version != 1 or depth not in (1, 2, 3, 4) or size < _HEADER.size:
        raise ValueError(f"{path} is not a version-1 GIMP pattern (magic {magic!r}, version "
                         f"{version}, {depth} bytes per pixel)")
    pixels = np.frombuffer(data, np.uint8, count=width * height * depth, offset=size) \
        if len(data) >= size + width * height * depth else None
    if pixels is None or width < 1 or height < 1:
        raise ValueError(f"{path}: {width}x{height}x{depth} pixels do not fit its "
                         f"{len(data)} bytes")
    image = pixels.reshape(height, width, depth)
    if depth <= 2:
        return np.repeat(image[..., :1], 3, axis=2)
    return np.ascontiguousarray(image[..., :3])


def convert(patterns: Path, out: Path) -> int:
    """Write ``out/<kind>/<name>.png`` for every pattern of :data:`KINDS` found; the count."""
    written = 0
    for kind, files in KINDS.items():
        for rel in files:
            src = patterns / rel
            if not src.is_file():
                print(f"skipped {src}: not there", file=sys.stderr)
                continue
            rgb = read_pat(src)
            ok, png = cv2.imencode(".png", rgb[..., ::-1])
            if not ok:
                raise ValueError(f"{src}: its pixels could not be encoded as PNG")
            dst = out / kind / f"{src.stem}.png"
            dst.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(dst, png.tobytes())
            written += 1
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("patterns", type=Path, help="GIMP's patterns folder (…/gimp/2.0/patterns)")
    ap.add_argument("out", type=Path, help="the photo-texture folder to write")
    args = ap.parse_args(argv)
    if not args.patterns.is_dir():
        print(f"error: {args.patterns} is not a folder; expected GIMP's patterns folder "
              "(usr/share/gimp/2.0/patterns of the gimp-data package)", file=sys.stderr)
        return 2
    try:
        n = convert(args.patterns, args.out)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if n == 0:
        print(f"error: no pattern of the list found under {args.patterns}", file=sys.stderr)
        return 1
    print(f"wrote {n} textures under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
