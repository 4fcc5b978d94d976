"""The data contract's rules, checked on 3-row raw frames built in memory."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model.config import Config
from model.validation import ContractError, Problem, summarise, validate_frame

Rows = list[dict[str, str]]


def raw_frame(rows: Rows) -> pd.DataFrame:
    """The loaders' shape: text or None, index = spreadsheet row numbers from 2."""
    frame = pd.DataFrame(rows, dtype=object, index=pd.Index(range(2, 2 + len(rows)), name="row"))
    return frame.map(lambda v: v or None).astype(object)


def problems_of(rows: Rows, config: Config, labelled: bool = True) -> list[Problem]:
    with pytest.raises(ContractError) as caught:
        validate_frame(raw_frame(rows), config, labelled=labelled)
    return caught.value.problems


def with_value(rows: Rows, column: str, value: str) -> Rows:
    """The rows with the second one's `column` set to `value`."""
    return [rows[0], {**rows[1], column: value}, rows[2]]


def test_valid_rows_are_typed(proposals: Rows, config: Config) -> None:
    typed = validate_frame(raw_frame(proposals), config, labelled=True)
    assert list(typed.index) == [2, 3, 4]
    assert typed["proposal_id"].dtype == object
    assert typed["proposal_id"].tolist() == ["p1", "p2", "p3"]
    assert typed["partnership_type"].tolist() == ["influencer", "co_branding", "influencer"]
    assert typed["has_clear_objective"].dtype == np.float64
    assert typed["has_action_plan"].tolist() == [0.0, 0.0, 0.0]
    assert typed["real_impact"].dtype == np.int64
    assert typed["real_impact"].tolist() == [1, 0, 1]
    assert typed["partner_headcount"].isna().tolist() == [False, False, True]


def test_optional_text_stays_none_not_pd_na(proposals: Rows, config: Config) -> None:
    rows = with_value(proposals, "partner_name", "")
    typed = validate_frame(raw_frame(rows), config, labelled=True)
    assert typed["partner_name"].tolist() == ["Acme", None, "Acme"]
    assert typed["partner_name"].dtype == object


def test_columns_in_config_order_then_extras(proposals: Rows, config: Config) -> None:
    rows = [{"Notes ": "x", **{k.upper(): v for k, v in r.items()}} for r in proposals]
    typed = validate_frame(raw_frame(rows), config, labelled=True)
    configured = [c.name for c in config.columns if c.name in proposals[0]]
    assert list(typed.columns) == [*configured, "Notes "]
    assert typed["Notes "].tolist() == ["x", "x", "x"]


def test_scoring_file_needs_no_outcome_columns(
    proposals: Rows, config: Config
) -> None:
    rows = [{k: v for k, v in r.items() if k not in ("trial_period", "real_impact")}
            for r in proposals]
    assert len(validate_frame(raw_frame(rows), config, labelled=False)) == 3


def test_same_column_twice_is_reported(proposals: Rows, config: Config) -> None:
    raw = raw_frame(proposals)
    raw.insert(1, " Proposal_ID", ["x", "y", "z"])
    with pytest.raises(ContractError) as caught:
        validate_frame(raw, config, labelled=True)
    [problem] = caught.value.problems
    assert (problem.row, problem.column) == (None, "proposal_id")


def test_missing_required_column(proposals: Rows, config: Config) -> None:
    rows = [{k: v for k, v in r.items() if k != "real_impact"} for r in proposals]
    [problem] = problems_of(rows, config)
    assert (problem.row, problem.column) == (None, "real_impact")
    assert "required in labelled files" in str(problem)


@pytest.mark.parametrize(("column", "value", "expected"), [
    ("trial_period", "2026-13", "YYYY-MM"),
    ("trial_period", "2026-3", "YYYY-MM"),
    ("trial_period", "2026-03-01", "YYYY-MM"),
    ("partner_committed_fte", "lots", "a number >= 0 and <= 1000"),
    ("partner_committed_fte", "-1", ">= 0"),
    ("partner_committed_fte", "nan", "a number"),
    ("partner_committed_fte", "inf", "a number"),
    ("partner_committed_fte", "1,000", "no thousands separator"),
    ("partner_headcount", "3.5", "a whole number"),
    ("logistics_complexity", "6", "<= 5"),
    ("acceptance_propensity", "0", "> 0 and <= 1"),
    ("acceptance_propensity", "1.5", "> 0 and <= 1"),
    ("has_action_plan", "maybe", "a boolean (true/false, yes/no"),
    ("partnership_type", "podcast", "one of: influencer, co_branding"),
    ("sector_proximity", "far", "one of: same, adjacent, distant"),
    ("partner_sector", "", "a value (the column is required)"),
    ("proposal_id", "", "a value (the column is required)"),
])
def test_bad_value_is_reported_with_row_and_column(
    proposals: Rows, config: Config, column: str, value: str, expected: str
) -> None:
    [problem] = problems_of(with_value(proposals, column, value), config)
    assert (problem.row, problem.column, problem.value) == (3, column, value)
    assert expected in problem.expected


@pytest.mark.parametrize(("column", "value", "parsed"), [
    ("partner_committed_fte", "0,5", 0.5),
    ("partner_committed_fte", "1e2", 100.0),
    ("partner_headcount", "3.0", 3.0),
    ("acceptance_propensity", "1", 1.0),
    ("has_action_plan", "OUI", 1.0),
    ("has_action_plan", "Faux", 0.0),
    ("has_action_plan", "N", 0.0),
    ("has_action_plan", "1.0", 1.0),
    ("partnership_type", "webinar", "cross_webinar"),
    ("partnership_type", "Technical Integration", "technical_integration"),
    ("sector_proximity", " Same ", "same"),
    ("partner_sector", "Video-Games", "video_games"),
    ("trial_period", "2026-12", "2026-12"),
])
def test_accepted_spellings(
    proposals: Rows, config: Config, column: str, value: str, parsed: object
) -> None:
    typed = validate_frame(raw_frame(with_value(proposals, column, value)), config, labelled=True)
    assert typed.loc[3, column] == parsed


def test_missing_propensity_stays_nan(proposals: Rows, config: Config) -> None:
    rows = with_value(proposals, "acceptance_propensity", "")
    typed = validate_frame(raw_frame(rows), config, labelled=True)
    assert typed["acceptance_propensity"].isna().all()


def test_duplicate_id_names_first_row(proposals: Rows, config: Config) -> None:
    [problem] = problems_of(with_value(proposals, "proposal_id", "p1"), config)
    assert problem.row == 3
    assert "already used on row 2" in problem.expected


def test_header_only_means_no_rows(config: Config) -> None:
    raw = pd.DataFrame(columns=[c.name for c in config.columns], dtype=object)
    with pytest.raises(ContractError) as caught:
        validate_frame(raw, config, labelled=True)
    [problem] = caught.value.problems
    assert (problem.row, problem.column) == (None, None)
    assert "no rows" in problem.expected


def test_every_problem_reported_in_row_order(
    proposals: Rows, config: Config
) -> None:
    rows = [
        {**proposals[0], "has_action_plan": "maybe"},
        proposals[1],
        {**proposals[2], "trial_period": "March", "strategy_fit": "9"},
    ]
    rows = [{**r, "strategy_fit": r.get("strategy_fit", "")} for r in rows]
    found = [(p.row, p.column) for p in problems_of(rows, config)]
    assert found == [(2, "has_action_plan"), (4, "trial_period"), (4, "strategy_fit")]


def test_problem_and_error_messages() -> None:
    problem = Problem(5, "has_action_plan", "maybe", "a boolean (true/false)")
    assert str(problem) == (
        "row 5, column has_action_plan: found 'maybe', expected a boolean (true/false)"
    )
    assert str(Problem(None, None, "", "data")) == "file: found nothing, expected data"
    error = ContractError([problem, problem], source="x.csv")
    assert str(error).splitlines()[0] == "x.csv: 2 problems with the data:"
    assert str(error).splitlines()[1] == f"- {problem}"


def test_summarise(proposals: Rows, config: Config) -> None:
    summary = summarise(validate_frame(raw_frame(proposals), config, labelled=True), config)
    assert summary["rows"] == 3
    assert summary["periods"] == [
        {"period": "2026-03", "rows": 2, "positives": 1},
        {"period": "2026-04", "rows": 1, "positives": 1},
    ]
    assert summary["missing"]["partner_headcount"] == 1
    assert summary["positive_rate"] == pytest.approx(2 / 3)


def test_summarise_unlabelled(proposals: Rows, config: Config) -> None:
    rows = [{k: v for k, v in r.items() if k != "real_impact"} for r in proposals]
    summary = summarise(validate_frame(raw_frame(rows), config, labelled=False), config)
    assert summary["periods"][0] == {"period": "2026-03", "rows": 2}
    assert summary["positive_rate"] is None
