"""Weak signals: the improbable-alliances report of a labelled history.

The computation is `model.surprises`; this job chooses the labelled proposals (files,
the workspace's store), runs it with the configuration's `surprises:` settings and
returns a typed document the command line, the model report and `retrain` present.

The store's report is kept beside the store (`Workspace.weak_signals`), under a key made
of the stored periods' file digests, the configuration file's digest, the seed and
partnerscore's version: `retrain` leaves it there, and `decide`, `report` and
`partnerscore surprises` (without files) read it back instead of refitting the
cross-validated main-effects models, until any of the four changes. A configuration
given without its text (no digest) is never cached. The stored files are verified
against the manifest before a kept report is used, so a damaged store is still said
to be one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from model.config import Config
from model.errors import TrainingRefused
from model.surprises import Cell, SurpriseReport, SurpriseSettings, surprises_for
from model.validation import ContractError
from pipelines.settings import Workspace

# A cell this rare by chance (about once per history of tested cells) is worth watching
# even when it is not strong: strong calls are few on a few hundred rows. Among few tested
# cells that count says little (with one cell, any cell reaches it), so a cell watched is
# also one whose own chance of looking this strong is at most OWN_CHANCE.
WORTH_WATCHING = 1.0
OWN_CHANCE = 0.05
KEPT_FORMAT = "partnerscore-weak-signals/2"  # 2: cells carry value_labels
_Signals = TypeVar("_Signals", "WeakSignals", "WeakSignals | None")


@dataclass(frozen=True)
class WeakSignals:
    """The surprises report of a labelled history, with where it came from."""

    report: SurpriseReport | None  # None when the outcomes cannot support the expectations
    source: str
    rows: int
    weighted: bool  # figures weighted by 1 / acceptance propensity
    settings: SurpriseSettings
    refused: str = ""  # why there is no report
    note: str = ""  # for a report: why its figures come from elsewhere than the file given

    def to_json(self) -> dict[str, Any]:
        """The `partnerscore surprises --format json` document: cells, worse, tested, rate, and
        what it was computed from (source, rows, weighted, min_rows, interval_level)."""
        if self.report is None:
            raise ValueError(f"no weak-signal report: {self.refused}")
        return {**self.report.to_json(), "tested": self.report.tested,
                "false_alarm_rate": self.settings.false_alarm_rate,
                "source": self.source, "rows": self.rows, "weighted": self.weighted,
                "min_rows": self.settings.min_rows, "interval_level": self.settings.interval}

    def watched(self) -> tuple[Cell, ...]:
        """Strong cells, then cells worth watching, in either direction, strongest first."""
        if self.report is None:
            return ()
        cells = sorted((*self.report.cells, *self.report.worse), key=lambda c: -c.evidence)
        own = -math.log10(OWN_CHANCE)  # evidence is -log10 of the cell's own chance
        return tuple(c for c in cells if c.strong or (
            c.expected_by_chance <= WORTH_WATCHING and c.evidence >= own))


def _kept_document(signals: WeakSignals, key: str) -> dict[str, Any]:
    report = signals.report
    return {"format": KEPT_FORMAT, "key": key, "source": signals.source, "rows": signals.rows,
            "weighted": signals.weighted, "refused": signals.refused,
            "report": None if report is None else {**report.to_json(), "tested": report.tested}}


def _from_kept(data: dict[str, Any], config: Config) -> WeakSignals:
    report = data["report"]
    return WeakSignals(None if report is None else SurpriseReport.from_json(report,
                                                                             report["tested"]),
                       str(data["source"]), int(data["rows"]), bool(data["weighted"]),
                       config.surprises, refused=str(data["refused"]))


def store_key(workspace: Workspace, config: Config, seed: int) -> str | None:
    """The key of the store's weak-signal report: None when it cannot be kept (no
    configuration digest) or the store is empty."""
    from pipelines import __version__
    from pipelines.storage import store

    periods = {p: e["sha256"] for p, e in store.read_manifest(workspace)["periods"].items()}
    if not config.digest or not periods:
        return None
    text = json.dumps({"format": KEPT_FORMAT, "version": __version__, "config": config.digest,
                       "seed": seed, "periods": periods}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def kept_weak_signals(workspace: Workspace, config: Config, seed: int) -> WeakSignals | None:
    """The store's report as last kept, when its key still holds and the stored files match
    the manifest; None otherwise (nothing kept, stale, unreadable or a damaged store)."""
    from pipelines.storage import store

    key = store_key(workspace, config, seed)
    path = workspace.weak_signals
    if key is None or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text("utf-8"))
        if data.get("format") != KEPT_FORMAT or data.get("key") != key:
            return None
        signals = _from_kept(data, config)
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None  # a kept report that cannot be read is computed again
    return None if store.verify_store(workspace) else signals


def keep_weak_signals(workspace: Workspace, key: str | None, signals: WeakSignals) -> None:
    """Keep the report of the store whose `store_key` was `key` (taken when the store was
    read) for the next `decide`, `report` or `surprises`; a workspace that cannot be
    written to is left as it is."""
    from pipelines.storage.atomic import write_atomic

    if key is None:
        return
    try:
        workspace.weak_signals.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(workspace.weak_signals,
                     json.dumps(_kept_document(signals, key), indent=1).encode("utf-8"))
    except OSError:
        return


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


def _labelled_file(data: Path | None, config: Config,
                   sheet: str | None) -> tuple[pd.DataFrame | None, str]:
    """The proposals of `data` when it holds complete labelled outcomes, else None with why
    not ("" when no file was given)."""
    from pipelines.storage.readers import load_proposals

    if data is None:
        return None, ""
    if str(data) == "-":  # standard input cannot be read a second time
        return None, "standard input is read once, for the contribution plots"
    try:
        return load_proposals(data, config, labelled=True, sheet=sheet), ""
    except ContractError as exc:  # proposals without outcomes: the report still draws them
        label = config.role("label")
        if not exc.problems or any(p.column == label and p.row is None for p in exc.problems):
            # proposals without outcomes, as documented
            return None, "it holds no outcomes"
        return None, f"it is not a complete labelled file ({exc.problems[0]})"


def report_weak_signals(workspace: Workspace, config: Config, data: Path | None,
                        sheet: str | None, *, seed: int = 0) -> WeakSignals | None:
    """Weak signals for the model report: from `data` when labelled, else from the store,
    saying so (`note`) when a file was given whose outcomes could not be used.

    Returns None when neither holds labelled outcomes. A store that cannot be read gives
    a document saying why: the rest of the model report does not depend on it.
    """
    proposals, unusable = _labelled_file(data, config, sheet)
    if proposals is not None:
        return weak_signals_if_possible(proposals, config, str(data), seed=seed)
    signals = store_weak_signals(workspace, config, seed=seed)
    if unusable and signals is not None:
        return dataclasses.replace(signals, note=f"Not from {data}: {unusable}. These figures "
                                                 "are the workspace's labelled store's.")
    return signals


def store_weak_signals(workspace: Workspace, config: Config, *,
                       seed: int = 0) -> WeakSignals | None:
    """Weak signals of the workspace's labelled store, kept or computed (and then kept).

    Returns None when the store is empty. A store that cannot be read gives a document
    saying why.
    """
    from pipelines.storage import store

    kept = kept_weak_signals(workspace, config, seed)
    if kept is not None:
        return kept
    source = str(workspace.store)

    def compute() -> WeakSignals | None:
        try:
            proposals = store.read_all(workspace, config)
        except (store.StoreDamaged, ContractError) as exc:
            return WeakSignals(None, source, 0, False, config.surprises,
                               refused=f"the labelled store could not be read ({exc})")
        if proposals is None:
            return None
        return weak_signals_if_possible(proposals, config, source, seed=seed)
    return computed_and_kept(workspace, config, seed, compute)


def computed_and_kept(workspace: Workspace, config: Config, seed: int,
                      compute: Callable[[], _Signals]) -> _Signals:
    """`compute()` the store's report and keep it, unless the store changed meanwhile (an
    ingest between the read and the write keeps nothing: the key would not be the data's)."""
    key = store_key(workspace, config, seed)
    signals = compute()
    if signals is not None and store_key(workspace, config, seed) == key:
        keep_weak_signals(workspace, key, signals)
    return signals
