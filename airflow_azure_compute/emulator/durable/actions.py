"""Read the ``actions`` an orchestrator returns (the package's ``OrchestratorState`` JSON).

The list is cumulative for the whole execution: every replay returns every action scheduled so far,
in scheduling order, with ``WhenAll`` / ``WhenAny`` (``actionType`` 12 / 11) nesting their
``compoundActions``. Flattening it depth-first gives the leaves in the order the package numbered
their tasks, which is how the extension (DTFx) matches them with history: each leaf that schedules
work consumes the next sequence number; ``WaitForExternalEvent`` does not.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

Action = dict[str, Any]


class ActionType(IntEnum):
    """Same numbers as ``azure.durable_functions.models.actions.ActionType``."""

    CALL_ACTIVITY = 0
    CALL_ACTIVITY_WITH_RETRY = 1
    CALL_SUB_ORCHESTRATOR = 2
    CALL_SUB_ORCHESTRATOR_WITH_RETRY = 3
    CONTINUE_AS_NEW = 4
    CREATE_TIMER = 5
    WAIT_FOR_EXTERNAL_EVENT = 6
    CALL_ENTITY = 7
    CALL_HTTP = 8
    SIGNAL_ENTITY = 9
    WHEN_ANY = 11
    WHEN_ALL = 12


COMPOUND = frozenset({ActionType.WHEN_ANY, ActionType.WHEN_ALL})
#: Leaves that do not take a sequence number from the orchestrator.
UNNUMBERED = frozenset({ActionType.WAIT_FOR_EXTERNAL_EVENT})
#: Leaves the emulator does not run (none at present: entities and durable HTTP are run).
UNSUPPORTED: frozenset[ActionType] = frozenset()


def flatten(actions: list[Any]) -> list[Action]:
    """The leaf actions of an ``actions`` payload (schema V1 list of lists, or V2+ nesting)."""
    leaves: list[Action] = []

    def walk(item: Any) -> None:
        if isinstance(item, list):
            for child in item:
                walk(child)
        elif ActionType(item["actionType"]) in COMPOUND:
            for child in item.get("compoundActions", []):
                walk(child)
        else:
            leaves.append(item)

    walk(actions)
    return leaves


def leaf_kind(action: Action) -> ActionType:
    return ActionType(action["actionType"])


def retry_options(action: Action) -> tuple[int, int]:
    """``(first_retry_interval_ms, max_number_of_attempts)`` of a ``...WithRetry`` action."""
    options = action.get("retryOptions") or {}
    first = int(options.get("firstRetryIntervalInMilliseconds", 1000))
    attempts = int(options.get("maxNumberOfAttempts", 1))
    return max(first, 1), max(attempts, 1)
