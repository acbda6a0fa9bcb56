"""Batch emulator, no silent acceptance: pool mounts (blob containers synced with Azurite, file shares
and NFS exports shared by every node), the job manager task, exit conditions, node fill type and upload
headers have their effect, and what the emulator cannot emulate is refused with 400 ``FeatureNotEmulated``."""

# The SDK types most model fields Optional; these tests dereference them on purpose.
# mypy: disable-error-code="union-attr,index,operator"
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from tests.integration.emulator.batch_support import (
    batch_client,
    cleanup,
    job_options,
    pool_options,
    run_one_task,
    uid,
    wait_for,
    wait_tasks_completed,
)

pytestmark = pytest.mark.integration

SH = "/bin/sh -c"


def _sas(azurite: Any, container: str) -> str:
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    return generate_container_sas(
        azurite.account_name,
        container,
        account_key=azurite.account_key,
        permission=ContainerSasPermissions(read=True, write=True, create=True, delete=True, list=True),
        expiry=datetime.now(timezone.utc) + timedelta(hours=1),
    )


def _task(task_id: str, script: str, **extra: Any) -> Any:
    from azure.batch import models

    return models.BatchTaskCreateOptions(id=task_id, command_line=f"{SH} '{script}'", **extra)


@pytest.fixture
def blobs(azurite: Any) -> Any:
    from azure.storage.blob import BlobServiceClient

    return BlobServiceClient.from_connection_string(azurite.connection_string)


@pytest.fixture
def client(emulator: dict[str, Any]) -> Any:
    return batch_client(emulator)


@pytest.fixture
def made(client: Any) -> Iterator[dict[str, list[str]]]:
    """Pools and jobs a test creates, deleted afterwards."""
    created: dict[str, list[str]] = {"jobs": [], "pools": []}
    yield created
    for job_id in created["jobs"]:
        cleanup(client, job_id=job_id)
    for pool_id in created["pools"]:
        cleanup(client, pool_id=pool_id)


def _pool(client: Any, made: dict[str, list[str]], mounts: list[dict[str, Any]], nodes: int = 1) -> str:
    from azure.batch import models

    pool_id = uid("mnt")
    options = pool_options(pool_id, dedicated=nodes)
    body = {**options.as_dict(), "mountConfiguration": mounts}
    client.create_pool(models.BatchPoolCreateOptions(body))
    made["pools"].append(pool_id)
    return pool_id


def _blob_mount(azurite: Any, container: str, path: str, credential: str) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "accountName": azurite.account_name,
        "containerName": container,
        "relativeMountPath": path,
    }
    if credential == "sasKey":
        cfg["sasKey"] = _sas(azurite, container)
    else:
        cfg["accountKey"] = azurite.account_key
    return {"azureBlobFileSystemConfiguration": cfg}


def _run(client: Any, made: dict[str, list[str]], pool_id: str, task: Any) -> Any:
    job_id, done = run_one_task(client, pool_id, task)
    made["jobs"].append(job_id)
    return done


def _stdout(client: Any, job_id: str, task_id: str) -> str:
    return b"".join(client.download_task_file(job_id, task_id, "stdout.txt")).decode()


@pytest.mark.parametrize("credential", ["sasKey", "accountKey"])
def test_blob_mount_reads_input_blobs_and_writes_blobs_back(
    client: Any, made: dict[str, list[str]], azurite: Any, blobs: Any, credential: str
) -> None:
    container = uid("mount")
    blobs.create_container(container)
    blobs.get_blob_client(container, "in/data.txt").upload_blob(b"input from blob\n")
    blobs.get_blob_client(container, "gone.txt").upload_blob(b"deleted by the task\n")
    pool_id = _pool(client, made, [_blob_mount(azurite, container, "data", credential)], nodes=2)

    script = (
        "cat $AZ_BATCH_NODE_MOUNTS_DIR/data/in/data.txt && mkdir -p $AZ_BATCH_NODE_MOUNTS_DIR/data/out && "
        "echo written by $AZ_BATCH_TASK_ID > $AZ_BATCH_NODE_MOUNTS_DIR/data/out/result.txt && "
        "rm $AZ_BATCH_NODE_MOUNTS_DIR/data/gone.txt"
    )
    writer = _run(client, made, pool_id, _task("writer", script))
    assert writer.execution_info.result == "success", writer.execution_info.failure_info
    assert _stdout(client, made["jobs"][-1], "writer") == "input from blob\n"
    written = blobs.get_blob_client(container, "out/result.txt").download_blob().readall()
    assert written == b"written by writer\n"
    names = sorted(b.name for b in blobs.get_container_client(container).list_blobs())
    assert names == ["in/data.txt", "out/result.txt"]  # the task's delete reached the container

    # a blob written by a client after the mount was first synced shows up for the next task
    blobs.get_blob_client(container, "in/later.txt").upload_blob(b"uploaded later\n")
    reader = _run(
        client,
        made,
        pool_id,
        _task(
            "reader",
            "cat $AZ_BATCH_NODE_MOUNTS_DIR/data/out/result.txt $AZ_BATCH_NODE_MOUNTS_DIR/data/in/later.txt",
        ),
    )
    assert reader.execution_info.result == "success", reader.execution_info.failure_info
    assert _stdout(client, made["jobs"][-1], "reader") == "written by writer\nuploaded later\n"


def test_blob_mount_with_a_read_only_sas_fails_a_task_that_writes(
    client: Any, made: dict[str, list[str]], azurite: Any, blobs: Any
) -> None:
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    container = uid("ro")
    blobs.create_container(container)
    sas = generate_container_sas(
        azurite.account_name,
        container,
        account_key=azurite.account_key,
        permission=ContainerSasPermissions(read=True, list=True),
        expiry=datetime.now(timezone.utc) + timedelta(hours=1),
    )
    mount = {
        "azureBlobFileSystemConfiguration": {
            "accountName": azurite.account_name,
            "containerName": container,
            "relativeMountPath": "ro",
            "sasKey": sas,
        }
    }
    pool_id = _pool(client, made, [mount])
    done = _run(client, made, pool_id, _task("w", "echo x > $AZ_BATCH_NODE_MOUNTS_DIR/ro/new.txt"))
    assert done.execution_info.result == "failure"
    assert done.execution_info.failure_info.code == "MountFailed"
    assert sas not in str(done.execution_info.failure_info.message)
    assert list(blobs.get_container_client(container).list_blobs()) == []


def test_file_share_and_nfs_mounts_are_shared_between_tasks_nodes_and_pools(
    client: Any, made: dict[str, list[str]]
) -> None:
    share_url = f"https://acct.file.core.windows.net/{uid('share')}"
    export = f"10.0.0.4:/{uid('export')}"
    mounts = [
        {
            "azureFileShareConfiguration": {
                "accountName": "acct",
                "azureFileUrl": share_url,
                "accountKey": "a2V5",
                "relativeMountPath": "share",
            }
        },
        {"nfsMountConfiguration": {"source": export, "relativeMountPath": "nfs"}},
    ]
    first, second = _pool(client, made, mounts, nodes=2), _pool(client, made, mounts[::-1])
    write = "echo from-share > $AZ_BATCH_NODE_MOUNTS_DIR/share/f.txt && echo from-nfs > $AZ_BATCH_NODE_MOUNTS_DIR/nfs/g.txt"
    writer = _run(client, made, first, _task("writer", write))
    assert writer.execution_info.result == "success", writer.execution_info.failure_info
    reader = _run(
        client,
        made,
        second,
        _task("reader", "cat $AZ_BATCH_NODE_MOUNTS_DIR/share/f.txt $AZ_BATCH_NODE_MOUNTS_DIR/nfs/g.txt"),
    )
    assert reader.execution_info.result == "success", reader.execution_info.failure_info
    assert _stdout(client, made["jobs"][-1], "reader") == "from-share\nfrom-nfs\n"
    assert reader.node_info.pool_id == second and writer.node_info.pool_id == first

    # two tasks running at the same time on the two nodes of the first pool see each other's files
    job_id = uid("job")
    client.create_job(job_options(job_id, first))
    made["jobs"].append(job_id)
    marker = "$AZ_BATCH_NODE_MOUNTS_DIR/share/$AZ_BATCH_TASK_ID"
    other = "$AZ_BATCH_NODE_MOUNTS_DIR/share/$PEER"
    script = f"touch {marker}; i=0; while [ ! -e {other} ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; test -e {other}"
    from azure.batch import models

    for name, peer in (("a", "b"), ("b", "a")):
        env = [models.EnvironmentSetting(name="PEER", value=peer)]
        client.create_task(job_id, _task(name, script, environment_settings=env))
    wait_tasks_completed(client, job_id, 2)
    tasks = {t.id: t for t in client.list_tasks(job_id)}
    assert {t.execution_info.result for t in tasks.values()} == {"success"}
    assert tasks["a"].node_info.node_id != tasks["b"].node_info.node_id


def test_mounts_dir_is_where_azure_puts_it(client: Any, made: dict[str, list[str]]) -> None:
    """``AZ_BATCH_NODE_MOUNTS_DIR`` is ``fsmounts`` under the node root, as on Azure's Linux nodes."""
    mounts = [{"nfsMountConfiguration": {"source": f"nfs:/{uid('x')}", "relativeMountPath": "n"}}]
    pool_id = _pool(client, made, mounts)
    done = _run(
        client,
        made,
        pool_id,
        _task("t", "echo $AZ_BATCH_NODE_MOUNTS_DIR; test -d $AZ_BATCH_NODE_MOUNTS_DIR/n"),
    )
    assert done.execution_info.result == "success"
    mounts_dir = _stdout(client, made["jobs"][-1], "t").strip()
    node_root_dir = mounts_dir.rsplit("/", 1)
    assert node_root_dir[1] == "fsmounts"


# ---------------------------------------------------------------------------------------- job manager
def test_job_manager_task_runs_first_and_ends_the_job(client: Any, made: dict[str, list[str]]) -> None:
    from azure.batch import models

    pool_id = _pool(client, made, [])
    job_id = uid("job")
    manager = models.BatchJobManagerTask(
        id="manager", command_line=f"{SH} 'echo managing $AZ_BATCH_JOB_ID'", run_exclusive=False
    )
    client.create_job(job_options(job_id, pool_id, job_manager_task=manager))
    made["jobs"].append(job_id)
    job = wait_for(lambda: (j := client.get_job(job_id)).state == "completed" and j, what="the job to end")
    assert job.execution_info.termination_reason == "JMComplete"
    task = client.get_task(job_id, "manager")
    assert task.execution_info.result == "success"
    assert _stdout(client, job_id, "manager") == f"managing {job_id}\n"


def test_job_manager_without_kill_on_completion_leaves_the_job_running(
    client: Any, made: dict[str, list[str]]
) -> None:
    from azure.batch import models

    pool_id = _pool(client, made, [])
    job_id = uid("job")
    manager = models.BatchJobManagerTask(id="jm", command_line="/bin/true", kill_job_on_completion=False)
    client.create_job(job_options(job_id, pool_id, job_manager_task=manager))
    made["jobs"].append(job_id)
    client.create_task(job_id, _task("worker", "echo work"))
    wait_tasks_completed(client, job_id, 2)
    assert client.get_job(job_id).state == "active"
    assert sorted(t.id for t in client.list_tasks(job_id)) == ["jm", "worker"]


@pytest.mark.parametrize(("rerun", "runs"), [(False, 1), (None, 2)])
def test_preparation_task_rerun_after_reboot_follows_its_setting(
    client: Any, made: dict[str, list[str]], rerun: bool | None, runs: int
) -> None:
    from azure.batch import models

    pool_id = _pool(client, made, [])
    node = wait_for(
        lambda: next((n for n in client.list_nodes(pool_id) if n.state == "idle"), None), what="an idle node"
    )
    job_id = uid("job")
    prep = models.BatchJobPreparationTask(
        command_line=f"{SH} 'echo ran >> $AZ_BATCH_NODE_SHARED_DIR/{job_id}'",
        rerun_on_node_reboot_after_success=rerun,
    )
    client.create_job(job_options(job_id, pool_id, job_preparation_task=prep))
    made["jobs"].append(job_id)
    client.create_task(job_id, _task("before", "true"))
    wait_tasks_completed(client, job_id, 1)
    from azure.batch.models._models import BatchNodeRebootOptions

    client.begin_reboot_node(
        pool_id, node.id, BatchNodeRebootOptions(node_reboot_kind="requeue"), polling_interval=0
    ).result()
    wait_for(lambda: client.get_node(pool_id, node.id).state == "idle", what="the node back after a reboot")
    client.create_task(job_id, _task("after", f"cat $AZ_BATCH_NODE_SHARED_DIR/{job_id}"))
    wait_tasks_completed(client, job_id, 2)
    assert _stdout(client, job_id, "after") == "ran\n" * runs


def test_pre_processing_error_exit_options_apply(client: Any, made: dict[str, list[str]]) -> None:
    """``exitConditions.preProcessingError`` decides what a task that never started does to its job."""
    from azure.batch import models

    pool_id = _pool(client, made, [])
    missing = models.ResourceFile(http_url="http://127.0.0.1:9/nothing/here.txt", file_path="here.txt")
    conditions = models.ExitConditions(
        pre_processing_error=models.ExitOptions(job_action="none"),
        default=models.ExitOptions(job_action="terminate"),
    )
    task = _task("t", "true", resource_files=[missing], exit_conditions=conditions)
    job_id = uid("job")
    client.create_job(job_options(job_id, pool_id, task_failure_mode="performexitoptionsjobaction"))
    made["jobs"].append(job_id)
    client.create_task(job_id, task)
    wait_tasks_completed(client, job_id, 1, timeout=60)
    assert client.get_task(job_id, "t").execution_info.result == "failure"
    assert client.get_job(job_id).state == "active"


def test_pack_fills_one_node_before_the_next(client: Any, made: dict[str, list[str]]) -> None:
    from azure.batch import models

    pool_id = uid("pack")
    body = {
        **pool_options(pool_id, dedicated=2, slots=3).as_dict(),
        "taskSchedulingPolicy": {"nodeFillType": "pack"},
    }
    client.create_pool(models.BatchPoolCreateOptions(body))
    made["pools"].append(pool_id)
    wait_for(lambda: sum(n.state == "idle" for n in client.list_nodes(pool_id)) == 2, what="two idle nodes")
    job_id = uid("job")
    client.create_job(job_options(job_id, pool_id))
    made["jobs"].append(job_id)
    client.create_tasks(job_id, [_task(f"t{i}", "sleep 0.5") for i in range(3)])
    wait_tasks_completed(client, job_id, 3)
    assert len({t.node_info.node_id for t in client.list_tasks(job_id)}) == 1  # Spread would use both


def test_output_file_upload_headers_are_sent(
    client: Any, made: dict[str, list[str]], azurite: Any, blobs: Any
) -> None:
    from azure.batch import models

    container = uid("hdr")
    blobs.create_container(container)
    url = f"{azurite.blob_url}/{container}?{_sas(azurite, container)}"
    output = models.OutputFile(
        file_pattern="report.csv",
        destination=models.OutputFileDestination(
            container=models.OutputFileBlobContainerDestination(
                container_url=url,
                upload_headers=[models.OutputFileUploadHeader(name="Content-Type", value="text/csv")],
            )
        ),
        upload_options=models.OutputFileUploadConfiguration(upload_condition="tasksuccess"),
    )
    pool_id = _pool(client, made, [])
    done = _run(client, made, pool_id, _task("t", "echo a,b > report.csv", output_files=[output]))
    assert done.execution_info.result == "success", done.execution_info.failure_info
    props = blobs.get_blob_client(container, "report.csv").get_blob_properties()
    assert props.content_settings.content_type == "text/csv"


# ---------------------------------------------------------------------------------------- refusals
IMAGE_ID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/i"
POOL_REFUSALS = [
    ({"applicationPackageReferences": [{"applicationId": "app"}]}, "applicationPackageReferences"),
    (
        {"certificateReferences": [{"thumbprint": "ab", "thumbprintAlgorithm": "sha1"}]},
        "certificateReferences",
    ),
    (
        {"virtualMachineConfiguration": {"extensions": [{"name": "e", "publisher": "p", "type": "t"}]}},
        "virtualMachineConfiguration.extensions",
    ),
    (
        {"virtualMachineConfiguration": {"dataDisks": [{"lun": 0, "diskSizeGB": 8}]}},
        "virtualMachineConfiguration.dataDisks",
    ),
    (
        {
            "virtualMachineConfiguration": {
                "containerConfiguration": {
                    "type": "dockerCompatible",
                    "containerRegistries": [
                        {"registryServer": "r.io", "identityReference": {"resourceId": "id"}}
                    ],
                }
            }
        },
        "virtualMachineConfiguration.containerConfiguration.containerRegistries[0].identityReference",
    ),
    (
        {
            "mountConfiguration": [
                {
                    "azureBlobFileSystemConfiguration": {
                        "accountName": "a",
                        "containerName": "c",
                        "relativeMountPath": "b",
                        "identityReference": {"resourceId": "id"},
                    }
                }
            ]
        },
        "mountConfiguration[0].azureBlobFileSystemConfiguration.identityReference",
    ),
    (
        {"startTask": {"commandLine": "true", "applicationPackageReferences": [{"applicationId": "a"}]}},
        "startTask.applicationPackageReferences",
    ),
]
TASK_REFUSALS = [
    ({"applicationPackageReferences": [{"applicationId": "app"}]}, "applicationPackageReferences"),
    (
        {"resourceFiles": [{"storageContainerUrl": "http://x/c", "identityReference": {"resourceId": "id"}}]},
        "resourceFiles[0].identityReference",
    ),
    (
        {
            "outputFiles": [
                {
                    "filePattern": "*.txt",
                    "destination": {
                        "container": {"containerUrl": "http://x/c", "identityReference": {"resourceId": "i"}}
                    },
                    "uploadOptions": {"uploadCondition": "tasksuccess"},
                }
            ]
        },
        "outputFiles[0].destination.container.identityReference",
    ),
    (
        {"containerSettings": {"imageName": "i", "registry": {"identityReference": {"resourceId": "id"}}}},
        "containerSettings.registry.identityReference",
    ),
]


def _refusal(info: pytest.ExceptionInfo[HttpResponseError]) -> tuple[dict[str, str], str]:
    """The Batch error body of a refusal: its ``values`` by key, and its message."""
    assert info.value.status_code == 400
    body = info.value.response.json()
    assert body["code"] == "FeatureNotEmulated", body
    # the Batch error format, as recorded Azure traffic shows it
    assert body["odata.metadata"].endswith(
        "$metadata#Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element"
    )
    assert body["message"]["lang"] == "en-US"
    return {v["key"]: v["value"] for v in body["values"]}, body["message"]["value"]


def _assert_refused(info: pytest.ExceptionInfo[HttpResponseError], prop: str) -> None:
    values, message = _refusal(info)
    assert values["PropertyName"] == prop
    assert "does not emulate" in message


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = (
            _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        )
    return out


@pytest.mark.parametrize(("extra", "prop"), POOL_REFUSALS)
def test_pool_features_not_emulated_are_refused(client: Any, extra: dict[str, Any], prop: str) -> None:
    from azure.batch import models

    pool_id = uid("refused")
    body = _merge(pool_options(pool_id, dedicated=0).as_dict(), extra)
    with pytest.raises(HttpResponseError) as info:
        client.create_pool(models.BatchPoolCreateOptions(body))
    _assert_refused(info, prop)
    with pytest.raises(ResourceNotFoundError):  # nothing half-created
        client.get_pool(pool_id)
    auto = {
        "autoPoolSpecification": {
            "poolLifetimeOption": "job",
            "pool": {k: v for k, v in body.items() if k != "id"},
        }
    }
    with pytest.raises(HttpResponseError) as info:
        client.create_job(models.BatchJobCreateOptions({"id": uid("job"), "poolInfo": auto}))
    _assert_refused(info, "poolInfo.autoPoolSpecification.pool." + prop)


@pytest.mark.parametrize(("extra", "prop"), TASK_REFUSALS)
def test_task_features_not_emulated_are_refused(
    client: Any, made: dict[str, list[str]], extra: dict[str, Any], prop: str
) -> None:
    from azure.batch import models

    pool_id = _pool(client, made, [], nodes=0)
    job_id = uid("job")
    client.create_job(job_options(job_id, pool_id))
    made["jobs"].append(job_id)
    with pytest.raises(HttpResponseError) as info:
        client.create_task(job_id, models.BatchTaskCreateOptions({"id": "t", "commandLine": "true", **extra}))
    _assert_refused(info, prop)
    with pytest.raises(Exception, match="FeatureNotEmulated") as collection:  # the SDK's CreateTasksError
        client.create_tasks(
            job_id, [models.BatchTaskCreateOptions({"id": "c", "commandLine": "true", **extra})]
        )
    assert prop in str(collection.value)
    manager = {"id": "jm", "commandLine": "true", **extra}
    with pytest.raises(HttpResponseError) as info:
        client.create_job(
            models.BatchJobCreateOptions(
                {"id": uid("job"), "poolInfo": {"poolId": pool_id}, "jobManagerTask": manager}
            )
        )
    _assert_refused(info, "jobManagerTask." + prop)
    assert not any(t.id in ("t", "c") for t in client.list_tasks(job_id))


def test_pool_update_refuses_application_packages_and_changes_empty_pools_only(
    client: Any, made: dict[str, list[str]]
) -> None:
    from azure.batch import models

    pool_id = _pool(client, made, [], nodes=0)
    packages = [models.BatchApplicationPackageReference(application_id="app")]
    with pytest.raises(HttpResponseError) as info:
        client.update_pool(pool_id, models.BatchPoolUpdateOptions(application_package_references=packages))
    _assert_refused(info, "applicationPackageReferences")
    # no longer silently dropped: the new slot count is what GET shows
    client.update_pool(pool_id, models.BatchPoolUpdateOptions(task_slots_per_node=3))
    assert client.get_pool(pool_id).task_slots_per_node == 3
    busy = _pool(client, made, [], nodes=1)
    wait_for(lambda: client.get_pool(busy).current_dedicated_nodes == 1, what="a node")
    with pytest.raises(HttpResponseError) as info:
        client.update_pool(busy, models.BatchPoolUpdateOptions(task_slots_per_node=3))
    assert info.value.status_code == 409


def test_operations_not_emulated_are_refused(client: Any, made: dict[str, list[str]]) -> None:
    from azure.batch import models

    schedule = models.BatchJobScheduleCreateOptions(
        id=uid("sched"),
        schedule=models.BatchJobScheduleConfiguration(recurrence_interval=timedelta(hours=1)),
        job_specification=models.BatchJobSpecification(pool_info=models.BatchPoolInfo(pool_id="p")),
    )
    with pytest.raises(HttpResponseError) as info:
        client.create_job_schedule(schedule)
    assert "job schedules" in _refusal(info)[1]
    pool_id = _pool(client, made, [], nodes=1)
    node = wait_for(lambda: next(iter(client.list_nodes(pool_id)), None), what="a node")
    with pytest.raises(HttpResponseError) as info:
        client.create_node_user(pool_id, node.id, models.BatchNodeUserCreateOptions(name="u", password="p"))
    assert "node user accounts" in _refusal(info)[1]


def test_blob_mount_refused_when_the_emulator_has_no_blob_endpoint() -> None:
    """An emulator started without ``--batch-blob-endpoint`` or ``--storage-upstream`` cannot back a
    blob mount: the pool is refused, naming the mount, instead of being created with nothing mounted."""
    from azure.batch import models

    from airflow_azure_compute.testing.stack import run_emulator

    with run_emulator(env={"EMULATOR_STORAGE_UPSTREAM": "", "EMULATOR_BATCH_BLOB_ENDPOINT": ""}) as endpoints:
        client = batch_client(endpoints)
        mount = {"accountName": "a", "containerName": "c", "relativeMountPath": "b", "sasKey": "sv=x"}
        body = {
            **pool_options(uid("nob"), dedicated=0).as_dict(),
            "mountConfiguration": [{"azureBlobFileSystemConfiguration": mount}],
        }
        with pytest.raises(HttpResponseError) as info:
            client.create_pool(models.BatchPoolCreateOptions(body))
        _assert_refused(info, "mountConfiguration[0].azureBlobFileSystemConfiguration")
        assert "--batch-blob-endpoint" in _refusal(info)[1]
        nfs = {"nfsMountConfiguration": {"source": "h:/e", "relativeMountPath": "n"}}
        client.create_pool(models.BatchPoolCreateOptions({**body, "mountConfiguration": [nfs]}))


def test_blob_mount_through_the_batch_blob_endpoint_option(azurite: Any, blobs: Any) -> None:
    """``--batch-blob-endpoint`` alone (no storage proxy), as the local stack scripts start it."""
    from airflow_azure_compute.testing.stack import run_emulator

    container = uid("flag")
    blobs.create_container(container)
    blobs.get_blob_client(container, "x.txt").upload_blob(b"via the option\n")
    env = {"EMULATOR_STORAGE_UPSTREAM": "", "EMULATOR_BATCH_BLOB_ENDPOINT": ""}
    with run_emulator(env=env, batch_blob_endpoint=azurite.blob_endpoint_template) as endpoints:
        client = batch_client(endpoints)
        made: dict[str, list[str]] = {"jobs": [], "pools": []}
        pool_id = _pool(client, made, [_blob_mount(azurite, container, "m", "sasKey")])
        done = _run(client, made, pool_id, _task("t", "cat $AZ_BATCH_NODE_MOUNTS_DIR/m/x.txt"))
        assert done.execution_info.result == "success", done.execution_info.failure_info
        assert _stdout(client, made["jobs"][0], "t") == "via the option\n"
