"""Pairs of features learned under a pooled prior: cells, exact reasons, no loss without pairs."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pandas as pd
import pytest

from model.bayes import PAIR_LEVEL, POOL_MIN_SCALE, BayesianLogistic, z_value
from model.beliefs import build_prior, default_beliefs
from model.calibration import sigmoid
from model.config import Column, ColumnBelief, Config, ModelSettings, ScoringSettings
from model.design import Design, Reordered, standardised
from model.explain import explain, reasons
from model.features import FeatureEncoder
from model.metrics import log_loss
from model.pairs import cell_label, pair_name
from model.scorer import ScoringModel
from model.selection import BAYES_SPEC, fit_procedure, prepare
from model.simulate import SimulationParams, simulate_history
from model.verdicts import LearnedEffect

os.environ.setdefault("OMP_NUM_THREADS", "1")

FEATURES = (
    Column("sector", "category", required="yes", feature=True, values=("a", "b", "c", "d")),
    Column("kind", "category", required="yes", feature=True, values=("x", "y", "z")),
    Column("plan", "boolean", required="yes", feature=True),
)
PAIR = ("sector", "kind")
PLANTED = 2.5  # log-odds of the (a, x) cell beyond its two features


def _history(n: int, seed: int, planted: float) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Proposals, outcomes and true probabilities; only cell (a, x) has a term of its own."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"sector": rng.choice(["a", "b", "c", "d"], n, p=[0.1, 0.3, 0.3, 0.3]),
                          "kind": rng.choice(["x", "y", "z"], n),
                          "plan": (rng.random(n) < 0.4).astype(float)})
    cell = (frame["sector"] == "a") & (frame["kind"] == "x")
    logit = -2.2 + 1.0 * frame["plan"] + 0.3 * (frame["kind"] == "y") + planted * cell
    truth = 1 / (1 + np.exp(-logit.to_numpy()))
    return frame, (rng.random(n) < truth).astype(float), truth


def _fit(frame: pd.DataFrame, y: np.ndarray, pairs: tuple[tuple[str, str], ...],
         features: tuple[Column, ...] = FEATURES) -> tuple[BayesianLogistic, FeatureEncoder]:
    """The bayes model of `features` (with the beliefs they declare) and `pairs`."""
    encoder = FeatureEncoder(features, rare_level_min_count=1, pairs=pairs).fit(frame)
    X = encoder.transform(frame)
    return BayesianLogistic(build_prior(default_beliefs(features), encoder, X, y)).fit(X, y), \
        encoder


def test_a_planted_cell_is_learned_and_its_segment_calibrated() -> None:
    frame, y, _ = _history(4000, 1, PLANTED)
    model, encoder = _fit(frame, y, (PAIR,))
    learned = model.pair_effects(encoder.transform(frame), y)
    top = learned[0]
    assert (top.features, top.values) == (PAIR, ("a", "x")) and top.clear and top.low > 0.5
    assert all(not cell.clear for cell in learned[1:])
    test, _, truth = _history(20000, 2, PLANTED)
    cell = ((test["sector"] == "a") & (test["kind"] == "x")).to_numpy()
    predicted = model.predict_proba(encoder.transform(test))
    assert abs(predicted[cell].mean() / truth[cell].mean() - 1) < 0.25
    main, main_encoder = _fit(frame, y, ())
    without = main.predict_proba(main_encoder.transform(test))
    assert abs(without[cell].mean() / truth[cell].mean() - 1) > 0.25  # what the pair term fixes


def test_a_cell_is_clear_only_when_its_stricter_interval_excludes_zero() -> None:
    from pipelines.report.card import pair_headers

    frame, y, _ = _history(4000, 1, PLANTED)
    model, encoder = _fit(frame, y, (PAIR,))
    learned = model.pair_effects(encoder.transform(frame), y, limit=100)
    sd = np.sqrt(np.diag(model.std_covariance_)[1:])[model.prior.pooled_columns]
    assert PAIR_LEVEL == 0.99 and all(cell.level == PAIR_LEVEL for cell in learned)
    for cell in learned:  # each half-width is the 99% z times one cell's posterior sd
        half = (cell.high - cell.low) / 2
        assert np.abs(sd * z_value(PAIR_LEVEL) - half).min() < 1e-9
        assert cell.effect - cell.low == pytest.approx(half)
    records = [c.to_json() for c in learned]
    assert all(r["level"] == PAIR_LEVEL for r in records)
    assert pair_headers(records)[5] == "99% interval"
    assert pair_headers([{k: v for k, v in records[0].items() if k != "level"}])[5] == \
        "90% interval"  # a model recorded before the level was stored with its cells
    # stored as JSON and read back, a cell straddling zero is not clear: `clear` is a JSON
    # boolean, and a `clear` stored as text is read from the cell's interval
    import json

    from pipelines.documents import json_default
    from pipelines.report.card import pair_rows

    stored = json.loads(json.dumps(records, default=json_default))
    assert {type(r["clear"]) for r in stored} == {bool}
    assert any(r["clear"] for r in stored)
    straddling = {**stored[0], "interval": [-0.03, 2.01], "clear": "False"}  # stored as text
    assert pair_rows([straddling])[0][-1] == ""
    for cell, row in zip(learned, pair_rows(stored), strict=True):
        assert row[-1] == ("clear" if cell.low > 0 or cell.high < 0 else "")
    earlier = [{**r, "clear": str(r["clear"])} for r in stored]  # `clear` stored as text
    assert [row[-1] for row in pair_rows(earlier)] == [row[-1] for row in pair_rows(stored)]
    assert json_default(np.bool_(False)) is False and json_default(np.int64(3)) == 3
    assert json_default(np.float64(0.5)) == 0.5 and json_default(object) == str(object)
    assert json_default(np.datetime64("2026-01-01")) == "2026-01-01"  # dates stay text


def test_a_cell_reads_by_its_columns_level_labels_in_reasons_and_the_learned_table() -> None:
    """`level_labels` word each half of a cell: in a pair reason, in the record training
    keeps of a learned cell, and in the table made from that record; a record without them
    (an earlier model) reads from its values."""
    from model.training import labelled_pair
    from model.wording import describe
    from pipelines.report.card import pair_rows

    labelled = (dataclasses.replace(FEATURES[0], level_labels={"a": "agencies"}),
                dataclasses.replace(FEATURES[1], level_labels={"x": "a webinar"}), FEATURES[2])
    frame, y, _ = _history(4000, 1, PLANTED)
    encoder = FeatureEncoder(labelled, rare_level_min_count=1, pairs=(PAIR,)).fit(frame)
    assert describe(encoder.described[pair_name(PAIR)], "a × x") == "Agencies × a webinar"
    assert describe(encoder.described[pair_name(PAIR)], "b × y") == "B × y"
    model = BayesianLogistic(build_prior((), encoder, encoder.transform(frame), y)).fit(
        encoder.transform(frame), y)
    top = model.pair_effects(encoder.transform(frame), y)[0]
    config = Config(columns=labelled, roles={}, model=ModelSettings(), scoring=ScoringSettings())
    record = labelled_pair(top, config).to_json()
    assert record["values"] == ["a", "x"] and record["value_labels"] == ["agencies", "a webinar"]
    assert pair_rows([record])[0][0] == "Agencies × a webinar"
    assert "value_labels" not in top.to_json() and pair_rows([top.to_json()])[0][0] == "A × x"


def test_without_a_planted_cell_the_pair_terms_stay_near_zero_at_no_loss() -> None:
    losses = []
    for seed in range(3):
        frame, y, _ = _history(2000, 10 + seed, 0.0)
        test, y_test, _ = _history(20000, 99, 0.0)
        with_pairs, encoder = _fit(frame, y, (PAIR,))
        learned = with_pairs.pair_effects(encoder.transform(frame), y)
        assert not any(cell.clear for cell in learned)
        terms = with_pairs.theta_[1:][with_pairs.prior.pooled_columns]
        assert terms.size > 0 and np.abs(terms).max() < 0.2
        pooled = with_pairs.scale_[with_pairs.prior.pooled_columns]
        assert np.median(pooled) < 0.2 and pooled.min() >= POOL_MIN_SCALE / 10
        main, main_encoder = _fit(frame, y, ())
        ones = np.ones(len(y_test))
        losses.append((log_loss(y_test, with_pairs.predict_proba(encoder.transform(test)), ones),
                       log_loss(y_test, main.predict_proba(main_encoder.transform(test)), ones)))
    ratio = np.median([a / b for a, b in losses])
    assert ratio < 1.003, losses


# README's recipe for a team that suspects an alliance: a yes/no column marking the cell,
# believed to raise impact (`monotone: increasing`, `belief: {strength: weak}`), beside the
# watched pair.
SUSPECTED = Column("suspected", "boolean", feature=True, monotone=1, label="Suspected",
                   belief=ColumnBelief(strength="weak"))


def _marked(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(suspected=((frame["sector"] == "a") & (frame["kind"] == "x")).astype(float))


@pytest.mark.parametrize("planted", [PLANTED, 0.0])
def test_a_suspected_cell_marked_with_a_belief_is_learned_from_its_own_rows(planted: float) -> None:
    """A cell of 13-23 rows: marked, its segment follows its own outcomes where the pooled
    prior alone holds it back in some histories, and the belief's verdict says whether the
    outcomes bear the suspicion out (confirmed where the cell pays, uncertain where not)."""
    test, _, truth = _history(20000, 99, planted)
    cell = ((test["sector"] == "a") & (test["kind"] == "x")).to_numpy()
    errors: dict[str, list[float]] = {"pooled": [], "marked": []}
    for seed in range(6):
        frame, y, _ = _history(600, seed, planted)
        pooled, encoder = _fit(frame, y, (PAIR,))
        marked, marked_encoder = _fit(_marked(frame), y, (PAIR,), (*FEATURES, SUSPECTED))
        for name, p in (("pooled", pooled.predict_proba(encoder.transform(test))),
                        ("marked", marked.predict_proba(marked_encoder.transform(_marked(test))))):
            errors[name].append(abs(p[cell].mean() / truth[cell].mean() - 1))
        (check,) = marked.belief_checks()
        assert check.feature == "suspected"
        assert check.verdict == ("confirmed" if planted else "uncertain")
    if planted:  # the pooled prior leaves the cell at 0.58 and 0.61 of its truth in two of six
        assert np.mean(errors["marked"]) < 0.12 < np.mean(errors["pooled"]), errors
        assert max(errors["marked"]) < 0.25 < max(errors["pooled"]), errors


def test_the_structured_design_computes_what_the_dense_matrix_does() -> None:
    rng = np.random.default_rng(0)
    n, dense = 300, 5
    cells = [rng.integers(-1, 4, n), rng.integers(-1, 6, n)]  # -1: in no kept cell
    blocks = [np.zeros((n, 4)), np.zeros((n, 6))]
    for block, index in zip(blocks, cells, strict=True):
        rows = np.flatnonzero(index >= 0)
        block[rows, index[rows]] = 1.0
    Z = np.column_stack([np.ones(n), rng.normal(size=(n, dense - 1)), *blocks])
    design = Design.from_matrix(Z, [(dense, dense + 4), (dense + 4, dense + 10)])
    assert design.first == dense  # the cells are stored as indices, not as columns
    theta, v = rng.normal(size=Z.shape[1]), rng.random(n)
    np.testing.assert_allclose(design.dot(theta), Z @ theta, atol=1e-12)
    np.testing.assert_allclose(design.t_dot(v), Z.T @ v, atol=1e-12)
    np.testing.assert_allclose(design.gram(v), (Z.T * v) @ Z, atol=1e-12)
    Z[0, dense] = 0.5  # not 0/1: kept dense, still right
    fallback = Design.from_matrix(Z, [(dense, dense + 4), (dense + 4, dense + 10)])
    assert fallback.first == Z.shape[1]
    np.testing.assert_allclose(fallback.gram(v), (Z.T * v) @ Z, atol=1e-12)
    X = np.column_stack([rng.normal(size=(n, dense - 1)), *blocks])
    center, unit = np.r_[X[:, :dense - 1].mean(axis=0), np.zeros(10)], np.r_[np.full(dense - 1, 2.0),
                                                                              np.ones(10)]
    shortcut = standardised(X, center, unit, [(dense - 1, dense + 3), (dense + 3, dense + 9)])
    full = np.column_stack([np.ones(n), (X - center) / unit])
    assert isinstance(shortcut, Design) and shortcut.first == dense
    np.testing.assert_allclose(shortcut.gram(v), (full.T * v) @ full, atol=1e-12)
    np.testing.assert_allclose(shortcut.dot(theta), full @ theta, atol=1e-12)
    # A product column encoded after the cells: stored before them, the cells still as
    # indices, every product the same as the dense matrix's.
    X = np.column_stack([X, rng.normal(size=n)])
    center, unit = np.r_[center, 0.3], np.r_[unit, 1.7]
    product = standardised(X, center, unit, [(dense - 1, dense + 3), (dense + 3, dense + 9)])
    full = np.column_stack([np.ones(n), (X - center) / unit])
    assert isinstance(product, Reordered) and product.inner.first == dense + 1
    theta = rng.normal(size=full.shape[1])
    np.testing.assert_allclose(product.gram(v), (full.T * v) @ full, atol=1e-12)
    np.testing.assert_allclose(product.dot(theta), full @ theta, atol=1e-12)
    np.testing.assert_allclose(product.t_dot(v), full.T @ v, atol=1e-12)


def test_the_shipped_configuration_keeps_the_cells_of_its_design_as_indices(
        history: pd.DataFrame, config: Config) -> None:
    """The shipped `interactions:` hold pairs and a product, encoded after them: the
    bayes fit's design still stores the cells as indices (a dense design costs several
    times more per Newton step)."""
    from model.selection import new_encoder

    data = prepare(history, config)
    encoder = new_encoder(config)
    X = encoder.fit(data.proposals).transform(data.proposals)
    prior = build_prior(config.beliefs, encoder, X, data.y, data.weights)
    assert prior.pooled and encoder.specs_[-1].kind == "product"
    design = standardised(X, prior.center, prior.unit,
                          [(start, stop) for _, start, stop in prior.pooled])
    assert isinstance(design, Reordered) and design.inner.cells
    assert design.inner.first < design.p - 10


def test_cells_are_encoded_after_the_features_and_survive_a_round_trip() -> None:
    frame, _, _ = _history(400, 3, 0.0)
    encoder = FeatureEncoder(FEATURES, pairs=(PAIR,), cell_min_count=10).fit(frame)
    X = encoder.transform(frame)
    assert encoder.feature_names == ("sector", "kind", "plan", pair_name(PAIR))
    block = X[:, encoder.main_width_:]
    counts = frame.groupby(list(PAIR)).size()
    assert block.shape[1] == int((counts >= 10).sum())
    assert set(np.unique(block.sum(axis=1))) <= {0.0, 1.0}
    unseen = frame.head(3).assign(sector=["e", None, "a"])
    encoded = encoder.transform(unseen)[:, encoder.main_width_:]
    assert encoded[0].sum() == 0 and encoded[1].sum() == 0  # unseen or missing: no cell
    again = FeatureEncoder.from_dict(encoder.to_dict(), FEATURES)
    np.testing.assert_array_equal(again.transform(frame), X)
    older = encoder.to_dict()
    older["specs"] = [s for s in older["specs"] if s["kind"] != "pair"]
    for key in ("pairs", "cell_min_count"):
        del older[key]
    for spec in older["specs"]:
        del spec["pair"]
    assert FeatureEncoder.from_dict(older, FEATURES).transform(frame).shape[1] == encoder.main_width_


PRODUCT_FEATURES = (
    Column("plan", "boolean", required="no", feature=True, when_true="Has a plan"),
    Column("fte", "number", required="no", feature=True, log=True,
           describe="Partner commits {value} FTE"),
    Column("kind", "category", required="yes", feature=True, values=("x", "y")),
)


def _capacity_history(n: int, seed: int, product: float) -> tuple[pd.DataFrame, np.ndarray]:
    """A plan pays more with more people committed to it, by `product` log-odds per log1p(FTE)."""
    rng = np.random.default_rng(seed)
    plan, fte = (rng.random(n) < 0.5).astype(float), rng.gamma(1.5, 0.8, n)
    logit = -2.0 + 0.8 * plan + 0.2 * np.log1p(fte) + product * plan * np.log1p(fte)
    frame = pd.DataFrame({"plan": plan.astype(bool), "fte": fte, "kind": rng.choice(["x", "y"], n)})
    return frame, (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)


def test_a_product_is_one_column_of_both_encoded_values_after_the_features() -> None:
    frame, _ = _capacity_history(300, 4, 0.0)
    frame = frame.astype({"plan": object, "fte": object})
    frame.loc[0, "fte"], frame.loc[1, "plan"] = None, None
    encoder = FeatureEncoder(PRODUCT_FEATURES, products=(("plan", "fte"),)).fit(frame)
    X = encoder.transform(frame)
    assert encoder.feature_names[-1] == "plan × fte" and X.shape[1] == encoder.main_width_ + 1
    specs = {spec.name: spec for spec in encoder.specs_}
    plan = np.where(frame["plan"].isna(), specs["plan"].fill, frame["plan"].astype(float))
    fte = np.log1p(pd.to_numeric(frame["fte"]).to_numpy(float))
    fte = np.where(np.isnan(fte), specs["fte"].fill, fte)
    np.testing.assert_allclose(X[:, -1], plan * fte, atol=1e-12)
    directions = encoder.directions(frame)  # "higher raises" reads a product's own column
    np.testing.assert_array_equal(directions["plan × fte"], X[:, -1])
    assert np.isnan(directions["fte"][0]) and "kind" not in directions
    assert all(f["feature"] != "plan × fte" for flags in encoder.flags(frame) for f in flags)
    again = FeatureEncoder.from_dict(encoder.to_dict(), PRODUCT_FEATURES)
    np.testing.assert_array_equal(again.transform(frame), X)


def test_a_product_is_learned_where_it_matters_and_its_reason_adds_up() -> None:
    frame, y = _capacity_history(3000, 5, 1.2)
    test, y_test = _capacity_history(20000, 6, 1.2)
    encoder = FeatureEncoder(PRODUCT_FEATURES, products=(("plan", "fte"),)).fit(frame)
    X = encoder.transform(frame)
    model = BayesianLogistic(build_prior((), encoder, X, y)).fit(X, y)
    effect = next(e for e in model.learned_effects() if e.feature == "plan × fte")
    assert effect.low > 0  # clear, and of the planted sign
    main_encoder = FeatureEncoder(PRODUCT_FEATURES).fit(frame)
    X_main = main_encoder.transform(frame)
    main = BayesianLogistic(build_prior((), main_encoder, X_main, y)).fit(X_main, y)
    ones = np.ones(len(y_test))
    assert (log_loss(y_test, model.predict_proba(encoder.transform(test)), ones)
            < log_loss(y_test, main.predict_proba(main_encoder.transform(test)), ones))


@pytest.fixture(scope="module")
def planted(config: Config, tmp_path_factory: pytest.TempPathFactory
            ) -> tuple[pd.DataFrame, ScoringModel]:
    from pipelines.storage.readers import load_proposals

    history, _ = simulate_history(SimulationParams(periods=10, per_period=400, seed=6))
    path = tmp_path_factory.mktemp("planted") / "history.csv"
    history.to_csv(path, index=False)
    data = prepare(load_proposals(path, config, labelled=True), config)
    quick = dataclasses.replace(config, model=dataclasses.replace(config.model, cv_repeats=1))
    model, _ = fit_procedure(BAYES_SPEC, data, quick, seed=0)
    return data.proposals, model


def test_pair_reasons_are_their_own_words_and_add_up_exactly(planted: tuple[pd.DataFrame, ScoringModel],
                                                             config: Config) -> None:
    proposals, model = planted
    expl = explain(model, proposals)
    np.testing.assert_allclose(expl.base_logit + expl.contributions.sum(axis=1), expl.logit,
                               atol=1e-9)
    np.testing.assert_allclose(expl.probability, sigmoid(expl.logit), atol=1e-15)
    name = pair_name(("partner_sector", "partnership_type"))
    j = expl.features.index(name)
    cell = ((proposals["partner_sector"] == "wealth_management")
            & (proposals["partnership_type"] == "technical_integration")).to_numpy()
    assert cell.sum() >= 10 and np.all(expl.contributions[cell, j] > 1.0)
    encoder = model.encoder
    kept = {lvl for spec in encoder.specs_ if spec.name == name for lvl in spec.levels}
    outside = np.array([f"{a} × {b}" not in kept for a, b in
                        zip(proposals["partner_sector"], proposals["partnership_type"],
                            strict=True)])
    assert np.all(expl.contributions[outside, j] == 0.0)  # explained against no cell
    first = int(np.flatnonzero(cell)[0])
    one = proposals.iloc[[first]]
    items, upward, _ = reasons(explain(model, one), one, encoder.described, top=30)[0]
    reason = next(r for r in items if r["feature"] == name)
    assert reason["label"] == "Wealth management × technical integration" == cell_label(
        "wealth_management × technical_integration")
    assert reason in upward and reason["points"] > 0
    assert sum(r["logit"] for r in items) == pytest.approx(expl.logit[first] - expl.base_logit,
                                                           abs=1e-9)


def test_a_product_reason_is_worded_from_both_fields_and_adds_up(
        planted: tuple[pd.DataFrame, ScoringModel]) -> None:
    proposals, model = planted
    name = pair_name(("has_action_plan", "partner_committed_fte"))
    assert name in model.encoder.feature_names
    fte = pd.to_numeric(proposals["partner_committed_fte"], errors="coerce")
    rows = [int(np.flatnonzero((proposals["has_action_plan"] == True) & (fte == 2))[0]),  # noqa: E712
            int(np.flatnonzero(fte.isna())[0])]
    some = proposals.iloc[rows]
    expl = explain(model, some)
    explained = reasons(expl, some, model.encoder.described, top=30)
    first = next(r for r in explained[0][0] if r["feature"] == name)
    assert first["label"] == "Has an action plan × partner commits 2 FTE"
    assert first["value"] == "yes × 2"
    missing = next(r for r in explained[1][0] if r["feature"] == name)
    assert missing["label"].endswith("× partner commitment (FTE): not given")
    for i, (items, _, _) in enumerate(explained):
        assert sum(r["logit"] for r in items) == pytest.approx(expl.logit[i] - expl.base_logit,
                                                               abs=1e-9)


def test_a_learned_product_is_recorded_in_words(planted: tuple[pd.DataFrame, ScoringModel]) -> None:
    from pipelines.jobs.train import belief_records

    _, model = planted
    name = pair_name(("has_action_plan", "partner_committed_fte"))
    effect = LearnedEffect(name, None, 0.4, 0.1, 0.7, "raises")
    record = belief_records([effect], model.encoder.described, learned=True)[0]
    assert record.label == "Action plan with higher partner commitment (FTE) raises impact"
    assert (record.feature, record.effect, record.interval) == (name, 0.4, (0.1, 0.7))
