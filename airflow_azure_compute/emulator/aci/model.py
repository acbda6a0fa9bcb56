"""Pure logic of the ACI emulator: request validation, redaction, restart and state rules.

Nothing here touches processes, sockets or clocks, so every rule is unit-tested on its own.
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_azure_compute.emulator.aci.errors import CloudError, bad_request
from airflow_azure_compute.emulator.aci.probes import ProbeSpec, parse_probe
from airflow_azure_compute.emulator.aci.properties import (
    check_encryption,
    check_ip_address,
    check_limits,
    check_ports,
    check_registry_credentials,
    check_zones,
    not_emulated,
    refuse_unknown_properties,
)
from airflow_azure_compute.emulator.redaction import DROP, SecretFields

API_VERSION = "2023-05-01"
RESOURCE_TYPE = "Microsoft.ContainerInstance/containerGroups"
PROVIDER = "Microsoft.ContainerInstance"

#: Wire spelling of each restart policy, keyed by its lower-case form (ARM enums are case-insensitive).
RESTART_POLICIES: Mapping[str, str] = {"always": "Always", "onfailure": "OnFailure", "never": "Never"}
OS_TYPES: Mapping[str, str] = {"linux": "Linux", "windows": "Windows"}

#: ACI names: 1-63 lower-case letters, digits and single hyphens, starting and ending alphanumeric.
_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?!-)){0,62}(?<!-)$")

#: Exit code of a container whose command cannot be run locally (shell convention: command not found).
NOT_RUNNABLE_EXIT = 127

#: Volumes per group (the documented ACI limit).
MAX_VOLUMES = 20
#: GPU SKUs ACI offers, keyed by lower-case form, and the counts a container may request.
GPU_SKUS: Mapping[str, str] = {"k80": "K80", "p100": "P100", "v100": "V100"}
GPU_COUNTS = (1, 2, 4)
#: Regions (lower-case, no spaces) offering each GPU SKU, per the ACI GPU preview documentation and the
#: capabilities example (K80 in West US); not checked against a live account.
GPU_REGIONS: Mapping[str, frozenset[str]] = {
    "K80": frozenset({"eastus", "westus2", "westeurope", "southeastasia", "centralindia", "westus"}),
    "P100": frozenset({"eastus", "westus2", "westeurope", "southeastasia", "uksouth"}),
    "V100": frozenset({"eastus", "westus2", "westeurope", "southeastasia", "uksouth"}),
}
#: The tenant every emulated managed identity belongs to.
EMULATOR_TENANT_ID = "72f988bf-0000-4000-8000-00000000aced"
_USER_IDENTITY = re.compile(
    r"^/subscriptions/[^/]+/resourcegroups/[^/]+/providers/microsoft\.managedidentity/userassignedidentities/[^/]+$",
    re.IGNORECASE,
)
IDENTITY_TYPES: Mapping[str, str] = {
    "systemassigned": "SystemAssigned",
    "userassigned": "UserAssigned",
    "systemassigned,userassigned": "SystemAssigned, UserAssigned",
    "none": "None",
}


@dataclass(frozen=True)
class MountSpec:
    """Where one container sees one of the group's volumes.

    :param volume: the volume's name.
    :param mount_path: the absolute path the container was given.
    :param read_only: as requested (not enforced locally: see docs/emulator/aci.md).
    """

    volume: str
    mount_path: str
    read_only: bool


@dataclass(frozen=True)
class VolumeSpec:
    """A validated group volume.

    :param name: volume name.
    :param kind: ``emptyDir``, ``secret`` or ``azureFile``.
    :param files: a secret volume's files, decoded from base64.
    :param share: an Azure Files volume's ``(storageAccountName, shareName)``.
    """

    name: str
    kind: str
    files: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    share: tuple[str, str] | None = None


@dataclass(frozen=True)
class ContainerSpec:
    """What the emulator needs to run one container.

    :param name: container name inside the group.
    :param image: image reference (only shown in events: images are not pulled).
    :param command: argv executed directly, without a shell; empty when the request gave none.
    :param env: environment variables from ``value`` and ``secureValue`` alike.
    :param mounts: the volumes this container mounts.
    :param liveness: its liveness probe (failures restart it).
    :param readiness: its readiness probe (failures are reported as events).
    """

    name: str
    image: str
    command: tuple[str, ...]
    env: Mapping[str, str] = field(repr=False)
    mounts: tuple[MountSpec, ...] = ()
    liveness: ProbeSpec | None = None
    readiness: ProbeSpec | None = None


@dataclass(frozen=True)
class GroupSpec:
    """A validated PUT body.

    :param location: Azure region as given.
    :param restart_policy: ``Always``, ``OnFailure`` or ``Never`` (wire spelling).
    :param containers: the containers, in request order.
    :param body: the request body as stored (secrets included; `redact` before echoing).
    :param volumes: the group's volumes.
    :param init_containers: the init containers, run one after the other before the containers.
    """

    location: str
    restart_policy: str
    containers: tuple[ContainerSpec, ...]
    body: dict[str, Any] = field(repr=False)
    volumes: tuple[VolumeSpec, ...] = ()
    init_containers: tuple[ContainerSpec, ...] = ()

    def runtime_properties(self) -> dict[str, Any]:
        """The part of the body whose change makes an update redeploy the containers."""
        props = dict(self.body.get("properties", {}))
        return {k: v for k, v in props.items() if k not in {"ipAddress", "diagnostics"}}


def valid_name(name: str) -> bool:
    return bool(_NAME.match(name))


def _require_dict(value: Any, target: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad_request(f"'{target}' must be a JSON object.", target)
    return value


def _parse_container(raw: Any, index: int, kind: str = "containers") -> ContainerSpec:
    """One container of ``properties.<kind>`` (``containers`` or ``initContainers``: an init container
    has no resources nor ports)."""
    where = f"properties.{kind}[{index}]"
    raw = _require_dict(raw, where)
    name = raw.get("name")
    if not isinstance(name, str) or not valid_name(name):
        raise CloudError(
            400,
            "InvalidContainerName",
            f"The container name '{name}' in container group is invalid: use 1-63 lower-case letters, "
            "digits and single hyphens, starting and ending with a letter or digit.",
            f"{where}.name",
        )
    props = _require_dict(raw.get("properties"), f"{where}.properties")
    image = props.get("image")
    if not isinstance(image, str) or not image:
        raise bad_request(f"The image of container '{name}' is required.", f"{where}.properties.image")
    if kind == "containers":
        _check_resources(props, where, name)
    command = props.get("command") or []
    if not isinstance(command, list) or not all(isinstance(part, str) for part in command):
        raise bad_request(
            f"The command of container '{name}' must be a list of strings.", f"{where}.properties.command"
        )
    env: dict[str, str] = {}
    for position, var in enumerate(props.get("environmentVariables") or []):
        var = _require_dict(var, f"{where}.properties.environmentVariables[{position}]")
        var_name = var.get("name")
        if not isinstance(var_name, str) or not var_name:
            raise bad_request(
                f"Environment variable {position} of container '{name}' has no name.",
                f"{where}.properties.environmentVariables[{position}].name",
            )
        value = var.get("secureValue") if var.get("secureValue") is not None else var.get("value")
        env[var_name] = "" if value is None else str(value)
    mounts = _parse_mounts(props.get("volumeMounts"), f"{where}.properties.volumeMounts", name)
    probes: dict[str, ProbeSpec | None] = {}
    if kind == "containers":  # an init container has no probes
        for probe in ("liveness", "readiness"):
            target = f"{where}.properties.{probe}Probe"
            probes[probe] = parse_probe(props.get(f"{probe}Probe"), target, probe == "liveness")
    return ContainerSpec(
        name=name,
        image=image,
        command=tuple(command),
        env=env,
        mounts=mounts,
        liveness=probes.get("liveness"),
        readiness=probes.get("readiness"),
    )


def _check_resources(props: dict[str, Any], where: str, name: str) -> None:
    """A container's positive CPU and memory requests, GPU, limits and ports."""
    requests = _require_dict(props.get("resources", {}), f"{where}.properties.resources").get("requests")
    requests = _require_dict(requests, f"{where}.properties.resources.requests")
    for key in ("cpu", "memoryInGB"):
        value = requests.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise bad_request(
                f"Container '{name}' must request a positive '{key}'.",
                f"{where}.properties.resources.requests.{key}",
            )
    for kind in ("requests", "limits"):
        gpu = (props.get("resources") or {}).get(kind, {}) or {}
        if isinstance(gpu, dict) and gpu.get("gpu") is not None:
            _parse_gpu(gpu["gpu"], f"{where}.properties.resources.{kind}.gpu", name)
    check_ports(props.get("ports"), f"{where}.properties.ports")
    check_limits((props.get("resources") or {}).get("limits"), f"{where}.properties.resources.limits", name)


def _parse_gpu(raw: Any, target: str, container: str) -> None:
    gpu = _require_dict(raw, target)
    sku = GPU_SKUS.get(str(gpu.get("sku", "")).lower())
    if sku is None:
        raise bad_request(
            f"The GPU SKU '{gpu.get('sku')}' of container '{container}' is not supported: use one of "
            f"{', '.join(GPU_SKUS.values())}.",
            f"{target}.sku",
            code="InvalidGpuSku",
        )
    gpu["sku"] = sku
    count = gpu.get("count")
    if isinstance(count, bool) or not isinstance(count, int) or count not in GPU_COUNTS:
        raise bad_request(
            f"The GPU count '{count}' of container '{container}' is not supported: request "
            f"{', '.join(map(str, GPU_COUNTS))} GPUs.",
            f"{target}.count",
            code="InvalidGpuCount",
        )


def _parse_mounts(raw: Any, where: str, container: str) -> tuple[MountSpec, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise bad_request(f"The volume mounts of container '{container}' must be a list.", where)
    mounts: list[MountSpec] = []
    for position, item in enumerate(raw):
        item = _require_dict(item, f"{where}[{position}]")
        volume, path = item.get("name"), item.get("mountPath")
        if not isinstance(volume, str) or not volume:
            raise bad_request(f"Volume mount {position} of container '{container}' has no name.",
                              f"{where}[{position}].name")  # fmt: skip
        if not isinstance(path, str) or not path.startswith("/") or ":" in path:
            raise bad_request(
                f"The volume mount path '{path}' of container '{container}' must be an absolute path "
                "without ':'.",
                f"{where}[{position}].mountPath",
                code="InvalidVolumeMountPath",
            )
        mounts.append(MountSpec(volume, path.rstrip("/") or "/", bool(item.get("readOnly", False))))
    paths = [m.mount_path for m in mounts]
    if len(set(paths)) != len(paths):
        raise bad_request(f"Container '{container}' mounts two volumes at the same path.", where,
                          code="DuplicateVolumeMountPath")  # fmt: skip
    return tuple(mounts)


def _parse_volumes(raw: Any) -> tuple[VolumeSpec, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise bad_request("'volumes' must be a list.", "properties.volumes")
    if len(raw) > MAX_VOLUMES:
        raise bad_request(f"A container group has at most {MAX_VOLUMES} volumes.", "properties.volumes")
    volumes: list[VolumeSpec] = []
    for index, item in enumerate(raw):
        where = f"properties.volumes[{index}]"
        item = _require_dict(item, where)
        name = item.get("name")
        if not isinstance(name, str) or not valid_name(name):
            raise bad_request(
                f"The volume name '{name}' is invalid.", f"{where}.name", code="InvalidVolumeName"
            )
        kinds = [k for k in ("azureFile", "emptyDir", "secret", "gitRepo") if item.get(k) is not None]
        if len(kinds) != 1:
            raise bad_request(
                f"Volume '{name}' must give exactly one of azureFile, emptyDir, secret or gitRepo "
                f"(got {kinds or 'none'}).",
                where,
                code="InvalidVolumeDefinition",
            )
        kind = kinds[0]
        if kind == "gitRepo":
            raise not_emulated("git repo volumes (cloning needs the network)", f"{where}.gitRepo")
        if kind == "emptyDir":
            volumes.append(VolumeSpec(name, kind))
        elif kind == "secret":
            volumes.append(VolumeSpec(name, kind, files=_secret_files(item["secret"], f"{where}.secret")))
        else:
            share = _require_dict(item["azureFile"], f"{where}.azureFile")
            for key in ("shareName", "storageAccountName", "storageAccountKey"):
                if not isinstance(share.get(key), str) or not share[key]:
                    raise bad_request(
                        f"Azure Files volume '{name}' needs '{key}'.", f"{where}.azureFile.{key}"
                    )
            volumes.append(VolumeSpec(name, kind, share=(share["storageAccountName"], share["shareName"])))
    names = [v.name for v in volumes]
    if len(set(names)) != len(names):
        raise bad_request("Volume names must be unique within a group.", "properties.volumes",
                          code="DuplicateVolumeName")  # fmt: skip
    return tuple(volumes)


def _secret_files(raw: Any, where: str) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for file, value in _require_dict(raw, where).items():
        if not file or "/" in file or file in (".", ".."):
            raise bad_request(f"The secret file name '{file}' is invalid.", where)
        try:
            files[file] = base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError):
            raise bad_request(
                f"The value of secret file '{file}' must be base64-encoded.", f"{where}.{file}"
            ) from None
    return files


def parse_group(body: Any, name: str) -> GroupSpec:
    """Validate a create/update body; raises `CloudError` 400 naming the property at fault."""
    if not valid_name(name):
        raise CloudError(
            400,
            "InvalidContainerGroupName",
            f"The container group name '{name}' is invalid: use 1-63 lower-case letters, digits and "
            "single hyphens, starting and ending with a letter or digit.",
        )
    body = _require_dict(body, "body")
    location = body.get("location")
    if not isinstance(location, str) or not location:
        raise CloudError(400, "LocationRequired", "The location property is required for this definition.")
    props = _require_dict(body.get("properties"), "properties")
    raw_containers = props.get("containers")
    if not isinstance(raw_containers, list) or not raw_containers:
        raise bad_request("A container group needs at least one container.", "properties.containers")
    containers = tuple(_parse_container(raw, i) for i, raw in enumerate(raw_containers))
    raw_init = props.get("initContainers") or []
    if not isinstance(raw_init, list):
        raise bad_request("'initContainers' must be a list.", "properties.initContainers")
    init_containers = tuple(_parse_container(raw, i, "initContainers") for i, raw in enumerate(raw_init))
    names = [c.name for c in (*containers, *init_containers)]
    if len(set(names)) != len(names):
        raise bad_request(
            "Container and init container names must be unique within a group.", "properties.containers"
        )
    os_type = OS_TYPES.get(str(props.get("osType", "")).lower())
    if os_type is None:
        raise bad_request("'osType' must be Linux or Windows.", "properties.osType")
    policy = RESTART_POLICIES.get(str(props.get("restartPolicy") or "Always").lower())
    if policy is None:
        raise bad_request("'restartPolicy' must be Always, OnFailure or Never.", "properties.restartPolicy")
    refuse_not_emulated(body)
    refuse_unknown_properties(body)
    check_ip_address(props)
    check_zones(body.get("zones"))
    volumes = _parse_volumes(props.get("volumes"))
    known = {v.name for v in volumes}
    for kind, parsed in (("containers", containers), ("initContainers", init_containers)):
        for index, container in enumerate(parsed):
            for position, mount in enumerate(container.mounts):
                if mount.volume not in known:
                    raise bad_request(
                        f"Container '{container.name}' mounts volume '{mount.volume}', which the group "
                        "does not define.",
                        f"properties.{kind}[{index}].properties.volumeMounts[{position}].name",
                        code="VolumeMountNameNotFound",
                    )
    for index in range(len(containers)):
        gpu_used = (_find_gpu(raw_containers[index]) or {}).get("sku")
        if gpu_used and os_type != "Linux":
            raise bad_request("GPU resources are only available to Linux container groups.",
                              f"properties.containers[{index}].properties.resources.requests.gpu",
                              code="GpuNotSupportedForOsType")  # fmt: skip
        region = location.replace(" ", "").lower()
        if gpu_used and region not in GPU_REGIONS[GPU_SKUS[str(gpu_used).lower()]]:
            raise bad_request(
                f"The GPU SKU '{gpu_used}' is not available in region '{location}'.",
                f"properties.containers[{index}].properties.resources.requests.gpu.sku",
                code="GpuSkuNotAvailableInRegion",
            )
    _check_identity(body.get("identity"))
    check_registry_credentials(props, body.get("identity"))
    check_encryption(props, body.get("identity"))
    stored = copy.deepcopy(body)
    stored["properties"].update(osType=os_type, restartPolicy=policy)
    stored["properties"].pop("provisioningState", None)
    stored["properties"].pop("instanceView", None)
    for container in (
        *stored["properties"]["containers"],
        *(stored["properties"].get("initContainers") or []),
    ):
        container["properties"].pop("instanceView", None)
    return GroupSpec(
        location=location,
        restart_policy=policy,
        containers=containers,
        body=stored,
        volumes=volumes,
        init_containers=init_containers,
    )


def _find_gpu(raw_container: Any) -> dict[str, Any] | None:
    requests = ((raw_container.get("properties") or {}).get("resources") or {}).get("requests") or {}
    gpu = requests.get("gpu")
    return gpu if isinstance(gpu, dict) else None


def _check_identity(raw: Any) -> None:
    if raw is None:
        return
    identity = _require_dict(raw, "identity")
    kind = IDENTITY_TYPES.get(str(identity.get("type", "")).replace(" ", "").lower())
    if kind is None:
        raise bad_request(
            f"The identity type '{identity.get('type')}' is not valid: use SystemAssigned, UserAssigned, "
            "'SystemAssigned, UserAssigned' or None.",
            "identity.type",
            code="InvalidIdentityType",
        )
    users = identity.get("userAssignedIdentities") or {}
    if not isinstance(users, dict):
        raise bad_request("'userAssignedIdentities' must map resource ids to objects.",
                          "identity.userAssignedIdentities")  # fmt: skip
    if "UserAssigned" in kind and not users:
        raise bad_request(
            f"Identity type '{kind}' needs at least one entry in 'userAssignedIdentities'.",
            "identity.userAssignedIdentities",
            code="InvalidIdentityValues",
        )
    if "UserAssigned" not in kind and users:
        raise bad_request(
            f"'userAssignedIdentities' is only allowed with a UserAssigned identity type (got '{kind}').",
            "identity.userAssignedIdentities",
            code="InvalidIdentityValues",
        )
    for resource_id in users:
        if not _USER_IDENTITY.match(resource_id):
            raise bad_request(
                f"'{resource_id}' is not the resource id of a user-assigned identity "
                "(/subscriptions/.../resourceGroups/.../providers/Microsoft.ManagedIdentity/"
                "userAssignedIdentities/<name>).",
                "identity.userAssignedIdentities",
                code="InvalidIdentityValues",
            )


def assign_identity(body: dict[str, Any], previous: Mapping[str, Any] | None) -> None:
    """Complete ``body["identity"]`` as ARM answers it: the ``tenantId``, a ``principalId`` for a system
    identity (kept from ``previous``, the group's former body, on an update) and a ``principalId``/
    ``clientId`` per user-assigned identity (derived from its resource id: one identity, one principal)."""
    identity = body.get("identity")
    if not isinstance(identity, dict):
        return
    kind = IDENTITY_TYPES[str(identity.get("type", "")).replace(" ", "").lower()]
    identity["type"] = kind
    if kind == "None":
        body.pop("identity")
        return
    identity["tenantId"] = EMULATOR_TENANT_ID  # answered for user-assigned identities alone too
    if "SystemAssigned" in kind:
        before = (previous or {}).get("identity") or {}
        identity["principalId"] = before.get("principalId") or str(uuid.uuid4())
    else:
        identity.pop("principalId", None)
    users = identity.get("userAssignedIdentities") or {}
    for resource_id in list(users):
        key = resource_id.lower()
        users[resource_id] = {
            "principalId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"principal:{key}")),
            "clientId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"client:{key}")),
        }


_PATH_CHARS = r"\w.\-"


def localize(text: str, mounts: Mapping[str, str]) -> str:
    """``text`` with each mount path (a key of ``mounts``) replaced by its local directory, where it
    appears as a whole path or a path prefix (``/mnt/data``, ``/mnt/data/out.txt``, never ``/x/mnt/data``
    or ``/mnt/database``)."""
    for mount_path in sorted(mounts, key=len, reverse=True):
        pattern = rf"(?<![{_PATH_CHARS}/]){re.escape(mount_path)}(?![{_PATH_CHARS}])"
        text = re.sub(pattern, mounts[mount_path].replace("\\", "\\\\"), text)
    return text


#: Why a confidential group is refused: what its containers observe differs, not only where they run.
CONFIDENTIAL = (
    "confidential containers (Azure enforces the group's confidential computing enforcement policy on "
    "every container, command, environment variable and mount, and gives containers AMD SEV-SNP "
    "attestation)"
)
#: Group properties the emulator does not emulate, with the name a refusal gives them. A request
#: that uses one gets a 400 naming it (never a success that silently ignores it).
NOT_EMULATED_GROUP: Mapping[str, str] = {
    "subnetIds": "virtual network deployment (subnetIds)",
    "networkProfile": "virtual network deployment (networkProfile)",
    "dnsConfig": "custom DNS configuration (dnsConfig)",
    "diagnostics": "Log Analytics diagnostics",
    "extensions": "container group extensions",
    "confidentialComputeProperties": CONFIDENTIAL,
}
#: The same for each container's properties (``resources.requests``/``limits`` keys as ``resources.<key>``).
NOT_EMULATED_CONTAINER: Mapping[str, str] = {"securityContext": "container security contexts"}


def refuse_not_emulated(body: Mapping[str, Any]) -> None:
    """400 ``FeatureNotEmulated`` naming the first feature of ``body`` the emulator does not emulate."""
    props = body.get("properties") or {}
    sku = str(props.get("sku") or "Standard")
    if sku.lower() == "confidential":
        raise not_emulated(f"the Confidential SKU: {CONFIDENTIAL}", "properties.sku")
    if sku.lower() != "standard":
        raise not_emulated(f"the {sku} SKU", "properties.sku")
    if str(props.get("priority") or "Regular").lower() != "regular":
        raise not_emulated(f"{props.get('priority')} priority", "properties.priority")
    for key, feature in NOT_EMULATED_GROUP.items():
        if props.get(key):
            raise not_emulated(feature, f"properties.{key}")
    for kind in ("containers", "initContainers"):
        for index, container in enumerate(props.get(kind) or []):
            cprops = (container.get("properties") if isinstance(container, dict) else None) or {}
            for key, feature in NOT_EMULATED_CONTAINER.items():
                if cprops.get(key):
                    raise not_emulated(feature, f"properties.{kind}[{index}].properties.{key}")


#: What ARM leaves out of a container group answer, or shows instead (matched at the end of a
#: property's path: containers and init containers alike). Sources on the docs page ``emulator/aci.md``.
SECRETS = SecretFields(
    {
        ("environmentVariables", "secureValue"): DROP,
        ("imageRegistryCredentials", "password"): DROP,
        ("azureFile", "storageAccountKey"): DROP,
        ("volumes", "secret"): {},
        ("logAnalytics", "workspaceKey"): "",
    }
)


def redact(body: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of a stored body without the secrets Azure never returns (`SECRETS`): ``secureValue``s,
    registry passwords, Azure Files storage keys, secret volume contents (``{}``) and the Log Analytics
    workspace key (``""``)."""
    out: dict[str, Any] = SECRETS.scrub(body)
    return out


def restarts_after(policy: str, exit_code: int) -> bool:
    """Whether a container that exited with ``exit_code`` is started again under ``policy``."""
    if policy == "Always":
        return True
    if policy == "OnFailure":
        return exit_code != 0
    return False


def exit_code_of(returncode: int) -> int:
    """A process return code as a container exit code (killed by signal N -> 128 + N, as Docker)."""
    return 128 - returncode if returncode < 0 else returncode


def detail_status(exit_code: int) -> str:
    return "Completed" if exit_code == 0 else "Error"


def backoff_seconds(restart_count: int, base: float, cap: float) -> float:
    """Crash-loop delay before restart number ``restart_count + 1`` (doubling, capped)."""
    return float(min(cap, base * (2 ** min(restart_count, 16))))


@dataclass(frozen=True)
class ContainerPhase:
    """What the group state needs to know about one container.

    :param started: the container has been started at least once in this deployment.
    :param done: it exited and will not be started again.
    :param exit_code: its last exit code (None while it never exited).
    """

    started: bool
    done: bool
    exit_code: int | None


def group_state(policy: str, *, stopped: bool, containers: Sequence[ContainerPhase]) -> str:
    """Group ``instanceView.state``: Pending, Running, Succeeded, Failed or Stopped."""
    if stopped:
        return "Stopped"
    if not containers or not all(c.started for c in containers):
        return "Pending"
    if not all(c.done for c in containers):
        return "Running"
    if all(c.exit_code == 0 for c in containers):
        return "Succeeded"
    return "Failed" if policy == "Never" else "Running"


@dataclass
class AciSettings:
    """Run-time knobs of the ACI emulator (``GET/PUT {admin}/aci/settings``).

    :param page_size: container groups per list page before a ``nextLink``.
    :param provision_delay_s: time spent in each of ``Pending`` and ``Creating``.
    :param backoff_base_s: first crash-loop delay before a restart; doubles per restart.
    :param backoff_cap_s: longest crash-loop delay.
    :param stop_grace_s: time between SIGTERM and SIGKILL when stopping or deleting.
    :param retry_after_s: ``Retry-After`` on LRO answers (at least 1: azure-core reads 0 as absent).
    :param retry_after_ms: when set, also send ``retry-after-ms`` (azure-core prefers it).
    :param log_lines: lines of output kept per container.
    :param auth_fault: 401 or 403 to answer every ARM request with that error (None: off).
    """

    page_size: int = 100
    provision_delay_s: float = 0.2
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 5.0
    stop_grace_s: float = 3.0
    retry_after_s: int = 1
    retry_after_ms: int | None = None
    log_lines: int = 10_000
    auth_fault: int | None = None

    def update(self, values: Mapping[str, Any]) -> None:
        """Apply a partial update after validating every value; raises ValueError."""
        unknown = set(values) - set(self.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown settings: {sorted(unknown)}")
        merged = {**self.__dict__, **values}
        checks = {
            "page_size": merged["page_size"] >= 1,
            "retry_after_s": merged["retry_after_s"] >= 1,
            "retry_after_ms": merged["retry_after_ms"] is None or merged["retry_after_ms"] >= 1,
            "auth_fault": merged["auth_fault"] in (None, 401, 403),
            "log_lines": merged["log_lines"] >= 1,
        }
        for key in ("provision_delay_s", "backoff_base_s", "backoff_cap_s", "stop_grace_s"):
            checks[key] = merged[key] >= 0
        bad = sorted(key for key, ok in checks.items() if not ok)
        if bad:
            raise ValueError(f"invalid values for: {bad}")
        for key, value in values.items():
            setattr(self, key, value)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)
