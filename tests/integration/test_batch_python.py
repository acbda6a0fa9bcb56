"""Python functions on Batch (BatchPythonOperator, BatchMapOperator) against the emulator and Azurite.

The functions below are defined in this test module, which no node could import: they travel by value,
as a DAG file's functions do. Only the Airflow task instance is a stand-in (``FakeTI``); the example
DAGs in tests/e2e run the same operators under ``dag.test()``.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_azure_compute.exceptions import (
    AzureComputeConfigError,
    RemoteFunctionError,
    RemoteWorkFailedError,
)
from airflow_azure_compute.hooks.batch import BatchHook
from airflow_azure_compute.hooks.blob import BlobHook
from airflow_azure_compute.operators.batch_pool import BatchEnsurePoolOperator
from airflow_azure_compute.operators.batch_python import BatchMapOperator, BatchPythonOperator
from airflow_azure_compute.python_results import MapResults, RemoteTraceback
from airflow_azure_compute.workspace import RunWorkspace
from tests.integration._batch_env import POOL_BASE, fresh
from tests.integration.ops_support import FakeTI, context_for, execute, expect_deferred, run_deferred

pytestmark = pytest.mark.integration


class Unlucky(ValueError):
    """An exception class that exists only in this module (rebuilt on the worker by value)."""


def square(x: int) -> int:
    return x * x


def shout(name: str, *, times: int = 1) -> dict[str, Any]:
    print(f"hello {name} from the node")
    print("a warning on stderr", file=sys.stderr)
    return {"name": name.upper() * times, "python": sys.version_info[:2]}


def fragile(x: int) -> float:
    if x % 7 == 3:
        raise Unlucky(f"item {x} is unlucky")
    return math.sqrt(x)


def add(a: int, b: int) -> int:
    return a + b


@pytest.fixture(scope="module")
def pool_id(batch_env: dict[str, Any]) -> str:
    pid = fresh("pypool")
    op = BatchEnsurePoolOperator(
        task_id="pool",
        pool_spec={
            **POOL_BASE,
            "pool_id": pid,
            "dedicated_nodes": 2,
            "task_slots_per_node": 4,
            "metadata": {"python_version": "{}.{}".format(*sys.version_info[:2])},
        },
        min_ready_nodes=2,
        poll_interval=0.2,
    )
    execute(op, context_for(FakeTI(task_id="pool")))
    return pid


def _ctx(task_id: str) -> dict[str, Any]:
    return context_for(FakeTI(task_id=task_id, run_id=fresh("run")))


def _workspace_blobs(ctx: dict[str, Any]) -> tuple[list[str], list[str]]:
    ws = RunWorkspace.for_context(ctx)
    hook = BlobHook()
    found = []
    for container in ws.containers:
        found.append([b.name for b in hook.list_blobs(container)] if hook.container_exists(container) else [])
    return found[0], found[1]


def test_a_call_returns_its_value_and_logs_its_output(
    pool_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ctx = _ctx("call")
    op = BatchPythonOperator(
        task_id="call", python_callable=shout, op_args=["ada"], op_kwargs={"times": 2}, pool_id=pool_id,
        poll_interval=0.2,
    )  # fmt: skip
    value = execute(op, ctx)
    assert value == {"name": "ADAADA", "python": sys.version_info[:2]}
    log = capsys.readouterr().out  # the task log
    assert "hello ada from the node" in log and "a warning on stderr" in log
    inputs, outputs = _workspace_blobs(ctx)
    assert [n for n in inputs if "/in/" in n] == [] and outputs == []  # staged blobs cleaned up
    assert any(n.endswith("r0.done") for n in inputs)


def test_a_map_returns_results_in_input_order(pool_id: str) -> None:
    ctx = _ctx("map")
    items = list(range(200))
    op = BatchMapOperator(
        task_id="map", python_callable=square, items=items, pool_id=pool_id, poll_interval=0.2
    )
    value = execute(op, ctx)
    assert value["count"] == 200 and value["error_count"] == 0 and value["manifest"] is None
    assert list(MapResults.from_xcom(value)) == [x * x for x in items]


def test_a_starmap_with_a_fixed_chunk_size(pool_id: str) -> None:
    ctx = _ctx("starmap")
    op = BatchMapOperator(
        task_id="starmap", python_callable=add, items=[(i, 10 * i) for i in range(25)], star=True,
        chunk_size=10, pool_id=pool_id, poll_interval=0.2,
    )  # fmt: skip
    deferred = expect_deferred(lambda: op.execute(ctx))
    job = BatchHook().get_job(deferred.trigger.job_id)  # type: ignore[attr-defined]
    assert {"name": "airflow_chunks", "value": "3"} in job["metadata"]
    value = run_deferred(op, ctx, deferred)
    assert MapResults.from_xcom(value)[:] == [11 * i for i in range(25)]


def test_a_map_that_waits_on_the_worker_and_a_kill_that_stops_it(pool_id: str) -> None:
    ctx = _ctx("sync")
    op = BatchMapOperator(
        task_id="sync", python_callable=square, items=[1, 2, 3], pool_id=pool_id, deferrable=False,
        poll_interval=0.2,
    )  # fmt: skip
    assert MapResults.from_xcom(op.execute(ctx))[:] == [1, 4, 9]  # polled in place, never deferred

    def slow(x: int) -> int:
        import time

        time.sleep(60)
        return x

    ctx = _ctx("killed")
    op = BatchMapOperator(
        task_id="killed",
        python_callable=slow,
        items=[1],
        pool_id=pool_id,
        deferrable=False,
        poll_interval=0.2,
    )
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            op.execute(ctx)
        except BaseException as err:
            outcome.append(err)

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 60

    def task_running() -> bool:  # released by the worker's wait, which polls in place
        work = getattr(op, "_work", None)
        return work is not None and BatchHook().get_task_counts(work.job_id).running > 0

    while not task_running() and time.monotonic() < deadline:
        time.sleep(0.05)
    op.on_kill()  # a user kills the task while the worker polls
    worker.join(60)
    assert not worker.is_alive()
    assert isinstance(outcome[0], RemoteWorkFailedError)  # the terminated task ends the wait at once
    job = BatchHook().get_job(op._work.job_id)  # type: ignore[attr-defined]
    assert job is None or job["state"] in ("terminating", "completed", "deleting")  # then deleted


def sleep_long(x: int) -> int:
    time.sleep(600)
    return x


def _job_stopped(job_id: str) -> bool:
    hook = BatchHook()
    counts = hook.get_task_counts(job_id)
    job = hook.get_job(job_id) or {}
    # A terminated job leaves its never-started tasks active, and never schedules them (as on Azure).
    return counts.running == 0 and job.get("state") in ("terminating", "completed")


@pytest.mark.parametrize("how", ["trigger-deadline", "airflow-trigger-timeout"])
def test_a_deferred_map_that_times_out_terminates_its_job(pool_id: str, how: str) -> None:
    import asyncio

    from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason
    from airflow.sdk.exceptions import TaskDeferralTimeout

    from airflow_azure_compute.exceptions import DeadlineExceededError
    from tests.integration.ops_support import first_event, rebuild

    ctx = _ctx(f"timeout-{how}")
    op = BatchMapOperator(
        task_id=f"timeout-{how}", python_callable=sleep_long, items=[1, 2], pool_id=pool_id,
        poll_interval=0.2, timeout=3,
    )  # fmt: skip
    deferred = expect_deferred(lambda: op.execute(ctx))
    job_id = deferred.trigger.job_id  # type: ignore[attr-defined]
    assert deferred.trigger.terminate_on_kill is True  # type: ignore[attr-defined]
    if how == "trigger-deadline":
        event = asyncio.run(first_event(rebuild(deferred.trigger)))
        assert event["status"] == "timeout"
        with pytest.raises(DeadlineExceededError):
            op.resume_execution(deferred.method_name, {"event": event}, ctx)
    else:  # the scheduler failed the deferred task for its trigger timeout: Airflow skips on_kill
        with pytest.raises(TaskDeferralTimeout):
            op.resume_execution(TRIGGER_FAIL_REPR, {"error": TriggerFailureReason.TRIGGER_TIMEOUT}, ctx)
    deadline = time.monotonic() + 30
    while not _job_stopped(job_id):
        assert time.monotonic() < deadline, (
            f"the job's tasks kept running: {BatchHook().get_task_counts(job_id)}"
        )
        time.sleep(0.1)


def test_item_errors_fail_the_task_with_the_remote_traceback(pool_id: str) -> None:
    ctx = _ctx("fragile")
    op = BatchMapOperator(
        task_id="fragile", python_callable=fragile, items=list(range(20)), pool_id=pool_id, poll_interval=0.2
    )
    with pytest.raises(Unlucky, match="item 3 is unlucky") as info:
        execute(op, ctx)
    cause = info.value.__cause__
    assert isinstance(cause, RemoteTraceback)
    assert "item #3 of 20 raised on Batch (3 item(s) failed)" in cause.text
    # the frame of the function (pickled by value) points back at this file, with its source line
    assert f'File "{__file__}", line' in cause.text
    assert 'in fragile\n    raise Unlucky(f"item {x} is unlucky")' in cause.text


def test_item_errors_returned_beside_the_results(pool_id: str) -> None:
    ctx = _ctx("fragile_return")
    op = BatchMapOperator(
        task_id="fragile_return", python_callable=fragile, items=list(range(20)), on_item_error="return",
        pool_id=pool_id, poll_interval=0.2,
    )  # fmt: skip
    value = execute(op, ctx)
    results = MapResults.from_xcom(value)
    assert [i for i, r in enumerate(results) if r is None] == [3, 10, 17]
    assert results[4] == 2.0
    assert [e["index"] for e in value["errors"]] == [3, 10, 17]
    assert value["errors"][0]["type"].endswith("Unlucky") and "Traceback" in value["errors"][0]["traceback"]


def test_large_results_go_to_a_manifest_read_lazily(pool_id: str) -> None:
    ctx = _ctx("manifest")
    op = BatchMapOperator(
        task_id="manifest", python_callable=square, items=list(range(1000)), chunk_size=64,
        max_xcom_bytes=1000, pool_id=pool_id, poll_interval=0.2,
    )  # fmt: skip
    value = execute(op, ctx)
    assert value["results"] is None and value["manifest"]["blob"].endswith("manifest.json")
    assert value["manifest"]["conn_id"] == "azure_compute_blob_default"  # how MapResults reaches it
    results = MapResults.from_xcom(value)
    assert results.in_manifest and len(results) == 1000
    assert results[999] == 999 * 999 and results[64] == 64 * 64 and results[-1] == 999 * 999
    assert list(results) == [x * x for x in range(1000)]
    inputs, outputs = _workspace_blobs(ctx)
    assert [n for n in inputs if "/in/" in n] == []  # inputs cleaned, results kept for the manifest
    assert sum(n.endswith("result.pkl") for n in outputs) == math.ceil(1000 / 64)


def test_ten_thousand_items_in_one_airflow_task(pool_id: str) -> None:
    """10,000 inputs: a few dozen Batch tasks, results in order whether inline or in a manifest."""
    ctx = _ctx("ten_thousand")
    items = list(range(10_000))
    op = BatchMapOperator(
        task_id="ten_thousand", python_callable=square, items=items, pool_id=pool_id, poll_interval=0.5,
        max_xcom_bytes=10_000,
    )  # fmt: skip
    deferred = expect_deferred(lambda: op.execute(ctx))
    job = BatchHook().get_job(deferred.trigger.job_id)  # type: ignore[attr-defined]
    assert {"name": "airflow_chunks", "value": "32"} in job["metadata"]  # 2 nodes x 4 slots x 4
    value = run_deferred(op, ctx, deferred)
    assert value["count"] == 10_000 and value["manifest"] is not None
    results = MapResults.from_xcom(value)
    assert list(results) == [x * x for x in items]


def test_a_remote_exception_of_an_unknown_class_is_a_remote_function_error(pool_id: str) -> None:
    def raises_local_class(x: int) -> int:
        class Local(Exception):
            def __reduce__(self) -> Any:
                raise TypeError("not picklable")

        raise Local(f"local failure {x}")

    ctx = _ctx("local_class")
    op = BatchPythonOperator(
        task_id="local_class", python_callable=raises_local_class, op_args=[5], pool_id=pool_id,
        poll_interval=0.2,
    )  # fmt: skip
    with pytest.raises(RemoteFunctionError, match="local failure 5") as info:
        execute(op, ctx)
    assert "Local" in str(info.value.remote_type)
    assert isinstance(info.value.__cause__, RemoteTraceback)


def test_a_retry_after_a_lost_wait_reattaches_to_its_batch_tasks(pool_id: str) -> None:
    ti = FakeTI(task_id="reattach", run_id=fresh("run"))
    ctx = context_for(ti)
    op = BatchMapOperator(
        task_id="reattach", python_callable=square, items=list(range(30)), chunk_size=5, pool_id=pool_id,
        poll_interval=0.2,
    )  # fmt: skip
    first = expect_deferred(lambda: op.execute(ctx))  # try 1 submits, then its worker dies
    hook = BatchHook()
    job_id = first.trigger.job_id  # type: ignore[attr-defined]
    before = hook.list_task_ids(job_id)
    ti.try_number = 2
    again = BatchMapOperator(
        task_id="reattach", python_callable=square, items=list(range(30)), chunk_size=5, pool_id=pool_id,
        poll_interval=0.2,
    )  # fmt: skip
    try:
        value = again.execute(ctx)
    except TaskDeferred as second:
        assert second.trigger.job_id == job_id  # type: ignore[attr-defined]
        assert hook.list_task_ids(job_id) == before  # nothing submitted twice
        value = run_deferred(again, ctx, second)
    assert MapResults.from_xcom(value)[:] == [x * x for x in range(30)]


def test_a_retry_after_the_function_failed_runs_it_again(pool_id: str) -> None:
    ti = FakeTI(task_id="rerun", run_id=fresh("run"))
    ctx = context_for(ti)

    def flaky(x: int) -> int:
        import os

        marker = os.environ.get("AAC_TEST_FLAKY")
        if marker and not os.path.exists(marker):
            open(marker, "w").close()
            raise RuntimeError("first time fails")
        return x + 1

    import tempfile

    marker = tempfile.mktemp(prefix="aac-flaky-")
    op = BatchPythonOperator(
        task_id="rerun", python_callable=flaky, op_args=[41], pool_id=pool_id, poll_interval=0.2,
        environment={"AAC_TEST_FLAKY": marker},
    )  # fmt: skip
    with pytest.raises(RuntimeError, match="first time fails"):
        execute(op, ctx)
    ti.try_number = 2
    assert execute(op, ctx) == 42


def test_a_package_of_the_worker_travels_with_the_function(pool_id: str, tmp_path: Any) -> None:
    package = tmp_path / "aac_shipped_helpers"
    package.mkdir()
    (package / "__init__.py").write_text(
        "def greet(name):\n    return f'hello {name} from a shipped package'\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:

        def uses_package(name: str) -> str:
            import aac_shipped_helpers  # type: ignore[import-not-found]  # importable on the worker only

            return str(aac_shipped_helpers.greet(name))

        ctx = _ctx("shipped")
        op = BatchPythonOperator(
            task_id="shipped", python_callable=uses_package, op_args=["ada"], pool_id=pool_id,
            ship_packages=["aac_shipped_helpers"], poll_interval=0.2,
        )  # fmt: skip
        assert execute(op, ctx) == "hello ada from a shipped package"
        ctx = _ctx("not_shipped")
        op = BatchPythonOperator(
            task_id="not_shipped", python_callable=uses_package, op_args=["ada"], pool_id=pool_id,
            poll_interval=0.2,
        )  # fmt: skip
        with pytest.raises(ModuleNotFoundError, match="aac_shipped_helpers"):
            execute(op, ctx)  # the node cannot import it without ship_packages
    finally:
        sys.path.remove(str(tmp_path))


def test_a_requirements_start_task_prepares_the_nodes(batch_env: dict[str, Any]) -> None:
    """The generated start task runs on the (emulated) nodes; cloudpickle is already installed, so pip
    only confirms it (no download)."""
    from airflow_azure_compute.python_shipping import python_start_task

    pid = fresh("reqpool")
    op = BatchEnsurePoolOperator(
        task_id="pool",
        pool_spec={**POOL_BASE, "pool_id": pid, "dedicated_nodes": 1,
                   "start_task": python_start_task(["cloudpickle>=3.0"])},
        min_ready_nodes=1, poll_interval=0.2,
    )  # fmt: skip
    execute(op, context_for(FakeTI(task_id="pool")))  # raises if the start task failed
    ctx = _ctx("after_start_task")
    mapped = BatchMapOperator(
        task_id="after_start_task", python_callable=square, items=[5], pool_id=pid, poll_interval=0.2
    )
    assert MapResults.from_xcom(execute(mapped, ctx))[:] == [25]
    BatchHook().delete_pool(pid)


def test_expand_style_map_indexes_get_their_own_jobs(pool_id: str) -> None:
    jobs = []
    for index in range(2):
        ti = FakeTI(task_id="mapped", run_id="shared-run", map_index=index)
        ctx = context_for(ti)
        op = BatchPythonOperator(
            task_id="mapped", python_callable=square, op_args=[index + 3], pool_id=pool_id, poll_interval=0.2
        )
        deferred = expect_deferred(lambda op=op, ctx=ctx: op.execute(ctx))
        jobs.append(deferred.trigger.job_id)  # type: ignore[attr-defined]
        assert run_deferred(op, ctx, deferred) == (index + 3) ** 2
    assert jobs[0] != jobs[1]


# ---------------------------------------------------------------------------------- bad input
def _nothing_created(ctx: dict[str, Any]) -> None:
    inputs, outputs = _workspace_blobs(ctx)
    assert inputs == [] and outputs == []


def test_an_unpicklable_argument_is_named_before_any_request(pool_id: str) -> None:
    ctx = _ctx("bad_arg")
    op = BatchPythonOperator(
        task_id="bad_arg", python_callable=square, op_kwargs={"x": {"rows": [1, threading.Lock()]}},
        pool_id=pool_id,
    )  # fmt: skip
    with pytest.raises(
        AzureComputeConfigError, match=r"argument 'x' -> \['rows'\] -> \[1\] cannot be pickled"
    ):
        op.execute(ctx)
    _nothing_created(ctx)


def test_a_function_closing_over_a_hook_is_refused(pool_id: str) -> None:
    hook = BlobHook()

    def lists(container: str) -> list[str]:
        return [b.name for b in hook.list_blobs(container)]

    ctx = _ctx("hook_closure")
    op = BatchPythonOperator(task_id="hook_closure", python_callable=lists, op_args=["c"], pool_id=pool_id)
    with pytest.raises(AzureComputeConfigError, match="closure variable 'hook' is a hook"):
        op.execute(ctx)
    _nothing_created(ctx)


def test_an_empty_input_list_is_refused(pool_id: str) -> None:
    ctx = _ctx("empty")
    op = BatchMapOperator(task_id="empty", python_callable=square, items=[], pool_id=pool_id)
    with pytest.raises(AzureComputeConfigError, match="the input list is empty"):
        op.execute(ctx)
    _nothing_created(ctx)


def test_a_missing_pool_is_named(batch_env: dict[str, Any]) -> None:
    ctx = _ctx("no_pool")
    op = BatchMapOperator(task_id="no_pool", python_callable=square, items=[1], pool_id="no-such-pool")
    with pytest.raises(AzureComputeConfigError, match="pool 'no-such-pool' does not exist"):
        op.execute(ctx)
    _nothing_created(ctx)


def test_a_pool_that_states_another_python_is_refused_before_submission(batch_env: dict[str, Any]) -> None:
    pid = fresh("oldpy")
    BatchHook().create_pool(
        {
            "id": pid, "vmSize": POOL_BASE["vm_size"], "targetDedicatedNodes": 0,
            "virtualMachineConfiguration": {
                "imageReference": {"publisher": "canonical", "offer": "0001-com-ubuntu-server-jammy",
                                   "sku": "22_04-lts", "version": "latest"},
                "nodeAgentSKUId": POOL_BASE["node_agent_sku_id"],
            },
            "metadata": [{"name": "python_version", "value": "3.8"}],
        }
    )  # fmt: skip
    ctx = _ctx("old_python")
    op = BatchMapOperator(task_id="old_python", python_callable=square, items=[1, 2], pool_id=pid)
    with pytest.raises(AzureComputeConfigError, match=r"runs Python 3.8 .* this worker runs 3\.\d+"):
        op.execute(ctx)
    _nothing_created(ctx)
    BatchHook().delete_pool(pid)


def test_a_node_python_of_another_version_fails_with_both_versions(pool_id: str, tmp_path: Any) -> None:
    fake = tmp_path / "python-old"
    fake.write_text(
        "#!/bin/sh\n"
        f'exec {sys.executable} -c "import sys; sys.version_info = (3, 1, 0); '
        'sys.argv = sys.argv[1:]; import runpy; runpy.run_path(sys.argv[0], run_name=\'__main__\')" "$@"\n'
    )
    fake.chmod(0o755)
    ctx = _ctx("mismatch")
    op = BatchPythonOperator(
        task_id="mismatch", python_callable=square, op_args=[2], pool_id=pool_id, python=str(fake),
        poll_interval=0.2,
    )  # fmt: skip
    with pytest.raises(
        RemoteWorkFailedError, match=r"this node runs Python 3\.1 .* pickled on Python 3\.\d+"
    ) as info:
        execute(op, ctx)
    assert info.value.code == "python_version"


def test_a_node_without_that_python_says_so(pool_id: str) -> None:
    ctx = _ctx("no_python")
    op = BatchPythonOperator(
        task_id="no_python", python_callable=square, op_args=[2], pool_id=pool_id, python="python3.99",
        poll_interval=0.2,
    )  # fmt: skip
    with pytest.raises(RemoteWorkFailedError, match=r"the node has no interpreter 'python3.99'") as info:
        execute(op, ctx)
    assert info.value.code == "CommandProgramNotFound"


def test_a_result_too_big_for_xcom_is_a_clear_error(pool_id: str) -> None:
    ctx = _ctx("too_big")
    op = BatchPythonOperator(
        task_id="too_big", python_callable=bytes, op_args=[200_000], pool_id=pool_id, max_xcom_bytes=100_000,
        poll_interval=0.2,
    )  # fmt: skip
    with pytest.raises(
        AzureComputeConfigError, match=r"returned 200,\d+ bytes .* more than max_xcom_bytes=100,000"
    ):
        execute(op, ctx)
