"""A linear pre-conversion ahead of the network: the Wiener filter, fitted on the training pairs
(or, `model.prefilter: spectral`, the unpaired spectral filter, fitted on each kernel's slices).

`model.prefilter: wiener` (ours, not the paper's). Two reconstructions of one scan differ mostly by
a linear shift-invariant filter, the ratio of their kernels, and the least-squares filter of
`radiomicgan.linear_filter` recovers that part in closed form. With a prefilter the network
starts from the Wiener filter's output instead of the input, and its residual head learns only
what no linear filter can: the noise texture the standard kernel adds where the non-standard one
kept too little signal.

The filter is applied to whole slices in HU, with the FFT, before windowing and cropping: once to
the stored training slices (`prefilter_pairs`), and to every batch in `Harmonizer`, so the network
sees the same input in training and in inference. It is not a layer of the network because a crop
filtered on its own wraps around its edges, and the fitted impulse response is long (on the lung CT
benchmark ~1 % of its energy lies more than 20 px from its centre). Pixels below -1024 HU (padding
outside the field of view) are raised to -1024 first: they are pasted back unchanged by the
harmonizer anyway, and a -3024 HU border would ring through the filter into the body.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import torch
from torch import nn

from radiomicgan.config import SpectralConfig, WienerConfig
from radiomicgan.errors import ConfigError
from radiomicgan.inference.prefilter import AIR_FLOOR_HU, prefilter_slices
from radiomicgan.linear_filter import fit_wiener
from radiomicgan.nets.frequency_filter import FrequencyFilter
from radiomicgan.noise_spectrum import fit_spectral_gain
from radiomicgan.training.data import PairedSlices, Split
from radiomicgan.training.unpaired_data import UnpairedSplit

log = logging.getLogger(__name__)


def fit_prefilter(
    train: PairedSlices, held_out: PairedSlices, settings: WienerConfig
) -> tuple[FrequencyFilter, dict[str, float]]:
    """The Wiener filter from the non-standard to the standard slices, lambda chosen on `held_out`.

    Returns:
        The filter (on the CPU) and what the fit chose: relative_lambda and held_out_rmse_hu.
    """
    if len(held_out) == 0:
        log.warning("no held-out slices (val_fraction 0): the prefilter's lambda is chosen on training pairs")
        held_out = train
    fitted = fit_wiener(
        np.maximum(train.source_hu, AIR_FLOOR_HU),
        train.target_hu,
        np.maximum(held_out.source_hu, AIR_FLOOR_HU),
        held_out.target_hu,
        relative_lambdas=settings.relative_lambdas,
        smoothing_px=settings.smoothing_px,
    )
    prefilter = FrequencyFilter()
    prefilter.set_response(torch.from_numpy(fitted.response))
    info = {
        "relative_lambda": fitted.relative_lambda,
        "held_out_rmse_hu": fitted.validation_mse[fitted.relative_lambda] ** 0.5,
    }
    log.info("prefilter: Wiener lambda %.3g x mean power, held-out RMSE %.1f HU", *info.values())
    return prefilter, info


def prefilter_pairs(slices: PairedSlices, prefilter: nn.Module, device: torch.device) -> PairedSlices:
    """The same pairs with their non-standard slices through the prefilter."""
    return dataclasses.replace(slices, source_hu=prefilter_slices(prefilter, slices.source_hu, device))


def spectral_prefilter_split(
    split: Split | UnpairedSplit, settings: SpectralConfig, device: torch.device
) -> tuple[Split | UnpairedSplit, FrequencyFilter, dict[str, float]]:
    """`model.prefilter: spectral`: the unpaired linear filter (`methods.spectral`'s) fitted on the
    training slices of each kernel, paired or not, and the split's non-standard slices put through it.

    A CycleGAN behind it starts from the filter's output, a domain already near the standard one:
    its generators start at the identity, where every loss but the adversarial ones is met, and learn
    what the linear filter leaves.

    Raises:
        ConfigError: no patch of the body, or no reliable frequency (`baselines.spectral`).
    """
    train = split.train
    try:
        gain, info = fit_spectral_gain(np.maximum(train.source_hu, AIR_FLOOR_HU), train.target_hu, settings)
    except ValueError as exc:
        raise ConfigError(f"prefilter spectral: {exc} (baselines.spectral)") from None
    prefilter = FrequencyFilter()
    prefilter.set_response(torch.from_numpy(gain.response(train.source_hu.shape[1:])))
    prefilter.set_detail_limit(settings.detail_limit_hu)  # the prefilter runs in HU
    prefilter.to(device)
    log.info("prefilter: spectral filter, noise level ratio %.2f, gain %.2f-%.2f", *(
        info[k] for k in ("noise_level_ratio", "min_gain", "max_gain")
    ))  # fmt: skip
    if isinstance(split, Split):
        parts = (split.train, split.held_out, split.val)
        return Split(*(prefilter_pairs(p, prefilter, device) for p in parts)), prefilter, info
    unpaired = [
        dataclasses.replace(part, source_hu=prefilter_slices(prefilter, part.source_hu, device))
        for part in (split.train, split.held_out, split.val)
    ]
    return UnpairedSplit(*unpaired), prefilter, info


def prefilter_split(
    split: Split, settings: WienerConfig, device: torch.device
) -> tuple[Split, FrequencyFilter, dict[str, float]]:
    """Fit the prefilter on `split` and put its non-standard slices through it.

    Returns:
        The filtered split, the prefilter (on `device`) and what the fit chose (`fit_prefilter`).
    """
    prefilter, info = fit_prefilter(split.train, split.held_out, settings)
    prefilter.to(device)
    parts = (split.train, split.held_out, split.val)
    return Split(*(prefilter_pairs(part, prefilter, device) for part in parts)), prefilter, info
