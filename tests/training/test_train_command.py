"""`radiomicgan train` through the command line: a tiny run succeeds; bad input is one line, exit 2."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from radiomicgan.cli import main
from radiomicgan.io import read_volume
from radiomicgan.modelfile import load_prefilter, read_metadata
from training.pairs import Scan, tiny_config_yaml


def _args(scan: Scan, tmp_path: Path, out: Path) -> list[str]:
    config = tiny_config_yaml(tmp_path / "train.yaml")
    pairs = ["--source", str(scan.source), "--target", str(scan.target)]
    return ["train", "--config", str(config), *pairs, "--out", str(out), "--quiet"]


def _one_line_error(capsys: pytest.CaptureFixture[str], *words: str) -> str:
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("radiomicgan train: error: ") and "Traceback" not in err
    for word in words:
        assert word in err
    return err


def test_train_command_writes_a_run(scan: Scan, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    assert main([*_args(scan, tmp_path, run), "--schedule", "fixed"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"model: {run / 'model.safetensors'}") and "final window [-1024, -513] HU" in out
    assert {p.name for p in run.iterdir()} >= {"config.yaml", "history.json", "model.safetensors", "figures"}
    # resuming a finished run trains nothing more and keeps the model
    before = (run / "model.safetensors").read_bytes()
    assert main(["train", "--out", str(run), "--resume", "--quiet"]) == 0
    assert (run / "model.safetensors").read_bytes() == before


def test_prefilter_option_reaches_the_model_and_survives_resume(scan: Scan, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert main([*_args(scan, tmp_path, run), "--prefilter", "wiener", "--epochs", "1"]) == 0
    assert yaml.safe_load((run / "config.yaml").read_text())["model"]["prefilter"] == "wiener"
    first = load_prefilter(run, read_metadata(run))
    # resume fits the prefilter again on the same slices; the fit is deterministic
    assert main(["train", "--out", str(run), "--resume", "--quiet", "--epochs", "2"]) == 0
    again = load_prefilter(run, read_metadata(run))
    assert first is not None and again is not None
    assert read_metadata(run).epochs == 2
    assert torch.equal(first.response_real, again.response_real)
    assert torch.equal(first.response_imag, again.response_imag)


def test_missing_source_series(scan: Scan, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    args = _args(scan, tmp_path, run)
    args[args.index(str(scan.source))] = str(tmp_path / "nowhere")
    assert main(args) == 2
    _one_line_error(capsys, "nowhere", "does not exist")
    assert not run.exists()


def test_no_source_at_all(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--out", str(tmp_path / "run")]) == 2
    _one_line_error(capsys, "no training pairs")
    assert not (tmp_path / "run").exists()


def test_existing_run_folder_without_resume(
    scan: Scan, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    assert main(_args(scan, tmp_path, run)) == 2
    _one_line_error(capsys, "exists", "--resume")
    assert [p.name for p in run.iterdir()] == ["notes.txt"]


def test_resume_with_nothing_to_resume(
    scan: Scan, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "--out", str(tmp_path / "run"), "--resume"]) == 2
    _one_line_error(capsys, "nothing to resume")
    assert not (tmp_path / "run").exists()
    assert main([*_args(scan, tmp_path, tmp_path / "other"), "--resume"]) == 2
    _one_line_error(capsys, "nothing to resume")
    assert not (tmp_path / "other").exists()


def test_unreadable_encoder_weights(scan: Scan, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    weights = tmp_path / "vgg.pth"
    weights.write_text("not a checkpoint")
    config = tmp_path / "vgg.yaml"
    model = f"model: {{generator: radiomicgan, encoder_weights: {weights}}}\n"
    config.write_text(f"epochs: 1\nsteps_per_epoch: 1\ncrop_px: 32\n{model}")
    run = tmp_path / "run"
    args = ["train", "--config", str(config), "--source", str(scan.source), "--target", str(scan.target)]
    assert main([*args, "--out", str(run)]) == 2
    _one_line_error(capsys, "vgg.pth")
    assert not run.exists()


def test_torchrun_refuses_a_fitted_method_before_starting(
    scan: Scan, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    torchrun = {"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1"}
    for name, value in {**torchrun, "MASTER_PORT": "29500"}.items():
        monkeypatch.setenv(name, value)
    run = tmp_path / "run"
    assert main([*_args(scan, tmp_path, run), "--model", "wiener"]) == 2
    _one_line_error(capsys, "--model wiener cannot train data-parallel", "without torchrun")
    assert not run.exists()


def test_generator_option_trains_the_small_residual_unet_and_harmonize_runs_it(
    scan: Scan, tmp_path: Path, run_dciodvfy: Callable[[Path], tuple[list[str], str]]
) -> None:
    run = tmp_path / "run"
    assert main([*_args(scan, tmp_path, run), "--generator", "residual_unet", "--epochs", "1"]) == 0
    model = read_metadata(run).model
    assert model["generator"] == "residual_unet" and model["prefilter"] == "wiener"
    assert yaml.safe_load((run / "config.yaml").read_text())["lr"] == model["residual_unet"]["lr"]  # its own
    outputs = {}
    for engine in ("torch", "onnx"):  # the model file rebuilds it, and ONNX Runtime exports it
        out = tmp_path / engine
        harmonize = ["harmonize", "--model", str(run), str(scan.source), str(out), "--engine", engine]
        assert main([*harmonize, "--device", "cpu", "--quiet"]) == 0
        assert run_dciodvfy(out)[0] == []
        outputs[engine] = read_volume(out).hu
    assert np.abs(outputs["onnx"] - outputs["torch"]).max() <= 1.0


def test_the_default_model_adds_its_residual_texture_the_same_way_every_time(
    scan: Scan, tmp_path: Path, run_dciodvfy: Callable[[Path], tuple[list[str], str]]
) -> None:
    run = tmp_path / "run"
    assert main([*_args(scan, tmp_path, run), "--generator", "residual_unet", "--epochs", "1"]) == 0
    metadata = read_metadata(run)
    assert metadata.model["texture"] == "residual" and metadata.texture is not None
    assert metadata.texture["gain"] == 0.6 and max(metadata.texture["sd_hu"]) > 0
    assert metadata.texture["max_hu"] == 3071  # texture at every density, bone included
    outputs = {}
    for name, extra in (("first", []), ("again", []), ("plain", ["--no-texture"])):
        out = tmp_path / name
        harmonize = ["harmonize", "--model", str(run), str(scan.source), str(out), "--device", "cpu"]
        assert main([*harmonize, "--quiet", *extra]) == 0
        outputs[name] = read_volume(out).hu
    assert run_dciodvfy(tmp_path / "first")[0] == []
    assert np.array_equal(outputs["first"], outputs["again"])  # seeded by each slice's values
    body = outputs["plain"] > -900  # in air the texture is clipped at -1024 HU, as a scan's noise is
    texture = (outputs["first"] - outputs["plain"])[body]
    assert texture.std() > 1.0 and abs(texture.mean()) < 0.1 * texture.std()

    plain_run = tmp_path / "plain_run"
    assert main([*_args(scan, tmp_path, plain_run), "--texture", "none", "--epochs", "1"]) == 0
    assert read_metadata(plain_run).texture is None


def test_generator_option_is_refused_for_a_baseline_with_its_own(
    scan: Scan, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    assert main([*_args(scan, tmp_path, run), "--model", "choe", "--generator", "residual_unet"]) == 2
    _one_line_error(capsys, "--generator residual_unet", "choe")
    assert not run.exists()
    unpaired = ["train", "--unpaired", "--model", "cut", "--source", str(scan.source)]
    unpaired += ["--target", str(scan.target)]
    assert main([*unpaired, "--out", str(run), "--generator", "radiomicgan"]) == 2
    _one_line_error(capsys, "--generator radiomicgan", "cut trains residual_unet")  # baselines.cut's
    assert not run.exists()
