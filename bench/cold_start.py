"""Cold start: the team's beliefs as a prior, from one trial month to a few thousand outcomes.

For each training size and seed, the simulator draws a labelled history (one period of
28 proposals, or rows spread over 12 periods as in bench/quality.py); every model
learns from the same validated rows and is scored on one 20,000-proposal test set whose
true probabilities are known (Bayes AUC = AUC of the true probability):

- product: `train_model` with the shipped configuration, exactly as `partnerscore train`
  runs it (the candidate it chooses, its calibration and its intervals); only settings
  that change reported metrics and not the model are lowered (10 bootstrap samples,
  one backtest period, one process);
- today: the procedure before beliefs (candidates logistic and boosted_trees,
  `min_positives` lowered to 1 so that it trains whenever it can: the most regularised
  logistic candidate below 50 positives, Platt-calibrated on out-of-fold margins); a
  history it cannot fit ranks at chance. From 1,000 rows the logistic candidate it
  chooses there (C = 0.03) is fitted directly (`--full` runs the whole search);
- bayes: `model.bayes.BayesianLogistic` alone under the shipped configuration's beliefs
  (`monotone` directions and the customer-journey levels);
- bayes, directions: the same with the `monotone` directions only;
- dawes: unit weights on the declared directions (z-scores, signs from `monotone`);
- grid: the hand-made points grid of bench/quality.py (its points, unlearned).

It also measures the coverage of the product's 90% probability intervals (share of test
proposals whose true probability lies inside), a wrong belief (the action plan declared
as lowering impact) through the product's own verdicts and the AUC it costs, boosted
trees' intervals (the product trained with trees only, from 300 rows), and the
Laplace approximation against the exact posterior sampled by Hamiltonian Monte Carlo.

    OMP_NUM_THREADS=1 .venv/bin/python bench/cold_start.py            # full run, writes results
    OMP_NUM_THREADS=1 .venv/bin/python bench/cold_start.py --quick    # 5 seeds, 28-300 rows
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from quality import grid_points, markdown_table, simulated, validated
from results_file import publish

from model.bayes import MODEL_ERROR_SD, BayesianLogistic, z_value
from model.beliefs import Belief, build_prior
from model.config import Config
from model.errors import TrainingRefused
from model.estimators import CandidateSpec, MarginModel
from model.features import FeatureEncoder
from model.metrics import brier, roc_auc
from model.training import TrainingResult, train_model
from pipelines.settings import load_config

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "cold_start.md"
SIZES = {28: (1, 40), 120: (12, 40), 300: (12, 40), 1000: (12, 5), 5000: (12, 3)}  # periods, seeds
QUICK_SIZES = {28: (1, 5), 120: (12, 5), 300: (12, 5)}
HMC_SIZES, HMC_SEEDS = (28, 120, 300), 15
HMC_TEST_STRIDE = 4  # the sampler's comparison uses every 4th test proposal (5,000)
TREE_SIZES, TREE_SEEDS = (300, 1000, 5000), 5  # the product trained with trees only
WRONG_SIZES = (28, 120, 300)  # the product retrained under the wrong belief
TEST_ROWS, TEST_SEED = 20_000, 10_000
AUC_GOAL = {28: 0.82, 120: 0.92, 300: 0.95}  # median share of the Bayes AUC
P10_GOAL = {28: 0.75}
QUALITY = {1000: 0.971, 5000: 0.982}  # partnerscore in bench/results/quality.md
COVERAGE_GOAL = (0.85, 0.95)
WRONG = "has_action_plan"
MODELS = ("product", "today", "bayes", "bayes, directions", "dawes", "grid")


@dataclass
class Run:
    """One size and seed: AUC share of Bayes per model, interval coverage, the wrong belief."""

    size: int
    seed: int
    positives: int
    auc: dict[str, float] = field(default_factory=dict)
    chosen: str = ""  # the product's chosen candidate kind
    product_refused: bool = False  # one outcome only: the product refuses to train
    refused: bool = False
    below_chance: bool = False  # today's fitted model ranks worse than a coin
    coverage: float = float("nan")  # of the product's intervals
    width: float = float("nan")  # median width of the product's intervals
    brier: dict[str, float] = field(default_factory=dict)
    wrong_verdict: str = ""  # the product's verdict on the reversed belief
    wrong_cost: float = float("nan")  # product AUC share lost under the reversed belief
    bayes_wrong_verdict: str = ""  # the bayes model alone under the reversed belief
    trees: dict[str, float] = field(default_factory=dict)
    hmc: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class TestSet:
    """The proposals every model is scored on, with their true probabilities."""

    proposals: pd.DataFrame
    y: np.ndarray
    truth: np.ndarray
    bayes_auc: float
    bayes_brier: float


def auc(test: TestSet, score: np.ndarray) -> float:
    """ROC AUC on the test set as a share of the Bayes AUC."""
    return roc_auc(test.y, score, np.ones_like(score)) / test.bayes_auc


def brier_ratio(test: TestSet, probability: np.ndarray | None) -> float:
    """Brier score on the test set as a multiple of the Bayes Brier (nan without probabilities)."""
    if probability is None:
        return float("nan")
    return brier(test.y, probability, np.ones_like(probability)) / test.bayes_brier


def directions_only(config: Config) -> tuple[Belief, ...]:
    """The configured `monotone` directions without the category-level beliefs."""
    return tuple(b for b in config.beliefs if not b.levels)


def reversed_plan(config: Config) -> Config:
    """The shipped configuration with the action plan declared as lowering impact."""
    columns = tuple(dataclasses.replace(c, monotone=-c.monotone) if c.name == WRONG else c
                    for c in config.columns)
    return dataclasses.replace(config, columns=columns)


def with_settings(config: Config, **changes: object) -> Config:
    """The configuration with model settings changed."""
    return dataclasses.replace(config, model=dataclasses.replace(config.model, **changes))  # type: ignore[arg-type]


def product(train: pd.DataFrame, config: Config, seed: int) -> TrainingResult:
    """`train_model` as the product runs it; settings that only change metrics lowered."""
    quiet = with_settings(config, bootstrap_samples=10, backtest_periods=1, n_jobs=1)
    return train_model(train, quiet, seed=seed)


def today(train: pd.DataFrame, y: np.ndarray, X: np.ndarray, Xt: np.ndarray,
          encoder: FeatureEncoder, test: TestSet, config: Config, seed: int,
          full: bool) -> tuple[np.ndarray | None, bool]:
    """Today's procedure with the guardrail lowered: its scores (None where it cannot fit)
    and whether they are calibrated probabilities."""
    if len(y) >= 1000 and not full:
        spec = CandidateSpec("logistic", {"C": min(config.model.logistic_c)})
        model = MarginModel(spec, seed=seed).fit(X, y, np.ones_like(y), encoder.monotone_)
        return model.margin(Xt), False
    legacy = with_settings(config, candidates=("logistic", "boosted_trees"), min_positives=1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # folds with a single positive
            result = product(train, legacy, seed)
    except Exception:  # a fold without positives: logistic regression cannot be fitted
        return None, False
    return result.model.predict_proba(test.proposals), True


def dawes(X: np.ndarray, Xt: np.ndarray, encoder: FeatureEncoder) -> np.ndarray:
    """Unit weights on the declared directions: the sum of signed training z-scores."""
    columns = np.flatnonzero(encoder.monotone_)
    mean, sd = X[:, columns].mean(axis=0), X[:, columns].std(axis=0)
    sd[sd == 0] = np.inf
    return ((Xt[:, columns] - mean) / sd) @ encoder.monotone_[columns].astype(float)


def bayes(beliefs: tuple[Belief, ...], encoder: FeatureEncoder, X: np.ndarray,
          y: np.ndarray) -> BayesianLogistic:
    """The Bayesian model fitted under the given beliefs."""
    return BayesianLogistic(build_prior(beliefs, encoder, X, y)).fit(X, y)


def verdict_on(result: TrainingResult, feature: str) -> str:
    """The product's verdict on a feature's belief."""
    return next(b.verdict for b in result.beliefs if b.feature == feature)


def score_product(run: Run, result: TrainingResult, test: TestSet) -> None:
    """The product's AUC, Brier, chosen kind and interval coverage on the test set."""
    p = result.model.predict_proba(test.proposals)
    interval = result.model.probability_interval(test.proposals)
    assert interval is not None and np.all(interval[0] <= p) and np.all(p <= interval[1])
    run.auc["product"], run.brier["product"] = auc(test, p), brier_ratio(test, p)
    run.chosen = result.chosen.kind
    run.coverage = _covered(test.truth, *interval)
    run.width = float(np.median(interval[1] - interval[0]))


def tree_intervals(train: pd.DataFrame, test: TestSet, config: Config, seed: int) -> dict[str, float]:
    """The product trained with boosted trees only: AUC share, coverage, width and scale."""
    trees = with_settings(config, candidates=("boosted_trees",), comfortable_positives=1)
    model = product(train, trees, seed).model
    p, interval = model.predict_proba(test.proposals), model.probability_interval(test.proposals)
    assert interval is not None
    return {"auc": auc(test, p), "coverage": _covered(test.truth, *interval),
            "width": float(np.median(interval[1] - interval[0])), "scale": model.interval_scale}


def run_one(size: int, seed: int, periods: int, test: TestSet, config: Config, *,
            full: bool, hmc: bool) -> Run:
    """Every model on one simulated history, scored on the test set."""
    history, _ = simulated(size, seed, periods)
    train = validated(history, config)
    y = train["real_impact"].to_numpy(float)
    encoder = FeatureEncoder(config.features,
                             rare_level_min_count=config.model.rare_level_min_count).fit(train)
    X, Xt = encoder.transform(train), encoder.transform(test.proposals)
    run = Run(size, seed, int(y.sum()))
    try:
        score_product(run, product(train, config, seed), test)
    except TrainingRefused:  # a month without a single proposal with real impact
        run.auc["product"], run.product_refused = 0.5 / test.bayes_auc, True
    plain, calibrated = today(train, y, X, Xt, encoder, test, config, seed, full)
    run.refused = plain is None
    run.auc["today"] = 0.5 / test.bayes_auc if plain is None else auc(test, plain)
    run.below_chance = run.auc["today"] * test.bayes_auc < 0.5
    run.brier["today"] = brier_ratio(test, plain if calibrated else None)
    model = bayes(config.beliefs, encoder, X, y)
    run.auc["bayes"], run.brier["bayes"] = auc(test, model.margin(Xt)), brier_ratio(
        test, model.predict_proba(Xt))
    run.auc["bayes, directions"] = auc(test, bayes(directions_only(config), encoder, X, y).margin(Xt))
    run.auc["dawes"] = auc(test, dawes(X, Xt, encoder))
    run.auc["grid"] = auc(test, grid_points(test.proposals))
    wrong_config = reversed_plan(config)
    run.bayes_wrong_verdict = next(c.verdict for c in bayes(wrong_config.beliefs, encoder, X, y)
                                   .belief_checks() if c.name == WRONG)
    if size in WRONG_SIZES and not run.product_refused:
        wrong = product(train, wrong_config, seed)
        run.wrong_verdict = verdict_on(wrong, WRONG)
        run.wrong_cost = run.auc["product"] - auc(test, wrong.model.predict_proba(test.proposals))
    if size in TREE_SIZES and seed <= TREE_SEEDS and not run.product_refused:
        run.trees = tree_intervals(train, test, config, seed)
    if hmc:
        run.hmc = compare_with_hmc(model, encoder, X, y, Xt, test, seed)
    return run


def _covered(truth: np.ndarray, low: np.ndarray, high: np.ndarray) -> float:
    return float(np.mean((truth >= low) & (truth <= high)))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(np.exp(-np.logaddexp(0.0, -x)))


def hmc_draws(model: BayesianLogistic, X: np.ndarray, y: np.ndarray, seed: int, *,
              draws: int = 400, warmup: int = 100, steps: int = 8,
              step: float = 0.35) -> tuple[np.ndarray, float]:
    """Exact posterior draws of the standardised parameters by Hamiltonian Monte Carlo.

    The sampler works in whitened coordinates (mode + Cholesky of the Laplace
    covariance), where the posterior is close to a standard normal; the Metropolis
    correction makes the draws exact whatever the Laplace approximation misses.
    Returns the draws (draws, p + 1) and the acceptance rate.
    """
    prior = model.prior
    Z = np.column_stack([np.ones(len(X)), (X - prior.center) / prior.unit])
    mean = np.r_[prior.intercept_mean, prior.mean]
    precision = 1.0 / np.r_[prior.intercept_scale, prior.scale] ** 2
    chol = np.linalg.cholesky(model.std_covariance_)
    mode = model.theta_

    def energy(u: np.ndarray) -> tuple[float, np.ndarray]:
        theta = mode + chol @ u
        eta = Z @ theta
        value = float(np.sum(np.logaddexp(0.0, eta) - y * eta)
                      + 0.5 * precision @ (theta - mean) ** 2)
        gradient = Z.T @ (_sigmoid(eta) - y) + precision * (theta - mean)
        return value, chol.T @ gradient

    rng = np.random.default_rng(seed)
    u = np.zeros(len(mode))
    current, grad = energy(u)
    kept, accepted = [], 0
    for i in range(warmup + draws):
        u, current, grad, moved = _hmc_step(u, current, grad, energy, rng,
                                            steps, step * rng.uniform(0.8, 1.2))
        if i >= warmup:
            kept.append(mode + chol @ u)
            accepted += moved
    return np.array(kept), accepted / draws


def _hmc_step(u: np.ndarray, current: float, grad: np.ndarray,
              energy: Callable[[np.ndarray], tuple[float, np.ndarray]],
              rng: np.random.Generator, steps: int,
              step: float) -> tuple[np.ndarray, float, np.ndarray, bool]:
    """One leapfrog trajectory and its Metropolis accept/reject."""
    momentum = rng.standard_normal(len(u))
    start = current + 0.5 * momentum @ momentum
    new_u, new_grad, m = u.copy(), grad.copy(), momentum - 0.5 * step * grad
    for k in range(steps):
        new_u = new_u + step * m
        value, new_grad = energy(new_u)
        m = m - (step if k < steps - 1 else 0.5 * step) * new_grad
    if np.log(rng.random()) < start - (value + 0.5 * m @ m):
        return new_u, value, new_grad, True
    return u, current, grad, False


def compare_with_hmc(model: BayesianLogistic, encoder: FeatureEncoder, X: np.ndarray,
                     y: np.ndarray, Xt: np.ndarray, test: TestSet, seed: int) -> dict[str, float]:
    """AUC, interval coverage and fit time: Laplace (mode) against the exact posterior."""
    Xt, test = Xt[::HMC_TEST_STRIDE], TestSet(test.proposals.iloc[::HMC_TEST_STRIDE],
                                              test.y[::HMC_TEST_STRIDE],
                                              test.truth[::HMC_TEST_STRIDE], test.bayes_auc,
                                              test.bayes_brier)
    started = time.perf_counter()
    BayesianLogistic(model.prior).fit(X, y)
    laplace_seconds = time.perf_counter() - started
    started = time.perf_counter()
    draws, acceptance = hmc_draws(model, X, y, seed)
    hmc_seconds = time.perf_counter() - started
    eta = np.column_stack([np.ones(len(Xt)), (Xt - model.prior.center) / model.prior.unit]) @ draws.T
    rng = np.random.default_rng(seed)
    noisy = eta + MODEL_ERROR_SD * rng.standard_normal(eta.shape)
    q = (1 - model.level) / 2
    laplace_low, _, laplace_high = _posterior_only(model, Xt)
    return {
        "laplace_auc": auc(test, model.margin(Xt)),
        "hmc_auc": auc(test, _sigmoid(eta).mean(axis=1)),
        "laplace_cover": _covered(test.truth, laplace_low, laplace_high),
        "hmc_cover": _covered(test.truth, *_sigmoid(np.quantile(eta, [q, 1 - q], axis=1))),
        "laplace_cover_error": _covered(test.truth, *model.probability_interval(Xt)[::2]),
        "hmc_cover_error": _covered(test.truth, *_sigmoid(np.quantile(noisy, [q, 1 - q], axis=1))),
        "laplace_ms": 1000 * laplace_seconds, "hmc_ms": 1000 * hmc_seconds,
        "acceptance": acceptance,
    }


def _posterior_only(model: BayesianLogistic, Xt: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Laplace interval without the model-error term."""
    margin, half = model.margin(Xt), z_value(model.level) * model.margin_sd(Xt)
    return _sigmoid(margin - half), _sigmoid(margin), _sigmoid(margin + half)


def _stats(values: list[float]) -> str:
    return f"{np.median(values):.3f} / {np.quantile(values, 0.1):.3f}"


def _kinds(group: list[Run]) -> str:
    counts: dict[str, int] = {}
    for run in group:
        kind = "refused" if run.product_refused else run.chosen
        counts[kind] = counts.get(kind, 0) + 1
    return ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items()))


def auc_rows(runs: list[Run]) -> list[list[str]]:
    """Per size: positives, median / p10 AUC share of every model, the product's goal and
    whether it is met (from 1,000 rows: no worse than quality.md nor than today)."""
    rows = []
    for size in sorted({r.size for r in runs}):
        group = [r for r in runs if r.size == size]
        shares = {m: [r.auc[m] for r in group] for m in MODELS}
        median, p10 = np.median(shares["product"]), np.quantile(shares["product"], 0.1)
        goal = AUC_GOAL.get(size, QUALITY.get(size))
        met = median >= goal - 1e-9 if goal else True
        met &= p10 >= P10_GOAL.get(size, 0.0)
        if size in QUALITY:
            met &= median >= np.median(shares["today"]) - 1e-9
        goal_text = (f"≥{goal}" if goal else "-") + (f", p10 ≥{P10_GOAL[size]}" if size in P10_GOAL else "")
        rows.append([str(size), str(len(group)), f"{np.median([r.positives for r in group]):.0f}",
                     _stats(shares["product"]), _kinds(group),
                     f"{_stats(shares['today'])} ({sum(r.refused for r in group)}, "
                     f"{sum(r.below_chance for r in group)})",
                     *(_stats(shares[m]) for m in MODELS[2:]), goal_text, "yes" if met else "no"])
    return rows


def interval_rows(runs: list[Run]) -> list[list[str]]:
    """Per size: Brier, coverage of the product's 90% intervals, the wrong belief's verdicts
    (through the product) and its AUC cost."""
    rows = []
    for size in sorted({r.size for r in runs}):
        group = [r for r in runs if r.size == size]
        coverage = [r.coverage for r in group if not r.product_refused]
        briers = [f"{np.nanmedian(v):.3f}" if np.isfinite(v).any() else "-"
                  for v in ([r.brier.get(m, np.nan) for r in group]
                            for m in ("product", "today", "bayes"))]
        bayes_wrong = np.mean([r.bayes_wrong_verdict == "contradicted" for r in group])
        wrong = [r for r in group if r.wrong_verdict]
        if wrong:
            costs = [r.wrong_cost for r in wrong]
            verdicts = [f"{np.mean([r.wrong_verdict == v for r in wrong]):.0%}"
                        for v in ("contradicted", "uncertain")]
            cost = f"{np.median(costs):+.4f} / {np.quantile(costs, 0.9):+.4f}"
        else:
            verdicts, cost = ["-", "-"], "-"
        rows.append([str(size), " / ".join(briers), _stats(coverage),
                     _coverage_verdict(size, float(np.median(coverage))),
                     f"{np.nanmedian([r.width for r in group]):.3f}", *verdicts, cost,
                     f"{bayes_wrong:.0%}"])
    return rows


def _coverage_verdict(size: int, coverage: float) -> str:
    inside = "yes" if COVERAGE_GOAL[0] <= coverage <= COVERAGE_GOAL[1] else "no"
    return inside if size in AUC_GOAL else f"{inside} (no goal)"


def tree_rows(runs: list[Run]) -> list[list[str]]:
    """Per size: the product with trees only, its AUC share and the coverage of its intervals."""
    rows = []
    for size in sorted({r.size for r in runs if r.trees}):
        group = [r.trees for r in runs if r.size == size and r.trees]
        product_share = np.median([r.auc["product"] for r in runs if r.size == size and r.trees])
        rows.append([str(size), str(len(group)), f"{np.median([g['auc'] for g in group]):.3f}",
                     f"{product_share:.3f}",
                     f"{np.median([g['coverage'] for g in group]):.3f} / "
                     f"{np.min([g['coverage'] for g in group]):.3f}",
                     f"{np.median([g['width'] for g in group]):.3f}",
                     f"{np.median([g['scale'] for g in group]):.2f}"])
    return rows


def hmc_rows(runs: list[Run]) -> list[list[str]]:
    """Per size: the Laplace approximation against the exact posterior (medians over seeds)."""
    rows = []
    for size in sorted({r.size for r in runs if r.hmc}):
        group = [r.hmc for r in runs if r.size == size and r.hmc]

        def pair(name: str, digits: int = 3, group: list[dict[str, float]] = group) -> str:
            return (f"{np.median([g['laplace_' + name] for g in group]):.{digits}f} / "
                    f"{np.median([g['hmc_' + name] for g in group]):.{digits}f}")

        rows.append([str(size), str(len(group)), pair("auc"), pair("cover"), pair("cover_error"),
                     pair("ms", 1), f"{np.median([g['acceptance'] for g in group]):.2f}"])
    return rows


AUC_HEADER = ["rows", "seeds", "positives", "product", "product chose", "today (refused, below chance)",
              "bayes", "bayes, directions", "dawes", "grid", "product goal", "met"]
INTERVAL_HEADER = ["rows", "Brier ÷ Bayes: product / today / bayes",
                   "coverage of the product's 90% intervals", "in 85-95%", "median width",
                   f"{WRONG} reversed, product: contradicted", "uncertain",
                   "AUC cost median / p90", "bayes alone: contradicted"]
TREE_HEADER = ["rows", "seeds", "trees AUC ÷ Bayes", "product AUC ÷ Bayes",
               "coverage of the trees' 90% intervals, median / min", "median width",
               "interval scale"]
HMC_HEADER = ["rows", "seeds", "AUC Laplace / HMC", "coverage, posterior only",
              "coverage, with model error", "fit ms", "HMC acceptance"]


def report(runs: list[Run], test: TestSet, command: str, seconds: float) -> str:
    """The figures as markdown: AUC table, intervals and wrong belief, trees, HMC."""
    return "\n\n".join([
        "# Cold start: beliefs as a prior", f"Command: `{command}`",
        f"Test set: {TEST_ROWS:,} proposals (simulator seed {TEST_SEED}), Bayes AUC "
        f"{test.bayes_auc:.4f}. 28 rows are one trial period; larger histories span 12 periods. "
        f"Figures are median / 10th percentile over seeds of the AUC as a share of the Bayes "
        f"AUC. Whole benchmark: {seconds / 60:.1f} min on {os.cpu_count()} cores.",
        markdown_table(AUC_HEADER, auc_rows(runs)),
        "*product*: `train_model` with the shipped configuration (a month without a single "
        "proposal with real impact is refused and counts as chance, 0.5 AUC); *today*: seeds "
        "where it cannot fit count as chance; *below chance*: fitted models that rank worse "
        "than a coin; from 1,000 rows without `--full`, the logistic candidate (C = 0.03) that "
        "today's search chooses there. Goals from 1,000 rows: no worse than partnerscore in "
        f"bench/results/quality.md ({QUALITY[1000]} and {QUALITY[5000]}) nor than today.",
        "Calibration (median Brier score as a multiple of the Bayes Brier; today's where it "
        "fitted and calibrated), the product's intervals, and a wrong belief (the action plan "
        "declared as lowering impact: the product retrained under it, its verdict and the AUC "
        "it costs; the bayes model alone at every size):",
        markdown_table(INTERVAL_HEADER, interval_rows(runs)),
        "Boosted trees' intervals (the product with `candidates: [boosted_trees]`, both tree "
        "settings compared whatever the number of positives; interval scale: the trees' "
        "bootstrap spread over the linear posterior's, model/intervals.py):",
        markdown_table(TREE_HEADER, tree_rows(runs)),
        "The Laplace approximation against the exact posterior (Hamiltonian Monte Carlo, "
        "400 draws after 100 warm-up; posterior-mean probability for its AUC; every 4th test "
        f"proposal; coverage with model error adds the same N(0, {MODEL_ERROR_SD}²) log-odds term "
        "to both):",
        markdown_table(HMC_HEADER, hmc_rows(runs)),
    ]) + "\n"


def load_test(config: Config) -> TestSet:
    """The validated test proposals and their true probabilities."""
    history, truth = simulated(TEST_ROWS, TEST_SEED, 1)
    proposals = validated(history, config)
    y = proposals["real_impact"].to_numpy(float)
    ones = np.ones_like(truth)
    return TestSet(proposals, y, truth, roc_auc(y, truth, ones), brier(y, truth, ones))


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark, print the tables and write them (full runs) to the results file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 seeds, 28, 120 and 300 rows")
    parser.add_argument("--full", action="store_true",
                        help="train_model's whole candidate search from 1,000 rows too")
    parser.add_argument("--output", type=Path,
                        help=f"results file (default for full runs: {RESULTS.relative_to(ROOT)})")
    args = parser.parse_args(argv)
    output = args.output or (None if args.quick else RESULTS)
    config = load_config()
    started = time.perf_counter()
    test = load_test(config)
    runs = []
    for size, (periods, seeds) in (QUICK_SIZES if args.quick else SIZES).items():
        for seed in range(1, seeds + 1):
            runs.append(run_one(size, seed, periods, test, config, full=args.full,
                                hmc=size in HMC_SIZES and seed <= HMC_SEEDS))
        print(f"done: {size} rows, {seeds} seeds", file=sys.stderr, flush=True)
    command = " ".join(["OMP_NUM_THREADS=1 .venv/bin/python bench/cold_start.py",
                        *(argv if argv is not None else sys.argv[1:])]).strip()
    text = report(runs, test, command, time.perf_counter() - started)
    publish(text, output)


if __name__ == "__main__":
    main()
