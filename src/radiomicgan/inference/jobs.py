"""The series of a folder tree as harmonization jobs: where each output goes, which share of the tree an
array job takes, which outputs a re-run can keep, and running the jobs on a backend (`cluster`).

This module knows paths and series, not models: the caller gives the function that harmonizes one job.

Shares: `--num-parts N --part-id K` takes the series whose SeriesInstanceUID hashes (SHA-256) to K
modulo N. A series' share depends on its UID alone, not on what else the tree holds or the order in
which folders are listed, so N jobs that each list the tree themselves split it into disjoint shares
that cover it, even if the listing differs between nodes. Shares are equal on average only: 1,000
series in 10 parts give 100 ± 10 each.

Completeness: a derived series is written into a hidden temporary folder and renamed into place
once every slice is there, so an output folder from radiomicgan is complete by construction. A re-run
still counts the slices, so that a folder copied in part or cut short by something else is redone.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from radiomicgan.cluster import SerialRunner, open_cluster
from radiomicgan.config import BackendConfig
from radiomicgan.errors import ConfigError, InputError
from radiomicgan.io import SeriesRef, find_series, plan_series
from radiomicgan.io.atomic import check_outside_inputs, remove_partials
from radiomicgan.io.ownership import check_replaceable
from radiomicgan.progress import progress_bar

log = logging.getLogger(__name__)

# What an output folder that exists already gets: refused, kept when complete (harmonized again when
# not), or replaced. And what became of a job.
Existing = Literal["error", "skip", "replace"]
Outcome = Literal["written", "skipped", "redone"]
_NOT_DICOM_SUFFIXES = (".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd")


@dataclass(frozen=True)
class SeriesJob:
    """One DICOM series to harmonize and the derived series folder it becomes."""

    series: SeriesRef
    out: Path


def series_jobs(input_path: Path, output_path: Path, series_uid: str | None = None) -> list[SeriesJob]:
    """Every CT series under `input_path`, each with its output folder in the mirrored tree.

    One series goes to `output_path` itself. Several mirror their folders under `output_path`, and
    series sharing a folder get one subfolder each, named by SeriesInstanceUID.

    Raises:
        InputError: no CT series (with `series_uid`: none with that UID).
    """
    found = [s for s in find_series(input_path) if s.modality == "CT"]
    if series_uid is not None:
        found = [s for s in found if s.series_uid == series_uid]
    if not found:
        raise InputError(
            input_path, "no CT series found" + (f" with SeriesInstanceUID {series_uid}" if series_uid else "")
        )
    if len(found) == 1:
        return [SeriesJob(found[0], output_path)]
    per_folder = Counter(series.folder for series in found)
    jobs = []
    for series in found:
        relative = series.folder.relative_to(input_path) if input_path.is_dir() else Path(series.series_uid)
        out = output_path / relative
        if per_folder[series.folder] > 1:
            # Several series in one folder: one subfolder each, all of them, so none lies in another.
            out = out / series.series_uid
        jobs.append(SeriesJob(series, out))
    return jobs


def part_of(series_uid: str, num_parts: int) -> int:
    """The share (0 .. num_parts - 1) a series belongs to: its UID's SHA-256 modulo `num_parts`."""
    digest = hashlib.sha256(series_uid.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % num_parts


def check_part(num_parts: int, part_id: int) -> None:
    """Refuse a share that does not exist.

    Raises:
        ConfigError: `num_parts` < 1, or `part_id` outside 0 .. num_parts - 1.
    """
    if num_parts < 1:
        raise ConfigError(f"harmonize: --num-parts must be >= 1, got {num_parts}")
    if not 0 <= part_id < num_parts:
        raise ConfigError(f"harmonize: --part-id must lie in 0..{num_parts - 1}, got {part_id}")


def select_part(jobs: list[SeriesJob], num_parts: int, part_id: int) -> list[SeriesJob]:
    """The jobs of share `part_id` of `num_parts` (all of them for one part), in their order.

    Raises:
        ConfigError: as `check_part`.
    """
    check_part(num_parts, part_id)
    return [job for job in jobs if part_of(job.series.series_uid, num_parts) == part_id]


def check_replaceable_outputs(jobs: list[SeriesJob]) -> None:
    """Refuse an --overwrite of a tree before any series is replaced, not halfway through it.

    Raises:
        OutputError: an existing output holds what radiomicgan did not write (`ownership.check_replaceable`).
    """
    for job in jobs:
        if job.out.exists():
            check_replaceable(job.out)


def existing_policy(overwrite: bool, resumable: bool) -> Existing:
    """What an existing output gets (`jobs.triage`): replaced, kept when complete (a tree), or refused."""
    return "replace" if overwrite else "skip" if resumable else "error"


def written_slices(out: Path) -> int:
    """How many slice files a derived series folder holds (0 when it does not exist).

    Counted: the visible .dcm files directly inside; a subfolder may be another series' output.
    """
    if not out.is_dir():
        return 0
    return sum(1 for p in out.iterdir() if p.suffix == ".dcm" and not p.name.startswith(".") and p.is_file())


def triage(job: SeriesJob, existing: Existing) -> Outcome:
    """What a job must do about its output: write it, keep it ("skipped") or replace an incomplete one.

    Removes the temporary folders a killed run left beside the output first: a job is the only
    writer of its output (shares are disjoint; a cluster runs each series once).

    Args:
        job: the series and its output folder.
        existing: "skip" keeps an output that holds as many slices as the series has (localizers left
            out), and has any other redone; "error" and "replace" leave the decision to the writer.
    """
    remove_partials(job.out)
    if existing != "skip" or not job.out.exists():
        return "written"
    expected = len(plan_series(job.series).files)
    return "skipped" if written_slices(job.out) == expected else "redone"


def run_jobs(
    jobs: list[SeriesJob],
    task: Callable[[SeriesJob], Outcome],
    cluster_task: Callable[[SeriesJob], Outcome] | None,
    backend: BackendConfig,
    *,
    progress: bool = True,
) -> list[Path]:
    """Run every job on the backend, logging the outputs kept or redone; returns the jobs' outputs.

    Args:
        jobs: the series and their outputs.
        task: harmonizes one job here (the local backend).
        cluster_task: harmonizes one job on a cluster worker (picklable; the dask backend).
        backend: where the jobs run.
        progress: show a progress bar over the series (when there are several).

    Raises:
        ConfigError: the dask backend without `cluster_task`, or Dask cannot be had. Any error of a job.
    """
    if not jobs:
        return []
    if backend.name == "dask" and cluster_task is None:
        raise ConfigError("harmonize: the dask backend needs a model loaded from a file (Harmonizer.load)")
    with open_cluster(backend) as cluster:
        if cluster is not None and cluster_task is not None:
            outcomes = cluster.map(cluster_task, jobs)
        else:
            outcomes = SerialRunner().map(task, jobs)
        enabled = progress and len(jobs) > 1
        bar = progress_bar(total=len(jobs), desc="series", unit="series", enabled=enabled, log_every="unit")
        with bar:
            for job, outcome in zip(jobs, outcomes, strict=True):
                _log_outcome(job.out, outcome)
                bar.update()
    return [job.out for job in jobs]


def _log_outcome(out: Path, outcome: Outcome) -> None:
    # Logged by the caller, not the task: a cluster worker's log stays on the worker.
    if outcome == "skipped":
        log.info("%s: complete output exists, kept (--overwrite replaces it)", out)
    elif outcome == "redone":
        log.warning("%s: incomplete output found and harmonized again", out)


def check_output_outside_input(input_path: Path, output_path: Path) -> None:
    """Refuse a missing input, and an output folder inside the input folder: it would be read back as
    input (`io.atomic.check_outside_inputs`; a tree's outputs may hold its input, their paths mirror it).

    Raises:
        InputError: the input does not exist. OutputError: the output lies inside the input folder.
    """
    if not input_path.exists():
        raise InputError(input_path, "does not exist")
    if input_path.is_dir():  # a file's output is checked by its writer (`io.atomic.check_output`)
        check_outside_inputs(output_path, [input_path], may_contain=True)


def is_dicom_name(path: Path) -> bool:
    """Whether a file's name leaves it to be DICOM (it is not named as NRRD, NIfTI or MetaImage)."""
    return not path.name.lower().endswith(_NOT_DICOM_SUFFIXES)
