"""Synthetic trial months: proposals whose chance of real impact is known exactly.

The generative process mirrors what accept-everything trial months taught business
development teams: an action plan and a partner able to commit people matter most,
and only together; a partner too close to our own sector rarely brings anything;
our time cost and heavy logistics hurt; a few unlikely pairs (an indie game studio
wanting a technical integration) pay off far beyond the rest. data/README.md states
the formula. Everything is drawn from one seeded numpy Generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

TYPES = {"influencer": 0.17, "co_branding": 0.15, "cross_webinar": 0.15,
         "content_publication": 0.14, "technical_integration": 0.10, "referral": 0.12,
         "event": 0.11, "other": 0.06}
SECTORS = {"hr_tech": 0.11, "marketing_agency": 0.08, "accounting": 0.07, "media": 0.07,
           "payroll": 0.06, "legal": 0.06, "fintech": 0.06, "insurance": 0.06,
           "events": 0.05, "real_estate": 0.05, "education": 0.05, "retail": 0.05,
           "health": 0.05, "wealth_management": 0.04, "video_games": 0.04,
           "recruitment_agency": 0.02, "logistics": 0.015, "hospitality": 0.015,
           "cybersecurity": 0.01, "construction": 0.01, "travel": 0.01, "sports": 0.008,
           "nonprofit": 0.006, "energy": 0.006, "coworking": 0.005}
UNUSUAL_SECTORS = ("space_tech", "agritech", "quantum_computing", "funeral_services")
NEAR_SECTORS = ("hr_tech", "payroll")
ADJACENT_SECTORS = ("accounting", "legal", "insurance", "fintech", "recruitment_agency",
                    "education")
FTE_GRID = np.array([0.0, 0.1, 0.2, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0])
MISSING_RATES = {"partner_headcount": 0.10, "internal_hours_estimate": 0.10,
                 "logistics_complexity": 0.05, "expected_reach": 0.10,
                 "strategy_fit": 0.05, "inbound": 0.05, "description": 0.20}
# Committed FTE is hidden more often when it is low (~15% overall): partners who
# commit nobody tend to leave the field blank, so a blank mildly signals low capacity.
FTE_MISSING_LOW, FTE_MISSING_HIGH = 0.24, 0.08
TYPE_EFFECT = {"influencer": -0.8, "co_branding": -0.2, "cross_webinar": 0.0,
               "content_publication": -0.5, "technical_integration": 0.4, "referral": 0.3,
               "event": -0.1, "other": -0.3}
LIFECYCLE_EFFECT = {"upstream": 0.6, "downstream": 0.7, "same_stage": -0.4, "unrelated": -0.6}
PROXIMITY_EFFECT = {"same": -0.5, "adjacent": 0.1, "distant": 0.0}
SURPRISE_PAIRS = {("video_games", "technical_integration"): 2.5,
                  ("wealth_management", "technical_integration"): 2.5,
                  ("education", "cross_webinar"): 1.2}
CONTRACT_COLUMNS = (
    "proposal_id", "trial_period", "partner_name", "partnership_type", "partner_sector",
    "sector_proximity", "lifecycle_position", "has_clear_objective", "has_action_plan",
    "product_ready", "partner_committed_fte", "partner_headcount", "internal_hours_estimate",
    "logistics_complexity", "expected_reach", "strategy_fit", "inbound", "description",
    "real_impact", "impact_value", "acceptance_propensity",
)
OUTCOME_COLUMNS = ("trial_period", "real_impact", "impact_value", "acceptance_propensity")
INTEGER_COLUMNS = ("partner_headcount", "logistics_complexity", "expected_reach", "strategy_fit")


@dataclass(frozen=True)
class SimulationParams:
    """How many trial months to simulate and how they differ.

    `drift` in [0, 1] is how far the last period has moved from the first: more
    influencer proposals, larger reach, a stronger penalty for same-sector partners.
    """

    periods: int = 12
    per_period: int = 40
    seed: int = 0
    drift: float = 0.0
    start_period: str = "2025-01"
    base_rate: float = 0.12
    surprises: bool = True  # False leaves out SURPRISE_PAIRS: no improbable alliance to find


def _pick(rng: np.random.Generator, weights: dict[str, float], n: int) -> np.ndarray:
    """Draw n labels with the given (unnormalised) weights."""
    labels = np.array(list(weights))
    p = np.array(list(weights.values()), dtype=float)
    return rng.choice(labels, size=n, p=p / p.sum())


def _draw_types(rng: np.random.Generator, shift: np.ndarray) -> np.ndarray:
    """Partnership types; drift moves up to 15 points of share to influencers."""
    types = _pick(rng, TYPES, len(shift))
    switch = rng.random(len(shift)) < 0.15 * shift
    types[switch] = "influencer"
    return types


def _draw_context(rng: np.random.Generator, sectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sector proximity (from the sector) and place in our customer's journey."""
    n = len(sectors)
    near, adjacent = np.isin(sectors, NEAR_SECTORS), np.isin(sectors, ADJACENT_SECTORS)
    p_same = np.select([near, adjacent], [0.7, 0.15], 0.05)
    p_adjacent = np.select([near, adjacent], [0.25, 0.6], 0.25)
    u = rng.random(n)
    proximity = np.where(u < p_same, "same", np.where(u < p_same + p_adjacent,
                                                      "adjacent", "distant"))
    # Partners in our own sector mostly sit at the same stage of our customer's journey.
    same, v = proximity == "same", rng.random(n)
    cuts = [np.where(same, 0.15, 0.28), np.where(same, 0.30, 0.56), np.where(same, 0.85, 0.78)]
    lifecycle = np.select([v < cut for cut in cuts],
                          ["upstream", "downstream", "same_stage"], "unrelated")
    return proximity, lifecycle


def _draw_capacity(rng: np.random.Generator, types: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Partner headcount (log-normal; creators are one to three people) and committed FTE."""
    n = len(types)
    headcount = np.maximum(1, np.round(rng.lognormal(np.log(30), 1.6, n)))
    creators = types == "influencer"
    headcount[creators] = 1 + rng.poisson(0.5, creators.sum())
    raw = rng.lognormal(-2.0 + 0.4 * np.log(headcount), 0.9)
    midpoints = (FTE_GRID[1:] + FTE_GRID[:-1]) / 2
    fte = FTE_GRID[np.searchsorted(midpoints, raw)]
    fte[rng.random(n) < 0.12] = 0.0
    return headcount.astype(int), np.minimum(fte, headcount)


def _draw_effort(rng: np.random.Generator, types: np.ndarray,
                 shift: np.ndarray) -> dict[str, np.ndarray]:
    """Our hours, logistics complexity and expected reach; each median depends on the type."""
    hours_median = pd.Series(types).map({"influencer": 6, "co_branding": 15, "cross_webinar": 10,
                                         "content_publication": 5, "technical_integration": 40,
                                         "referral": 4, "event": 25, "other": 10})
    reach_median = pd.Series(types).map({"influencer": 20000, "co_branding": 3000,
                                         "cross_webinar": 800, "content_publication": 5000,
                                         "technical_integration": 1000, "referral": 300,
                                         "event": 1500, "other": 1000})
    n = len(types)
    hours = np.maximum(1.0, np.round(rng.lognormal(np.log(hours_median), 0.7) * 2) / 2)
    logistics = np.clip(np.round(1 + np.log(hours) / 1.2 + rng.normal(0, 0.8, n)), 1, 5)
    reach = np.round(rng.lognormal(np.log(reach_median) + 1.0 * shift, 1.3))
    return {"internal_hours_estimate": hours, "logistics_complexity": logistics.astype(int),
            "expected_reach": reach.astype(np.int64)}


def _draw_features(rng: np.random.Generator, shift: np.ndarray) -> pd.DataFrame:
    """Every feature of the contract, complete (nothing hidden yet)."""
    n = len(shift)
    types = _draw_types(rng, shift)
    sectors = _pick(rng, SECTORS, n)
    proximity, lifecycle = _draw_context(rng, sectors)
    headcount, fte = _draw_capacity(rng, types)
    clear = rng.random(n) < 0.45
    plan = rng.random(n) < 0.2 + 0.2 * clear + 0.15 * (fte >= 0.5)
    ready = rng.random(n) < np.where(headcount < 10, 0.6, 0.8)
    fit_noise = rng.normal(0, 1.0, n)
    fit = 3 + 0.5 * np.isin(lifecycle, ("upstream", "downstream")) \
        + 0.4 * (types == "technical_integration") + fit_noise
    return pd.DataFrame({
        "partnership_type": types, "partner_sector": sectors, "sector_proximity": proximity,
        "lifecycle_position": lifecycle, "has_clear_objective": clear, "has_action_plan": plan,
        "product_ready": ready, "partner_committed_fte": fte, "partner_headcount": headcount,
        **_draw_effort(rng, types, shift),
        "strategy_fit": np.clip(np.round(fit), 1, 5).astype(int),
        "inbound": rng.random(n) < 0.7,
    })


def impact_logit(features: pd.DataFrame, shift: np.ndarray, *,
                 surprises: bool = True) -> np.ndarray:
    """The log-odds of real impact without its intercept (the formula in data/README.md).

    `surprises=False` drops the sector-and-type pairs, leaving main effects and the
    plan-and-capacity interaction only.
    """
    f = features
    planted = SURPRISE_PAIRS if surprises else {}
    plan = f["has_action_plan"].to_numpy(float)
    capacity = np.minimum(f["partner_committed_fte"].to_numpy(float), 2.0) / 2.0
    proximity = f["sector_proximity"].map(PROXIMITY_EFFECT).to_numpy(float)
    proximity = proximity - 0.5 * shift * (f["sector_proximity"] == "same").to_numpy()
    pairs = zip(f["partner_sector"], f["partnership_type"], strict=True)
    return (f["partnership_type"].map(TYPE_EFFECT).to_numpy(float)
            + 0.7 * f["has_clear_objective"].to_numpy(float)
            + 1.6 * plan + 1.2 * plan * capacity
            - 1.0 * (1 - f["product_ready"].to_numpy(float))
            + f["lifecycle_position"].map(LIFECYCLE_EFFECT).to_numpy(float) + proximity
            - 0.45 * np.log(f["internal_hours_estimate"].to_numpy(float) / 10)
            - 0.25 * (f["logistics_complexity"].to_numpy(float) - 3)
            + 0.35 * (f["strategy_fit"].to_numpy(float) - 3)
            + 0.2 * np.log1p(f["expected_reach"].to_numpy(float) / 1000)
            + np.array([planted.get(p, 0.0) for p in pairs]))


def solve_intercept(logit: np.ndarray, base_rate: float) -> float:
    """The intercept b with mean(sigmoid(logit + b)) == base_rate, found by bisection."""
    low, high = -30.0, 30.0
    for _ in range(100):
        middle = (low + high) / 2
        if np.mean(_sigmoid(logit + middle)) < base_rate:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


_PREFIXES = ("Nova", "Atlas", "Blue", "Kappa", "Orion", "Lumen", "Vertex", "Hexa", "Plume",
             "Cobalt", "Sable", "Mistral", "Azur", "Tilia", "Quartz", "Pivot", "Elan", "Boreal")
_SUFFIXES = ("Labs", "& Co", "Studio", "Group", "Partners", "Collective", "Hub", "SAS")
_SECTOR_WORDS = {"hr_tech": "People", "legal": "Juris", "wealth_management": "Patrimoine",
                 "video_games": "Pixel", "accounting": "Ledger", "payroll": "Paie",
                 "insurance": "Assur", "real_estate": "Immo", "marketing_agency": "Brand",
                 "media": "Media", "events": "Event", "education": "Campus", "retail": "Shop",
                 "health": "Care", "fintech": "Pay"}
_FIRST = ("Camille", "Lea", "Hugo", "Ines", "Jules", "Manon", "Yanis", "Chloe", "Nathan", "Sarah")
_LAST = ("Martin", "Bernard", "Dubois", "Moreau", "Laurent", "Garcia", "Roux", "Fontaine")
_TEMPLATES = {
    "influencer": "{name} offers a sponsored series to about {reach} followers.",
    "co_branding": "{name} proposes a co-branded offer for their {sector} customers.",
    "cross_webinar": "{name} suggests a joint webinar for {sector} decision makers.",
    "content_publication": "{name} invites us to publish a guest article for {reach} readers.",
    "technical_integration": "{name} wants to integrate our product into their {sector} tool.",
    "referral": "{name} proposes to refer {sector} clients to us for a commission.",
    "event": "{name} invites us to co-host a {sector} event.",
    "other": "{name} proposes an informal collaboration.",
}
_WITH_PLAN = " A plan with named owners is attached."


def _partner_names(rng: np.random.Generator, types: np.ndarray,
                   sectors: np.ndarray) -> list[str]:
    """Invented names: a creator's name for influencers, a company name otherwise."""
    names = []
    for kind, sector in zip(types, sectors, strict=True):
        if kind == "influencer":
            names.append(f"{rng.choice(_FIRST)} {rng.choice(_LAST)}")
        else:
            word = _SECTOR_WORDS.get(str(sector), str(sector).split("_")[0].capitalize())
            names.append(f"{rng.choice(_PREFIXES)}{word} {rng.choice(_SUFFIXES)}")
    return names


def _descriptions(proposals: pd.DataFrame) -> list[str]:
    """One sentence per proposal from its type's template, mentioning a plan when it has one."""
    texts = []
    for row in proposals.itertuples(index=False):
        reach = f"{int(row.expected_reach):,}"
        text = _TEMPLATES[str(row.partnership_type)].format(
            name=row.partner_name, reach=reach, sector=str(row.partner_sector).replace("_", " "))
        texts.append(text + (_WITH_PLAN if row.has_action_plan else ""))
    return texts


def _hide_missing(rng: np.random.Generator, proposals: pd.DataFrame) -> pd.DataFrame:
    """Blank optional cells as a data team leaves them: mostly at random, FTE when low."""
    observed = proposals.copy()
    for column in INTEGER_COLUMNS:
        observed[column] = observed[column].astype("Int64")
    observed["inbound"] = observed["inbound"].astype("boolean")
    observed["description"] = observed["description"].astype(object)
    for column, rate in MISSING_RATES.items():
        observed.loc[rng.random(len(observed)) < rate, column] = pd.NA
    low = proposals["partner_committed_fte"].to_numpy() <= 0.2
    hide = rng.random(len(observed)) < np.where(low, FTE_MISSING_LOW, FTE_MISSING_HIGH)
    observed.loc[hide, "partner_committed_fte"] = np.nan
    return observed


def _describe(rng: np.random.Generator, features: pd.DataFrame) -> pd.DataFrame:
    """Add partner names and descriptions to complete features."""
    proposals = features.copy()
    proposals.insert(0, "partner_name", _partner_names(
        rng, features["partnership_type"].to_numpy(), features["partner_sector"].to_numpy()))
    proposals["description"] = _descriptions(proposals)
    return proposals


def _period_labels(params: SimulationParams) -> list[str]:
    """`YYYY-MM` labels of consecutive months from params.start_period."""
    start = pd.Period(params.start_period, freq="M")
    return [str(start + i) for i in range(params.periods)]


def simulate_history(params: SimulationParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Labelled proposals of accept-everything trial months, and their true probabilities.

    Returns:
        (proposals with every contract column, truth with proposal_id and true_probability)
    """
    rng = np.random.default_rng(params.seed)
    index = np.repeat(np.arange(params.periods), params.per_period)
    shift = params.drift * index / max(params.periods - 1, 1)
    features = _draw_features(rng, shift)
    logit = impact_logit(features, shift, surprises=params.surprises)
    probability = _sigmoid(logit + solve_intercept(logit, params.base_rate))
    impact = rng.random(len(index)) < probability
    value = np.round(rng.lognormal(np.log(20), 1.0, len(index)))
    proposals = _hide_missing(rng, _describe(rng, features))
    periods = np.array(_period_labels(params))[index]
    rank = np.tile(np.arange(1, params.per_period + 1), params.periods)
    ids = [f"P{p}-{r:03d}" for p, r in zip(periods, rank, strict=True)]
    proposals.insert(0, "trial_period", periods)
    proposals.insert(0, "proposal_id", ids)
    proposals["real_impact"] = impact
    proposals["impact_value"] = np.where(impact, value, np.nan)
    proposals["acceptance_propensity"] = 1.0
    truth = pd.DataFrame({"proposal_id": ids, "true_probability": probability})
    return proposals[list(CONTRACT_COLUMNS)], truth


def simulate_proposals(n: int, seed: int) -> pd.DataFrame:
    """Unlabelled proposals to score, a few from sectors no trial month has seen.

    They follow the first trial month's distribution (no drift) and carry no
    trial_period and no outcome columns.
    """
    rng = np.random.default_rng(seed)
    features = _draw_features(rng, np.zeros(n))
    unusual = rng.choice(n, size=min(n, max(2, n // 10)), replace=False)
    features.loc[unusual, "partner_sector"] = rng.choice(UNUSUAL_SECTORS, size=len(unusual))
    features.loc[unusual, "sector_proximity"] = "distant"
    proposals = _hide_missing(rng, _describe(rng, features))
    proposals.insert(0, "proposal_id", [f"N{seed:02d}-{i:03d}" for i in range(1, n + 1)])
    columns = [c for c in CONTRACT_COLUMNS if c not in OUTCOME_COLUMNS]
    return proposals[columns]
