"""Inverse-propensity weights, and where the configuration lets them apply.

After the trial month only accepted proposals get an outcome; each carries the chance
it had of being accepted (its propensity, logged by `partnerscore decide`). Weighting
an outcome by 1 / propensity (clipped at `model.propensity_clip`) stands it for the
proposals like it that were declined. `model.propensity_weights` says where:

- "fit": the model's fits (the estimator, its prior, its calibration) and its
  evaluation (cross-validated selection and metrics, the backtest, the gate's
  comparison on the newest period);
- "evaluation": the evaluation only, the fits seeing every outcome once;
- "none": nowhere, every outcome counting once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from model.config import Config

FIT, EVALUATION, NONE = "fit", "evaluation", "none"


def inverse_propensity(proposals: pd.DataFrame, config: Config) -> np.ndarray:
    """1 / max(propensity, clip) per proposal; 1 where no propensity is recorded."""
    column = config.roles.get("propensity")
    if column is None or column not in proposals:
        return np.ones(len(proposals))
    propensity = proposals[column].to_numpy(dtype=float)
    propensity = np.where(np.isfinite(propensity), propensity, 1.0)
    return np.asarray(1.0 / np.clip(propensity, config.model.propensity_clip, 1.0))


def fit_weights(proposals: pd.DataFrame, config: Config) -> np.ndarray:
    """The weights the model's fits give these proposals (inverse propensity under "fit")."""
    if config.model.propensity_weights == FIT:
        return inverse_propensity(proposals, config)
    return np.ones(len(proposals))


def scoring_weights(proposals: pd.DataFrame, config: Config) -> np.ndarray:
    """The weights metrics give these proposals (inverse propensity unless "none")."""
    if config.model.propensity_weights == NONE:
        return np.ones(len(proposals))
    return inverse_propensity(proposals, config)
