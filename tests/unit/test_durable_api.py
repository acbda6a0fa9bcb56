"""Pure logic of the Durable HTTP API: request building, flows, status parsing, errors, input rules."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_azure_compute.exceptions import AzureComputeConfigError, AzureComputeRemoteError
from airflow_azure_compute.hooks.durable_api import (
    DurableApi,
    DurableRequest,
    DurableResponse,
    Flow,
    OrchestrationStatus,
    RuntimeStatus,
    StartResult,
    encode_input,
    retry_delay,
    validate_instance_id,
)

API = DurableApi("https://app.example.net/", "sekret", task_hub="Hub", connection="Storage")


def drive(flow: Flow, *responses: DurableResponse) -> tuple[Any, list[DurableRequest]]:
    """Answer a flow's requests with ``responses`` in order; return its result and what it sent."""
    sent: list[DurableRequest] = []
    try:
        request = next(flow)
        for response in responses:
            sent.append(request)
            request = flow.send(response)
        raise AssertionError(f"flow wanted more than {len(responses)} responses")
    except StopIteration as done:
        return done.value, sent


def status_body(status: str, **extra: Any) -> bytes:
    return json.dumps({"instanceId": "i1", "name": "orch", "runtimeStatus": status, **extra}).encode()


def test_runtime_status_values_match_the_package_enum() -> None:
    from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus

    assert {s.value for s in RuntimeStatus} == {s.value for s in OrchestrationRuntimeStatus}


def test_requests_carry_scope_but_never_the_key() -> None:
    request = API.start_request("orch", "id 1/x", b"{}")
    assert request.url == "https://app.example.net/runtime/webhooks/durabletask/orchestrators/orch/id%201%2Fx"
    assert request.params == {"taskHub": "Hub", "connection": "Storage"}
    assert "sekret" not in repr(request)
    assert API.auth() == {"code": "sekret"}
    assert request.headers == {"Content-Type": "application/json"}


def test_starter_route_placeholders() -> None:
    request = API.start_request("orch", "i1", None, route="api/orchestrators/{function_name}/{instance_id}")
    assert request.url == "https://app.example.net/api/orchestrators/orch/i1"
    with pytest.raises(AzureComputeConfigError, match="placeholder"):
        API.start_request("orch", "i1", None, route="api/{name}")


def test_start_fresh_checks_status_then_starts() -> None:
    result, sent = drive(
        API.start("orch", instance_id="i1", input={"n": 1}),
        DurableResponse(404),
        DurableResponse(202, json.dumps({"id": "i1"}).encode()),
    )
    assert result == StartResult("i1", reattached=False)
    assert [r.method for r in sent] == ["GET", "POST"]
    assert sent[1].body == b'{"n": 1}'


@pytest.mark.parametrize("status", ["Running", "Pending", "Suspended", "ContinuedAsNew"])
def test_start_reattaches_to_a_live_instance(status: str) -> None:
    result, sent = drive(API.start("orch", instance_id="i1"), DurableResponse(200, status_body(status)))
    assert result.reattached and result.instance_id == "i1"
    assert len(sent) == 1


def test_start_replaces_a_finished_instance_and_reattaches_on_409_race() -> None:
    result, _ = drive(
        API.start("orch", instance_id="i1"),
        DurableResponse(200, status_body("Completed")),
        DurableResponse(202, b'{"id": "i1"}'),
    )
    assert not result.reattached
    result, sent = drive(
        API.start("orch", instance_id="i1"),
        DurableResponse(404),
        DurableResponse(409, b""),
        DurableResponse(202, status_body("Running")),
    )
    assert result.reattached and len(sent) == 3


def test_starter_route_without_instance_id_reads_the_id_from_the_payload() -> None:
    result, sent = drive(
        API.start("orch", route="api/start/{function_name}"), DurableResponse(202, b'{"id": "gen"}')
    )
    assert result.instance_id == "gen" and len(sent) == 1
    with pytest.raises(AzureComputeRemoteError, match="check-status"):
        drive(API.start("orch", route="api/start"), DurableResponse(200, b"ok"))


@pytest.mark.parametrize(
    ("status", "code", "text"),
    [
        (400, "BadRequest", "doesn't exist"),
        (401, "Unauthorized", "refused the key"),
        (500, "HTTP500", "HTTP 500"),
    ],
)
def test_start_errors_are_remote_errors_with_code(status: int, code: str, text: str) -> None:
    body = json.dumps({"ExceptionMessage": "The function 'x' doesn't exist"}).encode()
    with pytest.raises(AzureComputeRemoteError) as err:
        drive(API.start("x", instance_id="i1"), DurableResponse(404), DurableResponse(status, body))
    assert err.value.code == code and err.value.status == status
    assert text in str(err.value)
    assert "sekret" not in str(err.value)


@pytest.mark.parametrize(
    ("value", "message"),
    [("", "non-empty"), ("@x", "'@'"), ("a/b", "'/'"), ("a?b", "'?'"), ("a#b", "'#'"), ("a\\b", "'\\\\'"),
     ("a\nb", "'\\n'"), ("x" * 257, "at most 256"), (12, "non-empty string")],
)  # fmt: skip
def test_instance_id_rules(value: Any, message: str) -> None:
    with pytest.raises(AzureComputeConfigError) as err:
        validate_instance_id(value)
    assert err.value.field == "instance_id"
    assert message in str(err.value)


def test_instance_id_ok() -> None:
    assert validate_instance_id("x" * 256) == "x" * 256


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ({"a": 1}, b'{"a": 1}'), ([1, 2], b"[1, 2]"), ('{"a": 1}', b'{"a": 1}'), ('"text"', b'"text"'),
     ("3", b"3")],
)  # fmt: skip
def test_encode_input(value: Any, expected: bytes | None) -> None:
    assert encode_input(value) == expected


@pytest.mark.parametrize("value", ["not json", "{'a': 1}", {1, 2}, float("nan")])
def test_encode_input_rejects_non_json(value: Any) -> None:
    with pytest.raises(AzureComputeConfigError) as err:
        encode_input(value)
    assert err.value.field == "input"


def test_status_parsing_and_404() -> None:
    result, _ = drive(API.get_status("i1"), DurableResponse(404))
    assert result is None
    result, _ = drive(
        API.get_status("i1"), DurableResponse(202, status_body("Running", customStatus={"p": 1}))
    )
    assert result == OrchestrationStatus("i1", RuntimeStatus.RUNNING, name="orch", custom_status={"p": 1})
    assert not result.is_terminal
    with pytest.raises(AzureComputeRemoteError, match="unknown runtimeStatus"):
        drive(API.get_status("i1"), DurableResponse(200, status_body("Weird")))


def test_terminate_410_and_purge_404_are_idempotent() -> None:
    assert drive(API.terminate("i1"), DurableResponse(202))[0] is True
    assert drive(API.terminate("i1"), DurableResponse(410))[0] is False
    assert drive(API.purge("i1"), DurableResponse(200, b'{"instancesDeleted": 1}'))[0] is True
    assert drive(API.purge("i1"), DurableResponse(404))[0] is False
    with pytest.raises(AzureComputeRemoteError) as err:
        drive(API.purge("i1"), DurableResponse(412))
    assert err.value.code == "PreconditionFailed"


def test_raise_event_body_and_errors() -> None:
    _, sent = drive(API.raise_event("i1", "Approval", {"ok": True}), DurableResponse(202))
    assert sent[0].url.endswith("/instances/i1/raiseEvent/Approval") and sent[0].body == b'{"ok": true}'
    assert not sent[0].idempotent
    with pytest.raises(AzureComputeRemoteError) as err:
        drive(API.raise_event("i1", "Approval"), DurableResponse(410))
    assert err.value.code == "Gone"
    with pytest.raises(AzureComputeConfigError):
        API.raise_event("i1", "a/b").send(None)


def test_retry_delay_honours_retry_after() -> None:
    assert retry_delay(DurableResponse(429, headers={"Retry-After": "2"}), 0) == 2.0
    assert retry_delay(DurableResponse(503), 2) == 2.0
    assert retry_delay(None, 10) == 30.0
