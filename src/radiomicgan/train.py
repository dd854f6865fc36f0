"""Train a harmonizer in one call: the method by its name, its configuration, the shared loop.

This is where the methods (`radiomicgan.methods`) and the loop that runs them (`radiomicgan.training`)
meet; neither imports the other. `radiomicgan train`, the demo and the benchmarks call `train`, and
`resume_config` gives a Python caller resuming a run the configuration the command line would.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from radiomicgan import methods
from radiomicgan.config import TrainConfig, build, load_yaml
from radiomicgan.run_folder import RunFolder
from radiomicgan.training.distributed import DistributedContext
from radiomicgan.training.loop import TrainResult, run_training

__all__ = ["TrainResult", "resume_config", "train"]


def train(
    config: TrainConfig,
    *,
    resume: bool = False,
    progress: bool = True,
    distributed: DistributedContext | None = None,
) -> TrainResult:
    """Train a harmonizer on paired series (or, with `config.unpaired`, unpaired ones) and write the
    run folder.

    Args:
        config: data, budget, method, model and window schedule; the method may override the
            generator, the schedule and the epochs (`methods.resolve`), and config.yaml records that.
        resume: continue the run in `config.out` from its last finished epoch (`resume_config` reads
            the configuration it was started with).
        progress: show a progress bar.
        distributed: this process's place in a torchrun run (`DistributedContext.from_env`); None
            trains in this process alone. Each rank takes `config.batch_size` crops per step.

    Raises:
        ConfigError: an unknown method, one that cannot train data-parallel under torchrun, or one
            that trains on pairs only with `config.unpaired`.
        InputError: unreadable series, series that are not pairs (or, unpaired, target series of
            different kernels), nothing to resume.
        OutputError: the run folder exists and resume was not asked for.
    """
    method = methods.get(config.method)  # first: an unknown name fails before anything is read
    if distributed is not None and distributed.enabled:
        methods.check_data_parallel(config.method)
    return run_training(
        methods.resolve(config), method, resume=resume, progress=progress, distributed=distributed
    )


def resume_config(
    run_dir: str | Path,
    options: Mapping[str, Any] | None = None,
    *,
    config_file: Mapping[str, Any] | None = None,
) -> TrainConfig:
    """The configuration a resumed run continues with.

    Layers, each over the one before: the defaults < `config_file` < the run folder's config.yaml
    (when it has one) < `options`. A value of None in a layer keeps the one below (`config.build`).

    Args:
        run_dir: the run folder to resume.
        options: what the caller changes (the command line's options), e.g. {"epochs": 40}.
        config_file: a configuration file's mapping, read before the run's own (`--config`).

    Raises:
        ConfigError: config.yaml is not a YAML mapping, or a layer holds an unknown key or a bad value.
    """
    folder = RunFolder(Path(run_dir))
    saved = load_yaml(folder.config_path) if folder.config_path.is_file() else None
    return build(TrainConfig, _plain(config_file), saved, _plain(options))


def _plain(layer: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if layer is None else dict(layer)
