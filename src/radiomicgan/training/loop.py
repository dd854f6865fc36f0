"""The training run: epochs of steps in a window that DWT chooses, checkpoints, resume.

Every method of `radiomicgan.training.methods` runs through this loop: RadiomicGAN and the learned
baselines take steps on random crops, the classical ones fit in one epoch. A run folder holds
config.yaml (the resolved configuration), history.json (per epoch: window, phase, losses,
validation metrics), checkpoint.safetensors (everything resuming needs), model.safetensors (the
generator with its metadata, what `harmonize` loads) and figures/.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from tqdm import tqdm

from radiomicgan.config import TrainConfig, as_dict
from radiomicgan.errors import ConfigError, InputError, OutputError
from radiomicgan.modelfile import ModelMetadata, save_model
from radiomicgan.nets import PatchGAN, build_generator, load_encoder_weights, resolve_freeze
from radiomicgan.nets.encoder_weights import NO_WEIGHTS, EncoderWeights
from radiomicgan.training.data import PairedSlices, load_paired_slices, sample_crops, split_validation
from radiomicgan.training.dwt import cam_window
from radiomicgan.training.figures import plot_cam, plot_window_history
from radiomicgan.training.parts import Fitter, Learner
from radiomicgan.training.state import CHECKPOINT_FILE, Progress, load_checkpoint, numpy_rng_from_state
from radiomicgan.training.state import save_checkpoint as save_training_state
from radiomicgan.training.steps import GanParts
from radiomicgan.training.tensors import size_multiple, windowed_tensor
from radiomicgan.training.validation import validate, validation_subset
from radiomicgan.windowing import EpochRecord, Window, needs_cams, next_window

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Split:
    """The paired slices of one run: training, the whole held-out block, and its scored subset."""

    train: PairedSlices
    held_out: PairedSlices
    val: PairedSlices


@dataclass(frozen=True)
class TrainResult:
    """What a finished run left behind."""

    run_dir: Path
    model_path: Path
    history: list[dict[str, Any]]
    final_window_hu: Window
    seconds: float


def resolve_device(name: str) -> torch.device:
    """ "auto" takes a GPU when there is one; "cuda" without one is an error."""
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("cuda", "no CUDA device is available on this machine")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def train(config: TrainConfig, *, resume: bool = False, progress: bool = True) -> TrainResult:
    """Train a harmonizer on paired series and write the run folder.

    Args:
        config: data, budget, method, model and window schedule; the method may override the
            generator, the schedule and the epochs (`methods.resolve`), and config.yaml records that.
        resume: continue the run in `config.out` from its last finished epoch.
        progress: show a progress bar.

    Raises:
        InputError: unreadable or unpaired series, nothing to resume.
        OutputError: the run folder exists and resume was not asked for.
    """
    # Imported here, not at the top: the baselines import this package's data and step modules,
    # so a module-level import would close a cycle through radiomicgan.training's __init__.
    from radiomicgan.training.methods import METHODS, resolve

    start = time.perf_counter()
    config = resolve(config)
    run_dir = _check_run_dir(config, resume)
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    weights = (  # before the data: a bad weights file fails in a second, not after reading every scan
        load_encoder_weights(config.model.encoder_weights)
        if config.model.generator == "radiomicgan"
        else NO_WEIGHTS
    )
    data = load_paired_slices([(Path(s), Path(t)) for s, t in zip(config.source, config.target, strict=True)])
    train_set, held_out = split_validation(data, config.val_fraction)
    split = Split(train_set, held_out, validation_subset(held_out, config.val_slices_max))
    generator = build_generator(config.model.generator, config.model, weights).to(device)
    parts = METHODS[config.method].build(generator, config, device)
    _check_sizes(data, size_multiple(parts.model()), config)
    rng = np.random.default_rng(config.seed)
    state = Progress(0, [], dict(rng.bit_generator.state))
    if resume:
        state = load_checkpoint(run_dir, parts)
        rng = numpy_rng_from_state(state.numpy_rng_state)
        log.info("resuming after epoch %d of %d", state.epochs_done, config.epochs)
    _create_run_dir(run_dir, config)  # only now: a run that cannot start leaves nothing behind
    for epoch in range(state.epochs_done, config.epochs):
        entry = _run_epoch(epoch, parts, split, state.history, config, rng, device, run_dir, progress)
        state = Progress(epoch + 1, [*state.history, entry], dict(rng.bit_generator.state))
        save_training_state(run_dir, parts, state)
        _write_history(run_dir, state.history)
    lo, hi = state.history[-1]["window_hu"]
    final_window: Window = (int(lo), int(hi))
    model = parts.model()
    metadata = _metadata(config, weights, model, data, final_window, state.history)
    model_path = save_model(run_dir, model, metadata)
    plot_window_history(state.history, run_dir / "figures" / "window_schedule.png")
    return TrainResult(run_dir, model_path, state.history, final_window, time.perf_counter() - start)


def _check_run_dir(config: TrainConfig, resume: bool) -> Path:
    if not config.out:
        raise OutputError(".", "no run folder given (--out RUN_DIR)")
    run_dir = Path(config.out)
    has_state = (run_dir / CHECKPOINT_FILE).is_file()
    if resume and not has_state:
        raise InputError(run_dir, "nothing to resume: no checkpoint.safetensors in this run folder")
    if not config.source:
        raise InputError(".", "no training pairs given (--source DIR --target DIR)")
    if not resume and run_dir.exists() and any(run_dir.iterdir()):
        raise OutputError(run_dir, "run folder exists and is not empty (use --resume to continue it)")
    for source in (*config.source, *config.target):
        if _inside(run_dir, Path(source)):
            raise OutputError(run_dir, f"run folder lies inside the input {source}")
    return run_dir


def _create_run_dir(run_dir: Path, config: TrainConfig) -> None:
    (run_dir / "figures").mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(as_dict(config), sort_keys=False), encoding="utf-8")


def _check_sizes(data: PairedSlices, multiple: int, config: TrainConfig) -> None:
    height, width = data.source_hu.shape[1:]
    if min(height, width) < multiple:
        raise InputError(
            config.source[0],
            f"slices of {height}x{width} px are smaller than the generator's size multiple {multiple}",
        )
    if min(config.crop_px, height, width) < multiple:
        raise ConfigError(
            f"train: crops of {config.crop_px} px are smaller than the generator's size multiple {multiple}"
            " (raise crop_px, or lower model.unet_downs)"
        )


def _inside(path: Path, folder: Path) -> bool:
    path, folder = path.resolve(), folder.resolve()
    return folder.is_dir() and (path == folder or folder in path.parents)


def _run_epoch(
    epoch: int,
    parts: Learner | Fitter,
    split: Split,
    history: list[dict[str, Any]],
    config: TrainConfig,
    rng: np.random.Generator,
    device: torch.device,
    run_dir: Path,
    progress: bool,
) -> dict[str, Any]:
    records = [_record(h) for h in history]
    last_cam = tuple(history[-1]["cam_window_hu"]) if history and history[-1].get("cam_window_hu") else None
    step = next_window(config.window.schedule, records, last_cam, config.window)
    if isinstance(parts, Fitter):
        losses = parts.fit(split.train, split.held_out, step.window_hu)
    else:
        losses = _train_steps(parts, split.train, step.window_hu, config, rng, device, epoch, progress)
    model = parts.model()
    metrics = validate(model, split.val, step.window_hu, size_multiple(model), device)
    accuracy = metrics.get(config.window.accuracy_metric)
    entry: dict[str, Any] = {
        "epoch": epoch + 1,
        "window_hu": list(step.window_hu),
        "phase": step.phase,
        "accuracy": accuracy,
        "losses": losses,
        "validation": metrics,
        "cam_window_hu": None,
    }
    finished = [*records, EpochRecord(step.window_hu, step.phase, accuracy)]
    if needs_cams(config.window.schedule, finished, config.window):
        if not isinstance(parts, GanParts) or not isinstance(parts.discriminator, PatchGAN):
            raise ConfigError(
                f"dynamic windows need a GAN with a PatchGAN discriminator, not {config.method} with "
                f"{config.model.discriminator}"
            )
        selection = cam_window(
            parts.generator, parts.discriminator, split.train, step.window_hu, config.window,
            config.cam_crop_px, rng, device,
        )  # fmt: skip
        entry["cam_window_hu"] = list(selection.window_hu) if selection.window_hu else None
        title = f"epoch {epoch + 1}: CAM window {selection.window_hu}"
        plot_cam(
            selection.sample_hu,
            selection.sample_cam,
            run_dir / "figures" / f"cam_epoch{epoch + 1:03d}.png",
            title,
        )
    log.info("epoch %d: window %s (%s), %s", epoch + 1, step.window_hu, step.phase, _brief(losses, metrics))
    return entry


def _train_steps(
    parts: Learner,
    train_set: PairedSlices,
    window_hu: Window,
    config: TrainConfig,
    rng: np.random.Generator,
    device: torch.device,
    epoch: int,
    progress: bool,
) -> dict[str, float]:
    """`config.steps_per_epoch` steps; returns each loss averaged over the steps that reported it."""
    for network in parts.networks().values():
        network.train()
    multiple = size_multiple(parts.model())

    def sample(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        source_hu, target_hu = sample_crops(train_set, n, config.crop_px, rng, multiple=multiple)
        return windowed_tensor(source_hu, window_hu, device), windowed_tensor(target_hu, window_hu, device)

    totals: dict[str, float] = {}
    counts: dict[str, int] = {}
    bar = tqdm(
        range(config.steps_per_epoch),
        desc=f"epoch {epoch + 1}/{config.epochs}",
        disable=not progress,
        leave=False,
    )
    for _ in bar:
        losses = parts.train_step(sample)
        for key, value in losses.items():
            totals[key] = totals.get(key, 0.0) + value
            counts[key] = counts.get(key, 0) + 1
        shown = {key: f"{value:.4g}" for key, value in losses.items()}
        bar.set_postfix({"window": f"[{window_hu[0]},{window_hu[1]}]", **shown})
    return {key: value / counts[key] for key, value in totals.items()}


def _record(entry: dict[str, Any]) -> EpochRecord:
    return EpochRecord(tuple(entry["window_hu"]), entry["phase"], entry["accuracy"])


def _brief(losses: dict[str, float], metrics: dict[str, float]) -> str:
    parts = [f"{k}={v:.4g}" for k, v in {**losses, **metrics}.items()]
    return " ".join(parts)


def _write_history(run_dir: Path, history: list[dict[str, Any]]) -> None:
    tmp = run_dir / ".history.json.tmp"
    tmp.write_text(json.dumps(history, indent=2), encoding="utf-8")
    tmp.replace(run_dir / "history.json")


def _metadata(
    config: TrainConfig,
    weights: EncoderWeights,
    generator: torch.nn.Module,
    data: PairedSlices,
    final_window: Window,
    history: list[dict[str, Any]],
) -> ModelMetadata:
    frozen = resolve_freeze(weights.pretrained, config.model.freeze_encoder)
    return ModelMetadata(
        method=config.method,
        model=as_dict(config.model),
        encoder_weights=weights.record(),
        encoder_frozen=frozen if config.model.generator == "radiomicgan" else False,
        training_window_hu=final_window,
        full_range_hu=config.window.full_range_hu,
        source_kernel=data.source_kernel,
        target_kernel=data.target_kernel,
        epochs=len(history),
        extra={
            "schedule": config.window.schedule,
            "parameters": sum(p.numel() for p in generator.parameters()),
            "final_losses": history[-1]["losses"],  # a fitted method's choices (e.g. the Wiener lambda)
        },
    )
