"""Microsoft's azure-batch 15.x samples, unchanged, against the Batch emulator (and Azurite).

The modules in ``tests/integration/batch_samples/`` are verbatim copies of
``sdk/batch/azure-batch/samples/`` of Azure/azure-sdk-for-python (the README there names the
commits). They are snippet modules of the Azure Batch articles: functions that take a
`BatchClient` (or build one from the account name, key and URL of a config) and the article's own
helpers. Each test calls them as the article does, with the emulator's endpoint and shared key,
and checks what the article says happens.
"""

from __future__ import annotations

import datetime
import importlib.util
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from airflow_azure_compute.testing.stack import AzuriteEndpoints

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

SAMPLES = Path(__file__).resolve().parent / "batch_samples"
UBUNTU = {"publisher": "canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts"}


def sample(name: str) -> ModuleType:
    """Import a sample module by path (it is not part of the test package)."""
    spec = importlib.util.spec_from_file_location(f"_batch_sample_{name}", SAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def config(emulator: dict[str, Any]) -> SimpleNamespace:
    """The quickstart's `config` module, pointed at the emulator (account name, shared key, URL)."""
    batch = emulator["batch"]
    return SimpleNamespace(
        BATCH_ACCOUNT_NAME=batch["account_name"],
        BATCH_ACCOUNT_KEY=batch["account_key"],
        BATCH_ACCOUNT_URL=batch["url"],
        POOL_VM_SIZE="Standard_DS1_v2",
        POOL_NODE_COUNT=2,
        STANDARD_OUT_FILE_NAME="stdout.txt",
    )


@pytest.fixture
def client(config: SimpleNamespace) -> Iterator[Any]:
    """A `BatchClient` made by the quickstart's own `make_batch_client(config)`."""
    batch_client = sample("quick_run_python").make_batch_client(config)
    yield batch_client
    batch_client.close()


def wait_for(condition: Any, what: str, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return value


def delete(client: Any, *, job_id: str | None = None, pool_id: str | None = None) -> None:
    if job_id:
        client.begin_delete_job(job_id, polling_interval=0.05).result()
    if pool_id:
        client.begin_delete_pool(pool_id, polling_interval=0.05).result()


def test_quick_run_python(
    client: Any,
    config: SimpleNamespace,
    azurite: AzuriteEndpoints,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The Batch Python quickstart: a pool of two Ubuntu nodes, a job, one task per input file that
    `cat`s it, then each task's stdout.txt printed."""
    from azure.batch import models
    from azure.storage.blob import BlobSasPermissions, BlobServiceClient, generate_blob_sas

    quick_run = sample("quick_run_python")
    blob_service_client = BlobServiceClient.from_connection_string(azurite.connection_string)
    input_container_name = uid("input")
    blob_service_client.create_container(input_container_name)

    def upload_file_to_container(service: Any, container_name: str, file_path: str) -> Any:
        # The quickstart's helper: upload, then a read SAS URL as the task's resource file.
        blob_name = Path(file_path).name
        with open(file_path, "rb") as data:
            service.get_blob_client(container_name, blob_name).upload_blob(data, overwrite=True)
        sas_token = generate_blob_sas(
            service.account_name,
            container_name,
            blob_name,
            account_key=azurite.account_key,
            permission=BlobSasPermissions(read=True),
            expiry=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=2),
        )
        url = f"{service.url.rstrip('/')}/{container_name}/{blob_name}?{sas_token}"
        return models.ResourceFile(http_url=url, file_path=blob_name)

    def _read_stream_as_string(stream: Iterator[bytes], encoding: str | None) -> str:
        return b"".join(stream).decode(encoding or "utf-8")

    # The quickstart reads taskdata0..2.txt next to the script (sys.path[0]).
    lines = {f"taskdata{i}.txt": f"line {i} of the quickstart input\n" for i in range(3)}
    for name, text in lines.items():
        (tmp_path / name).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert sys.path[0] == str(tmp_path)

    pool_id, job_id = uid("PythonQuickstartPool"), uid("PythonQuickstartJob")
    try:
        quick_run.create_pool(client, pool_id, config)
        quick_run.create_job(client, job_id, pool_id)
        input_files = quick_run.upload_inputs(
            blob_service_client, input_container_name, upload_file_to_container
        )
        quick_run.add_tasks(client, job_id, input_files)

        def all_completed() -> bool:
            tasks = list(client.list_tasks(job_id))
            return len(tasks) == 3 and all(t.state == models.BatchTaskState.COMPLETED for t in tasks)

        wait_for(all_completed, "the quickstart's tasks")
        capsys.readouterr()
        quick_run.view_task_output(client, job_id, config, _read_stream_as_string, "utf-8")
        printed = capsys.readouterr().out
        for index, text in enumerate(lines.values()):
            assert f"Task: Task{index}\n" in printed
            assert text in printed
        nodes = {node.id for node in client.list_nodes(pool_id)}
        assert len(nodes) == 2
        assert printed.count("Node: ") == 3
        assert all(
            line.removeprefix("Node: ") in nodes for line in printed.splitlines() if line.startswith("Node: ")
        )
    finally:
        delete(client, job_id=job_id, pool_id=pool_id)
        blob_service_client.delete_container(input_container_name)


def test_automatic_scaling(client: Any) -> None:
    """The autoscale article: a pool with no nodes, then a formula of 20 dedicated nodes in working
    hours on weekdays and 10 otherwise, evaluated every 10 minutes."""
    scaling = sample("batch_automatic_scaling")
    pool_id = uid("autoscale")
    try:
        scaling.autoscale_create_and_enable(client, pool_id)
        pool = client.get_pool(pool_id)
        assert pool.enable_auto_scale is True
        assert pool.auto_scale_formula.endswith("$TargetDedicated = $isWorkingWeekdayHour ? 20:10;")
        assert pool.auto_scale_evaluation_interval == datetime.timedelta(minutes=10)
        run = wait_for(lambda: client.get_pool(pool_id).auto_scale_run, "the first autoscale evaluation")
        assert run.error is None, run.error
        values = dict(item.split("=", 1) for item in run.results.split(";") if item)
        now = run.timestamp
        working = 8 <= now.hour < 18 and 1 <= now.isoweekday() % 7 <= 5
        assert values["$TargetDedicatedNodes"] == ("20" if working else "10")
        # Applied once the pool's allocation is steady (the emulator evaluates every second).
        target = int(values["$TargetDedicatedNodes"])
        wait_for(lambda: client.get_pool(pool_id).target_dedicated_nodes == target, "the formula's target")
    finally:
        delete(client, pool_id=pool_id)


def image(client: Any) -> Any:
    """An image reference of the account's supported images (as the articles look one up)."""
    return next(
        i for i in client.list_supported_images() if i.image_reference.offer == UBUNTU["offer"]
    ).image_reference


def test_user_accounts(client: Any) -> None:
    """The user-accounts article: a pool with an admin and a non-admin named user, and a task that
    runs as an admin auto-user of task scope."""
    from azure.batch import models

    users = sample("batch_user_accounts")
    pool_id, job_id = uid("users"), uid("users-job")
    pool = users.make_named_user_pool(pool_id, image(client), "batch.node.ubuntu 22.04", "standard_d2s_v3", 1)
    try:
        client.create_pool(pool=pool)
        created = client.get_pool(pool_id)
        assert [(u.name, u.elevation_level) for u in created.user_accounts] == [
            ("pool-admin", models.ElevationLevel.ADMIN),
            ("pool-nonadmin", models.ElevationLevel.NON_ADMIN),
        ]
        assert all(u.password is None for u in created.user_accounts)  # never returned
        client.create_job(
            models.BatchJobCreateOptions(id=job_id, pool_info=models.BatchPoolInfo(pool_id=pool_id))
        )
        users.add_admin_autouser_task(client, job_id)
        auto_user = client.get_task(job_id, "task_1").user_identity.auto_user
        assert (auto_user.scope, auto_user.elevation_level) == (
            models.AutoUserScope.TASK,
            models.ElevationLevel.ADMIN,
        )
    finally:
        delete(client, job_id=job_id, pool_id=pool_id)


@pytest.mark.parametrize("rules", ["AzureBatchAllow", "AzureBatchDeny"])
def test_pool_endpoint_configuration(client: Any, rules: str) -> None:
    """The pool endpoint article: an SSH inbound NAT pool with network security group rules."""
    from azure.batch import models

    pool_id = uid("endpoints")
    pool = models.BatchPoolCreateOptions(
        id=pool_id,
        vm_size="standard_d2s_v3",
        virtual_machine_configuration=models.VirtualMachineConfiguration(
            image_reference=image(client), node_agent_sku_id="batch.node.ubuntu 22.04"
        ),
        target_dedicated_nodes=0,
    )
    getattr(sample("pool_endpoint_configuration"), rules)().set_ports_pool(pool)
    try:
        client.create_pool(pool=pool)
        nat = client.get_pool(pool_id).network_configuration.endpoint_configuration.inbound_nat_pools[0]
        sent = pool.network_configuration.endpoint_configuration.inbound_nat_pools[0]
        assert (nat.name, nat.protocol, nat.backend_port) == ("SSH", models.InboundEndpointProtocol.TCP, 22)
        assert (nat.frontend_port_range_start, nat.frontend_port_range_end) == (4000, 4100)
        assert [
            (r.priority, r.access, r.source_address_prefix) for r in nat.network_security_group_rules
        ] == [(r.priority, r.access, r.source_address_prefix) for r in sent.network_security_group_rules]
    finally:
        delete(client, pool_id=pool_id)


def test_ephemeral_os_disk(client: Any) -> None:
    """The ephemeral OS disk article: the OS disk on the VM's cache disk."""
    from azure.batch import models

    disk = sample("create_pool_ephemeral_os_disk")
    pool_id = uid("ephemeral")
    vm_configuration = disk.make_vm_configuration(image(client), "batch.node.ubuntu 22.04")
    try:
        client.create_pool(
            pool=models.BatchPoolCreateOptions(
                id=pool_id,
                vm_size="standard_d2s_v3",
                virtual_machine_configuration=vm_configuration,
                target_dedicated_nodes=1,
            )
        )
        os_disk = client.get_pool(pool_id).virtual_machine_configuration.os_disk
        assert os_disk.ephemeral_os_disk_settings.placement == models.DiffDiskPlacement.CACHE_DISK
        wait_for(
            lambda: [n.state for n in client.list_nodes(pool_id)] == [models.BatchNodeState.IDLE],
            "an idle node",
        )
    finally:
        delete(client, pool_id=pool_id)


@pytest.mark.parametrize("make_pool", ["make_pool_no_prefetch", "make_pool_dockerhub_prefetch"])
def test_docker_container_pools(client: Any, make_pool: str) -> None:
    """The container workloads article: pools with a Docker-compatible container configuration."""
    from azure.batch import models

    pool_id = uid("containers")
    pool = getattr(sample("batch_docker_container_workloads"), make_pool)(pool_id)
    try:
        client.create_pool(pool=pool)
        created = client.get_pool(pool_id).virtual_machine_configuration
        assert created.container_configuration.type == models.ContainerType.DOCKER_COMPATIBLE
        assert created.container_configuration.container_image_names == (
            pool.virtual_machine_configuration.container_configuration.container_image_names
        )
        assert created.image_reference.offer == "ubuntu-hpc"
    finally:
        delete(client, pool_id=pool_id)


def test_docker_registry_with_a_managed_identity_is_refused(client: Any) -> None:
    """The ACR prefetch pool logs in to its registry with a managed identity, which the emulator does
    not emulate: it is refused with a 400 naming the property, and no pool is created."""
    from azure.core.exceptions import HttpResponseError

    pool = sample("batch_docker_container_workloads").make_pool_acr_prefetch()
    with pytest.raises(HttpResponseError) as refused:
        client.create_pool(pool=pool)
    assert refused.value.status_code == 400
    assert "identityReference" in str(refused.value)
    assert pool.id not in {p.id for p in client.list_pools()}
