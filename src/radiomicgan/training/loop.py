"""The training run: epochs of steps in a window that DWT chooses, checkpoints, resume.

Every method (`radiomicgan.methods`) runs through this loop, handed to it as a `parts.Method`
record: RadiomicGAN and the learned baselines take steps on random crops, the classical ones fit in
one epoch. The run folder's files are `radiomicgan.run_folder`'s. Under torchrun the learned methods
train data-parallel (`radiomicgan.training.distributed`): rank 0 alone writes the folder.
The configuration, not the method, says whether the series are pairs (`training.data`) or unpaired
(`config.unpaired`, `training.unpaired_data`); `methods.resolve` has checked the method can take them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from radiomicgan.config import TrainConfig
from radiomicgan.errors import ConfigError, InputError, OutputError
from radiomicgan.inference.device import resolve_device
from radiomicgan.inference.slices import size_multiple, windowed_tensor
from radiomicgan.modelfile import ModelMetadata, save_model
from radiomicgan.nets import PatchGAN, build_generator, load_encoder_weights
from radiomicgan.nets.encoder_weights import NO_WEIGHTS
from radiomicgan.progress import progress_bar
from radiomicgan.residual_texture import ResidualTexture
from radiomicgan.run_folder import RunFolder
from radiomicgan.training.data import PairedSlices, Split, load_paired_slices, sample_crops, split_validation
from radiomicgan.training.distributed import DistributedContext, process_group, replicas_check, replicate
from radiomicgan.training.dwt import cam_window
from radiomicgan.training.figures import plot_cam, plot_window_history
from radiomicgan.training.metadata import model_metadata
from radiomicgan.training.parts import Fitter, Learner, Method
from radiomicgan.training.prefilter import prefilter_split, spectral_prefilter_split
from radiomicgan.training.state import Progress, load_checkpoint, numpy_rng_from_state
from radiomicgan.training.state import save_checkpoint as save_training_state
from radiomicgan.training.steps import GanParts
from radiomicgan.training.texture import fit_texture
from radiomicgan.training.unpaired_data import (
    TrainingSlices,
    UnpairedSlices,
    UnpairedSplit,
    load_unpaired_slices,
    sample_unpaired_crops,
    split_unpaired,
    unpaired_validation_subset,
)
from radiomicgan.training.validation import validate, validate_unpaired, validation_subset
from radiomicgan.windowing import EpochRecord, Window, WindowStep, needs_cams, next_window

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Run:
    """What stays the same through a run's epochs.

    Attributes:
        parts: the method's networks, as checkpoints, validation and the CAMs use them.
        learner: what takes the steps: `parts` itself, or under torchrun its DDP replica.
        rng: this process's crop stream (under torchrun each rank has its own).
        progress: show a progress bar (rank 0 only).
        prefilter: the fitted prefilter the split's non-standard slices went through, or None.
    """

    parts: Learner | Fitter
    learner: Learner | Fitter
    split: Split | UnpairedSplit
    config: TrainConfig
    rng: np.random.Generator
    device: torch.device
    folder: RunFolder
    progress: bool
    context: DistributedContext
    prefilter: torch.nn.Module | None = None


@dataclass(frozen=True)
class TrainResult:
    """What a finished run left behind."""

    run_dir: Path
    model_path: Path
    history: list[dict[str, Any]]
    final_window_hu: Window
    seconds: float


def run_training(
    config: TrainConfig,
    method: Method,
    *,
    resume: bool = False,
    progress: bool = True,
    distributed: DistributedContext | None = None,
) -> TrainResult:
    """Train `method` on paired series (or, with `config.unpaired`, unpaired ones) and write the run folder.

    `radiomicgan.train.train` is the one-call entry: it looks the method up, checks that it may
    train data-parallel, and resolves the configuration before calling this.

    Args:
        config: data, budget, model and window schedule, as `method` really trains with them
            (`radiomicgan.methods.resolve`); config.yaml records it.
        method: the record of `config.method`: how to build its parts.
        resume: continue the run in `config.out` from its last finished epoch.
        progress: show a progress bar.
        distributed: this process's place in a torchrun run (`DistributedContext.from_env`); None
            trains in this process alone. Each rank takes `config.batch_size` crops per step.

    Raises:
        InputError: unreadable series, series that are not pairs (or, unpaired, target series of
            different kernels), nothing to resume.
        OutputError: the run folder exists and resume was not asked for, or lies inside an input.
    """
    start = time.perf_counter()
    context = distributed or DistributedContext()
    folder = _check_run_folder(config, resume)
    device = context.device_for(resolve_device(config.device))
    with process_group(context, device):
        return _train(config, method, folder, resume, progress and context.is_main, context, device, start)


def _train(
    config: TrainConfig,
    method: Method,
    folder: RunFolder,
    resume: bool,
    progress: bool,
    context: DistributedContext,
    device: torch.device,
    start: float,
) -> TrainResult:
    """The run itself, in this process (`run_training` has checked the run folder)."""
    torch.manual_seed(config.seed)  # the same on every rank: the same initial networks
    weights = (  # before the data: a bad weights file fails in a second, not after reading every scan
        load_encoder_weights(config.model.vgg_unet.encoder_weights)
        if config.model.generator == "radiomicgan"
        else NO_WEIGHTS
    )
    data, split = _load_split(config)
    prefilter: torch.nn.Module | None = None
    prefilter_info: dict[str, float] = {}
    if config.model.prefilter == "wiener":  # else "spectral" or "none" ("auto" is resolved by then)
        if not isinstance(split, Split):  # `methods.resolve` refuses this before a file is read
            raise ConfigError("model.prefilter wiener is fitted on pairs: it cannot train --unpaired")
        # fitted afresh on resume too: the fit is deterministic, so the same data gives the same filter
        split, prefilter, prefilter_info = prefilter_split(split, config.baselines.wiener, device)
    elif config.model.prefilter == "spectral":  # unpaired or paired: each kernel's own spectrum
        split, prefilter, prefilter_info = spectral_prefilter_split(split, config.baselines.spectral, device)
    generator = build_generator(config.model.generator, config.model, weights).to(device)
    parts = method.build(generator, config, device)
    _check_sizes(data, size_multiple(parts.model()), config)
    state, rng = _starting_point(config, folder, parts, resume, context)
    context.barrier()  # every rank has checked the run folder before rank 0 fills it
    if context.is_main:
        folder.create(config)  # only now: a run that cannot start leaves nothing behind
    learner = replicate(parts, context, device) if isinstance(parts, Learner) else parts
    run = _Run(parts, learner, split, config, rng, device, folder, progress, context, prefilter)
    for epoch in range(state.epochs_done, config.epochs):
        entry = _run_epoch(epoch, run, state.history)
        streams = context.gather(dict(rng.bit_generator.state))
        state = Progress(epoch + 1, [*state.history, entry], streams[0], streams[1:])
        if context.is_main:
            save_training_state(folder.path, parts, state)
            folder.write_history(state.history)
    lo, hi = state.history[-1]["window_hu"]
    final_window: Window = (int(lo), int(hi))
    texture = _residual_texture(run)
    metadata = model_metadata(
        config, weights, parts.model(), data, final_window, state.history, prefilter_info, texture
    )
    model_path = _save_model(run, metadata, state.history)
    return TrainResult(folder.path, model_path, state.history, final_window, time.perf_counter() - start)


def _residual_texture(run: _Run) -> ResidualTexture | None:
    """With `model.texture: residual`, the texture the finished model leaves out (`training.texture`),
    measured in the range the harmonizer standardizes by default, with `model.texture_gain` and
    `texture_max_hu`. Rank 0 alone measures it: only its metadata is written (`_save_model`)."""
    config, model = run.config, run.parts.model()
    if config.model.texture != "residual" or not isinstance(run.split, Split) or not run.context.is_main:
        return None
    try:
        texture = fit_texture(model, run.split, config.window.full_range_hu, size_multiple(model), run.device)
    except ValueError as exc:  # slices too small for any HU class: the model works without
        log.warning("no residual texture: %s", exc)
        return None
    return replace(texture, gain=config.model.texture_gain, max_hu=config.model.texture_max_hu)


def _load_split(config: TrainConfig) -> tuple[TrainingSlices, Split | UnpairedSplit]:
    """The run's slices and their split, paired or (`config.unpaired`) not."""
    if config.unpaired:
        sources, targets = [Path(s) for s in config.source], [Path(t) for t in config.target]
        unpaired = load_unpaired_slices(sources, targets)
        train_set, held_out = split_unpaired(unpaired, config.val_fraction)
        val = unpaired_validation_subset(held_out, config.val_slices_max)
        return unpaired, UnpairedSplit(train_set, held_out, val)
    data = load_paired_slices([(Path(s), Path(t)) for s, t in zip(config.source, config.target, strict=True)])
    train, held = split_validation(data, config.val_fraction)
    return data, Split(train, held, validation_subset(held, config.val_slices_max))


def _starting_point(
    config: TrainConfig, folder: RunFolder, parts: Learner | Fitter, resume: bool, context: DistributedContext
) -> tuple[Progress, np.random.Generator]:
    """Epoch 0 with this rank's crop stream (seed + rank), or the checkpoint's progress and stream.

    Every rank loads the same checkpoint. A rank the checkpoint has no stream for (the run was saved
    by fewer processes) starts its stream afresh.
    """
    rng = np.random.default_rng(config.seed + context.rank)
    if not resume:
        return Progress(0, [], dict(rng.bit_generator.state)), rng
    state = load_checkpoint(folder.path, parts)
    streams = [state.numpy_rng_state, *state.rank_rng_states]
    if context.rank < len(streams):
        rng = numpy_rng_from_state(streams[context.rank])
    log.info("resuming after epoch %d of %d", state.epochs_done, config.epochs)
    return state, rng


def _save_model(run: _Run, metadata: ModelMetadata, history: list[dict[str, Any]]) -> Path:
    """Rank 0 writes the model file and the window figure; every rank returns once they exist."""
    if run.context.enabled:
        windows = [h["window_hu"] for h in history]
        check = replicas_check(run.context, run.parts.networks(), windows)
        metadata = replace(metadata, extra={**metadata.extra, "ddp": check})
    path = run.folder.model_path
    if run.context.is_main:
        path = save_model(run.folder.path, run.parts.model(), metadata, run.prefilter)
        plot_window_history(history, run.folder.window_figure)
    run.context.barrier()
    return path


def _check_run_folder(config: TrainConfig, resume: bool) -> RunFolder:
    if not config.out:
        raise OutputError(".", "no run folder given (--out RUN_DIR)")
    folder = RunFolder(Path(config.out))
    if resume:
        folder.check_resumable()
    if config.unpaired and not (config.source and config.target):
        missing = "--source" if not config.source else "--target"
        raise InputError(".", f"unpaired training needs at least one {missing} series ({missing} DIR)")
    if not config.source:
        raise InputError(".", "no training pairs given (--source DIR --target DIR)")
    folder.check_writable([Path(p) for p in (*config.source, *config.target)], resume=resume)
    return folder


def _check_sizes(data: TrainingSlices, multiple: int, config: TrainConfig) -> None:
    height, width = data.source_hu.shape[1:]
    if min(height, width) < multiple:
        raise InputError(
            config.source[0],
            f"slices of {height}x{width} px are smaller than the generator's size multiple {multiple}",
        )
    if min(config.crop_px, height, width) < multiple:
        raise ConfigError(
            f"train: crops of {config.crop_px} px are smaller than the generator's size multiple {multiple}"
            " (raise crop_px, or lower model.unet.downs)"
        )


def _run_epoch(epoch: int, run: _Run, history: list[dict[str, Any]]) -> dict[str, Any]:
    """Train one epoch in the window the schedule picks; returns its history entry."""
    config = run.config
    records = [_record(h) for h in history]
    last_cam = tuple(history[-1]["cam_window_hu"]) if history and history[-1].get("cam_window_hu") else None
    step = next_window(config.window.schedule, records, last_cam, config.window)
    if isinstance(run.learner, Fitter):
        losses = run.learner.fit(run.split.train, run.split.held_out, step.window_hu)
    else:
        losses = _train_steps(run, run.learner, step.window_hu, epoch)
    losses = run.context.mean(losses)  # the history's losses are those of all ranks' crops
    entry: dict[str, Any] = {}
    if run.context.is_main:
        entry = _evaluate_epoch(epoch, run, step, records, losses)
    # Rank 0 alone validates and selects the next window; its entry becomes every rank's history,
    # so the schedule (which reads the history) picks the same window everywhere.
    return run.context.broadcast(entry)


def _evaluate_epoch(
    epoch: int, run: _Run, step: WindowStep, records: list[EpochRecord], losses: dict[str, float]
) -> dict[str, Any]:
    """Validate, select the CAM window when the schedule needs one, and draw it: the epoch's entry."""
    config, parts, device = run.config, run.parts, run.device
    model = parts.model()
    if isinstance(run.split.val, UnpairedSlices):
        metrics = validate_unpaired(model, run.split.val, step.window_hu, size_multiple(model), device)
    else:
        metrics = validate(model, run.split.val, step.window_hu, size_multiple(model), device)
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
        train = run.split.train
        if not (
            isinstance(parts, GanParts) and isinstance(parts.discriminator, PatchGAN)
            and isinstance(train, PairedSlices)
        ):  # fmt: skip
            raise ConfigError(
                f"dynamic windows need a GAN with a PatchGAN discriminator on paired scans, not "
                f"{config.method} with {config.model.discriminator}"
            )
        selection = cam_window(
            parts.generator, parts.discriminator, train, step.window_hu, config.window,
            config.cam_crop_px, run.rng, device,
        )  # fmt: skip
        entry["cam_window_hu"] = list(selection.window_hu) if selection.window_hu else None
        title = f"epoch {epoch + 1}: CAM window {selection.window_hu}"
        plot_cam(selection.sample_hu, selection.sample_cam, run.folder.cam_figure(epoch + 1), title)
    log.info("epoch %d: window %s (%s), %s", epoch + 1, step.window_hu, step.phase, _brief(losses, metrics))
    return entry


def _train_steps(run: _Run, learner: Learner, window_hu: Window, epoch: int) -> dict[str, float]:
    """`config.steps_per_epoch` steps of `learner` on this rank's crops; returns each loss averaged over
    the steps that reported it."""
    config, rng, device = run.config, run.rng, run.device
    for network in learner.networks().values():
        network.train()
    multiple = size_multiple(run.parts.model())  # of the plain generator: a DDP replica is no Generator

    def sample(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        train = run.split.train
        if isinstance(train, UnpairedSlices):  # each kernel's crops drawn on their own
            source_hu, target_hu = sample_unpaired_crops(train, n, config.crop_px, rng, multiple=multiple)
        else:
            source_hu, target_hu = sample_crops(train, n, config.crop_px, rng, multiple=multiple)
        return windowed_tensor(source_hu, window_hu, device), windowed_tensor(target_hu, window_hu, device)

    totals: dict[str, float] = {}
    counts: dict[str, int] = {}
    bar = progress_bar(
        range(config.steps_per_epoch),
        desc=f"epoch {epoch + 1}/{config.epochs}",
        unit="step",
        enabled=run.progress,
        log_every="never",  # a log gets the epoch's own line (`_evaluate_epoch`)
    )
    for _ in bar:
        losses = learner.train_step(sample)
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
