"""Reconstruction kernels: apodized ramp filters for filtered back projection, chosen by name.

A kernel is the ramp filter |f| multiplied by a window W(nu) of the normalized frequency
nu = f / f_Nyquist in [0, 1]. Every window has W(0) = 1, so all kernels agree in DC gain (mean HU)
and differ only at high frequency, as two reconstructions of one raw scan do.

The presets echo the paper's Siemens kernels (Sec. 3.1): Br40 and Bl57 are the non-standard ones,
Bl64 the standard. Their shapes are ours, tuned so that at 0.7 mm pixels the noise ratio and
sharpness order match what vendors publish (Br40 about half as noisy as Bl57, Bl64 a little
noisier and sharper than Bl57). docs/kernels.md lists the figures measured with them.

The kernels themselves (their windows, `KERNELS`) and the preset names, a kernel or one with an
iterative strength ("smooth+ir3", `parse_reconstruction`), are `radiomicgan.reconstruction`'s,
where the config can read them; this module turns a kernel into filters and responses.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

# the kernels' registry, defined where the config can read its names; re-exported beside the filters
from radiomicgan.reconstruction import KERNELS as KERNELS
from radiomicgan.reconstruction import FloatArray
from radiomicgan.reconstruction import KernelPreset as KernelPreset
from radiomicgan.reconstruction import Reconstruction as Reconstruction
from radiomicgan.reconstruction import get_kernel as get_kernel
from radiomicgan.reconstruction import parse_reconstruction as parse_reconstruction


def frequency_response(name: str, nu: FloatArray) -> FloatArray:
    """The kernel's filter |nu| * W(nu), with the ramp normalized to 1 at Nyquist.

    Args:
        name: a registered kernel.
        nu: frequencies as fractions of Nyquist (0 to 1).
    """
    nu = np.abs(np.asarray(nu, dtype=np.float64))
    return nu * get_kernel(name).window(nu)


def mtf(name: str, nu: FloatArray) -> FloatArray:
    """Modelled modulation transfer of a reconstruction with this kernel (1 at nu = 0).

    FBP turns the ramp back into an all-pass, leaving the window W(nu); the simulator adds the
    detector aperture (a box one bin wide: sinc(nu/2)) and the linear interpolation of back
    projection (a triangle: sinc(nu/2)^2). Pixel sampling of the object itself is not included.

    Args:
        name: a registered kernel.
        nu: frequencies as fractions of Nyquist (0 to 1).
    """
    nu = np.abs(np.asarray(nu, dtype=np.float64))
    return get_kernel(name).window(nu) * np.sinc(nu / 2.0) ** 3


def discrete_filter(name: str, n_fft: int) -> NDArray[np.float32]:
    """The kernel on an rfft grid of `n_fft` points, ready to multiply projections' spectra.

    The ramp is the transform of the band-limited spatial ramp (Ram-Lak, Kak & Slaney eq. 61), not
    |f| sampled, so the DC term is right and the filtered projections carry no offset.

    Args:
        name: a registered kernel.
        n_fft: FFT length (even, at least twice the detector length to avoid wrap-around).

    Returns:
        n_fft // 2 + 1 real gains, in units of 1 / detector bin.
    """
    if n_fft < 2 or n_fft % 2:
        raise ValueError(f"n_fft must be even and >= 2, got {n_fft}")
    n = np.fft.fftfreq(n_fft, d=1.0 / n_fft)
    h = np.zeros(n_fft)
    h[0] = 0.25
    odd = (n.astype(np.int64) % 2) == 1
    h[odd] = -1.0 / (np.pi * n[odd]) ** 2
    ramp: FloatArray = np.real(np.fft.rfft(h))  # ~|f| in cycles/bin: 0.5 at Nyquist
    nu = np.asarray(np.fft.rfftfreq(n_fft) / 0.5, dtype=np.float64)
    return (ramp * get_kernel(name).window(nu)).astype(np.float32)


def plot_kernel_responses(path: str | Path, names: tuple[str, ...] | None = None) -> Path:
    """Plot each kernel's filter response and modelled MTF side by side into an image file.

    Args:
        path: the image to write (e.g. docs/kernel_mtf.png).
        names: kernels to plot; all registered ones by default.

    Returns:
        The written path.
    """
    # A Figure, not pyplot: no display is needed and a notebook's backend is left alone.
    from matplotlib.figure import Figure

    nu = np.linspace(0.0, 1.0, 201)
    fig = Figure(figsize=(10, 4))
    left, right = fig.subplots(1, 2)
    for name in names or tuple(KERNELS):
        label = f"{name} ({get_kernel(name).vendor_analogue}-like)"
        left.plot(nu, frequency_response(name, nu), label=label)
        right.plot(nu, mtf(name, nu), label=label)
    left.plot(nu, nu, "k:", label="ramp")
    left.set(xlabel="frequency / Nyquist", ylabel="filter gain", title="FBP filter |f| W(f)")
    right.set(xlabel="frequency / Nyquist", ylabel="MTF", title="modelled MTF", ylim=(0, 1.15))
    for axes in (left, right):
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    return out
