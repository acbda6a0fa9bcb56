"""Pure logic of Batch specs: validation before any API call, REST bodies, ids, commands, manifests."""

from __future__ import annotations

import pytest

from airflow_azure_compute.exceptions import AzureComputeConfigError
from airflow_azure_compute.specs import (
    MAX_COMMAND_LINE,
    ContainerConfigSpec,
    JobSpec,
    JobTaskSpec,
    OutputFileSpec,
    PoolSpec,
    ResourceFileSpec,
    TaskSpec,
    parse_task_manifest,
    pool_differences,
    render_command,
    task_id_for,
)

POOL = {
    "pool_id": "pool-1",
    "vm_size": "standard_d2s_v5",
    "image": "canonical:0001-com-ubuntu-server-jammy:22_04-lts",
    "node_agent_sku_id": "batch.node.ubuntu 22.04",
}


def test_pool_wire_fixed_nodes_and_metadata() -> None:
    spec = PoolSpec.coerce({**POOL, "dedicated_nodes": 2, "start_task": {"command_line": "/bin/true"}})
    wire = spec.to_wire(metadata={"airflow_dag_id": "d"})
    assert wire["targetDedicatedNodes"] == 2 and "enableAutoScale" not in wire
    assert wire["virtualMachineConfiguration"]["imageReference"] == {
        "publisher": "canonical",
        "offer": "0001-com-ubuntu-server-jammy",
        "sku": "22_04-lts",
        "version": "latest",
    }
    assert wire["startTask"]["commandLine"] == "/bin/true" and wire["startTask"]["waitForSuccess"] is True
    assert wire["metadata"] == [{"name": "airflow_dag_id", "value": "d"}]


def test_pool_wire_autoscale_and_container_registry_secret_passed_in() -> None:
    spec = PoolSpec.coerce(
        {
            **POOL,
            "autoscale_formula": "$TargetDedicatedNodes = 2;",
            "autoscale_evaluation_minutes": 5,
            "container": {"images": ["reg.io/app:1"], "registry_server": "reg.io", "registry_conn_id": "acr"},
        }
    )
    wire = spec.to_wire(registry_user="u", registry_password="s3cr3t-pw")
    assert wire["enableAutoScale"] is True and wire["autoScaleEvaluationInterval"] == "PT5M"
    assert "targetDedicatedNodes" not in wire
    registry = wire["virtualMachineConfiguration"]["containerConfiguration"]["containerRegistries"][0]
    assert registry == {"registryServer": "reg.io", "username": "u", "password": "s3cr3t-pw"}
    assert "s3cr3t-pw" not in repr(spec)  # the spec never holds the secret


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"dedicated_nodes": 1, "autoscale_formula": "$TargetDedicatedNodes=1;"}, "pool.autoscale_formula"),
        ({"pool_id": "bad id!"}, "pool.pool_id"),
        ({"pool_id": "x" * 65}, "pool.pool_id"),
        ({"image": "ubuntu"}, "pool.image"),
        ({"node_agent_sku_id": ""}, "pool.node_agent_sku_id"),
        (
            {"autoscale_formula": "$x=1;", "autoscale_evaluation_minutes": 1},
            "pool.autoscale_evaluation_minutes",
        ),
        ({"task_slots_per_node": 0}, "pool.task_slots_per_node"),
    ],
)
def test_pool_bad_input(change: dict[str, object], field: str) -> None:
    with pytest.raises(AzureComputeConfigError) as info:
        PoolSpec.coerce({**POOL, **change})
    assert info.value.field == field


def test_unknown_and_missing_fields_are_named() -> None:
    with pytest.raises(AzureComputeConfigError, match="vm_sise"):
        PoolSpec.coerce({**POOL, "vm_sise": "x"})
    with pytest.raises(AzureComputeConfigError, match="node_agent_sku_id"):
        PoolSpec.coerce({k: v for k, v in POOL.items() if k != "node_agent_sku_id"})


def test_registry_needs_server_and_connection() -> None:
    with pytest.raises(AzureComputeConfigError, match="go together"):
        ContainerConfigSpec(images=("a",), registry_server="reg.io")


def test_pool_differences_name_each_field() -> None:
    spec = PoolSpec.coerce({**POOL, "dedicated_nodes": 2})
    same = spec.to_wire()
    assert pool_differences(spec, same) == []
    other = {**same, "vmSize": "STANDARD_D4", "targetDedicatedNodes": 3, "taskSlotsPerNode": 4}
    diffs = pool_differences(spec, other)
    assert any(d.startswith("vm_size") for d in diffs)
    assert any(d.startswith("dedicated_nodes") for d in diffs)
    assert any(d.startswith("task_slots_per_node") for d in diffs)
    assert pool_differences(spec, {**same, "vmSize": "STANDARD_D2S_V5"}) == []  # case-insensitive
    auto = PoolSpec.coerce({**POOL, "autoscale_formula": "$TargetDedicatedNodes = 1;"})
    assert any(d.startswith("autoscale") for d in pool_differences(auto, same))


def test_job_wire_and_validation() -> None:
    spec = JobSpec.coerce(
        {
            "pool_id": "pool-1",
            "max_task_retries": 3,
            "max_wall_clock_seconds": 3600,
            "on_all_tasks_complete": "terminatejob",
            "preparation_task": {"command_line": "/bin/prep"},
            "release_task": {"command_line": "/bin/release"},
            "environment": {"A": "1"},
        }
    )
    wire = spec.to_wire("job-1", metadata={"k": "v"})
    assert wire["constraints"] == {"maxTaskRetryCount": 3, "maxWallClockTime": "PT3600S"}
    assert wire["onAllTasksComplete"] == "terminatejob"
    assert (
        wire["jobPreparationTask"]["waitForSuccess"] is True
        and "waitForSuccess" not in wire["jobReleaseTask"]
    )
    assert wire["commonEnvironmentSettings"] == [{"name": "A", "value": "1"}]
    with pytest.raises(AzureComputeConfigError, match="on_all_tasks_complete"):
        JobSpec(pool_id="p", on_all_tasks_complete="TerminateJob")
    with pytest.raises(AzureComputeConfigError, match="release"):
        JobSpec(pool_id="p", release_task=JobTaskSpec(command_line="x"))


def test_task_wire_and_command_limit() -> None:
    task = TaskSpec(
        task_id="t-00001",
        command_line="python run.py",
        resource_files=(ResourceFileSpec(http_url="http://x/a?sig", file_path="a"),),
        output_files=(OutputFileSpec(file_pattern="out/*", container_url="http://x/c?sig", path="p/t"),),
        depends_on=("t-00000",),
        max_task_retries=2,
    )
    wire = task.to_wire()
    assert wire["dependsOn"] == {"taskIds": ["t-00000"]}
    assert wire["outputFiles"][0]["uploadOptions"]["uploadCondition"] == "tasksuccess"
    assert wire["constraints"] == {"maxTaskRetryCount": 2}
    with pytest.raises(AzureComputeConfigError, match="limit"):
        TaskSpec(task_id="t", command_line="x" * (MAX_COMMAND_LINE + 1))
    with pytest.raises(AzureComputeConfigError):
        ResourceFileSpec(http_url="http://x", storage_container_url="http://y", file_path="a")
    with pytest.raises(AzureComputeConfigError, match="inside"):
        ResourceFileSpec(http_url="http://x", file_path="../etc/passwd")


def test_task_ids_are_deterministic_and_sortable() -> None:
    ids = [task_id_for("p-", i, 12) for i in range(12)]
    assert ids[0] == "p-00000" and ids == sorted(ids)
    assert task_id_for("p-", 5, 2_000_000) == "p-0000005"


def test_render_command_leaves_other_braces() -> None:
    cmd = render_command(
        "/bin/sh -c 'python app.py {chunk} {index} ${{HOME}} {task_id} {chunk_stem} {unknown}'",
        index=3,
        task_id="t3",
        item="in/chunk-00003.txt",
    )
    assert cmd == "/bin/sh -c 'python app.py in/chunk-00003.txt 3 ${{HOME}} t3 chunk-00003 {unknown}'"
    assert render_command("run {item}", index=0, task_id="t", item={"b": 1, "a": 2}) == 'run {"a":2,"b":1}'


def test_manifest_parsing_errors() -> None:
    assert parse_task_manifest('{"tasks": [{"command_line": "a"}]}') == [{"command_line": "a"}]
    with pytest.raises(AzureComputeConfigError, match="not valid JSON"):
        parse_task_manifest("[{bad json")
    with pytest.raises(AzureComputeConfigError, match="non-empty"):
        parse_task_manifest("[]")
    with pytest.raises(AzureComputeConfigError, match="entry 1"):
        parse_task_manifest([{"command_line": "a"}, {"name": "b"}])
