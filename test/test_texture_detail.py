"""Texture filtering and surface grain in rendered rooms: sim.shading.Lighting's mipmaps and
detail, SyntheticScene.random(detail=True) and the training option data.synthetic_detail."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from depth_estimation_ros.sim import SyntheticScene, render_scene
from depth_estimation_ros.sim.camera import CameraPose
from depth_estimation_ros.sim.materials import TEXTURE_SIZE, Material, procedural_texture
from depth_estimation_ros.sim.shading import (
    _MIP_OFFSET,
    Lighting,
    _detail_pyramid,
    _mip_atlas,
    _pyramid,
)
from depth_training.config import load_config
from depth_training.datasets.build import build_datasets

ROOM = (30.0, 4.0, 3.0)  # a long corridor: its far wall is 29 m from the camera
# the checker's squares are 1/8 of a tile; a 0.1 m tile makes them 1.25 cm, sub-pixel far away
CHECKER = Material("checker", 0, (1.0, 1.0, 1.0), 0.1)
PLAIN = Material("paint", 0, (1.0, 1.0, 1.0), None)
LOOK_ALONG = CameraPose((0.5, 2.0, 1.5), yaw=0.0, pitch=0.0)  # towards the far wall (+x)
NOSE_TO_WALL = CameraPose((29.7, 2.0, 1.5), yaw=0.0, pitch=0.0)  # 0.3 m from the same wall


def _scene(pose: CameraPose, tile: float = 0.1, **light) -> SyntheticScene:
    lighting = Lighting(vignette=0.0, sun_strength=0.0, light_intensity=0.0, ambient=1.0,
                        **light)
    walls = dataclasses.replace(CHECKER, tile_size=tile)
    return SyntheticScene(ROOM, (), (walls, PLAIN, PLAIN), room_materials=(0, 1, 2),
                          lighting=lighting, default_pose=pose)


def _far_wall(frame) -> np.ndarray:
    return frame.depth > 29.45  # the wall at x = 30 m, seen straight on from x = 0.5 m


def test_pyramid_levels_are_box_averages_of_the_texture() -> None:
    texture = procedural_texture("wood", 1).astype(np.float32)
    levels = _pyramid(texture)
    assert [level.shape[0] for level in levels] == [TEXTURE_SIZE >> k for k in range(9)]
    np.testing.assert_allclose(levels[3][5, 7], texture[40:48, 56:64].mean((0, 1)), atol=1e-3)
    np.testing.assert_allclose(levels[-1][0, 0], texture.mean((0, 1)), atol=1e-3)
    # the packed atlas keeps each slot's pyramid in order, level 0 being the texture itself
    from depth_estimation_ros.sim.materials import texture_atlas

    atlas, _ = texture_atlas([CHECKER, Material("wood", 1)])
    mip = _mip_atlas(atlas).view(np.uint8).reshape(2, -1, 4)
    np.testing.assert_array_equal(mip[1, :TEXTURE_SIZE ** 2, :3].reshape(texture.shape),
                                  texture.astype(np.uint8))
    level3 = mip[1, _MIP_OFFSET[3]:_MIP_OFFSET[4], :3].reshape(32, 32, 3)
    np.testing.assert_allclose(level3, levels[3], atol=0.51)


def test_mipmaps_average_a_far_checker_instead_of_aliasing_it() -> None:
    nearest = _scene(LOOK_ALONG).render()
    filtered = _scene(LOOK_ALONG, mipmaps=True).render()
    np.testing.assert_array_equal(filtered.depth, nearest.depth)
    far = _far_wall(nearest)
    assert far.sum() > 100
    checker = procedural_texture("checker", 0).astype(np.float64).mean(-1)
    grey_nearest = nearest.rgb.astype(np.float64).mean(-1)[far]
    grey_filtered = filtered.rgb.astype(np.float64).mean(-1)[far]
    # nearest texels alias the sub-pixel squares into speckle spanning dark and light ...
    assert grey_nearest.std() > 0.3 * checker.std()
    # ... the pyramid reads their average
    assert grey_filtered.std() < 0.1 * checker.std()
    assert abs(grey_filtered.mean() - checker.mean()) < 0.05 * checker.mean()


def test_mipmaps_leave_a_magnified_texture_as_it_was() -> None:
    # 1 m tiles 0.3 m away: a texel covers several pixels, level 0 everywhere
    nearest = _scene(NOSE_TO_WALL, tile=1.0).render()
    filtered = _scene(NOSE_TO_WALL, tile=1.0, mipmaps=True).render()
    np.testing.assert_array_equal(filtered.rgb, nearest.rgb)


def test_detail_is_grain_up_close_that_averages_out_far_away() -> None:
    pyramid = _detail_pyramid()
    assert abs(pyramid[:TEXTURE_SIZE ** 2].mean()) < 1e-4
    assert pyramid[:TEXTURE_SIZE ** 2].std() == pytest.approx(1.0, abs=1e-4)
    assert abs(pyramid[-1]) < 1e-4  # its 1 x 1 level: nothing left

    def ratio(pose, region):
        plain = _scene(pose, mipmaps=True).render()
        grain = _scene(pose, detail=0.2).render()
        np.testing.assert_array_equal(grain.depth, plain.depth)
        mask = region(plain) & (plain.rgb.min(-1) > 40)
        return grain.rgb[mask].astype(np.float64).sum(-1) / plain.rgb[mask].sum(-1)

    near = ratio(NOSE_TO_WALL, lambda f: np.ones(f.depth.shape, bool))
    far = ratio(LOOK_ALONG, _far_wall)
    assert abs(near.mean() - 1.0) < 0.02 and abs(far.mean() - 1.0) < 0.02  # no tint
    assert 0.08 < near.std() < 0.25  # grain of about the asked-for spread up close
    assert far.std() < 0.5 * near.std()


def test_bad_detail_is_refused() -> None:
    with pytest.raises(ValueError, match=r"detail=1\.5 must lie in \[0, 1\]"):
        Lighting(detail=1.5)


def test_random_rooms_with_detail_keep_their_depth_and_are_deterministic() -> None:
    for view in ("room", "close"):
        plain = render_scene(11, 64, 48, view=view)
        grain = render_scene(11, 64, 48, view=view, detail=True)
        np.testing.assert_array_equal(grain.depth, plain.depth)
        np.testing.assert_array_equal(grain.pose.position, plain.pose.position)
        np.testing.assert_array_equal(render_scene(11, 64, 48, view=view, detail=True).rgb,
                                      grain.rgb)
        assert not np.array_equal(grain.rgb, plain.rgb)
    scene = SyntheticScene.random(11, shadows=True, detail=True)
    assert scene.lighting.mipmaps and 0.02 <= scene.lighting.detail <= 0.1
    # the grain's draw does not move the shadows' (each has its own stream of the seed)
    assert dataclasses.replace(scene.lighting, mipmaps=False, detail=0.0) == \
        SyntheticScene.random(11, shadows=True).lighting


def test_training_option_details_training_rooms_only() -> None:
    from depth_estimation_ros.core.model import PreprocessConfig

    base = ["model.variant=compact", "data.synthetic_train=2", "data.synthetic_val=1",
            "data.width=32", "data.height=24"]
    train, val = build_datasets(load_config(None, [*base, "data.synthetic_detail=true"]),
                                PreprocessConfig.full_frame())
    assert train.source.detail and not val.source.detail  # validation stays comparable
    assert "detail=True" in repr(train.source)
    plain, _ = build_datasets(load_config(None, base), PreprocessConfig.full_frame())
    np.testing.assert_array_equal(train.source.depth(0), plain.source.depth(0))
    assert not np.array_equal(train.source.image(0), plain.source.image(0))
