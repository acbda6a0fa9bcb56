"""The official Microsoft Azure provider (`apache-airflow-providers-microsoft-azure`) against the local
stack, under `dag.test()`: its Batch operator and trigger on the Batch emulator, its Container Instances
operator and trigger on the ACI emulator, and its Wasb hook, sensors and delete operator on Azurite, fed
by this provider's own split and merge. Each is configured through a connection of the official type.

One seam, because no connection field of the official ACI hook can name a non-Azure endpoint (its ARM
URL comes from a fixed table of three clouds and its credential from Entra ID): the hook's client
factory is replaced by one that builds the same SDK client on the emulator's URL, token and CA. Every
other line of the official hook, operator and trigger runs unchanged.
"""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Iterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ResourceNotFoundError

from airflow_azure_compute.hooks.blob import BlobHook
from airflow_azure_compute.testing.stack import AzuriteEndpoints
from tests.integration._blob_helpers import unique

pytestmark = pytest.mark.integration

DAGS = Path(__file__).resolve().parent / "dags"


@pytest.fixture(scope="module")
def official_connections(
    azure_emulator: dict[str, Any], azurite: AzuriteEndpoints, azure_connections: dict[str, Any]
) -> Iterator[dict[str, dict[str, Any]]]:
    """Connections of the official provider's own types, as a user of that provider writes them."""
    batch, aci = azure_emulator["batch"], azure_emulator["aci"]
    conns: dict[str, dict[str, Any]] = {
        "official_batch": {
            "conn_type": "azure_batch",
            "login": batch["account_name"],
            "password": batch["account_key"],
            "extra": {"account_url": batch["url"]},
        },
        "official_wasb": {"conn_type": "wasb", "extra": {"connection_string": azurite.connection_string}},
        # Account URL and key (Shared Key), through the emulator's Storage fault proxy in front of Azurite.
        "official_wasb_key": {
            "conn_type": "wasb",
            "host": azure_emulator["storage"]["blob_url"],
            "login": azurite.account_name,
            "password": azurite.account_key,
        },
        "official_aci": {
            "conn_type": "azure_container_instance",
            "login": "00000000-0000-0000-0000-0000000000c1",
            "password": "client-secret",
            "extra": {
                "tenantId": "00000000-0000-0000-0000-0000000000e1",
                "subscriptionId": aci["subscription_id"],
            },
        },
    }
    mp = pytest.MonkeyPatch()
    for conn_id, conn in conns.items():
        mp.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    try:
        yield conns
    finally:
        mp.undo()


def load_dags(airflow_db: Path, name: str) -> Any:
    """Import a DAG file of tests/integration/dags from the DAGs folder (dag.test() parses it there)."""
    target = airflow_db / "dags" / name
    if not target.exists():
        target.symlink_to(DAGS / name)
    spec = importlib.util.spec_from_file_location(target.stem, target)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def states(run: Any) -> dict[str, str | None]:
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


def xcom(run: Any, task_id: str, key: str = "return_value") -> Any:
    ti = next(ti for ti in run.get_task_instances() if ti.task_id == task_id)
    return ti.xcom_pull(task_ids=task_id, key=key)


def wait_until_idle(hook: Any, pool_id: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        nodes = list(hook.connection.list_nodes(pool_id))
        if nodes and all(node.state == "idle" for node in nodes):
            return
        time.sleep(0.1)
    raise AssertionError(f"pool {pool_id} has no idle node after {timeout} s")


# --- Batch ---------------------------------------------------------------------------------------------


def test_batch_operator_blocking_and_deferred_with_cleanup(
    airflow_db: Path, official_connections: dict[str, Any], azurite: AzuriteEndpoints
) -> None:
    from airflow.providers.microsoft.azure.hooks.batch import AzureBatchHook
    from airflow.providers.microsoft.azure.hooks.wasb import WasbHook
    from azure.storage.blob import (
        BlobSasPermissions,
        ContainerSasPermissions,
        generate_blob_sas,
        generate_container_sas,
    )

    wasb = WasbHook("official_wasb")
    container = unique("official-batch")
    wasb.create_container(container)
    wasb.load_string("a,b\n1,2\n3,4\n", container, "in/input.csv")
    expiry = datetime.now(timezone.utc) + timedelta(hours=1)
    key = {"account_name": azurite.account_name, "account_key": azurite.account_key, "expiry": expiry}
    read = generate_blob_sas(
        container_name=container, blob_name="in/input.csv", permission=BlobSasPermissions(read=True), **key
    )
    write = generate_container_sas(
        container_name=container, permission=ContainerSasPermissions(write=True, create=True), **key
    )
    mp = pytest.MonkeyPatch()
    mp.setenv("OFFICIAL_BATCH_INPUT_URL", f"{azurite.blob_url}/{container}/in/input.csv?{read}")
    mp.setenv("OFFICIAL_BATCH_OUTPUT_URL", f"{azurite.blob_url}/{container}?{write}")
    try:
        module = load_dags(airflow_db, "official_batch_test.py")
        pool, job = unique("official-pool"), unique("official-job")
        run = module.dag.test(run_conf={"pool": pool, "job": job})
    finally:
        mp.undo()
    assert states(run) == {"blocking": "success", "deferred": "success"}
    # The deferred task read its resource file and its output file was uploaded on success.
    assert wasb.read_file(container, "counts/count.txt").strip() == "3"
    wasb.delete_container(container)

    client = AzureBatchHook("official_batch").connection
    # The blocking run keeps its job: its task completed, and its output is the command's.
    task = client.get_task(f"{job}-blocking", "hello")
    assert task.state == "completed"
    assert task.execution_info is not None and task.execution_info.exit_code == 0
    stdout = b"".join(client.download_task_file(f"{job}-blocking", "hello", "stdout.txt"))
    assert stdout.decode().strip() == "hello from the official operator"
    # Its Job Manager ran as a task of the job, and (killJobOnCompletion false) left the job active.
    manager = client.get_task(f"{job}-blocking", "manager")
    assert manager.state == "completed" and manager.execution_info.exit_code == 0
    assert client.get_job(f"{job}-blocking").state == "active"
    # The deferred run deleted its job and the pool (should_delete_job / should_delete_pool).
    with pytest.raises(ResourceNotFoundError):
        client.get_job(f"{job}-deferred")
    with pytest.raises(ResourceNotFoundError):
        client.get_pool(pool)
    client.begin_delete_job(f"{job}-blocking", polling_interval=1).result()


def test_batch_operator_reports_a_failed_task_and_still_cleans_up(
    airflow_db: Path, official_connections: dict[str, Any]
) -> None:
    from airflow.providers.microsoft.azure.hooks.batch import AzureBatchHook

    module = load_dags(airflow_db, "official_batch_test.py")
    pool, job = unique("official-pool"), unique("official-fail")
    # The pool is up before the run (the operator finds it there: one 10 s wait of its node poll less).
    hook = AzureBatchHook("official_batch")
    hook.create_pool(
        hook.configure_pool(pool_id=pool, vm_size="standard_d2s_v3", target_dedicated_nodes=1, **module.IMAGE)
    )
    wait_until_idle(hook, pool)
    run = module.failing_dag.test(run_conf={"pool": pool, "job": job})
    assert states(run) == {"failing": "failed"}
    client = hook.connection
    with pytest.raises(ResourceNotFoundError):
        client.get_job(job)
    with pytest.raises(ResourceNotFoundError):
        client.get_pool(pool)


def test_batch_hook_latest_image_idempotent_creates_and_on_kill(official_connections: dict[str, Any]) -> None:
    """The hook's other paths: the latest verified image, creates that find their resource already
    there (409 -> `ResourceExistsError`), terminating the job (the operator's `on_kill`), `test_connection`."""
    from airflow.providers.microsoft.azure.hooks.batch import AzureBatchHook
    from airflow.providers.microsoft.azure.operators.batch import AzureBatchOperator
    from azure.batch.models._models import BatchJobTerminateOptions  # not exported by azure-batch 15.1

    hook = AzureBatchHook("official_batch")
    assert hook.test_connection() == (True, "Successfully connected to Azure Batch.")
    pool_id, job_id = unique("official-pool"), unique("official-kill")
    pool = hook.configure_pool(
        pool_id=pool_id, vm_size="standard_d2s_v3", vm_node_agent_sku_id="", target_dedicated_nodes=1,
        use_latest_image_and_sku=True, vm_publisher="canonical", vm_offer="0001-com-ubuntu-server-jammy",
        sku_starts_with="22_04",
    )  # fmt: skip
    assert pool.virtual_machine_configuration.node_agent_sku_id == "batch.node.ubuntu 22.04"
    hook.create_pool(pool)
    hook.create_pool(pool)  # already there: logged, not raised
    try:
        hook.create_job(hook.configure_job(job_id=job_id, pool_id=pool_id))
        hook.create_job(hook.configure_job(job_id=job_id, pool_id=pool_id))
        task = hook.configure_task(task_id="sleeper", command_line="/bin/sh -c 'sleep 60'")
        hook.add_single_task_to_job(job_id, task)
        hook.add_single_task_to_job(job_id, task)
        assert [t.id for t in hook.connection.list_tasks(job_id)] == ["sleeper"]
        operator = AzureBatchOperator(
            task_id="kill", azure_batch_conn_id="official_batch", batch_pool_id=pool_id,
            batch_pool_vm_size="standard_d2s_v3", batch_job_id=job_id, batch_task_id="sleeper",
            batch_task_command_line="true", vm_node_agent_sku_id="batch.node.ubuntu 22.04",
        )  # fmt: skip
        # A bug of the client side, not of the emulator: with azure-batch 15.1, `begin_terminate_job(job_id)`
        # without options fails to build its request (no content type), so the operator's `on_kill`
        # raises before anything is sent. The same call with a body terminates the job.
        with pytest.raises(ValueError, match="No value for given attribute"):
            operator.on_kill()
        terminate = BatchJobTerminateOptions(termination_reason="UserTerminate")
        hook.connection.begin_terminate_job(job_id, options=terminate, polling_interval=1).result()
        job = hook.connection.get_job(job_id)
        assert job.state == "completed"
        assert job.execution_info is not None and job.execution_info.termination_reason == "UserTerminate"
    finally:
        hook.connection.begin_delete_job(job_id, polling_interval=1).result()
        hook.connection.begin_delete_pool(pool_id, polling_interval=1).result()


# --- Container Instances -------------------------------------------------------------------------------


class _EmulatorToken:
    """The token the ACI emulator issued (it accepts no other), as a credential of either SDK flavour."""

    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)


class _AsyncEmulatorToken(_EmulatorToken):
    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:  # type: ignore[override]
        return AccessToken(self.token, int(time.time()) + 3600)

    async def close(self) -> None:
        return None


@pytest.fixture
def official_aci(
    official_connections: dict[str, Any], azure_emulator: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    """Point the official ACI hooks' client factories at the emulator (see the module docstring)."""
    from airflow.providers.microsoft.azure.hooks.container_instance import (
        AzureContainerInstanceAsyncHook,
        AzureContainerInstanceHook,
    )
    from azure.mgmt.containerinstance import ContainerInstanceManagementClient
    from azure.mgmt.containerinstance.aio import (
        ContainerInstanceManagementClient as AsyncContainerInstanceManagementClient,
    )

    aci = azure_emulator["aci"]

    def get_conn(self: AzureContainerInstanceHook) -> Any:
        conn = self.get_connection(self.conn_id)
        return ContainerInstanceManagementClient(
            credential=_EmulatorToken(aci["token"]),
            subscription_id=conn.extra_dejson["subscriptionId"],
            base_url=aci["url"],
            connection_verify=aci["ca_path"],
        )

    @asynccontextmanager
    async def get_async_conn(self: AzureContainerInstanceAsyncHook) -> Any:
        conn = self.get_connection(self.conn_id)
        client = AsyncContainerInstanceManagementClient(
            credential=_AsyncEmulatorToken(aci["token"]),
            subscription_id=conn.extra_dejson["subscriptionId"],
            base_url=aci["url"],
            connection_verify=aci["ca_path"],
        )
        try:
            yield client
        finally:
            await client.close()

    mp = pytest.MonkeyPatch()
    mp.setattr(AzureContainerInstanceHook, "get_conn", get_conn)
    mp.setattr(AzureContainerInstanceAsyncHook, "get_async_conn", get_async_conn)
    try:
        yield aci
    finally:
        mp.undo()


def test_aci_operator_blocking_and_deferred(airflow_db: Path, official_aci: dict[str, Any]) -> None:
    from airflow.providers.microsoft.azure.hooks.container_instance import AzureContainerInstanceHook

    module = load_dags(airflow_db, "official_aci_test.py")
    assert module.COMMON["resource_group"] == official_aci["resource_group"]
    name = unique("official")
    run = module.dag.test(run_conf={"name": name})
    assert states(run) == {"blocking": "success", "deferred": "success"}
    assert xcom(run, "blocking", "logs") == ["hello from-aci\n", "bye\n"]
    assert xcom(run, "deferred") == 0
    hook = AzureContainerInstanceHook("official_aci")
    # remove_on_success (the default) deleted both groups (the hook does not wait for the deletion).
    for group in (f"{name}-blocking", f"{name}-deferred"):
        deadline = time.monotonic() + 30
        while hook.exists(official_aci["resource_group"], group):
            assert time.monotonic() < deadline, f"container group {group} still there"
            time.sleep(0.1)


def test_aci_operator_fails_on_a_non_zero_exit_and_keeps_the_group(
    airflow_db: Path, official_aci: dict[str, Any]
) -> None:
    from airflow.providers.microsoft.azure.hooks.container_instance import AzureContainerInstanceHook

    module = load_dags(airflow_db, "official_aci_test.py")
    name = unique("official-fail")
    group = official_aci["resource_group"]
    run = module.failing_dag.test(run_conf={"name": name})
    assert states(run) == {"failing": "failed"}
    hook = AzureContainerInstanceHook("official_aci")
    state = hook.get_state(group, name)  # remove_on_error=False kept it
    view = state.containers[0].instance_view
    assert view.current_state.state == "Terminated"
    assert view.current_state.exit_code == 4
    # As on Azure, a secure environment variable comes back by name only.
    env = {var.name: (var.value, var.secure_value) for var in state.containers[0].environment_variables}
    assert env == {"PLAIN": ("visible", None), "TOKEN": (None, None)}
    hook.delete(group, name)


# --- Blob storage (wasb) -------------------------------------------------------------------------------


def test_wasb_sensors_find_what_our_merge_wrote_and_delete_cleans_it(
    airflow_db: Path, official_connections: dict[str, Any], tmp_path: Path
) -> None:
    from airflow.providers.microsoft.azure.hooks.wasb import WasbHook

    module = load_dags(airflow_db, "official_blob_test.py")
    source = tmp_path / "in.csv"
    source.write_text("n,square\n" + "".join(f"{i},{i * i}\n" for i in range(300)))
    container = unique("official-wasb")
    run = module.dag.test(run_conf={"input": str(source), "container": container})
    assert states(run) == {
        "split": "success",
        "merge": "success",
        "blob_deferred": "success",
        "blob_poked": "success",
        "prefix_deferred": "success",
        "prefix_poked": "success",
        "delete_chunks": "success",
        "delete_missing": "success",
        "missing": "skipped",  # soft_fail: the blob never appeared, so the sensor really looked
    }
    wasb = WasbHook("official_wasb")
    assert wasb.read_file(container, "merged/out.csv") == source.read_text()
    assert not wasb.check_for_prefix(container, "chunks/")
    wasb.delete_container(container)


def test_wasb_hook_and_our_blob_hook_read_each_others_blobs(
    official_connections: dict[str, Any], blob_connection: str
) -> None:
    from airflow.providers.microsoft.azure.hooks.wasb import WasbHook

    wasb = WasbHook("official_wasb")
    container = unique("official-hooks")
    wasb.create_container(container)
    try:
        wasb.load_string("written by WasbHook", container, "in/a.txt")
        ours = BlobHook(blob_connection).container(container)
        assert ours.download_blob("in/a.txt").readall() == b"written by WasbHook"
        ours.upload_blob("out/b.txt", b"written by BlobHook")
        assert wasb.check_for_blob(container, "out/b.txt")
        assert wasb.get_blobs_list(container, prefix="out/") == ["out/b.txt"]
        assert wasb.read_file(container, "out/b.txt") == "written by BlobHook"
        assert wasb.test_connection()[0] is True
        # The account URL + key form, through the emulator's Storage proxy, sees the same account.
        keyed = WasbHook("official_wasb_key")
        assert keyed.read_file(container, "in/a.txt") == "written by WasbHook"
        keyed.delete_file(container, "out/b.txt")
        assert not wasb.check_for_blob(container, "out/b.txt")
    finally:
        wasb.delete_container(container)
