"""Container groups as pure data: the spec a DAG writes, the ARM body sent, the state read back.

Nothing here does I/O or imports the Azure SDK. `build_group_body` turns specs into the ARM JSON
body (the hook hands it to the SDK model), `evaluate_group` turns a GET into a
`GroupProgress`, and `new_log_lines` picks the log lines not printed yet.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar, Final

from airflow_azure_compute.enums import StrEnum
from airflow_azure_compute.exceptions import AzureComputeConfigError

#: ACI names: 1-63 lower-case letters, digits and single hyphens, starting and ending alphanumeric.
_GROUP_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?!-)){0,62}(?<!-)$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RESTART_POLICIES: Final = {"always": "Always", "onfailure": "OnFailure", "never": "Never"}
OS_TYPES: Final = {"linux": "Linux", "windows": "Windows"}
GPU_SKUS: Final = {"k80": "K80", "p100": "P100", "v100": "V100"}


def _fail(message: str, field_name: str) -> AzureComputeConfigError:
    return AzureComputeConfigError(message, field=field_name)


def validate_group_name(name: object, *, field_name: str = "group_name") -> str:
    if not isinstance(name, str) or not _GROUP_NAME.match(name):
        raise _fail(
            f"{name!r} is not a container group name: use 1-63 lower-case letters, digits and single "
            "hyphens, starting and ending with a letter or digit",
            field_name,
        )
    return name


def derive_group_name(*parts: object) -> str:
    """A valid group name derived from ``parts`` (dag, run, task, map index): ``derive_id`` made ACI-safe."""
    from airflow_azure_compute.ids import derive_id

    return re.sub(r"-{2,}", "-", derive_id("cg", *parts, max_len=63, lower=True))


@dataclass(frozen=True, kw_only=True)
class ContainerSpec:
    """One container of a group; the only place these fields are documented.

    :param name: container name (same rules as group names).
    :param image: image reference, e.g. ``myregistry.azurecr.io/worker:1.2``.
    :param command: argv overriding the image's entrypoint (no shell; wrap in ``/bin/sh -c`` yourself).
    :param environment: plain environment variables (visible in the portal; never put secrets here).
    :param secure_environment: ``{VARIABLE: key}``: secure variables whose values are read at run time
        from the operator's ``secure_env_conn_id`` connection, ``key`` naming an extra field, or
        ``password`` / ``login``. Values never pass through templates, XCom or logs.
    :param cpu: CPU cores requested.
    :param memory_gb: memory requested, in GB.
    :param gpu_count: GPUs requested (0 = none).
    :param gpu_sku: GPU SKU when ``gpu_count`` > 0: ``K80``, ``P100`` or ``V100``.
    :param ports: TCP ports the container exposes.
    :param volume_mounts: ``{"name", "mount_path", "read_only"}`` mappings (or `VolumeMount`):
        where the container sees each of the group's ``volumes``.
    """

    name: str
    image: str
    command: Sequence[str] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    secure_environment: Mapping[str, str] = field(default_factory=dict)
    cpu: float = 1.0
    memory_gb: float = 1.5
    gpu_count: int = 0
    gpu_sku: str | None = None
    ports: Sequence[int] = ()
    volume_mounts: Sequence[VolumeMount | Mapping[str, Any]] = ()

    def __post_init__(self) -> None:
        validate_group_name(self.name, field_name="containers[].name")
        self.mounts()  # fail fast on a bad mount
        if not isinstance(self.image, str) or not self.image.strip():
            raise _fail(f"container {self.name!r} needs an image", "containers[].image")
        if isinstance(self.command, str) or not all(isinstance(a, str) for a in self.command):
            raise _fail(
                f"container {self.name!r}: command must be a list of strings (argv), not a shell string",
                "containers[].command",
            )
        for name in (*self.environment, *self.secure_environment):
            if not _ENV_NAME.match(name):
                raise _fail(
                    f"container {self.name!r}: {name!r} is not a variable name", "containers[].environment"
                )
        if overlap := set(self.environment) & set(self.secure_environment):
            raise _fail(
                f"container {self.name!r}: {sorted(overlap)} are both plain and secure",
                "containers[].environment",
            )
        if not (0 < float(self.cpu) <= 32) or not (0 < float(self.memory_gb) <= 256):
            raise _fail(f"container {self.name!r}: cpu and memory_gb must be positive", "containers[].cpu")
        if self.gpu_count < 0 or (self.gpu_count and (self.gpu_sku or "").lower() not in GPU_SKUS):
            raise _fail(
                f"container {self.name!r}: a GPU needs gpu_sku, one of {sorted(GPU_SKUS.values())}",
                "containers[].gpu_sku",
            )

    def mounts(self) -> list[VolumeMount]:
        return [VolumeMount.coerce(m) for m in self.volume_mounts]

    @classmethod
    def coerce(cls, value: ContainerSpec | Mapping[str, Any]) -> ContainerSpec:
        """A spec from itself or from a (rendered) mapping with the same keys."""
        if isinstance(value, ContainerSpec):
            return value
        if not isinstance(value, Mapping):
            raise _fail(f"expected a ContainerSpec or a mapping, got {type(value).__name__}", "containers")
        try:
            return cls(**value)
        except TypeError as err:
            raise _fail(f"bad container fields: {err}", "containers") from None


@dataclass(frozen=True, kw_only=True)
class VolumeMount:
    """Where a container sees one of the group's volumes.

    :param name: the volume's name (one of the group's ``volumes``).
    :param mount_path: absolute path inside the container.
    :param read_only: mount read-only.
    """

    name: str
    mount_path: str
    read_only: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.mount_path, str) or not self.mount_path.startswith("/"):
            raise _fail(
                f"volume mount {self.name!r}: mount_path must be an absolute path, got {self.mount_path!r}",
                "containers[].volume_mounts",
            )

    @classmethod
    def coerce(cls, value: VolumeMount | Mapping[str, Any]) -> VolumeMount:
        if isinstance(value, VolumeMount):
            return value
        try:
            return cls(**value)
        except TypeError as err:
            raise _fail(f"bad volume mount fields: {err}", "containers[].volume_mounts") from None

    def arm(self, volume_names: Sequence[str], container: str) -> dict[str, Any]:
        if self.name not in volume_names:
            raise _fail(
                f"container {container!r} mounts {self.name!r}, which is not one of the volumes "
                f"{list(volume_names)}",
                "containers[].volume_mounts",
            )
        return {"name": self.name, "mountPath": self.mount_path, "readOnly": bool(self.read_only)}


@dataclass(frozen=True, kw_only=True)
class VolumeSpec:
    """A volume of the group (exactly one kind); containers mount it with ``volume_mounts``.

    :param name: volume name (same rules as container names).
    :param azure_file: an Azure Files share: ``{"share_name", "storage_account_name", "read_only"}``.
        Its storage account key is read at run time from ``key_conn_id`` (field ``key_field``).
    :param key_conn_id: connection holding the storage account key of ``azure_file``.
    :param key_field: the field of ``key_conn_id`` holding the key (default ``password``).
    :param secret: ``{file name: key}``: files whose contents are read at run time from the operator's
        ``secure_env_conn_id`` connection (``key`` naming an extra field, or ``password``/``login``).
    :param empty_dir: a scratch directory the group's containers share, empty at start.
    """

    name: str
    azure_file: Mapping[str, Any] | None = None
    key_conn_id: str | None = None
    key_field: str = "password"
    secret: Mapping[str, str] | None = None
    empty_dir: bool = False

    def __post_init__(self) -> None:
        validate_group_name(self.name, field_name="volumes[].name")
        kinds = [
            k
            for k, on in (
                ("azure_file", self.azure_file),
                ("secret", self.secret),
                ("empty_dir", self.empty_dir),
            )
            if on
        ]
        if len(kinds) != 1:
            raise _fail(
                f"volume {self.name!r}: give exactly one of azure_file, secret, empty_dir (got {kinds or 'none'})",
                "volumes",
            )
        if self.azure_file is not None:
            missing = [k for k in ("share_name", "storage_account_name") if not self.azure_file.get(k)]
            if missing:
                raise _fail(f"volume {self.name!r}: azure_file needs {missing}", "volumes[].azure_file")
            if not self.key_conn_id:
                raise _fail(
                    f"volume {self.name!r}: an Azure Files volume needs its storage account key; name the "
                    "connection holding it with key_conn_id",
                    "volumes[].key_conn_id",
                )

    @classmethod
    def coerce(cls, value: VolumeSpec | Mapping[str, Any]) -> VolumeSpec:
        if isinstance(value, VolumeSpec):
            return value
        if not isinstance(value, Mapping):
            raise _fail(f"expected a VolumeSpec or a mapping, got {type(value).__name__}", "volumes")
        try:
            return cls(**value)
        except TypeError as err:
            raise _fail(f"bad volume fields: {err}", "volumes") from None

    def arm(self, path: tuple[str | int, ...], secure_conn: str) -> tuple[dict[str, Any], list[SecretRef]]:
        """The ARM volume and the secrets it needs (``path`` is where the volume sits in the body)."""
        if self.empty_dir:
            return {"name": self.name, "emptyDir": {}}, []
        if self.secret is not None:
            refs = [
                SecretRef(
                    (*path, "secret", file),
                    secure_conn,
                    key,
                    "volumes[].secret",
                    f"file {file!r} of secret volume {self.name!r}",
                    "base64",
                )
                for file, key in self.secret.items()
            ]
            return {"name": self.name, "secret": {file: None for file in self.secret}}, refs
        assert self.azure_file is not None and self.key_conn_id is not None
        share = {
            "shareName": str(self.azure_file["share_name"]),
            "storageAccountName": str(self.azure_file["storage_account_name"]),
            "readOnly": bool(self.azure_file.get("read_only", False)),
            "storageAccountKey": None,
        }
        ref = SecretRef((*path, "azureFile", "storageAccountKey"), self.key_conn_id, self.key_field,
                        "volumes[].key_conn_id", f"the storage account key of volume {self.name!r}")  # fmt: skip
        return {"name": self.name, "azureFile": share}, [ref]


@dataclass(frozen=True)
class RegistryCredential:
    """Image registry login. ``password`` comes from a connection, never a template."""

    server: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    identity: str | None = None


def build_group_body(
    containers: Sequence[ContainerSpec],
    *,
    location: str,
    os_type: str = "Linux",
    restart_policy: str = "Never",
    secure_values: Mapping[str, str] | None = None,
    registries: Sequence[RegistryCredential] = (),
    identity: Sequence[str] | str | None = None,
    subnet_ids: Sequence[str] = (),
    tags: Mapping[str, str] | None = None,
    volumes: Sequence[VolumeSpec] = (),
) -> dict[str, Any]:
    """The ARM ``containerGroups`` PUT body, secrets included (see `plan_group` for the fields).

    :param secure_values: resolved values of every ``secure_environment`` key and secret volume file.
    :param registries: image registry logins, passwords included.
    """
    plan = plan_group(
        containers,
        location=location,
        os_type=os_type,
        restart_policy=restart_policy,
        registries=registries,
        identity=identity,
        subnet_ids=subnet_ids,
        tags=tags,
        volumes=volumes,
    )
    values = {SecretRef.SECURE_CONN: dict(secure_values or {})}
    for r in registries:
        if r.password is not None:
            values.setdefault(f"registry:{r.server}", {})["password"] = r.password
    return plan.complete(lambda ref: values.get(ref.conn_id, {}).get(ref.key))


def secure_value_path(container: int, variable: int) -> tuple[str | int, ...]:
    """Where a group body holds the ``secureValue`` of environment variable ``variable`` of ``container``."""
    return (
        "properties",
        "containers",
        container,
        "properties",
        "environmentVariables",
        variable,
        "secureValue",
    )


def plan_group(
    containers: Sequence[ContainerSpec],
    *,
    location: str,
    os_type: str = "Linux",
    restart_policy: str = "Never",
    registries: Sequence[RegistryCredential] = (),
    registry_conn_id: str | None = None,
    secure_env_conn_id: str | None = None,
    identity: Sequence[str] | str | None = None,
    subnet_ids: Sequence[str] = (),
    tags: Mapping[str, str] | None = None,
    volumes: Sequence[VolumeSpec] = (),
) -> GroupPlan:
    """The group to create, with a `SecretRef` where each secret goes (nothing secret inside).

    :param registries: image registry logins (a password given here is left out of the plan: the
        registry's ``password`` slot names ``registry_conn_id``, or ``registry:<server>``).
    :param registry_conn_id: the connection holding the registry password.
    :param secure_env_conn_id: the connection holding the ``secure_environment`` values and secret
        volume files (``None`` keeps the slots named `SecretRef.SECURE_CONN`).
    :param identity: ``"SystemAssigned"``, or user-assigned identity resource ids (both may be given).
    :param volumes: the group's volumes; containers mount them by name (``volume_mounts``).
    """
    if not containers:
        raise _fail("give at least one container", "containers")
    names = [c.name for c in containers]
    if len(set(names)) != len(names):
        raise _fail(f"container names must be unique: {names}", "containers")
    policy = RESTART_POLICIES.get(str(restart_policy).lower())
    if policy is None:
        raise _fail(f"{restart_policy!r}: use Never, OnFailure or Always", "restart_policy")
    os_name = OS_TYPES.get(str(os_type).lower())
    if os_name is None:
        raise _fail(f"{os_type!r}: use Linux or Windows", "os_type")
    if not location:
        raise _fail("no region: set it on the operator or as the connection's default region", "location")
    volume_names = [v.name for v in volumes]
    if len(set(volume_names)) != len(volume_names):
        raise _fail(f"volume names must be unique: {volume_names}", "volumes")
    secure_conn = secure_env_conn_id or SecretRef.SECURE_CONN
    slots: list[SecretRef] = []
    body_containers = []
    for i, c in enumerate(containers):
        env: list[dict[str, Any]] = [{"name": k, "value": str(v)} for k, v in c.environment.items()]
        for var, key in c.secure_environment.items():
            slots.append(
                SecretRef(
                    secure_value_path(i, len(env)),
                    secure_conn,
                    key,
                    "secure_environment",
                    f"secure variable {var!r} of container {c.name!r}",
                )
            )
            env.append({"name": var, "secureValue": None})
        requests: dict[str, Any] = {"cpu": float(c.cpu), "memoryInGB": float(c.memory_gb)}
        if c.gpu_count:
            requests["gpu"] = {"count": int(c.gpu_count), "sku": GPU_SKUS[(c.gpu_sku or "").lower()]}
        props: dict[str, Any] = {
            "image": c.image,
            "resources": {"requests": requests},
            "environmentVariables": env,
        }
        if c.command:
            props["command"] = list(c.command)
        if c.ports:
            props["ports"] = [{"port": int(p), "protocol": "TCP"} for p in c.ports]
        if c.volume_mounts:
            props["volumeMounts"] = [m.arm(volume_names, c.name) for m in c.mounts()]
        body_containers.append({"name": c.name, "properties": props})
    properties: dict[str, Any] = {"containers": body_containers, "osType": os_name, "restartPolicy": policy}
    if volumes:
        properties["volumes"] = []
        for k, v in enumerate(volumes):
            arm, refs = v.arm(("properties", "volumes", k), secure_conn)
            properties["volumes"].append(arm)
            slots.extend(refs)
    if registries:
        properties["imageRegistryCredentials"] = []
        for k, r in enumerate(registries):
            entry = {key: val for key, val in vars(r).items() if val is not None and key != "password"}
            if r.password is not None:
                entry["password"] = None
                conn = registry_conn_id or f"registry:{r.server}"
                registry_path: tuple[str | int, ...] = (
                    "properties",
                    "imageRegistryCredentials",
                    k,
                    "password",
                )
                slots.append(
                    SecretRef(
                        registry_path,
                        conn,
                        "password",
                        "registry_conn_id",
                        f"the password of registry {r.server!r}",
                    )
                )
            properties["imageRegistryCredentials"].append(entry)
    if subnet_ids:
        properties["subnetIds"] = [{"id": s} for s in subnet_ids]
    body: dict[str, Any] = {"location": location, "properties": properties, "tags": dict(tags or {})}
    if identity:
        ids = [identity] if isinstance(identity, str) else list(identity)
        user = [i for i in ids if i.lower() != "systemassigned"]
        system = len(user) != len(ids)
        kind = ", ".join(t for t, on in (("SystemAssigned", system), ("UserAssigned", bool(user))) if on)
        body["identity"] = {"type": kind}
        if user:
            body["identity"]["userAssignedIdentities"] = {i: {} for i in user}
    return GroupPlan(body, tuple(slots))


@dataclass(frozen=True)
class SecretRef:
    """Where one secret goes in a group body, and where its value is read: ``conn_id``'s ``key``.

    :param path: keys and indexes from the body's root to the slot.
    :param conn_id: the Airflow connection holding the value.
    :param key: ``password``, ``login`` or an extra field of that connection.
    :param field: the user-facing field that asked for it (named in errors).
    :param what: what the value is, for error messages.
    :param encoding: ``plain`` or ``base64`` (secret volume files are base64 on the wire).
    :param source: ``connection`` (the value is the connection's ``key``), or a SAS URL signed at run
        time with the connection's Storage account key: ``queue_sas`` (queue ``key``, read+process+update),
        ``container_read`` / ``container_write`` (container ``key``).
    :param expiry_s: lifetime of a signed SAS, in seconds.
    """

    #: Placeholder connection of secure values when the operator names no ``secure_env_conn_id``.
    SECURE_CONN: ClassVar[str] = "<secure_env_conn_id>"

    path: tuple[str | int, ...]
    conn_id: str
    key: str
    field: str
    what: str
    encoding: str = "plain"
    source: str = "connection"
    expiry_s: float = 86400.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": list(self.path),
            "conn_id": self.conn_id,
            "key": self.key,
            "field": self.field,
            "what": self.what,
            "encoding": self.encoding,
            "source": self.source,
            "expiry_s": self.expiry_s,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SecretRef:
        return cls(
            tuple(data["path"]),
            data["conn_id"],
            data["key"],
            data["field"],
            data.get("what", data["field"]),
            data.get("encoding", "plain"),
            data.get("source", "connection"),
            float(data.get("expiry_s", 86400.0)),
        )


@dataclass(frozen=True)
class GroupPlan:
    """A container group to create, as JSON with no secret in it, plus where each secret goes.

    This is what a deferred task hands to its trigger: the trigger reads the secrets from their
    connections (`connection_value`) and creates the group itself, so that a task killed before the
    triggerer picks it up has created nothing.
    """

    body: dict[str, Any]
    secrets: tuple[SecretRef, ...] = ()

    def connection_ids(self) -> list[str]:
        """Every connection a secret is read from, in first-use order."""
        return list(dict.fromkeys(ref.conn_id for ref in self.secrets))

    def check_connections(self) -> None:
        """Fail (naming the field) when a secret has no connection to come from."""
        for ref in self.secrets:
            if ref.conn_id == SecretRef.SECURE_CONN:
                raise _fail(
                    f"{ref.what} is read from a connection: name it with secure_env_conn_id",
                    "secure_env_conn_id",
                )

    def complete(self, value_of: Callable[[SecretRef], str | None]) -> dict[str, Any]:
        """The body with every secret filled in by ``value_of`` (a missing value is a config error)."""
        import base64
        import copy

        body = copy.deepcopy(self.body)
        for ref in self.secrets:
            value = value_of(ref)
            if value is None:
                source = (
                    "no value"
                    if ref.conn_id.startswith("<")
                    else (f"connection {ref.conn_id!r} has no field {ref.key!r}")
                )
                raise _fail(f"{source} for {ref.what}", ref.field)
            if ref.encoding == "base64":
                value = base64.b64encode(value.encode()).decode()
            node: Any = body
            for step in ref.path[:-1]:
                node = node[step]
            node[ref.path[-1]] = value
        return body

    def to_dict(self) -> dict[str, Any]:
        return {"body": self.body, "secrets": [ref.to_dict() for ref in self.secrets]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GroupPlan:
        return cls(dict(data["body"]), tuple(SecretRef.from_dict(r) for r in data.get("secrets") or ()))


def connection_value(conn: Any, key: str) -> str | None:
    """``password``, ``login`` or an extra field of an Airflow connection (``None`` when unset)."""
    if key == "password":
        return conn.password  # type: ignore[no-any-return]
    if key == "login":
        return conn.login  # type: ignore[no-any-return]
    value = (conn.extra_dejson or {}).get(key)
    return None if value is None else str(value)


class OnKillAction(StrEnum):
    """What the trigger does to the group when a user kills the deferred task."""

    DELETE = "delete"
    STOP = "stop"
    KEEP = "keep"


class WaitFor(StrEnum):
    """What the run operator waits for: containers that end (jobs) or containers that run (services)."""

    TERMINATED = "terminated"
    RUNNING = "running"


class GroupOutcome(str, Enum):
    """What a poll of a container group concluded."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class GroupProgress:
    """A container group's state, reduced to what the operator decides on."""

    outcome: GroupOutcome
    exit_codes: dict[str, int | None]
    states: dict[str, str | None]
    group_state: str | None = None
    provisioning_state: str | None = None
    detail: str = ""

    @property
    def terminal(self) -> bool:
        return self.outcome is not GroupOutcome.RUNNING

    @property
    def ready(self) -> bool:
        """Every container is Running (what a service-like group waits for)."""
        return bool(self.states) and all(s == "Running" for s in self.states.values())

    def summary(self) -> str:
        codes = ", ".join(f"{n}={'-' if c is None else c}" for n, c in self.exit_codes.items())
        return f"{self.outcome.value} (group {self.group_state or '-'}; exit codes {codes or '-'})"


def evaluate_group(body: Mapping[str, Any]) -> GroupProgress:
    """Decide from a ``GET containerGroups/{name}`` body (ARM JSON, camelCase)."""
    props = body.get("properties") or {}
    policy = str(props.get("restartPolicy") or "Always").lower()
    states: dict[str, str | None] = {}
    codes: dict[str, int | None] = {}
    details: list[str] = []
    for c in props.get("containers") or []:
        current = ((c.get("properties") or {}).get("instanceView") or {}).get("currentState") or {}
        state = current.get("state")
        states[c["name"]] = state
        codes[c["name"]] = current.get("exitCode") if state == "Terminated" else None
        if current.get("detailStatus"):
            details.append(f"{c['name']}: {current['detailStatus']}")
    group_state = (props.get("instanceView") or {}).get("state")
    provisioning = props.get("provisioningState")
    done_codes = [code for code in codes.values()]
    all_terminated = bool(states) and all(s == "Terminated" for s in states.values())
    all_zero = all(code == 0 for code in done_codes)
    terminal = (
        (all_terminated and (policy == "never" or (policy == "onfailure" and all_zero)))
        or group_state in ("Succeeded", "Failed", "Stopped")
        or (provisioning == "Failed" and not any(s == "Running" for s in states.values()))
    )
    if not terminal:
        outcome = GroupOutcome.RUNNING
    elif all_terminated and all_zero and provisioning != "Failed":
        outcome = GroupOutcome.SUCCEEDED
    else:
        outcome = GroupOutcome.FAILED
    return GroupProgress(outcome, codes, states, group_state, provisioning, "; ".join(details))


_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?\s?(.*)$", re.DOTALL)


def _sortable(date: str, fraction: str | None) -> str:
    return f"{date}.{(fraction or '').ljust(9, '0')[:9]}"


def new_log_lines(content: str, since: str | None) -> tuple[list[str], str | None]:
    """Lines of a ``timestamps=true`` log newer than cursor ``since``, and the new cursor.

    Timestamps are normalised to nanoseconds so ``.5Z`` and ``.500000Z`` compare equal. Lines without a
    timestamp (continuations) follow the decision of the line before them.
    """
    out: list[str] = []
    cursor = since
    keep = since is None
    for line in content.splitlines():
        match = _TS.match(line)
        if match:
            stamp = _sortable(match.group(1), match.group(2))
            keep = since is None or stamp > since
            if keep:
                out.append(match.group(4))
                cursor = stamp if cursor is None or stamp > cursor else cursor
        elif keep:
            out.append(line)
    return out, cursor


__all__ = [
    "ContainerSpec",
    "GroupOutcome",
    "GroupPlan",
    "GroupProgress",
    "OnKillAction",
    "RegistryCredential",
    "SecretRef",
    "VolumeMount",
    "VolumeSpec",
    "WaitFor",
    "build_group_body",
    "connection_value",
    "derive_group_name",
    "evaluate_group",
    "new_log_lines",
    "plan_group",
    "secure_value_path",
    "validate_group_name",
]
