"""The model card: a Markdown page a data team and BD staff can read."""

from __future__ import annotations

from typing import Any


def _interval(metric: dict[str, float]) -> str:
    return f"{metric['value']:.3f} (90% interval {metric['low']:.3f} to {metric['high']:.3f})"


def _metrics_table(metrics: dict[str, dict[str, float]]) -> list[str]:
    lines = ["| metric | value |", "|---|---|"]
    lines += [f"| {name} | {_interval(m)} |" for name, m in metrics.items()]
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


def model_card(training: dict[str, Any], labels: dict[str, str],
               version: str | None = None, gate: str | None = None) -> str:
    """Data covered, metrics with intervals, backtest, top factors, gate decision, limits."""
    data = training["data"]
    title = f"# partnerscore model{' v' + version if version else ''}"
    lines = [title, "", f"Trained {training.get('trained_at', '')} with seed {training['seed']}.", ""]
    lines += [*[f"> **{w}**" for w in training.get("warnings", [])], ""]
    lines += ["## Data", f"- {data['rows']} labelled proposals, {data['positives']} with real impact, "
              f"periods {data['periods'][0]} to {data['periods'][-1]} ({len(data['periods'])}).",
              f"- Effective sample size after propensity weights: {data['effective_sample_size']}.",
              f"- Data digest: `{training.get('data_digest', '')}`.", ""]
    lines += ["## Model", f"Chosen: `{training['chosen']}` by {data['cv_folds']}-fold repeated "
              "cross-validation on log loss, calibrated by Platt scaling on out-of-fold scores.", ""]
    lines += ["| candidate | CV log loss |", "|---|---|"]
    lines += [f"| {c['name']} | {c['cv_log_loss']:.4f} |" for c in training["candidates"]]
    lines += ["", "## Cross-validated metrics", *_metrics_table(training["metrics"]), ""]
    lines += ["## Backtest (trained on earlier periods only)", *_backtest_table(training["backtest"])]
    if training.get("backtest_metrics"):
        lines += ["", "Pooled over the backtested periods:", *_metrics_table(training["backtest_metrics"])]
    lines += ["", "## Top factors", "| factor | mean contribution (log-odds) | direction |", "|---|---|---|"]
    lines += [f"| {labels.get(r['feature'], r['feature'])} | {r['mean_abs_logit']:.3f} | {r['direction']} |"
              for r in training["importance"][:8]]
    lines += ["", "## Promotion", gate or "Not yet compared with a champion.", ""]
    lines += ["## Known limits",
              f"- Learned from {data['positives']} successes: rare situations are uncertain.",
              "- Categories seen fewer than the configured minimum are grouped as 'other'; "
              "proposals with novel categories or values outside the training range are flagged.",
              "- Outcomes after the trial month exist only for accepted proposals; training "
              "weights rows by inverse acceptance propensity to correct for that.", ""]
    return "\n".join(lines)
