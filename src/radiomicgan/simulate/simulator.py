"""Paired kernels from one noisy scan: HU -> attenuation -> sinogram -> Poisson counts -> FBP.

Per slice: mu = mu_water (1 + HU / 1000) with HU clipped at -1000 (mu >= 0); one forward
projection; photon counts I0 exp(-p) drawn from a Poisson law; back to line integrals; then the
SAME noisy sinogram is filtered with every kernel and back projected, and mu goes back to HU.
The kernels' images are therefore perfectly registered and share one noise realization (their
noise is correlated, as two reconstructions of one raw scan are); the retest reconstructs the
standard kernel from a second, independent Poisson draw of the same object.

Randomness: the noise of slice i, realization r comes from numpy's Generator seeded with
(seed, i, r), so results do not depend on how slices are spread over worker processes.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace

import numpy as np
import torch
from numpy.typing import NDArray

from radiomicgan.config import SimulationConfig
from radiomicgan.errors import ConfigError, InputError
from radiomicgan.io.uids import deterministic_uid
from radiomicgan.io.volume import SeriesMeta, Volume
from radiomicgan.progress import progress_bar
from radiomicgan.simulate.kernels import discrete_filter, get_kernel
from radiomicgan.simulate.projector import filter_projections, get_projector

logger = logging.getLogger(__name__)

MU_WATER_PER_MM = 0.0192  # water at ~70 keV, the effective energy of a 120 kVp beam (NIST XCOM)
_NOISE_STREAM = 0x4E4F4953  # "NOIS": keeps the noise's random stream apart from the phantom's
RETEST_SUFFIX = "_retest"


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
) -> NDArray[np.float32]:
    """Scan one square slice once and reconstruct it with each kernel.

    Args:
        hu: [n, n] slice in HU.
        pixel_mm: its pixel size (sets the attenuation per pixel, hence the noise).
        kernels: kernel names, one output image each.
        retest_kernel: if given, one more image: this kernel on an independent noise realization.
        photons_per_ray: unattenuated photons per detector bin and angle; math.inf for no noise.
        angles: projections over 180 degrees; 0 means ceil(pi/2 n).
        seed: noise seed; with `slice_index` it fixes the Poisson draws.
        slice_index: position of the slice in its volume (a different noise per slice).

    Returns:
        [len(kernels) (+1), n, n] float32 HU images.
    """
    if hu.ndim != 2 or hu.shape[0] != hu.shape[1]:
        raise ValueError(f"a slice must be square, got shape {hu.shape}")
    projector = get_projector(hu.shape[0], angles)
    mu_per_px = MU_WATER_PER_MM * pixel_mm
    attenuation = (mu_per_px * (1.0 + np.maximum(hu, -1000.0) / 1000.0)).astype(np.float32)
    line_integrals = projector.forward(attenuation)
    n_fft = projector.geometry.fft_length
    filters = np.stack([discrete_filter(name, n_fft) for name in kernels])
    filtered = filter_projections(_noisy(line_integrals, photons_per_ray, (seed, slice_index, 0)), filters)
    if retest_kernel is not None:
        retest = _noisy(line_integrals, photons_per_ray, (seed, slice_index, 1))
        filtered = np.concatenate(
            [filtered, filter_projections(retest, discrete_filter(retest_kernel, n_fft)[None])]
        )
    images = projector.back(filtered)
    return (1000.0 * (images / mu_per_px - 1.0)).astype(np.float32)


def _noisy(
    line_integrals: NDArray[np.float32], photons: float, key: tuple[int, int, int]
) -> NDArray[np.float32]:
    """Line integrals measured with Poisson-distributed photon counts (none lost to zero)."""
    if math.isinf(photons):
        return line_integrals
    rng = np.random.default_rng([*key, _NOISE_STREAM])
    counts = rng.poisson(photons * np.exp(-line_integrals.astype(np.float64)))
    # A ray that counted nothing would give an infinite line integral: count it as one photon.
    return np.log(photons / np.maximum(counts, 1)).astype(np.float32)


def simulate_kernels(volume: Volume, config: SimulationConfig, *, progress: bool = True) -> dict[str, Volume]:
    """Reconstruct every slice of `volume` with each configured kernel (and the retest).

    The volume is used as it is (see `prepare_source` to pick slices and resample first).
    All outputs share the volume's geometry, one new study and frame of reference derived from
    the volume's content and the noise settings, and each has its own series UID.

    Args:
        volume: square slices in HU.
        config: kernels, standard kernel, retest, photons_per_ray, angles, seed and jobs.
        progress: show a progress bar over the slices (log lines when stderr is no terminal).

    Returns:
        Kernel name -> Volume, in `config.kernels` order, then f"{standard}_retest" if asked.

    Raises:
        ConfigError: an unknown kernel name.
        InputError: the slices are not square.
    """
    for name in (*config.kernels, config.standard_kernel):
        get_kernel(name)
    _, rows, columns = volume.shape
    if rows != columns or abs(volume.spacing_zyx_mm[1] - volume.spacing_zyx_mm[2]) > 1e-6:
        where = volume.source_path or "<volume>"
        raise InputError(where, f"slices must be square with square pixels, got {rows}x{columns}")
    retest = config.standard_kernel if config.retest else None
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
        )
        for i in range(volume.shape[0])
    ]
    images = np.stack(_run(tasks, config.jobs, progress), axis=1)  # [outputs, z, y, x]
    keys = [*config.kernels, *([f"{retest}{RETEST_SUFFIX}"] if retest else [])]
    scan = _scan_digest(volume, config)
    study, frame = deterministic_uid("simulation-study", scan), deterministic_uid("simulation-for", scan)
    outputs: dict[str, Volume] = {}
    for key, hu in zip(keys, images, strict=True):
        kernel = key.removesuffix(RETEST_SUFFIX)
        preset = get_kernel(kernel)
        description = f"{kernel} kernel ({preset.vendor_analogue}-like)"
        if key.endswith(RETEST_SUFFIX):
            description += ", retest: independent noise"
        meta = SeriesMeta(
            study, frame, deterministic_uid("simulation-series", scan, key), kernel, "CT", description
        )
        outputs[key] = replace(
            volume, hu=hu, meta=meta, datasets=None, source_path=None, source_format="memory"
        )
    return outputs


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
    )
