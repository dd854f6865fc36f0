"""The one-call entry: the method looked up by name first, and the configuration a resumed run takes."""

from __future__ import annotations

from pathlib import Path

import pytest

from radiomicgan.config import TrainConfig
from radiomicgan.errors import ConfigError
from radiomicgan.run_folder import RunFolder
from radiomicgan.train import resume_config, train
from radiomicgan.training.distributed import DistributedContext


def test_an_unknown_method_is_refused_before_anything_is_read(tmp_path: Path) -> None:
    config = TrainConfig(method="stargan", out=str(tmp_path / "run"))
    with pytest.raises(ConfigError, match=r"unknown model 'stargan'.*radiomicgan.*wiener"):
        train(config, progress=False)
    assert not (tmp_path / "run").exists()


def test_a_fitted_method_is_refused_under_torchrun(tmp_path: Path) -> None:
    context = DistributedContext(rank=0, world_size=2, local_rank=0)
    with pytest.raises(ConfigError, match="--model wiener cannot train data-parallel"):
        train(TrainConfig(method="wiener", out=str(tmp_path / "run")), distributed=context)


def test_resuming_layers_the_run_folders_config_between_the_file_and_the_options(tmp_path: Path) -> None:
    RunFolder(tmp_path).create(TrainConfig(epochs=5, seed=3, batch_size=2))
    config = resume_config(tmp_path, {"epochs": 8, "seed": None}, config_file={"seed": 9, "batch_size": 6})
    assert config.epochs == 8  # the options win
    assert (config.seed, config.batch_size) == (3, 2)  # the run's own config.yaml over the file


def test_resuming_a_folder_without_config_takes_the_file_and_the_options(tmp_path: Path) -> None:
    config = resume_config(tmp_path, {"epochs": 8}, config_file={"seed": 9})
    assert (config.epochs, config.seed) == (8, 9)
