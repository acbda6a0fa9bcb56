"""The Batch emulator's checks of HPC pool settings (pure): Azure's error codes and property names."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_azure_compute.emulator.batch.pool_settings import validate
from airflow_azure_compute.emulator.batch.wire import BatchError

SUBNET = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/batch"
GOOD: dict[str, Any] = {
    "id": "hpc",
    "vmSize": "standard_hb120rs_v3",
    "enableInterNodeCommunication": True,
    "virtualMachineConfiguration": {"nodePlacementConfiguration": {"policy": "zonal"}},
    "networkConfiguration": {
        "subnetId": SUBNET,
        "publicIPAddressConfiguration": {"provision": "nopublicipaddresses"},
    },
    "taskSchedulingPolicy": {"nodeFillType": "Pack"},
    "mountConfiguration": [
        {
            "azureBlobFileSystemConfiguration": {
                "accountName": "a",
                "containerName": "c",
                "relativeMountPath": "b",
                "sasKey": "s",
            }
        },
        {"nfsMountConfiguration": {"source": "10.0.0.4:/e", "relativeMountPath": "n"}},
    ],
    "userAccounts": [{"name": "ops", "password": "pw", "elevationLevel": "admin"}],
}


def test_a_complete_hpc_body_is_accepted() -> None:
    validate(GOOD)


@pytest.mark.parametrize(
    ("change", "code", "prop"),
    [
        (
            {"networkConfiguration": {"publicIPAddressConfiguration": {"provision": "static"}}},
            "InvalidPropertyValue",
            "networkConfiguration.publicIPAddressConfiguration.provision",
        ),
        (
            {"networkConfiguration": {"publicIPAddressConfiguration": {"provision": "usermanaged"}}},
            "MissingRequiredProperty",
            "networkConfiguration.publicIPAddressConfiguration.ipAddressIds",
        ),
        (
            {"networkConfiguration": {"subnetId": "/subscriptions/s/virtualNetworks/v"}},
            "InvalidPropertyValue",
            "networkConfiguration.subnetId",
        ),
        (
            {"virtualMachineConfiguration": {"nodePlacementConfiguration": {"policy": "global"}}},
            "InvalidPropertyValue",
            "virtualMachineConfiguration.nodePlacementConfiguration.policy",
        ),
        (
            {"taskSchedulingPolicy": {"nodeFillType": "Fill"}},
            "InvalidPropertyValue",
            "taskSchedulingPolicy.nodeFillType",
        ),
        ({"userAccounts": [{"name": "ops"}]}, "MissingRequiredProperty", "userAccounts.password"),
        (
            {"userAccounts": [{"name": "ops", "password": "p", "elevationLevel": "root"}]},
            "InvalidPropertyValue",
            "userAccounts.elevationLevel",
        ),
        ({"mountConfiguration": [{}]}, "InvalidPropertyValue", "mountConfiguration"),
        (
            {
                "mountConfiguration": [
                    {"cifsMountConfiguration": {"source": "//h/s", "relativeMountPath": "c", "username": "u"}}
                ]
            },
            "MissingRequiredProperty",
            "mountConfiguration.cifsMountConfiguration.password",
        ),
    ],
)
def test_refusals_name_the_property(change: dict[str, Any], code: str, prop: str) -> None:
    with pytest.raises(BatchError) as info:
        validate({**GOOD, **change})
    body = info.value.body()
    assert info.value.status == 400 and body["code"] == code
    assert {"key": "PropertyName", "value": prop} in body["values"]
