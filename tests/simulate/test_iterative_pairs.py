"""An iterative pair end to end: simulate smooth+ir3 -> sharp, train a tiny model, harmonize.

The model file records the source kernel with its strength ("smooth\\3"); harmonize --strict
accepts a series of that kernel and strength and refuses the same kernel at another strength.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest

from radiomicgan.config import SimulationConfig
from radiomicgan.errors import InputError
from radiomicgan.inference import HarmonizeConfig, Harmonizer, harmonize_path
from radiomicgan.simulate import simulate_to_folder
from radiomicgan.train import train
from training.pairs import Scan, tiny_config

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # 6 s here: not marked slow


def test_train_and_harmonize_an_iterative_pair(
    tmp_path: Path, run_dciodvfy: Callable[[Path], tuple[list[str], str]]
) -> None:
    config = SimulationConfig(
        size_px=48, slices=5, kernels=("smooth+ir3", "smooth+ir2", "sharp"), seed=3, jobs=1
    )
    pairs = simulate_to_folder("phantom", tmp_path / "pairs", config, progress=False).series_dirs
    scan = Scan(pairs["smooth+ir3"], pairs["sharp"], None, None)  # type: ignore[arg-type]  # folders only
    run = train(tiny_config(scan, tmp_path / "run"), progress=False)
    harmonizer = Harmonizer.load(run.run_dir, HarmonizeConfig(device="cpu", batch_size=2))
    assert harmonizer.metadata.source_kernel == "smooth\\3"
    assert harmonizer.metadata.target_kernel == "sharp"

    out = tmp_path / "out"
    assert harmonize_path(harmonizer, pairs["smooth+ir3"], out, strict=True, progress=False) == [out]
    assert len(list(out.glob("*.dcm"))) == 5
    errors, _ = run_dciodvfy(out)
    assert errors == [], errors
    ds = pydicom.dcmread(next(out.glob("*.dcm")))
    assert list(ds.ConvolutionKernel) == ["smooth", "3"]  # the input's kernel is kept
    assert "Harmonized from smooth/3 to sharp" in ds.DerivationDescription

    with pytest.raises(InputError) as refused:
        harmonize_path(harmonizer, pairs["smooth+ir2"], tmp_path / "other", strict=True, progress=False)
    message = str(refused.value)
    assert "\n" not in message and str(pairs["smooth+ir2"]) in message
    assert "series kernel smooth/2 differs from the model's source kernel smooth/3" in message
    assert not (tmp_path / "other").exists()
