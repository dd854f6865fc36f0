"""A trained harmonizer in memory: `Harmonizer.load(path)(volume) -> volume`, and batches of slices.

The generator is fully convolutional: slices are padded to its size multiple, run in batches, and
cropped back. Only HU inside the inference window are standardized; input pixels outside it (air
below -1024, bone and metal above the window) are pasted back unchanged, and the output is rounded
to integer HU within what CT stores, [-1024, 3071]: not within the input's own range, since a
sharper kernel overshoots at edges beyond the smoother one's extremes. A model with a prefilter
(`radiomicgan.training.prefilter`) has each batch's whole slices filtered before the network, as its
training slices were. Slices whose pixels differ in size from the model's are checked against it
(`radiomicgan.spacing`), and with `resample` harmonized on the model's grid: the correction the model
makes there is resampled back and added to the input. Files, series and trees on disk are
`harmonize`'s job.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from radiomicgan import onnx_engine
from radiomicgan.errors import ConfigError
from radiomicgan.inference.device import resolve_device
from radiomicgan.inference.prefilter import prefilter_slices
from radiomicgan.inference.slices import harmonize_slices_hu
from radiomicgan.io import Derivation, Volume, kernel_text
from radiomicgan.modelfile import ModelMetadata, load_model, load_prefilter, model_digest, resolve_model_path
from radiomicgan.nets.common import Generator
from radiomicgan.onnx_engine import ENGINES, Engine
from radiomicgan.precision import (
    MIXED_PRECISION_TOLERANCE_HU,
    Precision,
    choose_precision,
    precision_name,
    resolve_precision,
    use_fast_layout,
)
from radiomicgan.progress import progress_bar
from radiomicgan.spacing import check_spacing, needs_resampling, pixel_spacing, resample_slices
from radiomicgan.windowing import Window

log = logging.getLogger(__name__)

WindowMode = Literal["full", "training"]
DICOM_HU_RANGE = (-1024.0, 3071.0)  # 12-bit CT: what a scanner can store


@dataclass(frozen=True)
class ModelSource:
    """A model file and the options it was loaded with: enough for another process to load it again.

    Cluster workers load their harmonizer from this, so `device` stays as asked ("auto": each worker
    takes its own GPU when it has one).
    """

    path: Path
    device: str = "auto"
    window_mode: WindowMode = "full"
    batch_size: int = 4
    precision: Precision = "auto"
    engine: Engine = "auto"
    resample: bool = False
    force: bool = False


@dataclass
class Harmonizer:
    """A loaded model, ready to harmonize volumes: `Harmonizer.load(path)(volume) -> volume`.

    Attributes:
        generator: the trained generator, in eval mode on `device`.
        metadata: what the model file says about it.
        device: where inference runs.
        window_mode: "full" standardizes the paper's whole range [-1024, 1000]; "training" the final
            training window, pasting the input back outside it.
        batch_size: slices per forward pass, and per read and write of a streamed series.
        model_id: a short digest of the model file, naming the derived series.
        precision: "fp32", "bf16" or "fp16" (mixed precision in the generator's forward pass only),
            or "auto": fp32 on a CPU; on a GPU fp16 if, on the first batch, it stays within
            `MIXED_PRECISION_TOLERANCE_HU` of fp32 (rounded output), else fp32.
        autocast_dtype: the mixed-precision dtype in use; None for float32 (set from `precision`).
        calibrate_with: a mixed-precision dtype the next batch tries against float32 before it is
            kept ("auto" on a GPU); None once decided.
        source: the model file and options `load` read, for cluster workers to load again; None for a
            harmonizer built in memory (it runs on the local backend only).
        engine: what runs the generator: "torch"; "onnx" (ONNX Runtime, CPU, fp32; `onnx_engine`);
            or "auto": ONNX Runtime on a CPU in fp32 when it is installed and the model came from a
            file, kept after the first batch only if it stays within 1 HU of torch, else torch.
        onnx_cache: where ONNX exports are cached (default `onnx_engine.default_cache_dir()`).
        runner: the module that runs the generator: the torch generator, or ONNX Runtime's once
            the first batch has exported (or loaded the cached export of) the model.
        engine_pending: ONNX Runtime is to be set up on the next batch (and, for "auto", compared
            with torch there before it is kept).
        announced: `announce` has logged what runs.
        prefilter: the model's fitted prefilter, applied to whole slices in HU before the network
            (float32, in torch, whatever the engine); None when the model has none.
        resample: slices whose pixel spacing differs from the model's training spacing are harmonized
            on the model's grid and the correction resampled back (`radiomicgan.spacing`).
        force: harmonize slices whose spacing lies beyond `SpacingTolerance.refuse` without resampling.

    Raises:
        ConfigError: `batch_size` < 1, an unknown `precision` or `engine`, or "onnx" where it
            cannot run (not installed, a GPU, mixed precision, a model built in memory).
    """

    generator: Generator
    metadata: ModelMetadata
    device: torch.device
    window_mode: WindowMode = "full"
    batch_size: int = 4
    model_id: str = ""
    precision: Precision = "auto"
    source: ModelSource | None = None
    engine: Engine = "auto"
    onnx_cache: Path | None = None
    prefilter: nn.Module | None = None
    resample: bool = False
    force: bool = False
    autocast_dtype: torch.dtype | None = field(default=None, init=False)
    calibrate_with: torch.dtype | None = field(default=None, init=False)
    runner: nn.Module = field(init=False)
    engine_pending: bool = field(default=False, init=False)
    announced: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ConfigError(f"harmonize: batch size must be >= 1, got {self.batch_size}")
        self.autocast_dtype, self.calibrate_with = resolve_precision(self.precision, self.device)
        use_fast_layout(self.generator, self.device)
        self.runner = self.generator
        self.engine_pending = self._wants_onnx()

    def announce(self) -> None:
        """Log, once, what runs (`describe`), and warn if it harmonizes beyond the last training window.

        Called when the input has passed its checks, so a refused input gets its one error line only.
        """
        if self.announced:
            return
        self.announced = True
        log.info("%s", self.describe())
        self._warn_beyond_training_window()

    def describe(self) -> str:
        """One line of provenance: model, method, prefilter, windows, device, precision and engine."""
        meta = self.metadata
        engine = "ONNX Runtime if within 1 HU of torch" if self.engine_pending else "torch"
        precision = precision_name(self.autocast_dtype)
        if self.calibrate_with is not None:
            precision = f"{precision_name(self.calibrate_with)} if within 1 HU of fp32"
        return (
            f"model {self.model_id or '(in memory)'}: {meta.method}, prefilter "
            f"{meta.model.get('prefilter', 'none')}, {meta.epochs} epochs, last training window "
            f"{list(meta.training_window_hu)} HU; harmonizing {list(self.window_hu)} HU ({self.window_mode}) "
            f"on {self.device.type}, {precision}, {engine}"
        )

    def _warn_beyond_training_window(self) -> None:
        low, high = self.window_hu
        trained_low, trained_high = self.metadata.training_window_hu
        if low < trained_low or high > trained_high:
            log.warning(
                "the model's last training window was [%d, %d] HU; it harmonizes [%d, %d] HU, beyond it "
                "(--window training keeps to it)",
                trained_low, trained_high, low, high,
            )  # fmt: skip

    def _wants_onnx(self) -> bool:
        # Decided now, built on the first batch: bad input fails before a 10 s export.
        if self.engine not in ENGINES:
            raise ConfigError(f"harmonize: unknown engine {self.engine!r} (known: {', '.join(ENGINES)})")
        can_run = self.device.type == "cpu" and self.autocast_dtype is None and bool(self.model_id)
        if self.engine == "onnx":
            if not can_run:
                raise ConfigError("harmonize: --engine onnx runs a model file on the CPU in fp32")
            if not onnx_engine.onnx_runtime_available():
                raise ConfigError(onnx_engine.NOT_INSTALLED)
            return True
        exportable = self.generator.onnx_exportable  # else each load would spend seconds on a failing export
        if self.engine != "auto" or not (can_run and exportable):
            return False
        if not onnx_engine.onnx_runtime_available():
            log.info("ONNX Runtime is not installed (pip install 'radiomicgan[onnx]'); torch runs the model")
            return False
        return True

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        device: str = "auto",
        window_mode: WindowMode = "full",
        batch_size: int = 4,
        precision: Precision = "auto",
        engine: Engine = "auto",
        onnx_cache: Path | None = None,
        resample: bool = False,
        force: bool = False,
    ) -> Harmonizer:
        """Load a run folder or model file (safetensors; pickles are refused).

        Args:
            path: a run folder or a .safetensors model file.
            device: "auto" (a GPU when there is one), "cpu" or "cuda".
            window_mode: see the class attributes.
            batch_size: slices per forward pass.
            precision: "auto", "fp32", "bf16" or "fp16"; see the class attributes.
            engine: "auto", "torch" or "onnx"; see the class attributes.
            onnx_cache: where ONNX exports are cached.
            resample: see the class attributes.
            force: see the class attributes.

        Raises:
            InputError: not a radiomicgan model file, or unreadable; "cuda" without a GPU.
            ConfigError: `batch_size` < 1 or an unknown `precision`.
        """
        target = resolve_model_path(path).resolve()
        source = ModelSource(target, device, window_mode, batch_size, precision, engine, resample, force)
        return cls.from_source(source, onnx_cache=onnx_cache)

    @classmethod
    def from_source(cls, source: ModelSource, *, onnx_cache: Path | None = None) -> Harmonizer:
        """Load the model file `source` names, with its options (how cluster workers load it again).

        Raises:
            As `load`.
        """
        torch_device = resolve_device(source.device)
        generator, metadata = load_model(source.path, torch_device)
        prefilter = load_prefilter(source.path, metadata, torch_device)
        digest = model_digest(source.path)
        return cls(
            generator, metadata, torch_device, source.window_mode, source.batch_size, digest,
            source.precision, source, source.engine, onnx_cache, prefilter, source.resample, source.force,
        )  # fmt: skip

    @property
    def window_hu(self) -> Window:
        """The HU window inference standardizes."""
        return (
            self.metadata.training_window_hu
            if self.window_mode == "training"
            else self.metadata.full_range_hu
        )

    def derivation(self, source_kernel: str) -> Derivation:
        """How a series harmonized by this model is described in DICOM."""
        target = kernel_text(self.metadata.target_kernel) or "the standard kernel"
        source = kernel_text(source_kernel) or "its kernel"
        method = f"radiomicgan-{self.metadata.method}"  # named in the description: no prefix added
        description = f"Harmonized from {source} to {target} by {method}"
        return Derivation(method=method, description=description, model_id=self.model_id)

    def __call__(self, volume: Volume, *, progress: bool = False) -> Volume:
        """The harmonized volume: same geometry and provenance, standardized HU (held in memory whole).

        Raises:
            InputError: the volume's pixel spacing lies beyond `SpacingTolerance.refuse` of the model's,
                without `resample` or `force`.
        """
        spacing_mm = pixel_spacing(volume.spacing_zyx_mm)
        self.check_spacing(volume.source_path or Path("<volume>"), spacing_mm)
        self.announce()
        out = np.empty_like(volume.hu)
        starts = range(0, volume.shape[0], self.batch_size)
        bar = progress_bar(starts, desc="harmonize", unit="batch", enabled=progress, log_every="never")
        for start in bar:
            stop = start + self.batch_size
            out[start:stop] = self.harmonize_slices(volume.hu[start:stop], spacing_mm)
        return volume.with_hu(out)

    def check_spacing(self, where: Path, spacing_mm: tuple[float, float]) -> None:
        """Warn about, or refuse, a series whose pixels differ in size from the model's.

        Raises:
            InputError: beyond `SpacingTolerance.refuse`, without `resample` or `force`.
        """
        geometry = self.metadata.training_geometry
        model_mm = geometry.pixel_spacing_mm if geometry else None
        check_spacing(where, spacing_mm, model_mm, resample=self.resample, force=self.force)

    def harmonize_slices(
        self, hu: NDArray[np.float32], spacing_mm: tuple[float, float] | None = None
    ) -> NDArray[np.float32]:
        """Harmonize a batch of slices [B, y, x] in HU; integer HU out.

        With `resample`, slices whose spacing differs from the model's training spacing (by more than
        `SpacingTolerance.same`) are resampled to it, harmonized there, and the correction the model
        made is resampled back and added to the input: the round trip's own blur never reaches the
        output, only the model's change does.

        Args:
            hu: the slices, HU.
            spacing_mm: their in-plane pixel spacing (rows, columns); None: the model's own.

        Returns:
            Integer HU [B, y, x] in [-1024, 3071]: standardized inside the window, the input outside it.
        """
        model_mm = self._resampling_target(spacing_mm)
        if spacing_mm is None or model_mm is None:
            return self._harmonize_on_grid(hu)
        on_model_grid = resample_slices(hu, spacing_mm, model_mm)
        correction = self._harmonize_on_grid(on_model_grid) - on_model_grid
        back = resample_slices(correction, model_mm, spacing_mm, shape=hu.shape[1:], fill_hu=0.0)
        return self._finish(hu, hu + back)

    def _resampling_target(self, spacing_mm: tuple[float, float] | None) -> tuple[float, float] | None:
        geometry = self.metadata.training_geometry
        if not (self.resample and spacing_mm and geometry):
            return None
        return geometry.pixel_spacing_mm if needs_resampling(spacing_mm, geometry.pixel_spacing_mm) else None

    def _harmonize_on_grid(self, hu: NDArray[np.float32]) -> NDArray[np.float32]:
        """`harmonize_slices` on the slices' own grid.

        The first batch sets up ONNX Runtime where `engine` asks for it; with "auto" it runs in both
        engines and ONNX Runtime is kept only if it stays within 1 HU of torch. While `calibrate_with`
        is set ("auto" on a GPU), this batch runs in fp32 and in that dtype, and the dtype is kept for
        later batches only if it stays within 1 HU of fp32.
        """
        if self.engine_pending:
            self.engine_pending = False
            if self.engine == "onnx":
                self.runner = onnx_engine.onnx_generator(self.generator, self.model_id, self.onnx_cache)
            elif self._try_onnx():
                return self._keep_engine_if_close(hu)
        if self.calibrate_with is not None:
            candidate, self.calibrate_with = self.calibrate_with, None
            self.autocast_dtype, out = choose_precision(
                lambda dtype: self._harmonize(hu, dtype, fallback=False),
                candidate,
                MIXED_PRECISION_TOLERANCE_HU,
            )
            return out
        return self._harmonize(hu, self.autocast_dtype, fallback=True)

    def _try_onnx(self) -> bool:
        try:
            self.runner = onnx_engine.onnx_generator(self.generator, self.model_id, self.onnx_cache)
        except ConfigError as error:  # e.g. the Wiener filter's FFTs have no ONNX export
            log.info("using torch: %s", error)
            return False
        return True

    def _keep_engine_if_close(self, hu: NDArray[np.float32]) -> NDArray[np.float32]:
        candidate = self._harmonize(hu, None, fallback=False)
        engine, self.runner = self.runner, self.generator
        reference = self._harmonize(hu, None, fallback=False)
        error_hu = float(np.max(np.abs(candidate - reference))) if reference.size else 0.0
        if error_hu <= MIXED_PRECISION_TOLERANCE_HU:
            self.runner = engine
        log.info(
            "using %s: ONNX Runtime differs from torch by up to %g HU on the first batch (tolerance %g HU)",
            "ONNX Runtime" if self.runner is engine else "torch",
            error_hu,
            MIXED_PRECISION_TOLERANCE_HU,
        )
        return candidate if self.runner is engine else reference

    def _harmonize(
        self, hu: NDArray[np.float32], dtype: torch.dtype | None, *, fallback: bool
    ) -> NDArray[np.float32]:
        # `fallback`: redo a non-finite mixed-precision batch in fp32; off while calibrating, where the
        # non-finite output must count against the dtype.
        window = self.window_hu
        multiple = self.generator.size_multiple
        network_input = hu if self.prefilter is None else prefilter_slices(self.prefilter, hu, self.device)
        predicted = harmonize_slices_hu(self.runner, network_input, window, self.device, multiple, dtype)
        if fallback and dtype is not None and not np.isfinite(predicted).all():
            # fp16 can overflow on slices unlike those it was calibrated on: fp32 from here on.
            log.warning("%s overflowed on a batch of slices; using fp32 from here on", precision_name(dtype))
            self.autocast_dtype = None
            predicted = harmonize_slices_hu(self.generator, network_input, window, self.device, multiple)
        return self._finish(hu, predicted)

    def _finish(self, hu: NDArray[np.float32], predicted: NDArray[np.float32]) -> NDArray[np.float32]:
        """Integer HU within what CT stores, and the input where it lies outside the window."""
        window = self.window_hu
        predicted = np.clip(np.rint(predicted), *DICOM_HU_RANGE)
        outside = (hu < window[0]) | (hu > window[1])  # not standardized: the input stays as it was
        return np.where(outside, hu, predicted).astype(np.float32)
