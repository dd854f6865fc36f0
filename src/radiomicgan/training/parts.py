"""What a training method hands the shared loop: its record, its networks, and how it learns.

The loop owns everything the methods share (data, windows, validation, checkpoints, the run
folder). A method owns its parts: a learned method (`Learner`) takes one optimization step on
crops it asks for; a classical method (`Fitter`) fits in one pass over the training slices. Its
`Method` record says how to build them and what the loop must do differently for it. This module
is the loop's side of that interface: the methods (`radiomicgan.methods`) import it, never the
other way round.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from radiomicgan.config import TrainConfig
from radiomicgan.nets import FrequencyFilter, Generator
from radiomicgan.training.unpaired_data import TrainingSlices
from radiomicgan.windowing import Window

# n -> (source, target): n random crops of each kernel, windowed to [0, 1], [n, 1, crop, crop] on the
# device; co-located in paired training, drawn independently in unpaired training (`config.unpaired`)
SampleFn = Callable[[int], tuple[torch.Tensor, torch.Tensor]]


class Parts(Protocol):
    """The state of one method's run: what is checkpointed and what is saved as the model."""

    def networks(self) -> dict[str, nn.Module]:
        """Every module whose state a checkpoint keeps, by a short key ("g", "d", ...)."""
        ...

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Every optimizer a checkpoint keeps, by key ("opt_g", "opt_d"); empty for a fitted method."""
        ...

    def model(self) -> nn.Module:
        """The generator that validation scores and the model file stores."""
        ...


@runtime_checkable
class Learner(Parts, Protocol):
    """A method trained by gradient steps on random crops."""

    def train_step(self, sample: SampleFn) -> dict[str, float]:
        """One optimization step; draws its crops with `sample`; returns the step's losses."""
        ...


@runtime_checkable
class Fitter(Parts, Protocol):
    """A classical method fitted in one pass, without an optimizer."""

    def fit(self, train: TrainingSlices, held_out: TrainingSlices, window_hu: Window) -> dict[str, float]:
        """Fit on the training slices (`held_out` may tune a hyperparameter); returns what was chosen.

        The slices are paired (`PairedSlices`) unless the method's record says it trains unpaired and
        the run is (`UnpairedSlices`).
        """
        ...


BuildFn = Callable[[Generator, TrainConfig, torch.device], Learner | Fitter]


@dataclass
class FilterFitting:
    """What every fitted linear filter shares as a `Fitter` (its `fit` is the subclass's).

    The filter is the model and the only network; nothing is optimized by gradient.
    """

    filter: FrequencyFilter

    def networks(self) -> dict[str, nn.Module]:
        return {"g": self.filter}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {}

    def model(self) -> nn.Module:
        return self.filter


@dataclass(frozen=True)
class Method:
    """How one harmonizer trains: the record `radiomicgan.methods` registers under its name.

    Attributes:
        build: (generator, config, device) -> the method's parts.
        generator: the `radiomicgan.nets` generator it trains; None takes `config.model.generator`.
        help: one line for `radiomicgan train --help`: what the method is and where it comes from.
        window_training: whether the window schedule applies (only RadiomicGAN's DWT does); the
            others train in the full range, the "minmax" schedule.
        fitted: fitted in one pass (one epoch, no optimizer) rather than learned by steps.
        data_parallel: whether torchrun can train it on several processes (`training.distributed`).
        single_process_why: why a learned method cannot (for the error torchrun gets).
        prefilter: what `model.prefilter: auto` means for it (`radiomicgan.training.prefilter`).
        texture: what `model.texture: auto` means for it on pairs (`radiomicgan.residual_texture`);
            unpaired runs have none.
        unpaired: whether it can train on unpaired series (`config.unpaired`, `train --unpaired`);
            every method trains on pairs.
        generator_of: for a method whose generator is one of its settings (CycleGAN's), the
            configuration -> the generator's name; it takes the place of `generator`.
    """

    build: BuildFn
    generator: str | None
    help: str
    window_training: bool = False
    fitted: bool = False
    data_parallel: bool = True
    single_process_why: str = ""
    prefilter: str = "none"
    texture: str = "none"
    unpaired: bool = False
    generator_of: Callable[[TrainConfig], str] | None = None
