"""Job routes of the Batch emulator (create, get, list, update, delete, terminate, taskcounts)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from airflow_azure_compute.emulator.batch.engine import BatchEngine
from airflow_azure_compute.emulator.batch.http_common import one, page, read_json
from airflow_azure_compute.emulator.batch.model import Job
from airflow_azure_compute.emulator.batch.not_emulated import check_job
from airflow_azure_compute.emulator.batch.pool_specs import validate_pool_spec
from airflow_azure_compute.emulator.batch.wire import (
    BatchError,
    check_id,
    entity_headers,
    json_response,
    parse_duration,
)
from airflow_azure_compute.emulator.operations import serves

ALL_TASKS_COMPLETE = {"noaction", "terminatejob"}
TASK_FAILURE = {"noaction", "performexitoptionsjobaction"}
UPDATABLE = (
    "priority",
    "maxParallelTasks",
    "allowTaskPreemption",
    "constraints",
    "poolInfo",
    "onAllTasksComplete",
    "metadata",
    "networkConfiguration",
)


def check_max_wall_clock(constraints: dict[str, Any]) -> None:
    """400 unless ``constraints.maxWallClockTime`` is absent or an ISO 8601 duration (jobs and tasks)."""
    try:
        parse_duration(constraints.get("maxWallClockTime"))
    except ValueError as exc:
        raise BatchError(
            400, "InvalidPropertyValue", str(exc), {"PropertyName": "constraints.maxWallClockTime"}
        ) from exc


def validate_job_fields(body: dict[str, Any]) -> None:
    """Check the enum and duration fields shared by create and update."""
    if body.get("onAllTasksComplete") not in (None, *ALL_TASKS_COMPLETE):
        raise BatchError(
            400, "InvalidPropertyValue", "Invalid onAllTasksComplete.", {"PropertyName": "onAllTasksComplete"}
        )
    if body.get("onTaskFailure") not in (None, *TASK_FAILURE):
        raise BatchError(
            400, "InvalidPropertyValue", "Invalid onTaskFailure.", {"PropertyName": "onTaskFailure"}
        )
    constraints = body.get("constraints") or {}
    check_max_wall_clock(constraints)
    retries = constraints.get("maxTaskRetryCount")
    if retries is not None and (not isinstance(retries, int) or retries < -1):
        raise BatchError(400, "InvalidPropertyValue", "maxTaskRetryCount must be >= -1.")


def validate_pool_info(pool_info: Any) -> None:
    """``poolInfo`` names an existing pool (``poolId``) or describes an auto pool, not both."""
    pool_info = pool_info if isinstance(pool_info, dict) else {}
    auto = pool_info.get("autoPoolSpecification")
    if bool(pool_info.get("poolId")) == bool(auto):
        raise BatchError(
            400,
            "InvalidPropertyValue",
            "poolInfo needs exactly one of poolId and autoPoolSpecification.",
            {"PropertyName": "poolInfo"},
        )
    if auto:
        if not isinstance(auto, dict) or not isinstance(auto.get("pool"), dict):
            raise BatchError(
                400,
                "MissingRequiredProperty",
                "autoPoolSpecification.pool is required.",
                {"PropertyName": "poolInfo.autoPoolSpecification.pool"},
            )
        if auto.get("poolLifetimeOption") not in ("job", "jobschedule"):
            raise BatchError(
                400,
                "InvalidPropertyValue",
                "autoPoolSpecification.poolLifetimeOption must be job or jobschedule.",
                {"PropertyName": "poolInfo.autoPoolSpecification.poolLifetimeOption"},
            )
        validate_pool_spec(auto["pool"], "poolInfo.autoPoolSpecification.pool.")


def validate_job_manager(manager: Any) -> None:
    """A job manager task needs an ``id`` (a task id) and a ``commandLine``."""
    if manager is None:
        return
    if not isinstance(manager, dict) or not manager.get("commandLine"):
        raise BatchError(
            400,
            "MissingRequiredProperty",
            "jobManagerTask.commandLine is required.",
            {"PropertyName": "jobManagerTask.commandLine"},
        )
    try:
        check_id("task", manager.get("id"))
    except BatchError as err:
        err.values["PropertyName"] = "jobManagerTask.id"
        raise


def job_or_404(engine: BatchEngine, job_id: str) -> Job:
    job = engine.jobs.get(job_id.lower())
    if job is None:
        raise BatchError(404, "JobNotFound", f"The specified job {job_id} does not exist.")
    return job


def require_mutable(job: Job) -> None:
    """409 for jobs that can no longer change (JobCompleted / JobBeingTerminated / JobBeingDeleted)."""
    if job.state == "deleting":
        raise BatchError(409, "JobBeingDeleted", f"The specified job {job.id} is being deleted.")
    if job.state == "terminating":
        raise BatchError(409, "JobBeingTerminated", f"The specified job {job.id} is being terminated.")
    if job.state == "completed":
        raise BatchError(409, "JobCompleted", f"The specified job {job.id} has already completed.")


class JobRoutes:
    """Handlers of ``/jobs`` and ``/jobs/{jobId}`` (tasks are in `routes_tasks`)."""

    def __init__(self, engine: BatchEngine) -> None:
        self.engine = engine

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/jobs", serves("Jobs_CreateJob", self.create)),
            web.get("/jobs", serves("Jobs_ListJobs", self.list)),
            web.get("/jobs/{jobId}", serves("Jobs_GetJob", self.get)),
            web.delete("/jobs/{jobId}", serves("Jobs_DeleteJob", self.delete)),
            web.patch("/jobs/{jobId}", serves("Jobs_UpdateJob", self.patch)),
            web.put("/jobs/{jobId}", serves("Jobs_ReplaceJob", self.put)),
            web.post("/jobs/{jobId}/terminate", serves("Jobs_TerminateJob", self.terminate)),
            web.post("/jobs/{jobId}/disable", serves("Jobs_DisableJob", self.disable)),
            web.post("/jobs/{jobId}/enable", serves("Jobs_EnableJob", self.enable)),
            web.get("/jobs/{jobId}/taskcounts", serves("Jobs_GetJobTaskCounts", self.task_counts)),
            web.get(
                "/jobs/{jobId}/jobpreparationandreleasetaskstatus",
                serves("Jobs_ListJobPreparationAndReleaseTaskStatus", self.prep_status),
            ),
        ]

    def job(self, request: web.Request) -> Job:
        return job_or_404(self.engine, request.match_info["jobId"])

    async def create(self, request: web.Request) -> web.Response:
        spec = await read_json(request)
        job_id = check_id("job", spec.get("id"))
        validate_pool_info(spec.get("poolInfo"))
        validate_job_fields(spec)
        validate_job_manager(spec.get("jobManagerTask"))
        check_job(spec, blob_mounts=self.engine.mounts.blob_endpoint is not None)
        if job_id.lower() in self.engine.jobs:
            raise BatchError(409, "JobExists", f"The specified job {job_id} already exists.")
        job = self.engine.create_job(spec)
        return web.Response(status=201, headers=entity_headers(job.etag, job.last_modified, job.url))

    async def list(self, request: web.Request) -> web.Response:
        return page(request, sorted(self.engine.jobs.values(), key=lambda j: j.key), Job.wire)

    async def get(self, request: web.Request) -> web.Response:
        job = self.job(request)
        return one(request, job.wire(), entity_headers(job.etag, job.last_modified))

    async def delete(self, request: web.Request) -> web.Response:
        job = self.job(request)
        if job.state != "deleting":
            self.engine.delete_job(job)
        return web.Response(status=202)

    async def _update(self, request: web.Request, *, replace: bool) -> web.Response:
        job = self.job(request)
        require_mutable(job)
        body = await read_json(request)
        validate_job_fields(body)
        if "poolInfo" in body:
            validate_pool_info(body["poolInfo"])
            check_job(body, blob_mounts=self.engine.mounts.blob_endpoint is not None)
        for name in UPDATABLE:
            if name in body:
                job.spec[name] = body[name]
            elif replace and name not in (
                "poolInfo",
                "maxParallelTasks",
                "allowTaskPreemption",
                "networkConfiguration",
            ):
                job.spec.pop(name, None)
        job.touch()
        if job.spec.get("onAllTasksComplete") == "terminatejob" and job.tasks and job.unfinished == 0:
            self.engine.terminate_job(job, "AllTasksComplete")
        self.engine.wake()
        return web.Response(status=200, headers=entity_headers(job.etag, job.last_modified, job.url))

    async def patch(self, request: web.Request) -> web.Response:
        return await self._update(request, replace=False)

    async def put(self, request: web.Request) -> web.Response:
        return await self._update(request, replace=True)

    async def terminate(self, request: web.Request) -> web.Response:
        job = self.job(request)
        require_mutable(job)
        body = await read_json(request)
        self.engine.terminate_job(job, str(body.get("terminateReason") or "UserTerminate"))
        return web.Response(status=202, headers=entity_headers(job.etag, job.last_modified, job.url))

    async def disable(self, request: web.Request) -> web.Response:
        job = self.job(request)
        require_mutable(job)
        body = await read_json(request)
        option = body.get("disableTasks") or "requeue"
        if option not in ("requeue", "terminate", "wait"):
            raise BatchError(400, "InvalidPropertyValue", "disableTasks must be requeue, terminate or wait.")
        self.engine.disable_job(job, option)
        return web.Response(status=202, headers=entity_headers(job.etag, job.last_modified, job.url))

    async def enable(self, request: web.Request) -> web.Response:
        job = self.job(request)
        require_mutable(job)
        if job.state == "disabled":
            job.set_state("active")
            self.engine.wake()
        return web.Response(status=202, headers=entity_headers(job.etag, job.last_modified, job.url))

    async def task_counts(self, request: web.Request) -> web.Response:
        job = self.job(request)
        return json_response(job.counts.wire(), headers=entity_headers(job.etag, job.last_modified))

    async def prep_status(self, request: web.Request) -> web.Response:
        job = self.job(request)
        if not job.spec.get("jobPreparationTask") and not job.spec.get("jobReleaseTask"):
            raise BatchError(
                409,
                "JobPreparationTaskOrReleaseTaskNotSpecified",
                "The job has neither a job preparation nor a job release task.",
            )
        return page(request, list(job.prep_status.values()))
