"""Live output against the Batch emulator: a running task's stdout/stderr streamed as it grows."""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
from typing import Any

import pytest

from airflow_azure_compute.hooks.batch import BatchAsyncHook, BatchHook
from airflow_azure_compute.specs import JobSpec, PoolSpec, TaskSpec
from airflow_azure_compute.triggers.live_output import TaskOutputTail
from tests.integration._batch_env import POOL_BASE, fresh

pytestmark = pytest.mark.integration

LINES = 40
PROGRAM = (
    "import sys, time; [(print('out line %03d' % i, flush=True), "
    "i % 10 == 0 and print('err line %03d' % i, file=sys.stderr, flush=True), time.sleep(0.05)) "
    f"for i in range({LINES})]; print('no newline at the end', end='', flush=True)"
)


class _Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, fmt: str, *args: Any) -> None:
        self.lines.append(fmt % args)


class _CountingClient:
    """Passes calls through, recording the byte ranges asked for."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.ranges: list[tuple[str, int, int]] = []

    async def get_task_file_properties(self, *args: Any, **kwargs: Any) -> Any:
        return await self._client.get_task_file_properties(*args, **kwargs)

    async def download_task_file(self, *args: Any, ocp_range: str, **kwargs: Any) -> Any:
        start, end = ocp_range.removeprefix("bytes=").split("-")
        self.ranges.append((str(args[2]), int(start), int(end)))
        return await self._client.download_task_file(*args, ocp_range=ocp_range, **kwargs)


def test_running_task_output_is_streamed_once_in_bounded_reads(batch_env: dict[str, Any]) -> None:
    hook = BatchHook()
    pool_id, job_id, task_id = fresh("pool"), fresh("job"), "live-0"
    assert hook.create_pool(
        PoolSpec.coerce({**POOL_BASE, "pool_id": pool_id, "dedicated_nodes": 1}).to_wire()
    )
    assert hook.create_job(JobSpec(pool_id=pool_id).to_wire(job_id))
    command = f'{sys.executable} -c "{PROGRAM}"'
    assert not hook.create_tasks(job_id, [TaskSpec(task_id=task_id, command_line=command).to_wire()]).failed

    log = _Log()
    tail = TaskOutputTail(job_id, [task_id], max_bytes=64)
    polls_while_running = 0

    async def follow() -> _CountingClient:
        nonlocal polls_while_running
        async_hook = BatchAsyncHook()
        async with async_hook.client() as raw:
            client = _CountingClient(raw)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                counts = await async_hook.get_task_counts(raw, job_id)
                await tail.poll(client, log)  # type: ignore[arg-type]
                if counts.completed >= 1:
                    while await tail.poll(client, log):  # type: ignore[arg-type]
                        pass
                    tail.flush(log)
                    return client
                if log.lines:
                    polls_while_running += 1
                await asyncio.sleep(0.2)
        raise AssertionError(f"task not done in time; streamed so far: {log.lines}")

    client = asyncio.run(follow())

    out = [line for line in log.lines if "stdout]" in line]
    err = [line for line in log.lines if "stderr]" in line]
    assert out == [f"[{task_id} stdout] out line {i:03d}" for i in range(LINES)] + [
        f"[{task_id} stdout] no newline at the end"
    ]
    assert err == [f"[{task_id} stderr] err line {i:03d}" for i in range(0, LINES, 10)]
    assert polls_while_running > 0, "nothing was streamed before the task ended"
    assert all(end - start + 1 <= 64 for _name, start, end in client.ranges)
    for name in ("stdout.txt", "stderr.txt"):  # contiguous ranges from 0: every byte read exactly once
        ranges = [(start, end) for f, start, end in client.ranges if f == name]
        assert ranges and ranges[0][0] == 0, (name, ranges)
        assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(ranges)), (name, ranges)
        assert tail.offsets[(task_id, name)] == ranges[-1][1] + 1
