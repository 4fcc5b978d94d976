"""Regenerate the simulated sample files next to this script.

    .venv/bin/python data/sample/make_samples.py

Writes history.csv, history.csv.truth.csv and new_proposals.csv. seed_month.csv is
hand-written and left alone.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from model.simulate import SimulationParams, simulate_history, simulate_proposals

HERE = Path(__file__).resolve().parent
HISTORY = SimulationParams(periods=12, per_period=40, seed=2025, drift=0.3,
                           start_period="2025-01", base_rate=0.12)
NEW_PROPOSALS = {"n": 30, "seed": 7}


def _cell(value: object) -> str:
    """A spreadsheet-friendly cell: true/false, integers without '.0', blanks for missing."""
    if value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format(value, ".12g")
    return str(value)


def to_csv_text(frame: pd.DataFrame) -> str:
    """The frame as comma-separated UTF-8 text in the contract's conventions."""
    cells = frame.astype(object).map(_cell)
    return cells.to_csv(index=False, lineterminator="\n")


def main() -> None:
    """Simulate the history and the proposals to score, and write them as CSV."""
    proposals, truth = simulate_history(HISTORY)
    truth = truth.assign(true_probability=truth["true_probability"].round(6))
    (HERE / "history.csv").write_text(to_csv_text(proposals), encoding="utf-8")
    (HERE / "history.csv.truth.csv").write_text(to_csv_text(truth), encoding="utf-8")
    new = simulate_proposals(**NEW_PROPOSALS)
    (HERE / "new_proposals.csv").write_text(to_csv_text(new), encoding="utf-8")


if __name__ == "__main__":
    main()
