"""`partnerscore surprises`, the `surprises:` configuration, and weak signals in reports.

Histories are simulated without the simulator's own improbable alliances; a planted
cell (20 proposals made video-game studios asking for a technical integration, each
with a 75% chance of real impact) is the one surprise there is to find.
"""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import Trained
from hypothesis import given, settings
from hypothesis import strategies as st

from model.config import Config, ConfigError, parse_config
from model.simulate import SimulationParams, simulate_history
from model.surprises import DEFAULT_PAIRS, DEFAULT_PRODUCTS, SurpriseSettings
from pipelines.cli.app import main
from pipelines.cli.commands import csv_bytes
from pipelines.cli.surprises import retrain_lines, surprises_text
from pipelines.jobs.surprises import WeakSignals, find_weak_signals, report_weak_signals
from pipelines.report.weak_signals import weak_signals_section
from pipelines.settings import Workspace, default_config_text
from pipelines.storage import store
from pipelines.storage.readers import load_proposals

os.environ.setdefault("OMP_NUM_THREADS", "1")
PLANTED = ("video_games", "technical_integration")
PAIR = ("partner_sector", "partnership_type")
CELL_TYPES: dict[str, type | tuple[type, ...]] = {
    "features": list, "values": list, "rows": int, "observed": float, "expected": float,
    "ratio": float, "interval": list, "evidence": float, "expected_by_chance": float,
    "strong": bool, "labels": list, "value_labels": list}
SHIPPED: dict[str, Any] = yaml.safe_load(default_config_text())
FRENCH = Path(__file__).resolve().parent.parent / "pipelines" / "conf" / "exemple-fr.yaml"


def history(*, planted: bool, seed: int = 5) -> pd.DataFrame:
    """1,200 simulated labelled proposals with main effects only; `planted` adds the cell.

    80 more proposals become video-game studios with their outcomes unchanged, so that
    the sector is not the planted cell alone (its main effect would then absorb it).
    """
    frame, _ = simulate_history(SimulationParams(periods=4, per_period=300, seed=seed,
                                                 surprises=False))
    if planted:
        rng = np.random.default_rng(seed)
        rows = rng.choice(len(frame), 100, replace=False)
        frame.loc[rows, "partner_sector"] = PLANTED[0]
        frame.loc[rows[:20], "partnership_type"] = PLANTED[1]
        frame.loc[rows[:20], "real_impact"] = rng.random(20) < 0.75
    return frame


@pytest.fixture(scope="module")
def planted_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("planted") / "history.csv"
    path.write_bytes(csv_bytes(history(planted=True)))
    return path


@pytest.fixture(scope="module")
def quiet_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("quiet") / "history.csv"
    path.write_bytes(csv_bytes(history(planted=False)))
    return path


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stop:
        main(argv)
        raise SystemExit(0)
    captured = capsys.readouterr()
    return int(stop.value.code or 0), captured.out, " ".join(captured.err.split())


def _json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    status, out, err = _run([*argv, "--format", "json"], capsys)
    assert status == 0, err
    document: dict[str, Any] = json.loads(out)
    return document


def test_the_planted_cell_ranks_first_in_json(planted_file: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    document = _json(["surprises", "--data", str(planted_file), "--workspace", str(tmp_path)],
                     capsys)
    top = document["cells"][0]
    assert (tuple(top["features"]), tuple(top["values"])) == (PAIR, PLANTED) and top["strong"]
    assert top["labels"] == ["Partner sector", "Partnership type"]
    frame = history(planted=True)
    in_cell = (frame["partner_sector"] == PLANTED[0]) & (frame["partnership_type"] == PLANTED[1])
    assert top["rows"] == in_cell.sum() and top["observed"] == frame["real_impact"][in_cell].sum()
    assert top["interval"][0] > 1 and top["expected_by_chance"] < 0.1
    assert document["tested"] == len(document["cells"]) + len(document["worse"]) > 20


def test_the_planted_cell_ranks_first_in_text(planted_file: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _run(["surprises", "--data", str(planted_file), "--workspace",
                             str(tmp_path)], capsys)
    assert status == 0, err
    lines = out.splitlines()
    better = lines.index(next(x for x in lines if x.startswith("Better than expected")))
    worse = lines.index(next(x for x in lines if x.startswith("Worse than expected")))
    first = lines[better + 1]
    assert first.startswith("  1. STRONG Video games × technical integration (Partner sector × "
                            "Partnership type): ")
    assert " with real impact where " in first and "90% interval" in first
    tested = _json(["surprises", "--data", str(planted_file), "--workspace", str(tmp_path)],
                   capsys)["tested"]
    assert first.endswith(f"by chance among {tested} tested")
    assert f"{tested} cells tested" in out and '"By chance" is how many' in out
    assert better < worse and lines[worse + 1].startswith("  1. ")


def test_cells_read_in_the_team_words_and_keep_the_raw_values(
        planted_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With the French example's `level_labels`, the planted cell reads "Jeux vidéo ×
    intégration technique" in the text; the JSON keeps the values as the data has them and
    adds the labels beside them."""
    argv = ["--config", str(FRENCH), "surprises", "--data", str(planted_file),
            "--workspace", str(tmp_path)]
    top = _json(argv, capsys)["cells"][0]
    assert top["values"] == list(PLANTED)
    assert top["value_labels"] == ["jeux vidéo", "intégration technique"]
    assert top["labels"] == ["Secteur du partenaire", "Type de partenariat"]
    status, out, err = _run(argv, capsys)
    assert status == 0, err
    assert ("  1. STRONG Jeux vidéo × intégration technique (Secteur du partenaire × Type de "
            "partenariat): ") in out


def test_json_schema_is_stable(planted_file: Path, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    document = _json(["surprises", "--data", str(planted_file), "--workspace", str(tmp_path)],
                     capsys)
    assert set(document) == {"cells", "worse", "tested", "false_alarm_rate", "source", "rows",
                             "weighted", "min_rows", "interval_level"}
    assert isinstance(document["tested"], int) and document["false_alarm_rate"] == 0.1
    assert document["source"] == str(planted_file) and document["weighted"] is False
    assert document["rows"] == len(pd.read_csv(planted_file))
    assert (document["min_rows"], document["interval_level"]) == (10, 0.9)
    for cell in (*document["cells"], *document["worse"]):
        assert set(cell) == set(CELL_TYPES)
        for key, kind in CELL_TYPES.items():
            assert isinstance(cell[key], kind), (key, cell[key])
        assert all(isinstance(v, str) for v in (*cell["features"], *cell["values"], *cell["labels"],
                                                 *cell["value_labels"]))
        assert len(cell["interval"]) == 2 and all(isinstance(v, float) for v in cell["interval"])
        assert tuple(cell["features"]) in DEFAULT_PAIRS
    json.dumps(document, allow_nan=False)  # every figure finite
    ranks = [c["evidence"] for c in document["cells"]]
    assert ranks == sorted(ranks, reverse=True)


def test_same_seed_same_document_and_the_seed_is_used(planted_file: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["surprises", "--data", str(planted_file), "--workspace", str(tmp_path)]
    first, again = _json([*argv, "--seed", "3"], capsys), _json([*argv, "--seed", "3"], capsys)
    other = _json([*argv, "--seed", "4"], capsys)
    assert first == again
    assert [c["expected"] for c in first["cells"]] != [c["expected"] for c in other["cells"]]


def test_the_store_is_the_default_and_data_wins_over_it(
        planted_file: Path, quiet_file: Path, config: Config, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    workspace = Workspace.resolve(tmp_path)
    status, _, err = _run(["surprises", "--workspace", str(tmp_path)], capsys)
    assert status == 2 and err.startswith("surprises: found nothing in ") and "ingest" in err
    store.ingest(workspace, load_proposals(planted_file, config, labelled=True), config,
                 source=str(planted_file))
    from_store = _json(["surprises", "--workspace", str(tmp_path)], capsys)
    assert tuple(from_store["cells"][0]["values"]) == PLANTED and from_store["cells"][0]["strong"]
    from_file = _json(["surprises", "--workspace", str(tmp_path), "--data", str(quiet_file)],
                      capsys)
    assert not any(c["strong"] for c in (*from_file["cells"], *from_file["worse"]))
    status, out, _ = _run(["surprises", "--workspace", str(tmp_path)], capsys)
    assert status == 0 and f"({workspace.store})" in out


def test_a_history_without_a_planted_cell_calls_nothing_strong(config: Config) -> None:
    quiet = find_weak_signals(history(planted=False), config, "quiet", seed=0)
    planted = find_weak_signals(history(planted=True), config, "planted", seed=0)
    assert quiet.report is not None and planted.report is not None
    assert quiet.report.tested > 20 and not quiet.report.strong
    assert not any(c.strong for c in quiet.report.worse)
    assert planted.report.strong and planted.report.strong[0].values == PLANTED
    assert "0 strong cells among" in "\n".join(surprises_text(quiet))
    # the watched pairs in the configuration's words; a history too small to test any cell
    # says so without the paragraph on chance
    worded = surprises_text(planted, config.feature_labels)
    assert worded[1].startswith("Watched pairs (interactions in the configuration): Partner "
                                "sector × partnership type;")
    small = find_weak_signals(history(planted=True).head(40), config, "small", seed=0)
    assert small.report is not None and small.report.tested == 0
    text = surprises_text(small, config.feature_labels)
    assert text[-1].startswith("No cell has 10 proposals or more among the 40 labelled")
    assert not any("by chance" in line.lower() for line in text)


def test_bad_format_and_too_little_data_exit_2(planted_file: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _run(["surprises", "--data", str(planted_file), "--format", "yaml",
                             "--workspace", str(tmp_path)], capsys)
    assert status == 2 and "'--format'" in err and "'yaml' is not one of 'text', 'json'" in err
    assert out == "" and "Usage: " in err
    frame = history(planted=False)
    frame["real_impact"] = False
    none = tmp_path / "none.csv"
    none.write_bytes(csv_bytes(frame))
    status, out, err = _run(["surprises", "--data", str(none), "--workspace", str(tmp_path)],
                            capsys)
    assert status == 2 and "no real impact" in err and out == ""
    assert err.startswith("no weak-signal report: all ") and "train" not in err


def _team_config(tmp_path: Path, surprises: dict[str, Any]) -> Path:
    raw = copy.deepcopy(SHIPPED)
    raw.update(surprises)
    path = tmp_path / "team.yaml"
    path.write_text(yaml.safe_dump(raw), "utf-8")
    return path


CONFIG_CASES = [
    ({"interactions": [["partner_sector"]]},
     "interactions[0]: expected two different column names, got ['partner_sector']"),
    ({"interactions": [["partner_sector", "partner_sector"]]},
     "interactions[0]: expected two different column names"),
    ({"interactions": [["partner_sector", "partnership_type"], ["partner_sector", "nope"]]},
     "interactions[1][1]: expected a column declared under columns, got 'nope'"),
    ({"interactions": [["expected_reach", "partner_sector"]]},
     "interactions[0]: expected two columns of type category, open_category or ordinal "
     "(cells), or two of type boolean, integer or number (a product), got 'expected_reach' of "
     "type integer and 'partner_sector' of type open_category"),
    ({"interactions": [["description", "partner_sector"]]},
     "interactions[0][0]: expected a column of type category, open_category or ordinal "
     "(cells), or boolean, integer or number (a product), got 'description' of type text"),
    ({"interactions": [["has_action_plan", "partner_committed_fte"],
                       ["partner_committed_fte", "has_action_plan"]]},
     "interactions[1]: expected a pair not listed before"),
    ({"interactions": [["partner_sector", "partnership_type"],
                       ["partnership_type", "partner_sector"]]},
     "interactions[1]: expected a pair not listed before"),
    ({"interactions": "partner_sector"}, "interactions: expected a list of pairs of column names"),
    ({"surprises": {"pairs": [["partner_sector", "partnership_type"]]}},
     "surprises.pairs: unknown option"),
    ({"surprises": {"min_rows": 0}}, "surprises.min_rows: expected a whole number >= 1, got 0"),
    ({"surprises": {"interval": 1.0}},
     "surprises.interval: expected a number between 0 and 1, both excluded"),
    ({"surprises": {"false_alarm_rate": "10%"}},
     "surprises.false_alarm_rate: expected a number between 0 and 1, both excluded, got '10%'"),
    ({"surprises": {"min_row": 20}}, "surprises.min_row: unknown option; did you mean min_rows?"),
    ({"surprises": "all"}, "surprises: expected a mapping of options, got 'all'"),
]


@pytest.mark.parametrize(("section", "problem"), CONFIG_CASES,
                         ids=[p.split(":")[0] + f"-{i}" for i, (_, p) in enumerate(CONFIG_CASES)])
def test_a_malformed_surprises_section_exits_2_naming_the_key(
        section: Any, problem: str, planted_file: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = _team_config(tmp_path, section)
    status, out, err = _run(["surprises", "--config", str(path), "--data", str(planted_file),
                             "--workspace", str(tmp_path)], capsys)
    assert status == 2 and out == ""
    assert err.startswith(f"invalid configuration {path}: - ") and problem in err, err


def test_the_section_reads_into_settings_and_drives_the_command(
        planted_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_config(SHIPPED).surprises == SurpriseSettings()
    section = {"interactions": [["partner_sector", "sector_proximity"]],
               "surprises": {"min_rows": 30, "false_alarm_rate": 0.05, "interval": 0.8}}
    path = _team_config(tmp_path, section)
    document = _json(["surprises", "--config", str(path), "--data", str(planted_file),
                      "--workspace", str(tmp_path)], capsys)
    cells = (*document["cells"], *document["worse"])
    assert document["false_alarm_rate"] == 0.05 and cells
    assert all(c["features"] == ["partner_sector", "sector_proximity"] and c["rows"] >= 30
               for c in cells)


def test_without_the_section_the_default_pairs_follow_the_columns() -> None:
    raw = copy.deepcopy(SHIPPED)
    del raw["surprises"], raw["interactions"]
    assert parse_config(raw).surprises == SurpriseSettings()
    assert parse_config(raw).interactions == (*DEFAULT_PAIRS, *DEFAULT_PRODUCTS)
    del raw["columns"]["lifecycle_position"], raw["columns"]["partner_committed_fte"]
    assert parse_config(raw).interactions == (PAIR,)
    raw["interactions"] = [["partner_sector", "lifecycle_position"]]
    with pytest.raises(ConfigError, match=r"interactions\[0\]\[1\]: expected a column declared"):
        parse_config(raw)
    raw["interactions"] = []
    assert parse_config(raw).interactions == ()


def test_products_are_learned_but_not_watched_cell_by_cell() -> None:
    raw = copy.deepcopy(SHIPPED)
    raw["interactions"] = [["partner_committed_fte", "has_action_plan"], PAIR,
                           ["expected_reach", "partner_headcount"]]
    settings = parse_config(raw).surprises
    assert settings.pairs == (PAIR,)
    assert settings.products == (("partner_committed_fte", "has_action_plan"),
                                 ("expected_reach", "partner_headcount"))


def test_a_product_never_reverses_a_strict_direction() -> None:
    raw = copy.deepcopy(SHIPPED)
    columns = raw["columns"]
    columns["has_action_plan"]["belief"] = {"strict": True}
    columns["partner_committed_fte"].pop("min")
    with pytest.raises(ConfigError, match=r"interactions\[3\]: expected 'partner_committed_fte' "
                                          r"never negative \(min: 0 or more\)"):
        parse_config(raw)
    del raw["interactions"]  # the default product is left out, not refused
    assert ("has_action_plan", "partner_committed_fte") not in parse_config(raw).interactions
    columns["partner_committed_fte"]["min"] = 0
    columns["partner_committed_fte"]["monotone"] = "decreasing"
    columns["partner_committed_fte"]["belief"] = {"strict": True}
    raw["interactions"] = [["has_action_plan", "partner_committed_fte"]]
    with pytest.raises(ConfigError, match="expected columns whose strict directions agree"):
        parse_config(raw)


def test_the_model_report_section_from_labelled_data_the_store_or_a_note(
        planted_file: Path, quiet_file: Path, config: Config, tmp_path: Path) -> None:
    workspace = Workspace.resolve(tmp_path)
    unlabelled = tmp_path / "proposals.csv"
    unlabelled.write_bytes(csv_bytes(history(planted=False).drop(columns=["real_impact"])))
    assert report_weak_signals(workspace, config, unlabelled, None) is None
    note = weak_signals_section(None)
    assert "id=no-weak-signals" in note and "--data FILE" in note and "partnerscore ingest" in note
    from_file = report_weak_signals(workspace, config, planted_file, None)
    assert from_file is not None and from_file.source == str(planted_file)
    html = weak_signals_section(from_file)
    assert "id=no-weak-signals" not in html
    first_row = html.split("<tbody>", 1)[1].split("</tr>", 1)[0]
    assert "Video games × technical integration" in first_row and "strong" in first_row
    store.ingest(workspace, load_proposals(quiet_file, config, labelled=True), config,
                 source=str(quiet_file))
    from_store = report_weak_signals(workspace, config, unlabelled, None)
    assert from_store is not None and from_store.source == str(workspace.store)
    assert from_store.report is not None and not from_store.report.strong
    # a labelled file with one outcome left blank: the store's figures, saying so
    incomplete = pd.read_csv(planted_file)
    incomplete["real_impact"] = incomplete["real_impact"].astype(object)
    incomplete.loc[13, "real_impact"] = None  # line 15 of the file, under its header
    blank = tmp_path / "blank_label.csv"
    incomplete.to_csv(blank, index=False)
    instead = report_weak_signals(workspace, config, blank, None)
    assert instead is not None and instead.source == str(workspace.store)
    assert instead.note.startswith(f"Not from {blank}: it is not a complete labelled file "
                                   "(row 15, column real_impact: found nothing")
    assert instead.note.endswith("These figures are the workspace's labelled store's.")
    assert "id=weak-signals-source" in weak_signals_section(instead)
    assert from_store.note == (f"Not from {unlabelled}: it holds no outcomes. These figures are "
                               "the workspace's labelled store's.")
    assert report_weak_signals(workspace, config, None, None).note == ""  # no file given


def test_the_model_report_has_a_weak_signals_section(
        trained: Trained, planted_file: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    root, output = str(trained.workspace.root), tmp_path / "model.html"
    status, _, err = _run(["report", "--workspace", root, "--data", str(planted_file),
                           "--output", str(output)], capsys)
    assert status == 0, err
    page = output.read_text("utf-8")
    section = page.split("<section id=weak-signals>", 1)[1].split("</section>", 1)[0]
    first_row = section.split("<tbody>", 1)[1].split("</tr>", 1)[0]
    assert "Video games × technical integration" in first_row and "strong" in first_row
    assert "href='#weak-signals'" in page and str(planted_file) in section
    status, _, err = _run(["report", "--workspace", root, "--output", str(output)], capsys)
    assert status == 0, err
    assert "id=no-weak-signals" in output.read_text("utf-8")  # no data, and no store here

def test_retrain_lists_strong_cells_briefly(config: Config) -> None:
    signals = find_weak_signals(history(planted=True), config, "store", seed=0)
    lines = retrain_lines(signals)
    assert lines[0].startswith("Weak signals this period (") and len(lines) <= 6
    assert lines[1].startswith("  STRONG, better than expected: Video games × technical "
                               "integration")
    assert f"(the whole store with it: {signals.report.tested} cells tested in " \
           f"{signals.rows} labelled proposals;" in lines[0]
    quiet = retrain_lines(find_weak_signals(history(planted=False), config, "store", seed=0))
    assert all("STRONG" not in line for line in quiet)
    assert quiet[-1].startswith("  none: no cell is both rare among the ")
    refused = WeakSignals(None, "store", 40, False, config.surprises, refused="too few")
    assert retrain_lines(refused) == ["Weak signals this period: none computed (too few)"]
    assert retrain_lines(None) == []


def test_a_cell_is_watched_only_when_rare_among_the_tested_and_on_its_own(config: Config) -> None:
    """With one cell tested, any cell is within one of chance: it is watched only when its
    own chance of looking this strong is small too, and its direction is said."""
    from model.surprises import Cell, SurpriseReport

    def cell(evidence: float, observed: float, strong: bool = False) -> Cell:
        return Cell(features=("partner_sector", "partnership_type"), values=("media", "event"),
                    rows=12, observed=observed, expected=1.3, ratio=observed / 1.3,
                    interval=(0.2, 3.0), evidence=evidence, expected_by_chance=1.0,
                    strong=strong)

    lone = cell(0.2, 1.0)  # 1 where 1.3 were expected: 'about 1 cell by chance among 1'
    rare = cell(1.5, 0.0)  # none where 1.3 were expected: own chance about 3%
    signals = WeakSignals(SurpriseReport(cells=(), worse=(lone, rare), tested=2), "store", 40,
                          False, config.surprises)
    assert signals.watched() == (rare,)
    lines = retrain_lines(signals)
    assert lines[1].startswith("  watch, worse than expected: Media × event") and len(lines) == 2


JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(-10**30, 10**30), st.text(max_size=12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.one_of(st.integers(-3, 3), st.text(max_size=3),
                       st.sampled_from(["partner_sector", "partnership_type", "expected_reach"])),
             max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(-3, 3), max_size=2),
)
KEYS = ["surprises", "interactions", "interactions.0", "interactions.0.1",
        "surprises.min_rows", "surprises.false_alarm_rate", "surprises.interval"]
# The key, whose quoted option names may hold any character, then the problem.
PROBLEM = re.compile(r"""^(surprises|interactions)(?:[^:'"]|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")*"""
                     r": (expected |unknown option; )")


@settings(max_examples=300, deadline=None)
@given(key=st.sampled_from(KEYS), value=JUNK)
def test_arbitrary_values_in_the_section_give_a_configuration_error(key: str, value: Any) -> None:
    raw = copy.deepcopy(SHIPPED)
    *parents, last = key.split(".")
    node: Any = raw
    for part in parents:
        node = node[int(part) if part.isdigit() else part]
    node[int(last) if last.isdigit() else last] = value
    try:
        settings_ = parse_config(raw).surprises
    except ConfigError as error:
        assert error.problems and all(PROBLEM.match(p) for p in error.problems), error.problems
    else:
        assert settings_.min_rows >= 1 and 0 < settings_.interval < 1
        assert all(len(pair) == 2 and pair[0] != pair[1] for pair in settings_.pairs)


def test_training_counts_the_cells_the_weak_signal_report_tests(trained: Trained,
                                                               config: Config) -> None:
    """The model card's "each of the N cells" and the report's "N tested" are the same cells
    (a product is learned as one term, not as a cell)."""
    from pipelines.jobs.surprises import find_weak_signals

    signals = find_weak_signals(trained.history, config, "history.csv")
    assert signals.report is not None
    assert trained.outcome.training.data["pair_cells"] == signals.report.tested > 20
    assert config.surprises.products, "the shipped configuration learns a product too"


def test_an_empty_store_says_what_to_do_in_a_sentence(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """No file was given and the store is empty: no problem table, no 'fix the file'."""
    for command in ("surprises", "train"):
        status, out, err = _run([command, "--workspace", str(tmp_path / "empty")], capsys)
        assert status == 2 and out == ""
        assert err == (f"{command}: found nothing in {tmp_path / 'empty' / 'store'}; expected "
                       "labelled outcomes: pass --data FILE or ingest a period first "
                       "(partnerscore ingest FILE). Nothing was written.")
    status, out, err = _run(["retrain", "--workspace", str(tmp_path / "empty")], capsys)
    assert status == 2 and out == ""
    assert err == (f"retrain: found nothing in {tmp_path / 'empty' / 'store'}; expected "
                   "labelled outcomes: pass FILE or run partnerscore ingest first. Nothing was "
                   "written.")
    assert not (tmp_path / "empty").exists(), "no lock, no tracking store, no store folder"


def test_a_watched_optional_column_the_file_lacks_has_no_cell_to_test(
        planted_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A team watches its own optional category (region) with the partnership type; a file
    without the column reads as region missing everywhere: that pair has no cell, the
    others are tested as usual."""
    raw = copy.deepcopy(SHIPPED)
    raw["columns"]["region"] = {"type": "open_category", "required": False, "feature": True,
                                "label": "Region"}
    raw["interactions"] = [["region", "partnership_type"], ["partner_sector", "partnership_type"]]
    path = tmp_path / "team.yaml"
    path.write_text(yaml.safe_dump(raw), "utf-8")
    argv = ["surprises", "--data", str(planted_file), "--workspace", str(tmp_path),
            "--config", str(path)]
    document = _json(argv, capsys)
    features = {tuple(c["features"]) for c in (*document["cells"], *document["worse"])}
    assert features == {("partner_sector", "partnership_type")} and document["tested"] > 0
    assert document["cells"][0]["values"] == list(PLANTED)
