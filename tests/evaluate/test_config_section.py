"""The evaluation's config section: defaults from the paper, YAML overrides, refused values."""

from __future__ import annotations

import pytest

from radiomicgan.config import EvaluationConfig, FeatureConfig, build
from radiomicgan.errors import ConfigError


def test_paper_defaults_and_yaml_layers() -> None:
    config = build(EvaluationConfig, {"hu_ranges": [[-100, 250]], "features": {"jobs": 2}})
    assert config.hu_ranges == ((-100.0, 250.0),)
    assert config.features == FeatureConfig(jobs=2)
    default = EvaluationConfig()
    assert default.ccc_threshold == 0.85
    assert default.hu_ranges == ((-800.0, -300.0), (-100.0, 250.0), (300.0, 800.0))


@pytest.mark.parametrize(
    "override",
    [
        {"hu_ranges": [[250, -100]]},
        {"ccc_threshold": 1.5},
        {"n_rois": 2},
        {"min_body_fraction": 0},
        {"roi_size": 4},
    ],
)
def test_refused_values(override: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        build(EvaluationConfig, override)
