"""The fitted scoring model in a compact, numpy-only form.

This is what gets exported and scored: the feature encoder, either a linear margin
(coefficients on encoded columns) or boosted trees compiled to TreeSHAP tables, and
the Platt map to calibrated log-odds. Loading it needs no scikit-learn, no shap and
no pickle: its parts are JSON-ready data and plain numeric arrays.

Intervals. A model trained with one carries the posterior covariance of a linear
model's (intercept, coefficients) on the encoded columns. Each proposal's interval is
its calibrated log-odds -/+ z * sqrt((slope * scale * sd)^2 + model_error^2), through
the sigmoid, where sd is the posterior standard deviation of its linear log-odds
(`model.bayes.margin_sd`), slope the calibration's, and model_error what a model
misses whatever the data (`model.bayes.MODEL_ERROR_SD`). For a linear model (bayes or
plain logistic) the covariance is its own posterior and scale is 1. For boosted trees
it is the bayes model's, fitted on the same rows, scale is measured at training by a
bootstrap of the trees themselves, and model_error also holds the trees' disagreement
with the bayes model (`model.intervals`), so that scoring costs one small quadratic
form per proposal rather than a refit ensemble per proposal. Bundles saved without a
covariance have no interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from model.bayes import LEVEL, MODEL_ERROR_SD, margin_sd, probability_interval
from model.calibration import Platt, sigmoid
from model.config import Column
from model.features import FeatureEncoder
from model.treeshap import TreeTables, tree_margin_and_shap

LINEAR = "logistic"
TREES = "boosted_trees"
BAYES = "bayes_logistic"  # a candidate kind; it exports as a LINEAR scoring model
Interval = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class ScoringModel:
    """Encoder + raw margin model + calibration; explains every score exactly."""

    encoder: FeatureEncoder
    kind: str
    calibration: Platt
    coef: np.ndarray | None = None  # linear: weights on encoded columns
    intercept: float = 0.0
    reference: np.ndarray | None = None  # linear: mean encoded training row
    trees: TreeTables | None = None
    covariance: np.ndarray | None = None  # (p + 1, p + 1): intercept first, raw units
    interval_scale: float = 1.0  # multiplies the posterior sd (see the module docstring)
    level: float = LEVEL
    model_error: float = MODEL_ERROR_SD

    def column_contributions(self, X: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
        """Raw margins (n,), the base margin, and each encoded column's share (n, p)."""
        if self.kind == LINEAR:
            assert self.coef is not None and self.reference is not None
            shares = (X - self.reference) * self.coef
            base = self.intercept + float(self.reference @ self.coef)
            return base + shares.sum(axis=1), base, shares
        assert self.trees is not None
        margin, shares = tree_margin_and_shap(self.trees, X)
        return margin, self.trees.base_margin, shares

    def margin(self, proposals: pd.DataFrame) -> np.ndarray:
        """Raw (uncalibrated) margins for validated proposals."""
        return self.column_contributions(self.encoder.transform(proposals))[0]

    def predict_proba(self, proposals: pd.DataFrame) -> np.ndarray:
        """Calibrated impact probabilities for validated proposals."""
        return sigmoid(self.calibration.logit(self.margin(proposals)))

    def probability_interval(self, proposals: pd.DataFrame) -> Interval | None:
        """(low, high) of each proposal's calibrated probability at `level` (90% by default).

        low <= predict_proba <= high always; None for a model saved without intervals.
        """
        if self.covariance is None:
            return None
        X = self.encoder.transform(proposals)
        return self.interval_from(X, self.calibration.logit(self.column_contributions(X)[0]))

    def interval_from(self, X: np.ndarray, logit: np.ndarray) -> Interval | None:
        """`probability_interval` for rows already encoded and scored (`logit`: calibrated
        log-odds, as `model.explain.explain` gives them), without encoding or scoring again."""
        if self.covariance is None:
            return None
        sd = abs(self.calibration.slope) * self.interval_scale * margin_sd(X, self.covariance)
        return probability_interval(np.asarray(logit, dtype=float), sd, level=self.level,
                                    model_error=self.model_error)

    def to_parts(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-ready description and named arrays, for saving without pickle."""
        meta = {"kind": self.kind, "encoder": self.encoder.to_dict(),
                "calibration": {"slope": self.calibration.slope,
                                "offset": self.calibration.offset},
                "intercept": self.intercept}
        arrays: dict[str, np.ndarray] = {}
        if self.kind == LINEAR:
            assert self.coef is not None and self.reference is not None
            arrays = {"coef": self.coef, "reference": self.reference}
        else:
            assert self.trees is not None
            arrays = {f"trees.{k}": v for k, v in self.trees.to_arrays().items()}
        if self.covariance is not None:
            meta["interval"] = {"level": self.level, "model_error": self.model_error,
                                "scale": self.interval_scale}
            arrays["interval.covariance"] = self.covariance
        return meta, arrays

    @classmethod
    def from_parts(cls, meta: dict[str, Any], arrays: Any,
                   features: tuple[Column, ...]) -> ScoringModel:
        """Rebuild from `to_parts` output and the configured feature columns."""
        encoder = FeatureEncoder.from_dict(meta["encoder"], features)
        calibration = Platt(**meta["calibration"])
        interval = _interval_parts(meta, arrays)
        if meta["kind"] == LINEAR:
            return cls(encoder, LINEAR, calibration, coef=np.asarray(arrays["coef"]),
                       intercept=float(meta["intercept"]),
                       reference=np.asarray(arrays["reference"]), **interval)
        if meta["kind"] != TREES:
            raise ValueError(f"unknown model kind {meta['kind']!r}")
        tree_arrays = {k.removeprefix("trees."): arrays[k] for k in arrays
                       if k.startswith("trees.")}
        return cls(encoder, TREES, calibration, trees=TreeTables.from_arrays(tree_arrays),
                   **interval)


def _interval_parts(meta: dict[str, Any], arrays: Any) -> dict[str, Any]:
    """The interval fields saved by `to_parts`; none for a bundle saved without them."""
    if "interval" not in meta or "interval.covariance" not in arrays:
        return {}
    settings = meta["interval"]
    return {"covariance": np.asarray(arrays["interval.covariance"], dtype=float),
            "level": float(settings["level"]), "model_error": float(settings["model_error"]),
            "interval_scale": float(settings["scale"])}
