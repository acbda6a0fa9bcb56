"""Split -> merge round trips (hypothesis) and the splitter's cutting rules."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_azure_compute.merging import ShardSetError, merge_bytes, plan_shards
from airflow_azure_compute.sharding import (
    ShardManifest,
    SplitInputError,
    Splitter,
    assemble,
    record_end_scan,
    run_scan,
    split_blocks,
    split_bytes,
)

_TEXT = st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\r"), max_size=30)


def _blocks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]


def _record_ends(data: bytes, mode: str, count: int, block: int) -> list[int]:
    scan = record_end_scan(mode, len(data), count, block=block)
    assert scan is not None
    return run_scan(scan, lambda offset, length: data[offset : offset + length])


def _split(data: bytes, mode: str, block: int, **kw: object) -> tuple[list[bytes], Splitter]:
    count = kw.get("chunk_count")
    ends = _record_ends(data, mode, count, block) if isinstance(count, int) and mode != "bytes" else None
    splitter = Splitter(mode, total_size=len(data), record_ends=ends, **kw)  # type: ignore[arg-type]
    return assemble(split_blocks(_blocks(data, block), splitter)), splitter


def _parsed_records(data: bytes, mode: str) -> int:
    if mode == "csv":
        return len(list(csv.reader(io.StringIO(data.decode(), newline=""))))
    return len(data.splitlines())


@st.composite
def lines_input(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(_TEXT.map(lambda s: s.replace("\n", " ")), min_size=1, max_size=60))
    text = "\n".join(lines) + draw(st.sampled_from(["", "\n"]))
    return text.encode() or b"\n"


@st.composite
def csv_input(draw: st.DrawFn) -> bytes:
    cols = draw(st.integers(1, 4))
    rows = draw(st.lists(st.lists(_TEXT, min_size=cols, max_size=cols), min_size=1, max_size=40))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([f"c{i}" for i in range(cols)])
    writer.writerows(rows)
    return buf.getvalue().encode()


@st.composite
def jsonl_input(draw: st.DrawFn) -> bytes:
    values = draw(
        st.lists(
            st.dictionaries(_TEXT, st.one_of(_TEXT, st.integers(), st.booleans())), min_size=1, max_size=40
        )
    )
    return "".join(json.dumps(v, ensure_ascii=False) + "\n" for v in values).encode()


def _records(data: bytes, mode: str) -> int:
    if mode == "csv":
        return len(list(csv.reader(io.StringIO(data.decode(), newline="")))) - 1
    return data.count(b"\n") + (0 if data.endswith(b"\n") else 1)


@pytest.mark.parametrize(
    ("mode", "strategy"), [("lines", lines_input()), ("csv", csv_input()), ("jsonl", jsonl_input())]
)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_split_merge_round_trips_by_count(
    mode: str, strategy: st.SearchStrategy[bytes], data: st.DataObject
) -> None:
    raw = data.draw(strategy)
    records = _records(raw, mode)
    block = data.draw(st.integers(1, 64))
    # asked for more record ends than there are, the scan finds every one of them
    ends = _record_ends(raw, mode, records + 3, block)
    assert len(ends) == records and ends == sorted(set(ends)) and ends[-1] == len(raw)
    header = 1 if mode == "csv" else 0
    for k, end in enumerate(ends, start=1):
        assert _parsed_records(raw[:end], mode) == k + header
    count = data.draw(st.integers(1, records))
    assert _record_ends(raw, mode, count, block) == ends[-count:]
    chunks, splitter = _split(raw, mode, block, chunk_count=count)
    assert len(chunks) == count
    merge_mode = "csv" if mode == "csv" else ("jsonl" if mode == "jsonl" else "concat")
    assert merge_bytes(chunks, merge_mode) == raw
    assert sum(c.records for c in splitter.chunks) == records
    for info, chunk in zip(splitter.chunks, chunks, strict=True):
        assert info.size == len(chunk)
        assert info.md5 == base64.b64encode(hashlib.md5(chunk).digest()).decode()
        assert info.records >= 1
        assert info.records == _records(chunk, mode)
        if mode == "csv":
            assert chunk.startswith(splitter.header)


@pytest.mark.parametrize(
    ("mode", "strategy"), [("lines", lines_input()), ("csv", csv_input()), ("jsonl", jsonl_input())]
)
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_split_merge_round_trips_by_size(
    mode: str, strategy: st.SearchStrategy[bytes], data: st.DataObject
) -> None:
    raw = data.draw(strategy)
    size = data.draw(st.integers(1, 200))
    chunks, splitter = _split(raw, mode, data.draw(st.integers(1, 64)), chunk_size=size)
    merge_mode = "csv" if mode == "csv" else ("jsonl" if mode == "jsonl" else "concat")
    assert merge_bytes(chunks, merge_mode) == raw
    body = [len(c) - len(splitter.header) for c in chunks]
    assert all(b >= size for b in body[:-1])


@settings(max_examples=100, deadline=None)
@given(raw=st.binary(min_size=1, max_size=500), data=st.data())
def test_bytes_mode_balanced_and_exact(raw: bytes, data: st.DataObject) -> None:
    count = data.draw(st.integers(1, len(raw)))
    chunks, _ = _split(raw, "bytes", data.draw(st.integers(1, 64)), chunk_count=count)
    assert len(chunks) == count
    assert b"".join(chunks) == raw
    assert max(map(len, chunks)) - min(map(len, chunks)) <= 1


def test_lines_never_cut_and_names_zero_padded() -> None:
    raw = b"".join(f"line {i}\n".encode() for i in range(100))
    chunks, splitter = split_bytes(raw, "lines", chunk_count=7, prefix="run/chunks/", suffix=".txt")
    assert len(chunks) == 7
    assert all(c.endswith(b"\n") for c in chunks)
    assert [c.name for c in splitter.chunks][:2] == ["run/chunks/part-00000.txt", "run/chunks/part-00001.txt"]


def test_csv_quoted_newline_is_not_a_boundary() -> None:
    raw = b'id,text\n1,"a\nb"\n2,"c\n\nd"\n3,e\n'
    chunks, splitter = split_bytes(raw, "csv", chunk_count=3)
    assert chunks == [b'id,text\n1,"a\nb"\n', b'id,text\n2,"c\n\nd"\n', b"id,text\n3,e\n"]
    assert [c.records for c in splitter.chunks] == [1, 1, 1]


@pytest.mark.parametrize(
    ("raw", "kwargs", "field", "words"),
    [
        (b"", {"chunk_count": 1}, "source", "empty"),
        (b"a\n", {"chunk_count": 0}, "chunk_count", "at least 1"),
        (
            b"a\nb\n",
            {"chunk_count": 3},
            "chunk_count",
            "the input's 2 records; lower chunk_count to at most 2",
        ),
        (b"a\nb\n", {"chunk_count": 3, "record_ends": None}, "chunk_count", "ran out after 2 chunks"),
        (b"abc\n", {"chunk_count": 3}, "chunk_count", "lower chunk_count"),
        (b"ok\n\xff\xfe\n", {"chunk_count": 1}, "encoding", "byte offset 3"),
        (b"a\n", {"chunk_count": 1, "chunk_size": 3}, "chunk_count", "exactly one"),
        (b"a\nb\nc\n", {"chunk_count": 4, "record_ends": [2, 4, 6]}, "chunk_count", "at most 3"),
    ],
)
def test_bad_input_names_the_field(raw: bytes, kwargs: dict[str, int], field: str, words: str) -> None:
    with pytest.raises(SplitInputError, match=words) as info:
        split_bytes(raw, "lines", **kwargs)
    assert info.value.field == field


def test_csv_header_only_is_empty() -> None:
    with pytest.raises(SplitInputError, match="only a header") as info:
        split_bytes(b"a,b\n", "csv", chunk_size=10)
    assert info.value.field == "source"


def test_non_ascii_compatible_encoding_rejected() -> None:
    with pytest.raises(SplitInputError, match="ASCII-compatible"):
        Splitter("lines", chunk_size=1, encoding="utf-16")


def test_manifest_json_round_trip() -> None:
    _, splitter = split_bytes(b"a\nb\nc\n", "lines", chunk_count=2, prefix="p/")
    manifest = ShardManifest(container="c1", prefix="p/", mode="lines", source="x", chunks=splitter.chunks)
    again = ShardManifest.from_json(manifest.to_json())
    assert again == manifest
    assert again.chunk_names == ["p/part-00000", "p/part-00001"]
    assert again.manifest_name == "p/manifest.json"
    assert again.total_records == 3


def test_plan_shards_orders_and_names_problems() -> None:
    names = ["o/part-00002.out", "o/part-00000.out", "o/part-00001.out", "o/manifest.json"]
    assert [s.name for s in plan_shards(names)] == [
        "o/part-00000.out",
        "o/part-00001.out",
        "o/part-00002.out",
    ]
    with pytest.raises(ShardSetError) as info:
        plan_shards(["o/part-00000.out", "o/part-00003.out", "o/stderr.txt"], expected_count=3)
    assert info.value.missing == ["index 1", "index 2"]
    assert info.value.unexpected == ["o/part-00003.out", "o/stderr.txt"]
    with pytest.raises(ShardSetError, match="missing shards: a/2"):
        plan_shards(["a/1"], expected_names=["a/1", "a/2"])


def test_csv_merge_rejects_a_foreign_header() -> None:
    with pytest.raises(ValueError, match="does not start with the header"):
        merge_bytes([b"a,b\n1,2\n", b"x,y\n3,4\n"], "csv")


@pytest.mark.parametrize("mode", ["lines", "jsonl", "csv"])
def test_chunk_count_leaves_a_record_for_every_chunk_whatever_the_record_sizes(mode: str) -> None:
    # byte-balanced cuts alone would put the five short records in the first chunk and fail
    head = b"h\n" if mode == "csv" else b""
    raw = head + b"1\n" * 5 + b"9" * 1000 + b"\n"
    chunks, splitter = split_bytes(raw, mode, chunk_count=6)
    assert [c.records for c in splitter.chunks] == [1] * 6
    assert [c[len(head) :] for c in chunks] == [b"1\n"] * 5 + [b"9" * 1000 + b"\n"]
