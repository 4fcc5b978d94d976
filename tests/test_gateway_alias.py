"""Moving an alias while another job moves it: the race a tracking server can lose."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import pytest

from model.config import TrackingSettings
from pipelines.tracking import gateway as gateway_module
from pipelines.tracking.gateway import ALIAS_ATTEMPTS, Gateway

RACE = ("BAD_REQUEST: (psycopg.errors.UniqueViolation) duplicate key value violates unique "
        'constraint "registered_model_alias_pk"')


class _Client:
    """Fails the first `failures` alias moves with `message`, then records them."""

    def __init__(self, failures: int, message: str) -> None:
        self.failures, self.message, self.moves = failures, message, []  # type: ignore[var-annotated]

    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None:
        if self.failures:
            self.failures -= 1
            raise mlflow.exceptions.MlflowException(self.message)
        self.moves.append((name, alias, version))


def _gateway(tmp_path: Path, client: Any, monkeypatch: pytest.MonkeyPatch) -> Gateway:
    monkeypatch.setattr(gateway_module.time, "sleep", lambda _: None)
    gateway = Gateway(f"sqlite:///{tmp_path / 'mlflow.db'}", TrackingSettings())
    gateway.client = client
    return gateway


def test_a_lost_alias_race_is_tried_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client = _Client(ALIAS_ATTEMPTS - 1, RACE)
    _gateway(tmp_path, client, monkeypatch).set_alias("partnerscore", "challenger", "3")
    assert client.moves == [("partnerscore", "challenger", "3")]


def test_other_errors_and_a_race_lost_every_time_still_fail(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for failures, message in ((1, "PERMISSION_DENIED: cannot update alias"),
                              (ALIAS_ATTEMPTS, RACE)):
        client = _Client(failures, message)
        with pytest.raises(mlflow.exceptions.MlflowException):
            _gateway(tmp_path, client, monkeypatch).set_alias("partnerscore", "challenger", "3")
        assert client.moves == []
