"""Weak signals: the improbable-alliances report of a labelled history.

The computation is `model.surprises`; this job chooses the labelled proposals (files,
the workspace's store), runs it with the configuration's `surprises:` settings and
returns a typed document the command line, the model report and `retrain` present.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from model.config import Config
from model.errors import TrainingRefused
from model.surprises import Cell, SurpriseReport, SurpriseSettings, surprises_for
from model.validation import ContractError
from pipelines.settings import Workspace

# A cell this rare by chance (about once per history of tested cells) is worth watching
# even when it is not strong: strong calls are few on a few hundred rows.
WORTH_WATCHING = 1.0


@dataclass(frozen=True)
class WeakSignals:
    """The surprises report of a labelled history, with where it came from."""

    report: SurpriseReport | None  # None when the outcomes cannot support the expectations
    source: str
    rows: int
    weighted: bool  # figures weighted by 1 / acceptance propensity
    settings: SurpriseSettings
    refused: str = ""  # why there is no report

    def to_json(self) -> dict[str, Any]:
        """The `partnerscore surprises --format json` document: cells, worse, tested, rate."""
        if self.report is None:
            raise ValueError(f"no weak-signal report: {self.refused}")
        return {**self.report.to_json(), "tested": self.report.tested,
                "false_alarm_rate": self.settings.false_alarm_rate}

    def watched(self) -> tuple[Cell, ...]:
        """Strong cells, then cells worth watching, in either direction, strongest first."""
        if self.report is None:
            return ()
        cells = sorted((*self.report.cells, *self.report.worse), key=lambda c: -c.evidence)
        return tuple(c for c in cells if c.strong or c.expected_by_chance <= WORTH_WATCHING)


def _weighted(proposals: pd.DataFrame, config: Config) -> bool:
    """Whether any proposal carries an acceptance propensity below 1 (a weight above 1)."""
    column = config.roles.get("propensity")
    if column is None or column not in proposals:
        return False
    propensity = proposals[column].to_numpy(dtype=float)
    return bool(np.any(np.isfinite(propensity) & (propensity < 1)))


def find_weak_signals(proposals: pd.DataFrame, config: Config, source: str, *,
                      seed: int = 0) -> WeakSignals:
    """The surprises report of validated labelled proposals, with the configuration's settings.

    Raises:
        TrainingRefused: when the outcomes cannot support a main-effects model (one kind
            of outcome only, or too few of either).
    """
    report = surprises_for(proposals, config, config.surprises, seed=seed)
    return WeakSignals(report, source, len(proposals), _weighted(proposals, config),
                       config.surprises)


def weak_signals_if_possible(proposals: pd.DataFrame, config: Config, source: str, *,
                             seed: int = 0) -> WeakSignals:
    """As `find_weak_signals`, but too little data gives a document saying why instead."""
    try:
        return find_weak_signals(proposals, config, source, seed=seed)
    except TrainingRefused as refused:
        return WeakSignals(None, source, len(proposals), _weighted(proposals, config),
                           config.surprises, refused=str(refused))


def _labelled_file(data: Path | None, config: Config, sheet: str | None) -> pd.DataFrame | None:
    """The proposals of `data` when it holds complete labelled outcomes, else None."""
    from pipelines.storage.readers import load_proposals

    if data is None or str(data) == "-":  # standard input cannot be read a second time
        return None
    try:
        return load_proposals(data, config, labelled=True, sheet=sheet)
    except ContractError:  # proposals without outcomes: the report still draws them
        return None


def report_weak_signals(workspace: Workspace, config: Config, data: Path | None,
                        sheet: str | None, *, seed: int = 0) -> WeakSignals | None:
    """Weak signals for the model report: from `data` when labelled, else from the store.

    Returns None when neither holds labelled outcomes. A store that cannot be read gives
    a document saying why: the rest of the model report does not depend on it.
    """
    from pipelines.storage import store

    proposals = _labelled_file(data, config, sheet)
    if proposals is not None:
        return weak_signals_if_possible(proposals, config, str(data), seed=seed)
    source = str(workspace.store)
    try:
        proposals = store.read_all(workspace, config)
    except (store.StoreDamaged, ContractError) as exc:
        return WeakSignals(None, source, 0, False, config.surprises,
                           refused=f"the labelled store could not be read ({exc})")
    if proposals is None:
        return None
    return weak_signals_if_possible(proposals, config, source, seed=seed)
