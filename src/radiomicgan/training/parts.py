"""What a training method hands the shared loop: its networks, optimizers, and how it learns.

The loop owns everything the methods share (data, windows, validation, checkpoints, the run
folder). A method owns its parts: a learned method (`Learner`) takes one optimization step on
crops it asks for; a classical method (`Fitter`) fits in one pass over the training slices.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from radiomicgan.training.data import PairedSlices
from radiomicgan.windowing import Window

# n -> (source, target): n co-located random crops, windowed to [0, 1], [n, 1, crop, crop] on the device
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

    def fit(self, train: PairedSlices, held_out: PairedSlices, window_hu: Window) -> dict[str, float]:
        """Fit on the training slices (`held_out` may tune a hyperparameter); returns what was chosen."""
        ...
