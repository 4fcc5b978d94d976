"""The model report: what drives the score, whether its probabilities hold, how it was chosen.

Importance and the per-proposal spread of contributions (a beeswarm) come from shap's
own explainer on the training rows, checked against the model at training and kept in
its training record as a compact summary (`model.shap_check.ShapSummary`: mean
|contribution| per feature and a fixed sample of rows), so the report needs no data.
Proposals passed in (`--data`) replace the stored sample in the beeswarm. A model
trained before summaries were kept shows its stored importance and says so.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from model.explain import explain
from model.pairs import with_cells
from model.shap_check import ShapSummary, value_shade
from model.wording import provisional_advice
from pipelines.documents import GateRecord, json_default
from pipelines.jobs.predict import model_info
from pipelines.report.batch import model_name, periods_text
from pipelines.report.card import (
    BELIEFS_EXPLAINED,
    belief_rows,
    metric_words,
    model_card,
    no_pairs_text,
    pair_headers,
    pair_rows,
    pairs_intro,
)
from pipelines.report.page import esc, markdown_to_html, number, table
from pipelines.report.svg import SwarmRow, beeswarm, importance_bars, reliability
from pipelines.report.weak_signals import cell_evidence, weak_signals_section
from pipelines.storage.bundle import Bundle

if TYPE_CHECKING:
    from pipelines.jobs.surprises import WeakSignals

SAMPLE_LIMIT = 500  # dots per feature in the beeswarm; more adds ink, not insight
SWARM_FEATURES = 8


def _labels(bundle: Bundle) -> dict[str, str]:
    return bundle.config.feature_labels


def _header(bundle: Bundle, now: datetime) -> str:
    info, training = model_info(bundle), bundle.training
    data = training.data
    lines = [f"<header><h1>Model report: {esc(model_name(info))}</h1>",
             f"<p class=meta>Trained on {esc(periods_text(info['periods']))}: "
             f"{esc(data.get('rows', '?'))} labelled proposals, {esc(data.get('positives', '?'))} with "
             f"real impact · chosen model <code>{esc(training.chosen)}</code> · trained "
             f"{esc(training.trained_at or '?')} · report created "
             f"{esc(now.strftime('%Y-%m-%d %H:%M %Z').strip())}</p>"]
    if training.provisional:
        advice = provisional_advice(int(data.get("positives") or 0),
                                    bundle.config.model.comfortable_positives)
        lines.append(f"<p class=warning id=provisional>{esc(advice)}</p>")
    lines += [f"<p class=warning>{esc(w)}</p>" for w in training.warnings]
    links = [("importance", "Importance"), ("beliefs", "Beliefs"), ("contributions", "Contributions"),
             ("reliability", "Reliability"), ("backtest", "Backtest"),
             ("weak-signals", "Weak signals"), ("gates", "Promotion"), ("card", "Model card")]
    lines.append("<nav class=toc>" + "".join(f"<a href='#{a}'>{t}</a>" for a, t in links) + "</nav>")
    return "\n".join(lines) + "</header>"


def _summary(bundle: Bundle) -> ShapSummary | None:
    """shap's summary of the training rows, when the training record holds one."""
    stored = bundle.training.shap
    try:
        return ShapSummary.from_json(stored) if isinstance(stored, dict) else None
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _importance(bundle: Bundle) -> str:
    labels, summary = _labels(bundle), _summary(bundle)
    rows = summary.importance if summary else bundle.training.importance
    source = (f"computed by shap's {esc(summary.explainer)} on the {summary.rows} training "
              "proposals" if summary else "on the training proposals")
    bars = importance_bars([(labels.get(r["feature"], r["feature"]), r["mean_abs_logit"], r["direction"])
                            for r in rows], "Mean absolute contribution per factor")
    # Contributions are measured from the average proposal, so their mean is zero by
    # construction: only their size and direction are shown.
    cells = [[esc(labels.get(r["feature"], r["feature"])), number(r["mean_abs_logit"]),
              esc(r["direction"])] for r in rows]
    return ("<section id=importance><h2>What drives the score</h2>"
            "<p>How far each factor moves a training proposal's score on average (mean absolute "
            f"contribution in log-odds, {source}), and in which direction.</p>"
            f"<figure>{bars}</figure>"
            + table(["Factor", "Mean |contribution|", "Direction"], cells,
                    numeric=(1,), cls="importance") + "</section>")


def _beliefs(bundle: Bundle) -> str:
    """The team's beliefs against the outcomes, then the effects learned without one."""
    head = "<section id=beliefs><h2>Beliefs against the outcomes</h2>"
    training = bundle.training
    entries = [*training.beliefs, *training.learned]
    if not entries:
        return (head + "<p class=note id=no-beliefs>This model checked no belief: it was trained "
                "without the team's beliefs as its prior.</p></section>")
    level = bundle.config.model.interval_level
    return (head + f"<p>{esc(BELIEFS_EXPLAINED)}</p>"
            + table(["Belief", "Verdict", "Effect", f"{100 * level:.0f}% interval"],
                    [[esc(cell) for cell in row] for row in belief_rows(entries)],
                    numeric=(2, 3), cls="beliefs") + "</section>")


def _pairs(bundle: Bundle, signals: WeakSignals | None) -> str:
    """The pair cells the model learned, each with the weak-signal report's evidence on it."""
    head = "<section id=learned-pairs><h2>Pairs learned</h2>"
    pairs = bundle.training.pairs
    if not pairs:
        return (head + f"<p class=note id=no-pairs>{esc(no_pairs_text(bundle.training))}</p>"
                "</section>")
    evidence = cell_evidence(signals)
    rows = [[esc(cell) for cell in row]
            + [esc(evidence.get((tuple(p["features"]), tuple(p["values"])), "not tested"))]
            for row, p in zip(pair_rows(pairs), pairs, strict=True)]
    return (head + f"<p>{esc(pairs_intro(bundle.training))}</p>"
            + table([h.capitalize() for h in pair_headers(pairs)] + ["Weak-signal evidence"],
                    rows, numeric=(1, 2, 3, 4), cls="pairs") + "</section>")


def _feature_order(bundle: Bundle, features: tuple[str, ...]) -> list[str]:
    """The features the beeswarm shows: the most important first, at most SWARM_FEATURES."""
    summary = _summary(bundle)
    rows = summary.importance if summary else bundle.training.importance
    order = [r["feature"] for r in rows] or list(features)
    return [f for f in order if f in features][:SWARM_FEATURES]


def swarm_rows(bundle: Bundle, sample: pd.DataFrame) -> list[SwarmRow]:
    """Contributions of the most important features over (at most SAMPLE_LIMIT of) `sample`."""
    if len(sample) > SAMPLE_LIMIT:
        sample = sample.sample(SAMPLE_LIMIT, random_state=0)
    explanation = explain(bundle.model, sample)
    columns = bundle.model.encoder.described
    sample = with_cells(sample, explanation.features, columns)
    rows = []
    for feature in _feature_order(bundle, explanation.features):
        j = explanation.features.index(feature)
        values = sample[feature] if feature in sample else pd.Series([None] * len(sample))
        rows.append(SwarmRow(columns[feature].label, explanation.contributions[:, j],
                             value_shade(columns[feature], values)))
    return rows


def _floats(values: list[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def stored_swarm_rows(bundle: Bundle, summary: ShapSummary) -> list[SwarmRow]:
    """The beeswarm of the training rows shap explained, from the summary in the training record."""
    columns = bundle.model.encoder.described
    features = tuple(f for f in summary.sample if f in columns)
    return [SwarmRow(columns[f].label, _floats(summary.sample[f]),
                     _floats(summary.shade.get(f, [None] * len(summary.sample[f]))))
            for f in _feature_order(bundle, features)]


PLACED = ("placed at the factor's contribution to the log-odds of real impact (left lowers, right "
          "raises); colour shows the proposal's value.")


def _stored_beeswarm(bundle: Bundle, summary: ShapSummary) -> str:
    shown = len(next(iter(summary.sample.values())))
    chart = beeswarm(stored_swarm_rows(bundle, summary),
                     "Contribution of each factor, one dot per training proposal")
    return (f"<figure>{chart}<figcaption>One dot per training proposal ({shown} of {summary.rows}, "
            f"a fixed sample kept with the model; values from shap's {esc(summary.explainer)}), "
            f"{PLACED} Pass <code>--data FILE</code> to draw other proposals instead.</figcaption>"
            "</figure>")


def _contributions(bundle: Bundle, sample: pd.DataFrame | None) -> str:
    head = "<section id=contributions><h2>How each factor moves proposals</h2>"
    summary = _summary(bundle)
    if sample is not None and not sample.empty:
        shown = min(len(sample), SAMPLE_LIMIT)
        chart = beeswarm(swarm_rows(bundle, sample), "Contribution of each factor, one dot per proposal")
        return (head + f"<figure>{chart}<figcaption>One dot per proposal ({shown} of {len(sample)} "
                f"given), {PLACED}</figcaption></figure></section>")
    if summary is not None and summary.sample:
        return head + _stored_beeswarm(bundle, summary) + "</section>"
    return (head + "<p class=note id=no-sample>This model was trained before partnerscore kept a sample "
            "of explained training proposals with it, so this report shows the importance bars above "
            "only. Pass <code>--data FILE</code> (labelled or not) to add a per-proposal beeswarm, or "
            "retrain.</p></section>")


def _reliability(bundle: Bundle) -> str:
    rows = bundle.training.reliability
    head = "<section id=reliability><h2>Are the probabilities right?</h2>"
    if not rows:
        return head + "<p class=note>No reliability figures were stored with this model.</p></section>"
    chart = reliability(rows, "Predicted probability against observed rate")
    return (head + f"<figure>{chart}<figcaption>Out-of-fold predictions in {len(rows)} groups of equal "
            "size: each dot's height is the share that had real impact. Dots on the dashed diagonal "
            "mean the probabilities can be taken at face value.</figcaption></figure></section>")


def _backtest_cells(r: dict[str, Any]) -> list[str]:
    if "skipped" in r:
        return [esc(r["period"]), "–", number(r["rows"]), number(r["positives"]),
                f"skipped: {esc(r['skipped'])}", "", "", ""]
    return [esc(r["period"]), number(r.get("trained_on")), number(r["rows"]), number(r["positives"]),
            number(r.get("expected_positives"), 1), number(r.get("roc_auc")), number(r.get("log_loss")),
            number(r.get("brier"))]


def _backtest(bundle: Bundle) -> str:
    rows = bundle.training.backtest
    headers = ["Period", "Trained on", "Proposals", "With impact", "Expected", "ROC AUC", "Log loss",
               "Brier"]
    body = (table(headers, [_backtest_cells(r) for r in rows], numeric=(1, 2, 3, 4, 5, 6, 7),
                  cls="backtest") if rows else "<p class=note>No backtest was stored with this model.</p>")
    return ("<section id=backtest><h2>Backtest per period</h2><p>Each period scored by a model "
            "trained only on the periods before it.</p>" + body + "</section>")


REPEATED_METRICS = {"roc_auc_99"}  # the ROC AUC again, with the gate's chance interval


def _cell(value: Any) -> str:
    """One field of a gate record; metric maps ({name: {value, low, high}}) shown as 'name value'."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return number(value, 4)
    if isinstance(value, dict) and all(isinstance(v, dict) and "value" in v for v in value.values()):
        return "<br>".join(f"{esc(metric_words(k))} "
                           f"{number(v['value'], 0 if k == 'impact_count' else 4)}"
                           for k, v in value.items() if k not in REPEATED_METRICS)
    if isinstance(value, dict | list):
        return f"<code>{esc(json.dumps(value, default=json_default))}</code>"
    return esc(value)


def _gates(bundle: Bundle, gate_history: list[GateRecord] | None) -> str:
    records = [g.to_json() for g in gate_history or []]
    head = "<section id=gates><h2>Promotion decisions</h2>"
    if not records:
        return (head + "<p class=note id=no-gates>No promotion decision is recorded for this model.</p>"
                "</section>")
    keys = list(dict.fromkeys(k for r in records for k in r))
    rows = [[_cell(r.get(k)) for k in keys] for r in records]
    return head + table([k.replace("_", " ") for k in keys], rows, cls="gates") + "</section>"


def _card(bundle: Bundle, gate_history: list[GateRecord] | None) -> str:
    version = model_info(bundle).get("version")
    gate = next((g.reason for g in gate_history or [] if version and g.version == str(version)), None)
    try:
        text = model_card(bundle.training, _labels(bundle), version=str(version) if version else None,
                          gate=gate, level=bundle.config.model.interval_level)
    except (KeyError, IndexError, TypeError):
        return ("<section id=card><h2>Model card</h2><p class=note>This model's training record is "
                "incomplete; no model card can be written for it.</p></section>")
    return "<section id=card><h2>Model card</h2>" + markdown_to_html(text, shift=2) + "</section>"


def model_body(bundle: Bundle, sample: pd.DataFrame | None,
               gate_history: list[GateRecord] | None, now: datetime,
               weak_signals: WeakSignals | None = None) -> str:
    """Header, importance, beliefs against the outcomes, beeswarm (or a note), reliability,
    backtest, weak signals (or a note), promotions, model card."""
    return "\n".join([_header(bundle, now), _importance(bundle), _beliefs(bundle),
                      _contributions(bundle, sample),
                      _reliability(bundle), _backtest(bundle), weak_signals_section(weak_signals),
                      _pairs(bundle, weak_signals),
                      _gates(bundle, gate_history), _card(bundle, gate_history)])
