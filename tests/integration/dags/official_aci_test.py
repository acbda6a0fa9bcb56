"""The official Microsoft Azure provider's `AzureContainerInstancesOperator` on an
`azure_container_instance` connection (used by test_official_provider.py): a blocking run keeping its
logs in XCom, a deferred run, and a failing container."""

from __future__ import annotations

import sys
from datetime import timedelta

from airflow.providers.microsoft.azure.operators.container_instances import AzureContainerInstancesOperator
from airflow.sdk import DAG

COMMON = {
    "ci_conn_id": "official_aci",
    # Not a templated field of the operator: the emulator's default resource group.
    "resource_group": "emulator-rg",
    "region": "westeurope",
    "image": "python:3.11-slim",
    "execution_timeout": timedelta(minutes=1),
}

with DAG(dag_id="official_aci", schedule=None) as dag:
    blocking = AzureContainerInstancesOperator(
        task_id="blocking",
        name="{{ dag_run.conf['name'] }}-blocking",
        command=[
            sys.executable,
            "-u",
            "-c",
            "import os; print('hello', os.environ['GREETING']); print('bye')",
        ],
        environment_variables={"GREETING": "from-aci", "TOKEN": "not-in-logs"},
        secured_variables=["TOKEN"],
        xcom_all=True,
        deferrable=False,
        **COMMON,
    )
    deferred = AzureContainerInstancesOperator(
        task_id="deferred",
        name="{{ dag_run.conf['name'] }}-deferred",
        command=[sys.executable, "-u", "-c", "print('deferred run')"],
        xcom_all=False,
        deferrable=True,
        polling_interval=0.5,
        **COMMON,
    )
    blocking >> deferred

with DAG(dag_id="official_aci_failure", schedule=None) as failing_dag:
    AzureContainerInstancesOperator(
        task_id="failing",
        name="{{ dag_run.conf['name'] }}",
        command=[sys.executable, "-c", "raise SystemExit(4)"],
        environment_variables={"PLAIN": "visible", "TOKEN": "never-returned"},
        secured_variables=["TOKEN"],
        remove_on_error=False,
        deferrable=False,
        **COMMON,
    )
