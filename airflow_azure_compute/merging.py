"""Pure merge logic: which shards, in what order, and how their bytes join.

`plan_shards` turns blob names into an ordered shard list (by the chunk index in each name) and
names every missing or unexpected shard. A `Joiner` is fed each shard's bytes in order and
returns what to write: ``concat`` passes bytes through, ``csv`` keeps the header of the first shard only
(and checks the others carry the same header), ``jsonl`` makes sure records of consecutive shards stay
on separate lines. Split then merge with the same mode gives back the input byte for byte.
"""

from __future__ import annotations

import importlib
import json
import posixpath
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import IO, Any

from airflow_azure_compute.enums import StrEnum
from airflow_azure_compute.sharding import MANIFEST_NAME, csv_record_end

#: The last run of digits in a blob's base name is its chunk index (``part-00007.csv.out`` -> 7).
DEFAULT_INDEX_PATTERN = r"(\d+)(?!.*\d)"


class MergeMode(StrEnum):
    """How shards join: raw bytes, CSV with one header, JSON Lines, or a user callable."""

    CONCAT = "concat"
    CSV = "csv"
    JSONL = "jsonl"
    CALLABLE = "callable"


class XComContent(StrEnum):
    """What a merge hands back to the DAG through XCom (see `xcom_value`).

    ``text``: the merged output as one string; ``jsonl``: the merged output's JSON Lines as a list;
    ``shards``: each shard's text, in chunk order; ``json``: each shard parsed as one JSON document,
    in chunk order (one result per fan-out task).
    """

    TEXT = "text"
    JSONL = "jsonl"
    SHARDS = "shards"
    JSON = "json"


#: The default cap on what a merge puts in XCom; XCom lives in the metadata database.
DEFAULT_MAX_XCOM_BYTES = 1024 * 1024


def xcom_value(kind: XComContent, pieces: Sequence[bytes], encoding: str = "utf-8") -> Any:
    """The XCom value of a merge's output, given the bytes written for each shard in order.

    Raises `ValueError` (the caller names the field) when the bytes are not text or JSON.
    """
    import json

    texts = [p.decode(encoding) for p in pieces]
    if kind is XComContent.SHARDS:
        return texts
    if kind is XComContent.JSON:
        return [json.loads(t) for t in texts]
    merged = "".join(texts)
    if kind is XComContent.JSONL:
        return [json.loads(line) for line in merged.splitlines() if line.strip()]
    return merged


class ShardSetError(ValueError):
    """The shards found do not form a complete, unambiguous set."""

    def __init__(self, *, missing: Sequence[str], unexpected: Sequence[str]) -> None:
        self.missing = list(missing)
        self.unexpected = list(unexpected)
        parts = []
        if self.missing:
            parts.append(f"missing shards: {', '.join(self.missing)}")
        if self.unexpected:
            parts.append(f"unexpected shards: {', '.join(self.unexpected)}")
        super().__init__("; ".join(parts))


@dataclass(frozen=True, slots=True)
class Shard:
    index: int
    name: str


def shard_index(name: str, pattern: re.Pattern[str]) -> int | None:
    """The chunk index in a blob's base name (in its full name when the pattern holds a ``/``), or
    None when it carries none."""
    match = pattern.search(name if "/" in pattern.pattern else posixpath.basename(name))
    return int(match.group(1)) if match else None


def plan_shards(
    names: Iterable[str],
    *,
    expected_count: int | None = None,
    expected_names: Sequence[str] | None = None,
    index_pattern: str = DEFAULT_INDEX_PATTERN,
    ignore: Iterable[str] = (MANIFEST_NAME,),
) -> list[Shard]:
    """Order shards by chunk index; raise `ShardSetError` naming missing/unexpected ones.

    :param names: blob names found (e.g. listed under a prefix).
    :param expected_count: shards must be exactly indices ``0 .. expected_count-1``.
    :param expected_names: shards must be exactly these names (a split manifest's chunks, in order).
    :param index_pattern: regex whose group 1 is the index in a base name (in the full name when
        the pattern holds a ``/``).
    :param ignore: base names that are never shards (the manifest).
    """
    ignored = set(ignore)
    found = [n for n in names if posixpath.basename(n) not in ignored]
    if expected_names is not None:
        wanted = list(expected_names)
        have = set(found)
        missing = [n for n in wanted if n not in have]
        unexpected = sorted(have - set(wanted))
        if missing or unexpected:
            raise ShardSetError(missing=missing, unexpected=unexpected)
        return [Shard(i, n) for i, n in enumerate(wanted)]
    pattern = re.compile(index_pattern)
    by_index: dict[int, list[str]] = {}
    unexpected = []
    for name in found:
        idx = shard_index(name, pattern)
        if idx is None:
            unexpected.append(name)
        else:
            by_index.setdefault(idx, []).append(name)
    for group in by_index.values():
        if len(group) > 1:
            unexpected.extend(sorted(group)[1:])
    if expected_count is not None:
        first, last = 0, expected_count - 1
        unexpected.extend(n for i, g in by_index.items() if not first <= i <= last for n in g)
    elif by_index:
        first, last = min(min(by_index), 1), max(by_index)
    else:
        first, last = 0, -1
    missing = [f"index {i}" for i in range(first, last + 1) if i not in by_index]
    if not by_index and expected_count is None and not unexpected:
        missing = ["any shard (nothing found)"]
    if missing or unexpected:
        raise ShardSetError(missing=missing, unexpected=sorted(set(unexpected)))
    return [Shard(i, sorted(by_index[i])[0]) for i in range(first, last + 1)]


class Joiner:
    """Byte-level join of ordered shards: ``start(shard)``, ``feed(data)`` per piece, ``end()``."""

    def __init__(self) -> None:
        self.index = -1
        self.name = ""
        self._last_byte = b""

    def start(self, shard: Shard) -> bytes:
        self.index, self.name = shard.index, shard.name
        return b""

    def feed(self, data: bytes) -> bytes:
        if data:
            self._last_byte = data[-1:]
        return data

    def end(self) -> bytes:
        return b""


class JsonLinesJoiner(Joiner):
    """Keeps the records of consecutive shards on separate lines, and checks that each non-empty line
    is one JSON value (a shard that is not JSON Lines fails the merge, naming it and the line)."""

    def __init__(self) -> None:
        super().__init__()
        self._fresh = True
        self._line = bytearray()
        self._line_no = 0

    def start(self, shard: Shard) -> bytes:
        super().start(shard)
        self._fresh = True
        self._line = bytearray()
        self._line_no = 0
        return b""

    def feed(self, data: bytes) -> bytes:
        if not data:
            return b""
        self._check(data)
        sep = b"\n" if self._fresh and self._last_byte not in (b"", b"\n") else b""
        self._fresh = False
        return sep + super().feed(data)

    def end(self) -> bytes:
        self._check_line(bytes(self._line))
        self._line = bytearray()
        return b""

    def _check(self, data: bytes) -> None:
        start = 0
        while (newline := data.find(b"\n", start)) >= 0:
            self._line += data[start:newline]
            self._check_line(bytes(self._line))
            self._line = bytearray()
            start = newline + 1
        self._line += data[start:]

    def _check_line(self, line: bytes) -> None:
        self._line_no += 1
        if not line.strip():
            return
        try:
            json.loads(line)
        except ValueError:
            raise ValueError(
                f"shard {self.name!r} is not JSON Lines: line {self._line_no} is not a JSON value "
                f"({line[:60]!r}); use mode='concat' for other text"
            ) from None


class CsvJoiner(Joiner):
    """Writes the header of the first shard once; every other shard must start with the same header."""

    def __init__(self) -> None:
        super().__init__()
        self.header: bytes | None = None
        self._pending = bytearray()
        self._in_header = True

    def start(self, shard: Shard) -> bytes:
        super().start(shard)
        self._pending = bytearray()
        self._in_header = True
        return b""

    def feed(self, data: bytes) -> bytes:
        if not self._in_header:
            return self._body(data)
        self._pending += data
        if self.header is None:
            end, _ = csv_record_end(self._pending, 0, 0)
            if end < 0:
                return b""
            self.header = bytes(self._pending[:end])
            self._in_header = False
            rest, self._pending = bytes(self._pending), bytearray()
            return self._body(rest)
        if len(self._pending) < len(self.header) and self.header.startswith(bytes(self._pending)):
            return b""
        if not self._pending.startswith(self.header):
            raise ValueError(
                f"shard {self.name!r} does not start with the header of the first shard "
                f"({self.header[:80]!r}); merge it with mode='concat' or fix the shard"
            )
        rest = bytes(self._pending[len(self.header) :])
        self._pending = bytearray()
        self._in_header = False
        return self._body(rest, separate=True)

    def _body(self, data: bytes, *, separate: bool = False) -> bytes:
        if not data:
            return b""
        sep = b"\n" if separate and self._last_byte not in (b"", b"\n") else b""
        return sep + super().feed(data)

    def end(self) -> bytes:
        if (
            self._in_header
            and self._pending
            and self.header is not None
            and self._pending != bytearray(self.header[: len(self._pending)])
        ):
            raise ValueError(f"shard {self.name!r} does not start with the header of the first shard")
        if self._in_header and self.header is None and self._pending:
            # a first shard that is only a header without a newline
            self.header = bytes(self._pending)
            out, self._pending = bytes(self._pending), bytearray()
            return super().feed(out)
        return b""


def make_joiner(mode: MergeMode | str) -> Joiner:
    mode = MergeMode(mode)
    if mode is MergeMode.CSV:
        return CsvJoiner()
    if mode is MergeMode.JSONL:
        return JsonLinesJoiner()
    if mode is MergeMode.CONCAT:
        return Joiner()
    raise ValueError(f"mode {mode.value!r} has no byte joiner")


#: A user merge callable: receives the shard and a readable binary stream of its bytes, returns the
#: bytes to write for it (an iterable of bytes, or None to write nothing).
ShardCallable = Callable[[Shard, IO[bytes]], Iterable[bytes] | None]


def import_callable(path: str) -> ShardCallable:
    """Import ``package.module:function`` or ``package.module.function``."""
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise ValueError(f"merge_callable {path!r} is not an import path like 'package.module:function'")
    try:
        obj: Any = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"merge_callable {path!r} cannot be imported: {err}") from err
    if not callable(obj):
        raise ValueError(f"merge_callable {path!r} is not callable")
    fn: ShardCallable = obj
    return fn


def merge_bytes(shards: Sequence[bytes], mode: MergeMode | str) -> bytes:
    """Merge in-memory shards (tests, small data)."""
    joiner = make_joiner(mode)
    out = bytearray()
    for i, data in enumerate(shards):
        out += joiner.start(Shard(i, f"shard-{i}"))
        out += joiner.feed(data)
        out += joiner.end()
    return bytes(out)


__all__ = [
    "DEFAULT_INDEX_PATTERN",
    "DEFAULT_MAX_XCOM_BYTES",
    "CsvJoiner",
    "Joiner",
    "JsonLinesJoiner",
    "MergeMode",
    "Shard",
    "ShardCallable",
    "ShardSetError",
    "XComContent",
    "import_callable",
    "make_joiner",
    "merge_bytes",
    "plan_shards",
    "shard_index",
    "xcom_value",
]
