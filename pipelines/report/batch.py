"""The review report of a batch of proposals: a ranked table, then one section per proposal.

The numbers come from `score_batch`, the same function behind `partnerscore predict`,
and each probability is also written unrounded in a `data-probability` attribute so
that anyone can check the page against the JSON output.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd

from model.whatif import Suggestion
from model.wording import evidence_note, flag_note, grade_range_text, provisional_advice
from pipelines.documents import Flag, Reason, ScoredBatch, ScoredProposal
from pipelines.report.page import esc, percent, points, table
from pipelines.report.svg import waterfall
from pipelines.storage.bundle import Bundle

WATERFALL_STEPS = 8  # factors drawn one by one; the rest are summed into one bar


def model_name(info: dict[str, Any]) -> str:
    """'partnerscore v3', or the model's location when it was never registered."""
    return f"{info['name']} v{info['version']}" if info.get("version") else str(info.get("uri"))


def periods_text(periods: list[str]) -> str:
    """'12 trial periods, 2025-01 to 2025-12'."""
    if not periods:
        return "no recorded trial period"
    plural = "s" if len(periods) != 1 else ""
    return f"{len(periods)} trial period{plural}, {periods[0]} to {periods[-1]}"


def _grades(bundle: Bundle, scored: ScoredBatch) -> str:
    grades = bundle.config.scoring.grades
    parts = [f"{name} from {100 * low:g}%" for name, low in grades[:-1]]  # cut-offs as set
    spans = ("; beneath a grade, the grades its interval spans"
             if scored.model.get("interval_level") else "")
    return "Grades: " + ", ".join(parts) + f", {grades[-1][0]} below{spans}."


def _observed_rate(scored: ScoredBatch) -> str:
    """'; 13% of them had real impact, more than the base: a few likely proposals raise
    a rate more than an average of log-odds' (empty when the counts are unknown)."""
    rate = scored.training_rate
    if rate is None:
        return ""
    side = "more" if rate > scored.base_probability else "less"
    return (f" ({percent(rate)} of them had real impact, {side} than the base: a few likely "
            "proposals move a rate more than an average of log-odds)")


def _header(bundle: Bundle, scored: ScoredBatch, now: datetime) -> str:
    n = len(scored.proposals)
    lines = [f"<header><h1>Review of {n} partnership proposal{'s' if n != 1 else ''}</h1>",
             f"<p class=meta>Model <strong>{esc(model_name(scored.model))}</strong> · trained on "
             f"{esc(periods_text(scored.model['periods']))} · report created "
             f"{esc(now.strftime('%Y-%m-%d %H:%M %Z').strip())}</p>",
             f"<p>Each proposal's points start from the base, "
             f"<strong id=base-probability>{percent(scored.base_probability)}</strong>: the "
             f"probability of a proposal at the average of the training proposals' log-odds"
             f"{esc(_observed_rate(scored))}. {esc(_grades(bundle, scored))}</p>"]
    if scored.capacity is not None:
        c = scored.capacity
        low, high = c["impactful_range"]
        lines.append(f"<p class=note id=capacity>Capacity {c['capacity']}: the top {c['selected']} "
                     f"proposals are expected to give {c['expected_impactful']:.1f} partnerships "
                     f"with real impact, between {low} and {high} in 90% of cases (the model's "
                     "uncertainty and chance together).</p>")
    if scored.provisional:
        advice = provisional_advice(int(scored.model.get("positives") or 0),
                                    bundle.config.model.comfortable_positives)
        lines.append(f"<p class=warning id=provisional>{esc(advice)}</p>")
    lines += [f"<p class=warning>{esc(w)}</p>" for w in bundle.training.warnings]
    lines.append("<nav class=toc><a href='#ranking'>Ranking</a><a href='#proposals'>Each proposal</a></nav>")
    return "\n".join(lines) + "</header>"


def _reason_list(items: list[Reason], bundle: Bundle | None = None) -> str:
    if not items:
        return "<span class=meta>none</span>"
    out = []
    for item in items:
        side = "up" if item["points"] >= 0 else "down"
        note = (evidence_note(bundle.config.by_name, bundle.training.evidence,
                              item["feature"], item["value"]) if bundle else None)
        extra = f"<span class=evidence>{esc(note)}</span>" if note else ""
        out.append(f"<li><span class='pts {side}'>{points(item['points'])}</span> "
                   f"{esc(item['label'])}{extra}</li>")
    return "<ul class=reasons>" + "".join(out) + "</ul>"


def _flag_tags(bundle: Bundle, flags: list[Flag]) -> str:
    notes = [_flag_note(bundle, f) for f in flags]
    return "".join(f"<span class=flag title='{esc(sentence)}'>{esc(tag)}</span>"
                   for tag, sentence in notes) or "<span class=meta>none</span>"


def _flag_note(bundle: Bundle, flag: Flag) -> tuple[str, str]:
    return flag_note(bundle.config.by_name, bundle.model.encoder.specs_, flag)


def _capacity_mark(record: ScoredProposal) -> str:
    return " <span class=in-capacity>within capacity</span>" if record.within_capacity else ""


def _ranking(bundle: Bundle, scored: ScoredBatch) -> str:
    rows, attrs = [], []
    capacity = (scored.capacity or {}).get("capacity")
    for r in scored.ranked():
        name = f"<br><span class=meta>{esc(r.partner_name)}</span>" if r.partner_name else ""
        rows.append([str(r.rank), f"<a href='#proposal-{r.rank}'>{esc(r.proposal_id)}</a>{name}",
                     percent(r.impact_probability) + _capacity_mark(r),
                     esc(_interval_text(r.impact_interval)),
                     _grade_badge(r, spans_below=True),
                     _reason_list(r.reasons_for), _reason_list(r.reasons_against),
                     _flag_tags(bundle, r.flags)])
        edge = " class=capacity-edge" if r.rank == capacity else ""
        attrs.append(f"{edge} data-proposal-id='{esc(r.proposal_id)}' "
                     f"data-probability='{r.impact_probability!r}' data-rank='{r.rank}'"
                     + _interval_attrs(r))
    headers = ["#", "Proposal", "Probability", interval_name(scored.model), "Grade", "For",
               "Against", "Flags"]
    return ("<section id=ranking><h2>Ranking</h2>"
            + table(headers, rows, numeric=(0, 2, 3), row_attrs=attrs, cls="ranking") + "</section>")


def interval_name(info: dict[str, Any]) -> str:
    """'90% interval' (the model's level), or 'Interval' when it gives none."""
    level = info.get("interval_level")
    return f"{100 * level:.0f}% interval" if level else "Interval"


def _interval_attrs(record: ScoredProposal) -> str:
    """The interval unrounded, so that the page can be checked against the JSON output."""
    if record.impact_interval is None:
        return ""
    low, high = record.impact_interval
    return f" data-low='{low!r}' data-high='{high!r}'"


def _interval_text(interval: tuple[float, float] | None) -> str:
    """'8.1% to 31%' as the page writes probabilities, or 'no interval'."""
    return "no interval" if interval is None else f"{percent(interval[0])} to {percent(interval[1])}"


def _interval_words(record: ScoredProposal) -> str:
    if record.impact_interval is None:
        return "(no interval: this model gives none)"
    low, high = record.impact_interval
    spans = grade_range_text(record.grade_interval)
    grades = f"; grade {spans} within it" if spans else ""
    return f"(likely between {percent(low)} and {percent(high)}{grades})"


def _grade_badge(record: ScoredProposal, *, spans_below: bool = False) -> str:
    """The grade; with `spans_below`, the grades its interval spans beneath it when they differ."""
    spans = grade_range_text(record.grade_interval)
    title = f" title='{esc(spans)} within its interval'" if spans else ""
    below = (f"<br><span class='grade-range meta'>{esc(spans)}</span>"
             if spans and spans_below else "")
    return (f"<span class='grade grade-{esc(record.grade)}'{title}>{esc(record.grade)}</span>"
            + below)


def _waterfall(record: ScoredProposal, base: float) -> str:
    """The largest factors, those that raise first: the running total then stays within 0-100%."""
    items = sorted(record.contributions, key=lambda c: -abs(c["points"]))
    largest = sorted(items[:WATERFALL_STEPS], key=lambda c: (c["points"] < 0, -abs(c["points"])))
    shown = [(c["label"], float(c["points"])) for c in largest]
    rest = items[WATERFALL_STEPS:]
    if rest:
        shown.append((f"{len(rest)} smaller factors", float(sum(c["points"] for c in rest))))
    label = f"From the base {percent(base)} to {percent(record.impact_probability)}"
    return waterfall(base, shown, record.impact_probability, label)


def _what_ifs(bundle: Bundle, suggestions: list[Suggestion]) -> str:
    if not suggestions:
        fields = ", ".join(c.label for c in bundle.config.features if c.actionable)
        return (f"<p class=whatif-none>None: no realistic change to the negotiable fields ({esc(fields)}) "
                "raises the probability.</p>")
    items = [f"<li data-feature='{esc(s.feature)}' data-before='{s.before!r}' data-after='{s.after!r}'>"
             f"<strong>{esc(s.change)}</strong> <span class=meta>(now: {esc(s.current)})</span>: "
             f"{percent(s.before)} to <strong>{percent(s.after)}</strong></li>" for s in suggestions]
    return "<ul class=whatif>" + "".join(items) + "</ul>"


def _flag_list(bundle: Bundle, flags: list[Flag]) -> str:
    if not flags:
        return "<p class=meta>No flag: every value is within what the model has seen.</p>"
    return "<ul class=flags>" + "".join(f"<li>{esc(_flag_note(bundle, f)[1])}</li>" for f in flags) + "</ul>"


def _free_text(bundle: Bundle, proposal: pd.Series) -> str:
    """The proposal's free-text fields (a description), which are no model input."""
    roles = set(bundle.config.roles.values())
    texts = [(c.label, proposal.get(c.name)) for c in bundle.config.columns
             if c.type == "text" and c.name not in roles]
    return "".join(f"<p class=meta>{esc(label)}: {esc(text)}</p>" for label, text in texts
                   if isinstance(text, str) and text)


def _article(bundle: Bundle, record: ScoredProposal, proposal: pd.Series, base: float,
             suggestions: list[Suggestion]) -> str:
    name = f" — {esc(record.partner_name)}" if record.partner_name else ""
    description = _free_text(bundle, proposal)
    return (f"<article class=proposal id=proposal-{record.rank} "
            f"data-proposal-id='{esc(record.proposal_id)}' "
            f"data-probability='{record.impact_probability!r}'>"
            f"<h3>#{record.rank} {esc(record.proposal_id)}{name}</h3>"
            f"<p><span class=probability>{percent(record.impact_probability)}</span> "
            f"{_grade_badge(record)}{_capacity_mark(record)} "
            f"<span class='interval meta'>{esc(_interval_words(record))}</span></p>"
            f"{description}<div class=columns>"
            f"<figure>{_waterfall(record, base)}<figcaption>Each bar is one factor's contribution in "
            "probability points; together they lead exactly from the base to this proposal's "
            "probability.</figcaption></figure><div>"
            f"<h4>For</h4>{_reason_list(record.reasons_for, bundle)}"
            f"<h4>Against</h4>{_reason_list(record.reasons_against, bundle)}"
            f"<h4>Flags</h4>{_flag_list(bundle, record.flags)}"
            f"<h4>What would raise it</h4>{_what_ifs(bundle, suggestions)}</div></div></article>")


def batch_body(bundle: Bundle, proposals: pd.DataFrame, scored: ScoredBatch,
               suggestions: list[list[Suggestion]], now: datetime) -> str:
    """Header, ranked table and one section per proposal, best first."""
    order = sorted(range(len(scored.proposals)), key=lambda i: scored.proposals[i].rank)
    articles = [_article(bundle, scored.proposals[i], proposals.iloc[i], scored.base_probability,
                         suggestions[i]) for i in order]
    return (_header(bundle, scored, now) + _ranking(bundle, scored)
            + "<section id=proposals><h2>Each proposal</h2>" + "".join(articles) + "</section>")
