"""HU <-> [0, 1] scaling and the window schedules of Dynamic Window-based Training (paper Sec. 2.2).

Everything here is a pure function of numbers and numpy arrays. The trainer keeps the epoch history
(one `EpochRecord` per epoch) and asks `next_window` which window the next epoch trains in:

- ``minmax``: always the full range (no DWT, the "traditional min-max approach").
- ``fixed``: fixed growing. Start at `fixed_start_hu` and raise the upper bound by `fixed_step_hu`
  once the accuracy reaches `th_acc` or after `th_eta` epochs in the window; the last step clips to
  the full range, which is then kept (RadiomicGAN1).
- ``dynamic``: dynamic selection. The first epoch trains in the full range; every later window is
  the [min, max] of the HU values under the discriminator's CAM hot spots (`select_window_from_cams`)
  of the epoch just finished (RadiomicGAN2).
- ``fixed+dynamic``: fixed growing until an epoch has trained in the full range, then dynamic
  selection (the paper's RadiomicGAN).

A CAM window that is missing (no hot spot survives the thresholds) or narrower than `min_width_hu`
after clamping to the full range keeps the current window: min-max scaling of a sliver of HU would
turn a few HU of noise into the whole [0, 1] range, and an empty selection says nothing new.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
from numpy.typing import NDArray

from radiomicgan.errors import ConfigError

Window = tuple[int, int]  # (lo, hi) in HU, both inclusive
Phase = Literal["fixed", "dynamic", "minmax"]


def to_unit(
    hu: NDArray[np.floating] | NDArray[np.integer], window_hu: tuple[float, float]
) -> NDArray[np.float32]:
    """Clip HU to a window and scale it to [0, 1] (lo -> 0, hi -> 1).

    Raises:
        ValueError: the window is empty (hi <= lo).
    """
    lo, hi = _checked(window_hu)
    unit = (np.clip(np.asarray(hu, dtype=np.float64), lo, hi) - lo) / (hi - lo)
    return unit.astype(np.float32)


def from_unit(x: NDArray[np.floating], window_hu: tuple[float, float]) -> NDArray[np.float32]:
    """Map [0, 1] back to HU in a window; the inverse of `to_unit` on unclipped values.

    Raises:
        ValueError: the window is empty (hi <= lo).
    """
    lo, hi = _checked(window_hu)
    return (lo + np.asarray(x, dtype=np.float64) * (hi - lo)).astype(np.float32)


def _checked(window_hu: tuple[float, float]) -> tuple[float, float]:
    lo, hi = float(window_hu[0]), float(window_hu[1])
    if not hi > lo:
        raise ValueError(f"window {window_hu} is empty: it needs lo < hi (HU)")
    return lo, hi


# --- the schedules' settings (`TrainConfig.window`) ----------------------------------------------------
# WindowConfig lives here, beside `SCHEDULES`, so that the schedule names are written once: the config
# checks `schedule` against the registry itself. `radiomicgan.config` nests it in `TrainConfig` and
# re-exports it; this module imports nothing of the toolkit but its errors, so config stays the lowest layer.


@dataclass(frozen=True)
class WindowConfig:
    """Dynamic Window-based Training (DWT, paper Sec. 2.2): the HU window each epoch trains in.

    The paper does not define the "accuracy" compared with th_acc. Here it is `accuracy_metric`
    between synthesized and standard validation slices, both clipped and scaled to [0, 1] in the
    current window (SSIM with data range 1, or PSNR in dB). Values marked "ours" are not in the paper.
    """

    schedule: str = "fixed+dynamic"  # also "fixed" (RadiomicGAN1), "dynamic" (RadiomicGAN2), "minmax"
    full_range_hu: tuple[int, int] = (-1024, 1000)  # the standardization range (Sec. 3.1)
    fixed_start_hu: tuple[int, int] = (-1024, -769)  # first fixed-growing window (Sec. 2.2)
    fixed_step_hu: int = 256  # fixed growing raises the upper bound by this much (Sec. 2.2)
    accuracy_metric: str = "ssim"  # "ssim" or "psnr" (ours: the paper leaves accuracy undefined)
    th_acc: float = 0.90  # grow once the accuracy reaches this (Sec. 2.2 th_acc; value ours)
    # ... or after this many epochs in one window (Sec. 2.2 th_eta; value ours): 1 with the default
    # budget's 100 short epochs, so the fixed windows reach the full range by epoch 8 and the dynamic
    # (Grad-CAM) windows have the rest, as in the measured runs (README, Quality per FLOP)
    th_eta: int = 1
    th_fail: float = 0.5  # normalized CAM above this marks a "non-standard" pixel (Sec. 2.2; value ours)
    subset_size: int = 8  # images in each random subset P whose CAMs pick the window (Sec. 2.2; ours)
    subsets: int = 4  # random subsets merged per epoch (Sec. 2.2 "repeated"; value ours)
    min_width_hu: int = 50  # narrower CAM windows are ignored: scaling them amplifies noise (ours)

    def __post_init__(self) -> None:
        lo, hi = self.full_range_hu
        start_lo, start_hi = self.fixed_start_hu
        _require(self.schedule in SCHEDULES, f"window: schedule must be one of {', '.join(SCHEDULES)}")
        _require(lo < hi, "window: full_range_hu must be (lo, hi) with lo < hi")
        _require(start_lo == lo < start_hi <= hi, "window: fixed_start_hu must start at full_range_hu's lo")
        _require(self.fixed_step_hu >= 1, "window: fixed_step_hu must be >= 1")
        _require(self.accuracy_metric in ("ssim", "psnr"), "window: accuracy_metric must be ssim or psnr")
        if self.accuracy_metric == "ssim":
            _require(-1.0 < self.th_acc <= 1.0, "window: th_acc for ssim must lie in (-1, 1]")
        else:
            _require(self.th_acc > 0.0, "window: th_acc for psnr (dB) must be > 0")
        _require(self.th_eta >= 1, "window: th_eta must be >= 1")
        _require(0.0 <= self.th_fail < 1.0, "window: th_fail must lie in [0, 1)")
        _require(self.subset_size >= 1 and self.subsets >= 1, "window: subset_size and subsets must be >= 1")
        _require(1 <= self.min_width_hu <= hi - lo, "window: min_width_hu must lie in [1, full range width]")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


# --- the schedules ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EpochRecord:
    """One finished epoch, as the schedules need it.

    Attributes:
        window_hu: the window the epoch trained in.
        phase: the phase that chose it.
        accuracy: `WindowConfig.accuracy_metric` on the validation pairs in `window_hu` after the epoch;
            None when not measured (then only th_eta can make the fixed window grow).
    """

    window_hu: Window
    phase: Phase
    accuracy: float | None = None


class WindowStep(NamedTuple):
    """The window the next epoch trains in, and the phase that chose it."""

    window_hu: Window
    phase: Phase


ScheduleFn = Callable[[Sequence[EpochRecord], Window | None, WindowConfig], WindowStep]


def next_window(
    schedule: str, history: Sequence[EpochRecord], cam_window: Window | None, config: WindowConfig
) -> WindowStep:
    """The window of the next epoch.

    Args:
        schedule: "minmax", "fixed", "dynamic" or "fixed+dynamic".
        history: every finished epoch, oldest first; empty before the first epoch.
        cam_window: `select_window_from_cams` on the epoch just finished, or None when there is none
            (or it was not computed: see `needs_cams`). Only the dynamic phase reads it.
        config: the thresholds and ranges.

    Raises:
        ValueError: an unknown schedule name.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown window schedule {schedule!r} (known: {', '.join(SCHEDULES)})")
    return SCHEDULES[schedule](history, cam_window, config)


def needs_cams(schedule: str, history: Sequence[EpochRecord], config: WindowConfig) -> bool:
    """Whether `next_window` will read a CAM window now, so the trainer computes CAMs only then."""
    return bool(history) and next_window(schedule, history, None, config).phase == "dynamic"


def epochs_in_window(history: Sequence[EpochRecord]) -> int:
    """How many epochs at the end of `history` trained in its last window and phase."""
    if not history:
        return 0
    last = history[-1]
    count = 0
    for record in reversed(history):
        if (record.window_hu, record.phase) != (last.window_hu, last.phase):
            break
        count += 1
    return count


def _minmax(history: Sequence[EpochRecord], cam_window: Window | None, config: WindowConfig) -> WindowStep:
    return WindowStep(config.full_range_hu, "minmax")


def _fixed(history: Sequence[EpochRecord], cam_window: Window | None, config: WindowConfig) -> WindowStep:
    if not history:
        return WindowStep(config.fixed_start_hu, "fixed")
    lo, hi = history[-1].window_hu
    accuracy = history[-1].accuracy
    reached = accuracy is not None and accuracy >= config.th_acc
    if reached or epochs_in_window(history) >= config.th_eta:
        hi = min(hi + config.fixed_step_hu, config.full_range_hu[1])  # the last step clips to the range
    return WindowStep((lo, hi), "fixed")


def _dynamic(history: Sequence[EpochRecord], cam_window: Window | None, config: WindowConfig) -> WindowStep:
    if not history:
        return WindowStep(config.full_range_hu, "dynamic")  # no CAM before the first epoch
    current = history[-1].window_hu
    if cam_window is None:
        return WindowStep(current, "dynamic")
    lo = max(cam_window[0], config.full_range_hu[0])
    hi = min(cam_window[1], config.full_range_hu[1])
    if hi - lo < config.min_width_hu:
        return WindowStep(current, "dynamic")
    return WindowStep((lo, hi), "dynamic")


def _fixed_then_dynamic(
    history: Sequence[EpochRecord], cam_window: Window | None, config: WindowConfig
) -> WindowStep:
    # The epoch that trains in the full range is the last fixed one: the paper stops growing "until
    # the whole HU range is covered" and then selects windows dynamically (Sec. 2.2, Fig. 5a).
    if history and (history[-1].phase == "dynamic" or _covers(history[-1].window_hu, config.full_range_hu)):
        return _dynamic(history, cam_window, config)
    return _fixed(history, cam_window, config)


def _covers(window_hu: Window, range_hu: Window) -> bool:
    return window_hu[0] <= range_hu[0] and window_hu[1] >= range_hu[1]


SCHEDULES: dict[str, ScheduleFn] = {
    "minmax": _minmax,
    "fixed": _fixed,
    "dynamic": _dynamic,
    "fixed+dynamic": _fixed_then_dynamic,
}


# --- dynamic selection from class activation maps ------------------------------------------------------


def select_window_from_cams(
    hu_images: Sequence[NDArray[np.floating]], cams: Sequence[NDArray[np.floating]], th_fail: float
) -> Window | None:
    """The paper's dynamic window: [min, max] of the HU under the CAM hot spots (Sec. 2.2).

    For each image, the pixels whose normalized CAM exceeds `th_fail` give a list of integer HU
    values (rounded); values that occur once in that image's list are dropped as noise; the lists of
    all images (all subsets of the epoch) are merged.

    Pass raw HU (the unwindowed slices): values clipped to the current window could only ever shrink it.

    Args:
        hu_images: [H, W] slices in HU.
        cams: [H, W] CAMs in [0, 1], one per slice (`radiomicgan.gradcam.gradcam`).
        th_fail: CAM threshold in [0, 1).

    Returns:
        (lo, hi) in HU, or None when no value survives.

    Raises:
        ValueError: the lists differ in length or an image and its CAM differ in shape.
    """
    if len(hu_images) != len(cams):
        raise ValueError(f"{len(hu_images)} images but {len(cams)} CAMs")
    kept: list[NDArray[np.int64]] = []
    for hu, cam in zip(hu_images, cams, strict=True):
        if hu.shape != cam.shape:
            raise ValueError(f"image of shape {hu.shape} but CAM of shape {cam.shape}")
        values = np.rint(hu[cam > th_fail]).astype(np.int64)
        unique, counts = np.unique(values, return_counts=True)
        kept.append(unique[counts > 1])
    merged = np.concatenate(kept) if kept else np.empty(0, dtype=np.int64)
    if merged.size == 0:
        return None
    return int(merged.min()), int(merged.max())
