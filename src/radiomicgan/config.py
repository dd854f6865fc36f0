"""Every knob of the toolkit in one typed place, with the paper's values as defaults.

Each section is a frozen dataclass. A YAML file overrides any field (unknown keys are errors), and
command-line options override the file. Values are validated once, here, when a section is built.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import yaml

from radiomicgan.errors import ConfigError
from radiomicgan.reconstruction import parse_reconstruction
from radiomicgan.windowing import WindowConfig as WindowConfig  # beside the schedules it names; re-exported

T = TypeVar("T")


# --- simulation (paired kernels from one noisy sinogram) -------------------------------------------


@dataclasses.dataclass(frozen=True)
class SimulationConfig:
    """How `simulate` makes paired kernel series.

    The standard kernel is the sharp one, as the paper's Bl64 is sharper than its non-standard
    Bl57 and Br40 (Sec. 3.1). A series is a kernel ("smooth": FBP) or a kernel with an iterative
    strength ("smooth+ir3"; `radiomicgan.reconstruction`).
    """

    kernels: tuple[str, ...] = ("smooth", "medium", "sharp")  # series, FBP or KERNEL+irN
    standard_kernel: str = "sharp"  # the kernel every other is harmonized to (paper: Bl64)
    slices: int = 8  # number of slices simulated (taken around the source's centre)
    size_px: int = 256  # in-plane matrix size of the simulated slices
    # unattenuated photons per detector bin and angle; 2e5 gives ~10/21/27 HU noise (smooth/medium/
    # sharp) in the phantom's heart at 0.7 mm pixels, a routine chest dose (docs/kernels.md); inf: none
    photons_per_ray: float = 2.0e5
    angles: int = 0  # projections over 180 degrees; 0 means ceil(pi/2 * size_px), enough for no streaks
    pixel_mm: float = 0.0  # in-plane pixel size; 0 keeps the source's field of view (phantom: 360 mm)
    slice_mm: float = 0.0  # slice spacing; 0 keeps the source's (phantom: 2.5 mm)
    seed: int = 0  # phantom anatomy and noise; >= 0
    retest: bool = False  # also reconstruct the standard kernel from an independent noise realization
    jobs: int = 0  # worker processes for slices; 0 means all cores
    # series name (one of kernels, or f"{standard_kernel}_retest") -> fraction of photons_per_ray in
    # (0, 1], drawn by binomial thinning of the full-dose counts; a series not named has full dose
    doses: dict[str, float] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.kernels:
            raise ConfigError("simulation: at least one kernel is needed")
        for option, name in [
            *(("kernels", k) for k in self.kernels),
            ("standard kernel", self.standard_kernel),
        ]:
            try:
                parse_reconstruction(name)
            except ConfigError as exc:
                raise ConfigError(f"simulation: {option}: {exc}") from None
        if len(set(self.kernels)) < len(self.kernels):
            raise ConfigError(f"simulation: a kernel is named twice in {', '.join(self.kernels)}")
        if self.retest and self.standard_kernel not in self.kernels:
            raise ConfigError(
                f"simulation: standard kernel {self.standard_kernel!r} is not among {self.kernels}"
            )
        _require(self.slices >= 1, "simulation: slices must be >= 1")
        _require(16 <= self.size_px <= 2048, "simulation: size_px must lie in [16, 2048]")
        _require(self.photons_per_ray > 0, "simulation: photons_per_ray must be > 0")
        _require(self.angles >= 0 and self.jobs >= 0, "simulation: angles and jobs must be >= 0")
        _require(self.seed >= 0, "simulation: seed must be >= 0")
        _require(self.pixel_mm >= 0 and self.slice_mm >= 0, "simulation: pixel_mm and slice_mm must be >= 0")
        self._check_doses()

    def series_names(self) -> tuple[str, ...]:
        """The series a simulation makes: the kernels, then f"{standard}_retest" with `retest`."""
        return (*self.kernels, *((f"{self.standard_kernel}_retest",) if self.retest else ()))

    def _check_doses(self) -> None:
        if not isinstance(self.doses, dict):
            raise ConfigError(f"simulation: doses must map series names to factors, got {self.doses!r}")
        names = self.series_names()
        for name, factor in self.doses.items():
            if name not in names:
                raise ConfigError(
                    f"simulation: dose for unknown series {name!r} (series: {', '.join(names)})"
                )
            is_number = isinstance(factor, int | float) and not isinstance(factor, bool)
            if not (is_number and 0.0 < factor <= 1.0):
                raise ConfigError(
                    f"simulation: dose of {name!r} must be a fraction of full dose in (0, 1], got {factor!r}"
                )


# --- models (generator, discriminator, encoder weights) --------------------------------------------


PREFILTERS = ("auto", "none", "wiener", "spectral")  # model.prefilter; "auto": the method's own
TEXTURES = ("auto", "none", "residual")  # model.texture; "auto": the method's own
NORMS = ("batch", "instance", "none")  # `radiomicgan.nets.common.norm_layer` builds each


@dataclasses.dataclass(frozen=True)
class VGGUNetConfig:
    """RadiomicGAN's generator, the VGG-19 U-Net (`radiomicgan.nets.vgg_unet`, paper Sec. 2.1)."""

    encoder_weights: str = "auto"  # "auto", "imagenet", "none", or a VGG-19 .pth/.safetensors file
    freeze_encoder: bool | None = None  # None: frozen iff pretrained weights were loaded (Sec. 2.1)
    skip_width: float = 1.0  # skip conv width / VGG group width (paper: 1, "512-by-512"; authors' code: 0.5)
    upsample: str = "transpose"  # decoder: "transpose" (4x4 stride-2, pix2pix) or "bilinear" + 3x3 conv
    norm: str = "batch"  # skip convs and decoder (pix2pix; the authors' code); the VGG convs have none
    # "residual" (default, ours): the VGG U-Net predicts a correction added to its input, starting from
    # the identity, as Choe et al.'s CNN does; "sigmoid": it predicts the windowed image (the paper's
    # head). On the lung CT benchmark (README, Results) the residual head reached a validation MAE of
    # 9.5 HU in 20 CPU minutes, the sigmoid head 58 HU.
    output: str = "residual"
    lr: float = 1e-4  # Adam's learning rate when `train.lr` is unset (Sec. 3.1)

    def __post_init__(self) -> None:
        _require_rate(self.lr, "model.vgg_unet")
        _require(
            bool(self.encoder_weights),
            "model.vgg_unet: encoder_weights must be auto, imagenet, none or a path",
        )
        _require(0.0 < self.skip_width <= 2.0, "model.vgg_unet: skip_width must lie in (0, 2]")
        _require(
            self.upsample in ("transpose", "bilinear"),
            "model.vgg_unet: upsample must be transpose or bilinear",
        )
        _require(self.norm in NORMS, "model.vgg_unet: norm must be batch, instance or none")
        _require(self.output in ("sigmoid", "residual"), "model.vgg_unet: output must be sigmoid or residual")


@dataclasses.dataclass(frozen=True)
class UNetConfig:
    """pix2pix's U-Net generator, trained from scratch (`radiomicgan.nets.unet`; pix2pix, GANai, STAN-CT)."""

    base_channels: int = 64  # first-layer width (pix2pix ngf)
    downs: int = 8  # downsamplings (pix2pix unet_256): H and W multiples of 2**downs
    norm: str = "batch"  # pix2pix's default
    dropout: float = 0.5  # in the decoder's 512-channel blocks: pix2pix's noise source in the generator
    # Adam's learning rate when `train.lr` is unset: RadiomicGAN's, for a like-for-like comparison
    # (pix2pix's own is 2e-4; docs/baselines.md)
    lr: float = 1e-4

    def __post_init__(self) -> None:
        _require_rate(self.lr, "model.unet")
        _require(self.base_channels >= 1, "model.unet: base_channels must be >= 1")
        _require(1 <= self.downs <= 8, "model.unet: downs must lie in [1, 8]")
        _require(self.norm in NORMS, "model.unet: norm must be batch, instance or none")
        _require(0.0 <= self.dropout < 1.0, "model.unet: dropout must lie in [0, 1)")


@dataclasses.dataclass(frozen=True)
class ResidualCNNConfig:
    """Choe et al. 2019's residual CNN, the "choe" generator (`radiomicgan.nets.residual_cnn`)."""

    channels: int = 64  # Choe et al.: 64 feature maps per layer
    layers: int = 6  # Choe et al.: 6 conv layers, 3x3
    lr: float = 1e-4  # Adam's learning rate when `train.lr` is unset (Choe et al.'s)

    def __post_init__(self) -> None:
        _require_rate(self.lr, "model.choe")
        _require(self.channels >= 1, "model.choe: channels must be >= 1")
        _require(self.layers >= 2, "model.choe: layers must be >= 2 (an input and an output layer)")


@dataclasses.dataclass(frozen=True)
class ResidualUNetConfig:
    """A small residual U-Net (ours), the "residual_unet" generator (`radiomicgan.nets.residual_unet`)."""

    # first level's width; each level down doubles it. 8 since session 16 (issue 21; 16 before): on
    # the lung CT's FBP, low-dose and iterative pairs, 20 CPU minutes of width 8 reproduced as many
    # features as width 16 within the spread of its training runs (PSNR 0.0-0.2 dB apart) at a quarter
    # of the FLOPs, and harmonize took 2.2-2.3x the Wiener filter's time against 3.8-4.0x (README,
    # Quality per FLOP)
    base_channels: int = 8
    levels: int = 5  # stride-2 downsamplings: H and W multiples of 2**levels
    convs: int = 2  # 3x3 convs per level and side
    # batch: measured on the lung CT's iterative scenario (README, Quality per FLOP), without a norm
    # the network barely left the identity in 20 x 22 steps, with batch norm it learned as the VGG's
    norm: str = "batch"
    # Adam's learning rate when `train.lr` is unset. Measured on the same scenario: at 1e-3 the
    # network reproduced 68 / 116 / 51 more features per HU range than at 1e-4, at 0.66 dB less PSNR
    lr: float = 1e-3

    def __post_init__(self) -> None:
        _require_rate(self.lr, "model.residual_unet")
        _require(self.base_channels >= 1, "model.residual_unet: base_channels must be >= 1")
        _require(1 <= self.levels <= 6, "model.residual_unet: levels must lie in [1, 6]")
        _require(self.convs >= 1, "model.residual_unet: convs must be >= 1")
        _require(self.norm in NORMS, "model.residual_unet: norm must be batch, instance or none")


@dataclasses.dataclass(frozen=True)
class PatchGANConfig:
    """pix2pix's PatchGAN discriminator (`radiomicgan.nets.patchgan`; also STAN-CT's 3-channel one)."""

    base_channels: int = 64  # first-layer width (pix2pix ndf)
    layers: int = 3  # stride-2 convs; 3 gives the 70x70 receptive field (1: 16x16, 4: 142x142)
    norm: str = "batch"  # pix2pix's default

    def __post_init__(self) -> None:
        _require(self.base_channels >= 1, "model.patchgan: base_channels must be >= 1")
        _require(1 <= self.layers <= 5, "model.patchgan: layers must lie in [1, 5]")
        _require(self.norm in NORMS, "model.patchgan: norm must be batch, instance or none")


# the `ModelConfig` section each learned generator's builder reads (`radiomicgan.nets`; the fitted
# generators read none): its network's knobs and the learning rate it trains at by default
GENERATOR_SECTIONS = {
    "radiomicgan": "vgg_unet",
    "unet": "unet",
    "choe": "choe",
    "residual_unet": "residual_unet",
}


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Which networks `radiomicgan.nets` builds, and one section of knobs per network.

    Model names are checked by the registry in `radiomicgan.nets`, which knows the builders. Each
    builder reads its own section only: `generator: unet` reads `unet`, whatever `vgg_unet` says.
    """

    # "residual_unet" (ours): the small residual U-Net, 30 GFLOP per 512 px slice. In 20 CPU minutes it
    # reproduced as many features as the paper's VGG-19 U-Net ("radiomicgan", 429 GFLOP, Sec. 2.1)
    # on FBP pairs and more on iterative ones (README, Quality per FLOP), and it harmonizes ~7x
    # faster. "radiomicgan" stays for the paper's network; "unet": pix2pix's U-Net; "choe": Choe's CNN
    generator: str = "residual_unet"
    discriminator: str = "patchgan"  # pix2pix 70x70 PatchGAN conditioned on the input (Sec. 2.1, [14])
    # "wiener" (ours): the least-squares linear kernel conversion (the Wiener filter, `baselines.wiener`
    # settings) is fitted on the training pairs and applied to whole slices before the network, which
    # then learns what no linear filter can (`radiomicgan.training.prefilter`); "none": the network sees
    # the input; "auto": each method's own (`radiomicgan.methods`): wiener for RadiomicGAN, which with it
    # beat the tuned Wiener filter on the lung CT benchmark (README, Results), none for the baselines,
    # which stay as their papers describe them. "spectral" (ours): the unpaired linear filter
    # (`methods.spectral`, `baselines.spectral` settings) in the same place: CycleGAN's own.
    prefilter: str = "auto"
    # "residual" (ours): at the end of paired training the held-out residual's texture (SD per HU
    # class, noise spectrum: `radiomicgan.residual_texture`) goes into the model file, and harmonize
    # adds an independent texture of those statistics, times texture_gain, to the output: what a pixel
    # loss cannot predict, a repeat scan's share of noise. "auto": residual for RadiomicGAN, none for
    # the baselines (as their papers) and unpaired runs (no pairs to measure it on)
    texture: str = "auto"
    # on the lung CT's iterative pairs 0.6 reproduced more features than 0.8 in every range (README)
    texture_gain: float = 0.6
    # texture at every density (3071: the top of CT's range). Measured against 250 HU (no texture in
    # bone), the default until session 14: bone features within about one SD on the lung CT (+7 and
    # -11 on two seeds of its iterative pairs, -2 on its FBP pairs), +155 on the phantom's iterative
    # pairs (1058 against 902), whose uniform bone holds noise and little else (README)
    texture_max_hu: float = 3071.0
    vgg_unet: VGGUNetConfig = dataclasses.field(default_factory=VGGUNetConfig)  # generator "radiomicgan"
    unet: UNetConfig = dataclasses.field(default_factory=UNetConfig)  # generator "unet"
    choe: ResidualCNNConfig = dataclasses.field(default_factory=ResidualCNNConfig)  # generator "choe"
    residual_unet: ResidualUNetConfig = dataclasses.field(default_factory=ResidualUNetConfig)
    patchgan: PatchGANConfig = dataclasses.field(default_factory=PatchGANConfig)  # discriminator "patchgan"

    def __post_init__(self) -> None:
        _require(self.prefilter in PREFILTERS, "model: prefilter must be auto, none, wiener or spectral")
        _require(self.texture in TEXTURES, "model: texture must be auto, none or residual")
        _require(0 < self.texture_gain <= 2, "model: texture_gain must lie in (0, 2]")
        _require(-1024 < self.texture_max_hu <= 3071, "model: texture_max_hu must lie in (-1024, 3071]")


# Release 0.3.0 wrote the model section flat, one union of every network's knobs, and such sections
# live on in run folders' config.yaml, in model files' metadata and in users' YAML files. `build` turns
# a flat layer into sections: each flat key goes to every section whose network read it in 0.3.0
# (`radiomicgan.nets`' builders then), so an old file builds the very same networks.
FLAT_MODEL_KEYS: dict[str, tuple[str, ...]] = {
    "encoder_weights": ("vgg_unet.encoder_weights",),
    "freeze_encoder": ("vgg_unet.freeze_encoder",),
    "skip_width": ("vgg_unet.skip_width",),
    "upsample": ("vgg_unet.upsample",),
    "output": ("vgg_unet.output",),
    "norm": ("vgg_unet.norm", "unet.norm", "patchgan.norm"),
    "base_channels": ("unet.base_channels", "choe.channels", "patchgan.base_channels"),
    "unet_downs": ("unet.downs",),
    "choe_layers": ("choe.layers",),
    "discriminator_layers": ("patchgan.layers",),
}

_FLAT_KEY_SECTIONS = {target.split(".")[0] for targets in FLAT_MODEL_KEYS.values() for target in targets}


def nest_flat_model_keys(layer: dict[str, Any]) -> dict[str, Any]:
    """A model layer with release 0.3.0's flat keys (`FLAT_MODEL_KEYS`) moved into their sections.

    A layer is either flat or nested: one that mixes both would leave it unclear which value wins.
    Flat keys whose value is None set nothing (as `build` ignores None) and are dropped. A flat layer
    that names no generator gets 0.3.0's default one, the VGG-19 U-Net ("radiomicgan"), so that it
    still builds the network it built then.

    Raises:
        ConfigError: flat keys beside sections in the same layer.
    """
    given = {k: v for k, v in layer.items() if k in FLAT_MODEL_KEYS and v is not None}
    nested = {k: v for k, v in layer.items() if k not in FLAT_MODEL_KEYS}
    sections = sorted(k for k, v in nested.items() if v is not None and k in _FLAT_KEY_SECTIONS)
    if given and sections:
        spelled = "; ".join(f"{k} -> {', '.join(FLAT_MODEL_KEYS[k])}" for k in given)
        raise ConfigError(
            f"model: release 0.3.0's flat keys cannot be mixed with the sections {', '.join(sections)}"
            f" in one file or layer; write them nested ({spelled})"
        )
    for key, value in given.items():
        for target in FLAT_MODEL_KEYS[key]:
            section, name = target.split(".")
            nested[section] = {**(nested.get(section) or {}), name: value}
    if given and nested.get("generator") is None:
        nested["generator"] = "radiomicgan"
    return nested


# --- where independent tasks run (series to harmonize, ROIs to extract) ----------------------------

BACKENDS = ("local", "dask")  # `radiomicgan.cluster` runs tasks on each


@dataclasses.dataclass(frozen=True)
class BackendConfig:
    """Where `harmonize` spreads its series and `evaluate` its ROI extractions.

    "local" is this machine as before (harmonize: one series after another; evaluate: `jobs` processes).
    "dask" is a Dask cluster, an optional extra (`pip install radiomicgan[cluster]`): the running
    scheduler at `scheduler`, or a LocalCluster of `workers` processes started for the run.
    """

    name: str = "local"  # "local" or "dask"
    scheduler: str = ""  # a running Dask scheduler, e.g. tcp://host:8786; empty starts a LocalCluster
    workers: int = 0  # LocalCluster worker processes, one thread each; 0 means one per core

    def __post_init__(self) -> None:
        _require(self.name in BACKENDS, f"backend: must be one of {', '.join(BACKENDS)}, got {self.name!r}")
        _require(self.workers >= 0, "backend: workers must be >= 0")
        _require(
            not self.scheduler or self.name == "dask",
            "backend: a scheduler address needs the dask backend (--backend dask)",
        )


# --- a series' pixel spacing against the model's (`radiomicgan.spacing`) ---------------------------


@dataclasses.dataclass(frozen=True)
class SpacingTolerance:
    """How far a series' pixel size may stray from the model's training pixels (ratio, either way).

    Measured by benchmarks/spacing.py on the lung quality benchmark (benchmarks/results/spacing_lung1.json):
    of its PSNR gain over the input at its own spacing, the default model kept 94 % and 79 % at 0.9x
    and 1.1x the training pixel size, 74 % at 0.8x, 5 % at 1.2x, and fell below the input at 1.3x;
    with --resample it kept 85-118 % at every ratio from 0.7x to 1.4x.
    """

    same: float = 1.01  # closer than this, --resample does nothing (rounding of a header's spacing)
    warn: float = 1.12  # beyond: one warning line naming both spacings (10 % keeps working quietly)
    refuse: float = 1.2  # beyond: refused unless --resample or --force (the gain is gone at 1.2x)

    def __post_init__(self) -> None:
        _require(
            1.0 <= self.same <= self.warn <= self.refuse,
            "spacing tolerance: needs 1 <= same <= warn <= refuse",
        )


# --- evaluation (radiomic reproducibility, image quality) ------------------------------------------


@dataclasses.dataclass(frozen=True)
class FeatureConfig:
    """How PyRadiomics features are extracted: settings file, where (processes, cluster), cache."""

    settings_path: str = ""  # PyRadiomics parameter YAML; empty means the shipped evaluate/radiomics_2d.yaml
    # feature cache folder; empty: the user's (`evaluate.cache.default_cache_dir`); no cache: cache=False
    cache_dir: str = ""
    jobs: int = 0  # worker processes for extraction (local, or a dask LocalCluster); 0 means all cores
    backend: str = "local"  # "local" (`jobs` processes) or "dask" (see BackendConfig)
    scheduler: str = ""  # the dask backend's scheduler address; empty starts a LocalCluster of `jobs`

    def __post_init__(self) -> None:
        _require(self.jobs >= 0, "features: jobs must be >= 0")
        _ = self.cluster  # a bad backend or scheduler fails here, once, like every other knob

    @property
    def cluster(self) -> BackendConfig:
        """Where extraction runs, as the backend section `radiomicgan.cluster` takes."""
        return BackendConfig(name=self.backend, scheduler=self.scheduler, workers=self.jobs)


@dataclasses.dataclass(frozen=True)
class EvaluationConfig:
    """The paper's reproducibility protocol (Sec. 3.1) and the choices it leaves open."""

    # the paper's three HU ranges (Table 1)
    hu_ranges: tuple[tuple[float, float], ...] = ((-800.0, -300.0), (-100.0, 250.0), (300.0, 800.0))
    ccc_threshold: float = 0.85  # a feature is reproducible when CCC > 0.85 (Sec. 3.1, after Choe et al.)
    n_rois: int = 50  # ROIs per HU range and repeat (not given by the paper)
    repeats: int = 5  # ROI samplings; Table 1 reports mean ± SD over them (count not given by the paper)
    roi_size_px: int = 64  # side of the square ROI box (not given by the paper)
    context_px: int = 24  # image margin around the box given to the filters (>= 3 sigma of a 5 mm LoG)
    body_threshold_hu: float = -500.0  # body mask: HU above this, largest component, holes filled
    min_body_fraction: float = 0.9  # a box needs its centre and this share of its pixels in the body
    min_roi_pixels: int = 10  # smaller range masks are skipped (PyRadiomics fails or returns NaN on them)
    max_draws_per_roi: int = 20  # box draws allowed per wanted ROI before a range settles for fewer
    quality_range_hu: tuple[float, float] = (-1024.0, 1000.0)  # PSNR/SSIM clip range (Sec. 3.1)
    # whole-image level: at most this many slices, evenly spread (0: all, as the paper); a 512² slice
    # takes about 5 s per image to extract on one core, so large test sets may want a cap (ours)
    whole_image_slices: int = 0
    # ComBat's empirical Bayes priors (Johnson et al.; neuroCombat's default eb=True). Off (ours): among
    # 1,497 radiomic features a few whose reference barely varies get batch variances ~1e7 and inflate
    # the inverse-gamma prior, shrinking every feature (measured on the lung CT, README Results)
    combat_empirical_bayes: bool = False
    # Small samples (ours). A CCC of 0.85 measured on n samples scatters over [0.50, 0.95] at n = 10 and
    # [0.71, 0.92] at n = 30 (95 % of 20,000 simulated samples; var(atanh CCC) ~ 1/(n - 2), Lin 1989):
    # below 30 ROIs per range and repeat, or 30 slices at the whole-image level, counts are warned about.
    min_rois_warning: int = 30
    min_slices_warning: int = 30
    # With fewer repeats than this, a count's SD over repeats says little: the report gives a bootstrap
    # 95 % percentile interval instead (ROIs resampled within each repeat; slices at the whole-image
    # level). 1,000 resamples: Efron & Tibshirani's order for percentile intervals (ours).
    bootstrap_below_repeats: int = 5
    bootstrap_resamples: int = 1000
    bootstrap_seed: int = 0
    seed: int = 0
    features: FeatureConfig = dataclasses.field(default_factory=FeatureConfig)

    def __post_init__(self) -> None:
        ranges = tuple((float(lo), float(hi)) for lo, hi in self.hu_ranges)
        object.__setattr__(self, "hu_ranges", ranges)
        object.__setattr__(self, "quality_range_hu", tuple(float(v) for v in self.quality_range_hu))
        _require(bool(ranges) and all(lo < hi for lo, hi in ranges), "evaluation: hu_ranges need lo < hi")
        _require(-1.0 <= self.ccc_threshold < 1.0, "evaluation: ccc_threshold must lie in [-1, 1)")
        _require(self.n_rois >= 3 and self.repeats >= 1, "evaluation: n_rois must be >= 3, repeats >= 1")
        _require(8 <= self.roi_size_px <= 1024, "evaluation: roi_size_px must lie in [8, 1024]")
        _require(self.context_px >= 0 and self.max_draws_per_roi >= 1, "evaluation: bad context/draws")
        _require(0.0 < self.min_body_fraction <= 1.0, "evaluation: min_body_fraction must lie in (0, 1]")
        _require(self.min_roi_pixels >= 4, "evaluation: min_roi_pixels must be >= 4")
        _require(self.whole_image_slices >= 0, "evaluation: whole_image_slices must be >= 0")
        _require(
            min(self.min_rois_warning, self.min_slices_warning, self.bootstrap_below_repeats) >= 0,
            "evaluation: min_rois_warning, min_slices_warning and bootstrap_below_repeats must be >= 0",
        )
        _require(self.bootstrap_resamples >= 100, "evaluation: bootstrap_resamples must be >= 100")
        lo, hi = self.quality_range_hu
        _require(lo < hi, "evaluation: quality_range_hu needs lo < hi")


# --- baselines (docs/baselines.md says why each value was chosen) ----------------------------------


@dataclasses.dataclass(frozen=True)
class ChoeConfig:
    """Choe et al. 2019's training; its network's depth is `ModelConfig.choe.layers` (model files keep it)."""

    adam_beta1: float = 0.9  # Adam's default; Choe et al. publish the learning rate (1e-4) only

    def __post_init__(self) -> None:
        _require(0.0 <= self.adam_beta1 < 1.0, "baselines.choe: adam_beta1 must lie in [0, 1)")


@dataclasses.dataclass(frozen=True)
class GanaiConfig:
    """GANai's alternating improvement (all ours: the published text gives no thresholds)."""

    d_goal: float = 0.8  # a D phase ends once D labels this share of real and synthesized patches right
    g_goal: float = 0.5  # a G phase ends once D takes this share of synthesized patches for real
    max_phase_steps: int = 5  # ... or after this many steps, so neither network stalls the other
    hard_pool: int = 2  # the G phase picks its batch among hard_pool * batch_size crops
    ensemble_decay: float = 0.9  # weight of the average against each new round's generator

    def __post_init__(self) -> None:
        # a goal above 1 is never reached: every phase then lasts max_phase_steps
        _require(self.d_goal >= 0.0 and self.g_goal >= 0.0, "baselines.ganai: d_goal and g_goal must be >= 0")
        _require(self.max_phase_steps >= 1, "baselines.ganai: max_phase_steps must be >= 1")
        _require(self.hard_pool >= 1, "baselines.ganai: hard_pool must be >= 1")
        _require(0.0 <= self.ensemble_decay < 1.0, "baselines.ganai: ensemble_decay must lie in [0, 1)")


@dataclasses.dataclass(frozen=True)
class StanCTConfig:
    """STAN-CT's latent and texture losses (all ours: the published text gives no values)."""

    latent_weight: float = 1.0  # ours: the latent term's weight beside BCE (~0.7) and 100 * L1 (~1-3)
    texture_sigma_px: float = 1.0  # ours: the blur whose residual is the texture map (noise grain ~1-2 px)
    texture_gain: float = 10.0  # ours: a 20 HU grain is 0.01 windowed units; x10: near the image's scale

    def __post_init__(self) -> None:
        _require(self.latent_weight >= 0.0, "baselines.stanct: latent_weight must be >= 0")
        # the blur reflects 3 sigma at the edges, which must stay inside the smallest crop (32 px)
        _require(0.0 < self.texture_sigma_px <= 10, "baselines.stanct: texture_sigma_px must lie in (0, 10]")
        _require(self.texture_gain >= 0.0, "baselines.stanct: texture_gain must be >= 0")


@dataclasses.dataclass(frozen=True)
class WienerConfig:
    """The least-squares conversion's lambda grid and spectrum smoothing (ours, DESIGN.md)."""

    # ours: relative lambda (x mean power) from 1e-8, almost none for noiseless pairs, to 1 (10 ** range)
    lambda_log10_range: tuple[float, float] = (-8.0, 0.0)
    lambdas_per_decade: int = 2  # ours: half-decade steps over lambda_log10_range
    # ours: box width in frequency bins over which the spectra are averaged; the kernels' ratio is
    # smooth in frequency, and 3 costs ~1 % on a 1-px shift (tests/test_linear_filter.py)
    smoothing_px: int = 3

    def __post_init__(self) -> None:
        object.__setattr__(self, "lambda_log10_range", tuple(float(v) for v in self.lambda_log10_range))
        lo, hi = self.lambda_log10_range
        _require(lo <= hi, "baselines.wiener: lambda_log10_range must be (lo, hi) with lo <= hi")
        _require(self.lambdas_per_decade >= 1, "baselines.wiener: lambdas_per_decade must be >= 1")
        _require(self.smoothing_px >= 1, "baselines.wiener: smoothing_px must be >= 1")

    @property
    def relative_lambdas(self) -> tuple[float, ...]:
        """The grid validation chooses lambda from, as multiples of the mean power spectrum."""
        lo, hi = self.lambda_log10_range
        step = 1.0 / self.lambdas_per_decade
        return tuple(float(v) for v in 10.0 ** np.arange(lo, hi + step / 2, step))


@dataclasses.dataclass(frozen=True)
class CycleGANConfig:
    """CycleGAN's objective (Zhu et al. 2017, Sec. 3-4) for unpaired training (`methods.cyclegan`)."""

    # the generator of both directions (`radiomicgan.nets`; its section in `model` sets its width). Ours:
    # Choe et al.'s residual CNN starts at the identity, where the cycle and identity losses are met. A
    # CycleGAN step on 4 crops of 64 px takes 1.5 s with its 64 channels, 0.45 s with 32 (one thread of
    # this machine's 2 cores); a forward and backward pass of the VGG-19 U-Net takes 3.3x the 64-channel
    # CNN's, and a CycleGAN step makes six
    generator: str = "choe"
    cycle_weight: float = 10.0  # lambda of the cycle-consistency L1 (Zhu et al. Sec. 4: 10)
    # identity L1 weight, x cycle_weight (Zhu et al. Sec. 5.2: 0.5 lambda). Without it G drifted: 600
    # steps on the lung CT's unpaired halves took the test slices' PSNR from 42.6 dB to 32.6
    identity_weight: float = 0.5
    pool_size: int = 50  # earlier fakes the discriminators also see (Zhu et al. Sec. 4, Shrivastava et al.)
    # the learning rate decays linearly to 0 over this last share of the run's steps (Zhu et al.: the
    # second half, 100 of 200 epochs); 0 keeps it constant
    decay_fraction: float = 0.5
    # ours: the discriminators see each crop beside its texture map (STAN-CT's: the residual after a
    # Gaussian blur of texture_sigma_px, times texture_gain). A kernel changes noise of 10-30 HU, 0.005-
    # 0.015 windowed units, which a plain PatchGAN barely told apart from anatomy on the lung CT: in
    # 200 steps its loss stayed near chance and G at the identity. 0: the crop alone, as Zhu et al.
    texture_gain: float = 10.0
    texture_sigma_px: float = 1.0

    def __post_init__(self) -> None:
        _require(bool(self.generator), "baselines.cyclegan: generator must name a generator")
        _require(
            self.cycle_weight >= 0 and self.identity_weight >= 0,
            "baselines.cyclegan: cycle_weight and identity_weight must be >= 0",
        )
        _require(self.pool_size >= 0, "baselines.cyclegan: pool_size must be >= 0")
        _require(0.0 <= self.decay_fraction <= 1.0, "baselines.cyclegan: decay_fraction must lie in [0, 1]")
        _require(self.texture_gain >= 0, "baselines.cyclegan: texture_gain must be >= 0")
        _require(0 < self.texture_sigma_px <= 10, "baselines.cyclegan: texture_sigma_px must lie in (0, 10]")


@dataclasses.dataclass(frozen=True)
class CUTConfig:
    """Contrastive unpaired translation (Park et al. 2020) for unpaired training (`methods.cut`)."""

    # the one generator (`radiomicgan.nets`, one with encoder stages): the paired default, which starts
    # at the identity, where the PatchNCE term is near its floor and only the adversarial term pulls.
    # Its width is `model.residual_unet`'s: at 8 (since session 16) every seed beat the input in every
    # range on the lung CT's iterative halves; at 16 two seeds of three fell below it in lung (README,
    # Unpaired training)
    generator: str = "residual_unet"
    nce_weight: float = 1.0  # lambda_NCE (Park et al. Sec. 4: 1 with the GAN term at 1)
    # the identity PatchNCE term on standard slices (Park et al.'s "CUT" as against "FastCUT"): it keeps
    # G from changing what is already the standard kernel
    nce_identity: bool = True
    temperature: float = 0.07  # tau of the PatchNCE softmax (Park et al. Sec. 3.1)
    patches: int = 256  # locations sampled per encoder stage and crop (Park et al.: 256)
    projection_width: int = 256  # the two-layer MLP that projects each stage's features (Park et al.: 256)
    decay_fraction: float = 0.5  # as CycleGAN's: lr decays linearly to 0 over this last share of steps
    # ours: a kernel or reconstruction change keeps the local mean HU (a kernel's unit DC gain; PWLS
    # keeps the mean of regions, docs/kernels.md), which PatchNCE cannot see: it compares features up
    # to their scale. So G(x) is held to x after a Gaussian blur of density_sigma_px, by an L1 of this
    # weight (pix2pix's L1 weight). Without it, 500 steps on the lung CT's unpaired FBP halves moved
    # the held-out local mean by 9-16 HU
    density_weight: float = 100.0
    density_sigma_px: float = 3.0
    # as CycleGAN's: the discriminator sees each crop beside its texture map (`baselines.cyclegan`)
    texture_gain: float = 10.0
    texture_sigma_px: float = 1.0
    # ours: G's outputs are held to the target set's texture level (`methods.texture_level`): the mean
    # squared log ratio of their band SDs (differences of Gaussian blurs of `level_sigmas_px`) to the
    # target crops', per tissue class (local mean, a blur of density_sigma_px, in one of
    # `level_ranges_hu`: lung parenchyma, soft tissue), times this weight. Off by default: at 10, on the
    # lung CT's iterative halves, every seed got the standard texture level, but bone features fell
    # ~200 below the input and the local bias doubled to 6 HU (README, Unpaired training)
    level_weight: float = 0.0
    level_sigmas_px: tuple[float, ...] = (1.0, 2.0, 4.0)
    level_ranges_hu: tuple[tuple[float, float], ...] = ((-900.0, -500.0), (-100.0, 100.0))

    def __post_init__(self) -> None:
        _require(bool(self.generator), "baselines.cut: generator must name a generator")
        _require(self.nce_weight >= 0, "baselines.cut: nce_weight must be >= 0")
        _require(0 < self.temperature <= 1, "baselines.cut: temperature must lie in (0, 1]")
        _require(self.patches >= 2, "baselines.cut: patches must be >= 2 (a positive and a negative)")
        _require(self.projection_width >= 1, "baselines.cut: projection_width must be >= 1")
        _require(0.0 <= self.decay_fraction <= 1.0, "baselines.cut: decay_fraction must lie in [0, 1]")
        _require(self.density_weight >= 0, "baselines.cut: density_weight must be >= 0")
        _require(0 < self.density_sigma_px <= 10, "baselines.cut: density_sigma_px must lie in (0, 10]")
        _require(self.texture_gain >= 0, "baselines.cut: texture_gain must be >= 0")
        _require(0 < self.texture_sigma_px <= 10, "baselines.cut: texture_sigma_px must lie in (0, 10]")
        _require(self.level_weight >= 0, "baselines.cut: level_weight must be >= 0")
        _require(
            bool(self.level_sigmas_px)
            and all(0 < s <= 10 for s in self.level_sigmas_px)
            and list(self.level_sigmas_px) == sorted(set(self.level_sigmas_px)),
            "baselines.cut: level_sigmas_px must be increasing blurs in (0, 10] px",
        )
        _require(
            all(len(r) == 2 and r[0] < r[1] for r in self.level_ranges_hu),
            "baselines.cut: level_ranges_hu must be [low, high] HU pairs with low < high",
        )


@dataclasses.dataclass(frozen=True)
class SpectralConfig:
    """The unpaired linear filter sqrt(NPS_target / NPS_source) (`radiomicgan.noise_spectrum`; all ours)."""

    patch_px: int = 32  # square patches the noise power spectrum is averaged over (22 mm at 0.7 mm)
    tissue_range_hu: tuple[float, float] = (-200.0, 200.0)  # patches whose mean lies here (fat to muscle)
    # of those, the flattest share (anatomy: SD after a plane and a blur) is kept, so that edges of
    # anatomy add little power; chosen in each kernel's patches separately
    uniform_fraction: float = 0.5
    floor_db: float = -30.0  # a frequency is reliable where both spectra lie above their peak + floor_db
    # the noise level ratio (dose, patient size: not a kernel's) is fitted on the band's rings below this
    level_fit_cycles: float = 0.15
    max_gain: float = 10.0  # the filter's gain is kept within [1 / max_gain, max_gain]
    # width, in cycles per pixel, over which the gain returns to 1 beyond the reliable band's upper edge
    taper_cycles: float = 0.1
    # what the filter changes is kept within about this of the input, HU (`nets.frequency_filter`);
    # 0: linear. The gain comes from noise; at a strong edge it overshoots: on the lung CT's iterative
    # halves 10.5 HU of local bias and -4.4 dB linear, 3.5 HU and +0.3 dB at 15 (session 17, README)
    detail_limit_hu: float = 15.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "tissue_range_hu", tuple(float(v) for v in self.tissue_range_hu))
        _require(8 <= self.patch_px <= 512, "baselines.spectral: patch_px must lie in [8, 512]")
        lo, hi = self.tissue_range_hu
        _require(lo < hi, "baselines.spectral: tissue_range_hu needs lo < hi")
        _require(
            0.0 < self.uniform_fraction <= 1.0, "baselines.spectral: uniform_fraction must lie in (0, 1]"
        )
        _require(self.floor_db < 0, "baselines.spectral: floor_db must be < 0")
        _require(self.max_gain > 1, "baselines.spectral: max_gain must be > 1")
        _require(
            0 < self.level_fit_cycles <= 0.5, "baselines.spectral: level_fit_cycles must lie in (0, 0.5]"
        )
        _require(0 < self.taper_cycles <= 0.5, "baselines.spectral: taper_cycles must lie in (0, 0.5]")
        _require(self.detail_limit_hu >= 0, "baselines.spectral: detail_limit_hu must be >= 0")


@dataclasses.dataclass(frozen=True)
class BaselinesConfig:
    """The knobs of each baseline that the published methods leave open (docs/baselines.md)."""

    choe: ChoeConfig = dataclasses.field(default_factory=ChoeConfig)
    ganai: GanaiConfig = dataclasses.field(default_factory=GanaiConfig)
    stanct: StanCTConfig = dataclasses.field(default_factory=StanCTConfig)
    wiener: WienerConfig = dataclasses.field(default_factory=WienerConfig)
    cyclegan: CycleGANConfig = dataclasses.field(default_factory=CycleGANConfig)  # unpaired learned model
    cut: CUTConfig = dataclasses.field(default_factory=CUTConfig)  # unpaired, one-sided, contrastive
    spectral: SpectralConfig = dataclasses.field(default_factory=SpectralConfig)  # unpaired NPS filter


# --- training (paper Sec. 3.1: Adam, lr 1e-4, beta1 0.5, at most 30 epochs) -------------------------


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """One training run: the data, the budget and the optimizer. `model`, `window`, `baselines` are sections.

    Each (source, target) pair is one scan: the same slices reconstructed with the non-standard and
    the standard kernel. With `unpaired`, the source and target series come from different scans
    (patients, studies, scanners), any number of each (`radiomicgan.training.unpaired_data`).
    """

    source: tuple[str, ...] = ()  # non-standard kernel series, one per scan
    target: tuple[str, ...] = ()  # standard kernel series, same order
    out: str = ""  # the run folder
    method: str = "radiomicgan"  # which harmonizer trains (`radiomicgan.methods`; docs/baselines.md)
    # 136 epochs of 22 random-crop batches: 2,992 steps, 20 minutes of the default generator (width 8:
    # 0.47 s a step on one thread, where width 16 took 0.62 s for 100 epochs) on a 2-core CPU, the
    # budget measured in the README (Quality per FLOP). Ours: the paper's "maximum training epochs were
    # set to 30" (Sec. 3.1) swept whole slices; here an epoch is what the DWT schedule and validation
    # count, so short epochs let its windows move often
    epochs: int = 136
    steps_per_epoch: int = 22
    batch_size: int = 4  # ours (the authors' code: 1)
    crop_px: int = 128  # random crops for training; inference runs on whole slices (ours)
    val_fraction: float = 0.15  # last slices of each scan held out for accuracy and validation (ours)
    # validation slices scored per epoch, spread over the held-out block (ours): 3, as measured; each
    # epoch's validation then costs ~1 s of the default generator's 20-minute budget
    val_slices_max: int = 3
    # Adam's learning rate; None: the trained generator's own, its model section's `lr` (1e-4 for the
    # VGG-19 U-Net, Sec. 3.1; `methods.resolve` records the value in force in the run folder)
    lr: float | None = None
    beta1: float = 0.5  # Adam beta1, the paper's "momentum 0.5" (Sec. 3.1)
    l1_weight: float = 100.0  # lambda of adversarial + lambda * L1 (pix2pix [14]; DESIGN.md)
    spectrum_weight: float = 0.0  # weight of the crops' power-spectrum match (training.spectrum_loss); 0: off
    device: str = "auto"  # "auto" (a GPU when there is one), "cpu" or "cuda"
    seed: int = 0
    cam_crop_px: int = 128  # CAM subsets are crops of this size, bounding Grad-CAM's cost (ours)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    window: WindowConfig = dataclasses.field(default_factory=WindowConfig)
    baselines: BaselinesConfig = dataclasses.field(default_factory=BaselinesConfig)
    unpaired: bool = False  # source and target series of different scans, not pairs (train --unpaired)

    def __post_init__(self) -> None:
        _require(
            self.unpaired or len(self.source) == len(self.target),
            "train: give one --target per --source (or --unpaired)",
        )
        _require(
            self.epochs >= 1 and self.steps_per_epoch >= 1, "train: epochs and steps_per_epoch must be >= 1"
        )
        _require(self.batch_size >= 1, "train: batch_size must be >= 1")
        _require(
            self.crop_px >= 32 and self.crop_px % 8 == 0, "train: crop_px must be a multiple of 8, >= 32"
        )
        _require(self.cam_crop_px >= 32 and self.cam_crop_px % 8 == 0, "train: cam_crop_px must be >= 32, x8")
        _require(0.0 <= self.val_fraction < 1.0, "train: val_fraction must lie in [0, 1)")
        _require(self.val_slices_max >= 1, "train: val_slices_max must be >= 1")
        _require(
            (self.lr is None or self.lr > 0) and 0.0 <= self.beta1 < 1.0,
            "train: lr must be > 0 and beta1 in [0, 1)",
        )
        _require(self.l1_weight >= 0, "train: l1_weight must be >= 0")
        _require(self.spectrum_weight >= 0, "train: spectrum_weight must be >= 0")
        _require(self.device in ("auto", "cpu", "cuda"), "train: device must be auto, cpu or cuda")

    @property
    def learning_rate(self) -> float:
        """Adam's learning rate: `lr`, or unset, that of `model.generator`'s section.

        Raises:
            ConfigError: `lr` is unset and `model.generator` is fitted, with no rate of its own.
        """
        if self.lr is not None:
            return self.lr
        section = GENERATOR_SECTIONS.get(self.model.generator)
        if section is None:
            raise ConfigError(f"train: generator {self.model.generator!r} is fitted, not trained at a rate")
        return float(getattr(self.model, section).lr)


# --- harmonize (a trained model run on slices, series and trees; `radiomicgan.inference`) ----------

HARMONIZE_DEVICES = ("auto", "cpu", "cuda")  # the CLI's; Python callers may name any torch device
WINDOW_MODES = ("full", "training")  # what harmonize standardizes (`Harmonizer.window_hu`)
PRECISIONS = ("auto", "fp32", "bf16", "fp16")  # the generator's forward pass (`inference.precision`)
ENGINES = ("auto", "torch", "onnx")  # what runs the generator (`inference.onnx_engine`)


@dataclasses.dataclass(frozen=True)
class HarmonizeConfig:
    """How a loaded model runs: what a cluster worker needs to load the same harmonizer again.

    What a run does with files (input, output, one series, --overwrite, --strict, shares, backend) are
    arguments of `harmonize_path`, not settings: they are not the model's, and workers never need them.
    """

    device: str = "auto"  # "auto": a GPU when there is one (each cluster worker takes its own)
    # "full": the paper's whole range [-1024, 1000] HU; "training": the model's last training window
    window_mode: str = "full"
    batch_size: int = 4  # slices per forward pass, and per read and write of a streamed series
    precision: str = "auto"  # "auto": fp32 on a CPU; on a GPU fp16 where within 1 HU of fp32 (issue 5)
    engine: str = "auto"  # "auto": ONNX Runtime on a CPU in fp32 where installed and within 1 HU of torch
    resample: bool = False  # harmonize other pixel spacings on the model's grid (`radiomicgan.spacing`)
    force: bool = False  # harmonize spacings beyond `SpacingTolerance.refuse` as they are
    # add the model's residual texture where it has one (`model.texture`); off: its smooth prediction
    texture: bool = True

    def __post_init__(self) -> None:
        _require(
            self.window_mode in WINDOW_MODES,
            f"harmonize: unknown window mode {self.window_mode!r} (known: {', '.join(WINDOW_MODES)})",
        )
        _require(self.batch_size >= 1, f"harmonize: batch size must be >= 1, got {self.batch_size}")
        _require(
            self.precision in PRECISIONS,
            f"harmonize: unknown precision {self.precision!r} (known: {', '.join(PRECISIONS)})",
        )
        _require(
            self.engine in ENGINES, f"harmonize: unknown engine {self.engine!r} (known: {', '.join(ENGINES)})"
        )


# --- features of the user's regions (`radiomicgan features`, the lesion evaluation; issue 19) -------


@dataclasses.dataclass(frozen=True)
class RegionFeatureConfig:
    """How `radiomicgan features` measures labelled regions: settings, 3-D or per slice, where it runs."""

    settings_path: str = ""  # PyRadiomics YAML; empty: the shipped radiomics_3d.yaml (2-D one per slice)
    per_slice: bool = False  # --2d: each slice of a region as a true 2-D image, as the random-box protocol
    regions: tuple[str, ...] = ()  # region names or numbers to measure; empty: every region of a mask
    resample: bool = False  # a label volume on another grid is resampled onto the CT's (nearest label)
    # Image kept around a region for the filters (ours): this many of the widest LoG sigma, at least
    # `min_margin_voxels` (the coif1 wavelet's 6 taps). Measured on the shared lung CT's tumour (5 mm
    # slices) against filtering the whole series: with 6 sigma, LoG features differ by a median 0 %
    # (sigma <= 4 mm) and 0.02 % (5 mm), at most 1.5 %; with 4 sigma by 0.2 %, at most 18 %, the
    # recursive Gaussian feeling the box's few slices. Original, wavelet and gradient: identical.
    margin_sigmas: float = 6.0
    min_margin_voxels: int = 4
    jobs: int = 0  # extraction processes (local, or a dask LocalCluster); 0 means all cores
    backend: str = "local"  # "local" (`jobs` processes) or "dask" (see BackendConfig)
    scheduler: str = ""  # the dask backend's scheduler address; empty starts a LocalCluster of `jobs`

    def __post_init__(self) -> None:
        object.__setattr__(self, "regions", tuple(str(r) for r in self.regions))
        _require(self.jobs >= 0, "features: jobs must be >= 0")
        _require(self.margin_sigmas >= 0 and self.min_margin_voxels >= 0, "features: margins must be >= 0")
        _require(all(r.strip() for r in self.regions), "features: a region name or number is empty")
        _ = self.cluster  # a bad backend or scheduler fails here, once

    @property
    def cluster(self) -> BackendConfig:
        """Where extraction runs, as the backend section `radiomicgan.cluster` takes."""
        return BackendConfig(name=self.backend, scheduler=self.scheduler, workers=self.jobs)


# --- the DICOM node (`radiomicgan serve`; `radiomicgan.node`) --------------------------------------


@dataclasses.dataclass(frozen=True)
class NodeConfig:
    """How `radiomicgan serve` receives, harmonizes and forwards DICOM series (`radiomicgan.node`).

    `model`, `spool` and one destination (`forward` or `forward_dicomweb`) have no default: the node
    checks them when it opens (`node.server.Node.open`). The other values are the defaults of a
    small research node; `harmonize` is how its model runs, as for `radiomicgan harmonize`.
    """

    model: str = ""  # a run folder, a model file, or "auto" (the registry picks one per series)
    spool: str = ""  # where instances wait from their C-STORE until the destination has them
    forward: str = ""  # AET@HOST:PORT, the Storage SCP (a PACS) the harmonized series go to
    forward_dicomweb: str = ""  # or a STOW-RS URL, e.g. http://pacs:8042/dicom-web/studies
    port: int = 11112  # DICOM's registered port; 0 takes a free one (tests)
    host: str = ""  # the address to listen on; "" every interface
    ae_title: str = "RADIOMICGAN"
    # A series is complete once no instance came for this long. A router that forwards a stable series
    # sends it without pauses; a scanner sending while it reconstructs can pause for tens of seconds
    # (Orthanc waits 60 s, its StableAge, before it calls a series stable).
    series_idle_s: float = 30.0
    strict: bool = False  # quarantine a series whose kernel differs from the model's source kernel
    registry: str = ""  # the model registry `auto` reads; "" its default folder
    retry_initial_s: float = 5.0  # first wait after the destination failed; doubled per failure
    retry_max_s: float = 300.0  # the longest wait between two tries
    max_associations: int = 10  # at once; each holds one instance in memory while it arrives
    timeout_s: float = 30.0  # network (ACSE, DIMSE, socket and HTTP) timeout
    drain_s: float = 10.0  # on SIGTERM, how long open associations may take to finish
    sent_records: int = 1000  # sent series remembered for --status (the oldest go first)
    harmonize: HarmonizeConfig = dataclasses.field(default_factory=HarmonizeConfig)

    def __post_init__(self) -> None:
        _require(0 <= self.port <= 65535, f"serve: port must lie in [0, 65535], got {self.port}")
        check_ae_title(self.ae_title, "serve: ae_title")
        if self.forward:
            parse_ae_address(self.forward)
        if self.forward_dicomweb:
            _require(
                self.forward_dicomweb.startswith(("http://", "https://")),
                f"serve: forward_dicomweb must be an http(s) URL, got {self.forward_dicomweb!r}",
            )
        _require(
            not (self.forward and self.forward_dicomweb),
            "serve: give one destination, --forward or --forward-dicomweb, not both",
        )
        _require(self.series_idle_s > 0, "serve: series_idle_s must be > 0")
        _require(
            0 < self.retry_initial_s <= self.retry_max_s,
            "serve: retry times need 0 < retry_initial_s <= retry_max_s",
        )
        _require(self.max_associations >= 1, "serve: max_associations must be >= 1")
        _require(self.timeout_s > 0 and self.drain_s >= 0, "serve: timeout_s must be > 0, drain_s >= 0")
        _require(self.sent_records >= 0, "serve: sent_records must be >= 0")


def check_ae_title(title: str, what: str) -> None:
    """Refuse what DICOM does not allow in an AE title: empty, over 16 characters, a backslash, a
    control or non-ASCII character (PS3.5 6.2, VR AE).

    Raises:
        ConfigError: naming `what`.
    """
    allowed = bool(title.strip()) and len(title) <= 16 and title.isascii() and title.isprintable()
    _require(
        allowed and "\\" not in title, f"{what}: {title!r} is not a DICOM AE title (1-16 ASCII characters)"
    )


def parse_ae_address(text: str) -> tuple[str, str, int]:
    """Split `AET@HOST:PORT` (an IPv6 host in brackets) into its AE title, host and port.

    Raises:
        ConfigError: another form, a bad AE title or a port outside 1-65535.
    """
    title, at, address = text.partition("@")
    host, colon, port = address.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not (at and colon and host and port.isdigit() and 1 <= int(port) <= 65535):
        raise ConfigError(f"serve: {text!r} is not AET@HOST:PORT, e.g. ORTHANC@pacs.example.org:4242")
    check_ae_title(title, f"serve: {text!r}")
    return title, host, int(port)


# --- where radiomicgan keeps what it can recompute (feature values, ONNX exports) -------------------
# --- and what it cannot (the model registry) --------------------------------------------------------


def user_cache_dir(kind: str) -> Path:
    """`$XDG_CACHE_HOME/radiomicgan/KIND`, or `~/.cache/radiomicgan/KIND` (the XDG default)."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "radiomicgan" / kind


def user_data_dir(kind: str) -> Path:
    """`$XDG_DATA_HOME/radiomicgan/KIND`, or `~/.local/share/radiomicgan/KIND` (the XDG default).

    For what a user keeps (registered models), unlike the cache, which may be deleted at any time.
    """
    root = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(root) / "radiomicgan" / kind


# --- loading and overriding ------------------------------------------------------------------------


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _require_rate(lr: float, section: str) -> None:
    _require(0 < lr < 1, f"{section}: lr must lie in (0, 1)")


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping from a config file.

    Raises:
        ConfigError: the file is missing, is not YAML, or is not a mapping.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: config file not found") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({type(exc).__name__})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must hold a mapping of option: value")
    return data


def build(cls: type[T], *layers: dict[str, Any] | None) -> T:
    """Build a config section from its defaults overridden by each layer in turn (file, then CLI).

    Keys whose value is None are ignored, so unset CLI options keep the file's or the default value.
    Lists become tuples for tuple fields, and nested sections are built recursively. A model layer
    with release 0.3.0's flat keys is first nested (`nest_flat_model_keys`).

    Raises:
        ConfigError: an unknown key, or a value the section refuses.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls} is not a config dataclass")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    merged: dict[str, Any] = {}
    sections: dict[str, list[dict[str, Any]]] = {}  # nested sections merge key by key across layers
    for layer in layers:
        layer = {key.replace("-", "_"): value for key, value in (layer or {}).items()}
        if cls is ModelConfig:
            layer = nest_flat_model_keys(layer)  # a model section as release 0.3.0 wrote it
        for key, value in layer.items():
            if key not in fields:
                known = ", ".join(sorted(fields))
                raise ConfigError(f"{cls.__name__}: unknown option {key!r} (known: {known})")
            if dataclasses.is_dataclass(hints[key]) and isinstance(value, dict):
                sections.setdefault(key, []).append(value)
            elif value is not None:
                merged[key] = _coerce(hints[key], value, key)
    for key, section_layers in sections.items():
        merged[key] = build(hints[key], *section_layers)
    try:
        return cls(**merged)
    except TypeError as exc:
        raise ConfigError(f"{cls.__name__}: {exc}") from exc


def _coerce(hint: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is tuple and isinstance(value, list | tuple):
        return tuple(value)
    if origin is tuple and isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if origin in (typing.Union, types.UnionType):
        return value
    if hint in (int, float, str, bool) and not isinstance(value, hint):
        raise ConfigError(f"option {key!r} must be {hint.__name__}, got {value!r}")
    return value


def as_dict(section: Any) -> dict[str, Any]:
    """A config section as plain data (tuples become lists), ready for JSON or YAML."""
    data = dataclasses.asdict(section)
    return _plain(data)  # type: ignore[no-any-return]


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
