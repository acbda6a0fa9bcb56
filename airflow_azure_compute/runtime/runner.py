"""Run a pickled Python function on a Batch node: one call, or a chunk of map items.

Usage (the operator builds this command line; the files arrive as Batch resource files)::

    python3 runner.py --python 3.11 --function function.pkl --input chunk.pkl --out out [--path deps.zip]

1. The node's Python minor version is checked first, before anything is unpickled: a pickled function
   only loads on the minor version that pickled it. A mismatch writes ``out/runner_error.json`` and
   exits with `EXIT_PYTHON_VERSION`, so the Airflow task reports the two versions instead of a
   garbled unpickling traceback.
2. The shipped ``cloudpickle`` (beside this file) and every ``--path`` entry (zipped pure-Python
   packages) go on ``sys.path``; the function and the input are loaded.
3. Each call runs in input order. A value or an exception (its type, message, formatted traceback and,
   when it pickles, the exception itself) is recorded per item: one failing item never stops the chunk.
4. The outcomes are written to ``out/result.pkl`` (see `write_outcomes` for the layout), which the
   task uploads to the run's output container. With ``--logs``, the task's ``stdout.txt`` and
   ``stderr.txt`` are copied into ``out/`` as well, so they reach the Airflow task log.

Exit code 0 means the runner did its job, whatever the function raised; anything else is the runner's
own failure, explained in ``out/runner_error.json`` and on stderr. Standard library + cloudpickle only:
this file is copied to the nodes and runs there by path.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import sys
import time
import traceback
from typing import Any

#: Layout version of the input and result files.
FORMAT = 1
EXIT_OK = 0
EXIT_PYTHON_VERSION = 3
EXIT_LOAD_FAILED = 4
EXIT_WRITE_FAILED = 5
RESULT_FILE = "result.pkl"
ERROR_FILE = "runner_error.json"
#: How much of each task log ``--logs`` copies into ``out/`` (the end of the file).
LOG_COPY_BYTES = 1 << 20


def python_minor() -> str:
    """``"3.11"`` for the running interpreter."""
    return "{}.{}".format(*sys.version_info[:2])


def fail(out_dir: str, kind: str, message: str, code: int, *, with_traceback: bool = False) -> int:
    """Explain a runner failure in ``out/runner_error.json`` and on stderr; return the exit code."""
    record = {
        "kind": kind,
        "message": message,
        "traceback": traceback.format_exc() if with_traceback else "",
        "python": sys.version,
        "executable": sys.executable,
    }
    sys.stderr.write("airflow-azure-compute runner: {}\n{}".format(message, record["traceback"]))
    sys.stderr.flush()
    try:
        os.makedirs(out_dir, exist_ok=True)
        with open(os.path.join(out_dir, ERROR_FILE), "w", encoding="utf-8") as handle:
            json.dump(record, handle)
    except OSError:
        pass
    return code


def error_record(err: BaseException) -> dict[str, Any]:
    """An exception as data: type, message, formatted traceback, and the exception pickled when it can be."""
    import cloudpickle

    try:
        pickled: bytes | None = cloudpickle.dumps(err)
        pickle.loads(pickled or b"")  # an exception that pickles but cannot be rebuilt is as good as none
    except Exception:
        pickled = None
    kind = type(err)
    return {
        "type": f"{kind.__module__}.{kind.__qualname__}",
        "message": str(err),
        "traceback": "".join(traceback.format_exception(kind, err, err.__traceback__)),
        "exception": pickled,
    }


def run_items(function: Any, payload: dict[str, Any]) -> list[tuple[str, Any]]:
    """Call ``function`` on every item of the input, in order: ``("ok", value)`` or ``("error", record)``."""
    mode = payload["mode"]
    star = bool(payload.get("star"))
    outcomes: list[tuple[str, Any]] = []
    for item in payload["items"]:
        try:
            if mode == "call":
                args, kwargs = item
                value = function(*args, **kwargs)
            elif star:
                value = function(*item)
            else:
                value = function(item)
            outcomes.append(("ok", value))
        except Exception as err:
            outcomes.append(("error", error_record(err)))
    return outcomes


def write_outcomes(out_dir: str, start: int, outcomes: list[tuple[str, Any]], seconds: float) -> None:
    """``out/result.pkl``: ``{"format", "python", "start", "outcomes", "seconds"}``, pickled by cloudpickle.

    A value that cannot be pickled becomes an error outcome naming its type, so the others still arrive.
    """
    import cloudpickle

    def dump(items: list[tuple[str, Any]]) -> bytes:
        body = {
            "format": FORMAT,
            "python": sys.version,
            "start": start,
            "outcomes": items,
            "seconds": seconds,
        }
        return bytes(cloudpickle.dumps(body))

    try:
        data = dump(outcomes)
    except Exception:
        checked: list[tuple[str, Any]] = []
        for status, value in outcomes:
            try:
                cloudpickle.dumps(value)
                checked.append((status, value))
            except Exception as err:
                record = error_record(err)
                record["message"] = (
                    f"the return value (a {type(value).__qualname__}) cannot be pickled: {err}"
                )
                checked.append(("error", record))
        data = dump(checked)
    os.makedirs(out_dir, exist_ok=True)
    target = os.path.join(out_dir, RESULT_FILE)
    with open(target + ".tmp", "wb") as handle:
        handle.write(data)
    os.replace(target + ".tmp", target)


def copy_logs(out_dir: str) -> None:
    """Copy the end of the task's ``stdout.txt`` and ``stderr.txt`` into ``out_dir`` (best effort)."""
    sys.stdout.flush()
    sys.stderr.flush()
    task_dir = os.environ.get("AZ_BATCH_TASK_DIR") or os.path.dirname(os.getcwd())
    for name in ("stdout.txt", "stderr.txt"):
        source = os.path.join(task_dir, name)
        try:
            with open(source, "rb") as handle:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                handle.seek(max(0, size - LOG_COPY_BYTES))
                with open(os.path.join(out_dir, name), "wb") as copy:
                    shutil.copyfileobj(handle, copy)
        except OSError:
            pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a pickled Python function on a chunk of inputs.")
    parser.add_argument("--python", required=True, help="the minor version that pickled the function")
    parser.add_argument("--function", required=True, help="the pickled function")
    parser.add_argument("--input", required=True, help="the pickled call or chunk of items")
    parser.add_argument("--out", default="out", help="where result.pkl (or runner_error.json) goes")
    parser.add_argument("--path", action="append", default=[], help="sys.path entries (package zips)")
    parser.add_argument("--logs", action="store_true", help="copy stdout.txt/stderr.txt into --out")
    args = parser.parse_args(argv)

    if python_minor() != args.python:
        return fail(
            args.out,
            "python_version",
            f"this node runs Python {python_minor()} ({sys.executable}) but the function was pickled on Python {args.python}: pickled functions "
            "only load on the same minor version. Use an interpreter of that version on the node (the "
            "operator's python= argument, a start task, or a container image).",
            EXIT_PYTHON_VERSION,
        )
    here = os.path.dirname(os.path.abspath(__file__))
    for entry in [here, *args.path]:
        sys.path.insert(0, os.path.abspath(entry))
    try:
        import cloudpickle  # noqa: F401  (the shipped copy: functions pickled by value need it)

        with open(args.function, "rb") as handle:
            function = pickle.load(handle)
        with open(args.input, "rb") as handle:
            payload = pickle.load(handle)
        if payload.get("format") != FORMAT:
            raise ValueError(
                "input format {!r}, this runner reads {!r}".format(payload.get("format"), FORMAT)
            )
    except Exception as err:
        return fail(
            args.out,
            "load",
            f"could not load the function or its inputs: {type(err).__name__}: {err}",
            EXIT_LOAD_FAILED,
            with_traceback=True,
        )
    began = time.perf_counter()
    outcomes = run_items(function, payload)
    try:
        write_outcomes(args.out, int(payload.get("start", 0)), outcomes, time.perf_counter() - began)
    except Exception as err:
        return fail(
            args.out,
            "write",
            f"could not write the results: {type(err).__name__}: {err}",
            EXIT_WRITE_FAILED,
            with_traceback=True,
        )
    if args.logs:
        copy_logs(args.out)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
