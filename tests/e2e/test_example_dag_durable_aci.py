"""The Durable + ACI example DAG (seed 004) run with ``dag.test()`` against the emulators and Azurite.

The example's function app needs its storage (``AzureWebJobsStorage``) in the emulator's environment,
so this test starts its own emulator process with that app loaded.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from airflow_azure_compute.testing.stack import AzuriteEndpoints, run_emulator

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"
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
        secrets = {
            "conn_type": "generic",
            "password": endpoints["durable"]["key"],
            "extra": {"storage_connection_string": azurite.connection_string},
        }
        mp.setenv("AIRFLOW_CONN_DURABLE_ACI_WORKER", json.dumps(secrets))
        try:
            yield endpoints
        finally:
            mp.undo()


def load(dags_folder: Path) -> ModuleType:
    shutil.copy(EXAMPLES / "durable_aci_pipeline.py", dags_folder / "durable_aci_pipeline.py")
    spec = importlib.util.spec_from_file_location(
        "example_durable_aci", dags_folder / "durable_aci_pipeline.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_durable_aci_pipeline(airflow_db: Path, seed004_env: dict[str, Any]) -> None:
    from airflow_azure_compute.hooks.container_instances import ContainerInstancesHook
    from airflow_azure_compute.hooks.durable import DurableHook

    module = load(airflow_db / "dags")
    conf = {
        "blocks": 6,
        "block_size": 40,
        "worker_image": "python:3.11-slim",
        "worker_command": [sys.executable, "-u", str(APP / "worker.py")],
        "worker_idle_s": 1.5,
    }
    dr = module.dag.test(run_conf=conf)
    tis = {ti.task_id: ti for ti in dr.get_task_instances()}
    assert dr.state == "success", {k: ti.state for k, ti in tis.items()}
    harvested = tis["harvest"].xcom_pull(task_ids="harvest")
    assert harvested == {"blocks": 6, "total": module.expected_total(6, 40)}
    instance_id = tis["start_orchestration"].xcom_pull(task_ids="start_orchestration")
    assert DurableHook().get_status(instance_id) is None  # purged
    assert tis["run_workers"].xcom_pull(task_ids="run_workers")["exit_codes"] == {
        "worker-0": 0,
        "worker-1": 0,
    }
    assert ContainerInstancesHook().list_groups() == []  # deleted
