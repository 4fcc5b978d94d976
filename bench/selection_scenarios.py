"""How proposals, outcomes and acceptance come about in bench/selection_bias.py.

Each scenario wraps the simulator (`model.simulate`), whose features it keeps:

- recorded: the simulator as it is; acceptance depends only on recorded features
  (through the model's score) and on the policy's exploration draws;
- gut: the outcome also depends on a factor no column records (log-odds with standard
  deviation HIDDEN_SD, a partner's unstated motivation), and a team member reads it with
  noise (correlation GUT_CORRELATION): among the proposals the policy accepts, the
  team member declines those whose gut feeling is below OVERRIDE_Z standard deviations
  and accepts as many declined ones with the best feeling instead. The decision log
  still holds the policy's propensities, so they are not the true acceptance
  probabilities and outcomes are missing not at random given the features;
- surprise: a planted cell (influencer proposals from partners at our own stage of the
  customer's journey) pays SURPRISE_LIFT log-odds beyond its parts, and the trial
  month keeps only TRIAL_KEEP of its proposals, so the trial barely samples it.

Outcomes are redrawn from the new probabilities (the intercept re-solved so that the
impact rate stays the simulator's) with a generator of their own, so every scenario
sees the same proposals for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.simulate import SimulationParams, simulate_history, solve_intercept

HIDDEN_SD = 1.0
GUT_CORRELATION = 0.7
OVERRIDE_Z = -1.0  # about one accepted proposal in six is overridden
SURPRISE_CELL = {"partnership_type": "influencer", "lifecycle_position": "same_stage"}
SURPRISE_LIFT = 3.0
TRIAL_KEEP = 0.1


@dataclass(frozen=True)
class Scenario:
    """One way the world and the team behave (see the module docstring)."""

    name: str
    title: str
    hidden_sd: float = 0.0  # log-odds of the outcome no column records
    overrides: bool = False  # a team member overrides decisions on a gut feeling
    lift: float = 0.0  # extra log-odds of the planted cell
    trial_keep: float = 1.0  # share of the planted cell's proposals the trial month keeps


SCENARIOS = (
    Scenario("recorded", "acceptance on recorded features only"),
    Scenario("gut", "a team member's gut feeling, correlated with the outcome, overrides some "
             "decisions", hidden_sd=HIDDEN_SD, overrides=True),
    Scenario("surprise", "a planted cell that the trial month barely samples",
             lift=SURPRISE_LIFT, trial_keep=TRIAL_KEEP),
)


@dataclass(frozen=True)
class World:
    """Simulated proposals with their scenario's outcomes, true probabilities, the true
    log-odds less the unrecorded factor (the best ranking the recorded features allow) and
    the team member's gut feeling (standardised; zero without an unrecorded factor)."""

    proposals: pd.DataFrame
    probability: np.ndarray
    recorded: np.ndarray
    feeling: np.ndarray


def in_cell(proposals: pd.DataFrame) -> np.ndarray:
    """Whether each proposal belongs to the planted cell."""
    return np.logical_and.reduce([(proposals[column] == value).to_numpy()
                                  for column, value in SURPRISE_CELL.items()])


def simulate_world(params: SimulationParams, scenario: Scenario, *, trial: bool = False) -> World:
    """The simulator's proposals under the scenario (`trial`: thinned as the trial month is)."""
    history, truth = simulate_history(params)
    p = truth["true_probability"].to_numpy()
    if not scenario.hidden_sd and not scenario.lift:
        return World(history, p, np.log(p / (1 - p)), np.zeros(len(p)))
    rng = np.random.default_rng([params.seed, 17])
    hidden = rng.normal(0.0, scenario.hidden_sd, len(p)) if scenario.hidden_sd else np.zeros(len(p))
    noise_sd = scenario.hidden_sd * np.sqrt(1 / GUT_CORRELATION**2 - 1)
    feeling = hidden + rng.normal(0.0, noise_sd, len(p)) if scenario.hidden_sd else hidden
    feeling = feeling / max(float(np.hypot(scenario.hidden_sd, noise_sd)), 1e-12)
    recorded = np.log(p / (1 - p)) + scenario.lift * in_cell(history)
    logit = recorded + hidden
    probability = 1 / (1 + np.exp(-(logit + solve_intercept(logit, float(p.mean())))))
    impact = rng.random(len(p)) < probability
    value = np.round(rng.lognormal(np.log(20), 1.0, len(p)))
    proposals = history.assign(real_impact=impact, impact_value=np.where(impact, value, np.nan))
    keep = ~in_cell(history) | (rng.random(len(p)) < scenario.trial_keep) if trial else \
        np.ones(len(p), dtype=bool)
    return World(proposals[keep].reset_index(drop=True), probability[keep], recorded[keep],
                 feeling[keep])


def overridden(accepted: np.ndarray, feeling: np.ndarray) -> np.ndarray:
    """The team member's decisions: accepted proposals with a feeling below OVERRIDE_Z are
    declined, and as many declined ones with the best feeling are accepted instead."""
    declined = accepted & (feeling < OVERRIDE_Z)
    out = accepted & ~declined
    others = np.flatnonzero(~accepted)
    out[others[np.argsort(-feeling[others], kind="stable")[:int(declined.sum())]]] = True
    return out
