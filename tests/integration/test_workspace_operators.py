"""The run workspace through the Blob operators against Azurite: isolation, results, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_azure_compute.exceptions import AzureComputeConfigError
from airflow_azure_compute.hooks.blob import BlobHook
from airflow_azure_compute.operators.blob_cleanup import BlobCleanupOperator
from airflow_azure_compute.operators.blob_merge import BlobMergeOperator
from airflow_azure_compute.operators.blob_split import BlobSplitOperator
from airflow_azure_compute.operators.blob_upload import BlobUploadOperator
from airflow_azure_compute.workspace import RunWorkspace
from tests.integration._blob_helpers import context, unique

pytestmark = pytest.mark.integration


@pytest.fixture
def hook(blob_connection: str) -> BlobHook:
    return BlobHook(blob_connection)


def _input(tmp_path: Path, lines: int = 40) -> Path:
    src = tmp_path / "in.txt"
    src.write_text("".join(f'{{"n": {i}}}\n' for i in range(lines)))
    return src


def _split(src: Path, run_id: str, **kwargs: object) -> dict[str, object]:
    op = BlobSplitOperator(task_id="split", source_path=str(src), chunk_count=4, **kwargs)  # type: ignore[arg-type]
    return op.execute(context(task_id="split", run_id=run_id))


def test_two_scheduled_runs_split_into_their_own_workspaces(hook: BlobHook, tmp_path: Path) -> None:
    src = _input(tmp_path)
    day1, day2 = "scheduled__2026-01-01T00:00:00+00:00", "scheduled__2026-01-02T00:00:00+00:00"
    first = _split(src, day1)
    second = _split(src, day2)  # the second day meets no conflict: another container
    ws1, ws2 = (RunWorkspace.from_dict(r["workspace"]) for r in (first, second))  # type: ignore[arg-type]
    assert ws1.container != ws2.container and first["container"] == ws1.container
    assert first["chunks"] == [f"chunks/part-{i:05d}.txt" for i in range(4)]
    assert hook.get_container_metadata(ws1.container)["airflow_run_id"] == day1  # type: ignore[index]

    # A merge back to XCom, per shard and as JSON Lines: no read-back task.
    merged = BlobMergeOperator(
        task_id="merge", container=ws1.container, prefix="chunks/", xcom_content="jsonl"
    ).execute(context(task_id="merge", run_id=day1))
    assert merged["content"] == [{"n": i} for i in range(40)] and merged["location"] == "xcom"
    shards = BlobMergeOperator(
        task_id="merge", container=ws1.container, prefix="chunks/", xcom_content="shards"
    ).execute(context(task_id="merge", run_id=day1))
    assert "".join(shards["content"]) == src.read_text() and len(shards["content"]) == 4

    # Day 1's cleanup deletes day 1's workspace, and nothing of day 2.
    done = BlobCleanupOperator(task_id="cleanup").execute(context(task_id="cleanup", run_id=day1))
    assert done["containers_deleted"] == [ws1.container]  # the outputs container was never created
    assert not hook.container_exists(ws1.container) and hook.container_exists(ws2.container)
    BlobCleanupOperator(task_id="cleanup").execute(context(task_id="cleanup", run_id=day2))
    assert not hook.container_exists(ws2.container)


def test_a_named_container_holds_each_run_under_its_own_prefix(hook: BlobHook, tmp_path: Path) -> None:
    src = _input(tmp_path)
    shared = unique("shared")
    hook.create_container(shared)
    hook.upload_bytes(shared, "reference/keep.txt", b"not a run's")
    a = _split(src, "run-a", container=shared)
    b = _split(src, "run-b", container=shared)
    assert a["prefix"] != b["prefix"] and str(a["prefix"]).startswith("runs/")
    # Outputs written by remote tasks carry no run metadata: the workspace prefix is deleted whole.
    hook.upload_bytes(shared, f"{a['prefix']}outputs/t-00000/out.txt", b"written by a task")
    done = BlobCleanupOperator(task_id="cleanup", workspace_container=shared).execute(
        context(task_id="cleanup", run_id="run-a")
    )
    assert done["blobs_deleted"] == 6  # 4 chunks, the manifest, the task's output
    left = sorted(b.name for b in hook.list_blobs(shared))
    assert left == ["reference/keep.txt", *sorted(f"{b['prefix']}{n}" for n in
                    ["manifest.json", *(f"part-{i:05d}.txt" for i in range(4))])]  # fmt: skip


def test_mapped_instances_get_their_own_default_prefix(tmp_path: Path) -> None:
    src = _input(tmp_path)
    results = [
        BlobSplitOperator(task_id="split", source_path=str(src), chunk_count=2).execute(
            context(task_id="split", run_id="mapped-run", map_index=i)
        )
        for i in range(2)
    ]
    assert [r["prefix"] for r in results] == ["chunks/0/", "chunks/1/"]
    assert results[0]["container"] == results[1]["container"]
    BlobCleanupOperator(task_id="cleanup").execute(context(task_id="cleanup", run_id="mapped-run"))


def test_a_fixed_prefix_another_run_wrote_names_the_field_and_the_fix(tmp_path: Path) -> None:
    src = _input(tmp_path)
    container = unique("fixed")
    _split(src, "day-1", container=container, prefix="chunks/")
    with pytest.raises(AzureComputeConfigError, match=r"^prefix: .*already exist.*choose another prefix"):
        _split(src, "day-2", container=container, prefix="chunks/")


def test_bad_input_fails_before_anything_is_created(hook: BlobHook, tmp_path: Path) -> None:
    src = _input(tmp_path)
    before = {name for name, _ in hook.list_containers()}
    with pytest.raises(AzureComputeConfigError, match=r"^container: container name 'Bad_Name'"):
        _split(src, "bad-1", container="Bad_Name")
    with pytest.raises(AzureComputeConfigError, match=r"^workspace_container: container name"):
        BlobCleanupOperator(task_id="c", workspace_container="no").execute(context(run_id="bad-1"))
    # A template that rendered an empty prefix (the operator saw the template when it was built).
    op = BlobSplitOperator(task_id="split", source_path=str(src), chunk_count=2, prefix="{{ params.p }}")
    op.prefix = ""  # what rendering {{ params.p }} with p = "" leaves
    with pytest.raises(
        AzureComputeConfigError, match=r"^prefix: the template '\{\{ params.p \}\}' rendered an empty"
    ):
        op.execute(context(run_id="bad-2"))
    merge = BlobMergeOperator(task_id="m", prefix="out/", xcom_content="lines")
    with pytest.raises(AzureComputeConfigError, match=r"^xcom_content: 'lines' is not one of"):
        merge.execute(context(run_id="bad-3"))
    with pytest.raises(
        AzureComputeConfigError, match=r"^output_path: give output_path, output_blob or xcom_content"
    ):
        BlobMergeOperator(task_id="m", prefix="out/").execute(context(run_id="bad-3"))
    assert {name for name, _ in hook.list_containers()} == before


def test_a_result_too_large_for_xcom_fails_before_any_download(hook: BlobHook, tmp_path: Path) -> None:
    src = _input(tmp_path, lines=2000)
    result = _split(src, "big")
    out = tmp_path / "never.txt"
    with pytest.raises(
        AzureComputeConfigError, match=r"^max_xcom_bytes: the result is \d+ bytes, over the XCom cap of 1000"
    ):
        BlobMergeOperator(
            task_id="merge", container=str(result["container"]), prefix="chunks/", xcom_content="text",
            max_xcom_bytes=1000, output_path=str(out),
        ).execute(context(task_id="merge", run_id="big"))  # fmt: skip
    assert not out.exists()
    # Download to a local path instead: the same merge with output_path and no XCom content.
    done = BlobMergeOperator(
        task_id="merge", container=str(result["container"]), prefix="chunks/", output_path=str(out)
    ).execute(context(task_id="merge", run_id="big"))
    assert out.read_text() == src.read_text() and done["location"] == str(out)
    assert json.loads(out.read_text().splitlines()[-1]) == {"n": 1999}
    BlobCleanupOperator(task_id="cleanup").execute(context(task_id="cleanup", run_id="big"))


def test_upload_defaults_to_the_workspace_and_pushes_it(hook: BlobHook, tmp_path: Path) -> None:
    program = tmp_path / "prog.py"
    program.write_text("print('hi')\n")
    ctx = context(task_id="upload", run_id="upload-run")
    names = BlobUploadOperator(task_id="upload", source=str(program), prefix="program/").execute(ctx)
    ws = RunWorkspace.from_dict(ctx["ti"].xcoms["workspace"])
    assert (
        names == ["program/prog.py"] and hook.read_bytes(ws.container, "program/prog.py") == b"print('hi')\n"
    )
    BlobCleanupOperator(task_id="cleanup").execute(context(task_id="cleanup", run_id="upload-run"))
    assert not hook.container_exists(ws.container)
