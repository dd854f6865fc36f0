"""`evaluate_cohort`: a simulated nodule cohort, the random-box protocol and the lesion level beside it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from lesions.cases import Cohort, chest, nodule_cohort
from radiomicgan.cli import main
from radiomicgan.config import EvaluationConfig, RegionFeatureConfig
from radiomicgan.errors import InputError
from radiomicgan.evaluate import EvaluationOutcome
from radiomicgan.evaluate.cohort import evaluate_cohort, read_cohort
from radiomicgan.evaluate.lesion_results import LESION_TABLES
from radiomicgan.io import read_volume, write_volume

# Original and one LoG, four classes: the lesion level's logic at a fraction of the shipped cost.
LESION_PARAMS = (
    "setting: {binWidth: 25, label: 1}\nimageType: {Original: {}, LoG: {sigma: [1.0]}}\n"
    "featureClass: {firstorder: , glcm: , glrlm: , shape: }\n"
)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Cohort:
    """Five chests of 10 slices, 64 px, with two nodules each, and their candidates (read only)."""
    folder = tmp_path_factory.mktemp("cohort")
    (folder / "lesions.yaml").write_text(LESION_PARAMS, encoding="utf-8")
    return nodule_cohort(folder, [chest(10, 64, seed) for seed in range(5)])


@pytest.fixture(scope="module")
def evaluated(
    cohort: Cohort, small_config: Callable[..., EvaluationConfig], tmp_path_factory: pytest.TempPathFactory
) -> EvaluationOutcome:
    lesions = RegionFeatureConfig(settings_path=str(cohort.manifest.parent / "lesions.yaml"))
    out = tmp_path_factory.mktemp("evaluation") / "report"
    config = small_config(whole_image_slices=4)
    return evaluate_cohort(cohort.manifest, out, config, lesions, progress=False, cache=False)


@pytest.mark.slow  # the fixture evaluates five cases at both levels and draws the report: ~15 s here
def test_a_faithful_candidate_reproduces_more_lesion_features_than_a_degraded_one(
    evaluated: EvaluationOutcome,
) -> None:
    lesions = evaluated.results["lesions"]
    assert (lesions["n_cases"], lesions["n_lesions"], lesions["excluded"]) == (5, 10, [])
    faithful, degraded = lesions["candidates"]["faithful"], lesions["candidates"]["degraded"]
    assert faithful["reproducible"] > degraded["reproducible"] + 20
    assert faithful["by_class"]["firstorder"] > degraded["by_class"]["firstorder"]
    assert set(faithful["by_class"]) == {"firstorder", "glcm", "glrlm"}  # shape: mask-only, not counted
    assert set(faithful["by_filter"]) == {"original", "log"}
    assert (
        sum(faithful["by_class"].values()) == faithful["reproducible"] == sum(faithful["by_filter"].values())
    )
    assert lesions["features_counted"] == lesions["features"] - 14
    # The random-box protocol stands beside it, unchanged: every scan of the cohort is one scan.
    assert set(evaluated.results["candidates"]) == {"faithful", "degraded"}
    assert len(evaluated.results["scans"]) == 5


@pytest.mark.slow  # shares the evaluation above
def test_the_tables_and_the_report_hold_the_lesion_level(
    evaluated: EvaluationOutcome, cohort: Cohort
) -> None:
    out = evaluated.out
    ccc = pd.read_csv(out / "lesion_ccc.csv")
    counts = pd.read_csv(out / "lesion_counts.csv")
    values = pd.read_parquet(out / "lesion_features.parquet")
    n_features = evaluated.results["lesions"]["features"]
    assert len(ccc) == 2 * n_features and set(ccc["candidate"]) == {"faithful", "degraded"}
    assert (
        int(ccc[ccc["candidate"] == "faithful"]["reproducible"].sum())
        == (evaluated.results["lesions"]["candidates"]["faithful"]["reproducible"])
    )
    assert not ccc[~ccc["counted"]]["reproducible"].any()  # shape features never count
    assert counts.groupby("candidate")["n_reproducible"].sum().to_dict() == {
        name: row["reproducible"] for name, row in evaluated.results["lesions"]["candidates"].items()
    }
    assert len(values) == 10 * 3 and list(values.columns[:5]) == [
        "case",
        "region",
        "region_name",
        "voxel_count",
        "candidate",
    ]
    assert list(values[values["candidate"] == "reference"]["voxel_count"]) == [
        int((labels == n).sum()) for labels in cohort.labels for n in (1, 2)
    ]
    html = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="table-lesions-by-class"' in html and 'id="table-lesions-by-filter"' in html
    for name in LESION_TABLES:
        assert (out / name).is_file()
    written = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
    assert b"PATIENT-" not in written and b"case1_" not in written  # cases are numbered, never named


def test_a_candidate_off_its_reference_grid_is_refused_before_anything_is_written(
    cohort: Cohort, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = cohort.manifest.parent
    shifted = read_volume(folder / "case2_faithful.nrrd")
    shifted.origin_xyz_mm = (5.0, 0.0, 0.0)
    moved = write_volume(shifted, tmp_path / "moved" / "moved.nrrd")
    rows = cohort.manifest.read_text(encoding="utf-8").replace("case", f"{folder}/case")
    manifest = tmp_path / "cohort.csv"
    manifest.write_text(rows.replace(f"{folder}/case2_faithful.nrrd", str(moved)), encoding="utf-8")
    out = tmp_path / "report"
    capsys.readouterr()  # drop what writing the inputs logged
    code = main(
        ["evaluate", "--manifest", str(manifest), "--out", str(out), "--quiet", "--no-cache", "--jobs", "1"]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith(
        f"radiomicgan evaluate: error: {moved}: candidate 'faithful' is not on its reference's grid"
    )
    assert not out.exists()


def test_a_manifest_naming_a_missing_file_is_refused_at_once(cohort: Cohort, tmp_path: Path) -> None:
    manifest = tmp_path / "cohort.csv"
    manifest.write_text(
        "reference,mask,candidate:input\n"
        f"{cohort.manifest.parent}/case1_reference.nrrd,{cohort.manifest.parent}/case1_mask.nrrd,gone.nrrd\n"
    )
    with pytest.raises(InputError, match=r"does not exist \(row 2 of") as caught:
        read_cohort(manifest)
    assert caught.value.path == tmp_path / "gone.nrrd"
    manifest.write_text("reference,mask\na.nrrd,b.nrrd\n")
    with pytest.raises(InputError, match="candidate:NAME"):
        read_cohort(manifest)


def test_the_command_line_keeps_the_manifest_and_the_pair_options_apart(
    cohort: Cohort, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "report")
    ref = str(cohort.manifest.parent / "case1_reference.nrrd")
    assert main(["evaluate", "--manifest", str(cohort.manifest), "--reference", ref, "--out", out]) == 2
    assert "--manifest stands alone" in capsys.readouterr().err
    assert (
        main(["evaluate", "--reference", ref, "--candidate", f"a={ref}", "--region", "1", "--out", out]) == 2
    )
    assert "apply to --manifest only" in capsys.readouterr().err
    assert main(["evaluate", "--reference", ref, "--out", out]) == 2
    assert "at least one --candidate" in capsys.readouterr().err
    assert not Path(out).exists()
