"""Our split and merge feeding the official provider's Wasb sensors and delete operator on a `wasb`
connection (used by test_official_provider.py)."""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.microsoft.azure.operators.wasb_delete_blob import WasbDeleteBlobOperator
from airflow.providers.microsoft.azure.sensors.wasb import WasbBlobSensor, WasbPrefixSensor
from airflow.sdk import DAG

from airflow_azure_compute.operators.blob_merge import BlobMergeOperator
from airflow_azure_compute.operators.blob_split import BlobSplitOperator

CONTAINER = "{{ dag_run.conf['container'] }}"
SENSING = {"wasb_conn_id": "official_wasb", "poke_interval": 1, "timeout": 60}

with DAG(dag_id="official_blob", schedule=None, render_template_as_native_obj=True) as dag:
    split = BlobSplitOperator(
        task_id="split", source_path="{{ dag_run.conf['input'] }}", container=CONTAINER, prefix="chunks/",
        mode="csv", chunk_count=3,
    )  # fmt: skip
    merge = BlobMergeOperator(
        task_id="merge", container=CONTAINER, manifest=split.output, mode="csv", output_blob="merged/out.csv",
    )  # fmt: skip
    blob_deferred = WasbBlobSensor(
        task_id="blob_deferred", container_name=CONTAINER, blob_name="merged/out.csv", deferrable=True,
        **SENSING,
    )  # fmt: skip
    blob_poked = WasbBlobSensor(
        task_id="blob_poked", container_name=CONTAINER, blob_name="merged/out.csv", deferrable=False,
        **SENSING,
    )  # fmt: skip
    prefix_deferred = WasbPrefixSensor(
        task_id="prefix_deferred", container_name=CONTAINER, prefix="chunks/", deferrable=True, **SENSING
    )
    prefix_poked = WasbPrefixSensor(
        task_id="prefix_poked", container_name=CONTAINER, prefix="merged/", deferrable=False, **SENSING
    )
    delete_chunks = WasbDeleteBlobOperator(
        task_id="delete_chunks", wasb_conn_id="official_wasb", container_name=CONTAINER, blob_name="chunks/",
        is_prefix=True,
    )  # fmt: skip
    delete_missing = WasbDeleteBlobOperator(
        task_id="delete_missing", wasb_conn_id="official_wasb", container_name=CONTAINER,
        blob_name="never/written.csv", ignore_if_missing=True,
    )  # fmt: skip
    missing = WasbBlobSensor(
        task_id="missing", container_name=CONTAINER, blob_name="never/written.csv", deferrable=False,
        wasb_conn_id="official_wasb", poke_interval=1, timeout=2, soft_fail=True,
        execution_timeout=timedelta(seconds=30),
    )  # fmt: skip
    split >> merge >> [blob_deferred, blob_poked, prefix_deferred, prefix_poked] >> delete_chunks
    delete_chunks >> delete_missing >> missing
