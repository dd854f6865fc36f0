"""Durable writes: whole or not at all, and nothing left behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from radiomicgan.node.durable import write_durably


def test_write_durably_replaces_whole_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "a.dcm"
    write_durably(path, b"first")
    write_durably(path, b"second")
    assert path.read_bytes() == b"second"
    assert [p.name for p in tmp_path.iterdir()] == ["a.dcm"]


def test_a_failed_write_keeps_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "a.dcm"
    write_durably(path, b"first")
    with pytest.raises(TypeError):
        write_durably(path, "not bytes")  # type: ignore[arg-type]
    assert path.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["a.dcm"]
