"""The typed configuration: defaults, YAML file and CLI layers, validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from radiomicgan.config import SimulationConfig, as_dict, build, load_yaml
from radiomicgan.errors import ConfigError


def test_defaults_without_layers() -> None:
    assert build(SimulationConfig) == SimulationConfig()


def test_later_layers_override_earlier_and_none_keeps_lower(tmp_path: Path) -> None:
    file = tmp_path / "sim.yaml"
    file.write_text("slices: 12\nkernels: [smooth, sharp]\nphotons_per_ray: 100000\n")
    config = build(SimulationConfig, load_yaml(file), {"slices": 3, "seed": None})
    assert config.slices == 3
    assert config.kernels == ("smooth", "sharp")
    assert config.photons_per_ray == 100000.0 and isinstance(config.photons_per_ray, float)
    assert config.seed == SimulationConfig().seed


def test_comma_separated_string_becomes_tuple() -> None:
    assert build(SimulationConfig, {"kernels": "smooth, sharp"}).kernels == ("smooth", "sharp")


def test_dashed_keys_are_accepted() -> None:
    assert build(SimulationConfig, {"size-px": 64}).size_px == 64


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ({"slicez": 3}, "unknown option 'slicez'"),
        ({"slices": "many"}, "must be int"),
        ({"slices": 0}, "slices must be >= 1"),
        ({"size_px": 4}, "size_px"),
        ({"retest": True, "standard_kernel": "ultra"}, "standard kernel"),
    ],
)
def test_bad_values_are_config_errors(layer: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build(SimulationConfig, layer)


def test_load_yaml_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_yaml(tmp_path / "absent.yaml")
    bad = tmp_path / "list.yaml"
    bad.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match=r"list\.yaml: a config file must hold a mapping"):
        load_yaml(bad)
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml(broken)


def test_empty_yaml_is_an_empty_layer(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_yaml(empty) == {}


def test_as_dict_is_plain_data() -> None:
    data = as_dict(SimulationConfig())
    assert data["kernels"] == ["smooth", "medium", "sharp"]
    assert build(SimulationConfig, data) == SimulationConfig()


def test_nested_sections_merge_across_layers(tmp_path: Path) -> None:
    from radiomicgan.config import TrainConfig

    file = tmp_path / "train.yaml"
    file.write_text("epochs: 4\nwindow:\n  th_eta: 3\n  schedule: fixed\n")
    config = build(TrainConfig, load_yaml(file), {"window": {"schedule": "dynamic", "th_fail": None}})
    assert config.epochs == 4
    assert config.window.schedule == "dynamic"
    assert config.window.th_eta == 3
    with pytest.raises(ConfigError, match="unknown option 'th_etta'"):
        build(TrainConfig, {"window": {"th_etta": 3}})
