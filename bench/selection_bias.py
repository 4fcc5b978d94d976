"""Selection bias after the trial month: where propensity weights pay, decided by measurement.

After one accept-everything trial month the team accepts only what the champion ranks
high (`model.policy.choose`: the top of the list plus random exploration), so outcomes
exist only for accepted proposals, each logged with its propensity. For each scenario
(`selection_scenarios.py`: acceptance on recorded features only; a team member's gut
feeling, correlated with the outcome, overriding some decisions; a planted cell the trial
month barely samples) and seed, the simulator draws a trial month and six later months,
and these loops run on the same proposals and outcomes:

- none, fit, evaluation: the product's retraining loop under each value of
  `model.propensity_weights` (propensities ignored; weights in the fits and the
  evaluation; weights in the evaluation only). After each month: decide with the
  champion, label the accepted proposals, train a challenger on every labelled month
  (`train_model`), compare it with the champion on the newest month as `partnerscore
  retrain` does (the champion as it is, the challenger's procedure retrained without
  that month; `model.gate.decide`), and promote it when the gate passes;
- directed: the loop as shipped: the configured `model.propensity_weights`, and a share
  `decide.directed_share` of the exploring places directed to proposals of the cells
  the weak-signal report of the loop's labelled rows ranks high (`decide.directed_cells`),
  as `partnerscore decide` does; the others explore uniformly;
- reference: the same loop, but every proposal of every month is labelled
  (accept-everything data, no selection bias); it decides like the others;
- oracle: accepts the top `capacity` proposals by their true probability; no model.
  Two diagnostics beside it: oracle_explore explores like the loops (what exploration
  costs), oracle_recorded ranks by the part of the true log-odds the recorded features
  carry (the best any model can learn; the oracle itself in every scenario but gut).

Decisions use policy generators seeded alike, so the loops differ only through their
champions (and the directed loop through its directed pool). Frames go through the
contract as the CLI reads them (CSV bytes, raw strings, `validate_frame`). Each
champion is scored on 10,000 accept-everything proposals of the scenario drawn from
another seed. Real impact captured: accepted proposals with real impact over the six
months, divided by the oracle's in the same seed; expected impact: the same with true
probabilities summed.

    OMP_NUM_THREADS=1 .venv/bin/python bench/selection_bias.py            # full run, writes results
    OMP_NUM_THREADS=1 .venv/bin/python bench/selection_bias.py --quick    # two seeds, nothing written
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from results_file import write_report
from selection_candidates import Pick, picks
from selection_months import Month, TestSet, simulated_months, test_set, validated
from selection_report import DIRECTED, LOOPS, MODES, ORACLES, report
from selection_scenarios import SCENARIOS, Scenario, overridden

from model.config import Config
from model.estimators import CandidateSpec
from model.gate import decide
from model.metrics import brier, evaluate, roc_auc
from model.policy import choose
from model.propensity import scoring_weights
from model.scorer import ScoringModel
from model.selection import fit_procedure, prepare
from model.training import train_model
from pipelines.jobs.decide import cells_of, high_ranked_cells
from pipelines.jobs.surprises import weak_signals_if_possible
from pipelines.settings import load_config

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "selection_bias.md"
SEEDS, QUICK_SEEDS = tuple(range(1, 31)), (1, 2)
PROPENSITY = "acceptance_propensity"


@dataclass(frozen=True)
class Settings:
    """The benchmark's shape: month sizes, the decision policy and the training config."""

    trial_rows: int = 200
    periods: int = 6
    per_period: int = 150
    capacity: int = 40
    explore_rate: float = 0.1  # the default of `partnerscore decide --explore-rate`
    config: Config = field(default_factory=load_config)
    candidates: tuple[str, ...] = ()  # the shipped ones, for the candidate check


@dataclass
class Loop:
    """One retraining loop: its configuration, labelled months, policy generator, champion."""

    name: str
    config: Config
    labelled: list[pd.DataFrame]
    rng: np.random.Generator
    champion: ScoringModel
    previous: tuple[CandidateSpec, ScoringModel]  # the last challenger: its candidate and model
    captured: int = 0  # accepted proposals with real impact, summed over the months
    expected: float = 0.0  # their true probabilities, summed likewise
    promotions: int = 0


@dataclass(frozen=True)
class Score:
    """One loop of one scenario and seed after one month."""

    scenario: str
    loop: str
    seed: int
    period: int
    auc: float
    brier: float
    captured: int
    expected: float
    rows: int
    positives: int
    promotions: int
    pair_columns: int = -1  # encoded pair-cell columns of the champion (-1: no model)


def accepted_by(loop: Loop, current: Month, scenario: Scenario,
                settings: Settings) -> tuple[np.ndarray, np.ndarray]:
    """The month's accepted proposals (after the overrides, in the gut scenario) and the
    policy's propensities, which the decision log keeps."""
    if loop.name in ORACLES:
        if loop.name == "oracle_explore":
            return choose(current.probability, settings.capacity, settings.explore_rate, loop.rng)
        ranking = current.recorded if loop.name == "oracle_recorded" else current.probability
        top = np.argsort(-ranking, kind="stable")[:settings.capacity]
        return np.isin(np.arange(len(current.probability)), top), np.ones(len(top))
    scores = loop.champion.predict_proba(current.typed)
    directed = directed_pool(loop, current.typed) if loop.name == DIRECTED else None
    accepted, propensity = choose(scores, settings.capacity, settings.explore_rate, loop.rng,
                                  directed=directed,
                                  directed_share=0.0 if directed is None
                                  else loop.config.decide.directed_share)
    return (overridden(accepted, current.feeling) if scenario.overrides else accepted), propensity


def directed_pool(loop: Loop, proposals: pd.DataFrame) -> np.ndarray:
    """Per proposal of the month, whether it is in a cell that the weak-signal report of the
    loop's labelled rows ranks high (`partnerscore decide`'s directed pool)."""
    config = loop.config
    signals = weak_signals_if_possible(validated(loop.labelled, config), config, "labelled rows")
    cells = high_ranked_cells(signals, config.decide.directed_cells).cells
    return np.array([c is not None for c in cells_of(proposals, cells)], dtype=bool)


def decide_month(loop: Loop, current: Month, scenario: Scenario, settings: Settings) -> None:
    """Decide on the month, count what the decisions earned, and label what the loop learns from."""
    accepted, propensity = accepted_by(loop, current, scenario, settings)
    loop.captured += int(current.typed["real_impact"].to_numpy()[accepted].sum())
    loop.expected += float(current.probability[accepted].sum())
    if loop.name == "reference":
        loop.labelled.append(current.raw)
    elif loop.name not in ORACLES:
        rows = current.raw[accepted].copy()
        rows[PROPENSITY] = [repr(float(q)) for q in propensity[accepted]]
        loop.labelled.append(rows)


def gate_passes(loop: Loop, proposals: pd.DataFrame, chosen: CandidateSpec, seed: int) -> bool:
    """The gate of `partnerscore retrain`: the champion as it is against the challenger's
    procedure retrained without the newest month, on that month, weighted as configured."""
    config = loop.config
    is_newest = (proposals["trial_period"] == proposals["trial_period"].max()).to_numpy()
    past, newest = proposals[~is_newest], proposals[is_newest]
    # The procedure retrained without the newest month is last month's challenger when
    # the candidate is the same: the same rows and seed give the same model, bit for bit.
    without_newest = (loop.previous[1] if loop.previous[0] == chosen
                      else fit_procedure(chosen, prepare(past, config), config, seed)[0])
    y, w = newest["real_impact"].to_numpy(float), scoring_weights(newest, config)
    m = config.model
    champion, challenger = (evaluate(y, model.predict_proba(newest), w, k=m.precision_at_k,
                                     bootstrap=m.bootstrap_samples, seed=seed)
                            for model in (loop.champion, without_newest))
    return decide(champion, challenger, config.gate).passed


def retrain(loop: Loop, seed: int) -> None:
    """Train a challenger on every labelled month and promote it when the gate passes."""
    proposals = validated(loop.labelled, loop.config)
    result = train_model(proposals, loop.config, seed=seed)
    if gate_passes(loop, proposals, result.chosen, seed):
        loop.champion = result.model
        loop.promotions += 1
    loop.previous = (result.chosen, result.model)


def score(loop: Loop, scenario: Scenario, seed: int, period: int, test: TestSet) -> Score:
    """The loop's champion on the test set, with what the loop earned and learned so far."""
    p = test.probability if loop.name in ORACLES else loop.champion.predict_proba(test.proposals)
    if loop.name == "oracle_recorded":  # a ranking, not a probability: no Brier score
        p = 1 / (1 + np.exp(-test.recorded))
    w = np.ones_like(p)
    brier_score = float("nan") if loop.name == "oracle_recorded" else brier(test.y, p, w)
    labelled = pd.concat(loop.labelled)
    encoder = loop.champion.encoder
    pairs = len(encoder.columns_) - getattr(encoder, "main_width_", len(encoder.columns_))
    return Score(scenario.name, loop.name, seed, period, roc_auc(test.y, p, w), brier_score,
                 loop.captured, loop.expected, len(labelled),
                 int((labelled["real_impact"] == "true").sum()), loop.promotions,
                 -1 if loop.name in ORACLES else pairs)


def _weighting(loop: str, settings: Settings) -> str:
    """A loop's `model.propensity_weights`: its own mode, the shipped one for the directed
    loop, none for the reference (it labels everything)."""
    if loop in MODES:
        return loop
    return settings.config.model.propensity_weights if loop == DIRECTED else "none"


def run_seed(scenario: Scenario, seed: int, settings: Settings) -> tuple[list[Score], list[Pick]]:
    """Every loop over every month of one scenario and seed: a score per loop and month, and
    the candidate check on the none loop's labelled rows after the last month."""
    test = test_set(scenario, settings.config)
    trial, months = simulated_months(scenario, seed, settings, settings.config)
    first = train_model(trial.typed, settings.config, seed=seed)
    loops = [Loop(name, dataclasses.replace(settings.config, model=dataclasses.replace(
                      settings.config.model, propensity_weights=_weighting(name, settings))),
                  [trial.raw], np.random.default_rng([seed, 7]), first.model,
                  (first.chosen, first.model)) for name in LOOPS]
    scores = [score(loop, scenario, seed, 0, test) for loop in loops]
    for index, current in enumerate(months, start=1):
        for loop in loops:
            decide_month(loop, current, scenario, settings)
            if loop.name not in ORACLES:
                retrain(loop, seed)
            scores.append(score(loop, scenario, seed, index, test))
    none = next(loop for loop in loops if loop.name == "none")
    return scores, picks(validated(none.labelled, none.config), none.config, settings.candidates,
                         test, scenario.name, seed)


def _task(arguments: tuple[Scenario, int, Settings]) -> tuple[list[Score], list[Pick], float]:
    scenario, seed, settings = arguments
    started, cpu = time.perf_counter(), time.process_time()
    scores, chosen = run_seed(scenario, seed, settings)
    cpu = time.process_time() - cpu
    final = {s.loop: s for s in scores if s.period == settings.periods}
    print(f"{scenario.name} seed {seed} ({time.perf_counter() - started:.0f} s, CPU {cpu:.0f} s): "
          "real impact " + ", ".join(f"{name} {s.captured}" for name, s in final.items()),
          file=sys.stderr, flush=True)
    return scores, chosen, cpu


def parse(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two seeds; nothing written")
    parser.add_argument("--seeds", type=int, nargs="+", help="simulator seeds")
    parser.add_argument("--scenarios", nargs="+", choices=[s.name for s in SCENARIOS],
                        help="scenarios to run (default: all)")
    parser.add_argument("--capacity", type=int, default=Settings.capacity,
                        help="proposals accepted per month")
    parser.add_argument("--explore-rate", type=float, default=Settings.explore_rate,
                        help="chance that each accepted place goes to a random proposal")
    parser.add_argument("--clip", type=float, help="propensity clip (default: the config's)")
    parser.add_argument("--jobs", type=int, default=2, help="processes running seeds side by side")
    parser.add_argument("--config", type=Path, help="partnerscore configuration")
    parser.add_argument("--save-scores", type=Path, help="also write every score to this JSON file")
    parser.add_argument("--from-scores", type=Path,
                        help="report the scores a run saved (--save-scores) instead of running")
    parser.add_argument("--output", type=Path,
                        help=f"results file (default for full runs: {RESULTS.relative_to(ROOT)})")
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    """The benchmark settings: the bayes_logistic candidate only, one CV repeat, one process."""
    config = load_config(args.config)
    model = dataclasses.replace(config.model, candidates=("bayes_logistic",), cv_repeats=1,
                                bootstrap_samples=20, backtest_periods=1, n_jobs=1)
    if args.clip is not None:
        model = dataclasses.replace(model, propensity_clip=args.clip)
    return Settings(capacity=args.capacity, explore_rate=args.explore_rate,
                    config=dataclasses.replace(config, model=model),
                    candidates=config.model.candidates)


@dataclass(frozen=True)
class Run:
    """A finished run: every score, the command that ran it, its duration, whether it was
    the full default run (whose figures go to the results file)."""

    scores: list[Score]
    picks: list[Pick]
    command: str
    seconds: float
    full: bool
    cpu_seconds: float = float("nan")  # summed over the processes

    def save(self, path: Path) -> None:
        """Write the run as JSON (`--from-scores` reports it again without rerunning)."""
        path.write_text(json.dumps({**dataclasses.asdict(self)}), "utf-8")

    @classmethod
    def load(cls, path: Path) -> Run:
        """A run saved by `save`."""
        data = json.loads(path.read_text("utf-8"))
        return cls([Score(**s) for s in data.pop("scores")],
                   [Pick(**p) for p in data.pop("picks", [])], **data)


def run(args: argparse.Namespace, argv: list[str] | None, settings: Settings,
        scenarios: list[Scenario]) -> Run:
    """Every scenario and seed, side by side in `args.jobs` processes."""
    custom = (args.quick or args.seeds or args.scenarios or args.clip is not None or args.config
              or args.capacity != Settings.capacity or args.explore_rate != Settings.explore_rate)
    seeds = args.seeds or (QUICK_SEEDS if args.quick else SEEDS)
    started = time.perf_counter()
    tasks = [(scenario, seed, settings) for scenario in scenarios for seed in seeds]
    with ProcessPoolExecutor(max(1, args.jobs)) as pool:
        parts = list(pool.map(_task, tasks))
    scores = [s for part, _, _ in parts for s in part]
    given = argv if argv is not None else sys.argv[1:]
    kept = [a for i, a in enumerate(given)  # saving the scores changes no figure
            if a != "--save-scores" and (i == 0 or given[i - 1] != "--save-scores")]
    command = " ".join(["OMP_NUM_THREADS=1 .venv/bin/python bench/selection_bias.py", *kept])
    return Run(scores, [p for _, part, _ in parts for p in part], command,
               time.perf_counter() - started, not custom, sum(cpu for _, _, cpu in parts))


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark (or reload a saved run), print the tables and write them (full
    runs) to the results file."""
    args = parse(argv)
    settings = settings_from(args)
    scenarios = [s for s in SCENARIOS if not args.scenarios or s.name in args.scenarios]
    done = Run.load(args.from_scores) if args.from_scores else run(args, argv, settings, scenarios)
    if args.save_scores:
        done.save(args.save_scores)
    shipped = load_config(args.config).model.propensity_weights
    text = report(done.scores, done.picks, settings, scenarios, shipped, done.command,
                  (done.seconds, done.cpu_seconds), os.cpu_count() or 1)
    print(text)
    output = args.output or (RESULTS if done.full else None)
    if output:
        write_report(output, text)
        print(f"written to {output}", file=sys.stderr)


if __name__ == "__main__":
    main()
