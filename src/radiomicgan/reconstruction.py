"""Names of the simulated reconstructions: `KERNEL` (filtered back projection) or `KERNEL+irN`.

`smooth+ir3` is the smooth kernel's FBP image refined by penalized weighted least squares and
blended back with it at strength 3 of MAX_STRENGTH, as vendors' iterative levels are (Siemens
ADMIRE/SAFIRE 1-5, GE ASiR-V 10-100 %). One parser serves the config, the simulator and the
command line, so a name means the same everywhere.

The FBP kernels (`KERNELS`: each one's ramp window) and the strengths live here, not in
`radiomicgan.simulate`, for the reason `windowing` holds its schedules: `radiomicgan.config`
validates names with them and must stay the lowest layer (the simulate package imports config).
`simulate.kernels` builds the filters from the windows, `simulate.iterative` blends the strengths.

The kernels echo the paper's Siemens kernels (Sec. 3.1): Br40 and Bl57 are the non-standard ones,
Bl64 the standard. Their shapes are ours, tuned so that at 0.7 mm pixels the noise ratio and
sharpness order match what vendors publish (docs/kernels.md lists the figures measured with them).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from radiomicgan.errors import ConfigError

FloatArray = NDArray[np.float64]
Window = Callable[[FloatArray], FloatArray]


@dataclass(frozen=True)
class KernelPreset:
    """A named reconstruction kernel.

    Attributes:
        name: registry key, also written as the DICOM ConvolutionKernel.
        description: one line for humans.
        window: apodization W(nu) of the ramp, nu = frequency / Nyquist in [0, 1]; W(0) = 1.
        vendor_analogue: the clinical kernel it imitates (Siemens naming).
    """

    name: str
    description: str
    window: Window
    vendor_analogue: str


def _hann(nu: FloatArray) -> FloatArray:
    return 0.5 + 0.5 * np.cos(np.pi * nu)


def _shepp_logan(nu: FloatArray) -> FloatArray:
    return np.sinc(nu / 2.0)


def _edge_enhancing(nu: FloatArray) -> FloatArray:
    # Gaussian roll-off lifted by (1 + 1.5 nu^2): peaks at +7 % near nu = 0.58 and keeps 0.92 at
    # Nyquist, as sharp lung kernels overshoot their MTF to offset detector and interpolation blur.
    return (1.0 + 1.5 * nu**2) * np.exp(-(nu**2))


KERNELS: dict[str, KernelPreset] = {
    "smooth": KernelPreset("smooth", "ramp x Hann window: soft tissue, low noise", _hann, "Siemens Br40"),
    "medium": KernelPreset("medium", "ramp x Shepp-Logan (sinc) window: lung", _shepp_logan, "Siemens Bl57"),
    "sharp": KernelPreset(
        "sharp", "ramp x edge-enhancing window: sharp lung", _edge_enhancing, "Siemens Bl64"
    ),
}


def get_kernel(name: str) -> KernelPreset:
    """The preset registered under `name`.

    Raises:
        ConfigError: no kernel has that name.
    """
    try:
        return KERNELS[name]
    except KeyError:
        raise ConfigError(f"unknown kernel {name!r} (known: {', '.join(KERNELS)})") from None


MAX_STRENGTH = 5  # strongest iterative level: the PWLS image itself (ADMIRE and SAFIRE go to 5)
IR_MARK = "+ir"
_NAME = re.compile(r"(?P<kernel>[^+]+)(?:\+ir(?P<strength>.*))?")
_STRENGTH = re.compile(r"[1-9][0-9]*")  # written as `Reconstruction.name` writes it: no sign, no leading 0


@dataclass(frozen=True)
class Reconstruction:
    """One reconstruction preset.

    Attributes:
        kernel: the FBP kernel (a key of KERNELS).
        strength: 0 for plain FBP, else the iterative strength, 1..MAX_STRENGTH.
    """

    kernel: str
    strength: int = 0

    @property
    def iterative(self) -> bool:
        return self.strength > 0

    @property
    def name(self) -> str:
        """The preset's name, which `parse_reconstruction` reads back: "smooth" or "smooth+ir3"."""
        return f"{self.kernel}{IR_MARK}{self.strength}" if self.iterative else self.kernel

    @property
    def convolution_kernel(self) -> tuple[str, ...]:
        """DICOM ConvolutionKernel values, as vendors write an iterative series: ("smooth", "3")."""
        return (self.kernel, str(self.strength)) if self.iterative else (self.kernel,)


def parse_reconstruction(name: str) -> Reconstruction:
    """Read a preset name: "sharp" (FBP) or "smooth+ir3" (iterative, strength 3).

    Raises:
        ConfigError: an unknown kernel, or a strength that is not an integer in 1..MAX_STRENGTH.
    """
    match = _NAME.fullmatch(name)
    kernel = match.group("kernel") if match else name
    if kernel not in KERNELS:
        within = f" in {name!r}" if kernel != name else ""
        raise ConfigError(
            f"unknown kernel {kernel!r}{within} (known: {', '.join(KERNELS)}, "
            f"each alone or with +ir1 .. +ir{MAX_STRENGTH})"
        )
    strength = match.group("strength") if match else None
    if strength is None:
        return Reconstruction(kernel)
    if not _STRENGTH.fullmatch(strength) or int(strength) > MAX_STRENGTH:
        raise ConfigError(
            f"reconstruction {name!r}: the iterative strength must be 1 to {MAX_STRENGTH}, "
            f"got {strength!r} (e.g. {kernel}{IR_MARK}3)"
        )
    return Reconstruction(kernel, int(strength))
