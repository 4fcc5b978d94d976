"""Retrain's drift warnings: how often they fire with nothing changed, and how often a real
shift is caught, with the rule of thumb alone and with chance taken into account.

Run: OMP_NUM_THREADS=1 .venv/bin/python bench/drift.py [--seeds 30] [--quick]
Writes bench/results/drift.md (`--output`; not with --quick).

Each seed simulates accept-everything trial periods (model/simulate.py, no drift), read
through the contract as the CLI reads them. Every period from the fourth on is compared
with the periods before it, as retrain compares the newest period with the store
(`model.drift.drift_report`, the product's own function). A feature is called large:
- rule of thumb (before): PSI on the history's deciles above 0.25 (numbers),
  Jensen-Shannon distance above 0.2 (categories, booleans), or 20 points more or fewer
  missing values;
- with chance (now): PSI on fewer quantile bins when the newest period holds under 100
  values (`model.drift.psi_bins`: about ten values a bin), above the rule of thumb and
  beyond what 1% of random re-splits of the same rows into history and newest period
  reach (`model.drift.CHANCE_LEVEL`, `CHANCE_SPLITS`); the other rules likewise.
Quiet: the share of compared periods in which any feature is called large, and the mean
number of features called large per period (the product's 14 features). Shifted: the newest
period's expected reach multiplied by three, its partners' time cost (our hours) doubled,
or half of its partnerships turned into influencer ones: the share of periods in which
that feature is called large.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from results_file import publish  # noqa: E402

from model.drift import (  # noqa: E402
    CHANCE_LEVEL,
    CHANCE_SPLITS,
    JS_LARGE,
    MISSING_LARGE,
    PSI_LARGE,
    drift_report,
    psi,
)
from model.simulate import SimulationParams, simulate_history  # noqa: E402
from model.validation import validate_frame  # noqa: E402
from pipelines.settings import load_config  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "drift.md"
SIZES = (40, 150, 500)  # proposals per trial period
PERIODS = 12
FIRST_COMPARED = 3  # the fourth period is the first compared (three periods of history)


def shifts(frame: pd.DataFrame, rng: np.random.Generator) -> dict[str, tuple[str, pd.DataFrame]]:
    """The newest period changed in one feature, by name: (the feature, the frame)."""
    newest = frame["trial_period"] == frame["trial_period"].max()
    reach, hours, kind = frame.copy(), frame.copy(), frame.copy()
    reach.loc[newest, "expected_reach"] = reach.loc[newest, "expected_reach"] * 3
    hours.loc[newest, "internal_hours_estimate"] = hours.loc[newest, "internal_hours_estimate"] * 2
    half = newest.to_numpy() & (rng.random(len(frame)) < 0.5)
    kind.loc[half, "partnership_type"] = "influencer"
    return {"reach × 3": ("expected_reach", reach), "our hours × 2": ("internal_hours_estimate", hours),
            "half influencers": ("partnership_type", kind)}


def by_rule(row: dict, frame: pd.DataFrame) -> bool:
    """The rule of thumb alone, numbers on deciles: the product's call before chance was
    measured (`frame`: the history, then the newest period, as compared)."""
    gap = abs(row["missing_newest"] - row["missing_history"])
    if row["metric"] != "psi":
        return bool(row["distance"] > JS_LARGE or gap > MISSING_LARGE)
    periods = frame["trial_period"].astype(str)
    newest = (periods == periods.max()).to_numpy()
    values = frame[row["feature"]].to_numpy(float, na_value=np.nan)
    return bool(psi(values[~newest], values[newest], 10) > PSI_LARGE or gap > MISSING_LARGE)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="3 seeds, nothing written")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    seeds = 3 if args.quick else args.seeds
    output = None if args.quick else args.output or RESULTS
    config = load_config(None)
    started, seconds = time.perf_counter(), {size: [] for size in SIZES}
    quiet = {size: {"rule": [], "chance": []} for size in SIZES}
    counts = {size: {"rule": [], "chance": []} for size in SIZES}
    caught: dict[tuple[int, str], dict[str, list[bool]]] = {}
    for size in SIZES:
        for seed in range(1, seeds + 1):
            history, _ = simulate_history(SimulationParams(periods=PERIODS, per_period=size,
                                                           seed=seed))
            raw = history.astype(str).where(history.notna(), None)
            raw.index = pd.RangeIndex(2, len(raw) + 2, name="row")
            frame = validate_frame(raw, config, labelled=True)
            periods = sorted(frame["trial_period"].astype(str).unique())
            rng = np.random.default_rng(seed)
            for k in range(FIRST_COMPARED, len(periods)):
                part = frame[frame["trial_period"].astype(str) <= periods[k]]
                tic = time.perf_counter()
                report = drift_report(part, part["trial_period"].astype(str), "real_impact",
                                      config.features, seed=seed)
                seconds[size].append(time.perf_counter() - tic)
                rows = report["features"]
                for name, called in (("rule", [by_rule(r, part) for r in rows]),
                                     ("chance", [r["large"] for r in rows])):
                    quiet[size][name].append(any(called))
                    counts[size][name].append(sum(called))
                if k != len(periods) - 1:
                    continue
                for label, (feature, shifted) in shifts(part, rng).items():
                    got = drift_report(shifted, shifted["trial_period"].astype(str),
                                       "real_impact", config.features, seed=seed)
                    row = next(r for r in got["features"] if r["feature"] == feature)
                    entry = caught.setdefault((size, label), {"rule": [], "chance": []})
                    entry["rule"].append(by_rule(row, shifted))
                    entry["chance"].append(bool(row["large"]))
    features = len(config.features)
    lines = [
        "# Drift warnings: chance against the rule of thumb", "",
        f"Command: `OMP_NUM_THREADS=1 .venv/bin/python bench/drift.py --seeds {seeds}`", "",
        f"Simulated accept-everything histories of {PERIODS} trial periods, {seeds} seeds per "
        f"size; every period from the fourth on compared with those before it "
        f"({PERIODS - FIRST_COMPARED} comparisons per history); {features} features; chance "
        f"level {CHANCE_LEVEL:.0%} per feature from {CHANCE_SPLITS} random re-splits. Whole "
        f"benchmark: {(time.perf_counter() - started) / 60:.1f} min on 2 shared cores.", "",
        "Nothing changed:", "",
        "| proposals per period | periods with a feature called large: rule of thumb / with "
        "chance | features called large per period: rule / chance | `drift_report` s, median |",
        "|---|---|---|---|"]
    for size in SIZES:
        q, c = quiet[size], counts[size]
        lines.append(f"| {size} | {np.mean(q['rule']):.0%} / {np.mean(q['chance']):.0%} | "
                     f"{np.mean(c['rule']):.2f} / {np.mean(c['chance']):.2f} | "
                     f"{statistics.median(seconds[size]):.2f} |")
    lines += ["", f"A real shift in the newest period (the last of the {PERIODS}), share of "
              "histories in which that feature is called large:", "",
              "| proposals per period | shift | rule of thumb | with chance |", "|---|---|---|---|"]
    for (size, label), entry in caught.items():
        lines.append(f"| {size} | {label} | {np.mean(entry['rule']):.0%} | "
                     f"{np.mean(entry['chance']):.0%} |")
    publish("\n".join(lines) + "\n", output)


if __name__ == "__main__":
    main()
