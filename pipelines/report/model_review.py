"""The model report: what drives the score, whether its probabilities hold, how it was chosen.

The bundle holds no training rows, so the per-proposal spread of contributions (a
SHAP-style beeswarm) is drawn only from proposals the caller passes in (`--data`);
without them the report shows the stored global importance and says so.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from model.config import Column
from model.explain import explain
from pipelines.jobs.predict import model_info
from pipelines.report.batch import model_name, periods_text
from pipelines.report.card import model_card
from pipelines.report.page import esc, markdown_to_html, number, table
from pipelines.report.svg import SwarmRow, beeswarm, importance_bars, reliability
from pipelines.storage.bundle import Bundle

SAMPLE_LIMIT = 500  # dots per feature in the beeswarm; more adds ink, not insight
SWARM_FEATURES = 8


def _labels(bundle: Bundle) -> dict[str, str]:
    return {c.name: c.label for c in bundle.config.columns}


def _header(bundle: Bundle, now: datetime) -> str:
    info, training = model_info(bundle), bundle.training
    data = training.get("data", {})
    lines = [f"<header><h1>Model report: {esc(model_name(info))}</h1>",
             f"<p class=meta>Trained on {esc(periods_text(info['periods']))}: "
             f"{esc(data.get('rows', '?'))} labelled proposals, {esc(data.get('positives', '?'))} with "
             f"real impact · chosen model <code>{esc(training.get('chosen', '?'))}</code> · trained "
             f"{esc(training.get('trained_at', '?'))} · report created "
             f"{esc(now.strftime('%Y-%m-%d %H:%M %Z').strip())}</p>"]
    lines += [f"<p class=warning>{esc(w)}</p>" for w in training.get("warnings", [])]
    links = [("importance", "Importance"), ("contributions", "Contributions"),
             ("reliability", "Reliability"), ("backtest", "Backtest"), ("gates", "Promotion"),
             ("card", "Model card")]
    lines.append("<nav class=toc>" + "".join(f"<a href='#{a}'>{t}</a>" for a, t in links) + "</nav>")
    return "\n".join(lines) + "</header>"


def _importance(bundle: Bundle) -> str:
    labels, rows = _labels(bundle), bundle.training.get("importance", [])
    bars = importance_bars([(labels.get(r["feature"], r["feature"]), r["mean_abs_logit"], r["direction"])
                            for r in rows], "Mean absolute contribution per factor")
    cells = [[esc(labels.get(r["feature"], r["feature"])), number(r["mean_abs_logit"]),
              number(r.get("mean_logit")), esc(r["direction"])] for r in rows]
    return ("<section id=importance><h2>What drives the score</h2>"
            "<p>How far each factor moves a training proposal's score on average (mean absolute "
            "contribution in log-odds), and in which direction.</p>"
            f"<figure>{bars}</figure>"
            + table(["Factor", "Mean |contribution|", "Mean contribution", "Direction"], cells,
                    numeric=(1, 2), cls="importance") + "</section>")


def _shade(column: Column, values: pd.Series) -> np.ndarray:
    """Each proposal's value as 0 (lowest in the sample) to 1 (highest); nan for categories."""
    if column.type == "ordinal":
        position = {v: float(i) for i, v in enumerate(column.values)}
        numbers = pd.Series([position.get(v, np.nan) for v in values], dtype=float)
    elif column.is_numeric or column.type == "boolean":
        numbers = pd.to_numeric(values, errors="coerce").astype(float).reset_index(drop=True)
    else:
        return np.full(len(values), np.nan)
    ranks = numbers.rank(method="average")
    low, high = ranks.min(), ranks.max()
    if not np.isfinite(low) or high == low:
        return np.where(numbers.notna(), 0.5, np.nan)
    return ((ranks - low) / (high - low)).to_numpy(dtype=float)


def swarm_rows(bundle: Bundle, sample: pd.DataFrame) -> list[SwarmRow]:
    """Contributions of the most important features over (at most SAMPLE_LIMIT of) `sample`."""
    if len(sample) > SAMPLE_LIMIT:
        sample = sample.sample(SAMPLE_LIMIT, random_state=0)
    explanation = explain(bundle.model, sample)
    order = [r["feature"] for r in bundle.training.get("importance", [])] or list(explanation.features)
    columns = bundle.config.by_name
    rows = []
    for feature in [f for f in order if f in explanation.features][:SWARM_FEATURES]:
        j = explanation.features.index(feature)
        values = sample[feature] if feature in sample else pd.Series([None] * len(sample))
        rows.append(SwarmRow(columns[feature].label, explanation.contributions[:, j],
                             _shade(columns[feature], values)))
    return rows


def _contributions(bundle: Bundle, sample: pd.DataFrame | None) -> str:
    head = "<section id=contributions><h2>How each factor moves proposals</h2>"
    if sample is None or sample.empty:
        return (head + "<p class=note id=no-sample>No proposals were given to draw the spread of "
                "contributions from: the model bundle holds no training rows, so this report shows the "
                "importance bars above only. Pass <code>--data FILE</code> (labelled or not) to add a "
                "per-proposal beeswarm.</p></section>")
    shown = min(len(sample), SAMPLE_LIMIT)
    chart = beeswarm(swarm_rows(bundle, sample), "Contribution of each factor, one dot per proposal")
    return (head + f"<figure>{chart}<figcaption>One dot per proposal ({shown} of {len(sample)} given), "
            "placed at the factor's contribution to the log-odds of real impact (left lowers, right "
            "raises); colour shows the proposal's value.</figcaption></figure></section>")


def _reliability(bundle: Bundle) -> str:
    rows = bundle.training.get("reliability") or []
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
    rows = bundle.training.get("backtest") or []
    headers = ["Period", "Trained on", "Proposals", "With impact", "Expected", "ROC AUC", "Log loss",
               "Brier"]
    body = (table(headers, [_backtest_cells(r) for r in rows], numeric=(1, 2, 3, 4, 5, 6, 7),
                  cls="backtest") if rows else "<p class=note>No backtest was stored with this model.</p>")
    return ("<section id=backtest><h2>Backtest per period</h2><p>Each period scored by a model "
            "trained only on the periods before it.</p>" + body + "</section>")


def _gate_records(stored: Any, given: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    records = stored if isinstance(stored, list) else [stored] if isinstance(stored, dict) else []
    return [r for r in [*records, *(given or [])] if isinstance(r, dict)]


def _cell(value: Any) -> str:
    """One field of a gate record; metric maps ({name: {value, low, high}}) shown as 'name value'."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return number(value, 4)
    if isinstance(value, dict) and all(isinstance(v, dict) and "value" in v for v in value.values()):
        return "<br>".join(f"{esc(k)} {number(v['value'], 4)}" for k, v in value.items())
    if isinstance(value, dict | list):
        return f"<code>{esc(json.dumps(value, default=str))}</code>"
    return esc(value)


def _gates(bundle: Bundle, gate_history: list[dict[str, Any]] | None) -> str:
    records = _gate_records(bundle.training.get("gate"), gate_history)
    head = "<section id=gates><h2>Promotion decisions</h2>"
    if not records:
        return (head + "<p class=note id=no-gates>No promotion decision is recorded for this model.</p>"
                "</section>")
    keys = list(dict.fromkeys(k for r in records for k in r))
    rows = [[_cell(r.get(k)) for k in keys] for r in records]
    return head + table([k.replace("_", " ") for k in keys], rows, cls="gates") + "</section>"


def _card(bundle: Bundle) -> str:
    gate = bundle.training.get("gate")
    version = model_info(bundle).get("version")
    try:
        text = model_card(bundle.training, _labels(bundle), version=str(version) if version else None,
                          gate=gate if isinstance(gate, str) else None)
    except (KeyError, IndexError, TypeError):
        return ("<section id=card><h2>Model card</h2><p class=note>This model's training record is "
                "incomplete; no model card can be written for it.</p></section>")
    return "<section id=card><h2>Model card</h2>" + markdown_to_html(text, shift=2) + "</section>"


def model_body(bundle: Bundle, sample: pd.DataFrame | None,
               gate_history: list[dict[str, Any]] | None, now: datetime) -> str:
    """Header, importance, beeswarm (or a note), reliability, backtest, promotions, model card."""
    return "\n".join([_header(bundle, now), _importance(bundle), _contributions(bundle, sample),
                      _reliability(bundle), _backtest(bundle), _gates(bundle, gate_history),
                      _card(bundle)])
