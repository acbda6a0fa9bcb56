"""HPC settings of pools and tasks: their REST bodies, and bad input named by field before any request."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_azure_compute.exceptions import AzureComputeConfigError
from airflow_azure_compute.specs import (
    MultiInstanceSpec,
    PoolSpec,
    TaskSpec,
    check_multi_instance_pool,
    pool_differences,
    pool_shape_differences,
    start_task_differences,
)
from airflow_azure_compute.triggers.batch_pool import evaluate_resize

BASE: dict[str, Any] = {
    "pool_id": "hpc",
    "vm_size": "standard_hb120rs_v3",
    "image": "microsoft-dsvm:ubuntu-hpc:2204",
    "node_agent_sku_id": "batch.node.ubuntu 22.04",
}
SUBNET = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/batch"
HPC: dict[str, Any] = {
    **BASE,
    "dedicated_nodes": 4,
    "spot_nodes": 2,
    "inter_node_communication": True,
    "node_fill_type": "pack",
    "node_placement": "zonal",
    "network": {"subnet_id": SUBNET, "public_ip": "nopublicipaddresses"},
    "mounts": [{"container_name": "refdata", "relative_mount_path": "ref"}],
    "file_share_mounts": [
        {
            "account_name": "acct",
            "azure_file_url": "https://acct.file.core.windows.net/share",
            "relative_mount_path": "share",
            "account_key_conn_id": "files_key",
            "mount_options": "-o vers=3.0",
        }
    ],
    "nfs_mounts": [{"source": "10.0.0.4:/export", "relative_mount_path": "nfs"}],
    "user_accounts": [{"name": "installer", "password_conn_id": "installer_pw", "elevated": True}],
    "start_task": {"command_line": "/bin/sh -c 'pip install mpi4py'", "user_name": "installer"},
}


def _wire(spec: PoolSpec) -> dict[str, Any]:
    return spec.to_wire(
        mount_account="acct",
        mount_sas={"refdata": "sv=x&sp=rl"},
        file_share_keys={"share": "KEY"},
        user_passwords={"installer": "PW"},
    )


def test_hpc_pool_body() -> None:
    wire = _wire(PoolSpec.coerce(HPC))
    assert wire["enableInterNodeCommunication"] is True
    assert (wire["targetDedicatedNodes"], wire["targetLowPriorityNodes"]) == (4, 2)
    assert wire["taskSchedulingPolicy"] == {"nodeFillType": "Pack"}  # Azure's casing
    assert wire["virtualMachineConfiguration"]["nodePlacementConfiguration"] == {"policy": "zonal"}
    assert wire["networkConfiguration"] == {
        "subnetId": SUBNET,
        "publicIPAddressConfiguration": {"provision": "nopublicipaddresses"},
    }
    kinds = [next(iter(m)) for m in wire["mountConfiguration"]]
    assert kinds == [
        "azureBlobFileSystemConfiguration",
        "azureFileShareConfiguration",
        "nfsMountConfiguration",
    ]
    share = wire["mountConfiguration"][1]["azureFileShareConfiguration"]
    assert share["accountKey"] == "KEY" and share["mountOptions"] == "-o vers=3.0"
    assert wire["mountConfiguration"][2]["nfsMountConfiguration"] == {
        "source": "10.0.0.4:/export",
        "relativeMountPath": "nfs",
    }
    assert wire["userAccounts"] == [{"name": "installer", "password": "PW", "elevationLevel": "admin"}]
    assert wire["startTask"]["userIdentity"] == {"username": "installer"}


def test_spread_and_user_managed_public_ips() -> None:
    spec = PoolSpec.coerce(
        {
            **BASE,
            "node_fill_type": "Spread",
            "network": {
                "public_ip": "usermanaged",
                "public_ip_ids": ["/subscriptions/s/publicIPAddresses/a"],
            },
        }
    )
    wire = spec.to_wire()
    assert wire["taskSchedulingPolicy"] == {"nodeFillType": "Spread"}
    assert wire["networkConfiguration"]["publicIPAddressConfiguration"] == {
        "provision": "usermanaged",
        "ipAddressIds": ["/subscriptions/s/publicIPAddresses/a"],
    }


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"inter_node_communication": True, "dedicated_nodes": 90, "spot_nodes": 20}, "pool.dedicated_nodes"),
        ({"node_fill_type": "fill"}, "pool.node_fill_type"),
        ({"node_placement": "global"}, "pool.node_placement"),
        ({"network": {"public_ip": "usermanaged"}}, "pool.network.public_ip_ids"),
        ({"network": {"public_ip": "nopublicipaddresses"}}, "pool.network.subnet_id"),
        ({"network": {"subnet_id": "/subscriptions/s/virtualNetworks/v"}}, "pool.network.subnet_id"),
        ({"network": {"public_ip": "static"}}, "pool.network.public_ip"),
        ({"nfs_mounts": [{"source": "nohost", "relative_mount_path": "n"}]}, "pool.nfs_mounts.source"),
        (
            {"nfs_mounts": [{"source": "h:/e", "relative_mount_path": "a/b"}]},
            "pool.nfs_mounts.relative_mount_path",
        ),
        (
            {
                "file_share_mounts": [
                    {
                        "account_name": "a",
                        "azure_file_url": "https://a.file.core.windows.net/s",
                        "relative_mount_path": "s",
                        "account_key_conn_id": "",
                    }
                ]
            },
            "pool.file_share_mounts.account_key_conn_id",
        ),
        ({"user_accounts": [{"name": "ops", "password_conn_id": ""}]}, "pool.user_accounts.password_conn_id"),
        ({"start_task": {"command_line": "true", "user_name": "ghost"}}, "pool.start_task.user_name"),
        (
            {
                "mounts": [{"container_name": "a", "relative_mount_path": "x"}],
                "nfs_mounts": [{"source": "h:/e", "relative_mount_path": "x"}],
            },
            "pool.mounts",
        ),
    ],
)
def test_bad_pool_settings_name_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(AzureComputeConfigError) as info:
        PoolSpec.coerce({**BASE, **change})
    assert info.value.field == field


def test_mounts_and_users_without_credentials_are_refused() -> None:
    spec = PoolSpec.coerce(HPC)
    with pytest.raises(AzureComputeConfigError, match="files_key") as info:
        spec.to_wire(mount_account="acct", mount_sas={"refdata": "s"}, user_passwords={"installer": "p"})
    assert info.value.field == "pool.file_share_mounts.account_key_conn_id"
    with pytest.raises(AzureComputeConfigError, match="installer_pw") as info:
        spec.to_wire(mount_account="acct", mount_sas={"refdata": "s"}, file_share_keys={"share": "k"})
    assert info.value.field == "pool.user_accounts.password_conn_id"
    with pytest.raises(AzureComputeConfigError) as info:
        spec.to_wire(file_share_keys={"share": "k"}, user_passwords={"installer": "p"})
    assert info.value.field == "pool.mounts"


def test_multi_instance_task_body() -> None:
    task = TaskSpec.coerce(
        {
            "task_id": "mpi",
            "command_line": "/bin/sh -c 'mpiexec -n 4 python app.py'",
            "multi_instance": {
                "number_of_instances": 4,
                "coordination_command_line": "/bin/sh -c 'echo ready'",
                "common_resource_files": [{"http_url": "https://a/b/app.py?sig", "file_path": "app.py"}],
            },
        }
    )
    assert task.to_wire()["multiInstanceSettings"] == {
        "numberOfInstances": 4,
        "coordinationCommandLine": "/bin/sh -c 'echo ready'",
        "commonResourceFiles": [{"httpUrl": "https://a/b/app.py?sig", "filePath": "app.py"}],
    }


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"number_of_instances": 0}, "multi_instance.number_of_instances"),
        (
            {"number_of_instances": 2, "coordination_command_line": "  "},
            "multi_instance.coordination_command_line",
        ),
    ],
)
def test_bad_multi_instance_settings(value: dict[str, Any], field: str) -> None:
    with pytest.raises(AzureComputeConfigError) as info:
        MultiInstanceSpec.coerce(value)
    assert info.value.field == field


POOL_JSON = {
    "id": "hpc",
    "enableInterNodeCommunication": True,
    "taskSlotsPerNode": 1,
    "targetDedicatedNodes": 3,
}


@pytest.mark.parametrize(
    ("pool", "instances", "field", "words"),
    [
        (
            {**POOL_JSON, "enableInterNodeCommunication": False},
            2,
            "multi_instance",
            "inter-node communication",
        ),
        ({**POOL_JSON, "taskSlotsPerNode": 4}, 2, "multi_instance", "task_slots_per_node=1"),
        (POOL_JSON, 4, "multi_instance.number_of_instances", r"3 dedicated \+ 0 spot"),
    ],
)
def test_pool_that_would_never_run_the_task(
    pool: dict[str, Any], instances: int, field: str, words: str
) -> None:
    with pytest.raises(AzureComputeConfigError, match=words) as info:
        check_multi_instance_pool(MultiInstanceSpec(number_of_instances=instances), pool)
    assert info.value.field == field


def test_pool_that_runs_the_task() -> None:
    check_multi_instance_pool(MultiInstanceSpec(number_of_instances=3), POOL_JSON)
    check_multi_instance_pool(
        MultiInstanceSpec(number_of_instances=2),
        {**POOL_JSON, "targetDedicatedNodes": 1, "targetLowPriorityNodes": 1},
    )
    check_multi_instance_pool(
        MultiInstanceSpec(number_of_instances=9), {**POOL_JSON, "enableAutoScale": True}
    )


def test_differences_separate_the_start_task_from_the_shape() -> None:
    spec = PoolSpec.coerce({**BASE, "dedicated_nodes": 2, "start_task": {"command_line": "/bin/sh -c 'v2'"}})
    pool = {
        **spec.to_wire(),
        "startTask": {
            "commandLine": "/bin/sh -c 'v1'",
            "resourceFiles": [{"httpUrl": "https://a.blob/c/setup.sh?sig=1", "filePath": "setup.sh"}],
        },
        "enableInterNodeCommunication": True,
    }
    assert pool_shape_differences(spec, pool) == ["inter_node_communication: spec has False, pool has True"]
    starts = start_task_differences(spec, pool)
    assert starts[0].startswith("start_task.command_line: spec has \"/bin/sh -c 'v2'\"")
    assert starts[1].startswith(
        "start_task.resource_files: spec has [], pool has ['/c/setup.sh -> setup.sh']"
    )
    assert pool_differences(spec, pool) == pool_shape_differences(spec, pool) + starts
    # SAS tokens change every run: the same blob with another signature is no difference
    same = {**pool, "startTask": {**spec.to_wire()["startTask"]}}
    assert start_task_differences(spec, same) == []


@pytest.mark.parametrize(
    ("pool", "outcome"),
    [
        ({"allocationState": "resizing", "currentDedicatedNodes": 1, "targetDedicatedNodes": 3}, "waiting"),
        ({"allocationState": "steady", "currentDedicatedNodes": 3, "targetDedicatedNodes": 3}, "succeeded"),
        (
            {
                "allocationState": "steady",
                "currentDedicatedNodes": 1,
                "targetDedicatedNodes": 3,
                "resizeErrors": [{"code": "AccountCoreQuotaReached", "message": "quota"}],
            },
            "failed",
        ),
        ({"state": "deleting", "allocationState": "steady"}, "failed"),
    ],
)
def test_evaluate_resize(pool: dict[str, Any], outcome: str) -> None:
    assert evaluate_resize({"id": "p", **pool}).outcome.value == outcome


def test_multi_instance_task_cannot_have_dependencies() -> None:
    with pytest.raises(AzureComputeConfigError) as info:
        TaskSpec(
            task_id="mpi",
            command_line="true",
            depends_on=("prep",),
            multi_instance=MultiInstanceSpec(number_of_instances=2),
        )
    assert info.value.field == "tasks[mpi].depends_on"
