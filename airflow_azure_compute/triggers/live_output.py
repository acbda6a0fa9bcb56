"""Live output: the growing tail of chosen Batch tasks' stdout/stderr, streamed into the task log.

A `TaskOutputTail` keeps, per task and file, the byte offset already shown. Each poll asks the
file's size (one ``HEAD``), reads only the new bytes with a ranged ``GET`` (``ocp-range``), at most
``max_bytes`` per file per poll, and logs the complete lines; a trailing partial line waits for its end
(or for `TaskOutputTail.flush` when the job is done). Nothing is sent twice while the trigger
runs. A file that does not exist yet (task not started) is skipped quietly.

The offsets live in the trigger's memory: if the triggerer restarts, the new trigger starts each file
again from its beginning.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import logging

    from azure.batch.aio import BatchClient as AsyncBatchClient

#: Files streamed by default.
OUTPUT_FILES = ("stdout.txt", "stderr.txt")
#: Bytes read per file and poll unless told otherwise.
DEFAULT_MAX_BYTES = 64 * 1024


class TaskOutputTail:
    """Streams new bytes of ``files`` of ``task_ids`` in ``job_id``; see the module docstring.

    :param job_id: the Batch job.
    :param task_ids: the tasks to follow (a chosen few: each costs a request per file and poll).
    :param max_bytes: at most this many bytes read per file and poll; the rest follows on later polls.
    :param files: task files to follow, relative to the task directory.
    """

    def __init__(
        self,
        job_id: str,
        task_ids: Sequence[str],
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        files: Sequence[str] = OUTPUT_FILES,
    ) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        self.job_id = job_id
        self.task_ids = list(task_ids)
        self.max_bytes = int(max_bytes)
        self.files = list(files)
        self.offsets: dict[tuple[str, str], int] = {}
        self._partial: dict[tuple[str, str], bytes] = {}

    async def poll(self, client: AsyncBatchClient, log: logging.Logger | Any) -> int:
        """Read and log what is new in every followed file; return the bytes read."""
        read = 0
        for task_id in self.task_ids:
            for name in self.files:
                read += await self._poll_file(client, log, task_id, name)
        return read

    def flush(self, log: logging.Logger | Any) -> None:
        """Log every partial last line held back (the job is done: no newline will follow)."""
        for (task_id, name), rest in sorted(self._partial.items()):
            if rest:
                self._log_line(log, task_id, name, rest)
        self._partial.clear()

    async def _poll_file(self, client: AsyncBatchClient, log: Any, task_id: str, name: str) -> int:
        from azure.core.exceptions import ResourceNotFoundError

        key = (task_id, name)
        start = self.offsets.get(key, 0)
        try:
            props = await client.get_task_file_properties(self.job_id, task_id, name)
            size = int(getattr(props, "content_length", 0) or 0)
            if size <= start:
                return 0
            end = min(size, start + self.max_bytes) - 1
            stream = await client.download_task_file(
                self.job_id, task_id, name, ocp_range=f"bytes={start}-{end}"
            )
            data = b"".join([chunk async for chunk in stream])
        except ResourceNotFoundError:
            return 0
        self.offsets[key] = start + len(data)
        text = self._partial.pop(key, b"") + data
        *lines, rest = text.split(b"\n")
        for line in lines:
            self._log_line(log, task_id, name, line)
        if rest:
            self._partial[key] = rest
        return len(data)

    @staticmethod
    def _log_line(log: Any, task_id: str, name: str, line: bytes) -> None:
        log.info(
            "[%s %s] %s", task_id, name.removesuffix(".txt"), line.decode("utf-8", "replace").rstrip("\r")
        )


__all__ = ["DEFAULT_MAX_BYTES", "OUTPUT_FILES", "TaskOutputTail"]
