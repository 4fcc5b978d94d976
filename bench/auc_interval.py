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

Then the gate's ROC AUC rule (`gate.require_auc_overlap`: a challenger whose interval sits
wholly below the champion's is kept out), on newest periods of 28, 150 and 500 proposals
where champion and challenger score the same rows with correlated errors: how often it
refuses a challenger as good as the champion, worse, or better, with the bootstrap
intervals it compared before and the score intervals it compares now; beside them, for
reference, a paired rule (the 90% interval of the AUC difference over paired row
resamples wholly below zero), which the product does not use.
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
SIZES = ((3, 25), (6, 50), (15, 105), (35, 265), (3, 300), (10, 1000))  # positives, negatives
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


GATE_SIZES = ((3, 25), (20, 130), (60, 440))  # the newest period: positives, negatives
# Champion and challenger share the signal z (positives N(1.6, 1), negatives N(0, 1)) and
# add their own noise N(0, 0.6); each scores with its own weight on the signal.
GATE_SCENARIOS = {"as good": (1.0, 1.0), "worse": (1.0, 0.8), "much worse": (1.0, 0.55),
                  "better": (0.8, 1.0)}


def gate_rules(rng: np.random.Generator, champion: np.ndarray, challenger: np.ndarray,
               y: np.ndarray, resamples: int) -> tuple[bool, bool, bool]:
    """Whether each rule refuses the challenger: bootstrap intervals, score intervals, paired."""
    w, n, positives = np.ones_like(y), len(y), int(y.sum())
    rows = [rng.integers(0, n, n) for _ in range(resamples)]
    draws = {name: np.array([roc_auc(y[i], p[i], w[i]) for i in rows])
             for name, p in (("champion", champion), ("challenger", challenger))}
    both = np.isfinite(draws["champion"]) & np.isfinite(draws["challenger"])
    boot = {name: percentile_interval(d[both], LEVEL) for name, d in draws.items()}
    score = {name: auc_score_interval(roc_auc(y, p, w), positives, n - positives, LEVEL)
             for name, p in (("champion", champion), ("challenger", challenger))}
    paired = percentile_interval((draws["challenger"] - draws["champion"])[both], LEVEL)
    return (boot["challenger"][1] < boot["champion"][0],
            score["challenger"][1] < score["champion"][0], paired[1] < 0)


def gate(samples: int, resamples: int, seed: int) -> list[list[str]]:
    """One row per period size and scenario: the mean AUC gap and each rule's refusal rate."""
    rng = np.random.default_rng(seed + 1)
    rows = []
    for positives, negatives in GATE_SIZES:
        y = np.r_[np.ones(positives), np.zeros(negatives)]
        for name, (champion_weight, challenger_weight) in GATE_SCENARIOS.items():
            refused, gaps = np.zeros(3), []
            for _ in range(samples):
                z = np.r_[rng.normal(1.6, 1, positives), rng.normal(0, 1, negatives)]
                champion = champion_weight * z + rng.normal(0, 0.6, len(y))
                challenger = challenger_weight * z + rng.normal(0, 0.6, len(y))
                refused += gate_rules(rng, champion, challenger, y, resamples)
                w = np.ones_like(y)
                gaps.append(roc_auc(y, challenger, w) - roc_auc(y, champion, w))
            rows.append([str(positives + negatives), str(positives), name,
                         f"{np.mean(gaps):+.3f}",
                         *(f"{share:.0%}" for share in refused / samples)])
            print(" | ".join(rows[-1]), file=sys.stderr, flush=True)
    return rows


def report(rows: list[list[str]], gate_rows: list[list[str]], command: str, samples: int,
           resamples: int, seconds: float) -> str:
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
              "every resample); *width*: median over samples.", "",
              "## The gate's ROC AUC rule", "",
              f"{samples // 3} newest periods per row; a challenger is refused when its 90% "
              "interval sits wholly below the champion's (bootstrap: the intervals compared "
              "before 2026-11-30; score: now); *paired*, for reference only: when the 90% "
              "interval of the difference over paired row resamples sits wholly below zero.", "",
              "| proposals | with impact | challenger | mean AUC gap | refused: bootstrap | "
              "refused: score (the product) | refused: paired |",
              "|---|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in gate_rows]
    lines.append("")
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
    gate_rows = gate(samples // 3, args.resamples, args.seed)
    command = " ".join(["OMP_NUM_THREADS=1 .venv/bin/python bench/auc_interval.py",
                        *(argv if argv is not None else sys.argv[1:])]).strip()
    text = report(rows, gate_rows, command, samples, args.resamples,
                  time.perf_counter() - started)
    publish(text, args.output or (None if args.quick else RESULTS))


if __name__ == "__main__":
    main()
