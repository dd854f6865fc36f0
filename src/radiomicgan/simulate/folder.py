"""Simulate a source and write one DICOM series per kernel, the whole folder at once."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

from radiomicgan.config import SimulationConfig
from radiomicgan.io.atomic import atomic_dir, check_output
from radiomicgan.io.ct_datasets import new_ct_datasets
from radiomicgan.io.itk_formats import itk_format
from radiomicgan.io.volume import Volume
from radiomicgan.io.writer import write_volume
from radiomicgan.simulate.simulator import series_label, simulate_kernels
from radiomicgan.simulate.source import PHANTOM, prepare_source

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SimulationResult:
    """What `simulate_to_folder` wrote.

    Attributes:
        out_dir: the folder holding one series folder per kernel.
        series_dirs: series name (and f"{standard}_retest") -> its DICOM series folder, named
            after the series, with "_dose25" for a quarter dose (`simulator.series_label`).
        series_uids: the same keys -> SeriesInstanceUID.
        study_uid: the StudyInstanceUID every series shares (one simulated scan).
        frame_of_reference_uid: the FrameOfReferenceUID every series shares.
        shape: slices, rows, columns of every series.
        pixel_mm: in-plane pixel size.
        seconds: wall time of simulation and writing.
    """

    out_dir: Path
    series_dirs: dict[str, Path]
    series_uids: dict[str, str]
    study_uid: str
    frame_of_reference_uid: str
    shape: tuple[int, int, int]
    pixel_mm: float
    seconds: float

    def describe(self) -> str:
        """A few lines for the command line: what was written where."""
        z, y, x = self.shape
        lines = [
            f"simulated {z} slices of {y}x{x} px ({self.pixel_mm:.3g} mm) in {self.seconds:.1f} s",
            f"study {self.study_uid}",
        ]
        width = max(len(key) for key in self.series_dirs)
        lines += [f"  {key:<{width}}  {path}" for key, path in self.series_dirs.items()]
        return "\n".join(lines)


def simulate_to_folder(
    source: str | Path | Volume,
    out_dir: str | Path,
    config: SimulationConfig,
    *,
    overwrite: bool = False,
    progress: bool = True,
) -> SimulationResult:
    """Simulate `source` (see `prepare_source`) and write out_dir/<series>/ DICOM series.

    Every series belongs to one new study and frame of reference (a simulated scan is its own
    study); the patient is "RADIOMICGAN^PHANTOM" / PHANTOM-<seed> for the phantom, and
    "SIMULATED^SOURCE" / SIM-<hash of the source path> for a CT, whose own identity is never copied.
    The folder appears complete or not at all.

    Args:
        source: "phantom", a CT path, or a Volume.
        out_dir: the folder to create.
        config: the simulation settings.
        overwrite: replace an existing, non-empty `out_dir` that radiomicgan wrote (an empty one is
            always filled).
        progress: show a progress bar over the slices.

    Returns:
        The folders and UIDs written.

    Raises:
        OutputError: out_dir exists and is not empty (without `overwrite`), holds what radiomicgan
            did not write, lies inside the source's folder, or cannot be written.
        InputError: the source cannot be read.
        ConfigError: an unknown kernel.
    """
    start = time.perf_counter()
    out = Path(out_dir)
    check_output(out, overwrite=overwrite, inputs=_source_paths(source), is_dir=True)
    volume = prepare_source(source, config)
    outputs = simulate_kernels(volume, config, progress=progress)
    patient_name, patient_id = _patient(source, volume, config.seed)
    study_description = f"RadiomicGAN kernel simulation, seed {config.seed}"
    series_dirs: dict[str, Path] = {}
    with atomic_dir(out) as temporary:
        for number, (key, series) in enumerate(outputs.items(), start=1):
            datasets = new_ct_datasets(
                series,
                patient_name=patient_name,
                patient_id=patient_id,
                study_description=study_description,
                series_description=series.meta.description,
                series_number=number,
                kernel=series.meta.kernel,
            )
            label = series_label(key, config.doses.get(key, 1.0))
            write_volume(replace(series, datasets=datasets), temporary / label)
            series_dirs[key] = out / label
    first = next(iter(outputs.values()))
    result = SimulationResult(
        out_dir=out,
        series_dirs=series_dirs,
        series_uids={key: v.meta.series_uid for key, v in outputs.items()},
        study_uid=first.meta.study_uid,
        frame_of_reference_uid=first.meta.frame_of_reference_uid,
        shape=first.shape,
        pixel_mm=first.spacing_zyx_mm[1],
        seconds=time.perf_counter() - start,
    )
    logger.info("wrote %d simulated series to %s", len(outputs), out)
    return result


def _source_paths(source: str | Path | Volume) -> list[Path]:
    """Inputs the output must stay out of: a DICOM source (its folder). A NRRD/NIfTI file may have
    its pairs written beside it (out_dir is a folder, so it can never replace the file)."""
    if isinstance(source, Volume):
        path = source.source_path
    elif isinstance(source, str) and source == PHANTOM:
        path = None
    else:
        path = Path(source)
    if path is None or not path.exists():
        return []
    if path.is_file() and itk_format(path) is not None:
        return []
    return [path]


def _patient(source: str | Path | Volume, volume: Volume, seed: int) -> tuple[str, str]:
    """Patient name and ID of the simulated scan; a CT source is known only by a hash of its path."""
    if isinstance(source, str) and source == PHANTOM:
        return "RADIOMICGAN^PHANTOM", f"PHANTOM-{seed}"
    path = source.source_path if isinstance(source, Volume) else Path(source)
    identity = str(path.resolve()).encode() if path is not None else volume.hu.tobytes()
    return "SIMULATED^SOURCE", f"SIM-{hashlib.sha256(identity).hexdigest()[:12]}"
