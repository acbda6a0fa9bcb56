"""split -> upload -> merge -> cleanup (teardown), driven by the run config (used by test_blob_dag.py)."""

from __future__ import annotations

from airflow.sdk import DAG

from airflow_azure_compute.operators.blob_cleanup import BlobCleanupOperator
from airflow_azure_compute.operators.blob_merge import BlobMergeOperator
from airflow_azure_compute.operators.blob_split import BlobSplitOperator
from airflow_azure_compute.operators.blob_upload import BlobUploadOperator

with DAG(dag_id="blob_split_merge_test", schedule=None, render_template_as_native_obj=True) as dag:
    split = BlobSplitOperator(
        task_id="split",
        source_path="{{ dag_run.conf['input'] }}",
        container="{{ dag_run.conf['container'] }}",
        prefix="runs/{{ dag_run.conf['tag'] }}/chunks",
        mode="csv",
        chunk_count="{{ dag_run.conf['chunks'] }}",
    )
    upload = BlobUploadOperator(
        task_id="upload",
        source="{{ dag_run.conf['extras'] }}",
        container="{{ dag_run.conf['container'] }}",
        prefix="runs/{{ dag_run.conf['tag'] }}/extras",
    )
    merge = BlobMergeOperator(
        task_id="merge",
        container="{{ dag_run.conf['container'] }}",
        manifest=split.output,
        mode="csv",
        output_path="{{ dag_run.conf['output'] }}",
    )
    cleanup = BlobCleanupOperator(task_id="cleanup", containers=["{{ dag_run.conf['container'] }}"])
    [split, upload] >> merge >> cleanup.as_teardown(setups=[split, upload])
