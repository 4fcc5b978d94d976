"""Model quality on simulated trial months: partnerscore against the Bayes limit and baselines.

For each training size (rows spread over 12 trial periods) and each seed, the simulator
draws a labelled history; partnerscore's `train_model` and three baselines learn from the
same validated rows; all are scored on one large test set from another seed:

- Bayes: the simulator's true probabilities (the best any model can do);
- reference (knows the formula): a logistic regression on the simulator's own terms,
  C by cross-validation; not a competitor, it shows what a perfectly specified model
  learns from this many rows;
- logistic: default scikit-learn LogisticRegression on partnerscore's feature encoding
  (standardised; max_iter raised so it converges);
- boosting: default HistGradientBoostingClassifier on the same encoding;
- grid: the hand-made scoring grid BD teams use today (0-2 points each for low time cost,
  low logistics complexity, high reach, high strategy fit; a missing value gets 1); the
  points are not learned, only mapped to a probability by one logistic fit (points ->
  probability) on the training rows; its AUC is that of the points themselves unless the
  fitted slope is negative (the training rows then say the grid ranks backwards).

It also times `partnerscore train` end to end (a subprocess on the same history as CSV).

    OMP_NUM_THREADS=1 .venv/bin/python bench/quality.py            # full run, writes results
    OMP_NUM_THREADS=1 .venv/bin/python bench/quality.py --quick    # one seed, 300 and 1000 rows
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from results_file import publish
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from model.config import Config
from model.features import FeatureEncoder
from model.metrics import brier, roc_auc
from model.simulate import SURPRISE_PAIRS, SimulationParams, simulate_history
from model.training import train_model
from model.validation import validate_frame
from pipelines.cli.commands import csv_bytes
from pipelines.settings import load_config
from pipelines.storage.readers import read_bytes_table

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "quality.md"
SIZES, QUICK_SIZES = (300, 1000, 5000), (300, 1000)
SEEDS, QUICK_SEEDS = (1, 2, 3), (1,)
PERIODS, TEST_ROWS, TEST_SEED = 12, 20_000, 10_000
AUC_GOAL = {300: 0.92, 1000: 0.975, 5000: 0.99}  # share of the Bayes AUC
BRIER_GOAL = {5000: 1.03}  # multiple of the Bayes Brier
BASELINES = ("logistic", "boosting", "grid")
THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclass
class Run:
    """One size and seed: (AUC, Brier) per model, the chosen candidate and the train time."""

    size: int
    seed: int
    scores: dict[str, tuple[float, float]] = field(default_factory=dict)
    chosen: str = ""
    train_seconds: float = float("nan")


def validated(history: pd.DataFrame, config: Config) -> pd.DataFrame:
    """The simulator's frame as the CLI would read it: CSV bytes, raw strings, validated."""
    raw = read_bytes_table(csv_bytes(history), "history.csv")
    return validate_frame(raw, config, labelled=True)


def simulated(rows: int, seed: int, periods: int, *,
              surprises: bool = True) -> tuple[pd.DataFrame, np.ndarray]:
    """`rows` labelled proposals over `periods` trial months, and their true probabilities
    (`surprises=False`: without the simulator's planted sector-and-type pairs)."""
    per_period = -(-rows // periods)
    history, truth = simulate_history(SimulationParams(periods=periods, per_period=per_period,
                                                       seed=seed, surprises=surprises))
    return history.iloc[:rows], truth["true_probability"].to_numpy()[:rows]


def scores(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """(ROC AUC, Brier score), unweighted."""
    w = np.ones_like(p)
    return roc_auc(y, p, w), brier(y, p, w)


def grid_points(proposals: pd.DataFrame) -> np.ndarray:
    """The hand-made grid: 0-2 points per criterion, 1 when the value is missing."""
    def points(column: str, good: float, fair: float, higher_is_better: bool) -> np.ndarray:
        v = pd.to_numeric(proposals[column], errors="coerce").to_numpy(dtype=float)
        if not higher_is_better:
            v, good, fair = -v, -good, -fair
        return np.where(np.isnan(v), 1.0, np.select([v >= good, v >= fair], [2.0, 1.0], 0.0))

    return (points("internal_hours_estimate", 8, 24, higher_is_better=False)
            + points("logistics_complexity", 2, 3, higher_is_better=False)
            + points("expected_reach", 5000, 1000, higher_is_better=True)
            + points("strategy_fit", 4, 3, higher_is_better=True))


def formula_terms(proposals: pd.DataFrame) -> pd.DataFrame:
    """The simulator's own terms on the observed (partly missing) fields, for the reference."""
    f = proposals
    out = pd.get_dummies(f[["partnership_type", "lifecycle_position", "sector_proximity"]],
                         dtype=float)
    plan = f["has_action_plan"].astype(float)
    fte = pd.to_numeric(f["partner_committed_fte"], errors="coerce")
    out["objective"], out["plan"] = f["has_clear_objective"].astype(float), plan
    out["ready"] = f["product_ready"].astype(float)
    out["plan_capacity"] = plan * np.minimum(fte.fillna(0.0), 2.0) / 2.0
    out["plan_fte_missing"] = plan * fte.isna()
    for column, transform in (("internal_hours_estimate", np.log),
                              ("expected_reach", lambda v: np.log1p(v / 1000)),
                              ("logistics_complexity", None), ("strategy_fit", None)):
        v = pd.to_numeric(f[column], errors="coerce").astype(float)
        v = transform(v) if transform else v
        out[column], out[f"{column}_missing"] = v.fillna(v.median()), v.isna().astype(float)
    for sector, kind in SURPRISE_PAIRS:
        out[f"{sector}+{kind}"] = ((f["partner_sector"] == sector)
                                   & (f["partnership_type"] == kind)).astype(float)
    return out


def reference(train: pd.DataFrame, y: np.ndarray, test: pd.DataFrame) -> np.ndarray:
    """A logistic regression that knows the simulator's formula; C by 5-fold log loss."""
    X, X_test = formula_terms(train), formula_terms(test)
    X_test = X_test.reindex(columns=X.columns, fill_value=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # scikit-learn 1.8 transition notices
        model = make_pipeline(StandardScaler(), LogisticRegressionCV(
            Cs=10, cv=5, scoring="neg_log_loss", max_iter=5000)).fit(X.to_numpy(), y)
    return model.predict_proba(X_test.to_numpy())[:, 1]


def baselines(train: pd.DataFrame, y: np.ndarray, test: pd.DataFrame, config: Config,
              seed: int) -> dict[str, np.ndarray]:
    """Test-set probabilities of the default learners and of the scoring grid."""
    encoder = FeatureEncoder(config.features,
                             rare_level_min_count=config.model.rare_level_min_count).fit(train)
    X, X_test = encoder.transform(train), encoder.transform(test)
    logistic = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    boosting = HistGradientBoostingClassifier(random_state=seed).fit(X, y)
    grid = LogisticRegression().fit(grid_points(train)[:, None], y)
    return {"logistic": logistic.predict_proba(X_test)[:, 1],
            "boosting": boosting.predict_proba(X_test)[:, 1],
            "grid": grid.predict_proba(grid_points(test)[:, None])[:, 1]}


def train_wall_time(history: pd.DataFrame, seed: int, config_path: Path | None) -> float:
    """Seconds taken by `partnerscore train` on the history, in a throwaway workspace."""
    executable = Path(sys.executable).parent / "partnerscore"
    env = {k: v for k, v in os.environ.items()
           if k not in ("MLFLOW_TRACKING_URI", "PARTNERSCORE_WORKSPACE")} | THREAD_ENV
    with tempfile.TemporaryDirectory(prefix="partnerscore-quality-") as tmp:
        data = Path(tmp) / "history.csv"
        data.write_bytes(csv_bytes(history))
        command = [str(executable), "--workspace", str(Path(tmp) / "workspace")]
        command += ["--config", str(config_path)] if config_path else []
        command += ["train", "--data", str(data), "--seed", str(seed)]
        start = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
    return seconds


def run_one(size: int, seed: int, test: pd.DataFrame, config: Config, *,
            config_path: Path | None, timing: bool) -> Run:
    """Train everything on one simulated history and score it on the test set."""
    history, _ = simulated(size, seed, PERIODS)
    train = validated(history, config)
    y, y_test = train["real_impact"].to_numpy(float), test["real_impact"].to_numpy(float)
    run = Run(size, seed)
    result = train_model(train, config, seed=seed)
    run.chosen = result.chosen.name
    run.scores["partnerscore"] = scores(y_test, result.model.predict_proba(test))
    run.scores["reference"] = scores(y_test, reference(train, y, test))
    for name, p in baselines(train, y, test, config, seed).items():
        run.scores[name] = scores(y_test, p)
    if timing:
        run.train_seconds = train_wall_time(history, seed, config_path)
    return run


def _median(runs: list[Run], model: str, metric: int) -> float:
    return float(np.median([r.scores[model][metric] for r in runs]))


def _verdict(ratio: float, goal: float | None, higher_is_better: bool) -> str:
    if goal is None:
        return "-"
    return "yes" if (ratio >= goal if higher_is_better else ratio <= goal) else "no"


def summary_rows(runs: list[Run], bayes: tuple[float, float]) -> list[list[str]]:
    """One row per training size with seed medians, the ratios to Bayes and the verdicts."""
    rows = []
    for size in sorted({r.size for r in runs}):
        group = [r for r in runs if r.size == size]
        auc, brier_ = _median(group, "partnerscore", 0), _median(group, "partnerscore", 1)
        ahead = all(auc > _median(group, b, 0) and brier_ < _median(group, b, 1)
                    for b in BASELINES)
        pair = [f"{_median(group, m, 0):.3f} / {_median(group, m, 1):.4f}"
                for m in ("reference", *BASELINES)]
        goal_auc, goal_brier = AUC_GOAL.get(size), BRIER_GOAL.get(size)
        rows.append([
            str(size), str(len(group)), f"{auc:.3f}", f"{auc / bayes[0]:.3f} (≥{goal_auc})",
            f"{brier_:.4f}",
            f"{brier_ / bayes[1]:.3f}" + (f" (≤{goal_brier})" if goal_brier else ""),
            *pair, _verdict(auc / bayes[0], goal_auc, True),
            _verdict(brier_ / bayes[1], goal_brier, False), "yes" if ahead else "no",
            f"{np.median([r.train_seconds for r in group]):.0f}",
        ])
    return rows


SUMMARY_HEADER = ["rows", "seeds", "partnerscore AUC", "÷ Bayes AUC (goal)", "Brier",
                  "÷ Bayes Brier (goal)", "reference AUC / Brier", "logistic AUC / Brier",
                  "boosting AUC / Brier", "grid AUC / Brier", "AUC goal met",
                  "Brier goal met", "ahead of every baseline", "train wall s"]
DETAIL_HEADER = ["rows", "seed", "chosen candidate", "partnerscore", "reference", "logistic",
                 "boosting", "grid", "train wall s"]


def detail_rows(runs: list[Run]) -> list[list[str]]:
    """One row per size and seed: AUC / Brier of every model and the chosen candidate."""
    return [[str(r.size), str(r.seed), r.chosen,
             *(f"{r.scores[m][0]:.3f} / {r.scores[m][1]:.4f}"
               for m in ("partnerscore", "reference", *BASELINES)),
             f"{r.train_seconds:.1f}"] for r in runs]


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])




def report(runs: list[Run], bayes: tuple[float, float], command: str, seconds: float) -> str:
    """The figures as markdown: the command, the summary table and the per-seed table."""
    return "\n\n".join([
        "# Model quality on simulated trial months", f"Command: `{command}`",
        f"Test set: {TEST_ROWS:,} proposals (simulator seed {TEST_SEED}); training histories "
        f"over {PERIODS} periods; figures are medians over seeds. Bayes limit (true "
        f"probabilities) on the test set: AUC {bayes[0]:.4f}, Brier {bayes[1]:.4f}. "
        f"Whole benchmark: {seconds / 60:.1f} min on {os.cpu_count()} cores.",
        markdown_table(SUMMARY_HEADER, summary_rows(runs, bayes)),
        "Per seed (AUC / Brier):", markdown_table(DETAIL_HEADER, detail_rows(runs)),
        "*reference* knows the simulator's formula (not a competitor: it shows what a "
        "perfectly specified model learns from this many rows); *logistic* and *boosting* are "
        "scikit-learn defaults on partnerscore's encoding; *grid* is the hand-made points grid "
        "(see bench/quality.py).",
    ]) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark, print the tables and write them (full runs) to the results file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed, 300 and 1000 rows")
    parser.add_argument("--sizes", type=int, nargs="+", help="training sizes (rows)")
    parser.add_argument("--seeds", type=int, nargs="+", help="simulator seeds")
    parser.add_argument("--config", type=Path, help="partnerscore configuration to benchmark")
    parser.add_argument("--no-timing", action="store_true", help="skip `partnerscore train`")
    parser.add_argument("--output", type=Path,
                        help=f"results file (default for full runs: {RESULTS.relative_to(ROOT)})")
    args = parser.parse_args(argv)
    custom = args.quick or args.sizes or args.seeds or args.config or args.no_timing
    output = args.output or (None if custom else RESULTS)
    config = load_config(args.config)
    started = time.perf_counter()
    test_history, truth = simulated(TEST_ROWS, TEST_SEED, 1)
    test = validated(test_history, config)
    bayes = scores(test["real_impact"].to_numpy(float), truth)
    runs = []
    for size in args.sizes or (QUICK_SIZES if args.quick else SIZES):
        for seed in args.seeds or (QUICK_SEEDS if args.quick else SEEDS):
            runs.append(run_one(size, seed, test, config, config_path=args.config,
                                timing=not args.no_timing))
            print(f"done: {size} rows, seed {seed}, {runs[-1].chosen}", file=sys.stderr, flush=True)
    command = " ".join(["OMP_NUM_THREADS=1 .venv/bin/python bench/quality.py",
                        *(argv if argv is not None else sys.argv[1:])]).strip()
    text = report(runs, bayes, command, time.perf_counter() - started)
    publish(text, output)


if __name__ == "__main__":
    main()
