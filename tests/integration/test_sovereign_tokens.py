"""A hook signing in with Entra ID asks its credential for a token of its connection's cloud.

The credential is a real ``TokenCredential`` of this file that records the scopes it is asked for and
mints an (unsigned) Entra-shaped token for them, issued by the China authority; the hooks build their
real SDK clients, whose authentication policies ask it.

- Batch: the request goes to the Batch emulator with the bearer token. The emulator checks SharedKey
  only, and azure-core sends no bearer token over plain http unless told per request, so the request
  passes ``enforce_https=False`` and the test reads the scopes and the emulator's refusal of the
  bearer header it did receive.
- Storage: an Azurite of this module's own over HTTPS with ``--oauth basic``, which checks a token's
  issuer, lifetime and audience (``https://storage.azure.com``) as Storage does, so blobs and queues
  are really written with the token of the audience the hooks asked for.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest

from airflow_azure_compute.connections import ServiceSettings
from airflow_azure_compute.emulator.airflow_env import env_name
from airflow_azure_compute.hooks.batch import BatchAsyncHook, BatchHook
from airflow_azure_compute.hooks.blob import BlobHook
from airflow_azure_compute.hooks.storage_queue import StorageQueueHook
from airflow_azure_compute.testing.stack import AzuriteEndpoints, run_azurite

pytestmark = pytest.mark.integration

CHINA_BATCH = "https://batch.chinacloudapi.cn//.default"
PUBLIC_BATCH = "https://batch.core.windows.net//.default"
LIST_POOLS = HttpRequest("GET", "/pools", params={"api-version": "2025-06-01"})


CHINA_ISSUER = "https://sts.chinacloudapi.cn/00000000-0000-0000-0000-0000000000c1/"


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


class RecordingCredential:
    """A token credential recording the scopes of every request; its token's audience is the scope's
    resource, as Entra ID issues them, and its issuer the China authority's."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.asked.append(scopes)
        now = int(time.time())
        claims = {"aud": scopes[0].removesuffix("/.default"), "iss": CHINA_ISSUER, "iat": now - 60, "nbf": now - 60,
                  "exp": now + 3600, "oid": "00000000-0000-0000-0000-0000000000c2"}  # fmt: skip
        return AccessToken(f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64(claims)}.unsigned", now + 3600)

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


@pytest.fixture(scope="module")
def oauth_azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AzuriteEndpoints, str]]:
    """Azurite over HTTPS (a trustme CA) taking bearer tokens; yields its endpoints and the CA's path."""
    import trustme

    tmp = tmp_path_factory.mktemp("oauth-azurite")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_path, key_path, ca_path = tmp / "cert.pem", tmp / "key.pem", tmp / "ca.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    cert.private_key_pem.write_to_path(str(key_path))
    ca.cert_pem.write_to_path(str(ca_path))
    args = ("--cert", str(cert_path), "--key", str(key_path), "--oauth", "basic")
    with run_azurite(tmp / "data", extra_args=args) as endpoints:
        yield endpoints, str(ca_path)


def test_blob_and_queue_hooks_sign_in_with_the_storage_audience_in_china(
    oauth_azurite: tuple[AzuriteEndpoints, str],
    recorder: RecordingCredential,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    azurite, ca_path = oauth_azurite
    assert azurite.blob_url.startswith("https://")
    conn = {"conn_type": "azure_compute_blob", "host": azurite.blob_url,
            "extra": {"token": "unused", "cloud": "AzureChinaCloud", "ca_bundle": ca_path,
                      "queue_url": azurite.queue_url}}  # fmt: skip
    monkeypatch.setenv(env_name("sovereign_blob"), json.dumps(conn))
    blob = BlobHook(azure_conn_id="sovereign_blob")
    blob.client.create_container("sovereign")
    blob.client.get_blob_client("sovereign", "a.txt").upload_blob(b"hello")
    assert [b.name for b in blob.client.get_container_client("sovereign").list_blobs()] == ["a.txt"]
    assert StorageQueueHook(azure_conn_id="sovereign_blob").create_queue("sovereign") is True
    assert set(recorder.asked) == {("https://storage.azure.com/.default",)}


def test_azurite_refuses_a_token_of_another_audience(oauth_azurite: tuple[AzuriteEndpoints, str]) -> None:
    """The Azurite above does check the audience: a Batch-scoped token is refused."""
    from azure.storage.blob import BlobServiceClient

    azurite, ca_path = oauth_azurite
    client = BlobServiceClient(azurite.blob_url, credential=RecordingCredential(),
                               audience="https://batch.chinacloudapi.cn/", connection_verify=ca_path)  # fmt: skip
    with pytest.raises(HttpResponseError, match="Invalid token audience"):
        client.get_service_properties()
