"""After each trial period: ingest, train a challenger, compare with the champion, gate, promote.

The comparison that decides is the one the business cares about: how each model
would have ranked the newest period's proposals without having seen them. The
champion scores them as it is (it was trained before they were labelled); the
challenger's procedure is retrained without that period. Cross-validation over all
periods is reported beside it for context, but the two models' CV figures come from
different data, so they do not decide.

In a steady loop the challenger's procedure without the newest period is the champion
itself, so that comparison cannot tell them apart. Retrain then looks back instead
(`look_back`): the champion against its own procedure without the last period it learned,
both scoring the newest period, which neither has seen. It measures what learning one more
period's outcomes did to the next period's scores: the question this month's promotion
raises, answered for last month's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from model.config import Config
from model.drift import drift_report
from model.estimators import CandidateSpec
from model.gate import GateDecision, decide, with_chance_check
from model.metrics import evaluate, log_loss
from model.progress import NO_PROGRESS, Progress
from model.propensity import scoring_weights
from model.selection import fit_procedure, prepare
from model.training import fewest_outcomes
from model.validation import ContractError, Problem
from model.wording import plural
from pipelines.documents import LEARNED, Decision, GateRecord, TrainingRecord, json_default
from pipelines.jobs.surprises import (
    WeakSignals,
    keep_weak_signals,
    store_key,
    weak_signals_if_possible,
)
from pipelines.settings import Workspace
from pipelines.storage.bundle import Bundle, load_bundle

GATE_FAILED = 4  # exit status when the challenger is not promoted


@dataclass(frozen=True)
class RetrainOutcome:
    """What `partnerscore retrain` reports."""

    challenger: str
    champion_before: str | None
    promoted: bool
    decision: GateDecision
    drift: dict[str, Any]
    ingested: dict[str, str]
    training: TrainingRecord
    weak_signals: WeakSignals | None = None  # improbable alliances in the whole store
    verdict_changes: list[VerdictChange] | None = None  # None: there was no champion
    same_model: str = ""  # the gate could not tell the two apart, and why (else "")
    hindsight: Hindsight | None = None  # the last promotion judged on the newest period
    ingest_notes: tuple[str, ...] = ()  # what the file ingested first says against the log


@dataclass(frozen=True)
class VerdictChange:
    """A belief, or a learned effect, whose verdict differs from the champion's."""

    label: str
    before: str | None  # None: the champion's training did not report it
    after: str | None  # None: the challenger's does not

    @property
    def text(self) -> str:
        """'Action plan raises impact: uncertain → confirmed'."""
        missing = "no clear effect" if LEARNED in (self.before, self.after) else "not checked"
        return f"{self.label}: {self.before or missing} → {self.after or missing}"


def verdict_changes(champion: TrainingRecord, challenger: TrainingRecord) -> list[VerdictChange]:
    """Beliefs and learned effects whose verdict changed, in the challenger's order, then
    those only the champion reported."""
    before = {b.key: b for b in [*champion.beliefs, *champion.learned]}
    after = {b.key: b for b in [*challenger.beliefs, *challenger.learned]}
    changes = []
    for key in dict.fromkeys([*after, *before]):
        old, new = before.get(key), after.get(key)
        was, now = (old.verdict if old else None), (new.verdict if new else None)
        reported = new or old
        if was != now and reported is not None:
            changes.append(VerdictChange(reported.label, was, now))
    return changes


def changes_text(changes: list[VerdictChange] | None) -> str:
    """The verdict changes as lines of text (for the run's artifacts and the console)."""
    if changes is None:
        return "No champion to compare the verdicts with."
    if not changes:
        return "No verdict changed since the champion's."
    return "Verdicts changed since the champion's:\n" + "\n".join(f"- {c.text}" for c in changes)


# Probabilities this close on every proposal of the newest period are the same model's:
# two fits of the same procedure on the same rows, one by the training that made the champion
# and one here, agree to a few 1e-7 (rounding; measured on the sample history and simulated
# periods, shipped configuration), while one more period of outcomes moved them by up to 0.06.
SAME_SCORES = 1e-5


def _spec(training: TrainingRecord) -> CandidateSpec:
    return CandidateSpec(training.chosen_kind, dict(training.chosen_params))


def _score_champion(champion: Bundle, past: pd.DataFrame, newest: pd.DataFrame,
                    config: Config, seed: int, newest_period: str) -> tuple[np.ndarray, str]:
    seen = champion.training.periods
    if newest_period not in seen:
        return champion.model.predict_proba(newest), "champion as it is"
    model, _ = fit_procedure(_spec(champion.training), prepare(past, config), config, seed)
    return model.predict_proba(newest), "champion's procedure retrained without the newest period"


def compare_on_newest(champion: Bundle, challenger: TrainingRecord, proposals: pd.DataFrame,
                      config: Config, seed: int
                      ) -> tuple[dict[str, Any], dict[str, Any], str, str]:
    """Metrics of champion and challenger on the newest period, neither having seen it,
    weighted as `model.propensity_weights` says (`model.propensity`); how the champion was
    scored; and, when the challenger's procedure without the newest period is the champion
    itself (same procedure, same periods: each month of a steady retraining loop), a
    sentence saying that this comparison cannot tell them apart (else "")."""
    period_column = config.role("period")
    newest_period = str(proposals[period_column].max())
    is_newest = (proposals[period_column] == newest_period).to_numpy()
    past, newest = proposals[~is_newest], proposals[is_newest]
    y, w = newest[config.role("label")].to_numpy(float), scoring_weights(newest, config)
    p_champion, how = _score_champion(champion, past, newest, config, seed, newest_period)
    model, _ = fit_procedure(_spec(challenger), prepare(past, config), config, seed)
    p_challenger = model.predict_proba(newest)
    same = ""
    if np.allclose(p_challenger, p_champion, rtol=0.0, atol=SAME_SCORES):
        same = (f"Retrained without {newest_period}, the challenger's procedure gives the "
                f"champion's own scores on all {len(newest)} proposals, so this comparison "
                f"cannot tell them apart: the challenger differs by what it learned from "
                f"{newest_period}'s {len(newest)} outcomes.")
    return (_gate_metrics(y, p_champion, w, config, seed),
            _gate_metrics(y, p_challenger, w, config, seed), how, same)


def too_few_before_newest(proposals: pd.DataFrame, config: Config) -> str:
    """Why the newest period cannot decide (else ""): the periods before it lack one kind of
    outcome, so no procedure can be retrained without it (a store of one period, or earlier
    months without a single partnership of real impact). The challenger has then learned
    every period the champion did (`refuse_if_store_lacks`), and the newest too."""
    period_column, label = config.role("period"), config.role("label")
    periods = proposals[period_column].astype(str)
    newest = str(periods.max())
    y = proposals.loc[(periods != newest).to_numpy(), label].to_numpy(float)
    positives = int(y.sum())
    if min(positives, len(y) - positives) >= 1:  # what any procedure can be retrained on
        return ""
    return (f"no comparison: before {newest} the store holds {len(y)} proposals, {positives} "
            f"with real impact, too few of one kind to retrain a model without {newest} and "
            f"score it there unseen; the challenger learned every period the champion "
            f"learned, and {newest}")


def stored_periods(workspace: Workspace, frame: pd.DataFrame | None,
                   config: Config) -> dict[str, int]:
    """The periods the store holds and their rows, with those of `frame` once it is ingested."""
    from pipelines.storage import store

    periods = {name: int(entry["rows"]) for name, entry in
               store.read_manifest(workspace).get("periods", {}).items()}
    if frame is not None:  # a period already stored keeps its rows: ingest refuses other content
        for name, rows in frame[config.role("period")].astype(str).value_counts().items():
            periods.setdefault(str(name), int(rows))
    return periods


def refuse_if_store_lacks(champion: TrainingRecord, version: str, stored: dict[str, int]) -> None:
    """Refuse a retraining that would learn from fewer outcomes than the champion did.

    A challenger learns from the store alone. A champion trained from a file
    (`train --data`) learned periods the store may not hold, or holds in part (a period
    stored from another file): its challenger would then learn a fraction of them, and
    could replace it with a model of far fewer outcomes.

    Raises:
        TrainingRefused: naming the periods the store lacks or holds in part, and how to
            store them (or, when the stored ones are right, how to promote by hand).
    """
    from model.errors import TrainingRefused

    learned = champion.periods
    per_period = champion.data.get("per_period", {})
    missing = [p for p in learned if p not in stored]
    partial = [(p, stored[p], int(per_period[p]["rows"])) for p in learned
               if p in stored and p in per_period and stored[p] < int(per_period[p]["rows"])]
    if not missing and not partial:
        return
    if missing and len(learned) == 1:
        what = f"trial period {learned[0]}, which the labelled store lacks"
    elif missing:
        span = ", ".join(missing) if len(missing) <= 6 else (
            f"{', '.join(missing[:3])}, … {missing[-1]}")
        what = (f"{len(learned)} trial periods ({learned[0]} to {learned[-1]}), and the "
                f"labelled store lacks {len(missing)} of them ({span})")
    else:
        what = f"{plural(len(learned), 'trial period')} ({learned[0]} to {learned[-1]})"
    if partial:
        shown = ", ".join(f"{p}: {held} of {rows}" for p, held, rows in partial[:6])
        what += (f"{'; it' if missing else ', and the labelled store'} holds fewer proposals "
                 f"than it learned in {plural(len(partial), 'period')} ({shown}"
                 f"{', …' if len(partial) > 6 else ''})")
    them = "it" if len(missing) + len(partial) == 1 else "them"
    raise TrainingRefused(
        f"the champion (version {version}) learned {what}: a challenger learns from the store "
        f"alone, so it would learn from fewer outcomes than the champion. Store {them} first "
        "with partnerscore ingest FILE (the file the champion was trained from; each of its "
        "periods is stored; --replace for a period stored in part), then retrain. If the "
        "store is right as it is, train from it (partnerscore train) and promote that version "
        "by hand (partnerscore promote VERSION). Nothing was stored or trained")


def newest_was_decided(logged: list[Decision], proposals: pd.DataFrame, config: Config) -> bool:
    """Whether the decision log (`logged`) holds proposals of the newest period: then the
    period holds the proposals `decide` accepted, not a whole month, even without
    exploration."""
    decided = {d.proposal_id for d in logged}
    if not decided:
        return False
    periods = proposals[config.role("period")].astype(str)
    newest = proposals.loc[(periods == periods.max()).to_numpy(), config.role("id")]
    return bool(set(newest.astype(str)) & decided)


def refuse_if_nothing_new(champion: TrainingRecord, version: str, proposals: pd.DataFrame,
                          config: Config, seed: int) -> None:
    """Stop before training when the store holds exactly the rows the champion learned and
    the configuration and seed are the ones it was trained with: a challenger would be the
    champion again, registered twice, and would push the real previous champion out of
    @previous.

    Raises:
        NothingNew: saying so and what to do instead.
    """
    from pipelines.errors import NothingNew
    from pipelines.jobs.train import data_digest

    if (champion.config_digest != config.digest or champion.seed != seed
            or champion.data_digest != data_digest(proposals, config)):
        return
    periods = champion.periods
    span = periods[0] if len(periods) == 1 else f"{periods[0]} to {periods[-1]}"
    raise NothingNew(
        f"Nothing new since the champion: version {version} learned the labelled store as it "
        f"is ({len(proposals)} proposals, {span}) with this configuration and seed, so "
        "nothing was trained or registered. Store a new period's outcomes first: partnerscore retrain "
        "FILE --period YYYY-MM (or partnerscore ingest FILE, then retrain).")


def _gate_metrics(y: np.ndarray, p: np.ndarray, w: np.ndarray, config: Config,
                  seed: int) -> dict[str, Any]:
    """The gate's metrics of probabilities `p` for outcomes `y`, weighted by `w`."""
    m = config.model
    return with_chance_check(
        evaluate(y, p, w, k=m.precision_at_k, bootstrap=m.bootstrap_samples, seed=seed), y, w, p)


@dataclass(frozen=True)
class Hindsight:
    """The last period the champion learned, judged on the newest period: the champion
    (`after`) against its own procedure without that period (`before`), neither having
    seen the newest one; metrics as the gate computes them. `earlier_loss`: the log loss
    of the procedure without the last period on the last period and on the newest one,
    neither of which it has seen; `suspect`: when learning the last period made the
    newest one's scores worse beyond the gate's tolerance, the one of the two periods that
    model scores worse, whose outcomes to check first (else ""); named also when the
    scores got worse past the tolerance but within chance (`call` "unclear"), as where to
    look if anything is wrong."""

    learned: str  # the champion's last period
    rows: int  # its outcomes
    newest: str
    before: dict[str, Any]
    after: dict[str, Any]
    earlier_loss: dict[str, float]
    suspect: str
    text: str
    call: str = ""  # "harmed", "helped", "unclear" (past the tolerance, within chance), "within"

    def to_json(self) -> dict[str, Any]:
        """The look-back as gate.json holds it."""
        return {"learned": self.learned, "rows": self.rows, "newest": self.newest,
                "before": self.before, "after": self.after, "earlier_loss": self.earlier_loss,
                "suspect": self.suspect, "text": self.text, "call": self.call}


# How far the paired gap in log loss must stand from zero, in standard errors of the mean
# per-proposal difference, before the look-back calls it a harm or a help: on a month of a
# few accepted proposals the gate's tolerance alone sits inside the noise. One standard
# error keeps what the tolerance found at 150 proposals a month; 1.645 lost a third of the
# damaged periods at 40 (bench/results/look_back.md).
LOOK_BACK_Z = 1.0


def paired_gap_se(y: np.ndarray, before: np.ndarray, after: np.ndarray,
                  w: np.ndarray) -> float:
    """Standard error of the weighted mean per-proposal log-loss difference (after - before)
    on the same proposals."""
    q0, q1 = (np.clip(p, 1e-15, 1 - 1e-15) for p in (before, after))
    d = -(y * np.log(q1) + (1 - y) * np.log(1 - q1)) + (y * np.log(q0) + (1 - y) * np.log(1 - q0))
    if len(d) < 2:
        return float("inf")
    mean = float(np.average(d, weights=w))
    return float(np.sqrt(np.sum(w**2 * (d - mean) ** 2) / (len(d) - 1) * len(d)) / w.sum())


def look_back(champion: Bundle, proposals: pd.DataFrame, config: Config,
              seed: int) -> Hindsight | None:
    """What the champion's last period did to its scores of the newest period, which it has
    not seen: the champion against its procedure retrained without that period, weighted
    as the gate weighs.

    A worse newest period cannot tell which of the two periods is at fault (a newest
    period recorded wrongly punishes the model that learned more), so the procedure
    without the last period also scores the last period, and the period it scores worse is
    named first. None when the champion has seen the newest period or learned a single
    period, when the store no longer holds the rows and outcomes the champion learned from
    each period (a period replaced since), or when its earlier periods hold too few
    outcomes of either kind for the procedure (as its backtest would skip them).
    """
    period_column, label = config.role("period"), config.role("label")
    periods = proposals[period_column].astype(str)
    newest_period = str(periods.max())
    learned = [str(p) for p in champion.training.periods]
    if newest_period in learned or len(learned) < 2 or not _holds(champion, proposals, config):
        return None
    last, earlier = learned[-1], set(learned[:-1])
    past = proposals[periods.isin(earlier).to_numpy()]
    outcomes = past[label].to_numpy(float)
    scarcer = min(int(outcomes.sum()), int(len(outcomes) - outcomes.sum()))
    spec = _spec(champion.training)
    if scarcer < fewest_outcomes(spec, config):
        return None
    model, _ = fit_procedure(spec, prepare(past, config), config, seed)
    newest, was_last = (proposals[(periods == p).to_numpy()] for p in (newest_period, last))
    y, w = newest[label].to_numpy(float), scoring_weights(newest, config)
    without, with_last = model.predict_proba(newest), champion.model.predict_proba(newest)
    before, after = (_gate_metrics(y, p, w, config, seed) for p in (without, with_last))
    earlier_loss = {last: log_loss(was_last[label].to_numpy(float),
                                   model.predict_proba(was_last),
                                   scoring_weights(was_last, config)),
                    newest_period: before["log_loss"]["value"]}
    gap, tolerance = (after["log_loss"]["value"] - before["log_loss"]["value"],
                      abs(config.gate.log_loss_tolerance))
    noise = LOOK_BACK_Z * paired_gap_se(y, without, with_last, w)
    suspect, call = "", "within"
    worse = max(earlier_loss, key=lambda period: (earlier_loss[period], period))
    scored = (f"Without {last}, the procedure scores {last} with a log loss of "
              f"{earlier_loss[last]:.4f} and {newest_period} with "
              f"{earlier_loss[newest_period]:.4f}")
    if gap > max(tolerance, noise):
        call, suspect = "harmed", worse
        verdict = (f"learning them made the scores of {newest_period} worse by more than the "
                   f"gate's tolerance ({tolerance:.4f}), so the outcomes of {last} and "
                   f"{newest_period} disagree. {scored}: check {suspect}'s outcomes first "
                   "(its rows and impact rate: partnerscore store)")
    elif gap < -max(tolerance, noise):
        call = "helped"
        verdict = (f"learning them improved the scores of {newest_period} by more than the "
                   f"gate's tolerance ({tolerance:.4f}) and than chance")
    elif noise > tolerance and abs(gap) > tolerance:
        call = "unclear"
        chance = f"±{noise:.4f} in log loss" if np.isfinite(noise) else "one proposal is too few"
        verdict = (f"a change within what chance gives on {len(y)} proposals ({chance}), too "
                   f"small to tell whether {last}'s outcomes helped or harmed")
        if gap > 0:
            # Worse past the tolerance but within chance: nothing to conclude, yet where to
            # look if anything is wrong (a period recorded backwards lands here a fifth of
            # the time on months of 40; bench/results/look_back.md).
            suspect = worse
            verdict += (f". The scores got worse, so if anything is wrong: {scored}, and "
                        f"{suspect}'s outcomes are the ones to check first")
    else:
        verdict = f"a change within the gate's tolerance ({tolerance:.4f}) either way"
    rows = int((periods == last).sum())
    text = (f"Looking back at the champion's last period ({last}): on {newest_period}, which "
            f"neither has seen, the champion scores a log loss of {after['log_loss']['value']:.4f} "
            f"(ROC AUC {after['roc_auc']['value']:.3f}) and its procedure without {last}'s "
            f"{rows} outcomes {before['log_loss']['value']:.4f} "
            f"(ROC AUC {before['roc_auc']['value']:.3f}): {verdict}.")
    return Hindsight(last, rows, newest_period, before, after, earlier_loss, suspect, text, call)


def _holds(champion: Bundle, proposals: pd.DataFrame, config: Config) -> bool:
    """Whether the store holds, for each period the champion learned, as many rows and
    outcomes with real impact as the champion learned from (else a period was replaced
    since, and its procedure without the last period would not be what it was)."""
    learned = champion.training.data.get("per_period") or {}
    periods = proposals[config.role("period")].astype(str)
    y = proposals[config.role("label")].to_numpy(float)
    for period in champion.training.periods:
        inside = (periods == str(period)).to_numpy()
        counts = learned.get(str(period), {})
        if (not inside.any() or counts.get("rows") != int(inside.sum())
                or counts.get("positives") != int(y[inside].sum())):
            return False
    return True


def _gate_text(decision: GateDecision, how: str, newest_period: str, same: str,
               hindsight: Hindsight | None) -> str:
    verdict = "PASSED: promoted to @champion" if decision.passed else "FAILED: champion kept"
    if how == "no comparison":
        return f"Gate {verdict}: {decision.reason}."
    return " ".join(filter(None, (
        f"Gate {verdict}. Compared on {newest_period} ({how}; challenger retrained without "
        f"it). {decision.reason}.", same, hindsight.text if hindsight else "")))


def _drift_metrics(drift: dict[str, Any]) -> dict[str, float]:
    out = {f"drift_{r['metric']}_{r['feature']}": float(r["distance"])
           for r in drift["features"] if np.isfinite(r["distance"])}
    out["drift_impact_rate_newest"] = drift["impact"]["newest_rate"]
    return out


def _nothing_stored(workspace: Workspace) -> ContractError:
    return ContractError([Problem(None, None, str(workspace.store), "labelled outcomes: pass "
                                  "FILE or run partnerscore ingest first")], source="retrain")


def run_retrain(workspace: Workspace, config: Config, config_text: str, file: Path | None, *,
                period: str | None = None, seed: int = 0,
                progress: Progress = NO_PROGRESS) -> RetrainOutcome:
    """Ingest (optional), train a challenger on all stored periods, gate it, promote on pass."""
    from model.training import start_workers
    from pipelines.jobs.ingest import ingest_notes, read_labelled
    from pipelines.jobs.train import train_and_register
    from pipelines.report.card import model_card
    from pipelines.storage import decisions, store
    from pipelines.storage.lock import workspace_lock
    from pipelines.tracking import registry
    from pipelines.tracking.gateway import CHALLENGER, Gateway

    if file is None and not store.read_manifest(workspace)["periods"]:
        raise _nothing_stored(workspace)  # before the lock and the tracking store: no file made
    with workspace_lock(workspace):
        # Bad input is reported first, then the tracking server is checked: when it is
        # down, nothing is ingested either.
        frame = read_labelled(workspace, config, file, period=period) if file else None
        gateway = Gateway.open(workspace, config.tracking, config.model.experiment)
        name = config.model.registered_name
        champion_before = registry.sync_champion(gateway, workspace, name)
        champion = None
        if champion_before is not None:  # checked before anything is stored or trained
            champion = load_bundle(workspace.champion)
            refuse_if_store_lacks(champion.training, champion_before,
                                  stored_periods(workspace, frame, config))
        ingested = (store.ingest(workspace, frame, config, source=str(file)).periods
                    if frame is not None else {})
        logged = decisions.read(workspace)  # once, for the notes and the drift
        notes = ingest_notes(config, frame, logged) if frame is not None else ()
        proposals = store.read_all(workspace, config)
        key = store_key(workspace, config, seed)  # the store as read, for its weak signals
        if proposals is None:  # emptied since the check above
            raise _nothing_stored(workspace)
        if champion is not None:
            refuse_if_nothing_new(champion.training, str(champion_before), proposals, config,
                                  seed)
        start_workers(proposals, config)
        drift = drift_report(proposals, proposals[config.role("period")], config.role("label"),
                             config.features, seed=seed,
                             propensities=proposals.get(config.roles.get("propensity", "")),
                             decided=newest_was_decided(logged, proposals, config))
        outcome = train_and_register(gateway, config, config_text, proposals,
                                     str(workspace.store), seed=seed, progress=progress)
        changes: list[VerdictChange] | None = None
        hindsight: Hindsight | None = None
        if champion is None:
            decision = GateDecision(True, "no champion yet: the first model becomes champion")
            how, same = "no comparison", ""
        else:
            progress.stage("Comparing with the champion", 1)
            changes = verdict_changes(champion.training, outcome.training)
            unscored = too_few_before_newest(proposals, config)
            if unscored:
                decision = GateDecision(True, unscored)
                how, same = "no comparison", ""
            else:
                champ_metrics, chall_metrics, how, same = compare_on_newest(
                    champion, outcome.training, proposals, config, seed)
                decision = decide(champ_metrics, chall_metrics, config.gate)
            if same:  # the comparison could not tell them apart: look back instead
                hindsight = look_back(champion, proposals, config, seed)
            progress.advance()
        text = _gate_text(decision, how, drift["newest_period"], same, hindsight)
        gate = GateRecord(decision.passed, text, decision.champion, decision.challenger,
                          outcome.version)
        gateway.tag_version(name, outcome.version, gate.to_tags())
        labels = config.feature_labels
        gateway.log_run_outputs(outcome.run_id, metrics=_drift_metrics(drift), texts={
            "drift.json": json.dumps(drift, indent=1, default=json_default),
            "gate.json": json.dumps({**decision.__dict__, "hindsight": hindsight and
                                     hindsight.to_json()}, indent=1, default=json_default),
            "verdict_changes.txt": changes_text(changes),
            "model_card.md": model_card(outcome.training, labels, outcome.version, text,
                                        level=config.model.interval_level,
                                        changes=[c.text for c in changes or []])})
        gateway.set_alias(name, CHALLENGER, outcome.version)
        if decision.passed:
            registry.promote(gateway, workspace, name, outcome.version, text)
    signals = weak_signals_if_possible(proposals, config, str(workspace.store), seed=seed)
    keep_weak_signals(workspace, key, signals)
    return RetrainOutcome(outcome.version, champion_before, decision.passed, decision, drift,
                          ingested, outcome.training, signals, changes, same, hindsight, notes)
