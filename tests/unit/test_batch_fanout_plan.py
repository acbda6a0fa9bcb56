"""The fan-out's task plan (pure): ids, commands, SAS resource/output files, manifest dependencies, chunking."""

from __future__ import annotations

import json

import pytest

from airflow_azure_compute.exceptions import AzureComputeConfigError
from airflow_azure_compute.hooks.batch import MAX_TASKS_PER_REQUEST, chunk_tasks
from airflow_azure_compute.operators.batch_fanout import build_tasks


class FakeSas:
    """Deterministic SAS URLs (pure function of its arguments), so plans can be compared."""

    def blob_url(self, container: str, blob: str, permission: str) -> str:
        return f"https://acct/{container}/{blob}?sp={permission}"

    def container_url(self, container: str, permission: str) -> str:
        return f"https://acct/{container}?sp={permission}"

    def prefix_blob_urls(self, container: str, prefix: str) -> dict[str, str]:
        names = [f"{prefix}a.txt", f"{prefix}b/c.txt"] if prefix.startswith("lib") else []
        return {n: self.blob_url(container, n, "r") for n in names}


def test_shared_prefixes_get_one_read_sas_per_blob() -> None:
    tasks = build_tasks(
        prefix="p-",
        command_line="run {item}",
        items=["x"],
        sas=FakeSas(),
        input_container="data",
        common_prefixes=["lib/"],
    )
    files = tasks[0].to_wire()["resourceFiles"]
    assert {"httpUrl": "https://acct/data/lib/a.txt?sp=r", "filePath": "lib/a.txt"} in files
    assert {"httpUrl": "https://acct/data/lib/b/c.txt?sp=r", "filePath": "lib/b/c.txt"} in files
    assert not any("storageContainerUrl" in f for f in files)  # no container-wide read SAS
    with pytest.raises(AzureComputeConfigError, match="no blob under 'empty/'") as info:
        build_tasks(
            prefix="p-",
            command_line="run {item}",
            items=["x"],
            sas=FakeSas(),
            input_container="data",
            common_prefixes=["empty/"],
        )
    assert info.value.field == "common_prefixes"


def test_items_plan() -> None:
    tasks = build_tasks(
        prefix="fan-",
        command_line="python3 app.py {chunk_stem} {index}",
        items=["in/chunk-00000.txt", "in/chunk-00001.txt"],
        sas=FakeSas(),
        input_container="data",
        common_files=["app.py"],
        output_container="results",
        output_prefix="run/",
    )
    assert [t.task_id for t in tasks] == ["fan-00000", "fan-00001"]
    assert tasks[1].command_line == "python3 app.py chunk-00001 1"
    files = tasks[1].to_wire()["resourceFiles"]
    assert files[0] == {"httpUrl": "https://acct/data/app.py?sp=r", "filePath": "app.py"}
    assert files[1] == {"httpUrl": "https://acct/data/in/chunk-00001.txt?sp=r", "filePath": "chunk-00001.txt"}
    out = tasks[1].to_wire()["outputFiles"][0]
    assert out["destination"]["container"] == {
        "containerUrl": "https://acct/results?sp=cw",
        "path": "run/fan-00001",
    }


def test_same_inputs_same_plan() -> None:
    kwargs = {"prefix": "p-", "command_line": "echo {item}", "items": list(range(30))}
    a = [t.to_wire() for t in build_tasks(**kwargs)]  # type: ignore[arg-type]
    b = [t.to_wire() for t in build_tasks(**kwargs)]  # type: ignore[arg-type]
    assert a == b and len({t["id"] for t in a}) == 30


def test_manifest_dependencies_and_outputs_of_previous_step() -> None:
    manifest = [
        {"name": "step1", "args": ["python3", "step.py", "1"]},
        {"name": "step2", "command_line": "python3 step.py 2", "depends_on": ["step1"]},
        {"command_line": "python3 step.py 3", "depends_on": [1]},
    ]
    tasks = build_tasks(
        prefix="wf-",
        command_line=None,
        manifest=manifest,
        sas=FakeSas(),
        output_container="results",
        output_prefix="o/",
    )
    assert tasks[0].command_line == "python3 step.py 1"
    assert tasks[1].depends_on == ("wf-00000",) and tasks[2].depends_on == ("wf-00001",)
    dep_files = [f for f in tasks[2].to_wire()["resourceFiles"] if "blobPrefix" in f]
    assert dep_files == [
        {"storageContainerUrl": "https://acct/results?sp=rl", "filePath": "deps", "blobPrefix": "o/wf-00001/"}
    ]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"items": []}, "no tasks"),
        ({"items": None}, "exactly one"),
        ({"items": ["a"], "manifest": [{"command_line": "x"}]}, "exactly one"),
        ({"items": ["a"], "command_line": None}, "command_line"),
        ({"items": ["a"], "input_container": "data", "sas": None}, "Blob connection"),
        ({"manifest": [{"command_line": "x", "depends_on": [0]}], "command_line": None}, "earlier"),
        ({"manifest": [{"command_line": "x", "depends_on": ["nope"]}], "command_line": None}, "unknown"),
        ({"items": ["a"], "command_line": "x" * 9000}, "limit"),
    ],
)
def test_bad_input(kwargs: dict[str, object], match: str) -> None:
    base: dict[str, object] = {"prefix": "p-", "command_line": "run {item}"}
    with pytest.raises(AzureComputeConfigError, match=match):
        build_tasks(**{**base, **kwargs})  # type: ignore[arg-type]


def test_chunking_respects_count_and_size() -> None:
    small = [{"id": f"t{i}", "commandLine": "x"} for i in range(250)]
    assert [len(c) for c in chunk_tasks(small)] == [100, 100, 50]
    big = [{"id": f"t{i}", "commandLine": "x" * 30_000} for i in range(60)]
    chunks = chunk_tasks(big)
    assert sum(len(c) for c in chunks) == 60
    assert all(len(json.dumps(c)) < 1_000_000 and len(c) <= MAX_TASKS_PER_REQUEST for c in chunks)
    assert chunk_tasks([]) == []
