"""Selection bias after the trial month: naive retraining against propensity weighting.

After one accept-everything trial period the team accepts only what the model ranks
high, so outcomes exist only for accepted proposals. For each seed the simulator draws
a trial period (every proposal labelled, propensity 1) and then several periods of
proposals. Three loops retrain after every period on the same proposals and outcomes:

- naive: its own model scores the period, `model.policy.choose` accepts the top ones
  plus random exploration; only accepted proposals get their outcome, and training
  sees them with acceptance_propensity 1 (weight 1);
- weighted: the same with its own model, and each accepted row keeps its propensity,
  so training weights it by 1 / clip(propensity);
- reference: every proposal of the same periods labelled (accept-everything), i.e.
  the data no selection bias touches; the target the weighted loop should approach;
- random (a diagnostic): as many proposals as the policy accepts, drawn uniformly at
  random, so as many labels as naive and weighted get but no selection bias. The gap
  from reference to random is the cost of fewer labels; from random to weighted, the
  cost of selection that weighting has not undone.

Naive and weighted use separate policy generators seeded alike, so they differ only
through their models. Frames go through the contract as the CLI reads them (CSV bytes,
raw strings, `validate_frame`). Every model is scored on one large accept-everything
test period drawn from another seed.

    OMP_NUM_THREADS=1 .venv/bin/python bench/selection_bias.py            # full run, writes results
    OMP_NUM_THREADS=1 .venv/bin/python bench/selection_bias.py --quick    # one seed, nothing written
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
from results_file import write_report

from model.config import Config
from model.metrics import brier, expected_calibration_error, roc_auc
from model.policy import choose
from model.scorer import ScoringModel
from model.simulate import SimulationParams, simulate_history
from model.training import train_model
from model.validation import validate_frame
from pipelines.cli.commands import csv_bytes
from pipelines.settings import load_config
from pipelines.storage.readers import read_bytes_table

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "selection_bias.md"
SEEDS, QUICK_SEEDS = (1, 2, 3, 4, 5), (1,)
TEST_ROWS, TEST_SEED = 10_000, 9_999
LOOPS = ("naive", "weighted", "reference", "random")
AUC_TOLERANCE = 0.02  # the weighted loop's AUC may sit at most 2% below the reference's
PROPENSITY = "acceptance_propensity"


@dataclass(frozen=True)
class Settings:
    """The benchmark's shape: period sizes, the decision policy and the training config."""

    trial_rows: int = 200
    periods: int = 6
    per_period: int = 150
    capacity: int = 40
    explore_rate: float = 0.15
    config: Config = field(default_factory=load_config)


@dataclass
class Loop:
    """One retraining loop: its labelled rows (raw strings), policy generator and model."""

    name: str
    labelled: list[pd.DataFrame]
    rng: np.random.Generator
    model: ScoringModel | None = None
    captured: int = 0  # accepted proposals with real impact, summed over periods


@dataclass
class Score:
    """One model on the test period, with what it was trained on."""

    loop: str
    seed: int
    period: int
    auc: float
    brier: float
    ece: float
    rows: int
    positives: int
    chosen: str
    captured: int = 0
    mean_probability: float = float("nan")  # against the test rate: calibration in the large


def raw_frame(history: pd.DataFrame) -> pd.DataFrame:
    """The simulator's frame as the loaders hand it over: CSV bytes read back as strings."""
    return read_bytes_table(csv_bytes(history), "history.csv")


def simulated_periods(seed: int, settings: Settings) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """The raw trial period and the raw later periods, every proposal labelled."""
    trial, _ = simulate_history(SimulationParams(periods=1, per_period=settings.trial_rows,
                                                 seed=seed * 1000, start_period="2025-01"))
    later, _ = simulate_history(SimulationParams(periods=settings.periods,
                                                 per_period=settings.per_period,
                                                 seed=seed * 1000 + 1, start_period="2025-02"))
    periods = [raw_frame(group) for _, group in later.groupby("trial_period", sort=True)]
    return raw_frame(trial), periods


def validated(raw_parts: list[pd.DataFrame], config: Config) -> pd.DataFrame:
    """Raw labelled parts joined, renumbered like one file's rows, and validated."""
    raw = pd.concat(raw_parts)
    raw.index = pd.RangeIndex(2, len(raw) + 2)
    return validate_frame(raw, config, labelled=True)


def fit(loop: Loop, settings: Settings, seed: int, test: pd.DataFrame, period: int) -> Score:
    """Retrain the loop's model on its labelled rows and score it on the test period."""
    train = validated(loop.labelled, settings.config)
    result = train_model(train, settings.config, seed=seed)
    loop.model = result.model
    y, p = test["real_impact"].to_numpy(float), result.model.predict_proba(test)
    w = np.ones_like(p)
    return Score(loop.name, seed, period, roc_auc(y, p, w), brier(y, p, w),
                 expected_calibration_error(y, p, w), len(train),
                 int(train["real_impact"].sum()), result.chosen.name, loop.captured, float(p.mean()))


def decide(loop: Loop, period_raw: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """The period's accepted proposals, as labelled raw rows carrying the loop's propensity."""
    assert loop.model is not None
    typed = validate_frame(period_raw, settings.config, labelled=True)
    probability = loop.model.predict_proba(typed)
    if loop.name == "random":  # every proposal equally likely: uniform propensity, weight 1
        probability = loop.rng.random(len(probability))
    accepted, propensity = choose(probability, settings.capacity, settings.explore_rate, loop.rng)
    rows = period_raw[accepted].copy()
    rows[PROPENSITY] = "1" if loop.name != "weighted" else [repr(float(q)) for q in propensity[accepted]]
    loop.captured += int(typed["real_impact"].to_numpy()[accepted].sum())
    return rows


def run_seed(seed: int, settings: Settings, test: pd.DataFrame) -> list[Score]:
    """The three loops over every period of one seed; a score per loop and period."""
    trial, periods = simulated_periods(seed, settings)
    loops = {name: Loop(name, [trial], np.random.default_rng([seed, 7])) for name in LOOPS}
    first = fit(loops["naive"], settings, seed, test, 0)
    scores = [dataclasses.replace(first, loop=name) for name in LOOPS]
    for loop in loops.values():
        loop.model = loops["naive"].model
    for index, period_raw in enumerate(periods, start=1):
        for loop in loops.values():
            loop.labelled.append(period_raw if loop.name == "reference"
                                 else decide(loop, period_raw, settings))
            scores.append(fit(loop, settings, seed, test, index))
        print(f"seed {seed} period {index}: " + ", ".join(
            f"{s.loop} AUC {s.auc:.3f} Brier {s.brier:.4f} ECE {s.ece:.4f}"
            for s in scores[-len(LOOPS):]),
            file=sys.stderr, flush=True)
    return scores


def median_of(scores: list[Score], loop: str, period: int, attribute: str) -> float:
    """Median over seeds of one figure of one loop after one period."""
    return float(np.median([getattr(s, attribute) for s in scores
                            if s.loop == loop and s.period == period]))


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def final_rows(scores: list[Score], last: int) -> list[list[str]]:
    """One row per loop after the last period: seed medians and the ratio to the reference."""
    reference_auc = median_of(scores, "reference", last, "auc")
    rows = []
    for loop in LOOPS:
        figures = {a: median_of(scores, loop, last, a)
                   for a in ("auc", "brier", "ece", "mean_probability", "rows", "positives",
                             "captured")}
        rows.append([loop, f"{figures['auc']:.4f}", f"{figures['auc'] / reference_auc:.3f}",
                     f"{figures['brier']:.4f}", f"{figures['ece']:.4f}",
                     f"{figures['mean_probability']:.4f}", f"{figures['rows']:.0f}",
                     f"{figures['positives']:.0f}",
                     "-" if loop == "reference" else f"{figures['captured']:.0f}"])
    return rows


def period_rows(scores: list[Score], periods: int) -> list[list[str]]:
    """One row per period: AUC / Brier / ECE seed medians of every loop."""
    return [[str(period), *(" / ".join(f"{median_of(scores, loop, period, a):.{d}f}"
                                       for a, d in (("auc", 3), ("brier", 4), ("ece", 4)))
                            for loop in LOOPS)]
            for period in range(periods + 1)]


def seed_rows(scores: list[Score], last: int) -> list[list[str]]:
    """One row per seed and loop after the last period, with the chosen candidate."""
    return [[str(s.seed), s.loop, f"{s.auc:.4f}", f"{s.brier:.4f}", f"{s.ece:.4f}", str(s.rows),
             str(s.positives), s.chosen] for s in scores if s.period == last]


def verdict(scores: list[Score], last: int) -> tuple[bool, bool, str]:
    """(AUC goal met, calibration goal met, a sentence stating both from the seed medians)."""
    auc = {loop: median_of(scores, loop, last, "auc") for loop in LOOPS}
    ratio = auc["weighted"] / auc["reference"]
    auc_met = ratio >= 1 - AUC_TOLERANCE
    better = {a: median_of(scores, "weighted", last, a) < median_of(scores, "naive", last, a)
              for a in ("brier", "ece")}
    calibration_met = all(better.values())
    text = (f"AUC goal (weighted ≥ {1 - AUC_TOLERANCE:.2f} × reference): "
            f"{'met' if auc_met else 'NOT met'} ({ratio:.3f}). Calibration goal (weighted below "
            f"naive on Brier and ECE): {'met' if calibration_met else 'NOT met'} "
            f"(Brier {'yes' if better['brier'] else 'no'}, ECE {'yes' if better['ece'] else 'no'}).")
    return auc_met, calibration_met, text


def report(scores: list[Score], settings: Settings, test_rate: float, bayes: float,
           command: str, seconds: float) -> str:
    """The figures as markdown: command, set-up, verdict, final, per-period and per-seed tables."""
    last, seeds = settings.periods, sorted({s.seed for s in scores})
    share = settings.capacity / settings.per_period
    return "\n\n".join([
        "# Selection bias: naive retraining against propensity weighting", f"Command: `{command}`",
        f"Seeds {', '.join(map(str, seeds))} (figures are medians over seeds). Trial period: "
        f"{settings.trial_rows} proposals, all labelled. Then {settings.periods} periods of "
        f"{settings.per_period} proposals; each loop accepts {settings.capacity} ({share:.0%}) with "
        f"explore rate {settings.explore_rate} and retrains. Propensity clip "
        f"{settings.config.model.propensity_clip}; cv_repeats {settings.config.model.cv_repeats}. "
        f"Test: {TEST_ROWS:,} accept-everything proposals (simulator seed {TEST_SEED}), Bayes AUC "
        f"{bayes:.4f}. Whole benchmark: {seconds / 60:.1f} min on {os.cpu_count()} cores.",
        verdict(scores, last)[2],
        f"After period {last}:",
        markdown_table(["loop", "AUC", "÷ reference AUC", "Brier", "ECE",
                        f"mean probability (test rate {test_rate:.4f})", "labelled rows",
                        "positives", "real impact captured"], final_rows(scores, last)),
        "Per period (0 = the trial-period model, shared by all loops), AUC / Brier / ECE:",
        markdown_table(["period", *LOOPS], period_rows(scores, last)),
        "Per seed after the last period:",
        markdown_table(["seed", "loop", "AUC", "Brier", "ECE", "rows", "positives", "chosen"],
                       seed_rows(scores, last)),
        "*real impact captured*: accepted proposals with real impact over all periods after the "
        "trial (what the loop's decisions earned). *reference* labels every proposal of the same "
        "periods, so it also has about "
        f"{settings.per_period / settings.capacity:.1f}× more labelled rows per period.",
    ]) + "\n"




def parse(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed; nothing written")
    parser.add_argument("--seeds", type=int, nargs="+", help="simulator seeds")
    parser.add_argument("--capacity", type=int, default=Settings.capacity,
                        help="proposals accepted per period")
    parser.add_argument("--explore-rate", type=float, default=Settings.explore_rate,
                        help="chance that each accepted place goes to a random proposal")
    parser.add_argument("--clip", type=float, help="propensity clip (default: the config's)")
    parser.add_argument("--cv-repeats", type=int, default=1, help="CV repeats when training")
    parser.add_argument("--config", type=Path, help="partnerscore configuration")
    parser.add_argument("--output", type=Path,
                        help=f"results file (default for full runs: {RESULTS.relative_to(ROOT)})")
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    """The benchmark settings, with a faster training configuration."""
    config = load_config(args.config)
    model = dataclasses.replace(config.model, cv_repeats=args.cv_repeats, bootstrap_samples=50,
                                backtest_periods=1)
    if args.clip is not None:
        model = dataclasses.replace(model, propensity_clip=args.clip)
    return Settings(capacity=args.capacity, explore_rate=args.explore_rate,
                    config=dataclasses.replace(config, model=model))


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark, print the tables and write them (full runs) to the results file."""
    args = parse(argv)
    custom = (args.quick or args.seeds or args.clip is not None or args.config
              or args.capacity != Settings.capacity or args.explore_rate != Settings.explore_rate
              or args.cv_repeats != 1)
    output = args.output or (None if custom else RESULTS)
    settings = settings_from(args)
    started = time.perf_counter()
    history, truth = simulate_history(SimulationParams(periods=1, per_period=TEST_ROWS,
                                                       seed=TEST_SEED))
    test = validated([raw_frame(history)], settings.config)
    y = test["real_impact"].to_numpy(float)
    bayes = roc_auc(y, truth["true_probability"].to_numpy(), np.ones_like(y))
    scores = [s for seed in args.seeds or (QUICK_SEEDS if args.quick else SEEDS)
              for s in run_seed(seed, settings, test)]
    command = " ".join(["OMP_NUM_THREADS=1 .venv/bin/python bench/selection_bias.py",
                        *(argv if argv is not None else sys.argv[1:])]).strip()
    text = report(scores, settings, float(y.mean()), bayes, command, time.perf_counter() - started)
    print(text)
    if output:
        write_report(output, text)
        print(f"written to {output}", file=sys.stderr)


if __name__ == "__main__":
    main()
