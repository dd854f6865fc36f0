"""The training run end to end: every window schedule, the run folder, harmonizing with its model."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import nrrd
import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

from radiomicgan.config import ModelConfig, PatchGANConfig, UNetConfig, VGGUNetConfig, WindowConfig, as_dict
from radiomicgan.errors import InputError
from radiomicgan.inference import HarmonizeConfig, Harmonizer, harmonize_path
from radiomicgan.io import read_volume, write_volume
from radiomicgan.methods import resolve
from radiomicgan.modelfile import read_metadata
from radiomicgan.train import train
from training.pairs import SOURCE_KERNEL, TARGET_KERNEL, TINY_MODEL, Scan, tiny_config, write_scan

Dciodvfy = Callable[[Path], tuple[list[str], str]]
Digests = Callable[[Path], dict[Path, str]]
FULL = [-1024, 1000]
DYNAMIC_SEED = 1  # a seed whose tiny discriminator finds CAM hot spots (seed 0's CAMs are all zero)

# schedule -> (window config, epochs, seed)
SCHEDULES: dict[str, tuple[WindowConfig, int, int]] = {
    "minmax": (WindowConfig(schedule="minmax"), 2, 0),
    "fixed": (WindowConfig(schedule="fixed", th_eta=1), 3, 0),
    "dynamic": (WindowConfig(schedule="dynamic", subset_size=2, subsets=2), 3, DYNAMIC_SEED),
    # a 1024 HU step covers the full range in three epochs, so the fourth is dynamic
    "fixed+dynamic": (
        WindowConfig(schedule="fixed+dynamic", fixed_step_hu=1024, th_eta=1, subset_size=2, subsets=2),
        4,
        DYNAMIC_SEED,
    ),
}


def _follows_cams(history: list[dict[str, Any]], first: int, min_width: int) -> None:
    """From epoch `first` (1-based) on, each window is the previous epoch's CAM window (clamped to the
    full range) when there is one wide enough, else the previous window."""
    for before, entry in zip(history[first - 2 :], history[first - 1 :], strict=False):
        cam = before["cam_window_hu"]
        expected = before["window_hu"]
        if cam is not None:
            lo, hi = max(cam[0], FULL[0]), min(cam[1], FULL[1])
            if hi - lo >= min_width:
                expected = [lo, hi]
        assert entry["window_hu"] == expected, entry
        assert entry["phase"] == "dynamic"


def _check_schedule(name: str, history: list[dict[str, Any]], window: WindowConfig) -> None:
    windows = [h["window_hu"] for h in history]
    phases = [h["phase"] for h in history]
    if name == "minmax":
        assert windows == [FULL, FULL] and phases == ["minmax", "minmax"]
    elif name == "fixed":
        assert windows == [[-1024, -769], [-1024, -513], [-1024, -257]]
        assert phases == ["fixed"] * 3
    elif name == "dynamic":
        assert windows[0] == FULL
        _follows_cams(history, 2, window.min_width_hu)
    else:
        assert windows[:3] == [[-1024, -769], [-1024, 255], FULL] and phases[:3] == ["fixed"] * 3
        _follows_cams(history, 4, window.min_width_hu)
    if "dynamic" in name:
        cams = [h["cam_window_hu"] for h in history if h["cam_window_hu"] is not None]
        assert cams, "no CAM window in the whole run: the dynamic phase was never exercised"
        assert any(w != FULL for w in windows[1:]), "a CAM window was never used"
    else:
        assert all(h["cam_window_hu"] is None for h in history)


def _cam_epochs(name: str, epochs: int) -> list[int]:
    """The epochs after which the next window is dynamic, so CAMs were computed and plotted."""
    return {"dynamic": list(range(1, epochs + 1)), "fixed+dynamic": [3, 4]}.get(name, [])


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_train_then_harmonize(
    name: str, scan: Scan, tmp_path: Path, run_dciodvfy: Dciodvfy, tree_digests: Digests
) -> None:
    window, epochs, seed = SCHEDULES[name]
    config = tiny_config(scan, tmp_path / "run", epochs=epochs, seed=seed, window=window)
    inputs = tree_digests(scan.source.parent)
    result = train(config, progress=False)

    run = tmp_path / "run"
    assert result.run_dir == run and result.model_path == run / "model.safetensors"
    recorded = yaml.safe_load((run / "config.yaml").read_text())
    assert recorded == as_dict(resolve(config))  # the resolved config: what the run really trained with
    assert recorded["model"]["prefilter"] == "wiener"  # "auto" is RadiomicGAN's own
    history = json.loads((run / "history.json").read_text())
    assert history == result.history
    assert [h["epoch"] for h in history] == list(range(1, epochs + 1))
    for entry in history:
        assert set(entry["losses"]) == {"d", "g_adv", "g_l1", "g"}
        assert all(np.isfinite(v) for v in entry["losses"].values())
        assert set(entry["validation"]) == {"ssim", "psnr", "mae_hu"}
        assert entry["accuracy"] == entry["validation"]["ssim"]
    _check_schedule(name, history, window)
    assert (run / "figures" / "window_schedule.png").read_bytes()[:4] == b"\x89PNG"
    cams = sorted(p.name for p in (run / "figures").glob("cam_epoch*.png"))
    assert cams == [f"cam_epoch{e:03d}.png" for e in _cam_epochs(name, epochs)]
    metadata = read_metadata(run)
    assert list(metadata.training_window_hu) == history[-1]["window_hu"] == list(result.final_window_hu)
    assert (metadata.source_kernel, metadata.target_kernel) == (SOURCE_KERNEL, TARGET_KERNEL)
    assert metadata.epochs == epochs and metadata.extra["schedule"] == name

    harmonizer = Harmonizer.load(run, HarmonizeConfig(device="cpu"))
    out = tmp_path / "harmonized"
    assert harmonize_path(harmonizer, scan.source, out, progress=False) == [out]
    source, harmonized = read_volume(scan.source), read_volume(out)
    assert harmonized.shape == source.shape
    assert harmonized.spacing_zyx_mm == pytest.approx(source.spacing_zyx_mm)
    assert harmonized.origin_xyz_mm == pytest.approx(source.origin_xyz_mm)
    np.testing.assert_allclose(harmonized.direction, source.direction, atol=1e-6)
    assert harmonized.meta.study_uid == source.meta.study_uid
    assert harmonized.meta.frame_of_reference_uid == source.meta.frame_of_reference_uid
    assert harmonized.meta.series_uid != source.meta.series_uid
    np.testing.assert_array_equal(harmonized.hu, np.rint(harmonized.hu))
    assert not np.array_equal(harmonized.hu, source.hu)
    assert harmonized.datasets is not None
    assert all("DERIVED" in list(ds.ImageType) for ds in harmonized.datasets)
    errors, _ = run_dciodvfy(out)
    assert errors == []

    again = tmp_path / "again"
    harmonize_path(Harmonizer.load(run, HarmonizeConfig(device="cpu")), scan.source, again, progress=False)
    first, second = tree_digests(out), tree_digests(again)
    assert {p.relative_to(out): d for p, d in first.items()} == {
        p.relative_to(again): d for p, d in second.items()
    }, "harmonizing twice must write identical files"

    nrrd_in = write_volume(source, tmp_path / "source.nrrd")
    nrrd_out = harmonize_path(harmonizer, nrrd_in, tmp_path / "harmonized.nrrd", progress=False)
    assert nrrd_out == [tmp_path / "harmonized.nrrd"]
    np.testing.assert_array_equal(read_volume(nrrd_out[0]).hu, harmonized.hu)
    assert nrrd.read_header(str(nrrd_out[0]))["radiomicgan_model_id"] == harmonizer.model_id
    assert tree_digests(scan.source.parent) == inputs, "the inputs were modified"


def test_radiomicgan_generator_keeps_the_pretrained_encoder_frozen(
    scan: Scan, vgg_checkpoint: Path, tmp_path: Path
) -> None:
    window = WindowConfig(schedule="minmax")
    vgg_unet = VGGUNetConfig(encoder_weights=str(vgg_checkpoint), skip_width=0.125)
    model = ModelConfig(generator="radiomicgan", vgg_unet=vgg_unet, patchgan=PatchGANConfig(base_channels=8))
    config = tiny_config(scan, tmp_path / "run", window=window, model=model)
    result = train(config, progress=False)

    metadata = read_metadata(result.model_path)
    assert metadata.encoder_frozen is True
    assert metadata.encoder_weights["source"] == str(vgg_checkpoint)
    saved = load_file(result.model_path)
    pretrained = torch.load(vgg_checkpoint, weights_only=True)
    for key, value in pretrained.items():
        assert torch.equal(saved[f"encoder.{key}"], value), f"frozen {key} changed during training"

    harmonizer = Harmonizer.load(result.run_dir, HarmonizeConfig(device="cpu", batch_size=4))
    volume = read_volume(scan.source)
    out = harmonizer(volume)
    assert out.shape == volume.shape
    np.testing.assert_array_equal(out.hu, np.rint(out.hu))


def test_schedule_waits_th_eta_epochs_before_growing(scan: Scan, tmp_path: Path) -> None:
    window = WindowConfig(schedule="fixed", th_eta=2, th_acc=1.0)  # SSIM never reaches 1 here
    result = train(tiny_config(scan, tmp_path / "run", epochs=3, window=window), progress=False)
    assert [h["window_hu"] for h in result.history] == [[-1024, -769], [-1024, -769], [-1024, -513]]


def test_slices_of_any_size_train_and_harmonize_whole(tmp_path: Path) -> None:
    odd = write_scan(tmp_path / "data", slices=4, size=44)  # not a multiple of the U-Net's 8
    result = train(tiny_config(odd, tmp_path / "run", crop_px=64, cam_crop_px=64), progress=False)
    volume = read_volume(odd.source)
    assert Harmonizer.load(result.run_dir, HarmonizeConfig(device="cpu"))(volume).shape == (4, 44, 44)


def test_slices_smaller_than_the_generator_needs(scan: Scan, tmp_path: Path) -> None:
    deep = replace(TINY_MODEL, unet=UNetConfig(base_channels=4, downs=7))
    with pytest.raises(InputError, match="smaller than the generator's size multiple 128"):
        train(tiny_config(scan, tmp_path / "run", model=deep), progress=False)
    assert not (tmp_path / "run").exists()
