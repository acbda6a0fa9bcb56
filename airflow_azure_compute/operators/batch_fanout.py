"""Fan work out as Batch tasks: one task per item (chunk names, any XCom list) or per manifest entry.

Task ids are ``task_id_prefix`` + a zero-padded index, so a retried operator finds the tasks its earlier
try submitted and adds only the missing ones. Submission is bulk (100 tasks per request, ``concurrency``
requests at a time) under a deadline. The operator does not wait: pair it with
`BatchJobSensor`, which reads the returned ``job_id``,
``task_id_prefix`` and ``task_count``.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from airflow_azure_compute.exceptions import AzureComputeConfigError, AzureComputeRemoteError
from airflow_azure_compute.ids import derive_id, run_metadata, run_scope
from airflow_azure_compute.links import BatchJobLink
from airflow_azure_compute.operators._batch_common import BatchBaseOperator, spec_fields
from airflow_azure_compute.operators.batch_job import ensure_job
from airflow_azure_compute.workspace import RunWorkspace, locate

if TYPE_CHECKING:
    from airflow.sdk.definitions.context import Context

    from airflow_azure_compute.specs import JobSpec, ResourceFileSpec, TaskContainerSpec, TaskSpec

#: Manifest entry keys understood by `build_tasks`.
MANIFEST_KEYS = frozenset(
    {
        "name",
        "command_line",
        "args",
        "depends_on",
        "environment",
        "resource_files",
        "max_wall_clock_seconds",
        "failure_dependency_action",
        "failure_job_action",
    }
)


class SasSource(Protocol):
    """Makes SAS URLs for the fan-out (the Blob hook in production)."""

    def blob_url(self, container: str, blob: str, permission: str) -> str: ...
    def container_url(self, container: str, permission: str) -> str: ...
    def prefix_blob_urls(self, container: str, prefix: str) -> dict[str, str]: ...


class FanoutPlan(NamedTuple):
    """What a fan-out will submit, and where, all resolved before any request."""

    job: JobSpec
    tasks: list[TaskSpec]
    task_id_prefix: str
    output_prefix: str
    workspace: RunWorkspace
    input_container: str | None
    output_container: str | None


def build_tasks(
    *,
    prefix: str,
    command_line: str | None,
    items: Sequence[Any] | None = None,
    manifest: Sequence[Mapping[str, Any]] | None = None,
    sas: SasSource | None = None,
    input_container: str | None = None,
    input_prefix: str = "",
    common_files: Sequence[str] = (),
    common_prefixes: Sequence[str] = (),
    output_container: str | None = None,
    output_prefix: str = "",
    output_pattern: str = "out/**/*",
    dependency_outputs: bool = True,
    environment: Mapping[str, str] | None = None,
    container: TaskContainerSpec | None = None,
    max_wall_clock_seconds: int | None = None,
    max_task_retries: int | None = None,
) -> list[TaskSpec]:
    """The fan-out's tasks, pure (SAS URLs come from ``sas``); see the operator for the parameters."""
    # The specs module is loaded when a task runs, not at DAG parsing.
    from airflow_azure_compute.specs import (
        OutputFileSpec,
        ResourceFileSpec,
        TaskSpec,
        check_command_template,
        render_command,
        task_id_for,
    )

    if (items is None) == (manifest is None):
        raise AzureComputeConfigError("give exactly one of items and manifest", field="items")
    entries: list[Mapping[str, Any]]
    if items is not None:
        if not command_line:
            raise AzureComputeConfigError(
                "a command_line template is required with items", field="command_line"
            )
        check_command_template(str(command_line), "command_line")
        entries = [{"item": it} for it in items]
    else:
        entries = list(manifest or [])
    if not entries:
        raise AzureComputeConfigError(
            "no tasks: the item list is empty (did the split produce any chunk?)", field="items"
        )
    needs_sas = bool(input_container and (items is not None or common_files or common_prefixes)) or bool(
        output_container
    )
    if needs_sas and sas is None:
        raise AzureComputeConfigError("containers need a Blob connection for SAS URLs", field="blob_conn_id")
    n = len(entries)
    ids = [task_id_for(prefix, i, n) for i in range(n)]
    names = {str(e.get("name")): ids[i] for i, e in enumerate(entries) if e.get("name") is not None}
    common = [
        _input_file(sas, input_container, posixpath.join(input_prefix, f) if input_prefix else f)
        for f in common_files
    ]
    if common_prefixes:
        if not (sas and input_container):
            raise AzureComputeConfigError("common_prefixes need input_container", field="common_prefixes")
        # One read-only SAS per blob under each prefix: a task can read exactly those blobs, not the
        # rest of the container (plain Blob Storage has no prefix-scoped SAS).
        for p in common_prefixes:
            urls = sas.prefix_blob_urls(input_container, p)
            if not urls:
                raise AzureComputeConfigError(
                    f"no blob under {p!r} in container {input_container!r}", field="common_prefixes"
                )
            common += [ResourceFileSpec(http_url=url, file_path=name) for name, url in sorted(urls.items())]
    out_read = (
        sas.container_url(output_container, "rl")
        if (sas and output_container and dependency_outputs)
        else None
    )
    out_write = sas.container_url(output_container, "cw") if (sas and output_container) else None

    tasks: list[TaskSpec] = []
    for i, entry in enumerate(entries):
        task_id = ids[i]
        files = list(common)
        if "item" in entry:
            item = entry["item"]
            cmd = render_command(str(command_line), index=i, task_id=task_id, item=item)
            if input_container and isinstance(item, str):
                files.append(_input_file(sas, input_container, f"{input_prefix}{item}"))
        else:
            raw = entry.get("command_line") or shlex.join(str(a) for a in entry.get("args") or [])
            check_command_template(str(raw), f"manifest[{i}].command_line")
            cmd = render_command(str(raw), index=i, task_id=task_id, item=entry.get("name", i))
            for f in entry.get("resource_files") or ():
                files.append(
                    ResourceFileSpec.coerce(f)
                    if isinstance(f, Mapping)
                    else _input_file(sas, input_container, f"{input_prefix}{f}")
                )
        deps = tuple(_dependency(d, ids, names, i) for d in entry.get("depends_on") or ())
        if out_read and deps:
            files += [
                ResourceFileSpec(
                    storage_container_url=out_read, blob_prefix=f"{output_prefix}{d}/", file_path="deps"
                )
                for d in deps
            ]
        outputs: tuple[OutputFileSpec, ...] = ()
        if out_write:
            outputs = (
                OutputFileSpec(
                    file_pattern=output_pattern, container_url=out_write, path=f"{output_prefix}{task_id}"
                ),
            )
        tasks.append(
            TaskSpec(
                task_id=task_id,
                command_line=cmd,
                resource_files=tuple(files),
                output_files=outputs,
                environment={**(environment or {}), **(entry.get("environment") or {})},
                container=container,
                max_wall_clock_seconds=entry.get("max_wall_clock_seconds") or max_wall_clock_seconds,
                max_task_retries=max_task_retries,
                depends_on=deps,
                failure_dependency_action=entry.get("failure_dependency_action"),
                failure_job_action=entry.get("failure_job_action"),
            )
        )
    return tasks


def _input_file(sas: SasSource | None, container: str | None, blob: str) -> ResourceFileSpec:
    if not (sas and container):
        raise AzureComputeConfigError(
            f"{blob!r} needs input_container (and a Blob connection)", field="input_container"
        )
    from airflow_azure_compute.specs import ResourceFileSpec

    return ResourceFileSpec(
        http_url=sas.blob_url(container, blob, "r"), file_path=posixpath.basename(blob) or blob
    )


def _dependency(dep: Any, ids: Sequence[str], names: Mapping[str, str], index: int) -> str:
    if isinstance(dep, int) and not isinstance(dep, bool):
        if not 0 <= dep < index:
            raise AzureComputeConfigError(
                f"entry {index} depends on entry {dep}: dependencies must point to earlier entries",
                field="manifest",
            )
        return ids[dep]
    if str(dep) in names:
        return names[str(dep)]
    raise AzureComputeConfigError(f"entry {index} depends on unknown entry {dep!r}", field="manifest")


class BatchRunTasksOperator(BatchBaseOperator):
    """Create (or reuse) a job and submit one task per item or manifest entry; returns where they are.

    Returns ``{"job_id", "pool_id", "task_id_prefix", "task_count", "owns_job", "input_container",
    "output_container", "output_prefix", "output_account", "submitted", "existed", "workspace"}``: the
    same shape for 10 tasks as for 100,000 (no list of task ids; task ``i`` of ``n`` is
    `task_id_for` ``(task_id_prefix, i, n)``).

    The job and the blobs it reads and writes are reported to OpenLineage when the tasks are submitted.
    The outputs exist only once the tasks are done, so their Asset event comes from the
    `BatchJobSensor` given ``fanout=`` this operator's result: the outputs prefix
    (``wasbs://<output container>@<account>/<output prefix>``), through the sensor's alias.

    Without containers, the fan-out works in the run's workspace (see
    `airflow_azure_compute.workspace`): inputs are read from the run's container, and each task's
    outputs go to ``outputs/<task id>/`` in the run's outputs container (created when missing; tasks
    get a create/write SAS on it alone), where
    `BlobMergeOperator` reads by default.

    :param job: a `JobSpec` (or mapping): the pool, and the job's
        id, constraints, preparation/release tasks and common environment.
    :param items: one task per item: chunk names from a split (or any XCom list). Strings are blob names
        under ``input_prefix`` in ``input_container``, downloaded into the working directory.
    :param manifest: one task per entry of a JSON task manifest (a JSON string, a list, or
        ``{"tasks": [...]}``). Entries: ``command_line`` or ``args``; optional ``name``,
        ``depends_on`` (earlier entries' indices or names), ``environment``, ``resource_files`` (blob
        names in ``input_container`` or resource file mappings), ``max_wall_clock_seconds``.
    :param command_line: per-task command template: ``{chunk}``/``{item}``, ``{chunk_stem}``,
        ``{chunk_file}``, ``{index}`` and ``{task_id}`` are substituted; other braces are left alone.
    :param task_id_prefix: prefix of the task ids; derived from dag/run/task/map index when empty.
    :param input_container: container of the inputs and ``common_files`` (read-only SAS URLs); default:
        the run's workspace container when ``common_files``/``common_prefixes`` or manifest
        ``resource_files`` name blobs (string items are then blob names there too).
    :param input_prefix: prefix prepended to item and file names.
    :param common_files: blob names every task downloads into its working directory (e.g. the program).
    :param common_prefixes: blob prefixes (in ``input_container``) every task downloads, keeping the
        blob names as paths (e.g. a package directory).
    :param output_container: container receiving each task's ``output_pattern`` files under
        ``{output_prefix}{task id}/`` (create + write SAS); default: the run's workspace outputs container.
    :param output_prefix: prefix of the outputs; default ``outputs/`` in the run's workspace (in a
        named ``output_container``, under the run's own prefix there).
    :param output_pattern: files uploaded on success, relative to the working directory; ``""``
        uploads nothing (and needs no Blob connection).
    :param dependency_outputs: a task with ``depends_on`` downloads its dependencies' outputs into
        ``deps/`` (keeping blob names).
    :param environment: environment variables of every task.
    :param container: run tasks in this container image (container-enabled pool).
    :param max_wall_clock_seconds: per-task limit.
    :param max_task_retries: per-task retries (default: the job's).
    :param concurrency: concurrent submission requests.
    :param submit_timeout: deadline for the whole submission.
    :param sas_expiry: lifetime of the SAS URLs (cover queueing + run time).

    Connections: see `BatchBaseOperator`.
    """

    template_fields: Sequence[str] = (
        "job",
        "items",
        "manifest",
        "command_line",
        "task_id_prefix",
        "input_container",
        "input_prefix",
        "common_files",
        "common_prefixes",
        "output_container",
        "output_prefix",
        "environment",
        "container",
        "azure_conn_id",
        "blob_conn_id",
    )
    template_fields_renderers = {"job": "json", "manifest": "json", "items": "json", "environment": "json"}
    operator_extra_links = (BatchJobLink(),)

    def __init__(
        self,
        *,
        job: JobSpec | Mapping[str, Any],
        items: Sequence[Any] | None = None,
        manifest: str | Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None,
        command_line: str | None = None,
        task_id_prefix: str | None = None,
        input_container: str | None = None,
        input_prefix: str = "",
        common_files: Sequence[str] = (),
        common_prefixes: Sequence[str] = (),
        output_container: str | None = None,
        output_prefix: str | None = None,
        output_pattern: str = "out/**/*",
        dependency_outputs: bool = True,
        environment: Mapping[str, str] | None = None,
        container: TaskContainerSpec | Mapping[str, Any] | None = None,
        max_wall_clock_seconds: int | None = None,
        max_task_retries: int | None = None,
        concurrency: int = 8,
        submit_timeout: timedelta = timedelta(minutes=10),
        sas_expiry: timedelta = timedelta(hours=24),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job = spec_fields(job, "JobSpec")
        self.items = items
        self.manifest = manifest
        self.command_line = command_line
        self.task_id_prefix = task_id_prefix
        self.input_container = input_container
        self.input_prefix = input_prefix
        self.common_files = common_files
        self.common_prefixes = common_prefixes
        self.output_container = output_container
        self.output_prefix = output_prefix
        self._declared_output_prefix = output_prefix
        self.output_pattern = output_pattern
        self.dependency_outputs = dependency_outputs
        self.environment = environment
        self.container = container
        self.max_wall_clock_seconds = max_wall_clock_seconds
        self.max_task_retries = max_task_retries
        self.concurrency = concurrency
        self.submit_timeout = submit_timeout
        self.sas_expiry = sas_expiry

    def _uses_input_blobs(self, manifest: Sequence[Mapping[str, Any]] | None) -> bool:
        """Whether the fan-out names blobs to download (then the input container defaults to the run's)."""
        if self.common_files or self.common_prefixes:
            return True
        return any(isinstance(f, str) for e in manifest or () for f in e.get("resource_files") or ())

    def _output_location(self, context: Context) -> tuple[RunWorkspace, str | None, str]:
        """The outputs' container and prefix: as given, or in the run's workspace."""
        if not self.output_pattern:
            return RunWorkspace.for_context(context), None, ""  # no outputs: no container, no SAS
        where = locate(
            context, self.output_container or None, self.output_prefix, default="outputs/", outputs=True,
            declared_prefix=self._declared_output_prefix, container_field="output_container",
            prefix_field="output_prefix",
        )  # fmt: skip
        return where.workspace, where.container, where.prefix

    def _ensure_workspace_output(self, context: Context, container: str) -> None:
        """Create the run's outputs container (with run metadata, so cleanup knows it is the run's)."""
        from airflow_azure_compute.hooks.blob import BlobHook

        if BlobHook(self.blob_conn_id).create_container(container, run_metadata(context)):
            self.log.info("Created the run's outputs container %r", container)

    def prefix(self, context: Context) -> str:
        if self.task_id_prefix:
            return self.task_id_prefix
        return derive_id("t", *run_scope(context), max_len=40) + "-"

    def sas_source(self, input_container: str | None, output_container: str | None) -> SasSource | None:
        if not (input_container or output_container):
            return None
        from airflow_azure_compute.operators._blob_sas import BlobSasSource

        return BlobSasSource(self.blob_conn_id, expiry=self.sas_expiry)

    def plan(self, context: Context) -> FanoutPlan:
        """Validate everything and build the task bodies before any Batch request."""
        from airflow_azure_compute.specs import JobSpec, TaskContainerSpec, parse_task_manifest

        spec = JobSpec.coerce(self.job)
        manifest = parse_task_manifest(self.manifest) if self.manifest is not None else None
        if manifest is not None:
            unknown = sorted({k for e in manifest for k in e} - MANIFEST_KEYS)
            if unknown:
                raise AzureComputeConfigError(f"unknown manifest keys {unknown}", field="manifest")
        if self.items is not None and isinstance(self.items, (str, bytes)):
            raise AzureComputeConfigError("items must be a list (got a string)", field="items")
        if self.items is not None and not list(self.items):
            raise AzureComputeConfigError(
                "no tasks: the item list is empty (did the split produce any chunk? a mapped fan-out "
                "needs a non-empty list for every map index)",
                field="items",
            )
        prefix = self.prefix(context)
        workspace, output_container, output_prefix = self._output_location(context)
        input_container = self.input_container or None
        if input_container is None and self._uses_input_blobs(manifest):
            input_container = workspace.container if workspace.owns_containers else None
        container = TaskContainerSpec.coerce(self.container) if self.container else None
        if manifest and any(e.get("depends_on") for e in manifest) and not spec.uses_task_dependencies:
            spec = JobSpec.coerce({**spec.as_dict(), "uses_task_dependencies": True})
        if output_container and not self.output_container:
            self._ensure_workspace_output(context, output_container)
        tasks = build_tasks(
            prefix=prefix,
            command_line=self.command_line,
            items=list(self.items) if self.items is not None else None,
            manifest=manifest,
            sas=self.sas_source(input_container, output_container),
            input_container=input_container,
            input_prefix=self.input_prefix or "",
            common_files=list(self.common_files or ()),
            common_prefixes=list(self.common_prefixes or ()),
            output_container=output_container,
            output_prefix=output_prefix,
            output_pattern=self.output_pattern,
            dependency_outputs=self.dependency_outputs,
            environment=self.environment,
            container=container,
            max_wall_clock_seconds=self.max_wall_clock_seconds,
            max_task_retries=self.max_task_retries,
        )
        return FanoutPlan(spec, tasks, prefix, output_prefix, workspace, input_container, output_container)

    def execute(self, context: Context) -> dict[str, Any]:
        spec, tasks, prefix, output_prefix, workspace, input_container, output_container = self.plan(context)
        hook = self.hook
        job_id, owned = ensure_job(hook, spec, context)
        existing = hook.list_task_ids(job_id, prefix)
        missing = [t.to_wire() for t in tasks if t.task_id not in existing]
        self.log.info(
            "job %s: %d task(s) planned, %d already there, submitting %d",
            job_id,
            len(tasks),
            len(existing),
            len(missing),
        )
        result = hook.create_tasks(
            job_id, missing, concurrency=self.concurrency, timeout=self.submit_timeout.total_seconds()
        )
        if result.failed:
            sample = dict(list(result.failed.items())[:5])
            raise AzureComputeRemoteError(
                f"job {job_id}: {len(result.failed)} task(s) refused, e.g. {sample}",
                code=next(iter(sample.values())),
            )
        self.log.info(
            "job %s: %d added, %d already existed, %d request(s), %d retried",
            job_id,
            result.added,
            result.existed,
            result.requests,
            result.retries,
        )
        self.record_job(
            job_id,
            inputs=[f"{input_container}/{self.input_prefix or ''}"] if input_container else [],
            outputs=[f"{output_container}/{output_prefix}"] if output_container else [],
        )
        return {
            "job_id": job_id,
            "pool_id": spec.pool_id,
            "task_id_prefix": prefix,
            "task_count": len(tasks),
            "owns_job": owned,
            "input_container": input_container,
            "output_container": output_container,
            "output_prefix": output_prefix,
            "output_account": self.account_name() if output_container else None,
            "submitted": result.added,
            "existed": len(existing) + result.existed,
            "workspace": workspace.to_dict(),
        }


__all__ = ["MANIFEST_KEYS", "BatchRunTasksOperator", "FanoutPlan", "SasSource", "build_tasks"]
