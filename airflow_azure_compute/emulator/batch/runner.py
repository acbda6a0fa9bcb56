"""Run one Batch task on an emulated node: the scheduler's single entry point for execution.

``run_task`` prepares the task directory, fetches the resource files, runs the command line (no shell,
own process group, ``AZ_BATCH_*`` environment), enforces ``maxWallClockTime``, uploads the output files
per upload condition and reports the outcome as Batch's ``executionInfo`` would. Cancelling it
(terminate, delete, preemption) kills the whole process group and re-raises ``CancelledError``.

The helpers live in ``run_*`` modules: ``run_files`` (directories, files API), ``run_env``,
``run_blob`` (SAS transfers), ``run_patterns`` (output file patterns), ``run_process`` (processes,
Docker) and ``run_failures`` (failureInfo codes).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from traceback import format_exc
from typing import Any, TypeVar

import aiohttp

from airflow_azure_compute.emulator.batch.run_blob import download_resource_files, upload_output_files
from airflow_azure_compute.emulator.batch.run_env import task_environment
from airflow_azure_compute.emulator.batch.run_failures import (
    INTERNAL_ERROR,
    RETRYABLE_CODES,
    SERVER_ERROR,
    WALL_CLOCK_EXPIRY,
    TaskFailure,
    exit_code_failure,
    redact_text,
)
from airflow_azure_compute.emulator.batch.run_files import (
    ensure_node_dirs,
    list_task_files,
    resolve_task_file,
    task_dir_for,
)
from airflow_azure_compute.emulator.batch.run_process import (
    container_binds,
    container_name,
    docker_argv,
    docker_available,
    spawn,
    split_command_line,
    wait_process,
)

__all__ = [
    "TaskRunResult",
    "TaskRunSpec",
    "list_task_files",
    "resolve_task_file",
    "run_task",
    "task_dir_for",
]

log = logging.getLogger(__name__)
_T = TypeVar("_T")
_LOG_FILES = ("stdout.txt", "stderr.txt")
_UPLOAD_LOGS = ("fileuploadout.txt", "fileuploaderr.txt")


@dataclass
class TaskRunSpec:
    """Everything needed to run one task on one node.

    :param account_name: Batch account name (``AZ_BATCH_ACCOUNT_NAME``).
    :param account_url: Batch account URL (``AZ_BATCH_ACCOUNT_URL``).
    :param pool_id: pool of the node (``AZ_BATCH_POOL_ID``).
    :param node_id: node id (``AZ_BATCH_NODE_ID``).
    :param is_dedicated: dedicated (True) or spot/low-priority node (``AZ_BATCH_NODE_IS_DEDICATED``).
    :param node_root: per-node root directory chosen by the caller (``AZ_BATCH_NODE_ROOT_DIR``).
    :param job_id: the job's id; ``None`` for a start task.
    :param task_id: the task's id (job preparation/release: their ids, default ``jobpreparation``/``jobrelease``).
    :param kind: ``"task"``, ``"start"``, ``"jobprep"`` or ``"jobrelease"``.
    :param command_line: the command line, split like a POSIX shell would but run without one.
    :param environment: job ``commonEnvironmentSettings`` + task ``environmentSettings`` (task wins).
    :param resource_files: ``resourceFiles`` wire JSON (camelCase) as received.
    :param output_files: ``outputFiles`` wire JSON as received.
    :param max_wall_clock_seconds: ``constraints.maxWallClockTime`` in seconds; ``None`` for unlimited.
    :param container_settings: ``containerSettings`` wire JSON, or ``None``.
    :param extra_env: further variables set before ``environment``, e.g. ``AZ_BATCH_JOB_PREP_DIR``.
    :param volumes: directories outside the node root a task sees (shared mounts), bound into containers.
    """

    account_name: str
    account_url: str
    pool_id: str
    node_id: str
    is_dedicated: bool
    node_root: Path
    job_id: str | None
    task_id: str
    kind: str
    command_line: str
    environment: dict[str, str] = field(default_factory=dict)
    resource_files: list[dict[str, Any]] = field(default_factory=list)
    output_files: list[dict[str, Any]] = field(default_factory=list)
    max_wall_clock_seconds: float | None = None
    container_settings: dict[str, Any] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    volumes: list[Path] = field(default_factory=list)


@dataclass
class TaskRunResult:
    """The outcome of one run, ready for ``executionInfo``.

    ``exit_code`` is ``None`` when the command never ran (resource download or start failure).
    ``failure_info`` is the wire ``failureInfo`` (``None`` on success). Only a non-zero exit is
    ``retryable`` (up to ``maxTaskRetryCount``); download, upload and wall-clock failures are final.
    """

    exit_code: int | None
    result: str
    failure_info: dict[str, Any] | None
    start_time: datetime
    end_time: datetime
    task_dir: Path

    @property
    def retryable(self) -> bool:
        return self.failure_info is not None and self.failure_info.get("code") in RETRYABLE_CODES


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _prepare_task_dir(spec: TaskRunSpec) -> Path:
    ensure_node_dirs(spec.node_root)
    task_dir = task_dir_for(spec.node_root, spec.job_id, spec.task_id, spec.kind)
    (task_dir / "wd").mkdir(parents=True, exist_ok=True)
    for name in _LOG_FILES:
        (task_dir / name).write_bytes(b"")  # a retry starts fresh logs; wd is kept
    for name in _UPLOAD_LOGS:
        (task_dir / name).unlink(missing_ok=True)
    return task_dir


async def _within(deadline: float | None, work: Coroutine[Any, Any, _T]) -> _T:
    if deadline is None:
        return await work
    try:
        return await asyncio.wait_for(work, max(0.0, deadline - asyncio.get_running_loop().time()))
    except asyncio.TimeoutError:
        raise _wall_clock_failure() from None


def _wall_clock_failure(exit_code: int | None = None) -> TaskFailure:
    message = "The task ran longer than its maxWallClockTime and was terminated"
    return TaskFailure(WALL_CLOCK_EXPIRY, message, exit_code=exit_code)


async def _launch(spec: TaskRunSpec, task_dir: Path) -> tuple[list[str], dict[str, str], str | None]:
    """``(argv, env, container name)``: on the host, or through ``docker run`` when an engine answers."""
    argv = split_command_line(spec.command_line)
    settings = spec.container_settings
    if not settings or not settings.get("imageName"):
        return argv, task_environment(spec, task_dir), None
    image = str(settings["imageName"])
    usable, why = await docker_available()
    if usable:
        name = container_name(spec.pool_id, spec.node_id, spec.job_id or "", spec.task_id)
        names = list(task_environment(spec, task_dir, with_base=False))
        prep_dir = spec.extra_env.get("AZ_BATCH_JOB_PREP_DIR")
        binds = container_binds(settings, spec.node_root, task_dir, spec.volumes, prep_dir)
        argv = docker_argv(settings, argv, names, binds, task_dir / "wd", name)
        return argv, task_environment(spec, task_dir), name
    with open(task_dir / "stderr.txt", "a", encoding="utf-8") as stderr:
        stderr.write(
            f"[airflow-azure-compute emulator] container image {image!r} was not used ({why}): "
            "the command line ran on the host\n"
        )
    return argv, task_environment(spec, task_dir), None


async def _execute(spec: TaskRunSpec, task_dir: Path, deadline: float | None) -> int:
    """Run the command; return its exit code or raise ``TaskFailure`` (wall clock, start failure)."""
    argv, env, container = await _launch(spec, task_dir)
    proc = await spawn(argv, env, task_dir / "wd", task_dir / "stdout.txt", task_dir / "stderr.txt")
    timeout = None if deadline is None else max(0.0, deadline - asyncio.get_running_loop().time())
    exit_code, timed_out = await wait_process(proc, timeout, container)
    if timed_out:
        raise _wall_clock_failure(exit_code)
    return exit_code


def _write_upload_logs(task_dir: Path, out: list[str], err: list[str]) -> None:
    for name, lines in zip(_UPLOAD_LOGS, (out, err), strict=True):
        (task_dir / name).write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


async def _run(
    spec: TaskRunSpec, http: aiohttp.ClientSession, task_dir: Path
) -> tuple[int | None, TaskFailure | None]:
    """Download, execute, upload: ``(exit code, failure)``."""
    wd = task_dir / "wd"
    loop = asyncio.get_running_loop()
    deadline = None if spec.max_wall_clock_seconds is None else loop.time() + spec.max_wall_clock_seconds
    exit_code: int | None = None
    failure: TaskFailure | None = None
    try:
        await _within(deadline, download_resource_files(http, spec.resource_files, wd))
        exit_code = await _execute(spec, task_dir, deadline)
        if exit_code != 0:
            failure = exit_code_failure()
    except TaskFailure as exc:
        failure, exit_code = exc, exc.exit_code
    if exit_code is not None and spec.output_files:
        report = await upload_output_files(http, spec.output_files, wd, task_dir, succeeded=failure is None)
        _write_upload_logs(task_dir, report.out, report.err)
        failure = failure or report.failure
    return exit_code, failure


async def run_task(spec: TaskRunSpec, http: aiohttp.ClientSession) -> TaskRunResult:
    """Run ``spec`` to completion; see the module docstring. ``http`` carries the blob transfers.

    ``http`` must be a plain session (no ``base_url``, no default auth headers): it is sent to the
    SAS URLs of the task. Raises ``ValueError`` for an unknown ``kind`` or ids unusable as directories.
    """
    start_time = _now()
    task_dir = _prepare_task_dir(spec)
    try:
        exit_code, failure = await _run(spec, http, task_dir)
    except Exception as exc:  # an emulator bug must complete the task, not strand it in "running"
        log.error(
            "task %s/%s: the emulator failed to run it:\n%s",
            spec.job_id,
            spec.task_id,
            redact_text(format_exc()),
        )
        exit_code = None
        message = f"The emulator failed to run the task: {redact_text(repr(exc))}"
        failure = TaskFailure(INTERNAL_ERROR, message, category=SERVER_ERROR)
    return TaskRunResult(
        exit_code=exit_code,
        result="failure" if failure else "success",
        failure_info=failure.to_wire() if failure else None,
        start_time=start_time,
        end_time=_now(),
        task_dir=task_dir,
    )
