"""Champion, challenger and previous: moving aliases and keeping the exported champion in step.

The registry's `@champion` alias is the source of truth. Every move stages the new
export first, moves the aliases (`@champion` last: the commit point), then swaps the
exported copy in one rename. Should a process die between the last two steps, the
next job that touches the registry re-exports the champion (`sync_champion`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mlflow import MlflowClient

from pipelines import tracking
from pipelines.bundle import activate, exported_version, stage_export
from pipelines.settings import Workspace


def _registry_info(name: str, version: str, client: MlflowClient) -> dict[str, Any]:
    run_id = client.get_model_version(name, version).run_id
    return {"name": name, "version": version, "uri": f"models:/{name}/{version}",
            "run_id": run_id, "synced_at": datetime.now(UTC).isoformat(timespec="seconds")}


def export_version(client: MlflowClient, workspace: Workspace, name: str, version: str) -> Any:
    """Download a registered version's bundle and stage it beside the champion link."""
    bundle = tracking.download_bundle(f"models:/{name}/{version}")
    return stage_export(bundle, workspace.champion, _registry_info(name, version, client))


def sync_champion(client: MlflowClient, workspace: Workspace, name: str) -> str | None:
    """Make the exported champion match the registry's `@champion`; returns its version."""
    version = tracking.alias_version(client, name, tracking.CHAMPION)
    if version is not None and exported_version(workspace.champion) != version:
        activate(export_version(client, workspace, name, version), workspace.champion)
    return version


def promote(client: MlflowClient, workspace: Workspace, name: str, version: str,
            reason: str) -> str | None:
    """Make `version` the champion; the old champion keeps `@previous`. Returns the old one."""
    old = tracking.alias_version(client, name, tracking.CHAMPION)
    staged = export_version(client, workspace, name, version)
    if old is not None and old != version:
        tracking.set_alias(client, name, tracking.PREVIOUS, old)
    if tracking.alias_version(client, name, tracking.CHALLENGER) == version:
        tracking.remove_alias(client, name, tracking.CHALLENGER)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    tracking.tag_version(client, name, version, {"promoted_at": now, "promotion": reason})
    tracking.set_alias(client, name, tracking.CHAMPION, version)
    activate(staged, workspace.champion)
    return old


def rollback(client: MlflowClient, workspace: Workspace, name: str) -> tuple[str, str]:
    """Swap `@champion` and `@previous`; returns (from version, to version)."""
    current = tracking.alias_version(client, name, tracking.CHAMPION)
    previous = tracking.alias_version(client, name, tracking.PREVIOUS)
    if current is None or previous is None:
        raise LookupError("nothing to roll back to: the registry has no @previous version")
    promote(client, workspace, name, previous, f"rollback from version {current}")
    return current, previous
