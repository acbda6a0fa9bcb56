"""What travels to a Batch node to run a Python function: the function and its inputs pickled by
cloudpickle, the runner, cloudpickle itself, and the user's pure-Python packages.

Everything here runs on the Airflow worker before any Batch request, so bad input fails early and names
what was wrong:

* `pickle_function` / `pickle_value` pickle with cloudpickle, the function's own module (the
  DAG file) by value, and refuse hooks, connections and Azure SDK clients wherever they hide (closure,
  globals, defaults, arguments): they hold credentials and sockets and must never leave the worker.
  When something cannot be pickled, the error names its path (``argument 'rows' -> [3] -> .lock``).
* `zip_packages` zips installed pure-Python packages from the worker's environment.
* `runtime_files` is the runner and the cloudpickle sources, shipped as resource files.
* `python_start_task` is a pool start task that installs a requirements list on every node.

No Airflow or Azure import: cloudpickle is imported when a function is pickled.
"""

from __future__ import annotations

import importlib
import importlib.util
import io
import os
import pickle
import sys
import sysconfig
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from types import CodeType, FunctionType, ModuleType
from typing import Any

from airflow_azure_compute.exceptions import AzureComputeConfigError

#: Installed files that make a package impossible to ship as a zip (compiled extensions).
_COMPILED = (".so", ".pyd", ".dylib", ".dll")
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)
#: How deep `locate_unpicklable` looks into nested containers and attributes.
_LOCATE_DEPTH = 8


def python_minor() -> str:
    """The worker's Python minor version (``"3.11"``): what pickled functions need on the node."""
    return "{}.{}".format(*sys.version_info[:2])


def _forbidden_kind(obj: object) -> str | None:
    """``"hook"``, ``"connection"`` or ``"Azure SDK client"`` when ``obj`` must not leave the worker."""
    for cls in type(obj).__mro__:
        module = cls.__module__ or ""
        if module.startswith("airflow") and cls.__name__ == "Connection":
            return "connection"
        if module.startswith(("airflow", "airflow_azure_compute")) and cls.__name__.endswith("Hook"):
            return "hook"
        if module.startswith("azure.") and cls.__name__.endswith(("Client", "Credential")):
            return "Azure SDK client"
    return None


class _Forbidden(Exception):
    def __init__(self, obj: object, kind: str) -> None:
        super().__init__(kind)
        self.obj = obj
        self.kind = kind


@lru_cache(maxsize=1)
def _pickler_class() -> type:
    import cloudpickle

    class CheckingPickler(cloudpickle.CloudPickler):  # type: ignore[misc, name-defined]
        """cloudpickle, refusing hooks, connections and SDK clients at any depth."""

        def reducer_override(self, obj: Any) -> Any:
            kind = _forbidden_kind(obj)
            if kind is not None:
                raise _Forbidden(obj, kind)
            return super().reducer_override(obj)

    return CheckingPickler


def _dumps(obj: object) -> bytes:
    buffer = io.BytesIO()
    _pickler_class()(buffer, protocol=pickle.DEFAULT_PROTOCOL).dump(obj)
    return buffer.getvalue()


def _installed(module: ModuleType) -> bool:
    """Whether ``module`` comes from the standard library or an installed distribution (importable on a
    node that has the same packages), as opposed to a DAG file or a module beside it."""
    path = getattr(module, "__file__", None)
    if not path:
        return True  # built-in
    roots = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    resolved = os.path.realpath(path)
    return any(resolved.startswith(os.path.realpath(r) + os.sep) for r in roots)


@contextmanager
def _by_value(modules: Sequence[ModuleType]) -> Iterator[None]:
    import cloudpickle

    registered = []
    try:
        for module in modules:
            if module.__name__ in sys.modules and module.__name__ not in registered:
                try:
                    cloudpickle.register_pickle_by_value(module)
                except ValueError:
                    continue  # already registered by the caller
                registered.append(module.__name__)
        yield
    finally:
        for name in registered:
            cloudpickle.unregister_pickle_by_value(sys.modules[name])


def by_value_modules(
    function: Callable[..., Any], extra: Sequence[str | ModuleType] = ()
) -> list[ModuleType]:
    """The function's own module when it is not installed (a DAG file), plus ``extra`` modules."""
    modules: list[ModuleType] = []
    own = sys.modules.get(getattr(function, "__module__", "") or "")
    if own is not None and not _installed(own):
        modules.append(own)
    for entry in extra:
        if isinstance(entry, ModuleType):
            modules.append(entry)
            continue
        try:
            modules.append(importlib.import_module(entry))
        except ImportError as err:
            raise AzureComputeConfigError(
                f"module {entry!r} cannot be imported on the worker: {err}", field="ship_modules"
            ) from err
    return modules


def pickle_function(function: Callable[..., Any], *, modules: Sequence[ModuleType] = ()) -> bytes:
    """The function pickled by cloudpickle, ``modules`` (e.g. the DAG file) by value.

    Raises `AzureComputeConfigError` naming the closure variable, global or default that holds a
    hook/connection/client or cannot be pickled.
    """
    if not callable(function):
        raise AzureComputeConfigError(
            f"{function!r} is not callable: pass a function", field="python_callable"
        )
    name = getattr(function, "__qualname__", repr(function))
    return pickle_value(function, f"function {name!r}", field="python_callable", modules=modules)


def pickle_value(value: object, what: str, *, field: str, modules: Sequence[ModuleType] = ()) -> bytes:
    """``value`` pickled like `pickle_function`; ``what`` names it in errors (``"argument 'x'"``)."""
    with _by_value(modules):
        try:
            return _dumps(value)
        except _Forbidden as err:
            path = locate_unpicklable(value, what)
            raise AzureComputeConfigError(
                f"{path} is a {err.kind} ({type(err.obj).__qualname__}): hooks, connections and Azure SDK "
                "clients hold credentials and open sockets and cannot travel to a Batch node. Pass plain "
                "values (names, URLs, ids) and create clients inside the function, or do that work in an "
                "ordinary Airflow task.",
                field=field,
            ) from None
        except Exception as err:
            path = locate_unpicklable(value, what)
            raise AzureComputeConfigError(
                f"{path} cannot be pickled ({type(err).__name__}: {err}). Everything the function uses "
                "travels to the node by cloudpickle: replace it with plain data, or create it inside "
                "the function.",
                field=field,
            ) from err


def _pickles(obj: object) -> bool:
    try:
        _dumps(obj)
        return True
    except Exception:
        return False


def _code_names(code: CodeType) -> Iterator[str]:
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, CodeType):
            yield from _code_names(const)


def _children(obj: object) -> Iterator[tuple[str, object]]:
    """``(label, child)`` pairs that pickling ``obj`` also pickles (the common cases)."""
    if isinstance(obj, FunctionType):
        for name, cell in zip(obj.__code__.co_freevars, obj.__closure__ or (), strict=False):
            try:
                yield f" -> closure variable {name!r}", cell.cell_contents
            except ValueError:  # an empty cell
                continue
        for name in dict.fromkeys(_code_names(obj.__code__)):
            if name in obj.__globals__:
                child = obj.__globals__[name]
                if not isinstance(child, ModuleType):
                    yield f" -> global {name!r}", child
        for i, default in enumerate(obj.__defaults__ or ()):
            yield f" -> default #{i}", default
        for key, default in (obj.__kwdefaults__ or {}).items():
            yield f" -> default {key!r}", default
    elif isinstance(obj, Mapping):
        for key, child in obj.items():
            yield f" -> [{key!r}]", child
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for i, child in enumerate(obj):
            yield f" -> [{i}]", child
    elif hasattr(obj, "__dict__") and not isinstance(obj, type):
        for key, child in vars(obj).items():
            yield f" -> .{key}", child


def locate_unpicklable(obj: object, label: str, depth: int = _LOCATE_DEPTH) -> str:
    """The path (``label -> closure variable 'x' -> .client``) to the innermost part that fails to pickle."""
    if depth <= 0:
        return label
    for child_label, child in _children(obj):
        if _forbidden_kind(child) is not None:
            return label + child_label
        if not _pickles(child):
            return locate_unpicklable(child, label + child_label, depth - 1)
    return label


def pickle_call(
    args: Sequence[Any], kwargs: Mapping[str, Any], *, modules: Sequence[ModuleType] = ()
) -> bytes:
    """The runner's input file for one call ``f(*args, **kwargs)``; errors name the argument."""
    for i, value in enumerate(args):
        pickle_value(value, f"positional argument #{i}", field="op_args", modules=modules)
    for key, value in kwargs.items():
        pickle_value(value, f"argument {key!r}", field="op_kwargs", modules=modules)
    return chunk_payload("call", 0, [(tuple(args), dict(kwargs))], modules=modules)


def chunk_payload(
    mode: str, start: int, items: Sequence[Any], *, star: bool = False, modules: Sequence[ModuleType] = ()
) -> bytes:
    """The runner's input file: ``{"format", "mode", "start", "star", "items"}`` pickled."""
    from airflow_azure_compute.runtime.runner import FORMAT

    body = {"format": FORMAT, "mode": mode, "start": start, "star": star, "items": list(items)}
    try:
        with _by_value(modules):
            return _dumps(body)
    except Exception:
        for offset, item in enumerate(items):  # name the first item that does not pickle
            pickle_value(item, f"item #{start + offset}", field="items", modules=modules)
        raise


def runtime_files() -> dict[str, bytes]:
    """``{relative path: bytes}`` shipped to every task: the runner and the cloudpickle package."""
    import cloudpickle

    from airflow_azure_compute.runtime import runner

    files = {"runner.py": Path(runner.__file__).read_bytes()}
    package = Path(cloudpickle.__file__).parent
    for source in sorted(package.glob("*.py")):
        files[f"cloudpickle/{source.name}"] = source.read_bytes()
    return files


def zip_packages(names: Sequence[str]) -> bytes:
    """Installed pure-Python packages (or modules) of the worker, zipped for ``sys.path`` on the node.

    Raises `AzureComputeConfigError` for a name that is not importable here, or a package with
    compiled extensions (install those on the nodes with `python_start_task` or an image).
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in names:
            for path, arcname in _package_files(name):
                info = zipfile.ZipInfo(arcname, date_time=_ZIP_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def _package_files(name: str) -> list[tuple[Path, str]]:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        spec = None
    if spec is None or (not spec.origin and not spec.submodule_search_locations):
        raise AzureComputeConfigError(
            f"{name!r} is not importable on the worker: install it here, or list it in the pool's "
            "requirements instead",
            field="ship_packages",
        )
    if "." in name:
        raise AzureComputeConfigError(
            f"{name!r}: ship top-level packages only (e.g. {name.split('.')[0]!r})", field="ship_packages"
        )
    if not spec.submodule_search_locations:
        origin = Path(str(spec.origin))
        if origin.suffix != ".py":
            raise AzureComputeConfigError(
                f"{name!r} is compiled ({origin.name}): install it on the nodes (pool requirements or a "
                "container image)",
                field="ship_packages",
            )
        return [(origin, origin.name)]
    files: list[tuple[Path, str]] = []
    for location in spec.submodule_search_locations:
        root = Path(location)
        for path in sorted(root.rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            if path.suffix in _COMPILED or ".cpython-" in path.name:
                raise AzureComputeConfigError(
                    f"{name!r} has a compiled extension ({path.name}) and cannot be shipped as source: "
                    "install it on the nodes (pool requirements or a container image)",
                    field="ship_packages",
                )
            files.append((path, f"{name}/{path.relative_to(root).as_posix()}"))
    return files


def python_start_task(requirements: Sequence[str], *, python: str = "python3") -> dict[str, Any]:
    """A pool start task (a `StartTaskSpec` mapping) that installs
    ``requirements`` (pip requirement strings) for ``python`` on every node, as an administrator.

    Installs pip first where the image lacks it (Ubuntu marketplace images). Nodes take tasks only
    after it succeeded; a failure marks the node ``starttaskfailed``.
    """
    import shlex

    if isinstance(requirements, str) or not requirements:
        raise AzureComputeConfigError(
            "give a list of pip requirement strings, e.g. ['pandas==2.2.*']", field="requirements"
        )
    for requirement in requirements:
        if not requirement.strip() or requirement.lstrip().startswith("-"):
            raise AzureComputeConfigError(
                f"{requirement!r} is not a requirement string (no pip options)", field="requirements"
            )
    py = shlex.quote(python)
    reqs = " ".join(shlex.quote(r.strip()) for r in requirements)
    script = (
        f"{py} -m pip --version >/dev/null 2>&1 || "
        "(apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-pip) && "
        f"{py} -m pip install --quiet --disable-pip-version-check {reqs}"
    )
    return {
        "command_line": f"/bin/sh -c {shlex.quote(script)}",
        "elevated": True,
        "wait_for_success": True,
        "max_task_retries": 2,
    }


__all__ = [
    "by_value_modules",
    "chunk_payload",
    "locate_unpicklable",
    "pickle_call",
    "pickle_function",
    "pickle_value",
    "python_minor",
    "python_start_task",
    "runtime_files",
    "zip_packages",
]
