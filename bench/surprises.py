"""Improbable alliances: planted pairs found at the top, and quiet when there is nothing.

For each seed the simulator draws a history twice from the same proposals: once with
its surprise pairs planted (an indie game studio or a wealth-management firm asking
for a technical integration, education partners on cross webinars) and once without
them, so only the outcomes differ. Each goes through the contract as the CLI reads it
(CSV bytes, raw strings, `validate_frame`); `model.surprises.expected_impact` gives
each proposal's out-of-fold expectation from the main-effects model, and
`find_surprises` ranks the cells of the default watched pairs, once per setting below,
side by side on the same expectations.

Goals, at 5,000 rows: (a) each planted cell with at least 30 rows and a true rate at
least twice the main-effects expectation ranks in the top 5 in at least 80% of seeds;
(b) without planted pairs, no cell is called strong in at least 90% of seeds. The
1,000-row figures are for information. A last row ranks the same histories on the
simulator's own main-effects probabilities (an oracle): the ceiling any expectation
could reach, which separates the data's noise from the model's.

`--cells common` plants the same three effects in common cells instead (HR-tech
referrals, marketing-agency co-branding, accounting webinars: 50-70 rows of 5,000, the
size a sector-and-type cell of average shares has) and writes surprises_common.md:
what the goals give when a planted cell carries enough rows, beside the rare alliances
(20-37 rows of 5,000) of the shipped simulator.

    OMP_NUM_THREADS=1 .venv/bin/python bench/surprises.py            # 60 seeds, writes results
    OMP_NUM_THREADS=1 .venv/bin/python bench/surprises.py --quick    # 3 seeds, nothing written
    OMP_NUM_THREADS=1 .venv/bin/python bench/surprises.py --cells common
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from results_file import publish

from model.config import Config
from model.selection import prepare
from model.simulate import SURPRISE_PAIRS, SimulationParams, simulate_history
from model.surprises import SurpriseReport, SurpriseSettings, expected_impact, find_surprises
from model.validation import validate_frame
from pipelines.cli.commands import csv_bytes
from pipelines.settings import load_config
from pipelines.storage.readers import read_bytes_table

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "surprises.md"
COMMON_RESULTS = ROOT / "bench" / "results" / "surprises_common.md"
# The same effects as the simulator's planted alliances, in cells of common sectors and
# types (about 1.0-1.3% of proposals each, against 0.4-0.75%).
COMMON_CELLS = {("hr_tech", "referral"): 2.5, ("marketing_agency", "co_branding"): 2.5,
                ("accounting", "cross_webinar"): 1.2}
SEEDS, QUICK_SEEDS = tuple(range(1, 61)), (1, 2, 3)
SIZES, PERIODS = (5000, 1000), 10
TOP, QUALIFYING_ROWS, QUALIFYING_RATIO = 5, 30, 2.0
RANK_GOAL, QUIET_GOAL = 0.8, 0.9
PAIR = ("partner_sector", "partnership_type")
DEFAULT = SurpriseSettings()
VARIANTS = {f"min_rows {m}" + (" (default)" if m == DEFAULT.min_rows else ""):
            replace(DEFAULT, min_rows=m) for m in (10, 20, 30)}
# The simulator's own probabilities without the planted pairs (same proposals, same
# intercept as the quiet history): what a perfect main-effects model would expect. No
# team has it; it shows how much of what is missed is the data's noise, not the model's.
ORACLE = f"oracle expectation, min_rows {DEFAULT.min_rows}"


@dataclass(frozen=True)
class Planted:
    """One planted cell in one run: its size, true lift and where the report put it."""

    values: tuple[str, str]
    rows: int
    true_ratio: float  # mean true probability / mean main-effects expectation
    rank: float  # 1-based in the better-than-expected list; inf when absent
    strong: bool
    chance: float  # its expected_by_chance; inf when absent


@dataclass(frozen=True)
class Run:
    """One size, seed, history (planted or not) and setting."""

    size: int
    seed: int
    planted_pairs: bool
    variant: str
    tested: int
    strong: int  # cells called strong, both lists
    alone: int  # cells whose expected_by_chance alone is at most the false-alarm rate
    strong_elsewhere: int  # strong cells whose rows hold no planted proposal
    chance_cells: int  # cells with expected_by_chance <= 1 (about 1 by design when quiet)
    planted: tuple[Planted, ...]
    seconds: float  # expectation plus ranking


def validated(history: pd.DataFrame, config: Config) -> pd.DataFrame:
    """The simulator's frame as the CLI reads it: CSV bytes, raw strings, validated."""
    return validate_frame(read_bytes_table(csv_bytes(history), "history.csv"), config,
                          labelled=True)


def planted_rows(proposals: pd.DataFrame) -> np.ndarray:
    """Which proposals belong to a planted pair."""
    pairs = zip(proposals[PAIR[0]], proposals[PAIR[1]], strict=True)
    return np.array([pair in SURPRISE_PAIRS for pair in pairs])


def cell_mask(proposals: pd.DataFrame, features: tuple[str, str],
              values: tuple[str, str]) -> np.ndarray:
    """Rows of one cell."""
    return ((proposals[features[0]] == values[0])
            & (proposals[features[1]] == values[1])).to_numpy()


def locate(report: SurpriseReport, proposals: pd.DataFrame, truth: np.ndarray,
           expected: np.ndarray) -> tuple[Planted, ...]:
    """Each planted cell's size, true lift and rank (inf when not among the better cells)."""
    found = []
    for values in SURPRISE_PAIRS:
        rows = cell_mask(proposals, PAIR, values)
        ranks = [(i + 1, c) for i, c in enumerate(report.cells) if c.features == PAIR
                 and c.values == values]
        rank, cell = ranks[0] if ranks else (float("inf"), None)
        lift = truth[rows].sum() / expected[rows].sum() if rows.any() else float("nan")
        found.append(Planted(values, int(rows.sum()), float(lift), float(rank),
                             cell is not None and cell.strong,
                             cell.expected_by_chance if cell else float("inf")))
    return tuple(found)


def rank_history(size: int, seed: int, planted: bool, history: pd.DataFrame,
                 truth: np.ndarray, oracle: np.ndarray, config: Config) -> list[Run]:
    """One history ranked under every setting on the model's expectations, then on the oracle's."""
    data = prepare(validated(history, config), config)
    started = time.perf_counter()
    expected = expected_impact(data, config, seed=seed)
    seconds = time.perf_counter() - started
    inside = planted_rows(data.proposals)
    runs = []
    for name, settings, expectation in [*((n, s, expected) for n, s in VARIANTS.items()),
                                        (ORACLE, DEFAULT, oracle)]:
        started = time.perf_counter()
        report = find_surprises(data.proposals, data.y, expectation, settings,
                                weights=data.weights)
        every = (*report.cells, *report.worse)
        strong = [c for c in every if c.strong]
        elsewhere = sum(not inside[cell_mask(data.proposals, c.features, c.values)].any()
                        for c in strong)
        runs.append(Run(size, seed, planted, name, report.tested, len(strong),
                        sum(c.expected_by_chance <= settings.false_alarm_rate for c in every),
                        elsewhere, sum(c.expected_by_chance <= 1 for c in every),
                        locate(report, data.proposals, truth, expectation),
                        (seconds if expectation is expected else 0.0)
                        + time.perf_counter() - started))
    return runs


def seed_runs(size: int, seed: int, config: Config) -> list[Run]:
    """The planted and the quiet history of one seed: same proposals, same random draws."""
    drawn = {planted: simulate_history(SimulationParams(
        periods=PERIODS, per_period=size // PERIODS, seed=seed, surprises=planted))
        for planted in (True, False)}
    oracle = drawn[False][1]["true_probability"].to_numpy()
    return [run for planted, (history, truth) in drawn.items()
            for run in rank_history(size, seed, planted, history,
                                    truth["true_probability"].to_numpy(), oracle, config)]


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def qualifies(cell: Planted) -> bool:
    """Goal (a) concerns planted cells large enough and truly at least twice as good."""
    return cell.rows >= QUALIFYING_ROWS and cell.true_ratio >= QUALIFYING_RATIO


def share(flags: list[bool]) -> str:
    """A share with its count, '-' when there is nothing to count."""
    return f"{np.mean(flags):.0%} ({sum(flags)}/{len(flags)})" if flags else "-"


def planted_table(runs: list[Run]) -> list[list[str]]:
    """Per size, setting and planted pair: qualifying and reported instances, ranks."""
    rows = []
    for size in SIZES:
        for variant in (*VARIANTS, ORACLE):
            chosen = [r for r in runs if r.planted_pairs and r.size == size and r.variant == variant]
            for values in [*SURPRISE_PAIRS, None]:
                cells = [c for r in chosen for c in r.planted if values in (None, c.values)]
                good = [c for c in cells if qualifies(c)]
                shown = [c for c in cells if np.isfinite(c.rank)]
                rows.append([str(size), variant, " × ".join(values) if values else "all",
                             f"{np.median([c.rows for c in cells]):.0f}",
                             f"{np.nanmedian([c.true_ratio for c in cells]):.2f}",
                             share([c.rank <= TOP for c in good]),
                             share([c.rank <= TOP for c in shown]),
                             f"{np.median([c.rank for c in shown]):.0f}" if shown else "-",
                             share([c.strong for c in cells]),
                             share([c.chance <= DEFAULT.false_alarm_rate for c in cells])])
    return rows


def quiet_table(runs: list[Run]) -> list[list[str]]:
    """Per size, setting and history: runs with no strong cell, strong and chance counts."""
    rows = []
    for size in SIZES:
        for variant in (*VARIANTS, ORACLE):
            for planted in (False, True):
                chosen = [r for r in runs if r.size == size and r.variant == variant
                          and r.planted_pairs == planted]
                rows.append([str(size), variant, "planted" if planted else "none",
                             f"{np.median([r.tested for r in chosen]):.0f}",
                             share([r.strong == 0 for r in chosen]),
                             share([r.alone == 0 for r in chosen]),
                             f"{np.mean([r.strong for r in chosen]):.2f}",
                             f"{np.mean([r.strong_elsewhere for r in chosen]):.2f}",
                             f"{np.mean([r.chance_cells for r in chosen]):.2f}",
                             f"{np.median([r.seconds for r in chosen]):.2f}"])
    return rows


def verdict(runs: list[Run]) -> str:
    """Goals (a) and (b) at 5,000 rows with the default setting."""
    default = next(v for v in VARIANTS if "default" in v)
    at = [r for r in runs if r.size == SIZES[0] and r.variant == default]
    good = [c.rank <= TOP for r in at if r.planted_pairs for c in r.planted if qualifies(c)]
    per_cell = {v: [c.rank <= TOP for r in at if r.planted_pairs for c in r.planted
                    if c.values == v and qualifies(c)] for v in SURPRISE_PAIRS}
    worst = min((float(np.mean(f)) for f in per_cell.values() if f), default=float("nan"))
    quiet = np.mean([r.strong == 0 for r in at if not r.planted_pairs])
    met = "not measured" if np.isnan(worst) else "met" if worst >= RANK_GOAL else "NOT met"
    return (f"Goal (a), each qualifying planted cell in the top {TOP} in ≥ {RANK_GOAL:.0%} of "
            f"seeds: {met} (worst cell {worst:.0%}; all qualifying instances {share(good)}). "
            f"Goal (b), no strong cell in ≥ "
            f"{QUIET_GOAL:.0%} of histories without planted pairs: "
            f"{'met' if quiet >= QUIET_GOAL else 'NOT met'} ({quiet:.0%}).")


def report(runs: list[Run], command: str, seconds: float) -> str:
    """The figures as markdown."""
    seeds = sorted({r.seed for r in runs})
    return "\n\n".join([
        "# Improbable alliances: planted pairs against histories without them",
        f"Command: `{command}`",
        f"{len(seeds)} seeds ({seeds[0]}–{seeds[-1]}), histories of {' and '.join(map(str, SIZES))} "
        f"rows over {PERIODS} periods; watched pairs: "
        f"{'; '.join(' × '.join(p) for p in DEFAULT.pairs)}. Planted: "
        f"{'; '.join(f'{a} × {b} (+{v} log-odds)' for (a, b), v in SURPRISE_PAIRS.items())}. "
        f"Whole benchmark: {seconds / 60:.1f} min on {os.cpu_count()} cores.",
        verdict(runs),
        f"Planted cells. *qualifying*: at least {QUALIFYING_ROWS} rows and a true rate at least "
        f"{QUALIFYING_RATIO:g}× the main-effects expectation (true lift); *reported*: at least "
        "min_rows rows and doing better than expected. Rank is in the better-than-expected list.",
        markdown_table(["rows", "setting", "planted cell", "median rows", "median true lift",
                        f"qualifying in top {TOP}", f"reported in top {TOP}",
                        "median rank (reported)", "strong",
                        f"chance ≤ {DEFAULT.false_alarm_rate:g}"], planted_table(runs)),
        "False alarms. *quiet*: histories with no strong cell in either list; *strong "
        "elsewhere*: strong cells holding no planted proposal; *cells with chance ≤ 1*: cells "
        "whose expected_by_chance is at most 1, which averages about 1 when the expectations "
        "are right; seconds: median of the expectation and the ranking.",
        markdown_table(["rows", "setting", "planted pairs", "cells tested", "quiet",
                        f"quiet if strong meant chance ≤ {DEFAULT.false_alarm_rate:g}",
                        "strong per history", "strong elsewhere", "cells with chance ≤ 1",
                        "seconds"], quiet_table(runs)),
    ]) + "\n"


def plant(cells: str) -> None:
    """Plant this run's surprises: "rare" as the simulator ships them, "common" in
    COMMON_CELLS. The simulator reads `SURPRISE_PAIRS` when it draws outcomes, and every
    benchmark module imports that one mapping, so it is changed in place, for this process."""
    if cells == "common":
        SURPRISE_PAIRS.clear()
        SURPRISE_PAIRS.update(COMMON_CELLS)


def cells_option(parser: argparse.ArgumentParser) -> None:
    """The `--cells` option shared with bench/pairs.py."""
    parser.add_argument("--cells", choices=("rare", "common"), default="rare",
                        help="where the planted effects sit: the simulator's rare alliances "
                             "(default) or common cells of the same effects")


def parse(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="three seeds; nothing written")
    parser.add_argument("--seeds", type=int, nargs="+", help="simulator seeds")
    cells_option(parser)
    parser.add_argument("--output", type=Path,
                        help=f"results file (default for full runs: {RESULTS.relative_to(ROOT)})")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Run every seed, print the tables and write them (full runs) to the results file."""
    args = parse(argv)
    plant(args.cells)
    output = args.output or (None if args.quick or args.seeds else
                             COMMON_RESULTS if args.cells == "common" else RESULTS)
    config = load_config()
    started = time.perf_counter()
    runs: list[Run] = []
    for seed in args.seeds or (QUICK_SEEDS if args.quick else SEEDS):
        for size in SIZES:
            runs += seed_runs(size, seed, config)
        print(f"seed {seed} done after {time.perf_counter() - started:.0f} s", file=sys.stderr,
              flush=True)
    command = " ".join(["OMP_NUM_THREADS=1 .venv/bin/python bench/surprises.py",
                        *(argv if argv is not None else sys.argv[1:])]).strip()
    text = report(runs, command, time.perf_counter() - started)
    publish(text, output)


if __name__ == "__main__":
    main()
