"""Group plans (no secret inside, secrets filled from connections), volumes, and the pool's pure logic."""

from __future__ import annotations

import base64
import json
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_azure_compute.exceptions import AzureComputeConfigError
from airflow_azure_compute.hooks.aci_groups import (
    ContainerSpec,
    GroupOutcome,
    GroupPlan,
    GroupProgress,
    RegistryCredential,
    SecretRef,
    VolumeSpec,
    plan_group,
)
from airflow_azure_compute.hooks.secret_refs import complete_plan, secret_value
from airflow_azure_compute.hooks.storage_queue import validate_queue_name
from airflow_azure_compute.hooks.worker_pools import (
    PoolLayout,
    PoolProgress,
    WorkerSettings,
    evaluate_pool,
    plan_workers,
)
from airflow_azure_compute.triggers.container_instances import ContainerGroupTrigger
from airflow_azure_compute.triggers.worker_pools import WorkerPoolTrigger

SECRETS = {"password": "pw-1", "token": "tok-2", "key": "a2V5LTM="}


def conn(**extra: str) -> Any:
    return SimpleNamespace(password=SECRETS["password"], login="me", extra_dejson=extra)


def full_plan() -> GroupPlan:
    return plan_group(
        [
            ContainerSpec(
                name="app",
                image="img:1",
                environment={"A": "1"},
                secure_environment={"TOKEN": "token"},
                gpu_count=1,
                gpu_sku="V100",
                volume_mounts=[{"name": "share", "mount_path": "/mnt/share", "read_only": True},
                               {"name": "scratch", "mount_path": "/tmp/scratch"},
                               {"name": "certs", "mount_path": "/etc/certs"}],
            )
        ],
        location="westeurope",
        restart_policy="OnFailure",
        registries=[RegistryCredential("acr.io", "user", "<from registry_conn_id>")],
        registry_conn_id="registry",
        secure_env_conn_id="secrets",
        identity=["SystemAssigned", "/subscriptions/s/id1"],
        volumes=[
            VolumeSpec(name="share", azure_file={"share_name": "data", "storage_account_name": "acct"},
                       key_conn_id="files", key_field="key"),
            VolumeSpec(name="scratch", empty_dir=True),
            VolumeSpec(name="certs", secret={"ca.pem": "token"}),
        ],
    )  # fmt: skip


def test_plan_holds_no_secret_and_round_trips() -> None:
    plan = full_plan()
    text = json.dumps(plan.to_dict())
    assert not any(value in text for value in SECRETS.values())
    assert GroupPlan.from_dict(json.loads(text)) == plan
    assert plan.connection_ids() == ["secrets", "files", "registry"]
    props = plan.body["properties"]
    assert props["restartPolicy"] == "OnFailure"
    assert plan.body["identity"]["type"] == "SystemAssigned, UserAssigned"
    assert props["containers"][0]["properties"]["resources"]["requests"]["gpu"] == {"count": 1, "sku": "V100"}
    assert props["containers"][0]["properties"]["volumeMounts"][0] == {
        "name": "share", "mountPath": "/mnt/share", "readOnly": True,
    }  # fmt: skip
    assert props["volumes"][1] == {"name": "scratch", "emptyDir": {}}


def test_complete_fills_every_secret_from_its_connection() -> None:
    plan = full_plan()
    conns = {"secrets": conn(token=SECRETS["token"]), "files": conn(key=SECRETS["key"]), "registry": conn()}
    body = complete_plan(plan, conns)  # what the operator's and the trigger's lookups both end in
    props = body["properties"]
    env = props["containers"][0]["properties"]["environmentVariables"]
    assert {"name": "TOKEN", "secureValue": "tok-2"} in env and {"name": "A", "value": "1"} in env
    assert props["volumes"][0]["azureFile"]["storageAccountKey"] == SECRETS["key"]
    assert base64.b64decode(props["volumes"][2]["secret"]["ca.pem"]).decode() == "tok-2"
    assert props["imageRegistryCredentials"] == [{"server": "acr.io", "username": "user", "password": "pw-1"}]
    assert "tok-2" not in json.dumps(plan.to_dict())  # the plan itself is unchanged


def test_missing_secret_names_the_field() -> None:
    plan = full_plan()
    conns = {"secrets": conn(), "files": conn(key="k"), "registry": conn()}
    with pytest.raises(AzureComputeConfigError) as err:
        plan.complete(lambda ref: secret_value(ref, conns[ref.conn_id]))
    assert err.value.field == "secure_environment" and "'secrets' has no field 'token'" in str(err.value)


@pytest.mark.parametrize(
    ("volume", "field"),
    [
        (
            {"name": "v", "azure_file": {"share_name": "s", "storage_account_name": "a"}},
            "volumes[].key_conn_id",
        ),
        ({"name": "v", "azure_file": {"share_name": "s"}, "key_conn_id": "c"}, "volumes[].azure_file"),
        ({"name": "v"}, "volumes"),
        ({"name": "v", "empty_dir": True, "secret": {"f": "k"}}, "volumes"),
        ({"name": "Bad_Name", "empty_dir": True}, "volumes[].name"),
    ],
)
def test_bad_volumes_name_the_field(volume: dict[str, Any], field: str) -> None:
    with pytest.raises(AzureComputeConfigError) as err:
        VolumeSpec.coerce(volume)
    assert err.value.field == field


def test_mount_of_an_unknown_volume_and_secure_values_without_connection() -> None:
    spec = ContainerSpec(name="c", image="i", volume_mounts=[{"name": "nope", "mount_path": "/x"}])
    with pytest.raises(AzureComputeConfigError, match="not one of the volumes"):
        plan_group([spec], location="l")
    with pytest.raises(AzureComputeConfigError, match="absolute"):
        ContainerSpec(name="c", image="i", volume_mounts=[{"name": "v", "mount_path": "rel"}])
    plan = plan_group([ContainerSpec(name="c", image="i", secure_environment={"S": "k"})], location="l")
    with pytest.raises(AzureComputeConfigError) as err:
        plan.check_connections()
    assert err.value.field == "secure_env_conn_id"


@pytest.mark.parametrize("name", ["ab", "-abc", "abc-", "a--b", "ABC", "a_b", "x" * 64])
def test_invalid_queue_names(name: str) -> None:
    with pytest.raises(AzureComputeConfigError) as err:
        validate_queue_name(name)
    assert err.value.field == "queue_name"


def test_queue_name_ok() -> None:
    assert validate_queue_name("wp-run-1") == "wp-run-1"


def test_pool_progress_and_decisions() -> None:
    names = ["p/results/000000.json", "p/results/000002.json", "p/failed/000001.json", "p/failed/000002.json",
             "p/items/000003.json", "p/results/000009.json"]  # fmt: skip
    progress = PoolProgress.from_names(4, "p/", names)
    assert (
        progress.done == {0, 2}
        and progress.failed == {1}
        and progress.summary() == "3/4 items done (1 failed)"
    )
    running = GroupProgress(GroupOutcome.RUNNING, {"worker": None}, {"worker": "Running"})
    ended = GroupProgress(GroupOutcome.SUCCEEDED, {"worker": 0}, {"worker": "Terminated"})
    assert evaluate_pool(progress, {"w0": running, "w1": ended}, deadline=None, now=0) is None
    failed = evaluate_pool(progress, {"w0": ended, "w1": None}, deadline=None, now=0)
    assert (
        failed is not None and failed["status"] == "failed" and "1 of 4 items unfinished" in failed["message"]
    )
    assert evaluate_pool(progress, {"w0": running}, deadline=1, now=2)["status"] == "timeout"  # type: ignore[index]
    complete = PoolProgress.from_names(4, "p/", [*names, "p/results/000003.json"])
    assert evaluate_pool(complete, {"w0": running}, deadline=None, now=0) == {
        "status": "done", "failed_items": [1], "summary": "4/4 items done (1 failed)",
    }  # fmt: skip


def test_worker_plans_carry_sas_references_only() -> None:
    layout = PoolLayout(queue="q-1", container="in", output_container="out", prefix="pools/k/", total=3)
    worker = ContainerSpec(name="worker", image="img", command=["run"], secure_environment={"TOKEN": "token"})
    plans = plan_workers(["k-w0", "k-w1"], worker, layout, WorkerSettings(max_dequeue=2), blob_conn_id="blob",
                         location="westeurope", secure_env_conn_id="secrets")  # fmt: skip
    assert list(plans) == ["k-w0", "k-w1"]
    refs = {r.what: r for r in plans["k-w0"].secrets}
    assert refs["the workers' AZ_POOL_QUEUE_URL"].source == "queue_sas"
    assert refs["the workers' AZ_POOL_OUTPUT_URL"] == SecretRef(
        ("properties", "containers", 0, "properties", "environmentVariables", 7, "secureValue"),
        "blob", "out", "blob_conn_id", "the workers' AZ_POOL_OUTPUT_URL", "plain", "container_write", 86400.0,
    )  # fmt: skip
    env = plans["k-w0"].body["properties"]["containers"][0]["properties"]["environmentVariables"]
    assert {"name": "AZ_POOL_MAX_DEQUEUE", "value": "2"} in env


def test_sas_references_sign_urls_with_the_account_key() -> None:
    blob = SimpleNamespace(
        conn_id="blob", conn_type="azure_compute_blob", host="https://acct.blob.core.windows.net", login="acct",
        password=base64.b64encode(b"k" * 32).decode(), extra=None,
    )  # fmt: skip
    ref = SecretRef(("x",), "blob", "q-1", "blob_conn_id", "queue", source="queue_sas")
    url = secret_value(ref, blob)
    assert url is not None and url.startswith("https://acct.queue.core.windows.net/q-1?") and "sp=rup" in url
    write = secret_value(SecretRef(("x",), "blob", "out", "f", "w", source="container_write"), blob)
    assert (
        write is not None and write.startswith("https://acct.blob.core.windows.net/out?") and "sp=cw" in write
    )


def test_triggers_round_trip() -> None:
    plan = full_plan()
    for trigger in (
        ContainerGroupTrigger(group_name="g", plan=plan.to_dict(), wait_for="running", log_tail=5),
        WorkerPoolTrigger(
            layout={"queue": "q", "container": "c", "output_container": "o", "prefix": "p/", "total": 2},
            workers={"w0": plan.to_dict()},
            conn_id="aci",
            blob_conn_id="blob",
            deadline=5.0,
        ),
    ):
        path, kwargs = trigger.serialize()
        json.dumps(kwargs)
        assert not any(value in json.dumps(kwargs) for value in SECRETS.values())
        assert type(trigger)(**kwargs).serialize() == (path, kwargs)
