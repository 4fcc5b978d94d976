"""The decide job: accept the best proposals within capacity, explore, log every decision.

Every proposal gets a known, non-zero acceptance probability (its propensity), logged
with the decision, so that outcomes learned later from accepted proposals only can be
weighted back to the whole stream of proposals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from model.config import TrackingSettings
from model.policy import choose
from pipelines.documents import Decision, ScoredBatch
from pipelines.settings import Workspace


@dataclass(frozen=True)
class DecideOutcome:
    """The decisions taken and which model ranked the proposals."""

    decisions: list[Decision]
    model_note: str


def decisions_for(batch: ScoredBatch, capacity: int, explore_rate: float,
                  rng: np.random.Generator) -> list[Decision]:
    """Accept the top-ranked proposals plus random exploration; one decision per proposal."""
    probabilities = np.array([p.impact_probability for p in batch.proposals])
    accepted, propensity = choose(probabilities, capacity, explore_rate, rng)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    return [Decision(proposal_id=p.proposal_id, model_version=batch.model.get("version"),
                     impact_probability=p.impact_probability, rank=p.rank, accepted=bool(a),
                     propensity=float(q), capacity=capacity, explore_rate=explore_rate,
                     decided_at=now)
            for p, a, q in zip(batch.proposals, accepted, propensity, strict=True)]


def run_decide(workspace: Workspace, source: str, *, capacity: int, explore_rate: float,
               seed: int | None = None, model: str | None = None,
               tracking: TrackingSettings | None = None) -> DecideOutcome:
    """Score the proposals, decide, and append the decisions to the workspace's log."""
    from pipelines.jobs.predict import run_predict
    from pipelines.storage import decisions
    from pipelines.storage.lock import workspace_lock

    batch, note = run_predict(workspace.champion, source, model=model, tracking=tracking)
    taken = decisions_for(batch, capacity, explore_rate, np.random.default_rng(seed))
    with workspace_lock(workspace):
        decisions.append(workspace, taken)
    return DecideOutcome(taken, note)
