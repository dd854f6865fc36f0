"""Training a harmonizer: paired slices, GAN steps, Dynamic Window-based Training, checkpoints."""

from radiomicgan.training.loop import TrainResult, train

__all__ = ["TrainResult", "train"]
