"""Results of Python functions run on Batch, back in the DAG: values in input order, remote exceptions.

The runner (`airflow_azure_compute.runtime.runner`) writes one ``result.pkl`` per Batch task with
the outcome of each item it ran: ``("ok", value)`` or ``("error", record)``. This module turns them into
what a DAG sees:

* `rebuild_exception`: the remote exception, raised again here with the node's traceback as its
  cause (`RemoteTraceback`), or `RemoteFunctionError`
  when the exception class cannot be rebuilt on the worker.
* `MapResults`: the XCom value of a map, read as a sequence in input order. Small results travel
  inline in XCom; large ones stay in the run workspace and a manifest names them, read lazily chunk by
  chunk. Both have the same XCom shape (`map_xcom`), so downstream code does not care::

      {"count": N, "error_count": k, "errors": [...first 100...], "results": [...] | None,
       "manifest": {"container": ..., "blob": ..., "conn_id": ...} | None}

No Azure import at module level: the Blob hook loads only when a manifest is read.
"""

from __future__ import annotations

import ast
import json
import linecache
import pickle
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

from airflow_azure_compute.exceptions import RemoteFunctionError

#: How many item errors the XCom value carries (all of them are in the manifest).
XCOM_ERRORS = 100


class RemoteTraceback(Exception):
    """The traceback of an exception raised on a Batch node; set as ``__cause__`` of the re-raised one."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f'\n"""\nTraceback on the Batch node:\n{self.text.rstrip()}\n"""'


@dataclass(frozen=True)
class ItemError:
    """An exception one item raised on the node.

    :param index: the item's position in the input.
    :param type: the exception's ``module.QualifiedName``.
    :param message: ``str(exception)``.
    :param traceback: the formatted traceback, as printed on the node.
    :param exception: the exception pickled by cloudpickle, or None when it could not be.
    """

    index: int
    type: str
    message: str
    traceback: str
    exception: bytes | None = None

    @classmethod
    def from_record(cls, index: int, record: Mapping[str, Any]) -> ItemError:
        return cls(
            index=index,
            type=str(record.get("type", "Exception")),
            message=str(record.get("message", "")),
            traceback=str(record.get("traceback", "")),
            exception=record.get("exception"),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe (no pickled exception): what XCom and the manifest carry."""
        return {"index": self.index, "type": self.type, "message": self.message, "traceback": self.traceback}


def rebuild_exception(error: ItemError, *, context: str = "", sources: Sequence[str] = ()) -> BaseException:
    """The remote exception (its own class when it unpickles here), its cause the node's traceback.

    ``context`` (e.g. ``"item #3 of 1000"``) is prepended to the traceback text; ``sources`` are the
    files of the modules pickled by value (see `resolve_frames`).
    """
    exc: BaseException | None = None
    if error.exception is not None:
        try:
            loaded = pickle.loads(error.exception)
            exc = loaded if isinstance(loaded, BaseException) else None
        except Exception:
            exc = None
    if exc is None:
        exc = RemoteFunctionError(f"{error.type}: {error.message}", remote_type=error.type)
    header = f"{context}\n" if context else ""
    exc.__cause__ = RemoteTraceback(header + resolve_frames(error.traceback, sources))
    return exc


_DYNAMIC_FRAME = re.compile(r'^(\s*)File "<dynamic-code>", line (\d+), in (\S+)$')


def _functions_at(path: str) -> list[tuple[str, int, int]]:
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return []
    return [
        (node.name, node.lineno, node.end_lineno or node.lineno)
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    ]


def resolve_frames(text: str, sources: Sequence[str]) -> str:
    """Point the node's ``<dynamic-code>`` frames (functions pickled by value) back at their source.

    A frame whose function name and line fall inside exactly one function of the ``sources`` files (the
    modules shipped by value, e.g. the DAG file) gets that file name and its source line, as a local
    traceback would show it.
    """
    if "<dynamic-code>" not in text or not sources:
        return text
    index = {path: _functions_at(path) for path in sources}
    out: list[str] = []
    for line in text.splitlines():
        match = _DYNAMIC_FRAME.match(line)
        if match:
            indent, number, name = match.group(1), int(match.group(2)), match.group(3)
            hits = [p for p, fns in index.items() if any(n == name and a <= number <= b for n, a, b in fns)]
            if len(hits) == 1:
                out.append(f'{indent}File "{hits[0]}", line {number}, in {name}')
                source = linecache.getline(hits[0], number).strip()
                if source:
                    out.append(f"{indent}  {source}")
                continue
        out.append(line)
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def decode_result(data: bytes) -> tuple[int, list[tuple[str, Any]]]:
    """``(start index, outcomes)`` of one ``result.pkl``."""
    body = pickle.loads(data)
    return int(body["start"]), list(body["outcomes"])


def split_outcomes(start: int, outcomes: Sequence[tuple[str, Any]]) -> tuple[list[Any], list[ItemError]]:
    """Values (None where the item failed) and the errors, for items ``start ..``."""
    values: list[Any] = []
    errors: list[ItemError] = []
    for offset, (status, value) in enumerate(outcomes):
        if status == "ok":
            values.append(value)
        else:
            values.append(None)
            errors.append(ItemError.from_record(start + offset, value))
    return values, errors


def map_xcom(
    count: int,
    errors: Sequence[ItemError],
    *,
    results: list[Any] | None = None,
    manifest: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The XCom value of a map: inline ``results`` or a ``manifest`` location, errors beside."""
    return {
        "count": count,
        "error_count": len(errors),
        "errors": [e.to_dict() for e in errors[:XCOM_ERRORS]],
        "results": results,
        "manifest": dict(manifest) if manifest is not None else None,
    }


def manifest_body(
    count: int, container: str, chunks: Sequence[Mapping[str, Any]], errors: Sequence[ItemError]
) -> bytes:
    """The manifest blob: where each chunk's ``result.pkl`` is, and every error."""
    body = {
        "format": 1,
        "count": count,
        "container": container,
        "chunks": [dict(c) for c in chunks],
        "errors": [e.to_dict() for e in errors],
    }
    return json.dumps(body, separators=(",", ":")).encode()


class MapResults(Sequence[Any]):
    """A map's results in input order (None where an item failed), from its XCom value.

    Inline results are a list already; manifest results are read chunk by chunk as they are indexed or
    iterated (one chunk in memory at a time), through the Blob connection the map used (named in the
    manifest reference) or ``blob_conn_id``::

        @task
        def total(mapped):
            return sum(MapResults.from_xcom(mapped))
    """

    def __init__(
        self,
        count: int,
        errors: Sequence[Mapping[str, Any]],
        error_count: int,
        *,
        inline: list[Any] | None = None,
        manifest: Mapping[str, Any] | None = None,
        blob_conn_id: str = "azure_compute_blob_default",
    ) -> None:
        self._count = count
        self.errors = [dict(e) for e in errors]
        self.error_count = error_count
        self._inline = inline
        self._manifest_ref = manifest
        self._blob_conn_id = blob_conn_id
        self._chunks: list[dict[str, Any]] | None = None
        self._cached: tuple[int, list[Any]] | None = None

    @classmethod
    def from_xcom(cls, value: Mapping[str, Any], *, blob_conn_id: str | None = None) -> MapResults:
        """Read the XCom value a map operator returned (see `map_xcom`)."""
        if not isinstance(value, Mapping) or "count" not in value:
            raise TypeError("not the XCom value of a Batch map (a dict with 'count')")
        return cls(
            int(value["count"]),
            value.get("errors") or [],
            int(value.get("error_count") or 0),
            inline=value.get("results"),
            manifest=value.get("manifest"),
            blob_conn_id=blob_conn_id
            or str((value.get("manifest") or {}).get("conn_id") or "azure_compute_blob_default"),
        )

    @property
    def in_manifest(self) -> bool:
        """Whether the results live in the run workspace (read lazily) rather than in XCom."""
        return self._inline is None

    def __len__(self) -> int:
        return self._count

    def _hook(self) -> Any:
        from airflow_azure_compute.hooks.blob import BlobHook

        return BlobHook(self._blob_conn_id)

    def _chunk_list(self) -> list[dict[str, Any]]:
        if self._chunks is None:
            ref = self._manifest_ref or {}
            body = json.loads(self._hook().read_bytes(ref["container"], ref["blob"]))
            self._container = str(body["container"])
            self._chunks = list(body["chunks"])
            self.errors = list(body.get("errors") or [])
        return self._chunks

    def _chunk_values(self, position: int) -> list[Any]:
        if self._cached is not None and self._cached[0] == position:
            return self._cached[1]
        chunk = self._chunk_list()[position]
        start, outcomes = decode_result(self._hook().read_bytes(self._container, chunk["blob"]))
        values, _ = split_outcomes(start, outcomes)
        self._cached = (position, values)
        return values

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._count))]
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError(index)
        if self._inline is not None:
            return self._inline[index]
        chunks = self._chunk_list()
        lo, hi = 0, len(chunks) - 1
        while lo < hi:  # the last chunk starting at or before index
            mid = (lo + hi + 1) // 2
            if int(chunks[mid]["start"]) <= index:
                lo = mid
            else:
                hi = mid - 1
        return self._chunk_values(lo)[index - int(chunks[lo]["start"])]

    def __iter__(self) -> Iterator[Any]:
        if self._inline is not None:
            yield from self._inline
            return
        for position in range(len(self._chunk_list())):
            yield from self._chunk_values(position)


__all__ = [
    "XCOM_ERRORS",
    "ItemError",
    "MapResults",
    "RemoteTraceback",
    "decode_result",
    "manifest_body",
    "map_xcom",
    "rebuild_exception",
    "resolve_frames",
    "split_outcomes",
]
