"""Init containers on the ACI emulator, through azure-mgmt-containerinstance: they run one after the
other, to completion, before the containers start; a failing one is run again (or, under the Never
policy, fails the group without starting the containers)."""

from __future__ import annotations

import sys
import uuid
from typing import Any

import pytest
from azure.mgmt.containerinstance import models as m

from tests.integration.emulator.batch_support import wait_for

pytestmark = pytest.mark.integration
Client = Any  # the SDK models are Optional everywhere; the tests check their shapes at run time


@pytest.fixture(scope="module")
def client(aci_sdk: Any) -> Any:
    return aci_sdk


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def _init(name: str, code: str) -> Any:
    return m.InitContainerDefinition(
        name=name,
        image="busybox",
        command=_python(code),
        volume_mounts=[m.VolumeMount(name="work", mount_path="/mnt/work")],
    )


def _group(init: list[Any], main_code: str, policy: str) -> Any:
    main = m.Container(
        name="main",
        image="busybox",
        command=_python(main_code),
        resources=m.ResourceRequirements(requests=m.ResourceRequests(cpu=1.0, memory_in_gb=1.0)),
        volume_mounts=[m.VolumeMount(name="work", mount_path="/mnt/work")],
    )
    return m.ContainerGroup(
        location="westeurope",
        containers=[main],
        init_containers=init,
        volumes=[m.Volume(name="work", empty_dir={})],
        os_type="Linux",
        restart_policy=policy,
    )


def _finished(client: Client, rg: str, name: str) -> Any:
    def done() -> Any:
        group = client.container_groups.get(rg, name)
        return group if group.instance_view.state in ("Succeeded", "Failed") else None

    return wait_for(done, timeout=30, what=f"group {name} to finish")


APPEND = "open('/mnt/work/steps.txt', 'a').write('{step}')"


def test_init_containers_run_in_order_before_the_containers(client: Client, aci: dict[str, Any]) -> None:
    rg, name = aci["resource_group"], f"init-{uuid.uuid4().hex[:8]}"
    init = [
        _init("first", APPEND.format(step="a") + "; print('first done', flush=True)"),
        _init("second", APPEND.format(step="b")),
    ]
    main = "print('main saw', open('/mnt/work/steps.txt').read(), flush=True)"
    client.container_groups.begin_create_or_update(rg, name, _group(init, main, "Never")).result()
    try:
        group = _finished(client, rg, name)
        assert group.instance_view.state == "Succeeded"
        for init_container in group.init_containers:
            state = init_container.instance_view.current_state
            assert state.state == "Terminated" and state.exit_code == 0
        assert group.init_containers[0].instance_view.current_state.finish_time <= (
            group.init_containers[1].instance_view.current_state.start_time
        )
        assert "main saw ab" in client.containers.list_logs(rg, name, "main").content
        assert "first done" in client.containers.list_logs(rg, name, "first").content
    finally:
        client.container_groups.begin_delete(rg, name).result()


def test_a_failing_init_container_fails_a_never_group_without_starting_it(
    client: Client, aci: dict[str, Any]
) -> None:
    rg, name = aci["resource_group"], f"init-fail-{uuid.uuid4().hex[:8]}"
    init = [_init("setup", "raise SystemExit(3)")]
    client.container_groups.begin_create_or_update(rg, name, _group(init, "print('ran')", "Never")).result()
    try:
        group = _finished(client, rg, name)
        assert group.instance_view.state == "Failed"
        assert group.init_containers[0].instance_view.current_state.exit_code == 3
        assert group.containers[0].instance_view is None  # never started
    finally:
        client.container_groups.begin_delete(rg, name).result()


def test_a_failing_init_container_is_run_again_until_it_succeeds(client: Client, aci: dict[str, Any]) -> None:
    rg, name = aci["resource_group"], f"init-retry-{uuid.uuid4().hex[:8]}"
    flaky = (
        "import os; p = '/mnt/work/tried'\n"
        "if not os.path.exists(p):\n    open(p, 'w').close(); raise SystemExit(1)\n"
    )
    init = [_init("flaky", flaky)]
    client.container_groups.begin_create_or_update(
        rg, name, _group(init, "print('ran')", "OnFailure")
    ).result()
    try:
        group = _finished(client, rg, name)
        assert group.instance_view.state == "Succeeded"
        view = group.init_containers[0].instance_view
        assert view.restart_count == 1 and view.previous_state.exit_code == 1
        assert view.current_state.exit_code == 0
        assert "ran" in client.containers.list_logs(rg, name, "main").content
    finally:
        client.container_groups.begin_delete(rg, name).result()
