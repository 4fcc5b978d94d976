"""The fitted scoring model in a compact, numpy-only form.

This is what gets exported and scored: the feature encoder, either a linear margin
(coefficients on encoded columns) or boosted trees compiled to TreeSHAP tables, and
the Platt map to calibrated log-odds. Loading it needs no scikit-learn, no shap and
no pickle: its parts are JSON-ready data and plain numeric arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from model.calibration import Platt, sigmoid
from model.config import Column
from model.features import FeatureEncoder
from model.treeshap import TreeTables, tree_margin_and_shap

LINEAR = "logistic"
TREES = "boosted_trees"


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
        return meta, arrays

    @classmethod
    def from_parts(cls, meta: dict[str, Any], arrays: Any,
                   features: tuple[Column, ...]) -> ScoringModel:
        """Rebuild from `to_parts` output and the configured feature columns."""
        encoder = FeatureEncoder.from_dict(meta["encoder"], features)
        calibration = Platt(**meta["calibration"])
        if meta["kind"] == LINEAR:
            return cls(encoder, LINEAR, calibration, coef=np.asarray(arrays["coef"]),
                       intercept=float(meta["intercept"]),
                       reference=np.asarray(arrays["reference"]))
        if meta["kind"] != TREES:
            raise ValueError(f"unknown model kind {meta['kind']!r}")
        tree_arrays = {k.removeprefix("trees."): arrays[k] for k in arrays
                       if k.startswith("trees.")}
        return cls(encoder, TREES, calibration, trees=TreeTables.from_arrays(tree_arrays))
