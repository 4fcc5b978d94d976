"""The HTML report: same numbers as predict, self-contained, escaped, and checked in a real browser.

Browser tests need Chromium (/usr/bin/chromium or $PARTNERSCORE_CHROMIUM); without it they
fail. Screenshots and a PDF go to tests/artifacts/ for a person to look at.
"""

from __future__ import annotations

import csv
import json
import re
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from browser import BrowserMissing, Chromium, Page
from conftest import SAMPLE, SeedTrained, Trained

from model.validation import ContractError
from model.whatif import MIN_GAIN, suggest_changes
from model.wording import evidence_note
from pipelines.cli.app import main
from pipelines.documents import GateRecord
from pipelines.jobs.predict import read_proposals, score_batch
from pipelines.report.build import report_command, write_report
from pipelines.report.page import markdown_to_html
from pipelines.storage.bundle import Bundle, load_bundle

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
HOSTILE = {"proposal_id": '"><img src=x onerror=alert(1)>', "partner_name": "<script>alert('x')</script>",
           "partner_sector": "<b>Space Tech</b>", "description": "</p><h1>injected</h1>",
           "partner_headcount": "9000000"}


@pytest.fixture(scope="module")
def bundle(trained: Trained) -> Bundle:
    """The champion exported by the session's training run."""
    return load_bundle(trained.workspace.champion)


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[Chromium]:
    """A headless Chromium with a fresh profile under tmp_path."""
    with Chromium(tmp_path / "profile") as browser:
        yield browser


def _proposals_file(tmp_path: Path, extra: list[dict[str, str]], head: int = 6) -> Path:
    rows = list(csv.DictReader((SAMPLE / "new_proposals.csv").open(encoding="utf-8")))[:head]
    rows += [{**rows[0], **e} for e in extra]
    path = tmp_path / "proposals.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


class _Report(HTMLParser):
    """What the tests read back from a report: probabilities, what-ifs, scripts and links."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.rows: list[dict[str, str]] = []
        self.articles: list[dict[str, str]] = []
        self.what_ifs: list[dict[str, str]] = []
        self.tags: list[str] = []
        self.links: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.tags.append(tag)
        self.links += [v for k, v in values.items() if k in ("src", "href", "xlink:href")]
        if "data-probability" in values:
            (self.rows if tag == "tr" else self.articles).append(values)
        if "data-after" in values:
            self.what_ifs.append(values)


def _predict_json(trained: Trained, source: Path, capsys: pytest.CaptureFixture) -> dict:
    with pytest.raises(SystemExit) as stop:
        main(["--workspace", str(trained.workspace.root), "predict", str(source), "--format", "json"])
        raise SystemExit(0)
    assert stop.value.code in (0, None)
    return json.loads(capsys.readouterr().out)


def _assert_self_contained(text: str, parsed: _Report) -> None:
    assert "script" not in parsed.tags and "link" not in parsed.tags and "img" not in parsed.tags
    assert all(link.startswith("#") for link in parsed.links), parsed.links
    assert not re.search(r"url\(|@import|https?://", text)


def _evidence(bundle: Bundle, feature: str, value: Any) -> str | None:
    return evidence_note(bundle.config.by_name, bundle.training.evidence, feature, value)


def test_batch_report_numbers_equal_predict_json(trained: Trained, bundle: Bundle, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    source = SAMPLE / "new_proposals.csv"
    output = tmp_path / "report.html"
    report_command(trained.workspace, str(source), output=output, model=None, capacity=5, data=None,
                   sheet=None)
    text = output.read_text("utf-8")
    parsed = _Report(text)
    predicted = {p["proposal_id"]: p for p in _predict_json(trained, source, capsys)["proposals"]}
    ranked = sorted(predicted, key=lambda i: predicted[i]["rank"])
    assert [r["data-proposal-id"] for r in parsed.rows] == ranked
    for element in parsed.rows + parsed.articles:
        expected = predicted[element["data-proposal-id"]]["impact_probability"]
        assert float(element["data-probability"]) == pytest.approx(expected, abs=1e-9)
    assert len(parsed.articles) == len(predicted)
    assert "Capacity 5" in text and "partnerscore v1" in text
    _assert_self_contained(text, parsed)
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, nothing left behind


def test_what_if_suggestions_are_the_models_own_answers(bundle: Bundle,
                                                        new_proposals: pd.DataFrame) -> None:
    suggestions = suggest_changes(bundle.model, bundle.config, new_proposals)
    actionable = {c.name for c in bundle.config.features if c.actionable}
    seen_action_plan = False
    for i, found in enumerate(suggestions):
        assert len(found) <= 2 and len({s.feature for s in found}) == len(found)
        for s in found:
            changed = new_proposals.iloc[[i]].copy()
            changed[s.feature] = s.value
            rescored = score_batch(bundle, changed).proposals[0].impact_probability
            assert rescored == pytest.approx(s.after, abs=1e-12)
            assert s.feature in actionable and s.gain >= MIN_GAIN
            seen_action_plan |= s.feature == "has_action_plan" and s.change == "Has an action plan"
        assert [s.gain for s in found] == sorted((s.gain for s in found), reverse=True)
    assert seen_action_plan


def test_what_ifs_fill_optional_fields_left_out_of_the_file(bundle: Bundle) -> None:
    settings = ["proposal_id=a", "partnership_type=event", "partner_sector=payroll",
                "sector_proximity=same", "lifecycle_position=upstream", "has_clear_objective=no",
                "has_action_plan=no", "product_ready=yes"]
    proposal = read_proposals(None, settings, bundle.config)
    assert "partner_committed_fte" not in proposal
    (found,) = suggest_changes(bundle.model, bundle.config, proposal)
    assert found and found[0].after > found[0].before
    for s in found:
        changed = proposal.copy()
        changed[s.feature] = s.value
        assert score_batch(bundle, changed).proposals[0].impact_probability == pytest.approx(s.after)


def test_a_proposal_nothing_can_improve_says_none(bundle: Bundle, new_proposals: pd.DataFrame,
                                                  tmp_path: Path) -> None:
    best = new_proposals.head(1).copy()
    best[["has_clear_objective", "has_action_plan"]] = 1.0
    best[["partner_committed_fte", "internal_hours_estimate", "logistics_complexity"]] = [5.0, 1.0, 1.0]
    assert suggest_changes(bundle.model, bundle.config, best) == [[]]
    text = write_report(tmp_path / "one.html", bundle, best).read_text("utf-8")
    assert "class=whatif-none>None:" in text


def test_evidence_is_counted_from_the_training_outcomes(bundle: Bundle) -> None:
    counts = bundle.training.evidence
    n, k = counts["has_action_plan"]["false"]
    m, j = counts["has_action_plan"]["true"]
    note = _evidence(bundle, "has_action_plan", False)
    assert note == (f"impact in {k} of {n} past proposals with “No action plan”, "
                    f"{j} of {m} with “Has an action plan”")
    sector = counts["partner_sector"]["payroll"]
    rest = [sum(v[0] for v in counts["partner_sector"].values()) - sector[0],
            sum(v[1] for v in counts["partner_sector"].values()) - sector[1]]
    assert _evidence(bundle, "partner_sector", "payroll") == (
        f"impact in {sector[1]} of {sector[0]} past proposals with “Partner sector: payroll”, "
        f"{rest[1]} of {rest[0]} for all others")
    assert _evidence(bundle, "partner_sector", "space_tech") == (
        "no past proposal with “Partner sector: space tech”")
    assert _evidence(bundle, "partner_committed_fte", 1.0) is None


def test_bad_input_raises_and_writes_nothing(trained: Trained, tmp_path: Path) -> None:
    bad = _proposals_file(tmp_path, [{"has_action_plan": "maybe", "partnership_type": "telepathy"}])
    output = tmp_path / "report.html"
    with pytest.raises(ContractError) as error:
        report_command(trained.workspace, str(bad), output=output, model=None, capacity=None, data=None,
                       sheet=None)
    assert {p.value for p in error.value.problems} >= {"maybe", "telepathy"}
    assert not output.exists()
    output.write_text("the previous report")
    with pytest.raises(ContractError):
        report_command(trained.workspace, None, output=output, model=None, capacity=None, data=bad,
                       sheet=None)
    assert output.read_text() == "the previous report"


def test_model_report_without_data_draws_the_stored_shap_sample_and_no_gate(bundle: Bundle,
                                                                            tmp_path: Path) -> None:
    text = write_report(tmp_path / "model.html", bundle, None).read_text("utf-8")
    parsed = _Report(text)
    assert 'class="importance"' in text and 'class="beeswarm"' in text
    assert "id=no-sample" not in text and "--data FILE" in text and "id=no-gates" in text
    assert 'class="reliability"' in text and "<table class=backtest>" in text
    assert "<h3>partnerscore model v1</h3>" in text and "<h4>Known limits</h4>" in text
    _assert_self_contained(text, parsed)
    importance = text[text.index("<section id=importance>"):text.index("<section id=beliefs>")]
    for first, second in bundle.config.interactions:  # pairs and products named in words
        assert f"{first} × {second}" not in text
    labels = bundle.config.feature_labels
    assert "Partner sector × partnership type" in importance
    assert all(f"{first} × {second}" in labels for first, second in bundle.config.interactions)


def test_markdown_subset_is_rendered_and_escaped() -> None:
    text = ("# Card <b>\n\n> **Careful** `x<y`\n\n## Data\n- one & two\n- three\n\n"
            "| a | b |\n|---|---|\n| <i>1</i> | 2 |\n\nplain <script>\ncontinued")
    out = markdown_to_html(text, shift=1)
    assert "<h2>Card &lt;b&gt;</h2>" in out and "<h3>Data</h3>" in out
    assert "<blockquote><strong>Careful</strong> <code>x&lt;y</code></blockquote>" in out
    assert "<ul><li>one &amp; two</li><li>three</li></ul>" in out
    assert "<th>a</th><th>b</th>" in out and "<td>&lt;i&gt;1&lt;/i&gt;</td>" in out and "---" not in out
    assert "<p>plain &lt;script&gt; continued</p>" in out


def _check_page(page: Page, report: Path) -> None:
    assert page.errors == [], page.messages
    assert page.requests == [report.resolve().as_uri()], page.requests
    assert page.evaluate("document.scripts.length + document.images.length") == 0


def test_batch_report_in_chromium(trained: Trained, chromium: Chromium, tmp_path: Path) -> None:
    started = time.monotonic()
    source = _proposals_file(tmp_path, [HOSTILE])
    report = tmp_path / "batch.html"
    report_command(trained.workspace, str(source), output=report, model=None, capacity=3, data=None,
                   sheet=None)
    page = chromium.page().open(report)
    _check_page(page, report)
    counts = page.evaluate("""({rows: document.querySelectorAll('table.ranking tbody tr').length,
        articles: document.querySelectorAll('article.proposal').length,
        waterfalls: document.querySelectorAll('article.proposal svg.waterfall rect').length,
        whatifs: document.querySelectorAll('article .whatif, article .whatif-none').length,
        edge: document.querySelectorAll('tr.capacity-edge').length,
        base: document.getElementById('base-probability').textContent,
        text: document.body.innerText})""")
    assert counts["rows"] == counts["articles"] == counts["whatifs"] == 7
    assert counts["waterfalls"] >= 7 * 4 and counts["edge"] == 1 and counts["base"].endswith("%")
    for shown in (HOSTILE["partner_name"], HOSTILE["proposal_id"], "</p><h1>injected</h1>",
                  "Partner sector: new value", "Partner headcount: out of range", "Capacity 3"):
        assert shown in counts["text"]
    page.screenshot(ARTIFACTS / "report-batch.png")
    page.screenshot(ARTIFACTS / "report-batch-proposal.png", "article.proposal")
    pdf = page.pdf()
    (ARTIFACTS / "report-batch.pdf").write_bytes(pdf)
    assert pdf.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page\b", pdf)) > 1
    page.call("Emulation.setEmulatedMedia", media="print")
    assert page.evaluate("getComputedStyle(document.querySelector('nav.toc')).display") == "none"
    assert time.monotonic() - started < 10


def test_model_report_in_chromium(bundle: Bundle, history: pd.DataFrame, chromium: Chromium,
                                  tmp_path: Path) -> None:
    started = time.monotonic()
    metrics = {"log_loss": {"value": 0.31, "low": 0.27, "high": 0.35}}
    gates = [GateRecord(passed=False, reason="<log loss> worse by 0.0300", version="2",
                        champion={"log_loss": {"value": 0.28, "low": 0.24, "high": 0.32}},
                        challenger=metrics)]
    report = write_report(tmp_path / "model.html", bundle, None, sample=history, gate_history=gates)
    page = chromium.page().open(report)
    _check_page(page, report)
    found = page.evaluate("""({bars: document.querySelectorAll('svg.importance rect').length,
        dots: document.querySelectorAll('svg.beeswarm circle').length,
        bins: document.querySelectorAll('svg.reliability circle').length,
        periods: document.querySelectorAll('table.backtest tbody tr').length,
        gates: document.querySelectorAll('table.gates tbody tr').length,
        card: document.querySelectorAll('#card h3, #card table').length,
        text: document.body.innerText})""")
    assert found["bars"] == len(bundle.training.importance)
    assert found["dots"] == 8 * len(history) + 3  # 8 features, plus the legend's 3 dots
    assert found["bins"] == len(bundle.training.reliability)
    assert found["periods"] == len(bundle.training.backtest) and found["gates"] == 1
    assert found["card"] >= 5 and "<log loss> worse by 0.0300" in found["text"]
    assert "log loss 0.3100" in found["text"] and "log_loss" not in found["text"]
    page.screenshot(ARTIFACTS / "report-model.png")
    page.screenshot(ARTIFACTS / "report-model-contributions.png", "#contributions")
    assert time.monotonic() - started < 10


def test_the_browser_check_sees_errors_and_requests(chromium: Chromium, tmp_path: Path) -> None:
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><img src='http://example.invalid/x.png'>"
                   "<script>console.error('boom')</script>")
    page = chromium.page().open(bad)
    assert "http://example.invalid/x.png" in page.requests
    assert any("boom" in e for e in page.errors)


def test_a_missing_chromium_fails_instead_of_skipping(tmp_path: Path) -> None:
    with pytest.raises(BrowserMissing, match="apt-get install"):
        Chromium(tmp_path / "profile", binary=str(tmp_path / "no-chromium"))


# --- provisional models, intervals and beliefs -----------------------------------------------

PROVISIONAL = "provisional: learned from 3 proposals with real impact"


def test_batch_report_of_a_provisional_model_says_so_and_shows_each_interval(
        seed_trained: SeedTrained, tmp_path: Path) -> None:
    report = tmp_path / "batch.html"
    report_command(seed_trained.workspace, str(SAMPLE / "new_proposals.csv"), output=report,
                   model=None, capacity=None, data=None, sheet=None)
    text = report.read_text("utf-8")
    assert f"<p class=warning id=provisional>Scores are {PROVISIONAL}" in text
    assert "<th class=num>90% interval</th>" in text
    parsed = _Report(text)
    assert parsed.rows and len(parsed.articles) == len(parsed.rows)
    for row in parsed.rows:
        assert float(row["data-low"]) <= float(row["data-probability"]) <= float(row["data-high"])
    assert text.count("(likely between ") == len(parsed.articles)
    # the top-ranked A of one month could be a D: beneath its badge and in its article
    assert "<span class='grade grade-A' title='D to A within its interval'>A</span><br>" \
           "<span class='grade-range meta'>D to A</span>" in text
    assert "; grade D to A within it)" in text
    assert "beneath a grade, the grades its interval spans" in text


def test_batch_report_of_a_settled_model_has_no_provisional_line(bundle: Bundle) -> None:
    from pipelines.report.build import render_report

    assert not bundle.training.provisional
    assert "id=provisional" not in render_report(bundle, read_proposals(
        str(SAMPLE / "new_proposals.csv"), [], bundle.config))


def test_model_report_shows_beliefs_in_words_and_no_mean_contribution(
        seed_trained: SeedTrained, tmp_path: Path) -> None:
    seed = load_bundle(seed_trained.workspace.champion)
    text = write_report(tmp_path / "model.html", seed, None).read_text("utf-8")
    assert f"<p class=warning id=provisional>Scores are {PROVISIONAL}" in text
    beliefs = text[text.index("<section id=beliefs>"):]
    beliefs = beliefs[:beliefs.index("</section>")]
    entries = [*seed.training.beliefs, *seed.training.learned]
    assert entries and beliefs.count("<tr>") == len(entries) + 1  # the header, then one per entry
    assert "<td>Action plan raises impact</td>" in beliefs
    assert "Partner sits at the same stage of our customer&#x27;s journey” lowers impact" in beliefs
    for entry in entries:
        assert f"<td>{entry.verdict}</td>" in beliefs
    importance = text[text.index("<section id=importance>"):text.index("<section id=beliefs>")]
    assert "Mean |contribution|" in importance and "Mean contribution" not in importance
    card = text[text.index("<section id=card>"):]
    assert "Beliefs against the outcomes" in card and PROVISIONAL in card


def test_model_report_of_a_model_without_beliefs_says_so(bundle: Bundle, tmp_path: Path) -> None:
    import dataclasses

    older = dataclasses.replace(bundle, training=dataclasses.replace(
        bundle.training, beliefs=[], learned=[]))
    text = write_report(tmp_path / "model.html", older, None).read_text("utf-8")
    assert "id=no-beliefs" in text and "<table class=beliefs>" not in text
