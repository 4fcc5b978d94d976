"""Retrain's look-back: does it name a period whose outcomes were recorded wrongly, and
stay quiet about sound ones?

Run: OMP_NUM_THREADS=1 .venv/bin/python bench/look_back.py [--seeds 40]
Writes bench/results/look_back.md (`--output`).

When the gate cannot tell champion and challenger apart (a steady monthly loop), retrain
looks back (`pipelines.jobs.retrain.look_back`): the champion, which learned the earlier
periods and then the last one, against the same procedure without the last one, both
scoring the newest period, which neither has seen. When learning the last period made the
newest period's log loss worse by more than the gate's tolerance and than chance, it says
the two periods disagree and names the one to check first.

For each seed and size, simulated accept-everything periods (model/simulate.py) go
through the contract as the CLI reads them; the champion is the bayes_logistic procedure
(the shipped configuration's choice on histories of this size) on the earlier periods and
the last one. Either both periods are sound, or one of them has damaged outcomes:
- 30% flipped: three in ten of its outcomes recorded the wrong way round;
- shuffled: its outcomes shuffled among its proposals (a broken join);
- backwards: every outcome recorded the wrong way round.
The damaged period is the last one the champion learned or the newest one, which it has
not learned: a worse newest period cannot by itself say which of the two is at fault, so the
look-back names the one that the procedure without the last period scores worse. The
look-back is the product's own function on those proposals. Reported: the share of seeds
in which it says that learning the last period made the newest one's scores worse (the
figure a team sees), among those the share in which the period it names first is the
damaged one, the share in which it says learning the period helped, and the median gap
in log loss (champion minus the procedure without the last period, on the newest period).
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
from model.training import summarise_data
from pipelines.jobs.retrain import Hindsight, look_back
from pipelines.settings import load_config

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "look_back.md"
# (earlier periods, proposals per period): a trial month's worth of small monthly
# periods, then larger ones.
SIZES = ((5, 40), (4, 150), (4, 500))
# (how the outcomes are damaged, which period: the last one learned or the newest)
DAMAGE = (("sound", ""), ("30% flipped", "last"), ("shuffled", "last"), ("backwards", "last"),
          ("30% flipped", "newest"), ("backwards", "newest"))


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


def one(config: Config, earlier: int, per_period: int, seed: int, how: str,
        which: str) -> Hindsight:
    """The look-back after a champion learned `earlier` periods and a last one, judged on
    the newest period; `which` of the two ("last", "newest"; "": neither) is damaged as
    `how` says."""
    history, _ = simulate_history(SimulationParams(periods=earlier + 2, per_period=per_period,
                                                   seed=seed))
    proposals = validated(history, config)
    periods = sorted(set(proposals["trial_period"].astype(str)))
    last = periods[-2]
    if which:
        proposals = damaged(proposals, last if which == "last" else periods[-1], how,
                            np.random.default_rng(seed))
    seen = proposals[(proposals["trial_period"].astype(str) <= last).to_numpy()]
    model, _ = fit_procedure(BAYES_SPEC, prepare(seen, config), config, seed)
    champion: Any = SimpleNamespace(model=model, training=SimpleNamespace(
        periods=periods[:-1], chosen_kind=BAYES_SPEC.kind, chosen_params=BAYES_SPEC.params,
        data=summarise_data(prepare(seen, config), config)))
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
        for how, which in DAMAGE:
            gaps, calls = [], []
            right: dict[str, list[bool]] = {"harmed": [], "unclear": []}
            for seed in range(1, args.seeds + 1):
                back = one(config, earlier, per_period, seed, how, which)
                gaps.append(back.after["log_loss"]["value"] - back.before["log_loss"]["value"])
                calls.append(back.call)
                if back.suspect:
                    right[back.call].append(back.suspect == (back.learned if which == "last"
                                                             else back.newest))
            named = calls.count("harmed") / len(calls)
            helped = calls.count("helped") / len(calls)
            unclear = calls.count("unclear") / len(calls)
            points = {call: (f"{sum(r) / len(r):.0%} ({sum(r)}/{len(r)})" if which and r else "-")
                      for call, r in right.items()}
            rows.append(f"| {earlier} × {per_period} | {per_period} | {which or '-'} | {how} | "
                        f"{named:.0%} | {points['harmed']} | {helped:.0%} | {unclear:.0%} | "
                        f"{len(right['unclear']) / len(calls):.0%} | {points['unclear']} | "
                        f"{statistics.median(gaps):+.4f} |")
            print(rows[-1], flush=True)
    text = "\n".join([
        "# Retrain's look-back: damaged periods against sound ones",
        "",
        f"Command: `OMP_NUM_THREADS=1 .venv/bin/python bench/look_back.py --seeds {args.seeds}`",
        "",
        f"Seeds 1-{args.seeds} per row (simulator seed = seed; the same histories in every "
        "row of a size, only the damaged period's outcomes differ). The champion learned the "
        "earlier periods and the last one; the look-back compares it with the same procedure "
        "(bayes_logistic) without the last period, both on the newest period (as many "
        "proposals as the last one). *Worse*: learning the last period made the newest "
        f"period's log loss worse by more than the gate's tolerance ({tolerance:.2f}) and "
        "than chance (one standard error of the paired per-proposal difference), so "
        "retrain says the two periods disagree; *names the damaged one*: among those, the "
        "period retrain says to check first is the damaged one; *helped*: better by as "
        "much; *unclear*: past the tolerance either way but within chance, which retrain "
        "says instead of calling the periods disagreeing; *unclear and worse*: among the "
        "histories, those unclear with the newest period's scores worse, where retrain still "
        "names the period to check first if anything is wrong, and how often that is the "
        "damaged one. Whole benchmark: "
        f"{(time.perf_counter() - started) / 60:.1f} min on 2 shared cores.",
        "",
        "| earlier periods × proposals | last and newest period | damaged period | "
        "its outcomes | worse | names the damaged one | helped | unclear | "
        "unclear and worse | names the damaged one | median gap in log loss |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
    ])
    publish(text, args.output)


if __name__ == "__main__":
    main()
