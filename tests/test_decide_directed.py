"""Directed exploration: the logged propensities are the true chances of the sampling."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import SAMPLE, Trained

from model.config import Config, ConfigError, parse_config
from model.policy import DIRECTED, RANK, UNIFORM, draw, propensities, sample_ranks
from model.surprises import Cell
from pipelines.documents import Decision, ScoredBatch, ScoredProposal
from pipelines.jobs.decide import cells_of, decisions_for, high_ranked_cells
from pipelines.jobs.surprises import WeakSignals
from pipelines.settings import Workspace, default_config_text
from pipelines.storage import decisions

DRAWS = 20_000

# (proposals, capacity, explore rate, directed share, ranks of the directed pool)
SETTINGS = {
    "uniform": (12, 4, 0.2, 0.0, ()),
    "directed, pool overlapping the top": (12, 4, 0.5, 0.6, (0, 5, 9)),
    "pool smaller than its draws": (10, 6, 0.9, 0.9, (7,)),
    "capacity above the proposals": (5, 8, 0.5, 0.5, (1, 3)),
    "explore 0": (10, 3, 0.0, 0.5, (4,)),
    "explore 1": (10, 3, 1.0, 0.5, (0, 4, 8)),
    "every proposal in the pool": (8, 3, 0.7, 0.5, tuple(range(8))),
    "no pool, directed share set": (9, 3, 0.4, 0.8, ()),
}


def _pool(n: int, ranks: tuple[int, ...]) -> np.ndarray:
    pool = np.zeros(n, dtype=bool)
    pool[list(ranks)] = True
    return pool


@pytest.mark.parametrize("name", list(SETTINGS))
def test_acceptance_frequencies_match_the_propensities(name: str) -> None:
    n, capacity, rate, share, ranks = SETTINGS[name]
    pool, rng = _pool(n, ranks), np.random.default_rng(list(SETTINGS).index(name))
    counts = np.zeros(n)
    for _ in range(DRAWS):
        drawn = sample_ranks(n, capacity, rate, rng, directed=pool, directed_share=share)
        counts += drawn != ""
        assert (drawn != "").sum() == min(capacity, n)
        assert not (drawn == DIRECTED)[~pool].any()
    expected = propensities(n, capacity, rate, directed=pool, directed_share=share)
    standard_error = np.sqrt(expected * (1 - expected) / DRAWS)
    assert np.all(np.abs(counts / DRAWS - expected) <= 4.5 * standard_error + 1e-12), name
    assert expected.sum() == pytest.approx(min(capacity, n))


@pytest.mark.parametrize("name", list(SETTINGS))
def test_a_draw_carries_the_propensities_of_its_ranks(name: str) -> None:
    n, capacity, rate, share, ranks = SETTINGS[name]
    rng = np.random.default_rng(7)
    probabilities = rng.permutation(np.linspace(0.9, 0.1, n))
    by_rank = np.argsort(-probabilities, kind="stable")
    directed = np.zeros(n, dtype=bool)
    directed[by_rank] = _pool(n, ranks)
    choice = draw(probabilities, capacity, rate, np.random.default_rng(1), directed=directed,
                  directed_share=share)
    np.testing.assert_allclose(choice.propensity[by_rank], propensities(
        n, capacity, rate, directed=_pool(n, ranks), directed_share=share))
    np.testing.assert_array_equal(choice.drawn[by_rank], sample_ranks(
        n, capacity, rate, np.random.default_rng(1), directed=_pool(n, ranks),
        directed_share=share))
    assert np.array_equal(choice.accepted, choice.drawn != "")


def test_explore_zero_accepts_exactly_the_top_k() -> None:
    pool = _pool(6, (3, 4))
    assert propensities(6, 2, 0.0, directed=pool, directed_share=0.7).tolist() == [1, 1, 0, 0, 0, 0]
    choice = draw(np.array([0.1, 0.9, 0.5, 0.3, 0.2, 0.8]), 2, 0.0, np.random.default_rng(0),
                  directed=pool, directed_share=0.7)
    assert choice.accepted.tolist() == [False, True, False, False, False, True]
    assert set(choice.drawn[choice.accepted]) == {RANK}


def test_without_a_pool_directed_places_fall_back_to_uniform() -> None:
    uniform = propensities(15, 5, 0.3)
    assert np.array_equal(propensities(15, 5, 0.3, directed=_pool(15, ()), directed_share=0.9),
                          uniform)
    probabilities = np.linspace(1, 0, 15)
    plain = draw(probabilities, 5, 0.3, np.random.default_rng(4))
    steered = draw(probabilities, 5, 0.3, np.random.default_rng(4), directed=_pool(15, ()),
                   directed_share=0.9)
    assert np.array_equal(plain.propensity, steered.propensity)
    assert set(steered.drawn[steered.accepted]) <= {RANK, UNIFORM}


def test_directing_raises_the_pool_and_keeps_every_proposal_possible() -> None:
    pool = _pool(40, (20, 30))
    uniform = propensities(40, 8, 0.25)
    directed = propensities(40, 8, 0.25, directed=pool, directed_share=0.5)
    assert np.all(directed[[20, 30]] > 2 * uniform[[20, 30]])
    assert np.all(directed[~pool][8:] < uniform[~pool][8:])
    assert directed.min() > 0 and directed.sum() == pytest.approx(8)


def test_many_places_do_not_overflow() -> None:
    pool = np.random.default_rng(0).random(3000) < 0.05
    chances = propensities(3000, 1000, 0.3, directed=pool, directed_share=0.5)
    assert np.isfinite(chances).all() and chances.sum() == pytest.approx(1000)


def _cell(features: tuple[str, str], values: tuple[str, str], evidence: float) -> Cell:
    return Cell(features=features, values=values, rows=12, observed=6.0, expected=2.0, ratio=3.0,
                interval=(1.5, 5.0), evidence=evidence, expected_by_chance=0.5)


SECTOR_TYPE = ("partner_sector", "partnership_type")
SECTOR_PLACE = ("partner_sector", "lifecycle_position")


def test_each_proposal_belongs_to_its_strongest_high_ranked_cell() -> None:
    proposals = pd.DataFrame({
        "partner_sector": ["video_games", "video_games", None],
        "partnership_type": ["technical_integration", "referral", "technical_integration"],
        "lifecycle_position": ["upstream", "upstream", "upstream"]})
    cells = [_cell(SECTOR_TYPE, ("video_games", "technical_integration"), 4.0),
             _cell(SECTOR_PLACE, ("video_games", "upstream"), 2.0),
             _cell(("inbound", "partner_sector"), ("true", "video_games"), 1.0)]
    assert cells_of(proposals, cells) == [
        {"partner_sector": "video_games", "partnership_type": "technical_integration"},
        {"partner_sector": "video_games", "lifecycle_position": "upstream"},
        None]


def _signals(cells: tuple[Cell, ...] | None, refused: str = "") -> WeakSignals:
    from model.surprises import SurpriseReport, SurpriseSettings

    report = None if cells is None else SurpriseReport(cells=cells, worse=(), tested=len(cells))
    return WeakSignals(report, "store", 300, False, SurpriseSettings(), refused=refused)


def test_high_ranked_cells_are_the_first_better_than_expected_ones() -> None:
    cells = tuple(_cell(SECTOR_TYPE, (f"s{i}", "referral"), 5.0 - i) for i in range(5))
    chosen = high_ranked_cells(_signals(cells), 3)
    assert chosen.cells == cells[:3] and "3 cell(s)" in chosen.note
    # named in words, and said to be leads while none is strong
    assert chosen.note.endswith("none of them strong yet: leads that more outcomes will confirm "
                                "or dismiss: S0 × referral (partner_sector × partnership_type); "
                                "S1 × referral (partner_sector × partnership_type); S2 × "
                                "referral (partner_sector × partnership_type)")
    strong = (dataclasses.replace(cells[0], strong=True), *cells[1:])
    assert "ranked high by the weak-signal report of 300 labelled proposals, 1 of them strong: " \
           in high_ranked_cells(_signals(strong), 3).note
    assert high_ranked_cells(None, 3).cells == ()
    assert "uniform" in high_ranked_cells(_signals(None, "too few outcomes"), 3).note
    assert high_ranked_cells(_signals(()), 3).cells == ()


def test_uniform_exploration_says_whether_any_cell_was_tested() -> None:
    from model.surprises import SurpriseReport, SurpriseSettings

    none_tested = WeakSignals(SurpriseReport(cells=(), worse=(), tested=0), "store", 40, False,
                              SurpriseSettings(min_rows=10))
    note = high_ranked_cells(none_tested, 3).note
    assert note.startswith("No cell of the watched pairs has 10 labelled proposals yet (40 stored)")
    assert note.endswith("exploration is uniform")
    tested = WeakSignals(SurpriseReport(cells=(), worse=(), tested=12), "store", 400, False,
                         SurpriseSettings(min_rows=10))
    assert high_ranked_cells(tested, 3).note == "No cell beats its expectation: exploration is uniform"


def _batch(probabilities: list[float]) -> ScoredBatch:
    order = np.argsort(-np.array(probabilities), kind="stable")
    ranks = np.empty(len(probabilities), dtype=int)
    ranks[order] = np.arange(1, len(probabilities) + 1)
    proposals = [ScoredProposal(proposal_id=f"p{i}", partner_name=None, impact_probability=p,
                                score=round(100 * p), grade="B", rank=int(ranks[i]), logit=0.0,
                                contributions=[], reasons_for=[], reasons_against=[], flags=[])
                 for i, p in enumerate(probabilities)]
    return ScoredBatch(model={"version": "3"}, base_logit=0.0, base_probability=0.1,
                       proposals=proposals)


def test_decisions_log_the_cell_the_draw_and_the_exact_propensity() -> None:
    batch = _batch([0.5, 0.1, 0.3, 0.2, 0.05, 0.4])
    cell = {"partner_sector": "video_games", "partnership_type": "technical_integration"}
    cells = [None, cell, None, None, cell, None]
    taken = decisions_for(batch, 2, 0.5, np.random.default_rng(3), cells=cells,
                          directed_share=0.6)
    by_rank = sorted(taken, key=lambda d: d.rank)
    pool = np.array([d.cell is not None for d in by_rank])
    np.testing.assert_allclose([d.propensity for d in by_rank],
                               propensities(6, 2, 0.5, directed=pool, directed_share=0.6))
    assert sum(d.accepted for d in taken) == 2
    assert all((d.drawn is not None) == d.accepted for d in taken)
    assert all(d.directed_share == 0.6 for d in taken)
    assert [d.cell for d in taken] == cells


def test_old_decision_logs_still_read(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "ws")
    workspace.ensure()
    old = {"proposal_id": "a", "model_version": "1", "impact_probability": 0.2, "rank": 1,
           "accepted": True, "propensity": 0.9, "capacity": 1, "explore_rate": 0.1,
           "decided_at": "2026-01-01T00:00:00+00:00"}
    workspace.decisions.write_text(json.dumps(old) + "\n", "utf-8")
    new = Decision(**{**old, "proposal_id": "b"}, directed_share=0.5,  # type: ignore[arg-type]
                   cell={"partner_sector": "legal"}, drawn=DIRECTED)
    decisions.append(workspace, [new])
    first, second = decisions.read(workspace)
    assert (first.directed_share, first.cell, first.drawn) == (0.0, None, None)
    assert second == new


@pytest.mark.parametrize(("section", "key", "expected"), [
    ({"directed_share": 1}, "decide.directed_share", "a number from 0 to 1, 1 excluded"),
    ({"directed_share": "half"}, "decide.directed_share", "a number from 0 to 1, 1 excluded"),
    ({"directed_cells": 0}, "decide.directed_cells", "a whole number from 1 to 1000"),
    ({"directed_cels": 3}, "decide.directed_cels", "did you mean directed_cells?"),
])
def test_bad_decide_settings_name_their_key(section: dict, key: str, expected: str) -> None:
    raw = yaml.safe_load(default_config_text())
    with pytest.raises(ConfigError) as caught:
        parse_config({**raw, "decide": section})
    assert any(p.startswith(f"{key}:") and expected in p for p in caught.value.problems)


def test_the_decide_section_is_read() -> None:
    raw = yaml.safe_load(default_config_text())
    config = parse_config({**raw, "decide": {"directed_share": 0.25, "directed_cells": 5}})
    assert (config.decide.directed_share, config.decide.directed_cells) == (0.25, 5)


def _run(argv: list[str]) -> tuple[int, str]:
    from pipelines.cli.app import main

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        try:
            main(argv)
        except SystemExit as stop:
            return int(stop.code or 0), printed.getvalue()
    return 0, printed.getvalue()


def _config_file(tmp_path: Path, decide: dict) -> Path:
    raw = yaml.safe_load(default_config_text())
    path = tmp_path / "partnerscore.yaml"
    path.write_text(yaml.safe_dump({**raw, "decide": decide}), "utf-8")
    return path


def test_the_command_refuses_a_bad_decide_section_with_status_2(tmp_path: Path) -> None:
    config = _config_file(tmp_path, {"directed_share": 1.5})
    status, text = _run(["--workspace", str(tmp_path / "ws"), "decide",
                         str(SAMPLE / "new_proposals.csv"), "--capacity", "2",
                         "--config", str(config)])
    assert status == 2 and "decide.directed_share" in text


@pytest.fixture(scope="module")
def stored_workspace(trained: Trained, tmp_path_factory: pytest.TempPathFactory,
                     config: Config) -> Workspace:
    """The trained sample workspace, copied, with the sample history in its labelled store."""
    from pipelines.storage import store

    root = tmp_path_factory.mktemp("directed") / "ws"
    shutil.copytree(trained.workspace.root, root)
    workspace = Workspace.resolve(root)
    store.ingest(workspace, trained.history, config, source="history.csv")
    return workspace


def _logged(workspace: Workspace, argv: list[str], config: Path) -> list[Decision]:
    before = len(decisions.read(workspace))
    status, text = _run(["--workspace", str(workspace.root), "decide", "--again",
                         str(SAMPLE / "new_proposals.csv"), *argv, "--config", str(config)])
    assert status == 0, text
    return sorted(decisions.read(workspace)[before:], key=lambda d: d.rank)


def test_the_command_logs_the_propensities_of_its_sampling(stored_workspace: Workspace,
                                                           tmp_path: Path) -> None:
    config = _config_file(tmp_path, {"directed_share": 0.5, "directed_cells": 30})
    taken = _logged(stored_workspace, ["--capacity", "3", "--explore-rate", "0.5",
                                       "--seed", "1"], config)
    pool = np.array([d.cell is not None for d in taken])
    assert pool.any() and not pool.all(), "the sample proposals fall in some high-ranked cells"
    np.testing.assert_allclose([d.propensity for d in taken],
                               propensities(len(taken), 3, 0.5, directed=pool,
                                            directed_share=0.5))
    assert sum(d.accepted for d in taken) == 3 and {d.directed_share for d in taken} == {0.5}
    assert stored_workspace.weak_signals.is_file()  # the second decide reads the report back
    again = _logged(stored_workspace, ["--capacity", "3", "--explore-rate", "0.5",
                                       "--seed", "1"], config)
    assert [(d.accepted, d.cell) for d in again] == [(d.accepted, d.cell) for d in taken]


def test_explore_rate_zero_accepts_the_top_k(stored_workspace: Workspace, tmp_path: Path) -> None:
    config = _config_file(tmp_path, {"directed_share": 0.5})
    taken = _logged(stored_workspace, ["--capacity", "3", "--explore-rate", "0"], config)
    assert [d.accepted for d in taken] == [True] * 3 + [False] * (len(taken) - 3)
    assert [d.propensity for d in taken] == [1.0] * 3 + [0.0] * (len(taken) - 3)


def test_without_a_store_exploration_is_uniform_and_logged_so(trained: Trained,
                                                              tmp_path: Path) -> None:
    root = tmp_path / "ws"
    shutil.copytree(trained.workspace.root, root)
    workspace = Workspace.resolve(root)
    config = _config_file(tmp_path, {"directed_share": 0.7})
    status, text = _run(["--workspace", str(root), "decide", str(SAMPLE / "new_proposals.csv"),
                         "--capacity", "3", "--explore-rate", "0.4", "--config", str(config)])
    assert status == 0 and "exploration 40%, uniform)" in text and "directed" not in text.split(
        "No labelled store")[0], text
    taken = _logged(workspace, ["--capacity", "3", "--explore-rate", "0.4", "--seed", "2"],
                    config)
    assert all(d.cell is None for d in taken) and {d.drawn for d in taken} <= {RANK, UNIFORM, None}
    np.testing.assert_allclose([d.propensity for d in taken],
                               propensities(len(taken), 3, 0.4))


def test_a_second_decision_on_the_same_proposals_is_refused_unless_asked_for(
        trained: Trained, tmp_path: Path) -> None:
    """Two draws could accept a proposal once and decline it once; its outcome would then be
    weighted by whichever propensity came last. Nothing is logged on a refusal."""
    root = tmp_path / "ws"
    shutil.copytree(trained.workspace.root, root)
    workspace = Workspace.resolve(root)
    argv = ["--workspace", str(root), "decide", str(SAMPLE / "new_proposals.csv"),
            "--capacity", "3", "--seed", "1"]
    assert _run(argv)[0] == 0
    first = decisions.read(workspace)
    log = workspace.decisions.read_bytes()
    status, text = _run([*argv[:-1], "2"])
    unfolded = re.sub(r"[\s│]", "", text)  # the table may fold its cells on a narrow console
    assert status == 2 and workspace.decisions.read_bytes() == log
    assert f"decide:{len(first)}problems" in unfolded and "or--againtodecideanew" in unfolded
    assert first[0].proposal_id in unfolded and "aproposalnotdecidedyet:itwas" in unfolded
    status, _ = _run([*argv[:-1], "2", "--again"])
    assert status == 0 and len(decisions.read(workspace)) == 2 * len(first)
