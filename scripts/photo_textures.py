"""Sort photographs of real surfaces into a photo-texture folder for the renderer.

Two Debian packages hold tileable photographs of the surfaces of rooms (both GPL or CC; they
stay out of this repository), so a training machine gets them without installing either
program:

- ``gimp-data``: GIMP's patterns (wood, parquet, marble, stone, paper, cloth, leather), in
  GIMP's own ``.pat`` format;
- ``sweethome3d`` and ``sweethome3d-furniture``: Sweet Home 3D's floor and wall textures
  (tiles, parquet, plaster, brick) inside its jar, and the woods, marbles and fabrics of its
  furniture libraries (``furniture/*.sh3f``, zip files), all JPEG.

    apt-get download gimp-data sweethome3d sweethome3d-furniture
    for deb in *.deb; do dpkg-deb -x "$deb" debs; done
    .venv/bin/python scripts/photo_textures.py photo_textures \
        --gimp debs/usr/share/gimp/2.0/patterns --sweethome3d debs/usr/share/sweethome3d

writes ``photo_textures/<kind>/<source>-<name>.png|jpg``, one sub-folder per texture kind of
the renderer (:data:`GIMP_KINDS` and :data:`SWEETHOME3D_KINDS` say which image goes where),
ready for ``data.synthetic_photo_textures`` (``depth_estimation_ros.sim.materials.
PhotoTextures``; docs/weights.md says what it measured). Either source may be left out.

A ``.pat`` file (GIMP's pattern format, version 1) is a big-endian header — header size,
version, width, height, bytes per pixel (1 grey, 2 grey + alpha, 3 RGB, 4 RGBA), the magic
``GPAT`` and a NUL-terminated name — then the pixels, row by row.
"""

from __future__ import annotations

import argparse
import struct
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np

from depth_estimation_ros.core.atomic import atomic_write_bytes

# texture kind -> pattern files (relative to GIMP's patterns folder) that look like it
GIMP_KINDS: dict[str, tuple[str, ...]] = {
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


_SH3D_JAR = "sweethome3d.jar"
_SH3D_TEXTURES = "com/eteks/sweethome3d/io/resources/textures/"
# texture kind -> (archive under Sweet Home 3D's folder, image inside it) that look like it
SWEETHOME3D_KINDS: dict[str, tuple[tuple[str, str], ...]] = {
    "tiles": tuple((_SH3D_JAR, _SH3D_TEXTURES + f"{name}.jpg") for name in (
        "beigeTile", "blackAndWhiteTiles", "blueTiles", "darkBlueTile", "greyTile",
        "lightBlueTile", "redTiles", "stoneTiles", "wallBeigeTile")) + (
        ("furniture/BlendSwap-CC-0.sh3f", "blendswap-cc-0/drawersCabinet/marble_14.jpg"),
        ("furniture/BlendSwap-CC-BY.sh3f", "blendswap-cc-by/fountain/white-marble.jpg"),
        ("furniture/Scopia.sh3f", "scopia/bathroom_vanity/marble_public_dom_clair.jpg"),
        ("furniture/Scopia.sh3f", "scopia/aquarium/granite.jpg")),
    "wood_floor": (
        (_SH3D_JAR, _SH3D_TEXTURES + "woodenFloor.jpg"),
        (_SH3D_JAR, _SH3D_TEXTURES + "oldWoodenFloor.jpg"),
        ("furniture/BlendSwap-CC-BY.sh3f",
         "blendswap-cc-by/kitchenChair/Wood_plancks_003_COLOR.jpg"),
        ("furniture/Scopia.sh3f", "scopia/contemp_living_room/big_brown_wood_tile.jpg")),
    "plaster": tuple((_SH3D_JAR, _SH3D_TEXTURES + f"{name}.jpg") for name in (
        "roughcast", "marbleWall", "stone2Wall", "stone3Wall")),
    "wallpaper": tuple((_SH3D_JAR, _SH3D_TEXTURES + f"{name}.jpg") for name in (
        "smallBricks", "smallRedBricks", "smallWhiteBricks", "stoneWall")),
    "wood": (
        ("furniture/BlendSwap-CC-0.sh3f", "blendswap-cc-0/oakTable/oak.jpg"),
        ("furniture/BlendSwap-CC-0.sh3f", "blendswap-cc-0/drawersCabinet/american_oak.jpg"),
        ("furniture/BlendSwap-CC-0.sh3f", "blendswap-cc-0/antiqueChair/cherry.jpg"),
        ("furniture/BlendSwap-CC-0.sh3f", "blendswap-cc-0/table/Wood_013_COLOR.jpg"),
        ("furniture/BlendSwap-CC-0.sh3f", "blendswap-cc-0/bookcase/wood11.jpg"),
        ("furniture/BlendSwap-CC-0.sh3f", "blendswap-cc-0/bedWithTexture/wood10.jpg"),
        ("furniture/BlendSwap-CC-0.sh3f", "blendswap-cc-0/speaker2/wood12.jpg"),
        ("furniture/BlendSwap-CC-0.sh3f", "blendswap-cc-0/televisionCabinet/wood9.jpg"),
        ("furniture/BlendSwap-CC-BY.sh3f", "blendswap-cc-by/workbench/beech.jpg"),
        ("furniture/BlendSwap-CC-BY.sh3f", "blendswap-cc-by/plaidChair/pine.jpg"),
        ("furniture/BlendSwap-CC-BY.sh3f", "blendswap-cc-by/bedsideTable/Wood1.jpg"),
        ("furniture/Scopia.sh3f", "scopia/dining_room/butcherblock_tileable.jpg"),
        ("furniture/Scopia.sh3f", "scopia/wooden_office_teak_table/teak_tile.jpg"),
        ("furniture/Scopia.sh3f", "scopia/double_vanity/dark_wood.jpg"),
        ("furniture/Scopia.sh3f", "scopia/wood_bank/madera_pino.jpg"),
        ("furniture/Scopia.sh3f", "scopia/parque/burlwood2.jpg"),
        ("furniture/Scopia.sh3f", "scopia/coffee-table2/fustapija_tileable.jpg")),
    "fabric": (
        ("furniture/BlendSwap-CC-0.sh3f", "blendswap-cc-0/couch2/Fabric_011_COLOR.jpg"),
        ("furniture/BlendSwap-CC-0.sh3f", "blendswap-cc-0/tableWithTablecloth/red_checked.jpg"),
        ("furniture/BlendSwap-CC-BY.sh3f", "blendswap-cc-by/cornerSofa/Fabric_04.jpg"),
        ("furniture/BlendSwap-CC-BY.sh3f", "blendswap-cc-by/plaidChair/cloth-texture-19.jpg"),
        ("furniture/BlendSwap-CC-BY.sh3f", "blendswap-cc-by/sofa3/dark-brown_leather.jpg"),
        ("furniture/Scopia.sh3f", "scopia/convertible-sofa-BZ-closed/texturefabric.jpg")),
    "carpet": (
        ("furniture/BlendSwap-CC-BY.sh3f", "blendswap-cc-by/cornerSofa/Fabric_04.jpg"),
        ("furniture/BlendSwap-CC-0.sh3f", "blendswap-cc-0/couch2/Fabric_011_COLOR.jpg")),
    "picture": (
        (_SH3D_JAR, _SH3D_TEXTURES + "cloudy.jpg"),
        (_SH3D_JAR, _SH3D_TEXTURES + "grass.jpg"),
        (_SH3D_JAR, _SH3D_TEXTURES + "boxTree.jpg"),
        (_SH3D_JAR, _SH3D_TEXTURES + "pebbles.jpg"),
        ("furniture/KatorLegaz.sh3f", "katorlegaz/oriental-rug/rug.jpg")),
}


def _write(out: Path, kind: str, name: str, data: bytes) -> None:
    """Write ``data`` as ``out/kind/name``."""
    dst = out / kind / name
    dst.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(dst, data)


def convert_gimp(patterns: Path, out: Path) -> int:
    """Write ``out/<kind>/gimp-<name>.png`` for every pattern of :data:`GIMP_KINDS` found;
    the count."""
    written = 0
    for kind, files in GIMP_KINDS.items():
        for rel in files:
            src = patterns / rel
            if not src.is_file():
                print(f"skipped {src}: not there", file=sys.stderr)
                continue
            rgb = read_pat(src)
            ok, png = cv2.imencode(".png", rgb[..., ::-1])
            if not ok:
                raise ValueError(f"{src}: its pixels could not be encoded as PNG")
            _write(out, kind, f"gimp-{src.stem}.png", png.tobytes())
            written += 1
    return written


def convert_sweethome3d(folder: Path, out: Path) -> int:
    """Write ``out/<kind>/sh3d-<name>.jpg`` for every image of :data:`SWEETHOME3D_KINDS`
    found in Sweet Home 3D's folder (its jar, ``furniture/*.sh3f``); the count."""
    written = 0
    archives: dict[str, zipfile.ZipFile | None] = {}
    try:
        for kind, entries in SWEETHOME3D_KINDS.items():
            for archive, member in entries:
                if archive not in archives:
                    path = folder / archive
                    try:
                        archives[archive] = zipfile.ZipFile(path) if path.is_file() else None
                    except zipfile.BadZipFile:
                        raise ValueError(f"{path} is not a zip archive (a jar or .sh3f "
                                         "file of Sweet Home 3D)") from None
                    if archives[archive] is None:
                        print(f"skipped {path}: not there", file=sys.stderr)
                zf = archives[archive]
                if zf is None:
                    continue
                try:
                    data = zf.read(member)
                except KeyError:
                    print(f"skipped {folder / archive}:{member}: not in the archive",
                          file=sys.stderr)
                    continue
                if cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) is None:
                    raise ValueError(f"{folder / archive}:{member} is not an image OpenCV "
                                     "can read")
                _write(out, kind, f"sh3d-{Path(member).name}", data)
                written += 1
    finally:
        for zf in archives.values():
            if zf is not None:
                zf.close()
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path, help="the photo-texture folder to write")
    ap.add_argument("--gimp", type=Path, metavar="PATTERNS",
                    help="GIMP's patterns folder (usr/share/gimp/2.0/patterns of gimp-data)")
    ap.add_argument("--sweethome3d", type=Path, metavar="FOLDER",
                    help="Sweet Home 3D's folder (usr/share/sweethome3d of the sweethome3d "
                         "and sweethome3d-furniture packages)")
    args = ap.parse_args(argv)
    sources = [(args.gimp, convert_gimp, "GIMP's patterns folder"),
               (args.sweethome3d, convert_sweethome3d, "Sweet Home 3D's folder")]
    if args.gimp is None and args.sweethome3d is None:
        print("error: give --gimp, --sweethome3d or both", file=sys.stderr)
        return 2
    total = 0
    for folder, convert, what in sources:
        if folder is None:
            continue
        if not folder.is_dir():
            print(f"error: {folder} is not a folder; expected {what}", file=sys.stderr)
            return 2
        try:
            n = convert(folder, args.out)
        except (OSError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        if n == 0:
            print(f"error: no image of the list found under {folder}", file=sys.stderr)
            return 1
        total += n
    print(f"wrote {total} textures under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
