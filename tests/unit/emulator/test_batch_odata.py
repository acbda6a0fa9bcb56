"""$filter and $select as the Batch list operations take them."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_azure_compute.emulator.batch.odata import compile_filter, parse_select, project
from airflow_azure_compute.emulator.batch.wire import BatchError

TASKS: list[dict[str, Any]] = [
    {"id": "a1", "state": "completed", "executionInfo": {"result": "success", "exitCode": 0}},
    {"id": "a2", "state": "completed", "executionInfo": {"result": "failure", "exitCode": 3}},
    {"id": "b1", "state": "active", "executionInfo": {"retryCount": 0}},
    {"id": "O'Neil", "state": "running", "executionInfo": {}},
]


def _ids(text: str) -> list[str]:
    predicate = compile_filter(text)
    assert predicate is not None
    return [t["id"] for t in TASKS if predicate(t)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("state eq 'completed'", ["a1", "a2"]),
        ("state eq 'Completed'", ["a1", "a2"]),
        ("executionInfo/result eq 'failure'", ["a2"]),
        ("startswith(id,'a')", ["a1", "a2"]),
        ("startswith(id, 'a') and executionInfo/exitCode eq 0", ["a1"]),
        ("state eq 'active' or state eq 'running'", ["b1", "O'Neil"]),
        ("not (state eq 'completed')", ["b1", "O'Neil"]),
        ("(startswith(id,'a') or id eq 'b1') and state ne 'active'", ["a1", "a2"]),
        ("executionInfo/exitCode gt 0", ["a2"]),
        ("id eq 'O''Neil'", ["O'Neil"]),
    ],
)
def test_filters(text: str, expected: list[str]) -> None:
    assert _ids(text) == expected


@pytest.mark.parametrize(
    "text", ["state eq", "state = 'x'", "startswith(id)", "(state eq 'a'", "state eq 'a' junk"]
)
def test_bad_filters_are_400(text: str) -> None:
    with pytest.raises(BatchError) as info:
        compile_filter(text)
    assert info.value.status == 400


def test_no_filter() -> None:
    assert compile_filter(None) is None and compile_filter("  ") is None


def test_select_projection() -> None:
    task = TASKS[1]
    assert project(task, parse_select("id, state")) == {"id": "a2", "state": "completed"}
    assert project(task, parse_select("executionInfo/result")) == {"executionInfo": {"result": "failure"}}
    assert project(task, None) is task
