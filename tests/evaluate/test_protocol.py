"""The protocol every level takes is the evaluation config's, and extraction settings run PyRadiomics."""

from __future__ import annotations

import dataclasses

import numpy as np

from radiomicgan.config import EvaluationConfig
from radiomicgan.evaluate.features import FeatureTask, extract_many
from radiomicgan.evaluate.protocol import Extraction, ReproducibilityProtocol, range_label
from radiomicgan.evaluate.settings import RadiomicsSettings


def test_protocol_defaults_come_from_the_config() -> None:
    protocol = ReproducibilityProtocol.from_config(EvaluationConfig())
    default = EvaluationConfig()
    for name in ("n_rois", "repeats", "roi_size_px", "hu_ranges", "seed", "context_px", "min_roi_pixels"):
        assert getattr(protocol, name) == getattr(default, name), name
    # every field is the config's: no default of its own to drift from the config's
    fields = dataclasses.fields(ReproducibilityProtocol)
    assert all(f.default is dataclasses.MISSING for f in fields)
    assert ReproducibilityProtocol.from_config(EvaluationConfig(n_rois=7, seed=3)).n_rois == 7


def test_range_label() -> None:
    assert range_label((-800.0, -300.0)) == "[-800, -300]"


def test_extraction_extracts_like_extract_many(light_settings: RadiomicsSettings) -> None:
    rng = np.random.default_rng(0)
    image = rng.normal(40.0, 30.0, (16, 16))
    mask = np.zeros((16, 16), dtype=bool)
    mask[4:12, 4:12] = True
    tasks = [FeatureTask(image, mask, (1.0, 1.0))]
    extracted = Extraction(settings=light_settings).extract(tasks)
    expected = extract_many(tasks, 1, False, settings=light_settings)
    assert extracted.equals(expected)
