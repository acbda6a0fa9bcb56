"""Non-idempotent calls survive a reset or a lost answer: retried, then reconciled by deterministic id.

The emulator's counted faults make it exact: ``reset_next`` resets the next requests before they are
handled, ``lose_next`` handles them and then resets the connection (the change is made, its answer
lost). The SDKs do not retry a POST without an answer; the hooks do, then read the resource back.
"""

from __future__ import annotations

import json
import ssl
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import suppress
from typing import Any

import pytest

from airflow_azure_compute.exceptions import AzureComputeConflictError
from airflow_azure_compute.hooks.batch import BatchHook
from airflow_azure_compute.hooks.blob import BlobHook
from airflow_azure_compute.hooks.container_instances import ContainerInstancesHook
from tests.integration._batch_env import fresh, pool_body

pytestmark = pytest.mark.integration


def _admin(endpoints: dict[str, Any], service: str, path: str, body: Any = None) -> Any:
    info = endpoints[service]
    request = urllib.request.Request(
        f"{info['admin_url']}/{path}",
        data=None if body is None else json.dumps(body).encode(),
        method="GET" if body is None else "PUT",
        headers={"content-type": "application/json"},
    )
    tls = ssl.create_default_context(cafile=info["ca_path"]) if info.get("ca_path") else None
    with urllib.request.urlopen(request, timeout=10, context=tls) as response:
        return json.loads(response.read())


def faults(endpoints: dict[str, Any], service: str, **values: Any) -> dict[str, Any]:
    return _admin(endpoints, service, "faults", values)  # type: ignore[no-any-return]


def injected(endpoints: dict[str, Any], service: str) -> dict[str, int]:
    return _admin(endpoints, service, "counters")["faults_injected"]  # type: ignore[no-any-return]


@pytest.fixture
def batch(batch_env: dict[str, Any]) -> Iterator[BatchHook]:
    yield BatchHook()
    faults(batch_env, "batch", reset_next=0, lose_next=0)


def job_body(job_id: str, pool_id: str, owner: str) -> dict[str, Any]:
    return {"id": job_id, "poolInfo": {"poolId": pool_id}, "metadata": [{"name": "owner", "value": owner}]}


def test_create_job_whose_answer_was_lost_is_ours(batch: BatchHook, batch_env: dict[str, Any]) -> None:
    job_id = fresh("job")
    before = injected(batch_env, "batch").get("lost", 0)
    faults(batch_env, "batch", lose_next=1)
    assert batch.create_job(job_body(job_id, "some-pool", "me")) is True  # created by the lost try
    assert injected(batch_env, "batch").get("lost", 0) == before + 1
    assert batch.get_job(job_id) is not None
    # Without a lost answer, an existing job is reported as existing (the operator decides).
    assert batch.create_job(job_body(job_id, "some-pool", "me")) is False
    batch.terminate_job(job_id)


def test_a_taken_id_found_after_a_reset_is_a_clear_conflict(
    batch: BatchHook, batch_env: dict[str, Any]
) -> None:
    job_id = fresh("job")
    assert batch.create_job(job_body(job_id, "some-pool", "someone-else"))
    faults(batch_env, "batch", reset_next=1)
    with pytest.raises(AzureComputeConflictError, match=f"job '{job_id}' exists but was not created by this"):
        batch.create_job(job_body(job_id, "some-pool", "me"))
    batch.terminate_job(job_id)


def test_create_pool_terminate_and_deletes_survive_lost_answers(
    batch: BatchHook, batch_env: dict[str, Any]
) -> None:
    pool_id = fresh("pool")
    body = pool_body(pool_id, targetDedicatedNodes=0, metadata=[{"name": "owner", "value": "me"}])
    faults(batch_env, "batch", lose_next=1)
    assert batch.create_pool(body) is True
    job_id = fresh("job")
    faults(batch_env, "batch", reset_next=1)
    assert batch.create_job(job_body(job_id, pool_id, "me")) is True
    faults(batch_env, "batch", lose_next=1)
    batch.terminate_job(job_id)  # the terminate landed; the retry finds it terminating: done
    assert (batch.get_job(job_id) or {}).get("state") in ("terminating", "completed")
    faults(batch_env, "batch", lose_next=1)
    assert batch.delete_job(job_id) is True
    faults(batch_env, "batch", lose_next=1)
    assert batch.delete_pool(pool_id) is True


def test_aci_create_and_stop_survive_lost_answers(emulator: dict[str, Any], azurite: Any) -> None:
    from airflow_azure_compute.emulator.airflow_env import connection_env
    from airflow_azure_compute.hooks.aci_groups import ContainerSpec, build_group_body

    mp = pytest.MonkeyPatch()
    for key, value in connection_env(emulator, azurite).items():
        mp.setenv(key, value)
    try:
        hook = ContainerInstancesHook()
        name = f"lost-{uuid.uuid4().hex[:8]}"
        command = [sys.executable, "-c", "import time; time.sleep(30)"]
        body = build_group_body([ContainerSpec(name="w", image="i", command=command)], location="w")
        faults(emulator, "aci", lose_next=1)
        hook.create_group(name, body)
        assert hook.get_group(name) is not None
        faults(emulator, "aci", lose_next=1)
        hook.stop_group(name)  # the stop POST landed, its answer did not: retried, harmless
        faults(emulator, "aci", reset_next=1)
        hook.delete_group(name)
        assert hook.get_group(name) is None
    finally:
        faults(emulator, "aci", reset_next=0, lose_next=0)
        mp.undo()


def test_blob_calls_survive_resets_through_the_storage_proxy(batch_env: dict[str, Any], azurite: Any) -> None:
    """Storage traffic goes through the fault proxy; the Storage SDK retries, honouring Retry-After."""
    from airflow.models.connection import Connection

    from airflow_azure_compute.connections import ServiceSettings
    from airflow_azure_compute.emulator.airflow_env import connections

    # The Blob connection through this very emulator's proxy, whatever an earlier module left set
    # or cached for the default connection id.
    conn = connections(batch_env, azurite)["azure_compute_blob_default"]
    hook = BlobHook()
    hook.__dict__["settings"] = ServiceSettings.from_connection(
        Connection(conn_id=hook.azure_conn_id, **{k: v for k, v in conn.items() if k != "extra"},
                   extra=json.dumps(conn.get("extra") or {}))
    )  # fmt: skip
    container = fresh("ctr")
    try:
        faults(batch_env, "storage", reset_next=1)
        hook.client.create_container(container)
        faults(batch_env, "storage", reset_next=2)
        hook.client.get_blob_client(container, "a.txt").upload_blob(b"hello", overwrite=True)
        assert hook.client.get_blob_client(container, "a.txt").download_blob().readall() == b"hello"
        assert injected(batch_env, "storage").get("reset", 0) >= 3
    finally:
        faults(batch_env, "storage", reset_next=0, lose_next=0, error_rate=0.0)
        with suppress(Exception):
            hook.client.delete_container(container)
