"""`evaluate` end to end on simulated series: results.json's shape, tables, atomic output, the cache."""

from __future__ import annotations

import json
import logging
import math
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from tests.conftest import tree_digests

from radiomicgan.config import EvaluationConfig, FeatureConfig, SimulationConfig, TrainConfig
from radiomicgan.errors import ConfigError, InputError, OutputError
from radiomicgan.evaluate import EvaluationOutcome, evaluate
from radiomicgan.evaluate import features as features_module
from radiomicgan.inference import Harmonizer, harmonize_path
from radiomicgan.simulate import simulate_to_folder
from radiomicgan.train import train

LIGHT_FEATURES = 102  # the light settings of conftest.py: 9 shape2D + 93 on the original image
RANGE_KEYS = ["-800,-300", "-100,250", "300,800"]
ROWS = ["input", "radiomicgan", "retest", "input+ComBat", "radiomicgan+ComBat", "retest+ComBat"]
Config = Callable[..., EvaluationConfig]


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def test_results_json_has_exactly_the_promised_shape(evaluated: EvaluationOutcome) -> None:
    document = json.loads((evaluated.out / "results.json").read_text(encoding="utf-8"))
    assert document == evaluated.results
    assert document["features"] == LIGHT_FEATURES
    assert document["hu_ranges"] == [[-800, -300], [-100, 250], [300, 800]]
    assert all(isinstance(v, int) for r in document["hu_ranges"] for v in r)  # -800, not -800.0
    assert list(document["candidates"]) == ROWS
    for row in document["candidates"].values():
        assert set(row) == {"reproducible", "psnr", "ssim"}
        assert list(row["reproducible"]) == RANGE_KEYS
        for cell in [*row["reproducible"].values(), row["psnr"], row["ssim"]]:
            assert set(cell) == {"mean", "sd"} and _is_number(cell["mean"]) and _is_number(cell["sd"])
            assert cell["sd"] >= 0
        assert all(0 <= c["mean"] <= LIGHT_FEATURES for c in row["reproducible"].values())


def test_results_measure_what_they_claim(evaluated: EvaluationOutcome) -> None:
    rows = evaluated.results["candidates"]
    # the sharp retest is the same kernel: more reproducible features and a higher PSNR than the smooth input
    assert rows["retest"]["psnr"]["mean"] > rows["input"]["psnr"]["mean"]
    total = {
        name: sum(c["mean"] for c in rows[name]["reproducible"].values()) for name in ("input", "retest")
    }
    assert total["retest"] > total["input"]
    assert rows["input+ComBat"]["psnr"] == rows["input"]["psnr"]  # ComBat changes features, not images
    assert evaluated.results["whole_image"]["slices"] == 4
    assert evaluated.results["scans"] == [{"slices": 4, "series_slices": 4}]
    assert evaluated.results["rois_used"] == {key: [5, 5] for key in RANGE_KEYS}
    assert (evaluated.n_scans, evaluated.n_slices) == (1, 4)


def test_tables_hold_every_value_and_ccc(evaluated: EvaluationOutcome) -> None:
    assert {p.name for p in evaluated.out.iterdir()} >= {
        "results.json", "features.parquet", "ccc.parquet", "counts.csv", "report.html",
        "case_study.png", "ccc_heatmap.png", "training_1_window.png", "training_1_cam.png",
    }  # fmt: skip
    values = pd.read_parquet(evaluated.out / "features.parquet")
    roi = values[values["protocol"] == "roi"]
    # repeats x ranges x ROIs x (reference, 3 candidates, 3 ComBat rows)
    assert len(roi) == 2 * 3 * 5 * 7
    fitted = values[values["protocol"] == "combat_fit"]  # the sample ComBat was fitted on, kept
    assert len(fitted) == 2 * 3 * 5 * 4 and set(fitted["candidate"]) == {
        "reference",
        "input",
        "radiomicgan",
        "retest",
    }
    whole = values[values["protocol"] == "whole_image"]
    assert len(whole) == 4 * 4 and whole["repeat"].isna().all()
    assert values.shape[1] == 11 + LIGHT_FEATURES
    assert not any("uid" in c.lower() or "patient" in c.lower() for c in values.columns)
    ccc = pd.read_parquet(evaluated.out / "ccc.parquet")
    assert len(ccc[ccc["protocol"] == "roi"]) == 6 * 3 * 2  # rows x ranges x repeats
    assert list(ccc[ccc["protocol"] == "whole_image"]["candidate"]) == ["input", "radiomicgan", "retest"]
    counts = pd.read_csv(evaluated.out / "counts.csv")
    assert set(counts["candidate"]) == set(ROWS)


def test_second_evaluation_is_served_from_the_cache(
    pairs: Path, small_config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = small_config(cache_dir=tmp_path / "cache")
    candidates = {"input": pairs / "smooth"}
    first = evaluate(pairs / "sharp", candidates, tmp_path / "first", config, progress=False)
    assert first.extracted is not None and first.extracted > 0 and first.from_cache == 0

    calls = []
    real_run = features_module._run
    monkeypatch.setattr(features_module, "_run", lambda *a: calls.append(1) or real_run(*a))
    second = evaluate(pairs / "sharp", candidates, tmp_path / "second", config, progress=False)
    assert second.extracted == 0 and second.from_cache == first.extracted
    assert calls == []  # PyRadiomics never ran
    assert second.results["candidates"] == first.results["candidates"]


def test_the_cache_defaults_to_the_user_cache_folder(
    pairs: Path, small_config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Python caller gets the command line's default: the user's cache folder, unless cache=False."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    config, candidates = small_config(n_rois=3, repeats=1), {"input": pairs / "smooth"}
    outcome = evaluate(pairs / "sharp", candidates, tmp_path / "cached", config, progress=False)
    stored = list((tmp_path / "xdg" / "radiomicgan" / "features").rglob("*.npy"))
    assert outcome.extracted is not None and outcome.extracted > 0 and len(stored) == outcome.extracted
    uncached = evaluate(
        pairs / "sharp", candidates, tmp_path / "uncached", config, progress=False, cache=False
    )
    assert uncached.extracted is None and uncached.from_cache is None
    assert len(list((tmp_path / "xdg").rglob("*.npy"))) == len(stored)


def test_trees_of_several_scans_are_pooled(small_config: Config, tmp_path: Path) -> None:
    kernels = SimulationConfig(kernels=("smooth", "sharp"), size_px=64, slices=3, jobs=1)
    for seed in (1, 2):  # two simulated scans: two studies
        simulated = simulate_to_folder("phantom", tmp_path / f"sim{seed}", replace(kernels, seed=seed))
        for kernel, tree in (("sharp", "reference"), ("smooth", "input")):
            shutil.copytree(simulated.series_dirs[kernel], tmp_path / tree / f"patient{seed}")
    config = small_config(roi_size_px=16, context_px=4, n_rois=6)
    outcome = evaluate(
        tmp_path / "reference", {"input": tmp_path / "input"}, tmp_path / "out", config, progress=False,
        cache=False,
    )  # fmt: skip
    assert outcome.results["scans"] == [{"slices": 3, "series_slices": 3}] * 2
    assert outcome.results["rois_used"] == {key: [6, 6] for key in RANGE_KEYS}  # 3 + 3 pooled per repeat
    assert outcome.results["whole_image"]["slices"] == 6
    values = pd.read_parquet(outcome.out / "features.parquet")
    assert set(values["scan"]) == {0, 1}


def test_output_is_refused_or_replaced_whole(pairs: Path, small_config: Config, tmp_path: Path) -> None:
    out = tmp_path / "report"
    out.mkdir()
    (out / "old.txt").write_text("keep me")
    with pytest.raises(OutputError, match="already exists"):
        evaluate(pairs / "sharp", {"input": pairs / "smooth"}, out, small_config(), progress=False)
    assert (out / "old.txt").read_text() == "keep me"
    with pytest.raises(OutputError, match="inside the input"):
        evaluate(pairs / "sharp", {"input": pairs / "smooth"}, pairs / "smooth" / "r", small_config())
    with pytest.raises(OutputError, match=r"holds old\.txt, which is not radiomicgan's output"):
        evaluate(pairs / "sharp", {"input": pairs / "smooth"}, out, small_config(), overwrite=True)
    assert (out / "old.txt").read_text() == "keep me"  # --overwrite replaces only radiomicgan's outputs
    (out / "old.txt").unlink()
    before = tree_digests(pairs)
    evaluate(pairs / "sharp", {"input": pairs / "smooth"}, out, small_config(), progress=False, cache=False)
    assert (out / "report.html").is_file()  # an empty folder is filled
    assert tree_digests(pairs) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left


@pytest.mark.parametrize(
    ("candidates", "runs", "message"),
    [
        ({}, {}, "at least one candidate"),
        ({"reference": "smooth"}, {}, "names the reference"),
        ({" x": "smooth"}, {}, "outer spaces"),
        ({"a": "smooth", "a+ComBat": "medium"}, {}, "clashes"),
        ({"a": "smooth"}, {"b": "runs"}, "unknown candidate"),
    ],
)
def test_bad_names_are_refused_before_any_work(
    pairs: Path,
    small_config: Config,
    tmp_path: Path,
    candidates: dict[str, str],
    runs: dict[str, str],
    message: str,
) -> None:
    with pytest.raises(ConfigError, match=message):
        evaluate(
            pairs / "sharp",
            {name: pairs / folder for name, folder in candidates.items()},
            tmp_path / "out",
            small_config(),
            combat=True,
            training_runs={name: tmp_path / folder for name, folder in runs.items()},
        )
    assert not (tmp_path / "out").exists()


def test_missing_training_run_fails_before_extraction(
    pairs: Path, small_config: Config, tmp_path: Path
) -> None:
    with pytest.raises(InputError, match="training run folder not found"):
        evaluate(
            pairs / "sharp",
            {"input": pairs / "smooth"},
            tmp_path / "out",
            small_config(),
            training_runs={"input": tmp_path / "absent"},
        )


def test_a_model_trained_on_the_evaluated_scan_is_flagged_with_its_provenance(
    pairs: Path, small_config: Config, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run = tmp_path / "run"
    source, target = str(pairs / "smooth"), str(pairs / "sharp")
    train(
        TrainConfig(source=(source,), target=(target,), out=str(run), method="wiener", device="cpu"),
        progress=False,
    )
    harmonizer = Harmonizer.load(run)
    harmonize_path(harmonizer, pairs / "smooth", tmp_path / "harmonized", progress=False)
    candidates = {"wiener": tmp_path / "harmonized", "retest": pairs / "sharp_retest"}
    with caplog.at_level(logging.WARNING, logger="radiomicgan"):
        outcome = evaluate(
            pairs / "sharp", candidates, tmp_path / "out", small_config(repeats=1),
            training_runs={"wiener": run}, combat=True, progress=False, cache=False,
        )  # fmt: skip
    document = outcome.results
    seen = document["training_runs"]["wiener"]["trained_on_evaluated"]
    assert {"scan": 1, "image": "reference", "match": "series"} in seen  # the reference was a target
    assert {"scan": 1, "image": "wiener", "match": "study"} in seen  # its own input's study
    flagged = [r.message for r in caplog.records if r.levelno == logging.WARNING and "'wiener'" in r.message]
    assert flagged and "trained on evaluated data" in flagged[0]
    assert any("'wiener'" in w and "trained on evaluated data" in w for w in document["warnings"])
    provenance = document["training_runs"]["wiener"]["provenance"]
    assert provenance["model_id"] == harmonizer.model_id and provenance["method"] == "wiener"
    assert provenance["final_window_hu"] == list(harmonizer.metadata.training_window_hu)
    derived = document["training_runs"]["wiener"]["derived_series"]
    assert len(derived) == 1 and derived[0].endswith("this run's model")
    html = outcome.report.read_text(encoding="utf-8")
    table1 = html[html.index('id="table-reproducible"') : html.index('id="table2"')]
    rows = {row.split("<")[0].strip(): row for row in table1.split("<tr><td>")[1:]}
    assert "⚠ trained on evaluated data" in rows["wiener"] and "⚠" in rows["wiener+ComBat"]
    assert "⚠" not in rows["retest"] and "⚠" not in rows["retest+ComBat"]
    assert harmonizer.model_id in html and "table-provenance" in html
    # one repeat: no SD ("± 0"), a bootstrap interval instead
    cell = document["candidates"]["wiener"]["reproducible"]["-100,250"]
    assert cell["sd"] is None and cell["mean"] is not None
    lo, hi = document["reproducible_ci95"]["wiener"]["-100,250"]
    assert lo <= cell["mean"] <= hi
    assert "±" not in table1 and table1.count("(95 % CI") == 4 * 3  # rows x ranges


@pytest.mark.slow
def test_shipped_settings_in_parallel(pairs: Path, tmp_path: Path) -> None:
    """The paper's feature set (>= 1,401 per ROI) through worker processes, end to end."""
    config = EvaluationConfig(
        n_rois=3,
        repeats=1,
        roi_size_px=24,
        context_px=12,
        whole_image_slices=3,
        features=FeatureConfig(jobs=2),
    )
    outcome = evaluate(
        pairs / "sharp", {"input": pairs / "smooth"}, tmp_path / "out", config, progress=False, cache=False
    )
    assert outcome.results["features"] == 1497 >= 1401
    assert outcome.results["whole_image"]["slices"] == 3
    row = outcome.results["candidates"]["input"]
    assert all(cell["mean"] is not None for cell in row["reproducible"].values())
    assert outcome.results["radiomics_settings"]["source"] == "radiomics_2d.yaml"
