"""Deciding which proposals to accept so that later outcomes stay learnable.

With capacity K and exploration rate E, each of the K places is independently given to
exploration with probability E; an exploring place is directed with probability D (the
directed share), else uniform. If m places explore, m_d of them directed, the top K - m
proposals are accepted; then m_d proposals are drawn without replacement from the
directed pool (proposals of the cells the weak-signal report ranks high, ranked below
the top K - m), and the remaining places, with any directed place the pool was too
small to fill, are drawn uniformly from every proposal not yet accepted. Without a
directed pool (no labelled store, no high-ranked cell) every exploring place is uniform.

Every proposal then has a known acceptance probability (its propensity), computed
exactly: given (m, m_d) each draw is uniform within its pool, so a proposal's chance is
a sum over the binomial mixtures of m and m_d. Training can weight each outcome by
1 / propensity (`model.propensity_weights`). With E > 0 and D < 1 every proposal's
propensity is non-zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import lgamma, log

import numpy as np

RANK, DIRECTED, UNIFORM = "rank", "directed", "uniform"  # how an accepted proposal got its place


@dataclass(frozen=True)
class Choice:
    """One batch's decisions, aligned with the proposals as given.

    `drawn` says how each accepted proposal got its place (RANK, DIRECTED or UNIFORM);
    it is "" for a declined one.
    """

    accepted: np.ndarray
    propensity: np.ndarray
    drawn: np.ndarray


def _log_factorials(k: int) -> np.ndarray:
    """log(j!) for j = 0..k."""
    return np.array([lgamma(j + 1) for j in range(k + 1)])


def _binomial_pmf(trials: int, p: float, log_factorial: np.ndarray) -> np.ndarray:
    """P(X == j) for j = 0..trials, X ~ Binomial(trials, p); exact at p = 0 and p = 1.

    In log space: the binomial coefficients of a few hundred places overflow a float.
    """
    if p <= 0.0 or p >= 1.0:
        out = np.zeros(trials + 1)
        out[0 if p <= 0.0 else trials] = 1.0
        return out
    j = np.arange(trials + 1)
    log_comb = log_factorial[trials] - log_factorial[j] - log_factorial[trials - j]
    return np.exp(log_comb + j * log(p) + (trials - j) * log(1.0 - p))


def propensities(n: int, capacity: int, explore_rate: float, *,
                 directed: np.ndarray | None = None, directed_share: float = 0.0) -> np.ndarray:
    """Acceptance probability of the proposal at each rank (index 0 = best).

    Args:
        directed: by rank, whether the proposal is in a high-ranked cell (default: none is).
        directed_share: the chance D that an exploring place is directed.
    """
    pool = np.zeros(n, dtype=bool) if directed is None else np.asarray(directed, dtype=bool)
    k = min(capacity, n)
    # directed proposals at rank index >= t, for every size t of the accepted top
    below = np.concatenate([np.cumsum(pool[::-1])[::-1], [0]])[:k + 1]
    by_top = np.zeros((3, k + 1))  # per t: chance of that top size, directed and uniform shares
    log_factorial = _log_factorials(k)
    for m, weight in enumerate(_binomial_pmf(k, explore_rate, log_factorial)):
        top = k - m
        by_top[:, top] = weight * _place_chances(n, top, m, int(below[top]), directed_share,
                                                 log_factorial)
    padded = np.zeros((3, n + 1))
    padded[:, :k + 1] = by_top
    before = np.cumsum(padded, axis=1)[:, :n]  # summed over top sizes t <= index
    in_top = by_top[0].sum() - before[0]  # summed over t > index: accepted as ranked
    explored = np.where(pool, before[1], before[2])
    return np.clip(in_top + explored, 0.0, 1.0)


def _place_chances(n: int, top: int, explore: int, pool: int, share: float,
                   log_factorial: np.ndarray) -> np.ndarray:
    """Given `explore` exploring places past a top of `top`: (1, the chance of a directed
    proposal below the top, the chance of any other below the top), averaged over m_d."""
    m_d = np.arange(explore + 1)
    weights = _binomial_pmf(explore, share, log_factorial)
    filled = np.minimum(m_d, pool)
    directed = filled / pool if pool else np.zeros_like(weights)
    rest = n - top - filled
    uniform = np.divide(explore - filled, rest, out=np.zeros_like(weights), where=rest > 0)
    return np.array([1.0, weights @ (directed + (1 - directed) * uniform), weights @ uniform])


def draw(probabilities: np.ndarray, capacity: int, explore_rate: float,
         rng: np.random.Generator, *, directed: np.ndarray | None = None,
         directed_share: float = 0.0) -> Choice:
    """Decide on proposals with these impact probabilities, and give each its propensity.

    Args:
        directed: per proposal, whether it is in a high-ranked cell (default: none is).
        directed_share: the chance D that an exploring place is directed.
    """
    n = len(probabilities)
    order = np.argsort(-np.asarray(probabilities, dtype=float), kind="stable")
    in_pool = (np.zeros(n, dtype=bool) if directed is None
               else np.asarray(directed, dtype=bool))[order]
    by_rank = propensities(n, capacity, explore_rate, directed=in_pool,
                           directed_share=directed_share)
    propensity, drawn = np.empty(n), np.empty(n, dtype=object)
    propensity[order] = by_rank
    drawn[order] = sample_ranks(n, capacity, explore_rate, rng, directed=in_pool,
                                directed_share=directed_share)
    return Choice(accepted=drawn != "", propensity=propensity, drawn=drawn)


def sample_ranks(n: int, capacity: int, explore_rate: float, rng: np.random.Generator, *,
                 directed: np.ndarray | None = None, directed_share: float = 0.0) -> np.ndarray:
    """One draw of the procedure: by rank, how each accepted proposal got its place, or "".

    Args:
        directed: by rank, whether the proposal is in a high-ranked cell (default: none is).
        directed_share: the chance D that an exploring place is directed.
    """
    in_pool = np.zeros(n, dtype=bool) if directed is None else np.asarray(directed, dtype=bool)
    k = min(capacity, n)
    explore = int(rng.binomial(k, explore_rate)) if explore_rate > 0 else 0
    steered = int(rng.binomial(explore, directed_share)) if explore and directed_share > 0 else 0
    top = k - explore
    drawn = np.full(n, "", dtype=object)
    drawn[:top] = RANK
    candidates = top + np.flatnonzero(in_pool[top:])
    picked = _sample(rng, candidates, min(steered, len(candidates)))
    drawn[picked] = DIRECTED
    rest = top + np.flatnonzero(drawn[top:] == "")
    drawn[_sample(rng, rest, explore - len(picked))] = UNIFORM
    return drawn


def _sample(rng: np.random.Generator, pool: np.ndarray, size: int) -> np.ndarray:
    """`size` members of `pool` drawn uniformly without replacement (no draw when size is 0)."""
    return rng.choice(pool, size=size, replace=False) if size else pool[:0]


def choose(probabilities: np.ndarray, capacity: int, explore_rate: float,
           rng: np.random.Generator, *, directed: np.ndarray | None = None,
           directed_share: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Accepted mask and propensities for proposals with these impact probabilities."""
    choice = draw(probabilities, capacity, explore_rate, rng, directed=directed,
                  directed_share=directed_share)
    return choice.accepted, choice.propensity
