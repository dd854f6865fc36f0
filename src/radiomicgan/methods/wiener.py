"""The least-squares linear kernel conversion as a trainable method: fit, choose lambda, keep H.

`radiomicgan.linear_filter` fits H(f) = E[Y X*] / (E[|X|^2] + lambda) on paired slices and picks
lambda by the validation error; this wraps it for `radiomicgan train --model wiener`: H is fitted on
the training split and lambda chosen on the held-out split (the same `split_validation` every
method uses), then stored in a `FrequencyFilter` that `harmonize` loads like any generator. The
lambda grid and the spectrum smoothing are the `baselines.wiener` section.

The fit runs in the windowed [0, 1] domain the Harmonizer feeds the generator, not in HU. Inside
the window the two differ by the affine map u = (HU - lo) / width, so the fitted response is the
same except at zero frequency, where the offset lo is absorbed (a kernel conversion with unit DC
gain has the same H in both); outside the window the pixels are clipped in both training and
inference (and pasted back by the Harmonizer), so fitting where they are clipped is consistent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch

from radiomicgan.config import TrainConfig, WienerConfig
from radiomicgan.errors import ConfigError
from radiomicgan.linear_filter import fit_wiener
from radiomicgan.nets import FrequencyFilter, Generator
from radiomicgan.training.data import PairedSlices
from radiomicgan.training.parts import FilterFitting, Method
from radiomicgan.training.unpaired_data import TrainingSlices
from radiomicgan.windowing import Window, to_unit

log = logging.getLogger(__name__)


@dataclass
class WienerFitting(FilterFitting):
    """A frequency response fitted in one pass (a `Fitter`)."""

    settings: WienerConfig = field(default_factory=WienerConfig)

    def fit(self, train: TrainingSlices, held_out: TrainingSlices, window_hu: Window) -> dict[str, float]:
        """Fit H on `train`, lambda on `held_out` (on `train` itself when nothing is held out).

        Raises:
            ConfigError: unpaired slices (`methods.resolve` refuses such a run before it starts).
        """
        if not (isinstance(train, PairedSlices) and isinstance(held_out, PairedSlices)):
            raise ConfigError("wiener: the least-squares filter needs paired scans (not --unpaired)")
        if len(held_out) == 0:
            log.warning("no held-out slices (val_fraction 0): lambda is chosen on the training pairs")
            held_out = train
        fitted = fit_wiener(
            to_unit(train.source_hu, window_hu),
            to_unit(train.target_hu, window_hu),
            to_unit(held_out.source_hu, window_hu),
            to_unit(held_out.target_hu, window_hu),
            relative_lambdas=self.settings.relative_lambdas,
            smoothing_px=self.settings.smoothing_px,
        )
        self.filter.set_response(torch.from_numpy(fitted.response))
        width = window_hu[1] - window_hu[0]
        rmse_hu = fitted.validation_mse[fitted.relative_lambda] ** 0.5 * width
        log.info("Wiener lambda %.3g x mean power, held-out RMSE %.1f HU", fitted.relative_lambda, rmse_hu)
        return {"relative_lambda": fitted.relative_lambda, "held_out_rmse_hu": rmse_hu}


def build_wiener(generator: Generator, config: TrainConfig, device: torch.device) -> WienerFitting:
    """The least-squares conversion around the registry's "wiener" generator (a `FrequencyFilter`),
    with the `baselines.wiener` lambda grid and smoothing."""
    if not isinstance(generator, FrequencyFilter):
        raise TypeError(f"the Wiener fit fills a FrequencyFilter, not {type(generator).__name__}")
    return WienerFitting(generator, config.baselines.wiener)


# a fitted method has no gradient for data-parallel training to average
METHOD = Method(
    build_wiener,
    generator="wiener",
    help="least-squares linear kernel conversion, lambda tuned on held-out slices",
    fitted=True,
    data_parallel=False,
)
