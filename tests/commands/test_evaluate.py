"""`radiomicgan evaluate`: a thin layer over `evaluate`; bad options are one line on stderr, exit 2."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
import yaml

from radiomicgan.cli import build_parser, main
from radiomicgan.commands import evaluate as evaluate_command
from radiomicgan.commands.evaluate import config_from_args
from radiomicgan.config import BackendConfig, SimulationConfig
from radiomicgan.evaluate.cache import cache_folder, default_cache_dir
from radiomicgan.simulate import simulate_to_folder

LIGHT = {
    "setting": {"binWidth": 25, "label": 1, "force2D": False, "additionalInfo": False},
    "imageType": {"Original": {}},
    "featureClass": {"firstorder": None, "glcm": None},
}


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulated scan: smooth/, sharp/ (the standard), sharp_retest/ (read only)."""
    out = tmp_path_factory.mktemp("sim") / "pairs"
    config = SimulationConfig(kernels=("smooth", "sharp"), size_px=64, slices=3, seed=2, retest=True, jobs=1)
    simulate_to_folder("phantom", out, config)
    return out


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An evaluation config: light PyRadiomics settings, a small protocol, one process."""
    folder = tmp_path_factory.mktemp("config")
    (folder / "light.yaml").write_text(yaml.safe_dump(LIGHT), encoding="utf-8")
    config = {"roi_size_px": 16, "context_px": 4, "features": {"settings_path": str(folder / "light.yaml")}}
    (folder / "evaluation.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return folder / "evaluation.yaml"


def test_evaluates_and_prints_the_report_path(
    pairs: Path, config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    argv = [
        "evaluate", "--reference", str(pairs / "sharp"), "--candidate", f"input={pairs / 'smooth'}",
        "--candidate", f"retest={pairs / 'sharp_retest'}", "--out", str(out), "--rois", "4",
        "--repeats", "2", "--seed", "3", "--jobs", "1", "--combat", "--cache", str(tmp_path / "cache"),
        "--config", str(config_file), "--quiet",
    ]  # fmt: skip
    assert main(argv) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(out / "report.html")
    results = json.loads((out / "results.json").read_text())
    assert list(results["candidates"]) == ["input", "retest", "input+ComBat", "retest+ComBat"]
    assert results["features"] == 18 + 24  # the config file's settings: firstorder and glcm
    assert (
        results["protocol"] | {"n_rois": 4, "repeats": 2, "seed": 3, "roi_size_px": 16} == results["protocol"]
    )
    assert list((tmp_path / "cache").rglob("*.npy"))


def _fails(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    code = main(["evaluate", *argv])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("radiomicgan evaluate: error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("candidates", "extra", "message"),
    [
        (["smooth"], [], "--candidate expects NAME=DIR, got 'smooth'"),
        (["=sharp_retest"], [], "expects NAME=DIR"),
        (["a="], [], "expects NAME=DIR"),
        (["a=smooth", "a=sharp_retest"], [], "the name 'a' is given twice"),
        (["reference=smooth"], [], "'reference' names the reference"),
        (["a=smooth"], ["--training-run", "b=smooth"], "unknown candidate"),
        (["a=smooth"], ["--training-run", "runs"], "--training-run expects NAME=DIR"),
        (["a=absent"], [], "absent: does not exist"),
    ],
)
def test_bad_options_are_one_line_exit_2(
    pairs: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    candidates: list[str],
    extra: list[str],
    message: str,
) -> None:
    argv = ["--reference", str(pairs / "sharp"), "--out", str(tmp_path / "out"), *extra]
    for value in candidates:
        name, sep, folder = value.partition("=")
        argv += ["--candidate", f"{name}{sep}{pairs / folder}" if folder else value]
    assert message in _fails(argv, capsys)
    assert not (tmp_path / "out").exists()


def test_existing_output_needs_overwrite(
    pairs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "report.html").write_text("earlier")  # an empty folder would be filled
    argv = [
        "--reference",
        str(pairs / "sharp"),
        "--candidate",
        f"a={pairs / 'smooth'}",
        "--out",
        str(tmp_path / "out"),
    ]
    assert "already exists" in _fails(argv, capsys)


def test_overwrite_refuses_a_report_folder_holding_what_it_did_not_write(
    pairs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    (out / "notes.txt").write_text("important")
    argv = ["--reference", str(pairs / "sharp"), "--candidate", f"a={pairs / 'smooth'}", "--out", str(out)]
    line = _fails([*argv, "--overwrite"], capsys)
    assert line.endswith(
        f"{out}: holds notes.txt, which is not radiomicgan's output; --overwrite replaces "
        "only what radiomicgan wrote (move it away or choose another output)"
    )
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "sub"]


def test_a_log_gets_lines_not_a_redrawn_bar_and_one_warning_per_run(
    pairs: Path, config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "run").mkdir()  # a training run without figures: "lacks cam and window", once
    argv = [
        "evaluate", "--reference", str(pairs / "sharp"), "--candidate", f"input={pairs / 'smooth'}",
        "--training-run", f"input={tmp_path / 'run'}", "--out", str(tmp_path / "report"), "--rois", "3",
        "--repeats", "1", "--jobs", "1", "--no-cache", "--config", str(config_file),
    ]  # fmt: skip
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    assert err.count("lacks") == 1
    progress = [line for line in err.splitlines() if "features: roi" in line]
    assert progress and all(line.startswith("radiomicgan: INFO: features: roi ") for line in progress)
    assert main([*argv, "--overwrite", "--quiet"]) == 0  # its own report is replaced
    assert "features: roi" not in capsys.readouterr().err


def _args(*options: str) -> argparse.Namespace:
    return build_parser().parse_args(
        ["evaluate", "--reference", "r", "--candidate", "a=c", "--out", "o", *options]
    )


def _cache_used(monkeypatch: pytest.MonkeyPatch, *options: str) -> Path | None:
    """The feature cache folder `evaluate` resolves from what the command line passes it."""
    calls: list[dict[str, Any]] = []

    def fake_evaluate(*args: Any, **kwargs: Any) -> Any:
        calls.append({"config": args[3], **kwargs})
        return SimpleNamespace(report="report.html")

    monkeypatch.setattr(evaluate_command, "evaluate", fake_evaluate)
    assert evaluate_command.run(_args(*options)) == 0
    return cache_folder(calls[0]["config"].features.cache_dir, enabled=calls[0]["cache"])


def test_cache_defaults_to_the_user_cache_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config_file: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "radiomicgan" / "features"
    assert _cache_used(monkeypatch) == default_cache_dir()
    assert _cache_used(monkeypatch, "--no-cache") is None
    assert _cache_used(monkeypatch, "--cache", "c") == Path("c")
    chosen = config_from_args(_args("--cache", "c", "--jobs", "3", "--rois", "7"))
    assert (chosen.features.cache_dir, chosen.features.jobs, chosen.n_rois) == ("c", 3, 7)
    from_file = config_from_args(_args("--config", str(config_file)))
    assert from_file.roi_size_px == 16 and from_file.features.settings_path.endswith("light.yaml")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "radiomicgan" / "features"


def test_help_describes_and_gives_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "Examples:" in text and "--candidate NAME=DIR" in text and "CCC > 0.85" in text


# --- the dask backend -----------------------------------------------------------------------------------


def _evaluate(pairs: Path, config_file: Path, out: Path, *options: str) -> dict[str, object]:
    argv = [
        "evaluate", "--reference", str(pairs / "sharp"), "--candidate", f"input={pairs / 'smooth'}",
        "--out", str(out), "--rois", "4", "--repeats", "2", "--seed", "3", "--no-cache",
        "--config", str(config_file), "--quiet", *options,
    ]  # fmt: skip
    assert main(argv) == 0
    return dict(json.loads((out / "results.json").read_text()))


@pytest.mark.slow
def test_a_dask_cluster_gives_the_same_numbers_as_local_processes(
    pairs: Path, config_file: Path, tmp_path: Path, dask_scheduler: str, capsys: pytest.CaptureFixture[str]
) -> None:
    local = _evaluate(pairs, config_file, tmp_path / "local", "--jobs", "1")
    assert "Dask" not in capsys.readouterr().err
    spread = _evaluate(
        pairs, config_file, tmp_path / "dask", "--backend", "dask", "--scheduler", dask_scheduler
    )
    assert f"tasks go to the Dask scheduler at {dask_scheduler}" in capsys.readouterr().err
    assert spread == local
    assert local["features"] == 18 + 24
    for table in ("features.parquet", "ccc.parquet"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / "dask" / table), pd.read_parquet(tmp_path / "local" / table)
        )


def test_backend_options_reach_the_features_section() -> None:
    chosen = config_from_args(_args("--backend", "dask", "--scheduler", "tcp://head:8786", "--workers", "3"))
    assert chosen.features.cluster == BackendConfig(name="dask", scheduler="tcp://head:8786", workers=3)
    assert config_from_args(_args()).features.cluster == BackendConfig()


def test_a_backend_that_cannot_be_had_is_one_line_exit_2(
    pairs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = ["--reference", str(pairs / "sharp"), "--candidate", f"a={pairs / 'smooth'}"]
    argv += ["--out", str(tmp_path / "out")]
    assert "needs the dask backend" in _fails([*argv, "--scheduler", "tcp://head:8786"], capsys)
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if the cluster extra were not installed
    assert "pip install radiomicgan[cluster]" in _fails([*argv, "--backend", "dask"], capsys)
    assert not (tmp_path / "out").exists()
