"""Names of the simulated reconstructions: `KERNEL` (filtered back projection) or `KERNEL+irN`.

`smooth+ir3` is the smooth kernel's FBP image refined by penalized weighted least squares and
blended back with it at strength 3 of MAX_STRENGTH, as vendors' iterative levels are (Siemens
ADMIRE/SAFIRE 1-5, GE ASiR-V 10-100 %). One parser serves the config, the simulator and the
command line, so a name means the same everywhere.

The vocabulary lives here, not in `radiomicgan.simulate`, for the reason `windowing` holds its
schedules: `radiomicgan.config` validates with it and must stay the lowest layer (the simulate
package imports config). `simulate.kernels.KERNELS` implements each of KERNEL_NAMES and
`simulate.iterative.MAX_STRENGTH` is MAX_STRENGTH; tests/simulate/test_kernels.py checks both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from radiomicgan.errors import ConfigError

KERNEL_NAMES = ("smooth", "medium", "sharp")  # FBP kernels, `simulate.kernels.KERNELS`
MAX_STRENGTH = 5  # strongest iterative level: the PWLS image itself (ADMIRE and SAFIRE go to 5)
IR_MARK = "+ir"
_NAME = re.compile(r"(?P<kernel>[^+]+)(?:\+ir(?P<strength>.*))?")
_STRENGTH = re.compile(r"[1-9][0-9]*")  # written as `Reconstruction.name` writes it: no sign, no leading 0


@dataclass(frozen=True)
class Reconstruction:
    """One reconstruction preset.

    Attributes:
        kernel: the FBP kernel (one of KERNEL_NAMES).
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
    if kernel not in KERNEL_NAMES:
        within = f" in {name!r}" if kernel != name else ""
        raise ConfigError(
            f"unknown kernel {kernel!r}{within} (known: {', '.join(KERNEL_NAMES)}, "
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
