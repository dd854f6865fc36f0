"""The unpaired default: a zero-phase filter with gain sqrt(NPS_standard / NPS_source), its change limited.

The physicist's first try at harmonizing kernels without pairs: measure each kernel's noise power
spectrum in uniform tissue of its own slices (any patients, any studies), and filter the
non-standard slices by the square root of their ratio, which is the ratio of the kernels' responses
wherever the noise is the kernel's (`radiomicgan.noise_spectrum` describes the estimator, the
reliable band and the taper to gain 1 outside it; `baselines.spectral` holds its knobs). It is
stored as a `FrequencyFilter`, the Wiener method's network, so `harmonize` runs it like any model.
What it changes is soft-limited to `detail_limit_hu` (`nets.frequency_filter`): the gain is the
noise's, and an iterative reconstruction's strong edges do not follow it (README, Unpaired training).

Only the magnitude is estimated, and the phase is zero: a kernel's response is real and even, and
so is the ratio of two. It trains paired (`train --model spectral`) or unpaired (`--unpaired`); the
pairing is never used. The fit takes the slices in HU: the windowed domain the Harmonizer feeds the
filter differs from HU inside the window by an affine map, which a filter of unit DC gain commutes
with (`methods.wiener` says more).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch

from radiomicgan.config import SpectralConfig, TrainConfig
from radiomicgan.errors import ConfigError
from radiomicgan.nets import FrequencyFilter, Generator
from radiomicgan.noise_spectrum import fit_spectral_gain
from radiomicgan.training.parts import FilterFitting, Method
from radiomicgan.training.unpaired_data import TrainingSlices
from radiomicgan.windowing import Window

log = logging.getLogger(__name__)


@dataclass
class SpectralFitting(FilterFitting):
    """A zero-phase frequency response fitted from two noise power spectra (a `Fitter`)."""

    settings: SpectralConfig = field(default_factory=SpectralConfig)

    def fit(self, train: TrainingSlices, held_out: TrainingSlices, window_hu: Window) -> dict[str, float]:
        """Fit the response on the training slices of each kernel (`held_out` is not needed).

        Returns:
            The reliable band (cycles per pixel), the gain's extremes and the patches measured.

        Raises:
            ConfigError: no patch of the body in one kernel's slices, or no reliable frequency
                (`baselines.spectral`).
        """
        source, target = (np.clip(slices, *window_hu) for slices in (train.source_hu, train.target_hu))
        try:
            gain, chosen = fit_spectral_gain(source, target, self.settings)
        except ValueError as exc:
            raise ConfigError(f"spectral: {exc} (baselines.spectral)") from None
        self.filter.set_response(torch.from_numpy(gain.response(train.source_hu.shape[1:])))
        # the Harmonizer feeds the filter (HU - lo) / width: the limit in those units
        self.filter.set_detail_limit(self.settings.detail_limit_hu / (window_hu[1] - window_hu[0]))
        log.info(
            "spectral filter: noise level ratio %.2f, band %.3f-%.3f cycles/px, gain %.2f-%.2f, "
            "from %d and %d patches",
            *chosen.values(),
        )
        return chosen


def build_spectral(generator: Generator, config: TrainConfig, device: torch.device) -> SpectralFitting:
    """The spectral filter around the registry's "spectral" generator (a `FrequencyFilter`)."""
    if not isinstance(generator, FrequencyFilter):
        raise TypeError(f"the spectral fit fills a FrequencyFilter, not {type(generator).__name__}")
    return SpectralFitting(generator, config.baselines.spectral)


# a fitted method has no gradient for data-parallel training to average
METHOD = Method(
    build_spectral,
    generator="spectral",
    help="zero-phase filter sqrt(NPS_standard / NPS_source), unpaired (fitted in one pass)",
    fitted=True,
    data_parallel=False,
    unpaired=True,
)
