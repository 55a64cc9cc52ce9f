"""Random room layouts from a seed: room size, palette, furniture placed clear of the door
and the camera path, wall items, lighting and a plausible camera pose."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from depth_estimation_ros.sim import furniture
from depth_estimation_ros.sim.camera import CameraPose, Vec3, default_path_radii
from depth_estimation_ros.sim.furniture import Footprint, Part
from depth_estimation_ros.sim.geometry import Box
from depth_estimation_ros.sim.materials import TEXTURE_VARIANTS, Material
from depth_estimation_ros.sim.shading import Lighting

__all__ = ["ROOM_KINDS", "FurnishedRoom", "close_view_pose", "furnish_room", "table_view"]

ROOM_KINDS = ("bedroom", "living_room", "kitchen", "office", "dining_room", "study", "bathroom")
_PATH_CLEARANCE = 0.6  # metres between furniture footprints and the camera trajectory
_POSE_CLEARANCE = 0.55  # metres between furniture footprints and a random camera
_CLOSE_CLEARANCE = 0.3  # metres between a close-up camera and any footprint or wall
_CLOSE_RANGE = (0.5, 1.4)  # metres from a close-up camera to the piece it looks at
_TABLE_RANGE = (0.3, 1.2)  # metres from a table-view camera to the edge of the work surface
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


@dataclass(frozen=True)
class FurnishedRoom:
    """A random room's contents, ready to make a scene from.

    Attributes:
        size: ``(Lx, Ly, Lz)`` metres.
        boxes: Furniture, wall items, skirting, rug and lamp.
        materials: Materials the boxes and the room refer to.
        room_materials: Material indices of the walls, floor and ceiling.
        lighting: The light set-up.
        path_radii: Semi-axes (metres) of the camera trajectory kept clear of furniture.
        camera: A plausible camera pose in free space, or None if none was found.
        footprints: Furniture footprints ``(cx, cy, half x, half y, yaw)`` on the floor.
    """

    size: Vec3
    boxes: tuple[Box, ...]
    materials: tuple[Material, ...]
    room_materials: tuple[int, int, int]
    lighting: Lighting
    path_radii: tuple[float, float]
    camera: CameraPose | None
    footprints: tuple[Footprint, ...] = ()


def furnish_room(rng: np.random.Generator) -> FurnishedRoom:
    """Draw a random furnished room (bedroom, living room, kitchen, ...) from ``rng``."""
    return _RoomBuilder(rng).build()


class _RoomBuilder:
    """Furnishes one random room: see :func:`furnish_room`.

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
        self.radii = default_path_radii(lx, ly)
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
        variant = int(self.rng.integers(TEXTURE_VARIANTS))
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
        for x, y in furniture.rect_corners(footprint):
            if not (-1e-6 <= x <= lx + 1e-6 and -1e-6 <= y <= ly + 1e-6):
                return False
        cx, cy, hx, hy, yaw = footprint
        grown = (cx, cy, hx + margin, hy + margin, yaw)
        if any(furniture.rects_overlap(grown, other) for other in self.footprints):
            return False
        return furniture.rect_distance(self.path, footprint) >= _PATH_CLEARANCE

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
        self._on_wall(
            furniture.bookshelf(rng, w, d, h, self._furniture_material(), self.books), w, d
        )

    def cabinet(self) -> None:
        rng = self.rng
        w, d, h = rng.uniform(0.6, 1.6), rng.uniform(0.4, 0.6), rng.uniform(0.5, 1.1)
        parts = furniture.cabinet(
            rng, w, d, h, self._furniture_material(), self._furniture_material()
        )
        self._clutter_on(h, self._on_wall(parts, w, d), w, d)

    def wardrobe(self) -> None:
        rng = self.rng
        w, d = rng.uniform(0.8, 1.6), rng.uniform(0.5, 0.65)
        h = rng.uniform(1.7, min(2.3, self.size[2] - 0.15))
        body = self._furniture_material()
        self._on_wall(furniture.cabinet(rng, w, d, h, body, self._furniture_material()), w, d)

    def desk(self) -> None:
        rng = self.rng
        w, d, h = rng.uniform(1.0, 1.6), rng.uniform(0.55, 0.8), rng.uniform(0.72, 0.78)
        depth = d + 0.55  # the footprint keeps room for the chair
        back = (d - depth) / 2  # desk centre in the footprint frame
        top = self._furniture_material()
        parts = furniture.table(h, w, d, top, self.metal if rng.random() < 0.5 else top)
        if rng.random() < 0.6:  # drawer pedestal
            parts.append((w / 2 - 0.25, 0.0, (h - 0.04) / 2, 0.42, d - 0.06, h - 0.04, top))
        if rng.random() < 0.7:  # monitor
            screen = self._material("screen", (1.0, 1.0, 1.0), None)
            parts.append(
                (0.0, -d / 2 + 0.15, h + 0.22, rng.uniform(0.45, 0.65), 0.04, 0.34, screen)
            )
        parts = furniture.moved(parts, dy=back)
        parts += furniture.turned(
            furniture.chair(rng, self.fabric[0], self.metal), dy=back + d / 2 + 0.1
        )
        spot = self._on_wall(parts, w, depth)
        if spot is not None:
            cx, cy, yaw = spot
            c, s = math.cos(yaw), math.sin(yaw)
            self._clutter_on(h, (cx - s * back, cy + c * back, yaw), w * 0.5, d * 0.8)

    def bed(self) -> None:
        rng = self.rng
        w, length = float(rng.choice([0.9, 1.4, 1.6, 1.8])), rng.uniform(1.95, 2.1)
        frame = self._furniture_material()
        parts = furniture.bed(rng, w, length, frame, self.white, self.fabric[0])
        if self._on_wall(parts, w + 0.04, length, tries=30) is None:
            return
        wall, s = self.last_wall
        for side in (-1, 1):  # nightstands beside the headboard
            if rng.random() < 0.6:
                stand = rng.uniform(0.4, 0.55)
                at = s + side * (w / 2 + 0.05 + stand / 2)
                parts = furniture.cabinet(rng, stand, 0.4, 0.55, frame, frame)
                self._clutter_on(0.55, self._on_wall(parts, stand, 0.4, wall, at), stand, 0.4)

    def sofa(self) -> None:
        rng = self.rng
        w, d = rng.uniform(1.5, 2.3), rng.uniform(0.8, 0.95)
        self._on_wall(furniture.sofa(w, d, self.fabric[0], self.fabric[1]), w, d)

    def armchair(self) -> None:
        rng = self.rng
        w, d = rng.uniform(0.75, 0.95), rng.uniform(0.75, 0.9)
        parts = furniture.sofa(w, d, self.fabric[int(rng.integers(2))], self.fabric[1])
        if self._on_wall(parts, w, d, tries=4) is None:
            self._free(parts, w, d, tries=8)

    def tv_unit(self) -> None:
        rng = self.rng
        w, d, h = rng.uniform(1.1, 1.8), 0.45, rng.uniform(0.4, 0.6)
        parts = furniture.cabinet(
            rng, w, d, h, self._furniture_material(), self._furniture_material()
        )
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
        parts = furniture.cabinet(rng, w, 0.6, 0.88, body, body)
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
        parts = furniture.table(h, w, d, top, top)
        for x in np.linspace(-w / 2 + 0.3, w / 2 - 0.3, max(1, round(w / 0.6))):
            if rng.random() < 0.8:  # facing the table from the -y side
                parts += furniture.moved(
                    furniture.chair(rng, self.fabric[1], top), x, -d / 2 - 0.2
                )
            if rng.random() < 0.8:  # and from the +y side
                parts += furniture.turned(
                    furniture.chair(rng, self.fabric[1], top), x, d / 2 + 0.2
                )
        self._clutter_on(h, self._free(parts, w, d + 0.9, tries=40), w * 0.6, d * 0.6)

    def coffee_table(self) -> None:
        rng = self.rng
        w, d, h = rng.uniform(0.8, 1.2), rng.uniform(0.5, 0.7), rng.uniform(0.4, 0.5)
        parts = furniture.table(h, w, d, self._furniture_material(), self.wood[1])
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
        vanity = furniture.cabinet(rng, w, 0.5, 0.85, self._furniture_material(), self.white)
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

    def build(self) -> FurnishedRoom:
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
        return FurnishedRoom(
            self.size,
            tuple(self.boxes),
            tuple(self.materials),
            (self.wall, self.floor, self.ceiling),
            lighting,
            self.radii,
            self._random_pose(),
            tuple(self.footprints),
        )

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
            if any(furniture.rect_distance(point, fp) < _POSE_CLEARANCE for fp in self.footprints):
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


def _top_box(room: FurnishedRoom, footprint: Footprint) -> Box | None:
    """The top of a table, counter, desk, bed or low cabinet standing on ``footprint`` (its
    highest part at least 0.25 m across with its top 0.3–1.2 m high; the first of equals),
    or None."""
    best: Box | None = None
    for box in room.boxes:
        top = box.center[2] + box.size[2] / 2
        if (min(box.size[0], box.size[1]) >= 0.25 and 0.3 <= top <= 1.2
                and furniture.rect_distance(np.array([box.center[:2]]), footprint) == 0.0
                and (best is None or top > best.center[2] + best.size[2] / 2)):
            best = box
    return best


def _work_surface(room: FurnishedRoom, footprint: Footprint) -> float | None:
    """Height of the top of a table, counter, desk, bed or low cabinet standing on
    ``footprint`` (see :func:`_top_box`), or None."""
    box = _top_box(room, footprint)
    return None if box is None else box.center[2] + box.size[2] / 2


def close_view_pose(room: FurnishedRoom, rng: np.random.Generator) -> CameraPose | None:
    """A close-up camera: someone (or a robot) near a piece of furniture or a wall.

    The room-scale pose of :class:`FurnishedRoom` looks across the room (median depth about
    2.5 m); real hand-held and robot cameras spend much of their time nearer things. Three
    out of four close-ups pick a piece of furniture: with a work surface (table, counter,
    desk, bed, low cabinet) the camera stands 0.3–0.9 m from its edge at 1.2–1.7 m and looks
    down at the surface, so it fills the lower image as a kitchen table does (a horizontal
    surface there need not be the floor); a tall piece is seen from 0.5–1.4 m, pitched
    slightly down. The rest look at a wall from 0.5–1.4 m. The camera keeps
    ``_CLOSE_CLEARANCE`` from every footprint and wall. None if no such pose was found.
    """
    lx, ly, lz = room.size
    margin = _CLOSE_CLEARANCE
    for _ in range(300):
        surface = None
        if room.footprints and rng.random() < 0.75:
            target_fp = room.footprints[int(rng.integers(len(room.footprints)))]
            surface = _work_surface(room, target_fp)
            target = np.array(target_fp[:2])
            phi = rng.uniform(-math.pi, math.pi)
            near, far = (0.3, 0.9) if surface is not None else _CLOSE_RANGE
            reach = max(target_fp[2], target_fp[3]) + rng.uniform(near, far)
            point = target + reach * np.array([math.cos(phi), math.sin(phi)])
            gap = furniture.rect_distance(point[None], target_fp)
            if not near <= gap <= far + 0.3:
                continue
        else:  # a wall, seen from close by
            wall = int(rng.integers(4))
            d = rng.uniform(*_CLOSE_RANGE)
            along = (rng.uniform(margin, lx - margin), rng.uniform(margin, ly - margin))
            point, target = {
                0: (np.array([along[0], d]), np.array([along[0], 0.0])),
                1: (np.array([lx - d, along[1]]), np.array([lx, along[1]])),
                2: (np.array([along[0], ly - d]), np.array([along[0], ly])),
                3: (np.array([d, along[1]]), np.array([0.0, along[1]])),
            }[wall]
        if not (margin <= point[0] <= lx - margin and margin <= point[1] <= ly - margin):
            continue
        if any(furniture.rect_distance(point[None], fp) < margin for fp in room.footprints):
            continue
        heading = target - point
        if surface is not None:  # standing at a table or counter, looking down at it
            height = float(rng.uniform(1.2, min(1.7, lz - 0.4)))
            down = math.atan2(height - surface, float(np.hypot(*heading)))
            pitch = float(np.clip(down + rng.uniform(-0.1, 0.1), 0.2, 1.0))
        else:
            height = float(rng.uniform(0.8, min(1.7, lz - 0.4)))
            pitch = float(rng.uniform(0.1, 0.75))
        return CameraPose(
            (float(point[0]), float(point[1]), height),
            yaw=float(math.atan2(heading[1], heading[0]) + rng.uniform(-0.3, 0.3)),
            pitch=pitch,
            roll=float(rng.uniform(-0.06, 0.06)),
        )
    return None


# what stands on a table in a table view: (kind, share); see _table_clutter
_CLUTTER_KINDS = (("paper", 0.4), ("mug", 0.25), ("bottle", 0.1), ("appliance", 0.15),
                  ("monitor", 0.1))


def _table_clutter(top: Box, rng: np.random.Generator, first_material: int
                   ) -> tuple[list[Box], list[Material]]:
    """4–12 small things on the work surface ``top``: printed paper and magazines lying flat
    (a picture or book-spine texture stretched over the sheet), mugs, bottles, small
    appliances and monitors, each with its own material (indices from ``first_material``)."""
    cx, cy, z0 = top.center[0], top.center[1], top.center[2] + top.size[2] / 2
    hx, hy = top.size[0] / 2, top.size[1] / 2
    c, s = math.cos(top.yaw), math.sin(top.yaw)
    kinds = [k for k, _ in _CLUTTER_KINDS]
    shares = np.array([p for _, p in _CLUTTER_KINDS])
    boxes: list[Box] = []
    materials: list[Material] = []
    sheets = 0
    for _ in range(int(rng.integers(4, 13))):
        kind = kinds[int(rng.choice(len(kinds), p=shares / shares.sum()))]
        variant = int(rng.integers(TEXTURE_VARIANTS))
        tint = tuple(float(v) for v in rng.uniform(0.35, 1.1, 3))
        lift = 0.0
        if kind == "paper":
            size = (rng.uniform(0.15, 0.32), rng.uniform(0.2, 0.3), rng.uniform(0.002, 0.015))
            texture = str(rng.choice(["picture", "books", "paint"]))
            if texture == "paint":  # a plain white sheet
                material = Material(texture, variant, (1.02, 1.02, 1.0), 1.0)
            else:  # a printed page: the texture stretched once over the sheet
                material = Material(texture, variant, (1.0, 1.0, 1.0), None)
            lift = 0.003 * sheets  # sheets on sheets, not in one plane
            sheets += 1
        elif kind == "mug":
            size = (rng.uniform(0.07, 0.1), rng.uniform(0.07, 0.1), rng.uniform(0.08, 0.13))
            material = Material("paint", variant, tint, 1.0)
        elif kind == "bottle":
            size = (rng.uniform(0.06, 0.09), rng.uniform(0.06, 0.09), rng.uniform(0.15, 0.32))
            material = Material(str(rng.choice(["paint", "metal"])), variant, tint, 0.5)
        elif kind == "appliance":
            size = (rng.uniform(0.15, 0.4), rng.uniform(0.12, 0.3), rng.uniform(0.12, 0.4))
            material = Material(str(rng.choice(["metal", "paint", "cardboard"])), variant,
                                tint, 0.6)
        else:  # a monitor on a short stand
            size = (rng.uniform(0.4, 0.6), 0.04, rng.uniform(0.28, 0.4))
            material = Material("screen", variant, (1.0, 1.0, 1.0), None)
            lift = float(rng.uniform(0.08, 0.15))
        sx, sy, sz = (float(v) for v in size)
        if sx > 2 * hx - 0.04 or sy > 2 * hy - 0.04:
            continue
        px = float(rng.uniform(-(hx - sx / 2 - 0.02), hx - sx / 2 - 0.02))
        py = float(rng.uniform(-(hy - sy / 2 - 0.02), hy - sy / 2 - 0.02))
        yaw = top.yaw + (float(rng.uniform(-math.pi, math.pi)) if kind != "monitor"
                         else float(rng.uniform(-0.4, 0.4)))
        centre = (cx + c * px - s * py, cy + s * px + c * py, z0 + lift + sz / 2)
        offset = (float(rng.uniform(0, 1)), float(rng.uniform(0, 1)))
        index = first_material + len(materials)
        materials.append(material)
        boxes.append(Box(centre, (sx, sy, sz), index, yaw, offset))
        if kind == "monitor":
            stand = Box((centre[0], centre[1], z0 + lift / 2), (0.08, 0.08, lift), index, yaw)
            boxes.append(stand)
    return boxes, materials


def table_view(room: FurnishedRoom, rng: np.random.Generator
               ) -> tuple[FurnishedRoom, CameraPose] | None:
    """Someone standing at a cluttered table, desk or counter, looking down across it.

    Hand-held recordings of real rooms (a kitchen table in 7-Scenes, a desk in TUM RGB-D)
    spend much of their time like this: the camera 0.3–1.2 m from the edge of a work surface
    (a top at least 0.45 m deep, 0.6–1.0 m high: a table, desk or counter) at 1.2–1.8 m
    height, pitched down at a point near the middle of the top, rolled up to ±8.6°, the
    surface covered with 4–12 small things (:func:`_table_clutter`) and the room behind it
    in view. Returns the room with the clutter added (its other contents unchanged) and the
    pose, or None when the room has no work surface or no pose keeps
    ``_CLOSE_CLEARANCE`` from every footprint and wall.
    """
    surfaces = [(fp, box) for fp in room.footprints
                if (box := _top_box(room, fp)) is not None
                and min(box.size[0], box.size[1]) >= 0.45
                and 0.6 <= box.center[2] + box.size[2] / 2 <= 1.0  # tables, desks, counters
                and room.materials[box.material].texture not in ("leaves", "fabric")]
    if not surfaces:
        return None
    footprint, top = surfaces[int(rng.integers(len(surfaces)))]
    clutter, materials = _table_clutter(top, rng, len(room.materials))
    surface = top.center[2] + top.size[2] / 2
    lx, ly, lz = room.size
    margin = _CLOSE_CLEARANCE
    centre = np.array(top.center[:2])
    for _ in range(300):
        phi = rng.uniform(-math.pi, math.pi)
        reach = max(footprint[2], footprint[3]) + rng.uniform(*_TABLE_RANGE)
        point = centre + reach * np.array([math.cos(phi), math.sin(phi)])
        gap = furniture.rect_distance(point[None], footprint)
        if not _TABLE_RANGE[0] <= gap <= _TABLE_RANGE[1] + 0.3:
            continue
        if not (margin <= point[0] <= lx - margin and margin <= point[1] <= ly - margin):
            continue
        if any(furniture.rect_distance(point[None], fp) < margin for fp in room.footprints):
            continue
        heading = centre - point
        height = float(rng.uniform(1.2, min(1.8, lz - 0.3)))
        across = float(np.hypot(*heading)) + rng.uniform(-0.3, 0.5)  # around the centre
        pitch = math.atan2(height - surface, across) + rng.uniform(-0.08, 0.08)
        pose = CameraPose(
            (float(point[0]), float(point[1]), height),
            yaw=float(math.atan2(heading[1], heading[0]) + rng.uniform(-0.25, 0.25)),
            pitch=float(np.clip(pitch, 0.15, 1.1)),
            roll=float(rng.uniform(-0.15, 0.15)),
        )
        cluttered = replace(room, boxes=room.boxes + tuple(clutter),
                            materials=room.materials + tuple(materials))
        return cluttered, pose
    return None
