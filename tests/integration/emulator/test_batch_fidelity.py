"""The Batch emulator answers as Azure does: stop-resize, autoscale runs, auto pools, file deletes,
image ids, secrets, list order and the headers clients read (real azure-batch client)."""

# mypy: disable-error-code="union-attr,index"
from __future__ import annotations

from typing import Any

import pytest

from tests.integration.emulator.batch_support import (
    batch_client,
    cleanup,
    job_options,
    pool_options,
    uid,
    wait_for,
    wait_tasks_completed,
)

pytestmark = pytest.mark.integration


def test_stop_resize_keeps_targets_and_reports_resize_stopped(
    emulator: dict[str, Any],
) -> None:
    from azure.core.rest import HttpRequest

    client = batch_client(emulator)
    pool_id = uid("stop")
    client.create_pool(pool_options(pool_id, dedicated=0))
    wait_for(lambda: client.get_pool(pool_id).allocation_state == "steady", what="steady")
    base = f"{emulator['batch']['url'].rstrip('/')}/pools/{pool_id}"
    for action, body in (("resize", {"targetDedicatedNodes": 3}), ("stopresize", None)):
        request = HttpRequest("POST", f"{base}/{action}?api-version=2025-06-01", json=body)
        assert client.send_request(request).status_code == 202
    pool = wait_for(
        lambda: (p := client.get_pool(pool_id)).allocation_state == "steady" and p,
        what="steady after stop",
    )
    assert pool.target_dedicated_nodes == 3 and pool.current_dedicated_nodes == 0
    assert [e.code for e in pool.resize_errors] == ["ResizeStopped"]
    cleanup(client, pool_id=pool_id)


def test_disabling_autoscale_drops_the_last_run(emulator: dict[str, Any]) -> None:
    from azure.batch import models

    client = batch_client(emulator)
    pool_id = uid("scale")
    client.create_pool(pool_options(pool_id, dedicated=0))
    wait_for(lambda: client.get_pool(pool_id).allocation_state == "steady", what="steady")
    client.enable_pool_auto_scale(
        pool_id, models.BatchPoolEnableAutoScaleOptions(auto_scale_formula="$TargetDedicatedNodes = 0;")
    )
    wait_for(lambda: client.get_pool(pool_id).auto_scale_run is not None, what="an autoscale run")
    client.disable_pool_auto_scale(pool_id)
    pool = client.get_pool(pool_id)
    assert pool.enable_auto_scale is False and pool.auto_scale_run is None
    cleanup(client, pool_id=pool_id)


def test_pool_defaults_casing_and_no_passwords(emulator: dict[str, Any]) -> None:
    from azure.batch import models

    client = batch_client(emulator)
    pool_id = uid("defaults")
    client.create_pool(
        pool_options(
            pool_id,
            dedicated=0,
            start_task=models.BatchStartTask(command_line="/bin/true"),
            task_scheduling_policy=models.BatchTaskSchedulingPolicy(node_fill_type="pack"),
            user_accounts=[
                models.UserAccount(
                    name="operator",
                    password="not-to-be-echoed",
                    linux_user_configuration=models.LinuxUserConfiguration(ssh_private_key="PRIVATE"),
                )
            ],
        )
    )
    raw = client.get_pool(pool_id).as_dict()
    assert raw["taskSchedulingPolicy"] == {"nodeFillType": "Pack", "jobDefaultOrder": "none"}
    assert raw["enableInterNodeCommunication"] is False
    assert raw["startTask"]["userIdentity"] == {"autoUser": {"scope": "pool", "elevationLevel": "nonadmin"}}
    assert raw["startTask"]["waitForSuccess"] is True and raw["startTask"]["maxTaskRetryCount"] == 0
    account = raw["userAccounts"][0]
    assert "password" not in account and "sshPrivateKey" not in account["linuxUserConfiguration"]
    cleanup(client, pool_id=pool_id)


@pytest.mark.parametrize(
    ("image_id", "accepted"),
    [
        ("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/i", True),
        (
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/i/versions/1.0.0",
            True,
        ),
        ("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/images/managed", True),
        ("my-image", False),
        ("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/x", False),
    ],
)
def test_virtual_machine_image_id_is_validated(
    emulator: dict[str, Any], image_id: str, accepted: bool
) -> None:
    from azure.batch import models
    from azure.core.exceptions import HttpResponseError

    client = batch_client(emulator)
    pool_id = uid("image")
    options = models.BatchPoolCreateOptions(
        id=pool_id,
        vm_size="standard_d2s_v3",
        virtual_machine_configuration=models.VirtualMachineConfiguration(
            image_reference=models.BatchVmImageReference(virtual_machine_image_id=image_id),
            node_agent_sku_id="batch.node.ubuntu 22.04",
        ),
    )
    if accepted:
        client.create_pool(options)
        cleanup(client, pool_id=pool_id)
        return
    with pytest.raises(HttpResponseError) as caught:
        client.create_pool(options)
    assert caught.value.status_code == 400 and caught.value.error.code == "InvalidPropertyValue"
    assert "virtualMachineImageId" in str(caught.value)


def test_auto_pool_runs_the_job_and_goes_with_it(emulator: dict[str, Any]) -> None:
    from azure.batch import models

    client = batch_client(emulator)
    job_id = uid("auto")
    spec = pool_options("unused", dedicated=1).as_dict()
    spec.pop("id")
    client.create_job(
        models.BatchJobCreateOptions(
            id=job_id,
            pool_info=models.BatchPoolInfo(
                auto_pool_specification=models.BatchAutoPoolSpecification(
                    auto_pool_id_prefix="auto",
                    pool_lifetime_option="job",
                    pool=models.BatchPoolSpecification(spec),
                )
            ),
            all_tasks_complete_mode="terminatejob",
        )
    )
    pool_id = client.get_job(job_id).execution_info.pool_id
    assert pool_id.startswith("auto_") and client.get_pool(pool_id).vm_size == "standard_d2s_v3"
    client.create_task(job_id, models.BatchTaskCreateOptions(id="t", command_line="/bin/true"))
    wait_tasks_completed(client, job_id, 1)
    assert client.get_task(job_id, "t").execution_info.result == "success"
    wait_for(lambda: client.get_job(job_id).state == "completed", what="the job to complete")
    wait_for(lambda: not any(p.id == pool_id for p in client.list_pools()), what="the auto pool to go")
    cleanup(client, job_id=job_id)


def test_task_files_can_be_deleted(emulator: dict[str, Any]) -> None:
    from azure.batch import models
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

    client = batch_client(emulator)
    pool_id, job_id = uid("files"), uid("job")
    client.create_pool(pool_options(pool_id, dedicated=1))
    client.create_job(job_options(job_id, pool_id))
    command = "/bin/sh -c 'mkdir -p out && echo x > out/a.txt && echo y > b.txt'"
    client.create_task(job_id, models.BatchTaskCreateOptions(id="t", command_line=command))
    wait_tasks_completed(client, job_id, 1)
    client.delete_task_file(job_id, "t", "wd/b.txt")
    with pytest.raises(ResourceNotFoundError):
        client.get_task_file_properties(job_id, "t", "wd/b.txt")
    with pytest.raises(HttpResponseError) as caught:
        client.delete_task_file(job_id, "t", "wd/out")
    assert caught.value.status_code == 409
    client.delete_task_file(job_id, "t", "wd/out", recursive=True)
    names = {f.name for f in client.list_task_files(job_id, "t", recursive=True)}
    assert "wd/out/a.txt" not in names and "stdout.txt" in names
    entry = next(f for f in client.list_task_files(job_id, "t") if f.name == "stdout.txt")
    assert entry.properties.content_length == 0
    cleanup(client, job_id=job_id, pool_id=pool_id)


def test_lists_are_ordered_by_id_and_carry_odata_metadata(emulator: dict[str, Any]) -> None:
    from azure.batch import models
    from azure.core.rest import HttpRequest

    client = batch_client(emulator)
    pool_id, job_id = uid("order"), uid("job")
    client.create_pool(pool_options(pool_id, dedicated=0))
    client.create_job(job_options(job_id, pool_id))
    ids = ["b", "A", "c10", "c2"]
    for task_id in ids:
        client.create_task(job_id, models.BatchTaskCreateOptions(id=task_id, command_line="/bin/true"))
    assert [t.id for t in client.list_tasks(job_id)] == sorted(ids, key=str.lower)
    url = emulator["batch"]["url"].rstrip("/")
    response = client.send_request(
        HttpRequest(
            "GET",
            f"{url}/jobs/{job_id}?api-version=2025-06-01",
            headers={"client-request-id": "abc", "return-client-request-id": "true"},
        )
    )
    body = response.json()
    assert body["odata.metadata"] == f"{url}/$metadata#jobs/@Element"
    assert response.headers["request-id"] and response.headers["client-request-id"] == "abc"
    cleanup(client, job_id=job_id, pool_id=pool_id)
