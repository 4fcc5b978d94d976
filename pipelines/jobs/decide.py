"""The decide job: accept the best proposals within capacity, explore, log every decision.

Every proposal gets a known acceptance probability (its propensity), logged with the
decision, so that outcomes learned later from accepted proposals only can be weighted
back to the whole stream of proposals.

Directed exploration: a share of the exploring places (`decide.directed_share`) goes to
proposals of the cells the weak-signal report ranks high, so that a surprise is
confirmed or dismissed sooner than uniform exploration would. "Ranked high" means the
first `decide.directed_cells` of the report's better-than-expected cells, strongest
evidence first, whether or not they are called strong: a weak signal is exactly what
more outcomes settle. The report is that of the workspace's labelled store at decide
time, with the configuration's `interactions:` and `surprises:` settings and a
fixed seed: it then counts every period ingested since the champion was trained, needs
no change to the exported model, and the same store and configuration give the same
cells. It costs a few seconds of cross-validated main-effects fits the first time;
`retrain` leaves the report beside the store, and decide reads it back until the store
or the configuration changes (`pipelines.jobs.surprises.store_weak_signals`). Without a
labelled store, with too few outcomes for the report, or with no better-than-expected
cell, the directed places fall back to uniform exploration and the logged propensities
are those of uniform exploration.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from model.config import Config, TrackingSettings
from model.policy import draw
from pipelines.documents import Decision, ScoredBatch
from pipelines.settings import Workspace

if TYPE_CHECKING:
    from model.surprises import Cell
    from pipelines.jobs.surprises import WeakSignals

CellValues = dict[str, str]  # column -> value: one cell of a watched pair


@dataclass(frozen=True)
class DirectedCells:
    """The cells exploration is directed to, and where they come from (or why there are none)."""

    cells: tuple[Cell, ...]
    note: str


@dataclass(frozen=True)
class DecideOutcome:
    """The decisions taken, which model ranked the proposals and where exploration went."""

    decisions: list[Decision]
    model_note: str
    directed: DirectedCells | None = None  # None when no place could be directed


def high_ranked_cells(signals: WeakSignals | None, count: int) -> DirectedCells:
    """The first `count` better-than-expected cells of a weak-signal report, strongest first."""
    if signals is None:
        return DirectedCells((), "No labelled store: exploration is uniform")
    if signals.report is None:
        return DirectedCells((), f"No weak-signal report ({signals.refused}): exploration is uniform")
    if signals.report.tested == 0:
        return DirectedCells((), f"No cell of the watched pairs has {signals.settings.min_rows} "
                                 f"labelled proposals yet ({signals.rows} stored): no cell was "
                                 "tested, exploration is uniform")
    cells = signals.report.cells[:count]
    if not cells:
        return DirectedCells((), "No cell beats its expectation: exploration is uniform")
    from pipelines.report.weak_signals import pair_words

    named = "; ".join(pair_words(c) for c in cells)
    strong = sum(c.strong for c in cells)
    status = ("none of them strong yet: leads that more outcomes will confirm or dismiss"
              if not strong else f"{strong} of them strong")
    return DirectedCells(cells, f"Exploration directed to {len(cells)} cell(s) ranked high by "
                                f"the weak-signal report of {signals.rows} labelled proposals, "
                                f"{status}: {named}")


def cells_of(proposals: pd.DataFrame, cells: Sequence[Cell]) -> list[CellValues | None]:
    """Per proposal, the first (strongest) of `cells` it belongs to, or None.

    A proposal lacking a value of the pair, or a column of it, belongs to no cell of that pair.
    """
    found: list[CellValues | None] = [None] * len(proposals)
    for cell in reversed(cells):  # stronger cells overwrite weaker ones
        if not set(cell.features) <= set(proposals.columns):
            continue
        member = np.ones(len(proposals), dtype=bool)
        for feature, value in zip(cell.features, cell.values, strict=True):
            column = proposals[feature].to_numpy(object)
            member &= np.array([not pd.isna(v) and str(v) == value for v in column], dtype=bool)
        for i in np.flatnonzero(member):
            found[i] = dict(zip(cell.features, cell.values, strict=True))
    return found


def decisions_for(batch: ScoredBatch, capacity: int, explore_rate: float,
                  rng: np.random.Generator, *, cells: Sequence[CellValues | None] | None = None,
                  directed_share: float = 0.0) -> list[Decision]:
    """Accept the top-ranked proposals plus exploration; one decision per proposal.

    Args:
        cells: per proposal, the high-ranked cell it belongs to (None: none); the
            proposals with a cell form the directed pool.
        directed_share: the chance that an exploring place goes to the directed pool.
    """
    probabilities = np.array([p.impact_probability for p in batch.proposals])
    cells = list(cells) if cells is not None else [None] * len(batch.proposals)
    directed = np.array([c is not None for c in cells], dtype=bool)
    choice = draw(probabilities, capacity, explore_rate, rng, directed=directed,
                  directed_share=directed_share)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    return [Decision(proposal_id=p.proposal_id, model_version=batch.model.get("version"),
                     impact_probability=p.impact_probability, rank=p.rank, accepted=bool(a),
                     propensity=float(q), capacity=capacity, explore_rate=explore_rate,
                     decided_at=now, directed_share=directed_share, cell=cell,
                     drawn=str(how) or None)
            for p, a, q, cell, how in zip(batch.proposals, choice.accepted, choice.propensity,
                                          cells, choice.drawn, strict=True)]


def directed_cells(workspace: Workspace, config: Config) -> DirectedCells:
    """The high-ranked cells of the weak-signal report of the workspace's labelled store."""
    from pipelines.jobs.surprises import store_weak_signals

    signals = store_weak_signals(workspace, config, seed=0)
    return high_ranked_cells(signals, config.decide.directed_cells)


def run_decide(workspace: Workspace, source: str, *, capacity: int, explore_rate: float,
               seed: int | None = None, model: str | None = None,
               tracking: TrackingSettings | None = None,
               config: Config | None = None, again: bool = False) -> DecideOutcome:
    """Score the proposals, decide, and append the decisions to the workspace's log.

    `config` gives the directed share and the watched pairs (None: uniform exploration).

    Raises:
        ContractError: when the log already holds a decision on one of the proposals and
            `again` is not set (nothing is logged then): a second draw could accept a
            proposal the first declined, and its outcome would be weighted by whichever
            propensity came last.
    """
    from pipelines.jobs.predict import offline_note, read_proposals, resolve_model, score_batch
    from pipelines.storage import decisions
    from pipelines.storage.lock import workspace_lock

    bundle = resolve_model(model, workspace.champion, tracking)
    proposals = read_proposals(source, [], bundle.config)
    batch = score_batch(bundle, proposals)
    share = config.decide.directed_share if config is not None and explore_rate > 0 else 0.0
    directed = directed_cells(workspace, config) if config is not None and share > 0 else None
    taken = decisions_for(batch, capacity, explore_rate, np.random.default_rng(seed),
                          cells=cells_of(proposals, directed.cells) if directed else None,
                          directed_share=share)
    with workspace_lock(workspace):
        if not again:
            refuse_decided(proposals, decisions.read(workspace), bundle.config)
        decisions.append(workspace, taken)
    return DecideOutcome(taken, offline_note(bundle), directed)


def refuse_decided(proposals: pd.DataFrame, logged: list[Decision], config: Config) -> None:
    """Raise a ContractError naming each proposal the decision log already holds."""
    from model.validation import ContractError, Problem

    latest = {d.proposal_id: d for d in logged}
    id_name = config.role("id")
    problems = []
    for row, proposal_id in zip(proposals.index, proposals[id_name].astype(str), strict=True):
        if proposal_id in latest:
            d = latest[proposal_id]
            problems.append(Problem(
                int(row) if isinstance(row, (int, np.integer)) else None, id_name, proposal_id,
                f"a proposal not decided yet: it was {'accepted' if d.accepted else 'declined'} "
                f"on {d.decided_at} (propensity {d.propensity:.3f}); pass only new proposals, "
                "or --again to decide anew (the new decision then supersedes it)"))
    if problems:
        raise ContractError(problems, source="decide")
