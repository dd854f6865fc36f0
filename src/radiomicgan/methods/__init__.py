"""The harmonizers `radiomicgan train --model NAME` trains, by name: RadiomicGAN and the baselines.

A method names the generator it trains (from the `radiomicgan.nets` registry, so `harmonize`
rebuilds it from the model file) and builds its parts around it: a `Learner` (a step on random
crops) or a `Fitter` (one pass over the training slices). Everything else, data, windows,
validation, checkpoints and the run folder, is the shared loop's (`radiomicgan.training`).
Adding a method is one module here, holding its parts and its `Method` record, and one line in
`METHODS`. Every method trains on paired series; those whose record says `unpaired` also on
unpaired ones (`train --unpaired`): CycleGAN, CUT, the spectral filter and histogram matching.
"""

from __future__ import annotations

import dataclasses
import logging
import math

from radiomicgan.config import TrainConfig, WindowConfig
from radiomicgan.errors import ConfigError
from radiomicgan.methods import (
    choe,
    cut,
    cyclegan,
    ganai,
    histmatch,
    pix2pix,
    radiomicgan,
    spectral,
    stanct,
    wiener,
)
from radiomicgan.nets import GENERATORS
from radiomicgan.training.parts import Method

log = logging.getLogger(__name__)

METHODS: dict[str, Method] = {
    "radiomicgan": radiomicgan.METHOD,
    "pix2pix": pix2pix.METHOD,
    "choe": choe.METHOD,
    "ganai": ganai.METHOD,
    "stanct": stanct.METHOD,
    "histmatch": histmatch.METHOD,
    "wiener": wiener.METHOD,
    "cyclegan": cyclegan.METHOD,
    "cut": cut.METHOD,
    "spectral": spectral.METHOD,
}
# what `train --unpaired` trains without --model. The spectral filter with its detail limit since
# session 17: on the lung CT's halves the one method above the input in every range that also raised
# PSNR, on FBP and on iterative pairs; CUT (the default of sessions 11-16) gains more soft tissue on
# iterative pairs and loses 4-5 dB there, and far less than the filter on FBP pairs (README)
UNPAIRED_DEFAULT = "spectral"
# the generators a method can learn: the registry's, less those a fitted method fits in one pass
LEARNED_GENERATORS = tuple(
    name for name in GENERATORS if name not in {m.generator for m in METHODS.values() if m.fitted}
)


def get(name: str) -> Method:
    """The method registered under `name`.

    Raises:
        ConfigError: no method of that name.
    """
    if name not in METHODS:
        raise ConfigError(f"train: unknown model {name!r} (known: {', '.join(METHODS)})")
    return METHODS[name]


def check_data_parallel(name: str) -> None:
    """Refuse a method that cannot train on several processes (under torchrun).

    Raises:
        ConfigError: an unknown method; one fitted in one pass (no gradient to average), or GANai.
    """
    method = get(name)
    if method.data_parallel:
        return
    if method.fitted:
        why = "it is fitted in one pass, with no gradient to average"
    else:
        why = method.single_process_why or "its step is not written for DistributedDataParallel"
    raise ConfigError(f"--model {name} cannot train data-parallel ({why}): run it without torchrun")


def resolve(config: TrainConfig) -> TrainConfig:
    """The configuration a method really trains with: its generator, its schedule, its epochs, its rate.

    A baseline trains in the full range (schedule "minmax"); a fitted one in one epoch; a baseline
    U-Net is made no deeper than its crops allow; `model.prefilter: auto` and `model.texture: auto`
    become the method's own;
    an unset `lr` becomes the trained generator's (`TrainConfig.learning_rate`).
    What is overridden is logged, and the run folder's config.yaml records the resolved values.

    Raises:
        ConfigError: `config.method` names no method; unpaired series (`config.unpaired`) for a
            method that trains on pairs, or with the Wiener prefilter or the residual texture; a
            generator setting (CycleGAN's) that names no learned generator.
    """
    method = get(config.method)
    if config.unpaired and not method.unpaired:
        unpaired = ", ".join(name for name, m in METHODS.items() if m.unpaired)
        raise ConfigError(
            f"train: --model {config.method} trains on paired scans; --unpaired trains {unpaired}"
        )
    generator = own_generator(config)
    if method.generator_of:
        _check_learned_generator(config.method, generator)
    model = config.model
    if generator is not None and model.generator != generator:
        model = dataclasses.replace(model, generator=generator)
    if generator == "unet" and 2**model.unet.downs > config.crop_px:
        # pix2pix itself pairs its U-Net's depth with the image size (unet_256, unet_128): so do we
        downs = max(1, int(math.log2(config.crop_px)))
        log.info(
            "%s: %d px crops take a U-Net of %d downsamplings, not %d",
            config.method,
            config.crop_px,
            downs,
            model.unet.downs,
        )
        model = dataclasses.replace(model, unet=dataclasses.replace(model.unet, downs=downs))
    if model.prefilter == "auto":
        model = dataclasses.replace(model, prefilter=method.prefilter)
    if config.unpaired and model.prefilter == "wiener":
        raise ConfigError("train: the Wiener prefilter is fitted on pairs; --unpaired needs --prefilter none")
    if model.texture == "auto":
        model = dataclasses.replace(model, texture="none" if config.unpaired else method.texture)
    if config.unpaired and model.texture == "residual":
        raise ConfigError("train: the residual texture is measured on pairs; --unpaired needs --texture none")
    window = config.window
    if not method.window_training and window.schedule != "minmax":
        # said when a schedule was asked for; the default one is the paper's method's, not a request
        level = logging.DEBUG if window.schedule == WindowConfig().schedule else logging.INFO
        log.log(level, "%s trains in the full range: schedule minmax, not %s", config.method, window.schedule)
        window = dataclasses.replace(window, schedule="minmax")
    epochs = 1 if method.fitted else config.epochs
    resolved = dataclasses.replace(config, model=model, window=window, epochs=epochs)
    if method.fitted:
        return resolved
    return dataclasses.replace(resolved, lr=resolved.learning_rate)


def own_generator(config: TrainConfig) -> str | None:
    """The generator `config.method` trains whatever `model.generator` says: a baseline's paper's
    own, or its setting's (CycleGAN's `baselines.cyclegan.generator`); None for RadiomicGAN, which
    trains the configured one.

    Raises:
        ConfigError: `config.method` names no method.
    """
    method = get(config.method)
    return method.generator_of(config) if method.generator_of else method.generator


def _check_learned_generator(method: str, generator: str | None) -> None:
    """Refuse a generator setting that names no generator, or a fitted method's (nothing to learn)."""
    if generator not in LEARNED_GENERATORS:
        raise ConfigError(
            f"{method}: generator {generator!r} is not a learned generator ({', '.join(LEARNED_GENERATORS)})"
        )
