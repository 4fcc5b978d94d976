"""The labelled store: one Parquet file per trial period plus a manifest with digests.

Period files are named by their content digest and never overwritten; the manifest
is the single commit point, replaced atomically. A crash at any moment therefore
leaves the store as it was before or after an ingest, never half-written, and a
replaced period's previous file stays on disk, listed in the manifest's archive.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from model.config import Config
from model.validation import ContractError, Problem
from pipelines.settings import Workspace
from pipelines.storage.atomic import sha256_file, write_atomic

MANIFEST = "manifest.json"
FORMAT = "partnerscore-store/1"


class StoreDamaged(Exception):
    """A stored file does not match its digest: the store was altered outside partnerscore."""


@dataclass(frozen=True)
class IngestOutcome:
    """What an ingest did, per period: stored, unchanged or replaced."""

    periods: dict[str, str]
    rows: int
    notes: tuple[str, ...] = ()  # what the file says against the log, columns it lacks

    @property
    def changed(self) -> bool:
        """True when anything was written."""
        return any(status != "unchanged" for status in self.periods.values())


def content_digest(frame: pd.DataFrame, config: Config) -> str:
    """A stable sha256 of labelled rows, independent of their order and row numbers."""
    ordered = frame.sort_values(config.role("id")).reset_index(drop=True)
    return hashlib.sha256(ordered.to_csv(index=False).encode("utf-8")).hexdigest()


def read_manifest(workspace: Workspace) -> dict[str, Any]:
    """The store's manifest (an empty one before the first ingest)."""
    path = workspace.store / MANIFEST
    if not path.exists():
        return {"format": FORMAT, "periods": {}, "archive": []}
    manifest: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return manifest


def _read_period(workspace: Workspace, entry: dict[str, Any]) -> pd.DataFrame:
    path = workspace.store / entry["file"]
    if not path.is_file() or sha256_file(path) != entry["sha256"]:
        raise StoreDamaged(f"{path} is missing or does not match its sha256 in the store manifest")
    return pd.read_parquet(path)


def _contract_gaps(period: str, columns: list[str], config: Config) -> list[Problem]:
    """A problem for each column the configuration requires of labelled rows that a period lacks."""
    return [Problem(None, c.name, period, "a column of every stored period: the configuration "
                    "requires it, and this period was stored without it")
            for c in config.columns if c.required_for(True) and c.name not in columns]


def read_all(workspace: Workspace, config: Config) -> pd.DataFrame | None:
    """Every stored period's labelled proposals (digests verified), or None when empty.

    Raises:
        StoreDamaged: when a stored file is missing or altered.
        ContractError: when a period lacks a column the configuration requires.
    """
    manifest = read_manifest(workspace)
    frames = {p: _read_period(workspace, entry) for p, entry in sorted(manifest["periods"].items())}
    gaps = [g for p, frame in frames.items() for g in _contract_gaps(p, list(frame.columns), config)]
    if gaps:
        raise ContractError(gaps, source=str(workspace.store))
    return pd.concat(frames.values(), ignore_index=True) if frames else None


def contract_gaps(workspace: Workspace, config: Config) -> list[Problem]:
    """Intact stored periods that lack a column the configuration requires (see `verify_store`)."""
    import pyarrow.parquet as pq

    gaps = []
    for period, entry in sorted(read_manifest(workspace)["periods"].items()):
        path = workspace.store / entry["file"]
        if path.is_file() and sha256_file(path) == entry["sha256"]:
            gaps += _contract_gaps(period, pq.read_schema(path).names, config)
    return gaps


def _check_ids(frame: pd.DataFrame, period: str, workspace: Workspace, manifest: dict[str, Any],
               config: Config) -> list[Problem]:
    id_column = config.role("id")
    problems = []
    for other, entry in sorted(manifest["periods"].items()):
        if other == period:
            continue
        stored = set(_read_period(workspace, entry)[id_column])
        for row, pid in zip(frame.index, frame[id_column], strict=True):
            if pid in stored:
                problems.append(Problem(int(row), id_column, pid,
                                        f"an id not already stored; it is stored under period "
                                        f"{other}, and this row is in period {period}"))
    return problems


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.reset_index(drop=True).to_parquet(buffer, index=False)
    return buffer.getvalue()


def _plan(frame: pd.DataFrame, workspace: Workspace, manifest: dict[str, Any], config: Config,
          replace: bool) -> tuple[dict[str, pd.DataFrame], dict[str, str], list[Problem]]:
    period_column = config.role("period")
    groups = {str(p): g for p, g in frame.groupby(period_column, sort=True)}
    statuses: dict[str, str] = {}
    problems: list[Problem] = []
    for period, group in groups.items():
        problems += _check_ids(group, period, workspace, manifest, config)
        stored = manifest["periods"].get(period)
        if stored is None:
            statuses[period] = "stored"
        elif stored["digest"] == content_digest(group, config):
            statuses[period] = "unchanged"
        elif replace:
            statuses[period] = "replaced"
        else:
            problems.append(Problem(None, period_column, period,
                                    "a period not stored yet: this period is stored with other "
                                    "content (use --replace to archive it and store this file)"))
    return groups, statuses, problems


def ingest(workspace: Workspace, frame: pd.DataFrame, config: Config, *, source: str,
           replace: bool = False) -> IngestOutcome:
    """Store validated labelled proposals, one entry per trial period. Idempotent.

    Raises:
        ContractError: for ids stored under another period, or a stored period with
            different content when `replace` is False. Nothing is written then.
    """
    manifest = read_manifest(workspace.ensure())
    groups, statuses, problems = _plan(frame, workspace, manifest, config, replace)
    if problems:
        raise ContractError(problems, source=source)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    for period, status in statuses.items():
        if status == "unchanged":
            continue
        group = groups[period]
        digest = content_digest(group, config)
        relative = f"periods/{period}-{digest[:16]}.parquet"
        (workspace.store / "periods").mkdir(exist_ok=True)
        write_atomic(workspace.store / relative, _parquet_bytes(group))
        if status == "replaced":
            manifest["archive"].append({**manifest["periods"][period], "period": period,
                                        "archived_at": now})
        manifest["periods"][period] = {
            "file": relative, "sha256": sha256_file(workspace.store / relative), "digest": digest,
            "rows": len(group), "positives": int(group[config.role("label")].sum()),
            "source": source, "ingested_at": now}
    if any(status != "unchanged" for status in statuses.values()):
        write_atomic(workspace.store / MANIFEST,
                     json.dumps(manifest, indent=1, sort_keys=True).encode("utf-8"))
    return IngestOutcome(statuses, len(frame))


def verify_store(workspace: Workspace) -> list[str]:
    """Problems found: files missing or not matching the manifest (empty list: all good)."""
    manifest = read_manifest(workspace)
    problems = []
    for period, entry in sorted(manifest["periods"].items()):
        path = workspace.store / entry["file"]
        if not path.is_file() or sha256_file(path) != entry["sha256"]:
            problems.append(f"period {period}: {entry['file']} missing or altered")
    return problems


def listing(workspace: Workspace) -> list[dict[str, Any]]:
    """Periods, rows, positives and digests, for `partnerscore store`."""
    manifest = read_manifest(workspace)
    return [{"period": p, "rows": e["rows"], "positives": e["positives"],
             "digest": e["digest"][:16], "ingested_at": e["ingested_at"], "source": e["source"]}
            for p, e in sorted(manifest["periods"].items())]


def replaced_since(workspace: Workspace, periods: Sequence[str], since_ms: int) -> list[str]:
    """The periods among `periods` whose stored content was replaced (`ingest --replace`)
    after `since_ms` (milliseconds since the epoch: a version's creation): a model created
    before learned what the store no longer holds."""
    replaced = set()
    for entry in read_manifest(workspace).get("archive", []):
        when = datetime.fromisoformat(entry["archived_at"]).timestamp() * 1000
        # stamped to the second: one second of doubt counts as replaced after (errs to warn)
        if entry.get("period") in periods and when + 1000 > since_ms:
            replaced.add(entry["period"])
    return sorted(replaced)


def stored_file(workspace: Workspace, period: str) -> Path:
    """The file holding a stored period."""
    return workspace.store / read_manifest(workspace)["periods"][period]["file"]
