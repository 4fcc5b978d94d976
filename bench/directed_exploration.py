"""Directed exploration: how many periods until a planted surprise is learned.

A trial month barely samples an improbable alliance (an indie video-game studio asking
for a technical integration, planted in the simulator at +2.5 log-odds): it holds 5
proposals of that cell, and the weak-signal report tests cells from 5 rows
(`surprises.min_rows: 5`; at the shipped 10 the report cannot see the cell until 10 of
its proposals are labelled, so no share of directed exploration can help before that:
`--min-rows 10` measures it). After it, each period brings proposals of which a fixed
few fall in the cell; the team accepts `capacity` of them with `model.policy` and
learns the outcomes of accepted ones only. Loops, side by side on the same proposals
and seeded alike:

- uniform: exploring places drawn uniformly from the proposals below the top;
- directed D: a share D of the exploring places goes to proposals of the cells the
  weak-signal report of the loop's own labelled rows ranks high (`decide.directed_cells`,
  strongest first), through the same functions `partnerscore decide` uses.

Each period every loop scores the period with its current model, decides, labels the
accepted proposals with their propensities, and retrains. The planted segment is
learned once the model's mean predicted probability over a large held-out sample of the
cell is within 25% of its true mean; the figure is the first period that holds (period
0 = the trial model). Also reported: labelled rows of the cell and real impact captured
(accepted proposals with real impact, all periods). Training uses the configuration
restricted to the bayes_logistic candidate with cv_repeats 1, to stay affordable.

    OMP_NUM_THREADS=1 .venv/bin/python bench/directed_exploration.py           # 30 seeds, writes results
    OMP_NUM_THREADS=1 .venv/bin/python bench/directed_exploration.py --quick   # 2 seeds, nothing written
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from results_file import publish

from model.config import Config
from model.policy import draw
from model.scorer import ScoringModel
from model.simulate import SURPRISE_PAIRS, SimulationParams, simulate_history
from model.training import train_model
from model.validation import validate_frame
from pipelines.cli.commands import csv_bytes
from pipelines.jobs.decide import cells_of, high_ranked_cells
from pipelines.jobs.surprises import weak_signals_if_possible
from pipelines.settings import load_config
from pipelines.storage.readers import read_bytes_table

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "directed_exploration.md"
SEEDS, QUICK_SEEDS = tuple(range(1, 31)), (1, 2)
SHARES = (0.0, 0.25, 0.5, 0.75)  # 0: uniform exploration
PLANTED = ("video_games", "technical_integration")
PAIR = ("partner_sector", "partnership_type")
TOLERANCE = 0.25  # learned: mean predicted within 25% of the true mean
POOL_ROWS, TEST_ROWS, TEST_SEED = 25_000, 120_000, 9_999
PROPENSITY = "acceptance_propensity"


@dataclass(frozen=True)
class Settings:
    """The scenario: period sizes, the planted cell's share, the policy, the training config."""

    trial_rows: int = 200
    trial_planted: int = 5
    periods: int = 10
    per_period: int = 150
    planted_per_period: int = 3
    capacity: int = 20
    explore_rate: float = 0.2
    planted: tuple[str, str] = PLANTED  # partner_sector, partnership_type
    min_rows: int = 5  # surprises.min_rows: the trial month's rows of the cell are tested
    config: Config = field(default_factory=load_config)


@dataclass
class Loop:
    """One loop: its directed share, labelled rows (raw strings), policy generator, model."""

    share: float
    labelled: list[pd.DataFrame]
    rng: np.random.Generator
    model: ScoringModel
    captured: int = 0
    gaps: list[float] = field(default_factory=list)  # mean predicted / true mean - 1, per period
    planted_directed: int = 0  # periods whose directed cells included the planted one

    @property
    def name(self) -> str:
        """uniform, or directed D."""
        return "uniform" if self.share == 0 else f"directed {self.share:g}"


def raw_frame(proposals: pd.DataFrame) -> pd.DataFrame:
    """Simulated proposals as the loaders hand them over: CSV bytes read back as strings."""
    raw = read_bytes_table(csv_bytes(proposals), "proposals.csv")
    raw.index = pd.RangeIndex(2, len(raw) + 2)
    return raw


def validated(parts: list[pd.DataFrame], config: Config) -> pd.DataFrame:
    """Raw labelled parts joined, renumbered like one file's rows, and validated."""
    return validate_frame(raw_frame(pd.concat(parts)), config, labelled=True)


def in_planted(proposals: pd.DataFrame, cell: tuple[str, str]) -> np.ndarray:
    """Whether each proposal is in the planted cell."""
    return ((proposals[PAIR[0]].astype(str) == cell[0])
            & (proposals[PAIR[1]].astype(str) == cell[1])).to_numpy()


def stream(seed: int, settings: Settings) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """The raw trial month and later periods, each with its fixed count of planted rows."""
    pool, _ = simulate_history(SimulationParams(periods=1, per_period=POOL_ROWS, seed=seed))
    rng = np.random.default_rng([seed, 1])
    cell = in_planted(pool, settings.planted)
    planted = pool[cell].sample(frac=1, random_state=rng)
    others = pool[~cell].sample(frac=1, random_state=rng)
    sizes = [(settings.trial_rows, settings.trial_planted)] + [
        (settings.per_period, settings.planted_per_period)] * settings.periods
    parts, used_planted, used_others = [], 0, 0
    for index, (rows, inside) in enumerate(sizes):
        part = pd.concat([planted.iloc[used_planted:used_planted + inside],
                          others.iloc[used_others:used_others + rows - inside]])
        used_planted, used_others = used_planted + inside, used_others + rows - inside
        part = part.sample(frac=1, random_state=rng).assign(
            trial_period=str(pd.Period("2025-01", freq="M") + index))
        parts.append(raw_frame(part))
    if used_planted > len(planted):
        raise SystemExit(f"seed {seed}: the pool holds {len(planted)} planted rows, "
                         f"{used_planted} needed")
    return parts[0], parts[1:]


def directed_pool(loop: Loop, typed: pd.DataFrame, settings: Settings) -> np.ndarray:
    """Per proposal of the period, whether it is in a cell the loop's report ranks high."""
    if loop.share == 0:
        return np.zeros(len(typed), dtype=bool)
    labelled = validated(loop.labelled, settings.config)
    signals = weak_signals_if_possible(labelled, settings.config, "labelled rows")
    cells = high_ranked_cells(signals, settings.config.decide.directed_cells).cells
    loop.planted_directed += any(c.features == PAIR and c.values == settings.planted
                                 for c in cells)
    return np.array([c is not None for c in cells_of(typed, cells)], dtype=bool)


def decide(loop: Loop, period: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """The period's accepted proposals, as raw labelled rows carrying their propensity."""
    typed = validate_frame(period, settings.config, labelled=True)
    choice = draw(loop.model.predict_proba(typed), settings.capacity, settings.explore_rate,
                  loop.rng, directed=directed_pool(loop, typed, settings),
                  directed_share=loop.share)
    loop.captured += int(typed["real_impact"].to_numpy()[choice.accepted].sum())
    rows = period[choice.accepted].copy()
    rows[PROPENSITY] = [repr(float(q)) for q in choice.propensity[choice.accepted]]
    return rows


def gap(model: ScoringModel, segment: pd.DataFrame, true_mean: float) -> float:
    """The model's mean predicted probability over the segment against the truth, minus 1."""
    return float(model.predict_proba(segment).mean()) / true_mean - 1


def run_seed(seed: int, settings: Settings, segment: pd.DataFrame,
             true_mean: float) -> list[Loop]:
    """Every loop over every period of one seed."""
    trial, periods = stream(seed, settings)
    first = train_model(validated([trial], settings.config), settings.config, seed=seed).model
    loops = [Loop(share, [trial], np.random.default_rng([seed, 7]), first) for share in SHARES]
    for loop in loops:
        loop.gaps.append(gap(first, segment, true_mean))
    for index, period in enumerate(periods, start=1):
        for loop in loops:
            loop.labelled.append(decide(loop, period, settings))
            loop.model = train_model(validated(loop.labelled, settings.config), settings.config,
                                     seed=seed).model
            loop.gaps.append(gap(loop.model, segment, true_mean))
        print(f"seed {seed} period {index}: " + ", ".join(
            f"{loop.name} gap {loop.gaps[-1]:.2f}" for loop in loops), file=sys.stderr, flush=True)
    return loops


def periods_to_learn(loop: Loop) -> int:
    """The first period whose model is within TOLERANCE; periods + 1 when none is."""
    hits = [i for i, g in enumerate(loop.gaps) if abs(g) <= TOLERANCE]
    return hits[0] if hits else len(loop.gaps)


def planted_rows(loop: Loop, cell: tuple[str, str]) -> int:
    """Labelled rows of the planted cell, trial month included."""
    return int(sum(in_planted(part, cell).sum() for part in loop.labelled))


def pair_terms(model: ScoringModel) -> bool:
    """Whether the model learns terms of its own for cells of watched pairs."""
    return any(getattr(spec, "kind", "") == "pair" for spec in getattr(model.encoder, "specs_", ()))


@dataclass(frozen=True)
class Summary:
    """One loop's figures, medians over seeds."""

    name: str
    periods: float  # periods to learn; periods + 1 stands for "not within the run"
    learned_share: float
    planted_rows: float
    final_gap: float
    captured: float
    captured_ratio: float  # median over seeds of captured / uniform's captured
    planted_directed: float  # share of periods the planted cell was among the directed cells


def summarise(runs: list[list[Loop]], cell: tuple[str, str]) -> list[Summary]:
    """Per loop, the seed medians."""
    out = []
    for i in range(len(SHARES)):
        loops, uniform = [run[i] for run in runs], [run[0] for run in runs]
        horizon = len(loops[0].gaps) - 1
        learn = [periods_to_learn(loop) for loop in loops]
        out.append(Summary(
            loops[0].name, float(np.median(learn)), float(np.mean([p <= horizon for p in learn])),
            float(np.median([planted_rows(loop, cell) for loop in loops])),
            float(np.median([abs(loop.gaps[-1]) for loop in loops])),
            float(np.median([loop.captured for loop in loops])),
            float(np.median([loop.captured / max(u.captured, 1)
                             for loop, u in zip(loops, uniform, strict=True)])),
            float(np.median([loop.planted_directed / horizon for loop in loops]))))
    return out


def best(summaries: list[Summary]) -> Summary:
    """The directed loop learning soonest (ties: more real impact captured)."""
    return min(summaries[1:], key=lambda s: (s.periods, -s.learned_share, -s.captured))


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def summary_rows(summaries: list[Summary], horizon: int) -> list[list[str]]:
    """One row per loop."""
    return [[s.name, f">{horizon}" if s.periods > horizon else f"{s.periods:g}",
             f"{s.learned_share:.0%}", f"{s.planted_rows:g}", f"{s.final_gap:.2f}",
             f"{s.captured:g}", f"{s.captured_ratio:.3f}",
             "-" if s.name == "uniform" else f"{s.planted_directed:.0%}"] for s in summaries]


def period_rows(runs: list[list[Loop]]) -> list[list[str]]:
    """Per period, each loop's median signed gap to the true mean of the segment."""
    horizon = len(runs[0][0].gaps)
    return [[str(t), *(f"{np.median([run[i].gaps[t] for run in runs]):.2f}"
                       for i in range(len(SHARES)))] for t in range(horizon)]


def seed_rows(runs: list[list[Loop]], seeds: list[int]) -> list[list[str]]:
    """Per seed, each loop's periods to learn (- when not within the run)."""
    horizon = len(runs[0][0].gaps) - 1
    return [[str(seed), *("-" if periods_to_learn(loop) > horizon else str(periods_to_learn(loop))
                          for loop in run)] for seed, run in zip(seeds, runs, strict=True)]


def report(runs: list[list[Loop]], seeds: list[int], settings: Settings, true_mean: float,
           code: str, command: str, seconds: float) -> str:
    """The figures as markdown: set-up, the choice of default, summary, per period, per seed."""
    summaries, horizon, cell = summarise(runs, settings.planted), settings.periods, settings.planted
    chosen, names = best(summaries), [s.name for s in summaries]
    return "\n\n".join([
        "# Directed exploration: periods until a planted surprise is learned",
        f"Command: `{command}`",
        f"Seeds {seeds[0]}-{seeds[-1]} ({len(seeds)}; figures are medians over seeds). Planted "
        f"cell {PAIR[0]}={cell[0]} x {PAIR[1]}={cell[1]} (+{SURPRISE_PAIRS[cell]} "
        f"log-odds in the simulator), true mean probability {true_mean:.3f} over "
        f"{TEST_ROWS:,} held-out proposals' cell rows. Trial month: {settings.trial_rows} "
        f"proposals, {settings.trial_planted} in the cell, all labelled. Then {horizon} periods "
        f"of {settings.per_period} proposals, {settings.planted_per_period} in the cell; capacity "
        f"{settings.capacity}, explore rate {settings.explore_rate}, directed cells "
        f"{settings.config.decide.directed_cells}, surprises min_rows {settings.min_rows}. "
        f"Training: candidates bayes_logistic only, cv_repeats 1. {code} Whole run: "
        f"{seconds / 60:.1f} min on {os.cpu_count()} cores.",
        f"Learned = mean predicted probability over the cell within {TOLERANCE:.0%} of its true "
        f"mean. Soonest directed share: **{chosen.name}** (median {chosen.periods:g} periods "
        f"against {summaries[0].periods:g} uniform; real impact captured "
        f"{chosen.captured_ratio:.3f}x uniform).",
        markdown_table(["loop", "periods to learn", "learned within the run",
                        "labelled rows of the cell", f"final gap, absolute (period {horizon})",
                        "real impact captured", "÷ uniform", "periods directing to the cell"],
                       summary_rows(summaries, horizon)),
        "Gap (mean predicted / true mean - 1; negative: the cell under-estimated) per period, "
        "medians (0 = the trial model):",
        markdown_table(["period", *names], period_rows(runs)),
        "Periods to learn per seed (- = not within the run):",
        markdown_table(["seed", *names], seed_rows(runs, seeds)),
    ]) + "\n"


def model_code(runs: list[list[Loop]]) -> str:
    """Which model code the figures used: the commit, local changes, pair terms or not."""
    import subprocess

    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "model"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    terms = pair_terms(runs[0][0].model)
    return (f"Model code: commit {head}{' with local changes under model/' if dirty else ''}; "
            f"pair terms (one per cell of each `interactions:` pair) "
            f"{'present' if terms else 'absent'} in the trained models.")


def parse(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two seeds; nothing written")
    parser.add_argument("--seeds", type=int, nargs="+", help="simulator seeds")
    parser.add_argument("--periods", type=int, default=Settings.periods)
    parser.add_argument("--capacity", type=int, default=Settings.capacity)
    parser.add_argument("--explore-rate", type=float, default=Settings.explore_rate)
    parser.add_argument("--per-period", type=int, default=Settings.per_period)
    parser.add_argument("--planted-per-period", type=int, default=Settings.planted_per_period)
    parser.add_argument("--trial-planted", type=int, default=Settings.trial_planted)
    parser.add_argument("--min-rows", type=int, default=Settings.min_rows,
                        help="surprises.min_rows: fewest rows for the report to test a cell")
    parser.add_argument("--cell", nargs=2, default=list(PLANTED),
                        help="the planted cell: sector and type (one of model.simulate.SURPRISE_PAIRS)")
    parser.add_argument("--output", type=Path,
                        help=f"results file (default for full runs: {RESULTS.relative_to(ROOT)})")
    return parser.parse_args(argv)


def bench_config(min_rows: int) -> Config:
    """The shipped configuration, training bayes_logistic only with one CV repeat, serially."""
    config = load_config()
    model = dataclasses.replace(config.model, candidates=("bayes_logistic",), cv_repeats=1,
                                bootstrap_samples=50, backtest_periods=1, n_jobs=1)
    surprises = dataclasses.replace(config.surprises, min_rows=min_rows)
    return dataclasses.replace(config, model=model, surprises=surprises)


def held_out_segment(config: Config, cell: tuple[str, str]) -> tuple[pd.DataFrame, float]:
    """The planted cell's rows of a large held-out simulation, and their true mean."""
    history, truth = simulate_history(SimulationParams(periods=1, per_period=TEST_ROWS,
                                                       seed=TEST_SEED))
    inside = in_planted(history, cell)
    segment = validate_frame(raw_frame(history[inside]), config, labelled=True)
    return segment, float(truth["true_probability"].to_numpy()[inside].mean())


def published(settings: Settings) -> bool:
    """Whether the scenario is the one whose figures the results file holds."""
    return all(getattr(settings, f.name) == f.default
               for f in dataclasses.fields(Settings) if f.name != "config")


def main(argv: list[str] | None = None) -> None:
    """Run the loops, print the tables and write them (full runs) to the results file."""
    args = parse(argv)
    settings = Settings(periods=args.periods, capacity=args.capacity,
                        explore_rate=args.explore_rate, per_period=args.per_period,
                        planted_per_period=args.planted_per_period,
                        trial_planted=args.trial_planted, planted=(args.cell[0], args.cell[1]),
                        min_rows=args.min_rows, config=bench_config(args.min_rows))
    custom = args.quick or args.seeds or not published(settings)
    output = args.output or (None if custom else RESULTS)
    started = time.perf_counter()
    segment, true_mean = held_out_segment(settings.config, settings.planted)
    seeds = list(args.seeds or (QUICK_SEEDS if args.quick else SEEDS))
    runs = [run_seed(seed, settings, segment, true_mean) for seed in seeds]
    command = " ".join(["OMP_NUM_THREADS=1 .venv/bin/python bench/directed_exploration.py",
                        *(argv if argv is not None else sys.argv[1:])]).strip()
    text = report(runs, seeds, settings, true_mean, model_code(runs), command,
                  time.perf_counter() - started)
    publish(text, output)


if __name__ == "__main__":
    main()
