"""Task and task-file routes of the Batch emulator."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from aiohttp import web

from airflow_azure_compute.emulator.batch import multi_instance
from airflow_azure_compute.emulator.batch.engine import BatchEngine
from airflow_azure_compute.emulator.batch.files import delete_file, file_response, list_files, resolve
from airflow_azure_compute.emulator.batch.http_common import one, page, read_json
from airflow_azure_compute.emulator.batch.model import Job, Task
from airflow_azure_compute.emulator.batch.not_emulated import check_task_like
from airflow_azure_compute.emulator.batch.routes_jobs import check_max_wall_clock, job_or_404, require_mutable
from airflow_azure_compute.emulator.batch.wire import (
    BatchError,
    check_id,
    entity_headers,
    iso,
    json_response,
    now,
    parse_duration,
)
from airflow_azure_compute.emulator.operations import serves

MAX_COLLECTION_TASKS = 100
MAX_COLLECTION_BYTES = 1024 * 1024
_FILE_PATH = re.compile(r"^/jobs/[^/]+/tasks/[^/]+/files/(?P<path>.+)$")


def validate_task(job: Job, spec: Any) -> dict[str, Any]:
    """Check one task create body against the job; raise `BatchError` (400) if invalid."""
    if not isinstance(spec, dict):
        raise BatchError(400, "InvalidRequestBody", "A task must be a JSON object.")
    check_id("task", spec.get("id"))
    if not spec.get("commandLine"):
        raise BatchError(
            400, "MissingRequiredProperty", "commandLine is required.", {"PropertyName": "commandLine"}
        )
    if spec.get("dependsOn") and not job.spec.get("usesTaskDependencies"):
        raise BatchError(
            400,
            "TaskDependenciesNotSpecifiedOnJob",
            "The task has dependencies but the job does not set usesTaskDependencies.",
        )
    for entry in spec.get("resourceFiles") or []:
        sources = [k for k in ("httpUrl", "storageContainerUrl", "autoStorageContainerName") if entry.get(k)]
        if len(sources) != 1:
            raise BatchError(
                400,
                "InvalidPropertyValue",
                "A resource file needs exactly one of httpUrl, storageContainerUrl or autoStorageContainerName.",
                {"PropertyName": "resourceFiles"},
            )
        if entry.get("httpUrl") and (entry.get("blobPrefix") or not entry.get("filePath")):
            raise BatchError(
                400,
                "InvalidPropertyValue",
                "A resource file with httpUrl needs filePath and takes no blobPrefix.",
                {"PropertyName": "resourceFiles"},
            )
        if ".." in str(entry.get("filePath") or "").replace("\\", "/").split("/"):
            raise BatchError(400, "InvalidPropertyValue", "filePath may not leave the working directory.")
    check_max_wall_clock(spec.get("constraints") or {})
    check_task_like(spec)
    return spec


def _task_exists(task_id: str) -> BatchError:
    return BatchError(409, "TaskExists", f"The specified task {task_id} already exists.")


class TaskRoutes:
    """Handlers of ``/jobs/{jobId}/tasks...`` and ``/jobs/{jobId}/addtaskcollection``."""

    def __init__(self, engine: BatchEngine, server_error: Callable[[], bool] = lambda: False) -> None:
        self.engine = engine
        self.server_error = server_error  # True: answer this collection entry with a transient servererror

    def routes(self) -> list[web.RouteDef]:
        base = "/jobs/{jobId}/tasks"
        return [
            web.post(base, serves("Tasks_CreateTask", self.create)),
            web.get(base, serves("Tasks_ListTasks", self.list)),
            web.post(
                "/jobs/{jobId}/addtaskcollection", serves("Tasks_CreateTaskCollection", self.add_collection)
            ),
            web.get(base + "/{taskId}", serves("Tasks_GetTask", self.get)),
            web.delete(base + "/{taskId}", serves("Tasks_DeleteTask", self.delete)),
            web.put(base + "/{taskId}", serves("Tasks_ReplaceTask", self.replace)),
            web.post(base + "/{taskId}/terminate", serves("Tasks_TerminateTask", self.terminate)),
            web.post(base + "/{taskId}/reactivate", serves("Tasks_ReactivateTask", self.reactivate)),
            web.get(base + "/{taskId}/subtasksinfo", serves("Tasks_ListSubTasks", self.subtasks)),
            web.get(base + "/{taskId}/files", serves("Tasks_ListTaskFiles", self.list_files)),
            web.get(
                base + "/{taskId}/files/{filePath:.+}",
                serves("Tasks_GetTaskFile", self.get_file),
                allow_head=False,
            ),
            web.head(
                base + "/{taskId}/files/{filePath:.+}", serves("Tasks_GetTaskFileProperties", self.head_file)
            ),
            web.delete(
                base + "/{taskId}/files/{filePath:.+}", serves("Tasks_DeleteTaskFile", self.delete_file)
            ),
        ]

    def job(self, request: web.Request) -> Job:
        return job_or_404(self.engine, request.match_info["jobId"])

    def task(self, request: web.Request) -> Task:
        job = self.job(request)
        task_id = request.match_info["taskId"]
        task = job.tasks.get(task_id.lower())
        if task is None:
            raise BatchError(404, "TaskNotFound", f"The specified task {task_id} does not exist.")
        return task

    # ------------------------------------------------------------------ tasks
    async def create(self, request: web.Request) -> web.Response:
        job = self.job(request)
        require_mutable(job)
        spec = validate_task(job, await read_json(request))
        if spec["id"].lower() in job.tasks:
            raise _task_exists(spec["id"])
        task = self.engine.add_task(job, spec)
        return web.Response(status=201, headers=entity_headers(task.etag, task.last_modified, task.url))

    async def add_collection(self, request: web.Request) -> web.Response:
        job = self.job(request)
        if request.content_length is not None and request.content_length > MAX_COLLECTION_BYTES:
            raise BatchError(413, "RequestBodyTooLarge", "The request body is too large (at most 1 MB).")
        raw = await request.read()
        if len(raw) > MAX_COLLECTION_BYTES:
            raise BatchError(413, "RequestBodyTooLarge", "The request body is too large (at most 1 MB).")
        require_mutable(job)
        body = await read_json(request)
        tasks = body.get("value")
        if not isinstance(tasks, list) or not tasks:
            raise BatchError(400, "InvalidRequestBody", "value must be a non-empty list of tasks.")
        if len(tasks) > MAX_COLLECTION_TASKS:
            raise BatchError(
                413,
                "RequestBodyTooLarge",
                f"A collection holds at most {MAX_COLLECTION_TASKS} tasks, got {len(tasks)}.",
            )
        # one creation time for the whole collection (Batch adds it as one operation)
        created = now()
        created_iso = iso(created)
        results = [self._add_one(job, spec, created, created_iso) for spec in tasks]
        return json_response({"value": results})

    def _add_one(self, job: Job, spec: Any, created: datetime, created_iso: str | None) -> dict[str, Any]:
        task_id = spec.get("id") if isinstance(spec, dict) else None
        try:
            validate_task(job, spec)
            if spec["id"].lower() in job.tasks:
                raise _task_exists(spec["id"])
        except BatchError as exc:
            return {"status": "clienterror", "taskId": task_id or "", "error": exc.body()}
        if self.server_error():
            error = BatchError(500, "ServerBusy", "Injected transient server error; retry the task.")
            return {"status": "servererror", "taskId": task_id, "error": error.body()}
        task = self.engine.add_task(job, spec, created)
        return {
            "status": "success",
            "taskId": task.id,
            "eTag": task.etag,
            "lastModified": created_iso,
            "location": task.url,
        }

    async def list(self, request: web.Request) -> web.Response:
        job = self.job(request)
        return page(request, sorted(job.tasks.values(), key=lambda t: t.key), Task.view)

    async def get(self, request: web.Request) -> web.Response:
        task = self.task(request)
        return one(request, task.wire(), entity_headers(task.etag, task.last_modified))

    async def delete(self, request: web.Request) -> web.Response:
        task = self.task(request)
        self.engine.delete_task(task)
        return web.Response(status=200)

    async def replace(self, request: web.Request) -> web.Response:
        """PUT: only ``constraints`` can change on an existing task."""
        task = self.task(request)
        body = await read_json(request)
        constraints = body.get("constraints")
        try:
            parse_duration((constraints or {}).get("maxWallClockTime"))
        except ValueError as exc:
            raise BatchError(400, "InvalidPropertyValue", str(exc)) from exc
        if constraints is None:
            task.spec.pop("constraints", None)
        else:
            task.spec["constraints"] = constraints
        task.job.set_task_state(task, task.state)
        return web.Response(status=200, headers=entity_headers(task.etag, task.last_modified, task.url))

    async def terminate(self, request: web.Request) -> web.Response:
        task = self.task(request)
        if task.job.state in ("deleting", "terminating"):
            require_mutable(task.job)
        self.engine.terminate_task(task)
        return web.Response(status=204, headers=entity_headers(task.etag, task.last_modified, task.url))

    async def reactivate(self, request: web.Request) -> web.Response:
        task = self.task(request)
        require_mutable(task.job)
        if task.state != "completed":
            raise BatchError(409, "TaskNotCompleted", f"The task {task.id} has not completed.")
        if task.execution.get("result") == "success":
            raise BatchError(409, "TaskSucceeded", f"The task {task.id} completed successfully.")
        self.engine.reactivate_task(task)
        return web.Response(status=204, headers=entity_headers(task.etag, task.last_modified, task.url))

    async def subtasks(self, request: web.Request) -> web.Response:
        return json_response({"value": multi_instance.subtask_wire(self.task(request))})

    # ------------------------------------------------------------------ files
    async def list_files(self, request: web.Request) -> web.Response:
        task = self.task(request)
        return list_files(request, self.engine.runner, task.task_dir, task.url)

    def _file(self, request: web.Request) -> tuple[Task, Path, str]:
        task = self.task(request)
        match = _FILE_PATH.match(request.raw_path.partition("?")[0])
        relative = unquote(match["path"]) if match else ""
        if task.task_dir is None:
            raise BatchError(404, "FileNotFound", f"The task {task.id} has not run yet: no file {relative}.")
        return task, resolve(self.engine.runner, task.task_dir, relative), relative

    async def head_file(self, request: web.Request) -> web.Response:
        task, path, relative = self._file(request)
        return file_response(request, path, f"{task.url}/files/{quote(relative, safe='/')}", head=True)

    async def delete_file(self, request: web.Request) -> web.Response:
        task, path, _ = self._file(request)
        assert task.task_dir is not None  # _file answered 404 otherwise
        return delete_file(request, path, task.task_dir)

    async def get_file(self, request: web.Request) -> web.Response:
        task, path, relative = self._file(request)
        return file_response(request, path, f"{task.url}/files/{quote(relative, safe='/')}", head=False)
