"""`harmonize_auto`: each series of a tree harmonized by the registered model its header matches.

Real Wiener models trained on Br40d\\3 (Siemens) and Br40d\\2 (no manufacturer) series, registered,
then a tree holding one series of each and a Br64d\\3 series no model converts.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest

from radiomicgan.config import HarmonizeConfig
from radiomicgan.errors import InputError
from radiomicgan.inference import harmonize_auto, harmonize_model
from radiomicgan.inference.jobs import part_of
from radiomicgan.io import find_series, read_volume, write_volume
from radiomicgan.modelfile import model_digest
from radiomicgan.registry import ModelRegistry
from registry.scans import Runs

CPU = HarmonizeConfig(device="cpu")


@pytest.fixture
def registry(runs: Runs, tmp_path: Path) -> ModelRegistry:
    registry = ModelRegistry(tmp_path / "registry")
    registry.add(runs.strength3, "siemens-a3")
    registry.add(runs.strength2, "any-a2")
    return registry


@pytest.fixture
def tree(runs: Runs, tmp_path: Path) -> Path:
    """in/a3 (Br40d\\3, Siemens), in/a2 (Br40d\\2, no manufacturer), in/sharp (Br64d\\3: no model)."""
    root = tmp_path / "in"
    for name, folder in (("a3", runs.scan3.source), ("a2", runs.scan2.source), ("sharp", runs.scan3.target)):
        shutil.copytree(folder, root / name)
    return root


def _header(folder: Path) -> pydicom.Dataset:
    return pydicom.dcmread(sorted(folder.iterdir())[0], stop_before_pixels=True)


def test_each_series_gets_its_model_and_an_unmatched_one_is_skipped_with_a_line(
    registry: ModelRegistry,
    tree: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    tree_digests: Callable[[Path], dict[Path, str]],
    run_dciodvfy: Callable[[Path], tuple[list[str], str]],
) -> None:
    before = tree_digests(tree)
    with caplog.at_level(logging.INFO, logger="radiomicgan"):
        written = harmonize_auto(registry, tree, tmp_path / "out", CPU, progress=False)
    out = tmp_path / "out"
    assert sorted(written) == [out / "a2", out / "a3"]
    assert sorted(p.name for p in out.iterdir()) == ["a2", "a3"]  # nothing for the series without a model
    for name, model in (("a3", "siemens-a3"), ("a2", "any-a2")):
        derived = _header(out / name)
        assert f"model {model_digest(registry.show(model).model_path)})" in derived.DerivationDescription
        assert derived.ConvolutionKernel == _header(tree / name).ConvolutionKernel  # the source's, kept
    skipped = [r for r in caplog.records if r.levelno == logging.WARNING and "skipped" in r.getMessage()]
    assert skipped[0].getMessage() == (
        f"{tree / 'sharp'}: skipped: no registered model for kernel Br64d/3, manufacturer SIEMENS"
    )
    assert len(skipped) == 2 and "1 of 3 series skipped" in skipped[1].getMessage()
    assert sum("model siemens-a3: 1 series" in r.getMessage() for r in caplog.records) == 1
    assert tree_digests(tree) == before
    errors, _ = run_dciodvfy(out / "a3")
    assert errors == []


def test_the_registered_copy_harmonizes_as_the_run_does(
    registry: ModelRegistry, runs: Runs, tree: Path, tmp_path: Path
) -> None:
    auto = harmonize_auto(registry, tree / "a3", tmp_path / "auto", CPU, progress=False)
    direct = harmonize_model(runs.strength3, tree / "a3", tmp_path / "direct", CPU, progress=False)
    assert auto == [tmp_path / "auto"]
    a, b = read_volume(auto[0]), read_volume(direct[0])
    assert (a.hu == b.hu).all()
    assert a.meta.series_uid == b.meta.series_uid  # the same model id: the same derived series


def test_a_series_no_model_matches_is_refused_when_it_is_the_input(
    registry: ModelRegistry, runs: Runs, tree: Path, tmp_path: Path
) -> None:
    with pytest.raises(
        InputError, match="no registered model for kernel Br64d/3, manufacturer SIEMENS"
    ) as info:
        harmonize_auto(registry, tree / "sharp", tmp_path / "out", CPU, progress=False)
    assert info.value.path == tree / "sharp"
    unmatched = tmp_path / "unmatched"  # two series, neither matched: nothing to write
    shutil.copytree(tree / "sharp", unmatched / "sharp3")
    shutil.copytree(runs.scan2.target, unmatched / "sharp2")
    with pytest.raises(InputError, match="none of its 2 series matches a registered model") as info:
        harmonize_auto(registry, unmatched, tmp_path / "out", CPU, progress=False)
    assert info.value.path == unmatched
    assert "(kernel Br64d/3, manufacturer SIEMENS; kernel Br64d/3, manufacturer unknown)" in str(info.value)
    assert not (tmp_path / "out").exists()


def test_a_manufacturer_given_when_registering_decides(
    runs: Runs, tree: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registry = ModelRegistry(tmp_path / "registry")
    registry.add(runs.strength3, "ge-a3", manufacturer="GE MEDICAL SYSTEMS")
    with pytest.raises(InputError, match="manufacturer SIEMENS"):
        harmonize_auto(registry, tree / "a3", tmp_path / "out", CPU, progress=False)
    registry.add(runs.strength3, "ge-a3", manufacturer=" siemens", overwrite=True)
    assert harmonize_auto(registry, tree / "a3", tmp_path / "out", CPU, progress=False) == [tmp_path / "out"]


def test_inputs_without_a_header_or_models_are_refused(
    registry: ModelRegistry, tree: Path, tmp_path: Path
) -> None:
    nrrd = write_volume(read_volume(tree / "a3"), tmp_path / "a3.nrrd")
    with pytest.raises(InputError, match="chooses a model by the DICOM header"):
        harmonize_auto(registry, nrrd, tmp_path / "out.nrrd", CPU, progress=False)
    empty = ModelRegistry(tmp_path / "empty")
    with pytest.raises(InputError, match="no models registered") as info:
        harmonize_auto(empty, tree, tmp_path / "out", CPU, progress=False)
    assert info.value.path == tmp_path / "empty"
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.nrrd").exists()


def test_a_rerun_keeps_complete_outputs_and_shares_cover_the_tree(
    registry: ModelRegistry, tree: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "out"
    first = harmonize_auto(registry, tree, out, CPU, progress=False)
    stamps = {path: path.stat().st_mtime_ns for path in out.rglob("*.dcm")}
    with caplog.at_level(logging.INFO, logger="radiomicgan"):
        assert harmonize_auto(registry, tree, out, CPU, progress=False) == first
    assert {path: path.stat().st_mtime_ns for path in out.rglob("*.dcm")} == stamps
    assert sum("complete output exists, kept" in r.getMessage() for r in caplog.records) == 2
    # four shares, each run alone: together they cover the tree; share 1 holds only the series no model
    # matches (by the UIDs' hashes), share 0 none: neither is an error
    shares = [
        harmonize_auto(registry, tree, tmp_path / "shares", CPU, progress=False, num_parts=4, part_id=k)
        for k in range(4)
    ]
    assert shares[0] == shares[1] == []
    assert part_of(find_series(tree / "sharp")[0].series_uid, 4) == 1
    assert sorted(path for share in shares for path in share) == sorted(
        tmp_path / "shares" / path.name for path in first
    )
