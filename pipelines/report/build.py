"""`partnerscore report`: one self-contained HTML page to review a batch, or to review the model.

With proposals, the page ranks them and explains each one (waterfall of
contributions, evidence from past outcomes, flags, and what-if suggestions on the
negotiable fields). Without, it describes the model: importance, spread of
contributions, reliability, backtest, promotion decisions and the model card.

The file has inline CSS and SVG only: no script, no font, no image or link to fetch.
It reads the same offline as online, prints on A4, and is written atomically.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from model.config import TrackingSettings
from model.whatif import suggest_changes
from pipelines.documents import GateRecord
from pipelines.jobs.predict import (
    model_info,
    read_proposals,
    resolve_model,
    score_batch,
)
from pipelines.report.batch import batch_body, model_name
from pipelines.report.model_review import model_body
from pipelines.report.page import page
from pipelines.settings import Workspace
from pipelines.storage.atomic import write_output
from pipelines.storage.bundle import Bundle

if TYPE_CHECKING:
    from pipelines.jobs.surprises import WeakSignals


def render_report(bundle: Bundle, proposals: pd.DataFrame | None, *, capacity: int | None = None,
                  sample: pd.DataFrame | None = None, gate_history: list[GateRecord] | None = None,
                  now: datetime | None = None, weak_signals: WeakSignals | None = None) -> str:
    """The report as an HTML document: a batch review when `proposals` is given, else a model report.

    Args:
        bundle: the model to report on or to score with.
        proposals: validated proposals to review, or None for a model report.
        capacity: how many proposals the team can take on (batch report).
        sample: validated proposals, labelled or not, to draw the model report's beeswarm from.
        gate_history: promotion decisions to list in the model report, oldest first.
        now: the report's date (default: the current time, UTC).
        weak_signals: the model report's improbable alliances (None: a note on how to get them).
    """
    now = now or datetime.now(UTC)
    name = model_name(model_info(bundle))
    if proposals is None:
        body = model_body(bundle, sample, gate_history, now, weak_signals)
        return page(f"Model report: {name}", body)
    scored = score_batch(bundle, proposals, capacity=capacity)
    suggestions = suggest_changes(bundle.model, bundle.config, proposals)
    n = len(proposals)
    return page(f"Review of {n} proposal{'s' if n != 1 else ''} ({name})",
                batch_body(bundle, proposals, scored, suggestions, now))


def write_report(output: Path, bundle: Bundle, proposals: pd.DataFrame | None, *,
                 capacity: int | None = None, sample: pd.DataFrame | None = None,
                 gate_history: list[GateRecord] | None = None, now: datetime | None = None,
                 weak_signals: WeakSignals | None = None) -> Path:
    """Render the report (see `render_report`) and write it atomically to `output`; returns `output`."""
    document = render_report(bundle, proposals, capacity=capacity, sample=sample,
                             gate_history=gate_history, now=now, weak_signals=weak_signals)
    output = Path(output)
    write_output(output, document.encode("utf-8"))
    return output


def report_command(workspace: Workspace, file: str | None, *, output: Path, model: str | None,
                   capacity: int | None, data: Path | None, sheet: str | None,
                   gate_history: list[GateRecord] | None = None,
                   tracking: TrackingSettings | None = None,
                   weak_signals: WeakSignals | None = None) -> None:
    """Validate every input, then write the report: a batch review with FILE, else a model report.

    `capacity` applies to a batch review, `data` (proposals, labelled or not, for the
    beeswarm) and `gate_history` (promotion decisions) to a model report; `data` is
    validated in either case. Nothing is written when an input is bad. `tracking` bounds
    the waits on a tracking server for a `models:/` model (default: the shipped settings).
    `weak_signals` is the model report's list of improbable alliances.

    Raises:
        ContractError: when FILE or `data` breaks the data contract.
        BundleError: when the model is missing, altered or untrusted.
    """
    bundle = resolve_model(model, workspace.champion, tracking)
    proposals = read_proposals(file, [], bundle.config, sheet) if file is not None else None
    sample = None
    if data is not None:
        from pipelines.storage.readers import load_proposals

        sample = load_proposals(data, bundle.config, labelled=False, sheet=sheet)
    write_report(output, bundle, proposals, capacity=capacity, sample=sample, gate_history=gate_history,
                 weak_signals=weak_signals)
