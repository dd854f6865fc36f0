"""The report in a real headless Chromium: every table there, every image loaded, a non-blank page."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image as mpimg

from radiomicgan.evaluate import EvaluationOutcome
from radiomicgan.evaluate.report.html import mean_sd_text, training_figures

TABLES = ["table-reproducible", "table-quality", "table-whole-image", "table-settings"]


def _chromium(*arguments: str, profile: Path) -> str:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("chromium is not installed: `make test` installs it (apt-get install chromium)")
    command = [
        executable, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
        "--hide-scrollbars", "--run-all-compositor-stages-before-draw", "--virtual-time-budget=5000",
        *arguments,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.images.append(dict(attrs))


@pytest.fixture(scope="module")
def moved_report(evaluated: EvaluationOutcome, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report folder copied elsewhere: relative links must survive the move."""
    target = tmp_path_factory.mktemp("moved") / "report"
    shutil.copytree(evaluated.out, target)
    return target / "report.html"


def test_every_table_and_image_in_headless_chromium(moved_report: Path, tmp_path: Path) -> None:
    dom = _chromium("--dump-dom", moved_report.as_uri(), profile=tmp_path / "profile")
    body = re.search(r"<body[^>]*>", dom)
    assert body is not None
    total = re.search(r'data-images-total="(\d+)"', body.group(0))
    loaded = re.search(r'data-images-loaded="(\d+)"', body.group(0))
    assert total is not None and loaded is not None, "the load script did not run"
    # case study, heat map, the training run's window schedule and CAM
    assert int(total.group(1)) == int(loaded.group(1)) == 4
    for table in TABLES:
        assert f'id="{table}"' in dom, table
    table1 = dom[dom.index('id="table-reproducible"') : dom.index('id="table2"')]
    for row in ["input", "radiomicgan", "retest", "input+ComBat", "retest+ComBat"]:
        assert f"<td>{row}</td>" in table1
    # two repeats, fewer than 5: a bootstrap interval rather than an SD over two values
    assert len(re.findall(r"<td>\d+ \(95 % CI \d+–\d+\)</td>", table1)) == 6 * 3  # rows x ranges
    parser = _Images()
    parser.feed(dom)
    assert all(image.get("alt") for image in parser.images)
    assert all(not str(image["src"]).startswith(("/", "file:")) for image in parser.images)


def test_screenshot_is_written_and_not_blank(moved_report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    _chromium(
        f"--screenshot={shot}", "--window-size=1280,4000", moved_report.as_uri(), profile=tmp_path / "p"
    )
    pixels = mpimg.imread(shot)
    assert pixels.shape[:2] == (4000, 1280)
    grey = pixels[..., :3].mean(axis=2)
    assert grey.std() > 0.05  # text, tables and figures, not a uniform page
    assert (grey < 0.5).mean() > 0.01  # dark content (text, CT images) covers part of the page


def test_report_echoes_settings_and_training_figures(evaluated: EvaluationOutcome) -> None:
    html = evaluated.report.read_text(encoding="utf-8")
    assert "binWidth: 25" in html and "n_features" in html and "pyradiomics_version" in html
    assert 'src="training_1_window.png"' in html and 'src="training_1_cam.png"' in html
    assert "cam_epoch010.png" in html  # the last epoch's CAM, by number


def test_report_is_honest_about_combat_shape_features_and_small_samples(evaluated: EvaluationOutcome) -> None:
    html = evaluated.report.read_text(encoding="utf-8")
    assert "parametric empirical Bayes" not in html  # the default runs without empirical Bayes
    note = html[html.index('id="combat-note"') : html.index('id="table2"')]
    assert "without\nempirical Bayes" in note and "separate ROI sample" in note
    assert evaluated.results["combat_fit"]["empirical_bayes"] is False
    assert evaluated.results["combat_fit"]["fit_rois_used"]["-100,250"] == [5, 5]
    assert "Shape features (mask only): 9, not counted" in html
    assert evaluated.results["features_counted"] == 93 and len(evaluated.results["mask_only_features"]) == 9
    warnings = html[html.index('id="warnings"') : html.index('id="table1"')]
    assert "5 ROIs in a repeat, fewer than 30" in warnings and "CCC over 4 slices" in warnings
    # the fixture's run folder has figures only: whether it saw the scans is unknown, and said so
    assert "whether it saw the evaluated scans is unknown" in warnings


def test_training_figures_of_an_unfinished_run(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "cam_epoch9.png").write_bytes(b"png")
    (tmp_path / "figures" / "cam_epoch10.png").write_bytes(b"png")
    assert training_figures(tmp_path) == {"cam": tmp_path / "figures" / "cam_epoch10.png"}
    assert "lacks window" in caplog.text


def test_mean_sd_text() -> None:
    assert mean_sd_text({"mean": 1203.6, "sd": 14.2}, 0) == "1204 ± 14"
    assert mean_sd_text({"mean": None, "sd": None}, 2) == "n/a"
    assert np.isclose(float(mean_sd_text({"mean": 0.99555, "sd": 0.0}, 4).split()[0]), 0.9956)
