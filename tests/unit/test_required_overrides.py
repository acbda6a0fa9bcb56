"""What a subclass must provide is declared abstract: leaving it out fails at construction, not at run time."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from airflow_azure_compute.hooks.base import AzureComputeBaseHook, AzureComputeSyncHook
from airflow_azure_compute.operators._batch_python_base import BatchPythonBaseOperator
from airflow_azure_compute.operators.batch_python import BatchMapOperator, BatchPythonOperator


def test_the_batch_python_base_declares_its_required_overrides() -> None:
    assert BatchPythonBaseOperator.__abstractmethods__ == {"call_items", "deliver"}
    assert not inspect.isabstract(BatchPythonOperator) and not inspect.isabstract(BatchMapOperator)


def test_an_operator_missing_an_override_fails_when_built() -> None:
    class OnlyItems(BatchPythonBaseOperator):
        def call_items(self) -> tuple[list[Any], bool]:
            return [], False

    with pytest.raises(TypeError, match="deliver"):
        OnlyItems(task_id="t", python_callable=print, pool_id="p")  # type: ignore[abstract]


def test_sync_hooks_must_probe_and_async_hooks_need_not() -> None:
    from airflow_azure_compute.hooks.blob import BlobAsyncHook, BlobHook

    assert AzureComputeSyncHook.__abstractmethods__ == {"probe"}
    assert issubclass(BlobHook, AzureComputeSyncHook) and not issubclass(BlobAsyncHook, AzureComputeSyncHook)
    assert issubclass(BlobAsyncHook, AzureComputeBaseHook)

    class NoProbe(AzureComputeSyncHook):
        pass

    with pytest.raises(TypeError, match="probe"):
        NoProbe("some_conn")  # type: ignore[abstract]
