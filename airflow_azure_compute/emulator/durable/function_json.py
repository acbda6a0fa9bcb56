"""Load a function app of the v1 programming model: one folder per function, with a ``function.json``.

As the Python worker does, each ``<root>/<Function>/function.json`` names its script (``scriptFile``,
default ``__init__.py``) and entry point (``entryPoint``, default ``main``), and its bindings say what
the function is. The script is imported as a submodule of a package standing for the app root (the
worker's ``__app__``), so relative imports such as ``from ..shared_code import x`` work, and the root
is put on ``sys.path`` for absolute ones. Orchestrators and entities export the package's
``Orchestrator.create(fn)`` / ``Entity.create(fn)`` handle as ``main``, exactly what the v2 decorators
register, so both models run through the same engine.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import sys
import types
from pathlib import Path
from typing import Any

from airflow_azure_compute.emulator.durable.loader import (
    ACTIVITY_TRIGGER,
    DURABLE_CLIENT,
    ENTITY_TRIGGER,
    HTTP_TRIGGER,
    ORCHESTRATION_TRIGGER,
    Activity,
    EntityFunction,
    FunctionIndex,
    HttpFunction,
    Orchestrator,
)

# The durable client binding's names: ``orchestrationClient`` is its name before Durable Functions 2.x.
CLIENT_BINDINGS = frozenset({DURABLE_CLIENT, "orchestrationClient"})
TRIGGERS = frozenset({ORCHESTRATION_TRIGGER, ACTIVITY_TRIGGER, ENTITY_TRIGGER, HTTP_TRIGGER})


def is_function_json_app(path: Path) -> bool:
    """True when ``path`` is a folder holding at least one ``<Function>/function.json``."""
    return path.is_dir() and any(path.glob("*/function.json"))


def add_function_json_app(index: FunctionIndex, root: Path, source: str) -> None:
    """Import every function folder of ``root`` and register its functions in ``index``."""
    root = root.resolve()
    package = _app_package(root)
    for config_path in sorted(root.glob("*/function.json")):
        folder = config_path.parent
        config = json.loads(config_path.read_text(encoding="utf-8-sig"))
        if config.get("disabled") is True:
            continue
        bindings: list[dict[str, Any]] = list(config.get("bindings") or [])
        _check_bindings(config_path, bindings)
        triggers = [b for b in bindings if b.get("type") in TRIGGERS]
        if len(triggers) != 1:
            raise ValueError(f"function app {source}: {config_path} needs exactly one trigger binding")
        func = _entry_point(package, folder, config)
        name, trigger = folder.name, triggers[0]
        kind = trigger["type"]
        if kind == ORCHESTRATION_TRIGGER:
            index._put(index.orchestrators, Orchestrator(name, func), source)
        elif kind == ACTIVITY_TRIGGER:
            index._put(index.activities, Activity(name, func, trigger["name"]), source)
        elif kind == ENTITY_TRIGGER:
            index._put(index.entities, EntityFunction(name, func), source)
        elif kind == HTTP_TRIGGER:
            index.http.append(_http_function(name, func, trigger, bindings))
    index.sources.append(source)


def _http_function(
    name: str, func: Any, trigger: dict[str, Any], bindings: list[dict[str, Any]]
) -> HttpFunction:
    clients = [b["name"] for b in bindings if b.get("type") in CLIENT_BINDINGS]
    outputs = [
        b["name"]
        for b in bindings
        if b.get("type") == "http" and b.get("direction") == "out" and b.get("name") != "$return"
    ]
    methods = trigger.get("methods")
    return HttpFunction(
        name=name,
        func=func,
        route=str(trigger.get("route") or name),
        methods=frozenset(str(m).upper() for m in methods) if methods else None,
        anonymous=str(trigger.get("authLevel", "function")).lower() == "anonymous",
        request_name=trigger["name"],
        client_name=clients[0] if clients else None,
        output_name=outputs[0] if outputs else None,
    )


def _check_bindings(config_path: Path, bindings: list[dict[str, Any]]) -> None:
    """Refuse, at start-up, a binding the host does not emulate (rather than drop what it would do)."""
    for binding in bindings:
        kind = binding.get("type")
        if kind in TRIGGERS or kind in CLIENT_BINDINGS:
            continue
        if kind == "http" and binding.get("direction") == "out":
            continue
        raise ValueError(
            f"{config_path}: binding {binding.get('name')!r} of type {kind!r} is not emulated by the "
            "Durable host (it serves orchestration, activity, entity and HTTP triggers, the durable "
            "client binding and HTTP outputs)"
        )


def _app_package(root: Path) -> str:
    """A package whose ``__path__`` is the app root: the function folders import as its submodules."""
    digest = hashlib.sha1(str(root).encode()).hexdigest()[:10]
    name = f"_durable_function_app_{digest}"
    if name not in sys.modules:
        package = types.ModuleType(name)
        package.__path__ = [str(root)]
        sys.modules[name] = package
    if str(root) not in sys.path:
        sys.path.append(str(root))
    return name


def _entry_point(package: str, folder: Path, config: dict[str, Any]) -> Any:
    script = Path(str(config.get("scriptFile") or "__init__.py"))
    if script.suffix != ".py" or script.parent != Path("."):
        raise ValueError(f"{folder / 'function.json'}: scriptFile {script} is not a .py file of its folder")
    module_name = f"{package}.{folder.name}"
    if script.name != "__init__.py":
        module_name += f".{script.stem}"
    module = importlib.import_module(module_name)
    entry = str(config.get("entryPoint") or "main")
    func = getattr(module, entry, None)
    if not callable(func):
        raise ValueError(f"{folder / 'function.json'}: {module_name} has no function {entry!r} (entryPoint)")
    return func
