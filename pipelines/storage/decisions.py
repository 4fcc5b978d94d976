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


def fill_propensity(frame: pd.DataFrame, workspace: Workspace, config: Config) -> pd.DataFrame:
    """Missing acceptance propensities taken from the latest logged decision of each proposal."""
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
    return out
