"""Pure rules of the ACI emulator: validation, redaction, restart policy, group state, logs, paging tokens."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from airflow_azure_compute.emulator.aci.errors import CloudError
from airflow_azure_compute.emulator.aci.model import (
    AciSettings,
    ContainerPhase,
    backoff_seconds,
    detail_status,
    exit_code_of,
    group_state,
    parse_group,
    redact,
    restarts_after,
    valid_name,
)
from airflow_azure_compute.emulator.aci.runtime import LogBuffer
from airflow_azure_compute.emulator.aci.service import _decode_token, _encode_token


def body(**props: Any) -> dict[str, Any]:
    container = {
        "name": "main",
        "properties": {
            "image": "python:3.12",
            "command": ["python", "-c", "pass"],
            "resources": {"requests": {"cpu": 1, "memoryInGB": 1.5}},
            "environmentVariables": [
                {"name": "PLAIN", "value": "p"},
                {"name": "SECRET", "secureValue": "s"},
                {"name": "EMPTY"},
            ],
        },
    }
    properties: dict[str, Any] = {"osType": "linux", "containers": [container]}
    properties.update(props)
    return {"location": "westeurope", "tags": {"a": "b"}, "properties": properties}


def test_parse_group_normalizes_and_keeps_secrets_for_the_process() -> None:
    spec = parse_group(body(restartPolicy="onfailure"), "my-group-1")
    assert spec.restart_policy == "OnFailure" and spec.body["properties"]["osType"] == "Linux"
    (container,) = spec.containers
    assert container.command == ("python", "-c", "pass")
    assert dict(container.env) == {"PLAIN": "p", "SECRET": "s", "EMPTY": ""}


def test_restart_policy_defaults_to_always() -> None:
    assert parse_group(body(), "g").restart_policy == "Always"


@pytest.mark.parametrize(
    ("name", "ok"),
    [("a", True), ("a-b-1", True), ("x" * 63, True), ("x" * 64, False), ("-a", False), ("a-", False),
     ("a--b", False), ("Abc", False), ("a_b", False), ("", False)],
)  # fmt: skip
def test_names(name: str, ok: bool) -> None:
    assert valid_name(name) is ok


@pytest.mark.parametrize(
    ("mutate", "code", "target"),
    [
        (lambda b: b.pop("location"), "LocationRequired", None),
        (lambda b: b["properties"].update(containers=[]), "InvalidRequestContent", "properties.containers"),
        (lambda b: b["properties"].update(osType="Solaris"), "InvalidRequestContent", "properties.osType"),
        (lambda b: b["properties"].update(restartPolicy="Sometimes"), "InvalidRequestContent", "properties.restartPolicy"),
        (lambda b: b["properties"]["containers"][0].update(name="Bad_Name"), "InvalidContainerName", "properties.containers[0].name"),
        (lambda b: b["properties"]["containers"][0]["properties"].pop("image"), "InvalidRequestContent", "properties.containers[0].properties.image"),
        (lambda b: b["properties"]["containers"][0]["properties"].update(command="python -c pass"), "InvalidRequestContent", "properties.containers[0].properties.command"),
        (lambda b: b["properties"]["containers"][0]["properties"]["resources"]["requests"].update(cpu=0), "InvalidRequestContent", "properties.containers[0].properties.resources.requests.cpu"),
        (lambda b: b["properties"]["containers"].append(copy.deepcopy(b["properties"]["containers"][0])), "InvalidRequestContent", "properties.containers"),
        (lambda b: b["properties"].update(initContainers=[{"name": "i"}]), "InvalidRequestContent", "properties.initContainers[0].properties"),
        (lambda b: b["properties"].update(initContainers=[{"name": "i", "properties": {"image": "x", "securityContext": {"privileged": True}}}]), "FeatureNotEmulated", "properties.initContainers[0].properties.securityContext"),
        (lambda b: b["properties"].update(initContainers=[{"name": "main", "properties": {"image": "x"}}]), "InvalidRequestContent", "properties.containers"),
    ],
)  # fmt: skip
def test_invalid_bodies_name_the_property(mutate: Any, code: str, target: str | None) -> None:
    raw = body()
    mutate(raw)
    with pytest.raises(CloudError) as info:
        parse_group(raw, "g")
    assert (info.value.status, info.value.code, info.value.target) == (400, code, target)


def test_invalid_group_name() -> None:
    with pytest.raises(CloudError) as info:
        parse_group(body(), "Not-Valid")
    assert info.value.code == "InvalidContainerGroupName"


def test_redact_drops_secure_values_and_registry_passwords_only() -> None:
    raw = body(imageRegistryCredentials=[{"server": "r.io", "username": "u", "password": "pw"}])
    spec = parse_group(raw, "g")
    out = redact(spec.body)
    env = out["properties"]["containers"][0]["properties"]["environmentVariables"]
    assert env == [{"name": "PLAIN", "value": "p"}, {"name": "SECRET"}, {"name": "EMPTY"}]
    assert out["properties"]["imageRegistryCredentials"] == [{"server": "r.io", "username": "u"}]
    # the stored body is untouched: a later update still sees the secret
    assert spec.body["properties"]["imageRegistryCredentials"][0]["password"] == "pw"


@pytest.mark.parametrize(
    ("policy", "code", "restart"),
    [("Never", 0, False), ("Never", 3, False), ("OnFailure", 0, False), ("OnFailure", 3, True),
     ("Always", 0, True), ("Always", 3, True)],
)  # fmt: skip
def test_restarts_after(policy: str, code: int, restart: bool) -> None:
    assert restarts_after(policy, code) is restart


def test_exit_codes_and_detail_status() -> None:
    assert exit_code_of(3) == 3 and exit_code_of(-9) == 137 and exit_code_of(-15) == 143
    assert detail_status(0) == "Completed" and detail_status(1) == "Error"


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff_seconds(n, 0.5, 5) for n in range(6)] == [0.5, 1, 2, 4, 5, 5]
    assert backoff_seconds(10_000, 0.5, 5) == 5


DONE0 = ContainerPhase(started=True, done=True, exit_code=0)
DONE3 = ContainerPhase(started=True, done=True, exit_code=3)
RUNNING = ContainerPhase(started=True, done=False, exit_code=None)
WAITING = ContainerPhase(started=False, done=False, exit_code=None)


@pytest.mark.parametrize(
    ("policy", "stopped", "phases", "state"),
    [
        ("Never", False, [WAITING], "Pending"),
        ("Never", False, [RUNNING, WAITING], "Pending"),
        ("Never", False, [RUNNING, DONE0], "Running"),
        ("Never", False, [DONE0, DONE0], "Succeeded"),
        ("Never", False, [DONE0, DONE3], "Failed"),
        ("OnFailure", False, [DONE0], "Succeeded"),
        ("OnFailure", False, [RUNNING], "Running"),
        ("Always", False, [RUNNING], "Running"),
        ("Always", True, [RUNNING], "Stopped"),
        ("Never", True, [DONE3], "Stopped"),
    ],
)
def test_group_state(policy: str, stopped: bool, phases: list[ContainerPhase], state: str) -> None:
    assert group_state(policy, stopped=stopped, containers=phases) == state


def test_settings_update_validates_everything_before_applying() -> None:
    settings = AciSettings()
    settings.update({"page_size": 2, "retry_after_ms": 100})
    assert settings.page_size == 2 and settings.retry_after_ms == 100
    for bad in ({"retry_after_s": 0}, {"auth_fault": 500}, {"nope": 1}, {"page_size": 0, "log_lines": 5}):
        with pytest.raises(ValueError):
            settings.update(bad)
    assert settings.log_lines == AciSettings().log_lines and settings.retry_after_s == 1


def test_log_buffer_lines_tail_timestamps_and_limit() -> None:
    logs = LogBuffer(limit=3)
    logs.feed(b"one\ntw")
    logs.feed(b"o\nthree\nfour")
    assert logs.render() == "one\ntwo\nthree\n"  # "four" has no newline yet
    logs.flush()
    assert logs.render() == "two\nthree\nfour\n"  # limit keeps the last 3
    assert logs.render(tail=1) == "four\n" and logs.render(tail=0) == ""
    stamp, _, text = logs.render(tail=1, timestamps=True).rstrip("\n").partition(" ")
    assert text == "four" and stamp.endswith("Z") and stamp[10] == "T"
    logs.feed("é\n".encode())
    assert logs.render(tail=1) == "é\n"


def test_skip_tokens_round_trip_and_reject_garbage() -> None:
    key = ("my-rg", "group-9")
    assert _decode_token(_encode_token(key)) == key
    with pytest.raises(CloudError):
        _decode_token("!!!")
