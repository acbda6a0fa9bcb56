"""One connection-argument convention: ``azure_conn_id`` everywhere; the old names warn and still work."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_azure_compute.deprecations import AirflowProviderDeprecationWarning
from airflow_azure_compute.exceptions import AzureComputeConfigError
from airflow_azure_compute.hooks.batch import BatchHook
from airflow_azure_compute.hooks.blob import BlobAsyncHook, BlobHook
from airflow_azure_compute.hooks.container_instances import ContainerInstancesHook
from airflow_azure_compute.hooks.durable import DurableAsyncHook, DurableHook
from airflow_azure_compute.operators.batch_cleanup import BatchCleanupOperator
from airflow_azure_compute.operators.batch_fanout import BatchRunTasksOperator
from airflow_azure_compute.operators.batch_job import BatchEnsureJobOperator
from airflow_azure_compute.operators.batch_mpi import BatchRunMultiInstanceTaskOperator
from airflow_azure_compute.operators.batch_pool import BatchEnsurePoolOperator
from airflow_azure_compute.operators.batch_pool_resize import (
    BatchResizePoolOperator,
    BatchStopPoolResizeOperator,
)
from airflow_azure_compute.operators.blob_cleanup import BlobCleanupOperator
from airflow_azure_compute.operators.blob_merge import BlobMergeOperator
from airflow_azure_compute.operators.blob_split import BlobSplitOperator
from airflow_azure_compute.operators.blob_upload import BlobUploadOperator
from airflow_azure_compute.operators.container_instances import (
    ContainerInstancesDeleteGroupsOperator,
    ContainerInstancesRunGroupOperator,
)
from airflow_azure_compute.operators.durable import (
    DurablePurgeOrchestrationOperator,
    DurableRaiseEventOperator,
    DurableStartOrchestrationOperator,
    DurableTerminateOrchestrationOperator,
)
from airflow_azure_compute.sensors.batch import BatchJobSensor
from airflow_azure_compute.sensors.container_instances import ContainerGroupSensor
from airflow_azure_compute.sensors.durable import DurableOrchestrationSensor

HOOKS = [BatchHook, BlobHook, BlobAsyncHook, ContainerInstancesHook, DurableHook, DurableAsyncHook]

# Each operator/sensor with the smallest valid arguments, and the name its connection had before.
OPERATORS: list[tuple[type, dict[str, Any], str | None]] = [
    (BlobSplitOperator, {"source_path": "in.txt", "container": "data", "chunk_count": 2}, "blob_conn_id"),
    (BlobUploadOperator, {"source": "a.txt", "container": "data"}, "blob_conn_id"),
    (BlobMergeOperator, {"container": "data", "prefix": "out/", "output_blob": "r.txt"}, "blob_conn_id"),
    (BlobCleanupOperator, {"containers": ["data"]}, "blob_conn_id"),
    (ContainerInstancesRunGroupOperator, {"image": "busybox"}, "conn_id"),
    (ContainerInstancesDeleteGroupsOperator, {"group_names": ["g"]}, "conn_id"),
    (ContainerGroupSensor, {"group_name": "g"}, "conn_id"),
    (DurableStartOrchestrationOperator, {"orchestrator": "o"}, "conn_id"),
    (DurableRaiseEventOperator, {"instance_id": "i", "event_name": "e"}, "conn_id"),
    (DurableTerminateOrchestrationOperator, {"instance_id": "i"}, "conn_id"),
    (DurablePurgeOrchestrationOperator, {"instance_ids": ["i"]}, "conn_id"),
    (DurableOrchestrationSensor, {"instance_id": "i"}, "conn_id"),
    (BatchEnsurePoolOperator, {"pool_spec": {"pool_id": "p"}}, None),
    (BatchEnsureJobOperator, {"job": {"pool_id": "p"}}, None),
    (BatchRunTasksOperator, {"job": {"pool_id": "p"}, "items": [1], "command_line": "true"}, None),
    (BatchJobSensor, {"job_id": "j"}, None),
    (BatchCleanupOperator, {"job_ids": ["j"]}, None),
    (
        BatchRunMultiInstanceTaskOperator,
        {"job": {"pool_id": "p"}, "command_line": "mpiexec app", "number_of_instances": 2},
        None,
    ),
    (BatchResizePoolOperator, {"pool_id": "p", "dedicated_nodes": 2}, None),
    (BatchStopPoolResizeOperator, {"pool_id": "p"}, None),
]


@pytest.mark.parametrize("hook_class", HOOKS)
def test_hooks_take_azure_conn_id(hook_class: type) -> None:
    assert hook_class.conn_name_attr == "azure_conn_id"
    assert hook_class(azure_conn_id="mine").azure_conn_id == "mine"
    assert hook_class("mine").azure_conn_id == "mine"
    assert hook_class().azure_conn_id == hook_class.default_conn_name
    with pytest.warns(
        AirflowProviderDeprecationWarning, match="'conn_id' is deprecated; use 'azure_conn_id'"
    ):
        assert hook_class(conn_id="old").azure_conn_id == "old"


@pytest.mark.parametrize(
    ("operator", "kwargs", "old_name"), OPERATORS, ids=lambda v: getattr(v, "__name__", "")
)
def test_operators_take_azure_conn_id(operator: type, kwargs: dict[str, Any], old_name: str | None) -> None:
    op = operator(task_id="t", azure_conn_id="mine", **kwargs)
    assert op.azure_conn_id == "mine"
    assert "azure_conn_id" in op.template_fields
    if old_name is None:
        return
    assert old_name not in op.template_fields
    with pytest.warns(AirflowProviderDeprecationWarning, match=f"'{old_name}' is deprecated"):
        assert operator(task_id="t", **{old_name: "old"}, **kwargs).azure_conn_id == "old"
    with pytest.raises(AzureComputeConfigError, match="pass only azure_conn_id"):
        operator(task_id="t", azure_conn_id="new", **{old_name: "old"}, **kwargs)
