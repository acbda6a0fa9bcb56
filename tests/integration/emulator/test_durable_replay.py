"""Determinism: replaying an instance's recorded history through its orchestrator gives the same result.

Each orchestration runs in the emulator; its raw history (``/_emulator/durable/instances/{id}/history``)
is then replayed here, outside the emulator, through the package's ``Orchestrator`` handle. The
full replay must return the recorded actions and output; every episode prefix must return a prefix
of those actions (the list is append-only); and each numbered leaf action must match the
``TaskScheduled`` / ``TimerCreated`` / ``SubOrchestrationInstanceCreated`` event carrying its
sequence number. A replay bug (wrong ``TaskScheduledId``, lost events, unstable input) fails here.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from airflow_azure_compute.emulator.durable.actions import ActionType, flatten
from airflow_azure_compute.emulator.durable.engine import run_orchestrator
from airflow_azure_compute.emulator.durable.history import EventType
from airflow_azure_compute.emulator.durable.loader import FunctionIndex, load_function_apps

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

APP = Path(__file__).resolve().parents[2] / "function_apps" / "durable_patterns.py"
SCHEDULING = {
    ActionType.CALL_ACTIVITY: EventType.TASK_SCHEDULED,
    ActionType.CALL_SUB_ORCHESTRATOR: EventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
    ActionType.CREATE_TIMER: EventType.TIMER_CREATED,
}

CASES = [
    ("chain_orchestrator", ["a", "b", "c"]),
    ("fan_out_orchestrator", {"count": 50}),
    ("approval_orchestrator", {"timeout_s": 0.2}),
    ("counter_orchestrator", {"value": 0, "limit": 3}),
    ("parent_orchestrator", None),
    ("retry_orchestrator", {"key": "replay-ok", "failures": 1, "attempts": 3, "interval_ms": 20}),
    ("retry_orchestrator", {"key": "replay-fail", "failures": 5, "attempts": 2, "interval_ms": 20}),
    ("failing_orchestrator", None),
    ("sub_retry_orchestrator", None),
]


@pytest.fixture(scope="module")
def functions() -> FunctionIndex:
    return load_function_apps([str(APP)])


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def run_and_fetch(session: aiohttp.ClientSession, durable: dict[str, Any], name: str, body: Any) -> Any:
    """Start ``name`` with a fresh id, wait for it to finish (``timeout``), return its raw record."""
    instance_id = f"replay-{uuid.uuid4().hex}"
    url = f"{durable['url']}/runtime/webhooks/durabletask/orchestrators/{name}/{instance_id}"
    async with session.post(url, params={"code": durable["key"], "timeout": "30"}, json=body) as r:
        assert r.status in (200, 500), await r.text()
    async with session.get(f"{durable['admin_url']}/durable/instances/{instance_id}/history") as r:
        assert r.status == 200
        return await r.json()


def replay(
    functions: FunctionIndex, record: dict[str, Any], history: list[dict[str, Any]]
) -> tuple[Any, Any]:
    orchestrator = functions.orchestrator(record["name"])
    assert orchestrator is not None
    return run_orchestrator(
        orchestrator.handle, {"history": history, "isReplaying": True, **record["context"]}
    )


def without_cancel_flags(leaves: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in leaf.items() if k != "isCanceled"} for leaf in leaves]


@pytest.mark.parametrize(("name", "body"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
async def test_replaying_history_gives_same_actions(
    emulator: dict[str, Any], session: aiohttp.ClientSession, functions: FunctionIndex, name: str, body: Any
) -> None:
    record = await run_and_fetch(session, emulator["durable"], name, body)
    history = record["history"]
    assert record["runtimeStatus"] in ("Completed", "Failed")

    state, error = replay(functions, record, history)
    assert state["actions"] == record["actions"]
    if record["runtimeStatus"] == "Completed":
        assert error is None
        assert state["isDone"] is True
        assert state.get("output") == record["output"]
    else:
        assert error is not None and error in record["output"]

    final_leaves = flatten(record["actions"])
    ends = [i for i, e in enumerate(history) if e["EventType"] == EventType.ORCHESTRATOR_COMPLETED]
    assert ends, "every episode ends with OrchestratorCompleted"
    for end in ends:
        partial, _ = replay(functions, record, history[:end])
        leaves = flatten(partial.get("actions") or [])
        assert without_cancel_flags(leaves) == without_cancel_flags(final_leaves[: len(leaves)])

    if "retry" not in name:  # retries add timers and attempts between numbered leaves
        scheduled = sorted(
            (e for e in history if e["EventType"] in SCHEDULING.values()), key=lambda e: e["EventId"]
        )
        numbered = [leaf for leaf in final_leaves if ActionType(leaf["actionType"]) in SCHEDULING]
        assert [e["EventId"] for e in scheduled] == list(range(len(scheduled)))
        assert len(numbered) == len(scheduled)
        for leaf, event in zip(numbered, scheduled, strict=True):
            kind = ActionType(leaf["actionType"])
            assert event["EventType"] == SCHEDULING[kind]
            if kind == ActionType.CREATE_TIMER:
                assert event["FireAt"] == leaf["fireAt"]
            else:
                assert (event["Name"], event["Input"]) == (leaf["functionName"], leaf["input"])


async def test_a_tampered_history_is_detected(
    emulator: dict[str, Any], session: aiohttp.ClientSession, functions: FunctionIndex
) -> None:
    """The check above can fail: swapping two completions changes what the replay returns."""
    record = await run_and_fetch(session, emulator["durable"], "chain_orchestrator", ["x", "y"])
    history = json.loads(json.dumps(record["history"]))
    completed = [e for e in history if e["EventType"] == EventType.TASK_COMPLETED]
    completed[0]["Result"], completed[1]["Result"] = completed[1]["Result"], completed[0]["Result"]
    state, _ = replay(functions, record, history)
    assert state.get("output") != record["output"]
