"""A patient with lesions of known size and density: spherical nodules inserted into the phantom's
lungs before it is scanned, so every nodule gets each kernel's blur and noise, and its label volume.

`simulate_nodules("p1/", SimulationConfig(seed=1), [Nodule(8.0, 40.0), Nodule(12.0, -300.0)])`
writes p1/<series>/ (as `simulate_to_folder`) and p1/nodules.nrrd, label i + 1 for nodule i, on the
series' grid: a cohort of several seeds is what `evaluate --manifest` measures at the lesion level.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from radiomicgan.config import SimulationConfig
from radiomicgan.errors import ConfigError, OutputError
from radiomicgan.io.atomic import check_output
from radiomicgan.io.volume import Volume
from radiomicgan.io.writer import write_volume
from radiomicgan.simulate.folder import SimulationResult, simulate_to_folder
from radiomicgan.simulate.phantom import make_phantom

logger = logging.getLogger(__name__)

LABELS_NAME = "nodules.nrrd"
_PARENCHYMA_HU = (-950.0, -700.0)  # the phantom's lung (-850 +- 30 texture): no air, vessel or nodule
_CLEARANCE_MM = 3.0  # parenchyma kept between a nodule and the lung's edge or another nodule


@dataclass(frozen=True)
class Nodule:
    """A spherical nodule to insert: its diameter (mm) and uniform density (HU)."""

    diameter_mm: float
    hu: float


@dataclass(frozen=True)
class NoduleScan:
    """A volume with nodules inserted and its labels [z, y, x] (int16, nodule i is label i + 1).

    Attributes:
        volume: the object with the nodules painted in (HU), on the input's grid.
        labels: the voxels whose centre lies in each nodule (exactly the painted voxels).
        centres_zyx: each nodule's centre voxel index (z, y, x).
    """

    volume: Volume
    labels: NDArray[np.int16]
    centres_zyx: tuple[tuple[int, int, int], ...]


@dataclass(frozen=True)
class NoduleSimulation:
    """What `simulate_nodules` wrote: the series (as `simulate_to_folder`) and the label volume."""

    series: SimulationResult
    labels: Path
    nodules: tuple[Nodule, ...]


def insert_nodules(volume: Volume, nodules: list[Nodule], seed: int) -> NoduleScan:
    """Paint `nodules` into the lungs of `volume` (the phantom), centred on its middle slice.

    Each centre is a voxel of the middle slice drawn at random (from `seed`) among those of lung
    parenchyma at least the radius plus 3 mm from the lung's edge and from the nodules already
    placed; a voxel is inside a nodule when its centre is (no partial volume, so the labels are
    exactly the painted voxels).

    Raises:
        ConfigError: a nodule taller than the slab or with no room left in the lungs.
    """
    rng = np.random.default_rng(seed)
    dz, dy, dx = volume.spacing_zyx_mm
    middle = volume.shape[0] // 2
    half_slab_mm = (min(middle, volume.shape[0] - 1 - middle) + 0.5) * dz
    section = volume.hu[middle]
    lung = ndimage.binary_fill_holes((section > _PARENCHYMA_HU[0]) & (section < _PARENCHYMA_HU[1]))
    depth_mm = ndimage.distance_transform_edt(lung, sampling=(dy, dx))
    z, y, x = np.meshgrid(
        *(np.arange(n) * s for n, s in zip(volume.shape, (dz, dy, dx), strict=True)), indexing="ij"
    )
    hu, labels, centres = volume.hu.copy(), np.zeros(volume.shape, dtype=np.int16), []
    for number, nodule in enumerate(nodules, start=1):
        radius = nodule.diameter_mm / 2.0
        if radius > half_slab_mm:
            raise ConfigError(
                f"a nodule of {nodule.diameter_mm:g} mm does not fit in {volume.shape[0]} slices of {dz:g} mm"
            )
        room = np.argwhere(depth_mm >= radius + _CLEARANCE_MM)
        if room.size == 0:
            raise ConfigError(f"no room left in the lungs for a nodule of {nodule.diameter_mm:g} mm")
        row, column = (int(i) for i in room[rng.integers(len(room))])
        centre_mm = (middle * dz, row * dy, column * dx)
        inside = (z - centre_mm[0]) ** 2 + (y - centre_mm[1]) ** 2 + (x - centre_mm[2]) ** 2 <= radius**2
        hu[inside], labels[inside] = nodule.hu, number
        centres.append((middle, row, column))
        taken = np.hypot(y[0] - centre_mm[1], x[0] - centre_mm[2]) < radius + _CLEARANCE_MM
        depth_mm = np.where(taken, 0.0, np.minimum(depth_mm, _gap_mm(taken, (dy, dx))))
    return NoduleScan(replace(volume, hu=hu.astype(np.float32)), labels, tuple(centres))


def _gap_mm(taken: NDArray[np.bool_], spacing_yx_mm: tuple[float, float]) -> NDArray[np.float64]:
    """Distance (mm) of every pixel to the area a nodule took: how large a later nodule may be there."""
    gap: NDArray[np.float64] = ndimage.distance_transform_edt(~taken, sampling=spacing_yx_mm)
    return gap


def simulate_nodules(
    out_dir: str | Path, config: SimulationConfig, nodules: list[Nodule], *, progress: bool = True
) -> NoduleSimulation:
    """Scan the phantom of `config.seed` with `nodules` inserted; write its series and label volume.

    Args:
        out_dir: the folder to create: one DICOM series per kernel (as `simulate_to_folder`) and
            `nodules.nrrd`, the labels on the series' grid (nodule i is label i + 1).
        config: the simulation (kernels, size, slices, seed: the anatomy and where nodules go).
        nodules: diameters and densities, placed as `insert_nodules` says.
        progress: show a progress bar over the slices.

    Raises:
        ConfigError: a nodule does not fit (see `insert_nodules`), or an unknown kernel.
        OutputError: out_dir exists and is not empty, or cannot be written (nothing is left).
    """
    out = Path(out_dir)
    check_output(out, overwrite=False, inputs=[], is_dir=True)
    phantom = make_phantom(
        config.size_px, config.slices, config.seed, pixel_mm=config.pixel_mm, slice_mm=config.slice_mm
    )
    scan = insert_nodules(phantom, nodules, config.seed)
    series = simulate_to_folder(scan.volume, out, config, progress=progress)
    try:
        labels = scan.volume.with_hu(scan.labels.astype(np.float32))
        path = write_volume(replace(labels, datasets=None, source_format="memory"), out / LABELS_NAME)
    except OutputError:
        shutil.rmtree(out, ignore_errors=True)  # the folder appears whole or not at all
        raise
    logger.info("inserted %d nodule(s) into the phantom of seed %d", len(nodules), config.seed)
    return NoduleSimulation(series, path, tuple(nodules))
