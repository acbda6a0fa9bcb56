"""Pure Durable lifecycle logic: allowed states per action, customStatus matching, run prefixes."""

from __future__ import annotations

import pytest

from airflow_azure_compute.exceptions import AzureComputeConfigError, AzureComputeRemoteError
from airflow_azure_compute.hooks.durable_api import (
    DurableApi,
    InstanceAction,
    OrchestrationStatus,
    RuntimeStatus,
    SuspendedAction,
    check_action_allowed,
)
from airflow_azure_compute.ids import derive_run_id, run_prefix
from airflow_azure_compute.operators.durable import DurableInstanceActionOperator
from airflow_azure_compute.triggers.durable import (
    DurableOrchestrationTrigger,
    custom_status_matches,
    evaluate,
)


def status(rs: RuntimeStatus, custom: object = None) -> OrchestrationStatus:
    return OrchestrationStatus("i-1", rs, custom_status=custom)


@pytest.mark.parametrize(
    ("action", "allowed"),
    [
        (
            InstanceAction.SUSPEND,
            {RuntimeStatus.PENDING, RuntimeStatus.RUNNING, RuntimeStatus.CONTINUED_AS_NEW},
        ),
        (InstanceAction.RESUME, {RuntimeStatus.SUSPENDED}),
        (InstanceAction.REWIND, {RuntimeStatus.FAILED}),
        (InstanceAction.RESTART, set(RuntimeStatus)),
    ],
)
def test_each_action_is_allowed_in_its_states_only(
    action: InstanceAction, allowed: set[RuntimeStatus]
) -> None:
    for rs in RuntimeStatus:
        if rs in allowed:
            check_action_allowed(action, status(rs), "i-1")
        else:
            with pytest.raises(AzureComputeRemoteError, match=f"it is {rs.value}") as err:
                check_action_allowed(action, status(rs), "i-1")
            assert err.value.code == "InvalidInstanceState"


def test_restart_under_the_same_id_needs_an_ended_instance() -> None:
    with pytest.raises(AzureComputeRemoteError, match="it is Running"):
        check_action_allowed(InstanceAction.RESTART, status(RuntimeStatus.RUNNING), "i-1", same_id=True)
    check_action_allowed(InstanceAction.RESTART, status(RuntimeStatus.FAILED), "i-1", same_id=True)
    with pytest.raises(AzureComputeRemoteError, match="no such instance"):
        check_action_allowed(InstanceAction.RESUME, None, "i-1")


def test_unknown_action_fails_at_parse_time() -> None:
    with pytest.raises(AzureComputeConfigError) as err:
        DurableInstanceActionOperator(task_id="t", instance_id="i", action="pause")
    assert err.value.field == "action"


def test_custom_status_matching() -> None:
    assert custom_status_matches({"stage": "merge", "done": 3}, {"stage": "merge"})
    assert not custom_status_matches({"stage": "split"}, {"stage": "merge"})
    assert not custom_status_matches("merge", {"stage": "merge"})
    assert custom_status_matches({"a": {"b": 1, "c": 2}}, {"a": {"b": 1}})
    assert custom_status_matches("done", "done") and not custom_status_matches(None, "done")


def test_evaluate_until_custom_status() -> None:
    common = {"instance_id": "i-1", "on_suspended": SuspendedAction.WAIT, "deadline": None, "now": 0.0}
    target = {"stage": "dispatch"}
    running = status(RuntimeStatus.RUNNING, {"stage": "plan"})
    assert evaluate(running, until_custom_status=target, **common) is None  # type: ignore[arg-type]
    hit = evaluate(
        status(RuntimeStatus.RUNNING, {"stage": "dispatch", "n": 1}), until_custom_status=target, **common
    )  # type: ignore[arg-type]
    assert (
        hit is not None
        and hit["status"] == "custom_status"
        and hit["custom_status"] == {"stage": "dispatch", "n": 1}
    )
    ended = evaluate(status(RuntimeStatus.COMPLETED, {"stage": "done"}), until_custom_status=target, **common)  # type: ignore[arg-type]
    assert ended is not None and ended["status"] == "failed" and "ended Completed before" in ended["message"]


def test_run_prefix_groups_the_ids_of_one_run() -> None:
    a = derive_run_id("orch", "my_dag", "run-1", "task_a", -1)
    b = derive_run_id("orch", "my_dag", "run-1", "task_b", 3)
    other = derive_run_id("orch", "my_dag", "run-2", "task_a", -1)
    prefix = run_prefix("orch", "my_dag", "run-1")
    assert a.startswith(prefix) and b.startswith(prefix) and not other.startswith(prefix)
    assert a != b and len(a) <= 256 and prefix.startswith("orch-my-dag-")


def test_list_and_restart_requests() -> None:
    api = DurableApi("https://app.example.net", "key", task_hub="Hub")
    request = api.list_request(prefix="orch-x-", created_from="2026-01-01T00:00:00Z", statuses=[RuntimeStatus.RUNNING],
                               continuation="tok")  # fmt: skip
    assert request.params["instanceIdPrefix"] == "orch-x-" and request.params["runtimeStatus"] == "Running"
    assert request.headers == {"x-ms-continuation-token": "tok"} and "code" not in request.params
    restart = api.restart_request("i-1", new_instance_id=False)
    assert (
        restart.url.endswith("/instances/i-1/restart")
        and restart.params["restartWithNewInstanceId"] == "false"
    )


def test_trigger_round_trip_with_start_and_custom_status() -> None:
    trigger = DurableOrchestrationTrigger(
        instance_id="i-1", start={"orchestrator": "o", "input": {"a": 1}, "route": None},
        until_custom_status={"stage": "x"},
    )  # fmt: skip
    path, kwargs = trigger.serialize()
    assert DurableOrchestrationTrigger(**kwargs).serialize() == (path, kwargs)
