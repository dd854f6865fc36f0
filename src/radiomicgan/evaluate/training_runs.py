"""What a candidate's training run says: its model's provenance, and whether it saw the evaluated scans.

A run folder records its training data as paths only (config.yaml's `source` and `target`); the model
file records the method, architecture, final window and kernels, not the series. So the training
series are identified by reading the headers under those paths, when they still exist, and by the
paths themselves. An evaluated image was in training when its SeriesInstanceUID is a training
series', when its StudyInstanceUID is a training series' study (a harmonized output keeps its
source's study), or when its folder is a training path (formats without UIDs, such as NRRD).

Nothing here is written out with a UID or a path: results and messages name scans by number and
images by their candidate name.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from radiomicgan.errors import InputError, InvalidSeriesError
from radiomicgan.evaluate.inputs import Scan, SeriesInfo
from radiomicgan.evaluate.protocol import REFERENCE
from radiomicgan.io.discovery import find_series
from radiomicgan.modelfile import model_digest, read_metadata
from radiomicgan.run_folder import RunFolder

logger = logging.getLogger(__name__)

_MODEL_ID = re.compile(r"model ([0-9a-f]+)\)\s*$")  # how `Derivation` ends DerivationDescription


@dataclass(frozen=True)
class TrainingData:
    """The series a run trained on, as far as they can still be known.

    Attributes:
        series_uids, study_uids: UIDs read under the training paths that still exist.
        paths: the training paths, resolved.
        missing: how many training paths no longer exist (their UIDs are unknown).
    """

    series_uids: frozenset[str] = frozenset()
    study_uids: frozenset[str] = frozenset()
    paths: frozenset[Path] = frozenset()
    missing: int = 0

    def match(self, info: SeriesInfo) -> str | None:
        """How an evaluated image was in this training data: "series", "study", "path", or None."""
        if info.series_uid and info.series_uid in self.series_uids:
            return "series"
        if info.study_uid and info.study_uid in self.study_uids:
            return "study"
        if info.path is not None and info.path.resolve() in self.paths:
            return "path"
        return None


@dataclass(frozen=True)
class TrainingRun:
    """A candidate's training run as the report shows it.

    Attributes:
        provenance: model id, method, prefilter, training budget and final window (empty when the run
            folder holds neither config.yaml nor a model file).
        data: its training data; None when config.yaml is missing (nothing to check against).
    """

    provenance: dict[str, Any] = field(default_factory=dict)
    data: TrainingData | None = None


def read_run(run_dir: Path) -> TrainingRun:
    """Read a run folder's config.yaml and model file metadata; either may be missing.

    Raises:
        InputError: config.yaml is not a YAML mapping, or the model file is not ours.
    """
    config = RunFolder(run_dir).read_config()
    provenance: dict[str, Any] = {}
    if config:
        provenance.update(
            method=str(config.get("method", "")),
            prefilter=str((config.get("model") or {}).get("prefilter", "")),
            budget={k: config.get(k) for k in ("epochs", "steps_per_epoch", "batch_size", "crop_px")},
        )
    if RunFolder(run_dir).model_path.is_file():
        metadata = read_metadata(run_dir)
        provenance.update(
            model_id=model_digest(run_dir),
            method=metadata.method,
            prefilter=str(metadata.model.get("prefilter", "none")),
            epochs_trained=metadata.epochs,
            final_window_hu=list(metadata.training_window_hu),
            schedule=str(metadata.extra.get("schedule", "")),
            kernels=[metadata.source_kernel, metadata.target_kernel],
        )
    data = _training_data([*config.get("source", []), *config.get("target", [])]) if config else None
    return TrainingRun(provenance, data)


def _training_data(paths: Sequence[str]) -> TrainingData:
    series, studies, resolved, missing = set(), set(), set(), 0
    for text in paths:
        path = Path(text)
        resolved.add(path.resolve())
        if not path.exists():
            missing += 1
            continue
        try:
            found = find_series(path)
        except (InputError, InvalidSeriesError):  # NRRD/NIfTI or unreadable: the path still counts
            continue
        series |= {ref.series_uid for ref in found if ref.series_uid}
        studies |= {ref.study_uid for ref in found if ref.study_uid}
    return TrainingData(frozenset(series), frozenset(studies), frozenset(resolved), missing)


def overlaps(runs: Mapping[str, TrainingRun], scans: Sequence[Scan]) -> dict[str, list[dict[str, Any]]]:
    """For each candidate with a run: the evaluated images its training data held.

    Returns:
        {candidate: [{"scan": number from 1, "image": "reference" or a candidate name,
        "match": "series" | "study" | "path"}]}; an empty list when none was in training.
    """
    found: dict[str, list[dict[str, Any]]] = {}
    for name, run in runs.items():
        found[name] = []
        if run.data is None:
            continue
        for number, scan in enumerate(scans, start=1):
            for image, info in {REFERENCE: scan.reference_info, **scan.candidate_info}.items():
                match = run.data.match(info)
                if match is not None:
                    found[name].append({"scan": number, "image": image, "match": match})
    return found


def warn_overlaps(runs: Mapping[str, TrainingRun], found: Mapping[str, list[dict[str, Any]]]) -> list[str]:
    """Log a WARNING per candidate whose model saw an evaluated scan; returns the sentences."""
    sentences = []
    for name, matches in found.items():
        data = runs[name].data
        if matches:
            shown = "; ".join(f"scan {m['scan']}: {m['image']} (same {m['match']})" for m in matches)
            sentences.append(
                f"Candidate {name!r} was harmonized by a model trained on evaluated data ({shown}): "
                "its scores are not a test on unseen scans."
            )
        elif data is None:
            sentences.append(
                f"Candidate {name!r}: its training run records no training data (no config.yaml), "
                "so whether it saw the evaluated scans is unknown."
            )
        elif data.missing:
            logger.info("candidate %r: %d training path(s) gone; compared by path only", name, data.missing)
    for sentence in sentences:
        logger.warning("%s", sentence)
    return sentences


def derived_by(info: SeriesInfo, model_id: str | None) -> str:
    """What a candidate's DerivationDescription says of its model, against the run's model id."""
    if not info.derivation:
        return "not a derived series (no DerivationDescription)"
    found = _MODEL_ID.search(info.derivation)
    if model_id is None or found is None:
        return info.derivation
    verdict = "this run's model" if found.group(1) == model_id else "another model than this run's"
    return f"{info.derivation} — {verdict}"
