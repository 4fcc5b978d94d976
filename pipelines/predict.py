"""Scoring proposals with reasons: the command BD staff live in.

Kept light on purpose: this path imports numpy, pandas and PyYAML, never
scikit-learn, shap, matplotlib or MLflow (unless a registry URI is asked for).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from model.explain import Explanation, explain, reasons
from model.schema import Config
from pipelines.bundle import Bundle, BundleError, load_bundle

# A missing optional value is worth flagging only where the model relies on the field.
RELIED_ON = 0.02


@dataclass(frozen=True)
class ScoredBatch:
    """The JSON-shaped result of scoring a batch (see `as_json`)."""

    model: dict[str, Any]
    base_logit: float
    base_probability: float
    proposals: list[dict[str, Any]]
    capacity: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        """The `--format json` document."""
        out = {"model": self.model, "base_logit": self.base_logit,
               "base_probability": self.base_probability, "proposals": self.proposals}
        if self.capacity is not None:
            out["capacity"] = self.capacity
        return out


def resolve_model(model: str | None, champion_dir: Path) -> Bundle:
    """Load the exported champion, a bundle directory, or a `models:/` registry URI.

    Raises:
        BundleError: when the model is missing, altered or not a partnerscore model.
    """
    if model is None:
        if not champion_dir.exists():
            raise BundleError(
                f"no champion model in {champion_dir.parent}: train one first "
                "(partnerscore train) or pass --model")
        return load_bundle(champion_dir)
    if model.startswith(("models:/", "runs:/")):
        from pipelines import tracking

        return load_bundle(tracking.download_bundle(model))
    path = Path(model)
    if not path.is_dir():
        raise BundleError(f"--model {model}: neither a models:/ URI nor a model directory")
    return load_bundle(path)


def _flags(bundle: Bundle, proposals: pd.DataFrame) -> list[list[dict[str, Any]]]:
    importance = {row["feature"]: row["mean_abs_logit"]
                  for row in bundle.training.get("importance", [])}
    return [[f for f in row if f["kind"] != "missing"
             or importance.get(f["feature"], 1.0) >= RELIED_ON]
            for row in bundle.model.encoder.flags(proposals)]


def _ranks(probability: np.ndarray) -> np.ndarray:
    order = np.argsort(-probability, kind="stable")
    ranks = np.empty(len(probability), dtype=np.int64)
    ranks[order] = np.arange(1, len(probability) + 1)
    return ranks


def _record(i: int, expl: Explanation, proposals: pd.DataFrame, config: Config,
            top: int, ranks: np.ndarray, flags: list[list[dict[str, Any]]]) -> dict[str, Any]:
    p = float(expl.probability[i])
    items, upward, downward = reasons(expl, i, proposals, config.by_name, top)
    name_column = config.roles.get("name")
    name = proposals.iloc[i][name_column] if name_column in proposals else None
    return {"proposal_id": proposals.iloc[i][config.role("id")], "partner_name": name,
            "impact_probability": p, "score": round(100 * p), "grade": config.scoring.grade(p),
            "rank": int(ranks[i]), "logit": float(expl.logit[i]), "contributions": items,
            "reasons_for": upward, "reasons_against": downward, "flags": flags[i]}


def score_batch(bundle: Bundle, proposals: pd.DataFrame, *, top: int | None = None,
                capacity: int | None = None) -> ScoredBatch:
    """Probability, score, grade, rank, exact contributions, reasons and flags per proposal."""
    config = bundle.config
    expl = explain(bundle.model, proposals)
    ranks = _ranks(expl.probability)
    flags = _flags(bundle, proposals)
    top = config.scoring.top_reasons if top is None else top
    records = [_record(i, expl, proposals, config, top, ranks, flags)
               for i in range(len(proposals))]
    summary = None
    if capacity is not None:
        for record in records:
            record["within_capacity"] = record["rank"] <= capacity
        chosen = [r["impact_probability"] for r in records if r["within_capacity"]]
        summary = {"capacity": capacity, "selected": len(chosen),
                   "expected_impactful": float(sum(chosen))}
    return ScoredBatch(model=model_info(bundle), base_logit=expl.base_logit,
                       base_probability=expl.base_probability, proposals=records,
                       capacity=summary)


def model_info(bundle: Bundle) -> dict[str, Any]:
    """Name, version, URI and trained periods of the model in use."""
    registry = bundle.registry
    return {"name": registry.get("name"), "version": registry.get("version"),
            "uri": registry.get("uri") or str(bundle.path),
            "periods": bundle.training.get("data", {}).get("periods", []),
            "synced_at": registry.get("synced_at")}


def proposals_from_settings(pairs: list[str]) -> list[dict[str, str]]:
    """One proposal from repeated `--set field=value` options."""
    record: dict[str, str] = {}
    for pair in pairs:
        field, sep, value = pair.partition("=")
        if not sep or not field.strip():
            from model.validation import ContractError, Problem

            raise ContractError([Problem(None, None, pair, "FIELD=VALUE")], source="--set")
        record[field.strip().lower()] = value
    record.setdefault("proposal_id", "proposal-1")
    return [record]


def offline_note(bundle: Bundle) -> str:
    """Which model version answers, and when it was synced from the registry."""
    info = model_info(bundle)
    version = f"{info['name']} v{info['version']}" if info["version"] else str(bundle.path)
    synced = f", synced {info['synced_at']}" if info.get("synced_at") else ""
    return f"model {version}{synced}"


def pickle_free_mlflow() -> None:
    """Refuse pickle-based model formats wherever prediction touches MLflow."""
    os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "false"


__all__ = ["BundleError", "ScoredBatch", "resolve_model", "score_batch"]


def read_proposals(source: str | None, settings: list[str], config: Config,
                   sheet: str | None = None) -> pd.DataFrame:
    """Validated proposals from a file, standard input (`-`), or `--set` pairs."""
    from model.validation import validate_frame
    from pipelines.io import load_proposals

    if settings:
        if source is not None:
            from model.validation import ContractError, Problem

            raise ContractError([Problem(None, None, source, "either FILE or --set, not both")])
        raw = pd.DataFrame(proposals_from_settings(settings), dtype=object)
        raw.index = pd.RangeIndex(1, 2, name="row")
        return validate_frame(raw, config, labelled=False)
    return load_proposals(source or "-", config, labelled=False, sheet=sheet)


def run_predict(champion_dir: Path, source: str | None, *, model: str | None = None,
                settings: list[str] | None = None, top: int | None = None,
                capacity: int | None = None, sheet: str | None = None) -> tuple[ScoredBatch, str]:
    """Load the model, validate the proposals with its contract, and score them."""
    if model is not None and model.startswith(("models:/", "runs:/")):
        pickle_free_mlflow()
    bundle = resolve_model(model, champion_dir)
    proposals = read_proposals(source, settings or [], bundle.config, sheet)
    return score_batch(bundle, proposals, top=top, capacity=capacity), offline_note(bundle)
