"""TaskOutputTail's bookkeeping with an in-memory file service: offsets, partial lines, the byte cap."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_azure_compute.triggers.batch import BatchJobCompleteTrigger
from airflow_azure_compute.triggers.live_output import TaskOutputTail


class _Files:
    """Task files that grow between polls; records the ranges asked for."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.ranges: list[str] = []

    async def get_task_file_properties(self, job_id: str, task_id: str, name: str) -> Any:
        from azure.core.exceptions import ResourceNotFoundError

        if name not in self.data:
            raise ResourceNotFoundError("no such file")
        return SimpleNamespace(content_length=len(self.data[name]))

    async def download_task_file(self, job_id: str, task_id: str, name: str, *, ocp_range: str) -> Any:
        self.ranges.append(ocp_range)
        start, end = (int(x) for x in ocp_range.removeprefix("bytes=").split("-"))
        chunk = self.data[name][start : end + 1]

        async def gen() -> AsyncIterator[bytes]:
            yield chunk

        return gen()


class _Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, fmt: str, *args: Any) -> None:
        self.lines.append(fmt % args)


def test_new_bytes_only_complete_lines_and_a_cap_per_poll() -> None:
    files, log = _Files(), _Log()
    tail = TaskOutputTail("job", ["t1"], max_bytes=8, files=["stdout.txt"])

    async def scenario() -> None:
        assert await tail.poll(files, log) == 0  # not started: no file yet
        files.data["stdout.txt"] = b"alpha\nbet"
        assert await tail.poll(files, log) == 8  # capped
        assert log.lines == ["[t1 stdout] alpha"]
        assert await tail.poll(files, log) == 1
        files.data["stdout.txt"] += b"a\ngamma"
        await tail.poll(files, log)
        assert log.lines == ["[t1 stdout] alpha", "[t1 stdout] beta"]
        assert await tail.poll(files, log) == 0  # nothing new: no read at all
        tail.flush(log)

    asyncio.run(scenario())
    assert log.lines == ["[t1 stdout] alpha", "[t1 stdout] beta", "[t1 stdout] gamma"]
    assert files.ranges == ["bytes=0-7", "bytes=8-8", "bytes=9-15"]
    assert tail.offsets[("t1", "stdout.txt")] == len(files.data["stdout.txt"])


def test_max_bytes_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        TaskOutputTail("job", ["t"], max_bytes=0)


def test_the_trigger_carries_the_streamed_tasks_across_serialization() -> None:
    trigger = BatchJobCompleteTrigger(
        job_id="j", conn_id="c", deadline=0.0, stream_output=["t1", "t2"], stream_output_bytes=1000
    )
    _, kwargs = trigger.serialize()
    assert (kwargs["stream_output"], kwargs["stream_output_bytes"]) == (["t1", "t2"], 1000)
    again = BatchJobCompleteTrigger(**kwargs)
    assert again._tail.task_ids == ["t1", "t2"] and again._tail.max_bytes == 1000


def test_sensor_names_streamed_tasks_by_index_or_id() -> None:
    from airflow_azure_compute.exceptions import AzureComputeConfigError
    from airflow_azure_compute.sensors.batch import BatchJobSensor

    sensor = BatchJobSensor(
        task_id="w", job_id="j", task_id_prefix="t-x-", expected_tasks=120000, stream_output=[0, "custom", 7]
    )
    assert sensor._streamed_task_ids() == ["t-x-000000", "custom", "t-x-000007"]
    for bad in (
        BatchJobSensor(task_id="w", job_id="j", stream_output=[0]),
        BatchJobSensor(task_id="w", job_id="j", task_id_prefix="t-", expected_tasks=2, stream_output=[2]),
    ):
        with pytest.raises(AzureComputeConfigError, match=r"^stream_output: index"):
            bad._streamed_task_ids()
