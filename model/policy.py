"""Deciding which proposals to accept so that later outcomes stay learnable.

With capacity K and exploration rate E, each of the K places is independently given
to exploration with probability E: if m places explore, the top K - m proposals are
accepted and m others are drawn uniformly from the rest. Every proposal then has a
known, non-zero acceptance probability (its propensity), which training uses to
weight its outcome by 1 / propensity and undo the selection bias.
"""

from __future__ import annotations

from math import comb

import numpy as np


def propensities(n: int, capacity: int, explore_rate: float) -> np.ndarray:
    """Acceptance probability of the proposal at each rank (index 0 = best)."""
    k = min(capacity, n)
    ranks = np.arange(1, n + 1)
    out = np.zeros(n)
    for m in range(k + 1):
        weight = comb(k, m) * explore_rate**m * (1 - explore_rate) ** (k - m)
        pool = n - (k - m)
        random_share = m / pool if pool else 0.0
        out += weight * np.where(ranks <= k - m, 1.0, random_share)
    return np.clip(out, 0.0, 1.0)


def choose(probabilities: np.ndarray, capacity: int, explore_rate: float,
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Accepted mask and propensities for proposals with these impact probabilities."""
    n = len(probabilities)
    order = np.argsort(-probabilities, kind="stable")
    k = min(capacity, n)
    explore = int(rng.binomial(k, explore_rate)) if explore_rate > 0 else 0
    accepted_ranks = list(range(k - explore))
    rest = np.arange(k - explore, n)
    accepted_ranks += list(rng.choice(rest, size=explore, replace=False)) if explore else []
    accepted = np.zeros(n, dtype=bool)
    accepted[order[accepted_ranks]] = True
    by_rank = propensities(n, capacity, explore_rate)
    propensity = np.empty(n)
    propensity[order] = by_rank
    return accepted, propensity
