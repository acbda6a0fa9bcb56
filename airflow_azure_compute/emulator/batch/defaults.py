"""What Azure Batch adds to, and removes from, an entity when it echoes it back.

The emulator stores create bodies as received; every GET passes them through here so the answer
has the defaults Azure always returns (``userIdentity``, start-task and job-preparation settings,
``imageReference.version``, ...) and Azure's casing of the enums it normalises (``nodeFillType`` is
``Spread``/``Pack`` on the wire although the SDK's enum spells it lowercase). The secrets Azure never
returns are left out afterwards, by `secret_fields.without_secrets`.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping
from typing import Any

#: Unlimited duration, as Batch reports it.
UNLIMITED = "P10675199DT2H48M5.4775807S"
#: ``taskSchedulingPolicy.nodeFillType`` as the service sends it (recorded Azure traffic).
NODE_FILL_TYPES: Mapping[str, str] = {"spread": "Spread", "pack": "Pack"}


def auto_user() -> dict[str, Any]:
    """The identity of a task that names none: the pool's non-admin auto user."""
    return {"autoUser": {"scope": "pool", "elevationLevel": "nonadmin"}}


def task_like(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a task (or start/prep/release task) body with ``userIdentity`` filled in."""
    out = dict(spec)
    out.setdefault("userIdentity", auto_user())
    return out


def start_task(spec: Mapping[str, Any]) -> dict[str, Any]:
    out = task_like(spec)
    out.setdefault("maxTaskRetryCount", 0)
    out.setdefault("waitForSuccess", True)
    return out


def job_preparation_task(spec: Mapping[str, Any]) -> dict[str, Any]:
    out = task_like(spec)
    out.setdefault("id", "jobpreparation")
    constraints = dict(out.get("constraints") or {})
    constraints.setdefault("maxWallClockTime", UNLIMITED)
    constraints.setdefault("retentionTime", "P7D")
    constraints.setdefault("maxTaskRetryCount", 0)
    out["constraints"] = constraints
    out.setdefault("waitForSuccess", True)
    out.setdefault("rerunOnNodeRebootAfterSuccess", True)
    return out


def job_release_task(spec: Mapping[str, Any]) -> dict[str, Any]:
    out = task_like(spec)
    out.setdefault("id", "jobrelease")
    out.setdefault("maxWallClockTime", "PT15M")
    out.setdefault("retentionTime", "P7D")
    return out


def node_fill_type(value: Any) -> str:
    """Azure's spelling of a node fill type given in any case (unknown values pass unchanged)."""
    return NODE_FILL_TYPES.get(str(value).lower(), str(value))


def virtual_machine_configuration(spec: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(spec))
    image = out.get("imageReference")
    if isinstance(image, dict) and not image.get("virtualMachineImageId"):
        image.setdefault("version", "latest")
    return out


def network_configuration(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A pool's network configuration with the settings Azure reports when none were given."""
    out = dict(spec)
    out.setdefault("dynamicVNetAssignmentScope", "none")
    out.setdefault("enableAcceleratedNetworking", False)
    return out


def pool(out: dict[str, Any]) -> dict[str, Any]:
    """Apply the pool defaults to a pool's wire body (in place; returned)."""
    out.setdefault("enableInterNodeCommunication", False)
    policy = dict(out.get("taskSchedulingPolicy") or {})
    policy["nodeFillType"] = node_fill_type(policy.get("nodeFillType") or "spread")
    policy.setdefault("jobDefaultOrder", "none")
    out["taskSchedulingPolicy"] = policy
    if isinstance(out.get("networkConfiguration"), dict):
        out["networkConfiguration"] = network_configuration(out["networkConfiguration"])
    if isinstance(out.get("virtualMachineConfiguration"), dict):
        out["virtualMachineConfiguration"] = virtual_machine_configuration(out["virtualMachineConfiguration"])
    if isinstance(out.get("startTask"), dict):
        out["startTask"] = start_task(out["startTask"])
    return out


def pool_identity(identity: Mapping[str, Any]) -> dict[str, Any]:
    """A pool's ``identity`` as Batch returns it: each user-assigned identity with the read-only
    ``principalId`` and ``clientId`` of the managed identity (stable ids derived from its resource id
    here, as no Microsoft Entra ID stands behind them)."""
    out = dict(identity)
    entries = []
    for entry in identity.get("userAssignedIdentities") or []:
        resource = str(entry.get("resourceId") or "") if isinstance(entry, Mapping) else ""
        entries.append(
            {
                "principalId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"principal:{resource.lower()}")),
                "clientId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"client:{resource.lower()}")),
                **(entry if isinstance(entry, Mapping) else {}),
            }
        )
    if "userAssignedIdentities" in identity:
        out["userAssignedIdentities"] = entries
    return out


def job(out: dict[str, Any]) -> dict[str, Any]:
    """Apply the job defaults (preparation, release and manager task settings) in place."""
    if isinstance(out.get("jobPreparationTask"), dict):
        out["jobPreparationTask"] = job_preparation_task(out["jobPreparationTask"])
    if isinstance(out.get("jobReleaseTask"), dict):
        out["jobReleaseTask"] = job_release_task(out["jobReleaseTask"])
    if isinstance(out.get("jobManagerTask"), dict):
        out["jobManagerTask"] = task_like(out["jobManagerTask"])
    auto = (out.get("poolInfo") or {}).get("autoPoolSpecification")
    if isinstance(auto, dict) and isinstance(auto.get("pool"), dict):
        out["poolInfo"] = {**out["poolInfo"], "autoPoolSpecification": auto_pool_specification(auto)}
    return out


def auto_pool_specification(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A job's auto pool specification with the pool settings Azure fills in when it echoes it."""
    out = {"keepAlive": False, **spec}
    spec_pool = {
        "taskSlotsPerNode": 1,
        "resizeTimeout": "PT15M",
        "targetDedicatedNodes": 0,
        "targetLowPriorityNodes": 0,
        "enableAutoScale": False,
        **out["pool"],
    }
    out["pool"] = pool(spec_pool)
    return out
