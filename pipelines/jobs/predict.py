"""Scoring proposals with reasons: the command BD staff live in.

Kept light on purpose: this path imports numpy, pandas and PyYAML, never
scikit-learn, shap, matplotlib or MLflow (unless a registry URI is asked for).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from model.config import Column, Config, TrackingSettings
from model.explain import Explanation, explain, reasons
from model.surprises import count_quantile
from pipelines.documents import Flag, ScoredBatch, ScoredProposal
from pipelines.storage.bundle import Bundle, BundleError, load_bundle
from pipelines.tracking import is_registry_uri

# A missing optional value is worth flagging only where the model relies on the field.
RELIED_ON = 0.02


def resolve_model(model: str | None, champion_dir: Path,
                  tracking: TrackingSettings | None = None) -> Bundle:
    """Load the exported champion, a bundle directory, or a `models:/` registry URI.

    `tracking` bounds the waits on a tracking server (default: MLflow's own variables
    where set, else the shipped settings).

    Raises:
        BundleError: when the model is missing, altered or not a partnerscore model.
    """
    if model is None:
        if not champion_dir.exists():
            raise BundleError(
                f"no champion model in {champion_dir.parent}: train one first "
                "(partnerscore train) or pass --model")
        return load_bundle(champion_dir)
    if is_registry_uri(model):
        from pipelines.settings import Workspace

        return _registry_bundle(model, Workspace(champion_dir.parent).tracking_uri(), tracking)
    path = Path(model)
    if path.is_file():
        raise BundleError(f"--model {model}: a single file ({_file_kind(path)}); partnerscore loads "
                          "only model directories verified by their sha256 manifest and never "
                          "unpickles a file, so pickle and joblib models are refused")
    if not path.is_dir():
        raise BundleError(f"--model {model}: neither a models:/ URI nor a model directory")
    return load_bundle(path)


def _file_kind(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(2)
    return "it looks like a pickle or joblib file" if head[:1] == b"\x80" else "not a model directory"


def _registry_bundle(model: str, tracking_uri: str, settings: TrackingSettings | None) -> Bundle:
    """Download a registered version with pickle disabled, verify and load it, delete the copy."""
    import dataclasses
    import tempfile

    from pipelines.tracking.gateway import Gateway

    gateway = Gateway.reader(tracking_uri, settings)
    with tempfile.TemporaryDirectory(prefix="partnerscore-model-") as tmp:
        bundle = load_bundle(gateway.download_bundle(model, Path(tmp)))
    # The downloaded copy is gone: name the model by the URI it was asked for, and an
    # alias by the version it resolved to.
    name, _, version = model.removeprefix("models:/").partition("/")
    if "@" in name:
        name, _, alias = name.partition("@")
        version = gateway.alias_version(name, alias) or ""
    registry = {"uri": model, **({"name": name, "version": version}
                                 if model.startswith("models:/") and version.isdigit() else {})}
    manifest = {**bundle.manifest, "registry": {**bundle.registry, **registry}}
    return dataclasses.replace(bundle, manifest=manifest)


def _flags(bundle: Bundle, proposals: pd.DataFrame) -> list[list[Flag]]:
    importance = {row["feature"]: row["mean_abs_logit"] for row in bundle.training.importance}
    return [[f for f in row if f["kind"] != "missing"
             or importance.get(f["feature"], 1.0) >= RELIED_ON]
            for row in bundle.model.encoder.flags(proposals)]


def _ranks(probability: np.ndarray) -> np.ndarray:
    order = np.argsort(-probability, kind="stable")
    ranks = np.empty(len(probability), dtype=np.int64)
    ranks[order] = np.arange(1, len(probability) + 1)
    return ranks


Intervals = list[tuple[float, float] | None]


def _intervals(bundle: Bundle, proposals: pd.DataFrame, expl: Explanation) -> Intervals:
    """Each proposal's (low, high) probability, centred on the explanation's own log-odds
    so that low <= impact_probability <= high holds exactly; None for a model without."""
    model = bundle.model
    found = model.interval_from(model.encoder.transform(proposals), expl.logit)
    if found is None:
        return [None] * len(proposals)
    return [(float(lo), float(hi)) for lo, hi in zip(*found, strict=True)]


def _records(expl: Explanation, proposals: pd.DataFrame, config: Config,
             columns: dict[str, Column], top: int, flags: list[list[Flag]],
             intervals: Intervals) -> list[ScoredProposal]:
    probability, ranks = expl.probability, _ranks(expl.probability)
    name_column = config.roles.get("name")
    ids = proposals[config.role("id")].tolist()
    names = (proposals[name_column].tolist() if name_column in proposals
             else [None] * len(proposals))
    explained = reasons(expl, proposals, columns, top)
    out = []
    for i, (items, upward, downward) in enumerate(explained):
        p = float(probability[i])
        out.append(ScoredProposal(
            proposal_id=ids[i], partner_name=names[i], impact_probability=p, score=round(100 * p),
            grade=config.scoring.grade(p), rank=int(ranks[i]), logit=float(expl.logit[i]),
            contributions=items, reasons_for=upward, reasons_against=downward, flags=flags[i],
            impact_interval=intervals[i],
            grade_interval=config.scoring.grade_interval(intervals[i])))
    return out


def score_batch(bundle: Bundle, proposals: pd.DataFrame, *, top: int | None = None,
                capacity: int | None = None) -> ScoredBatch:
    """Probability, score, grade, rank, exact contributions, reasons and flags per proposal."""
    config = bundle.config
    expl = explain(bundle.model, proposals)
    top = config.scoring.top_reasons if top is None else top
    records = _records(expl, proposals, config, bundle.model.encoder.described, top,
                       _flags(bundle, proposals),
                       _intervals(bundle, proposals, expl))
    summary = None
    if capacity is not None:
        # The 5% quantile at the proposals' interval lows and the 95% one at their highs:
        # the model's uncertainty and chance together. Each proposal is taken at its own
        # edge, so the range errs wide rather than narrow; it is not calibrated beyond that.
        for record in records:
            record.within_capacity = record.rank <= capacity
        taken = [r for r in records if r.within_capacity]
        chosen = [r.impact_probability for r in taken]
        lows = [r.impact_interval[0] if r.impact_interval else r.impact_probability for r in taken]
        highs = [r.impact_interval[1] if r.impact_interval else r.impact_probability for r in taken]
        summary = {"capacity": capacity, "selected": len(chosen),
                   "expected_impactful": float(sum(chosen)),
                   "impactful_range": [count_quantile(lows, 0.05), count_quantile(highs, 0.95)]}
    return ScoredBatch(model=model_info(bundle), base_logit=expl.base_logit,
                       base_probability=expl.base_probability, proposals=records,
                       capacity=summary, provisional=bundle.training.provisional,
                       labels=config.feature_labels)


def model_info(bundle: Bundle) -> dict[str, Any]:
    """Name, version, URI, trained periods and outcome counts of the model in use."""
    registry, data = bundle.registry, bundle.training.data
    return {"name": registry.get("name"), "version": registry.get("version"),
            "uri": registry.get("uri") or str(bundle.path),
            "periods": bundle.training.periods,
            "synced_at": registry.get("synced_at"),
            "rows": data.get("rows"), "positives": data.get("positives"),
            "interval_level": bundle.model.level if bundle.model.covariance is not None else None}


def proposals_from_settings(pairs: list[str], config: Config) -> list[dict[str, str]]:
    """One proposal from repeated `--set field=value` options; every field must be one of
    the contract's (a misspelt field would otherwise be scored as missing)."""
    from difflib import get_close_matches

    from model.validation import ContractError, Problem

    record: dict[str, str] = {}
    problems = []
    for pair in pairs:
        field, sep, value = pair.partition("=")
        name = field.strip().lower()
        if not sep or not name:
            problems.append(Problem(None, None, pair, "FIELD=VALUE"))
        elif name not in config.by_name:
            close = get_close_matches(name, list(config.by_name), n=1, cutoff=0.6)
            problems.append(Problem(None, field.strip(), pair, (
                f"a field of the contract: did you mean {close[0]}?" if close else
                f"a field of the contract ({', '.join(c.name for c in config.columns)})")))
        else:
            record[name] = value
    if problems:
        raise ContractError(problems, source="--set")
    record.setdefault("proposal_id", "proposal-1")
    return [record]


def offline_note(bundle: Bundle) -> str:
    """Which model version answers, and when it was synced from the registry."""
    info = model_info(bundle)
    version = f"{info['name']} v{info['version']}" if info["version"] else str(info["uri"])
    synced = f", synced {info['synced_at']}" if info.get("synced_at") else ""
    return f"model {version}{synced}"


__all__ = ["BundleError", "ScoredBatch", "resolve_model", "score_batch"]


def read_proposals(source: str | None, settings: list[str], config: Config,
                   sheet: str | None = None) -> pd.DataFrame:
    """Validated proposals from a file, standard input (`-`), or `--set` pairs."""
    from model.validation import validate_frame
    from pipelines.storage.readers import load_proposals

    if settings:
        if source is not None:
            from model.validation import ContractError, Problem

            raise ContractError([Problem(None, None, source, "either FILE or --set, not both")])
        raw = pd.DataFrame(proposals_from_settings(settings, config), dtype=object)
        raw.index = pd.RangeIndex(1, 2, name="row")
        return validate_frame(raw, config, labelled=False)
    return load_proposals(source or "-", config, labelled=False, sheet=sheet)


def run_predict(champion_dir: Path, source: str | None, *, model: str | None = None,
                settings: list[str] | None = None, top: int | None = None,
                capacity: int | None = None, sheet: str | None = None,
                tracking: TrackingSettings | None = None) -> tuple[ScoredBatch, str]:
    """Load the model, validate the proposals with its contract, and score them."""
    bundle = resolve_model(model, champion_dir, tracking)
    proposals = read_proposals(source, settings or [], bundle.config, sheet)
    return score_batch(bundle, proposals, top=top, capacity=capacity), offline_note(bundle)
