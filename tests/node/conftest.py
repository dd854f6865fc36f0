"""Fixtures of the DICOM node's tests: a tiny Wiener model, a real Orthanc per module, a running node."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from node.harness import Orthanc, node_config, train_wiener
from radiomicgan.node import Node
from training.pairs import Scan


@pytest.fixture(scope="session")
def wiener_model(scan: Scan, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Wiener model from the SMOOTH to the SHARP series of `scan` (`harness.train_wiener`)."""
    return train_wiener(scan, tmp_path_factory.mktemp("node-model"))


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    """A real Orthanc for the node's tests (each test counts its own study's series)."""
    server = Orthanc(tmp_path_factory.mktemp("orthanc"))
    server.start()
    yield server
    server.kill()


@pytest.fixture
def running_node(
    wiener_model: Path, orthanc: Orthanc, tmp_path: Path
) -> Callable[..., AbstractContextManager[Node]]:
    """Start a node in this process (forwarding to `orthanc` by default); stopped when the block ends."""

    @contextmanager
    def start(**overrides: Any) -> Iterator[Node]:
        values = {"model": wiener_model, "forward": orthanc.forward} | overrides
        config = node_config(spool=tmp_path / "spool", **values)
        node = Node.open(config)
        node.start()
        try:
            yield node
        finally:
            node.stop()

    return start
