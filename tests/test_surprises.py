"""Improbable alliances: planted cells found, quiet histories left quiet, a stable JSON document."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2

from model.config import Column, Config
from model.simulate import SimulationParams, simulate_history
from model.surprises import (
    DEFAULT_PAIRS,
    SurpriseSettings,
    find_surprises,
    pair_problems,
    poisson_binomial,
    ratio_interval,
    surprises_for,
)
from model.validation import ContractError, validate_frame
from pipelines.cli.commands import csv_bytes
from pipelines.storage.readers import read_bytes_table

SECTORS = ("legal", "media", "retail", "video_games", "health", "payroll")
TYPES = ("referral", "event", "influencer", "technical_integration")
PAIR = ("partner_sector", "partnership_type")
SETTINGS = SurpriseSettings(pairs=(PAIR,), min_rows=10)
CELL_KEYS = {"features", "values", "rows", "observed", "expected", "ratio", "interval",
             "evidence", "expected_by_chance", "strong"}


def history(seed: int, rows: int = 720,
            planted: float | None = None) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Proposals over sector × type, expectations between 5% and 25%, outcomes drawn from
    them; `planted` gives video_games × technical_integration that chance instead."""
    rng = np.random.default_rng(seed)
    proposals = pd.DataFrame({"partner_sector": rng.choice(SECTORS, rows),
                              "partnership_type": rng.choice(TYPES, rows)})
    expected = rng.uniform(0.05, 0.25, rows)
    truth = expected.copy()
    if planted is not None:
        truth[((proposals["partner_sector"] == "video_games")
               & (proposals["partnership_type"] == "technical_integration")).to_numpy()] = planted
    return proposals, (rng.random(rows) < truth).astype(float), expected


def test_a_planted_cell_ranks_first_and_is_strong() -> None:
    proposals, y, p = history(seed=3, planted=0.6)
    report = find_surprises(proposals, y, p, SETTINGS)
    top = report.cells[0]
    assert top.values == ("video_games", "technical_integration") and top.strong
    rows = ((proposals["partner_sector"] == "video_games")
            & (proposals["partnership_type"] == "technical_integration")).to_numpy()
    assert top.rows == rows.sum()
    assert top.observed == pytest.approx(y[rows].sum())
    assert top.expected == pytest.approx(p[rows].sum())
    assert top.interval[0] > 1 and top.ratio == pytest.approx(top.observed / top.expected)
    strong = [c for c in (*report.cells, *report.worse) if c.strong]
    assert strong[0] == top and strong[-1].expected_by_chance <= 0.1 * len(strong)


def test_histories_with_nothing_planted_rarely_call_anything_strong() -> None:
    runs = [find_surprises(*history(seed), SETTINGS) for seed in range(40)]
    alarms = sum(any(c.strong for c in (*r.cells, *r.worse)) for r in runs)
    assert alarms <= 8  # 10% of runs on average by design; 8 of 40 is far in the tail
    # Cells reaching an evidence that chance gives about once a history: about one per history.
    per_run = [sum(c.expected_by_chance <= 1 for c in (*r.cells, *r.worse)) for r in runs]
    assert 0.3 <= np.mean(per_run) <= 2.0


def test_expected_by_chance_sums_each_cells_exact_chance() -> None:
    proposals, y, p = history(seed=5, planted=0.5)
    report = find_surprises(proposals, y, p, SETTINGS)
    top = report.cells[0]
    assert 10 ** -top.evidence <= top.expected_by_chance <= report.tested * 10 ** -top.evidence
    chances = [c.expected_by_chance for c in (*report.cells, *report.worse)]
    evidences = [c.evidence for c in (*report.cells, *report.worse)]
    order = np.argsort(evidences)
    assert np.all(np.diff(np.asarray(chances)[order]) <= 1e-12)  # more evidence, fewer by chance


def test_worse_cells_have_their_own_section() -> None:
    proposals, y, p = history(seed=4)
    rows = ((proposals["partner_sector"] == "legal")
            & (proposals["partnership_type"] == "referral")).to_numpy()
    p = np.where(rows, 0.6, p)
    y = np.where(rows, 0.0, y)
    report = find_surprises(proposals, y, p, SETTINGS)
    assert report.worse[0].values == ("legal", "referral") and report.worse[0].strong
    assert ("legal", "referral") not in {c.values for c in report.cells}
    assert all(c.ratio < 1 for c in report.worse) and all(c.ratio >= 1 for c in report.cells)
    assert len(report.cells) + len(report.worse) == report.tested == len(SECTORS) * len(TYPES)


def test_json_document_has_exact_keys_and_types() -> None:
    proposals, y, p = history(seed=1, planted=0.6)
    sector = Column("partner_sector", "open_category", label="Partner sector",
                    level_labels={"video_games": "Video-game studio"})
    document = find_surprises(proposals, y, p, SETTINGS,
                              columns={"partner_sector": sector}).to_json()
    assert set(document) == {"cells", "worse"}
    for cell in document["cells"] + document["worse"]:
        assert set(cell) == CELL_KEYS | {"labels", "value_labels"}
        assert cell["features"] == list(PAIR) and cell["labels"] == ["Partner sector",
                                                                      "partnership_type"]
        sector_value, type_value = cell["values"]
        assert cell["value_labels"] == [
            "Video-game studio" if sector_value == "video_games" else
            sector_value.replace("_", " "), type_value.replace("_", " ")]
        assert all(type(v) is str for v in cell["values"]) and len(cell["values"]) == 2
        assert type(cell["rows"]) is int and type(cell["strong"]) is bool
        for key in ("observed", "expected", "ratio", "evidence", "expected_by_chance"):
            assert type(cell[key]) is float, key
        assert len(cell["interval"]) == 2 and all(type(v) is float for v in cell["interval"])
    assert any(c["value_labels"][0] == "Video-game studio"
               for c in document["cells"] + document["worse"])
    assert json.loads(json.dumps(document, allow_nan=False)) == document
    unlabelled = find_surprises(proposals, y, p, SETTINGS).to_json()
    assert set(unlabelled["cells"][0]) == CELL_KEYS


def test_three_rows_by_hand() -> None:
    proposals = pd.DataFrame({"partner_sector": ["legal"] * 3, "partnership_type": ["event"] * 3})
    y, p = np.array([1.0, 1.0, 0.0]), np.array([0.5, 0.5, 0.2])
    report = find_surprises(proposals, y, p, SurpriseSettings(pairs=(PAIR,), min_rows=1))
    (cell,) = report.cells
    # P(K >= 2) = P(K = 2) + P(K = 3) = (0.25 * 0.8 + 2 * 0.25 * 0.2) + 0.05 = 0.35
    assert cell.evidence == pytest.approx(-np.log10(0.35))
    assert (cell.rows, cell.observed, cell.expected) == (3, 2.0, pytest.approx(1.2))
    assert report.worse == ()


def test_a_cell_with_too_few_rows_is_not_reported() -> None:
    proposals, y, p = history(seed=2)
    sizes = proposals.value_counts().to_dict()
    settings = SurpriseSettings(pairs=(PAIR,), min_rows=sorted(sizes.values())[3])
    report = find_surprises(proposals, y, p, settings)
    shown = {c.values for c in (*report.cells, *report.worse)}
    assert shown == {k for k, n in sizes.items() if n >= settings.min_rows}
    assert report.tested == len(shown) < len(sizes)


def test_rows_missing_a_watched_value_are_left_out() -> None:
    proposals, y, p = history(seed=2)
    proposals.loc[:99, "partnership_type"] = None
    report = find_surprises(proposals, y, p, SETTINGS)
    assert sum(c.rows for c in (*report.cells, *report.worse)) == len(proposals) - 100


def test_all_zero_outcomes_put_every_cell_among_the_worse() -> None:
    proposals, _, p = history(seed=6)
    report = find_surprises(proposals, np.zeros(len(p)), p, SETTINGS)
    assert report.cells == () and len(report.worse) == report.tested > 0
    assert all(c.observed == 0 and c.ratio == 0 and c.interval[0] == 0 for c in report.worse)
    assert all(c.interval[1] > 0 and np.isfinite(c.evidence) for c in report.worse)


def test_weights_reweight_the_ratio_but_not_the_evidence() -> None:
    proposals, y, p = history(seed=7, planted=0.6)
    w = np.random.default_rng(0).choice([1.0, 2.0, 5.0], len(y))
    plain = find_surprises(proposals, y, p, SETTINGS)
    weighted = find_surprises(proposals, y, p, SETTINGS, weights=w)
    key = ("video_games", "technical_integration")
    a = next(c for c in plain.cells if c.values == key)
    b = next(c for c in weighted.cells if c.values == key)
    rows = ((proposals["partner_sector"] == key[0])
            & (proposals["partnership_type"] == key[1])).to_numpy()
    assert b.observed == pytest.approx(w[rows] @ y[rows])
    assert b.expected == pytest.approx(w[rows] @ p[rows])
    assert b.evidence == pytest.approx(a.evidence) and b.rows == a.rows
    assert b.interval[1] - b.interval[0] > 0


def test_row_order_changes_nothing() -> None:
    proposals, y, p = history(seed=8, planted=0.5)
    order = np.random.default_rng(1).permutation(len(y))
    shuffled = proposals.iloc[order].reset_index(drop=True)
    first = find_surprises(proposals, y, p, SETTINGS)
    again = find_surprises(shuffled, y[order], p[order], SETTINGS)
    for a, b in zip((*first.cells, *first.worse), (*again.cells, *again.worse), strict=True):
        assert (a.values, a.rows, a.strong) == (b.values, b.rows, b.strong)
        assert (a.observed, a.expected, a.evidence, a.expected_by_chance) == pytest.approx(
            (b.observed, b.expected, b.evidence, b.expected_by_chance))


def test_a_watched_column_absent_from_the_data_is_a_contract_error() -> None:
    proposals, y, p = history(seed=1)
    with pytest.raises(ContractError) as raised:
        find_surprises(proposals, y, p, SurpriseSettings(pairs=(("partner_sector",
                                                                  "lifecycle_position"),)))
    assert raised.value.problems[0].column == "lifecycle_position"


def test_poisson_binomial_matches_enumeration() -> None:
    q = np.array([0.1, 0.35, 0.5, 0.8, 0.02])
    exact = np.zeros(len(q) + 1)
    for outcome in itertools.product((0, 1), repeat=len(q)):
        exact[sum(outcome)] += np.prod(np.where(outcome, q, 1 - q))
    assert poisson_binomial(q) == pytest.approx(exact, abs=1e-15)


@pytest.mark.parametrize("count", [0, 1, 5, 40])
def test_unweighted_interval_is_garwoods(count: int) -> None:
    y = np.r_[np.ones(count), np.zeros(10)]
    low, high = ratio_interval(y, np.ones_like(y), expected=2.0, level=0.9)
    garwood_low = chi2.ppf(0.05, 2 * count) / 2 if count else 0.0
    assert (low, high) == pytest.approx((garwood_low / 2, chi2.ppf(0.95, 2 * count + 2) / 4))


def test_watched_pairs_are_checked_against_the_configuration(config: Config) -> None:
    assert pair_problems(DEFAULT_PAIRS, config.by_name) == []
    problems = pair_problems([("partner_sector", "expected_reach"), ("nope", "partner_sector"),
                              ("partner_sector",), ("partner_sector", "partner_sector")],
                             config.by_name)
    assert len(problems) == 4 and all(p.startswith("interactions: ") for p in problems)
    assert "'expected_reach'" in problems[0] and "'nope'" in problems[1]


def test_importing_the_module_loads_neither_scikit_learn_nor_scipy() -> None:
    code = ("import sys, model.surprises; "
            "print(any(m.split('.')[0] in ('sklearn', 'scipy') for m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"


def test_simulated_history_without_surprises_end_to_end(config: Config) -> None:
    frame, _ = simulate_history(SimulationParams(periods=4, per_period=200, seed=12,
                                                 surprises=False))
    raw = read_bytes_table(csv_bytes(frame), "history.csv")
    proposals = validate_frame(raw, config, labelled=True)
    report = surprises_for(proposals, config, SurpriseSettings(), seed=0)
    assert report.tested > 0 and not report.strong
    assert {c.features for c in (*report.cells, *report.worse)} <= set(DEFAULT_PAIRS)
    assert report.cells[0].labels == (config.by_name[report.cells[0].features[0]].label,
                                      config.by_name[report.cells[0].features[1]].label)
