"""Inference: a trained model run on slices, volumes, series and trees. Imports nothing from training.

`Harmonizer.load(path, HarmonizeConfig(...))` loads a model and decides, once, what runs it
(`runner`); `harmonize_path` harmonizes a file, a series or a folder tree with it (`series`), whose
series are jobs (`jobs`) run here or on a Dask cluster; `harmonize_model` does both in the order the
command line does, checking the whole run against the model file's metadata before loading it;
`harmonize_auto` picks each series' model from the registry (`radiomicgan.registry`) by its header.
"""

from radiomicgan.config import HarmonizeConfig
from radiomicgan.inference.auto import harmonize_auto
from radiomicgan.inference.harmonizer import Harmonizer, ModelSource
from radiomicgan.inference.runner import Runner
from radiomicgan.inference.series import (
    Request,
    check_request,
    harmonize_model,
    harmonize_path,
    harmonize_series,
    run_request,
)

__all__ = [
    "HarmonizeConfig",
    "Harmonizer",
    "ModelSource",
    "Request",
    "Runner",
    "check_request",
    "harmonize_auto",
    "harmonize_model",
    "harmonize_path",
    "harmonize_series",
    "run_request",
]
