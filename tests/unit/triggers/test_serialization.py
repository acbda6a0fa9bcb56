"""Every trigger of the package round-trips through serialize() with primitives only.

Triggers are discovered by importing every ``airflow_azure_compute.triggers.*`` module, so a trigger
added later is covered without touching this file. Each needs an example in ``EXAMPLES`` (by class
name) or constructs from keyword arguments named like its required parameters.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import time
from typing import Any

import pytest
from airflow.triggers.base import BaseTrigger

import airflow_azure_compute.triggers as triggers_pkg
from airflow_azure_compute.triggers.base import SerializableTrigger, constructor_parameters

#: Values for required constructor parameters, by name (shared across triggers).
VALUES: dict[str, Any] = {
    "conn_id": "some_conn",
    "deadline": time.time() + 3600,
    "job_id": "job-1",
    "pool_id": "pool-1",
    "instance_id": "inst-1",
    "container_group": "cg-1",
    "name": "cg-1",
    "resource_group": "rg",
    "container_name": "main",
    "function_name": "orch",
    "status_url": "http://127.0.0.1/status",
}

#: Extra non-default keyword arguments, by class name (cover more fields than the defaults).
EXAMPLES: dict[str, dict[str, Any]] = {
    "BatchJobCompleteTrigger": {
        "task_id_prefix": "fan-",
        "expected_tasks": 12,
        "scope": "prefix",
        "failure_policy": "tolerate",
        "tolerate_percent": 12.5,
        "owns_job": True,
        "release_job": True,
    },
    "BatchPoolReadyTrigger": {"min_ready_nodes": 3},
    "BatchPoolResizeTrigger": {"stop_on_kill": False},
    "WorkerPoolTrigger": {
        "layout": {"queue": "q-1", "container": "in", "output_container": "out", "prefix": "p/", "total": 3},
        "workers": {"w0": {"body": {"location": "l", "properties": {}}, "secrets": []}},
    },
}


def _all_trigger_classes() -> list[type[BaseTrigger]]:
    found: dict[str, type[BaseTrigger]] = {}
    for info in pkgutil.iter_modules(triggers_pkg.__path__):
        module = importlib.import_module(f"{triggers_pkg.__name__}.{info.name}")
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(obj, BaseTrigger)
                and obj.__module__ == module.__name__
                and not inspect.isabstract(obj)
                and not obj.__name__.startswith("_")
            ):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return [found[k] for k in sorted(found)]


def _by_annotation(cls: type[BaseTrigger], name: str, annotation: str) -> Any:
    """A sample value for a required parameter not in VALUES, from its (string) annotation."""
    base = annotation.split("|")[0].strip()
    samples: dict[str, Any] = {"str": f"sample-{name}", "int": 7, "float": 7.5, "bool": True}
    if base.startswith(("dict", "Mapping")):
        return {"k": "v"}
    if base.startswith(("list", "Sequence", "tuple")):
        return ["a"]
    if base not in samples:
        pytest.fail(f"{cls.__name__}: add a value for required parameter {name!r} ({annotation}) to VALUES")
    return samples[base]


def _parameters(cls: type[BaseTrigger]) -> list[inspect.Parameter]:
    """Keyword parameters of the constructor, with those passed up through ``**kwargs`` to a parent's."""
    if issubclass(cls, SerializableTrigger):
        return list(constructor_parameters(cls))
    params = inspect.signature(cls.__init__).parameters.values()
    return [p for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "self"]


def _build(cls: type[BaseTrigger]) -> BaseTrigger:
    kwargs: dict[str, Any] = dict(EXAMPLES.get(cls.__name__, {}))
    for param in _parameters(cls):
        name = param.name
        if name in kwargs:
            continue
        if param.default is inspect.Parameter.empty:
            kwargs[name] = VALUES.get(name, _by_annotation(cls, name, str(param.annotation)))
    return cls(**kwargs)


TRIGGERS = _all_trigger_classes()


def test_batch_triggers_are_discovered() -> None:
    names = {c.__name__ for c in TRIGGERS}
    assert {"BatchJobCompleteTrigger", "BatchPoolReadyTrigger", "BatchPoolResizeTrigger"} <= names


@pytest.mark.parametrize("cls", TRIGGERS, ids=lambda c: c.__name__)
def test_trigger_round_trips(cls: type[BaseTrigger]) -> None:
    trigger = _build(cls)
    path, kwargs = trigger.serialize()
    assert json.loads(json.dumps(kwargs)) == kwargs  # primitives only
    module, name = path.rsplit(".", 1)
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert rebuilt.serialize() == (path, kwargs)


def test_arguments_passed_up_to_the_parent_are_serialized() -> None:
    from airflow_azure_compute.triggers.batch_pool import BatchPoolResizeTrigger

    trigger = BatchPoolResizeTrigger(pool_id="p", conn_id="c", deadline=5.0, error_budget=3)
    _, kwargs = trigger.serialize()
    assert kwargs == {
        "pool_id": "p",
        "stop_on_kill": True,
        "conn_id": "c",
        "deadline": 5.0,
        "poll_interval": 10.0,
        "error_budget": 3,
        "error_window_s": 600.0,
    }


def test_values_become_primitives() -> None:
    from airflow_azure_compute.hooks.aci_groups import GroupPlan, OnKillAction
    from airflow_azure_compute.triggers.base import to_primitive

    plan = GroupPlan({"location": "l"}, ())
    assert to_primitive({"a": OnKillAction.STOP, "b": {"p": plan}, "c": [1]}) == {
        "a": "stop",
        "b": {"p": plan.to_dict()},
        "c": [1],
    }
