"""Pair terms in the bayes model: planted segments, quality, and the cost where no pair matters.

For each seed and size the simulator draws a history twice from the same proposals:
with its planted pairs (model/simulate.py `SURPRISE_PAIRS`) and without them
(`surprises=False`), so only the outcomes differ. Each goes through the contract as
the CLI reads it (bench/quality.py `validated`) and is learned side by side: with the
configuration's watched pairs (`interactions:`), without any, and (bayes) with the
planted cells marked (below). Every model is scored on a 20,000-proposal test set of the
same kind (planted or not; simulator seed 10000, as in bench/quality.py and
bench/cold_start.py) against the Bayes limit (the true probabilities on that set):

- bayes: the bayes_logistic procedure alone (`model.selection.fit_final`, the body of
  `fit_procedure`, with `BAYES_SPEC`), every size and seed;
- product: `train_model` (cross-validated choice between bayes_logistic and boosted
  trees) with the settings bench/cold_start.py lowers because they change reported
  metrics, not the model; planted histories at 1,000 and 5,000 rows, fewer seeds.

Segment calibration: in each planted cell (sector x type) of the planted test set, the
mean predicted probability over the mean true probability. The pair cells each training
reports as clear (interval excluding zero, as `partnerscore train` lists them) are
counted: planted ones, and others, where nothing is planted. "No loss" allows a median
paired difference (with pairs minus without) of `TOLERANCE` in AUC or Brier, both in
units of the Bayes figures.

*marked*: the bayes procedure with the cells a team suspects marked, as README says a
team can today: each planted cell gets a yes/no column of its own in the history and the
test set, declared with `monotone: increasing` and `belief: {strength: weak}`, beside the
watched pairs. On planted histories it is a team whose suspicion is right; the gap
between it and the pooled pair terms alone is what searching some 250 cells for the few
that matter costs. On histories with nothing planted it is a team whose suspicion is
wrong: what that costs.

`--cells common` plants the same effects in common cells (bench/surprises.py
`COMMON_CELLS`) and writes pairs_common.md.

    OMP_NUM_THREADS=1 .venv/bin/python bench/pairs.py            # full run, writes results
    OMP_NUM_THREADS=1 .venv/bin/python bench/pairs.py --quick    # 3 seeds, product 1 seed
    OMP_NUM_THREADS=1 .venv/bin/python bench/pairs.py --cells common
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from cold_start import TestSet, auc, brier_ratio, product
from quality import TEST_ROWS, TEST_SEED, markdown_table, scores, simulated, validated
from results_file import publish
from surprises import PAIR, cell_mask, cells_option, plant

from model.config import Config, parse_config
from model.scorer import BAYES, ScoringModel
from model.selection import BAYES_SPEC, fit_final, prepare
from model.simulate import SURPRISE_PAIRS
from model.verdicts import BeliefCheck, LearnedPair
from pipelines.settings import default_config_text, load_config

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "pairs.md"
COMMON_RESULTS = ROOT / "bench" / "results" / "pairs_common.md"
PERIODS = 12
# Seeds per size (1 to n; 1-40 at 300 rows are bench/cold_start.py's). Fewer at 5,000
# rows and for the product, whose fits take longest, to keep the run near 25 minutes.
SEEDS, QUICK_SEEDS = {300: 40, 1000: 40, 5000: 30}, {300: 3, 1000: 3, 5000: 3}
PRODUCT_SEEDS, QUICK_PRODUCT_SEEDS = {1000: 10, 5000: 5}, {1000: 1}
AUC_GOAL, BRIER_GOAL = {1000: 0.975, 5000: 0.99}, {5000: 1.03}
SEGMENT_GOAL, SEGMENT_SIZE = 0.25, 5000
TOLERANCE = 0.001
# bench/results/cold_start.md, bayes column at 300 rows: seeds 1-40, the same test set
# and histories, measured before the model had pair terms (AUC and Brier over Bayes).
COLD_START_300 = (0.959, 1.094)
VARIANTS = ("pairs", "none")
MARKED = "marked"  # the suspected cells marked by yes/no columns with a belief (bayes)
MARKED_BELIEF = {"strength": "weak"}
NAMES = {"auc": "AUC", "brier": "Brier"}
# The scoring model, the kind of candidate chosen, the pair cells the training reports and
# the verdict on each belief about a marking column (in SURPRISE_PAIRS order; empty without).
Fitted = tuple[ScoringModel, str, Callable[[], list[LearnedPair]], Callable[[], tuple[str, ...]]]


@dataclass(frozen=True)
class Fit:
    """One model learned on one history, scored on the test set of the same kind."""

    model: str  # "bayes" or "product"
    size: int
    seed: int
    planted: bool  # the history (and its test set) holds the planted pairs
    variant: str  # "pairs" (the configured interactions), "none" or "marked"
    auc: float  # share of the Bayes AUC
    brier: float  # multiple of the Bayes Brier
    seconds: float  # fit (bayes) or train_model (product)
    score_seconds: float  # predicting the 20,000 test proposals
    segments: tuple[float, ...]  # per planted cell: mean predicted / mean true probability
    cell_rows: tuple[int, ...]  # per planted cell: training rows
    own_outcomes: tuple[float, ...]  # per planted cell: training rate / true mean (noise)
    chosen: str  # the kind of candidate trained
    clear_planted: int  # planted cells among the pairs the training reports as clear
    clear_elsewhere: int  # other cells reported as clear (nothing is planted there)
    verdicts: tuple[str, ...] = ()  # marked: the verdict on each marking column's belief


def without_pairs(config: Config) -> Config:
    """The configuration with no watched pair: the model learns no cell term."""
    return dataclasses.replace(config, surprises=dataclasses.replace(config.surprises, pairs=()))


def marked_column(index: int) -> str:
    """The yes/no column marking the planted cell at `index` of SURPRISE_PAIRS."""
    return f"suspected_cell_{index + 1}"


def marked_config() -> Config:
    """The shipped configuration, watched pairs included, with one yes/no feature per planted
    cell believed to raise impact (`MARKED_BELIEF`), as a team that suspects them writes it."""
    spec = yaml.safe_load(default_config_text())
    for i, values in enumerate(SURPRISE_PAIRS):
        spec["columns"][marked_column(i)] = {
            "type": "boolean", "required": True, "feature": True, "label": " × ".join(values),
            "monotone": "increasing", "belief": dict(MARKED_BELIEF)}
    return parse_config(spec, digest=MARKED)


def with_marks(history: pd.DataFrame) -> pd.DataFrame:
    """The history with the marking columns: whether each proposal is in a planted cell."""
    history = history.copy()
    for i, values in enumerate(SURPRISE_PAIRS):
        history[marked_column(i)] = np.where(cell_mask(history, PAIR, values), "true", "false")
    return history


def load_test(config: Config, planted: bool, *, marked: bool = False) -> TestSet:
    """The validated test proposals (planted pairs or none) and their true probabilities;
    `marked`: with the marking columns, read with their configuration."""
    history, truth = simulated(TEST_ROWS, TEST_SEED, 1, surprises=planted)
    proposals = validated(with_marks(history) if marked else history, config)
    y = proposals["real_impact"].to_numpy(float)
    return TestSet(proposals, y, truth, *scores(y, truth))


def training_cells(train: pd.DataFrame, truth: np.ndarray) -> tuple[tuple[int, ...],
                                                                    tuple[float, ...]]:
    """Per planted cell of a history: its rows, and its rate of real impact over its mean
    true probability (how far its own outcomes stray from the truth; nan when empty)."""
    masks = [cell_mask(train, PAIR, values) for values in SURPRISE_PAIRS]
    y = train["real_impact"].to_numpy(float)
    return (tuple(int(m.sum()) for m in masks),
            tuple(float(y[m].mean() / truth[m].mean()) if m.any() else float("nan")
                  for m in masks))


def segment_ratios(test: TestSet, p: np.ndarray) -> tuple[float, ...]:
    """Mean predicted over mean true probability in each planted cell of the test set."""
    masks = [cell_mask(test.proposals, PAIR, values) for values in SURPRISE_PAIRS]
    return tuple(float(p[m].mean() / test.truth[m].mean()) for m in masks)


def learner(model: str, train: pd.DataFrame, config: Config,
            seed: int) -> Callable[[Config], Fitted]:
    """Fits the bayes procedure alone, or the whole product, on validated proposals."""
    data = prepare(train, config)

    def alone(variant: Config) -> Fitted:
        scoring, estimator, _ = fit_final(BAYES_SPEC, data, variant, seed)
        return scoring, BAYES, lambda: estimator.posterior_.pair_effects(
            scoring.encoder.transform(data.proposals), data.y, weights=data.weights), \
            lambda: marking_verdicts(estimator.posterior_.belief_checks())

    def whole(variant: Config) -> Fitted:
        result = product(train, variant, seed)
        return result.model, result.chosen.kind, lambda: result.pairs, \
            lambda: marking_verdicts(result.beliefs)
    return alone if model == "bayes" else whole


def marking_verdicts(checks: list[BeliefCheck]) -> tuple[str, ...]:
    """The verdict on each marking column's belief, in SURPRISE_PAIRS order (empty without)."""
    by_feature = {check.feature: check.verdict for check in checks}
    return tuple(by_feature[marked_column(i)] for i in range(len(SURPRISE_PAIRS))
                 if marked_column(i) in by_feature)


def clear_cells(cells: list[LearnedPair]) -> tuple[int, int]:
    """Cells reported as clear: (planted ones, others)."""
    clear = [c for c in cells if c.clear]
    planted = sum(c.features == PAIR and c.values in SURPRISE_PAIRS for c in clear)
    return planted, len(clear) - planted


def fit_both(model: str, size: int, seed: int, planted: bool, test: TestSet,
             configs: dict[str, Config],
             marking: tuple[Config, dict[bool, TestSet]] | None = None) -> list[Fit]:
    """One model learned on one history with and without pair terms, scored on the test set;
    with `marking` (its configuration and test sets), the bayes procedure with the planted
    cells marked too."""
    history, truth = simulated(size, seed, PERIODS, surprises=planted)
    train = validated(history, configs["pairs"])
    fit = learner(model, train, configs["pairs"], seed)
    runs = [(variant, train, fit, config, test) for variant, config in configs.items()]
    if marking and model == "bayes":
        config, marked_tests = marking
        marked = validated(with_marks(history), config)
        runs.append((MARKED, marked, learner(model, marked, config, seed), config,
                     marked_tests[planted]))
    fits = []
    for variant, frame, fit, config, scored in runs:
        started = time.perf_counter()
        scoring, chosen, cells, verdicts = fit(config)
        seconds = time.perf_counter() - started
        p = scoring.predict_proba(scored.proposals)
        fits.append(Fit(model, size, seed, planted, variant, auc(scored, p),
                        brier_ratio(scored, p), seconds, time.perf_counter() - started - seconds,
                        segment_ratios(scored, p), *training_cells(frame, truth), chosen,
                        *clear_cells(cells()), verdicts()))
    show(fits)
    return fits


def show(fits: list[Fit]) -> None:
    """Print one history's figures as they come."""
    a, b, *marked = fits
    cells = " ".join(f"{x - 1:+.0%}/{y - 1:+.0%}" for x, y in zip(a.segments, b.segments,
                                                                  strict=True))
    told = "".join(f" marked AUC {k.auc:.3f} Brier {k.brier:.3f} segments "
                   + " ".join(f"{x - 1:+.0%}" for x in k.segments) for k in marked)
    print(f"{a.model:7} {a.size:5} seed {a.seed:2} {'planted' if a.planted else 'quiet  '} "
          f"AUC {a.auc:.3f}/{b.auc:.3f} Brier {a.brier:.3f}/{b.brier:.3f} "
          f"fit {a.seconds:.2f}/{b.seconds:.2f} s segments {cells} clear cells planted "
          f"{a.clear_planted} elsewhere {a.clear_elsewhere} "
          f"chose {a.chosen}/{b.chosen} (with/without pairs){told}", flush=True)


def median(values: list[float]) -> float:
    """The median, nan when empty."""
    return float(np.median(values)) if values else float("nan")


def pick(fits: list[Fit], **where: object) -> list[Fit]:
    """The fits matching every given field."""
    return [f for f in fits if all(getattr(f, k) == v for k, v in where.items())]


def both(fits: list[Fit], value: Callable[[list[Fit]], float], spec: str,
         variants: tuple[str, ...] = VARIANTS) -> str:
    """A figure for each variant, with pairs and without by default, as `with / without`."""
    return " / ".join(format(value(pick(fits, variant=v)), spec) for v in variants)


def differences(fits: list[Fit], metric: str, variant: str = "pairs",
                against: str = "none") -> list[float]:
    """Per seed: the metric of `variant` minus `against` (same history), by default with
    pairs minus without."""
    by_seed = {(f.seed, f.variant): getattr(f, metric) for f in fits}
    return [by_seed[s, variant] - by_seed[s, against] for s in sorted({f.seed for f in fits})]


def paired(fits: list[Fit], metric: str) -> float:
    """The median over seeds of the metric with pairs minus without."""
    return median(differences(fits, metric))


def groups(fits: list[Fit]) -> list[tuple[str, int, bool, list[Fit]]]:
    """Every (model, size, history) measured with its fits, in report order."""
    keys = sorted({(f.model, f.size, f.planted) for f in fits},
                  key=lambda k: (k[0] != "bayes", not k[2], k[1]))
    return [(m, s, p, pick(fits, model=m, size=s, planted=p)) for m, s, p in keys]


def of(metric: str, reduce: Callable[[list[float]], float] = median) -> Callable[[list[Fit]], float]:
    """A function reducing one field of a list of fits."""
    return lambda fits: reduce([getattr(f, metric) for f in fits])


def goal(fits: list[Fit], metric: str, size: int,
         variant: str = "pairs") -> tuple[float, float | None, bool]:
    """The median metric of a variant (with pairs by default), its goal at this size (None:
    no goal) and whether met."""
    value = of(metric)(pick(fits, variant=variant))
    target = (AUC_GOAL if metric == "auc" else BRIER_GOAL).get(size)
    return value, target, target is not None and (
        value >= target if metric == "auc" else value <= target)


def no_loss(fits: list[Fit]) -> bool:
    """Whether pairs cost at most TOLERANCE in median paired AUC and Brier."""
    return paired(fits, "auc") >= -TOLERANCE and paired(fits, "brier") <= TOLERANCE


def quality_rows(fits: list[Fit]) -> list[list[str]]:
    """Per model, size and history: AUC and Brier over Bayes, paired differences, goals."""
    rows = []
    for model, size, planted, group in groups(fits):
        goals = [goal(group, m, size) for m in ("auc", "brier")]
        d_auc, d_brier, paired_fits = (differences(group, "auc"), differences(group, "brier"),
                                       pick(group, variant="pairs"))
        rows.append([
            model, str(size), "planted" if planted else "none", str(len(d_auc)),
            both(group, of("auc"), ".3f"), both(group, of("auc", lambda v: np.percentile(v, 10)),
                                                ".3f"),
            both(group, of("brier"), ".3f"),
            f"{median(d_auc):+.4f} / {np.mean(d_auc):+.4f} / {min(d_auc):+.4f}",
            f"{median(d_brier):+.4f} / {np.mean(d_brier):+.4f} / {max(d_brier):+.4f}",
            f"{np.mean([d >= 0 for d in d_auc]):.0%}",
            f"{of('clear_planted', np.mean)(paired_fits):.2f} / "
            f"{np.mean([f.clear_elsewhere > 0 for f in paired_fits]):.0%}",
            " / ".join("-" if g is None else f"{'yes' if met else 'NO'} ({g})"
                       for _, g, met in goals),
            "yes" if no_loss(group) else "NO", both(group, of("seconds"), ".2f"),
            both(group, of("score_seconds"), ".2f"),
            " / ".join(_chosen(pick(group, variant=v)) for v in VARIANTS)])
    return rows


def _chosen(fits: list[Fit]) -> str:
    kinds = [f.chosen.replace("_logistic", "").replace("boosted_", "") for f in fits]
    return ", ".join(f"{k} {kinds.count(k)}" for k in sorted(set(kinds)))


QUALITY_HEADER = ["model", "rows", "planted pairs", "seeds", "AUC ÷ Bayes, with / without pairs",
                  "p10", "Brier ÷ Bayes", "ΔAUC (with − without): median / mean / worst",
                  "ΔBrier: median / mean / worst", "seeds with AUC ≥ without",
                  "clear cells: planted per history / histories with one elsewhere",
                  "goal with pairs: AUC / Brier", "no loss",
                  "fit s", "score 20,000 s", "chosen"]


def segment_errors(fits: list[Fit], cell: int) -> list[float]:
    """Per fit: |mean predicted / mean true - 1| in one planted cell."""
    return [abs(f.segments[cell] - 1) for f in fits]


def per_cell(cell: int, figure: str) -> Callable[[list[Fit]], float]:
    """One planted cell's median error, median ratio or share of fits within the goal."""
    def value(fits: list[Fit]) -> float:
        if figure == "ratio":
            return median([f.segments[cell] for f in fits])
        if figure == "own":
            return float(np.nanmedian([abs(f.own_outcomes[cell] - 1) for f in fits]))
        errors = segment_errors(fits, cell)
        return median(errors) if figure == "error" else float(np.mean(
            [e <= SEGMENT_GOAL for e in errors]))
    return value


CELL_FIGURES = (("error", ".0%"), ("ratio", ".2f"), ("within", ".0%"))


def segment_rows(fits: list[Fit], test: TestSet) -> list[list[str]]:
    """Per model, size and planted cell: the error of the segment's mean probability."""
    rows = []
    for model, size, planted, group in groups(fits):
        for i, values in enumerate(SURPRISE_PAIRS):
            rows.append([
                model, str(size), "planted" if planted else "none", " × ".join(values),
                f"{median([f.cell_rows[i] for f in group]):.0f}",
                f"{per_cell(i, 'own')(pick(group, variant='pairs')):.0%}",
                str(int(cell_mask(test.proposals, PAIR, values).sum())),
                *(both(group, per_cell(i, figure), spec) for figure, spec in CELL_FIGURES)])
    return rows


SEGMENT_HEADER = ["model", "rows", "planted pairs", "cell", "training rows",
                  "its outcomes: median |rate ÷ true − 1|", "test rows",
                  "median |predicted ÷ true − 1|, with / without pairs",
                  "median predicted ÷ true", f"seeds within {SEGMENT_GOAL:.0%}"]


def _segment_verdict(fits: list[Fit], model: str) -> str:
    group = pick(fits, model=model, size=SEGMENT_SIZE, planted=True, variant="pairs")
    if not group:
        return f"{model}: not measured"
    errors = [median(segment_errors(group, i)) for i in range(len(SURPRISE_PAIRS))]
    met = "met" if all(e <= SEGMENT_GOAL for e in errors) else "NOT met"
    return f"{model}: {met} ({' / '.join(f'{e:.0%}' for e in errors)}, {len(group)} seeds)"


def _quality_verdict(fits: list[Fit], model: str) -> str:
    parts = [f"{NAMES[metric]} at {size} {value:.4f} ({'met' if met else 'NOT met'}, goal {target})"
             for size in (1000, 5000) for metric in ("auc", "brier")
             if (group := pick(fits, model=model, size=size, planted=True))
             for value, target, met in [goal(group, metric, size)] if target is not None]
    return f"{model}: " + ("; ".join(parts) or "not measured")


def _loss_verdict(fits: list[Fit], model: str, size: int, planted: bool) -> str:
    group = pick(fits, model=model, size=size, planted=planted)
    return (f"{model} at {size}: {'met' if no_loss(group) else 'NOT met'} (ΔAUC "
            f"{paired(group, 'auc'):+.4f}, ΔBrier {paired(group, 'brier'):+.4f})")


def _cold_start_verdict(fits: list[Fit]) -> str:
    small = pick(fits, model="bayes", size=300, planted=True)
    (auc_300, auc_none), (brier_300, brier_none) = (
        [of(metric)(pick(small, variant=v)) for v in VARIANTS] for metric in ("auc", "brier"))
    met = auc_300 >= COLD_START_300[0] - TOLERANCE and brier_300 <= COLD_START_300[1] + TOLERANCE
    return (f"against bench/results/cold_start.md (bayes {COLD_START_300[0]} / Brier "
            f"{COLD_START_300[1]}): {'met' if met else 'NOT met'} ({auc_300:.3f} / "
            f"{brier_300:.3f}; without pairs {auc_none:.3f} / {brier_none:.3f})")


def verdicts(fits: list[Fit]) -> str:
    """Each goal, met or not, with its figures."""
    lines = [
        f"**Segment calibration** at {SEGMENT_SIZE} rows, each planted cell's median error "
        f"≤ {SEGMENT_GOAL:.0%} with pairs: " + "; ".join(
            _segment_verdict(fits, m) for m in ("bayes", "product")),
        "**Quality** with pairs: " + "; ".join(_quality_verdict(fits, m)
                                               for m in ("bayes", "product")),
        "**No loss at 300 rows**: against the same model without pairs, "
        + _loss_verdict(fits, "bayes", 300, True) + "; " + _cold_start_verdict(fits),
        "**No loss where no pair matters**: " + "; ".join(
            _loss_verdict(fits, "bayes", size, False) for size in (1000, 5000)),
        "**The planted cells marked** (yes/no columns believed to raise impact, as a team that "
        "suspects them can add): " + _marked_verdict(fits),
    ]
    return "\n".join(f"- {line}" for line in lines)


def marked_gaps(fits: list[Fit], metric: str) -> list[float]:
    """Per seed: the metric with the cells marked minus with the pair terms alone."""
    return differences(fits, metric, MARKED, "pairs")


def _marked_verdict(fits: list[Fit]) -> str:
    right = pick(fits, model="bayes", planted=True, variant=MARKED)
    if not right:
        return "not measured"
    parts = [f"{NAMES[metric]} at {size} {value:.4f} ({'met' if met else 'NOT met'})"
             for size in (1000, 5000) for metric in ("auc", "brier")
             if (group := pick(fits, model="bayes", planted=True, size=size))
             for value, target, met in [goal(group, metric, size, MARKED)] if target is not None]
    segments = pick(right, size=SEGMENT_SIZE)
    if segments:
        errors = [median(segment_errors(segments, i)) for i in range(len(SURPRISE_PAIRS))]
        parts.append(f"segments at {SEGMENT_SIZE} "
                     f"{'met' if all(e <= SEGMENT_GOAL for e in errors) else 'NOT met'} ("
                     + " / ".join(f"{e:.0%}" for e in errors) + ")")
    wrong = [f"{size}: ΔAUC {median(marked_gaps(group, 'auc')):+.4f}, ΔBrier "
             f"{median(marked_gaps(group, 'brier')):+.4f}" for size in (300, 1000, 5000)
             if pick(group := pick(fits, model="bayes", planted=False, size=size),
                     variant=MARKED)]
    return ("right suspicion: " + "; ".join(parts) + ". Wrong suspicion (nothing planted), "
            "against the pair terms alone, at " + "; ".join(wrong))


MARKED_HEADER = ["planted pairs", "rows", "seeds", "AUC ÷ Bayes: marked / pairs / none",
                 "Brier ÷ Bayes: marked / pairs / none",
                 "ΔAUC marked − pairs: median (seeds ahead)", "ΔBrier marked − pairs: median",
                 "beliefs confirmed / uncertain / contradicted", "goal: AUC / Brier, marked"]
MARKED_CELL_HEADER = ["planted pairs", "rows", "cell", "training rows",
                      "median |predicted ÷ true − 1|: marked / pairs",
                      "median predicted ÷ true: marked / pairs",
                      f"seeds within {SEGMENT_GOAL:.0%}: marked / pairs"]


VERDICTS = ("confirmed", "uncertain", "contradicted")


def verdict_shares(fits: list[Fit]) -> str:
    """How often `train` would call a marking column's belief each verdict (every column of
    every history counted once)."""
    verdicts = [v for f in fits for v in f.verdicts]
    return " / ".join(f"{verdicts.count(v)}" for v in VERDICTS) + f" of {len(verdicts)}"


def marked_rows(fits: list[Fit]) -> tuple[list[list[str]], list[list[str]]]:
    """The planted cells marked beside the pooled pair terms alone and no pairs, on the same
    histories (planted: a right suspicion; nothing planted: a wrong one): quality per size,
    and each marked cell's segment."""
    quality, cells = [], []
    for planted in (True, False):
        history = "planted" if planted else "none"
        for size in sorted({f.size for f in pick(fits, variant=MARKED, planted=planted)}):
            group = pick(fits, model="bayes", size=size, planted=planted)
            gaps = marked_gaps(group, "auc")
            goals = [goal(group, metric, size, MARKED) for metric in ("auc", "brier")]
            quality.append([
                history, str(size), str(len(gaps)),
                both(group, of("auc"), ".4f", (MARKED, *VARIANTS)),
                both(group, of("brier"), ".4f", (MARKED, *VARIANTS)),
                f"{median(gaps):+.4f} ({np.mean([g > 0 for g in gaps]):.0%})",
                f"{median(marked_gaps(group, 'brier')):+.4f}",
                verdict_shares(pick(group, variant=MARKED)),
                " / ".join("-" if g is None or not planted else f"{'yes' if met else 'NO'} ({g})"
                           for _, g, met in goals)])
            for i, values in enumerate(SURPRISE_PAIRS):
                cells.append([history, str(size), " × ".join(values),
                              f"{median([f.cell_rows[i] for f in group]):.0f}",
                              *(both(group, per_cell(i, figure), spec, (MARKED, "pairs"))
                                for figure, spec in CELL_FIGURES)])
    return quality, cells


def _seed_counts(fits: list[Fit], model: str) -> str:
    sizes = sorted({f.size for f in pick(fits, model=model)})
    counts = [f"{n} seed{'s' if n > 1 else ''} at {size:,}" for size in sizes
              for n in [len({f.seed for f in pick(fits, model=model, size=size)})]]
    return ", ".join(counts) + " rows" if counts else "not run"


def report(fits: list[Fit], tests: dict[bool, TestSet], command: str,
           seconds: tuple[float, float]) -> str:
    """The figures as markdown."""
    marked_quality, marked_cells = marked_rows(fits)
    return "\n\n".join([
        "# Pair terms: planted segments, quality and cost", f"Command: `{command}`",
        f"Test sets: {TEST_ROWS:,} proposals (simulator seed {TEST_SEED}), with the planted "
        f"pairs (Bayes AUC {tests[True].bayes_auc:.4f}, Brier {tests[True].bayes_brier:.4f}) "
        f"and without (AUC {tests[False].bayes_auc:.4f}, Brier {tests[False].bayes_brier:.4f}). "
        f"Training histories over {PERIODS} periods. bayes: {_seed_counts(fits, 'bayes')}, "
        f"histories with and without planted pairs; product: {_seed_counts(fits, 'product')}, "
        "planted histories only. Planted: "
        + "; ".join(f"{a} × {b} (+{v} log-odds)" for (a, b), v in SURPRISE_PAIRS.items())
        + f". Figures are medians over seeds; no loss allows {TOLERANCE} (in units of the Bayes "
        f"figures) on the median paired difference. Whole benchmark: {seconds[0] / 60:.1f} min "
        f"({seconds[1] / 60:.1f} min of CPU, one process) on {os.cpu_count()} shared cores.",
        verdicts(fits),
        "Quality (AUC and Brier over the Bayes limit of the test set of the same kind; "
        "differences paired by seed; fit s: the bayes procedure or the whole `train_model`; "
        "*with / without pairs* everywhere):",
        markdown_table(QUALITY_HEADER, quality_rows(fits)),
        "Segments (planted cells of the test set; for histories without planted pairs, the "
        "same cells where nothing is planted):",
        markdown_table(SEGMENT_HEADER, segment_rows(fits, tests[True])),
        "The planted cells marked (*marked*: each planted cell a yes/no column of its own, "
        "`monotone: increasing`, `belief: {strength: weak}`, beside the watched pairs; *pairs*: "
        "the pooled pair terms alone; *none*: no pair term; the same histories and test sets; "
        "planted: a right suspicion, none: the same cells marked where nothing is planted; "
        "seeds ahead: share of seeds where marked has the higher AUC):",
        markdown_table(MARKED_HEADER, marked_quality),
        markdown_table(MARKED_CELL_HEADER, marked_cells),
    ]) + "\n"


def run(seeds: dict[int, int], product_seeds: dict[int, int], tests: dict[bool, TestSet],
        configs: dict[str, Config], marking: tuple[Config, dict[bool, TestSet]]) -> list[Fit]:
    """Every bayes fit (with the planted cells marked too), then every product training,
    printing each history's figures."""
    fits: list[Fit] = []
    for seed in range(1, max(seeds.values()) + 1):
        for size in (size for size, count in seeds.items() if seed <= count):
            for planted in (True, False):
                fits += fit_both("bayes", size, seed, planted, tests[planted], configs,
                                 marking)
    for size, count in product_seeds.items():
        for seed in range(1, count + 1):
            fits += fit_both("product", size, seed, True, tests[True], configs)
    return fits


def parse(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="3 seeds, the product at 1,000 rows once; nothing written")
    parser.add_argument("--no-product", action="store_true", help="the bayes procedure only")
    cells_option(parser)
    parser.add_argument("--output", type=Path,
                        help=f"results file (default for full runs: {RESULTS.relative_to(ROOT)})")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark, print the tables and write them (full runs) to the results file."""
    args = parse(argv)
    plant(args.cells)
    output = args.output or (None if args.quick or args.no_product else
                             COMMON_RESULTS if args.cells == "common" else RESULTS)
    config = load_config()
    configs = {"pairs": config, "none": without_pairs(config)}
    started, cpu = time.perf_counter(), time.process_time()
    tests = {planted: load_test(config, planted) for planted in (True, False)}
    marks = marked_config()
    marking = (marks, {planted: load_test(marks, planted, marked=True)
                       for planted in (True, False)})
    product_seeds = {} if args.no_product else QUICK_PRODUCT_SEEDS if args.quick else PRODUCT_SEEDS
    fits = run(QUICK_SEEDS if args.quick else SEEDS, product_seeds, tests, configs, marking)
    command = " ".join(["OMP_NUM_THREADS=1 .venv/bin/python bench/pairs.py",
                        *(argv if argv is not None else sys.argv[1:])]).strip()
    text = report(fits, tests, command, (time.perf_counter() - started,
                                         time.process_time() - cpu))
    publish(text, output)


if __name__ == "__main__":
    main()
