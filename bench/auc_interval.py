"""Coverage of the 90% intervals of ROC AUC and PR AUC with few proposals with real impact.

Every ROC AUC and PR AUC that `partnerscore train` and `retrain` print comes with a 90%
interval (`model.metrics.evaluate`), and the gate compares two ROC AUC intervals. This
benchmark draws samples whose true figures are known (binormal scores: positives N(d, 1),
negatives N(0, 1); true ROC AUC Phi(d / sqrt 2), true PR AUC the average precision of the
population at the sample's share of positives, by numerical integration) at the sizes of
a trial month and of a few months, and counts how often each interval holds the truth:

- bootstrap: the percentile interval over row resamples (what the other metrics use;
  resamples without a positive are dropped, as in `evaluate`);
- score: what `evaluate` gives, Newcombe's score interval for the ROC AUC
  (`model.metrics.auc_score_interval`) and Wilson's over the positives for the PR AUC
  (`model.metrics.proportion_score_interval`).

Goal: the interval the product prints holds the truth in at least 85% of samples at every
size (nominal 90%): an interval that holds it less often hides uncertainty.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from statistics import NormalDist

import numpy as np
from results_file import publish
from scipy.special import ndtr

from model.metrics import (
    auc_score_interval,
    percentile_interval,
    pr_auc,
    proportion_score_interval,
    roc_auc,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "auc_interval.md"
LEVEL = 0.90
SEPARATIONS = (1.5, 2.5)  # true ROC AUC 0.856 and 0.961
SIZES = ((3, 25), (6, 50), (15, 105), (35, 265))  # positives, negatives
GOAL = 0.85  # least coverage of the product's interval at any size
Interval = tuple[float, float]
METRICS: dict[str, tuple[Callable[..., float], Callable[[float, int, int], Interval]]] = {
    "ROC AUC": (roc_auc, lambda value, m, n: auc_score_interval(value, m, n, LEVEL)),
    "PR AUC": (pr_auc, lambda value, m, n: proportion_score_interval(value, m, LEVEL)),
}


def true_value(metric: str, d: float, positives: int, negatives: int) -> float:
    """The population's ROC AUC, or its average precision at this share of positives."""
    if metric == "ROC AUC":
        return NormalDist().cdf(d / np.sqrt(2))
    t = np.linspace(-10.0, d + 10.0, 200_001)
    share = positives / (positives + negatives)
    above_pos, above_neg = ndtr(d - t), ndtr(-t)
    precision = share * above_pos / np.maximum(share * above_pos + (1 - share) * above_neg,
                                               1e-300)
    density = np.exp(-0.5 * (t - d) ** 2) / np.sqrt(2 * np.pi)
    return float(np.trapezoid(precision * density, t))


def one_sample(rng: np.random.Generator, d: float, positives: int, negatives: int,
               resamples: int) -> dict[str, tuple[Interval, Interval]]:
    """Per metric: one sample's bootstrap percentile interval and the product's interval."""
    y = np.r_[np.ones(positives), np.zeros(negatives)]
    score = np.r_[rng.normal(d, 1, positives), rng.normal(0, 1, negatives)]
    w, n = np.ones_like(y), len(y)
    rows = [rng.integers(0, n, n) for _ in range(resamples)]
    out = {}
    for name, (metric, product) in METRICS.items():
        draws = np.array([metric(y[i], score[i], w[i]) for i in rows])
        out[name] = (percentile_interval(draws[np.isfinite(draws)], LEVEL),
                     product(metric(y, score, w), positives, negatives))
    return out


def run(samples: int, resamples: int, seed: int) -> list[list[str]]:
    """One table row per metric, true value and size: coverage and median width of both."""
    rng = np.random.default_rng(seed)
    rows = []
    for d in SEPARATIONS:
        for positives, negatives in SIZES:
            drawn = [one_sample(rng, d, positives, negatives, resamples) for _ in range(samples)]
            for name in METRICS:
                truth = true_value(name, d, positives, negatives)
                held, width = {}, {}
                for which, kind in enumerate(("bootstrap", "product")):
                    bounds = np.array([sample[name][which] for sample in drawn])
                    held[kind] = float(np.mean((bounds[:, 0] <= truth) & (truth <= bounds[:, 1])))
                    width[kind] = float(np.median(bounds[:, 1] - bounds[:, 0]))
                point = np.mean([sample[name][0][0] == sample[name][0][1] for sample in drawn])
                rows.append([name, f"{truth:.3f}", str(positives), str(negatives),
                             f"{held['bootstrap']:.2f}", f"{width['bootstrap']:.3f}",
                             f"{point:.0%}", f"{held['product']:.2f}", f"{width['product']:.3f}",
                             "yes" if held["product"] >= GOAL else "NO"])
                print(" | ".join(rows[-1]), file=sys.stderr, flush=True)
    return rows


def report(rows: list[list[str]], command: str, samples: int, resamples: int,
           seconds: float) -> str:
    """The results file's text."""
    headers = ["metric", "true value", "positives", "negatives", "bootstrap coverage",
               "bootstrap width", "bootstrap [x, x]", "product coverage", "product width",
               "product >= 85%"]
    rows = sorted(rows, key=lambda row: row[0] != "ROC AUC")
    lines = ["# ROC AUC and PR AUC intervals with few outcomes", "", f"Command: `{command}`", "",
             f"{samples} samples per size and separation, {resamples} bootstrap resamples each; "
             f"nominal level {LEVEL:.0%}; binormal scores. Whole benchmark: "
             f"{seconds / 60:.1f} min.", "",
             "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    met = all(row[-1] == "yes" for row in rows)
    lines += ["", f"Goal (the product's interval holds the true value in at least 85% of samples "
                  f"at every size): {'met' if met else 'NOT met'}.", "",
              "*product*: the interval `evaluate` gives (score intervals); *bootstrap [x, x]*: "
              "samples whose bootstrap interval is a single point (every positive first in "
              "every resample); *width*: median over samples.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark, print the table and write it (full runs) to the results file."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--resamples", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="100 samples; nothing written")
    parser.add_argument("--output", type=Path, help="results file (default for full runs: "
                                                    f"{RESULTS.relative_to(ROOT)})")
    args = parser.parse_args(argv)
    samples = 100 if args.quick else args.samples
    started = time.perf_counter()
    rows = run(samples, args.resamples, args.seed)
    command = " ".join(["OMP_NUM_THREADS=1 .venv/bin/python bench/auc_interval.py",
                        *(argv if argv is not None else sys.argv[1:])]).strip()
    text = report(rows, command, samples, args.resamples, time.perf_counter() - started)
    publish(text, args.output or (None if args.quick else RESULTS))


if __name__ == "__main__":
    main()
