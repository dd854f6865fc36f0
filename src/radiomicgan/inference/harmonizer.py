"""A trained harmonizer in memory: `Harmonizer.load(path, settings)(volume) -> volume`, and batches of slices.

The generator is fully convolutional: slices are padded to its size multiple, run in batches, and
cropped back. Only HU inside the inference window are standardized; input pixels outside it (air
below -1024, bone and metal above the window) are pasted back unchanged, and the output is rounded
to integer HU within what CT stores, [-1024, 3071]: not within the input's own range, since a
sharper kernel overshoots at edges beyond the smoother one's extremes. A model with a prefilter
(`radiomicgan.inference.prefilter`) has each batch's whole slices filtered before the network, as its
training slices were. Slices whose pixels differ in size from the model's are checked against it
(`radiomicgan.spacing`), and with `resample` harmonized on the model's grid: the correction the model
makes there is resampled back and added to the input. A model with a residual texture
(`radiomicgan.residual_texture`) has it added to the network's output, on the model's grid. What
runs the generator (engine, precision) is decided once, when the harmonizer is made
(`runner.choose_runner`). Files, series and trees on disk are `inference.series`'s job.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from radiomicgan.config import HarmonizeConfig
from radiomicgan.inference.device import resolve_device
from radiomicgan.inference.precision import precision_name, use_fast_layout
from radiomicgan.inference.prefilter import prefilter_slices
from radiomicgan.inference.runner import Runner, choose_runner, probe_slices
from radiomicgan.inference.slices import harmonize_slices_hu
from radiomicgan.io import Derivation, Volume, kernel_text
from radiomicgan.modelfile import (
    ModelMetadata,
    load_model,
    load_prefilter,
    load_texture,
    model_digest,
    resolve_model_path,
)
from radiomicgan.nets.common import Generator
from radiomicgan.progress import progress_bar
from radiomicgan.residual_texture import ResidualTexture, slice_seed
from radiomicgan.spacing import check_spacing, needs_resampling, pixel_spacing, resample_slices
from radiomicgan.windowing import Window

log = logging.getLogger(__name__)

DICOM_HU_RANGE = (-1024.0, 3071.0)  # 12-bit CT: what a scanner can store


def check_model_spacing(
    metadata: ModelMetadata, settings: HarmonizeConfig, where: Path, spacing_mm: tuple[float, float]
) -> None:
    """Warn about, or refuse, slices whose pixels differ in size from the model's training pixels.

    Raises:
        InputError: beyond `SpacingTolerance.refuse`, without `settings.resample` or `settings.force`.
    """
    geometry = metadata.training_geometry
    model_mm = geometry.pixel_spacing_mm if geometry else None
    check_spacing(where, spacing_mm, model_mm, resample=settings.resample, force=settings.force)


@dataclass(frozen=True)
class ModelSource:
    """A model file and the settings it was loaded with: enough for another process to load it again.

    Cluster workers load their harmonizer from this, so `settings.device` stays as asked ("auto": each
    worker takes its own GPU when it has one).
    """

    path: Path
    settings: HarmonizeConfig = field(default_factory=HarmonizeConfig)


@dataclass
class Harmonizer:
    """A loaded model, ready to harmonize volumes: `Harmonizer.load(path, settings)(volume) -> volume`.

    Attributes:
        generator: the trained generator, in eval mode on `device`.
        metadata: what the model file says about it.
        device: where inference runs (`settings.device` resolved).
        settings: window mode, batch size, precision, engine, resample and force (`HarmonizeConfig`).
        model_id: a short digest of the model file, naming the derived series.
        source: the model file and settings `load` read, for cluster workers to load again; None for a
            harmonizer built in memory (it runs on the local backend only).
        onnx_cache: where ONNX exports are cached (default `onnx_engine.default_cache_dir()`).
        prefilter: the model's fitted prefilter, applied to whole slices in HU before the network
            (float32, in torch, whatever the engine); None when the model has none.
        texture: the model's residual texture (`radiomicgan.residual_texture`), added to the network's
            output, each slice's drawn from a seed of its input values; None: none (the model has
            none, or `settings.texture` is off).
        runner: what runs the generator, in which precision: chosen when the harmonizer is made from
            `settings.precision` and `settings.engine` (`runner.choose_runner`), never changed after.
        announced: `announce` has logged what runs.
        overflow_warned: a mixed-precision batch overflowed and was redone in fp32 (said once).

    Raises:
        ConfigError: "onnx" where it cannot run (not installed, a GPU, mixed precision, a model built
            in memory, a generator with no export).
    """

    generator: Generator
    metadata: ModelMetadata
    device: torch.device
    settings: HarmonizeConfig = field(default_factory=HarmonizeConfig)
    model_id: str = ""
    source: ModelSource | None = None
    onnx_cache: Path | None = None
    prefilter: nn.Module | None = None
    texture: ResidualTexture | None = None
    runner: Runner = field(init=False)
    announced: bool = field(default=False, init=False)
    overflow_warned: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        use_fast_layout(self.generator, self.device)
        self.runner = choose_runner(
            self.generator,
            self.device,
            precision=self.settings.precision,
            engine=self.settings.engine,
            model_id=self.model_id,
            onnx_cache=self.onnx_cache,
            run=self._harmonize_probe,
        )

    @classmethod
    def load(
        cls, path: str | Path, settings: HarmonizeConfig | None = None, *, onnx_cache: Path | None = None
    ) -> Harmonizer:
        """Load a run folder or model file (safetensors; pickles are refused) and choose its runner.

        With ONNX Runtime ("auto" on a CPU, or "onnx") this exports the generator the first time (cached;
        about 10 s for the VGG-19 U-Net): a caller with input to check checks it before loading.

        Args:
            path: a run folder or a .safetensors model file.
            settings: how the model runs (default `HarmonizeConfig()`).
            onnx_cache: where ONNX exports are cached.

        Raises:
            InputError: not a radiomicgan model file, or unreadable; "cuda" without a GPU.
            ConfigError: as the class.
        """
        target = resolve_model_path(path).resolve()
        return cls.from_source(ModelSource(target, settings or HarmonizeConfig()), onnx_cache=onnx_cache)

    @classmethod
    def from_source(cls, source: ModelSource, *, onnx_cache: Path | None = None) -> Harmonizer:
        """Load the model file `source` names, with its settings (how cluster workers load it again).

        Raises:
            As `load`.
        """
        torch_device = resolve_device(source.settings.device)
        generator, metadata = load_model(source.path, torch_device)
        prefilter = load_prefilter(source.path, metadata, torch_device)
        texture = load_texture(source.path, metadata) if source.settings.texture else None
        digest = model_digest(source.path)
        return cls(
            generator, metadata, torch_device, source.settings, digest, source, onnx_cache, prefilter, texture
        )

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
        return (
            f"model {self.model_id or '(in memory)'}: {meta.method}, prefilter "
            f"{meta.model.get('prefilter', 'none')}, {meta.epochs} epochs, last training window "
            f"{list(meta.training_window_hu)} HU; {self._texture_text()}; harmonizing "
            f"{list(self.window_hu)} HU ({self.settings.window_mode}) on {self.device.type}, "
            f"{self.runner.describe()}"
        )

    def _texture_text(self) -> str:
        if self.texture is not None:
            return f"residual texture x{self.texture.gain:g}"
        return "no texture" if self.metadata.texture is None else "residual texture off"

    def _warn_beyond_training_window(self) -> None:
        low, high = self.window_hu
        trained_low, trained_high = self.metadata.training_window_hu
        if low < trained_low or high > trained_high:
            log.warning(
                "the model's last training window was [%d, %d] HU; it harmonizes [%d, %d] HU, beyond it "
                "(--window training keeps to it)",
                trained_low, trained_high, low, high,
            )  # fmt: skip

    @property
    def window_hu(self) -> Window:
        """The HU window inference standardizes."""
        return (
            self.metadata.training_window_hu
            if self.settings.window_mode == "training"
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
        self.check_spacing(volume.source_path or Path("<volume>"), pixel_spacing(volume.spacing_zyx_mm))
        return self.harmonize_volume(volume, progress=progress)

    def harmonize_volume(self, volume: Volume, *, progress: bool = False) -> Volume:
        """`__call__` without the spacing check, for a caller that made it (`inference.series`)."""
        spacing_mm = pixel_spacing(volume.spacing_zyx_mm)
        self.announce()
        out = np.empty_like(volume.hu)
        batch_size = self.settings.batch_size
        starts = range(0, volume.shape[0], batch_size)
        bar = progress_bar(starts, desc="harmonize", unit="batch", enabled=progress, log_every="never")
        for start in bar:
            stop = start + batch_size
            out[start:stop] = self.harmonize_slices(volume.hu[start:stop], spacing_mm)
        return volume.with_hu(out)

    def check_spacing(self, where: Path, spacing_mm: tuple[float, float]) -> None:
        """Warn about, or refuse, a series whose pixels differ in size from the model's.

        Raises:
            InputError: beyond `SpacingTolerance.refuse`, without `resample` or `force`.
        """
        check_model_spacing(self.metadata, self.settings, where, spacing_mm)

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
        if not (self.settings.resample and spacing_mm and geometry):
            return None
        return geometry.pixel_spacing_mm if needs_resampling(spacing_mm, geometry.pixel_spacing_mm) else None

    def _harmonize_on_grid(self, hu: NDArray[np.float32]) -> NDArray[np.float32]:
        """`harmonize_slices` on the slices' own grid, by the runner; a mixed-precision batch whose
        output is not finite is redone in fp32."""
        return self._harmonize(hu, self.runner, probe=False)

    def _harmonize_probe(self, runner: Runner) -> NDArray[np.float32]:
        # For `choose_runner`'s checks: no fallback, a non-finite output must count against the dtype.
        # The network sees pixels, not millimetres: the probe runs on the grid it is made on.
        return self._harmonize(probe_slices(self.window_hu), runner, probe=True)

    def _harmonize(self, hu: NDArray[np.float32], runner: Runner, *, probe: bool) -> NDArray[np.float32]:
        """The harmonized slices; a probe (comparing runners) has no fp32 fallback and no texture."""
        window = self.window_hu
        multiple = self.generator.size_multiple
        dtype = runner.autocast_dtype
        network_input = hu if self.prefilter is None else prefilter_slices(self.prefilter, hu, self.device)
        predicted = harmonize_slices_hu(runner.module, network_input, window, self.device, multiple, dtype)
        if not probe and dtype is not None and not np.isfinite(predicted).all():
            # fp16 can overflow on slices unlike the probe: this batch again in fp32, the runner kept.
            if not self.overflow_warned:
                self.overflow_warned = True
                log.warning(
                    "%s overflowed on a batch of slices; such batches are redone in fp32",
                    precision_name(dtype),
                )
            predicted = harmonize_slices_hu(self.generator, network_input, window, self.device, multiple)
        if not probe and self.texture is not None:
            predicted = predicted + self.texture.synthesize(predicted, [slice_seed(one) for one in hu])
        return self._finish(hu, predicted)

    def _finish(self, hu: NDArray[np.float32], predicted: NDArray[np.float32]) -> NDArray[np.float32]:
        """Integer HU within what CT stores, and the input where it lies outside the window."""
        window = self.window_hu
        predicted = np.clip(np.rint(predicted), *DICOM_HU_RANGE)
        outside = (hu < window[0]) | (hu > window[1])  # not standardized: the input stays as it was
        return np.where(outside, hu, predicted).astype(np.float32)
