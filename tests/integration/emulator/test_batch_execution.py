"""Batch emulator: tasks run as real processes; blobs in and out by SAS; retries; wall clock; aio SDK."""

# The SDK types most model fields Optional; these tests dereference them on purpose.
# mypy: disable-error-code="union-attr,index,operator"
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tests.integration.emulator.batch_support import (
    aio_batch_client,
    batch_client,
    cleanup,
    job_options,
    pool_options,
    run_one_task,
    uid,
    wait_tasks_completed,
)

pytestmark = pytest.mark.integration


def _container_sas(azurite: Any, container: str, **permissions: bool) -> str:
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    sas = generate_container_sas(
        azurite.account_name,
        container,
        account_key=azurite.account_key,
        permission=ContainerSasPermissions(**permissions),
        expiry=datetime.now(timezone.utc) + timedelta(hours=1),
    )
    return f"{azurite.blob_url}/{container}?{sas}"


def test_task_downloads_transforms_and_uploads_by_sas(
    emulator: dict[str, Any], azurite: Any, pool: str
) -> None:
    from azure.batch import models
    from azure.storage.blob import BlobServiceClient

    blobs = BlobServiceClient.from_connection_string(azurite.connection_string)
    inputs, outputs = uid("in"), uid("out")
    blobs.create_container(inputs)
    blobs.create_container(outputs)
    blobs.get_blob_client(inputs, "data/part-1.txt").upload_blob(b"hello batch\n")
    blobs.get_blob_client(inputs, "data/part-2.txt").upload_blob(b"second part\n")
    read_url = _container_sas(azurite, inputs, read=True, list=True)
    base, _, query = read_url.partition("?")
    write_url = _container_sas(azurite, outputs, read=True, write=True, create=True, list=True)

    client = batch_client(emulator)
    job_id = uid("job")
    client.create_job(job_options(job_id, pool))
    client.create_task(
        job_id,
        models.BatchTaskCreateOptions(
            id="transform",
            command_line="/bin/sh -c 'tr a-z A-Z < input.txt > result.txt && cat parts/data/*.txt > all.txt'",
            resource_files=[
                models.ResourceFile(http_url=f"{base}/data/part-1.txt?{query}", file_path="input.txt"),
                models.ResourceFile(storage_container_url=read_url, blob_prefix="data/", file_path="parts"),
            ],
            output_files=[
                models.OutputFile(
                    file_pattern="*.txt",
                    destination=models.OutputFileDestination(
                        container=models.OutputFileBlobContainerDestination(
                            container_url=write_url, path="results"
                        )
                    ),
                    upload_options=models.OutputFileUploadConfiguration(
                        upload_condition=models.OutputFileUploadCondition.TASK_SUCCESS
                    ),
                )
            ],
        ),
    )
    wait_tasks_completed(client, job_id, 1)
    task = client.get_task(job_id, "transform")
    assert task.execution_info.result is models.BatchTaskExecutionResult.SUCCESS, (
        task.execution_info.failure_info
    )
    out = blobs.get_container_client(outputs)
    names = sorted(b.name for b in out.list_blobs(name_starts_with="results/"))
    assert "results/result.txt" in names and "results/all.txt" in names
    assert out.download_blob("results/result.txt").readall() == b"HELLO BATCH\n"
    assert out.download_blob("results/all.txt").readall() == b"hello batch\nsecond part\n"
    cleanup(client, job_id=job_id)


def test_missing_input_blob_fails_without_retry(emulator: dict[str, Any], azurite: Any, pool: str) -> None:
    from azure.batch import models
    from azure.storage.blob import BlobServiceClient

    container = uid("in")
    BlobServiceClient.from_connection_string(azurite.connection_string).create_container(container)
    base, _, query = _container_sas(azurite, container, read=True).partition("?")
    client = batch_client(emulator)
    job_id, task = run_one_task(
        client,
        pool,
        models.BatchTaskCreateOptions(
            id="nofile",
            command_line="/bin/true",
            resource_files=[models.ResourceFile(http_url=f"{base}/absent.txt?{query}", file_path="x.txt")],
        ),
        constraints=models.BatchJobConstraints(max_task_retry_count=3),
    )
    info = task.execution_info
    assert info.result is models.BatchTaskExecutionResult.FAILURE
    assert info.failure_info.code == "BlobNotFound" and info.retry_count == 0 and info.exit_code is None
    cleanup(client, job_id=job_id)


def test_failing_task_is_retried_to_its_limit(emulator: dict[str, Any], pool: str) -> None:
    from azure.batch import models

    client = batch_client(emulator)
    job_id, task = run_one_task(
        client,
        pool,
        models.BatchTaskCreateOptions(
            id="flaky",
            command_line="/bin/sh -c 'echo attempt >> ../../shared-count 2>/dev/null; exit 3'",
            constraints=models.BatchTaskConstraints(max_task_retry_count=2),
        ),
    )
    info = task.execution_info
    assert task.state is models.BatchTaskState.COMPLETED
    assert info.retry_count == 2 and info.exit_code == 3 and info.last_retry_time is not None
    assert info.failure_info.code == "FailureExitCode"
    counts = client.get_job_task_counts(job_id).task_counts
    assert counts.failed == 1 and counts.succeeded == 0
    cleanup(client, job_id=job_id)


def test_wall_clock_limit_kills_the_task(emulator: dict[str, Any], pool: str) -> None:
    from azure.batch import models

    client = batch_client(emulator)
    job_id, task = run_one_task(
        client,
        pool,
        models.BatchTaskCreateOptions(
            id="slow",
            command_line="/bin/sleep 30",
            constraints=models.BatchTaskConstraints(
                max_wall_clock_time=timedelta(seconds=0.5), max_task_retry_count=3
            ),
        ),
        timeout=10,
    )
    info = task.execution_info
    assert info.result is models.BatchTaskExecutionResult.FAILURE
    assert info.failure_info.code == "MaxWallClockTimeExpiry" and info.retry_count == 0
    assert (info.end_time - info.start_time) < timedelta(seconds=10)
    cleanup(client, job_id=job_id)


async def test_aio_client_drives_a_job(emulator: dict[str, Any]) -> None:
    from azure.batch import models

    pool_id, job_id = uid("aio"), uid("job")
    async with aio_batch_client(emulator) as client:
        await client.create_pool(pool_options(pool_id, dedicated=1, slots=4))
        await client.create_job(job_options(job_id, pool_id))
        result = await client.create_tasks(
            job_id,
            [
                models.BatchTaskCreateOptions(id=f"t{i}", command_line=f"/bin/sh -c 'exit {i % 2}'")
                for i in range(6)
            ],
        )
        assert len(result.result_values) == 6
        for _ in range(400):
            counts = await client.get_job_task_counts(job_id)
            if counts.task_counts.completed == 6:
                break
            await asyncio.sleep(0.05)
        assert isinstance(counts, models.BatchTaskCountsResult)
        assert (counts.task_counts.succeeded, counts.task_counts.failed) == (3, 3)
        failed = [t async for t in client.list_tasks(job_id, filter="executionInfo/result eq 'failure'")]
        assert sorted(t.id for t in failed) == ["t1", "t3", "t5"]
        assert all(t.execution_info.result is models.BatchTaskExecutionResult.FAILURE for t in failed)
        pool = await client.get_pool(pool_id)
        assert pool.state is models.BatchPoolState.ACTIVE
        poller = await client.begin_delete_job(job_id, polling_interval=0.05)
        await poller.result()
        poller = await client.begin_delete_pool(pool_id, polling_interval=0.05)
        await poller.result()
