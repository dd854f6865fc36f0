"""Training a harmonizer: paired slices, GAN steps, Dynamic Window-based Training, checkpoints."""

from radiomicgan.training.loop import TrainResult, resolve_device, train

__all__ = ["TrainResult", "resolve_device", "train"]
