"""Pure ACI logic: specs, the ARM body, state evaluation, log cursors, trigger decisions and serialization."""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest

from airflow_azure_compute.cleanup import CleanupPolicy, run_then_clean_up, should_delete
from airflow_azure_compute.exceptions import AzureComputeConfigError
from airflow_azure_compute.hooks.aci_groups import (
    ContainerSpec,
    GroupOutcome,
    RegistryCredential,
    build_group_body,
    derive_group_name,
    evaluate_group,
    new_log_lines,
    validate_group_name,
)
from airflow_azure_compute.operators.container_instances import ContainerInstancesRunGroupOperator
from airflow_azure_compute.triggers.container_instances import ContainerGroupTrigger, evaluate


def spec(**kw: Any) -> ContainerSpec:
    return ContainerSpec(**{"name": "main", "image": "img:1", **kw})


def group(policy: str = "Never", *states: tuple[str | None, int | None], group_state: str | None = None,
          provisioning: str = "Succeeded") -> dict[str, Any]:  # fmt: skip
    containers = []
    for i, (state, code) in enumerate(states):
        view = None if state is None else {"currentState": {"state": state, "exitCode": code}}
        containers.append({"name": f"c{i}", "properties": {"instanceView": view}})
    return {
        "properties": {
            "restartPolicy": policy,
            "provisioningState": provisioning,
            "containers": containers,
            "instanceView": {"state": group_state} if group_state else None,
        }
    }


def test_body_has_everything_and_secrets_only_as_secure_values() -> None:
    body = build_group_body(
        [
            spec(
                command=["python", "-c", "1"],
                environment={"A": "1"},
                secure_environment={"TOKEN": "password"},
                cpu=2,
                memory_gb=4,
                gpu_count=1,
                gpu_sku="v100",
                ports=[80],
            ),
            spec(name="side", image="img:2"),
        ],
        location="westeurope",
        restart_policy="onfailure",
        secure_values={"password": "s3cr3t"},
        registries=[RegistryCredential("acr.io", "user", "pw")],
        identity=["SystemAssigned", "/subscriptions/x/identities/id1"],
        subnet_ids=["/subnets/s1"],
        tags={"airflow_dag_id": "d"},
    )
    props = body["properties"]
    main = props["containers"][0]["properties"]
    assert main["environmentVariables"] == [
        {"name": "A", "value": "1"},
        {"name": "TOKEN", "secureValue": "s3cr3t"},
    ]
    assert main["resources"]["requests"] == {
        "cpu": 2.0,
        "memoryInGB": 4.0,
        "gpu": {"count": 1, "sku": "V100"},
    }
    assert main["command"] == ["python", "-c", "1"] and main["ports"] == [{"port": 80, "protocol": "TCP"}]
    assert props["restartPolicy"] == "OnFailure" and props["osType"] == "Linux"
    assert props["imageRegistryCredentials"] == [{"server": "acr.io", "username": "user", "password": "pw"}]
    assert props["subnetIds"] == [{"id": "/subnets/s1"}]
    assert body["identity"] == {
        "type": "SystemAssigned, UserAssigned",
        "userAssignedIdentities": {"/subscriptions/x/identities/id1": {}},
    }
    assert body["tags"] == {"airflow_dag_id": "d"} and body["location"] == "westeurope"


def test_body_round_trips_through_the_sdk_model() -> None:
    from airflow_azure_compute.hooks.container_instances import to_dict, to_model

    body = build_group_body([spec(secure_environment={"S": "k"})], location="w", secure_values={"k": "v"})
    again = to_dict(to_model(body))
    assert again["properties"]["containers"][0]["properties"]["environmentVariables"] == [
        {"name": "S", "secureValue": "v"}
    ]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"name": "Bad_Name"}, "containers[].name"), ({"image": ""}, "containers[].image"),
     ({"command": "echo hi"}, "containers[].command"), ({"environment": {"1X": "v"}}, "containers[].environment"),
     ({"environment": {"A": "1"}, "secure_environment": {"A": "k"}}, "containers[].environment"),
     ({"gpu_count": 1}, "containers[].gpu_sku"), ({"cpu": 0}, "containers[].cpu")],
)  # fmt: skip
def test_bad_specs(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(AzureComputeConfigError) as err:
        spec(**kwargs)
    assert err.value.field == field


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"containers": []}, "containers"), ({"restart_policy": "sometimes"}, "restart_policy"),
     ({"os_type": "beos"}, "os_type"), ({"location": ""}, "location"),
     ({"containers": [spec(secure_environment={"S": "missing"})]}, "secure_environment"),
     ({"containers": [spec(), spec()]}, "containers")],
)  # fmt: skip
def test_bad_group_inputs(kwargs: dict[str, Any], field: str) -> None:
    args: dict[str, Any] = {"containers": [spec()], "location": "w", **kwargs}
    containers = args.pop("containers")
    with pytest.raises(AzureComputeConfigError) as err:
        build_group_body(containers, **args)
    assert err.value.field == field


def test_group_names() -> None:
    name = derive_group_name("My_DAG.with-_dots" * 5, "run", "task", -1)
    assert validate_group_name(name) == name and len(name) <= 63 and "--" not in name
    long = derive_group_name("dag" * 30, "run", "task", -1)
    assert validate_group_name(long) == long and len(long) == 63
    for bad in ["", "-a", "a-", "a--b", "A", "a" * 64]:
        with pytest.raises(AzureComputeConfigError):
            validate_group_name(bad)


@pytest.mark.parametrize(
    ("body", "outcome", "codes"),
    [
        (group("Never", (None, None)), GroupOutcome.RUNNING, {"c0": None}),
        (group("Never", ("Running", None), ("Terminated", 0)), GroupOutcome.RUNNING, {"c0": None, "c1": 0}),
        (group("Never", ("Terminated", 0), ("Terminated", 0)), GroupOutcome.SUCCEEDED, {"c0": 0, "c1": 0}),
        (group("Never", ("Terminated", 0), ("Terminated", 3)), GroupOutcome.FAILED, {"c0": 0, "c1": 3}),
        (group("OnFailure", ("Terminated", 1)), GroupOutcome.RUNNING, {"c0": 1}),
        (group("OnFailure", ("Terminated", 0)), GroupOutcome.SUCCEEDED, {"c0": 0}),
        (group("Always", ("Terminated", 0)), GroupOutcome.RUNNING, {"c0": 0}),
        (group("Always", ("Terminated", 0), group_state="Stopped"), GroupOutcome.SUCCEEDED, {"c0": 0}),
        (group("Always", ("Running", None), group_state="Stopped"), GroupOutcome.FAILED, {"c0": None}),
        (group("Never", ("Waiting", None), provisioning="Failed"), GroupOutcome.FAILED, {"c0": None}),
    ],
)
def test_evaluate_group(body: dict[str, Any], outcome: GroupOutcome, codes: dict[str, int | None]) -> None:
    progress = evaluate_group(body)
    assert progress.outcome is outcome and progress.exit_codes == codes


def test_new_log_lines_cursor() -> None:
    content = "2026-01-01T00:00:01.5Z a\n2026-01-01T00:00:02.000000Z b\n  continued\n"
    lines, cursor = new_log_lines(content, None)
    assert lines == ["a", "b", "  continued"] and cursor == "2026-01-01T00:00:02.000000000"
    more = content + "2026-01-01T00:00:02.000000100Z c\n"
    assert new_log_lines(more, cursor) == (["c"], "2026-01-01T00:00:02.000000100")
    assert new_log_lines(more, "2026-01-01T00:00:01.500000000") == (["b", "  continued", "c"],
                                                                      "2026-01-01T00:00:02.000000100")  # fmt: skip
    assert new_log_lines("plain\n", None) == (["plain"], None)


def test_trigger_round_trip_and_decisions() -> None:
    trigger = ContainerGroupTrigger(
        group_name="g",
        conn_id="c",
        poll_interval=2,
        deadline=99.0,
        logging_interval=30,
        on_kill_action="stop",
    )
    path, kwargs = trigger.serialize()
    json.dumps(kwargs)
    module, name = path.rsplit(".", 1)
    assert getattr(importlib.import_module(module), name)(**kwargs).serialize() == (path, kwargs)
    running = group("Never", ("Running", None))
    assert evaluate("g", running, deadline=None, now=0) is None
    assert evaluate("g", running, deadline=None, now=0, wait_for="running")["status"] == "ready"  # type: ignore[index]
    assert evaluate("g", running, deadline=5, now=6)["status"] == "timeout"  # type: ignore[index]
    assert evaluate("g", None, deadline=None, now=0)["status"] == "error"  # type: ignore[index]
    done = evaluate("g", group("Never", ("Terminated", 2)), deadline=5, now=6, wait_for="running")
    assert done is not None and done["status"] == "failed" and done["exit_codes"] == {"c0": 2}
    half = group("Always", ("Running", None), ("Waiting", None))
    assert evaluate("g", half, deadline=None, now=0, wait_for="running") is None


def test_cleanup_policy() -> None:
    assert should_delete(CleanupPolicy.DELETE, False) and should_delete(CleanupPolicy.DELETE_ON_SUCCESS, True)
    assert not should_delete(CleanupPolicy.DELETE_ON_SUCCESS, False) and not should_delete(
        CleanupPolicy.KEEP, True
    )
    assert CleanupPolicy.parse("Delete_On_Success", field="cleanup") is CleanupPolicy.DELETE_ON_SUCCESS
    with pytest.raises(AzureComputeConfigError, match="cleanup: 'maybe' is not one of: keep, delete"):
        CleanupPolicy.parse("maybe", field="cleanup")


def test_run_then_clean_up_applies_cleanup_unless_the_step_deferred() -> None:
    from airflow.sdk.exceptions import TaskDeferred

    seen: list[bool] = []
    assert run_then_clean_up(lambda: 7, seen.append) == 7 and seen == [True]

    def fails() -> None:
        raise KeyboardInterrupt  # any BaseException counts as a failure

    with pytest.raises(KeyboardInterrupt):
        run_then_clean_up(fails, seen.append)
    assert seen == [True, False]

    def defers() -> None:
        raise TaskDeferred(
            trigger=ContainerGroupTrigger(group_name="g", conn_id="c", deadline=1.0), method_name="m"
        )

    with pytest.raises(TaskDeferred):
        run_then_clean_up(defers, seen.append)
    assert seen == [True, False]  # the trigger owns the work now


def test_operator_surface() -> None:
    with pytest.raises(AzureComputeConfigError, match="either containers or image"):
        ContainerInstancesRunGroupOperator(task_id="t")
    op = ContainerInstancesRunGroupOperator(
        task_id="t", image="img", command=["a"], gpu_count=1, gpu_sku="k80"
    )
    assert [s.name for s in op.specs()] == ["main"] and op.specs()[0].gpu_sku == "k80"
    assert "secure_environment" not in op.template_fields and "containers" in op.template_fields
    assert op.deferrable


def test_links_never_carry_secrets() -> None:
    from airflow_azure_compute.links import ContainerGroupLink, DurableInstanceLink

    url = ContainerGroupLink.format_url(
        {"subscription_id": "sub", "resource_group": "rg", "group_name": "cg-1"}
    )
    assert url == (
        "https://portal.azure.com/#resource/subscriptions/sub/resourceGroups/rg"
        "/providers/Microsoft.ContainerInstance/containerGroups/cg-1"
    )
    assert ContainerGroupLink.format_url({"group_name": "x"}) == ""
    for cloud, portal in (("AzureChinaCloud", "portal.azure.cn"), ("AzureUSGovernment", "portal.azure.us")):
        sovereign = ContainerGroupLink.format_url(
            {"subscription_id": "sub", "resource_group": "rg", "group_name": "cg-1", "cloud": cloud}
        )
        assert sovereign == url.replace("portal.azure.com", portal)
    url = DurableInstanceLink.format_url(
        {
            "endpoint": "https://app.example.net/",
            "instance_id": "a b",
            "subscription_id": "sub",
            "resource_group": "rg",
        }
    )
    assert (
        url
        == "https://portal.azure.com/#resource/subscriptions/sub/resourceGroups/rg/providers/Microsoft.Web/sites/app"
    )
    assert "code=" not in url and "webhooks" not in url
