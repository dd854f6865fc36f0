"""The method registry: one entry per method name, and what each method overrides."""

from __future__ import annotations

import dataclasses

import pytest

from radiomicgan.config import (
    BaselinesConfig,
    CUTConfig,
    CycleGANConfig,
    ModelConfig,
    ResidualCNNConfig,
    ResidualUNetConfig,
    TrainConfig,
    VGGUNetConfig,
    WindowConfig,
)
from radiomicgan.errors import ConfigError
from radiomicgan.methods import LEARNED_GENERATORS, METHODS, check_data_parallel, resolve
from radiomicgan.nets import GENERATOR_SECTIONS, GENERATORS


def test_every_method_names_a_generator_that_exists() -> None:
    for method in METHODS.values():
        assert method.generator is None or method.generator in GENERATORS


def test_radiomicgan_keeps_the_configured_generator_and_schedule() -> None:
    model = ModelConfig(generator="unet", prefilter="none", texture="none")
    config = TrainConfig(model=model, window=WindowConfig(schedule="fixed"), epochs=7)
    assert resolve(config) == dataclasses.replace(config, lr=model.unet.lr)


def test_texture_auto_is_residual_for_radiomicgan_and_none_for_baselines_and_unpaired_runs() -> None:
    assert resolve(TrainConfig()).model.texture == "residual"
    assert resolve(TrainConfig(method="wiener")).model.texture == "none"
    asked = TrainConfig(method="wiener", model=ModelConfig(texture="residual"))
    assert resolve(asked).model.texture == "residual"
    unpaired = TrainConfig(method="cut", unpaired=True, source=("a",), target=("b",))
    assert resolve(unpaired).model.texture == "none"
    with pytest.raises(ConfigError, match="--unpaired needs --texture none"):
        resolve(dataclasses.replace(unpaired, model=ModelConfig(texture="residual")))


@pytest.mark.parametrize("name", ["pix2pix", "choe", "ganai", "stanct"])
def test_learned_baselines_train_their_generator_in_the_full_range(name: str) -> None:
    resolved = resolve(TrainConfig(method=name, epochs=7))
    assert resolved.model.generator == METHODS[name].generator
    assert resolved.window.schedule == "minmax" and resolved.epochs == 7
    assert resolve(resolved) == resolved


@pytest.mark.parametrize("name", ["histmatch", "wiener", "spectral"])
def test_fitted_baselines_run_one_epoch(name: str) -> None:
    resolved = resolve(TrainConfig(method=name, epochs=7))
    assert resolved.epochs == 1 and resolved.model.generator == name


def test_unknown_methods_are_refused_with_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown model 'munit'.*pix2pix.*wiener"):
        resolve(TrainConfig(method="munit"))


def test_a_baseline_u_net_is_made_no_deeper_than_its_crops() -> None:
    resolved = resolve(TrainConfig(method="pix2pix", crop_px=128))  # the default unet_256 would not fit
    assert resolved.model.unet.downs == 7  # pix2pix's own unet_128
    assert resolve(TrainConfig(method="ganai", crop_px=256)).model.unet.downs == 8


@pytest.mark.parametrize("name", ["radiomicgan", "pix2pix", "choe", "stanct"])
def test_learned_methods_train_data_parallel(name: str) -> None:
    check_data_parallel(name)  # no error


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("histmatch", "fitted in one pass"),
        ("wiener", "fitted in one pass"),
        ("spectral", "fitted in one pass"),
        ("ganai", "training phases"),
        ("cyclegan", "several times before one backward"),
        ("cut", "runs twice before one backward"),
    ],
)
def test_fitted_methods_and_ganai_refuse_data_parallel(name: str, why: str) -> None:
    with pytest.raises(
        ConfigError, match=f"--model {name} cannot train data-parallel.*{why}.*without torchrun"
    ):
        check_data_parallel(name)


@pytest.mark.parametrize("name", METHODS)
def test_prefilter_auto_is_wiener_for_radiomicgan_spectral_for_cyclegan_none_for_the_rest(name: str) -> None:
    resolved = resolve(TrainConfig(method=name)).model.prefilter
    assert resolved == {"radiomicgan": "wiener", "cyclegan": "spectral"}.get(name, "none")


@pytest.mark.parametrize("choice", ["none", "wiener"])
def test_an_explicit_prefilter_is_kept(choice: str) -> None:
    for name in ("radiomicgan", "pix2pix"):
        config = TrainConfig(method=name, model=ModelConfig(prefilter=choice))
        assert resolve(config).model.prefilter == choice


@pytest.mark.parametrize("name", ["radiomicgan", "pix2pix", "choe", "ganai", "stanct", "wiener"])
def test_unpaired_series_are_refused_for_a_method_that_needs_pairs(name: str) -> None:
    with pytest.raises(
        ConfigError, match=f"--model {name} trains on paired scans.*histmatch, cyclegan, cut, spectral"
    ):
        resolve(TrainConfig(method=name, unpaired=True))


def test_cyclegan_trains_its_generator_setting_in_the_full_range() -> None:
    resolved = resolve(TrainConfig(method="cyclegan", unpaired=True))
    assert resolved.model.generator == "choe" and resolved.window.schedule == "minmax"
    unet = BaselinesConfig(cyclegan=CycleGANConfig(generator="unet"))
    resolved = resolve(TrainConfig(method="cyclegan", crop_px=64, baselines=unet))
    assert resolved.model.generator == "unet" and resolved.model.unet.downs == 6  # no deeper than the crops


def test_cut_trains_its_generator_setting_without_a_prefilter_at_the_generators_rate() -> None:
    resolved = resolve(TrainConfig(method="cut", unpaired=True))
    assert resolved.model.generator == "residual_unet" and resolved.model.prefilter == "none"
    assert resolved.lr == ResidualUNetConfig().lr and resolved.window.schedule == "minmax"
    choe = BaselinesConfig(cut=CUTConfig(generator="choe"))
    assert resolve(TrainConfig(method="cut", unpaired=True, baselines=choe)).model.generator == "choe"


@pytest.mark.parametrize("generator", ["wiener", "histmatch", "vgg"])
def test_cyclegan_refuses_a_generator_with_nothing_to_learn(generator: str) -> None:
    baselines = BaselinesConfig(cyclegan=CycleGANConfig(generator=generator))
    with pytest.raises(ConfigError, match=f"cyclegan: generator '{generator}' is not a learned generator"):
        resolve(TrainConfig(method="cyclegan", baselines=baselines))


def test_every_learned_generator_names_the_model_section_it_reads() -> None:
    assert set(GENERATOR_SECTIONS) == set(LEARNED_GENERATORS)
    sections = {field.name for field in dataclasses.fields(ModelConfig)}
    assert set(GENERATOR_SECTIONS.values()) <= sections


# every section's rate set apart, so that each case can only pass by reading the right one
RATES = ModelConfig(
    vgg_unet=VGGUNetConfig(lr=1e-5),
    choe=ResidualCNNConfig(lr=2e-5),
    residual_unet=ResidualUNetConfig(lr=3e-3),
)


@pytest.mark.parametrize(
    ("method", "generator", "cyclegan_generator", "lr"),
    [
        ("radiomicgan", "radiomicgan", "choe", 1e-5),
        ("radiomicgan", "residual_unet", "choe", 3e-3),
        ("choe", "residual_unet", "choe", 2e-5),  # Choe et al.'s network, whatever model.generator says
        ("cyclegan", "radiomicgan", "residual_unet", 3e-3),  # the generator CycleGAN really trains
    ],
)
def test_an_unset_lr_becomes_the_trained_generators_own(
    method: str, generator: str, cyclegan_generator: str, lr: float
) -> None:
    config = TrainConfig(
        method=method,
        model=dataclasses.replace(RATES, generator=generator),
        baselines=BaselinesConfig(cyclegan=CycleGANConfig(generator=cyclegan_generator)),
    )
    assert resolve(config).lr == lr
    assert resolve(dataclasses.replace(config, lr=0.25)).lr == 0.25  # a rate asked for is kept


def test_a_fitted_method_keeps_lr_unset_and_has_no_rate() -> None:
    resolved = resolve(TrainConfig(method="wiener"))
    assert resolved.lr is None
    with pytest.raises(ConfigError, match="generator 'wiener' is fitted"):
        _ = resolved.learning_rate


def test_the_shipped_rates_are_the_papers_and_the_measured_one() -> None:
    # 1e-4: the paper's (Sec. 3.1), kept for the baselines; 1e-3: measured for the small U-Net (README)
    rates = {name: resolve(TrainConfig(model=ModelConfig(generator=name))).lr for name in GENERATOR_SECTIONS}
    assert rates == {"radiomicgan": 1e-4, "unet": 1e-4, "choe": 1e-4, "residual_unet": 1e-3}
