"""A Bayesian logistic regression whose prior is the team's beliefs (`model.beliefs`).

Fitted as the posterior mode by Newton's method on the log posterior (a projected
Newton step where a strict belief bounds a sign), with a Laplace approximation of the
posterior: a Gaussian centred on the mode whose covariance is the inverse Hessian.
The prior is fixed, so its weight fades by itself as outcomes accumulate.

Pairs (`interactions:`): each cell of a watched pair is a column whose prior is
pooled. Its effect is drawn from a Student-t with `POOL_DF` degrees of freedom around
zero (a Gaussian whose precision is itself uncertain), whose scale is shared by the
pair's cells and estimated from the data on the Laplace posterior (`_pooled_mode`).
A cell's effect thus grows with its own evidence and stays near zero otherwise; where
no cell matters the shared scale shrinks towards `POOL_MIN_SCALE` and the pair terms
with it, and one strong cell among many quiet ones escapes the shrinkage its quiet
neighbours would impose under a single Gaussian. The design is stored as indices for
the cells (`model.design`), so a Newton step costs about what it costs without pairs.

The fitted model is linear in the encoded columns (`coef_`, `intercept_`), so it
exports exactly as a `logistic` `ScoringModel`; `covariance_` (intercept first, then
one row per encoded column) gives every proposal an interval for its probability
(widened by the linear model's own error, `MODEL_ERROR_SD`);
`belief_checks` says for each belief whether the outcomes confirm or contradict it, and
`learned_effects` lists the effects nobody stated that the outcomes show clearly.

Nothing beyond numpy, the standard library and partnerscore's own modules is imported
(no scikit-learn): scoring can use the intervals.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from model.beliefs import BeliefTarget, Prior, effective_weights
from model.design import Design, Reordered, standardised
from model.metrics import z_value
from model.pairs import SEPARATOR
from model.verdicts import BeliefCheck, LearnedEffect, LearnedPair, verdict

LEVEL = 0.90
# Standard deviation, in log-odds, of the gap between a linear model's log-odds and the
# true ones: what no amount of data removes (interactions, surprising pairs). Added to
# each proposal's posterior variance so that its interval holds the true probability,
# not only the best linear approximation of it. Measured on simulated trial months: the
# shipped model (pair cells and the action plan × commitment product) learned on 50,000
# rows is 0.29 off (0.35 without the product, 0.41 with main effects alone), so 0.3;
# bench/results/cold_start.md measures the coverage it gives.
MODEL_ERROR_SD = 0.3
# The pooled prior of pair cells (see the module docstring). The degrees of freedom set
# how heavy its tails are: fewer let a real cell among hundreds of quiet ones keep more of
# its effect, and a lucky one escape more often. In bench/pairs.py (30 seeds at 5,000
# rows), 2 against 3: AUC ÷ Bayes 0.9884 against 0.9876, Brier ÷ Bayes 1.030 against
# 1.032, planted segments 20% / 33% / 35% off against 30% / 37% / 36%, the same at 300 and
# 1,000 rows; 1.5 gained nothing more and let lucky cells through (a false clear cell in
# half the planted histories); 5 lost (AUC 0.9869, 12 seeds). A Gaussian would shrink a
# real cell among hundreds of quiet ones flat. Which cells are called clear is
# `PAIR_LEVEL`'s business. The scale starts at `POOL_START` and stays within
# [POOL_MIN_SCALE, POOL_MAX_SCALE]; the rounds stop when a round moves no coefficient
# by more than `POOL_TOLERANCE` log-odds, or after `POOL_ROUNDS`. `POOL_PSEUDO_CELLS`:
# a pair of a dozen small cells can set its scale on one lucky cell, which then looks
# "clear". Measured with 3 degrees of freedom and clear at 90%: in a 10-seed sweep at 5,000
# rows (not part of a benchmark script), histories with no planted pair showed a false
# clear cell in 2, 1 and 0 of 10 with 0, 1 and 2 pseudo-cells, but more pseudo-cells learn
# a real cell of a few rows more slowly: in the retraining loop of
# bench/directed_exploration.py, a surprise with 5 trial rows was learned within 10
# periods in 53% of histories (directed exploration) with 0.5 and 47% with 1, median 9
# periods against more than 10, while histories with nothing planted showed a false clear
# cell in 2% / 2% / 7% at 300 / 1,000 / 5,000 rows with 0.5 and 0% / 2% / 3% with 1
# (bench/pairs.py). 0.5 is the compromise (bench/results/pairs.md).
POOL_DF = 2.0
POOL_START = 0.35
POOL_MIN_SCALE = 0.02
POOL_MAX_SCALE = 3.0
POOL_TOLERANCE = 2e-2
POOL_ROUNDS = 50
POOL_PSEUDO_CELLS = 0.5
PAIRS_SHOWN = 12  # learned pair cells kept with a training: a screen's worth
# A pair cell's interval, and "clear" when it excludes zero. One model holds hundreds of
# cells, so the 90% of single effects would set a few apart by chance: with 99%, histories
# with nothing planted showed a clear cell in 0% / 5% / 10% at 300 / 1,000 / 5,000 rows
# (17% at 5,000 rows with 90%), while planted cells stayed clear (1.57 of the 2 strong
# ones per history at 5,000 rows, against 1.77 with 90%; bench/pairs.py, 30-40 seeds).
PAIR_LEVEL = 0.99
PAIR_NOTABLE = 0.1  # log-odds: a term below this (odds x1.1) changes no decision


def margin_sd(X: np.ndarray, covariance: np.ndarray) -> np.ndarray:
    """Posterior standard deviation of each row's margin; covariance has the intercept first."""
    design = np.column_stack([np.ones(len(X)), X])
    variance = ((design @ covariance) * design).sum(axis=1)
    return np.sqrt(np.clip(variance, 0.0, None))


def probability_interval(margin: np.ndarray, sd: np.ndarray, *, level: float = LEVEL,
                         model_error: float = MODEL_ERROR_SD) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) probabilities: margin -/+ z * sqrt(sd² + model_error²), through the sigmoid."""
    half = z_value(level) * np.sqrt(np.asarray(sd, dtype=float) ** 2 + model_error**2)
    return _sigmoid(margin - half), _sigmoid(margin + half)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(np.exp(-np.logaddexp(0.0, -np.asarray(x, dtype=float))))


def to_raw(center: np.ndarray, unit: np.ndarray) -> np.ndarray:
    """The linear map from standardised (intercept at `center`, effects per `unit`) to raw
    (intercept at zero, coefficients per encoded unit) parameters."""
    p = len(unit)
    transform = np.zeros((p + 1, p + 1))
    transform[0, 0] = 1.0
    transform[0, 1:] = -center / unit
    transform[1:, 1:] = np.diag(1.0 / unit)
    return transform


class BayesianLogistic:
    """Posterior mode and Laplace covariance of a logistic regression under a `Prior`.

    Build with the prior (`model.beliefs.build_prior` on the same training rows), `fit`,
    then read `coef_`, `intercept_`, `covariance_` or call the prediction methods.
    """

    def __init__(self, prior: Prior, *, level: float = LEVEL,
                 model_error: float = MODEL_ERROR_SD, max_iter: int = 100) -> None:
        self.prior = prior
        self.level = level
        self.model_error = model_error
        self.max_iter = max_iter

    def fit(self, X: np.ndarray, y: np.ndarray,
            sample_weight: np.ndarray | None = None) -> BayesianLogistic:
        """Find the posterior mode and its Laplace covariance; returns self.

        Sample weights set each row's relative importance; their total is rescaled to
        Kish's effective sample size so that weighting never adds evidence.
        """
        w = effective_weights(len(y), sample_weight)
        Z = standardised(X, self.prior.center, self.prior.unit,
                         [(start, stop) for _, start, stop in self.prior.pooled])
        theta, hessian, self.scale_, self.n_iter_ = _pooled_mode(
            Z, np.asarray(y, dtype=float), w, self.prior, self.max_iter)
        self.theta_ = theta
        self.std_covariance_ = np.linalg.inv(hessian)
        transform = self._to_raw()
        raw = transform @ theta
        self.intercept_, self.coef_ = float(raw[0]), raw[1:]
        self.covariance_ = transform @ self.std_covariance_ @ transform.T
        return self

    def _to_raw(self) -> np.ndarray:
        """The linear map from standardised (intercept, coefficients) to raw ones."""
        return to_raw(self.prior.center, self.prior.unit)

    def margin(self, X: np.ndarray) -> np.ndarray:
        """Log-odds at the posterior mode."""
        return np.asarray(X @ self.coef_ + self.intercept_, dtype=float)

    def margin_sd(self, X: np.ndarray) -> np.ndarray:
        """Posterior standard deviation of each row's log-odds."""
        return margin_sd(X, self.covariance_)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Impact probabilities at the posterior mode."""
        return _sigmoid(self.margin(X))

    def probability_interval(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(low, probability, high) for each row; low <= probability <= high always."""
        margin = self.margin(X)
        low, high = probability_interval(margin, self.margin_sd(X), level=self.level,
                                         model_error=self.model_error)
        return low, _sigmoid(margin), high

    def column_intervals(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mode, low, high) of every column's effect per typical change (prior units)."""
        effect = self.theta_[1:]
        half = z_value(self.level) * np.sqrt(np.diag(self.std_covariance_)[1:])
        return effect, effect - half, effect + half

    def belief_checks(self) -> list[BeliefCheck]:
        """Each believed effect with its interval and verdict, in the prior's order."""
        return [self._check(target) for target in self.prior.targets]

    def learned_effects(self) -> list[LearnedEffect]:
        """Effects without a stated direction whose interval excludes zero, largest first."""
        out = []
        for target in self.prior.others:
            effect, low, high = self._effect(target)
            if low > 0 or high < 0:
                out.append(LearnedEffect(target.feature, target.level, effect, low, high,
                                         "raises" if low > 0 else "lowers"))
        return sorted(out, key=lambda e: -abs(e.effect))

    def pair_effects(self, X: np.ndarray, y: np.ndarray, *, limit: int = PAIRS_SHOWN,
                     weights: np.ndarray | None = None) -> list[LearnedPair]:
        """The pair cells the model sets apart, largest term first: those whose interval
        (at `PAIR_LEVEL`) excludes zero, then the others whose term reaches `PAIR_NOTABLE`,
        `limit` in all (X, y, weights: the training rows, for each cell's rows and real
        impacts)."""
        w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
        sd = np.sqrt(np.diag(self.std_covariance_)[1:])
        half = z_value(PAIR_LEVEL) * sd
        cells = []
        for name, start, stop in self.prior.pooled:
            first, second = name.split(SEPARATOR)
            for j in range(start, stop):
                inside = X[:, j] > 0
                a, b = self.prior.columns[j].split("=", 1)[1].split(SEPARATOR)
                effect = float(self.theta_[1 + j])
                cells.append(LearnedPair((first, second), (a, b), int(inside.sum()),
                                         float(w[inside] @ y[inside]), effect,
                                         effect - half[j], effect + half[j], PAIR_LEVEL))
        cells = [c for c in cells if c.clear or abs(c.effect) >= PAIR_NOTABLE]
        cells.sort(key=lambda c: (not c.clear, -abs(c.effect)))
        return sorted(cells[:limit], key=lambda c: -c.effect)

    def _effect(self, target: BeliefTarget) -> tuple[float, float, float]:
        """(effect, low, high) of a target's contrast under the posterior."""
        effect = float(target.contrast @ self.theta_[1:])
        sd = float(np.sqrt(target.contrast @ self.std_covariance_[1:, 1:] @ target.contrast))
        half = z_value(self.level) * sd
        return effect, effect - half, effect + half

    def _check(self, target: BeliefTarget) -> BeliefCheck:
        effect, low, high = self._effect(target)
        if target.strict:
            # The constraint holds by construction: the interval is cut at zero.
            low, high = (max(low, 0.0), max(high, 0.0)) if target.sign > 0 else \
                (min(low, 0.0), min(high, 0.0))
        return BeliefCheck(target.feature, target.level, target.sign, effect, low, high,
                           verdict(target.sign, low, high), strength=target.strength,
                           scale=target.scale, believed_effect=target.believed_effect)


def _pooled_mode(Z: Design | Reordered, y: np.ndarray, w: np.ndarray, prior: Prior,
                 max_iter: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The posterior mode with each pair's prior scale estimated from the data.

    Each round updates every pooled cell's expected precision under the Student-t prior,
    E[lambda] = (df + 1) / (df + (mode^2 + v) / s^2), where v is the cell's Laplace
    variance given the other coefficients (1 / the Hessian's diagonal: the full inverse
    would cost more than the rest of the round), then the pair's shared scale by MacKay's
    evidence update, s^2 = sum(E[lambda] * mode^2) / (sum(1 - v / prior variance) + k):
    the cells the outcomes determine count, the others do not, and `POOL_PSEUDO_CELLS`
    = k cells with no effect keep a pair of a dozen small cells from setting its scale
    on one lucky cell. Unlike the plain EM update,
    this lets the scale shrink quickly where no cell stands out, instead of lingering at
    its start (measured: no loss against no pair terms at 300 and 1,000 rows). Then one
    Newton step moves towards the mode for those scales. Once a round moves no
    coefficient by more than `POOL_TOLERANCE` log-odds, the mode is found exactly for the
    last scales. Returns the mode, the Hessian there, the prior scale of every column
    (intercept excluded) and the Newton iterations used.
    """
    posterior = _Posterior(Z, y, w, prior)
    scale = np.asarray(prior.scale, dtype=float).copy()
    theta, iterations = posterior.mode(posterior.start(), scale, max_iter)
    shared = {name: POOL_START for name, _, _ in prior.pooled}
    for _ in range(POOL_ROUNDS if prior.pooled else 0):
        variance = 1.0 / np.diag(posterior.hessian(theta, scale))[1:]
        for name, start, stop in prior.pooled:
            mode2, v = theta[1 + start:1 + stop] ** 2, variance[start:stop]
            expected = (POOL_DF + 1) / (POOL_DF + (mode2 + v) / shared[name] ** 2)
            determined = np.clip(1.0 - v / scale[start:stop] ** 2, 0.0, 1.0)
            s2 = float(expected @ mode2) / (float(determined.sum()) + POOL_PSEUDO_CELLS)
            shared[name] = float(np.clip(np.sqrt(s2), POOL_MIN_SCALE, POOL_MAX_SCALE))
            scale[start:stop] = shared[name] / np.sqrt(expected)
        updated, _ = posterior.mode(theta, scale, 1)
        moved, theta = float(np.abs(updated - theta).max()), updated
        iterations += 1
        if moved < POOL_TOLERANCE:
            break
    if prior.pooled:
        theta, more = posterior.mode(theta, scale, max_iter)
        iterations += more
    return theta, posterior.hessian(theta, scale), scale, iterations


class _Posterior:
    """The negative log posterior of a logistic model under a Gaussian prior whose scales
    may change between calls; the likelihood's gradient and Hessian are computed once per
    point (the costly part) and reused."""

    def __init__(self, Z: Design | Reordered, y: np.ndarray, w: np.ndarray, prior: Prior) -> None:
        self.Z, self.y, self.w = Z, y, w
        self.mean = np.r_[prior.intercept_mean, prior.mean]
        self.intercept_scale = prior.intercept_scale
        self.lower = np.r_[-np.inf, np.where(prior.sign > 0, 0.0, -np.inf)]
        self.upper = np.r_[np.inf, np.where(prior.sign < 0, 0.0, np.inf)]
        self._at: np.ndarray | None = None
        self._likelihood: tuple[np.ndarray, np.ndarray] = (np.zeros(0), np.zeros(0))

    def start(self) -> np.ndarray:
        """The prior mean, within the strict beliefs' bounds."""
        return np.clip(self.mean, self.lower, self.upper)

    def precision(self, scale: np.ndarray) -> np.ndarray:
        """The prior precision of the intercept and of each column."""
        return 1.0 / np.r_[self.intercept_scale, scale] ** 2

    def likelihood(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gradient and Hessian of the negative log likelihood at theta."""
        if self._at is None or not np.array_equal(self._at, theta):
            p = _sigmoid(self.Z.dot(theta))
            self._likelihood = (self.Z.t_dot(self.w * (p - self.y)),
                                self.Z.gram(self.w * p * (1 - p)))
            self._at = theta.copy()
        return self._likelihood

    def hessian(self, theta: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """The negative log posterior's Hessian at theta."""
        return self.likelihood(theta)[1] + np.diag(self.precision(scale))

    def loss(self, theta: np.ndarray, precision: np.ndarray) -> float:
        """The negative log posterior at theta (up to a constant)."""
        eta = self.Z.dot(theta)
        likelihood = float(self.w @ (np.logaddexp(0.0, eta) - self.y * eta))
        return likelihood + 0.5 * float(precision @ (theta - self.mean) ** 2)

    def mode(self, theta: np.ndarray, scale: np.ndarray, max_iter: int) -> tuple[np.ndarray, int]:
        """Projected Newton with step halving from theta, at most `max_iter` steps.

        Returns the point reached and the number of steps taken.
        """
        precision = self.precision(scale)
        theta = np.clip(theta, self.lower, self.upper)
        loss, iterations = self.loss(theta, precision), 0
        while iterations < max_iter:
            iterations += 1
            gradient, hessian = self.likelihood(theta)
            gradient = gradient + precision * (theta - self.mean)
            hessian = hessian + np.diag(precision)
            # A coefficient held at its bound by a strict belief stays out of the step.
            free = ~(((theta <= self.lower) & (gradient > 0))
                     | ((theta >= self.upper) & (gradient < 0)))
            step = np.zeros_like(theta)
            step[free] = np.linalg.solve(hessian[np.ix_(free, free)], gradient[free])
            updated, loss = _line_search(theta, step, loss, self.lower, self.upper,
                                         lambda t: self.loss(t, precision))
            moved, theta = np.abs(updated - theta).max(), updated
            if moved < 1e-10:
                break
        return theta, iterations


def _line_search(theta: np.ndarray, step: np.ndarray, loss: float, lower: np.ndarray,
                 upper: np.ndarray, objective: Callable[[np.ndarray], float]
                 ) -> tuple[np.ndarray, float]:
    """Halve the (projected) Newton step until the objective does not increase."""
    t = 1.0
    for _ in range(60):
        trial = np.clip(theta - t * step, lower, upper)
        trial_loss = objective(trial)
        if trial_loss <= loss:
            return trial, trial_loss
        t /= 2
    return theta, loss
