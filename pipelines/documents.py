"""Documents that cross modules: scored proposals, gate decisions, logged decisions.

Each is a typed object with its own conversion to and from the JSON (or MLflow tags)
it is stored as, so that no module reads another's output by string keys. The JSON
written by `partnerscore predict --format json` is exactly `ScoredBatch.to_json()`.
Kept import-light: the predict path loads this module.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypedDict, TypeVar

import numpy as np

from model.explain import Reason
from model.features import Flag
from model.wording import belief_sentence

T = TypeVar("T")


def json_default(value: Any) -> Any:
    """What `json.dumps` writes for a value it does not know: numpy booleans and numbers as
    the JSON boolean or number they hold (a numpy boolean as the text "False" would read as
    true), anything else as its text."""
    if isinstance(value, np.bool_ | np.integer | np.floating):
        return value.item()
    return str(value)  # dates and other values as text


__all__ = ["BeliefRecord", "Decision", "Flag", "GateRecord", "Interval", "Reason", "ScoredBatch",
           "ScoredProposal", "TrainingRecord", "json_default"]


@dataclass(slots=True)
class ScoredProposal:
    """One proposal's score, grade, rank and reasons (a record of the predict JSON)."""

    proposal_id: str
    partner_name: str | None
    impact_probability: float
    score: int
    grade: str
    rank: int
    logit: float
    contributions: list[Reason]
    reasons_for: list[Reason]
    reasons_against: list[Reason]
    flags: list[Flag]
    within_capacity: bool | None = None  # set when the team states its capacity
    # (low, high) around impact_probability at the model's interval level (90% by
    # default); None when the model gives no interval (models trained before they did)
    impact_interval: tuple[float, float] | None = None
    # the grades of impact_interval's ends (low end, high end): the grade the proposal could
    # have within its interval; None when the model gives no interval
    grade_interval: tuple[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        """The record as `predict --format json` writes it."""
        interval = None if self.impact_interval is None else list(self.impact_interval)
        grades = None if self.grade_interval is None else list(self.grade_interval)
        out = {"proposal_id": self.proposal_id, "partner_name": self.partner_name,
               "impact_probability": self.impact_probability, "impact_interval": interval,
               "score": self.score, "grade": self.grade, "grade_interval": grades,
               "rank": self.rank, "logit": self.logit,
               "contributions": self.contributions, "reasons_for": self.reasons_for,
               "reasons_against": self.reasons_against, "flags": self.flags}
        if self.within_capacity is not None:
            out["within_capacity"] = self.within_capacity
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScoredProposal:
        """Read a record written by `to_json` (for example by a REST scoring server)."""
        return cls(proposal_id=data["proposal_id"], partner_name=data.get("partner_name"),
                   impact_probability=float(data["impact_probability"]), score=int(data["score"]),
                   grade=str(data["grade"]), rank=int(data["rank"]), logit=float(data["logit"]),
                   contributions=list(data["contributions"]),
                   reasons_for=list(data["reasons_for"]),
                   reasons_against=list(data["reasons_against"]), flags=list(data["flags"]),
                   within_capacity=data.get("within_capacity"),
                   impact_interval=_pair(data.get("impact_interval"), float),
                   grade_interval=_pair(data.get("grade_interval"), str))


def _pair(value: Any, kind: Callable[[Any], T]) -> tuple[T, T] | None:
    """A JSON [low, high] as a tuple of `kind` (None stays None)."""
    if value is None:
        return None
    low, high = value
    return kind(low), kind(high)


@dataclass(frozen=True)
class ScoredBatch:
    """The result of scoring a batch: the model used, the base rate and every proposal.

    `provisional` is true when the model learned from fewer proposals with real impact
    than the configuration's `comfortable_positives` (`model["positives"]` says how many).
    """

    model: dict[str, Any]
    base_logit: float
    base_probability: float
    proposals: list[ScoredProposal]
    capacity: dict[str, Any] | None = None
    provisional: bool = False
    labels: dict[str, str] = field(default_factory=dict)  # feature -> label, for people

    @property
    def training_rate(self) -> float | None:
        """The share of the model's training proposals that had real impact (None when the
        model does not say)."""
        rows, positives = self.model.get("rows"), self.model.get("positives")
        return positives / rows if rows and positives is not None else None

    def ranked(self) -> list[ScoredProposal]:
        """The proposals best first."""
        return sorted(self.proposals, key=lambda p: p.rank)

    def to_json(self) -> dict[str, Any]:
        """The `predict --format json` document."""
        out = {"model": self.model, "provisional": self.provisional,
               "base_logit": self.base_logit, "base_probability": self.base_probability,
               "proposals": [p.to_json() for p in self.proposals]}
        if self.capacity is not None:
            out["capacity"] = self.capacity
        return out


GATE_TAG_LIMIT = 5000  # MLflow tag values are bounded; longer text is cut


@dataclass(frozen=True)
class GateRecord:
    """A promotion decision, stored as tags on the challenger's registered version."""

    passed: bool
    reason: str
    champion: dict[str, Any] = field(default_factory=dict)  # metrics on the newest period
    challenger: dict[str, Any] = field(default_factory=dict)
    version: str | None = None  # the challenger's version, when read back from the registry

    def to_tags(self) -> dict[str, str]:
        """The `gate.*` version tags."""
        return {"gate.passed": str(self.passed).lower(),
                "gate.reason": self.reason[:GATE_TAG_LIMIT],
                "gate.champion": json.dumps(self.champion)[:GATE_TAG_LIMIT],
                "gate.challenger": json.dumps(self.challenger)[:GATE_TAG_LIMIT]}

    @classmethod
    def from_tags(cls, tags: dict[str, str], version: str | None = None) -> GateRecord | None:
        """The decision recorded in a version's tags, or None when it went through no gate."""
        if "gate.passed" not in tags:
            return None
        return cls(passed=tags["gate.passed"] == "true", reason=tags.get("gate.reason", ""),
                   champion=_json_or_empty(tags.get("gate.champion")),
                   challenger=_json_or_empty(tags.get("gate.challenger")), version=version)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping (as stored in the training record and shown in reports)."""
        return {"version": self.version, "passed": self.passed, "reason": self.reason,
                "champion": self.champion, "challenger": self.challenger}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GateRecord:
        """Read what `to_json` wrote."""
        return cls(passed=bool(data.get("passed")), reason=str(data.get("reason", "")),
                   champion=dict(data.get("champion") or {}),
                   challenger=dict(data.get("challenger") or {}), version=data.get("version"))


def _json_or_empty(text: str | None) -> dict[str, Any]:
    """A tag cut at the length limit is no longer JSON: it then reads as empty."""
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Decision:
    """One line of the decision log: a proposal accepted or declined, with its propensity."""

    proposal_id: str
    model_version: str | None
    impact_probability: float
    rank: int
    accepted: bool
    propensity: float  # the probability this proposal had of being accepted
    capacity: int
    explore_rate: float
    decided_at: str
    # Directed exploration (`model.policy`); a log written before it reads as 0, None, None.
    directed_share: float = 0.0  # the chance that an exploring place went to a high-ranked cell
    cell: dict[str, str] | None = None  # the high-ranked cell it belongs to: column -> value
    drawn: str | None = None  # how an accepted one got its place: rank, directed or uniform

    def to_json(self) -> dict[str, Any]:
        """The JSON object written as one line of `decisions.jsonl`."""
        return {"proposal_id": self.proposal_id, "model_version": self.model_version,
                "impact_probability": self.impact_probability, "rank": self.rank,
                "accepted": self.accepted, "propensity": self.propensity,
                "capacity": self.capacity, "explore_rate": self.explore_rate,
                "decided_at": self.decided_at, "directed_share": self.directed_share,
                "cell": self.cell, "drawn": self.drawn}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Decision:
        """Read one logged line."""
        return cls(proposal_id=str(data["proposal_id"]), model_version=data.get("model_version"),
                   impact_probability=float(data["impact_probability"]), rank=int(data["rank"]),
                   accepted=bool(data["accepted"]), propensity=float(data["propensity"]),
                   capacity=int(data["capacity"]), explore_rate=float(data["explore_rate"]),
                   decided_at=str(data["decided_at"]),
                   directed_share=float(data.get("directed_share", 0.0)),
                   cell=None if data.get("cell") is None else {str(k): str(v) for k, v
                                                               in data["cell"].items()},
                   drawn=data.get("drawn"))


class Interval(TypedDict):
    """A metric with its 90% interval (bootstrap; score intervals for ROC AUC and PR AUC)."""

    value: float
    low: float
    high: float


LEARNED = "learned"  # the verdict of an effect nobody declared a belief about


@dataclass(frozen=True)
class BeliefRecord:
    """A belief of the team against the outcomes, or an effect learned without one.

    `effect` and `interval` are in log-odds per typical change of the feature (for a
    category level: its contribution against the average proposal); `verdict` is
    confirmed, contradicted or uncertain for a belief, `learned` for an effect the
    outcomes showed on their own (which then has no `prior`).
    """

    feature: str
    label: str  # the belief in words: "Action plan raises impact"
    effect: float
    interval: tuple[float, float]
    verdict: str
    level: str | None = None
    prior: dict[str, Any] | None = None  # believed direction (+1/-1) and strength

    @property
    def key(self) -> tuple[str, str | None]:
        """What the belief is about: the feature, and the level for a category level."""
        return self.feature, self.level

    def sentence(self, level: float = 0.9) -> str:
        """'Action plan raises impact: confirmed (+0.62 log-odds: odds ×1.86; ...)'."""
        return belief_sentence(self.label, self.verdict, self.effect, self.interval, level)

    def to_json(self) -> dict[str, Any]:
        """{feature, label, prior, effect, interval, verdict}, with `level` for a level and no
        `prior` for a learned effect."""
        out: dict[str, Any] = {"feature": self.feature, "label": self.label, "prior": self.prior,
                               "effect": self.effect, "interval": list(self.interval),
                               "verdict": self.verdict}
        if self.level is not None:
            out["level"] = self.level
        if self.verdict == LEARNED:
            del out["prior"]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BeliefRecord:
        """Read what `to_json` wrote."""
        interval = _pair(data.get("interval"), float) or (float("nan"), float("nan"))
        return cls(feature=str(data["feature"]), label=str(data.get("label", data["feature"])),
                   effect=float(data["effect"]), interval=interval,
                   verdict=str(data.get("verdict", LEARNED)), level=data.get("level"),
                   prior=data.get("prior"))


@dataclass(frozen=True)
class TrainingRecord:
    """What a training learned and how well: `training.json` in the bundle, `train --format json`.

    Nested parts (candidate scores, backtest rows, evidence counts, the shap summary) stay
    JSON-shaped; the record itself is read by attribute. `from_json` accepts records of
    older bundles, which lack the newer parts.
    """

    chosen: str  # the chosen candidate, e.g. "boosted_trees(learning_rate=0.05, ...)"
    chosen_kind: str
    chosen_params: dict[str, Any]
    candidates: list[dict[str, Any]]  # each with its name and cross-validated log loss
    metrics: dict[str, Interval]  # cross-validated, out of fold
    backtest: list[dict[str, Any]]  # one row per backtested period
    backtest_metrics: dict[str, Interval]
    importance: list[dict[str, Any]]
    evidence: dict[str, dict[str, list[int]]]  # feature -> level -> [proposals, with impact]
    reliability: list[dict[str, float]]
    data: dict[str, Any]  # rows, positives, periods, per_period, cv_folds, ...
    warnings: list[str]
    seed: int
    config_digest: str
    data_digest: str
    trained_at: str
    shap: dict[str, Any] | None = None  # shap's summary of the training rows' contributions
    provisional: bool = False  # fewer proposals with real impact than comfortable_positives
    beliefs: list[BeliefRecord] = field(default_factory=list)
    learned: list[BeliefRecord] = field(default_factory=list)  # clear effects nobody declared
    # pair cells the model sets apart most (`model.verdicts.LearnedPair.to_json`)
    pairs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def periods(self) -> list[str]:
        """The trial periods the model learned from, oldest first."""
        return list(self.data.get("periods", []))

    def to_json(self) -> dict[str, Any]:
        """The JSON object written as `training.json`."""
        out = {name: getattr(self, name) for name in _TRAINING_FIELDS}
        out["beliefs"] = [b.to_json() for b in self.beliefs]
        out["learned"] = [b.to_json() for b in self.learned]
        return {k: v for k, v in out.items() if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainingRecord:
        """Read `training.json`; parts an older bundle lacks come back empty."""
        defaults: dict[str, Any] = {"chosen": "?", "chosen_kind": "", "chosen_params": {},
                                    "candidates": [], "metrics": {}, "backtest": [],
                                    "backtest_metrics": {}, "importance": [], "evidence": {},
                                    "reliability": [], "data": {}, "warnings": [], "seed": 0,
                                    "config_digest": "", "data_digest": "", "trained_at": "",
                                    "shap": None, "provisional": False, "pairs": []}
        fields = {name: data.get(name, defaults[name]) for name in _TRAINING_FIELDS
                  if name not in ("beliefs", "learned")}
        return cls(**fields, beliefs=_beliefs(data.get("beliefs")),
                   learned=_beliefs(data.get("learned")))

    def to_tags(self) -> dict[str, str]:
        """The registered version's descriptive tags."""
        return {"periods": ",".join(self.periods), "data_digest": self.data_digest,
                "rows": str(self.data.get("rows", "")),
                "positives": str(self.data.get("positives", "")), "chosen_model": self.chosen,
                "provisional": str(self.provisional).lower()}


def _beliefs(items: Any) -> list[BeliefRecord]:
    return [BeliefRecord.from_json(item) for item in items or []]


_TRAINING_FIELDS = ("chosen", "chosen_kind", "chosen_params", "candidates", "metrics", "backtest",
                    "backtest_metrics", "importance", "evidence", "reliability", "data", "warnings",
                    "seed", "config_digest", "data_digest", "trained_at", "shap", "provisional",
                    "beliefs", "learned", "pairs")
