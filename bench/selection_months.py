"""Months of proposals for bench/selection_bias.py, as the command line reads them.

Each month's proposals go through the contract as the CLI reads them (CSV bytes, raw
strings, `validate_frame`); the scenario's truth (`selection_scenarios.World`) stays
beside them, row for row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd
from selection_scenarios import Scenario, World, simulate_world

from model.config import Config
from model.simulate import SimulationParams
from model.validation import validate_frame
from pipelines.cli.commands import csv_bytes
from pipelines.storage.readers import read_bytes_table

TEST_ROWS, TEST_SEED = 10_000, 9_999


class Shape(Protocol):
    """The months' sizes (`selection_bias.Settings`)."""

    @property
    def trial_rows(self) -> int:
        """Proposals of the trial month."""

    @property
    def periods(self) -> int:
        """Months after the trial."""

    @property
    def per_period(self) -> int:
        """Proposals of each later month."""


@dataclass(frozen=True)
class Month:
    """One month's proposals: raw strings, validated, true probabilities, the best ranking
    the recorded features allow, gut feelings."""

    raw: pd.DataFrame
    typed: pd.DataFrame
    probability: np.ndarray
    recorded: np.ndarray
    feeling: np.ndarray


def raw_frame(history: pd.DataFrame) -> pd.DataFrame:
    """The simulator's frame as the loaders hand it over: CSV bytes read back as strings."""
    return read_bytes_table(csv_bytes(history), "history.csv")


def validated(raw_parts: list[pd.DataFrame], config: Config) -> pd.DataFrame:
    """Raw labelled parts joined, renumbered like one file's rows, and validated."""
    raw = pd.concat(raw_parts)
    raw.index = pd.RangeIndex(2, len(raw) + 2)
    return validate_frame(raw, config, labelled=True)


def month(world: World, rows: np.ndarray, config: Config) -> Month:
    """Some rows of the world (a month), as raw strings and validated."""
    raw = raw_frame(world.proposals.iloc[rows])
    return Month(raw, validated([raw], config), world.probability[rows], world.recorded[rows],
                 world.feeling[rows])


def simulated_months(scenario: Scenario, seed: int, shape: Shape,
                     config: Config) -> tuple[Month, list[Month]]:
    """The trial month and the later months of one seed, every proposal labelled."""
    trial = simulate_world(SimulationParams(periods=1, per_period=shape.trial_rows,
                                            seed=seed * 1000, start_period="2025-01"),
                           scenario, trial=True)
    later = simulate_world(SimulationParams(periods=shape.periods, per_period=shape.per_period,
                                            seed=seed * 1000 + 1, start_period="2025-02"), scenario)
    groups = later.proposals.groupby("trial_period", sort=True).indices
    months = [month(later, rows, config) for _, rows in sorted(groups.items())]
    return month(trial, np.arange(len(trial.probability)), config), months


@dataclass(frozen=True)
class TestSet:
    """A scenario's accept-everything test proposals, outcomes and true probabilities."""

    proposals: pd.DataFrame
    y: np.ndarray
    probability: np.ndarray
    recorded: np.ndarray


_TEST_SETS: dict[str, TestSet] = {}  # by scenario: every seed a worker runs scores on them


def test_set(scenario: Scenario, config: Config) -> TestSet:
    """The scenario's accept-everything test proposals (drawn once per process)."""
    if scenario.name not in _TEST_SETS:
        world = simulate_world(SimulationParams(periods=1, per_period=TEST_ROWS, seed=TEST_SEED),
                               scenario)
        proposals = validated([raw_frame(world.proposals)], config)
        _TEST_SETS[scenario.name] = TestSet(proposals, proposals["real_impact"].to_numpy(float),
                                            world.probability, world.recorded)
    return _TEST_SETS[scenario.name]
