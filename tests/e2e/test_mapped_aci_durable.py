"""Mapped Container Instances and Durable operators and sensors under ``dag.test()`` against the emulator."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.dags.mapped_aci_durable import GREETINGS, POOL_ITEMS, dag

pytestmark = pytest.mark.integration


def test_each_map_index_gets_its_own_group_and_instance_and_teardown_leaves_nothing(
    run_dag: Callable[..., Any], airflow_db: Path
) -> None:
    from airflow_azure_compute.hooks.aci_groups import derive_group_name
    from airflow_azure_compute.hooks.container_instances import ContainerInstancesHook
    from airflow_azure_compute.hooks.durable import DurableHook
    from airflow_azure_compute.hooks.storage_queue import StorageQueueHook
    from airflow_azure_compute.ids import created_by_run, derive_run_id, run_prefix

    dr = run_dag(dag)
    tis = {(ti.task_id, ti.map_index): ti for ti in dr.get_task_instances()}
    assert dr.state == "success", {k: ti.state for k, ti in tis.items()}
    mapped = (
        "group",
        "group_kwargs",
        "sense_group",
        "worker_pool",
        "start",
        "sense",
        "start_long",
        "suspend",
        "terminate",
    )
    for task_id in mapped:
        assert {k[1] for k in tis if k[0] == task_id} == {0, 1}, task_id

    def xcom(task_id: str, map_index: int = -1) -> Any:
        return tis[(task_id, map_index)].xcom_pull(task_ids=task_id, map_indexes=map_index)

    scope = (dag.dag_id, dr.run_id)
    groups = {
        task_id: [xcom(task_id, i)["group_name"] for i in range(2)] for task_id in ("group", "group_kwargs")
    }
    for task_id, names in groups.items():
        assert names == [derive_group_name(*scope, task_id, i) for i in range(2)], task_id
        assert [xcom(task_id, i)["exit_codes"] for i in range(2)] == [{"main": 0}] * 2
    assert [xcom("sense_group", i)["group_name"] for i in range(2)] == groups["group"]
    every_group = groups["group"] + groups["group_kwargs"]
    assert len(set(every_group)) == 4
    # "group" keeps its groups for the sensor; "group_kwargs" deletes its own on success.
    assert set(xcom("delete_groups")) == set(groups["group"])
    aci = ContainerInstancesHook()
    assert all(aci.get_group(name) is None for name in every_group)
    assert not [g for g in aci.list_groups() if created_by_run(g.get("tags"), *scope)]
    for i, items in enumerate(POOL_ITEMS):
        assert xcom("worker_pool", i) == [{"n": n, "square": n * n} for n in items]
    # Each map index had its own queue and workers, named from the map index; none is left.
    pool_keys = [derive_group_name("wp", *scope, "worker_pool", i)[:58].rstrip("-") for i in range(2)]
    assert len(set(pool_keys)) == 2
    queues = StorageQueueHook().list_queues()
    assert [name for name, md in queues if name in pool_keys or created_by_run(md, *scope)] == []
    assert not [g["name"] for g in aci.list_groups() if g["name"].startswith(tuple(pool_keys))]

    started = [xcom("start", i) for i in range(2)]
    assert started == [derive_run_id("orch", *scope, "start", i) for i in range(2)]
    outputs = [xcom("sense", i) for i in range(2)]
    for output, names in zip(outputs, GREETINGS, strict=True):
        assert [name in text for text, name in zip(output, names, strict=True)] == [True] * len(names)
    long_ids = [xcom("start_long", i) for i in range(2)]
    assert long_ids == [derive_run_id("orch", *scope, "start_long", i) for i in range(2)]
    assert [xcom("suspend", i) for i in range(2)] == long_ids
    assert [xcom("terminate", i) for i in range(2)] == long_ids
    assert set(xcom("purge")) == set(started + long_ids)
    durable = DurableHook()
    assert all(durable.get_status(i) is None for i in started + long_ids)
    assert durable.list_instances(prefix=run_prefix("orch", *scope)) == []
