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
    :param elevated: run as an administrator (the pool's auto-user).
    :param user_name: run as this named user account of the pool (``PoolSpec.user_accounts``) instead of
        the auto-user; its elevation comes from the account.
    :param container: run the start task in a container.
    """

    command_line: str
    resource_files: tuple[ResourceFileSpec, ...] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    wait_for_success: bool = True
    max_task_retries: int = 0
    elevated: bool = False
    user_name: str | None = None
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
            "userIdentity": (
                {"username": self.user_name} if self.user_name else _auto_user(self.elevated, scope="pool")
            ),
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
class FileShareMountSpec(_Spec):
    """An Azure Files share mounted on every node (SMB) under ``$AZ_BATCH_NODE_MOUNTS_DIR``.

    :param account_name: the storage account.
    :param azure_file_url: the share's URL, ``https://{account}.file.core.windows.net/{share}``.
    :param relative_mount_path: directory name under the mounts directory.
    :param account_key_conn_id: Airflow connection whose password is the storage account key (read
        when the operator runs; never templated, logged or put in XCom).
    :param mount_options: extra ``mount`` options, e.g. ``-o vers=3.0,dir_mode=0777,file_mode=0777``.
    """

    account_name: str
    azure_file_url: str
    relative_mount_path: str
    account_key_conn_id: str
    mount_options: str | None = None

    def __post_init__(self) -> None:
        _check_mount_path(self.relative_mount_path, "pool.file_share_mounts.relative_mount_path")
        if not self.account_key_conn_id:
            raise AzureComputeConfigError(
                "an Azure Files mount needs the connection holding the account key",
                field="pool.file_share_mounts.account_key_conn_id",
            )
        if not self.azure_file_url.startswith("https://"):
            raise AzureComputeConfigError(
                f"{self.azure_file_url!r}: use https://<account>.file.core.windows.net/<share>",
                field="pool.file_share_mounts.azure_file_url",
            )

    def to_wire(self, account_key: str) -> dict[str, Any]:
        cfg: dict[str, Any] = {
            "accountName": self.account_name,
            "azureFileUrl": self.azure_file_url,
            "accountKey": account_key,
            "relativeMountPath": self.relative_mount_path,
        }
        if self.mount_options:
            cfg["mountOptions"] = self.mount_options
        return {"azureFileShareConfiguration": cfg}


@dataclass(frozen=True, kw_only=True)
class NfsMountSpec(_Spec):
    """An NFS export mounted on every node (reachable from the pool's subnet; no credentials).

    :param source: ``host:/export`` (e.g. an Azure NetApp Files or Blob NFS 3.0 endpoint).
    :param relative_mount_path: directory name under the mounts directory.
    :param mount_options: extra ``mount`` options, e.g. ``-o vers=3,sec=sys``.
    """

    source: str
    relative_mount_path: str
    mount_options: str | None = None

    def __post_init__(self) -> None:
        _check_mount_path(self.relative_mount_path, "pool.nfs_mounts.relative_mount_path")
        if ":" not in self.source:
            raise AzureComputeConfigError(
                f"{self.source!r}: use host:/export", field="pool.nfs_mounts.source"
            )

    def to_wire(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {"source": self.source, "relativeMountPath": self.relative_mount_path}
        if self.mount_options:
            cfg["mountOptions"] = self.mount_options
        return {"nfsMountConfiguration": cfg}


def _check_mount_path(path: str, field_name: str) -> None:
    if not path or "/" in path or path in (".", ".."):
        raise AzureComputeConfigError(
            f"{path!r}: use one directory name (it is created under $AZ_BATCH_NODE_MOUNTS_DIR)",
            field=field_name,
        )


@dataclass(frozen=True, kw_only=True)
class UserAccountSpec(_Spec):
    """A named user account created on every node (e.g. to run the start task as an administrator).

    :param name: the account name.
    :param password_conn_id: Airflow connection whose password is the account's password (read when
        the operator runs; never templated, logged or put in XCom).
    :param elevated: administrator (``admin``) rather than ``nonadmin``.
    """

    name: str
    password_conn_id: str
    elevated: bool = False

    def __post_init__(self) -> None:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_.-]{0,19}$", self.name or ""):
            raise AzureComputeConfigError(
                f"{self.name!r}: use up to 20 letters, digits, '_', '.' or '-'",
                field="pool.user_accounts.name",
            )
        if not self.password_conn_id:
            raise AzureComputeConfigError(
                f"user account {self.name!r} needs a connection holding its password",
                field="pool.user_accounts.password_conn_id",
            )

    def to_wire(self, password: str) -> dict[str, Any]:
        return {
            "name": self.name,
            "password": password,
            "elevationLevel": "admin" if self.elevated else "nonadmin",
        }


#: ``publicIPAddressConfiguration.provision`` values.
PUBLIC_IP_PROVISIONING = ("batchmanaged", "usermanaged", "nopublicipaddresses")


@dataclass(frozen=True, kw_only=True)
class NetworkSpec(_Spec):
    """Where the pool's nodes live on the network.

    :param subnet_id: ARM id of a virtual network subnet
        (``/subscriptions/.../virtualNetworks/{vnet}/subnets/{subnet}``) the nodes join; needed to reach
        NFS exports or other machines of the network.
    :param public_ip: ``batchmanaged`` (default: Batch gives nodes public IPs), ``usermanaged`` (yours,
        ``public_ip_ids``) or ``nopublicipaddresses`` (private nodes; needs ``subnet_id``).
    :param public_ip_ids: ARM ids of public IP addresses, with ``usermanaged``.
    """

    subnet_id: str | None = None
    public_ip: str = "batchmanaged"
    public_ip_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.public_ip not in PUBLIC_IP_PROVISIONING:
            raise AzureComputeConfigError(
                f"{self.public_ip!r}; use one of {list(PUBLIC_IP_PROVISIONING)}",
                field="pool.network.public_ip",
            )
        if (self.public_ip == "usermanaged") != bool(self.public_ip_ids):
            raise AzureComputeConfigError(
                "public_ip_ids go with public_ip='usermanaged' (and only with it)",
                field="pool.network.public_ip_ids",
            )
        if self.subnet_id is not None and "/subnets/" not in self.subnet_id.lower():
            raise AzureComputeConfigError(
                f"{self.subnet_id!r} is not a subnet's ARM id (.../virtualNetworks/<vnet>/subnets/<subnet>)",
                field="pool.network.subnet_id",
            )
        if self.public_ip == "nopublicipaddresses" and not self.subnet_id:
            raise AzureComputeConfigError(
                "nodes without public IPs need a subnet_id", field="pool.network.subnet_id"
            )

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {}
        if self.subnet_id:
            wire["subnetId"] = self.subnet_id
        ip: dict[str, Any] = {"provision": self.public_ip}
        if self.public_ip_ids:
            ip["ipAddressIds"] = list(self.public_ip_ids)
        wire["publicIPAddressConfiguration"] = ip
        return wire


#: Azure's casing of ``taskSchedulingPolicy.nodeFillType`` (the REST API sends ``Spread`` / ``Pack``).
NODE_FILL_TYPES = {"spread": "Spread", "pack": "Pack"}
NODE_PLACEMENT_POLICIES = ("regional", "zonal")
#: Nodes an inter-node communication pool can have (Batch service allocation mode).
MAX_INTER_NODE_POOL_NODES = 100


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
    :param mounts: blob containers mounted on every node (blobfuse).
    :param file_share_mounts: Azure Files shares mounted on every node.
    :param nfs_mounts: NFS exports mounted on every node.
    :param task_slots_per_node: tasks a node runs at once (1 for multi-instance tasks).
    :param inter_node_communication: nodes can talk to each other (MPI, multi-instance tasks); limits
        the pool to 100 nodes and places them close together.
    :param network: virtual network subnet and public IP settings.
    :param node_placement: ``regional`` or ``zonal`` allocation of the nodes.
    :param node_fill_type: ``Spread`` (default: tasks spread over nodes) or ``Pack`` (fill a node's
        slots first).
    :param user_accounts: named accounts created on every node (the start task can run as one).
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
    file_share_mounts: tuple[FileShareMountSpec, ...] = ()
    nfs_mounts: tuple[NfsMountSpec, ...] = ()
    task_slots_per_node: int = 1
    inter_node_communication: bool = False
    network: NetworkSpec | None = None
    node_placement: str | None = None
    node_fill_type: str | None = None
    user_accounts: tuple[UserAccountSpec, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)

    _nested: ClassVar[Mapping[str, type[_Spec]]] = {
        "start_task": StartTaskSpec,
        "container": ContainerConfigSpec,
        "network": NetworkSpec,
    }
    _nested_lists: ClassVar[Mapping[str, type[_Spec]]] = {
        "mounts": BlobMountSpec,
        "file_share_mounts": FileShareMountSpec,
        "nfs_mounts": NfsMountSpec,
        "user_accounts": UserAccountSpec,
    }

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
        if (
            self.inter_node_communication
            and self.dedicated_nodes + self.spot_nodes > MAX_INTER_NODE_POOL_NODES
        ):
            raise AzureComputeConfigError(
                f"an inter-node communication pool has at most {MAX_INTER_NODE_POOL_NODES} nodes, "
                f"not {self.dedicated_nodes + self.spot_nodes}",
                field="pool.dedicated_nodes",
            )
        if self.node_fill_type is not None and self.node_fill_type.lower() not in NODE_FILL_TYPES:
            raise AzureComputeConfigError(
                f"{self.node_fill_type!r}; use 'Spread' or 'Pack'", field="pool.node_fill_type"
            )
        if self.node_placement is not None and self.node_placement not in NODE_PLACEMENT_POLICIES:
            raise AzureComputeConfigError(
                f"{self.node_placement!r}; use one of {list(NODE_PLACEMENT_POLICIES)}",
                field="pool.node_placement",
            )
        paths = [
            *(m.relative_mount_path for m in self.mounts),
            *(m.relative_mount_path for m in self.file_share_mounts),
            *(m.relative_mount_path for m in self.nfs_mounts),
        ]
        if len(paths) != len(set(paths)):
            raise AzureComputeConfigError(
                f"two mounts share a relative_mount_path: {sorted(paths)}", field="pool.mounts"
            )
        user = self.start_task.user_name if self.start_task else None
        if user and user not in {u.name for u in self.user_accounts}:
            raise AzureComputeConfigError(
                f"the start task runs as {user!r}, which is not in user_accounts",
                field="pool.start_task.user_name",
            )

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
        file_share_keys: Mapping[str, str] | None = None,
        user_passwords: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """The ``POST /pools`` body; secrets are passed in by the operator, never stored on the spec.

        ``file_share_keys`` maps a file share mount's ``relative_mount_path`` to its account key and
        ``user_passwords`` a user account's name to its password.
        """
        vm: dict[str, Any] = {
            "imageReference": self.image_reference,
            "nodeAgentSKUId": self.node_agent_sku_id,
        }
        if self.node_placement:
            vm["nodePlacementConfiguration"] = {"policy": self.node_placement}
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
        keys = file_share_keys or {}
        for share in self.file_share_mounts:
            if not keys.get(share.relative_mount_path):
                raise AzureComputeConfigError(
                    f"no account key for the Azure Files mount {share.relative_mount_path!r}: "
                    f"set the password of connection {share.account_key_conn_id!r}",
                    field="pool.file_share_mounts.account_key_conn_id",
                )
            wire.setdefault("mountConfiguration", []).append(share.to_wire(keys[share.relative_mount_path]))
        for nfs in self.nfs_mounts:
            wire.setdefault("mountConfiguration", []).append(nfs.to_wire())
        passwords = user_passwords or {}
        for user in self.user_accounts:
            if not passwords.get(user.name):
                raise AzureComputeConfigError(
                    f"no password for user account {user.name!r}: set the password of connection "
                    f"{user.password_conn_id!r}",
                    field="pool.user_accounts.password_conn_id",
                )
        if self.user_accounts:
            wire["userAccounts"] = [u.to_wire(passwords[u.name]) for u in self.user_accounts]
        if self.inter_node_communication:
            wire["enableInterNodeCommunication"] = True
        if self.network:
            wire["networkConfiguration"] = self.network.to_wire()
        if self.node_fill_type:
            wire["taskSchedulingPolicy"] = {"nodeFillType": NODE_FILL_TYPES[self.node_fill_type.lower()]}
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
class MultiInstanceSpec(_Spec):
    """Run one task on several nodes at once (MPI): a primary and ``number_of_instances - 1`` subtasks.

    Every instance downloads ``common_resource_files`` into ``$AZ_BATCH_TASK_SHARED_DIR`` and runs the
    coordination command; then the primary alone runs the task's command line (the application
    command, e.g. ``mpiexec``). The task's outcome is the primary's; a failing subtask fails it. The
    pool needs ``inter_node_communication`` and ``task_slots_per_node=1``.

    :param number_of_instances: nodes the task runs on at once.
    :param coordination_command_line: run on every node before the application command (start a
        daemon, check the fabric); not under a shell.
    :param common_resource_files: files every instance downloads (the primary's own ``resource_files``
        go to its working directory only).
    """

    number_of_instances: int
    coordination_command_line: str | None = None
    common_resource_files: tuple[ResourceFileSpec, ...] = ()

    _nested_lists: ClassVar[Mapping[str, type[_Spec]]] = {"common_resource_files": ResourceFileSpec}

    def __post_init__(self) -> None:
        if not isinstance(self.number_of_instances, int) or self.number_of_instances < 1:
            raise AzureComputeConfigError(
                f"{self.number_of_instances!r}: use 1 or more nodes",
                field="multi_instance.number_of_instances",
            )
        if self.coordination_command_line is not None:
            _check_command(self.coordination_command_line, "multi_instance.coordination_command_line")

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"numberOfInstances": self.number_of_instances}
        if self.coordination_command_line:
            wire["coordinationCommandLine"] = self.coordination_command_line
        if self.common_resource_files:
            wire["commonResourceFiles"] = [r.to_wire() for r in self.common_resource_files]
        return wire


def check_multi_instance_pool(multi: MultiInstanceSpec, pool: Mapping[str, Any]) -> None:
    """Refuse a multi-instance task that the pool (its REST JSON) would never run.

    Batch accepts such a task and leaves it ``active`` forever; this check names the setting instead.
    """
    pool_id = pool.get("id", "?")
    if not pool.get("enableInterNodeCommunication"):
        raise AzureComputeConfigError(
            f"pool {pool_id!r} was created without inter-node communication, so a multi-instance task "
            "would never be scheduled: use a pool with inter_node_communication=True",
            field="multi_instance",
        )
    if int(pool.get("taskSlotsPerNode") or 1) != 1:
        raise AzureComputeConfigError(
            f"pool {pool_id!r} runs {pool.get('taskSlotsPerNode')} tasks per node; multi-instance tasks "
            "need task_slots_per_node=1",
            field="multi_instance",
        )
    if pool.get("enableAutoScale"):
        return  # the formula decides the size: nothing to compare
    dedicated = int(pool.get("targetDedicatedNodes") or 0)
    spot = int(pool.get("targetLowPriorityNodes") or 0)
    if multi.number_of_instances > dedicated + spot:
        raise AzureComputeConfigError(
            f"{multi.number_of_instances} instances but pool {pool_id!r} targets {dedicated} dedicated + "
            f"{spot} spot node(s): resize the pool or lower number_of_instances",
            field="multi_instance.number_of_instances",
        )


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
    :param multi_instance: run on several nodes at once (MPI); see `MultiInstanceSpec`.
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
    multi_instance: MultiInstanceSpec | None = None

    _nested: ClassVar[Mapping[str, type[_Spec]]] = {
        "container": TaskContainerSpec,
        "multi_instance": MultiInstanceSpec,
    }
    _nested_lists: ClassVar[Mapping[str, type[_Spec]]] = {
        "resource_files": ResourceFileSpec,
        "output_files": OutputFileSpec,
    }

    def __post_init__(self) -> None:
        check_batch_id(self.task_id, "task_id")
        _check_command(self.command_line, f"tasks[{self.task_id}].command_line")
        for dep in self.depends_on:
            check_batch_id(dep, f"tasks[{self.task_id}].depends_on")
        if self.multi_instance and self.depends_on:
            raise AzureComputeConfigError(
                "Batch does not combine task dependencies with multi-instance tasks: order them with Airflow",
                field=f"tasks[{self.task_id}].depends_on",
            )
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
        if self.multi_instance:
            wire["multiInstanceSettings"] = self.multi_instance.to_wire()
        return wire


class ExistingPolicy(str, Enum):
    """What the pool operator does when the pool already exists."""

    REUSE = "reuse"  #: keep it, after checking its shape matches the spec (differences are named)
    FAIL = "fail"  #: raise
    RECREATE = "recreate"  #: delete it and create it again from the spec
    #: keep it when only the start task differs: give it the spec's start task and resource files and
    #: restart its nodes to run them (other differences are still named and refused)
    REPURPOSE = "repurpose"


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
    inter-node communication, node fill type, node placement, subnet, mount paths, user account names,
    container images, and the start task (`start_task_differences`). Secrets and metadata are
    not compared.
    """
    return [*pool_shape_differences(spec, pool), *start_task_differences(spec, pool)]


def _wanted(spec: PoolSpec) -> dict[str, Any]:
    return spec.to_wire(
        mount_account="-",
        mount_sas={m.container_name: "-" for m in spec.mounts},
        file_share_keys={m.relative_mount_path: "-" for m in spec.file_share_mounts},
        user_passwords={u.name: "-" for u in spec.user_accounts},
    )


def _resource_file_names(files: Sequence[Mapping[str, Any]]) -> list[str]:
    """Where each resource file comes from and goes, without SAS tokens (they change every run)."""
    from urllib.parse import urlsplit

    names = []
    for f in files:
        url = f.get("httpUrl") or f.get("storageContainerUrl") or f.get("autoStorageContainerName") or ""
        source = urlsplit(url).path if "://" in url else url
        names.append(
            f"{source}{'/' + f['blobPrefix'] if f.get('blobPrefix') else ''} -> {f.get('filePath', '')}"
        )
    return sorted(names)


def start_task_differences(spec: PoolSpec, pool: Mapping[str, Any]) -> list[str]:
    """What differs in the start task (command line, resource files, user): what a repurpose changes."""
    want = spec.start_task.to_wire() if spec.start_task else {}
    have = pool.get("startTask") or {}
    diffs = []
    if (want.get("commandLine") or None) != (have.get("commandLine") or None):
        diffs.append(
            f"start_task.command_line: spec has {want.get('commandLine')!r}, pool has {have.get('commandLine')!r}"
        )
    want_files = _resource_file_names(want.get("resourceFiles") or [])
    have_files = _resource_file_names(have.get("resourceFiles") or [])
    if want_files != have_files:
        diffs.append(f"start_task.resource_files: spec has {want_files}, pool has {have_files}")
    want_user = (want.get("userIdentity") or {}).get("username")
    have_user = (have.get("userIdentity") or {}).get("username")
    if want and want_user != have_user:
        diffs.append(f"start_task.user_name: spec has {want_user!r}, pool has {have_user!r}")
    return diffs


def pool_shape_differences(spec: PoolSpec, pool: Mapping[str, Any]) -> list[str]:
    """What differs between ``spec`` and a pool, the start task aside (what a repurpose cannot change)."""
    wanted = _wanted(spec)
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
    check(
        "inter_node_communication",
        spec.inter_node_communication,
        bool(pool.get("enableInterNodeCommunication")),
    )
    fill = (pool.get("taskSchedulingPolicy") or {}).get("nodeFillType") or "spread"
    check("node_fill_type", (spec.node_fill_type or "spread").lower(), str(fill).lower())
    placement = (vm.get("nodePlacementConfiguration") or {}).get("policy")
    check("node_placement", spec.node_placement or "regional", placement or "regional")
    subnet = (pool.get("networkConfiguration") or {}).get("subnetId")
    check("network.subnet_id", spec.network.subnet_id if spec.network else None, subnet)
    have_mounts = sorted(
        next(iter(m.values())).get("relativeMountPath", "") for m in pool.get("mountConfiguration") or [] if m
    )
    want_mounts = sorted(
        next(iter(m.values()))["relativeMountPath"] for m in wanted.get("mountConfiguration") or []
    )
    check("mounts", want_mounts, have_mounts)
    have_users = sorted(u.get("name") for u in pool.get("userAccounts") or [])
    check("user_accounts", sorted(u.name for u in spec.user_accounts), have_users)
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
    "FileShareMountSpec",
    "JobSpec",
    "JobTaskSpec",
    "MultiInstanceSpec",
    "NetworkSpec",
    "NfsMountSpec",
    "OutputFileSpec",
    "PoolSpec",
    "ResourceFileSpec",
    "StartTaskSpec",
    "TaskContainerSpec",
    "TaskSpec",
    "UserAccountSpec",
    "check_batch_id",
    "check_multi_instance_pool",
    "parse_task_manifest",
    "pool_differences",
    "pool_shape_differences",
    "render_command",
    "start_task_differences",
    "task_id_for",
]
