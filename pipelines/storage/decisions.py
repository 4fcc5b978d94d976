"""The decision log: which proposals were accepted, by which model, with what propensity.

An append-only JSON Lines file in the workspace. Each `decide` appends its whole
batch in one write followed by fsync; a reader ignores a last line cut short by a
crash, so the log never holds a half decision.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd

from model.config import Config
from model.wording import plural
from pipelines.documents import Decision
from pipelines.settings import Workspace


def append(workspace: Workspace, records: list[Decision]) -> None:
    """Append decisions durably."""
    workspace.ensure()
    data = "".join(json.dumps(r.to_json(), sort_keys=True) + "\n" for r in records).encode("utf-8")
    fd = os.open(workspace.decisions, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def read(workspace: Workspace) -> list[Decision]:
    """Every complete decision in the log, oldest first."""
    if not workspace.decisions.exists():
        return []
    records = []
    for line in workspace.decisions.read_text("utf-8").splitlines(keepends=True):
        if not line.endswith("\n"):
            break  # the tail of an interrupted write
        records.append(Decision.from_json(json.loads(line)))
    return records


FILLED = "propensities_filled"  # frame.attrs: how many propensities fill_propensity filled


def fill_propensity(frame: pd.DataFrame, workspace: Workspace, config: Config) -> pd.DataFrame:
    """Missing acceptance propensities taken from the latest logged decision of each proposal
    (how many: `frame.attrs[FILLED]`)."""
    column = config.roles.get("propensity")
    if column is None:
        return frame
    latest = {r.proposal_id: r.propensity for r in read(workspace)}
    if not latest:
        return frame
    out = frame.copy()
    current = out[column] if column in out else pd.Series(np.nan, index=out.index)
    logged = out[config.role("id")].map(latest).astype(float)
    out[column] = current.where(current.notna(), logged)
    out.attrs[FILLED] = int((current.isna() & logged.notna()).sum())
    return out


def disagreements(frame: pd.DataFrame, logged: list[Decision], config: Config) -> list[str]:
    """What labelled outcomes say against the decision log (`logged`, as `read` gives it),
    in words (stored as given): outcomes of proposals the log declined, and propensities
    other than the logged ones."""
    latest = {r.proposal_id: r for r in logged}
    if not latest:
        return []
    ids = frame[config.role("id")].astype(str).tolist()
    declined = [i for i in ids if i in latest and not latest[i].accepted]
    notes = []
    if declined:
        notes.append(
            f"{plural(len(declined), 'outcome')} of this file "
            f"{'is of a proposal' if len(declined) == 1 else 'are of proposals'} the decision "
            f"log declined ({_some(declined)}): stored as given. Check that the file holds only the "
            "proposals the team took on")
    column = config.roles.get("propensity")
    if column is not None and column in frame:
        given = frame[column].astype(float).tolist()
        differ = [(i, g, latest[i].propensity) for i, g in zip(ids, given, strict=True)
                  if i in latest and np.isfinite(g) and abs(g - latest[i].propensity) > 1e-6]
        if differ:
            i, g, was = differ[0]
            notes.append(
                f"{plural(len(differ), 'proposal')} "
                f"{'carries' if len(differ) == 1 else 'carry'} an {column} other than the log's "
                f"(e.g. {i}: {g:g} in the file, {was:.3g} logged): the file's is stored")
    return notes


def _some(ids: list[str], shown: int = 3) -> str:
    return ", ".join(ids[:shown]) + (f" and {len(ids) - shown} more" if len(ids) > shown else "")
