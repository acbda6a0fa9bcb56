"""Container Instances operator and trigger against the ACI emulator (HTTPS ARM, real SDK, real processes)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
import time
from typing import Any

import pytest
import structlog

from airflow_azure_compute.exceptions import (
    AzureComputeConfigError,
    AzureComputeRemoteError,
    DeadlineExceededError,
    RemoteWorkFailedError,
)
from airflow_azure_compute.hooks.aci_groups import evaluate_group
from airflow_azure_compute.hooks.container_instances import ContainerInstancesHook
from airflow_azure_compute.operators.container_instances import (
    ContainerInstancesDeleteGroupsOperator,
    ContainerInstancesExecOperator,
    ContainerInstancesRunGroupOperator,
)
from tests.integration.ops_support import FakeTI, context_for, execute, expect_deferred, first_event, rebuild

pytestmark = pytest.mark.integration

SECRET = "s3cr3t-value-for-aci"


def py(code: str) -> list[str]:
    """A container command running Python code (the emulator runs commands as local processes)."""
    return [sys.executable, "-u", "-c", code]


def python_group(task_id: str, code: str, **kwargs: Any) -> ContainerInstancesRunGroupOperator:
    """A one-container group on ``python:3.11`` that runs ``code``, polled every 0.1 s."""
    kwargs.setdefault("poll_interval", 0.1)
    return ContainerInstancesRunGroupOperator(
        task_id=task_id, image="python:3.11", command=py(code), **kwargs
    )


TICKER = "import time\nfor i in range({n}):\n    print('tick', i)\n    time.sleep({pause})\nraise SystemExit({code})"


@pytest.fixture(scope="module")
def aci(module_connections: pytest.MonkeyPatch) -> ContainerInstancesHook:
    secrets = {"conn_type": "generic", "password": SECRET, "extra": {"api_token": "tok-123"}}
    module_connections.setenv("AIRFLOW_CONN_ACI_SECRETS", json.dumps(secrets))
    return ContainerInstancesHook()


def run_op(op: ContainerInstancesRunGroupOperator, ti: FakeTI) -> tuple[Any, list[str]]:
    with structlog.testing.capture_logs() as logs:
        result = execute(op, context_for(ti))
    return result, [str(entry.get("event")) for entry in logs]


async def wait_for_group(aci: ContainerInstancesHook, name: str, timeout: float = 30) -> dict[str, Any]:
    """Poll (off the loop) until the group exists."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        group = await asyncio.to_thread(aci.get_group, name)
        if group is not None:
            return group
        await asyncio.sleep(0.05)
    raise AssertionError(f"container group {name} never appeared")


def test_full_lifecycle_trigger_creates_streams_logs_and_fires_once(aci: ContainerInstancesHook) -> None:
    ti = FakeTI(task_id="ticker", run_id="aci-lifecycle")
    op = ContainerInstancesRunGroupOperator(
        task_id="ticker",
        containers=[
            {"name": "a", "image": "python:3.11", "command": py(TICKER.format(n=6, pause=0.15, code=0))},
            {"name": "b", "image": "python:3.11", "command": py("print('from b')")},
        ],
        poll_interval=0.1,
        logging_interval=0.3,
        tags={"team": "ops"},
    )
    deferred = expect_deferred(lambda: op.execute(context_for(ti)))
    name = deferred.kwargs["group_name"]  # type: ignore[index]
    assert name.startswith("cg-ops-dag-") and len(name) <= 63 and name == name.lower()
    assert aci.get_group(name) is None  # nothing exists before the triggerer owns the task

    async def in_triggerer() -> tuple[dict[str, Any], dict[str, Any]]:
        task = asyncio.ensure_future(first_event(rebuild(deferred.trigger)))
        group = await wait_for_group(aci, name)
        return group, await task

    with structlog.testing.capture_logs() as trigger_logs:
        group, event = asyncio.run(in_triggerer())
    assert group["tags"]["airflow_run_id"] == "aci-lifecycle" and group["tags"]["team"] == "ops"
    assert event["status"] == "succeeded"
    ticks = [str(e["event"]) for e in trigger_logs if "tick" in str(e.get("event"))]
    assert ticks == [f"[a] tick {i}" for i in range(6)]  # each line once, in order, by the trigger
    with structlog.testing.capture_logs() as worker_logs:
        result = op.resume_execution("execute_complete", {**deferred.kwargs, "event": event}, context_for(ti))  # type: ignore[dict-item]
    assert result == {"group_name": name, "exit_codes": {"a": 0, "b": 0}}
    assert not [e for e in worker_logs if "tick" in str(e.get("event"))]  # never printed twice
    assert aci.get_group(name) is None  # delete_on_success
    assert ti.xcom["azure_aci_container_group"]["group_name"] == name


def test_failure_keeps_group_with_logs_fetched_first(aci: ContainerInstancesHook) -> None:
    ti = FakeTI(task_id="failing", run_id="aci-fail")
    op = python_group("failing", "print('about to fail'); raise SystemExit(3)")
    with pytest.raises(RemoteWorkFailedError) as err, structlog.testing.capture_logs() as logs:
        execute(op, context_for(ti))
    assert "'main': 3" in str(err.value)
    assert any("about to fail" in str(e.get("event")) for e in logs)
    name = ti.xcom["azure_aci_container_group"]["group_name"]
    assert aci.get_group(name) is not None  # delete_on_success keeps a failed group for inspection
    ContainerInstancesDeleteGroupsOperator(task_id="rm", created_by_this_run=True).execute(context_for(ti))
    assert aci.get_group(name) is None


def test_delete_policy_deletes_failed_group_non_deferrable(aci: ContainerInstancesHook) -> None:
    ti = FakeTI(task_id="sync", run_id="aci-sync")
    op = python_group("sync", "raise SystemExit(2)", cleanup="delete", deferrable=False)
    with pytest.raises(RemoteWorkFailedError):
        op.execute(context_for(ti))
    assert aci.get_group(ti.xcom["azure_aci_container_group"]["group_name"]) is None


def test_secure_environment_from_connection_never_logged(aci: ContainerInstancesHook) -> None:
    ti = FakeTI(task_id="secure", run_id="aci-secure")
    digest = hashlib.sha256(SECRET.encode()).hexdigest()  # the command must not carry the secret itself
    check = (
        "import hashlib, os\n"
        f"assert hashlib.sha256(os.environ['APP_SECRET'].encode()).hexdigest() == {digest!r}\n"
        "assert os.environ['API_TOKEN'] == 'tok-123'\n"
        "print('secrets ok, plain =', os.environ['PLAIN'])"
    )
    op = python_group(
        "secure",
        check,
        environment={"PLAIN": "visible"},
        secure_environment={"APP_SECRET": "password", "API_TOKEN": "api_token"},
        secure_env_conn_id="aci_secrets",
        cleanup="keep",
    )
    result, printed = run_op(op, ti)
    assert result["exit_codes"] == {"main": 0}
    assert any("secrets ok, plain = visible" in line for line in printed)
    assert not any(SECRET in line for line in printed)
    group = aci.get_group(result["group_name"])
    assert SECRET not in json.dumps(group)  # ARM never echoes secure values
    aci.delete_group(result["group_name"])


def test_retry_reattaches_to_running_group(aci: ContainerInstancesHook) -> None:
    def try_once() -> Any:
        op = python_group("long", TICKER.format(n=40, pause=0.1, code=0))
        return expect_deferred(lambda: op.execute(context_for(FakeTI(task_id="long", run_id="aci-retry"))))

    first = try_once()
    name = first.kwargs["group_name"]  # type: ignore[index]

    async def trigger_then_worker_dies() -> None:  # the trigger created the group; the task is retried
        task = asyncio.ensure_future(first_event(rebuild(first.trigger)))
        await wait_for_group(aci, name)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(trigger_then_worker_dies())
    started = _start_time(aci, name)
    second = try_once()
    assert second.kwargs["group_name"] == name  # type: ignore[index]
    assert second.trigger.serialize()[1]["plan"] is None  # reattached: nothing to create
    assert _start_time(aci, name) == started  # same containers, not a twin
    aci.delete_group(name)


def _start_time(aci: ContainerInstancesHook, name: str) -> Any:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        group = aci.get_group(name) or {}
        view = (
            group.get("properties", {}).get("containers", [{}])[0].get("properties", {}).get("instanceView")
        )
        if view and view.get("currentState", {}).get("startTime"):
            return view["currentState"]["startTime"]
        time.sleep(0.05)
    raise AssertionError("container never started")


def _killable(task_id: str, run_id: str, **kwargs: Any) -> tuple[Any, str]:
    op = python_group(task_id, TICKER.format(n=300, pause=0.05, code=0), **kwargs)
    deferred = expect_deferred(lambda: op.execute(context_for(FakeTI(task_id=task_id, run_id=run_id))))
    return deferred, deferred.kwargs["group_name"]  # type: ignore[index]


def _assert_gone_for_good(aci: ContainerInstancesHook, name: str, watch_s: float = 3.0) -> None:
    """The group is absent now and stays absent (a late create would show up within the watch)."""
    deadline = time.monotonic() + watch_s
    while time.monotonic() < deadline:
        assert aci.get_group(name) is None
        time.sleep(0.2)


def test_kill_before_the_triggerer_picks_the_task_up_leaves_nothing(aci: ContainerInstancesHook) -> None:
    """Killed at the instant of deferral: the trigger never runs, and nothing was ever created."""
    _, name = _killable("kill-at-defer", "aci-kill-0")
    _assert_gone_for_good(aci, name)


@pytest.mark.parametrize(
    "when",
    ["creating", "running", "printing-logs"],
)
def test_kill_while_deferred_deletes_group(aci: ContainerInstancesHook, when: str) -> None:
    deferred, name = _killable(f"kill-{when}", f"aci-kill-{when}", logging_interval=0.2)
    trigger = rebuild(deferred.trigger)

    async def kill() -> None:
        with structlog.testing.capture_logs() as logs:
            task = asyncio.ensure_future(first_event(trigger))
            if when == "creating":
                await asyncio.sleep(0)  # the create request is on its way (or about to be)
            else:
                await wait_for_group(aci, name)
            if when == "printing-logs":
                while not any("tick" in str(e.get("event")) for e in logs):
                    await asyncio.sleep(0.02)
            assert not task.done()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await trigger.on_kill()

    asyncio.run(kill())
    _assert_gone_for_good(aci, name)


def test_triggerer_restart_mid_wait_resumes(aci: ContainerInstancesHook) -> None:
    ti = FakeTI(task_id="restart", run_id="aci-restart")
    op = python_group("restart", TICKER.format(n=8, pause=0.1, code=0), logging_interval=None)
    deferred = expect_deferred(lambda: op.execute(context_for(ti)))
    name = deferred.kwargs["group_name"]  # type: ignore[index]

    async def interrupted() -> None:
        trigger = rebuild(deferred.trigger)
        task = asyncio.ensure_future(first_event(trigger))
        await asyncio.sleep(0.2)
        task.cancel()  # triggerer restart: cancel + cleanup, no on_kill
        with pytest.raises(asyncio.CancelledError):
            await task
        await trigger.cleanup()

    asyncio.run(interrupted())
    assert aci.get_group(name) is not None
    event = asyncio.run(first_event(rebuild(deferred.trigger)))
    assert event["status"] == "succeeded"
    result = op.resume_execution("execute_complete", {**deferred.kwargs, "event": event}, context_for(ti))  # type: ignore[dict-item]
    assert result["exit_codes"] == {"main": 0}


def test_deadline_stops_and_fails(aci: ContainerInstancesHook) -> None:
    ti = FakeTI(task_id="slow", run_id="aci-deadline")
    op = python_group("slow", TICKER.format(n=300, pause=0.1, code=0), timeout=0.5, cleanup="delete")
    with pytest.raises(DeadlineExceededError):
        execute(op, context_for(ti))
    assert aci.get_group(ti.xcom["azure_aci_container_group"]["group_name"]) is None


def test_bad_specs_fail_before_any_call(aci: ContainerInstancesHook) -> None:
    op = ContainerInstancesRunGroupOperator(task_id="bad", image="x", command="echo hi")  # type: ignore[arg-type]
    with pytest.raises(AzureComputeConfigError, match="argv"):
        op.execute(context_for(FakeTI(task_id="bad")))
    op = ContainerInstancesRunGroupOperator(task_id="bad2", image="x", secure_environment={"S": "password"})
    with pytest.raises(AzureComputeConfigError) as err:
        op.execute(context_for(FakeTI(task_id="bad2")))
    assert err.value.field == "secure_env_conn_id"


@pytest.mark.parametrize("deferrable", [True, False])
def test_sensor_waits_for_a_group_created_elsewhere(aci: ContainerInstancesHook, deferrable: bool) -> None:
    from airflow_azure_compute.hooks.aci_groups import ContainerSpec, build_group_body
    from airflow_azure_compute.sensors.container_instances import ContainerGroupSensor

    name = f"made-elsewhere-{int(deferrable)}"
    code = TICKER.format(n=3, pause=0.1, code=4 if deferrable else 0)
    aci.create_group(
        name, build_group_body([ContainerSpec(name="w", image="i", command=py(code))], location="w")
    )
    sensor = ContainerGroupSensor(task_id="s", group_name=name, poke_interval=0.1, deferrable=deferrable)
    ctx = context_for(FakeTI(task_id="s"))
    with structlog.testing.capture_logs() as logs:
        if deferrable:
            with pytest.raises(RemoteWorkFailedError, match="'w': 4"):
                execute(sensor, ctx)
        else:
            assert execute(sensor, ctx) == {"group_name": name, "exit_codes": {"w": 0}}
    assert [e["event"] for e in logs if "tick" in str(e.get("event"))] == [f"[w] tick {i}" for i in range(3)]
    assert aci.get_group(name) is not None  # the sensor never deletes
    aci.delete_group(name)


def test_a_service_group_is_waited_for_until_running_and_left_up(aci: ContainerInstancesHook) -> None:
    ti = FakeTI(task_id="service", run_id="aci-service")
    op = python_group(
        "service", TICKER.format(n=600, pause=0.1, code=0), restart_policy="Always", wait_for="running"
    )
    result, _ = run_op(op, ti)
    assert result["state"] == "Running" and result["group_name"]
    group = aci.get_group(result["group_name"])
    assert group is not None and evaluate_group(group).ready  # a service stays up
    aci.delete_group(result["group_name"])


UAI = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/worker"


def test_volumes_mount_secrets_and_shares_and_gpu_and_identity_are_echoed(
    aci: ContainerInstancesHook,
) -> None:
    """A container reads a secret volume (file from a connection) and writes through an emptyDir and
    an Azure Files share (key from a connection) at their mount paths; a second container reads the
    emptyDir; the group's answers echo GPU and identity and never the secret or the storage key."""
    share = f"results-{hashlib.sha1(str(time.time()).encode()).hexdigest()[:6]}"
    writer = (
        "token = open('/etc/certs/token.txt').read()\n"
        "open('/scratch/handoff.txt', 'w').write('scratch:' + token)\n"
        "open('/mnt/results/out.txt', 'w').write('share:' + token)\n"
        "print('wrote', len(token), 'chars', flush=True)"
    )
    reader = (
        "import os, time\n"
        "while not os.path.exists('/scratch/handoff.txt'): time.sleep(0.05)\n"
        "time.sleep(0.1)\n"
        "import hashlib\n"
        "print('read', hashlib.sha256(open('/scratch/handoff.txt', 'rb').read()).hexdigest(), flush=True)"
    )
    ti = FakeTI(task_id="volumes", run_id="aci-volumes")
    op = ContainerInstancesRunGroupOperator(
        task_id="volumes",
        containers=[
            {
                "name": "writer",
                "image": "python:3.11",
                "command": py(writer),
                "gpu_count": 1,
                "gpu_sku": "K80",
                "volume_mounts": [
                    {"name": "certs", "mount_path": "/etc/certs", "read_only": True},
                    {"name": "scratch", "mount_path": "/scratch"},
                    {"name": "results", "mount_path": "/mnt/results"},
                ],
            },
            {
                "name": "reader",
                "image": "python:3.11",
                "command": py(reader),
                "volume_mounts": [{"name": "scratch", "mount_path": "/scratch"}],
            },
        ],
        volumes=[
            {"name": "certs", "secret": {"token.txt": "api_token"}},
            {"name": "scratch", "empty_dir": True},
            {
                "name": "results",
                "azure_file": {"share_name": share, "storage_account_name": "devstoreaccount1"},
                "key_conn_id": "aci_secrets",
            },
        ],
        secure_env_conn_id="aci_secrets",
        identity=["SystemAssigned", UAI],
        cleanup="keep",
        poll_interval=0.1,
    )
    _, logs = run_op(op, ti)
    digest = hashlib.sha256(b"scratch:tok-123").hexdigest()  # containers print digests, never the secret
    assert "[writer] wrote 7 chars" in logs and f"[reader] read {digest}" in logs, logs
    name = ti.xcom["azure_aci_container_group"]["group_name"]
    group = aci.get_group(name)
    assert group is not None
    text = json.dumps(group)
    assert SECRET not in text and "tok-123" not in text  # neither the storage key nor the secret file
    writer_requests = group["properties"]["containers"][0]["properties"]["resources"]["requests"]
    assert writer_requests["gpu"] == {"count": 1, "sku": "K80"}
    identity = group["identity"]
    assert identity["type"] == "SystemAssigned, UserAssigned" and identity["principalId"]
    assert set(identity["userAssignedIdentities"][UAI]) == {"principalId", "clientId"}
    aci.delete_group(name)

    # the share outlives the group: a later group mounting it elsewhere reads the file
    later = ContainerInstancesRunGroupOperator(
        task_id="share-reader",
        containers=[
            {
                "name": "late",
                "image": "python:3.11",
                "command": py(
                    "import hashlib; print(hashlib.sha256(open('/data/out.txt', 'rb').read()).hexdigest(), flush=True)"
                ),
                "volume_mounts": [{"name": "results", "mount_path": "/data", "read_only": True}],
            }
        ],
        volumes=[
            {
                "name": "results",
                "azure_file": {"share_name": share, "storage_account_name": "devstoreaccount1"},
                "key_conn_id": "aci_secrets",
            }
        ],
        poll_interval=0.1,
    )
    _, logs = run_op(later, FakeTI(task_id="share-reader", run_id="aci-volumes"))
    assert f"[late] {hashlib.sha256(b'share:tok-123').hexdigest()}" in logs, logs


def test_exec_runs_a_command_in_a_running_container_and_returns_its_output(
    aci: ContainerInstancesHook,
) -> None:
    """A service group writes a file to its emptyDir; an exec in the running container reads it back
    through the same mount path (the exec socket is the emulator's WebSocket bridge)."""
    ti = FakeTI(task_id="service-exec", run_id="aci-exec")
    service = ContainerInstancesRunGroupOperator(
        task_id="service-exec",
        containers=[
            {
                "name": "svc",
                "image": "python:3.11",
                "command": py(
                    "open('/state/ready.txt', 'w').write('ready 42')\nimport time\ntime.sleep(120)"
                ),
                "volume_mounts": [{"name": "state", "mount_path": "/state"}],
            }
        ],
        volumes=[{"name": "state", "empty_dir": True}],
        restart_policy="Always",
        wait_for="running",
        poll_interval=0.1,
    )
    result, _ = run_op(service, ti)
    name = result["group_name"]
    try:
        deadline = time.monotonic() + 30
        output = ""
        while (
            "ready 42" not in output and time.monotonic() < deadline
        ):  # the file is written just after start
            op = ContainerInstancesExecOperator(
                task_id="exec", group_name=name, container="svc", command="cat /state/ready.txt"
            )
            with structlog.testing.capture_logs():
                output = execute(op, context_for(FakeTI(task_id="exec", run_id="aci-exec")))
        assert output == "ready 42"
        with pytest.raises(AzureComputeRemoteError, match="still running after 1 s") as err:
            aci.exec_command(name, "svc", "sleep 60", timeout=1)
        assert err.value.code == "ExecTimeout"
        with pytest.raises(AzureComputeConfigError, match="command"):
            ContainerInstancesExecOperator(
                task_id="exec-empty", group_name=name, container="svc", command="  "
            ).execute({})  # type: ignore[arg-type]
        with pytest.raises(AzureComputeRemoteError) as err:
            ContainerInstancesExecOperator(
                task_id="exec-missing", group_name=name, container="nope", command="true"
            ).execute({})  # type: ignore[arg-type]
        assert err.value.status == 404
    finally:
        aci.delete_group(name)
