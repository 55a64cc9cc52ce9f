"""Colour: textured, lit pixels of the visible faces (ambient, directional and point light
with Lambertian shading and distance falloff, and a soft vignette), optionally with the point
light's shadows (a cube shadow map) and ambient occlusion (from the depth image)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from depth_estimation_ros.core.camera import CameraIntrinsics
from depth_estimation_ros.sim.camera import Vec3, pixel_rays
from depth_estimation_ros.sim.geometry import Faces
from depth_estimation_ros.sim.materials import TEXTURE_SIZE
from depth_estimation_ros.sim.raster import Workspace, rasterise, workspace

__all__ = ["Lighting", "Shader"]

_TEX_BITS = TEXTURE_SIZE.bit_length() - 1
SHADOW_MAP_SIZE = 256  # pixels per side of each of the six cube shadow-map faces
_SHADOW_BIAS = (0.03, 0.02)  # a point is lit up to 3 % + 2 cm behind the map's surface
# Ambient occlusion samples pairs of opposite neighbours at these radii (pixels at 640 wide)
# along four directions; a pair straddling a silhouette (a neighbour > 10 % nearer in
# inverse depth) is left out, so only creases darken, not everything behind an edge.
_AO_RADII = (5.0, 12.0)
_AO_RANGE = 0.1
_AO_GAIN = 12.0  # mean crease depth (relative inverse depth) that reads as fully occluded


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
        shadow: Share of the point light a shadowed surface loses, 0 (no shadows, the
            default) to 1 (black where only the point light would reach).
        shadow_blur: Softness of shadow edges: Gaussian sigma in pixels of a 640-wide image
            (scaled with the image's width).
        occlusion: Ambient occlusion: the share of light lost in a fully occluded crease
            (corners, where furniture meets the floor); 0 = none (the default).
        mipmaps: Filter textures as a camera averages them: each pixel reads the level of a
            box-filtered texture pyramid that matches its footprint in texels (from the
            texture coordinates' steps to the neighbouring pixels), not the nearest texel
            of the full-size texture, which aliases into speckle far away. False (the
            default) keeps the nearest texel.
        detail: Spread of a fine grain multiplying the light (a tileable noise with equal
            amplitude in each octave, repeating 8 times per texture repeat, mip-mapped): real
            surfaces show grain up close, which a 256-texel texture magnified over a near
            surface lacks; far away it averages out. 0 = none (the default); implies
            ``mipmaps``.
    """

    light_position: Vec3 | None = None
    light_intensity: float = 0.8
    light_falloff: float = 3.0
    ambient: float = 0.38
    sun_direction: Vec3 = (0.45, 0.3, -0.84)
    sun_strength: float = 0.2
    vignette: float = 0.25
    shadow: float = 0.0
    shadow_blur: float = 1.5
    occlusion: float = 0.0
    mipmaps: bool = False
    detail: float = 0.0

    def __post_init__(self) -> None:
        for name in ("shadow", "occlusion"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"Lighting {name}={value!r} must lie in [0, 1].")
        if not 0.0 <= self.detail <= 1.0:
            raise ValueError(f"Lighting detail={self.detail!r} must lie in [0, 1].")
        if not self.shadow_blur >= 0.0:
            raise ValueError(f"Lighting shadow_blur={self.shadow_blur!r} must be >= 0 pixels.")


def _rows16(values: np.ndarray) -> np.ndarray:
    """(F, 4) numbers -> (F,) 16-byte items (4 float32 each) so one gather fetches a row."""
    return np.ascontiguousarray(values, dtype=np.float32).view(np.complex128).reshape(-1)


# Mip pyramid: level L of a T x T texture is (T >> L) x (T >> L), stored one after another.
_MIP_LEVELS = _TEX_BITS + 1  # down to 1 x 1
_MIP_OFFSET = np.cumsum([0] + [(TEXTURE_SIZE >> k) ** 2 for k in range(_MIP_LEVELS)])
_MIP_SLOT = int(_MIP_OFFSET[-1])  # texels per texture in a pyramid atlas
_DETAIL_OCTAVES = 3  # the detail layer repeats 2**3 = 8 times per texture repeat
_DETAIL_SEED = 0xDE7A


def _pyramid(texture: np.ndarray) -> list[np.ndarray]:
    """Box-filtered levels of a (T, T, C) float32 texture, full size first, down to 1 x 1."""
    levels = [texture]
    while levels[-1].shape[0] > 1:
        t = levels[-1]
        levels.append(0.25 * (t[0::2, 0::2] + t[1::2, 0::2] + t[0::2, 1::2] + t[1::2, 1::2]))
    return levels


def _mip_atlas(atlas: np.ndarray) -> np.ndarray:
    """A packed atlas (slots * T * T uint32, bytes r, g, b, 255) as pyramids, _MIP_SLOT
    texels per slot, the same packing."""
    size = TEXTURE_SIZE
    slots = atlas.view(np.uint8).reshape(-1, size, size, 4).astype(np.float32)
    out = np.empty((len(slots), _MIP_SLOT, 4), dtype=np.uint8)
    for i, texture in enumerate(slots):
        for k, level in enumerate(_pyramid(texture)):
            out[i, _MIP_OFFSET[k]:_MIP_OFFSET[k + 1]] = np.rint(level).reshape(-1, 4)
    return out.view(np.uint32).reshape(-1)


def _detail_pyramid() -> np.ndarray:
    """The detail layer's pyramid, float32 (_MIP_SLOT,): a tileable noise whose octaves (8
    to 256 bumps per side) have equal amplitudes, so a pixel sees the same spread of grain
    at any distance (as on real surfaces, whose images have a 1/f spectrum); zero mean and
    unit spread at full size."""
    from depth_estimation_ros.sim.materials import _smooth_noise

    rng = np.random.default_rng(_DETAIL_SEED)
    noise = sum(_smooth_noise(rng, 8 << k) for k in range(_TEX_BITS - 2)).astype(np.float32)
    noise = (noise - noise.mean()) / noise.std()
    return np.concatenate([level.reshape(-1) for level in _pyramid(noise[..., None])])


def _footprint(cu: np.ndarray, cv: np.ndarray) -> np.ndarray:
    """log2 of each pixel's footprint in texels: the larger of its texture-coordinate steps
    along the image's rows and columns (as a GPU picks a mip level: a surface seen at a
    grazing angle is blurred rather than aliased), each the smaller of the steps to the two
    neighbours (so a step across a face's edge does not count)."""
    steps = []
    for axis in (0, 1):
        step = np.hypot(np.diff(cu, axis=axis), np.diff(cv, axis=axis))
        both = np.full((2,) + cu.shape, np.inf, dtype=np.float32)
        if axis == 0:
            both[0, :-1], both[1, 1:] = step, step
        else:
            both[0, :, :-1], both[1, :, 1:] = step, step
        steps.append(both.min(axis=0))
    rho = np.maximum(steps[0], steps[1])
    rho[~np.isfinite(rho)] = 1.0  # a one-pixel image: no neighbour to measure
    return np.log2(np.maximum(rho, np.float32(1e-6)))


def _mip_index(cu: np.ndarray, cv: np.ndarray, level: np.ndarray) -> np.ndarray:
    """Index within a pyramid of the nearest texel at ``level`` for level-0 coordinates."""
    shift = _TEX_BITS - level
    mask = np.right_shift(TEXTURE_SIZE - 1, level)
    u = np.right_shift(cu.astype(np.int32), level) & mask
    v = np.right_shift(cv.astype(np.int32), level) & mask
    return _MIP_OFFSET[level].astype(np.int32) + (np.left_shift(v, shift) | u)


class Shader:
    """One scene's per-face shading tables, and the colour pass over its rasterised frames.

    Args:
        faces: The scene's faces.
        lighting: The light set-up.
        room_size: ``(Lx, Ly, Lz)`` metres; the default point light hangs below its ceiling.
        atlas: The scene's texture atlas (see ``materials.texture_atlas``).
    """

    def __init__(
        self, faces: Faces, lighting: Lighting, room_size: Vec3, atlas: np.ndarray
    ) -> None:
        self._faces = faces
        self.lighting = lighting
        self._atlas = atlas
        lx, ly, lz = room_size
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
        self._cube = _cube_shadow_map(faces, self._light, room_size) if lighting.shadow else None
        filtered = lighting.mipmaps or lighting.detail > 0.0
        self._mip_atlas = _mip_atlas(atlas) if filtered else None
        self._detail = _detail_pyramid() if lighting.detail > 0.0 else None

    def shade(
        self,
        origin: np.ndarray,
        rotation: np.ndarray,
        camera: CameraIntrinsics,
        depth: np.ndarray,
        work: Workspace,
    ) -> np.ndarray:
        """Textured, lit colour (H, W, 3) uint8 of the surfaces in ``work.face_id``.

        Everything is written as per-face linear forms in the ray ``(xr, yr, 1)`` and the
        depth z, so each pixel needs only a few gathers of per-face rows: with the hit point
        ``P = o + z D`` and ``D = R (xr, yr, 1)``, a texture coordinate ``P . e + k`` is
        ``z (R^T e) . (xr, yr, 1) + (o . e + k)``.
        """
        faces = self._faces
        lighting = self.lighting
        rays = pixel_rays(camera)
        col, row = rays.col, rays.row  # (1, W), (H, 1)
        shape = depth.shape
        fid = work.face_id
        rows16, coord, scratch = work.rows16[0], work.f32[0], work.f32[1]
        texel, index = work.i32

        light = work.rows16[1]
        np.take(self._face_light, fid, out=light, mode="clip")
        light_f32 = light.view(np.float32).reshape(shape + (4,))
        albedo = work.u32
        detail = None
        if self._mip_atlas is None:
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
            texel += light.view(np.int32).reshape(shape + (4,))[..., 2]  # the texture's base
            np.take(self._atlas, texel, out=albedo, mode="clip")
        else:
            detail = self._filtered(rotation, origin, col, row, depth, fid, light, albedo)
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
        if self._cube is not None:
            shade *= self._visibility(origin, rotation, camera, depth)
        shade += light_f32[..., 1]
        if detail is not None:
            shade *= detail
        if lighting.occlusion:
            shade *= _ambient_occlusion(depth, lighting.occlusion)
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

    def _filtered(
        self, rotation: np.ndarray, origin: np.ndarray, col: np.ndarray, row: np.ndarray,
        depth: np.ndarray, fid: np.ndarray, light: np.ndarray, albedo: np.ndarray,
    ) -> np.ndarray | None:
        """Mip-mapped texture lookup into ``albedo``; returns the detail layer's light
        multiplier (H, W) float32, or None without one."""
        faces = self._faces
        coords = []
        for coef in (faces.u_coef, faces.v_coef):
            along = coef[:, :3] @ rotation  # (F, 3) on (xr, yr, 1)
            table = np.concatenate([along, (coef[:, :3] @ origin + coef[:, 3])[:, None]], 1)
            form = table.astype(np.float32)[fid]  # (H, W, 4)
            coord = form[..., 0] * col + form[..., 1] * row + form[..., 2]
            coord *= depth
            coord += form[..., 3]
            coord *= np.float32(TEXTURE_SIZE)  # level-0 texels, positive thanks to the bias
            coords.append(coord)
        cu, cv = coords
        lod = _footprint(cu, cv)
        level = np.clip(np.floor(lod + 0.5), 0, _MIP_LEVELS - 1).astype(np.int32)
        slot = light.view(np.int32).reshape(depth.shape + (4,))[..., 2] // (
            TEXTURE_SIZE * TEXTURE_SIZE)
        texel = _mip_index(cu, cv, level) + slot * np.int32(_MIP_SLOT)
        assert self._mip_atlas is not None
        np.take(self._mip_atlas, texel, out=albedo, mode="clip")
        if self._detail is None:
            return None
        scale = np.float32(1 << _DETAIL_OCTAVES)
        fine = np.clip(np.floor(lod + (_DETAIL_OCTAVES + 0.5)), 0, _MIP_LEVELS - 1).astype(
            np.int32)
        noise = self._detail[_mip_index(cu * scale, cv * scale, fine)]
        noise *= np.float32(self.lighting.detail)
        noise += np.float32(1.0)
        return np.maximum(noise, np.float32(0.0))

    def _visibility(
        self, origin: np.ndarray, rotation: np.ndarray, camera: CameraIntrinsics,
        depth: np.ndarray,
    ) -> np.ndarray:
        """(H, W) float32 share of the point light reaching each pixel's surface: 1 where
        lit, ``1 - shadow`` in shadow, blurred across shadow edges."""
        assert self._cube is not None
        import cv2

        rays = pixel_rays(camera)
        # The surface point minus the light: P - l = (o - l) + z R (xr, yr, 1), per axis.
        offset = origin - self._light
        rel = np.empty((3,) + depth.shape, dtype=np.float32)
        for axis in range(3):
            a = rotation[axis]
            np.add(np.float32(a[0]) * rays.col + np.float32(a[2]),
                   np.float32(a[1]) * rays.row, out=rel[axis])
            rel[axis] *= depth
            rel[axis] += np.float32(offset[axis])
        flat = rel.reshape(3, -1)
        # the cube face: the axis of the largest |component| (the first on ties), and its sign
        ax, ay, az = np.abs(flat)
        x_major = (ax >= ay) & (ax >= az)
        y_major = ~x_major & (ay >= az)
        face = np.where(x_major, flat[0] < 0, np.where(y_major, 2 + (flat[1] < 0),
                                                       4 + (flat[2] < 0)))
        lit = np.ones(flat.shape[1], dtype=np.float32)
        size = SHADOW_MAP_SIZE
        half = np.float32(size / 2.0)
        for f, (frame, inv_map) in enumerate(self._cube):
            index = np.flatnonzero(face == f)
            if index.size == 0:
                continue
            q = frame @ flat[:, index]  # (3, n) in the face's optical frame
            z = q[2]
            u = np.clip(np.rint(half * q[0] / z + (half - 0.5)), 0, size - 1).astype(np.intp)
            v = np.clip(np.rint(half * q[1] / z + (half - 0.5)), 0, size - 1).astype(np.intp)
            reach = np.reciprocal(inv_map[v, u])
            reach *= np.float32(1.0 + _SHADOW_BIAS[0])
            reach += np.float32(_SHADOW_BIAS[1])
            lit[index] = z <= reach
        lit = lit.reshape(depth.shape)
        sigma = self.lighting.shadow_blur * depth.shape[1] / 640.0
        if sigma > 0.05:
            lit = cv2.GaussianBlur(lit, (0, 0), sigma)
        shadow = np.float32(self.lighting.shadow)
        lit *= shadow
        lit += np.float32(1.0) - shadow
        return lit


def _cube_frames() -> tuple[np.ndarray, ...]:
    """World-from-optical rotations looking along +x, -x, +y, -y, +z, -z (in that order)."""
    frames = []
    for axis in range(3):
        for sign in (1.0, -1.0):
            forward = np.zeros(3)
            forward[axis] = sign
            helper = np.array([0.0, 0.0, 1.0]) if axis != 2 else np.array([1.0, 0.0, 0.0])
            right = np.cross(helper, forward)
            right /= np.linalg.norm(right)
            frames.append(np.stack([right, np.cross(forward, right), forward], axis=1))
    return tuple(frames)


_CUBE_FRAMES = _cube_frames()


def _cube_shadow_map(
    faces: Faces, light: np.ndarray, room_size: Vec3
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The scene seen from the point light: six 90-degree faces of (optical-from-world
    rotation as float32, inverse depth).

    Raises:
        ValueError: the light is not strictly inside the room.
    """
    if not (np.all(light > 0.0) and np.all(light < np.asarray(room_size))):
        raise ValueError(f"The point light {tuple(light)} must lie strictly inside the room "
                         f"{tuple(room_size)} to cast shadows.")
    size = SHADOW_MAP_SIZE
    camera = CameraIntrinsics(size / 2.0, size / 2.0, (size - 1) / 2.0, (size - 1) / 2.0,
                              size, size)
    work = workspace(size, size)
    cube = []
    for frame in _CUBE_FRAMES:
        rasterise(faces, light, frame, camera, work)
        cube.append((frame.T.astype(np.float32), work.inv_depth.copy()))
    return cube


def _ambient_occlusion(depth: np.ndarray, strength: float) -> np.ndarray:
    """(H, W) float32 light kept per pixel, ``1 - strength`` in a fully occluded crease.

    For a plane, inverse depth is affine in the image, so the mean of two opposite
    neighbours equals the pixel's own; in a concave crease it is larger (both neighbours
    nearer). The excess, relative, averaged over pairs at two radii and four directions
    (pairs straddling a silhouette or leaving the image left out), is the occlusion.
    """
    height, width = depth.shape
    inv = np.reciprocal(depth.astype(np.float32))
    twice = 2.0 * inv
    limit = inv * np.float32(1.0 + _AO_RANGE)  # nearer neighbours than this: a silhouette
    total = np.zeros_like(inv)
    count = np.zeros_like(inv)
    for radius in _AO_RADII:
        r = max(1, int(round(radius * width / 640.0)))
        padded = np.pad(inv, r, constant_values=np.nan)  # pairs off the image count not
        for dy, dx in ((0, r), (r, 0), (r, r), (r, -r)):
            a = padded[r + dy:r + dy + height, r + dx:r + dx + width]
            b = padded[r - dy:r - dy + height, r - dx:r - dx + width]
            excess = (a + b) / twice - 1.0
            with np.errstate(invalid="ignore"):
                near = np.maximum(a, b) <= limit
            total += np.where(near, np.maximum(excess, 0.0), 0.0)
            count += near
    crease = total / np.maximum(count, 1.0)
    return np.float32(1.0) - np.float32(strength) * np.minimum(crease * _AO_GAIN, 1.0)
