"""The plain pix2pix baseline: the registry's U-Net and PatchGAN with adversarial + L1, no DWT."""

from __future__ import annotations

from pathlib import Path

from methods.runs import Dciodvfy, Pairs, harmonize_and_check, train_and_check
from radiomicgan.modelfile import read_metadata


def test_pix2pix_trains_in_the_full_range_and_harmonizes(
    pairs: Pairs, tmp_path: Path, run_dciodvfy: Dciodvfy
) -> None:
    run = tmp_path / "run"
    # a RadiomicGAN window schedule and generator in the config are overridden: pix2pix has neither
    result = train_and_check("pix2pix", pairs, run)
    assert set(result.history[0]["losses"]) == {"d", "g_adv", "g_l1", "g"}
    metadata = read_metadata(run)
    assert metadata.model["generator"] == "unet" and metadata.extra["schedule"] == "minmax"
    assert not metadata.encoder_frozen
    harmonize_and_check(run, pairs, tmp_path / "harmonized", run_dciodvfy)
