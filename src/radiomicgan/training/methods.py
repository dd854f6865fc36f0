"""The harmonizers `radiomicgan train --model NAME` trains, by name: RadiomicGAN and the baselines.

A method names the generator it trains (from the `radiomicgan.nets` registry, so `harmonize`
rebuilds it from the model file) and builds its parts around it: a `Learner` (a step on random
crops) or a `Fitter` (one pass over the training slices). Everything else, data, windows,
validation, checkpoints and the run folder, is the shared loop's. Adding a method is one module in
`radiomicgan.baselines` and one line in `METHODS` (and its name in `config.TRAIN_METHODS`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from radiomicgan.baselines.choe import build_choe
from radiomicgan.baselines.ganai import build_ganai
from radiomicgan.baselines.histmatch import build_histmatch
from radiomicgan.baselines.stanct import build_stanct
from radiomicgan.baselines.wiener_model import build_wiener
from radiomicgan.config import TrainConfig
from radiomicgan.errors import ConfigError
from radiomicgan.nets import Generator, build_discriminator
from radiomicgan.training.parts import Fitter, Learner
from radiomicgan.training.steps import GanParts

log = logging.getLogger(__name__)

BuildFn = Callable[[Generator, TrainConfig, torch.device], Learner | Fitter]


@dataclass(frozen=True)
class Method:
    """How one harmonizer trains.

    Attributes:
        build: (generator, config, device) -> the method's parts.
        generator: the `radiomicgan.nets` generator it trains; None takes `config.model.generator`.
        window_training: whether the window schedule applies (only RadiomicGAN's DWT does); the
            others train in the full range, the "minmax" schedule.
        fitted: fitted in one pass (one epoch, no optimizer) rather than learned by steps.
        data_parallel: whether torchrun can train it on several processes (`training.distributed`).
        prefilter: what `model.prefilter: auto` means for it (`radiomicgan.training.prefilter`).
    """

    build: BuildFn
    generator: str | None
    window_training: bool = False
    fitted: bool = False
    data_parallel: bool = True
    prefilter: str = "none"


def build_gan(generator: Generator, config: TrainConfig, device: torch.device) -> GanParts:
    """pix2pix's objective around `generator` and the model section's discriminator."""
    discriminator = build_discriminator(config.model.discriminator, config.model).to(device)
    return GanParts.around(generator, discriminator, config)


METHODS: dict[str, Method] = {
    # the paper's method; the Wiener prefilter is ours (README, Results)
    "radiomicgan": Method(build_gan, generator=None, window_training=True, prefilter="wiener"),
    "pix2pix": Method(build_gan, generator="unet"),  # plain cGAN: U-Net from scratch + PatchGAN + L1
    "choe": Method(build_choe, generator="choe"),  # Choe et al. 2019: residual CNN, L2 in HU
    # Liang et al. 2019: alternating improvement. Not data-parallel: each process would end a phase on
    # its own batch's accuracy, and processes in different phases cannot average their gradients.
    "ganai": Method(build_ganai, generator="unet", data_parallel=False),
    "stanct": Method(build_stanct, generator="unet"),  # Selim et al. 2020: latent + texture losses
    # the fitted methods have no gradient for data-parallel training to average
    "histmatch": Method(build_histmatch, "histmatch", fitted=True, data_parallel=False),  # lookup table
    "wiener": Method(build_wiener, "wiener", fitted=True, data_parallel=False),  # least-squares filter
}


def check_data_parallel(name: str) -> None:
    """Refuse a method that cannot train on several processes (under torchrun).

    Raises:
        ConfigError: the method is fitted in one pass (no gradient to average), or it is GANai.
    """
    method = METHODS[name]
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
    """
    method = METHODS[config.method]
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
