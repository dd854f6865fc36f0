"""A digital chest phantom: random but anatomically ordered, continuous in 3-D, integer HU.

`sample_anatomy` draws every random choice from the seed once (body size, fat layer, lungs,
heart, spine, ribs, vessel and airway trees, nodules); `render_slice` paints that anatomy on any
grid, so a phantom can be rendered at 64 or 512 pixels and at any slice spacing, and varies
smoothly along z because every structure is a 3-D shape cut by the slice plane.

Layers, painted in order (HU): air -1000; body ellipse of fat -100 around muscle 50; two lung
ellipsoids -850 with a +-30 HU parenchymal texture (random 3-D plane waves); pulmonary vessels 40
(branching tubes, 5 mm at the hilum down to < 1 mm); airways (tubes with a 40 HU wall and a -1000
lumen, from the trachea down four generations); pericardial fat -90 and a uniform heart 40
(the flat region the noise tests measure); descending aorta 40; vertebra (900 cortex, 250
trabecular, 700 posterior arch) with the spinal canal 20; sternum 500; ribs 600-900 (oblique
tubes along the chest wall, so they come and go between slices); nodules inside the lungs:
ground glass about -600 (soft edge), solid about 35 and calcified 300-700.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from radiomicgan.io.volume import SeriesMeta, Volume
from radiomicgan.simulate.shapes import (
    FloatArray,
    SliceGrid,
    Tube,
    coverage,
    ellipse_distance,
    paint,
    paint_tubes,
)

PHANTOM_FOV_MM = 360.0  # field of view of the default phantom (an adult chest is ~320 mm wide)
PHANTOM_SLICE_MM = 2.5  # default slice spacing
_SPINE_Y = 0.42  # vertebral body centre, as a fraction of the AP semi-axis
_STREAM = 0x50484E54  # "PHNT": keeps the phantom's random stream apart from the noise's

NoduleKind = Literal["ground_glass", "solid", "calcified"]
_NODULE_HU: dict[NoduleKind, tuple[float, float]] = {
    "ground_glass": (-650.0, -550.0),
    "solid": (20.0, 50.0),
    "calcified": (300.0, 700.0),
}
_NODULE_RADIUS_MM: dict[NoduleKind, tuple[float, float]] = {
    "ground_glass": (7.0, 12.0),
    "solid": (5.0, 10.0),
    "calcified": (3.0, 5.0),
}


@dataclass(frozen=True)
class Nodule:
    """A spherical lung nodule."""

    kind: NoduleKind
    centre_mm: tuple[float, float, float]
    radius_mm: float
    hu: float


@dataclass(frozen=True)
class ChestAnatomy:
    """Every random choice of one phantom (mm, HU); rendering adds no randomness."""

    body_axes_mm: tuple[float, float]  # lateral and antero-posterior semi-axes
    fat_mm: float  # subcutaneous fat thickness
    lung_axes_mm: tuple[float, float, float]  # semi-axes of each lung ellipsoid (x, y, z)
    lung_centres_mm: tuple[tuple[float, float, float], tuple[float, float, float]]  # right, left
    heart_centre_mm: tuple[float, float, float]
    heart_axes_mm: tuple[float, float, float]
    heart_angle_rad: float
    vertebra_radius_mm: float
    waves: NDArray[np.float64]  # lung texture: rows (kx, ky, kz, phase, amplitude), k in rad/mm
    vessels: tuple[Tube, ...]
    airways: tuple[Tube, ...]  # outer (wall) tubes; the lumen is painted at 0.6 of the radius
    ribs: tuple[Tube, ...]
    nodules: tuple[Nodule, ...]


def make_phantom(
    size_px: int, slices: int, seed: int, *, pixel_mm: float = 0.0, slice_mm: float = 0.0
) -> Volume:
    """Render the digital chest phantom of `seed` as a Volume centred on the patient origin.

    Args:
        size_px: in-plane matrix size.
        slices: number of axial slices, centred on z = 0 (mid-heart level).
        seed: random seed; the same seed gives the same anatomy at any size.
        pixel_mm: pixel size; 0 gives a 360 mm field of view.
        slice_mm: slice spacing; 0 gives 2.5 mm.

    Returns:
        Integer-valued HU volume [slices, size_px, size_px] with identity direction (columns
        towards the patient's left, rows posterior, slices superior).
    """
    if size_px < 16 or slices < 1:
        raise ValueError(f"a phantom needs size_px >= 16 and slices >= 1, got {size_px}, {slices}")
    pixel = pixel_mm or PHANTOM_FOV_MM / size_px
    spacing = slice_mm or PHANTOM_SLICE_MM
    z_mm = (np.arange(slices) - (slices - 1) / 2.0) * spacing
    anatomy = sample_anatomy(seed, z_range_mm=(float(z_mm[0]), float(z_mm[-1])))
    hu = np.stack([render_slice(anatomy, size_px, pixel, float(z)) for z in z_mm])
    corner = -(size_px - 1) / 2.0 * pixel
    return Volume(
        hu=hu.astype(np.float32),
        spacing_zyx_mm=(spacing, pixel, pixel),
        origin_xyz_mm=(corner, corner, float(z_mm[0])),
        meta=SeriesMeta(description=f"RadiomicGAN digital chest phantom, seed {seed}"),
    )


def sample_anatomy(seed: int, z_range_mm: tuple[float, float] = (0.0, 0.0)) -> ChestAnatomy:
    """Draw one chest from `seed`. Nodules are centred within `z_range_mm` so every one is seen."""
    rng = np.random.default_rng([seed, _STREAM])
    a, b = rng.uniform(148.0, 168.0), rng.uniform(100.0, 118.0)
    fat = rng.uniform(8.0, 15.0)
    lung_axes = (
        0.36 * a * rng.uniform(0.95, 1.05),
        0.70 * b * rng.uniform(0.95, 1.05),
        rng.uniform(120, 140),
    )
    lung_y = -0.05 * b
    centres = ((-0.48 * a, lung_y, 10.0), (0.48 * a, lung_y, 10.0))
    vertebra = 0.15 * b * rng.uniform(0.9, 1.1)
    vessels: list[Tube] = []
    airways: list[Tube] = []
    for side, centre in zip((-1.0, 1.0), centres, strict=True):
        for _ in range(6):  # arterial and venous trees fanning out of each hilum
            root = (side * 0.22 * a, lung_y + rng.uniform(-15, 15), rng.uniform(-60.0, 80.0))
            _grow(rng, vessels, root, _outward(rng, side), 4.5, 40.0, centre, lung_axes, depth=7)
        carina = (0.0, lung_y - 5.0, 40.0)
        airways.append(Tube((0.0, lung_y - 8.0, 400.0), carina, 9.0, 40.0))  # trachea
        bronchus_end = (side * 0.2 * a, lung_y, 20.0)
        airways.append(Tube(carina, bronchus_end, 6.5, 40.0))
        _grow(rng, airways, bronchus_end, _outward(rng, side), 5.0, 40.0, centre, lung_axes, depth=4)
    return ChestAnatomy(
        body_axes_mm=(a, b),
        fat_mm=fat,
        lung_axes_mm=lung_axes,
        lung_centres_mm=centres,
        heart_centre_mm=(0.12 * a, -0.2 * b, -20.0),
        heart_axes_mm=(0.30 * a * rng.uniform(0.9, 1.1), 0.36 * b * rng.uniform(0.9, 1.1), 80.0),
        heart_angle_rad=math.radians(rng.uniform(20.0, 40.0)),
        vertebra_radius_mm=vertebra,
        waves=_texture_waves(rng),
        vessels=tuple(vessels),
        airways=tuple(airways),
        ribs=tuple(_ribs(rng, a, b, fat)),
        nodules=tuple(_nodules(rng, centres, lung_axes, z_range_mm)),
    )


def render_slice(anatomy: ChestAnatomy, size_px: int, pixel_mm: float, z_mm: float) -> NDArray[np.float32]:
    """The phantom's axial slice at height `z_mm`, as integer HU [size_px, size_px]."""
    grid = SliceGrid.centred(size_px, pixel_mm, z_mm)
    a, b = anatomy.body_axes_mm
    wobble = 1.0 + 0.03 * math.sin(z_mm / 60.0)  # the chest widens and narrows along z
    a, b = a * wobble, b * wobble
    hu = np.full((size_px, size_px), -1000.0)
    paint(hu, coverage(ellipse_distance(grid, (0.0, 0.0), (a, b)), pixel_mm), -100.0)
    inner = (a - anatomy.fat_mm, b - anatomy.fat_mm)
    paint(hu, coverage(ellipse_distance(grid, (0.0, 0.0), inner), pixel_mm), 50.0)
    lungs = _paint_lungs(hu, grid, anatomy)
    vessels = hu.copy()
    paint_tubes(vessels, grid, list(anatomy.vessels))
    paint(hu, lungs, vessels)  # vessels only where the lungs are
    paint_tubes(hu, grid, list(anatomy.airways))
    paint_tubes(hu, grid, [_lumen(t) for t in anatomy.airways], radius_scale=0.6)
    _paint_nodules(hu, grid, anatomy.nodules)
    _paint_mediastinum(hu, grid, anatomy)
    _paint_bones(hu, grid, anatomy)
    paint_tubes(hu, grid, list(anatomy.ribs))
    integer_hu: NDArray[np.float32] = np.rint(hu).astype(np.float32)
    return integer_hu


def lung_mask(anatomy: ChestAnatomy, size_px: int, pixel_mm: float, z_mm: float) -> NDArray[np.bool_]:
    """Pixels inside either lung ellipsoid at height `z_mm` (before the heart is painted over)."""
    grid = SliceGrid.centred(size_px, pixel_mm, z_mm)
    inside = np.zeros((size_px, size_px), dtype=bool)
    for centre in anatomy.lung_centres_mm:
        axes = _lung_section(anatomy.lung_axes_mm, centre, z_mm)
        if axes is not None:
            inside |= ellipse_distance(grid, centre[:2], axes) < 0
    return inside


# --- sampling ---------------------------------------------------------------------------------------


def _outward(rng: np.random.Generator, side: float) -> FloatArray:
    direction: FloatArray = np.array([side, rng.uniform(-0.6, 0.6), rng.uniform(-0.8, 0.8)])
    return direction / np.linalg.norm(direction)


def _grow(
    rng: np.random.Generator,
    tubes: list[Tube],
    start: tuple[float, float, float],
    direction: FloatArray,
    radius: float,
    hu: float,
    lung_centre: tuple[float, float, float],
    lung_axes: tuple[float, float, float],
    depth: int,
) -> None:
    """A random binary tree of tubes; each child is 0.72 times thinner (Murray's law for two
    equal children: 2^(-1/3) = 0.79, a little less to reach capillary-like calibres sooner)."""
    if depth == 0 or radius < 0.6:
        return
    length = radius * rng.uniform(5.0, 8.0)
    inward = np.asarray(lung_centre) - np.asarray(start)
    inward /= max(float(np.linalg.norm(inward)), 1e-9)
    for _ in range(4):  # a branch that would leave the lung bends back towards its centre
        end = np.asarray(start) + direction * length
        scaled = (end - np.asarray(lung_centre)) / np.asarray(lung_axes)
        if float(scaled @ scaled) < 0.85:
            break
        direction = direction + 0.7 * inward
        direction /= np.linalg.norm(direction)
    else:
        return
    end_t = (float(end[0]), float(end[1]), float(end[2]))
    tubes.append(Tube(start, end_t, radius, hu))
    for _ in range(2):
        turn = rng.normal(size=3)
        child = direction + rng.uniform(0.4, 0.8) * (turn - (turn @ direction) * direction) / np.linalg.norm(
            turn
        )
        _grow(
            rng,
            tubes,
            end_t,
            child / np.linalg.norm(child),
            radius * 0.72,
            hu,
            lung_centre,
            lung_axes,
            depth - 1,
        )


def _texture_waves(rng: np.random.Generator, count: int = 24) -> FloatArray:
    wavelength = rng.uniform(4.0, 20.0, count)  # mm: alveolar clusters to secondary lobules
    direction = rng.normal(size=(count, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    k = direction * (2 * np.pi / wavelength)[:, None]
    amplitude = rng.uniform(0.5, 1.0, count)
    amplitude *= 30.0 * math.sqrt(2.0) / np.sqrt((amplitude**2).sum())  # 30 HU RMS in total
    return np.column_stack([k, rng.uniform(0, 2 * np.pi, count), amplitude])


def _ribs(rng: np.random.Generator, a: float, b: float, fat: float) -> list[Tube]:
    """Oblique ribs: each runs from the spine round the chest wall, falling 90 mm, so a slice
    cuts it in short oval sections, as in a clinical scan."""
    tubes: list[Tube] = []
    inset = fat + 6.0
    for z_top in np.arange(-200.0, 300.0, rng.uniform(24.0, 30.0)):
        radius, hu = rng.uniform(4.0, 5.5), rng.uniform(600.0, 900.0)
        for side in (-1.0, 1.0):
            phi = np.linspace(0.42 * np.pi, -0.42 * np.pi, 13)  # posterior (spine) to anterior
            x = side * (a - inset) * np.cos(phi)
            y = (b - inset) * np.sin(phi)
            z = z_top - 90.0 * np.linspace(0.0, 1.0, len(phi)) ** 1.3
            points = [(float(px), float(py), float(pz)) for px, py, pz in zip(x, y, z, strict=True)]
            tubes += [Tube(p, q, radius, hu) for p, q in itertools.pairwise(points)]
    return tubes


def _nodules(
    rng: np.random.Generator,
    centres: tuple[tuple[float, float, float], ...],
    lung_axes: tuple[float, float, float],
    z_range_mm: tuple[float, float],
) -> list[Nodule]:
    """One or two nodules of each kind, in the lateral half of a lung (clear of the heart and the
    ribs), centred within the slab and not touching one another."""
    nodules: list[Nodule] = []
    kinds: tuple[NoduleKind, ...] = ("ground_glass", "solid", "calcified")
    for kind in kinds:
        for _ in range(int(rng.integers(1, 3))):
            radius, hu = rng.uniform(*_NODULE_RADIUS_MM[kind]), round(rng.uniform(*_NODULE_HU[kind]))
            for _ in range(20):
                lung = centres[int(rng.integers(0, 2))]
                z = rng.uniform(*z_range_mm) if z_range_mm[1] > z_range_mm[0] else z_range_mm[0]
                axes = _lung_section(lung_axes, lung, z) or (lung_axes[0] * 0.5, lung_axes[1] * 0.5)
                r, angle = 0.55 * math.sqrt(rng.uniform()), rng.uniform(-np.pi / 2, np.pi / 2)
                dx, dy = math.copysign(r * axes[0] * math.cos(angle), lung[0]), r * axes[1] * math.sin(angle)
                centre = (lung[0] + dx, lung[1] + dy, z)
                if all(math.dist(centre, n.centre_mm) > radius + n.radius_mm + 3.0 for n in nodules):
                    nodules.append(Nodule(kind, centre, radius, hu))
                    break
    return nodules


# --- rendering --------------------------------------------------------------------------------------


def _lung_section(
    axes: tuple[float, float, float], centre: tuple[float, float, float], z_mm: float
) -> tuple[float, float] | None:
    height = (z_mm - centre[2]) / axes[2]
    if abs(height) >= 1.0:
        return None
    scale = math.sqrt(1.0 - height**2)
    return axes[0] * scale, axes[1] * scale


def _paint_lungs(hu: FloatArray, grid: SliceGrid, anatomy: ChestAnatomy) -> FloatArray:
    """Paint both lungs with texture; return their coverage (0..1) for masking the vessels."""
    lungs = np.zeros_like(hu)
    for centre in anatomy.lung_centres_mm:
        axes = _lung_section(anatomy.lung_axes_mm, centre, grid.z_mm)
        if axes is not None:
            lungs = np.maximum(lungs, coverage(ellipse_distance(grid, centre[:2], axes), grid.pixel_mm))
    w = anatomy.waves
    phase = grid.x_mm[..., None] * w[:, 0] + grid.y_mm[..., None] * w[:, 1] + grid.z_mm * w[:, 2] + w[:, 3]
    texture = (np.cos(phase) * w[:, 4]).sum(axis=-1)
    paint(hu, lungs, -850.0 + texture)
    return lungs


def _lumen(tube: Tube) -> Tube:
    return Tube(tube.start_mm, tube.end_mm, tube.radius_mm, -1000.0)


def _paint_nodules(hu: FloatArray, grid: SliceGrid, nodules: tuple[Nodule, ...]) -> None:
    for nodule in nodules:
        x, y, z = nodule.centre_mm
        section2 = nodule.radius_mm**2 - (grid.z_mm - z) ** 2
        if section2 <= 0:
            continue
        distance = np.hypot(grid.x_mm - x, grid.y_mm - y) - math.sqrt(section2)
        if nodule.kind == "ground_glass":  # hazy margin: a 3 mm linear fade instead of one pixel
            fraction = np.clip(0.5 - distance / max(3.0, grid.pixel_mm), 0.0, 1.0)
        else:
            fraction = coverage(distance, grid.pixel_mm)
        paint(hu, fraction, nodule.hu)


def _paint_mediastinum(hu: FloatArray, grid: SliceGrid, anatomy: ChestAnatomy) -> None:
    b = anatomy.body_axes_mm[1]
    pixel = grid.pixel_mm
    cx, cy, cz = anatomy.heart_centre_mm
    hx, hy, hz = anatomy.heart_axes_mm
    height = (grid.z_mm - cz) / hz
    if abs(height) < 1.0:
        scale = math.sqrt(1.0 - height**2)
        axes = (hx * scale, hy * scale)
        fat_axes = (axes[0] + 4.0, axes[1] + 4.0)
        paint(hu, coverage(ellipse_distance(grid, (cx, cy), fat_axes, anatomy.heart_angle_rad), pixel), -90.0)
        paint(hu, coverage(ellipse_distance(grid, (cx, cy), axes, anatomy.heart_angle_rad), pixel), 40.0)
    aorta = (anatomy.vertebra_radius_mm + 14.0, _SPINE_Y * b - 6.0)  # left of the vertebra
    paint(hu, coverage(np.hypot(grid.x_mm - aorta[0], grid.y_mm - aorta[1]) - 12.0, pixel), 40.0)


def _paint_bones(hu: FloatArray, grid: SliceGrid, anatomy: ChestAnatomy) -> None:
    b = anatomy.body_axes_mm[1]
    pixel, r = grid.pixel_mm, anatomy.vertebra_radius_mm
    spine_y = _SPINE_Y * b
    centre = np.hypot(grid.x_mm, grid.y_mm - spine_y)
    paint(hu, coverage(centre - r, pixel), 900.0)  # cortical shell ...
    paint(hu, coverage(centre - (r - 2.0), pixel), 250.0)  # ... around trabecular bone
    canal_y = spine_y + r + 6.0
    paint(hu, coverage(ellipse_distance(grid, (0.0, canal_y + 3.0), (14.0, 9.0)), pixel), 700.0)
    paint(hu, coverage(np.hypot(grid.x_mm, grid.y_mm - canal_y) - 6.0, pixel), 20.0)
    sternum_y = -b + anatomy.fat_mm + 10.0
    paint(hu, coverage(ellipse_distance(grid, (0.0, sternum_y), (13.0, 6.0)), pixel), 500.0)
