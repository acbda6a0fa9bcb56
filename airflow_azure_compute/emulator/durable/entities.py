"""Durable entities: state per ``(name, key)``, operations run one at a time through the app's real
entity function (azure-functions-durable's ``Entity.create(fn)`` handle, JSON in and out).

Entity names are case-insensitive and reported lowercase (``@counter@steps``), keys keep their case.
An operation is either a signal (fire and forget, from the HTTP API or an orchestrator) or a call
(an orchestrator waits for its result).
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime

from airflow_azure_compute.emulator.durable.loader import FunctionIndex
from airflow_azure_compute.emulator.durable.wire import utcnow


class EntityNotFoundError(LookupError):
    """No entity function has that name."""


@dataclass
class EntityRecord:
    name: str  # lowercase entity name
    key: str
    exists: bool = False
    state: str | None = None  # the state as JSON text (what the package hands back)
    last_operation: datetime = field(default_factory=utcnow)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass(frozen=True)
class OperationOutcome:
    """What one operation returned: the result as JSON text, and whether it raised."""

    result: str | None
    is_error: bool


def parse_entity_id(text: str) -> tuple[str, str]:
    """``@name@key`` (the orchestrator's ``EntityId`` form) as ``(name, key)``."""
    if not text.startswith("@") or "@" not in text[1:]:
        raise ValueError(f"not an entity id: {text!r} (expected @name@key)")
    name, _, key = text[1:].partition("@")
    return name.lower(), key


class EntityStore:
    """Every entity of the task hub and the operations sent to them."""

    def __init__(self, functions: FunctionIndex, executor: Executor) -> None:
        self.functions = functions
        self.executor = executor
        self.records: dict[tuple[str, str], EntityRecord] = {}

    def record(self, name: str, key: str) -> EntityRecord | None:
        return self.records.get((name.lower(), key))

    def check_name(self, name: str) -> None:
        if self.functions.entity(name) is None:
            raise EntityNotFoundError(f"No entity function named '{name}' is defined in this function app.")

    async def operate(
        self, name: str, key: str, operation: str, input_text: str | None, signal: bool
    ) -> OperationOutcome:
        """Run one operation on ``@name@key`` after those queued before it; create the entity if needed."""
        self.check_name(name)
        function = self.functions.entity(name)
        assert function is not None
        record = self.records.setdefault((name.lower(), key), EntityRecord(name.lower(), key))
        async with record.lock:
            context = {
                "self": {"name": record.name, "key": key},
                "state": record.state,
                "exists": record.exists,
                # the extension hands the operation input over as a JSON string holding the JSON text
                "batch": [{"name": operation, "signal": signal, "input": json.dumps(input_text)}],
            }
            loop = asyncio.get_running_loop()
            try:
                answer = json.loads(
                    await loop.run_in_executor(self.executor, function.handle, json.dumps(context))
                )
            except Exception as exc:  # the package failed outside the user's operation
                return OperationOutcome(json.dumps(f"Entity function '{name}' failed: {exc}"), True)
            record.exists = bool(answer.get("entityExists"))
            record.state = answer.get("entityState") if record.exists else None
            record.last_operation = utcnow()
            if not record.exists:
                self.records.pop((record.name, key), None)
            results = answer.get("results") or [{}]
            return OperationOutcome(results[0].get("result"), bool(results[0].get("isError")))

    def query(self, name: str | None, since: datetime | None, until: datetime | None) -> list[EntityRecord]:
        """Existing entities (of one name, when given), by name then key."""
        found = [
            r
            for r in self.records.values()
            if r.exists
            and (name is None or r.name == name.lower())
            and (since is None or r.last_operation >= since)
            and (until is None or r.last_operation <= until)
        ]
        return sorted(found, key=lambda r: (r.name, r.key))

    def reset(self) -> None:
        self.records.clear()
