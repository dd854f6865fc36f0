"""`radiomicgan train`'s options land in the config sections that hold their knobs."""

from __future__ import annotations

from pathlib import Path

import pytest

from radiomicgan.cli import build_parser
from radiomicgan.commands.train import config_from_args
from radiomicgan.errors import ConfigError
from radiomicgan.windowing import SCHEDULES


def test_encoder_options_land_in_the_vgg_unet_section_over_a_0_3_0_config_file(tmp_path: Path) -> None:
    file = tmp_path / "old.yaml"  # a config file written for release 0.3.0: flat model keys
    file.write_text(
        "model: {encoder_weights: imagenet, skip_width: 0.5, freeze_encoder: true, norm: instance}\n"
    )
    argv = ["train", "--config", str(file), "--encoder-weights", "none", "--no-freeze-encoder"]
    model = config_from_args(build_parser().parse_args(argv)).model
    assert model.vgg_unet.encoder_weights == "none" and model.vgg_unet.freeze_encoder is False
    assert model.vgg_unet.skip_width == 0.5 and model.unet.norm == model.patchgan.norm == "instance"
    assert model.generator == "radiomicgan", "a 0.3.0 file without a generator meant 0.3.0's default"
    assert config_from_args(build_parser().parse_args(["train"])).model.vgg_unet.encoder_weights == "auto"


def test_schedule_choices_are_the_registry_s() -> None:
    for name in SCHEDULES:
        assert (
            config_from_args(build_parser().parse_args(["train", "--schedule", name])).window.schedule == name
        )


def test_lr_option_overrides_the_config_file_and_unset_leaves_the_generators_own(tmp_path: Path) -> None:
    file = tmp_path / "train.yaml"
    file.write_text("lr: 0.002\nmodel: {generator: residual_unet}\n")
    config = config_from_args(build_parser().parse_args(["train", "--config", str(file), "--lr", "5e-4"]))
    assert config.lr == 5e-4
    unset = config_from_args(build_parser().parse_args(["train", "--generator", "residual_unet"]))
    assert unset.lr is None and unset.learning_rate == unset.model.residual_unet.lr


def test_encoder_options_need_the_vgg_unet_and_are_refused_for_the_default_generator() -> None:
    assert config_from_args(build_parser().parse_args(["train"])).model.generator == "residual_unet"
    for option in (["--encoder-weights", "imagenet"], ["--freeze-encoder"], ["--no-freeze-encoder"]):
        with pytest.raises(ConfigError, match="this run trains residual_unet: add --generator radiomicgan"):
            config_from_args(build_parser().parse_args(["train", *option]))
        with pytest.raises(ConfigError, match="this run trains unet"):  # pix2pix trains its own U-Net
            config_from_args(build_parser().parse_args(["train", "--model", "pix2pix", *option]))
    vgg = ["train", "--generator", "radiomicgan", "--encoder-weights", "none", "--freeze-encoder"]
    model = config_from_args(build_parser().parse_args(vgg)).model
    assert model.vgg_unet.encoder_weights == "none" and model.vgg_unet.freeze_encoder is True
