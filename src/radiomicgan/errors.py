"""Exceptions raised by the library.

Library code raises these; only the CLI turns them into a one-line message and exit code 2.
Every message names the file (or folder) at fault and the problem, and never a patient identifier.
"""

from __future__ import annotations

from pathlib import Path


class RadiomicGANError(Exception):
    """Base class of every error the toolkit raises on purpose."""


class InputError(RadiomicGANError):
    """Input that cannot be used: a missing path, a file that is not what it claims, bad geometry.

    Args:
        path: the file or folder at fault.
        reason: what is wrong with it, in one line.
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self) -> tuple[type[InputError], tuple[Path, str]]:
        # Rebuilt from (path, reason), not from the message: errors raised on a cluster worker or in a
        # worker process reach the caller pickled.
        return type(self), (self.path, self.reason)


class InvalidSeriesError(InputError):
    """A DICOM file or series that cannot become a CT volume (truncated, not CT, inconsistent geometry)."""


class SeveralSeriesError(InputError):
    """A folder holds several CT series and none was chosen."""


class PairingError(InputError):
    """Two series are not a pair: different study, frame of reference or slice geometry."""


class OutputError(RadiomicGANError):
    """The requested output cannot be written (exists already, lies inside the input, not writable).

    Args:
        path: the output path at fault.
        reason: what is wrong, in one line.
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self) -> tuple[type[OutputError], tuple[Path, str]]:
        return type(self), (self.path, self.reason)  # as InputError's


class ConfigError(RadiomicGANError):
    """A configuration file or option with an unknown key or a value out of range."""


class EncoderWeightsError(InputError):
    """Pretrained encoder weights that cannot be had: not cached and not downloadable, or a checkpoint
    whose keys or shapes are not torchvision's VGG-19.
    """
