"""HPC pool settings, resize and repurpose against the emulator (real SDKs over HTTP)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError

from airflow_azure_compute.exceptions import AzureComputeConfigError, AzureComputeRemoteError
from airflow_azure_compute.hooks.batch import BatchHook
from airflow_azure_compute.operators.batch_pool import BatchEnsurePoolOperator
from airflow_azure_compute.operators.batch_pool_resize import (
    BatchResizePoolOperator,
    BatchStopPoolResizeOperator,
)
from tests.integration._batch_env import POOL_BASE, admin, fresh, pool_body
from tests.integration.ops_support import FakeTI, context_for, execute

pytestmark = pytest.mark.integration

SUBNET = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/batch"


def _ctx() -> dict[str, Any]:
    return context_for(FakeTI(task_id="pool", run_id=fresh("run")))


def _ensure(spec: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    op = BatchEnsurePoolOperator(task_id="pool", pool_spec=spec, poll_interval=0.2, **kwargs)
    return execute(op, _ctx())  # type: ignore[no-any-return]


def _hook() -> BatchHook:
    return BatchHook("azure_compute_batch_default")


def _wait(pool_id: str, check: Any, seconds: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        pool = _hook().get_pool(pool_id) or {}
        if check(pool):
            return pool
        assert time.monotonic() < deadline, pool
        time.sleep(0.1)


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {"files_key": "ZmlsZXMta2V5LXNlY3JldA==", "installer_pw": "Inst4ller-pw-secret"}
    for conn_id, password in values.items():
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "generic", "password": password})
        )
    return values


def _hpc(pool_id: str, refdata: str) -> dict[str, Any]:
    return {
        **POOL_BASE,
        "pool_id": pool_id,
        "vm_size": "standard_hb120rs_v3",
        "dedicated_nodes": 1,
        "spot_nodes": 1,
        "inter_node_communication": True,
        "node_fill_type": "Pack",
        "node_placement": "regional",
        "network": {"subnet_id": SUBNET, "public_ip": "nopublicipaddresses"},
        "mounts": [{"container_name": refdata, "relative_mount_path": "ref"}],
        "file_share_mounts": [
            {
                "account_name": "acct",
                "azure_file_url": "https://acct.file.core.windows.net/share",
                "relative_mount_path": "share",
                "account_key_conn_id": "files_key",
            }
        ],
        "nfs_mounts": [{"source": "10.0.0.4:/export", "relative_mount_path": "nfs"}],
        "user_accounts": [{"name": "installer", "password_conn_id": "installer_pw", "elevated": True}],
        "start_task": {"command_line": "/bin/sh -c 'echo installed'", "user_name": "installer"},
    }


def test_hpc_pool_settings_are_stored_and_secrets_not_echoed(
    batch_env: dict[str, Any], secrets: dict[str, str]
) -> None:
    from airflow_azure_compute.hooks.blob import BlobHook

    refdata = fresh("ref")
    BlobHook("azure_compute_blob_default").create_container(refdata)
    pool_id = fresh("hpc")
    spec = _hpc(pool_id, refdata)
    assert _ensure(spec, min_ready_nodes=2) == {"pool_id": pool_id, "created": True}
    pool = _hook().get_pool(pool_id) or {}
    assert pool["enableInterNodeCommunication"] is True
    assert pool["taskSchedulingPolicy"]["nodeFillType"] == "Pack"
    assert pool["virtualMachineConfiguration"]["nodePlacementConfiguration"] == {"policy": "regional"}
    assert pool["networkConfiguration"]["subnetId"] == SUBNET
    assert pool["networkConfiguration"]["publicIPAddressConfiguration"] == {
        "provision": "nopublicipaddresses"
    }
    kinds = sorted(next(iter(m)) for m in pool["mountConfiguration"])
    assert kinds == [
        "azureBlobFileSystemConfiguration",
        "azureFileShareConfiguration",
        "nfsMountConfiguration",
    ]
    assert pool["userAccounts"] == [{"name": "installer", "elevationLevel": "admin"}]  # no password on GET
    assert secrets["installer_pw"] not in json.dumps(pool)
    assert pool["startTask"]["userIdentity"] == {"username": "installer"}
    assert (pool["currentDedicatedNodes"], pool["currentLowPriorityNodes"]) == (1, 1)
    nodes = list(_hook().client.list_nodes(pool_id))
    assert sorted(n.is_dedicated for n in nodes) == [False, True]  # one spot node
    # reuse names what differs
    with pytest.raises(AzureComputeConfigError, match=r"node_fill_type: spec has 'spread', pool has 'pack'"):
        _ensure({**spec, "node_fill_type": "Spread"}, min_ready_nodes=0)
    _hook().delete_pool(pool_id)


def test_provider_pool_spec_mounts_work_end_to_end(
    batch_env: dict[str, Any], secrets: dict[str, str]
) -> None:
    """The provider's own pool spec (blob mount with the read/list SAS it makes, an Azure Files share, an
    NFS export): a task copies the input blob from the blob mount onto the share and writes to the
    export; the next task of the job reads both back under ``$AZ_BATCH_NODE_MOUNTS_DIR``."""
    from azure.batch import models

    from airflow_azure_compute.hooks.blob import BlobHook

    refdata = fresh("ref")
    blob = BlobHook("azure_compute_blob_default")
    blob.create_container(refdata)
    blob.upload_bytes(refdata, "genome/index.txt", b"reference data\n")
    pool_id = fresh("hpcmnt")
    spec = {**_hpc(pool_id, refdata), "node_fill_type": "Spread"}
    spec["file_share_mounts"] = [
        {**spec["file_share_mounts"][0], "azure_file_url": f"https://acct.file.core.windows.net/{pool_id}"}
    ]
    spec["nfs_mounts"] = [{"source": f"10.0.0.4:/{pool_id}", "relative_mount_path": "nfs"}]
    assert _ensure(spec, min_ready_nodes=2)["created"] is True
    client = _hook().client
    job_id = fresh("job")
    client.create_job(
        models.BatchJobCreateOptions(id=job_id, pool_info=models.BatchPoolInfo(pool_id=pool_id))
    )
    mounts = "$AZ_BATCH_NODE_MOUNTS_DIR"
    first = f"cp {mounts}/ref/genome/index.txt {mounts}/share/copy.txt && echo nfs > {mounts}/nfs/n.txt"
    client.create_task(
        job_id, models.BatchTaskCreateOptions(id="first", command_line=f"/bin/sh -c '{first}'")
    )
    _wait_task(client, job_id, "first")
    second = f"cat {mounts}/share/copy.txt {mounts}/nfs/n.txt; ls {mounts}"
    client.create_task(
        job_id, models.BatchTaskCreateOptions(id="second", command_line=f"/bin/sh -c '{second}'")
    )
    _wait_task(client, job_id, "second")
    out = b"".join(client.download_task_file(job_id, "second", "stdout.txt")).decode()
    assert out == "reference data\nnfs\nnfs\nref\nshare\n"
    client.begin_delete_job(job_id, polling_interval=0.2).result()
    _hook().delete_pool(pool_id)


def _wait_task(client: Any, job_id: str, task_id: str) -> None:
    deadline = time.monotonic() + 30
    while (task := client.get_task(job_id, task_id)).state != "completed":
        assert time.monotonic() < deadline, task
        time.sleep(0.1)
    info = task.execution_info
    assert info is not None and info.result == "success", info and info.failure_info


def test_missing_mount_credentials_refused_before_creation(
    batch_env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_azure_compute.hooks.blob import BlobHook

    refdata = fresh("ref")
    BlobHook("azure_compute_blob_default").create_container(refdata)
    monkeypatch.setenv("AIRFLOW_CONN_FILES_KEY", json.dumps({"conn_type": "generic", "login": "acct"}))
    monkeypatch.setenv("AIRFLOW_CONN_INSTALLER_PW", json.dumps({"conn_type": "generic", "password": "pw"}))
    pool_id = fresh("hpc")
    with pytest.raises(AzureComputeConfigError, match="'files_key' has no password") as info:
        _ensure(_hpc(pool_id, refdata), min_ready_nodes=0)
    assert info.value.field == "pool.file_share_mounts.account_key_conn_id"
    assert _hook().get_pool(pool_id) is None


@pytest.mark.parametrize(
    ("mount", "code", "prop"),
    [
        (
            {
                "azureFileShareConfiguration": {
                    "accountName": "a",
                    "azureFileUrl": "https://a.file.core.windows.net/s",
                    "relativeMountPath": "s",
                }
            },
            "MissingRequiredProperty",
            "mountConfiguration.azureFileShareConfiguration.accountKey",
        ),
        (
            {
                "azureBlobFileSystemConfiguration": {
                    "accountName": "a",
                    "containerName": "c",
                    "relativeMountPath": "b",
                }
            },
            "InvalidPropertyValue",
            "mountConfiguration.azureBlobFileSystemConfiguration.accountKey",
        ),
        (
            {"nfsMountConfiguration": {"relativeMountPath": "n"}},
            "MissingRequiredProperty",
            "mountConfiguration.nfsMountConfiguration.source",
        ),
    ],
)
def test_emulator_refuses_mounts_without_what_azure_requires(
    batch_env: dict[str, Any], mount: dict[str, Any], code: str, prop: str
) -> None:
    from azure.batch import models

    body = pool_body(fresh("raw"), mountConfiguration=[mount])
    with pytest.raises(HttpResponseError) as info:
        _hook().client.create_pool(models.BatchPoolCreateOptions(body))
    assert info.value.status_code == 400
    assert info.value.error is not None and info.value.error.code == code
    assert prop in str(info.value)


def test_resize_up_and_down_deferred(batch_env: dict[str, Any]) -> None:
    pool_id = fresh("pool")
    _ensure({**POOL_BASE, "pool_id": pool_id, "dedicated_nodes": 1}, min_ready_nodes=1)
    up = BatchResizePoolOperator(
        task_id="resize", pool_id=pool_id, dedicated_nodes=3, spot_nodes=1, poll_interval=0.2
    )
    assert execute(up, _ctx()) == {"pool_id": pool_id, "dedicated_nodes": 3, "spot_nodes": 1}
    pool = _hook().get_pool(pool_id) or {}
    assert (pool["allocationState"], pool["currentDedicatedNodes"], pool["currentLowPriorityNodes"]) == (
        "steady",
        3,
        1,
    )
    down = BatchResizePoolOperator(
        task_id="resize",
        pool_id=pool_id,
        dedicated_nodes=1,
        node_deallocation="taskcompletion",
        poll_interval=0.2,
    )
    assert execute(down, _ctx())["dedicated_nodes"] == 1
    pool = _hook().get_pool(pool_id) or {}
    assert (pool["currentDedicatedNodes"], pool["currentLowPriorityNodes"]) == (1, 0)
    again = BatchResizePoolOperator(task_id="resize", pool_id=pool_id, dedicated_nodes=1, poll_interval=0.2)
    assert execute(again, _ctx())["dedicated_nodes"] == 1  # already there: nothing to do
    _hook().delete_pool(pool_id)


def test_resize_error_is_reported_with_its_code(batch_env: dict[str, Any]) -> None:
    pool_id = fresh("pool")
    _ensure({**POOL_BASE, "pool_id": pool_id, "dedicated_nodes": 0}, min_ready_nodes=0)
    _wait(pool_id, lambda p: p.get("allocationState") == "steady")
    admin(
        batch_env,
        f"pools/{pool_id}/resizeerror",
        {"code": "AccountCoreQuotaReached", "message": "no cores"},
        "PUT",
    )
    op = BatchResizePoolOperator(task_id="resize", pool_id=pool_id, dedicated_nodes=2, poll_interval=0.2)
    with pytest.raises(AzureComputeRemoteError, match="AccountCoreQuotaReached: no cores"):
        execute(op, _ctx())
    _hook().delete_pool(pool_id)


def test_resize_of_an_autoscale_pool_names_the_field(batch_env: dict[str, Any]) -> None:
    pool_id = fresh("auto")
    _ensure(
        {**POOL_BASE, "pool_id": pool_id, "autoscale_formula": "$TargetDedicatedNodes = 1;"},
        min_ready_nodes=0,
    )
    op = BatchResizePoolOperator(task_id="resize", pool_id=pool_id, dedicated_nodes=5)
    with pytest.raises(AzureComputeConfigError, match="autoscale") as info:
        op.execute(_ctx())
    assert info.value.field == "pool_id"
    assert (_hook().get_pool(pool_id) or {})["enableAutoScale"] is True
    _hook().delete_pool(pool_id)


@pytest.mark.parametrize(
    ("field", "value"), [("dedicated_nodes", -1), ("spot_nodes", "many"), ("node_deallocation", "drop")]
)
def test_bad_resize_input(field: str, value: Any) -> None:
    op = BatchResizePoolOperator(task_id="resize", pool_id="p", **{field: value})
    with pytest.raises(AzureComputeConfigError) as info:
        op.targets()
    assert info.value.field == field


def test_stop_resize_leaves_a_steady_pool(batch_env: dict[str, Any]) -> None:
    """Stop right after asking for 20 nodes: the pool ends steady, keeps its targets, and says why."""
    pool_id = fresh("pool")
    _ensure({**POOL_BASE, "pool_id": pool_id, "dedicated_nodes": 0}, min_ready_nodes=0)
    _wait(pool_id, lambda p: p.get("allocationState") == "steady")
    execute(
        BatchResizePoolOperator(task_id="resize", pool_id=pool_id, dedicated_nodes=20, wait=False), _ctx()
    )
    execute(BatchStopPoolResizeOperator(task_id="stop", pool_id=pool_id), _ctx())
    pool = _wait(pool_id, lambda p: p.get("allocationState") == "steady")
    assert pool["targetDedicatedNodes"] == 20
    if pool["currentDedicatedNodes"] < 20:  # stopped in time (the usual case): Batch reports it
        assert [e["code"] for e in pool["resizeErrors"]] == ["ResizeStopped"]
        from airflow_azure_compute.triggers.batch_pool import evaluate_resize

        assert "ResizeStopped" in evaluate_resize(pool).message
    _hook().delete_pool(pool_id)


def test_repurpose_gives_nodes_the_new_start_task(batch_env: dict[str, Any]) -> None:
    """Seed 003: a reused pool gets a new start task, its nodes restart to run it, and the wait ends idle."""
    pool_id = fresh("pool")
    marker = "/bin/sh -c 'echo {v} > $AZ_BATCH_NODE_SHARED_DIR/version'"
    spec = {
        **POOL_BASE,
        "pool_id": pool_id,
        "dedicated_nodes": 2,
        "start_task": {"command_line": marker.format(v="v1")},
    }
    _ensure(spec, min_ready_nodes=2)
    v2 = {**spec, "start_task": {"command_line": marker.format(v="v2")}}
    with pytest.raises(AzureComputeConfigError, match=r"start_task\.command_line: spec has"):
        _ensure(v2, min_ready_nodes=2)  # reuse names the difference
    result = _ensure(v2, if_exists="repurpose", min_ready_nodes=1)
    assert result == {"pool_id": pool_id, "created": False, "restarted_nodes": 2}
    hook = _hook()
    pool = hook.get_pool(pool_id) or {}
    assert pool["startTask"]["commandLine"] == marker.format(v="v2")
    for node in hook.client.list_nodes(pool_id):
        assert str(node.state) in ("idle", "BatchNodeState.IDLE")
        data = b"".join(hook.client.download_node_file(pool_id, node.id, "shared/version")).decode()
        assert data.strip() == "v2"
    assert _ensure(v2, if_exists="repurpose", min_ready_nodes=2) == {"pool_id": pool_id, "created": False}
    with pytest.raises(AzureComputeConfigError, match="cannot be repurposed: vm_size"):
        _ensure({**v2, "vm_size": "standard_hb120rs_v3"}, if_exists="repurpose")
    hook.delete_pool(pool_id)
