"""Split, upload, merge and cleanup operators against Azurite (real SDK over HTTP)."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from airflow_azure_compute.exceptions import AzureComputeConfigError
from airflow_azure_compute.hooks.blob import BlobHook
from airflow_azure_compute.merging import Shard
from airflow_azure_compute.operators.blob_cleanup import BlobCleanupOperator
from airflow_azure_compute.operators.blob_merge import BlobMergeOperator
from airflow_azure_compute.operators.blob_split import BlobSplitOperator
from airflow_azure_compute.operators.blob_upload import BlobUploadOperator
from airflow_azure_compute.sharding import ShardManifest
from tests.integration._blob_helpers import context, unique

pytestmark = pytest.mark.integration


def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


@pytest.fixture
def hook(blob_connection: str) -> BlobHook:
    return BlobHook(blob_connection)


def _lines(n: int) -> bytes:
    return b"".join(f"{i},record number {i}\n".encode() for i in range(n))


def _csv(n: int) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["id", "text"])
    for i in range(n):
        w.writerow([i, f"multi\nline {i}" if i % 7 == 0 else f'quote "{i}"'])
    return buf.getvalue().encode()


def upper_lines(shard: Shard, stream: IO[bytes]) -> Iterator[bytes]:
    """A user merge callable: upper-cases each line and tags it with its shard index."""
    for line in stream:
        yield f"{shard.index}:".encode() + line.upper()


# -- split + merge -------------------------------------------------------------------------------
def test_split_local_lines_then_merge_by_manifest_to_file(hook: BlobHook, tmp_path: Path) -> None:
    data = _lines(1000)
    src = tmp_path / "input.txt"
    src.write_bytes(data)
    container = unique("split")
    ctx = context(task_id="split")
    result = BlobSplitOperator(
        task_id="split", source_path=str(src), container=container, prefix="run/chunks/", chunk_count=7
    ).execute(ctx)
    assert result["manifest"] == "run/chunks/manifest.json"
    assert result["chunks"] == [f"run/chunks/part-{i:05d}.txt" for i in range(7)]
    assert ctx["ti"].xcoms == {
        "manifest": result["manifest"], "chunks": result["chunks"], "workspace": result["workspace"]
    }  # fmt: skip
    # A named container without a prefix: the workspace is the run's prefix inside it.
    assert result["workspace"]["container"] == container and result["workspace"]["prefix"].startswith("runs/")
    manifest = ShardManifest.from_json(hook.read_bytes(container, result["manifest"]))
    assert manifest.complete and manifest.total_records == 1000 and manifest.total_size == len(data)
    blobs = {b.name: b for b in hook.list_blobs(container, "run/", metadata=True)}
    for chunk in manifest.chunks:
        assert blobs[chunk.name].md5 == chunk.md5 and blobs[chunk.name].size == chunk.size
        assert blobs[chunk.name].metadata["airflow_task_id"] == "split"
    assert hook.get_container_metadata(container) == {
        "airflow_dag_id": "blob_dag", "airflow_run_id": ctx["ti"].run_id, "airflow_task_id": "split"
    }  # fmt: skip

    out = tmp_path / "out" / "merged.txt"
    merged = BlobMergeOperator(
        task_id="merge", container=container, manifest=result, output_path=str(out)
    ).execute(context(task_id="merge"))
    assert out.read_bytes() == data
    assert {k: merged[k] for k in ("location", "size", "md5", "shards")} == {
        "location": str(out), "size": len(data), "md5": _md5(data), "shards": 7
    }  # fmt: skip
    assert list(out.parent.iterdir()) == [out]  # no partial file left behind


def test_merge_without_checksum_writes_the_same_bytes_and_no_md5(hook: BlobHook, tmp_path: Path) -> None:
    data = _lines(3000)
    container = unique("nosum")
    hook.create_container(container)
    third = len(data) // 3
    for i in range(3):
        hook.upload_bytes(
            container, f"out/part-{i:05d}.txt", data[i * third : (i + 1) * third if i < 2 else None]
        )
    out = tmp_path / "merged.txt"
    to_file = BlobMergeOperator(
        task_id="merge", container=container, prefix="out/", output_path=str(out), checksum=False
    ).execute(context(task_id="merge"))
    assert out.read_bytes() == data and to_file["md5"] is None and to_file["size"] == len(data)
    to_blob = BlobMergeOperator(
        task_id="merge", container=container, prefix="out/", output_blob="merged/all.txt", checksum=False
    ).execute(context(task_id="merge"))
    assert hook.read_bytes(container, "merged/all.txt") == data and to_blob["md5"] is None
    assert hook.get_blob(container, "merged/all.txt").md5 is None  # type: ignore[union-attr]


def test_split_blob_csv_by_size_then_merge_csv_to_blob(hook: BlobHook) -> None:
    data = _csv(300)
    container = unique("csv")
    hook.create_container(container)
    hook.upload_bytes(container, "raw/input.csv", data)
    result = BlobSplitOperator(
        task_id="split", source_blob="raw/input.csv", container=container, prefix="chunks",
        mode="csv", chunk_size=1000, max_concurrency=4,
    ).execute(context())  # fmt: skip
    chunks = [hook.read_bytes(container, n) for n in result["chunks"]]
    assert len(chunks) > 5
    assert all(c.startswith(b"id,text\n") for c in chunks)
    assert all(len(next(csv.reader(io.StringIO(c.decode(), newline="")))) == 2 for c in chunks)
    merged = BlobMergeOperator(
        task_id="merge", container=container, prefix="chunks/", mode="csv", output_blob="out/merged.csv"
    ).execute(context(task_id="merge"))
    assert hook.read_bytes(container, "out/merged.csv") == data
    assert merged["md5"] == _md5(data) == hook.get_blob(container, "out/merged.csv").md5  # type: ignore[union-attr]


def test_split_blob_by_count_finds_record_ends_with_ranged_reads(hook: BlobHook) -> None:
    # the last record is larger than one 1 MiB read of the backward scan: it takes several ranged reads
    big = b"x" * (2 * 1024 * 1024 + 100) + b"\n"
    data = b"short\n" * 4 + big
    container = unique("tail")
    hook.create_container(container)
    hook.upload_bytes(container, "in/data.txt", data)
    result = BlobSplitOperator(
        task_id="split", source_blob="in/data.txt", container=container, prefix="chunks", chunk_count=5
    ).execute(context())
    assert [hook.read_bytes(container, n) for n in result["chunks"]] == [b"short\n"] * 4 + [big]
    with pytest.raises(AzureComputeConfigError, match="more than the input's 5 records") as info:
        BlobSplitOperator(
            task_id="split", source_blob="in/data.txt", container=container, prefix="again", chunk_count=6
        ).execute(context())
    assert info.value.field == "chunk_count"
    assert not [b for b in hook.list_blobs(container) if b.name.startswith("again")]


def test_jsonl_large_chunks_use_staged_blocks(hook: BlobHook, tmp_path: Path) -> None:
    record = json.dumps({"payload": "x" * 1000}).encode() + b"\n"
    data = record * 10_000  # ~10 MB: 2 chunks of ~5 MB, each more than one 4 MiB block
    src = tmp_path / "big.jsonl"
    src.write_bytes(data)
    container = unique("jsonl")
    result = BlobSplitOperator(
        task_id="split", source_path=str(src), container=container, mode="jsonl", chunk_count=2
    ).execute(context())
    sizes = [hook.get_blob(container, n).size for n in result["chunks"]]  # type: ignore[union-attr]
    assert sizes == [len(data) // 2] * 2
    manifest = ShardManifest.from_json(hook.read_bytes(container, result["manifest"]))
    for chunk in manifest.chunks:  # staged chunks: MD5 hashed while staging, set at commit
        stored = hook.get_blob(container, chunk.name)
        assert stored is not None and chunk.md5 == stored.md5 == _md5(data[: len(data) // 2])
    out = unique("out")
    merged = BlobMergeOperator(
        task_id="merge", container=container, manifest=result["manifest"], mode="jsonl",
        output_blob="merged.jsonl", output_container=out,
    ).execute(context(task_id="merge"))  # fmt: skip
    assert merged["size"] == len(data) and merged["md5"] == _md5(data)
    assert b"".join(hook.download_stream(out, "merged.jsonl")) == data


def test_merge_with_a_user_callable(hook: BlobHook, tmp_path: Path) -> None:
    container = unique("call")
    hook.create_container(container)
    for i in range(3):
        hook.upload_bytes(container, f"out/task-{i}.out", f"a{i}\nb{i}\n".encode())
    out = tmp_path / "merged.txt"
    BlobMergeOperator(
        task_id="merge", container=container, prefix="out/", mode="callable",
        merge_callable="tests.integration.test_blob_operators:upper_lines", output_path=str(out),
        expected_count=3,
    ).execute(context())  # fmt: skip
    assert out.read_text() == "".join(f"{i}:A{i}\n{i}:B{i}\n" for i in range(3))


def test_merge_names_missing_and_unexpected_shards(hook: BlobHook, tmp_path: Path) -> None:
    container = unique("miss")
    hook.create_container(container)
    for name in ("out/part-00000.out", "out/part-00002.out", "out/stderr.txt"):
        hook.upload_bytes(container, name, b"x\n")
    op = BlobMergeOperator(
        task_id="merge", container=container, prefix="out/", output_path=str(tmp_path / "m"), expected_count=3
    )
    with pytest.raises(
        AzureComputeConfigError, match=r"missing shards: index 1.*unexpected shards: out/stderr.txt"
    ):
        op.execute(context())
    assert not (tmp_path / "m").exists()


def test_split_retry_is_idempotent_but_foreign_blobs_conflict(hook: BlobHook, tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_bytes(_lines(50))
    container = unique("retry")

    def split(count: int, **kw: Any) -> dict[str, Any]:
        return BlobSplitOperator(
            task_id="split", source_path=str(src), container=container, prefix="p/", chunk_count=count, **kw
        ).execute(context(task_id="split"))

    split(5)
    assert len(split(3)["chunks"]) == 3  # a retry replaces its own chunks; stale ones are removed
    assert len([b for b in hook.list_blobs(container, "p/")]) == 4
    hook.upload_bytes(container, "p/someone-else.txt", b"keep me")
    with pytest.raises(AzureComputeConfigError, match=r"someone-else\.txt.*overwrite=True") as info:
        split(3)
    assert info.value.field == "prefix"
    assert split(2, overwrite=True)["chunks"] == ["p/part-00000.txt", "p/part-00001.txt"]


@pytest.mark.parametrize(
    ("content", "kwargs", "field", "words"),
    [
        (b"", {"chunk_count": 2}, "source_path", "empty"),
        (b"a\nb\n", {"chunk_count": 0}, "chunk_count", "at least 1"),
        (b"a\nb\nc\n", {"chunk_count": 4}, "chunk_count", "at most 3"),
        (b"a\n", {"chunk_count": 1, "chunk_size": 10}, "chunk_count", "exactly one"),
        (b"a\n", {"chunk_count": 1, "container": "Bad_Name"}, "container", "uppercase"),
        (b"a\n", {"chunk_count": 1, "container": "ab"}, "container", "3 to 63"),
        (b"a\n", {"chunk_count": 1, "prefix": "runs/../x"}, "prefix", r"'\.\.'"),
        (b"a\n", {"chunk_count": 1, "mode": "xml"}, "mode", "'xml' is not one of: bytes, lines, csv, jsonl"),
        (b"a\n", {"chunk_count": 1, "encoding": "utf-16"}, "encoding", "ASCII-compatible"),
    ],
)
def test_split_bad_input_fails_before_any_upload(
    hook: BlobHook, tmp_path: Path, content: bytes, kwargs: dict[str, Any], field: str, words: str
) -> None:
    src = tmp_path / "in.txt"
    src.write_bytes(content)
    container = kwargs.pop("container", unique("bad"))
    with pytest.raises(AzureComputeConfigError, match=words) as info:
        BlobSplitOperator(task_id="split", source_path=str(src), container=container, **kwargs).execute(
            context()
        )
    assert info.value.field == field
    if container.islower() and len(container) > 3:
        assert not hook.container_exists(container)


def test_split_missing_sources(hook: BlobHook, tmp_path: Path) -> None:
    container = unique("nosrc")
    with pytest.raises(AzureComputeConfigError, match="not an existing file") as info:
        BlobSplitOperator(
            task_id="s", source_path=str(tmp_path / "nope.txt"), container=container, chunk_count=1
        ).execute(context())
    assert info.value.field == "source_path"
    hook.create_container(container)
    with pytest.raises(AzureComputeConfigError, match="does not exist") as info:
        BlobSplitOperator(task_id="s", source_blob="nope.txt", container=container, chunk_count=1).execute(
            context()
        )
    assert info.value.field == "source_blob"
    assert list(hook.list_blobs(container)) == []


def test_undecodable_text_leaves_nothing_behind(hook: BlobHook, tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    good = _lines(2000)
    src.write_bytes(good + b"\xff\xfe broken\n" + _lines(10))
    container = unique("undec")
    hook.create_container(container)
    hook.upload_bytes(container, "in.txt", src.read_bytes())
    # from a blob there is no pre-pass: the bad bytes are found mid-stream, after some chunks went up;
    # they are deleted again, and no manifest is written
    with pytest.raises(
        AzureComputeConfigError, match=f"byte offset {len(good)}.*nothing was left behind"
    ) as info:
        BlobSplitOperator(
            task_id="s", source_blob="in.txt", container=container, prefix="c/", chunk_size=4000
        ).execute(context())
    assert info.value.field == "encoding"
    assert sorted(b.name for b in hook.list_blobs(container)) == ["in.txt"]
    # from a local file into a container the split creates: the container goes too
    fresh_container = unique("undec-new")
    with pytest.raises(AzureComputeConfigError, match=r"container .* this split created was deleted"):
        BlobSplitOperator(
            task_id="s", source_path=str(src), container=fresh_container, prefix="c/", chunk_size=4000
        ).execute(context())
    assert not hook.container_exists(fresh_container)


# -- upload --------------------------------------------------------------------------------------
def test_upload_dir_glob_skip_unchanged_and_overwrite(hook: BlobHook, tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "sub").mkdir(parents=True)
    files = {"a.txt": b"alpha", "sub/b.csv": b"b,c\n", "sub/c.csv": b"c,d\n" * 2_000_000}  # c: 8 MB
    for rel, data in files.items():
        (root / rel).write_bytes(data)
    container = unique("upl")
    names = BlobUploadOperator(task_id="up", source=str(root), container=container, prefix="in").execute(
        context()
    )
    assert names == ["in/a.txt", "in/sub/b.csv", "in/sub/c.csv"]
    for rel, data in files.items():
        entry = hook.get_blob(container, f"in/{rel}")
        assert entry is not None and entry.md5 == _md5(data) and entry.size == len(data)

    ctx = context(task_id="again")
    BlobUploadOperator(task_id="again", source=str(root), container=container, prefix="in").execute(ctx)
    assert ctx["ti"].xcoms["uploaded"] == [] and ctx["ti"].xcoms["skipped"] == names

    (root / "a.txt").write_bytes(b"changed")
    with pytest.raises(AzureComputeConfigError, match=r"in/a\.txt.*overwrite=True"):
        BlobUploadOperator(task_id="third", source=str(root), container=container, prefix="in").execute(
            context(task_id="third")
        )
    ctx = context(task_id="third")
    BlobUploadOperator(
        task_id="third", source=str(root), container=container, prefix="in", overwrite=True
    ).execute(ctx)
    assert ctx["ti"].xcoms["uploaded"] == ["in/a.txt"]
    assert hook.read_bytes(container, "in/a.txt") == b"changed"

    globbed = BlobUploadOperator(
        task_id="glob", source=str(root / "**" / "*.csv"), container=container, prefix="g"
    ).execute(context())
    assert globbed == ["g/sub/b.csv", "g/sub/c.csv"]
    with pytest.raises(AzureComputeConfigError, match="matches no file"):
        BlobUploadOperator(task_id="g", source=str(root / "*.xml"), container=container).execute(context())


# -- cleanup -------------------------------------------------------------------------------------
def test_cleanup_deletes_exactly_what_the_run_created(hook: BlobHook, tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_bytes(_lines(20))
    ours = unique("ours")
    shared = unique("shared")
    other_run = unique("other")
    hook.create_container(shared)
    hook.upload_bytes(shared, "keep/foreign.txt", b"not ours")
    run_ctx = context(task_id="split")
    BlobSplitOperator(task_id="split", source_path=str(src), container=ours, chunk_count=2).execute(run_ctx)
    BlobSplitOperator(
        task_id="split2", source_path=str(src), container=shared, prefix="chunks/", chunk_count=2
    ).execute(context(task_id="split2"))
    BlobSplitOperator(task_id="split", source_path=str(src), container=other_run, chunk_count=2).execute(
        context(run_id="another-run")
    )
    result = BlobCleanupOperator(task_id="cleanup", containers=[ours, shared, other_run]).execute(
        context(task_id="cleanup")
    )
    assert result["containers_deleted"] == [ours] and result["blobs_deleted"] == 3
    assert result["kept"] == [shared, other_run]
    assert not hook.container_exists(ours)
    assert [b.name for b in hook.list_blobs(shared)] == ["keep/foreign.txt"]
    assert len(list(hook.list_blobs(other_run))) == 3
    op = BlobCleanupOperator(task_id="c2", containers=[], scan_containers_prefix="other-")
    assert op.trigger_rule == "all_done"
    assert op.execute(context(run_id="another-run"))["containers_deleted"] == [other_run]


def test_merge_failing_mid_stream_leaves_no_output(hook: BlobHook, tmp_path: Path) -> None:
    container = unique("hdr")
    hook.create_container(container)
    hook.upload_bytes(container, "o/part-0.csv", b"a,b\n1,2\n" * 50_000)  # ~400 KB, written before the error
    hook.upload_bytes(container, "o/part-1.csv", b"x,y\n3,4\n")
    out = tmp_path / "merged.csv"
    with pytest.raises(AzureComputeConfigError, match="does not start with the header") as info:
        BlobMergeOperator(
            task_id="m", container=container, prefix="o/", mode="csv", output_path=str(out)
        ).execute(context())
    assert info.value.field == "mode"
    assert list(tmp_path.iterdir()) == []  # neither the output nor its temporary sibling
    with pytest.raises(AzureComputeConfigError, match="does not start with the header"):
        BlobMergeOperator(
            task_id="m", container=container, prefix="o/", mode="csv", output_blob="merged.csv"
        ).execute(context())
    assert hook.get_blob(container, "merged.csv") is None  # staged blocks are never committed
