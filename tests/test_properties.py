"""Property-based tests of loading, validation and spreadsheet exports.

1. Whatever the cells of a CSV, JSON or JSON Lines file built from the contract's
   columns hold, reading and validating it either gives a frame that keeps every
   rule of the contract, or raises ContractError with printable problems; nothing
   else escapes.
2. CSV and XLSX exports never hold a cell a spreadsheet would run as a formula,
   whatever text the user's proposal ids and partner names hold, and their numeric
   columns stay numeric.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from typing import Any

import openpyxl
import pandas as pd
import pytest
from conftest import Trained
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from model.config import Column, Config
from model.validation import BOOLEAN_WORDS, ContractError, validate_frame
from pipelines.documents import ScoredBatch, ScoredProposal
from pipelines.jobs.predict import score_batch
from pipelines.report.formats import FORMULA_STARTS, to_csv, to_xlsx
from pipelines.settings import load_config
from pipelines.storage.readers import load_proposals, read_bytes_table

CONFIG = load_config()
PROPERTY = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
NUMERIC = ("impact_probability", "score", "rank")
BOUNDS = ("impact_low", "impact_high")  # numbers, or empty where the model gives no interval

# --- cells ---------------------------------------------------------------------------

ANY_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=16)  # UTF-8 can't hold Cs
CONTROL = st.text(st.characters(categories=["Cc"]), min_size=1, max_size=4)
BLANK = st.sampled_from(["", " ", "  \t", "\u00a0", "\u3000"])
NUMBER_TEXT = st.one_of(
    st.integers(-10**25, 10**25).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.floats(-1e6, 1e6).map(lambda x: f"{x:.3f}".replace(".", ",")),
    st.sampled_from(["nan", "NaN", "inf", "-Infinity", "1e400", "1,000", "1 000", "0x1A", "1_000",
                     "½", "٣", "+5", "-0", ".5", "5.", "1e-400", "0,5", "1.000,5"]),
)
ARBITRARY = st.one_of(ANY_TEXT, CONTROL, BLANK, NUMBER_TEXT)


def valid(column: Column) -> st.SearchStrategy[str]:
    """Values the column's rule accepts, in the spellings people use."""
    if column.type in ("category", "ordinal"):
        words = [*column.values, *column.aliases]
        return st.sampled_from(words).flatmap(
            lambda w: st.sampled_from([w, w.upper(), w.replace("_", " "), f" {w} "]))
    if column.type == "boolean":
        return st.sampled_from(sorted(BOOLEAN_WORDS)).flatmap(
            lambda w: st.sampled_from([w, w.upper(), w.title()]))
    if column.type == "period":
        return st.builds(lambda y, m: f"{y:04d}-{m:02d}", st.integers(1990, 2100), st.integers(1, 12))
    if column.type in ("number", "integer"):
        low = column.min if column.min is not None else -1e6
        high = column.max if column.max is not None else 1e6
        lowest = math.floor(low) + 1 if column.min_exclusive else math.ceil(low)
        whole = st.integers(lowest, math.floor(high))
        if column.type == "integer":
            return whole.map(str)
        return st.one_of(whole.map(str), st.floats(low, high, exclude_min=column.min_exclusive).map(repr))
    return st.text(st.characters(exclude_categories=["Cs", "Cc", "Zs"]), min_size=1, max_size=12)


def near_miss(column: Column) -> st.SearchStrategy[str]:
    """Values just outside the column's rule."""
    if column.type in ("number", "integer"):
        edges = [v for v in (column.min, column.max) if v is not None]
        return st.sampled_from(edges or [0.0]).flatmap(
            lambda edge: st.sampled_from([repr(edge - 1), repr(edge + 1), repr(edge + 0.5), repr(edge)]))
    if column.type == "period":
        return st.sampled_from(["2026-00", "2026-13", "26-03", "2026-3", "2026-03-01", "2026/03"])
    return ARBITRARY


def cell(column: Column, required: bool, mess: int) -> st.SearchStrategy[str]:
    """A valid value, or, with `mess` percent chance, a near miss, a blank or anything."""
    optional_blank = [] if required else [BLANK]
    return st.integers(0, 99).flatmap(
        lambda roll: st.one_of(near_miss(column), ARBITRARY, BLANK) if roll < mess
        else st.one_of(valid(column), *optional_blank))


JSON_VALUE = st.one_of(
    st.none(), st.booleans(), st.integers(-10**30, 10**30), st.floats(),
    st.text(max_size=8),  # lone surrogates included: JSON escapes can carry them
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def as_json(text: str) -> Any:
    """The typed JSON value a program would write for this cell text, when there is one."""
    if text.strip().lower() in ("true", "false"):
        return text.strip().lower() == "true"
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


@st.composite
def tables(
    draw: st.DrawFn, labelled: bool, config: Config = CONFIG
) -> tuple[list[str], list[list[str]], int]:
    """A header drawn from the contract's columns (plus maybe an unknown one), 0-4 rows,
    and how messy the cells are (percent of cells drawn from outside the rules)."""
    mess = draw(st.sampled_from([0, 0, 2, 10, 50, 100]))
    columns = [c for c in config.columns if c.required != "no" or draw(st.booleans())]
    if columns and draw(st.integers(0, 99)) < mess:
        columns.remove(draw(st.sampled_from(columns)))
    header = [c.name for c in columns]
    if draw(st.booleans()):
        header.append(draw(st.sampled_from(["notes", "Owner ", "partner_name", "PROPOSAL_ID", "é"])))
    rows = [[draw(cell(c, c.required_for(labelled), mess)) for c in columns]
            + [draw(ARBITRARY)] * (len(header) - len(columns)) for _ in range(draw(st.integers(0, 4)))]
    if "proposal_id" in header[:1]:
        ids = st.sampled_from(["p1", "p2", "p3"]) if draw(st.integers(0, 99)) < mess else st.just("")
        rows = [[draw(ids) or f"p{i}", *r[1:]] for i, r in enumerate(rows, start=10)]
    return header, rows, mess


@st.composite
def files(draw: st.DrawFn, labelled: bool) -> tuple[str, bytes, int]:
    """(file name, bytes, number of records) of a CSV, JSON or JSON Lines file
    meant as labelled outcomes or as proposals to score."""
    header, rows, mess = draw(tables(labelled))
    kind = draw(st.sampled_from(["csv", "csv;", "json", "jsonl"]))
    if kind.startswith("csv"):
        buffer = io.StringIO()
        # with "\n" lines the writer leaves a lone "\r" unquoted, which any reader splits on
        delimiter = kind[3:] or ","
        writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n") if draw(st.booleans()) \
            else csv.writer(buffer, delimiter=delimiter, lineterminator="\n", quoting=csv.QUOTE_ALL)
        writer.writerows([header, *rows])
        encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]))
        return "proposals.csv", buffer.getvalue().encode(encoding, errors="replace"), len(rows)
    records: list[dict[str, Any]] = [dict(zip(header, r, strict=True)) for r in rows]
    for record in records:  # JSON values need not be strings
        for key, text in record.items():
            roll = draw(st.integers(0, 99))
            record[key] = draw(JSON_VALUE) if roll < mess else as_json(text) if roll < 50 else text
    if kind == "json":
        return "proposals.json", json.dumps(records).encode(), len(rows)
    return "proposals.jsonl", "\n".join(json.dumps(r) for r in records).encode(), len(rows)


# --- the contract's invariants on a typed frame -----------------------------------------


def _holds(column: Column, values: pd.Series, required: bool) -> None:
    present = values.dropna()
    if required:
        assert len(present) == len(values), column.name
    if column.type in ("number", "integer", "boolean"):
        assert all(math.isfinite(v) for v in present), column.name
    if column.type == "boolean":
        assert set(present) <= {0, 1}
    if column.type in ("number", "integer"):
        if column.min is not None:
            assert (present > column.min).all() if column.min_exclusive else (present >= column.min).all()
        if column.max is not None:
            assert (present <= column.max).all()
        if column.type == "integer":
            assert all(float(v).is_integer() for v in present)
    if column.type in ("category", "ordinal"):
        assert set(present) <= set(column.values)
    if column.type == "period":
        assert all(re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", v) for v in present)


def check_contract(typed: pd.DataFrame, config: Config, labelled: bool, records: int) -> None:
    """Every rule of the contract holds in a frame that validation accepted."""
    assert 1 <= len(typed) <= records
    assert all(int(row) == row and 1 <= row <= records + 1 for row in typed.index)
    for column in config.columns:
        if column.name in typed:
            _holds(column, typed[column.name], column.required_for(labelled))
        else:
            assert not column.required_for(labelled), column.name
    ids = typed[config.role("id")]
    assert ids.is_unique and all(isinstance(i, str) and i == i.strip() and i for i in ids)


def check_problems(error: ContractError, records: int) -> None:
    """Problems point inside the file and can be printed and encoded."""
    assert error.problems
    for problem in error.problems:
        assert problem.row is None or 1 <= problem.row <= records + 1
    str(error).encode("utf-8")


# --- 1. loading and validation ---------------------------------------------------------


LABELLED_FILES = st.booleans().flatmap(lambda labelled: st.tuples(files(labelled), st.just(labelled)))


@PROPERTY
@given(case=LABELLED_FILES)
def test_reading_and_validating_raises_only_contract_errors(
    case: tuple[tuple[str, bytes, int], bool]
) -> None:
    (name, data, records), labelled = case
    try:
        typed = validate_frame(read_bytes_table(data, name), CONFIG, labelled=labelled)
    except ContractError as error:
        event("refused")
        check_problems(error, records)
    else:
        event("accepted")
        check_contract(typed, CONFIG, labelled, records)


@settings(PROPERTY, max_examples=60)
@given(case=LABELLED_FILES)
def test_load_proposals_from_disk_raises_only_contract_errors(
    case: tuple[tuple[str, bytes, int], bool], tmp_path_factory: pytest.TempPathFactory
) -> None:
    (name, data, records), labelled = case
    path = tmp_path_factory.mktemp("property") / name
    path.write_bytes(data)
    try:
        typed = load_proposals(path, CONFIG, labelled=labelled)
    except ContractError as error:
        assert error.source == str(path)
        check_problems(error, records)
    else:
        check_contract(typed, CONFIG, labelled, records)


@PROPERTY
@given(data=st.binary(max_size=300), suffix=st.sampled_from(["csv", "json", "jsonl", "xlsx", "txt"]))
def test_arbitrary_bytes_raise_only_contract_errors(data: bytes, suffix: str) -> None:
    try:
        validate_frame(read_bytes_table(data, f"f.{suffix}"), CONFIG, labelled=False)
    except ContractError as error:
        str(error).encode("utf-8")


# --- 2. spreadsheet exports --------------------------------------------------------------

USER_TEXT = st.one_of(
    ANY_TEXT,
    st.tuples(st.sampled_from(FORMULA_STARTS), ANY_TEXT).map("".join),
    st.sampled_from(['=HYPERLINK("http://x","y")', "+1+1", "-2", "@SUM(A1)", "\t=1", "\r=1",
                     "=cmd|' /C calc'!A0", "\x01=1+1", "'=1", "1e5", "\uffff", ""]),
)
REASON = st.fixed_dictionaries({"label": USER_TEXT, "points": st.floats(-1, 1)})
FLAG = st.fixed_dictionaries({"kind": st.sampled_from(["novel_category", "missing"]),
                              "feature": st.sampled_from(["partner_sector", "partner_headcount"]),
                              "value": st.one_of(st.none(), USER_TEXT)})


@st.composite
def batches(draw: st.DrawFn) -> ScoredBatch:
    """A scored batch whose user-given texts are arbitrary."""
    count = draw(st.integers(1, 4))
    proposals = []
    for rank in range(1, count + 1):
        probability = draw(st.floats(0, 1))
        interval = draw(st.one_of(st.none(), st.tuples(st.floats(0, probability),
                                                       st.floats(probability, 1))))
        proposals.append(ScoredProposal(
            rank=rank, proposal_id=draw(USER_TEXT), partner_name=draw(st.one_of(st.none(), USER_TEXT)),
            impact_probability=probability, score=round(100 * probability), grade="A", logit=0.0,
            contributions=[], reasons_for=draw(st.lists(REASON, max_size=2)),
            reasons_against=draw(st.lists(REASON, max_size=2)), flags=draw(st.lists(FLAG, max_size=2)),
            impact_interval=interval))
    return ScoredBatch(model={}, base_logit=0.0, base_probability=0.5, proposals=proposals,
                       provisional=draw(st.booleans()))


def check_csv(data: bytes, batch: ScoredBatch) -> None:
    """No formula-leading cell; numbers read back as the same numbers."""
    header, *rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert len(rows) == len(batch.proposals)
    by_rank = {p.rank: p.to_json() for p in batch.proposals}
    for row in rows:
        record = dict(zip(header, row, strict=True))
        assert not any(value.startswith(FORMULA_STARTS) for value in row), row
        proposal = by_rank[int(record["rank"])]
        assert float(record["impact_probability"]) == proposal["impact_probability"]
        interval = proposal["impact_interval"]
        if interval is None:
            assert record["impact_low"] == record["impact_high"] == ""
        else:
            low, high = float(record["impact_low"]), float(record["impact_high"])
            assert [low, high] == interval and low <= proposal["impact_probability"] <= high
        assert record["provisional"] == str(batch.provisional)
        assert int(record["score"]) == proposal["score"]
        shown = proposal["proposal_id"]
        assert record["proposal_id"] == ("'" + shown if shown.startswith(FORMULA_STARTS) else shown)


def check_xlsx(data: bytes, batch: ScoredBatch) -> None:
    """No formula cell, no formula-leading text; numeric columns hold numbers."""
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    assert sheet is not None
    header = [c.value for c in sheet[1]]
    rows = list(sheet.iter_rows(min_row=2))
    assert len(rows) == len(batch.proposals)
    for row in rows:
        for name, item in zip(header, row, strict=True):
            assert item.data_type != "f", (name, item.value)
            assert not (isinstance(item.value, str) and item.value.startswith(FORMULA_STARTS))
            if name in NUMERIC or (name in BOUNDS and item.value is not None):
                assert isinstance(item.value, int | float) and not isinstance(item.value, bool)
            if name == "provisional":
                assert item.value is batch.provisional


@PROPERTY
@given(batch=batches())
def test_exports_hold_no_formula(batch: ScoredBatch) -> None:
    check_csv(to_csv(batch), batch)
    check_xlsx(to_xlsx(batch), batch)


@pytest.fixture(scope="module")
def champion(trained: Trained) -> Any:
    """The trained workspace's exported champion bundle."""
    from pipelines.storage.bundle import load_bundle

    return load_bundle(trained.workspace.champion)


BASE = {"proposal_id": "p1", "partnership_type": "referral", "partner_sector": "hr_tech",
        "sector_proximity": "adjacent", "lifecycle_position": "upstream",
        "has_clear_objective": "yes", "has_action_plan": "no", "product_ready": "yes"}


@settings(PROPERTY, max_examples=40)
@given(names=st.lists(st.tuples(USER_TEXT, USER_TEXT, USER_TEXT), min_size=1, max_size=3))
def test_scored_user_text_exports_hold_no_formula(champion: Any, names: list[tuple[str, str, str]]) -> None:
    """The real path: validated proposals scored by the trained bundle, then exported."""
    rows = [{**BASE, "proposal_id": f"{pid}#{i}", "partner_name": name, "partner_sector": sector or "x"}
            for i, (pid, name, sector) in enumerate(names)]
    raw = pd.DataFrame(rows, dtype=object, index=pd.Index(range(2, 2 + len(rows)), name="row"))
    try:
        proposals = validate_frame(raw, champion.config, labelled=False)
    except ContractError:
        return  # e.g. ids equal once stripped: covered by the loading properties
    batch = score_batch(champion, proposals)
    check_csv(to_csv(batch), batch)
    check_xlsx(to_xlsx(batch), batch)
