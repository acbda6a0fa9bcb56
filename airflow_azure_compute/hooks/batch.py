"""Batch hooks: `BatchHook` over ``azure.batch.BatchClient``, `BatchAsyncHook` over ``azure.batch.aio``.

Both take REST-shaped dicts (built by `airflow_azure_compute.specs`) and return plain dicts or
`TaskCounts`, so operators, sensors and triggers never handle SDK
models. The conversions are module functions shared by both hooks; the hooks differ only in I/O.

Bulk task submission (`BatchHook.create_tasks`) does not use the SDK's ``create_tasks``: that one
re-queues a request-level 5xx forever. Ours sends the same 100-task ``addtaskcollection`` requests with
bounded concurrency, treats ``TaskExists`` as success (deterministic ids make a retry idempotent),
retries 429/5xx with backoff, splits a chunk on ``RequestBodyTooLarge``, and stops at a deadline.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from airflow_azure_compute.connections import ServiceKind, ServiceSettings
from airflow_azure_compute.exceptions import AzureComputeRemoteError, DeadlineExceededError
from airflow_azure_compute.hooks.base import AzureComputeBaseHook, AzureComputeSyncHook
from airflow_azure_compute.hooks.idempotent import (
    RETRYABLE_STATUS,
    aretry_call,
    confirm_created,
    is_transient,
    retry_call,
)
from airflow_azure_compute.hooks.sdk_options import credential_scopes, sdk_client_kwargs
from airflow_azure_compute.states import (
    BLOCKED_SELECT,
    BLOCKER_SELECT,
    FAILED_SELECT,
    SCOPED_SELECT,
    BlockageQuery,
    TaskCounts,
    active_tasks_filter,
    failed_tasks_filter,
    find_blockage,
    prefix_filter,
)

if TYPE_CHECKING:
    from azure.batch import BatchClient
    from azure.batch.aio import BatchClient as AsyncBatchClient

R = TypeVar("R")

#: ``addtaskcollection`` limits: 100 tasks and 1 MB per request (we stay under 900 KB).
MAX_TASKS_PER_REQUEST = 100
MAX_REQUEST_BYTES = 900_000
#: How much of stdout.txt / stderr.txt forensics keep (the end of the file).
TAIL_BYTES = 4096


def client_options(settings: ServiceSettings, *, aio: bool) -> dict[str, Any]:
    """Keyword arguments of both ``BatchClient`` classes (everything but the endpoint and credential):
    transport, TLS, and for Entra ID the Batch token scope of the connection's cloud (azure-batch's
    default is the public cloud's)."""
    return {**credential_scopes(settings), **sdk_client_kwargs(settings, aio=aio)}


def remote_error(operation: str, err: Exception) -> AzureComputeRemoteError:
    """Our error for an SDK error, carrying the service's code and status (chain with ``from err``)."""
    code = getattr(getattr(err, "error", None), "code", None)
    status = getattr(err, "status_code", None)
    message = getattr(err, "message", None) or str(err)
    return AzureComputeRemoteError(f"{operation}: {message}", code=code, status=status)


def error_code(err: BaseException) -> str | None:
    return getattr(getattr(err, "error", None), "code", None)


def if_unchanged(etag: str | None) -> dict[str, Any]:
    """SDK keywords sending ``If-Match: etag`` (none without an ETag)."""
    if not etag:
        return {}
    from azure.core import MatchConditions

    return {"etag": etag, "match_condition": MatchConditions.IfNotModified}


def backoff(attempt: int, *, base: float = 0.5, cap: float = 30.0) -> float:
    """Exponential backoff with full jitter."""
    return random.uniform(0, min(cap, base * 2**attempt))


def wire_value(value: Any) -> str:
    """An SDK enum's wire value (``"completed"``), or the string itself."""
    return str(getattr(value, "value", value))


def _model_dict(obj: Any) -> dict[str, Any]:
    return obj.as_dict() if obj is not None else {}


def counts_of(result: Any) -> TaskCounts:
    c = result.task_counts
    return TaskCounts(c.active, c.running, c.completed, c.succeeded, c.failed)


def blockage_list_args(query: BlockageQuery) -> dict[str, Any]:
    """``list_tasks`` arguments answering an ``active`` or ``failed`` `BlockageQuery`."""
    if query.kind == "active":
        return {"filter": active_tasks_filter(query.prefix), "select": BLOCKED_SELECT, "max_results": 1000}
    return {"filter": failed_tasks_filter(query.prefix), "select": BLOCKER_SELECT, "max_results": 1000}


def drive_probe(probe: Generator[BlockageQuery, Any, R], answer: Callable[[BlockageQuery], Any]) -> R:
    """Run a sans-I/O probe (`find_blockage`, `decide_job`) with a sync ``answer``."""
    try:
        query = next(probe)
        while True:
            query = probe.send(answer(query))
    except StopIteration as stop:
        return stop.value


async def adrive_probe(
    probe: Generator[BlockageQuery, Any, R], answer: Callable[[BlockageQuery], Awaitable[Any]]
) -> R:
    """Run a sans-I/O probe (`find_blockage`, `decide_job`) with an async ``answer``."""
    try:
        query = next(probe)
        while True:
            query = probe.send(await answer(query))
    except StopIteration as stop:
        return stop.value


def gate_action(job: Mapping[str, Any] | None) -> str:
    """What releasing a job held by the gate takes (see `BatchHook.hold_job`): ``enable`` a disabled
    job, ``wait`` for one still ``disabling``, else ``done`` (active already, ended or gone: the wait sees
    it)."""
    state = (job or {}).get("state")
    return "enable" if state == "disabled" else "wait" if state == "disabling" else "done"


def job_not_found(job_id: str, err: Exception) -> AzureComputeRemoteError:
    """A wait on a job that does not exist: name it, instead of the SDK's words."""
    return AzureComputeRemoteError(
        f"job {job_id!r} does not exist (never created, or deleted): check job_id",
        code="JobNotFound",
        status=404,
    )


def scoped_pairs(tasks: Iterable[Any]) -> Iterator[tuple[str, str | None]]:
    for t in tasks:
        info = t.execution_info
        yield (
            wire_value(t.state),
            (wire_value(info.result) if info is not None and info.result is not None else None),
        )


def failed_task_summary(task: Any) -> dict[str, Any]:
    """``{id, exit_code, failure_code, failure_message, retry_count}`` of a failed task."""
    info = task.execution_info
    failure = getattr(info, "failure_info", None)
    return {
        "id": task.id,
        "exit_code": getattr(info, "exit_code", None),
        "failure_code": getattr(failure, "code", None),
        "failure_message": getattr(failure, "message", None),
        "retry_count": getattr(info, "retry_count", None),
    }


_ENCODE = json.JSONEncoder(separators=(",", ":")).encode


def task_collection_body(tasks: Sequence[Mapping[str, Any]]) -> bytes:
    """The ``addtaskcollection`` request body for ``tasks`` (compact JSON)."""
    return _ENCODE({"value": tasks}).encode()


def _greedy_chunk(tasks: Sequence[Mapping[str, Any]], start: int) -> list[Mapping[str, Any]]:
    """The longest run of tasks from ``start`` within the count and size limits (at least one task)."""
    current: list[Mapping[str, Any]] = []
    size = 0
    for task in tasks[start : start + MAX_TASKS_PER_REQUEST]:
        task_size = len(_ENCODE(task))
        if current and size + task_size > MAX_REQUEST_BYTES:
            break
        current.append(task)
        size += task_size
    return current


def iter_serialized_chunks(
    tasks: Sequence[Mapping[str, Any]],
) -> Iterator[tuple[list[Mapping[str, Any]], bytes]]:
    """Request-sized chunks (≤100 tasks, under ~900 KB serialized), each with its request body.

    Each 100-task window is serialized once; only a window over the size limit is measured task by task.
    Lazy, so the first request can leave before the last chunk is serialized.
    """
    start = 0
    while start < len(tasks):
        chunk = list(tasks[start : start + MAX_TASKS_PER_REQUEST])
        body = task_collection_body(chunk)
        if len(body) > MAX_REQUEST_BYTES:
            chunk = _greedy_chunk(tasks, start)
            body = task_collection_body(chunk)
        yield chunk, body
        start += len(chunk)


def chunk_tasks(tasks: Sequence[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """Split task bodies into request-sized chunks (≤100 tasks, under ~900 KB serialized)."""
    return [chunk for chunk, _ in iter_serialized_chunks(tasks)]


@dataclass
class SubmitResult:
    """What `BatchHook.create_tasks` did."""

    added: int = 0
    existed: int = 0
    requests: int = 0
    retries: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # task id -> error code
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def merge(self, added: int, existed: int, requests: int, retries: int, failed: Mapping[str, str]) -> None:
        with self._lock:
            self.added += added
            self.existed += existed
            self.requests += requests
            self.retries += retries
            self.failed.update(failed)


class BatchHook(AzureComputeSyncHook):
    """Sync Batch client (connection type ``azure_compute_batch``)."""

    service: ClassVar[ServiceKind] = ServiceKind.BATCH
    hook_name = "Azure Batch (azure-compute)"

    @property
    def account_url(self) -> str:
        return self.settings.endpoint

    @cached_property
    def client(self) -> BatchClient:
        from azure.batch import BatchClient

        s = self.settings
        return BatchClient(endpoint=s.endpoint, credential=s.credential(), **client_options(s, aio=False))

    def probe(self) -> str:
        first_page: Iterable[Any] = next(self.client.list_pools(max_results=1, select=["id"]).by_page(), [])
        return (
            f"Batch account {self.account_url} reachable ({len(list(first_page))} pool(s) on the first page)"
        )

    # ----------------------------------------------------------------------------------- pools
    def get_pool(self, pool_id: str) -> dict[str, Any] | None:
        """The pool's REST JSON, or None when it does not exist."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return _model_dict(self.client.get_pool(pool_id))
        except ResourceNotFoundError:
            return None
        except Exception as err:
            raise remote_error(f"get_pool {pool_id!r}", err) from err

    def create_pool(self, body: Mapping[str, Any]) -> bool:
        """Create a pool; False when it already existed (PoolExists).

        Retried on transient errors; when an earlier try's response was lost and the retry finds the pool,
        it counts as created only if it carries this request's metadata and VM size (else a conflict).
        """
        from azure.batch import models

        pool_id = str(body.get("id"))

        def create() -> bool:
            return self._create(
                "create_pool",
                pool_id,
                lambda: self.client.create_pool(models.BatchPoolCreateOptions(dict(body))),
            )

        def reconcile(created: bool) -> bool:
            return created or confirm_created("pool", pool_id, self.get_pool(pool_id), body, ("vmSize",))

        return retry_call(f"create_pool {pool_id!r}", create, reconcile=reconcile)

    @staticmethod
    def _create(operation: str, resource_id: str, call: Callable[[], Any]) -> bool:
        from azure.core.exceptions import ResourceExistsError

        try:
            call()
            return True
        except ResourceExistsError:
            return False
        except Exception as err:
            raise remote_error(f"{operation} {resource_id!r}", err) from err

    def delete_pool(self, pool_id: str, *, etag: str | None = None) -> bool:
        """Start deleting a pool (no wait); False when it was already gone.

        With ``etag``, only if the pool is unchanged since it was read: else `AzureComputeRemoteError` with
        status 412 (``ConditionNotMet``).
        """
        return retry_call(f"delete_pool {pool_id!r}", lambda: self._delete_pool(pool_id, etag))

    def _delete_pool(self, pool_id: str, etag: str | None) -> bool:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self.client.begin_delete_pool(pool_id, polling_interval=1, **if_unchanged(etag))
            return True
        except ResourceNotFoundError:
            return False
        except Exception as err:
            if error_code(err) == "PoolBeingDeleted":
                return True
            raise remote_error(f"delete_pool {pool_id!r}", err) from err

    def replace_pool_metadata(self, pool_id: str, metadata: Mapping[str, str], *, etag: str) -> None:
        """Replace the pool's metadata (``PATCH``), only if the pool is unchanged since it was read.

        Raises `AzureComputeRemoteError` with status 412 (``ConditionNotMet``) when its ETag moved on.
        """
        from azure.batch import models

        body = {"metadata": [{"name": k, "value": v} for k, v in metadata.items()]}

        def patch() -> None:
            try:
                self.client.update_pool(pool_id, models.BatchPoolUpdateOptions(body), **if_unchanged(etag))
            except Exception as err:
                raise remote_error(f"update_pool {pool_id!r}", err) from err

        retry_call(f"update_pool {pool_id!r}", patch)

    def list_node_states(self, pool_id: str) -> list[str]:
        return [wire_value(n.state) for n in self.client.list_nodes(pool_id, select=["id", "state"])]

    def list_nodes(self, pool_id: str) -> list[dict[str, Any]]:
        """``{id, state}`` of every node of the pool."""
        nodes = self.client.list_nodes(pool_id, select=["id", "state"])
        return [{"id": n.id, "state": wire_value(n.state)} for n in nodes]

    def resize_pool(
        self,
        pool_id: str,
        *,
        dedicated_nodes: int,
        spot_nodes: int,
        resize_timeout_minutes: int | None = None,
        deallocation: str | None = None,
    ) -> None:
        """Ask for a new size (no wait); the pool goes ``resizing``, then ``steady``."""
        from azure.batch import models

        body: dict[str, Any] = {"targetDedicatedNodes": dedicated_nodes, "targetLowPriorityNodes": spot_nodes}
        if resize_timeout_minutes:
            body["resizeTimeout"] = f"PT{int(resize_timeout_minutes)}M"
        if deallocation:
            body["nodeDeallocationOption"] = deallocation
        try:
            self.client.begin_resize_pool(pool_id, models.BatchPoolResizeOptions(body), polling_interval=1)
        except Exception as err:
            raise remote_error(f"resize_pool {pool_id!r}", err) from err

    def stop_pool_resize(self, pool_id: str) -> None:
        """Stop an ongoing resize (no wait); the pool keeps the nodes it has."""
        try:
            self.client.begin_stop_pool_resize(pool_id, polling_interval=1)
        except Exception as err:
            raise remote_error(f"stop_pool_resize {pool_id!r}", err) from err

    def replace_start_task(self, pool: Mapping[str, Any], start_task: Mapping[str, Any] | None) -> None:
        """Give an existing pool a new start task, keeping its other properties.

        A new start task goes by ``PATCH``, which leaves the metadata (other runs' pool leases) as it is;
        removing it takes ``updateproperties``, which rewrites the metadata read in ``pool``. Nodes run
        the start task when they next join or restart (see `reboot_node`).
        """
        from azure.batch import models

        pool_id = str(pool["id"])
        try:
            if start_task:
                self.client.update_pool(
                    pool_id, models.BatchPoolUpdateOptions({"startTask": dict(start_task)})
                )
                return
            body: dict[str, Any] = {
                "certificateReferences": pool.get("certificateReferences") or [],
                "applicationPackageReferences": pool.get("applicationPackageReferences") or [],
                "metadata": pool.get("metadata") or [],
            }
            self.client.replace_pool_properties(pool_id, models.BatchPoolReplaceOptions(body))
        except Exception as err:
            raise remote_error(f"replace_start_task {pool_id!r}", err) from err

    def reboot_node(self, pool_id: str, node_id: str, *, requeue: bool = True) -> None:
        """Restart a node (no wait): it runs the pool's current start task again."""
        from azure.batch.models._models import BatchNodeRebootOptions

        options = BatchNodeRebootOptions(node_reboot_kind="requeue" if requeue else "terminate")
        try:
            self.client.begin_reboot_node(pool_id, node_id, options, polling_interval=1)
        except Exception as err:
            raise remote_error(f"reboot_node {pool_id}/{node_id}", err) from err

    # ------------------------------------------------------------------------------------ jobs
    def get_job(self, job_id: str) -> dict[str, Any] | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return _model_dict(self.client.get_job(job_id))
        except ResourceNotFoundError:
            return None
        except Exception as err:
            raise remote_error(f"get_job {job_id!r}", err) from err

    def create_job(self, body: Mapping[str, Any]) -> bool:
        """Create a job; False when it already existed (JobExists).

        Retried on transient errors; when an earlier try's response was lost and the retry finds the job,
        it counts as created only if it carries this request's metadata and pool (else a conflict).
        """
        from azure.batch import models

        job_id = str(body.get("id"))

        def create() -> bool:
            return self._create(
                "create_job", job_id, lambda: self.client.create_job(models.BatchJobCreateOptions(dict(body)))
            )

        def reconcile(created: bool) -> bool:
            return created or confirm_created("job", job_id, self.get_job(job_id), body, ("poolInfo",))

        return retry_call(f"create_job {job_id!r}", create, reconcile=reconcile)

    def terminate_job(self, job_id: str, reason: str = "UserTerminate") -> None:
        """Terminate a job; a job already gone, completed or terminating counts as done."""
        retry_call(f"terminate_job {job_id!r}", lambda: self._terminate_job(job_id, reason))

    def _terminate_job(self, job_id: str, reason: str) -> None:
        from azure.batch.models._models import BatchJobTerminateOptions
        from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

        with suppress(ResourceNotFoundError, ResourceExistsError):  # gone, or already completed/terminating
            self.client.begin_terminate_job(
                job_id, BatchJobTerminateOptions(termination_reason=reason), polling_interval=1
            )

    def hold_job(self, job_id: str) -> None:
        """Disable a job that has no task yet (``disableTasks=requeue``) and wait until it is ``disabled``:
        tasks added from now on start only once `release_job` enabled it (the gate; see the reliability
        page of the docs)."""
        from azure.batch.models._models import BatchJobDisableOptions

        def disable() -> None:
            poller = self.client.begin_disable_job(
                job_id, BatchJobDisableOptions(disable_tasks="requeue"), polling_interval=1
            )
            poller.result(timeout=60)

        try:
            retry_call(f"disable_job {job_id!r}", disable)
        except Exception as err:
            raise remote_error(f"disable_job {job_id!r}", err) from err

    def release_job(self, job_id: str) -> bool:
        """Enable a job `hold_job` disabled; True once released (False: still ``disabling``, ask again).

        Idempotent: a job already active, ended or gone counts as released (the wait sees its state)."""
        from azure.core.exceptions import ResourceExistsError

        action = gate_action(self.get_job(job_id))
        if action == "enable":
            with suppress(ResourceExistsError):  # 409: enabled meanwhile, or ended
                self.client.begin_enable_job(job_id, polling_interval=1)
        return action != "wait"

    def delete_job(self, job_id: str) -> bool:
        """Start deleting a job (no wait); False when it was already gone."""
        return retry_call(f"delete_job {job_id!r}", lambda: self._delete_job(job_id))

    def _delete_job(self, job_id: str) -> bool:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self.client.begin_delete_job(job_id, polling_interval=1)
            return True
        except ResourceNotFoundError:
            return False
        except Exception as err:
            if error_code(err) == "JobBeingDeleted":
                return True
            raise remote_error(f"delete_job {job_id!r}", err) from err

    # ----------------------------------------------------------------------------------- tasks
    def get_task(self, job_id: str, task_id: str) -> dict[str, Any] | None:
        """The task's REST JSON, or None when it does not exist."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return _model_dict(self.client.get_task(job_id, task_id))
        except ResourceNotFoundError:
            return None
        except Exception as err:
            raise remote_error(f"get_task {job_id}/{task_id}", err) from err

    def create_task(self, job_id: str, body: Mapping[str, Any]) -> bool:
        """Add one task; False when it already exists (TaskExists: a retry finds its own task)."""
        from azure.batch import models
        from azure.core.exceptions import ResourceExistsError

        try:
            self.client.create_task(job_id, models.BatchTaskCreateOptions(dict(body)))
            return True
        except ResourceExistsError:
            return False
        except Exception as err:
            raise remote_error(f"create_task {job_id}/{body.get('id')}", err) from err

    def reactivate_task(self, job_id: str, task_id: str) -> None:
        """Run a failed task again (its retry count reset), keeping its id."""
        try:
            self.client.reactivate_task(job_id, task_id)
        except Exception as err:
            raise remote_error(f"reactivate_task {job_id}/{task_id}", err) from err

    def list_subtasks(self, job_id: str, task_id: str) -> list[dict[str, Any]]:
        """The subtasks of a multi-instance task (``subtasksinfo``): id, node, state, exit code, failure."""
        try:
            return [_model_dict(s) for s in self.client.list_subtasks(job_id, task_id)]
        except Exception as err:
            raise remote_error(f"list_subtasks {job_id}/{task_id}", err) from err

    def list_task_ids(self, job_id: str, prefix: str | None = None) -> set[str]:
        tasks = self.client.list_tasks(
            job_id, filter=prefix_filter(prefix) if prefix else None, select=["id"], max_results=1000
        )
        return {t.id for t in tasks}

    def create_tasks(
        self,
        job_id: str,
        tasks: Sequence[Mapping[str, Any]],
        *,
        concurrency: int = 8,
        timeout: float = 600.0,
        error_budget: int = 50,
    ) -> SubmitResult:
        """Add task bodies in 100-task requests, ``concurrency`` at a time, finishing by ``timeout`` seconds.

        ``TaskExists`` counts as success. Transient failures (429/5xx/resets) are retried with backoff
        up to ``error_budget`` retries in all; other per-task client errors are returned in
        ``failed``. Raises `DeadlineExceededError` when the deadline passes.
        """
        deadline = time.monotonic() + timeout
        result = SubmitResult()
        budget = [error_budget]
        if not tasks:
            return result
        fewest_chunks = -(-len(tasks) // MAX_TASKS_PER_REQUEST)
        with ThreadPoolExecutor(max_workers=max(1, min(concurrency, fewest_chunks))) as pool:
            futures = [
                pool.submit(self._submit_chunk, job_id, chunk, deadline, result, budget, body)
                for chunk, body in iter_serialized_chunks(tasks)
            ]
            for future in futures:
                future.result()
        return result

    def _submit_chunk(
        self,
        job_id: str,
        chunk: list[Mapping[str, Any]],
        deadline: float,
        result: SubmitResult,
        budget: list[int],
        body: bytes | None = None,
    ) -> None:
        pending = list(chunk)
        attempt = 0
        while pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeadlineExceededError(
                    f"create_tasks on job {job_id!r}: {len(pending)} task(s) not submitted before the deadline"
                )
            try:
                raw = self._post_task_collection(
                    job_id, body if body is not None else task_collection_body(pending), remaining
                )
            except Exception as err:
                if error_code(err) == "RequestBodyTooLarge" and len(pending) > 1:
                    mid = len(pending) // 2
                    self._submit_chunk(job_id, pending[:mid], deadline, result, budget)
                    pending, body = pending[mid:], None
                    continue
                if not is_transient(err):
                    raise remote_error(f"create_tasks on job {job_id!r}", err) from err
                self._spend(budget, err, job_id)
                result.merge(0, 0, 1, 1, {})
                time.sleep(min(backoff(attempt), max(deadline - time.monotonic(), 0)))
                attempt += 1
                continue
            added = existed = 0
            failed: dict[str, str] = {}
            retry_ids: set[str] = set()
            for item in json.loads(raw or b"{}").get("value") or []:
                status = str(item.get("status", "")).lower()
                code = (item.get("error") or {}).get("code")
                if status == "success":
                    added += 1
                elif code == "TaskExists":
                    existed += 1
                elif status == "servererror":
                    retry_ids.add(item.get("taskId"))
                else:
                    failed[str(item.get("taskId"))] = code or status
            result.merge(added, existed, 1, 0, failed)
            pending = [t for t in pending if t.get("id") in retry_ids]
            body = None
            if pending:
                self._spend(budget, None, job_id)
                result.merge(0, 0, 0, 1, {})
                time.sleep(min(backoff(attempt), max(deadline - time.monotonic(), 0)))
                attempt += 1

    def _post_task_collection(self, job_id: str, body: bytes, remaining: float) -> bytes:
        """POST a pre-serialized ``addtaskcollection`` body through the client's pipeline; the raw JSON result.

        Same request, auth and errors (the client's ``BatchExceptionPolicy`` raises them, with the
        service's code) as ``BatchClient.create_task_collection``, minus per-request work we do not
        need: serializing the tasks again (each chunk is serialized once, while it is sized) and
        building 100 SDK result models (we read the small JSON result ourselves).
        """
        from urllib.parse import quote

        from azure.core.rest import HttpRequest

        client = self.client
        request = HttpRequest(
            "POST",
            f"/jobs/{quote(job_id, safe='')}/addtaskcollection",
            params={"api-version": client._config.api_version},
            headers={"content-type": "application/json; odata=minimalmetadata", "Accept": "application/json"},
            content=body,
        )
        # Not streamed: the body is read before the error policy looks at it, so errors carry their code
        # (RequestBodyTooLarge must be recognised to split the chunk).
        response = client.send_request(
            request,
            retry_total=0,
            connection_timeout=min(remaining, 30.0),
            read_timeout=min(remaining, 60.0),
        )
        response.raise_for_status()
        return response.content

    @staticmethod
    def _spend(budget: list[int], err: BaseException | None, job_id: str) -> None:
        budget[0] -= 1
        if budget[0] < 0:
            what = f"{type(err).__name__}: {err}" if err else "server errors on tasks"
            raise AzureComputeRemoteError(
                f"create_tasks on job {job_id!r}: transient error budget spent (last: {what})",
                code=error_code(err) if err else "ServerError",
            ) from err

    def get_task_counts(self, job_id: str) -> TaskCounts:
        """One ``taskcounts`` request, whatever the job size."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return counts_of(self.client.get_job_task_counts(job_id))
        except ResourceNotFoundError as err:
            raise job_not_found(job_id, err) from err

    def answer_query(self, query: BlockageQuery) -> Any:
        """The read a sans-I/O probe of `airflow_azure_compute.states` asks for (see `drive_probe`)."""
        if query.kind == "job":
            return self.get_job(query.target)
        if query.kind == "pool":
            return self.get_pool(query.target)
        return [t.as_dict() for t in self.client.list_tasks(query.target, **blockage_list_args(query))]

    def find_blockage(self, job_id: str, counts: TaskCounts, prefix: str | None = None) -> str | None:
        """Why no remaining task can run (see `find_blockage`)."""
        return drive_probe(find_blockage(job_id, counts, prefix=prefix), self.answer_query)

    def get_scoped_counts(self, job_id: str, prefix: str) -> TaskCounts:
        """Counts of the tasks under ``prefix``: a filtered, selected, paged list (⌈n/1000⌉ requests)."""
        tasks = self.client.list_tasks(
            job_id, filter=prefix_filter(prefix), select=SCOPED_SELECT, max_results=1000
        )
        return TaskCounts.from_states(scoped_pairs(tasks))

    def list_failed_tasks(
        self, job_id: str, prefix: str | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """Failed tasks only (``$filter`` on the result, minimal ``$select``)."""
        tasks = self.client.list_tasks(
            job_id, filter=failed_tasks_filter(prefix), select=FAILED_SELECT, max_results=min(limit, 1000)
        )
        out: list[dict[str, Any]] = []
        for task in tasks:
            out.append(failed_task_summary(task))
            if len(out) >= limit:
                break
        return out

    def read_task_file_tail(self, job_id: str, task_id: str, file_path: str, size: int = TAIL_BYTES) -> str:
        """The last ``size`` bytes of a task file (decoded leniently); empty when it does not exist."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            props = self.client.get_task_file_properties(job_id, task_id, file_path)
            length = int(getattr(props, "content_length", 0) or 0)
            if length <= 0:
                return ""
            start = max(0, length - size)
            data = b"".join(
                self.client.download_task_file(
                    job_id, task_id, file_path, ocp_range=f"bytes={start}-{length - 1}"
                )
            )
            return data[-size:].decode("utf-8", errors="replace")
        except ResourceNotFoundError:
            return ""

    def task_forensics(self, job_id: str, failed: Mapping[str, Any]) -> dict[str, Any]:
        """A failed task's summary plus the tails of its ``stderr.txt`` and ``stdout.txt``."""
        task_id = str(failed["id"])
        out = dict(failed)
        for name in ("stderr.txt", "stdout.txt"):
            try:
                out[name] = self.read_task_file_tail(job_id, task_id, name)
            except Exception as err:  # forensics are best effort
                out[name] = f"<could not read {name}: {type(err).__name__}>"
        return out

    def terminate_tasks(self, job_id: str, prefix: str | None = None) -> int:
        """Terminate this fan-out's unfinished tasks; returns how many were asked to stop."""
        from azure.core.exceptions import HttpResponseError

        flt = "state ne 'completed'" + (f" and {prefix_filter(prefix)}" if prefix else "")
        count = 0
        for task in self.client.list_tasks(job_id, filter=flt, select=["id"], max_results=1000):
            with suppress(HttpResponseError):
                self.client.terminate_task(job_id, task.id)
                count += 1
        return count


@dataclass
class _SharedClient:
    ready: asyncio.Future[tuple[AsyncBatchClient, Any]]
    users: int = 0


_SHARED_CLIENTS: dict[tuple[int, str], _SharedClient] = {}


class BatchAsyncHook(AzureComputeBaseHook):
    """Async Batch client over ``azure.batch.aio`` for triggers; same method names as `BatchHook`."""

    service: ClassVar[ServiceKind] = ServiceKind.BATCH
    hook_name = "Azure Batch async (azure-compute)"

    @asynccontextmanager
    async def client(self) -> AsyncIterator[AsyncBatchClient]:
        """An ``azure.batch.aio.BatchClient`` shared by every user of this connection in this event loop.

        A triggerer runs hundreds of Batch triggers in one loop: one client (one aiohttp session,
        connection pool and credential) per connection instead of one each saves memory, sockets and
        CPU. The last user closes it.
        """
        key = (id(asyncio.get_running_loop()), self.azure_conn_id)
        shared = _SHARED_CLIENTS.get(key)
        if shared is None:
            shared = _SHARED_CLIENTS[key] = _SharedClient(asyncio.get_running_loop().create_future())
            try:
                shared.ready.set_result(await self._open())
            except BaseException as err:
                del _SHARED_CLIENTS[key]
                shared.ready.set_exception(err)
                shared.ready.exception()  # retrieved: no "never retrieved" warning
                raise
        client, credential = await asyncio.shield(shared.ready)
        shared.users += 1
        try:
            yield client
        finally:
            shared.users -= 1
            if shared.users == 0 and _SHARED_CLIENTS.get(key) is shared:
                del _SHARED_CLIENTS[key]
                with suppress(Exception):
                    await client.close()
                close = getattr(credential, "close", None)
                if close is not None:
                    with suppress(Exception):
                        await close()

    async def _open(self) -> tuple[AsyncBatchClient, Any]:
        from azure.batch.aio import BatchClient as AioBatchClient

        settings: ServiceSettings = await self.aget_settings()
        credential = settings.async_credential()
        client = AioBatchClient(
            endpoint=settings.endpoint, credential=credential, **client_options(settings, aio=True)
        )
        await client.__aenter__()
        return client, credential

    async def get_task_counts(self, client: AsyncBatchClient, job_id: str) -> TaskCounts:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return counts_of(await client.get_job_task_counts(job_id))
        except ResourceNotFoundError as err:
            raise job_not_found(job_id, err) from err

    async def get_job(self, client: AsyncBatchClient, job_id: str) -> dict[str, Any] | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return _model_dict(await client.get_job(job_id))
        except ResourceNotFoundError:
            return None

    async def answer_query(self, client: AsyncBatchClient, query: BlockageQuery) -> Any:
        """The read a sans-I/O probe of `airflow_azure_compute.states` asks for (see `adrive_probe`)."""
        if query.kind == "job":
            return await self.get_job(client, query.target)
        if query.kind == "pool":
            return await self.get_pool(client, query.target)
        return [t.as_dict() async for t in client.list_tasks(query.target, **blockage_list_args(query))]

    async def find_blockage(
        self, client: AsyncBatchClient, job_id: str, counts: TaskCounts, prefix: str | None = None
    ) -> str | None:
        """Why no remaining task can run (see `find_blockage`)."""
        return await adrive_probe(
            find_blockage(job_id, counts, prefix=prefix), lambda query: self.answer_query(client, query)
        )

    async def get_scoped_counts(self, client: AsyncBatchClient, job_id: str, prefix: str) -> TaskCounts:
        tasks = client.list_tasks(
            job_id, filter=prefix_filter(prefix), select=SCOPED_SELECT, max_results=1000
        )
        return TaskCounts.from_states(scoped_pairs([t async for t in tasks]))

    async def list_failed_tasks(
        self, client: AsyncBatchClient, job_id: str, prefix: str | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        tasks = client.list_tasks(
            job_id, filter=failed_tasks_filter(prefix), select=FAILED_SELECT, max_results=min(limit, 1000)
        )
        out: list[dict[str, Any]] = []
        async for task in tasks:
            out.append(failed_task_summary(task))
            if len(out) >= limit:
                break
        return out

    async def get_pool(self, client: AsyncBatchClient, pool_id: str) -> dict[str, Any] | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return _model_dict(await client.get_pool(pool_id))
        except ResourceNotFoundError:
            return None

    async def list_node_states(self, client: AsyncBatchClient, pool_id: str) -> list[str]:
        return [wire_value(n.state) async for n in client.list_nodes(pool_id, select=["id", "state"])]

    async def release_job(self, client: AsyncBatchClient, job_id: str) -> bool:
        """The async twin of `BatchHook.release_job`."""
        from azure.core.exceptions import ResourceExistsError

        action = gate_action(await self.get_job(client, job_id))
        if action == "enable":
            with suppress(ResourceExistsError):
                await client.begin_enable_job(job_id, polling_interval=1)
        return action != "wait"

    async def terminate_job(
        self, client: AsyncBatchClient, job_id: str, reason: str = "UserTerminate"
    ) -> None:
        """Terminate a job, retried like `BatchHook.terminate_job`."""
        from azure.batch.models._models import BatchJobTerminateOptions
        from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

        async def once() -> None:
            with suppress(ResourceNotFoundError, ResourceExistsError):
                await client.begin_terminate_job(
                    job_id, BatchJobTerminateOptions(termination_reason=reason), polling_interval=1
                )

        await aretry_call(f"terminate_job {job_id!r}", once)

    async def terminate_tasks(self, client: AsyncBatchClient, job_id: str, prefix: str | None = None) -> int:
        from azure.core.exceptions import HttpResponseError

        flt = "state ne 'completed'" + (f" and {prefix_filter(prefix)}" if prefix else "")
        ids = [t.id async for t in client.list_tasks(job_id, filter=flt, select=["id"], max_results=1000)]
        count = 0
        for task_id in ids:
            with suppress(HttpResponseError):
                await client.terminate_task(job_id, task_id)
                count += 1
        return count


__all__ = [
    "MAX_TASKS_PER_REQUEST",
    "RETRYABLE_STATUS",
    "TAIL_BYTES",
    "BatchAsyncHook",
    "BatchHook",
    "SubmitResult",
    "backoff",
    "chunk_tasks",
    "client_options",
    "gate_action",
    "is_transient",
    "iter_serialized_chunks",
    "remote_error",
    "task_collection_body",
]
