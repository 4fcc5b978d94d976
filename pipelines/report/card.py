"""The model card: a Markdown page a data team and BD staff can read."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from model.bayes import PAIR_LEVEL, PAIR_NOTABLE
from model.pairs import recorded_label
from model.scorer import BAYES
from model.verdicts import excludes_zero
from model.wording import provisional_advice
from pipelines.documents import BeliefRecord, Interval, TrainingRecord

METRIC_WORDS = {"log_loss": "log loss", "roc_auc": "ROC AUC", "pr_auc": "PR AUC",
                "brier": "Brier score", "ece": "calibration error", "impact_count": "real impacts"}


def metric_words(name: str) -> str:
    """A metric as people read it: 'roc_auc' -> 'ROC AUC', 'precision_at_5' -> 'precision at 5'."""
    return METRIC_WORDS.get(name, name.replace("_", " "))


def _interval(metric: Interval) -> str:
    return f"{metric['value']:.3f} (90% interval {metric['low']:.3f} to {metric['high']:.3f})"


def _metrics_table(metrics: dict[str, Interval]) -> list[str]:
    lines = ["| metric | value |", "|---|---|"]
    lines += [f"| {metric_words(name)} | {_interval(m)} |" for name, m in metrics.items()]
    return lines


def _backtest_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| period | rows | with impact | expected | ROC AUC | log loss |", "|---|---|---|---|---|---|"]
    for r in rows:
        if "skipped" in r:
            lines.append(f"| {r['period']} | {r['rows']} | {r['positives']} | skipped: "
                         f"{r['skipped']} | | |")
        else:
            lines.append(f"| {r['period']} | {r['rows']} | {r['positives']} | "
                         f"{r['expected_positives']:.1f} | {r['roc_auc']:.3f} | {r['log_loss']:.3f} |")
    return lines


BELIEFS_EXPLAINED = (
    "What the team believed about each factor, and what the outcomes made of it: confirmed "
    "when the whole interval lies on the believed side of zero, contradicted when it lies on "
    "the other, uncertain otherwise; learned marks a clear effect nobody declared. Effects "
    "are in log-odds per typical change (false to true, or two standard deviations of a number).")


def belief_rows(entries: Sequence[BeliefRecord]) -> list[list[str]]:
    """Belief, verdict, effect and interval of each entry, as plain text cells."""
    return [[e.label, e.verdict, f"{e.effect:+.2f}",
             f"{e.interval[0]:+.2f} to {e.interval[1]:+.2f}"] for e in entries]


PAIRS_EXPLAINED = (
    "Cells of the watched pairs (interactions in the configuration) that the model sets apart "
    "from what their two features predict on their own: each term multiplies the odds of real "
    "impact of a proposal in the cell. Terms are pooled towards zero until a cell's own "
    "outcomes say otherwise, so a few outcomes move them little; clear marks a term whose "
    f"interval excludes zero. Cells have a stricter interval ({PAIR_LEVEL:.0%}) than single "
    "effects: among hundreds of cells, a 90% interval would exclude zero for a few by chance.")
# The level of pair intervals recorded before it was stored with them.
EARLIER_PAIR_LEVEL = 0.9


def pair_headers(pairs: Sequence[Mapping[str, Any]]) -> list[str]:
    """The learned-pairs table's headers, the interval's with its level as recorded."""
    level = float(pairs[0].get("level", EARLIER_PAIR_LEVEL)) if pairs else PAIR_LEVEL
    return ["pair", "proposals", "with real impact", "term (log-odds)", "odds",
            f"{100 * level:.0f}% interval", ""]


def pair_clear(pair: Mapping[str, Any]) -> bool:
    """Whether a recorded pair cell's interval excludes zero, read from the interval itself:
    models recorded by earlier versions hold `clear` as the text "True" or "False"."""
    return excludes_zero(*pair["interval"])


def pair_rows(pairs: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    """Each learned pair cell (`TrainingRecord.pairs`) as plain text cells, largest term first."""
    return [[recorded_label(p.get("value_labels"), p["values"]), str(p["rows"]),
             f"{p['observed']:g}",
             f"{p['effect']:+.2f}", f"×{math.exp(p['effect']):.2f}",
             f"{p['interval'][0]:+.2f} to {p['interval'][1]:+.2f}",
             "clear" if pair_clear(p) else ""] for p in pairs]


def no_pairs_text(training: TrainingRecord) -> str:
    """Why a training lists no learned pair cell."""
    cells = int(training.data.get("pair_cells", 0) or 0)
    if cells:
        return (f"No pair cell stands out yet: each of the {cells} cells with enough proposals "
                f"has a term below {PAIR_NOTABLE:g} log-odds (odds ×{math.exp(PAIR_NOTABLE):.2f})"
                " and an interval around zero.")
    return ("No pair term: no cell of the watched pairs (interactions in the configuration) has "
            "enough proposals yet, or no pair is watched.")


def pairs_intro(training: TrainingRecord) -> str:
    """What the learned pairs are, and whose terms they are when the chosen model is trees."""
    if training.chosen_kind == BAYES:
        return PAIRS_EXPLAINED
    return (PAIRS_EXPLAINED + " The chosen model is not the bayes model and finds combinations "
            "on its own: these are the terms the bayes model learned on the same outcomes (it "
            "also gives the intervals).")


def _pairs_table(training: TrainingRecord) -> list[str]:
    if not training.pairs:
        return [no_pairs_text(training), ""]
    headers = pair_headers(training.pairs)
    lines = [pairs_intro(training), "", "| " + " | ".join(headers) + " |",
             "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |"
              for row in pair_rows(training.pairs)]
    return [*lines, ""]


def _beliefs_table(training: TrainingRecord, level: float) -> list[str]:
    entries = [*training.beliefs, *training.learned]
    if not entries:
        return ["No belief was checked: this model was trained without the team's beliefs "
                "as its prior.", ""]
    lines = [BELIEFS_EXPLAINED, "",
             f"| belief | verdict | effect (log-odds) | {100 * level:.0f}% interval |",
             "|---|---|---|---|"]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |"
              for row in belief_rows(entries)]
    return [*lines, ""]


def _method(training: TrainingRecord) -> str:
    if training.chosen_kind == BAYES:
        return ("a logistic regression whose prior is the team's beliefs; its probabilities "
                "and their intervals come from the posterior (no Platt scaling)")
    return "calibrated by Platt scaling on out-of-fold scores"


def _propensity_note(mode: str) -> str:
    """How training treated acceptance propensities (`model.propensity_weights`)."""
    if mode == "fit":
        return "training weights rows by inverse acceptance propensity to correct for that."
    scored = (" Its cross-validated, backtest and gate figures weight them by inverse "
              "acceptance propensity." if mode == "evaluation" else "")
    return (f"the model learns from each outcome once (model.propensity_weights: {mode}; "
            "weighting the fits by inverse acceptance propensity measured no better)." + scored)


def model_card(training: TrainingRecord, labels: dict[str, str],
               version: str | None = None, gate: str | None = None, *, level: float = 0.9,
               changes: Sequence[str] = ()) -> str:
    """Data covered, metrics with intervals, backtest, top factors, beliefs against the
    outcomes, gate decision (and the verdicts it changed), limits."""
    data = training.data
    title = f"# partnerscore model{' v' + version if version else ''}"
    lines = [title, "", f"Trained {training.trained_at} with seed {training.seed}.", ""]
    if training.provisional:
        lines += [f"> **{provisional_advice(int(data['positives']))}**", ""]
    lines += [*[f"> **{w}**" for w in training.warnings], ""]
    lines += ["## Data", f"- {data['rows']} labelled proposals, {data['positives']} with real impact, "
              f"periods {data['periods'][0]} to {data['periods'][-1]} ({len(data['periods'])}).",
              f"- Effective sample size after propensity weights: {data['effective_sample_size']}.",
              f"- Data digest: `{training.data_digest}`.", ""]
    lines += ["## Model", f"Chosen: `{training.chosen}` by {data['cv_folds']}-fold repeated "
              f"cross-validation on log loss, {_method(training)}.", ""]
    lines += ["| candidate | CV log loss, mean over the repeats |", "|---|---|"]
    lines += [f"| {c['name']} | {c['cv_log_loss']:.4f} |" for c in training.candidates]
    lines += ["", "## Cross-validated metrics",
              "The chosen model's out-of-fold probabilities averaged over the repeats, then "
              "scored: their log loss differs a little from the candidate's mean over the "
              "repeats above (usually lower).", "",
              *_metrics_table(training.metrics), ""]
    lines += ["## Backtest (trained on earlier periods only)", *_backtest_table(training.backtest)]
    if training.backtest_metrics:
        lines += ["", "Pooled over the backtested periods:", *_metrics_table(training.backtest_metrics)]
    lines += ["", "## Top factors", "| factor | mean size of contribution (log-odds) | direction |",
              "|---|---|---|"]
    lines += [f"| {labels.get(r['feature'], r['feature'])} | {r['mean_abs_logit']:.3f} | {r['direction']} |"
              for r in training.importance[:8]]
    lines += ["", "## Beliefs against the outcomes", *_beliefs_table(training, level)]
    lines += ["## Pairs learned", *_pairs_table(training)]
    lines += ["## Promotion", gate or "Not yet compared with a champion.", ""]
    if changes:
        lines += ["Verdicts changed since the champion's:", *[f"- {c}" for c in changes], ""]
    lines += ["## Known limits",
              f"- Learned from {data['positives']} successes: rare situations are uncertain.",
              "- Categories seen fewer than the configured minimum are grouped as 'other'; "
              "proposals with novel categories or values outside the training range are flagged.",
              f"- Outcomes after the trial month exist only for accepted proposals; "
              f"{_propensity_note(str(data.get('propensity_weights', 'fit')))}", ""]
    return "\n".join(lines)
