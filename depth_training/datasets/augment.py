"""Training augmentation of Eigen et al. (2014, 2015), applied to an image and its depth together.

Per sample: scale ``s`` in [1, 1.5] (the image is enlarged by ``s`` and the depth divided by
``s``, so the scene looks ``s`` times closer), rotation in ±5°, a random crop to the network
input, colour × [0.8, 1.2] per channel, and a horizontal flip with p = 0.5. The geometric steps
use one affine warp for both maps: bilinear for the image (after the estimator's own
antialiased resize, so training sees the pixels inference will), nearest neighbour for the
depth, so a depth value is never blended with its neighbours and invalid
pixels (0) stay invalid; pixels rotated in from outside the frame are invalid in the depth.

Optionally (``sensor_p`` > 0, off by default: the paper has none) the image also gets a real
camera's faults, each with probability ``sensor_p``: an exposure curve (gamma in [0.7, 1.4]),
defocus / motion blur (Gaussian, sigma 0.3–1.5 px at the network input), sensor noise
(sigma 1–6 grey levels) and JPEG compression (quality 30–90). Rendered frames are clean and
sharp; cheap Kinect-class colour cameras are none of these.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import cv2
import numpy as np
import torch

from depth_estimation_ros.core.model import PreprocessConfig
from depth_estimation_ros.core.preprocessing import resize, resize_and_crop


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the random augmentation (the paper's values by default)."""

    scale: tuple[float, float] = (1.0, 1.5)  # zoom factor s; depth is divided by s
    rotation_deg: float = 5.0  # rotation drawn uniformly from ±rotation_deg degrees
    color: tuple[float, float] = (0.8, 1.2)  # per-channel colour gain range
    flip_p: float = 0.5  # probability of a horizontal flip
    enabled: bool = True  # False: only the deterministic resize/crop to the network input
    sensor_p: float = 0.0  # probability of each camera fault (exposure, blur, noise, JPEG)

    def __post_init__(self) -> None:
        for name in ("scale", "color"):
            lo, hi = getattr(self, name)
            if not 0.0 < lo <= hi:
                raise ValueError(f"AugmentConfig.{name} must be (lo, hi) with 0 < lo <= hi, "
                                 f"got {getattr(self, name)}")
        if self.scale[0] < 1.0:
            raise ValueError(f"AugmentConfig.scale must not go below 1 (the crop must fit the "
                             f"enlarged image), got {self.scale}")
        if not 0.0 <= self.rotation_deg < 90.0:
            raise ValueError(f"AugmentConfig.rotation_deg must be in [0, 90), "
                             f"got {self.rotation_deg}")
        if not 0.0 <= self.flip_p <= 1.0:
            raise ValueError(f"AugmentConfig.flip_p must be in [0, 1], got {self.flip_p}")
        if not 0.0 <= self.sensor_p <= 1.0:
            raise ValueError(f"AugmentConfig.sensor_p must be in [0, 1], got {self.sensor_p}")

    @classmethod
    def disabled(cls) -> AugmentConfig:
        """No augmentation (validation and test)."""
        return cls(enabled=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain-type dict (lists for tuples) for checkpoints and logs."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AugmentConfig:
        """Rebuild from :meth:`to_dict` output."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


@dataclass(frozen=True)
class AugmentParams:
    """One draw of the augmentation (independent of the image size)."""

    scale: float  # zoom factor s >= 1
    angle_deg: float  # counter-clockwise rotation in degrees
    color: tuple[float, float, float]  # RGB gains
    flip: bool  # horizontal flip
    crop_v: float  # crop position in [0, 1]: 0 = top, 1 = bottom of the free range
    crop_u: float  # crop position in [0, 1]: 0 = left, 1 = right of the free range
    gamma: float = 1.0  # exposure curve: out = 255 (in / 255) ** gamma
    blur_sigma: float = 0.0  # Gaussian blur, pixels at the output size (0 = none)
    noise_sigma: float = 0.0  # additive Gaussian noise, grey levels (0 = none)
    jpeg_quality: int = 0  # JPEG round trip at this quality (0 = none)
    noise_seed: int = 0  # seed of the noise pattern

    @property
    def has_sensor_faults(self) -> bool:
        """Whether any camera fault (exposure, blur, noise, JPEG) is drawn."""
        return (self.gamma != 1.0 or self.blur_sigma > 0.0 or self.noise_sigma > 0.0
                or self.jpeg_quality > 0)

    @classmethod
    def identity(cls) -> AugmentParams:
        """No change, with the crop at the top left."""
        return cls(1.0, 0.0, (1.0, 1.0, 1.0), False, 0.0, 0.0)


def sample_params(rng: np.random.Generator, cfg: AugmentConfig) -> AugmentParams:
    """Draw augmentation parameters; deterministic given the generator state.

    With ``cfg.sensor_p`` 0 the draws (and so seeded runs) are those of before the camera
    faults existed.
    """
    lo, hi = cfg.color
    params = AugmentParams(
        scale=float(rng.uniform(*cfg.scale)),
        angle_deg=float(rng.uniform(-cfg.rotation_deg, cfg.rotation_deg)),
        color=tuple(float(c) for c in rng.uniform(lo, hi, size=3)),
        flip=bool(rng.random() < cfg.flip_p),
        crop_v=float(rng.random()),
        crop_u=float(rng.random()),
    )
    if cfg.sensor_p <= 0.0:
        return params
    on = rng.random(4) < cfg.sensor_p
    return replace(
        params,
        gamma=float(rng.uniform(0.7, 1.4)) if on[0] else 1.0,
        blur_sigma=float(rng.uniform(0.3, 1.5)) if on[1] else 0.0,
        noise_sigma=float(rng.uniform(1.0, 6.0)) if on[2] else 0.0,
        jpeg_quality=int(rng.integers(30, 91)) if on[3] else 0,
        noise_seed=int(rng.integers(2**31)),
    )


def apply_sensor(img: np.ndarray, params: AugmentParams) -> np.ndarray:
    """A camera's faults on an (h, w, 3) float32 0–255 image: exposure, blur, noise, JPEG."""
    out = np.asarray(img, dtype=np.float32)
    if params.gamma != 1.0:
        out = 255.0 * np.power(out / 255.0, np.float32(params.gamma))
    if params.blur_sigma > 0.0:
        out = cv2.GaussianBlur(out, (0, 0), params.blur_sigma)
    if params.noise_sigma > 0.0:
        noise = np.random.default_rng(params.noise_seed).standard_normal(out.shape)
        out = out + noise.astype(np.float32) * np.float32(params.noise_sigma)
    out = np.clip(out, 0.0, 255.0)
    if params.jpeg_quality > 0:
        u8 = np.ascontiguousarray(np.rint(out).astype(np.uint8)[..., ::-1])  # BGR for cv2
        ok, buf = cv2.imencode(".jpg", u8, [cv2.IMWRITE_JPEG_QUALITY, params.jpeg_quality])
        if ok:
            out = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32)
    return np.ascontiguousarray(out, dtype=np.float32)


def _check_pair(rgb: np.ndarray, depth: np.ndarray) -> None:
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb must be an (H, W, 3) numpy array, got "
                         f"{getattr(rgb, 'shape', type(rgb).__name__)}")
    if not isinstance(depth, np.ndarray) or depth.shape != rgb.shape[:2]:
        raise ValueError(f"depth must be an (H, W) numpy array matching rgb {rgb.shape[:2]}, "
                         f"got {getattr(depth, 'shape', type(depth).__name__)}")


def _clean_depth(depth: np.ndarray) -> np.ndarray:
    """(H, W) metres as float32 with NaN, inf and negatives set to 0 (invalid)."""
    d = np.asarray(depth, dtype=np.float32)
    return np.where(np.isfinite(d) & (d > 0), d, np.float32(0.0))


def resize_and_crop_depth(depth: np.ndarray, pre: PreprocessConfig) -> np.ndarray:
    """The network-input crop of a depth map, as the image gets it at inference.

    Args:
        depth: (H, W) metres; 0 or NaN = invalid.
        pre: resize and crop settings.

    Returns:
        (input_height, input_width) float32 metres, nearest neighbour (pixel-centre aligned,
        like the image's resize), 0 = invalid.
    """
    d = cv2.resize(_clean_depth(depth), (pre.resize_width, pre.resize_height),
                   interpolation=cv2.INTER_NEAREST_EXACT)
    return np.ascontiguousarray(d[pre.crop_top:pre.crop_top + pre.input_height,
                                  pre.crop_left:pre.crop_left + pre.input_width])


def resize_and_crop_image(rgb: np.ndarray, pre: PreprocessConfig) -> np.ndarray:
    """The network-input crop of an image, exactly as the estimator makes it at inference.

    Args:
        rgb: (H, W, 3) uint8 or float 0–255.
        pre: resize and crop settings.

    Returns:
        (input_height, input_width, 3) float32 on the 0–255 scale.
    """
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None]  # (1, 3, H, W)
    out = resize_and_crop(x, pre)  # (1, 3, input_height, input_width)
    return out[0].permute(1, 2, 0).to(torch.float32).numpy()


def apply_augment(rgb: np.ndarray, depth: np.ndarray, params: AugmentParams,
                  pre: PreprocessConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Apply one augmentation draw to an image and its depth.

    The frame is resized to ``pre``'s resize size (or kept, without ``pre``), enlarged by
    ``params.scale``, rotated about its centre, cropped at the drawn position to ``pre``'s
    input size (or the original size), flipped and colour-scaled.

    Args:
        rgb: (H, W, 3) uint8 or float 0–255.
        depth: (H, W) metres; 0 or NaN = invalid.
        params: the draw (see :func:`sample_params`).
        pre: network-input geometry; None keeps the input size.

    Returns:
        ``(rgb, depth)``: (h, w, 3) float32 0–255 and (h, w) float32 metres divided by the
        scale, 0 = invalid.
    """
    _check_pair(rgb, depth)
    h0, w0 = depth.shape
    if pre is None:
        base_h, base_w, out_h, out_w = h0, w0, h0, w0
    else:
        base_h, base_w = pre.resize_height, pre.resize_width
        out_h, out_w = pre.input_height, pre.input_width
    s = params.scale
    if s < 1.0:
        raise ValueError(f"augmentation scale must be >= 1, got {s}")
    # The enlarged frame, before rotation and crop.
    sh, sw = max(out_h, round(base_h * s)), max(out_w, round(base_w * s))
    # the estimator's own resize kernel, so training sees what inference will
    x = np.asarray(rgb)
    x = torch.from_numpy(np.ascontiguousarray(x if x.dtype == np.uint8 else
                                              x.astype(np.float32, copy=False)))
    img = resize(x.permute(2, 0, 1)[None], (sh, sw))[0].permute(1, 2, 0).numpy()
    dep = cv2.resize(_clean_depth(depth), (sw, sh), interpolation=cv2.INTER_NEAREST_EXACT)

    # Rotation about the enlarged frame's centre, then the crop as a translation. cv2 maps
    # pixel centres at integer coordinates, so the same matrix aligns both maps.
    top = math.floor(params.crop_v * (sh - out_h + 1 - 1e-9))
    left = math.floor(params.crop_u * (sw - out_w + 1 - 1e-9))
    m = cv2.getRotationMatrix2D(((sw - 1) / 2.0, (sh - 1) / 2.0), params.angle_deg, 1.0)
    m[0, 2] -= left
    m[1, 2] -= top
    if params.angle_deg == 0.0:
        img = img[top:top + out_h, left:left + out_w]
        dep = dep[top:top + out_h, left:left + out_w]
    else:
        img = cv2.warpAffine(img, m, (out_w, out_h), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REFLECT_101)
        dep = cv2.warpAffine(dep, m, (out_w, out_h), flags=cv2.INTER_NEAREST,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    if params.flip:
        img, dep = img[:, ::-1], dep[:, ::-1]
    img = np.clip(img * np.asarray(params.color, dtype=np.float32), 0.0, 255.0)
    if params.has_sensor_faults:
        img = apply_sensor(img, params)
    dep = dep / np.float32(s)
    return np.ascontiguousarray(img, dtype=np.float32), np.ascontiguousarray(dep, np.float32)


def augment_pair(rgb: np.ndarray, depth: np.ndarray, rng: np.random.Generator,
                 cfg: AugmentConfig, pre: PreprocessConfig | None = None,
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Randomly augment an image and its depth together (deterministic given ``rng``).

    Args:
        rgb: (H, W, 3) uint8 or float 0–255.
        depth: (H, W) metres; 0 or NaN = invalid.
        rng: numpy generator the draw comes from.
        cfg: augmentation ranges; with ``cfg.enabled`` False only the deterministic resize
            and crop to ``pre`` is done (exactly the estimator's for the image).
        pre: network-input geometry; None keeps the input size.

    Returns:
        ``(rgb, depth)``: (h, w, 3) float32 0–255 and (h, w) float32 metres, 0 = invalid.
    """
    _check_pair(rgb, depth)
    if not cfg.enabled:
        if pre is None:
            return np.asarray(rgb, dtype=np.float32).copy(), _clean_depth(depth).copy()
        return resize_and_crop_image(rgb, pre), resize_and_crop_depth(depth, pre)
    return apply_augment(rgb, depth, sample_params(rng, cfg), pre)
