"""The registered model's Python code, logged with MLflow's models-from-code.

MLflow copies this file into the model and runs it when the model is loaded: it
declares a pyfunc whose artifact is a verified partnerscore bundle, so
`mlflow models serve` answers with the fields of `partnerscore predict --format json`
(one record per proposal) and no pickle is ever involved.
"""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel

from model.config import Config
from model.validation import cell_text, validate_frame
from pipelines.jobs.predict import score_batch
from pipelines.storage.bundle import load_bundle


def raw_frame(model_input: pd.DataFrame) -> pd.DataFrame:
    """Typed request columns back to the all-text cells the data contract validates."""
    def text(value: Any) -> str | None:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return cell_text(value)

    frame = pd.DataFrame({str(c).strip().lower(): [text(v) for v in model_input[c].tolist()]
                          for c in model_input.columns}, dtype=object)
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
    return frame


def request_frame(proposals: pd.DataFrame, config: Config) -> pd.DataFrame:
    """Validated proposals as a client sends them: the signature's columns (an optional one
    the proposals lack sent as null), real booleans."""
    keep = [c.name for c in config.columns
            if c.feature or c.name in (config.role("id"), config.roles.get("name"))]
    request = proposals.reindex(columns=keep).astype(
        {name: object for name in keep if name not in proposals})
    for column in config.columns:
        if column.name in request and column.type == "boolean":
            request[column.name] = pd.Series(
                [None if v != v else bool(v) for v in request[column.name]],
                index=request.index, dtype=object)
    return request.reset_index(drop=True)


class PartnerscoreModel(PythonModel):
    """Scores proposals with calibrated probability, grade, rank and exact reasons."""

    def load_context(self, context: Any) -> None:
        """Verify and load the bundle shipped as the model's artifact."""
        self.bundle = load_bundle(context.artifacts["bundle"])

    def predict(self, context: Any, model_input: pd.DataFrame,
                params: dict[str, Any] | None = None) -> pd.DataFrame:
        """One record per proposal, as in `partnerscore predict --format json`."""
        proposals = validate_frame(raw_frame(pd.DataFrame(model_input)), self.bundle.config,
                                   labelled=False)
        top = int((params or {}).get("top", self.bundle.config.scoring.top_reasons))
        batch = score_batch(self.bundle, proposals, top=top)
        return pd.DataFrame([p.to_json() for p in batch.proposals])


mlflow.models.set_model(PartnerscoreModel())
