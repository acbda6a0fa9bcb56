"""Least privilege: what each SAS the Batch operators hand out can and cannot do (real Azurite)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobClient, ContainerClient

from airflow_azure_compute.hooks.blob import BlobHook
from airflow_azure_compute.operators._blob_sas import BlobSasSource
from airflow_azure_compute.operators.batch_pool import DEFAULT_MOUNT_SAS_EXPIRY, mount_expiry
from tests.integration._batch_env import fresh

pytestmark = pytest.mark.integration


@pytest.fixture
def containers(batch_env: dict[str, Any]) -> Any:
    hook = BlobHook()
    inputs, outputs = fresh("in"), fresh("out")
    for name in (inputs, outputs):
        hook.create_container(name)
    for blob in ("lib/a.txt", "lib/b/c.txt", "secret.txt"):
        hook.client.get_blob_client(inputs, blob).upload_blob(blob.encode(), overwrite=True)
    hook.client.get_blob_client(outputs, "other-task/result.txt").upload_blob(b"theirs", overwrite=True)
    yield inputs, outputs
    for name in (inputs, outputs):
        hook.delete_container(name)


def test_output_sas_writes_but_cannot_read_or_list(containers: tuple[str, str]) -> None:
    _, outputs = containers
    url = BlobSasSource("azure_compute_blob_default").container_url(outputs, "cw")
    client = ContainerClient.from_container_url(url)
    client.get_blob_client("me/result.txt").upload_blob(b"mine")
    with pytest.raises(HttpResponseError) as denied:
        client.get_blob_client("other-task/result.txt").download_blob().readall()
    assert denied.value.status_code == 403
    with pytest.raises(HttpResponseError):
        list(client.list_blob_names())


def test_shared_prefix_sas_reach_only_their_blob(containers: tuple[str, str]) -> None:
    inputs, _ = containers
    urls = BlobSasSource("azure_compute_blob_default").prefix_blob_urls(inputs, "lib/")
    assert sorted(urls) == ["lib/a.txt", "lib/b/c.txt"]
    assert BlobClient.from_blob_url(urls["lib/a.txt"]).download_blob().readall() == b"lib/a.txt"
    base, _, token = urls["lib/a.txt"].partition("?")
    other = base.replace("lib/a.txt", "secret.txt") + "?" + token
    with pytest.raises(HttpResponseError) as denied:
        BlobClient.from_blob_url(other).download_blob().readall()
    assert denied.value.status_code == 403
    with pytest.raises(HttpResponseError):  # read-only: no overwrite
        BlobClient.from_blob_url(urls["lib/a.txt"]).upload_blob(b"x", overwrite=True)


def test_mount_sas_expires_with_the_run(containers: tuple[str, str]) -> None:
    inputs, _ = containers
    assert mount_expiry(None, {}) == DEFAULT_MOUNT_SAS_EXPIRY == timedelta(hours=24)
    dag = SimpleNamespace(dagrun_timeout=timedelta(hours=2))
    assert mount_expiry(None, {"dag": dag}) == timedelta(hours=2)
    assert mount_expiry(timedelta(minutes=30), {"dag": dag}) == timedelta(minutes=30)
    token = BlobSasSource("azure_compute_blob_default", expiry=mount_expiry(None, {"dag": dag})).token(
        inputs, "rl"
    )
    expiry = datetime.fromisoformat(parse_qs(token)["se"][0].replace("Z", "+00:00"))
    assert expiry - datetime.now(timezone.utc) < timedelta(hours=2, minutes=1)
    assert parse_qs(token)["sp"] == ["rl"]
