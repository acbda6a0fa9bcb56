"""Batch emulator: jobs, tasks, listing with $filter/$select, task files (real SDK, sync)."""

# The SDK types most model fields Optional; these tests dereference them on purpose.
# mypy: disable-error-code="union-attr,index,operator"
from __future__ import annotations

from typing import Any

import pytest

from tests.integration.emulator.batch_support import (
    batch_client,
    cleanup,
    job_options,
    uid,
    wait_for,
    wait_tasks_completed,
)

pytestmark = pytest.mark.integration


def test_job_crud_counts_and_terminate(emulator: dict[str, Any], pool: str) -> None:
    from azure.batch import models
    from azure.batch.models._models import BatchJobTerminateOptions
    from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

    client = batch_client(emulator)
    job_id = uid("job")
    client.create_job(
        job_options(
            job_id,
            pool,
            constraints=models.BatchJobConstraints(max_task_retry_count=2),
            metadata=[models.BatchMetadataItem(name="airflow_dag_id", value="d")],
        )
    )
    job = client.get_job(job_id)
    assert isinstance(job, models.BatchJob)
    assert job.state is models.BatchJobState.ACTIVE
    assert job.all_tasks_complete_mode is models.BatchAllTasksCompleteMode.NO_ACTION
    assert job.constraints.max_task_retry_count == 2 and job.pool_info.pool_id == pool
    assert job_id in [j.id for j in client.list_jobs(filter=f"id eq '{job_id}'")]

    client.create_task(job_id, models.BatchTaskCreateOptions(id="a", command_line="/bin/true"))
    client.create_task(job_id, models.BatchTaskCreateOptions(id="b", command_line="/bin/sleep 30"))
    wait_for(lambda: client.get_job_task_counts(job_id).task_counts.running == 1, what="b running")
    counts = client.get_job_task_counts(job_id)
    assert isinstance(counts, models.BatchTaskCountsResult)
    assert counts.task_counts.completed == 1 and counts.task_counts.succeeded == 1
    assert client.get_task(job_id, "a").constraints.max_task_retry_count == 2  # inherited from the job

    client.begin_terminate_job(
        job_id, options=BatchJobTerminateOptions(termination_reason="UserStop"), polling_interval=0.05
    ).result()
    job = client.get_job(job_id)
    assert job.state is models.BatchJobState.COMPLETED
    assert job.execution_info.termination_reason == "UserStop"
    b = client.get_task(job_id, "b")
    assert b.state is models.BatchTaskState.COMPLETED and b.execution_info.failure_info.code == "TaskEnded"
    with pytest.raises(ResourceExistsError) as conflict:
        client.create_task(job_id, models.BatchTaskCreateOptions(id="late", command_line="/bin/true"))
    assert conflict.value.error.code == "JobCompleted"
    cleanup(client, job_id=job_id)
    with pytest.raises(ResourceNotFoundError) as missing:
        client.get_job(job_id)
    assert missing.value.error.code == "JobNotFound"


def test_on_all_tasks_complete_terminates_job(emulator: dict[str, Any], pool: str) -> None:
    from azure.batch import models

    client = batch_client(emulator)
    job_id = uid("job")
    client.create_job(job_options(job_id, pool))
    client.create_tasks(
        job_id, [models.BatchTaskCreateOptions(id=f"t{i}", command_line="/bin/true") for i in range(4)]
    )
    client.update_job(job_id, models.BatchJobUpdateOptions(all_tasks_complete_mode="terminatejob"))
    wait_for(lambda: client.get_job(job_id).state is models.BatchJobState.COMPLETED, what="job completed")
    job = client.get_job(job_id)
    assert job.execution_info.termination_reason == "AllTasksComplete"
    assert job.all_tasks_complete_mode is models.BatchAllTasksCompleteMode.TERMINATE_JOB
    cleanup(client, job_id=job_id)


def test_job_preparation_and_release(emulator: dict[str, Any], pool: str) -> None:
    from azure.batch import models
    from azure.batch.models._models import BatchJobTerminateOptions

    client = batch_client(emulator)
    job_id = uid("job")
    client.create_job(
        job_options(
            job_id,
            pool,
            job_preparation_task=models.BatchJobPreparationTask(
                command_line="/bin/sh -c 'echo prepared > marker'"
            ),
            job_release_task=models.BatchJobReleaseTask(command_line="/bin/true"),
            common_environment_settings=[models.EnvironmentSetting(name="SHARED", value="job")],
        )
    )
    client.create_task(
        job_id,
        models.BatchTaskCreateOptions(
            id="reader",
            command_line="/bin/sh -c 'cat $AZ_BATCH_JOB_PREP_WORKING_DIR/marker; echo $SHARED $OWN'",
            environment_settings=[models.EnvironmentSetting(name="OWN", value="task")],
        ),
    )
    wait_tasks_completed(client, job_id, 1)
    out = b"".join(client.download_task_file(job_id, "reader", "stdout.txt")).decode()
    assert out.split() == ["prepared", "job", "task"]
    client.begin_terminate_job(
        job_id, options=BatchJobTerminateOptions(termination_reason="Done"), polling_interval=0.05
    ).result()
    statuses = list(client.list_job_preparation_and_release_task_status(job_id))
    assert len(statuses) == 1
    prep = statuses[0].job_preparation_task_execution_info
    assert prep.state is models.BatchJobPreparationTaskState.COMPLETED and prep.exit_code == 0
    release = statuses[0].job_release_task_execution_info
    assert release.state is models.BatchJobReleaseTaskState.COMPLETED and release.exit_code == 0
    cleanup(client, job_id=job_id)


def test_task_get_delete_terminate_reactivate(emulator: dict[str, Any], pool: str) -> None:
    from azure.batch import models
    from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

    client = batch_client(emulator)
    job_id = uid("job")
    client.create_job(job_options(job_id, pool))
    client.create_task(job_id, models.BatchTaskCreateOptions(id="long", command_line="/bin/sleep 30"))
    client.create_task(job_id, models.BatchTaskCreateOptions(id="fail", command_line="/bin/sh -c 'exit 4'"))
    client.create_task(job_id, models.BatchTaskCreateOptions(id="gone", command_line="/bin/true"))
    wait_for(
        lambda: client.get_task(job_id, "long").state is models.BatchTaskState.RUNNING, what="long running"
    )
    task = client.get_task(job_id, "long")
    assert isinstance(task, models.BatchTask) and task.node_info.pool_id == pool
    client.terminate_task(job_id, "long")
    task = client.get_task(job_id, "long")
    assert task.state is models.BatchTaskState.COMPLETED
    assert task.execution_info.result is models.BatchTaskExecutionResult.FAILURE

    wait_for(
        lambda: client.get_task(job_id, "fail").state is models.BatchTaskState.COMPLETED, what="fail done"
    )
    fail = client.get_task(job_id, "fail")
    assert fail.execution_info.exit_code == 4
    assert fail.execution_info.failure_info.category is models.BatchErrorSourceCategory.USER_ERROR
    assert fail.execution_info.failure_info.code == "FailureExitCode"
    client.reactivate_task(job_id, "fail")
    again = client.get_task(job_id, "fail")
    assert again.state in (
        models.BatchTaskState.ACTIVE,
        models.BatchTaskState.RUNNING,
        models.BatchTaskState.COMPLETED,
    )
    assert again.execution_info.retry_count == 0
    wait_for(lambda: client.get_task(job_id, "fail").state is models.BatchTaskState.COMPLETED, what="rerun")

    wait_for(
        lambda: client.get_task(job_id, "gone").state is models.BatchTaskState.COMPLETED, what="gone done"
    )
    with pytest.raises(ResourceExistsError) as info:
        client.reactivate_task(job_id, "gone")
    assert info.value.error.code == "TaskSucceeded"
    client.delete_task(job_id, "gone")
    with pytest.raises(ResourceNotFoundError):
        client.get_task(job_id, "gone")
    assert client.get_job_task_counts(job_id).task_counts.completed == 2
    cleanup(client, job_id=job_id)


def test_dependent_task_waits_for_parent(emulator: dict[str, Any], pool: str) -> None:
    from azure.batch import models
    from azure.core.exceptions import HttpResponseError

    client = batch_client(emulator)
    job_id = uid("job")
    client.create_job(job_options(job_id, pool, uses_task_dependencies=True))
    client.create_tasks(
        job_id,
        [
            models.BatchTaskCreateOptions(id="1", command_line="/bin/sleep 0.6"),
            models.BatchTaskCreateOptions(id="2", command_line="/bin/true"),
            models.BatchTaskCreateOptions(
                id="child",
                command_line="/bin/true",
                depends_on=models.BatchTaskDependencies(
                    task_ids=["2"], task_id_ranges=[models.BatchTaskIdRange(start=1, end=2)]
                ),
            ),
        ],
    )
    wait_for(
        lambda: client.get_task(job_id, "1").state is models.BatchTaskState.RUNNING, what="parent running"
    )
    assert client.get_task(job_id, "child").state is models.BatchTaskState.ACTIVE
    wait_tasks_completed(client, job_id, 3)
    parent, child = client.get_task(job_id, "1"), client.get_task(job_id, "child")
    assert child.execution_info.start_time >= parent.execution_info.end_time
    assert child.depends_on.task_id_ranges[0].end == 2

    other = uid("job")
    client.create_job(job_options(other, pool))  # no usesTaskDependencies
    with pytest.raises(HttpResponseError) as info:
        client.create_task(
            other,
            models.BatchTaskCreateOptions(
                id="x", command_line="/bin/true", depends_on=models.BatchTaskDependencies(task_ids=["y"])
            ),
        )
    assert info.value.error.code == "TaskDependenciesNotSpecifiedOnJob"
    cleanup(client, job_id=job_id)
    cleanup(client, job_id=other)


def test_list_filters_and_select(emulator: dict[str, Any], pool: str) -> None:
    from azure.batch import models

    client = batch_client(emulator)
    job_id = uid("job")
    client.create_job(job_options(job_id, pool))
    tasks = [models.BatchTaskCreateOptions(id=f"ok{i}", command_line="/bin/true") for i in range(3)]
    tasks += [models.BatchTaskCreateOptions(id=f"bad{i}", command_line="/bin/false") for i in range(2)]
    client.create_tasks(job_id, tasks)
    wait_tasks_completed(client, job_id, 5)

    def ids(flt: str) -> set[str]:
        return {t.id for t in client.list_tasks(job_id, filter=flt)}

    assert ids("state eq 'completed'") == {t.id for t in tasks}
    assert ids("executionInfo/result eq 'failure'") == {"bad0", "bad1"}
    assert ids("startswith(id,'ok')") == {"ok0", "ok1", "ok2"}
    assert ids("startswith(id,'ok') and executionInfo/exitCode eq 0") == {"ok0", "ok1", "ok2"}
    assert ids("(id eq 'ok0' or id eq 'bad1') and state eq 'completed'") == {"ok0", "bad1"}
    assert ids("state eq 'active'") == set()
    selected = list(client.list_tasks(job_id, select=["id", "state"], filter="id eq 'ok1'"))
    assert len(selected) == 1 and selected[0].state is models.BatchTaskState.COMPLETED
    assert selected[0].command_line is None and selected[0].execution_info is None
    one = client.get_task(job_id, "bad0", select=["id", "executionInfo"])
    assert one.execution_info.result is models.BatchTaskExecutionResult.FAILURE and one.command_line is None
    cleanup(client, job_id=job_id)


def test_task_files_paths_ranges_and_headers(emulator: dict[str, Any], pool: str) -> None:
    from azure.batch import models
    from azure.core.exceptions import ResourceNotFoundError

    client = batch_client(emulator)
    job_id = uid("job")
    client.create_job(job_options(job_id, pool))
    script = "mkdir -p 'sub dir' && printf 0123456789 > 'sub dir/out put.txt' && echo to-stdout"
    client.create_task(
        job_id, models.BatchTaskCreateOptions(id="files", command_line=f'/bin/sh -c "{script}"')
    )
    wait_tasks_completed(client, job_id, 1)
    names = {f.name: f for f in client.list_task_files(job_id, "files", recursive=True)}
    assert {"stdout.txt", "stderr.txt", "wd", "wd/sub dir/out put.txt"} <= set(names)
    entry = names["wd/sub dir/out put.txt"]
    assert isinstance(entry, models.BatchNodeFile) and entry.is_directory is False
    assert entry.properties.content_length == 10 and entry.url.endswith("/files/wd/sub%20dir/out%20put.txt")
    top = {f.name for f in client.list_task_files(job_id, "files", recursive=False)}
    assert "wd/sub dir/out put.txt" not in top and "wd" in top
    only = {
        f.name
        for f in client.list_task_files(job_id, "files", recursive=True, filter="startswith(name,'wd/sub')")
    }
    assert only == {"wd/sub dir", "wd/sub dir/out put.txt"}

    path = "wd/sub dir/out put.txt"  # the SDK sends wd%2Fsub%20dir%2Fout%20put.txt
    assert b"".join(client.download_task_file(job_id, "files", path)) == b"0123456789"
    assert b"".join(client.download_task_file(job_id, "files", path, ocp_range="bytes=2-5")) == b"2345"
    props = client.get_task_file_properties(job_id, "files", path)
    assert props.content_length == 10 and props.is_directory is False
    assert props.url.endswith("/wd/sub%20dir/out%20put.txt") and props.file_mode
    assert b"to-stdout" in b"".join(client.download_task_file(job_id, "files", "stdout.txt"))
    with pytest.raises(ResourceNotFoundError) as info:
        b"".join(client.download_task_file(job_id, "files", "wd/missing.txt"))
    assert info.value.status_code == 404  # streamed: the SDK does not read the error body
    with pytest.raises(ResourceNotFoundError):
        b"".join(client.download_task_file(job_id, "files", "../../../../etc/passwd"))
    cleanup(client, job_id=job_id)


def test_disable_requeues_and_enable_resumes(emulator: dict[str, Any], pool: str) -> None:
    from azure.batch import models

    client = batch_client(emulator)
    job_id = uid("job")
    client.create_job(job_options(job_id, pool, max_parallel_tasks=1))
    client.create_tasks(
        job_id, [models.BatchTaskCreateOptions(id=f"s{i}", command_line="/bin/sleep 0.4") for i in range(2)]
    )
    wait_for(lambda: client.get_job_task_counts(job_id).task_counts.running == 1, what="one running")
    assert client.get_job_task_counts(job_id).task_counts.active == 1  # maxParallelTasks = 1
    client.begin_disable_job(
        job_id, models.BatchJobDisableOptions(disable_tasks="requeue"), polling_interval=0.05
    ).result()
    job = client.get_job(job_id)
    assert job.state is models.BatchJobState.DISABLED
    counts = client.get_job_task_counts(job_id).task_counts
    assert (counts.active, counts.running) == (2, 0)
    client.begin_enable_job(job_id, polling_interval=0.05).result()
    wait_tasks_completed(client, job_id, 2)
    requeued = [client.get_task(job_id, f"s{i}").execution_info.requeue_count for i in range(2)]
    assert sorted(requeued) == [0, 1]
    cleanup(client, job_id=job_id)


def test_disable_with_wait_stays_disabling_until_the_running_tasks_finish(
    emulator: dict[str, Any], pool: str
) -> None:
    """Azure: the job is ``disabling`` until its running tasks are dealt with per ``disableTasks``; with
    ``wait`` they finish first. Tasks added meanwhile, or to the disabled job, start only once enabled."""
    from azure.batch import models

    client = batch_client(emulator)
    job_id = uid("job")
    client.create_job(job_options(job_id, pool))
    client.create_task(job_id, models.BatchTaskCreateOptions(id="slow", command_line="/bin/sleep 3"))
    wait_for(lambda: client.get_job_task_counts(job_id).task_counts.running == 1, what="the task runs")
    client.begin_disable_job(job_id, models.BatchJobDisableOptions(disable_tasks="wait"), polling_interval=1)
    assert client.get_job(job_id).state is models.BatchJobState.DISABLING
    client.create_task(job_id, models.BatchTaskCreateOptions(id="later", command_line="/bin/true"))
    wait_for(lambda: client.get_job(job_id).state is models.BatchJobState.DISABLED, what="disabled")
    assert client.get_task(job_id, "slow").execution_info.result == "success"  # left to finish
    counts = client.get_job_task_counts(job_id).task_counts
    assert (counts.active, counts.running, counts.completed) == (1, 0, 1)  # "later" never started
    client.begin_enable_job(job_id, polling_interval=0.05).result()
    wait_tasks_completed(client, job_id, 2)
    cleanup(client, job_id=job_id)
