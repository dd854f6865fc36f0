"""Nodules of known size and density inserted into the phantom before its scan, with their labels."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from radiomicgan.config import SimulationConfig
from radiomicgan.errors import ConfigError, OutputError
from radiomicgan.io import read_volume
from radiomicgan.io.masks.grid import Grid
from radiomicgan.simulate.nodules import Nodule, insert_nodules, simulate_nodules
from radiomicgan.simulate.phantom import make_phantom

LUNG_HU = -850.0  # the phantom's parenchyma around a nodule


def test_voxel_counts_match_each_sphere_and_the_centre_its_density() -> None:
    phantom = make_phantom(128, 15, seed=3, pixel_mm=2.0, slice_mm=1.5)
    nodules = [Nodule(14.0, 40.0), Nodule(9.0, -300.0), Nodule(6.0, 500.0)]
    scan = insert_nodules(phantom, nodules, seed=3)
    dz, dy, dx = phantom.spacing_zyx_mm
    # A voxel counts when its centre is inside: every counted voxel lies within r + h of the centre
    # and every voxel within r - h is counted (h: half the voxel's diagonal), so the counted volume
    # lies between the spheres of radius r - h and r + h, whatever the centre's position.
    half_diagonal = 0.5 * math.sqrt(dz**2 + dy**2 + dx**2)
    for label, (nodule, centre) in enumerate(zip(nodules, scan.centres_zyx, strict=True), start=1):
        radius = nodule.diameter_mm / 2.0
        counted_mm3 = (scan.labels == label).sum() * dz * dy * dx
        assert 4 / 3 * math.pi * (radius - half_diagonal) ** 3 <= counted_mm3
        assert counted_mm3 <= 4 / 3 * math.pi * (radius + half_diagonal) ** 3
        assert scan.volume.hu[centre] == nodule.hu and scan.labels[centre] == label
        assert np.all(scan.volume.hu[scan.labels == label] == nodule.hu)  # the labels are the painted voxels
    # in the lungs, apart, and the phantom elsewhere untouched
    assert all(phantom.hu[c] < -700 for c in scan.centres_zyx)
    assert np.array_equal(scan.volume.hu[scan.labels == 0], phantom.hu[scan.labels == 0])
    assert scan.volume.spacing_zyx_mm == phantom.spacing_zyx_mm


def test_a_nodule_taller_than_the_slab_is_refused() -> None:
    with pytest.raises(ConfigError, match="does not fit in 4 slices"):
        insert_nodules(make_phantom(64, 4, seed=1), [Nodule(12.0, 40.0)], seed=1)


@pytest.mark.slow
def test_simulated_nodules_are_scanned_with_their_labels_on_the_series_grid(tmp_path: Path) -> None:
    config = SimulationConfig(
        kernels=("smooth", "sharp"), standard_kernel="sharp", size_px=96, slices=7, pixel_mm=2.5,
        slice_mm=2.5, photons_per_ray=math.inf, seed=5, jobs=1,
    )  # fmt: skip
    nodules = [Nodule(12.0, 60.0), Nodule(10.0, -300.0)]
    result = simulate_nodules(tmp_path / "patient", config, nodules, progress=False)
    labels = read_volume(result.labels)
    assert result.labels == tmp_path / "patient" / "nodules.nrrd"
    assert set(np.unique(labels.hu)) == {0.0, 1.0, 2.0}
    for kernel in ("smooth", "sharp"):
        ct = read_volume(result.series.series_dirs[kernel])
        assert Grid.of(labels).matches(Grid.of(ct))
        for label, nodule in enumerate(nodules, start=1):
            centre = tuple(np.round(np.argwhere(labels.hu == label).mean(axis=0)).astype(int))
            # noiseless: only the kernel's blur moves the centre of a 4-5 pixel wide ball, by a few
            # percent of its contrast with the lung (measured: at most 5 %)
            assert abs(ct.hu[centre] - nodule.hu) < 0.1 * abs(nodule.hu - LUNG_HU)
    with pytest.raises(OutputError):  # a folder holding a patient already is never replaced
        simulate_nodules(tmp_path / "patient", config, nodules, progress=False)
