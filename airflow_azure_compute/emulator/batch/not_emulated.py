"""Request properties the Batch emulator cannot reproduce: refused, never accepted and ignored.

A request that uses one gets 400 ``FeatureNotEmulated`` in the Batch error body, its ``values`` naming
the property path (``PropertyName``), as the ACI emulator refuses what it cannot emulate. Empty values
(``applicationPackageReferences: []``, which clients send when replacing pool properties) are not a
use of the feature. The audit of every request property is on the docs page ``emulator/batch.md``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from airflow_azure_compute.emulator.batch.wire import BatchError

#: Pool properties (paths below the pool body) whose effect on a node cannot be reproduced locally.
POOL_FEATURES: Mapping[str, str] = {
    "applicationPackageReferences": "application packages",
    "certificateReferences": "certificates (removed from the Batch API in 2024)",
    "virtualMachineConfiguration.extensions": "VM extensions",
    "virtualMachineConfiguration.dataDisks": "attached data disks",
}
#: Properties of any task-like body (task, start task, job manager, preparation and release tasks).
TASK_FEATURES: Mapping[str, str] = {
    "applicationPackageReferences": "application packages",
    "containerSettings.registry.identityReference": "managed identities (container registry)",
}
#: Paths below ``/jobschedules`` and other operations the emulator does not serve, with the feature.
NOT_EMULATED_OPERATIONS: tuple[tuple[str, str], ...] = (
    ("/jobschedules", "job schedules"),
    ("/jobschedules/{tail:.*}", "job schedules"),
    ("/applications", "application packages"),
    ("/applications/{tail:.*}", "application packages"),
    ("/poolusagemetrics", "pool usage metrics"),
    ("/pools/{poolId}/nodes/{nodeId}/users", "node user accounts"),
    ("/pools/{poolId}/nodes/{nodeId}/users/{tail:.*}", "node user accounts"),
    ("/pools/{poolId}/nodes/{nodeId}/reimage", "node reimage"),
    ("/pools/{poolId}/nodes/{nodeId}/start", "node start and deallocation"),
    ("/pools/{poolId}/nodes/{nodeId}/deallocate", "node start and deallocation"),
    ("/pools/{poolId}/nodes/{nodeId}/remoteloginsettings", "remote login"),
    ("/pools/{poolId}/nodes/{nodeId}/uploadbatchservicelogs", "service log upload"),
    ("/pools/{poolId}/nodes/{nodeId}/extensions", "VM extensions"),
    ("/pools/{poolId}/nodes/{nodeId}/extensions/{tail:.*}", "VM extensions"),
)


def feature_not_emulated(feature: str, path: str) -> BatchError:
    """400 ``FeatureNotEmulated`` naming ``feature`` and the property ``path``."""
    return BatchError(
        400,
        "FeatureNotEmulated",
        f"The local Batch emulator does not emulate {feature} ({path}): remove it from the request, "
        "or run this workload against Azure.",
        {"PropertyName": path},
    )


def _get(body: Mapping[str, Any], path: str) -> Any:
    value: Any = body
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _check(body: Mapping[str, Any], features: Mapping[str, str], prefix: str) -> None:
    for path, feature in features.items():
        if _get(body, path):
            raise feature_not_emulated(feature, prefix + path)


def _items(value: Any) -> Iterable[tuple[int, Mapping[str, Any]]]:
    return ((i, v) for i, v in enumerate(value if isinstance(value, list) else []) if isinstance(v, Mapping))


def check_task_like(body: Mapping[str, Any] | None, prefix: str = "") -> None:
    """Refuse what a task-like body uses that the emulator cannot run: see `TASK_FEATURES`,
    and managed identities on resource and output files (Batch would fetch a token on the node)."""
    if not isinstance(body, Mapping):
        return
    _check(body, TASK_FEATURES, prefix)
    files = [("resourceFiles", "resourceFiles")]
    if isinstance(body.get("multiInstanceSettings"), Mapping):
        files.append(("commonResourceFiles", "multiInstanceSettings.commonResourceFiles"))
    for key, path in files:
        source = body if key == "resourceFiles" else body["multiInstanceSettings"]
        for i, entry in _items(source.get(key)):
            if entry.get("identityReference"):
                raise feature_not_emulated(
                    "managed identities (resource files)", f"{prefix}{path}[{i}].identityReference"
                )
    for i, entry in _items(body.get("outputFiles")):
        if _get(entry, "destination.container.identityReference"):
            raise feature_not_emulated(
                "managed identities (output files)",
                f"{prefix}outputFiles[{i}].destination.container.identityReference",
            )


def check_pool(body: Mapping[str, Any], prefix: str = "", *, blob_mounts: bool = True) -> None:
    """Refuse what a pool body (create, update or an auto pool) uses that the emulator cannot reproduce.

    ``blob_mounts`` is false when the emulator has no Blob endpoint to back a blobfuse mount with.
    """
    _check(body, POOL_FEATURES, prefix)
    check_task_like(body.get("startTask"), f"{prefix}startTask.")
    registries = _get(body, "virtualMachineConfiguration.containerConfiguration.containerRegistries")
    for i, registry in _items(registries):
        if registry.get("identityReference"):
            raise feature_not_emulated(
                "managed identities (container registry)",
                f"{prefix}virtualMachineConfiguration.containerConfiguration.containerRegistries[{i}]"
                ".identityReference",
            )
    for i, mount in _items(body.get("mountConfiguration")):
        blob = mount.get("azureBlobFileSystemConfiguration")
        if not isinstance(blob, Mapping):
            continue
        path = f"{prefix}mountConfiguration[{i}].azureBlobFileSystemConfiguration"
        if blob.get("identityReference"):
            raise feature_not_emulated("managed identities (blob mounts)", f"{path}.identityReference")
        if not blob_mounts:
            raise feature_not_emulated(
                "blob mounts without a Blob endpoint (start the emulator with --batch-blob-endpoint "
                "or --storage-upstream)",
                path,
            )


def check_job(body: Mapping[str, Any], *, blob_mounts: bool = True) -> None:
    """Refuse what a job body (create or update) uses that the emulator cannot reproduce."""
    for name in ("jobManagerTask", "jobPreparationTask", "jobReleaseTask"):
        check_task_like(body.get(name), f"{name}.")
    auto = _get(body, "poolInfo.autoPoolSpecification.pool")
    if isinstance(auto, Mapping):
        check_pool(auto, "poolInfo.autoPoolSpecification.pool.", blob_mounts=blob_mounts)


__all__ = [
    "NOT_EMULATED_OPERATIONS",
    "POOL_FEATURES",
    "TASK_FEATURES",
    "check_job",
    "check_pool",
    "check_task_like",
    "feature_not_emulated",
]
