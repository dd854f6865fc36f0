"""The typed configuration: defaults, YAML file and CLI layers, validation."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from radiomicgan.config import SimulationConfig, as_dict, build, load_yaml
from radiomicgan.errors import ConfigError


def test_defaults_without_layers() -> None:
    assert build(SimulationConfig) == SimulationConfig()


def test_later_layers_override_earlier_and_none_keeps_lower(tmp_path: Path) -> None:
    file = tmp_path / "sim.yaml"
    file.write_text("slices: 12\nkernels: [smooth, sharp]\nphotons_per_ray: 100000\n")
    config = build(SimulationConfig, load_yaml(file), {"slices": 3, "seed": None})
    assert config.slices == 3
    assert config.kernels == ("smooth", "sharp")
    assert config.photons_per_ray == 100000.0 and isinstance(config.photons_per_ray, float)
    assert config.seed == SimulationConfig().seed


def test_comma_separated_string_becomes_tuple() -> None:
    assert build(SimulationConfig, {"kernels": "smooth, sharp"}).kernels == ("smooth", "sharp")


def test_dashed_keys_are_accepted() -> None:
    assert build(SimulationConfig, {"size-px": 64}).size_px == 64


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ({"slicez": 3}, "unknown option 'slicez'"),
        ({"slices": "many"}, "must be int"),
        ({"slices": 0}, "slices must be >= 1"),
        ({"size_px": 4}, "size_px"),
        ({"retest": True, "standard_kernel": "ultra"}, "standard kernel"),
        ({"kernels": "smooth,sharp+ir7"}, r"simulation: kernels: reconstruction 'sharp\+ir7'.* 1 to 5"),
        ({"standard_kernel": "B70f+ir2"}, "simulation: standard kernel: unknown kernel 'B70f'"),
        ({"kernels": "smooth,smooth"}, "named twice"),
        (
            {"doses": {"smooth+ir3": 0.5}},
            r"dose for unknown series 'smooth\+ir3' \(series: smooth, medium, sharp\)",
        ),
        ({"doses": {"sharp_retest": 0.5}}, "unknown series 'sharp_retest'"),
        ({"doses": {"smooth": 0.0}}, r"dose of 'smooth' must be .* \(0, 1\], got 0.0"),
        ({"doses": {"smooth": 1.5}}, "got 1.5"),
        ({"doses": {"smooth": "half"}}, "got 'half'"),
        ({"doses": [0.5]}, "doses must map series names"),
    ],
)
def test_bad_values_are_config_errors(layer: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build(SimulationConfig, layer)


def test_load_yaml_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_yaml(tmp_path / "absent.yaml")
    bad = tmp_path / "list.yaml"
    bad.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match=r"list\.yaml: a config file must hold a mapping"):
        load_yaml(bad)
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml(broken)


def test_empty_yaml_is_an_empty_layer(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_yaml(empty) == {}


def test_as_dict_is_plain_data() -> None:
    data = as_dict(SimulationConfig())
    assert data["kernels"] == ["smooth", "medium", "sharp"]
    assert build(SimulationConfig, data) == SimulationConfig()


def test_nested_sections_merge_across_layers(tmp_path: Path) -> None:
    from radiomicgan.config import TrainConfig

    file = tmp_path / "train.yaml"
    file.write_text("epochs: 4\nwindow:\n  th_eta: 3\n  schedule: fixed\n")
    config = build(TrainConfig, load_yaml(file), {"window": {"schedule": "dynamic", "th_fail": None}})
    assert config.epochs == 4
    assert config.window.schedule == "dynamic"
    assert config.window.th_eta == 3
    with pytest.raises(ConfigError, match="unknown option 'th_etta'"):
        build(TrainConfig, {"window": {"th_etta": 3}})


def test_a_yaml_baseline_knob_reaches_the_built_baseline(tmp_path: Path) -> None:
    import numpy as np
    import torch

    from radiomicgan.config import TrainConfig
    from radiomicgan.methods import METHODS
    from radiomicgan.methods.stanct import StanCTParts
    from radiomicgan.methods.wiener import WienerFitting
    from radiomicgan.nets import build_generator
    from radiomicgan.training.data import PairedSlices

    file = tmp_path / "train.yaml"
    file.write_text(
        "method: wiener\n"
        "baselines:\n"
        "  wiener: {lambda_log10_range: [-3, -3], smoothing_px: 5}\n"
        "  stanct: {latent_weight: 0.25}\n"
    )
    config = build(TrainConfig, load_yaml(file))
    assert config.baselines.stanct.texture_gain == 10.0  # the keys not given keep their defaults
    cpu = torch.device("cpu")
    wiener = METHODS["wiener"].build(build_generator("wiener", config.model), config, cpu)
    assert isinstance(wiener, WienerFitting) and wiener.settings.smoothing_px == 5
    slices = np.random.default_rng(0).normal(0.0, 100.0, (4, 16, 16)).astype(np.float32)
    pairs = PairedSlices(slices, slices, np.zeros(4, np.int64))
    losses = wiener.fit(pairs, pairs, (-1024, 1000))
    assert losses["relative_lambda"] == pytest.approx(1e-3)  # the one-lambda grid the file asked for
    stanct = METHODS["stanct"].build(build_generator("unet", config.model), config, cpu)
    assert isinstance(stanct, StanCTParts) and stanct.settings.latent_weight == 0.25


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"stanct": {"latent_weight": -1.0}}, "latent_weight must be >= 0"),
        ({"stanct": {"texture_sigma_px": 0}}, "texture_sigma_px"),
        ({"wiener": {"smoothing_px": 0}}, "smoothing_px must be >= 1"),
        ({"wiener": {"lambda_log10_range": [0, -8]}}, "lo <= hi"),
        ({"ganai": {"max_phase_steps": 0}}, "max_phase_steps"),
        ({"choe": {"adam_beta1": 1.0}}, "adam_beta1"),
        ({"wiener": {"smoothing": 3}}, "unknown option 'smoothing'"),
        ({"cut": {"temperature": 0}}, r"baselines.cut: temperature must lie in \(0, 1\]"),
        ({"cut": {"patches": 1}}, "baselines.cut: patches must be >= 2"),
        ({"cut": {"density_weight": -1}}, "baselines.cut: density_weight must be >= 0"),
        ({"cut": {"density_sigma_px": 0}}, "baselines.cut: density_sigma_px"),
        ({"cut": {"level_weight": -1}}, "baselines.cut: level_weight must be >= 0"),
        ({"cut": {"level_sigmas_px": [2, 1]}}, "baselines.cut: level_sigmas_px must be increasing"),
        ({"cut": {"level_ranges_hu": [[100, -100]]}}, "baselines.cut: level_ranges_hu must be"),
    ],
)
def test_bad_baseline_values_are_config_errors(section: dict[str, object], message: str) -> None:
    from radiomicgan.config import TrainConfig

    with pytest.raises(ConfigError, match=message):
        build(TrainConfig, {"baselines": section})


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ({"model": {"residual_unet": {"lr": 0}}}, r"model\.residual_unet: lr must lie in \(0, 1\)"),
        ({"model": {"vgg_unet": {"lr": 2.0}}}, r"model\.vgg_unet: lr"),
        ({"lr": -1e-4}, "train: lr must be > 0"),
    ],
)
def test_bad_learning_rates_are_config_errors(layer: dict[str, object], message: str) -> None:
    from radiomicgan.config import TrainConfig

    with pytest.raises(ConfigError, match=message):
        build(TrainConfig, layer)


def test_a_run_config_without_the_baselines_section_still_loads() -> None:
    from radiomicgan.config import BaselinesConfig, TrainConfig

    older = as_dict(TrainConfig(epochs=3))  # config.yaml as runs wrote it before the section existed
    del older["baselines"]
    del older["model"]["choe"]["layers"]
    config = build(TrainConfig, older)
    assert config.epochs == 3
    assert config.baselines == BaselinesConfig() and config.model.choe.layers == 6


# --- the model section: one sub-section per network; release 0.3.0's flat keys still load ----------


def test_each_flat_key_reaches_every_network_that_read_it_in_0_3_0() -> None:
    from radiomicgan.config import (
        ModelConfig,
        PatchGANConfig,
        ResidualCNNConfig,
        UNetConfig,
        VGGUNetConfig,
    )

    flat = {
        "generator": "unet",
        "encoder_weights": "none",
        "freeze_encoder": True,
        "skip_width": 0.5,
        "upsample": "bilinear",
        "output": "sigmoid",
        "norm": "instance",  # VGG U-Net decoder and skips, pix2pix U-Net, PatchGAN
        "base_channels": 16,  # pix2pix U-Net, Choe's CNN, PatchGAN
        "unet_downs": 5,
        "choe_layers": 4,
        "discriminator_layers": 2,
        "prefilter": "none",
    }
    assert build(ModelConfig, flat) == ModelConfig(
        generator="unet",
        prefilter="none",
        vgg_unet=VGGUNetConfig(
            encoder_weights="none", freeze_encoder=True, skip_width=0.5, upsample="bilinear",
            output="sigmoid", norm="instance",
        ),
        unet=UNetConfig(base_channels=16, downs=5, norm="instance"),
        choe=ResidualCNNConfig(channels=16, layers=4),
        patchgan=PatchGANConfig(base_channels=16, layers=2, norm="instance"),
    )  # fmt: skip
    assert build(ModelConfig, {"base-channels": 8, "freeze_encoder": None}).unet.base_channels == 8
    assert build(ModelConfig, {"norm": None}) == ModelConfig()  # None sets nothing, flat or nested


def test_a_flat_layer_without_a_generator_builds_0_3_0_s_default_the_vgg_unet() -> None:
    from radiomicgan.config import ModelConfig

    assert ModelConfig().generator == "residual_unet"
    assert build(ModelConfig, {"output": "sigmoid"}).generator == "radiomicgan"
    assert build(ModelConfig, {"output": "sigmoid", "generator": "unet"}).generator == "unet"
    # a later layer's generator wins over the flat layer's implied one, as any key does
    assert build(ModelConfig, {"skip_width": 0.5}, {"generator": "choe"}).generator == "choe"
    # a nested layer is today's: its unset generator is today's default
    assert build(ModelConfig, {"vgg_unet": {"output": "sigmoid"}}).generator == "residual_unet"


def test_a_0_3_0_config_file_with_flat_model_keys_builds_the_same_networks(tmp_path: Path) -> None:
    from radiomicgan.config import TrainConfig
    from training.pairs import TINY_MODEL, tiny_config_yaml

    old = tmp_path / "old.yaml"  # tiny_config_yaml's model section as release 0.3.0's tests wrote it
    old.write_text("model: {generator: unet, base_channels: 4, unet_downs: 3, encoder_weights: none}\n")
    new = tiny_config_yaml(tmp_path / "new.yaml")
    tiny = dataclasses.replace(TINY_MODEL, texture="auto")  # the command line's tiny runs keep the default
    assert build(TrainConfig, load_yaml(old)).model == tiny == build(TrainConfig, load_yaml(new)).model


def test_later_layers_override_a_flat_layer_section_by_section() -> None:
    from radiomicgan.config import ModelConfig

    # a run folder's flat config.yaml (on --resume) under the command line's nested options
    config = build(ModelConfig, {"norm": "instance", "base_channels": 8}, {"unet": {"norm": "batch"}})
    assert config.unet.norm == "batch" and config.unet.base_channels == 8
    assert config.vgg_unet.norm == config.patchgan.norm == "instance"


def test_flat_and_nested_keys_in_one_layer_are_refused() -> None:
    from radiomicgan.config import ModelConfig, TrainConfig

    with pytest.raises(
        ConfigError, match=r"flat keys cannot be mixed with the sections unet.*base_channels ->"
    ):
        build(ModelConfig, {"base_channels": 8, "unet": {"downs": 3}})
    with pytest.raises(ConfigError, match="cannot be mixed"):
        build(TrainConfig, {"model": {"unet_downs": 3, "patchgan": {"layers": 2}}})


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (
            {"unet": {"dwons": 3}},
            r"UNetConfig: unknown option 'dwons' \(known: base_channels, downs",
        ),
        ({"vgg_unet": {"unet_downs": 3}}, "VGGUNetConfig: unknown option 'unet_downs'"),
        ({"resnet": {"layers": 3}}, "ModelConfig: unknown option 'resnet'"),
        ({"choe": {"layers": 1}}, r"model\.choe: layers must be >= 2"),
        ({"patchgan": {"layers": 6}}, r"model\.patchgan: layers must lie in \[1, 5\]"),
        ({"unet": {"norm": "group"}}, r"model\.unet: norm must be batch, instance or none"),
        ({"unet_downs": 9}, r"model\.unet: downs must lie in \[1, 8\]"),  # a flat value is checked nested
    ],
)
def test_bad_model_keys_are_config_errors(model: dict[str, object], message: str) -> None:
    from radiomicgan.config import TrainConfig

    with pytest.raises(ConfigError, match=message):
        build(TrainConfig, {"model": model})


def test_the_model_section_is_written_nested_and_reads_back() -> None:
    from radiomicgan.config import FLAT_MODEL_KEYS, ModelConfig

    written = as_dict(ModelConfig(generator="choe"))
    assert not FLAT_MODEL_KEYS.keys() & written.keys()
    assert written["choe"] == {"channels": 64, "layers": 6, "lr": 1e-4} and written["unet"]["downs"] == 8
    assert build(ModelConfig, written) == ModelConfig(generator="choe")


def test_importing_the_config_needs_no_torch() -> None:
    import subprocess
    import sys

    code = "import radiomicgan.config, sys; assert 'torch' not in sys.modules, 'config imported torch'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_doses_name_series_the_retest_included() -> None:
    layer = {"kernels": "smooth+ir3,sharp", "retest": True, "doses": {"smooth+ir3": 0.25, "sharp_retest": 1}}
    config = build(SimulationConfig, layer)
    assert config.series_names() == ("smooth+ir3", "sharp", "sharp_retest")
    assert config.doses == {"smooth+ir3": 0.25, "sharp_retest": 1}
    assert SimulationConfig().doses == {}
