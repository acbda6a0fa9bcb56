"""A hook signing in with Entra ID asks its credential for a token of its connection's cloud.

The credential is a real ``TokenCredential`` of this file that records the scopes it is asked for; the
hooks build their real azure-batch clients, whose authentication policies ask it, and the request goes to the
Batch emulator with the bearer token. The emulator checks SharedKey only, and azure-core sends no
bearer token over plain http unless told per request, so each request passes ``enforce_https=False``
and the test reads the scopes and the emulator's refusal of the bearer header it did receive.
(azure-storage refuses a token credential over http when the client is built, and the suite's
Azurite serves http without ``--oauth``: the Storage audience is covered by the unit tests.)
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest

from airflow_azure_compute.connections import ServiceSettings
from airflow_azure_compute.emulator.airflow_env import env_name
from airflow_azure_compute.hooks.batch import BatchAsyncHook, BatchHook

pytestmark = pytest.mark.integration

CHINA_BATCH = "https://batch.chinacloudapi.cn//.default"
PUBLIC_BATCH = "https://batch.core.windows.net//.default"
LIST_POOLS = HttpRequest("GET", "/pools", params={"api-version": "2025-06-01"})


class RecordingCredential:
    """A token credential handing out one fixed token, recording the scopes of every request."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.asked.append(scopes)
        return AccessToken("recorded-token", int(time.time()) + 3600)

    def close(self) -> None:
        """Nothing to release."""


class AsyncRecordingCredential(RecordingCredential):
    """The async twin, for ``azure.batch.aio``."""

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:  # type: ignore[override]
        return RecordingCredential.get_token(self, *scopes, **kwargs)

    async def close(self) -> None:  # type: ignore[override]
        """Nothing to release."""


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> RecordingCredential:
    """Every connection's Entra ID credential, sync and async, is the recording one."""
    sync, aio = RecordingCredential(), AsyncRecordingCredential()
    monkeypatch.setattr(ServiceSettings, "credential", lambda self: sync)
    monkeypatch.setattr(ServiceSettings, "async_credential", lambda self: aio)
    sync.asked = aio.asked  # one record for both
    return sync


def _batch_connection(
    monkeypatch: pytest.MonkeyPatch, emulator: dict[str, Any], extra: dict[str, Any]
) -> str:
    conn_id = "sovereign_batch"
    conn = {
        "conn_type": "azure_compute_batch",
        "host": emulator["batch"]["url"],
        "extra": {"token": "unused", **extra},
    }
    monkeypatch.setenv(env_name(conn_id), json.dumps(conn))
    return conn_id


def _refused_bearer(err: HttpResponseError) -> None:
    """The emulator received a bearer header, and answered that it takes SharedKey only."""
    assert (err.status_code, getattr(err.error, "code", None)) == (400, "InvalidAuthenticationInfo")
    assert "not a SharedKey header" in str(err.message)


@pytest.mark.parametrize(
    ("extra", "scope"), [({"cloud": "AzureChinaCloud"}, CHINA_BATCH), ({}, PUBLIC_BATCH)]
)
def test_sync_batch_hook_asks_for_the_batch_scope_of_its_cloud(
    extra: dict[str, Any], scope: str, emulator: dict[str, Any], recorder: RecordingCredential,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    hook = BatchHook(azure_conn_id=_batch_connection(monkeypatch, emulator, extra))
    with pytest.raises(HttpResponseError) as err:
        hook.client.send_request(LIST_POOLS, enforce_https=False)
    assert recorder.asked == [(scope,)]
    _refused_bearer(err.value)


def test_async_batch_hook_asks_for_the_china_batch_scope(
    emulator: dict[str, Any], recorder: RecordingCredential, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = BatchAsyncHook(
        azure_conn_id=_batch_connection(monkeypatch, emulator, {"cloud": "AzureChinaCloud"})
    )

    async def call() -> None:
        async with hook.client() as client:
            await client.send_request(LIST_POOLS, enforce_https=False)

    with pytest.raises(HttpResponseError) as err:
        asyncio.run(call())
    assert recorder.asked == [(CHINA_BATCH,)]
    _refused_bearer(err.value)
