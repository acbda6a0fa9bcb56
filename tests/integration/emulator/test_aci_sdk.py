"""The ACI emulator through azure-mgmt-containerinstance's sync client, over HTTPS, against the live emulator."""

from __future__ import annotations

import functools
import hashlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import psutil
import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
from azure.mgmt.containerinstance import ContainerInstanceManagementClient
from azure.mgmt.containerinstance import models as m

from tests.integration.emulator.aci_support import admin, raw

pytestmark = pytest.mark.integration

#: The SDK models are Optional everywhere; the tests check their shapes at run time.
Client = Any

SECRET = "s3cr3t-value-never-echoed"
REGISTRY_PASSWORD = "registry-password-never-echoed"


class EmulatorCredential:
    """The bearer token the emulator issued (it refuses any other, as ARM does)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)


@pytest.fixture(scope="module")
def client(aci: dict[str, Any]) -> Iterator[ContainerInstanceManagementClient]:
    with ContainerInstanceManagementClient(
        EmulatorCredential(aci["token"]),  # type: ignore[arg-type]
        aci["subscription_id"],
        base_url=aci["url"],
        connection_verify=aci["ca_path"],
    ) as c:
        yield c


def wait_for(predicate: Callable[[], Any], timeout: float = 20, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def py(code: str) -> list[str]:
    return ["python", "-c", code]


def group(
    *commands: list[str] | None, policy: str = "Never", env: list[m.EnvironmentVariable] | None = None
) -> m.ContainerGroup:
    containers = [
        m.Container(
            name=f"c{i}",
            image="python:3.12-slim",
            command=command,
            resources=m.ResourceRequirements(requests=m.ResourceRequests(cpu=0.5, memory_in_gb=0.5)),
            environment_variables=env,
        )
        for i, command in enumerate(commands)
    ]
    return m.ContainerGroup(
        location="westeurope", os_type="Linux", restart_policy=policy, containers=containers
    )


def container_state(client: Client, rg: str, name: str, index: int = 0) -> Any:
    view = client.container_groups.get(rg, name).containers[index].instance_view
    return view


def terminated(client: Client, rg: str, name: str, index: int = 0) -> Any:
    view = container_state(client, rg, name, index)
    if view is not None and view.current_state.state == "Terminated":
        return view
    return None


def test_container_exits_zero_with_env_logs_and_no_secrets(client: Client, aci: dict[str, Any]) -> None:
    rg = aci["resource_group"]
    statuses: list[tuple[str, int, dict[str, str]]] = []
    spec = group(
        py(
            "import hashlib, os; print('plain', os.environ['PLAIN']); "
            "print(hashlib.sha256(os.environ['SECRET'].encode()).hexdigest()); "
            "import sys; print('prefix', sys.prefix); "
            "[print('line', i) for i in range(5)]"
        ),
        env=[
            m.EnvironmentVariable(name="PLAIN", value="p1"),
            m.EnvironmentVariable(name="SECRET", secure_value=SECRET),
        ],
    )
    spec.image_registry_credentials = [
        m.ImageRegistryCredential(server="example.azurecr.io", username="user", password=REGISTRY_PASSWORD)
    ]
    poller = client.container_groups.begin_create_or_update(
        rg,
        "exit-zero",
        spec,
        raw_response_hook=lambda r: statuses.append(
            (r.http_request.method, r.http_response.status_code, dict(r.http_response.headers))
        ),
    )
    created = poller.result()
    assert statuses[0][:2] == ("PUT", 201)
    put_headers = statuses[0][2]
    assert "/operations/" in put_headers["Azure-AsyncOperation"]
    assert int(put_headers["Retry-After"]) >= 1
    assert statuses[-1][0] == "GET" and "/operations/" not in statuses[-1][2].get("Azure-AsyncOperation", "")
    assert created.provisioning_state == "Succeeded"

    view = wait_for(lambda: terminated(client, rg, "exit-zero"), what="exit")
    assert view.current_state.exit_code == 0
    assert view.current_state.detail_status == "Completed"
    assert view.current_state.start_time is not None and view.current_state.finish_time is not None
    assert view.previous_state is None and view.restart_count == 0
    assert [e.name for e in view.events][:3] == ["Pulling", "Pulled", "Started"]
    got = client.container_groups.get(rg, "exit-zero")
    assert got.instance_view.state == "Succeeded"

    logs = client.containers.list_logs(rg, "exit-zero", "c0").content
    assert f"plain p1\n{hashlib.sha256(SECRET.encode()).hexdigest()}\n" in logs
    assert f"prefix {sys.prefix}\n" in logs  # `python` is the interpreter the emulator runs under
    tail = client.containers.list_logs(rg, "exit-zero", "c0", tail=2).content
    assert tail == "line 3\nline 4\n"
    stamped = client.containers.list_logs(rg, "exit-zero", "c0", tail=1, timestamps=True).content
    stamp, _, text = stamped.rstrip("\n").partition(" ")
    assert text == "line 4" and stamp.endswith("Z") and "T" in stamp

    raw_json = client.container_groups.get(rg, "exit-zero", cls=lambda resp, *_: resp.http_response.text())
    assert SECRET not in raw_json and REGISTRY_PASSWORD not in raw_json
    env = {e.name: e for e in got.containers[0].environment_variables}
    assert env["PLAIN"].value == "p1"
    assert env["SECRET"].secure_value is None and env["SECRET"].value is None
    assert got.image_registry_credentials[0].password is None
    listed = json.dumps(raw(aci, "GET", _list_url(aci), headers=_bearer(aci))[1])
    assert SECRET not in listed and REGISTRY_PASSWORD not in listed

    client.container_groups.begin_delete(rg, "exit-zero").result()
    with pytest.raises(ResourceNotFoundError) as info:
        client.container_groups.get(rg, "exit-zero")
    assert info.value.error is not None and info.value.error.code == "ResourceNotFound"


def test_exit_three_never_fails_the_group(client: Client, aci: dict[str, Any]) -> None:
    rg = aci["resource_group"]
    client.container_groups.begin_create_or_update(
        rg, "exit-three-never", group(py("raise SystemExit(3)"))
    ).result()
    view = wait_for(lambda: terminated(client, rg, "exit-three-never"), what="exit")
    assert (view.current_state.exit_code, view.current_state.detail_status) == (3, "Error")
    assert view.restart_count == 0
    assert client.container_groups.get(rg, "exit-three-never").instance_view.state == "Failed"
    client.container_groups.begin_delete(rg, "exit-three-never").result()


def test_exit_three_on_failure_restarts(client: Client, aci: dict[str, Any]) -> None:
    rg = aci["resource_group"]
    client.container_groups.begin_create_or_update(
        rg, "exit-three-onfailure", group(py("raise SystemExit(3)"), policy="OnFailure")
    ).result()

    def restarted() -> Any:
        view = container_state(client, rg, "exit-three-onfailure")
        return view if view is not None and view.restart_count >= 1 and view.previous_state else None

    view = wait_for(restarted, what="a restart")
    assert view.previous_state.state == "Terminated" and view.previous_state.exit_code == 3
    assert view.previous_state.detail_status == "Error"
    assert client.container_groups.get(rg, "exit-three-onfailure").instance_view.state == "Running"
    client.container_groups.begin_delete(rg, "exit-three-onfailure").result()


def test_on_failure_succeeds_after_a_retry(client: Client, aci: dict[str, Any]) -> None:
    """Fails once (exit 3), then exits 0: OnFailure restarts once and the group ends Succeeded."""
    rg = aci["resource_group"]
    code = "import os, sys; seen = os.path.exists('marker'); open('marker', 'w').close(); sys.exit(0 if seen else 3)"
    client.container_groups.begin_create_or_update(
        rg, "retry-once", group(py(code), policy="OnFailure")
    ).result()

    def succeeded() -> Any:
        got = client.container_groups.get(rg, "retry-once")
        return got if got.instance_view.state == "Succeeded" else None

    got = wait_for(succeeded, what="Succeeded")
    view = got.containers[0].instance_view
    assert view.restart_count == 1
    assert (view.current_state.exit_code, view.previous_state.exit_code) == (0, 3)
    client.container_groups.begin_delete(rg, "retry-once").result()


def test_always_restarts_after_exit_zero_and_stays_running(client: Client, aci: dict[str, Any]) -> None:
    rg = aci["resource_group"]
    client.container_groups.begin_create_or_update(
        rg, "always", group(py("print('tick')"), policy="Always")
    ).result()
    view = wait_for(
        lambda: (v := container_state(client, rg, "always")) is not None and v.restart_count >= 1 and v,
        what="a restart",
    )
    assert view.previous_state.exit_code == 0
    assert client.container_groups.get(rg, "always").instance_view.state == "Running"
    client.container_groups.begin_delete(rg, "always").result()


def test_several_containers_and_no_command(client: Client, aci: dict[str, Any]) -> None:
    rg = aci["resource_group"]
    client.container_groups.begin_create_or_update(
        rg, "multi", group(py("print('zero')"), py("raise SystemExit(4)"), None, ["no-such-command-xyz"])
    ).result()
    views = [wait_for(functools.partial(terminated, client, rg, "multi", i), what=f"c{i}") for i in range(4)]
    assert [v.current_state.exit_code for v in views] == [0, 4, 127, 127]
    failed = [e for e in views[2].events if e.name == "Failed"]
    assert failed and "not runnable locally" in failed[0].message and failed[0].type == "Warning"
    assert any("no-such-command-xyz" in e.message for e in views[3].events if e.name == "Failed")
    assert client.containers.list_logs(rg, "multi", "c0").content == "zero\n"
    assert client.container_groups.get(rg, "multi").instance_view.state == "Failed"
    with pytest.raises(ResourceNotFoundError):
        client.containers.list_logs(rg, "multi", "nope")
    client.container_groups.begin_delete(rg, "multi").result()


SLEEPER = py("import os, time; print(os.getpid(), flush=True); time.sleep(120)")


def running_pid(client: Client, rg: str, name: str, old: int | None = None) -> int:
    def pid() -> int | None:
        view = container_state(client, rg, name)
        if view is None or view.current_state.state != "Running":
            return None
        content = client.containers.list_logs(rg, name, "c0").content.strip()
        return int(content) if content and int(content) != old else None

    return int(wait_for(pid, what="a running container"))


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_delete_while_running_kills_the_process(client: Client, aci: dict[str, Any]) -> None:
    rg = aci["resource_group"]
    client.container_groups.begin_create_or_update(rg, "doomed", group(SLEEPER)).result()
    pid = running_pid(client, rg, "doomed")
    assert psutil.pid_exists(pid)
    client.container_groups.begin_delete(rg, "doomed").result()
    wait_for(lambda: gone(pid), what="the process to go")
    with pytest.raises(ResourceNotFoundError):
        client.container_groups.get(rg, "doomed")
    # deleting what is not there is not an error (204)
    client.container_groups.begin_delete(rg, "doomed").result()


def test_stop_start_restart_patch_and_update(client: Client, aci: dict[str, Any]) -> None:
    rg = aci["resource_group"]
    ops = client.container_groups
    statuses: list[int] = []
    ops.begin_create_or_update(rg, "lifecycle", group(SLEEPER)).result()
    first = running_pid(client, rg, "lifecycle")

    ops.stop(rg, "lifecycle")
    wait_for(lambda: gone(first), what="stop to kill")
    stopped = ops.get(rg, "lifecycle")
    assert stopped.instance_view.state == "Stopped"

    ops.begin_start(
        rg, "lifecycle", raw_response_hook=lambda r: statuses.append(r.http_response.status_code)
    ).result()
    assert statuses[0] == 202
    second = running_pid(client, rg, "lifecycle", old=first)
    statuses.clear()
    ops.begin_start(
        rg, "lifecycle", raw_response_hook=lambda r: statuses.append(r.http_response.status_code)
    ).result()
    assert statuses == [204]

    ops.begin_restart(rg, "lifecycle").result()
    third = running_pid(client, rg, "lifecycle", old=second)
    wait_for(lambda: gone(second), what="restart to kill the old process")

    patched = ops.update(rg, "lifecycle", m.Resource(tags={"airflow_dag_id": "d1"}))
    assert patched.tags == {"airflow_dag_id": "d1"}
    assert ops.get(rg, "lifecycle").tags == {"airflow_dag_id": "d1"}

    # PUT again with only new tags: 200, same process
    statuses.clear()
    spec = group(SLEEPER)
    spec.tags = {"k": "v"}
    updated = ops.begin_create_or_update(
        rg, "lifecycle", spec, raw_response_hook=lambda r: statuses.append(r.http_response.status_code)
    ).result()
    assert statuses[0] == 200 and updated.tags == {"k": "v"}
    assert psutil.pid_exists(third) and not gone(third)
    # PUT with another command redeploys
    ops.begin_create_or_update(rg, "lifecycle", group([*SLEEPER, "extra-arg"])).result()
    running_pid(client, rg, "lifecycle", old=third)
    wait_for(lambda: gone(third), what="the update to replace the process")
    ops.begin_delete(rg, "lifecycle").result()


def test_list_in_resource_group_and_subscription_pages(client: Client, aci: dict[str, Any]) -> None:
    rg = aci["resource_group"]
    names = [f"page-{i}" for i in range(5)]
    pollers = [client.container_groups.begin_create_or_update(rg, n, group(py("pass"))) for n in names]
    for poller in pollers:
        poller.result()
    admin(aci, "PUT", "/aci/settings", {"page_size": 2})
    try:
        pages = [list(page) for page in client.container_groups.list_by_resource_group(rg).by_page()]
        assert [len(p) for p in pages][:2] == [2, 2] and len(pages) >= 3
        in_rg = [g.name for p in pages for g in p]
        assert sorted(n for n in in_rg if n.startswith("page-")) == names
        in_sub = [g.name for g in client.container_groups.list()]
        assert set(names) <= set(in_sub)
    finally:
        admin(aci, "PUT", "/aci/settings", {"page_size": 100})
    for poller in [client.container_groups.begin_delete(rg, n) for n in names]:
        poller.result()
    assert not [g for g in client.container_groups.list_by_resource_group(rg) if g.name in names]


def _bearer(aci: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {aci['token']}"}


def _list_url(aci: dict[str, Any]) -> str:
    return (
        f"{aci['url']}/subscriptions/{aci['subscription_id']}/resourceGroups/{aci['resource_group']}"
        "/providers/Microsoft.ContainerInstance/containerGroups?api-version=2023-05-01"
    )


def test_auth_errors_and_bad_requests(client: Client, aci: dict[str, Any]) -> None:
    status, body, _ = raw(aci, "GET", _list_url(aci))
    assert status == 401 and body["error"]["code"] == "AuthenticationFailed"
    status, body, _ = raw(aci, "GET", _list_url(aci).split("?")[0], headers=_bearer(aci))
    assert status == 400 and body["error"]["code"] == "MissingApiVersionParameter"
    admin(aci, "PUT", "/aci/settings", {"auth_fault": 401})
    try:
        with pytest.raises(ClientAuthenticationError):
            client.container_groups.get(aci["resource_group"], "whatever")
    finally:
        admin(aci, "PUT", "/aci/settings", {"auth_fault": None})
    admin(aci, "PUT", "/aci/settings", {"auth_fault": 403})
    try:
        with pytest.raises(HttpResponseError) as forbidden:
            client.container_groups.get(aci["resource_group"], "whatever")
    finally:
        admin(aci, "PUT", "/aci/settings", {"auth_fault": None})
    assert forbidden.value.status_code == 403
    with pytest.raises(HttpResponseError) as info:
        client.container_groups.begin_create_or_update(aci["resource_group"], "Bad_Name", group(py("pass")))
    error: Any = info.value.error
    assert info.value.status_code == 400 and error.code == "InvalidContainerGroupName"


def test_provisioning_goes_pending_then_succeeded_with_lro_headers(
    client: Client, aci: dict[str, Any]
) -> None:
    rg = aci["resource_group"]
    headers: list[dict[str, str]] = []
    initial = client.container_groups.begin_create_or_update(
        rg,
        "slow-start",
        group(py("print('hi')")),
        polling=False,
        raw_response_hook=lambda r: headers.append(dict(r.http_response.headers)),
    ).result()
    assert initial.provisioning_state == "Pending"
    assert initial.instance_view.state == "Pending"
    assert initial.containers[0].instance_view is None  # omitted until the container starts
    status, body, poll_headers = raw(aci, "GET", headers[0]["Azure-AsyncOperation"], headers=_bearer(aci))
    assert status == 200 and body["status"] in ("InProgress", "Succeeded")
    if body["status"] == "InProgress":
        assert int(poll_headers["Retry-After"]) >= 1
    seen = set()

    def succeeded() -> bool:
        state = client.container_groups.get(rg, "slow-start").provisioning_state
        seen.add(state)
        return bool(state == "Succeeded")

    wait_for(succeeded, what="Succeeded")
    assert seen <= {"Pending", "Creating", "Succeeded"}
    status, body, _ = raw(aci, "GET", headers[0]["Azure-AsyncOperation"], headers=_bearer(aci))
    assert body["status"] == "Succeeded" and "endTime" in body
    client.container_groups.begin_delete(rg, "slow-start").result()


def test_injected_throttling_is_a_cloud_error(aci: dict[str, Any]) -> None:
    admin(aci, "PUT", "/faults", {"error_rate": 1.0, "seed": 7})
    try:
        status, body, headers = raw(aci, "GET", _list_url(aci), headers=_bearer(aci))
    finally:
        admin(aci, "PUT", "/faults", {"error_rate": 0.0})
    assert status in (429, 503) and body["error"]["code"] in ("TooManyRequests", "ServerBusy")
    assert headers["Retry-After"] == "1"


def test_stop_kills_a_process_that_ignores_sigterm(client: Client, aci: dict[str, Any]) -> None:
    rg = aci["resource_group"]
    stubborn = py(
        "import os, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print(os.getpid(), flush=True); time.sleep(120)"
    )
    admin(aci, "PUT", "/aci/settings", {"stop_grace_s": 0.3})
    try:
        client.container_groups.begin_create_or_update(rg, "stubborn", group(stubborn)).result()
        pid = running_pid(client, rg, "stubborn")
        client.container_groups.stop(rg, "stubborn")
        assert gone(pid)
        view = container_state(client, rg, "stubborn")
        assert (view.current_state.state, view.current_state.exit_code) == ("Terminated", 137)
        assert "Killing" in [e.name for e in view.events]
        assert client.container_groups.get(rg, "stubborn").instance_view.state == "Stopped"
    finally:
        admin(aci, "PUT", "/aci/settings", {"stop_grace_s": 3.0})
        client.container_groups.begin_delete(rg, "stubborn").result()


def test_admin_reset_kills_processes_and_forgets_groups(client: Client, aci: dict[str, Any]) -> None:
    rg = aci["resource_group"]
    client.container_groups.begin_create_or_update(rg, "reset-me", group(SLEEPER)).result()
    pid = running_pid(client, rg, "reset-me")
    listed = admin(aci, "GET", "/aci/groups")
    assert any(g["id"].endswith("/reset-me") and g["processes"] == {"c0": pid} for g in listed)
    admin(aci, "POST", "/reset")
    wait_for(lambda: gone(pid), what="reset to kill the process")
    with pytest.raises(ResourceNotFoundError):
        client.container_groups.get(rg, "reset-me")
    with pytest.raises(ResourceNotFoundError):
        client.container_groups.update(rg, "reset-me", m.Resource(tags={"a": "b"}))
