"""Shared fixtures: a small synthetic chest in HU, a light PyRadiomics setting for protocol tests, and
simulated kernel series on disk with one evaluation of them (for the output, report and CLI tests)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from numpy.typing import NDArray
from scipy import ndimage

from radiomicgan.config import EvaluationConfig, FeatureConfig, SimulationConfig
from radiomicgan.evaluate import EvaluationOutcome, evaluate
from radiomicgan.evaluate.inputs import Scan
from radiomicgan.evaluate.settings import RadiomicsSettings, validate_settings
from radiomicgan.simulate import simulate_to_folder
from radiomicgan.training.figures import plot_cam, plot_window_history

# Original image only, every feature class: the protocol's logic at a fraction of the cost.
LIGHT_PARAMS: dict[str, Any] = {
    "setting": {"binWidth": 25, "label": 1, "force2D": False, "additionalInfo": False},
    "imageType": {"Original": {}},
    "featureClass": {
        name: None for name in ("firstorder", "shape2D", "glcm", "glrlm", "glszm", "gldm", "ngtdm")
    },
}
SMALL_PROTOCOL: dict[str, Any] = {"n_rois": 5, "repeats": 2, "roi_size_px": 24, "context_px": 8}

Phantom = Callable[..., NDArray[np.float32]]


def _ellipse(shape: tuple[int, int], cy: float, cx: float, ry: float, rx: float) -> NDArray[np.bool_]:
    y, x = np.mgrid[: shape[0], : shape[1]]
    return np.asarray(((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1.0)


@pytest.fixture
def make_chest() -> Phantom:
    """Build [z, y, x] chests: air outside, a soft-tissue body with textured lungs and (optionally) bone.

    Texture is smooth random structure plus white noise, different on every slice, so features vary
    across ROIs as they do on real scans.
    """

    def make(slices: int = 3, size: int = 128, seed: int = 0, bone: bool = True) -> NDArray[np.float32]:
        rng = np.random.default_rng(seed)
        shape = (size, size)
        body = _ellipse(shape, size / 2, size / 2, 0.42 * size, 0.47 * size)
        lungs = _ellipse(shape, size / 2, 0.3 * size, 0.28 * size, 0.13 * size)
        lungs |= _ellipse(shape, size / 2, 0.7 * size, 0.28 * size, 0.13 * size)
        spine = _ellipse(shape, 0.8 * size, size / 2, 0.06 * size, 0.06 * size)
        volume = []
        for _ in range(slices):
            texture = ndimage.gaussian_filter(rng.normal(0.0, 1.0, shape), 2.0) * 250.0
            image = np.full(shape, -1000.0)
            image[body] = 40.0 + 0.4 * texture[body]
            image[lungs] = -650.0 + texture[lungs]
            if bone:
                image[spine] = 600.0 + 0.5 * texture[spine]
            volume.append(image + rng.normal(0.0, 15.0, shape))
        return np.asarray(volume, dtype=np.float32)

    return make


@pytest.fixture
def make_scan(make_chest: Phantom) -> Callable[..., Scan]:
    """Build a scan of a chest with candidates "same" (a copy) and "noisy"; slices numbered from 1."""

    def make(slices: int, seed: int) -> Scan:
        reference = make_chest(slices=slices, size=96, seed=seed)
        noise = np.random.default_rng(seed + 100).normal(0.0, 120.0, reference.shape).astype(np.float32)
        return Scan(
            reference=reference,
            candidates={"same": reference.copy(), "noisy": reference + noise},
            spacing_yx_mm=(1.0, 1.0),
            slice_indices=tuple(range(1, slices + 1)),
            n_reference_slices=slices + 1,
            source=Path(f"scan{seed}"),
        )

    return make


@pytest.fixture(scope="session")
def light_settings() -> RadiomicsSettings:
    """Original image only, every feature class: the protocol's logic at a fraction of the cost."""
    return validate_settings(LIGHT_PARAMS, "light-test-settings")


@pytest.fixture(scope="session")
def light_settings_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`LIGHT_PARAMS` as a PyRadiomics YAML file."""
    path = tmp_path_factory.mktemp("settings") / "light.yaml"
    path.write_text(yaml.safe_dump(LIGHT_PARAMS), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def small_config(light_settings_file: Path) -> Callable[..., EvaluationConfig]:
    """A small protocol (5 ROIs, 2 repeats, 24 px boxes), light settings, one process, no cache."""

    def make(cache_dir: Path | str = "", **overrides: Any) -> EvaluationConfig:
        features = FeatureConfig(settings_path=str(light_settings_file), cache_dir=str(cache_dir), jobs=1)
        return EvaluationConfig(**{**SMALL_PROTOCOL, **overrides}, features=features)

    return make


@pytest.fixture(scope="session")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Simulated phantom scan, 4 slices of 128 px, as folders smooth/ medium/ sharp/ sharp_retest/.

    Shared by many tests: never write into it.
    """
    out = tmp_path_factory.mktemp("simulated") / "pairs"
    simulate_to_folder("phantom", out, SimulationConfig(size_px=128, slices=4, seed=1, retest=True, jobs=1))
    return out


@pytest.fixture(scope="session")
def training_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder with the figures training writes: the window schedule and two epochs' CAMs."""
    run = tmp_path_factory.mktemp("runs") / "rg"
    (run / "figures").mkdir(parents=True)
    history = [
        {"epoch": 1, "window_hu": [-1024, -769], "phase": "fixed"},
        {"epoch": 2, "window_hu": [-1024, -513], "phase": "fixed"},
        {"epoch": 3, "window_hu": [-900, 400], "phase": "dynamic"},
    ]
    plot_window_history(history, run / "figures" / "window_schedule.png")
    image = np.linspace(-1000.0, 800.0, 32 * 32, dtype=np.float32).reshape(32, 32)
    cam = np.eye(32, dtype=np.float32)
    plot_cam(image, cam, run / "figures" / "cam_epoch002.png", "epoch 2")
    plot_cam(image, cam[::-1], run / "figures" / "cam_epoch010.png", "epoch 10")
    return run


@pytest.fixture(scope="session")
def evaluated(
    pairs: Path,
    training_run: Path,
    small_config: Callable[..., EvaluationConfig],
    tmp_path_factory: pytest.TempPathFactory,
) -> EvaluationOutcome:
    """One evaluation of three candidates with ComBat rows and a training run (shared: read only)."""
    candidates = {
        "input": pairs / "smooth",
        "radiomicgan": pairs / "medium",
        "retest": pairs / "sharp_retest",
    }
    out = tmp_path_factory.mktemp("evaluation") / "report"
    return evaluate(
        pairs / "sharp",
        candidates,
        out,
        small_config(),
        combat=True,
        training_runs={"radiomicgan": training_run},
        progress=False,
        cache=False,
    )
