"""Two DAGs joined by an Asset: the consumer is scheduled on the producer's merged output.

``asset_producer`` writes a small file, splits it into Blob Storage and merges the chunks back into one
blob; the merge task reports that blob through its default alias, ``outputs_alias(dag, task)``.
``asset_consumer`` has no schedule of its own: each merge queues a run of it, whose task reads the
triggering event's URI and returns it with the event's extra.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_azure_compute.assets import outputs_alias
from airflow_azure_compute.operators.blob_merge import BlobMergeOperator
from airflow_azure_compute.operators.blob_split import BlobSplitOperator

CONTAINER = "e2e-assets-{{ params.tag }}"

with DAG(
    dag_id="asset_producer",
    schedule=None,
    catchup=False,
    params={"tag": Param("default", type="string"), "lines": Param(40, type="integer")},
):

    @task
    def source(params: dict[str, Any] | None = None) -> str:
        assert params is not None
        path = Path(tempfile.mkdtemp(prefix="asset-producer-")) / "input.txt"
        path.write_text("".join(f"line {i}\n" for i in range(int(params["lines"]))))
        return str(path)

    split = BlobSplitOperator(
        task_id="split", source_path=source(), container=CONTAINER, prefix="chunks/", chunk_count=4
    )
    merge = BlobMergeOperator(
        task_id="merge", container=CONTAINER, manifest=split.output, output_blob="merged.txt"
    )
    split >> merge


with DAG(dag_id="asset_consumer", schedule=outputs_alias("asset_producer", "merge"), catchup=False):

    @task
    def consume(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        return [
            {"uri": event.asset.uri, "extra": dict(event.extra)}
            for events in triggering_asset_events.values()
            for event in events
        ]

    consume()
