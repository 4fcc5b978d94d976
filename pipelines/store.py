"""The labelled store: one file per trial period plus a manifest with digests."""

from __future__ import annotations

import json

import pandas as pd

from model.schema import Config
from pipelines.settings import Workspace

MANIFEST = "manifest.json"


def read_all(workspace: Workspace, config: Config) -> pd.DataFrame | None:
    """Every stored period's labelled proposals, or None when nothing is stored yet."""
    manifest_path = workspace.store / MANIFEST
    if not manifest_path.exists():
        return None
    manifest = json.loads(manifest_path.read_text("utf-8"))
    frames = [pd.read_parquet(workspace.store / entry["file"])
              for _, entry in sorted(manifest["periods"].items())]
    return pd.concat(frames, ignore_index=True) if frames else None
