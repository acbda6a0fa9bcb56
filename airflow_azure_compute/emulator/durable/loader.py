"""Load Durable function apps (azure-functions-durable v2 ``DFApp``, or v1 folders) and index them.

A function app is a dotted module name or a ``.py`` path. Every ``azure.functions.FunctionRegister``
(``df.DFApp``, ``func.FunctionApp``) found at module level is indexed the way the Python worker
indexes it: ``app.get_functions()`` gives ``Function`` objects whose trigger binding says what they
are (``orchestrationTrigger`` / ``activityTrigger``).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ORCHESTRATION_TRIGGER = "orchestrationTrigger"
ACTIVITY_TRIGGER = "activityTrigger"
ENTITY_TRIGGER = "entityTrigger"
HTTP_TRIGGER = "httpTrigger"
DURABLE_CLIENT = "durableClient"


@dataclass(frozen=True)
class Activity:
    """An activity function: ``func`` is called with ``{input_name: decoded input}``."""

    name: str
    func: Callable[..., Any]
    input_name: str

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.func)


@dataclass(frozen=True)
class Orchestrator:
    """An orchestrator function: ``handle`` is the package's ``Orchestrator.create(fn)`` callable."""

    name: str
    handle: Callable[[Any], str]


@dataclass(frozen=True)
class EntityFunction:
    """An entity function: ``handle`` is the package's ``Entity.create(fn)`` callable (JSON in and out)."""

    name: str
    handle: Callable[[Any], str]


@dataclass(frozen=True)
class HttpFunction:
    """An HTTP-triggered function (e.g. a starter with ``durable_client_input``), served under ``/api``.

    ``client_name`` is the parameter that receives the Durable client binding JSON, if any;
    ``output_name`` the v1 model's named HTTP output binding (a ``func.Out`` the function sets),
    when the response is not the return value.
    """

    name: str
    func: Callable[..., Any]
    route: str
    methods: frozenset[str] | None
    anonymous: bool
    request_name: str
    client_name: str | None
    output_name: str | None = None

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.func)


@dataclass
class FunctionIndex:
    """Orchestrators and activities of every loaded app, by function name (case-insensitive)."""

    orchestrators: dict[str, Orchestrator] = field(default_factory=dict)
    activities: dict[str, Activity] = field(default_factory=dict)
    entities: dict[str, EntityFunction] = field(default_factory=dict)
    http: list[HttpFunction] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    default_version: str = ""  # host.json extensions.durableTask.defaultVersion ("" when unset)

    def orchestrator(self, name: str) -> Orchestrator | None:
        return self.orchestrators.get(name.lower())

    def activity(self, name: str) -> Activity | None:
        return self.activities.get(name.lower())

    def entity(self, name: str) -> EntityFunction | None:
        return self.entities.get(name.lower())

    def add_app(self, app: Any, source: str) -> None:
        app.functions_bindings = None  # get_functions() refuses a second indexing otherwise
        for function in app.get_functions():
            trigger = function.get_trigger()
            if trigger is None:
                continue
            kind = trigger.get_binding_name()
            default_name = function.get_function_name()
            if kind == ORCHESTRATION_TRIGGER:
                name = getattr(trigger, "orchestration", None) or default_name
                self._put(self.orchestrators, Orchestrator(name, function.get_user_function()), source)
            elif kind == ACTIVITY_TRIGGER:
                name = getattr(trigger, "activity", None) or default_name
                activity = Activity(name, function.get_user_function(), trigger.name)
                self._put(self.activities, activity, source)
            elif kind == ENTITY_TRIGGER:
                name = getattr(trigger, "entity_name", None) or default_name
                self._put(self.entities, EntityFunction(name, function.get_user_function()), source)
            elif kind == HTTP_TRIGGER:
                self.http.append(_http_function(function, default_name))
        self.sources.append(source)

    def read_host_json(self, app_root: Path, source: str) -> None:
        """Take ``extensions.durableTask.defaultVersion`` from the app's ``host.json``, if it has one.

        It is a setting of the host: apps loaded together must not disagree on it.
        """
        path = app_root / "host.json"
        if not path.is_file():
            return
        settings = json.loads(path.read_text(encoding="utf-8-sig"))
        durable = (settings.get("extensions") or {}).get("durableTask") or {}
        version = str(durable.get("defaultVersion") or "")
        if version and self.default_version and version != self.default_version:
            raise ValueError(
                f"function app {source}: host.json defaultVersion {version!r} differs from "
                f"{self.default_version!r} of an app loaded before; one host has one defaultVersion"
            )
        self.default_version = version or self.default_version

    @staticmethod
    def _put(table: dict[str, Any], item: Activity | Orchestrator | EntityFunction, source: str) -> None:
        key = item.name.lower()
        if key in table:
            raise ValueError(f"function app {source}: function {item.name!r} is defined twice")
        table[key] = item


def _http_function(function: Any, name: str) -> HttpFunction:
    trigger = function.get_trigger()
    methods = getattr(trigger, "methods", None)
    clients = [b.name for b in function.get_bindings() if b.get_binding_name() == DURABLE_CLIENT]
    return HttpFunction(
        name=name,
        func=function.get_user_function(),
        route=str(getattr(trigger, "route", None) or name),
        methods=frozenset(str(m).upper() for m in methods) if methods else None,
        anonymous=str(getattr(trigger, "auth_level", "function")).lower() == "anonymous",
        request_name=trigger.name,
        client_name=clients[0] if clients else None,
    )


def import_app_module(spec: str) -> Any:
    """Import a function app given as a dotted module name or a path to a ``.py`` file."""
    path = Path(spec)
    if spec.endswith(".py") or path.exists():
        path = path.resolve()
        if not path.is_file():
            raise FileNotFoundError(f"function app file not found: {spec}")
        digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
        module_name = f"_durable_function_app_{path.stem}_{digest}"
        if module_name in sys.modules:
            return sys.modules[module_name]
        module_spec = importlib.util.spec_from_file_location(module_name, path)
        if module_spec is None or module_spec.loader is None:
            raise ImportError(f"cannot import function app {spec}")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module
        # Sibling imports work as they do in a deployed app, whose root is on sys.path.
        if str(path.parent) not in sys.path:
            sys.path.append(str(path.parent))
        module_spec.loader.exec_module(module)
        return module
    return importlib.import_module(spec)


def find_apps(module: Any) -> list[Any]:
    """The ``FunctionRegister`` instances (``DFApp``, ``FunctionApp``) defined in ``module``."""
    from azure.functions import FunctionRegister

    seen: list[Any] = []
    for value in vars(module).values():
        if isinstance(value, FunctionRegister) and all(value is not s for s in seen):
            seen.append(value)
    return seen


def load_function_apps(specs: Iterable[str]) -> FunctionIndex:
    """Import every function app in ``specs`` and index its orchestrators and activities.

    A folder holding ``<Function>/function.json`` folders is an app of the v1 programming model
    (see `function_json`); anything else is a v2 module (a ``.py`` path or a dotted name).
    """
    from airflow_azure_compute.emulator.durable.function_json import (
        add_function_json_app,
        is_function_json_app,
    )

    index = FunctionIndex()
    indexed: set[int] = set()
    for spec in specs:
        if is_function_json_app(Path(spec)):
            add_function_json_app(index, Path(spec), str(spec))
            index.read_host_json(Path(spec), str(spec))
            continue
        module = import_app_module(str(spec))
        if getattr(module, "__file__", None):
            index.read_host_json(Path(module.__file__).resolve().parent, str(spec))
        apps = find_apps(module)
        if not apps:
            raise ValueError(f"function app {spec}: no DFApp / FunctionApp instance at module level")
        for app in apps:
            if id(app) not in indexed:  # get_functions() may run only once per app
                indexed.add(id(app))
                index.add_app(app, str(spec))
    return index
