"""Helpers for the ACI / Durable operator tests: a minimal task instance and trigger drivers.

The operators run for real against the emulator through the real SDKs; only the Airflow task
instance is a small stand-in (dag.test() covers the real one in tests/e2e).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airflow.sdk.exceptions import TaskDeferred
from airflow.triggers.base import BaseTrigger


@dataclass
class FakeTI:
    dag_id: str = "ops_dag"
    run_id: str = "manual__2026-11-22T00:00:00"
    task_id: str = "task"
    map_index: int = -1
    try_number: int = 1
    xcom: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def context_for(ti: FakeTI) -> dict[str, Any]:
    return {"ti": ti, "task_instance": ti, "dag_run": None}


async def first_event(trigger: BaseTrigger, timeout: float = 60.0) -> dict[str, Any]:
    """Run a trigger until its first event; close it like the triggerer does."""
    agen = trigger.run()
    try:
        event = await asyncio.wait_for(agen.__anext__(), timeout)
        return dict(event.payload)
    finally:
        await agen.aclose()


def rebuild(trigger: BaseTrigger) -> BaseTrigger:
    """What a triggerer does with a stored trigger: import the class path, call it with the kwargs."""
    import importlib

    path, kwargs = trigger.serialize()
    module, name = path.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)(**kwargs)  # type: ignore[no-any-return]


def run_deferred(op: Any, context: dict[str, Any], deferred: TaskDeferred, limit: int = 50) -> Any:
    """Resume a deferred operator through trigger events until it returns (or raises)."""
    for _ in range(limit):
        payload = asyncio.run(first_event(rebuild(deferred.trigger)))
        kwargs = {**(deferred.kwargs or {}), "event": payload}
        try:
            return op.resume_execution(deferred.method_name, kwargs, context)
        except TaskDeferred as again:
            deferred = again
    raise AssertionError("operator kept deferring")


def execute(op: Any, context: dict[str, Any]) -> Any:
    """execute(), then every deferral, as the task runner and triggerer would do it."""
    try:
        return op.execute(context)
    except TaskDeferred as deferred:
        return run_deferred(op, context, deferred)


def expect_deferred(call: Callable[[], Any]) -> TaskDeferred:
    try:
        call()
    except TaskDeferred as deferred:
        return deferred
    raise AssertionError("expected the operator to defer")
