"""The harmonizers `radiomicgan train --model NAME` trains, by name: RadiomicGAN and the baselines.

A method names the generator it trains (from the `radiomicgan.nets` registry, so `harmonize`
rebuilds it from the model file) and builds its parts around it: a `Learner` (a step on random
crops) or a `Fitter` (one pass over the training slices). Everything else, data, windows,
validation, checkpoints and the run folder, is the shared loop's (`radiomicgan.training`).
Adding a method is one module here, holding its parts and its `Method` record, and one line in
`METHODS`.
"""

from __future__ import annotations

import dataclasses
import logging
import math

from radiomicgan.config import TrainConfig
from radiomicgan.errors import ConfigError
from radiomicgan.methods import choe, ganai, histmatch, pix2pix, radiomicgan, stanct, wiener
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
}


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
        why = "each process would switch training phases on its own batches"
    raise ConfigError(f"--model {name} cannot train data-parallel ({why}): run it without torchrun")


def resolve(config: TrainConfig) -> TrainConfig:
    """The configuration a method really trains with: its generator, its schedule, its epochs.

    A baseline trains in the full range (schedule "minmax"); a fitted one in one epoch; a baseline
    U-Net is made no deeper than its crops allow; `model.prefilter: auto` becomes the method's own.
    What is overridden is logged, and the run folder's config.yaml records the resolved values.

    Raises:
        ConfigError: `config.method` names no method.
    """
    method = get(config.method)
    model = config.model
    if method.generator is not None and model.generator != method.generator:
        model = dataclasses.replace(model, generator=method.generator)
    if method.generator == "unet" and 2**model.unet.downs > config.crop_px:
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
    window = config.window
    if not method.window_training and window.schedule != "minmax":
        log.info("%s trains in the full range: schedule minmax, not %s", config.method, window.schedule)
        window = dataclasses.replace(window, schedule="minmax")
    epochs = 1 if method.fitted else config.epochs
    return dataclasses.replace(config, model=model, window=window, epochs=epochs)
