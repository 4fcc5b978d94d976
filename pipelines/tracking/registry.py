"""Champion, challenger and previous: moving aliases and keeping the exported champion in step.

The registry's `@champion` alias is the source of truth. A promotion stages the new
export first, records on the new version which champion it replaces, moves
`@champion` (the commit point), then tidies the other aliases and swaps the
exported copy in one rename. Should a process die after the commit point, the next
job that touches the registry finishes the promotion (`sync_champion`): it sets
`@previous` from the recorded tag, drops a `@challenger` that is now champion and
re-exports the champion. Should it die before, nothing visible has changed.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlflow import MlflowClient

from pipelines.settings import Workspace
from pipelines.storage.bundle import activate, discard_partial_exports, exported_version, stage_export
from pipelines.tracking import gateway as tracking

REPLACES = "replaces"  # version tag: the champion this version replaced when promoted


def _registry_info(name: str, version: str, client: MlflowClient) -> dict[str, Any]:
    run_id = client.get_model_version(name, version).run_id
    return {"name": name, "version": version, "uri": f"models:/{name}/{version}",
            "run_id": run_id, "synced_at": datetime.now(UTC).isoformat(timespec="seconds")}


def export_version(client: MlflowClient, workspace: Workspace, name: str, version: str) -> Path:
    """Download a registered version's bundle and stage it beside the champion link."""
    with tempfile.TemporaryDirectory(prefix="partnerscore-model-") as tmp:
        bundle = tracking.download_bundle(f"models:/{name}/{version}", Path(tmp),
                                          tracking_uri=str(client.tracking_uri))
        return stage_export(bundle, workspace.champion, _registry_info(name, version, client))


def _finish_promotion(client: MlflowClient, name: str, champion: str) -> None:
    """Complete the alias moves of a promotion that was interrupted after its commit point."""
    replaced = client.get_model_version(name, champion).tags.get(REPLACES, "")
    if replaced and replaced != champion \
            and tracking.alias_version(client, name, tracking.PREVIOUS) != replaced:
        tracking.set_alias(client, name, tracking.PREVIOUS, replaced)
    if tracking.alias_version(client, name, tracking.CHALLENGER) == champion:
        tracking.remove_alias(client, name, tracking.CHALLENGER)


def sync_champion(client: MlflowClient, workspace: Workspace, name: str) -> str | None:
    """Make the aliases and the exported champion match the registry's `@champion`.

    Also removes half-copied exports left by a crash. Call under the workspace lock.
    Returns the champion's version, or None when there is none.
    """
    discard_partial_exports(workspace.champion)
    version = tracking.alias_version(client, name, tracking.CHAMPION)
    if version is not None:
        _finish_promotion(client, name, version)
        if exported_version(workspace.champion) != version:
            activate(export_version(client, workspace, name, version), workspace.champion)
    return version


def promote(client: MlflowClient, workspace: Workspace, name: str, version: str,
            reason: str) -> str | None:
    """Make `version` the champion; the old champion keeps `@previous`. Returns the old one."""
    old = tracking.alias_version(client, name, tracking.CHAMPION)
    staged = export_version(client, workspace, name, version)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    tracking.tag_version(client, name, version, {"promoted_at": now, "promotion": reason,
                                                 REPLACES: old if old not in (None, version) else ""})
    tracking.set_alias(client, name, tracking.CHAMPION, version)
    _finish_promotion(client, name, version)
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
