"""The README's Orthanc set-up, run: a Lua rule routes one kernel to the node, results come back once."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.harness import Orthanc, free_port, node_config, storescu, wait_until, write_series
from radiomicgan.node import Node

pytestmark = pytest.mark.slow
SCRIPT = Path(__file__).parents[2] / "docs" / "orthanc" / "route-to-radiomicgan.lua"


def test_orthanc_routes_a_kernel_to_the_node_and_files_the_harmonized_series_beside_it(
    wiener_model: Path, tmp_path: Path
) -> None:
    node_port = free_port()
    (tmp_path / "route.lua").write_text(
        SCRIPT.read_text().replace("'B30f'", "'SMOOTH'")
    )  # the model's kernel
    pacs = Orthanc(
        tmp_path / "pacs",
        settings={
            "LuaScripts": [str(tmp_path / "route.lua")],
            "StableAge": 1,
            "DicomModalities": {"radiomicgan": ["RADIOMICGAN", "127.0.0.1", node_port]},
        },
    )
    pacs.start()
    try:
        node = Node.open(node_config(wiener_model, tmp_path / "spool", pacs.forward, port=node_port))
        node.start()
        try:
            routed = write_series(tmp_path / "in", "routed")
            other = write_series(tmp_path / "in", "not-routed", ConvolutionKernel="B70f")
            storescu(pacs.dicom_port, [*routed.files, *other.files], called=pacs.aet)
            pacs.wait_for(routed.study_uid, 2 * len(routed.files))  # the original and the harmonized
            studies = (routed.study_uid, other.study_uid)
            wait_until(lambda: pacs.stable(*studies), 20, "every series to be stable (the rule saw them all)")
        finally:
            node.stop()
        assert pacs.counts(routed.study_uid) == (2, 2 * len(routed.files))
        assert pacs.counts(other.study_uid) == (1, len(other.files))  # another kernel: not routed
        log = (pacs.folder / "orthanc.log").read_text(errors="replace")
        assert log.count("radiomicgan: routing series") == 1  # the harmonized series did not go round
    finally:
        pacs.kill()
