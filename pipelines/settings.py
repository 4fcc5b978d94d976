"""Configuration loading and workspace paths: every location the tool writes is named here."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from model.config import Config, ConfigError, parse_config

DEFAULT_WORKSPACE = "partnerscore-workspace"


def default_config_text() -> str:
    """The configuration shipped with partnerscore (the data contract's default columns)."""
    return resources.files("pipelines.conf").joinpath("partnerscore.yaml").read_text("utf-8")


def load_config(path: str | Path | None = None) -> Config:
    """Load and validate a configuration file, or the shipped default when `path` is None.

    Raises:
        ConfigError: when the file is missing, not YAML, or breaks the schema.
    """
    return read_config(path)[0]


def read_config(path: str | Path | None = None) -> tuple[Config, str]:
    """The validated configuration and the exact text it was read from (kept with each model).

    Raises:
        ConfigError: when the file is missing, not UTF-8 YAML, or breaks the schema; the
            message names the file and, for each problem, the key and the value expected.
    """
    if path is None:
        text, source = default_config_text(), ""
    else:
        source = str(path)
        try:
            text = Path(path).read_text("utf-8")
        except OSError as exc:
            raise ConfigError([f"cannot read the file: {exc.strerror}"], source) from exc
        except UnicodeDecodeError as exc:
            raise ConfigError([f"expected UTF-8 text, got byte {exc.object[exc.start]:#x} at "
                               f"offset {exc.start}"], source) from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([f"expected YAML: {' '.join(str(exc).split())}"], source) from exc
    except RecursionError:
        raise ConfigError(["expected YAML nested a few levels deep, not thousands"], source) from None
    try:
        config = parse_config(raw, digest=hashlib.sha256(text.encode("utf-8")).hexdigest())
    except ConfigError as exc:
        raise ConfigError(exc.problems, source) from None
    return config, text


@dataclass(frozen=True)
class Workspace:
    """One team's state on disk: labelled store, decisions, MLflow data and exported champion."""

    root: Path

    @classmethod
    def resolve(cls, path: str | Path | None = None) -> Workspace:
        """`--workspace`, else PARTNERSCORE_WORKSPACE, else ./partnerscore-workspace."""
        chosen = path or os.environ.get("PARTNERSCORE_WORKSPACE") or DEFAULT_WORKSPACE
        return cls(Path(chosen).expanduser().resolve())

    @property
    def store(self) -> Path:
        """The labelled store: one Parquet file per trial period plus a manifest."""
        return self.root / "store"

    @property
    def decisions(self) -> Path:
        """The append-only log of accept/decline decisions."""
        return self.root / "decisions.jsonl"

    @property
    def champion(self) -> Path:
        """The exported champion model, loadable without MLflow."""
        return self.root / "champion"

    @property
    def weak_signals(self) -> Path:
        """The store's weak-signal report, kept until the store or configuration changes."""
        return self.root / "cache" / "weak-signals.json"

    @property
    def mlflow_db(self) -> Path:
        """The local MLflow tracking and registry database."""
        return self.root / "mlflow.db"

    @property
    def artifacts(self) -> Path:
        """Where local MLflow runs keep their artifacts."""
        return self.root / "mlartifacts"

    @property
    def lock(self) -> Path:
        """The lock file that serialises jobs that change the workspace."""
        return self.root / ".lock"

    def tracking_uri(self) -> str:
        """MLFLOW_TRACKING_URI when set, else the workspace's SQLite file."""
        return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{self.mlflow_db}"

    def ensure(self) -> Workspace:
        """Create the workspace directories if missing.

        Raises:
            OutputUnwritable: when the workspace path names a file, or cannot be created.
        """
        from pipelines.errors import OutputUnwritable

        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self.store.mkdir(exist_ok=True)
        except OSError as exc:
            why = "it is a file, not a directory" if self.root.is_file() else exc.strerror
            raise OutputUnwritable(f"cannot use {str(self.root)!r} as a workspace: {why}") from None
        return self


__all__ = ["ConfigError", "Workspace", "default_config_text", "load_config", "read_config"]
