"""The official Microsoft Azure provider's `AzureBatchOperator` on an `azure_batch` connection (used by
test_official_provider.py): a blocking run with a Job Manager task that keeps its job, then a deferred run with a resource file,
an output file and a user identity that cleans up its job and the pool, and a deferred run whose task
fails."""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.providers.microsoft.azure.operators.batch import AzureBatchOperator
from airflow.sdk import DAG
from azure.batch import models as batch_models

IMAGE = {
    "vm_publisher": "canonical",
    "vm_offer": "0001-com-ubuntu-server-jammy",
    "vm_sku": "22_04-lts",
    "vm_node_agent_sku_id": "batch.node.ubuntu 22.04",
}
COMMON = {
    **IMAGE,
    "azure_batch_conn_id": "official_batch",
    "batch_pool_vm_size": "standard_d2s_v3",
    "target_dedicated_nodes": 1,
    "timeout": 2,
    "execution_timeout": timedelta(minutes=2),
}

# The deferred task's input blob and output container, as SAS URLs (the operator's resource and output
# files are not templated fields): set by the test before it parses this file.
INPUT_URL = os.environ.get("OFFICIAL_BATCH_INPUT_URL", "")
OUTPUT_URL = os.environ.get("OFFICIAL_BATCH_OUTPUT_URL", "")

with DAG(dag_id="official_batch", schedule=None) as dag:
    blocking = AzureBatchOperator(
        task_id="blocking",
        batch_pool_id="{{ dag_run.conf['pool'] }}",
        batch_job_id="{{ dag_run.conf['job'] }}-blocking",
        batch_task_id="hello",
        batch_task_command_line="/bin/sh -c 'echo hello from the official operator'",
        batch_job_manager_task=batch_models.BatchJobManagerTask(
            id="manager", command_line="/bin/sh -c 'echo managing'", kill_job_on_completion=False
        ),
        deferrable=False,
        **COMMON,
    )
    deferred = AzureBatchOperator(
        task_id="deferred",
        batch_pool_id="{{ dag_run.conf['pool'] }}",
        batch_job_id="{{ dag_run.conf['job'] }}-deferred",
        batch_task_id="hello",
        batch_task_command_line="/bin/sh -c 'wc -l < input.csv > count.txt'",
        batch_task_resource_files=[batch_models.ResourceFile(http_url=INPUT_URL, file_path="input.csv")],
        batch_task_output_files=[
            batch_models.OutputFile(
                file_pattern="count.txt",
                destination=batch_models.OutputFileDestination(
                    container=batch_models.OutputFileBlobContainerDestination(
                        container_url=OUTPUT_URL, path="counts/count.txt"
                    )
                ),
                upload_options=batch_models.OutputFileUploadConfiguration(
                    upload_condition=batch_models.OutputFileUploadCondition.TASK_SUCCESS
                ),
            )
        ],
        batch_task_user_identity=batch_models.UserIdentity(
            auto_user=batch_models.AutoUserSpecification(
                scope=batch_models.AutoUserScope.TASK, elevation_level=batch_models.ElevationLevel.NON_ADMIN
            )
        ),
        deferrable=True,
        poll_interval=1,
        should_delete_job=True,
        should_delete_pool=True,
        **COMMON,
    )
    blocking >> deferred

with DAG(dag_id="official_batch_failure", schedule=None) as failing_dag:
    AzureBatchOperator(
        task_id="failing",
        batch_pool_id="{{ dag_run.conf['pool'] }}",
        batch_job_id="{{ dag_run.conf['job'] }}",
        batch_task_id="fails",
        batch_task_command_line="/bin/sh -c 'exit 3'",
        deferrable=True,
        poll_interval=1,
        should_delete_job=True,
        should_delete_pool=True,
        **COMMON,
    )
