"""Prediction as BD staff use it: exact reasons, flags, every input path and output format."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLE, SeedTrained, Trained

from model.calibration import sigmoid
from pipelines.cli.app import main


def _run(trained: Trained, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pipelines.cli", "--workspace", str(trained.workspace.root),
               "predict", *args]
    return subprocess.run(command, input=stdin, capture_output=True, timeout=120, check=False)


def _json(trained: Trained, *args: str, capsys: pytest.CaptureFixture) -> dict:
    with pytest.raises(SystemExit) as stop:
        main(["--workspace", str(trained.workspace.root), "predict", *args, "--format", "json"])
        raise SystemExit(0)
    assert stop.value.code in (0, None)
    return json.loads(capsys.readouterr().out)


def test_json_is_exact_for_every_proposal(trained: Trained, capsys: pytest.CaptureFixture) -> None:
    doc = _json(trained, str(SAMPLE / "new_proposals.csv"), capsys=capsys)
    assert doc["model"]["version"] == "1" and doc["model"]["name"] == "partnerscore"
    assert doc["model"]["periods"][0] == "2025-01"
    base, p0 = doc["base_logit"], doc["base_probability"]
    assert p0 == pytest.approx(float(sigmoid(base)), abs=1e-12)
    n_features = len(trained.outcome.result.model.encoder.feature_names)
    for p in doc["proposals"]:
        logits = [c["logit"] for c in p["contributions"]]
        assert len(logits) == n_features
        assert base + sum(logits) == pytest.approx(p["logit"], abs=1e-6)
        assert float(sigmoid(p["logit"])) == pytest.approx(p["impact_probability"], abs=1e-6)
        assert sum(c["points"] for c in p["contributions"]) == pytest.approx(
            p["impact_probability"] - p0, abs=1e-6)
        assert p["score"] == round(100 * p["impact_probability"])
        assert len(p["reasons_for"]) <= 3 and len(p["reasons_against"]) <= 3
        assert all(r["logit"] > 0 for r in p["reasons_for"])
        assert all(r["logit"] < 0 for r in p["reasons_against"])
    ranks = sorted(doc["proposals"], key=lambda r: r["rank"])
    assert [r["rank"] for r in ranks] == list(range(1, len(ranks) + 1))
    probabilities = [r["impact_probability"] for r in ranks]
    assert probabilities == sorted(probabilities, reverse=True)


def test_same_probabilities_as_the_registered_pyfunc(trained: Trained, new_proposals,
                                                     capsys: pytest.CaptureFixture) -> None:
    import mlflow

    from pipelines.tracking.gateway import pinned
    from pipelines.tracking.serving import request_frame

    doc = _json(trained, str(SAMPLE / "new_proposals.csv"), capsys=capsys)
    # Both of MLflow's process-wide URIs: `models:/` resolves against the registry's, which
    # an earlier test in this process may have pointed at another workspace.
    with pinned(trained.workspace.tracking_uri()):
        served = mlflow.pyfunc.load_model("models:/partnerscore/1").predict(
            request_frame(new_proposals, trained.outcome.result.model and _config(trained)))
    np.testing.assert_allclose(served["impact_probability"].to_numpy(),
                               [p["impact_probability"] for p in doc["proposals"]], atol=1e-9)


def _config(trained: Trained):
    from pipelines.storage.bundle import load_bundle

    return load_bundle(trained.workspace.champion).config


def test_unseen_category_out_of_range_and_missing_values_are_flagged(
        trained: Trained, capsys: pytest.CaptureFixture) -> None:
    doc = _json(trained, "--set", "proposal_id=odd", "--set", "partnership_type=event",
                "--set", "partner_sector=Space Tech", "--set", "sector_proximity=distant",
                "--set", "lifecycle_position=upstream", "--set", "has_clear_objective=oui",
                "--set", "has_action_plan=yes", "--set", "product_ready=true",
                "--set", "partner_headcount=9000000", capsys=capsys)
    (proposal,) = doc["proposals"]
    kinds = {(f["feature"], f["kind"]) for f in proposal["flags"]}
    assert ("partner_sector", "novel_category") in kinds
    assert ("partner_headcount", "outside_training_range") in kinds
    assert ("partner_committed_fte", "missing") in kinds
    assert 0 < proposal["impact_probability"] < 1


def test_the_table_names_flags_in_words(trained: Trained, capsys: pytest.CaptureFixture,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The same three flags in the table a BD person reads: labels, not column names."""
    from pipelines.cli import console

    monkeypatch.setattr(console.out, "width", 400)  # no cell folded
    assert main(["--workspace", str(trained.workspace.root), "predict",
                 "--set", "proposal_id=odd", "--set", "partnership_type=event",
                 "--set", "partner_sector=Space Tech", "--set", "sector_proximity=distant",
                 "--set", "lifecycle_position=upstream", "--set", "has_clear_objective=oui",
                 "--set", "has_action_plan=yes", "--set", "product_ready=true",
                 "--set", "partner_headcount=9000000"]) is None
    shown = capsys.readouterr().out
    for words in ("new value: Partner sector", "outside the training range: Partner headcount",
                  "not given: Partner commitment (FTE)"):
        assert words in shown
    assert "partner_sector" not in shown and "outside_training_range" not in shown


def test_brackets_in_the_data_are_shown_as_given_in_tables_and_problems(
        trained: Trained, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """Square brackets are markup to the terminal library: a partner named "[Acme] Studio
    [/b]" keeps its name in the ranked table (it once stopped the command with a markup
    error), and a value "[/b]" is reported as a problem, status 2, not a crash."""
    from pipelines.cli import console

    monkeypatch.setattr(console.out, "width", 400)
    base = ["--workspace", str(trained.workspace.root), "predict", "--set", "proposal_id=[p1]",
            "--set", "partnership_type=event", "--set", "partner_sector=[media]",
            "--set", "sector_proximity=distant", "--set", "lifecycle_position=upstream",
            "--set", "has_clear_objective=yes", "--set", "has_action_plan=yes",
            "--set", "product_ready=true"]
    assert main([*base, "--set", "partner_name=[Acme] Studio [/b]"]) is None
    shown = capsys.readouterr().out
    assert "[Acme] Studio [/b]" in shown and "[p1]" in shown
    assert "new value: Partner sector" in shown
    with pytest.raises(SystemExit) as stop:
        main([*base, "--set", "partnership_type=[/b]"])
    assert stop.value.code == 2
    assert "'[/b]'" in capsys.readouterr().err


def test_stdin_json_matches_the_file(trained: Trained, new_proposals) -> None:
    records = json.loads(new_proposals.head(4).to_json(orient="records"))
    piped = _run(trained, "-", "--format", "json", stdin=json.dumps(records).encode())
    assert piped.returncode == 0, piped.stderr.decode()
    from_file = _run(trained, str(SAMPLE / "new_proposals.csv"), "--format", "json")
    by_id = {p["proposal_id"]: p for p in json.loads(from_file.stdout)["proposals"]}
    for p in json.loads(piped.stdout)["proposals"]:
        assert p["impact_probability"] == pytest.approx(
            by_id[p["proposal_id"]]["impact_probability"], abs=1e-12)
    assert b"partnerscore v1" in piped.stderr


def test_csv_round_trips_and_neutralises_formulas(trained: Trained, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    source = tmp_path / "evil.csv"
    rows = list(csv.DictReader((SAMPLE / "new_proposals.csv").open()))[:3]
    rows[0]["partner_name"] = "=HYPERLINK(\"http://x\")"
    rows[1]["partner_name"] = "@SUM(A1)"
    with source.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "scores.csv"
    assert main(["--workspace", str(trained.workspace.root), "predict", str(source),
                 "--format", "csv", "--output", str(out)]) is None
    doc = _json(trained, str(source), capsys=capsys)
    read_back = list(csv.DictReader(io.StringIO(out.read_text())))
    by_id = {p["proposal_id"]: p for p in doc["proposals"]}
    for row in read_back:
        assert float(row["impact_probability"]) == pytest.approx(
            by_id[row["proposal_id"]]["impact_probability"], abs=1e-12)
        assert not row["partner_name"].startswith(("=", "+", "-", "@"))
    assert {r["partner_name"] for r in read_back} >= {"'=HYPERLINK(\"http://x\")", "'@SUM(A1)"}


def test_xlsx_and_jsonl_outputs(trained: Trained, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    book = tmp_path / "scores.xlsx"
    main(["--workspace", str(trained.workspace.root), "predict", str(SAMPLE / "new_proposals.csv"),
          "--format", "xlsx", "--output", str(book), "--capacity", "5"])
    workbook = load_workbook(book)
    sheet = workbook["scores"]
    assert workbook.active is sheet and sheet.freeze_panes == "A2"
    header = [c.value for c in sheet[1]]
    assert "within_capacity" in header and "reasons_for" in header
    probabilities = [row[header.index("impact_probability")] for row in
                     sheet.iter_rows(min_row=2, values_only=True)]
    assert all(isinstance(p, float) for p in probabilities)  # exact values, shown as percentages
    assert sheet.cell(2, header.index("impact_probability") + 1).number_format == "0.0%"
    about = dict(workbook["model"].iter_rows(values_only=True))
    assert about["model"] == "partnerscore" and about["version"] == "1"
    assert about["labelled proposals"] == 480 and about["provisional"] == "no"
    lines = tmp_path / "scores.jsonl"
    main(["--workspace", str(trained.workspace.root), "predict", str(SAMPLE / "new_proposals.csv"),
          "--format", "jsonl", "--output", str(lines)])
    records = [json.loads(line) for line in lines.read_text().splitlines()]
    assert len(records) == len(probabilities) and "contributions" in records[0]


def test_bad_input_reports_everything_and_writes_nothing(trained: Trained, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("proposal_id,partnership_type,partner_sector,sector_proximity,"
                   "lifecycle_position,has_clear_objective,has_action_plan,product_ready\n"
                   "a,webinar,hr,same,upstream,maybe,yes,yes\n"
                   "b,telepathy,hr,close,upstream,yes,yes,yes\n")
    out = tmp_path / "scores.csv"
    result = _run(trained, str(bad), "--format", "csv", "--output", str(out))
    assert result.returncode == 2
    report = result.stderr.decode()
    for expected in ("maybe", "telepathy", "close", "3", "2"):
        assert expected in report
    assert not out.exists()


def test_a_damaged_champion_is_refused_with_status_3(trained: Trained, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(trained.workspace.champion, copy)
    data = bytearray((copy / "arrays.npz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "arrays.npz").write_bytes(bytes(data))
    result = _run(trained, str(SAMPLE / "new_proposals.csv"), "--model", str(copy))
    err = " ".join(result.stderr.decode().split())  # the console wraps long lines
    assert result.returncode == 3, err
    assert err.startswith("model refused:") and "arrays.npz" in err and "sha256" in err
    assert "Traceback" not in err


def test_table_output_names_the_model_version(trained: Trained) -> None:
    result = _run(trained, str(SAMPLE / "new_proposals.csv"), "--capacity", "3")
    assert result.returncode == 0, result.stderr.decode()
    text = result.stdout.decode()
    assert "partnerscore v1" in text and "Capacity 3" in text


# --- intervals, provisional models, registry aliases ---------------------------------------

PROVISIONAL = "provisional: learned from 3 proposals with real impact"


def _predict_json(root: Path, *args: str, capsys: pytest.CaptureFixture) -> dict:
    assert main(["--workspace", str(root), "predict", *args, "--format", "json"]) is None
    return json.loads(capsys.readouterr().out)


def _table(root: Path, *args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "pipelines.cli", "--workspace", str(root),
                             "predict", *args], capture_output=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr.decode()
    return " ".join(result.stdout.decode().split())  # the table wraps long cells


def _grade_of(probability: float) -> str:
    """The shipped cut-offs (A from 30%, B from 15%, C from 7%), written out independently."""
    return next(g for g, lower in (("A", 0.3), ("B", 0.15), ("C", 0.07), ("D", 0.0))
                if probability >= lower)


def test_a_grade_states_the_grades_its_interval_spans(seed_trained: SeedTrained, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    """One month of 3 outcomes: the top-ranked proposal's A could be a D within its interval,
    and every format says so beside the grade."""
    from openpyxl import load_workbook

    root, source = seed_trained.workspace.root, str(SAMPLE / "new_proposals.csv")
    doc = _predict_json(root, source, capsys=capsys)
    top = min(doc["proposals"], key=lambda p: p["rank"])
    assert top["grade"] == "A" and top["grade_interval"][1] == "A"
    assert top["grade_interval"][0] == "D"  # 42% likely between 6.6% and 88%
    spans = [p for p in doc["proposals"] if p["grade_interval"][0] != p["grade_interval"][1]]
    assert spans
    for name in ("scores.csv", "scores.xlsx"):
        assert main(["--workspace", str(root), "predict", source, "--format", name.split(".")[1],
                     "--output", str(tmp_path / name)]) is None
    rows = list(csv.DictReader(io.StringIO((tmp_path / "scores.csv").read_text())))
    sheet = load_workbook(tmp_path / "scores.xlsx").active
    header = [c.value for c in sheet[1]]
    assert header[header.index("grade"):header.index("grade") + 3] == [
        "grade", "grade_low", "grade_high"]
    cells = [dict(zip(header, r, strict=True)) for r in sheet.iter_rows(min_row=2, values_only=True)]
    by_id = {p["proposal_id"]: p for p in doc["proposals"]}
    for row, cell in zip(rows, cells, strict=True):
        expected = by_id[row["proposal_id"]]["grade_interval"]
        assert [row["grade_low"], row["grade_high"]] == expected
        assert [cell["grade_low"], cell["grade_high"]] == by_id[cell["proposal_id"]]["grade_interval"]
    text = _table(root, source)
    low, high = top["grade_interval"]
    assert f"{low} to {high}" in text
    assert "the grades the 90% interval spans" in text


def _assert_bounded(low: float, p: float, high: float) -> None:
    assert 0 <= low <= p <= high <= 1, (low, p, high)


def test_every_prediction_has_an_interval_around_its_probability(
        trained: Trained, seed_trained: SeedTrained, capsys: pytest.CaptureFixture) -> None:
    for root in (trained.workspace.root, seed_trained.workspace.root):
        doc = _predict_json(root, str(SAMPLE / "new_proposals.csv"), capsys=capsys)
        assert doc["model"]["interval_level"] == pytest.approx(0.9)
        for p in doc["proposals"]:
            low, high = p["impact_interval"]
            _assert_bounded(low, p["impact_probability"], high)
            assert high - low > 0.01  # an interval, not the probability repeated
            assert p["grade"] == _grade_of(p["impact_probability"])
            assert p["grade_interval"] == [_grade_of(low), _grade_of(high)]
        ranks = sorted(doc["proposals"], key=lambda r: r["rank"])
        assert [r["impact_probability"] for r in ranks] == sorted(
            (r["impact_probability"] for r in ranks), reverse=True)  # ranked by probability alone


def test_a_provisional_model_says_so_in_every_format(seed_trained: SeedTrained, trained: Trained,
                                                     tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    from openpyxl import load_workbook

    root, source = seed_trained.workspace.root, str(SAMPLE / "new_proposals.csv")
    doc = _predict_json(root, source, capsys=capsys)
    assert doc["provisional"] is True and (doc["model"]["rows"], doc["model"]["positives"]) == (28, 3)
    for name in ("scores.csv", "scores.xlsx", "scores.jsonl"):
        assert main(["--workspace", str(root), "predict", source, "--format", name.split(".")[1],
                     "--output", str(tmp_path / name)]) is None
    rows = list(csv.DictReader(io.StringIO((tmp_path / "scores.csv").read_text())))
    sheet = load_workbook(tmp_path / "scores.xlsx").active
    header = [c.value for c in sheet[1]]
    cells = [dict(zip(header, row, strict=True)) for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert len(rows) == len(cells) == len(doc["proposals"])
    for row, cell in zip(rows, cells, strict=True):
        assert row["provisional"] == "True" and cell["provisional"] is True
        _assert_bounded(float(row["impact_low"]), float(row["impact_probability"]),
                        float(row["impact_high"]))
        _assert_bounded(cell["impact_low"], cell["impact_probability"], cell["impact_high"])
    lines = [json.loads(line) for line in (tmp_path / "scores.jsonl").read_text().splitlines()]
    assert all(len(record["impact_interval"]) == 2 for record in lines)
    assert [record["provisional"] for record in lines] == [True] * len(doc["proposals"])
    text = _table(root, source)
    assert f"Scores are {PROVISIONAL}" in text and "90% interval" in text
    assert text.index(PROVISIONAL) < text.index("Proposals ranked")  # above the table
    settled = _predict_json(trained.workspace.root, source, capsys=capsys)
    assert settled["provisional"] is False
    assert "provisional" not in _table(trained.workspace.root, source)


def _without_interval(seed_trained: SeedTrained, directory: Path) -> Path:
    """The seed champion saved as a model from before intervals: no covariance."""
    import dataclasses

    from pipelines.storage.bundle import load_bundle, write_bundle

    bundle = load_bundle(seed_trained.workspace.champion)
    return write_bundle(directory, dataclasses.replace(bundle.model, covariance=None),
                        (bundle.path / "config.yaml").read_text("utf-8"), bundle.training)


def test_a_model_without_intervals_says_no_interval(seed_trained: SeedTrained, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    old = _without_interval(seed_trained, tmp_path / "old-model")
    source = str(SAMPLE / "new_proposals.csv")
    doc = _predict_json(seed_trained.workspace.root, source, "--model", str(old), capsys=capsys)
    assert doc["model"]["interval_level"] is None
    assert all("impact_interval" in p and p["impact_interval"] is None for p in doc["proposals"])
    assert all(p["grade_interval"] is None for p in doc["proposals"])
    assert "no interval" in _table(seed_trained.workspace.root, source, "--model", str(old))
    out = tmp_path / "scores.csv"
    main(["--workspace", str(seed_trained.workspace.root), "predict", source, "--model", str(old),
          "--format", "csv", "--output", str(out)])
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert {(r["impact_low"], r["impact_high"]) for r in rows} == {("", "")}
    assert {(r["grade_low"], r["grade_high"]) for r in rows} == {("", "")}
    assert "spans" not in _table(seed_trained.workspace.root, source, "--model", str(old))


def test_a_registry_alias_names_the_version_it_resolved(trained: Trained,
                                                        capsys: pytest.CaptureFixture) -> None:
    uri = "models:/partnerscore@champion"
    doc = _predict_json(trained.workspace.root, str(SAMPLE / "new_proposals.csv"), "--model", uri,
                        capsys=capsys)
    assert doc["model"]["version"] == trained.outcome.version and doc["model"]["uri"] == uri
    text = _table(trained.workspace.root, str(SAMPLE / "new_proposals.csv"), "--model", uri)
    assert f"Scored by model partnerscore v{trained.outcome.version}." in text


def test_a_scored_record_keeps_its_interval_through_json() -> None:
    from pipelines.documents import ScoredProposal

    record = ScoredProposal("p1", None, 0.2, 20, "B", 1, -1.4, [], [], [], [],
                            impact_interval=(0.05, 0.5), grade_interval=("D", "A"))
    data = json.loads(json.dumps(record.to_json()))
    assert data["impact_interval"] == [0.05, 0.5] and data["grade_interval"] == ["D", "A"]
    assert ScoredProposal.from_json(data) == record
    older = ScoredProposal.from_json({**data, "impact_interval": None, "grade_interval": None})
    assert older.impact_interval is None and older.to_json()["impact_interval"] is None
    assert older.grade_interval is None and older.to_json()["grade_interval"] is None
    # a record written before grade intervals existed has no such key
    oldest = ScoredProposal.from_json({k: v for k, v in data.items() if k != "grade_interval"})
    assert oldest.grade_interval is None


def test_the_count_quantile_is_the_poisson_binomial_one() -> None:
    from model.surprises import count_quantile

    rng = np.random.default_rng(0)
    p = rng.uniform(0.05, 0.6, 8)
    draws = (rng.random((200_000, len(p))) < p).sum(axis=1)
    for q in (0.05, 0.5, 0.95):
        assert count_quantile(list(p), q) == int(np.quantile(draws, q, method="inverted_cdf"))
    assert count_quantile([], 0.95) == 0 and count_quantile([1.0, 1.0], 0.05) == 2


def test_the_capacity_total_comes_with_its_range(seed_trained: SeedTrained, trained: Trained,
                                                 capsys: pytest.CaptureFixture) -> None:
    """A first month's top five hold between 0 and several partnerships with real impact;
    a settled model's range is narrower. Both bound the expected count."""
    widths = []
    for root in (seed_trained.workspace.root, trained.workspace.root):
        doc = _predict_json(root, str(SAMPLE / "new_proposals.csv"), "--capacity", "5",
                            capsys=capsys)
        c = doc["capacity"]
        low, high = c["impactful_range"]
        assert 0 <= low <= c["expected_impactful"] <= high <= 5
        widths.append(high - low)
    assert widths[0] > widths[1]
    assert "in 90% of cases (the model's uncertainty and chance together)" in _table(
        trained.workspace.root, str(SAMPLE / "new_proposals.csv"), "--capacity", "5")
