"""ComBat in feature space, with the standard-kernel features as the reference batch.

ComBat (Johnson, Li & Rabinovic 2007, parametric empirical Bayes) models each feature of a batch as
the reference's location and scale, shifted by a batch effect gamma and scaled by a batch effect
delta. With a reference batch (as `ref_batch` in neuroCombat, Fortin et al.), the reference's values
stay as they are and the other batch is mapped onto them:

1. Standardize with the reference's mean and variance (1/n): s = (x - mean_ref) / sd_ref.
2. Per feature, the candidate's gamma_hat = mean(s) and delta_hat = var(s) (n - 1).
3. Priors over the features: gamma ~ N(gamma_bar, t2), delta ~ InvGamma(a, b) by the method of moments.
4. Posterior gamma*, delta* by the fixed-point iteration of Johnson et al.
5. Adjusted = (s - gamma*) / sqrt(delta*) * sd_ref + mean_ref.

Steps 3-4 (empirical Bayes) are optional: without them gamma* = gamma_hat and delta* = delta_hat, a
location and scale match per feature (neuroCombat's eb=False), which `evaluate` uses by default.
Radiomic features are heavy-tailed in their batch variances: on the lung CT's [-100, 250] HU range a
few GLSZM features whose reference barely varies had delta_hat ~1e7 against a median of 1.03, and the
method-of-moments inverse-gamma prior they inflate gave a median delta* of ~2,900, shrinking every
feature's spread about 50-fold and leaving almost no feature reproducible.

Steps 1-4 fit the mapping (`fit_combat`) and step 5 applies it (`CombatFit.apply`), so the mapping
can be fitted on one sample of ROIs and scored on another: `evaluate` does so, since a location and
scale match fitted on the very ROIs it is scored on raises their CCC by construction.

Batch effects here are per feature and per batch, so ComBat with a reference batch and several other
batches is this two-batch function applied to each of them. Degenerate features, where neuroCombat
divides by zero or lets one feature's raw scale leak into every feature's prior, are settled as follows:

- A feature that is not finite in some sample, or constant on the reference (no scale to map onto;
  a spread below 1e-9 of its magnitude counts as rounding), is left unchanged and kept out of the
  priors. (neuroCombat replaces a zero reference variance by `median(var != 0)`, i.e. 1 in the
  feature's raw units, and keeps it in the priors.)
- A feature constant on the candidate has delta_hat 0, which is replaced by 1, as neuroCombat does.
- All delta_hat equal (s2 = 0) makes the inverse-gamma prior a point mass: delta* is that value, the
  limit of the posterior as s2 -> 0. t2 = 0 gives gamma* = gamma_bar by the formula itself.
- Fewer than two usable features, or fewer than two samples in a batch: no prior can be estimated, the
  candidate is returned unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from radiomicgan.evaluate.protocol import REFERENCE

COMBAT_SUFFIX = "+ComBat"  # a candidate's ComBat row is named NAME+ComBat
TOLERANCE = 1e-4  # neuroCombat's convergence threshold on the relative change of gamma* and delta*
MAX_ITERATIONS = 1000
CONSTANT_RELATIVE_SPREAD = 1e-9  # a reference feature spread less than this, relative to it, is constant


@dataclass(frozen=True)
class CombatFit:
    """A ComBat mapping fitted on one sample of ROIs, to apply to another sample of the same batches.

    Attributes:
        usable: [n_features] which features the mapping changes; the others pass unchanged.
        mean_ref, sd_ref: the reference batch's location and scale of the usable features.
        gamma, delta: the candidate batch's additive and multiplicative effects (gamma*, delta*).
    """

    usable: NDArray[np.bool_]
    mean_ref: NDArray[np.float64]
    sd_ref: NDArray[np.float64]
    gamma: NDArray[np.float64]
    delta: NDArray[np.float64]

    def apply(self, candidate: ArrayLike) -> NDArray[np.float64]:
        """[n, n_features] candidate values mapped onto the reference (step 5 of the module docstring).

        Raises:
            ValueError: the table is not 2-D with the fitted feature columns.
        """
        cand = np.asarray(candidate, dtype=np.float64)
        if cand.ndim != 2 or cand.shape[1] != self.usable.size:
            raise ValueError(f"expected [n, {self.usable.size}] feature values, got {cand.shape}")
        adjusted = cand.copy()
        standardized = (cand[:, self.usable] - self.mean_ref) / self.sd_ref
        adjusted[:, self.usable] = (standardized - self.gamma) / np.sqrt(
            self.delta
        ) * self.sd_ref + self.mean_ref
        return adjusted


def fit_combat(
    reference: ArrayLike, candidate: ArrayLike, *, tolerance: float = TOLERANCE, empirical_bayes: bool = True
) -> CombatFit:
    """Estimate the ComBat mapping of a candidate batch onto the reference batch (steps 1-4).

    Args:
        reference: [n_ref, n_features] feature values of the reference batch.
        candidate: [n_candidate, n_features] values of the batch to adjust, same feature columns.
        tolerance: stop iterating when gamma* and delta* change by less than this, relatively.
        empirical_bayes: shrink each feature's gamma and delta towards priors estimated over all the
            features (neuroCombat's eb=True); False uses each feature's own estimates (eb=False).

    Returns:
        The mapping; it changes no feature when it cannot be estimated (see the module docstring).

    Raises:
        ValueError: the tables are not 2-D or have different feature columns.
    """
    ref = np.asarray(reference, dtype=np.float64)
    cand = np.asarray(candidate, dtype=np.float64)
    if ref.ndim != 2 or cand.ndim != 2 or ref.shape[1] != cand.shape[1]:
        raise ValueError(f"feature tables must be 2-D with equal columns, got {ref.shape} and {cand.shape}")
    usable: NDArray[np.bool_] = np.zeros(ref.shape[1], dtype=bool)
    if ref.shape[0] >= 2 and cand.shape[0] >= 2:
        usable = np.asarray(np.isfinite(ref).all(axis=0) & np.isfinite(cand).all(axis=0))
        with np.errstate(invalid="ignore"):  # inf - inf in non-finite columns, which are left out anyway
            # constant up to rounding: a spread of a few ulps would standardize to huge values
            spread = np.nan_to_num(np.ptp(ref, axis=0))
            usable &= spread > CONSTANT_RELATIVE_SPREAD * np.nan_to_num(np.abs(ref).max(axis=0))
    if np.count_nonzero(usable) < 2:
        empty = np.empty(0)
        return CombatFit(np.zeros(ref.shape[1], dtype=bool), empty, empty, empty, empty)
    mean_ref = ref[:, usable].mean(axis=0)
    sd_ref = ref[:, usable].std(axis=0)  # 1/n, as neuroCombat's pooled variance of the reference batch
    standardized = (cand[:, usable] - mean_ref) / sd_ref
    gamma, delta = _posterior(standardized, tolerance) if empirical_bayes else _estimates(standardized)
    return CombatFit(usable, mean_ref, sd_ref, gamma, delta)


def combat_to_reference(
    reference: ArrayLike, candidate: ArrayLike, *, tolerance: float = TOLERANCE, empirical_bayes: bool = True
) -> NDArray[np.float64]:
    """Map a candidate's features onto the reference batch with ComBat fitted on these same values.

    `fit_combat(reference, candidate).apply(candidate)`; `evaluate` fits on other ROIs than it scores.

    Args:
        reference: [n_ref, n_features] feature values of the reference batch (left unchanged).
        candidate: [n_candidate, n_features] values of the batch to adjust, same feature columns.
        tolerance, empirical_bayes: as in `fit_combat`.

    Returns:
        [n_candidate, n_features] adjusted candidate values (float64); see the module docstring for
        the features left unchanged.

    Raises:
        ValueError: the tables are not 2-D or have different feature columns.
    """
    fit = fit_combat(reference, candidate, tolerance=tolerance, empirical_bayes=empirical_bayes)
    return fit.apply(candidate)


def _estimates(standardized: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
    """gamma_hat, delta_hat per feature, no shrinkage (neuroCombat's eb=False)."""
    delta_hat = standardized.var(axis=0, ddof=1)
    delta_hat[delta_hat == 0] = 1.0  # a constant feature carries no scale information (as neuroCombat)
    return standardized.mean(axis=0), delta_hat


def _posterior(standardized: NDArray[np.float64], tolerance: float) -> tuple[NDArray[np.float64], ...]:
    """gamma*, delta* per feature of one standardized batch [n, features] (Johnson et al., Sec. 3.2)."""
    n = standardized.shape[0]
    gamma_hat, delta_hat = _estimates(standardized)
    gamma_bar, t2 = gamma_hat.mean(), gamma_hat.var(ddof=1)
    m, s2 = delta_hat.mean(), delta_hat.var(ddof=1)
    if s2 <= 1e-12 * m**2:  # point-mass prior on delta (a, b overflow): the posterior is its value
        delta = np.full_like(delta_hat, m)
        return (t2 * n * gamma_hat + delta * gamma_bar) / (t2 * n + delta), delta
    a, b = (2 * s2 + m**2) / s2, (m * s2 + m**3) / s2  # inverse-gamma prior by the method of moments
    gamma, delta = gamma_hat, delta_hat
    for _ in range(MAX_ITERATIONS):
        new_gamma = (t2 * n * gamma_hat + delta * gamma_bar) / (t2 * n + delta)
        sum2 = ((standardized - new_gamma) ** 2).sum(axis=0)
        new_delta = (0.5 * sum2 + b) / (n / 2.0 + a - 1.0)
        change = max(_relative_change(new_gamma, gamma), _relative_change(new_delta, delta))
        gamma, delta = new_gamma, new_delta
        if change < tolerance:
            break
    return gamma, delta


def _relative_change(new: NDArray[np.float64], old: NDArray[np.float64]) -> float:
    scale = np.maximum(np.abs(old), np.finfo(np.float64).tiny)  # a zero estimate must not divide by zero
    return float((np.abs(new - old) / scale).max())


def combat_values(
    values: pd.DataFrame,
    fit_values: pd.DataFrame,
    names: list[str],
    candidates: Sequence[str],
    *,
    empirical_bayes: bool = False,
) -> pd.DataFrame:
    """Rows "NAME+ComBat": each candidate's ROI values mapped onto the reference's per (repeat, range).

    Args:
        values: the pooled ROI values to adjust (reference rows and each candidate's, matched by roi).
        fit_values: another ROI sample of the same scans, in the same layout: each (repeat, range)'s
            mapping is fitted on its rows there. A group with fewer than 2 fitted ROIs stays unchanged.
        names: the feature columns. candidates: the candidates to adjust.
        empirical_bayes: shrink the batch effects towards priors over the features (`combat`).
    """
    meta = [column for column in values.columns if column not in set(names)]
    fit_groups = dict(list(fit_values.groupby(["repeat", "range"], sort=False)))
    adjusted = []
    for key, group in values.groupby(["repeat", "range"], sort=False):
        fit_group = fit_groups.get(key, fit_values.iloc[:0])
        reference = _features(fit_group, REFERENCE, names)
        for name in candidates:
            fit = fit_combat(reference, _features(fit_group, name, names), empirical_bayes=empirical_bayes)
            rows = group[group["candidate"] == name].sort_values("roi")
            head = rows[meta].assign(candidate=name + COMBAT_SUFFIX).reset_index(drop=True)
            harmonized = fit.apply(rows[names].to_numpy())
            adjusted.append(pd.concat([head, pd.DataFrame(harmonized, columns=names)], axis=1))
    return pd.concat(adjusted, ignore_index=True)[values.columns]


def _features(group: pd.DataFrame, candidate: str, names: list[str]) -> NDArray[np.float64]:
    rows = group[group["candidate"] == candidate].sort_values("roi")
    return np.asarray(rows[names].to_numpy(dtype=np.float64), dtype=np.float64)
