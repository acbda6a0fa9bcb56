"""A teardown deletes everything it can determine, then fails naming what it could not (never fails open)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from airflow_azure_compute.exceptions import AzureComputeRemoteError
from airflow_azure_compute.hooks.batch import BatchHook
from airflow_azure_compute.hooks.blob import BlobHook
from airflow_azure_compute.ids import run_metadata
from airflow_azure_compute.operators.batch_cleanup import BatchCleanupOperator
from airflow_azure_compute.operators.batch_pool import BatchEnsurePoolOperator
from airflow_azure_compute.operators.blob_cleanup import BlobCleanupOperator
from tests.integration._batch_env import POOL_BASE, fresh
from tests.integration.ops_support import FakeTI, context_for

pytestmark = pytest.mark.integration


def test_unrenderable_containers_still_delete_the_pool_then_fail(batch_env: dict[str, Any]) -> None:
    run_id = fresh("run")
    pid = fresh("pool")
    BatchEnsurePoolOperator(
        task_id="pool", pool_spec={**POOL_BASE, "pool_id": pid, "dedicated_nodes": 0}, min_ready_nodes=0
    ).execute(context_for(FakeTI(task_id="pool", run_id=run_id)))
    cleanup = BatchCleanupOperator(
        task_id="cleanup",
        pool_ids=[pid],
        containers="{{ 1 / 0 }}",  # e.g. the XCom of a failed task
    )
    context = context_for(FakeTI(task_id="cleanup", run_id=run_id))
    cleanup.render_template_fields(context)  # what the task runner does before execute
    assert cleanup.pool_ids == [pid] and cleanup.containers is None
    with pytest.raises(AzureComputeRemoteError) as info:
        cleanup.execute(context)
    message = str(info.value)
    assert "field 'containers' did not render (ZeroDivisionError" in message
    assert f"Deleted: ['pool:{pid}']" in message
    pool = BatchHook().get_pool(pid)
    assert pool is None or pool.get("state") == "deleting"  # the pool with a fixed id did not leak


def test_a_failing_delete_does_not_stop_the_others(
    batch_env: dict[str, Any], azurite: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = fresh("run")
    pid = fresh("pool")
    BatchEnsurePoolOperator(
        task_id="pool", pool_spec={**POOL_BASE, "pool_id": pid, "dedicated_nodes": 0}, min_ready_nodes=0
    ).execute(context_for(FakeTI(task_id="pool", run_id=run_id)))
    wrong_key = base64.b64encode(b"not the account key").decode()
    monkeypatch.setenv(
        "AIRFLOW_CONN_WRONG_KEY",
        json.dumps(
            {
                "conn_type": "azure_compute_blob",
                "host": azurite.blob_url,
                "login": azurite.account_name,
                "password": wrong_key,
            }
        ),
    )
    cleanup = BatchCleanupOperator(
        task_id="cleanup", pool_ids=[pid], containers=["c1"], blob_conn_id="wrong_key"
    )
    with pytest.raises(AzureComputeRemoteError, match=r"could not delete containers \['c1'\]") as info:
        cleanup.execute(context_for(FakeTI(task_id="cleanup", run_id=run_id)))
    assert f"Deleted: ['pool:{pid}']" in str(info.value)


def test_blob_cleanup_goes_on_after_a_failing_container(batch_env: dict[str, Any]) -> None:
    ours, other = fresh("ours"), fresh("other")
    context = context_for(FakeTI(task_id="cleanup", run_id=fresh("run")))
    hook = BlobHook()
    hook.create_container(ours, metadata=run_metadata(context))
    hook.create_container(other)
    cleanup = BlobCleanupOperator(
        task_id="cleanup", containers=[ours, other], scan_containers_prefix="{{ nope("
    )
    cleanup.render_template_fields(context)
    # "containers" rendered; the scan prefix did not (a Jinja syntax error): delete what is known.
    with pytest.raises(AzureComputeRemoteError, match="field 'scan_containers_prefix' did not render"):
        cleanup.execute(context)
    assert hook.get_container_metadata(ours) is None  # deleted, as created by this run
    assert hook.get_container_metadata(other) is not None  # not ours: kept
    hook.delete_container(other)
