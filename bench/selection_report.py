"""The markdown report of bench/selection_bias.py: seed medians, ratios and paired gaps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from selection_bias import Score, Settings
    from selection_candidates import Pick
    from selection_scenarios import Scenario

IMPACT_GOAL = 0.90  # the shipped loop's real impact after six months, as a share of the oracle's
MODES = ("none", "fit", "evaluation")
# The loop as shipped: the configured weighting and directed exploration
# (`decide.directed_share` of the exploring places to the weak-signal report's top cells).
DIRECTED = "directed"
LEARNERS = (*MODES, DIRECTED, "reference")
# Rank by true probabilities; the second explores like the loops; the third ranks by the
# recorded features' part of the true log-odds (the best a model can learn).
ORACLES = ("oracle", "oracle_explore", "oracle_recorded")
LOOPS = (*LEARNERS, *ORACLES)


def present(scores: list[Score], loops: Sequence[str]) -> list[str]:
    """The loops a run has scores for (a run saved before a loop was added lacks it)."""
    found = {s.loop for s in scores}
    return [loop for loop in loops if loop in found]


def final(scores: list[Score], scenario: str, loop: str, last: int) -> list[Score]:
    """One loop's scores after the last month, one per seed, in seed order."""
    return sorted((s for s in scores if (s.scenario, s.loop, s.period) == (scenario, loop, last)),
                  key=lambda s: s.seed)


def median(values: Sequence[float] | np.ndarray) -> float:
    """Median of finite values (nan when there are none)."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    return float(np.median(finite)) if finite.size else float("nan")


def impact_ratios(scores: list[Score], scenario: str, loop: str, last: int,
                  attribute: str = "captured") -> np.ndarray:
    """Per seed: the loop's real (or expected) impact over the six months ÷ the oracle's."""
    mine, oracle = final(scores, scenario, loop, last), final(scores, scenario, "oracle", last)
    return np.array([getattr(a, attribute) / getattr(b, attribute) if getattr(b, attribute)
                     else np.nan for a, b in zip(mine, oracle, strict=True)])


def auc_ratio(scores: list[Score], scenario: str, loop: str, last: int) -> float:
    """Median AUC of the loop's champions ÷ median AUC of the reference loop's."""
    return (median([s.auc for s in final(scores, scenario, loop, last)])
            / median([s.auc for s in final(scores, scenario, "reference", last)]))


def gaps(scores: list[Score], scenario: str, loop: str, last: int, attribute: str) -> np.ndarray:
    """Per seed, the loop's real (or expected) impact minus the none loop's."""
    return np.array([getattr(a, attribute) - getattr(b, attribute) for a, b in zip(
        final(scores, scenario, loop, last), final(scores, scenario, "none", last), strict=True)])


def paired(scores: list[Score], scenario: str, loop: str, last: int) -> str:
    """Against the none loop: real impact gap (median, seeds ahead / behind) and expected
    impact gap (mean ± its standard error)."""
    real, expected = (gaps(scores, scenario, loop, last, a) for a in ("captured", "expected"))
    error = expected.std(ddof=1) / np.sqrt(len(expected)) if len(expected) > 1 else float("nan")
    return (f"{np.median(real):+.1f} ({int((real > 0).sum())} / {int((real < 0).sum())}) | "
            f"{expected.mean():+.2f} ± {error:.2f}")


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def scenario_rows(scores: list[Score], scenario: str, last: int) -> list[list[str]]:
    """One row per loop after the last month (seed medians)."""
    rows = []
    for loop in present(scores, LOOPS):
        done = final(scores, scenario, loop, last)
        ratios = impact_ratios(scores, scenario, loop, last)
        low, high = np.nanquantile(ratios, [0.1, 0.9])
        learner = loop not in ORACLES
        rows.append([
            loop, f"{median([s.auc for s in done]):.4f}",
            f"{auc_ratio(scores, scenario, loop, last):.3f}", f"{median([s.brier for s in done]):.4f}",
            f"{median([s.captured for s in done]):.0f}",
            f"{median(ratios):.3f} ({low:.2f}-{high:.2f})",
            f"{median(impact_ratios(scores, scenario, loop, last, 'expected')):.3f}",
            paired(scores, scenario, loop, last) if loop in LEARNERS[1:] else "- | -",
            f"{median([s.rows for s in done]):.0f}" if learner else "-",
            f"{median([s.positives for s in done]):.0f}" if learner else "-",
            f"{median([s.promotions for s in done]):.0f}" if learner else "-"])
    return rows


def period_rows(scores: list[Score], scenario: str, periods: int) -> list[list[str]]:
    """One row per month: each learning loop's median AUC and real impact so far ÷ the oracle's."""
    out = []
    for period in range(periods + 1):
        cells = []
        for loop in present(scores, LEARNERS):
            auc = median([s.auc for s in final(scores, scenario, loop, period)])
            ratio = median(impact_ratios(scores, scenario, loop, period)) if period else float("nan")
            cells.append(f"{auc:.3f} / {ratio:.3f}" if period else f"{auc:.3f} / -")
        out.append([str(period), *cells])
    return out


def summary_rows(scores: list[Score], scenarios: list[Scenario], last: int) -> list[list[str]]:
    """One row per loop: real impact ÷ oracle and AUC ÷ reference in every scenario."""
    return [[loop, *(f"{median(impact_ratios(scores, s.name, loop, last)):.3f} / "
                     f"{auc_ratio(scores, s.name, loop, last):.3f}" for s in scenarios)]
            for loop in present(scores, LOOPS)]


def best_mode(scores: list[Score], scenario: str, last: int) -> str:
    """The mode with the highest median real impact ÷ oracle (ties: the higher AUC)."""
    return max(MODES, key=lambda m: (median(impact_ratios(scores, scenario, m, last)),
                                     auc_ratio(scores, scenario, m, last)))


def verdict(scores: list[Score], scenarios: list[Scenario], default: str, share: float,
            last: int) -> str:
    """The goal for the shipped loop (the shipped mode, with directed exploration when
    `share` > 0) in every scenario, and the best mode of each."""
    shipped = DIRECTED if share > 0 and DIRECTED in present(scores, LOOPS) else default
    ratios = {s.name: median(impact_ratios(scores, s.name, shipped, last)) for s in scenarios}
    met = all(r >= IMPACT_GOAL for r in ratios.values())
    described = f"`model.propensity_weights: {default}`" + (
        f", `decide.directed_share: {share:g}`: the {DIRECTED} loop" if shipped == DIRECTED
        else "; this run has no directed loop, so it is read on none" if share > 0 else "")
    return (f"Goal (the shipped loop, {described}, captures at least "
            f"{IMPACT_GOAL:.0%} of the oracle's real impact after {last} months): "
            f"{'met' if met else 'NOT met'} ("
            + ", ".join(f"{name} {r:.3f}" for name, r in ratios.items()) + "). Best mode by "
            "median real impact ÷ oracle: "
            + ", ".join(f"{s.name} {best_mode(scores, s.name, last)}" for s in scenarios) + ".")


def candidate_rows(chosen: list[Pick], scenarios: list[Scenario]) -> list[list[str]]:
    """Per scenario: how often the two scorings pick differently, what each picks, and the
    picks' test figures (medians, and the paired AUC gap)."""
    rows = []
    for scenario in scenarios:
        by = {scoring: sorted((p for p in chosen if (p.scenario, p.scoring) == (scenario.name, scoring)),
                              key=lambda p: p.seed) for scoring in ("none", "evaluation")}
        differ = sum(a.chosen != b.chosen for a, b in zip(by["none"], by["evaluation"], strict=True))
        cells = []
        for picked in by.values():
            kinds = sorted({p.chosen for p in picked})
            cells += [", ".join(f"{kind} {sum(p.chosen == kind for p in picked)}" for kind in kinds),
                      f"{median([p.auc for p in picked]):.4f} / {median([p.brier for p in picked]):.4f}"]
        gap = np.array([b.auc - a.auc for a, b in zip(by["none"], by["evaluation"], strict=True)])
        error = gap.std(ddof=1) / np.sqrt(len(gap)) if len(gap) > 1 else float("nan")
        rows.append([scenario.name, f"{differ} of {len(by['none'])}", *cells,
                     f"{gap.mean():+.4f} ± {error:.4f}"])
    return rows


def model_code(scores: list[Score]) -> str:
    """Which model the champions were: with learned pair terms or main effects only."""
    pairs = [s.pair_columns for s in scores if s.pair_columns >= 0]
    if not pairs or max(pairs) == 0:
        return "bayes_logistic with main effects only (no pair-cell columns in any champion)"
    return (f"bayes_logistic with learned pair terms (`interactions:`; median "
            f"{median(pairs):.0f} pair-cell columns per champion)")


def setup(settings: Settings, seeds: list[int], seconds: tuple[float, float], cores: int) -> str:
    """The set-up paragraph."""
    m = settings.config.model
    return (f"Seeds {seeds[0]}-{seeds[-1]} ({len(seeds)}; figures are medians over seeds). Trial "
            f"month: {settings.trial_rows} proposals, all labelled. Then {settings.periods} months "
            f"of {settings.per_period} proposals; each loop accepts {settings.capacity} with "
            f"explore rate {settings.explore_rate}, retrains and gates. Training: the shipped "
            f"configuration restricted to the bayes_logistic candidate, cv_repeats "
            f"{m.cv_repeats}, bootstrap_samples {m.bootstrap_samples}, backtest_periods "
            f"{m.backtest_periods}, propensity clip {m.propensity_clip}. Test: 10,000 "
            f"accept-everything proposals per scenario. Whole benchmark: {seconds[0] / 60:.1f} min "
            f"on {cores} shared cores, {seconds[1] / 60:.1f} min of CPU time.")


def report(scores: list[Score], chosen: list[Pick], settings: Settings, scenarios: list[Scenario],
           default: str, command: str, seconds: tuple[float, float], cores: int) -> str:
    """The figures as markdown: command, set-up, verdict, summary and per-scenario tables.

    `seconds`: the run's wall-clock and CPU time.
    """
    last, seeds = settings.periods, sorted({s.seed for s in scores})
    parts = ["# Selection bias: where propensity weights pay in the retraining loop",
             f"Command: `{command}`", setup(settings, seeds, seconds, cores),
             f"Model: {model_code(scores)}.",
             verdict(scores, scenarios, default, settings.config.decide.directed_share, last),
             f"After month {last}, real impact captured ÷ the oracle's / AUC ÷ the reference's:",
             markdown_table(["loop", *(s.name for s in scenarios)],
                            summary_rows(scores, scenarios, last))]
    for scenario in scenarios:
        parts += [f"## {scenario.name}: {scenario.title}", f"After month {last}:",
                  markdown_table(["loop", "AUC", "÷ reference", "Brier", "real impact",
                                  "÷ oracle (p10-p90)", "expected ÷ oracle",
                                  "real − none: median (seeds ahead / behind)",
                                  "expected − none: mean ± SE", "labelled rows",
                                  "positives", "promotions"],
                                 scenario_rows(scores, scenario.name, last)),
                  "Per month, AUC / real impact so far ÷ the oracle's:",
                  markdown_table(["month", *present(scores, LEARNERS)],
                                 period_rows(scores, scenario.name, last))]
    if chosen:
        parts += [f"## Choosing among the shipped candidates ({', '.join(settings.candidates)})",
                  "On the none loop's labelled rows after the last month, cross-validation (fits "
                  "unweighted, as under both modes) scored unweighted (none) and weighted by 1 / "
                  "propensity (evaluation); each pick fitted and scored on the test set:",
                  markdown_table(["scenario", "picks differ", "none picks", "none AUC / Brier",
                                  "evaluation picks", "evaluation AUC / Brier",
                                  "evaluation − none AUC: mean ± SE"],
                                 candidate_rows(chosen, scenarios))]
    parts.append(
        "*real impact*: accepted proposals with real impact over the months after the trial; "
        "*÷ oracle*: per seed, divided by what the oracle (top proposals by true probability) "
        "captured from the same proposals; *expected*: the same with true probabilities summed "
        "(less noisy). *oracle* AUC and Brier are those of the true probabilities; "
        "*oracle_explore* ranks by them but explores like the loops; *oracle_recorded* ranks by "
        "the part of the true log-odds the recorded features carry (the oracle itself but in the "
        "gut scenario). *promotions*: challengers the gate passed (one per month when it never "
        "fails). *SE*: standard error of the mean of the per-seed gaps.")
    return "\n\n".join(parts) + "\n"
