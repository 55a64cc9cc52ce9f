"""Photographs of real surfaces in rendered rooms: sim.materials.PhotoTextures, the training
option data.synthetic_photo_textures and scripts/photo_textures.py."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from depth_estimation_ros.sim import SyntheticScene, render_scene
from depth_estimation_ros.sim.materials import (
    TEXTURE_SIZE,
    Material,
    PhotoTextures,
    photo_texture,
    texture_atlas,
)
from depth_training.config import ConfigError, load_config
from depth_training.datasets.build import build_datasets
from depth_training.datasets.synthetic import SyntheticDepthSource

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import photo_textures  # noqa: E402

# distinct solid colours (RGB): a texture made from one shows which photograph it came from
RED, GREEN, BLUE = (200, 30, 20), (20, 180, 40), (30, 40, 210)


def _write(path: Path, rgb: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.empty((size[1], size[0], 3), np.uint8)
    image[:] = rgb[::-1]  # OpenCV writes BGR
    assert cv2.imwrite(str(path), image)
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    _write(root / "wood" / "a.png", RED)
    _write(root / "wood" / "b.png", GREEN)
    _write(root / "wood_floor" / "c.png", BLUE, (64, 64))
    (root / "tiles").mkdir()  # an empty kind folder is allowed: tiles stay procedural
    (root / "wood" / "notes.txt").write_text("not an image")  # ignored
    return root


def test_photo_texture_is_square_rgb_at_texture_size(tmp_path: Path) -> None:
    path = tmp_path / "wide.png"
    image = np.zeros((30, 90, 3), np.uint8)
    image[:, :30] = (0, 0, 255)  # left third red (BGR), cropped away
    image[:, 30:60] = (255, 0, 0)  # the centre blue
    image[:, 60:] = (0, 255, 0)  # right third green, cropped away
    assert cv2.imwrite(str(path), image)
    tex = photo_texture(str(path))
    assert tex.shape == (TEXTURE_SIZE, TEXTURE_SIZE, 3) and tex.dtype == np.uint8
    assert not tex.flags.writeable
    # the centre square only, in RGB order
    assert np.all(tex[..., 2] == 255) and np.all(tex[..., :2] == 0)


def test_photo_texture_refuses_a_file_that_is_not_an_image(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(ValueError, match="bad.png is missing or not a readable PNG or JPEG"):
        photo_texture(str(bad))


def test_folder_is_read_by_kind(folder: Path) -> None:
    photos = PhotoTextures(folder, p=0.25)
    assert set(photos.photos) == {"wood", "wood_floor"}
    assert [Path(f).name for f in photos.photos["wood"]] == ["a.png", "b.png"]
    assert len(photos) == 3 and photos.p == 0.25
    assert "wood: 2" in repr(photos)


def _junk_jpeg(root: Path) -> None:
    (root / "wood").mkdir(parents=True)
    (root / "wood" / "x.jpg").write_bytes(b"junk")


@pytest.mark.parametrize(("make", "message"), [
    (lambda root: None, "does not exist"),
    (lambda root: _write(root / "marble" / "a.png", RED),
     "marble is not named after a texture kind"),
    (lambda root: (root / "wood").mkdir(parents=True), "has no PNG or JPEG image"),
    (_junk_jpeg, "x.jpg is missing or not a readable"),
])
def test_bad_folders_get_one_clear_sentence(tmp_path: Path, make, message: str) -> None:
    root = tmp_path / "photos"
    make(root)
    with pytest.raises(ValueError, match=message):
        PhotoTextures(root)


def test_probability_outside_0_1_is_refused(folder: Path) -> None:
    with pytest.raises(ValueError, match=r"must be in \[0, 1\], got 1.5"):
        PhotoTextures(folder, p=1.5)


def _materials() -> tuple[Material, ...]:
    return (Material("wood", 1, (0.9, 0.8, 0.7), 1.0), Material("paint", 0, (1, 1, 1), 2.0),
            Material("wood_floor", 2, (1, 1, 1), 1.5), Material("wood", 0, (1, 1, 1), None),
            Material("tiles", 3, (1, 1, 1), 1.0))


def test_dress_swaps_only_kinds_with_photographs(folder: Path) -> None:
    photos = PhotoTextures(folder, p=1.0)
    before = _materials()
    after = photos.dress(before, np.random.default_rng(0))
    assert len(after) == len(before)
    for old, new in zip(before, after, strict=True):
        if old.texture in ("wood", "wood_floor"):
            assert new.photo in photos.photos[old.texture]
            assert (new.texture, new.variant, new.tint) == (old.texture, old.variant, old.tint)
            if old.tile_size is None:  # stretched once over a face: still so
                assert new.tile_size is None
            else:  # a photograph repeats at 0.4–1 of the procedural tile
                assert 0.4 * old.tile_size <= new.tile_size <= old.tile_size
        else:  # no photograph of the kind (tiles' folder is empty), or none asked for
            assert new == old


def test_dress_probability_and_determinism(folder: Path) -> None:
    many = tuple(Material("wood", i % 4, (1, 1, 1), 1.0) for i in range(400))
    none = PhotoTextures(folder, p=0.0).dress(many, np.random.default_rng(1))
    assert none == many
    photos = PhotoTextures(folder, p=0.5)
    a = photos.dress(many, np.random.default_rng(1))
    assert a == photos.dress(many, np.random.default_rng(1))
    assert a != photos.dress(many, np.random.default_rng(2))
    swapped = [m.photo for m in a if m.photo is not None]
    assert 150 < len(swapped) < 250  # about half
    assert {Path(f).name for f in swapped} == {"a.png", "b.png"}  # both drawn
    tiles = np.array([m.tile_size for m in a if m.photo is not None])
    assert tiles.min() >= 0.4 and tiles.max() <= 1.0 and tiles.max() - tiles.min() > 0.4
    assert all(m.tile_size == 1.0 for m in a if m.photo is None)


def test_atlas_gives_a_photograph_its_own_slot(folder: Path) -> None:
    red = str(folder / "wood" / "a.png")
    materials = (Material("wood", 0), Material("wood", 0, photo=red),
                 Material("wood", 0, (0.5, 0.5, 0.5), photo=red))
    atlas, slots = texture_atlas(materials)
    assert slots == [0, 1, 1]
    texels = atlas.view(np.uint8).reshape(-1, TEXTURE_SIZE * TEXTURE_SIZE, 4)
    assert texels.shape[0] == 2
    assert np.all(texels[1, :, :3] == RED) and np.all(texels[1, :, 3] == 255)
    assert not np.all(texels[0, :, :3] == RED)


def test_rendered_room_keeps_its_geometry_and_shows_the_photographs(folder: Path) -> None:
    photos = PhotoTextures(folder, p=1.0)
    for seed in range(6):
        plain = SyntheticScene.random(seed)
        dressed = SyntheticScene.random(seed, photos)
        assert dressed.room_size == plain.room_size and dressed.boxes == plain.boxes
        assert dressed.default_pose == plain.default_pose
        assert dressed.close_pose == plain.close_pose
        for view in ("room", "close", "table"):
            a = render_scene(seed, 80, 60, view=view)
            b = render_scene(seed, 80, 60, view=view, photos=photos)
            np.testing.assert_array_equal(a.depth, b.depth)
        if any(m.texture == "wood_floor" for m in plain.materials):
            floor = render_scene(seed, 80, 60)
            dressed_floor = render_scene(seed, 80, 60, photos=photos)
            assert not np.array_equal(floor.rgb, dressed_floor.rgb)
            # the floor shows the blue photograph: the image turns bluer
            assert (dressed_floor.rgb[..., 2].astype(float) - dressed_floor.rgb[..., 0]).mean() > (
                floor.rgb[..., 2].astype(float) - floor.rgb[..., 0]).mean()
            break
    else:
        pytest.fail("no room with a wooden floor in the first six seeds")


def test_synthetic_source_renders_photographs_with_the_same_depth(folder: Path) -> None:
    photos = PhotoTextures(folder, p=1.0)
    plain = SyntheticDepthSource(4, seed=3, width=64, height=48, close_fraction=0.5)
    dressed = SyntheticDepthSource(4, seed=3, width=64, height=48, close_fraction=0.5,
                                   photos=photos)
    changed = 0
    for i in range(4):
        np.testing.assert_array_equal(plain.depth(i), dressed.depth(i))
        changed += not np.array_equal(plain.image(i), dressed.image(i))
    assert changed >= 1
    assert "photos=PhotoTextures(" in repr(dressed)


def _cfg(tmp_path: Path, *overrides: str):
    return load_config(None, ["model.variant=compact", "data.synthetic_train=2",
                              "data.synthetic_val=1", "data.width=32", "data.height=24",
                              *overrides])


def test_training_renders_photographs_in_training_scenes_only(tmp_path: Path,
                                                               folder: Path) -> None:
    from depth_estimation_ros.core.model import PreprocessConfig

    cfg = _cfg(tmp_path, f"data.synthetic_photo_textures={folder}",
               "data.synthetic_photo_p=1.0")
    train, val = build_datasets(cfg, PreprocessConfig.full_frame())
    assert train.source.photos is not None and train.source.photos.p == 1.0
    assert val.source.photos is None  # validation rooms stay comparable across runs
    plain, _ = build_datasets(_cfg(tmp_path), PreprocessConfig.full_frame())
    assert plain.source.photos is None


def test_training_config_refusals(tmp_path: Path) -> None:
    from depth_estimation_ros.core.model import PreprocessConfig

    with pytest.raises(ConfigError, match=r"synthetic_photo_p must be in \[0, 1\]"):
        _cfg(tmp_path, "data.synthetic_photo_p=-0.1")
    cfg = _cfg(tmp_path, f"data.synthetic_photo_textures={tmp_path / 'nowhere'}")
    with pytest.raises(ConfigError, match="data.synthetic_photo_textures: .*nowhere does not "
                                          "exist"):
        build_datasets(cfg, PreprocessConfig.full_frame())


def _pat(path: Path, pixels: np.ndarray, name: bytes = b"test\0", magic: bytes = b"GPAT",
         version: int = 1) -> Path:
    h, w, depth = pixels.shape
    header = struct.pack(">5I4s", 24 + len(name), version, w, h, depth, magic) + name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + pixels.astype(np.uint8).tobytes())
    return path


def test_gimp_pattern_reader_decodes_every_pixel_layout(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    np.testing.assert_array_equal(photo_textures.read_pat(_pat(tmp_path / "c.pat", rgb)), rgb)
    rgba = np.concatenate([rgb, np.full((5, 7, 1), 9, np.uint8)], axis=2)
    np.testing.assert_array_equal(photo_textures.read_pat(_pat(tmp_path / "a.pat", rgba)), rgb)
    grey = rgb[..., :1]
    out = photo_textures.read_pat(_pat(tmp_path / "g.pat", grey))
    np.testing.assert_array_equal(out, np.repeat(grey, 3, axis=2))


@pytest.mark.parametrize(("kwargs", "cut", "message"), [
    ({"magic": b"GBRH"}, 0, "not a version-1 GIMP pattern"),
    ({"version": 2}, 0, "not a version-1 GIMP pattern"),
    ({}, 10, "do not fit"),
])
def test_gimp_pattern_reader_refuses_other_files(tmp_path: Path, kwargs, cut: int,
                                                  message: str) -> None:
    path = _pat(tmp_path / "x.pat", np.zeros((4, 4, 3)), **kwargs)
    if cut:
        path.write_bytes(path.read_bytes()[:-cut])
    with pytest.raises(ValueError, match=message):
        photo_textures.read_pat(path)


def test_script_sorts_gimp_patterns_into_a_folder_the_renderer_reads(tmp_path: Path,
                                                                      capsys) -> None:
    patterns = tmp_path / "patterns"
    red = np.zeros((8, 8, 3), np.uint8)
    red[:] = RED
    _pat(patterns / "Wood" / "wood1.pat", red)
    _pat(patterns / "Stone" / "marble1.pat", np.full((8, 8, 1), 77, np.uint8))
    out = tmp_path / "photos"
    assert photo_textures.main([str(out), "--gimp", str(patterns)]) == 0
    # wood1 serves as table wood and as a wooden floor; marble1 as tiles
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == [
        "tiles/gimp-marble1.png", "wood/gimp-wood1.png", "wood_floor/gimp-wood1.png"]
    assert "wrote 3 textures" in capsys.readouterr().out
    photos = PhotoTextures(out)
    assert np.all(photo_texture(photos.photos["wood"][0]) == RED)
    assert np.all(photo_texture(photos.photos["tiles"][0]) == 77)
    assert photo_textures.main([str(out), "--gimp", str(tmp_path / "none")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert photo_textures.main([str(out), "--gimp", str(tmp_path)]) == 1  # nothing listed
    assert photo_textures.main([str(out)]) == 2  # no source at all
    assert "give --gimp, --sweethome3d or both" in capsys.readouterr().err


def _jpeg(rgb: tuple[int, int, int]) -> bytes:
    image = np.empty((16, 16, 3), np.uint8)
    image[:] = rgb[::-1]
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 100])
    assert ok
    return data.tobytes()


def test_script_takes_sweet_home_3d_textures_from_its_jar_and_furniture(
        tmp_path: Path, capsys) -> None:
    import zipfile

    folder = tmp_path / "sweethome3d"
    (folder / "furniture").mkdir(parents=True)
    jar_tiles = photo_textures.SWEETHOME3D_KINDS["tiles"][0]  # (jar, its first tile image)
    oak = photo_textures.SWEETHOME3D_KINDS["wood"][0]  # (a furniture library, oak)
    with zipfile.ZipFile(folder / jar_tiles[0], "w") as zf:
        zf.writestr(jar_tiles[1], _jpeg(BLUE))
        zf.writestr("com/eteks/other.txt", "not listed: ignored")
    with zipfile.ZipFile(folder / oak[0], "w") as zf:
        zf.writestr(oak[1], _jpeg(RED))
    out = tmp_path / "photos"
    assert photo_textures.main([str(out), "--sweethome3d", str(folder)]) == 0
    printed = capsys.readouterr()
    assert "wrote 2 textures" in printed.out
    assert "not there" in printed.err and "not in the archive" in printed.err
    photos = PhotoTextures(out)
    assert [Path(p).name for p in photos.photos["tiles"]] == [
        "sh3d-" + Path(jar_tiles[1]).name]
    tiles = photo_texture(photos.photos["tiles"][0]).astype(int)
    wood = photo_texture(photos.photos["wood"][0]).astype(int)
    assert np.abs(tiles - BLUE).max() <= 8 and np.abs(wood - RED).max() <= 8  # JPEG, RGB
    # an entry that is not an image, and an archive that is not a zip, get their sentence
    with zipfile.ZipFile(folder / oak[0], "w") as zf:
        zf.writestr(oak[1], b"no picture here")
    assert photo_textures.main([str(out), "--sweethome3d", str(folder)]) == 1
    assert "is not an image OpenCV can read" in capsys.readouterr().err
    (folder / oak[0]).write_bytes(b"plain bytes")
    assert photo_textures.main([str(out), "--sweethome3d", str(folder)]) == 1
    assert "is not a zip archive" in capsys.readouterr().err
