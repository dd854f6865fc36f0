"""The whole product on built-in data, in one call: simulate, train, harmonize, evaluate, report.

No download and no GPU. Training and test scans are simulated from the phantom with different seeds
(different anatomy and noise), so the test scan was never seen in training; the test scan also has a
retest of the standard kernel, the reproducibility a repeat scan reaches. RadiomicGAN (the default
model: its Wiener prefilter, then the small residual U-Net) trains with Dynamic Window-based Training on a
budget that fits the demo's time; the classical baselines that
fit in seconds (least-squares filter, histogram matching) are fitted on the same pairs. The test
patients (seeds 2, 3, ...) have two nodules each of known diameter and density inserted into their
lungs before the scan (`simulate.nodules`); every method harmonizes each patient's series, and the
cohort evaluation (`evaluate_cohort`) scores them against the standard kernel on random boxes and,
under the nodules' label volumes, at the lesion level.

Budgets (measured on a 2-core CPU, see the README): the full demo stays under 10 minutes, `quick`
under 3; the numbers are a demonstration of the pipeline, not of the method's best quality.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from radiomicgan.config import (
    EvaluationConfig,
    FeatureConfig,
    RegionFeatureConfig,
    SimulationConfig,
    TrainConfig,
    WindowConfig,
)
from radiomicgan.errors import OutputError
from radiomicgan.evaluate.cohort import CANDIDATE_PREFIX, evaluate_cohort
from radiomicgan.inference import HarmonizeConfig, Harmonizer, harmonize_path
from radiomicgan.io.atomic import write_text_atomic
from radiomicgan.io.ownership import check_replaceable, write_marker
from radiomicgan.methods import METHODS
from radiomicgan.simulate import simulate_to_folder
from radiomicgan.simulate.nodules import LABELS_NAME, Nodule, simulate_nodules
from radiomicgan.train import train

log = logging.getLogger(__name__)

SOURCE_KERNEL, STANDARD_KERNEL = "smooth", "sharp"
CLASSICAL_BASELINES = ("wiener", "histmatch")  # fitted in seconds; the learned ones need hours


@dataclass(frozen=True)
class DemoBudget:
    """How big the demo's data, training and evaluation are."""

    size_px: int
    slices: int
    epochs: int
    steps_per_epoch: int
    crop_px: int
    batch_size: int
    n_rois: int
    repeats: int
    roi_size_px: int
    patients: int  # test patients, two nodules each
    test_slices: int  # their slices: room for nodules of up to (test_slices // 2 - 0.5) * 5 mm


# th_eta 1 in training: the fixed-growing windows reach the full range within 8 epochs, leaving the
# rest to the dynamic (Grad-CAM) windows, as the paper's schedule does over 30 epochs.
FULL = DemoBudget(
    size_px=256, slices=8, epochs=10, steps_per_epoch=12, crop_px=128, batch_size=4,
    n_rois=30, repeats=3, roi_size_px=48, patients=3, test_slices=6,
)  # fmt: skip
QUICK = DemoBudget(
    size_px=128, slices=4, epochs=3, steps_per_epoch=4, crop_px=64, batch_size=2,
    n_rois=8, repeats=2, roi_size_px=32, patients=2, test_slices=6,
)  # fmt: skip


@dataclass(frozen=True)
class DemoResult:
    """Where the demo wrote its data, runs and report, and how long it took."""

    out_dir: Path
    report: Path
    seconds: float


def run_demo(
    out_dir: str | Path, *, quick: bool = False, overwrite: bool = False, progress: bool = True
) -> DemoResult:
    """Simulate, train RadiomicGAN and the classical baselines, harmonize, evaluate, write the report.

    Args:
        out_dir: folder to create: data/, runs/, harmonized/ and report/report.html inside.
        quick: the small budget (under 3 minutes on 2 cores) instead of the full one (under 10).
        overwrite: replace an earlier demo's folder (only a folder radiomicgan wrote, see `ownership`).
        progress: show progress bars.

    Returns:
        The paths written and the wall time.

    Raises:
        OutputError: out_dir holds what radiomicgan did not write, or an earlier output without
            `overwrite`.
    """
    start = time.perf_counter()
    out = Path(out_dir)
    _prepare(out, overwrite)
    budget = QUICK if quick else FULL
    train_dir = _simulate_training(out / "data" / "train", budget, progress)
    patients = _simulate_patients(out / "data" / "test", budget, progress)
    runs = _train_all(train_dir, out / "runs", budget, progress)
    harmonized = {}
    for method, run_dir in runs.items():
        log.info("harmonizing the test patients with %s", method)
        harmonizer = Harmonizer.load(run_dir, HarmonizeConfig(device="auto"))
        for patient in patients:
            target = out / "harmonized" / method / patient.name
            harmonize_path(harmonizer, patient / SOURCE_KERNEL, target, progress=progress)
        harmonized[method] = out / "harmonized" / method
    manifest = _write_manifest(out / "cohort.csv", patients, harmonized)
    outcome = evaluate_cohort(
        manifest,
        out / "report",
        _evaluation_config(budget),
        RegionFeatureConfig(jobs=0),
        training_runs={"radiomicgan": runs["radiomicgan"]},
        progress=progress,
        cache=False,  # fresh simulated scans: no feature would be reused, so none is stored
    )
    return DemoResult(out_dir=out, report=outcome.report, seconds=time.perf_counter() - start)


def _prepare(out: Path, overwrite: bool) -> None:
    if out.exists() and any(out.iterdir()):
        check_replaceable(out)
        if not overwrite:
            raise OutputError(out, "holds an earlier demo (use --overwrite to replace it)")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    # The whole folder is the demo's: a later --overwrite replaces it, even after an interrupted run.
    write_marker(out, everything=True)


def _simulate_training(folder: Path, budget: DemoBudget, progress: bool) -> Path:
    """The training scan: the phantom of seed 1, as it is."""
    config = SimulationConfig(
        kernels=(SOURCE_KERNEL, STANDARD_KERNEL),
        standard_kernel=STANDARD_KERNEL,
        size_px=budget.size_px,
        slices=budget.slices,
        seed=1,
    )
    log.info("simulating the training scan (%d slices of %d px)", budget.slices, budget.size_px)
    return simulate_to_folder("phantom", folder, config, progress=progress).out_dir


def _simulate_patients(folder: Path, budget: DemoBudget, progress: bool) -> list[Path]:
    """Test patients (seeds 2, 3, ...: other anatomy and noise than training's), each with a retest and
    two nodules of 6-12 mm and -400 to 100 HU drawn from its seed (different lesions for the CCCs)."""
    patients = []
    for seed in range(2, 2 + budget.patients):
        rng = np.random.default_rng(seed)
        nodules = [
            Nodule(round(rng.uniform(6.0, 12.0), 1), round(rng.uniform(-400.0, 100.0))) for _ in range(2)
        ]
        config = SimulationConfig(
            kernels=(SOURCE_KERNEL, STANDARD_KERNEL),
            standard_kernel=STANDARD_KERNEL,
            size_px=budget.size_px,
            slices=budget.test_slices,
            seed=seed,
            retest=True,
        )
        log.info("simulating test patient %d (%d slices, 2 nodules)", seed - 1, budget.test_slices)
        patient = folder / f"patient{seed - 1}"
        patients.append(simulate_nodules(patient, config, nodules, progress=progress).series.out_dir)
    return patients


def _write_manifest(path: Path, patients: list[Path], harmonized: dict[str, Path]) -> Path:
    """The cohort manifest `evaluate --manifest` reads: one row per patient, paths relative to it."""
    names = ["input", *harmonized, "retest"]
    lines = [",".join(["id", "reference", "mask", *(f"{CANDIDATE_PREFIX}{name}" for name in names)])]
    for patient in patients:
        series = {"input": patient / SOURCE_KERNEL, "retest": patient / f"{STANDARD_KERNEL}_retest"}
        series |= {method: folder / patient.name for method, folder in harmonized.items()}
        cells = [patient / STANDARD_KERNEL, patient / LABELS_NAME, *(series[name] for name in names)]
        lines.append(",".join([patient.name, *(str(c.relative_to(path.parent)) for c in cells)]))
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path


def _train_all(train_dir: Path, runs_dir: Path, budget: DemoBudget, progress: bool) -> dict[str, Path]:
    methods = ["radiomicgan", *(m for m in CLASSICAL_BASELINES if m in METHODS)]
    runs = {}
    for method in methods:
        log.info("training %s", method)
        config = TrainConfig(
            source=(str(train_dir / SOURCE_KERNEL),),
            target=(str(train_dir / STANDARD_KERNEL),),
            out=str(runs_dir / method),
            method=method,
            epochs=budget.epochs if method == "radiomicgan" else 1,
            steps_per_epoch=budget.steps_per_epoch,
            batch_size=budget.batch_size,
            crop_px=budget.crop_px,
            cam_crop_px=budget.crop_px,
            window=WindowConfig(th_eta=1),
        )
        runs[method] = train(config, progress=progress).run_dir
    return runs


def _evaluation_config(budget: DemoBudget) -> EvaluationConfig:
    return EvaluationConfig(
        n_rois=budget.n_rois,
        repeats=budget.repeats,
        roi_size_px=budget.roi_size_px,
        context_px=min(24, budget.roi_size_px // 2),
        whole_image_slices=budget.slices,  # one scan's worth, not every patient's
        features=FeatureConfig(jobs=0),
    )
