"""The Durable + ACI example DAG (seed 004) run with ``dag.test()`` against the emulators and Azurite.

The example's function app needs its storage (``AzureWebJobsStorage``) in the emulator's environment,
so this test starts its own emulator process with that app loaded.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_azure_compute.testing.stack import AzuriteEndpoints, run_emulator
from tests.e2e.examples import EXAMPLES, load

pytestmark = pytest.mark.integration

APP = EXAMPLES / "durable_app"


@pytest.fixture(scope="module")
def seed004_env(azurite: AzuriteEndpoints) -> Iterator[dict[str, Any]]:
    """An emulator serving the example's function app, and the connections of the example."""
    from airflow_azure_compute.emulator.airflow_env import connection_env

    env = {"AzureWebJobsStorage": azurite.connection_string}
    with run_emulator(function_apps=[APP / "function_app.py"], env=env) as endpoints:
        mp = pytest.MonkeyPatch()
        for key, value in connection_env(endpoints, azurite).items():
            mp.setenv(key, value)
        secrets = {"conn_type": "generic", "password": endpoints["durable"]["key"]}
        mp.setenv("AIRFLOW_CONN_DURABLE_ACI_WORKER", json.dumps(secrets))
        try:
            yield endpoints
        finally:
            mp.undo()


def worker_command() -> list[str]:
    """The emulated workers run the example's worker through the provider's queue worker."""
    return [
        sys.executable,
        "-u",
        "-m",
        "airflow_azure_compute.runtime.queue_worker",
        f"{APP / 'worker.py'}:compute",
    ]


def test_durable_aci_pipeline(airflow_db: Path, seed004_env: dict[str, Any]) -> None:
    from airflow_azure_compute.hooks.blob import BlobHook
    from airflow_azure_compute.hooks.container_instances import ContainerInstancesHook
    from airflow_azure_compute.hooks.durable import DurableHook
    from airflow_azure_compute.hooks.storage_queue import StorageQueueHook

    module = load("durable_aci_pipeline", airflow_db / "dags")
    conf = {
        "blocks": 6,
        "block_size": 40,
        "workers": 2,
        "worker_image": "python:3.11-slim",
        "worker_command": worker_command(),
        "worker_idle_s": 1.5,
    }
    dr = module.dag.test(run_conf=conf)
    tis = {ti.task_id: ti for ti in dr.get_task_instances()}
    assert dr.state == "success", {k: ti.state for k, ti in tis.items()}
    harvested = tis["harvest"].xcom_pull(task_ids="harvest")
    assert harvested == {"blocks": 6, "total": module.expected_total(6, 40)}
    results = tis["compute_blocks"].xcom_pull(task_ids="compute_blocks")
    assert [r["block"] for r in results] == list(range(6))  # in block order
    instance_id = tis["start_orchestration"].xcom_pull(task_ids="start_orchestration")
    assert DurableHook().get_status(instance_id) is None  # purged by the run's teardown
    assert DurableHook().list_instances(prefix=instance_id) == []
    assert ContainerInstancesHook().list_groups() == []  # workers deleted
    mine = [q for q, md in StorageQueueHook().list_queues() if md.get("airflow_run_id") == dr.run_id]
    assert mine == []  # the run's queue is gone
    left = [c for c, md in BlobHook().list_containers() if md.get("airflow_run_id") == dr.run_id]
    assert left == []  # and the run's workspace, with the pool's blobs
