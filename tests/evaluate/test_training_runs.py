"""Training runs in the evaluation: which evaluated images a run trained on, and its model's provenance."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from radiomicgan.config import SimulationConfig, TrainConfig
from radiomicgan.errors import InputError
from radiomicgan.evaluate.inputs import SeriesInfo, load_scans
from radiomicgan.evaluate.training_runs import overlaps, read_run
from radiomicgan.modelfile import read_metadata
from radiomicgan.simulate import simulate_to_folder
from radiomicgan.train import train


def _train(source: Path, target: Path, out: Path) -> Path:
    config = TrainConfig(
        source=(str(source),),
        target=(str(target),),
        out=str(out),
        method="wiener",
        val_fraction=0.34,
        device="cpu",
    )
    train(config, progress=False)
    return out


def test_a_scan_of_another_seed_is_not_flagged(pairs: Path, tmp_path: Path) -> None:
    """The demo's situation: trained on one simulated scan, evaluated on another seed's."""
    config = SimulationConfig(kernels=("smooth", "sharp"), size_px=64, slices=3, seed=2, jobs=1)
    other = simulate_to_folder("phantom", tmp_path / "train", config)
    run = read_run(_train(other.series_dirs["smooth"], other.series_dirs["sharp"], tmp_path / "run"))
    assert run.data is not None and len(run.data.series_uids) == 2 and run.data.missing == 0
    scans = load_scans(pairs / "sharp", {"input": pairs / "smooth"})
    assert overlaps({"input": run}, scans) == {"input": []}
    seed_one = simulate_to_folder("phantom", tmp_path / "seed1", replace(config, seed=1))
    assert seed_one.study_uid != other.study_uid  # the simulator's seed makes another study


def test_the_evaluated_scan_is_found_by_uid_and_by_path_once_the_data_is_gone(
    pairs: Path, tmp_path: Path
) -> None:
    copied = tmp_path / "data"
    for kernel in ("smooth", "sharp"):
        shutil.copytree(pairs / kernel, copied / kernel)
    run_dir = _train(copied / "smooth", copied / "sharp", tmp_path / "run")
    scans = load_scans(pairs / "sharp", {"input": pairs / "smooth"})
    found = overlaps({"input": read_run(run_dir)}, scans)["input"]
    assert found == [
        {"scan": 1, "image": "reference", "match": "series"},
        {"scan": 1, "image": "input", "match": "series"},
    ]
    shutil.rmtree(copied)  # UIDs can no longer be read: the paths still name the training data
    run = read_run(run_dir)
    assert run.data is not None and run.data.missing == 2 and not run.data.series_uids
    assert overlaps({"input": run}, scans) == {"input": []}  # other paths: not the same data
    same_path = SeriesInfo(path=copied / "smooth" / ".." / "smooth")  # e.g. NRRD: no UIDs to compare
    assert run.data.match(same_path) == "path"


def test_provenance_from_the_model_file(pairs: Path, tmp_path: Path) -> None:
    run_dir = _train(pairs / "smooth", pairs / "sharp", tmp_path / "run")
    provenance = read_run(run_dir).provenance
    metadata = read_metadata(run_dir)
    assert provenance["method"] == "wiener" and provenance["epochs_trained"] == metadata.epochs
    assert provenance["final_window_hu"] == list(metadata.training_window_hu)
    assert provenance["budget"]["batch_size"] == TrainConfig.batch_size
    assert len(provenance["model_id"]) == 16


def test_a_run_without_config_has_nothing_to_check(training_run: Path) -> None:
    run = read_run(training_run)
    assert run.data is None and run.provenance == {}


@pytest.mark.parametrize("text", ["- a list\n", "{unclosed"])
def test_a_broken_config_is_refused(tmp_path: Path, text: str) -> None:
    (tmp_path / "config.yaml").write_text(text)
    with pytest.raises(InputError, match=r"not a training run|not valid YAML"):
        read_run(tmp_path)
