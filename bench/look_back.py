"""Retrain's look-back: does it name a period whose outcomes were recorded wrongly, and
stay quiet about a sound one?

Run: OMP_NUM_THREADS=1 .venv/bin/python bench/look_back.py [--seeds 40]
Writes bench/results/look_back.md (`--output`).

When the gate cannot tell champion and challenger apart (a steady monthly loop), retrain
looks back (`pipelines.jobs.retrain.look_back`): the champion, which learned the earlier
periods and then the last one, against the same procedure without the last one, both
scoring the newest period, which neither has seen. It names the last period when learning
it made the newest period's log loss worse by more than the gate's tolerance.

For each seed and size, simulated accept-everything periods (model/simulate.py) go
through the contract as the CLI reads them; the champion is the bayes_logistic procedure
(the shipped configuration's choice on histories of this size) on the earlier periods and
the last one, whose outcomes are either sound or damaged:
- sound: as simulated;
- 30% flipped: three in ten of its outcomes recorded the wrong way round;
- shuffled: its outcomes shuffled among its proposals (a broken join);
- backwards: every outcome recorded the wrong way round.
The look-back is the product's own function on those proposals. Reported: the share of
seeds in which it names the period (the figure a team sees), the share in which it says
learning the period helped, and the median gap in log loss (champion minus the
procedure without the last period, on the newest period).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
from quality import validated
from results_file import publish

from model.config import Config
from model.selection import BAYES_SPEC, fit_procedure, prepare
from model.simulate import SimulationParams, simulate_history
from pipelines.jobs.retrain import Hindsight, look_back
from pipelines.settings import load_config

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "look_back.md"
# (earlier periods, proposals per period): a trial month's worth of small monthly
# periods, then larger ones.
SIZES = ((5, 40), (4, 150), (4, 500))
DAMAGE = ("sound", "30% flipped", "shuffled", "backwards")


def damaged(proposals: pd.DataFrame, period: str, how: str, rng: np.random.Generator
            ) -> pd.DataFrame:
    """The proposals with `period`'s outcomes damaged as `how` says."""
    out = proposals.copy()
    rows = np.flatnonzero((out["trial_period"].astype(str) == period).to_numpy())
    label = out.columns.get_loc("real_impact")
    y = out.iloc[rows, label].to_numpy(dtype=float)
    if how == "30% flipped":
        flip = rng.random(len(rows)) < 0.3
        y = np.where(flip, 1.0 - y, y)
    elif how == "shuffled":
        y = rng.permutation(y)
    elif how == "backwards":
        y = 1.0 - y
    out.iloc[rows, label] = y.astype(out["real_impact"].dtype)
    return out


def one(config: Config, earlier: int, per_period: int, seed: int, how: str) -> Hindsight:
    """The look-back after a champion learned `earlier` periods and a last one damaged as
    `how` says, judged on the newest period."""
    history, _ = simulate_history(SimulationParams(periods=earlier + 2, per_period=per_period,
                                                   seed=seed))
    proposals = validated(history, config)
    periods = sorted(set(proposals["trial_period"].astype(str)))
    last = periods[-2]
    proposals = damaged(proposals, last, how, np.random.default_rng(seed))
    seen = proposals[(proposals["trial_period"].astype(str) <= last).to_numpy()]
    model, _ = fit_procedure(BAYES_SPEC, prepare(seen, config), config, seed)
    champion: Any = SimpleNamespace(model=model, training=SimpleNamespace(
        periods=periods[:-1], chosen_kind=BAYES_SPEC.kind, chosen_params=BAYES_SPEC.params))
    back = look_back(champion, proposals, config, seed)
    assert back is not None and back.learned == last
    return back


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=40)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    shipped = load_config(None)
    # The bootstrap intervals are not used here; the point figures do not depend on them.
    config = dataclasses.replace(shipped, model=dataclasses.replace(
        shipped.model, bootstrap_samples=20))
    tolerance = abs(config.gate.log_loss_tolerance)
    started = time.perf_counter()
    rows = []
    for earlier, per_period in SIZES:
        for how in DAMAGE:
            gaps = []
            for seed in range(1, args.seeds + 1):
                back = one(config, earlier, per_period, seed, how)
                gaps.append(back.after["log_loss"]["value"] - back.before["log_loss"]["value"])
            named = sum(g > tolerance for g in gaps) / len(gaps)
            helped = sum(g < -tolerance for g in gaps) / len(gaps)
            rows.append(f"| {earlier} × {per_period} | {per_period} | {how} | {named:.0%} | "
                        f"{helped:.0%} | {statistics.median(gaps):+.4f} |")
            print(rows[-1], flush=True)
    text = "\n".join([
        "# Retrain's look-back: damaged periods against sound ones",
        "",
        f"Command: `OMP_NUM_THREADS=1 .venv/bin/python bench/look_back.py --seeds {args.seeds}`",
        "",
        f"Seeds 1-{args.seeds} per row (simulator seed = seed; the same histories in every "
        "row of a size, only the last period's outcomes differ). The champion learned the "
        "earlier periods and the last one; the look-back compares it with the same procedure "
        "(bayes_logistic) without the last period, both on the newest period (as many "
        "proposals as the last one). *Named*: learning the last period made the newest "
        f"period's log loss worse by more than the gate's tolerance ({tolerance:.2f}), so "
        "retrain names it; *helped*: better by more than the tolerance. Whole benchmark: "
        f"{(time.perf_counter() - started) / 60:.1f} min on 2 shared cores.",
        "",
        "| earlier periods × proposals | last and newest period | last period's outcomes | "
        "named | helped | median gap in log loss |",
        "|---|---:|---|---:|---:|---:|",
        *rows,
        "",
    ])
    publish(text, args.output)


if __name__ == "__main__":
    main()
