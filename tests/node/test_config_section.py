"""NodeConfig, the node's section of config.py: defaults, a YAML file's keys, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from radiomicgan.config import NodeConfig, build, load_yaml, parse_ae_address
from radiomicgan.errors import ConfigError


def test_a_node_yaml_sets_the_node_and_its_model_settings(tmp_path: Path) -> None:
    path = tmp_path / "node.yaml"
    path.write_text(
        "model: runs/rg\nspool: /var/spool/rg\nforward: PACS@pacs.example.org:104\nseries_idle_s: 60\n"
        "harmonize: {device: cpu, batch_size: 8}\n"
    )
    config = build(NodeConfig, load_yaml(path), {"port": 4006, "series_idle_s": None})
    assert (config.port, config.series_idle_s, config.ae_title) == (4006, 60.0, "RADIOMICGAN")
    assert config.harmonize.batch_size == 8 and config.harmonize.device == "cpu"


def test_addresses_split_into_title_host_and_port() -> None:
    assert parse_ae_address("ORTHANC@pacs:4242") == ("ORTHANC", "pacs", 4242)
    assert parse_ae_address("PACS@[::1]:104") == ("PACS", "::1", 104)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"ae_title": "A_TITLE_OF_17_CHAR"}, "not a DICOM AE title"),
        ({"ae_title": "BACK\\SLASH"}, "not a DICOM AE title"),
        ({"forward": "pacs:104"}, "is not AET@HOST:PORT"),
        ({"forward_dicomweb": "pacs/dicom-web"}, "must be an http"),
        ({"forward": "P@h:1", "forward_dicomweb": "http://h/dicom-web/studies"}, "not both"),
        ({"series_idle_s": 0}, "series_idle_s must be > 0"),
        ({"retry_initial_s": 10, "retry_max_s": 5}, "retry_initial_s <= retry_max_s"),
        ({"port": 70000}, "port must lie in"),
    ],
)
def test_bad_values_are_refused(values: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build(NodeConfig, values)
