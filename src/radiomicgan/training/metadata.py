"""What a finished run's model file says about its weights (`modelfile.ModelMetadata`)."""

from __future__ import annotations

from typing import Any

import torch

from radiomicgan.config import TrainConfig, as_dict
from radiomicgan.modelfile import ModelMetadata
from radiomicgan.nets import resolve_freeze
from radiomicgan.nets.encoder_weights import EncoderWeights
from radiomicgan.residual_texture import ResidualTexture
from radiomicgan.training.unpaired_data import TrainingSlices, UnpairedSlices
from radiomicgan.windowing import Window


def model_metadata(
    config: TrainConfig,
    weights: EncoderWeights,
    generator: torch.nn.Module,
    data: TrainingSlices,
    final_window: Window,
    history: list[dict[str, Any]],
    prefilter_info: dict[str, float],
    texture: ResidualTexture | None = None,
) -> ModelMetadata:
    """The metadata of a run trained with (resolved) `config` on `data`, after `history`'s epochs.

    Args:
        config: the resolved configuration.
        weights: the encoder weights the generator started from.
        generator: the trained generator (its parameters are counted).
        data: the training slices, paired or not (their kernels, manufacturer and geometry are recorded).
        final_window: the last epoch's training window, HU.
        history: the run's epochs; the last one's losses are a fitted method's choices.
        prefilter_info: what the prefilter's fit chose; empty without a prefilter.
        texture: the residual texture measured at the end (`training.texture`); None without.
    """
    frozen = resolve_freeze(weights.pretrained, config.model.vgg_unet.freeze_encoder)
    return ModelMetadata(
        method=config.method,
        model=as_dict(config.model),
        encoder_weights=weights.record(),
        encoder_frozen=frozen if config.model.generator == "radiomicgan" else False,
        training_window_hu=final_window,
        full_range_hu=config.window.full_range_hu,
        source_kernel=data.source_kernel,
        target_kernel=data.target_kernel,
        manufacturer=data.manufacturer,
        epochs=len(history),
        training_geometry=data.geometry,
        texture=None if texture is None else texture.to_plain(),
        extra={
            "schedule": config.window.schedule,
            "parameters": sum(p.numel() for p in generator.parameters()),
            "final_losses": history[-1]["losses"],  # a fitted method's choices (e.g. the Wiener lambda)
            **({"prefilter": prefilter_info} if prefilter_info else {}),
            **({"unpaired": True} if isinstance(data, UnpairedSlices) else {}),  # train --unpaired
        },
    )
