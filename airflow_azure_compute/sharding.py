"""Pure, streaming splitters and the shard manifest.

A `Splitter` is fed the input block by block (``feed(data)`` then ``finish()``) and returns
`Piece` objects: slices of the input tagged with the chunk they belong to. It never holds more
than the block it was given (plus a CSV header), so memory stays bounded whatever the input or chunk
size; the caller decides where the pieces go (a blob upload, a file).

Cutting rules:

* ``bytes``: a chunk ends exactly at its target size.
* ``lines`` / ``jsonl``: a chunk ends at the first newline at or after its target size, so a line is
  never cut; ``jsonl`` is line-oriented (one JSON value per line).
* ``csv``: like ``lines`` but a newline inside a quoted field is not a record boundary (RFC 4180 quote
  parity), and the header record is repeated at the top of every chunk.

By ``chunk_count`` the target is re-balanced at the start of every chunk
(``ceil(remaining bytes / remaining chunks)``). Given the offsets of the input's last ``chunk_count``
record ends (`record_end_scan`), chunk ``i`` also ends no later than the ``i``-th of them, so
every chunk holds at least one record whatever the record sizes, and an input with fewer records than
chunks fails before anything is written. By ``chunk_size`` every chunk but the last holds at least
``chunk_size`` bytes (more by less than one record). Text modes decode the input incrementally and
reject undecodable bytes.

The record-end scan is sans-I/O: a generator that asks for ``(offset, length)`` ranges and is sent the
bytes, driven by `run_scan` over a file or `arun_scan` over a blob. For ``lines`` and
``jsonl`` it reads the input backwards from the end only until it has found ``chunk_count`` newlines
(a few KiB for typical inputs, instead of a pass over the whole input); ``csv`` needs quote parity
from the start, so it counts records in one forward pass, then re-reads only the blocks holding the
last record ends.
"""

from __future__ import annotations

import base64
import codecs
import hashlib
import json
import math
from collections.abc import Awaitable, Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from airflow_azure_compute.enums import StrEnum

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
DEFAULT_NAME_WIDTH = 5
#: Bytes per read of the record-end scan.
SCAN_BLOCK = 1024 * 1024

#: A record-end scan: yields ``(offset, length)`` reads, is sent their bytes, returns the offsets.
RecordEndScan = Generator[tuple[int, int], bytes, list[int]]


class SplitMode(StrEnum):
    """How records are recognised in the input."""

    BYTES = "bytes"
    LINES = "lines"
    CSV = "csv"
    JSONL = "jsonl"

    @property
    def is_text(self) -> bool:
        return self is not SplitMode.BYTES


class SplitInputError(ValueError):
    """The input cannot be split as asked (empty, undecodable, fewer records than chunks).

    :param field: the parameter to change (``source``, ``chunk_count``, ``encoding``, ...).
    """

    def __init__(self, message: str, *, field: str) -> None:
        self.field = field
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Piece:
    """A slice of the input belonging to chunk ``index``; ``last`` closes that chunk."""

    index: int
    data: bytes
    last: bool = False


@dataclass(slots=True)
class ChunkInfo:
    """One chunk as written: blob name, byte size, record count and base64 MD5 (Content-MD5 form)."""

    index: int
    name: str
    size: int
    records: int
    md5: str


@dataclass(slots=True)
class ShardManifest:
    """What a split uploaded, written as JSON next to the chunks (``<prefix>manifest.json``).

    ``complete`` is false when the split stopped on an error; ``chunks`` then lists exactly the chunks
    that were committed and ``error`` says why it stopped.
    """

    container: str
    prefix: str
    mode: str
    source: str
    chunks: list[ChunkInfo] = field(default_factory=list)
    header_size: int = 0
    complete: bool = True
    error: str | None = None
    version: int = MANIFEST_VERSION

    @property
    def chunk_names(self) -> list[str]:
        return [c.name for c in self.chunks]

    @property
    def total_size(self) -> int:
        return sum(c.size for c in self.chunks)

    @property
    def total_records(self) -> int:
        return sum(c.records for c in self.chunks)

    @property
    def manifest_name(self) -> str:
        return f"{self.prefix}{MANIFEST_NAME}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str | bytes) -> ShardManifest:
        raw: dict[str, Any] = json.loads(text)
        chunks = [ChunkInfo(**c) for c in raw.pop("chunks", [])]
        return cls(chunks=chunks, **raw)


def md5_b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def name_width(expected_chunks: int) -> int:
    """Digits of the zero-padded chunk index (at least 5, so names sort in index order)."""
    return max(DEFAULT_NAME_WIDTH, len(str(max(expected_chunks - 1, 0))))


def chunk_name(prefix: str, index: int, width: int, suffix: str = "") -> str:
    return f"{prefix}part-{index:0{width}d}{suffix}"


def _csv_scan(data: bytes, start: int, end: int, parity: int) -> tuple[int, int]:
    """Count CSV record ends (newlines outside quotes) in ``data[start:end]``; return (count, parity)."""
    if data.find(b'"', start, end) < 0:
        return (data.count(b"\n", start, end) if not parity else 0), parity
    count = 0
    pos = start
    while True:
        nl = data.find(b"\n", pos, end)
        if nl < 0:
            return count, (parity + data.count(b'"', pos, end)) & 1
        parity = (parity + data.count(b'"', pos, nl)) & 1
        if not parity:
            count += 1
        pos = nl + 1


def csv_record_end(data: bytes | bytearray, start: int, parity: int) -> tuple[int, int]:
    """Index just past the first record end in ``data[start:]`` (or -1), and the parity there."""
    pos = start
    while True:
        nl = data.find(b"\n", pos)
        if nl < 0:
            return -1, (parity + data.count(b'"', pos)) & 1
        parity = (parity + data.count(b'"', pos, nl)) & 1
        if not parity:
            return nl + 1, 0
        pos = nl + 1


def record_end_scan(
    mode: SplitMode | str, size: int, count: int, *, csv_header: bool = True, block: int = SCAN_BLOCK
) -> RecordEndScan | None:
    """The scan for ``mode`` (None for ``bytes``, which has no records to find)."""
    mode = SplitMode(mode)
    if mode is SplitMode.BYTES:
        return None
    if mode is SplitMode.CSV:
        return last_csv_record_ends(size, count, header=csv_header, block=block)
    return last_line_ends(size, count, block=block)


def last_line_ends(size: int, count: int, *, block: int = SCAN_BLOCK) -> RecordEndScan:
    """Offsets just past the last ``count`` lines of an input of ``size`` bytes, ascending (all of
    them when it has fewer), reading backwards from the end. A last line without a newline ends at
    ``size``."""
    ends: list[int] = []
    end = size
    while end > 0 and len(ends) < count:
        start = max(0, end - block)
        data = yield (start, end - start)
        if end == size and data[-1:] != b"\n":
            ends.append(size)
        hi = len(data)
        while len(ends) < count and (nl := data.rfind(b"\n", 0, hi)) >= 0:
            ends.append(start + nl + 1)
            hi = nl
        end = start
    return ends[::-1]


def last_csv_record_ends(size: int, count: int, *, header: bool, block: int = SCAN_BLOCK) -> RecordEndScan:
    """Like `last_line_ends` for CSV (a newline inside quotes ends no record; the header record
    is not counted): one forward pass counts record ends per block, then only the blocks holding the
    last ``count`` of them are read again to locate them."""
    blocks: list[tuple[int, int, int, int]] = []  # (offset, length, parity at start, record ends)
    parity = offset = 0
    last = b""
    while offset < size:
        data = yield (offset, min(block, size - offset))
        ends, end_parity = _csv_scan(data, 0, len(data), parity)
        blocks.append((offset, len(data), parity, ends))
        parity, offset, last = end_parity, offset + len(data), data[-1:]
    unterminated = bool(last) and last != b"\n"
    skip = 1 if header else 0  # the header's end is no record end
    if skip and not any(b[3] for b in blocks):
        return []  # only a header
    wanted = count + skip - unterminated
    first = len(blocks)
    found = 0
    while first > 0 and found < wanted:
        first -= 1
        found += blocks[first][3]
    positions: list[int] = []
    for start, length, parity, _ in blocks[first:]:
        data = yield (start, length)
        pos = 0
        while (end := csv_record_end(data, pos, parity))[0] >= 0:
            pos, parity = end
            positions.append(start + pos)
    if first == 0:
        positions = positions[skip:]
    if unterminated:
        positions.append(size)
    return positions[-count:] if count else []


def run_scan(scan: RecordEndScan, read_at: Callable[[int, int], bytes]) -> list[int]:
    """Drive a record-end scan with a blocking ``read_at(offset, length)``."""
    try:
        request = next(scan)
        while True:
            request = scan.send(read_at(*request))
    except StopIteration as done:
        return list(done.value)


async def arun_scan(scan: RecordEndScan, read_at: Callable[[int, int], Awaitable[bytes]]) -> list[int]:
    """Drive a record-end scan with an async ``read_at(offset, length)``."""
    try:
        request = next(scan)
        while True:
            request = scan.send(await read_at(*request))
    except StopIteration as done:
        return list(done.value)


class _ChunkStats:
    __slots__ = ("md5", "records", "size")

    def __init__(self, hashed: bool) -> None:
        self.md5 = hashlib.md5(usedforsecurity=False) if hashed else None
        self.size = 0
        self.records = 0


class Splitter:
    """Streaming splitter; see the module docstring for the cutting rules.

    :param mode: record kind, a `SplitMode` or its value.
    :param chunk_count: number of chunks to make (needs ``total_size``); exclusive with ``chunk_size``.
    :param chunk_size: target bytes per chunk.
    :param total_size: input size in bytes, when known (required with ``chunk_count``).
    :param record_ends: with ``chunk_count`` in a text mode, what `record_end_scan` found: the
        input offsets just past its last ``chunk_count`` records (all of them when it has fewer). Makes
        ``chunk_count`` exact (every chunk gets at least one record) and lets too many chunks fail
        before any upload.
    :param prefix: blob name prefix of the chunks (``"run-1/chunks/"``).
    :param suffix: chunk name suffix, usually the input's extension (``".csv"``).
    :param encoding: text encoding checked in text modes; must be ASCII-compatible.
    :param csv_header: in ``csv`` mode, whether the first record is a header to repeat.
    :param hash_chunks: compute each chunk's MD5 here; with False, ``ChunkInfo.md5`` is left empty for
        the writer to fill in (e.g. from the MD5 Blob Storage computes on Put Blob).
    """

    def __init__(
        self,
        mode: SplitMode | str,
        *,
        chunk_count: int | None = None,
        chunk_size: int | None = None,
        total_size: int | None = None,
        record_ends: Sequence[int] | None = None,
        prefix: str = "",
        suffix: str = "",
        encoding: str = "utf-8",
        csv_header: bool = True,
        hash_chunks: bool = True,
    ) -> None:
        self.mode = SplitMode(mode)
        self.hash_chunks = hash_chunks
        self.chunk_count, self.chunk_size, self.total_size = validate_plan(
            chunk_count=chunk_count, chunk_size=chunk_size, total_size=total_size
        )
        if record_ends is not None and not record_ends:
            raise SplitInputError("the input has no records; give a non-empty input", field="source")
        if record_ends is not None and chunk_count is not None and chunk_count > len(record_ends):
            raise SplitInputError(
                f"chunk_count={chunk_count} is more than the input's {len(record_ends)} records; "
                f"lower chunk_count to at most {len(record_ends)}",
                field="chunk_count",
            )
        self.record_ends = list(record_ends) if record_ends is not None and self.mode.is_text else None
        self._max_end: int | None = None  # body offset this chunk must end at or before
        self.prefix, self.suffix = prefix, suffix
        expected = chunk_count or math.ceil((total_size or 0) / (chunk_size or 1)) or 1
        self.width = name_width(expected if total_size is not None or chunk_count else 10**6)
        self._decoder = None
        if self.mode.is_text:
            self._decoder = text_decoder(encoding)
        self._csv = self.mode is SplitMode.CSV
        self._want_header = self._csv and csv_header
        self.header = b""
        self._header_buf = bytearray()
        self.chunks: list[ChunkInfo] = []
        self._current: _ChunkStats | None = None
        self._index = -1
        self._target = 0
        self._seeking = False
        self._parity = 0  # CSV quote parity since the start of the current record
        self._consumed = 0  # body bytes consumed (excludes the header)
        self._offset = 0  # raw input bytes fed
        self._last_byte = b""

    # -- public ---------------------------------------------------------------------------------
    def name(self, index: int) -> str:
        return chunk_name(self.prefix, index, self.width, self.suffix)

    def feed(self, data: bytes) -> list[Piece]:
        """Split the next block of input; return the pieces it produced, in order."""
        if not data:
            return []
        self._check_text(data, final=False)
        self._offset += len(data)
        if self._want_header and not self.header:
            data = self._take_header(data)
            if not data:
                return []
        out: list[Piece] = []
        self._split(data, out)
        return out

    def finish(self) -> list[Piece]:
        """Close the last chunk; raise `SplitInputError` if the input cannot be split as asked."""
        self._check_text(b"", final=True)
        if self._want_header and not self.header and self._header_buf:
            # a header with no newline and nothing after it
            self.header = bytes(self._header_buf)
        if self._current is None and not self.chunks:
            what = "has only a header and no records" if self.header else "is empty"
            raise SplitInputError(f"the input {what}; give a non-empty input", field="source")
        out: list[Piece] = []
        if self._current is not None:
            if self._last_byte != b"\n" and self.mode is not SplitMode.BYTES:
                self._current.records += 1  # a last record without a newline
            out.append(self._close())
        if self.chunk_count is not None and len(self.chunks) < self.chunk_count:
            unit = "bytes" if self.mode is SplitMode.BYTES else "records"
            raise SplitInputError(
                f"chunk_count={self.chunk_count} but the input's {unit} ran out after {len(self.chunks)} "
                f"chunks (fewer {unit} than chunks, or trailing {unit} larger than a byte-balanced share); "
                "lower chunk_count, or use chunk_size",
                field="chunk_count",
            )
        return out

    # -- internals ------------------------------------------------------------------------------
    def _check_text(self, data: bytes, *, final: bool) -> None:
        if self._decoder is None:
            return
        if not final and data.isascii() and not self._decoder.getstate()[0]:
            return  # ASCII is valid in every ASCII-compatible encoding: skip the (slower) decode
        try:
            self._decoder.decode(data, final)
        except UnicodeDecodeError as err:
            at = self._offset + err.start
            raise SplitInputError(
                f"the input is not valid {err.encoding} text (byte offset {at}: {err.reason}); "
                "set encoding to the file's encoding or use mode='bytes'",
                field="encoding",
            ) from err

    def _take_header(self, data: bytes) -> bytes:
        start = len(self._header_buf)
        self._header_buf += data
        end, parity = csv_record_end(self._header_buf, start, self._parity)
        if end < 0:
            self._parity = parity
            return b""
        self.header = bytes(self._header_buf[:end])
        rest = bytes(self._header_buf[end:])
        self._header_buf = bytearray()
        self._parity = 0
        if self.total_size is not None:
            self.total_size -= len(self.header)
        return rest

    def _open(self) -> list[Piece]:
        self._index += 1
        self._current = _ChunkStats(self.hash_chunks)
        self._seeking = False
        if self.chunk_count is not None:
            remaining_chunks = self.chunk_count - self._index
            remaining = max((self.total_size or 0) - self._consumed, 1)
            self._target = math.inf if remaining_chunks <= 1 else math.ceil(remaining / remaining_chunks)  # type: ignore[assignment]
            if self.record_ends is not None and remaining_chunks > 1:
                # the last chunk_count record ends, one per chunk: leave a record for each chunk after
                self._max_end = self.record_ends[self._index] - len(self.header)
            else:
                self._max_end = None
        else:
            self._target = self.chunk_size or 0
        if self.header:
            return [self._emit(self.header, count=False)]
        return []

    def _emit(self, data: bytes, *, count: bool = True, start: int = 0, end: int | None = None) -> Piece:
        cur = self._current
        assert cur is not None
        seg = data if (start == 0 and end is None) else data[start:end]
        if cur.md5 is not None:
            cur.md5.update(seg)
        cur.size += len(seg)
        if count and seg:
            self._consumed += len(seg)
            self._last_byte = seg[-1:]
            if self._csv:
                n, self._parity = _csv_scan(seg, 0, len(seg), self._parity)
                cur.records += n
            elif self.mode is not SplitMode.BYTES:
                cur.records += seg.count(b"\n")
        return Piece(self._index, seg)

    def _close(self) -> Piece:
        cur = self._current
        assert cur is not None
        if self.mode is SplitMode.BYTES:
            cur.records = cur.size
        md5 = md5_b64(cur.md5.digest()) if cur.md5 is not None else ""
        info = ChunkInfo(self._index, self.name(self._index), cur.size, cur.records, md5)
        self.chunks.append(info)
        self._current = None
        return Piece(self._index, b"", last=True)

    def _body_in_chunk(self) -> int:
        cur = self._current
        assert cur is not None
        return cur.size - len(self.header)

    def _split(self, data: bytes, out: list[Piece]) -> None:
        pos, n = 0, len(data)
        while pos < n:
            if self._current is None:
                out.extend(self._open())
            if not self._seeking:
                room = self._target - self._body_in_chunk()
                take = n - pos if room == math.inf else min(n - pos, int(room))
                if self._max_end is not None and self._consumed + take >= self._max_end:
                    # a byte-balanced cut would leave too few records for the chunks after this one
                    cut = pos + self._max_end - self._consumed
                    out.append(self._emit(data, start=pos, end=cut))
                    pos = cut
                    out.append(self._close())
                    continue
                out.append(self._emit(data, start=pos, end=pos + take))
                pos += take
                if self._body_in_chunk() >= self._target:
                    if self.mode is SplitMode.BYTES or (self._last_byte == b"\n" and not self._parity):
                        out.append(self._close())
                    else:
                        self._seeking = True
                continue
            if self._csv:
                end, _ = csv_record_end(data, pos, self._parity)
            else:
                nl = data.find(b"\n", pos)
                end = -1 if nl < 0 else nl + 1
            if end < 0:
                out.append(self._emit(data, start=pos))
                pos = n
            else:
                out.append(self._emit(data, start=pos, end=end))
                pos = end
                out.append(self._close())


def validate_plan(
    *, chunk_count: int | None, chunk_size: int | None, total_size: int | None
) -> tuple[int | None, int | None, int | None]:
    """Check the chunking parameters before any byte is read or uploaded."""
    if (chunk_count is None) == (chunk_size is None):
        raise SplitInputError("give exactly one of chunk_count or chunk_size", field="chunk_count")
    if chunk_count is not None:
        if chunk_count < 1:
            raise SplitInputError(f"chunk_count must be at least 1, got {chunk_count}", field="chunk_count")
        if total_size is None:
            raise SplitInputError("chunk_count needs the input size; use chunk_size", field="chunk_count")
    if chunk_size is not None and chunk_size < 1:
        raise SplitInputError(f"chunk_size must be at least 1 byte, got {chunk_size}", field="chunk_size")
    if total_size is not None:
        if total_size == 0:
            raise SplitInputError("the input is empty; give a non-empty input", field="source")
        if chunk_count is not None and chunk_count > total_size:
            raise SplitInputError(
                f"chunk_count={chunk_count} is more than the input's {total_size} bytes (and records); "
                "lower chunk_count",
                field="chunk_count",
            )
    return chunk_count, chunk_size, total_size


def text_decoder(encoding: str) -> codecs.IncrementalDecoder:
    """A strict incremental decoder; the encoding must keep ``\\n`` and ``"`` as single ASCII bytes."""
    try:
        info = codecs.lookup(encoding)
    except LookupError as err:
        raise SplitInputError(f"unknown encoding {encoding!r}", field="encoding") from err
    if '\n"'.encode(info.name) != b'\n"':
        raise SplitInputError(
            f"encoding {encoding!r} is not ASCII-compatible; re-encode the input as UTF-8 or use mode='bytes'",
            field="encoding",
        )
    return info.incrementaldecoder("strict")


def split_bytes(data: bytes, mode: SplitMode | str, **kwargs: Any) -> tuple[list[bytes], Splitter]:
    """Split an in-memory input into chunk payloads (tests and small inputs)."""
    kwargs.setdefault("total_size", len(data))
    count = kwargs.get("chunk_count")
    if isinstance(count, int) and count >= 1 and data and "record_ends" not in kwargs:
        scan = record_end_scan(mode, len(data), count, csv_header=kwargs.get("csv_header", True))
        if scan is not None:
            kwargs["record_ends"] = run_scan(scan, lambda offset, length: data[offset : offset + length])
    splitter = Splitter(mode, **kwargs)
    return assemble(split_blocks([data], splitter)), splitter


def split_blocks(blocks: Iterable[bytes], splitter: Splitter) -> Iterator[Piece]:
    """Feed ``blocks`` through ``splitter`` and yield every piece, ending with ``finish()``."""
    for block in blocks:
        yield from splitter.feed(block)
    yield from splitter.finish()


def assemble(pieces: Iterable[Piece]) -> list[bytes]:
    """Gather pieces into whole chunks (tests, small inputs)."""
    chunks: dict[int, bytearray] = {}
    for piece in pieces:
        chunks.setdefault(piece.index, bytearray()).extend(piece.data)
    return [bytes(chunks[i]) for i in sorted(chunks)]


__all__ = [
    "MANIFEST_NAME",
    "ChunkInfo",
    "Piece",
    "ShardManifest",
    "SplitInputError",
    "SplitMode",
    "Splitter",
    "arun_scan",
    "assemble",
    "chunk_name",
    "csv_record_end",
    "last_csv_record_ends",
    "last_line_ends",
    "record_end_scan",
    "run_scan",
    "split_blocks",
    "split_bytes",
    "text_decoder",
    "validate_plan",
]
