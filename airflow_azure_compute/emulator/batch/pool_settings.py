"""Checks of the HPC settings of a pool create body: mounts, network, placement, user accounts.

The emulator stores these settings as received (``GET`` returns them; ``defaults.pool`` leaves out user
passwords); it refuses only what Azure's REST API marks as required, with Azure's error shape
(``MissingRequiredProperty`` / ``InvalidPropertyValue`` and the property name).
"""

from __future__ import annotations

from typing import Any

from airflow_azure_compute.emulator.batch.wire import BatchError

_MOUNT_REQUIRED = {
    "azureBlobFileSystemConfiguration": ("accountName", "containerName", "relativeMountPath"),
    "azureFileShareConfiguration": ("accountName", "azureFileUrl", "accountKey", "relativeMountPath"),
    "nfsMountConfiguration": ("source", "relativeMountPath"),
    "cifsMountConfiguration": ("source", "relativeMountPath", "username", "password"),
}
_BLOB_CREDENTIALS = ("accountKey", "sasKey", "identityReference")
_IP_PROVISIONING = {"batchmanaged", "usermanaged", "nopublicipaddresses"}
_PLACEMENT = {"regional", "zonal"}
_ELEVATION = {"admin", "nonadmin"}
_FILL = {"spread", "pack"}


def _missing(name: str) -> BatchError:
    """400 ``MissingRequiredProperty`` naming ``name``."""
    return BatchError(400, "MissingRequiredProperty", f"{name} is required.", {"PropertyName": name})


def _invalid(name: str, value: object) -> BatchError:
    return BatchError(
        400, "InvalidPropertyValue", f"The value {value!r} of {name} is invalid.", {"PropertyName": name}
    )


def validate(spec: dict[str, Any], prefix: str = "") -> None:
    """Raise `BatchError` (400) for a pool body Azure would refuse on these settings.

    ``prefix`` goes before every property name (e.g. a job's ``poolInfo.autoPoolSpecification.pool.``).
    """
    try:
        _validate(spec)
    except BatchError as err:
        if prefix and "PropertyName" in err.values:
            err.values["PropertyName"] = prefix + err.values["PropertyName"]
        raise


def _validate(spec: dict[str, Any]) -> None:
    for mount in spec.get("mountConfiguration") or []:
        kinds = [k for k in _MOUNT_REQUIRED if mount.get(k)]
        if len(kinds) != 1:
            raise BatchError(
                400,
                "InvalidPropertyValue",
                "A mount configuration needs exactly one of " + ", ".join(_MOUNT_REQUIRED) + ".",
                {"PropertyName": "mountConfiguration"},
            )
        config = mount[kinds[0]]
        for name in _MOUNT_REQUIRED[kinds[0]]:
            if not config.get(name):
                raise _missing(f"mountConfiguration.{kinds[0]}.{name}")
        if kinds[0] == "azureBlobFileSystemConfiguration":
            given = [c for c in _BLOB_CREDENTIALS if config.get(c)]
            if len(given) != 1:
                raise _invalid(f"mountConfiguration.{kinds[0]}.accountKey", "|".join(given) or None)
    network = spec.get("networkConfiguration") or {}
    public = (network.get("publicIPAddressConfiguration") or {}).get("provision")
    if public is not None and public not in _IP_PROVISIONING:
        raise _invalid("networkConfiguration.publicIPAddressConfiguration.provision", public)
    if public == "usermanaged" and not (network.get("publicIPAddressConfiguration") or {}).get(
        "ipAddressIds"
    ):
        raise _missing("networkConfiguration.publicIPAddressConfiguration.ipAddressIds")
    subnet = network.get("subnetId")
    if subnet is not None and "/subnets/" not in str(subnet).lower():
        raise _invalid("networkConfiguration.subnetId", subnet)
    vm = spec.get("virtualMachineConfiguration") or {}
    policy = (vm.get("nodePlacementConfiguration") or {}).get("policy")
    if policy is not None and policy not in _PLACEMENT:
        raise _invalid("virtualMachineConfiguration.nodePlacementConfiguration.policy", policy)
    fill = (spec.get("taskSchedulingPolicy") or {}).get("nodeFillType")
    if fill is not None and str(fill).lower() not in _FILL:
        raise _invalid("taskSchedulingPolicy.nodeFillType", fill)
    for user in spec.get("userAccounts") or []:
        if not user.get("name"):
            raise _missing("userAccounts.name")
        if not user.get("password"):
            raise _missing("userAccounts.password")
        level = user.get("elevationLevel")
        if level is not None and level not in _ELEVATION:
            raise _invalid("userAccounts.elevationLevel", level)


__all__ = ["validate"]
