"""Paired kernels from one noisy scan: HU -> attenuation -> sinogram -> Poisson counts -> FBP (-> PWLS).

Per slice: mu = mu_water (1 + HU / 1000) with HU clipped at -1000 (mu >= 0); one forward
projection; photon counts I0 exp(-p) drawn from a Poisson law; back to line integrals; then the
SAME noisy sinogram is filtered with every kernel and back projected, and mu goes back to HU.
The kernels' images are therefore perfectly registered and share one noise realization (their
noise is correlated, as two reconstructions of one raw scan are); the retest reconstructs the
standard kernel from a second, independent Poisson draw of the same object.

An iterative series ("smooth+ir3", `radiomicgan.reconstruction`) starts penalized weighted least
squares from its kernel's FBP image and blends the result with that image at its strength
(`simulate.iterative`); one PWLS image per slice serves every strength of a kernel and dose.

A series with a dose f < 1 is reconstructed from counts thinned from the full-dose ones
(`simulate.acquisition`, which also says how the random draws are keyed).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import multiprocessing
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace

import numpy as np
import torch
from numpy.typing import NDArray

from radiomicgan.config import SimulationConfig
from radiomicgan.errors import ConfigError, InputError
from radiomicgan.io.convolution_kernel import DICOM_SEPARATOR
from radiomicgan.io.uids import deterministic_uid
from radiomicgan.io.volume import SeriesMeta, Volume
from radiomicgan.progress import progress_bar
from radiomicgan.reconstruction import Reconstruction, parse_reconstruction
from radiomicgan.simulate.acquisition import Acquisition, acquire
from radiomicgan.simulate.iterative import blend_strength, pwls_reconstruct
from radiomicgan.simulate.kernels import discrete_filter, get_kernel
from radiomicgan.simulate.projector import Projector, filter_projections, get_projector

logger = logging.getLogger(__name__)

MU_WATER_PER_MM = 0.0192  # water at ~70 keV, the effective energy of a 120 kVp beam (NIST XCOM)
RETEST_SUFFIX = "_retest"
_SERIES_DESCRIPTION_MAX = 64  # SeriesDescription is LO: at most 64 characters


@dataclass(frozen=True)
class _SliceTask:
    """Everything one worker needs to reconstruct one slice (picklable)."""

    hu: NDArray[np.float32]
    pixel_mm: float
    kernels: tuple[str, ...]
    retest_kernel: str | None
    photons_per_ray: float
    angles: int
    seed: int
    index: int
    doses: tuple[tuple[str, float], ...] = ()
    retest_dose: float = 1.0


@dataclass(frozen=True)
class _Series:
    """One output image of a slice: a preset reconstructed from one acquisition."""

    preset: Reconstruction
    realization: int  # 0: the scan, 1: the retest (an independent Poisson draw)
    dose: float  # fraction of the full dose's photons

    @property
    def acquisition(self) -> tuple[int, float]:
        return self.realization, self.dose


def reconstruct_slice(
    hu: NDArray[np.float32],
    *,
    pixel_mm: float,
    kernels: Sequence[str],
    retest_kernel: str | None = None,
    photons_per_ray: float = 2.0e5,
    angles: int = 0,
    seed: int = 0,
    slice_index: int = 0,
    doses: Mapping[str, float] | None = None,
    retest_dose: float = 1.0,
) -> NDArray[np.float32]:
    """Scan one square slice once and reconstruct it with each preset.

    Args:
        hu: [n, n] slice in HU.
        pixel_mm: its pixel size (sets the attenuation per pixel, hence the noise).
        kernels: preset names ("sharp", "smooth+ir3"), one output image each.
        retest_kernel: if given, one more image: this preset on an independent noise realization.
        photons_per_ray: unattenuated photons per detector bin and angle; math.inf for no noise.
        angles: projections over 180 degrees; 0 means ceil(pi/2 n).
        seed: noise seed; with `slice_index` it fixes the Poisson draws.
        slice_index: position of the slice in its volume (a different noise per slice).
        doses: preset name -> fraction of `photons_per_ray` in (0, 1]; others get the full dose.
        retest_dose: the same for the retest.

    Returns:
        [len(kernels) (+1), n, n] float32 HU images.

    Raises:
        ConfigError: an unknown preset.
    """
    if hu.ndim != 2 or hu.shape[0] != hu.shape[1]:
        raise ValueError(f"a slice must be square, got shape {hu.shape}")
    doses = doses or {}
    series = [_Series(parse_reconstruction(name), 0, doses.get(name, 1.0)) for name in kernels]
    if retest_kernel is not None:
        series.append(_Series(parse_reconstruction(retest_kernel), 1, retest_dose))
    projector = get_projector(hu.shape[0], angles)
    mu_per_px = MU_WATER_PER_MM * pixel_mm
    attenuation = (mu_per_px * (1.0 + np.maximum(hu, -1000.0) / 1000.0)).astype(np.float32)
    line_integrals = projector.forward(attenuation)
    needed = [one.acquisition for one in series]
    acquisitions = acquire(line_integrals, photons_per_ray, needed, (seed, slice_index))
    fbp = _filtered_back_projections(projector, acquisitions, series)
    iterative: dict[tuple[tuple[int, float], str], NDArray[np.float32]] = {}
    images = []
    for one in series:
        key = (one.acquisition, one.preset.kernel)
        image = fbp[key]
        if one.preset.iterative:
            if key not in iterative:  # one PWLS per kernel and acquisition serves every strength
                iterative[key] = _pwls(projector, acquisitions[one.acquisition], image, mu_per_px)
            image = blend_strength(image, iterative[key], one.preset.strength)
        images.append(image)
    return (1000.0 * (np.stack(images) / mu_per_px - 1.0)).astype(np.float32)


def _filtered_back_projections(
    projector: Projector, acquisitions: dict[tuple[int, float], Acquisition], series: list[_Series]
) -> dict[tuple[tuple[int, float], str], NDArray[np.float32]]:
    """Each kernel's FBP attenuation image of each acquisition it is needed on, back projected in one call."""
    n_fft = projector.geometry.fft_length
    needed = dict.fromkeys((one.acquisition, one.preset.kernel) for one in series)
    filtered, order = [], []
    for acquisition, scan in acquisitions.items():
        kernels = [kernel for (used_on, kernel) in needed if used_on == acquisition]
        filters = np.stack([discrete_filter(name, n_fft) for name in kernels])
        filtered.append(filter_projections(scan.line_integrals, filters))
        order += [(acquisition, kernel) for kernel in kernels]
    return dict(zip(order, projector.back(np.concatenate(filtered)), strict=True))


def _pwls(
    projector: Projector, scan: Acquisition, fbp: NDArray[np.float32], mu_per_px: float
) -> NDArray[np.float32]:
    """The PWLS image of one acquisition, started from a kernel's FBP image, weighted by its own counts."""
    if scan.counts is None:  # no noise: exp(-y) is the counts' shape, up to the (infinite) I0
        counts = np.exp(-scan.line_integrals.astype(np.float64))
    else:
        counts = scan.counts.astype(np.float64)
    return pwls_reconstruct(projector, scan.line_integrals, counts, fbp, mu_per_px)


def simulate_kernels(volume: Volume, config: SimulationConfig, *, progress: bool = True) -> dict[str, Volume]:
    """Reconstruct every slice of `volume` with each configured preset (and the retest).

    The volume is used as it is (see `prepare_source` to pick slices and resample first).
    All outputs share the volume's geometry, one new study and frame of reference derived from
    the volume's content and the noise settings, and each has its own series UID.

    Args:
        volume: square slices in HU.
        config: presets, standard kernel, retest, doses, photons_per_ray, angles, seed and jobs.
        progress: show a progress bar over the slices (log lines when stderr is no terminal).

    Returns:
        Series name -> Volume, in `config.kernels` order, then f"{standard}_retest" if asked
        (`SimulationConfig.series_names`). An iterative series' `meta.kernel` holds two values,
        kernel and strength ("smooth\\3"), as vendors write ADMIRE or SAFIRE levels.

    Raises:
        ConfigError: an unknown kernel name.
        InputError: the slices are not square.
    """
    for name in (*config.kernels, config.standard_kernel):
        parse_reconstruction(name)  # an unknown kernel or strength fails before any slice
    _, rows, columns = volume.shape
    if rows != columns or abs(volume.spacing_zyx_mm[1] - volume.spacing_zyx_mm[2]) > 1e-6:
        where = volume.source_path or "<volume>"
        raise InputError(where, f"slices must be square with square pixels, got {rows}x{columns}")
    retest = config.standard_kernel if config.retest else None
    names = config.series_names()
    tasks = [
        _SliceTask(
            volume.hu[i],
            volume.spacing_zyx_mm[1],
            tuple(config.kernels),
            retest,
            config.photons_per_ray,
            config.angles,
            config.seed,
            i,
            tuple((name, config.doses[name]) for name in config.kernels if name in config.doses),
            config.doses.get(f"{retest}{RETEST_SUFFIX}", 1.0),
        )
        for i in range(volume.shape[0])
    ]
    images = np.stack(_run(tasks, config.jobs, progress), axis=1)  # [outputs, z, y, x]
    scan = _scan_digest(volume, config)
    study, frame = deterministic_uid("simulation-study", scan), deterministic_uid("simulation-for", scan)
    outputs: dict[str, Volume] = {}
    for name, hu in zip(names, images, strict=True):
        dose = config.doses.get(name, 1.0)
        preset = parse_reconstruction(name.removesuffix(RETEST_SUFFIX))
        meta = SeriesMeta(
            study,
            frame,
            deterministic_uid("simulation-series", scan, series_label(name, dose)),
            DICOM_SEPARATOR.join(preset.convolution_kernel),
            "CT",
            series_description(name, dose),
        )
        outputs[name] = replace(
            volume, hu=hu, meta=meta, datasets=None, source_path=None, source_format="memory"
        )
    return outputs


def series_label(name: str, dose: float = 1.0) -> str:
    """A series' folder name (and the seed of its UID): its name, with "_dose25" at a quarter dose.

    Names stay safe on every file system: presets and doses use letters, digits, '+', '_' and '.'.
    """
    return name if dose == 1.0 else f"{name}_dose{_percent(dose)}"


def series_description(name: str, dose: float = 1.0) -> str:
    """SeriesDescription of a simulated series: "smooth kernel + IR strength 3, 25 % dose".

    A plain FBP series keeps the vendor analogue, "smooth kernel (Siemens Br40-like)".
    """
    preset = parse_reconstruction(name.removesuffix(RETEST_SUFFIX))
    if preset.iterative:
        parts = [f"{preset.kernel} kernel + IR strength {preset.strength}"]
    else:
        parts = [f"{preset.kernel} kernel ({get_kernel(preset.kernel).vendor_analogue}-like)"]
    if dose != 1.0:
        parts.append(f"{_percent(dose)} % dose")
    if name.endswith(RETEST_SUFFIX):
        parts.append("retest: independent noise")
    description = ", ".join(parts)
    if len(description) > _SERIES_DESCRIPTION_MAX:  # only an iterative, reduced-dose retest
        description = description.removesuffix(": independent noise")
    return description


def _percent(dose: float) -> str:
    return f"{100.0 * dose:.3g}"


def simulate_pair(
    volume: Volume,
    non_standard: str,
    standard: str,
    *,
    seed: int = 0,
    photons_per_ray: float = SimulationConfig.photons_per_ray,
    jobs: int = 1,
) -> tuple[Volume, Volume]:
    """One scan of `volume` reconstructed with two kernels: (non-standard, standard).

    Args:
        volume: square slices in HU, used as they are.
        non_standard: the input kernel's name (e.g. "smooth").
        standard: the target kernel's name (e.g. "sharp").
        seed: noise seed.
        photons_per_ray: unattenuated photons per detector bin (math.inf: no noise).
        jobs: worker processes; 1 runs in this process, 0 uses all cores.

    Raises:
        ConfigError: the two kernels are the same or unknown.
    """
    if non_standard == standard:
        raise ConfigError(f"simulate_pair: the two kernels must differ, got {standard!r} twice")
    _, size, _ = volume.shape
    config = SimulationConfig(
        kernels=(non_standard, standard),
        standard_kernel=standard,
        slices=volume.shape[0],
        size_px=size,
        photons_per_ray=photons_per_ray,
        seed=seed,
        jobs=jobs,
    )
    outputs = simulate_kernels(volume, config)
    return outputs[non_standard], outputs[standard]


def _scan_digest(volume: Volume, config: SimulationConfig) -> str:
    """A hash of what makes one simulated scan: the object, its geometry and the noise settings."""
    digest = hashlib.sha256(np.ascontiguousarray(volume.hu).tobytes())
    settings = (
        volume.spacing_zyx_mm,
        volume.origin_xyz_mm,
        config.seed,
        config.photons_per_ray,
        config.angles,
    )
    digest.update(repr(settings).encode())
    return digest.hexdigest()


def _run(tasks: list[_SliceTask], jobs: int, progress: bool) -> list[NDArray[np.float32]]:
    """Reconstruct slices in worker processes (one torch thread each), with a progress bar."""
    workers = min(jobs or _cpu_count(), len(tasks))
    bar = functools.partial(progress_bar, total=len(tasks), desc="simulate", unit="slice", enabled=progress)
    if workers <= 1:
        return [_reconstruct(task) for task in bar(tasks)]
    logger.info("simulating %d slices in %d processes", len(tasks), workers)
    # spawn, not fork: a forked child inherits torch's thread pool in an undefined state
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker) as pool:
        return list(bar(pool.map(_reconstruct, tasks)))


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _init_worker() -> None:
    torch.set_num_threads(1)  # one process per core already; more threads only contend


def _reconstruct(task: _SliceTask) -> NDArray[np.float32]:
    return reconstruct_slice(
        task.hu,
        pixel_mm=task.pixel_mm,
        kernels=task.kernels,
        retest_kernel=task.retest_kernel,
        photons_per_ray=task.photons_per_ray,
        angles=task.angles,
        seed=task.seed,
        slice_index=task.index,
        doses=dict(task.doses),
        retest_dose=task.retest_dose,
    )
