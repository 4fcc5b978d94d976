"""The ingest job: validate a period's labelled outcomes and add them to the store."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from model.config import Config
from model.validation import ContractError, Problem
from model.wording import plural
from pipelines.documents import Decision
from pipelines.settings import Workspace
from pipelines.storage import decisions, store
from pipelines.storage.readers import load_proposals


def read_labelled(workspace: Workspace, config: Config, file: Path, *, period: str | None = None,
                  sheet: str | None = None) -> pd.DataFrame:
    """Validate `file` as labelled outcomes, ready to store; writes nothing.

    With `period`, every row must belong to that trial period. Missing acceptance
    propensities are filled from the decision log.
    """
    frame = load_proposals(file, config, labelled=True, sheet=sheet)
    if period is not None:
        column = config.role("period")
        problems = [Problem(int(row), column, value, f"{period} (the period given with --period)")
                    for row, value in zip(frame.index, frame[column], strict=True)
                    if value != period]
        if problems:
            raise ContractError(problems, source=str(file))
    return decisions.fill_propensity(frame, workspace, config)


def ingest_file(workspace: Workspace, config: Config, file: Path, *, period: str | None = None,
                replace: bool = False, sheet: str | None = None) -> store.IngestOutcome:
    """Validate `file` and store it; the caller holds the workspace lock."""
    frame = read_labelled(workspace, config, file, period=period, sheet=sheet)
    outcome = store.ingest(workspace, frame, config, source=str(file), replace=replace)
    return dataclasses.replace(outcome,
                               notes=ingest_notes(config, frame, decisions.read(workspace)))


def ingest_notes(config: Config, frame: pd.DataFrame, logged: list[Decision]) -> tuple[str, ...]:
    """What a user should know about outcomes just stored: features the file lacks (every
    proposal counts as not giving them), propensities taken from the decision log, and what
    the outcomes say against that log (`logged`)."""
    absent = [c.name for c in config.features if c.name not in frame.columns]
    notes = [f"the file has no column {', '.join(absent)}: every proposal of it counts as "
             f"not giving {'it' if len(absent) == 1 else 'them'}"] if absent else []
    filled = int(frame.attrs.get(decisions.FILLED, 0))
    if filled:
        notes.append(f"the acceptance propensities of {plural(filled, 'proposal')} were not in "
                     "the file and were taken from the decision log")
    return (*notes, *decisions.disagreements(frame, logged, config))


def ingest_command(workspace: Workspace, config: Config, file: Path, *, period: str | None,
                   replace: bool, sheet: str | None) -> store.IngestOutcome:
    """`partnerscore ingest`: the same under the workspace lock."""
    from pipelines.storage.lock import workspace_lock

    with workspace_lock(workspace):
        return ingest_file(workspace, config, file, period=period, replace=replace, sheet=sheet)
