"""Platt scaling as an affine map on log-odds, so explanations stay exact.

calibrated logit = slope * margin + offset, hence every contribution to the margin
scales by `slope` and the base value maps through the same affine function.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Platt:
    """A fitted affine map from a model's raw margin to calibrated log-odds."""

    slope: float = 1.0
    offset: float = 0.0

    def logit(self, margin: np.ndarray) -> np.ndarray:
        """Calibrated log-odds for raw margins."""
        return self.slope * np.asarray(margin, dtype=float) + self.offset


def sigmoid(logit: np.ndarray | float) -> np.ndarray:
    """The logistic function, stable for large magnitudes."""
    x = np.asarray(logit, dtype=float)
    return np.exp(-np.logaddexp(0.0, -x))


def fit_platt(margin: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None,
              *, iterations: int = 100) -> Platt:
    """Fit slope and offset by weighted maximum likelihood (Newton's method).

    Uses Platt's smoothed targets, which keeps the fit finite when the margins
    separate the classes perfectly, as they can on a few dozen proposals.
    """
    m = np.asarray(margin, dtype=float)
    y = np.asarray(y, dtype=float)
    w = np.ones_like(m) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    n_pos, n_neg = w[y == 1].sum(), w[y == 0].sum()
    target = np.where(y == 1, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    design = np.column_stack([m, np.ones_like(m)])
    params = np.array([1.0, 0.0])
    loss = _loss(design @ params, target, w)
    for _ in range(iterations):
        p = sigmoid(design @ params)
        gradient = design.T @ (w * (p - target))
        hessian = design.T @ (design * (w * p * (1 - p))[:, None]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        # Newton steps can overshoot when margins nearly separate the classes; halve
        # until the likelihood improves so the fit never diverges.
        for _ in range(50):
            trial = params - step
            trial_loss = _loss(design @ trial, target, w)
            if trial_loss <= loss:
                break
            step = step / 2
        else:
            break
        params, loss = trial, trial_loss
        if np.abs(step).max() < 1e-10:
            break
    return Platt(slope=float(params[0]), offset=float(params[1]))


def _loss(logit: np.ndarray, target: np.ndarray, w: np.ndarray) -> float:
    """Weighted cross-entropy of (smoothed) targets, stable for large |logit|."""
    return float((w * (np.logaddexp(0.0, logit) - target * logit)).sum())
