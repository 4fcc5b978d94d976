"""Every training checks the exported model's explanations against shap's own explainer.

Domain: the check passes on real fitted models and refuses corrupted ones; its summary
is what `explain` gives. End to end: a corrupted export is never registered; a good
one logs shap's values per feature with the run and feeds the model report.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import Trained
from mlflow import MlflowClient

from model.calibration import Platt
from model.config import Config
from model.errors import ExplanationMismatch
from model.estimators import CandidateSpec, MarginModel
from model.explain import explain, global_importance
from model.pairs import is_pair
from model.scorer import ScoringModel
from model.selection import fit_margin, prepare
from model.shap_check import (
    SAMPLE_ROWS,
    ShapSummary,
    TrainingShap,
    check_explanations,
    shap_values,
    verify_training_explanations,
)
from pipelines.report.build import render_report
from pipelines.storage.bundle import Bundle, load_bundle

TREES = CandidateSpec("boosted_trees", {"learning_rate": 0.1, "max_iter": 40, "max_depth": 3,
                                        "min_samples_leaf": 20, "l2_regularization": 1.0})
LINEAR = CandidateSpec("logistic", {"C": 0.3})


@pytest.fixture(scope="module", params=[LINEAR, TREES], ids=["logistic", "trees"])
def exported(request: pytest.FixtureRequest, history: pd.DataFrame,
             config: Config) -> tuple[ScoringModel, MarginModel, np.ndarray, pd.DataFrame]:
    """A fitted estimator on the sample history and its export, with a calibration that is not 1:1."""
    data = prepare(history, config)
    encoder, fitted, X = fit_margin(request.param, data.proposals, data.y, data.weights, config, 0)
    return fitted.to_scoring_model(encoder, X, Platt(0.8, -0.2)), fitted, X, data.proposals


@pytest.fixture(scope="module")
def explained(exported: tuple) -> TrainingShap:
    model, fitted, _, proposals = exported
    return verify_training_explanations(model, fitted, proposals, seed=3)


def test_the_exported_model_agrees_with_shap(exported: tuple, explained: TrainingShap) -> None:
    model, fitted, X, _ = exported
    assert explained.summary.max_difference <= 1e-9
    assert explained.summary.explainer == ("LinearExplainer" if fitted.spec.kind == "logistic"
                                           else "TreeExplainer")
    assert explained.contributions.shape == (len(X), len(model.encoder.feature_names))
    np.testing.assert_allclose(explained.reference.base_value + explained.contributions.sum(axis=1),
                               fitted.margin(X), atol=1e-9)


def test_the_summary_is_what_explain_gives_in_calibrated_log_odds(
        exported: tuple, explained: TrainingShap, config: Config) -> None:
    model, _, _, proposals = exported
    expl = explain(model, proposals)
    numbers = {c.name: pd.to_numeric(proposals[c.name], errors="coerce").to_numpy(dtype=float)
               for c in config.features if c.is_numeric or c.type == "boolean"}
    encoded = model.encoder.transform(proposals)
    numbers.update({name: encoded[:, model.encoder.columns_.index(name)]  # a product's column
                    for name in model.encoder.feature_names
                    if is_pair(name) and name in model.encoder.columns_})
    expected = global_importance(expl, numbers)
    summary = explained.summary
    assert [r["feature"] for r in summary.importance] == [r["feature"] for r in expected]
    for ours, theirs in zip(summary.importance, expected, strict=True):
        assert abs(ours["mean_abs_logit"] - theirs["mean_abs_logit"]) <= 1e-9
        assert ours["direction"] == theirs["direction"], (ours, theirs)
    assert summary.base_logit == pytest.approx(expl.base_logit, abs=1e-9)
    assert summary.rows == len(proposals)


def test_the_sample_is_bounded_seeded_and_in_the_shown_unit(
        exported: tuple, explained: TrainingShap) -> None:
    model, fitted, _, proposals = exported
    summary = explained.summary
    assert set(summary.sample) == set(model.encoder.feature_names) == set(summary.shade)
    rows = {len(v) for v in (*summary.sample.values(), *summary.shade.values())}
    assert rows == {min(SAMPLE_ROWS, len(proposals))}
    again = verify_training_explanations(model, fitted, proposals, seed=3).summary
    other = verify_training_explanations(model, fitted, proposals, seed=4).summary
    assert again.sample == summary.sample and other.sample != summary.sample
    contributions = explain(model, proposals).contributions
    feature = summary.importance[0]["feature"]
    column = contributions[:, model.encoder.feature_names.index(feature)]
    assert set(summary.sample[feature]) <= {round(float(v), 3) for v in column}
    shades = [s for values in summary.shade.values() for s in values if s is not None]
    assert shades and min(shades) >= 0.0 and max(shades) <= 1.0
    assert set(summary.shade["partner_sector"]) == {None}  # a category has no low and high


def test_the_summary_round_trips_through_json_and_stays_small(explained: TrainingShap) -> None:
    text = json.dumps(explained.summary.to_json(), indent=1)  # as the bundle writes it
    assert ShapSummary.from_json(json.loads(text)) == explained.summary
    assert len(text.encode()) < 80_000


def _corrupt(model: ScoringModel, how: str) -> ScoringModel:
    if model.coef is not None:
        assert model.reference is not None
        changes = {"contributions": {"coef": model.coef * (1 + 1e-6)},
                   "base value": {"intercept": model.intercept + 1e-6},
                   "rounding": {"coef": model.coef * (1 + 1e-15)}}[how]
        return dataclasses.replace(model, **changes)
    assert model.trees is not None
    trees = model.trees
    changes = {"contributions": {"table": trees.table * (1 + 1e-6)},
               "base value": {"base_margin": trees.base_margin + 1e-6},
               "rounding": {"table": trees.table * (1 + 1e-15)}}[how]
    return dataclasses.replace(model, trees=dataclasses.replace(trees, **changes))


@pytest.mark.parametrize("how", ["contributions", "base value"])
def test_a_corrupted_export_is_refused_with_what_differs(exported: tuple, how: str) -> None:
    model, fitted, X, _ = exported
    reference = shap_values(fitted, X)
    with pytest.raises(ExplanationMismatch) as error:
        check_explanations(_corrupt(model, how), reference, X)
    message = str(error.value)
    assert f"{how} by" in message and reference.explainer in message
    assert "not registered" in message and "tolerance 1e-09" in message
    if how == "contributions":
        assert "training row" in message and "column '" in message


def test_rounding_level_differences_pass(exported: tuple) -> None:
    model, fitted, X, _ = exported
    assert check_explanations(_corrupt(model, "rounding"), shap_values(fitted, X), X) <= 1e-9


@pytest.mark.parametrize("spec", [LINEAR, TREES], ids=["logistic", "trees"])
def test_training_refuses_to_register_a_corrupted_export(
        tmp_path: Path, config: Config, history: pd.DataFrame, monkeypatch: pytest.MonkeyPatch,
        spec: CandidateSpec) -> None:
    from pipelines.jobs.train import run_training
    from pipelines.settings import Workspace, default_config_text

    export = MarginModel.to_scoring_model

    def corrupted(self: MarginModel, *args: object, **kwargs: object) -> ScoringModel:
        return _corrupt(export(self, *args, **kwargs), "contributions")  # type: ignore[arg-type]

    monkeypatch.setattr(MarginModel, "to_scoring_model", corrupted)
    quick = dataclasses.replace(config, model=dataclasses.replace(
        config.model, candidates=(spec.kind,), logistic_c=(0.3,), boosted_trees=(spec.params,),
        cv_repeats=1, bootstrap_samples=20, backtest_periods=1))
    workspace = Workspace.resolve(tmp_path / "workspace")
    with pytest.raises(ExplanationMismatch, match="was not registered"):
        run_training(workspace, quick, default_config_text(), history, "history", seed=0)
    client = MlflowClient(workspace.tracking_uri(), workspace.tracking_uri())
    assert client.search_model_versions() == []
    experiments = [e.experiment_id for e in client.search_experiments()]
    assert not experiments or list(client.search_runs(experiments)) == []
    assert not workspace.champion.exists()


@pytest.fixture(scope="module")
def champion(trained: Trained) -> Bundle:
    return load_bundle(trained.workspace.champion)


def test_the_run_logs_shap_values_per_feature(trained: Trained, champion: Bundle,
                                              tmp_path: Path) -> None:
    client = MlflowClient(trained.workspace.tracking_uri(), trained.workspace.tracking_uri())
    path = client.download_artifacts(trained.outcome.run_id, "shap/contributions.csv", str(tmp_path))
    table = pd.read_csv(path)
    features = list(champion.model.encoder.feature_names)
    assert list(table.columns) == ["proposal_id", *features, "base_value", "margin"]
    assert list(table["proposal_id"]) == list(trained.history["proposal_id"])
    np.testing.assert_allclose(table["base_value"] + table[features].sum(axis=1), table["margin"],
                               atol=1e-9)
    shown = explain(champion.model, trained.history)
    np.testing.assert_allclose(table[features].to_numpy() * champion.model.calibration.slope,
                               shown.contributions, atol=1e-9)


def test_the_bundle_keeps_the_summary_and_it_matches_the_exported_model(
        trained: Trained, champion: Bundle) -> None:
    summary = ShapSummary.from_json(champion.training.shap)
    assert summary.rows == len(trained.history) and summary.max_difference <= 1e-9
    assert summary.explainer in ("LinearExplainer", "TreeExplainer")
    stored = {r["feature"]: r["mean_abs_logit"] for r in champion.training.importance}
    for row in summary.importance:
        assert abs(row["mean_abs_logit"] - stored[row["feature"]]) <= 1e-9
    assert (trained.workspace.champion / "training.json").stat().st_size < 150_000


def _beeswarm(text: str) -> str:
    start = text.index('class="beeswarm"')
    return text[start:text.index("</svg>", start)]


def test_the_model_report_needs_no_data(champion: Bundle) -> None:
    text = render_report(champion, None)
    summary = ShapSummary.from_json(champion.training.shap)
    rows = len(next(iter(summary.sample.values())))
    assert _beeswarm(text).count("<circle") == 8 * rows + 3  # 8 features, the legend's 3 dots
    assert f"({rows} of {summary.rows}, a fixed sample kept with the model" in text
    assert f"computed by shap's {summary.explainer}" in text and "id=no-sample" not in text


def test_given_proposals_replace_the_stored_sample(champion: Bundle, history: pd.DataFrame) -> None:
    text = render_report(champion, None, sample=history.head(40))
    assert _beeswarm(text).count("<circle") == 8 * 40 + 3 and "(40 of 40 given)" in text


def test_a_model_without_a_summary_shows_importance_and_says_why(champion: Bundle) -> None:
    older = dataclasses.replace(champion, training=dataclasses.replace(champion.training, shap=None))
    text = render_report(older, None)
    assert "id=no-sample" in text and 'class="beeswarm"' not in text
    assert 'class="importance"' in text and "computed by shap" not in text


def test_the_model_report_reads_the_summary_without_shap_or_scikit_learn(trained: Trained,
                                                                         tmp_path: Path) -> None:
    """The report reads promotion decisions from MLflow, but draws shap's views from the bundle."""
    import subprocess
    import sys

    probe = ("import sys\nfrom pipelines.cli import main\n"
             "try:\n    main(sys.argv[1:])\nexcept SystemExit as exit:\n    assert not exit.code\n"
             "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'shap', 'matplotlib'}))")
    argv = ["--workspace", str(trained.workspace.root), "report", "--output", str(tmp_path / "m.html")]
    done = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert 'class="beeswarm"' in (tmp_path / "m.html").read_text("utf-8")
