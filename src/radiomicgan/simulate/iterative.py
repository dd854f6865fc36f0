"""Model-based iterative reconstruction: penalized weighted least squares (PWLS) by OS-SQS.

The statistical model of clinical model-based IR (Thibault et al. 2007, Med. Phys. 34:4526):
x minimizes

    Phi(x) = 1/2 sum_i w_i ([Ax]_i - y_i)^2 + sum_{j~k} r_jk psi(x_j - x_k),   x >= 0,

with y the measured line integrals, w_i the photon counts N_i (the inverse variance of
log(I0 / N), Sauer & Bouman 1993), A the simulator's own forward projector, and psi the Huber
function of the differences of each pixel with its 8 neighbours. Huber is quadratic below delta
(noise, a few HU between neighbours, is smoothed like a quadratic penalty would) and linear above
(an edge of hundreds of HU costs only delta |t|, so it is hardly blurred). That is what makes IR
non-linear: a low-contrast edge is smoothed like noise, a high-contrast one is kept.

Pair weights r_jk = beta V kappa_j kappa_k dist_jk with V the number of views and
kappa_j^2 = [A^T w]_j / [A^T 1]_j, the mean photon count of the rays through pixel j (Fessler &
Rogers 1996, IEEE TIP 5:1346): the penalty scales with the data term's curvature, so the same beta
gives the same smoothing at any dose, angle count and pixel size, and roughly the same everywhere
in the slice (without kappa, PWLS blurs less where rays are attenuated).

Minimization: ordered subsets of the views with separable quadratic surrogates (Erdogan & Fessler
1999, Phys. Med. Biol. 44:2835). One subset's update is

    x <- max(0, x - (M A_s^T W_s (A_s x - y_s) + grad R(x)) / (M A_s^T W_s A_s 1 + c_R(x)))

with M subsets and c_R the surrogate curvature of the penalty at x (Huber's optimal curvature
psi'(t) / t, doubled by the separation of each pair). With one subset every update decreases Phi;
with M > 1 it falls about M times faster at first and then wanders within a small band
around the minimum (a limit cycle), which a few tens of iterations from an FBP start never reach.
Nesterov momentum over the subset updates (Kim, Ramani & Fessler 2015, IEEE TMI 34:167) reaches
in 10 iterations of 8 subsets an objective that plain OS-SQS needs ~40 iterations of 16 for.

What the defaults give is measured by benchmarks/presets.py (docs/kernels.md: noise, NPS and MTF
at a +50 and a +1000 HU edge for each strength) and timed by benchmarks/simulate.py (16-19 s per
512 px slice on one thread, 10 passes of a forward projection and its adjoint). High-contrast edges
come out sharper than the smooth kernel's and a 50 HU edge wider: the contrast-dependent resolution
of clinical IR. A large region's mean moves by a fraction of a HU from FBP's at the default dose (a
few HU at a quarter of it): weights taken from the measured counts favour rays that happened to
count more photons, which read a lower line integral.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray

from radiomicgan.errors import ConfigError
from radiomicgan.reconstruction import MAX_STRENGTH
from radiomicgan.simulate.projector import Projector

# Neighbour offsets (rows, columns), each unordered pair once, with the usual 1/distance weights.
_NEIGHBOURS = ((0, 1, 1.0), (1, 0, 1.0), (1, 1, 1 / math.sqrt(2)), (1, -1, 1 / math.sqrt(2)))


@dataclass(frozen=True)
class IterativeSettings:
    """How hard and how long PWLS smooths (defaults measured, see the module docstring).

    Attributes:
        iterations: OS-SQS iterations, each one pass over all subsets.
        subsets: ordered subsets of the views (interleaved angles).
        beta: penalty weight per neighbour pair, relative to the data term's curvature per view
            (kappa^2 above): dimensionless, the same at any dose, view count and pixel size.
        delta_hu: Huber threshold on neighbour differences, in HU: smaller differences are
            smoothed quadratically, larger ones (edges) only linearly.
        momentum: Nesterov momentum over the subset updates (Kim, Ramani & Fessler 2015): about
            4x fewer iterations for the same objective; without it, one subset decreases Phi
            at every update.
    """

    # Measured on a 300 mm water cylinder at 256 px, I0 2e5 (module docstring); 12 iterations
    # change SD and edge widths by < 0.2 HU / 0.15 px, and 10 keep a 512 px slice near 15 s.
    iterations: int = 10
    subsets: int = 8  # with momentum, 16 subsets end higher in Phi than 8 (Kim et al.'s instability)
    beta: float = 4.0  # smooth-FBP noise down 3.6x at 2e5 photons (2.7x at 5e4); 2: 1.9x, 8: 4x
    delta_hu: float = 10.0  # about the strength-5 noise: 5 HU left noise in the linear part
    momentum: bool = True

    def __post_init__(self) -> None:
        if self.iterations < 0 or self.subsets < 1:
            raise ConfigError(
                f"iterations must be >= 0 and subsets >= 1, got {self.iterations} and {self.subsets}"
            )
        if self.beta < 0 or self.delta_hu <= 0:
            raise ConfigError(f"beta must be >= 0 and delta_hu > 0, got {self.beta} and {self.delta_hu}")


@dataclass(frozen=True)
class _Problem:
    """One slice's PWLS problem as tensors: data, weights and the penalty's pair scale."""

    projector: Projector
    line_integrals: torch.Tensor  # y [views, bins]
    weights: torch.Tensor  # w [views, bins]
    kappa: torch.Tensor  # [n, n]
    beta: float  # beta x views
    delta: float  # Huber threshold in mu per pixel


def pwls_reconstruct(
    projector: Projector,
    line_integrals: NDArray[np.float32],
    counts: NDArray[np.floating],
    initial_mu: NDArray[np.float32],
    mu_water_per_px: float,
    settings: IterativeSettings = IterativeSettings(),
    history: list[float] | None = None,
) -> NDArray[np.float32]:
    """Reconstruct one slice by PWLS with a Huber penalty, from an FBP start.

    Args:
        projector: the projector that made `line_integrals` (its `forward` is A).
        line_integrals: noisy sinogram y = ln(I0 / N) [views, bins], in mu x pixel units.
        counts: photons counted per ray N (the weights); any positive multiple gives the same
            image, so a noise-free sinogram can pass exp(-y).
        initial_mu: starting image [n, n] in mu per pixel, e.g. the smooth kernel's FBP.
        mu_water_per_px: water's attenuation per pixel, to turn `settings.delta_hu` into mu.
        settings: iterations, subsets, beta and delta.
        history: if given, the objective Phi after each iteration is appended to it.

    Returns:
        The attenuation image [n, n] in mu per pixel (>= 0).

    Raises:
        ConfigError: more subsets than views.
    """
    views = projector.geometry.angles
    if settings.subsets > views:
        raise ConfigError(f"{settings.subsets} subsets need at least as many views, got {views}")
    problem = _problem(projector, line_integrals, counts, mu_water_per_px, settings)
    image = torch.from_numpy(np.ascontiguousarray(initial_mu, dtype=np.float32)).clamp(min=0.0)
    subsets = [torch.arange(s, views, settings.subsets) for s in range(settings.subsets)]
    denominators = _data_curvatures(problem, subsets)
    point, t = image, 1.0  # where the next gradient is taken, and Nesterov's t
    for _ in range(settings.iterations):
        for rows, denominator in zip(subsets, denominators, strict=True):
            update = _update(problem, point, rows, denominator, len(subsets))
            if settings.momentum:
                point, t = _extrapolate(update, image, t)
            else:
                point = update
            image = update
        if history is not None:
            history.append(_objective(problem, image))
    result: NDArray[np.float32] = image.numpy()
    return result


def objective(
    projector: Projector,
    mu: NDArray[np.float32],
    line_integrals: NDArray[np.float32],
    counts: NDArray[np.floating],
    mu_water_per_px: float,
    settings: IterativeSettings = IterativeSettings(),
) -> float:
    """The PWLS objective Phi(mu) that `pwls_reconstruct` minimizes (same arguments)."""
    problem = _problem(projector, line_integrals, counts, mu_water_per_px, settings)
    return _objective(problem, torch.from_numpy(np.ascontiguousarray(mu, dtype=np.float32)))


def blend_strength(
    fbp: NDArray[np.float32], iterative: NDArray[np.float32], strength: int
) -> NDArray[np.float32]:
    """A vendor-style strength level: fraction strength / MAX_STRENGTH of the iterative image.

    Vendors sell strength 1-5 as a graded noise reduction that keeps more of the familiar FBP
    texture at low strengths; a linear mix is our mapping of that, the simplest one with the right
    end points (measured in the phantom's heart at 256 px: SD 7.3, 6.1, 5.0, 3.9, 3.0, 2.4 HU for
    strengths 0-5). Works in HU or mu alike (the weights sum to 1).

    Args:
        fbp: the FBP image.
        iterative: the PWLS image of the same scan, same units.
        strength: 0 (FBP) to MAX_STRENGTH (the iterative image).

    Raises:
        ConfigError: strength outside 0..MAX_STRENGTH.
    """
    if not 0 <= strength <= MAX_STRENGTH:
        raise ConfigError(f"IR strength {strength} is out of range 0..{MAX_STRENGTH}")
    fraction = strength / MAX_STRENGTH
    blended: NDArray[np.float32] = ((1.0 - fraction) * fbp + fraction * iterative).astype(np.float32)
    return blended


def _problem(
    projector: Projector,
    line_integrals: NDArray[np.float32],
    counts: NDArray[np.floating],
    mu_water_per_px: float,
    settings: IterativeSettings,
) -> _Problem:
    g = projector.geometry
    shape = (g.angles, g.detector_bins)
    if line_integrals.shape != shape or counts.shape != shape:
        raise ValueError(f"sinograms must be {shape}, got {line_integrals.shape} and {counts.shape}")
    if not np.all(np.asarray(counts) > 0):
        raise ValueError("counts must be positive (the simulator counts an empty ray as one photon)")
    weights = torch.from_numpy(np.asarray(counts, dtype=np.float32))
    every = torch.arange(g.angles)
    ones = torch.ones(shape)
    # kappa^2: the mean weight of the rays through each pixel (Fessler & Rogers 1996)
    kappa = (projector.transpose(weights, every) / projector.transpose(ones, every)).sqrt()
    return _Problem(
        projector,
        torch.from_numpy(np.ascontiguousarray(line_integrals, dtype=np.float32)),
        weights,
        kappa.reshape(g.size_px, g.size_px),
        settings.beta * g.angles,
        settings.delta_hu / 1000.0 * mu_water_per_px,
    )


def _data_curvatures(problem: _Problem, subsets: list[torch.Tensor]) -> list[torch.Tensor]:
    """SQS denominators of each subset's data term, M A_s^T W_s A_s 1 (Erdogan & Fessler 1999)."""
    p = problem.projector
    n = p.geometry.size_px
    chords = p.project(torch.ones(n * n), torch.arange(p.geometry.angles))  # A 1
    return [
        len(subsets) * p.transpose(problem.weights[rows] * chords[rows], rows).reshape(n, n)
        for rows in subsets
    ]


def _update(
    problem: _Problem, x: torch.Tensor, rows: torch.Tensor, denominator: torch.Tensor, subsets: int
) -> torch.Tensor:
    """One OS-SQS step on one subset of views; the surrogate's minimizer clipped at mu = 0."""
    p = problem.projector
    residual = p.project(x.reshape(-1), rows) - problem.line_integrals[rows]
    gradient = subsets * p.transpose(problem.weights[rows] * residual, rows).reshape(x.shape)
    penalty_gradient, penalty_curvature = _penalty_derivatives(problem, x)
    step = (gradient + penalty_gradient) / (denominator + penalty_curvature)
    return (x - step).clamp_(min=0.0)


def _extrapolate(update: torch.Tensor, previous: torch.Tensor, t: float) -> tuple[torch.Tensor, float]:
    """Nesterov's step past the new image along the last change (Kim et al. 2015)."""
    t_next = (1.0 + math.sqrt(1.0 + 4.0 * t * t)) / 2.0
    return (update + (t - 1.0) / t_next * (update - previous)).clamp_(min=0.0), t_next


def _pairs(
    problem: _Problem, x: torch.Tensor
) -> list[tuple[tuple[slice, slice], tuple[slice, slice], torch.Tensor, torch.Tensor]]:
    """Every neighbour pair as (index of j, index of k, x_j - x_k, r_jk), one offset at a time."""
    pairs = []
    for dy, dx, distance in _NEIGHBOURS:
        first = (slice(0, -dy or None), slice(max(0, -dx), x.shape[1] - max(0, dx)))
        second = (slice(dy, None), slice(max(0, dx), x.shape[1] - max(0, -dx) or None))
        weight = problem.beta * distance * problem.kappa[first] * problem.kappa[second]
        pairs.append((first, second, x[first] - x[second], weight))
    return pairs


def _penalty_derivatives(problem: _Problem, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient of the Huber penalty and its separable surrogate's curvature, per pixel."""
    gradient = torch.zeros_like(x)
    curvature = torch.zeros_like(x)
    delta = problem.delta
    for first, second, t, weight in _pairs(problem, x):
        slope = weight * t.clamp(-delta, delta)  # r psi'(t)
        # Huber's optimal curvature psi'(t)/t = min(1, delta/|t|) (Erdogan & Fessler 1999),
        # times 2: separating x_j - x_k into one term per pixel doubles each one's curvature
        bend = 2.0 * weight * (delta / t.abs().clamp(min=delta))
        gradient[first] += slope
        gradient[second] -= slope
        curvature[first] += bend
        curvature[second] += bend
    return gradient, curvature


def _objective(problem: _Problem, x: torch.Tensor) -> float:
    p = problem.projector
    residual = p.project(x.reshape(-1), torch.arange(p.geometry.angles)) - problem.line_integrals
    data = 0.5 * (problem.weights.double() * residual.double() ** 2).sum()
    penalty = torch.zeros((), dtype=torch.float64)
    delta = problem.delta
    for _, _, t, weight in _pairs(problem, x):
        size = t.double().abs()
        huber = torch.where(size <= delta, 0.5 * size**2, delta * size - 0.5 * delta**2)
        penalty += (weight.double() * huber).sum()
    return float(data + penalty)
