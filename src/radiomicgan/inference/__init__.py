"""Inference: a trained model run on slices, volumes, series and trees. Imports nothing from training."""
