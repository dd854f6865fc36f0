"""Run folders and model files written by radiomicgan 0.3.0 (tests/data/release_0.3.0) still load and
harmonize to the very same HU.

The folders were written by `train` of release 0.3.0 on the tiny paired scan of tests/training/pairs.py
(`scan_volumes()`, whose non-standard volume is input_hu.npy), and harmonized_hu.npy is what that
release's harmonizer made of it (device cpu, engine torch, window full). The radiomicgan folder keeps
its text files and the model file's metadata only: its VGG-19 U-Net weighs 72 MB.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from radiomicgan.config import ModelConfig, TrainConfig, build
from radiomicgan.inference import HarmonizeConfig, Harmonizer
from radiomicgan.io import Volume
from radiomicgan.modelfile import read_metadata
from radiomicgan.nets import build_generator

RELEASE = Path(__file__).parent / "data" / "release_0.3.0"
MODEL_FOLDERS = ["pix2pix", "choe", "histmatch", "wiener", "pix2pix_prefilter"]


def _input_volume() -> Volume:
    hu = np.load(RELEASE / "input_hu.npy")
    return Volume(hu=hu, spacing_zyx_mm=(2.5, 0.8, 0.8))


@pytest.mark.parametrize("name", MODEL_FOLDERS)
def test_a_release_model_harmonizes_to_the_same_hu(name: str) -> None:
    harmonizer = Harmonizer.load(RELEASE / name, HarmonizeConfig(device="cpu", engine="torch"))
    expected = np.load(RELEASE / name / "harmonized_hu.npy")
    out = harmonizer(_input_volume()).hu
    assert not np.array_equal(expected, np.rint(np.load(RELEASE / "input_hu.npy")))  # the model did something
    # float32 FFTs and convolutions round differently on another CPU (the Wiener filter's did by 1 HU on
    # 0.4 % of the voxels on an AMD EPYC against the Intel Xeon that wrote them): a value that lands on
    # .5 may round either way, nothing more
    difference = np.abs(out.astype(np.int32) - expected.astype(np.int32))
    assert int(difference.max()) <= 1
    assert float(np.mean(difference > 0)) < 0.01


@pytest.mark.parametrize("name", [*MODEL_FOLDERS, "radiomicgan"])
def test_a_release_run_folders_config_still_builds(name: str) -> None:
    data = yaml.safe_load((RELEASE / name / "config.yaml").read_text(encoding="utf-8"))
    config = build(TrainConfig, data)
    assert config.method == name.split("_")[0]
    assert len(json.loads((RELEASE / name / "history.json").read_text(encoding="utf-8"))) == config.epochs


def test_a_release_radiomicgan_models_section_builds_its_generator() -> None:
    metadata = json.loads((RELEASE / "radiomicgan" / "model_metadata.json").read_text(encoding="utf-8"))
    model = build(ModelConfig, metadata["model"])
    generator = build_generator(model.generator, model)
    assert sum(p.numel() for p in generator.parameters()) == metadata["extra"]["parameters"]


@pytest.mark.parametrize("name", MODEL_FOLDERS)
def test_a_release_model_files_metadata_reads(name: str) -> None:
    metadata = read_metadata(RELEASE / name / "model.safetensors")
    assert metadata.method == name.split("_")[0] and metadata.epochs >= 1
