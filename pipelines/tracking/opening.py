"""The tracking store opened in a thread while a training runs.

Opening the workspace's tracking store costs this process seconds: loading MLflow's
SQL store and, in a new workspace, building its database in dozens of migration
steps. None of it depends on the model, so it runs in a thread while the model
trains: the store is opened, the exported champion synced, the training rows made
into the dataset the run logs, and what the job needs once the model is trained
(shap, matplotlib, MLflow's model logging) loaded. The thread slows this process's
share of the fits (Python runs one thread at a time outside compiled code), and the
worker processes, each taking the next fit as it becomes free, take more of them.

Nothing here changes what is trained or logged: the job waits for the thread before
it checks, logs or registers anything, and a failure in the thread is raised then.
Against a tracking server, one bounded request checks it answers before the training
starts, so that a server that is down stops the job at once, as before.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from model.config import Config
from pipelines.settings import Workspace
from pipelines.tracking.environment import bound_http_waits, check_reachable, quiet_logging

if TYPE_CHECKING:
    from pipelines.tracking.gateway import Gateway


@dataclass(frozen=True)
class Opened:
    """An open tracking store, its champion, and the training rows as a logged dataset."""

    gateway: Gateway
    champion: str | None  # the champion's version; None when there is none
    dataset: Any  # from `Gateway.training_dataset`


class Opening:
    """A tracking store being opened in a thread; `result` waits for it."""

    def __init__(self, workspace: Workspace, config: Config, rows: tuple[pd.DataFrame, str],
                 imports: Sequence[str]) -> None:
        self._workspace, self._config, self._imports = workspace, config, tuple(imports)
        self._rows = rows
        self._opened: Opened | None = None
        self._error: BaseException | None = None
        # A daemon, so that an interrupted job is not kept alive by a slow server.
        self._thread = threading.Thread(target=self._open, name="partnerscore-tracking",
                                        daemon=True)

    def start(self) -> Opening:
        """Start opening in the background; returns at once."""
        self._thread.start()
        return self

    def result(self) -> Opened:
        """The open gateway, the champion and the dataset, once ready.

        Raises:
            Whatever opening the store or syncing the champion raised (for example
            `TrackingUnavailable`).
        """
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._opened is not None
        return self._opened

    def settle(self) -> None:
        """Wait until the thread is done, whatever it did: the caller holds the workspace
        lock, which the thread's writes need, and is already failing for its own reason."""
        self._thread.join()

    def _open(self) -> None:
        from pipelines.tracking import registry
        from pipelines.tracking.gateway import Gateway

        settings = self._config.model
        try:
            gateway = Gateway.open(self._workspace, self._config.tracking, settings.experiment)
            champion = registry.sync_champion(gateway, self._workspace, settings.registered_name)
            dataset = gateway.training_dataset(*self._rows, self._config)
        except BaseException as exc:  # raised again by `result`, in the job's thread
            self._error = exc
            return
        for name in self._imports:
            # Only to have it ready: a package that fails here fails again where it is used.
            with suppress(Exception):
                importlib.import_module(name)
        gateway.prepare_model_logging()
        self._opened = Opened(gateway, champion, dataset)


def open_while_training(workspace: Workspace, config: Config, proposals: pd.DataFrame,
                        source: str, *, imports: Sequence[str] = ()) -> Opening:
    """Start opening the workspace's tracking store in a thread (syncing its exported
    champion, and making `proposals`, read from `source`, the dataset to log), then
    importing `imports`; call `Opening.result` before using the store.

    Call under the workspace lock, and keep it until `result` or `settle` has returned.

    Raises:
        TrackingUnavailable: at once, when a tracking server does not answer.
    """
    bound_http_waits(config.tracking)
    check_reachable(workspace.tracking_uri(), config.tracking)  # a SQLite file: nothing to do
    # Set here rather than in the thread: a `warnings.catch_warnings` block running in
    # this thread meanwhile would drop filters added by another thread.
    quiet_logging()
    # A copy: the training reads the caller's frame meanwhile.
    return Opening(workspace, config, (proposals.copy(), source), imports).start()
