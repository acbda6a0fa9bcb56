"""Wire rules of the Durable emulator: instance ids, times, query booleans, route patterns."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from airflow_azure_compute.emulator.durable.api import _decode_token, _encode_token, canonical_path
from airflow_azure_compute.emulator.durable.http_functions import route_regex
from airflow_azure_compute.emulator.durable.wire import (
    format_time,
    instance_id_error,
    new_instance_id,
    parse_time,
    query_bool,
)


def test_generated_ids_are_guid_n() -> None:
    assert re.fullmatch(r"[0-9a-f]{32}", new_instance_id())
    assert instance_id_error(new_instance_id()) is None


@pytest.mark.parametrize(
    ("instance_id", "valid"),
    [
        ("abc", True),
        ("parent:0001", True),
        ("x" * 256, True),
        ("x" * 257, False),
        ("@entity", False),
        ("a/b", False),
        ("a\\b", False),
        ("a#b", False),
        ("a?b", False),
        ("a\x07b", False),
        ("", False),
    ],
)
def test_instance_id_rules(instance_id: str, valid: bool) -> None:
    assert (instance_id_error(instance_id) is None) is valid


def test_times() -> None:
    moment = datetime(2026, 11, 22, 1, 2, 3, 456789, tzinfo=timezone.utc)
    assert format_time(moment) == "2026-11-22T01:02:03Z"
    assert parse_time("2026-11-22T01:02:03.4567890Z") == datetime(
        2026, 11, 22, 1, 2, 3, 456789, tzinfo=timezone.utc
    )
    assert parse_time("2026-11-22T01:02:03").tzinfo is not None
    with pytest.raises(ValueError):
        parse_time("yesterday")


def test_query_bool_is_case_insensitive() -> None:
    assert query_bool("True", False) and query_bool("true", False)
    assert not query_bool("False", True)
    assert query_bool(None, True) and not query_bool("", False)


@pytest.mark.parametrize(
    ("path", "canonical"),
    [
        ("/Runtime/Webhooks/DurableTask/Instances/MyId", "/runtime/webhooks/durabletask/instances/MyId"),
        (
            "/runtime/webhooks/durableTask/instances/Instances/RAISEEVENT/Go",
            "/runtime/webhooks/durabletask/instances/Instances/raiseEvent/Go",
        ),
        ("/DurableTask/Orchestrators/Instances", "/durabletask/orchestrators/Instances"),
        ("/api/orchestrators/x", None),
    ],
)
def test_canonical_path_changes_only_fixed_segments(path: str, canonical: str | None) -> None:
    assert canonical_path(path) == canonical


def test_continuation_token_round_trip() -> None:
    assert _decode_token(_encode_token(200)) == 200
    assert _decode_token(None) == 0
    with pytest.raises(ValueError):
        _decode_token("not-a-token")


@pytest.mark.parametrize(
    ("template", "path", "params"),
    [
        ("orchestrators/{functionName}", "orchestrators/chain", {"functionName": "chain"}),
        ("orchestrators/{functionName}", "Orchestrators/chain/", {"functionName": "chain"}),
        ("start/{name}/{id?}", "start/a", {"name": "a", "id": None}),
        ("start/{name}/{id?}", "start/a/b", {"name": "a", "id": "b"}),
        ("files/{*path}", "files/a/b/c", {"path": "a/b/c"}),
        ("orders/{id:int}", "orders/12", {"id": "12"}),
    ],
)
def test_function_route_templates(template: str, path: str, params: dict[str, str | None]) -> None:
    match = route_regex(template).match(path)
    assert match is not None and match.groupdict() == params


def test_function_route_templates_do_not_overmatch() -> None:
    assert route_regex("orchestrators/{functionName}").match("orchestrators/a/b") is None
