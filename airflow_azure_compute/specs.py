"""Shapes of Batch pools, jobs and tasks: the only place their fields are documented.

Every spec is a frozen dataclass validated in ``__post_init__`` (bad input raises
`AzureComputeConfigError` naming the field, before any API call)
and turned into the Batch REST body (camelCase JSON, lowercase enums) by a ``to_wire`` method, which the
hooks wrap in the SDK's models. Operators accept a spec or a plain mapping (``PoolSpec.coerce``), so
specs can come from DAG code, ``params`` or a JSON manifest.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields
from enum import Enum
from typing import Any, ClassVar, TypeVar

from airflow_azure_compute.exceptions import AzureComputeConfigError

#: Batch ids: letters, digits, ``-`` and ``_``, at most 64 characters, case-insensitive.
BATCH_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
#: The service refuses command lines longer than this (8191 characters on Windows nodes, the lower bound).
MAX_COMMAND_LINE = 8191
_UPLOAD_CONDITIONS = frozenset({"tasksuccess", "taskfailure", "taskcompletion"})
_ON_ALL_TASKS_COMPLETE = frozenset({"noaction", "terminatejob"})
_ON_TASK_FAILURE = frozenset({"noaction", "performexitoptionsjobaction"})
_DEPENDENCY_ACTIONS = frozenset({"satisfy", "block"})
_JOB_ACTIONS = frozenset({"none", "disable", "terminate"})

S = TypeVar("S", bound="_Spec")


def check_batch_id(value: object, field_name: str) -> str:
    """Return ``value`` if it is a valid Batch id, else raise a config error naming ``field_name``."""
    if not isinstance(value, str) or not BATCH_ID.match(value):
        raise AzureComputeConfigError(
            f"{value!r} is not a valid Batch id: use 1-64 letters, digits, '-' or '_'", field=field_name
        )
    return value


def _check_command(value: str, field_name: str) -> None:
    if not value or not value.strip():
        raise AzureComputeConfigError("a command line is required", field=field_name)
    if len(value) > MAX_COMMAND_LINE:
        raise AzureComputeConfigError(
            f"command line is {len(value)} characters, over the {MAX_COMMAND_LINE} limit: "
            "ship a script as a resource file and call it",
            field=field_name,
        )


def _env(env: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"name": str(k), "value": str(v)} for k, v in env.items()]


def _metadata(md: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"name": str(k), "value": str(v)} for k, v in md.items()]


class _Spec:
    """Mixin: build a spec from a mapping (nested specs coerced by field annotations)."""

    _nested: ClassVar[Mapping[str, type[_Spec]]] = {}
    _nested_lists: ClassVar[Mapping[str, type[_Spec]]] = {}

    @classmethod
    def coerce(cls: type[S], value: S | Mapping[str, Any]) -> S:
        """``value`` itself when it is already a spec, else ``cls(**value)`` with nested specs coerced."""
        if isinstance(value, cls):
            return value
        if not isinstance(value, Mapping):
            raise AzureComputeConfigError(f"expected a mapping or {cls.__name__}, got {type(value).__name__}")
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(value) - known)
        if unknown:
            raise AzureComputeConfigError(
                f"unknown field(s) {unknown}; known fields: {sorted(known)}", field=cls.__name__
            )
        kwargs = dict(value)
        for name, spec_cls in cls._nested.items():
            if kwargs.get(name) is not None:
                kwargs[name] = spec_cls.coerce(kwargs[name])
        for name, spec_cls in cls._nested_lists.items():
            if kwargs.get(name) is not None:
                kwargs[name] = tuple(spec_cls.coerce(v) for v in kwargs[name])
        try:
            return cls(**kwargs)
        except TypeError as err:
            missing = [
                f.name
                for f in fields(cls)  # type: ignore[arg-type]
                if f.default is MISSING and f.default_factory is MISSING and f.name not in kwargs
            ]
            raise AzureComputeConfigError(f"missing required field(s) {missing}", field=cls.__name__) from err

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of the fields (what ``coerce`` accepts back)."""
        return asdict(self)  # type: ignore[call-overload, no-any-return]


@dataclass(frozen=True, kw_only=True)
class ResourceFileSpec(_Spec):
    """A file (or blobs under a container prefix) downloaded to the task's working directory.

    :param http_url: URL of one blob (a read-only SAS URL); needs ``file_path``.
    :param storage_container_url: SAS URL of a container (read + list); downloads every blob under
        ``blob_prefix`` into the directory ``file_path``.
    :param file_path: target file (with ``http_url``) or directory, relative to the working directory.
    :param blob_prefix: only with ``storage_container_url``.
    :param file_mode: octal mode on Linux nodes, e.g. ``"0755"``.
    """

    http_url: str | None = field(default=None, repr=False)
    storage_container_url: str | None = field(default=None, repr=False)
    file_path: str | None = None
    blob_prefix: str | None = None
    file_mode: str | None = None

    def __post_init__(self) -> None:
        if bool(self.http_url) == bool(self.storage_container_url):
            raise AzureComputeConfigError(
                "set exactly one of http_url and storage_container_url", field="resource_files"
            )
        if self.http_url and not self.file_path:
            raise AzureComputeConfigError("file_path is required with http_url", field="resource_files")
        if self.http_url and self.blob_prefix:
            raise AzureComputeConfigError("blob_prefix needs storage_container_url", field="resource_files")
        if self.file_path and (".." in self.file_path.split("/") or self.file_path.startswith("/")):
            raise AzureComputeConfigError(
                f"file_path {self.file_path!r} must stay inside the working directory", field="resource_files"
            )

    def to_wire(self) -> dict[str, Any]:
        wire = {
            "httpUrl": self.http_url,
            "storageContainerUrl": self.storage_container_url,
            "filePath": self.file_path,
            "blobPrefix": self.blob_prefix,
            "fileMode": self.file_mode,
        }
        return {k: v for k, v in wire.items() if v is not None}


@dataclass(frozen=True, kw_only=True)
class OutputFileSpec(_Spec):
    """Files a task uploads when it ends.

    :param file_pattern: pattern relative to the working directory (``*``, ``**``, ``?``, ``[abc]``).
    :param container_url: SAS URL of the destination container with create + write permission.
    :param path: blob name (one file) or prefix (a pattern) in that container.
    :param upload_condition: ``tasksuccess``, ``taskfailure`` or ``taskcompletion``.
    """

    file_pattern: str
    container_url: str = field(repr=False)
    path: str | None = None
    upload_condition: str = "tasksuccess"

    def __post_init__(self) -> None:
        if self.upload_condition not in _UPLOAD_CONDITIONS:
            raise AzureComputeConfigError(
                f"{self.upload_condition!r}; use one of {sorted(_UPLOAD_CONDITIONS)}",
                field="output_files.upload_condition",
            )
        if not self.file_pattern:
            raise AzureComputeConfigError("a file pattern is required", field="output_files.file_pattern")

    def to_wire(self) -> dict[str, Any]:
        container: dict[str, Any] = {"containerUrl": self.container_url}
        if self.path:
            container["path"] = self.path
        return {
            "filePattern": self.file_pattern,
            "destination": {"container": container},
            "uploadOptions": {"uploadCondition": self.upload_condition},
        }


@dataclass(frozen=True, kw_only=True)
class TaskContainerSpec(_Spec):
    """Run a task (or start task) inside a container image on a container-enabled pool.

    :param image_name: image, e.g. ``myregistry.azurecr.io/app:1.2``.
    :param run_options: extra ``docker create`` options (``-v``, ``-e``, ``-w``).
    :param working_directory: ``taskWorkingDirectory`` or ``containerImageDefault``.
    """

    image_name: str
    run_options: str | None = None
    working_directory: str = "taskWorkingDirectory"

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"imageName": self.image_name, "workingDirectory": self.working_directory}
        if self.run_options:
            wire["containerRunOptions"] = self.run_options
        return wire


@dataclass(frozen=True, kw_only=True)
class StartTaskSpec(_Spec):
    """A command every node runs when it joins the pool (install dependencies, fetch tools).

    :param command_line: not run under a shell; call ``/bin/sh -c '...'`` yourself.
    :param resource_files: files to download first.
    :param environment: environment variables.
    :param wait_for_success: nodes take tasks only after the start task succeeded; a failure makes the
        node ``starttaskfailed`` (and the pool readiness trigger fail).
    :param max_task_retries: retries of a failing start task.
    :param elevated: run as an administrator.
    :param container: run the start task in a container.
    """

    command_line: str
    resource_files: tuple[ResourceFileSpec, ...] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    wait_for_success: bool = True
    max_task_retries: int = 0
    elevated: bool = False
    container: TaskContainerSpec | None = None

    _nested: ClassVar[Mapping[str, type[_Spec]]] = {"container": TaskContainerSpec}
    _nested_lists: ClassVar[Mapping[str, type[_Spec]]] = {"resource_files": ResourceFileSpec}

    def __post_init__(self) -> None:
        _check_command(self.command_line, "start_task.command_line")

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "commandLine": self.command_line,
            "waitForSuccess": self.wait_for_success,
            "maxTaskRetryCount": self.max_task_retries,
            "userIdentity": _auto_user(self.elevated, scope="pool"),
        }
        if self.resource_files:
            wire["resourceFiles"] = [r.to_wire() for r in self.resource_files]
        if self.environment:
            wire["environmentSettings"] = _env(self.environment)
        if self.container:
            wire["containerSettings"] = self.container.to_wire()
        return wire


def _auto_user(elevated: bool, *, scope: str = "task") -> dict[str, Any]:
    return {"autoUser": {"scope": scope, "elevationLevel": "admin" if elevated else "nonadmin"}}


@dataclass(frozen=True, kw_only=True)
class ContainerConfigSpec(_Spec):
    """Make the pool container-enabled and prefetch images.

    :param images: images pulled when a node starts.
    :param registry_server: private registry, e.g. ``myregistry.azurecr.io``.
    :param registry_conn_id: Airflow connection whose login/password authenticate to the registry
        (read when the operator runs; never templated, logged or put in XCom).
    """

    images: tuple[str, ...] = ()
    registry_server: str | None = None
    registry_conn_id: str | None = None

    def __post_init__(self) -> None:
        if bool(self.registry_server) != bool(self.registry_conn_id):
            raise AzureComputeConfigError(
                "registry_server and registry_conn_id go together", field="container.registry_conn_id"
            )

    def to_wire(
        self, registry_user: str | None = None, registry_password: str | None = None
    ) -> dict[str, Any]:
        wire: dict[str, Any] = {"type": "dockerCompatible", "containerImageNames": list(self.images)}
        if self.registry_server:
            wire["containerRegistries"] = [
                {
                    "registryServer": self.registry_server,
                    "username": registry_user,
                    "password": registry_password,
                }
            ]
        return wire


@dataclass(frozen=True, kw_only=True)
class BlobMountSpec(_Spec):
    """A blob container mounted on every node (blobfuse) under ``$AZ_BATCH_NODE_MOUNTS_DIR``.

    The storage account and a read/list SAS come from the Blob connection when the operator runs.

    :param container_name: the container to mount.
    :param relative_mount_path: directory name under the mounts directory.
    :param blobfuse_options: extra blobfuse options.
    """

    container_name: str
    relative_mount_path: str
    blobfuse_options: str | None = None

    def to_wire(self, account_name: str, sas_key: str) -> dict[str, Any]:
        cfg: dict[str, Any] = {
            "accountName": account_name,
            "containerName": self.container_name,
            "relativeMountPath": self.relative_mount_path,
            "sasKey": sas_key,
        }
        if self.blobfuse_options:
            cfg["blobfuseOptions"] = self.blobfuse_options
        return {"azureBlobFileSystemConfiguration": cfg}


@dataclass(frozen=True, kw_only=True)
class PoolSpec(_Spec):
    """Batch pool shape.

    :param pool_id: Batch id of the pool.
    :param vm_size: VM size, e.g. ``standard_d2s_v5``.
    :param image: marketplace image, ``publisher:offer:sku[:version]``
        (e.g. ``canonical:0001-com-ubuntu-server-jammy:22_04-lts``).
    :param node_agent_sku_id: node agent matching the image, e.g. ``batch.node.ubuntu 22.04``.
    :param dedicated_nodes: fixed number of dedicated nodes; excludes ``autoscale_formula``.
    :param spot_nodes: fixed number of spot (low-priority) nodes; excludes ``autoscale_formula``.
    :param autoscale_formula: autoscale formula (``$TargetDedicatedNodes = ...``); excludes fixed counts.
    :param autoscale_evaluation_minutes: how often the formula runs (5 to 10080 minutes).
    :param start_task: run on every node as it joins.
    :param container: container configuration (images, private registry).
    :param mounts: blob containers mounted on every node.
    :param task_slots_per_node: tasks a node runs at once.
    :param metadata: extra metadata; the operator adds the dag/run/task that created the pool.
    """

    pool_id: str
    vm_size: str
    image: str
    node_agent_sku_id: str
    dedicated_nodes: int = 0
    spot_nodes: int = 0
    autoscale_formula: str | None = None
    autoscale_evaluation_minutes: int = 15
    start_task: StartTaskSpec | None = None
    container: ContainerConfigSpec | None = None
    mounts: tuple[BlobMountSpec, ...] = ()
    task_slots_per_node: int = 1
    metadata: Mapping[str, str] = field(default_factory=dict)

    _nested: ClassVar[Mapping[str, type[_Spec]]] = {
        "start_task": StartTaskSpec,
        "container": ContainerConfigSpec,
    }
    _nested_lists: ClassVar[Mapping[str, type[_Spec]]] = {"mounts": BlobMountSpec}

    def __post_init__(self) -> None:
        check_batch_id(self.pool_id, "pool.pool_id")
        if not self.vm_size:
            raise AzureComputeConfigError("a VM size is required", field="pool.vm_size")
        if len(self.image_reference) < 3:
            raise AzureComputeConfigError(
                f"{self.image!r}: use 'publisher:offer:sku[:version]'", field="pool.image"
            )
        if not self.node_agent_sku_id:
            raise AzureComputeConfigError(
                "the node agent SKU matching the image is required, e.g. 'batch.node.ubuntu 22.04'",
                field="pool.node_agent_sku_id",
            )
        if self.autoscale_formula and (self.dedicated_nodes or self.spot_nodes):
            raise AzureComputeConfigError(
                "dedicated_nodes/spot_nodes and autoscale_formula are exclusive: set node counts in the formula",
                field="pool.autoscale_formula",
            )
        if self.dedicated_nodes < 0 or self.spot_nodes < 0:
            raise AzureComputeConfigError("node counts cannot be negative", field="pool.dedicated_nodes")
        if not 5 <= self.autoscale_evaluation_minutes <= 10080:
            raise AzureComputeConfigError(
                "must be between 5 and 10080 minutes", field="pool.autoscale_evaluation_minutes"
            )
        if not 1 <= self.task_slots_per_node <= 256:
            raise AzureComputeConfigError("must be between 1 and 256", field="pool.task_slots_per_node")

    @property
    def image_reference(self) -> dict[str, str]:
        parts = [p for p in (self.image or "").split(":") if p]
        ref = dict(zip(("publisher", "offer", "sku", "version"), parts[:4], strict=False))
        ref.setdefault("version", "latest")
        return ref if len(parts) >= 3 else {}

    def to_wire(
        self,
        *,
        metadata: Mapping[str, str] | None = None,
        registry_user: str | None = None,
        registry_password: str | None = None,
        mount_account: str | None = None,
        mount_sas: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """The ``POST /pools`` body; secrets are passed in by the operator, never stored on the spec."""
        vm: dict[str, Any] = {
            "imageReference": self.image_reference,
            "nodeAgentSKUId": self.node_agent_sku_id,
        }
        if self.container:
            vm["containerConfiguration"] = self.container.to_wire(registry_user, registry_password)
        wire: dict[str, Any] = {
            "id": self.pool_id,
            "vmSize": self.vm_size,
            "virtualMachineConfiguration": vm,
            "taskSlotsPerNode": self.task_slots_per_node,
        }
        if self.autoscale_formula:
            wire["enableAutoScale"] = True
            wire["autoScaleFormula"] = self.autoscale_formula
            wire["autoScaleEvaluationInterval"] = f"PT{self.autoscale_evaluation_minutes}M"
        else:
            wire["targetDedicatedNodes"] = self.dedicated_nodes
            wire["targetLowPriorityNodes"] = self.spot_nodes
        if self.start_task:
            wire["startTask"] = self.start_task.to_wire()
        if self.mounts:
            sas = mount_sas or {}
            if not mount_account or any(m.container_name not in sas for m in self.mounts):
                raise AzureComputeConfigError(
                    "mounts need a Blob connection for the account and SAS", field="pool.mounts"
                )
            wire["mountConfiguration"] = [
                m.to_wire(mount_account, sas[m.container_name]) for m in self.mounts
            ]
        md = {**self.metadata, **(metadata or {})}
        if md:
            wire["metadata"] = _metadata(md)
        return wire


@dataclass(frozen=True, kw_only=True)
class JobTaskSpec(_Spec):
    """A job preparation or release task (runs on each node before the first / after the last task).

    :param command_line: the command (not under a shell).
    :param resource_files: files to download first (preparation only).
    :param environment: environment variables.
    :param wait_for_success: preparation only: tasks wait for it to succeed.
    :param elevated: run as an administrator.
    """

    command_line: str
    resource_files: tuple[ResourceFileSpec, ...] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    wait_for_success: bool = True
    elevated: bool = False

    _nested_lists: ClassVar[Mapping[str, type[_Spec]]] = {"resource_files": ResourceFileSpec}

    def __post_init__(self) -> None:
        _check_command(self.command_line, "job.preparation_task.command_line")

    def to_wire(self, *, preparation: bool) -> dict[str, Any]:
        wire: dict[str, Any] = {"commandLine": self.command_line, "userIdentity": _auto_user(self.elevated)}
        if self.environment:
            wire["environmentSettings"] = _env(self.environment)
        if preparation:
            wire["waitForSuccess"] = self.wait_for_success
            if self.resource_files:
                wire["resourceFiles"] = [r.to_wire() for r in self.resource_files]
        return wire


@dataclass(frozen=True, kw_only=True)
class JobSpec(_Spec):
    """Batch job shape.

    :param job_id: Batch id of the job; derived from dag/run/task when empty.
    :param pool_id: the pool that runs the job's tasks.
    :param max_wall_clock_seconds: the job is terminated after this long.
    :param max_task_retries: retries of a task that exits non-zero (-1: unlimited).
    :param on_all_tasks_complete: ``noaction`` or ``terminatejob``.
    :param preparation_task: runs on a node before its first task of the job.
    :param release_task: runs on a node when the job ends.
    :param environment: environment variables common to every task.
    :param uses_task_dependencies: needed when tasks have ``depends_on``.
    :param on_task_failure: Batch's ``onTaskFailure``: ``noaction`` (default) or
        ``performexitoptionsjobaction`` (a failed task's ``failure_job_action`` applies, ``terminate``
        unless the task says otherwise: the job ends at its first failed task and the wait with it).
    :param priority: -1000 to 1000.
    :param metadata: extra metadata; the operator adds the dag/run/task that created the job.
    """

    pool_id: str
    job_id: str | None = None
    max_wall_clock_seconds: int | None = None
    max_task_retries: int = 0
    on_all_tasks_complete: str = "noaction"
    preparation_task: JobTaskSpec | None = None
    release_task: JobTaskSpec | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    uses_task_dependencies: bool = False
    on_task_failure: str = "noaction"
    priority: int = 0
    metadata: Mapping[str, str] = field(default_factory=dict)

    _nested: ClassVar[Mapping[str, type[_Spec]]] = {
        "preparation_task": JobTaskSpec,
        "release_task": JobTaskSpec,
    }

    def __post_init__(self) -> None:
        check_batch_id(self.pool_id, "job.pool_id")
        if self.job_id is not None:
            check_batch_id(self.job_id, "job.job_id")
        if self.on_all_tasks_complete not in _ON_ALL_TASKS_COMPLETE:
            raise AzureComputeConfigError(
                f"{self.on_all_tasks_complete!r}; use one of {sorted(_ON_ALL_TASKS_COMPLETE)}",
                field="job.on_all_tasks_complete",
            )
        if self.on_task_failure not in _ON_TASK_FAILURE:
            raise AzureComputeConfigError(
                f"{self.on_task_failure!r}; use one of {sorted(_ON_TASK_FAILURE)}",
                field="job.on_task_failure",
            )
        if self.max_task_retries < -1:
            raise AzureComputeConfigError("use -1 (unlimited) or more", field="job.max_task_retries")
        if self.release_task and not self.preparation_task:
            raise AzureComputeConfigError("a release task needs a preparation task", field="job.release_task")
        if not -1000 <= self.priority <= 1000:
            raise AzureComputeConfigError("must be between -1000 and 1000", field="job.priority")

    def to_wire(self, job_id: str, *, metadata: Mapping[str, str] | None = None) -> dict[str, Any]:
        constraints: dict[str, Any] = {"maxTaskRetryCount": self.max_task_retries}
        if self.max_wall_clock_seconds:
            constraints["maxWallClockTime"] = f"PT{int(self.max_wall_clock_seconds)}S"
        wire: dict[str, Any] = {
            "id": job_id,
            "poolInfo": {"poolId": self.pool_id},
            "priority": self.priority,
            "constraints": constraints,
            "onAllTasksComplete": self.on_all_tasks_complete,
            "usesTaskDependencies": self.uses_task_dependencies,
        }
        if self.on_task_failure != "noaction":
            wire["onTaskFailure"] = self.on_task_failure
        if self.preparation_task:
            wire["jobPreparationTask"] = self.preparation_task.to_wire(preparation=True)
        if self.release_task:
            wire["jobReleaseTask"] = self.release_task.to_wire(preparation=False)
        if self.environment:
            wire["commonEnvironmentSettings"] = _env(self.environment)
        md = {**self.metadata, **(metadata or {})}
        if md:
            wire["metadata"] = _metadata(md)
        return wire


@dataclass(frozen=True, kw_only=True)
class TaskSpec(_Spec):
    """One Batch task.

    :param task_id: Batch id of the task (unique in the job, case-insensitive).
    :param command_line: the command (not under a shell; use ``/bin/sh -c '...'`` for shell syntax).
    :param resource_files: files downloaded before the command runs.
    :param output_files: files uploaded when the task ends.
    :param environment: environment variables.
    :param container: run in a container (container-enabled pool).
    :param max_wall_clock_seconds: the task is terminated after this long.
    :param max_task_retries: overrides the job's retry count.
    :param retention_seconds: how long the task directory is kept on the node.
    :param depends_on: ids of tasks that must succeed first (job with ``uses_task_dependencies``).
    :param failure_dependency_action: what a failure of this task does to the tasks that depend on it
        (Batch's ``exitConditions.default.dependencyAction``): ``block`` (Batch's default: they never
        run, and the wait reports them as blocked) or ``satisfy`` (they run anyway).
    :param failure_job_action: Batch's ``exitConditions.default.jobAction`` on failure: ``none``,
        ``disable`` or ``terminate``; applies only when the job's ``on_task_failure`` is
        ``performexitoptionsjobaction`` (Batch's default there: ``terminate``).
    :param elevated: run as an administrator.
    """

    task_id: str
    command_line: str
    resource_files: tuple[ResourceFileSpec, ...] = ()
    output_files: tuple[OutputFileSpec, ...] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    container: TaskContainerSpec | None = None
    max_wall_clock_seconds: int | None = None
    max_task_retries: int | None = None
    retention_seconds: int | None = None
    depends_on: tuple[str, ...] = ()
    failure_dependency_action: str | None = None
    failure_job_action: str | None = None
    elevated: bool = False

    _nested: ClassVar[Mapping[str, type[_Spec]]] = {"container": TaskContainerSpec}
    _nested_lists: ClassVar[Mapping[str, type[_Spec]]] = {
        "resource_files": ResourceFileSpec,
        "output_files": OutputFileSpec,
    }

    def __post_init__(self) -> None:
        check_batch_id(self.task_id, "task_id")
        _check_command(self.command_line, f"tasks[{self.task_id}].command_line")
        for dep in self.depends_on:
            check_batch_id(dep, f"tasks[{self.task_id}].depends_on")
        for name, allowed in (
            ("failure_dependency_action", _DEPENDENCY_ACTIONS),
            ("failure_job_action", _JOB_ACTIONS),
        ):
            value = getattr(self, name)
            if value is not None and value not in allowed:
                raise AzureComputeConfigError(
                    f"{value!r}; use one of {sorted(allowed)}", field=f"tasks[{self.task_id}].{name}"
                )

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"id": self.task_id, "commandLine": self.command_line}
        if self.resource_files:
            wire["resourceFiles"] = [r.to_wire() for r in self.resource_files]
        if self.output_files:
            wire["outputFiles"] = [o.to_wire() for o in self.output_files]
        if self.environment:
            wire["environmentSettings"] = _env(self.environment)
        if self.container:
            wire["containerSettings"] = self.container.to_wire()
        constraints: dict[str, Any] = {}
        if self.max_wall_clock_seconds:
            constraints["maxWallClockTime"] = f"PT{int(self.max_wall_clock_seconds)}S"
        if self.max_task_retries is not None:
            constraints["maxTaskRetryCount"] = self.max_task_retries
        if self.retention_seconds:
            constraints["retentionTime"] = f"PT{int(self.retention_seconds)}S"
        if constraints:
            wire["constraints"] = constraints
        if self.depends_on:
            wire["dependsOn"] = {"taskIds": list(self.depends_on)}
        on_failure = {
            key: value
            for key, value in (
                ("dependencyAction", self.failure_dependency_action),
                ("jobAction", self.failure_job_action),
            )
            if value is not None
        }
        if on_failure:
            # ``default`` covers every failure (non-zero exit, pre-processing, upload); success keeps
            # Batch's own defaults (satisfy, none).
            wire["exitConditions"] = {"default": on_failure}
        if self.elevated:
            wire["userIdentity"] = _auto_user(True)
        return wire


class ExistingPolicy(str, Enum):
    """What the pool operator does when the pool already exists."""

    REUSE = "reuse"  #: keep it, after checking its shape matches the spec (differences are named)
    FAIL = "fail"  #: raise
    RECREATE = "recreate"  #: delete it and create it again from the spec


class FailurePolicy(str, Enum):
    """When failed tasks fail the Airflow task."""

    FAIL_FAST = "fail_fast"  #: at the first failed task
    TOLERATE = "tolerate"  #: only when more than ``tolerate_percent`` of the tasks failed
    RUN_ALL = "run_all"  #: wait for every task, then fail listing every failure


def task_id_for(prefix: str, index: int, total: int) -> str:
    """Deterministic task id: ``prefix`` + zero-padded ``index`` (width fixed by ``total``, at least 5)."""
    return f"{prefix}{index:0{max(5, len(str(max(total - 1, 0))))}d}"


_PLACEHOLDER = re.compile(r"\{(index|chunk|chunk_file|chunk_stem|task_id|item)\}")


_PLACEHOLDER_NAMES = ("index", "chunk", "chunk_file", "chunk_stem", "task_id", "item")
_BRACED_WORD = re.compile(r"(?<![$\w{])\{([A-Za-z_][A-Za-z0-9_]*)\}(?!\})")


def check_command_template(template: str, field: str) -> None:
    """Refuse a ``{word}`` that looks like a misspelt placeholder (``{chunk_fil}``): Batch would get it
    literally. Other braces (``${VAR}``, JSON, ``awk '{print}'``) are left alone."""
    import difflib  # lazy: DAG parsing imports this module

    for word in _BRACED_WORD.findall(template):
        if word in _PLACEHOLDER_NAMES:
            continue
        close = difflib.get_close_matches(word.lower(), _PLACEHOLDER_NAMES, n=1, cutoff=0.75)
        if close:
            raise AzureComputeConfigError(
                f"unknown placeholder {{{word}}}; did you mean {{{close[0]}}}? "
                f"(placeholders: {', '.join('{' + n + '}' for n in _PLACEHOLDER_NAMES)})",
                field=field,
            )


def render_command(template: str, *, index: int, task_id: str, item: object) -> str:
    """Substitute ``{index}``, ``{task_id}``, ``{chunk}`` / ``{item}``, ``{chunk_file}`` (base name, as
    downloaded into the working directory) and ``{chunk_stem}`` (base name without extension).

    Other braces (``${VAR}``, JSON) are left alone, unlike ``str.format``.
    """
    text = item if isinstance(item, str) else json.dumps(item, separators=(",", ":"), sort_keys=True)
    base = text.rsplit("/", 1)[-1]
    stem = base.split(".", 1)[0]
    values = {
        "index": str(index),
        "task_id": task_id,
        "chunk": text,
        "item": text,
        "chunk_file": base,
        "chunk_stem": stem,
    }
    return _PLACEHOLDER.sub(lambda m: values[m[1]], template)


def parse_task_manifest(
    manifest: str | bytes | Sequence[Mapping[str, Any]] | Mapping[str, Any],
) -> list[dict[str, Any]]:
    """Entries of a JSON task manifest: a list of task objects, or ``{"tasks": [...]}``.

    Each entry has ``command_line`` (or ``args``) and optionally ``id``, ``depends_on`` (ids or indices
    of earlier entries), ``environment``, ``resource_files``, ``output_files``.
    """
    data: Any = manifest
    if isinstance(manifest, (str, bytes)):
        try:
            data = json.loads(manifest)
        except json.JSONDecodeError as err:
            raise AzureComputeConfigError(
                f"not valid JSON ({err.msg} at line {err.lineno} column {err.colno})", field="manifest"
            ) from err
    if isinstance(data, Mapping):
        data = data.get("tasks")
    if not isinstance(data, list) or not data:
        raise AzureComputeConfigError(
            'expected a non-empty list of tasks or {"tasks": [...]}', field="manifest"
        )
    for i, entry in enumerate(data):
        if not isinstance(entry, Mapping) or not (entry.get("command_line") or entry.get("args")):
            raise AzureComputeConfigError(f"entry {i} needs a command_line", field="manifest")
    return [dict(e) for e in data]


def pool_differences(spec: PoolSpec, pool: Mapping[str, Any]) -> list[str]:
    """What differs between ``spec`` and an existing pool (its REST JSON); empty when they match.

    Compared: VM size, image, node agent, scaling mode and fixed node counts or formula, task slots,
    start task command, container images. Secrets and metadata are not compared.
    """
    wanted = spec.to_wire(mount_account="-", mount_sas={m.container_name: "-" for m in spec.mounts})
    diffs: list[str] = []

    def check(name: str, want: Any, have: Any) -> None:
        if isinstance(want, str) and isinstance(have, str):
            same = want.lower() == have.lower()
        else:
            same = want == have
        if not same:
            diffs.append(f"{name}: spec has {want!r}, pool has {have!r}")

    vm = pool.get("virtualMachineConfiguration") or {}
    check("vm_size", wanted["vmSize"], pool.get("vmSize"))
    have_image = vm.get("imageReference") or {}
    for key, want in wanted["virtualMachineConfiguration"]["imageReference"].items():
        check(f"image.{key}", want, have_image.get(key, "latest" if key == "version" else None))
    check("node_agent_sku_id", spec.node_agent_sku_id, vm.get("nodeAgentSKUId"))
    check("task_slots_per_node", spec.task_slots_per_node, pool.get("taskSlotsPerNode", 1))
    autoscale = bool(pool.get("enableAutoScale"))
    if spec.autoscale_formula:
        check("autoscale", True, autoscale)
        if autoscale:
            check(
                "autoscale_formula",
                _squash(spec.autoscale_formula),
                _squash(pool.get("autoScaleFormula") or ""),
            )
    else:
        check("autoscale", False, autoscale)
        if not autoscale:
            check("dedicated_nodes", spec.dedicated_nodes, pool.get("targetDedicatedNodes", 0))
            check("spot_nodes", spec.spot_nodes, pool.get("targetLowPriorityNodes", 0))
    have_start = (pool.get("startTask") or {}).get("commandLine")
    check("start_task.command_line", spec.start_task.command_line if spec.start_task else None, have_start)
    have_images = sorted((vm.get("containerConfiguration") or {}).get("containerImageNames") or [])
    check("container.images", sorted(spec.container.images) if spec.container else [], have_images)
    return diffs


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


__all__ = [
    "BATCH_ID",
    "MAX_COMMAND_LINE",
    "BlobMountSpec",
    "ContainerConfigSpec",
    "ExistingPolicy",
    "FailurePolicy",
    "JobSpec",
    "JobTaskSpec",
    "OutputFileSpec",
    "PoolSpec",
    "ResourceFileSpec",
    "StartTaskSpec",
    "TaskContainerSpec",
    "TaskSpec",
    "check_batch_id",
    "parse_task_manifest",
    "pool_differences",
    "render_command",
    "task_id_for",
]
