"""Container groups as pure data: the spec a DAG writes, the ARM body sent, the state read back.

Nothing here does I/O or imports the Azure SDK. `build_group_body` turns specs into the ARM JSON
body (the hook hands it to the SDK model), `evaluate_group` turns a GET into a
`GroupProgress`, and `new_log_lines` picks the log lines not printed yet.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final

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

    def __post_init__(self) -> None:
        validate_group_name(self.name, field_name="containers[].name")
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
) -> dict[str, Any]:
    """The ARM ``containerGroups`` PUT body.

    :param secure_values: resolved values of every ``secure_environment`` key.
    :param identity: ``"SystemAssigned"``, or user-assigned identity resource ids (both may be given).
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
    secrets = secure_values or {}
    body_containers = []
    for c in containers:
        env: list[dict[str, str]] = [{"name": k, "value": str(v)} for k, v in c.environment.items()]
        for var, key in c.secure_environment.items():
            if key not in secrets:
                raise _fail(
                    f"container {c.name!r}: no value for secure variable {var!r}", "secure_environment"
                )
            env.append({"name": var, "secureValue": secrets[key]})
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
        body_containers.append({"name": c.name, "properties": props})
    properties: dict[str, Any] = {"containers": body_containers, "osType": os_name, "restartPolicy": policy}
    if registries:
        properties["imageRegistryCredentials"] = [
            {k: v for k, v in vars(r).items() if v is not None} for r in registries
        ]
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
    return body


class OnKillAction(StrEnum):
    """What the trigger does to the group when a user kills the deferred task."""

    DELETE = "delete"
    STOP = "stop"
    KEEP = "keep"


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
    "GroupProgress",
    "OnKillAction",
    "RegistryCredential",
    "build_group_body",
    "derive_group_name",
    "evaluate_group",
    "new_log_lines",
    "validate_group_name",
]
