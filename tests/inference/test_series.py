"""Harmonizing with a trained model (inference/series.py and the Harmonizer of inference/harmonizer.py):
pasting back outside the window, integer HU, windows, precision, outputs, trees, clusters and shares.
"""

from __future__ import annotations

import gc
import logging
import pickle
import shutil
import sys
import weakref
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from radiomicgan.cli import main
from radiomicgan.config import BackendConfig, WindowConfig
from radiomicgan.errors import ConfigError, InputError, OutputError
from radiomicgan.inference import HarmonizeConfig, Harmonizer, harmonize_model, harmonize_path
from radiomicgan.inference import harmonizer as harmonizer_module
from radiomicgan.inference import runner as runner_module
from radiomicgan.inference.onnx_engine import OnnxGenerator, onnx_runtime_available
from radiomicgan.inference.slices import harmonize_slices_hu
from radiomicgan.io import find_series, read_volume, write_volume
from training.pairs import SOURCE_KERNEL, TARGET_KERNEL, TINY_MODEL, Scan, train_tiny, write_scan

TRAINING_WINDOW = (-1024, -513)  # two fixed-growing epochs with th_eta = 1


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # the machine's two cores are shared


@pytest.fixture(scope="module")
def run_dir(scan: Scan, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny trained model whose final training window is TRAINING_WINDOW, without a prefilter (the
    tests here compare with the generator run directly; tests/training/test_prefilter.py has one)."""
    run = tmp_path_factory.mktemp("runs") / "run"
    window = WindowConfig(schedule="fixed", th_eta=1)
    model = replace(TINY_MODEL, prefilter="none")
    result = train_tiny(scan, run, epochs=2, window=window, model=model)
    assert result.final_window_hu == TRAINING_WINDOW
    return run


@pytest.fixture
def harmonizer(run_dir: Path) -> Harmonizer:
    return Harmonizer.load(run_dir, HarmonizeConfig(device="cpu", batch_size=2))


def _with_extremes(hu: np.ndarray) -> np.ndarray:
    """The slices with metal, dense bone and below-air padding pasted in: HU outside [-1024, 1000]."""
    out = hu.copy()
    out[:, 20:24, 20:24] = 3071.0
    out[:, 30:33, 10:14] = 1400.0
    out[:, :2, :] = -2000.0
    return out


def test_outside_window_pixels_are_pasted_back_unchanged(harmonizer: Harmonizer, scan: Scan) -> None:
    volume = read_volume(scan.source)
    volume = volume.with_hu(_with_extremes(volume.hu))
    out = harmonizer(volume)
    lo, hi = harmonizer.window_hu
    assert (lo, hi) == (-1024, 1000)  # "full", the default
    outside = (volume.hu < lo) | (volume.hu > hi)
    assert outside.sum() > 0
    np.testing.assert_array_equal(out.hu[outside], volume.hu[outside])
    inside = ~outside
    assert not np.array_equal(out.hu[inside], volume.hu[inside])  # the model did change the rest
    np.testing.assert_array_equal(out.hu, np.rint(out.hu))
    assert out.hu[inside].min() >= -1024 and out.hu[inside].max() <= 3071


def test_output_may_leave_the_inputs_range_but_not_what_ct_stores(harmonizer: Harmonizer) -> None:
    # A sharper kernel overshoots at edges beyond the smoother input's extremes (issue 15, item 4):
    # the output is clipped to [-1024, 3071], not to the input's own min and max.
    rng = np.random.default_rng(0)
    hu = np.rint(rng.uniform(100, 120, size=(3, 48, 48))).astype(np.float32)  # a narrow range
    predicted = harmonize_slices_hu(harmonizer.generator, hu, harmonizer.window_hu, harmonizer.device, 8)
    assert predicted.min() < 100 or predicted.max() > 120, "the raw prediction leaves the source range"
    out = harmonizer.harmonize_slices(hu)
    np.testing.assert_array_equal(out, np.rint(out))
    assert out.min() < 100 or out.max() > 120
    np.testing.assert_array_equal(out, np.clip(np.rint(predicted), -1024, 3071))


def test_training_window_mode_uses_the_final_training_window(run_dir: Path, scan: Scan) -> None:
    harmonizer = Harmonizer.load(run_dir, HarmonizeConfig(device="cpu", window_mode="training"))
    assert harmonizer.window_hu == harmonizer.metadata.training_window_hu == TRAINING_WINDOW
    hu = read_volume(scan.source).hu
    out = harmonizer.harmonize_slices(hu)
    above = hu > TRAINING_WINDOW[1]
    assert above.any() and (~above).any()
    np.testing.assert_array_equal(out[above], hu[above])
    predicted = harmonize_slices_hu(harmonizer.generator, hu, TRAINING_WINDOW, harmonizer.device, 8)
    expected = np.clip(np.rint(predicted), -1024, 3071)
    np.testing.assert_array_equal(out[~above], expected[~above])
    full = Harmonizer.load(run_dir, HarmonizeConfig(device="cpu")).harmonize_slices(hu)
    assert not np.array_equal(out, full)


def test_kernel_mismatch_warns_once(
    harmonizer: Harmonizer, scan: Scan, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    harmonizer.announce()  # the model's own lines (its training window) are said once, before
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="radiomicgan"):
        harmonize_path(harmonizer, scan.source, tmp_path / "matching", progress=False)
        assert not caplog.records
        harmonize_path(harmonizer, scan.target, tmp_path / "other", progress=False)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "\n" not in message and TARGET_KERNEL in message and SOURCE_KERNEL in message


def test_kernels_differing_only_in_case_and_padding_are_the_same_kernel(
    harmonizer: Harmonizer, scan: Scan, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    harmonizer.metadata = replace(harmonizer.metadata, source_kernel=f" {SOURCE_KERNEL.swapcase()} ")
    harmonizer.announce()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="radiomicgan"):
        harmonize_path(harmonizer, scan.source, tmp_path / "out", progress=False, strict=True)
    assert not caplog.records


def test_output_inside_the_input_folder_is_refused(harmonizer: Harmonizer, scan: Scan) -> None:
    before = sorted(scan.source.parent.rglob("*"))
    for output in (scan.source / "harmonized", scan.source.parent / "smooth" / "x" / "y"):
        with pytest.raises(OutputError, match="inside the input"):
            harmonize_path(harmonizer, scan.source.parent, output, progress=False)
    with pytest.raises(OutputError):
        harmonize_path(harmonizer, scan.source, scan.source / "out", progress=False)
    assert sorted(scan.source.parent.rglob("*")) == before


def test_missing_input_is_an_input_error(harmonizer: Harmonizer, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        harmonize_path(harmonizer, tmp_path / "nowhere", tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_folder_tree_of_two_series_is_mirrored(harmonizer: Harmonizer, scan: Scan, tmp_path: Path) -> None:
    out = tmp_path / "out"
    written = harmonize_path(harmonizer, scan.source.parent, out, progress=False)
    assert sorted(written) == [out / "sharp", out / "smooth"]
    for name in ("smooth", "sharp"):
        alone = harmonize_path(
            harmonizer, scan.source.parent / name, tmp_path / f"alone-{name}", progress=False
        )
        np.testing.assert_array_equal(read_volume(out / name).hu, read_volume(alone[0]).hu)


def test_two_series_in_one_folder_get_one_subfolder_each(
    harmonizer: Harmonizer, scan: Scan, tmp_path: Path
) -> None:
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for series in (scan.source, scan.target):
        for file in series.iterdir():
            shutil.copy(file, mixed / f"{series.name}-{file.name}")
    uids = sorted(s.series_uid for s in find_series(mixed))
    out = tmp_path / "out"
    written = harmonize_path(harmonizer, mixed, out, progress=False)
    assert sorted(written) == [out / uid for uid in uids]  # side by side, neither inside the other
    for path, uid in zip(sorted(written), uids, strict=True):
        assert len(list(path.iterdir())) == 6
        assert read_volume(path).hu.shape == (6, 48, 48)
        assert read_volume(mixed, uid).meta.series_uid == uid


# --- the command line ---------------------------------------------------------------------------------


def test_harmonize_command(
    run_dir: Path, scan: Scan, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = ["harmonize", "--model", str(run_dir), str(scan.source), str(out), "--device", "cpu", "--quiet"]
    assert main(args) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert len(list(out.iterdir())) == 6
    assert main([*args, "--window", "training"]) == 2  # the output exists now
    assert "exists" in capsys.readouterr().err
    assert main([*args, "--window", "training", "--overwrite"]) == 0


def _refused(args: list[str], capsys: pytest.CaptureFixture[str], *words: str) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("radiomicgan harmonize: error: "), err
    assert "Traceback" not in err
    for word in words:
        assert word in err


def test_bad_models_and_inputs_are_one_line_errors(
    run_dir: Path, scan: Scan, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    text = tmp_path / "model.txt"
    text.write_text("hello")
    pickled = tmp_path / "model.pt"
    pickled.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    fake = tmp_path / "fake.safetensors"
    fake.write_text("not safetensors")

    def args(model: Path, source: Path = scan.source) -> list[str]:
        return ["harmonize", "--model", str(model), str(source), str(out), "--device", "cpu"]

    _refused(args(text), capsys, "model.txt", "not a radiomicgan model file")
    _refused(args(pickled), capsys, "model.pt", "pickle")
    _refused(args(fake), capsys, "fake.safetensors")
    _refused(args(tmp_path / "no-run"), capsys, "does not exist")
    _refused(args(run_dir, tmp_path / "no-input"), capsys, "no-input", "does not exist")
    assert not out.exists()


# --- streamed series ----------------------------------------------------------------------------------


def _files(folder: Path) -> list[Path]:
    return sorted(folder.iterdir())


@pytest.mark.parametrize("batch_size", [4, 6, 7])
def test_streamed_series_equals_the_in_memory_path(
    run_dir: Path, scan: Scan, tmp_path: Path, batch_size: int, run_dciodvfy
) -> None:
    harmonizer = Harmonizer.load(
        run_dir, HarmonizeConfig(device="cpu", batch_size=batch_size)
    )  # 6 slices: 4 + 2, 6, 6
    (streamed,) = harmonize_path(harmonizer, scan.source, tmp_path / "streamed", progress=False)
    volume = read_volume(scan.source)
    derivation = harmonizer.derivation(volume.meta.kernel)
    in_memory = write_volume(harmonizer(volume), tmp_path / "memory", derivation=derivation)
    assert [p.name for p in _files(streamed)] == [p.name for p in _files(in_memory)]
    assert [p.read_bytes() for p in _files(streamed)] == [p.read_bytes() for p in _files(in_memory)]
    derived = read_volume(streamed)
    assert derived.meta.series_uid != volume.meta.series_uid
    assert not np.array_equal(derived.hu, volume.hu)
    errors, output = run_dciodvfy(streamed)
    assert errors == [], output


def test_a_series_holds_one_batch_of_pixels_at_a_time(
    harmonizer: Harmonizer, scan: Scan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memory is bounded by the batch: when a batch is harmonized, no earlier batch is still alive."""
    seen: list[weakref.ref[np.ndarray]] = []
    original = Harmonizer.harmonize_slices

    def watching(
        self: Harmonizer, hu: np.ndarray, spacing_mm: tuple[float, float] | None = None
    ) -> np.ndarray:
        gc.collect()
        assert all(ref() is None for ref in seen), "an earlier batch is still in memory"
        assert len(hu) <= self.settings.batch_size
        seen.append(weakref.ref(hu))
        return original(self, hu, spacing_mm)

    monkeypatch.setattr(Harmonizer, "harmonize_slices", watching)
    harmonize_path(harmonizer, scan.source, tmp_path / "out", progress=False)
    assert len(seen) == 3  # 6 slices, batches of 2


@pytest.mark.parametrize("interruption", [RuntimeError("model failed"), KeyboardInterrupt()])
def test_failure_mid_series_leaves_no_output(
    harmonizer: Harmonizer,
    scan: Scan,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    interruption: BaseException,
) -> None:
    calls = []
    original = Harmonizer.harmonize_slices

    def failing_second(
        self: Harmonizer, hu: np.ndarray, spacing_mm: tuple[float, float] | None = None
    ) -> np.ndarray:
        calls.append(len(hu))
        if len(calls) == 2:
            raise interruption
        return original(self, hu, spacing_mm)

    monkeypatch.setattr(Harmonizer, "harmonize_slices", failing_second)
    out = tmp_path / "out"
    with pytest.raises(type(interruption)):
        harmonize_path(harmonizer, scan.source, out, progress=False)
    assert calls == [2, 2]
    assert list(tmp_path.iterdir()) == []  # neither the series nor a hidden temporary folder
    monkeypatch.undo()
    previous = _files(harmonize_path(harmonizer, scan.source, out, progress=False)[0])
    before = [p.read_bytes() for p in previous]
    monkeypatch.setattr(Harmonizer, "harmonize_slices", failing_second)
    calls.clear()
    with pytest.raises(type(interruption)):
        harmonize_path(harmonizer, scan.source, out, overwrite=True, progress=False)
    assert [p.read_bytes() for p in _files(out)] == before  # the earlier output is kept whole
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_existing_output_is_refused_before_any_slice_is_harmonized(
    harmonizer: Harmonizer, scan: Scan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "IM000001.dcm").write_bytes(b"earlier")  # an empty folder would be filled
    monkeypatch.setattr(Harmonizer, "harmonize_slices", lambda *a: pytest.fail("harmonized"))
    with pytest.raises(OutputError, match="already exists"):
        harmonize_path(harmonizer, scan.source, tmp_path / "out", progress=False)


# --- --strict -----------------------------------------------------------------------------------------


def test_strict_refuses_another_kernel_before_writing_anything(
    harmonizer: Harmonizer, scan: Scan, tmp_path: Path
) -> None:
    with pytest.raises(InputError) as raised:
        harmonize_path(harmonizer, scan.target, tmp_path / "one", strict=True, progress=False)
    message = str(raised.value)
    assert "\n" not in message and str(scan.target) in message
    assert TARGET_KERNEL in message and SOURCE_KERNEL in message
    assert list(tmp_path.iterdir()) == []
    assert harmonize_path(harmonizer, scan.source, tmp_path / "ok", strict=True, progress=False)


def test_strict_skips_the_mismatched_series_of_a_tree(
    run_dir: Path, tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = ["harmonize", "--model", str(run_dir), str(tree), str(out), "--device", "cpu", "--strict"]
    assert main([*args, "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.out.split() == [str(out / "a" / "smooth"), str(out / "b" / "smooth")]
    warnings = [line for line in captured.err.splitlines() if "WARNING" in line and "window" not in line]
    assert warnings == [
        f"radiomicgan: WARNING: {tree / 'a' / 'sharp'}: skipped (--strict): series kernel {TARGET_KERNEL} "
        f"differs from the model's source kernel {SOURCE_KERNEL}",
        "radiomicgan: WARNING: 1 of 3 series skipped under --strict (another kernel)",
    ]
    assert (
        sorted(p.parent.relative_to(out) for p in out.rglob("*.dcm"))
        == [Path("a/smooth")] * 6 + [Path("b/smooth")] * 6
    )
    only_sharp = tmp_path / "only_sharp"
    for seed, name in enumerate("xy"):
        shutil.rmtree(write_scan(only_sharp, name=name, seed=seed).source)
    capsys.readouterr()
    _refused([*args[:3], str(only_sharp), str(tmp_path / "none"), *args[5:]], capsys, "no series has")


def test_overwrite_refuses_a_series_folder_holding_what_it_did_not_write(
    run_dir: Path, scan: Scan, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()  # made ready and empty: filled without --overwrite
    args = ["harmonize", "--model", str(run_dir), str(scan.source), str(out), "--device", "cpu", "--quiet"]
    assert main(args) == 0
    capsys.readouterr()
    (out / "notes.txt").write_text("important")
    before = _tree_bytes(out)
    _refused([*args, "--overwrite"], capsys, f"{out}: holds notes.txt, which is not radiomicgan's output")
    assert _tree_bytes(out) == before


def test_a_volume_file_cannot_become_a_dicom_series(
    run_dir: Path, scan: Scan, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    volume = write_volume(read_volume(scan.source), tmp_path / "vol.nrrd")
    capsys.readouterr()
    args = ["harmonize", "--model", str(run_dir), str(volume), str(tmp_path / "out"), "--device", "cpu"]
    _refused(args, capsys, f"{tmp_path / 'out'}: a DICOM series cannot be made from vol.nrrd", ".nii.gz")
    assert not (tmp_path / "out").exists()
    assert main([*args[:4], str(tmp_path / "out.nii.gz"), "--device", "cpu", "--quiet"]) == 0


def test_strict_command_line(
    run_dir: Path, scan: Scan, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = ["harmonize", "--model", str(run_dir), str(scan.target), str(out), "--device", "cpu", "--quiet"]
    _refused([*args, "--strict"], capsys, str(scan.target), TARGET_KERNEL, SOURCE_KERNEL)
    assert not out.exists()
    assert main(args) == 0  # without --strict: a warning, and the series is written
    assert len(list(out.iterdir())) == 6


# --- precision ----------------------------------------------------------------------------------------


def test_bf16_runs_and_stays_close_to_fp32(run_dir: Path, scan: Scan) -> None:
    hu = read_volume(scan.source).hu
    fp32 = Harmonizer.load(run_dir, HarmonizeConfig(device="cpu", precision="fp32")).harmonize_slices(hu)
    harmonizer = Harmonizer.load(run_dir, HarmonizeConfig(device="cpu", precision="bf16"))
    assert harmonizer.runner.autocast_dtype == torch.bfloat16
    bf16 = harmonizer.harmonize_slices(hu)
    np.testing.assert_array_equal(bf16, np.rint(bf16))
    difference = np.abs(bf16 - fp32)
    # bf16 rounds the [0, 1] output to steps of up to 2**-8 (~8 HU over the 2024 HU window)
    assert 0 < difference.max() <= 8 and difference.mean() < 2


@pytest.mark.parametrize(("tolerance_hu", "kept"), [(100.0, torch.bfloat16), (0.0, None)])
def test_auto_calibrates_at_load(
    run_dir: Path, scan: Scan, monkeypatch: pytest.MonkeyPatch, tolerance_hu: float, kept: torch.dtype | None
) -> None:
    """As "auto" does on a GPU, with bf16 on the CPU: try it on the probe slices at load, then keep the
    choice for every batch."""
    monkeypatch.setattr(runner_module, "MIXED_PRECISION_TOLERANCE_HU", tolerance_hu)
    hu = read_volume(scan.source).hu
    # engine "torch": "auto" on a CPU with ONNX Runtime checks the engine at load instead
    settings = HarmonizeConfig(device="cpu", batch_size=2, precision="auto", engine="torch")
    assert Harmonizer.load(run_dir, settings).runner.autocast_dtype is None  # fp32 on a CPU
    monkeypatch.setattr(runner_module, "resolve_precision", lambda *_: (None, torch.bfloat16))
    harmonizer = Harmonizer.load(run_dir, settings)
    assert harmonizer.runner.autocast_dtype == kept
    first = harmonizer.harmonize_slices(hu[:2])
    name = {torch.bfloat16: "bf16", None: "fp32"}[kept]
    explicit = Harmonizer.load(
        run_dir, HarmonizeConfig(device="cpu", batch_size=2, precision=name, engine="torch")
    )
    np.testing.assert_array_equal(first, explicit.harmonize_slices(hu[:2]))
    np.testing.assert_array_equal(harmonizer.harmonize_slices(hu[2:]), explicit.harmonize_slices(hu[2:]))


def test_mixed_precision_overflow_falls_back_to_fp32(
    run_dir: Path, scan: Scan, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    hu = read_volume(scan.source).hu[:2]
    expected = Harmonizer.load(run_dir, HarmonizeConfig(device="cpu", precision="fp32")).harmonize_slices(hu)
    original = harmonizer_module.harmonize_slices_hu

    def overflowing(*args: Any) -> np.ndarray:
        out = original(*args)
        mixed = len(args) == 6 and args[5] is not None  # (generator, hu, window, device, multiple, dtype)
        return out * np.inf if mixed else out

    monkeypatch.setattr(harmonizer_module, "harmonize_slices_hu", overflowing)
    harmonizer = Harmonizer.load(run_dir, HarmonizeConfig(device="cpu", precision="fp16"))
    with caplog.at_level(logging.WARNING, logger="radiomicgan"):
        np.testing.assert_array_equal(harmonizer.harmonize_slices(hu), expected)
        np.testing.assert_array_equal(harmonizer.harmonize_slices(hu), expected)  # fp32 again, no new warning
    assert harmonizer.runner.autocast_dtype == torch.float16  # the runner is never changed
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "fp16 overflowed" in warnings[0]


def test_precision_and_batch_size_options(
    run_dir: Path, scan: Scan, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["harmonize", "--model", str(run_dir), str(scan.source), "--device", "cpu", "--quiet"]
    assert main([*args, str(tmp_path / "bf16"), "--precision", "bf16", "--batch-size", "4"]) == 0
    assert len(list((tmp_path / "bf16").iterdir())) == 6
    capsys.readouterr()
    _refused([*args, str(tmp_path / "zero"), "--batch-size", "0"], capsys, "batch size")


# --- engines: ONNX Runtime on a CPU, checked against torch on probe slices at load ---------------------

needs_onnx = pytest.mark.skipif(not onnx_runtime_available(), reason="ONNX Runtime is not installed")


@needs_onnx
@pytest.mark.parametrize(("tolerance_hu", "kept_onnx"), [(1.0, True), (-1.0, False)])
def test_auto_engine_keeps_onnx_runtime_only_within_1_hu_of_torch(
    run_dir: Path, scan: Scan, monkeypatch: pytest.MonkeyPatch, tolerance_hu: float, kept_onnx: bool
) -> None:
    monkeypatch.setattr(runner_module, "MIXED_PRECISION_TOLERANCE_HU", tolerance_hu)
    hu = read_volume(scan.source).hu
    torch_only = Harmonizer.load(run_dir, HarmonizeConfig(device="cpu", batch_size=2, engine="torch"))
    assert torch_only.runner.module is torch_only.generator
    auto = Harmonizer.load(run_dir, HarmonizeConfig(device="cpu", batch_size=2))  # engine "auto"
    assert isinstance(auto.runner.module, OnnxGenerator) == kept_onnx  # decided at load
    first = auto.harmonize_slices(hu[:2])
    assert isinstance(auto.runner.module, OnnxGenerator) == kept_onnx  # and kept
    expected = torch_only.harmonize_slices(hu[:2])
    if kept_onnx:
        assert np.abs(first - expected).max() <= 1.0
        np.testing.assert_array_equal(first, np.rint(first))
    else:
        np.testing.assert_array_equal(first, expected)  # torch's own output, not ONNX's


def test_engine_options_that_cannot_run_are_config_errors(run_dir: Path) -> None:
    with pytest.raises(ConfigError, match="unknown engine"):
        Harmonizer.load(run_dir, HarmonizeConfig(device="cpu", engine="tensorrt"))
    with pytest.raises(ConfigError, match="engine onnx"):
        Harmonizer.load(run_dir, HarmonizeConfig(device="cpu", engine="onnx", precision="bf16"))
    auto_engine = Harmonizer.load(run_dir, HarmonizeConfig(device="cpu", precision="bf16"))
    assert auto_engine.runner is not None  # auto: torch


@needs_onnx
def test_engine_command_line(
    run_dir: Path,
    scan: Scan,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    args = ["harmonize", "--model", str(run_dir), str(scan.source), "--device", "cpu", "--quiet"]
    assert main([*args, str(tmp_path / "onnx"), "--engine", "onnx"]) == 0
    assert main([*args, str(tmp_path / "torch"), "--engine", "torch"]) == 0
    onnx, torch_ = read_volume(tmp_path / "onnx").hu, read_volume(tmp_path / "torch").hu
    assert np.abs(onnx - torch_).max() <= 1.0
    capsys.readouterr()
    monkeypatch.setattr("radiomicgan.inference.onnx_engine.onnx_runtime_available", lambda: False)
    _refused([*args, str(tmp_path / "none"), "--engine", "onnx"], capsys, "radiomicgan[onnx]")
    assert not (tmp_path / "none").exists()


# --- trees: a Dask cluster, shares for array jobs, re-runs ----------------------------------------------


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three series in a folder tree: a/smooth, a/sharp and b/smooth."""
    root = tmp_path_factory.mktemp("tree")
    write_scan(root, name="a")
    shutil.rmtree(write_scan(root, name="b", seed=1).target)
    return root


TREE_OUTPUTS = [Path("a/sharp"), Path("a/smooth"), Path("b/smooth")]


def _tree_bytes(root: Path) -> dict[Path, bytes]:
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_a_dask_cluster_writes_the_same_bytes_as_the_local_backend(
    harmonizer: Harmonizer,
    run_dir: Path,
    tree: Path,
    tmp_path: Path,
    dask_scheduler: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    local = harmonize_path(harmonizer, tree, tmp_path / "local", progress=False)
    assert sorted(p.relative_to(tmp_path / "local") for p in local) == TREE_OUTPUTS
    args = ["harmonize", "--model", str(run_dir), str(tree), str(tmp_path / "dask"), "--device", "cpu"]
    args += ["--batch-size", "2", "--quiet", "--backend", "dask", "--scheduler", dask_scheduler]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert f"tasks go to the Dask scheduler at {dask_scheduler}" in captured.err
    assert sorted(Path(p).relative_to(tmp_path / "dask") for p in captured.out.split()) == TREE_OUTPUTS
    expected = _tree_bytes(tmp_path / "local")
    assert len(expected) == 3 * 6
    assert _tree_bytes(tmp_path / "dask") == expected


def test_the_dask_backend_needs_a_model_loaded_from_a_file(
    harmonizer: Harmonizer, tree: Path, tmp_path: Path
) -> None:
    in_memory = replace(harmonizer, source=None)
    with pytest.raises(ConfigError, match="loaded from a file"):
        harmonize_path(in_memory, tree, tmp_path / "out", backend=BackendConfig(name="dask"), progress=False)
    assert not (tmp_path / "out").exists()


def test_shares_are_disjoint_and_cover_the_tree(harmonizer: Harmonizer, tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shares = [harmonize_path(harmonizer, tree, out, num_parts=2, part_id=k, progress=False) for k in (0, 1)]
    assert not set(shares[0]) & set(shares[1])
    assert sorted(p.relative_to(out) for p in shares[0] + shares[1]) == TREE_OUTPUTS
    assert sorted(p.parent.relative_to(out) for p in out.rglob("*.dcm")) == sorted(TREE_OUTPUTS * 6)


def test_a_rerun_keeps_complete_outputs_and_redoes_an_incomplete_one(
    harmonizer: Harmonizer, tree: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "out"
    written = harmonize_path(harmonizer, tree, out, progress=False)
    before = _tree_bytes(out)
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.dcm")}
    incomplete = out / "a" / "sharp"
    sorted(incomplete.iterdir())[-1].unlink()
    leftover = out / "b" / ".smooth.0123456789ab.partial"  # what a killed run leaves
    leftover.mkdir()
    (leftover / "IM000001.dcm").write_bytes(b"half a slice")
    with caplog.at_level(logging.INFO, logger="radiomicgan"):
        assert harmonize_path(harmonizer, tree, out, progress=False) == written
    assert _tree_bytes(out) == before
    kept = {p: stamp for p, stamp in stamps.items() if p.parent != incomplete}
    assert len(kept) == 12 and all(p.stat().st_mtime_ns == stamp for p, stamp in kept.items())
    assert not leftover.exists()
    messages = [r.getMessage() for r in caplog.records]
    assert sorted(m for m in messages if "complete output exists, kept" in m) == [
        f"{out / 'a' / 'smooth'}: complete output exists, kept (--overwrite replaces it)",
        f"{out / 'b' / 'smooth'}: complete output exists, kept (--overwrite replaces it)",
    ]
    assert f"{incomplete}: incomplete output found and harmonized again" in messages


def test_tree_overwrite_refuses_before_replacing_any_series(
    run_dir: Path, tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = ["harmonize", "--model", str(run_dir), str(tree), str(out), "--device", "cpu"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "\r" not in captured.err  # not a terminal: a line per series, no redrawn bar
    progress = [line for line in captured.err.splitlines() if line.startswith("radiomicgan: INFO: series ")]
    assert progress == [f"radiomicgan: INFO: series {n}/3" for n in (1, 2, 3)]
    (out / "b" / "smooth" / "notes.txt").write_text("important")
    before = _tree_bytes(out)
    _refused([*args, "--overwrite"], capsys, f"{out / 'b' / 'smooth'}: holds notes.txt")
    assert _tree_bytes(out) == before
    (out / "b" / "smooth" / "notes.txt").unlink()
    assert main([*args, "--overwrite", "--quiet"]) == 0


def test_dask_missing_and_bad_shares_are_one_line_errors(
    run_dir: Path,
    tree: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    args = ["harmonize", "--model", str(run_dir), str(tree), str(tmp_path / "out"), "--device", "cpu"]
    _refused([*args, "--num-parts", "2", "--part-id", "2"], capsys, "--part-id must lie in 0..1")
    _refused([*args, "--num-parts", "0"], capsys, "--num-parts must be >= 1")
    _refused([*args, "--scheduler", "tcp://head:8786"], capsys, "needs the dask backend")
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if the cluster extra were not installed
    _refused([*args, "--backend", "dask"], capsys, "pip install radiomicgan[cluster]")
    assert not (tmp_path / "out").exists()


def test_harmonize_model_checks_the_run_before_it_loads_the_model(
    run_dir: Path, scan: Scan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads: list[Path] = []
    load = Harmonizer.load
    monkeypatch.setattr(Harmonizer, "load", staticmethod(lambda path, settings=None: loads.append(path)))
    with pytest.raises(InputError, match="does not exist"):
        harmonize_model(run_dir, tmp_path / "missing", tmp_path / "out")
    assert loads == []  # refused on the model file's metadata alone
    monkeypatch.setattr(Harmonizer, "load", load)
    settings = HarmonizeConfig(device="cpu", engine="torch")
    written = harmonize_model(run_dir, scan.source, tmp_path / "a", settings, progress=False)
    expected = harmonize_path(Harmonizer.load(run_dir, settings), scan.source, tmp_path / "b", progress=False)
    assert len(written) == len(expected) == 1
    np.testing.assert_array_equal(read_volume(written[0]).hu, read_volume(expected[0]).hu)
