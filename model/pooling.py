"""The pooled prior of the bayes model's pair cells: a scale mixture learned from the cells.

Each cell of a watched pair (a video-game studio asking for a technical integration)
has an effect of its own on top of its two features'. The prior of a pair's cells is a
mixture of zero-centred normals whose scales run from nearly nothing to several log-odds
(`POOL_SCALES`); how much weight each scale gets is shared by the pair's cells and
estimated from them. Each cell's term is its posterior median under that mixture, a
threshold rule: a cell whose outcomes are within chance of what its features predict
stays at zero, one that stands out clearly keeps almost all of its own effect (the wide
scales barely hold it back, where a single prior, Gaussian or Student-t, pulls a strong
cell back by a fixed amount whatever its scale).

`model.bayes` finds the posterior mode in rounds: each round `cell_scales` turns every
cell's evidence at the current point into the Gaussian prior scale whose mode is its
posterior median, so the fit, its Hessian and the Laplace covariance keep their form.
Pure numpy (no scipy): scoring imports this module.
"""

from __future__ import annotations

import numpy as np

# The mixture's scales, in log-odds: the widest shrinks a cell of 20 proposals with a
# +2.5 term by a few hundredths of a log-odd; the narrowest is no effect.
POOL_SCALES = np.array([0.02, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2])
# Cells with no effect added to the narrowest scale's weight, so that a pair of a dozen
# small cells cannot put weight on a wide scale for one lucky cell. In bench/pairs.py
# (30 seeds at 5,000 rows, 40 at 1,000), 10 left the planted video-game and
# wealth-management cells 19% and 30% off (32% and 38% under the Student-t prior this
# replaced) with a clear cell where nothing is planted in 5% of histories at 1,000
# rows and 3% at 5,000; 30 gave 19% and 38% off, 2% and 0%. 10 is also the null weight
# of adaptive shrinkage (Stephens 2017), whose grid of scales this follows.
POOL_NULL_CELLS = 10.0
# Each cell's Gaussian prior scale stays within these: a cell held at zero has the
# narrowest scale, one the outcomes set apart is barely held at all.
POOL_MIN_SCALE = 0.02
POOL_MAX_SCALE = 30.0
POOL_EM_STEPS = 100  # EM steps for the weights per round at most (they stop at 1e-6)
MEDIAN_STEPS = 40  # bisection steps for each cell's posterior median (2^-40 of its range)


def start_weights() -> np.ndarray:
    """The weights of `POOL_SCALES` a pair starts from: all equal."""
    return np.full(len(POOL_SCALES), 1.0 / len(POOL_SCALES))


def cell_scales(mode: np.ndarray, gradient: np.ndarray, information: np.ndarray,
                weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One pair's updated mixture weights and each of its cells' Gaussian prior scale.

    `mode`, `gradient` and `information`: per cell, its coefficient at the current point
    and the negative log likelihood's gradient and Hessian diagonal there. With the other
    coefficients held, the cell's own outcomes put its effect at about `own` (one Newton
    step on its likelihood alone) give or take 1 / information. Under scale s its
    posterior is normal, `own` shrunk by information / (information + 1 / s²); the
    weights follow by EM, and the cell's target is the median of the mixture of those
    posteriors. The Gaussian prior whose mode is that target has precision
    information * (own / target - 1).
    """
    known = information > 1e-12
    information = np.where(known, information, 1.0)
    own = np.where(known, mode - gradient / information, 0.0)
    weights, responsibility = _mixture_weights(own, 1.0 / information, weights)
    precision = information[:, None] + 1.0 / POOL_SCALES**2
    shrunk = own[:, None] * information[:, None] / precision
    kept = np.clip(_median_share(responsibility, own, shrunk, 1.0 / precision), 1e-12,
                   1.0 - 1e-12)
    scale = 1.0 / np.sqrt(information * (1.0 / kept - 1.0))
    return weights, np.clip(scale, POOL_MIN_SCALE, POOL_MAX_SCALE)


def _mixture_weights(own: np.ndarray, variance: np.ndarray,
                     weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """EM for a pair's weights of `POOL_SCALES` from each cell's `own` estimate and its
    variance, `POOL_NULL_CELLS` pseudo-cells counting for the narrowest scale; returns
    the weights and each cell's responsibilities (cells x scales)."""
    total = POOL_SCALES**2 + variance[:, None]
    log_density = -0.5 * (np.log(total) + own[:, None] ** 2 / total)
    pseudo = np.zeros(len(POOL_SCALES))
    pseudo[0] = POOL_NULL_CELLS
    for _ in range(POOL_EM_STEPS):
        updated = (_responsibilities(log_density, weights).sum(axis=0) + pseudo) / (
            len(own) + POOL_NULL_CELLS)
        moved, weights = float(np.abs(updated - weights).max()), updated
        if moved < 1e-6:
            break
    return weights, _responsibilities(log_density, weights)


def _responsibilities(log_density: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Each cell's posterior probability of each scale."""
    log_joint = np.log(np.maximum(weights, 1e-300)) + log_density
    joint = np.exp(log_joint - log_joint.max(axis=1, keepdims=True))
    return np.asarray(joint / joint.sum(axis=1, keepdims=True))


def _median_share(responsibility: np.ndarray, own: np.ndarray, mean: np.ndarray,
                  variance: np.ndarray) -> np.ndarray:
    """Per cell, the median of the normal mixture (responsibility, mean, variance) as a
    share of `own`, by bisection: every component's mean lies between 0 and `own`, so
    the median does too (a cell's mixture is mirrored when `own` is negative)."""
    reach, centre, sd = np.abs(own)[:, None], np.abs(mean), np.sqrt(variance)
    low, high = np.zeros(len(own)), np.ones(len(own))
    for _ in range(MEDIAN_STEPS):
        middle = (low + high) / 2
        below = (responsibility * _normal_cdf((middle[:, None] * reach - centre) / sd)
                 ).sum(axis=1) < 0.5
        low, high = np.where(below, middle, low), np.where(below, high, middle)
    return (low + high) / 2


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    """The standard normal distribution function, within 1e-7 (Abramowitz and Stegun
    7.1.26 for erf)."""
    z = np.abs(x) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (
        -1.453152027 + t * 1.061405429))))
    tail = 0.5 * poly * np.exp(-z * z)
    return np.where(x >= 0, 1.0 - tail, tail)
