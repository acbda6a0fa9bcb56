"""Task directories, path safety, the files listing, environment building and failureInfo."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_azure_compute.emulator.batch.run_env import task_environment
from airflow_azure_compute.emulator.batch.run_failures import TaskFailure, exit_code_failure, redact_url
from airflow_azure_compute.emulator.batch.run_files import safe_join
from airflow_azure_compute.emulator.batch.run_process import (
    container_binds,
    docker_argv,
    exit_code_of,
    split_command_line,
)
from airflow_azure_compute.emulator.batch.runner import (
    TaskRunResult,
    TaskRunSpec,
    list_task_files,
    resolve_task_file,
    task_dir_for,
)


def test_task_dirs(tmp_path: Path) -> None:
    assert task_dir_for(tmp_path, "job1", "t1", "task") == tmp_path / "workitems/job1/job-1/t1"
    assert task_dir_for(tmp_path, None, "start", "start") == tmp_path / "startup"
    assert task_dir_for(tmp_path, "j", "", "jobprep") == tmp_path / "workitems/j/job-1/jobpreparation"
    assert task_dir_for(tmp_path, "j", "rel", "jobrelease") == tmp_path / "workitems/j/job-1/rel"
    for job, task, kind in [
        (None, "t", "task"),
        ("j", "..", "task"),
        ("j", "a/b", "task"),
        ("j", "t", "nope"),
    ]:
        with pytest.raises(ValueError):
            task_dir_for(tmp_path, job, task, kind)


@pytest.mark.parametrize("bad", ["../x", "a/../../x", "/etc/passwd", "\\abs"])
def test_safe_join_refuses_escapes(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError):
        safe_join(tmp_path, bad)


@given(st.lists(st.sampled_from(["a", "b", "..", ".", "c.txt"]), min_size=1, max_size=6))
def test_safe_join_stays_inside_or_refuses(segments: list[str]) -> None:
    base = Path("/srv/node/wd")
    try:
        joined = safe_join(base, "/".join(segments))
    except ValueError:
        depth = 0
        for segment in segments:
            depth += {"..": -1, ".": 0}.get(segment, 1)
            if depth < 0:
                return  # it really left the base
        raise AssertionError(f"{segments} stays inside but was refused") from None
    assert joined == base or joined.is_relative_to(base)


def test_safe_join_allows_inner_paths(tmp_path: Path) -> None:
    assert safe_join(tmp_path, "a/./b/../c.txt") == tmp_path.resolve() / "a/c.txt"


@pytest.fixture
def task_dir(tmp_path: Path) -> Path:
    root = tmp_path / "task"
    (root / "wd" / "sub").mkdir(parents=True)
    (root / "stdout.txt").write_text("hello\n")
    (root / "stderr.txt").write_text("")
    (root / "wd" / "sub" / "data.json").write_text("{}")
    return root


def test_list_task_files(task_dir: Path) -> None:
    top = list_task_files(task_dir, recursive=False, name_prefix=None)
    assert [(e["name"], e["isDirectory"]) for e in top] == [
        ("stderr.txt", False),
        ("stdout.txt", False),
        ("wd", True),
    ]
    stdout = top[1]["properties"]
    assert stdout["contentLength"] == "6" and stdout["contentType"] == "text/plain"
    assert stdout["lastModified"].endswith("Z") and stdout["fileMode"].startswith("0100")
    deep = list_task_files(task_dir, recursive=True, name_prefix="wd/")
    assert [e["name"] for e in deep] == ["wd/sub", "wd/sub/data.json"]
    assert all("url" not in e for e in deep)
    assert list_task_files(task_dir / "missing", recursive=True, name_prefix=None) == []


def test_resolve_task_file(task_dir: Path) -> None:
    assert resolve_task_file(task_dir, "wd/sub/data.json").read_text() == "{}"
    assert resolve_task_file(task_dir, "wd").is_dir()
    with pytest.raises(FileNotFoundError):
        resolve_task_file(task_dir, "wd/nothing.txt")
    with pytest.raises(ValueError):
        resolve_task_file(task_dir, "../../etc/passwd")


def _spec(tmp_path: Path, **overrides: object) -> TaskRunSpec:
    fields: dict = dict(
        account_name="acct",
        account_url="http://127.0.0.1:1/",
        pool_id="pool",
        node_id="node-1",
        is_dedicated=True,
        node_root=tmp_path,
        job_id="job",
        task_id="t1",
        kind="task",
        command_line="python -V",
        environment={"MY_VAR": "task", "AZ_BATCH_POOL_ID": "overridden"},
        extra_env={"AZ_BATCH_JOB_PREP_DIR": "/prep", "MY_VAR": "extra"},
    )
    fields.update(overrides)
    return TaskRunSpec(**fields)


def test_environment(tmp_path: Path) -> None:
    task_dir = tmp_path / "workitems/job/job-1/t1"
    env = task_environment(_spec(tmp_path), task_dir)
    assert env["PATH"].split(os.pathsep)[0] == os.path.dirname(sys.executable)
    assert {"HOME", "LANG"} <= env.keys()
    assert env["AZ_BATCH_TASK_WORKING_DIR"] == str(task_dir / "wd")
    assert env["AZ_BATCH_NODE_SHARED_DIR"] == str(tmp_path / "shared")
    assert env["AZ_BATCH_NODE_IS_DEDICATED"] == "true"
    assert (env["AZ_BATCH_JOB_ID"], env["AZ_BATCH_TASK_ID"]) == ("job", "t1")
    assert env["AZ_BATCH_JOB_PREP_DIR"] == "/prep"
    assert env["MY_VAR"] == "task" and env["AZ_BATCH_POOL_ID"] == "overridden"
    assert not {
        k for k in env if k not in {"PATH", "HOME", "LANG", "MY_VAR"} and not k.startswith("AZ_BATCH_")
    }


def test_start_task_environment_has_no_job_or_task_id(tmp_path: Path) -> None:
    env = task_environment(_spec(tmp_path, kind="start", job_id=None), tmp_path / "startup", with_base=False)
    assert "AZ_BATCH_JOB_ID" not in env and "AZ_BATCH_TASK_ID" not in env and "PATH" not in env
    assert env["AZ_BATCH_TASK_DIR"] == str(tmp_path / "startup")


def test_command_line_split() -> None:
    assert split_command_line("python -c 'print(1)'") == ["python", "-c", "print(1)"]
    for bad in ["", "   ", "echo 'unbalanced"]:
        with pytest.raises(TaskFailure) as info:
            split_command_line(bad)
        assert info.value.code == "InvalidCommandLine"


def test_exit_codes_of_signals() -> None:
    assert (exit_code_of(0), exit_code_of(3), exit_code_of(-15), exit_code_of(-9)) == (0, 3, 143, 137)


def test_failure_info_wire_shape() -> None:
    assert exit_code_failure().to_wire() == {
        "category": "usererror",
        "code": "FailureExitCode",
        "message": "The task exited with an exit code representing a failure",
        "details": [{"name": "Message", "value": "The task exited with an exit code representing a failure"}],
    }
    assert redact_url("http://h/acct/c/b.txt?sv=1&sig=SECRET") == "http://h/acct/c/b.txt"


def test_retryable_only_for_exit_codes(tmp_path: Path) -> None:
    def result(code: str | None) -> TaskRunResult:
        info = None if code is None else {"code": code}
        return TaskRunResult(1, "failure", info, None, None, tmp_path)  # type: ignore[arg-type]

    assert result("FailureExitCode").retryable
    assert not any(
        result(c).retryable for c in (None, "BlobNotFound", "MaxWallClockTimeExpiry", "FileUploadFailed")
    )


def test_docker_argv_passes_env_by_name_only(tmp_path: Path) -> None:
    argv = docker_argv(
        {"imageName": "python:3.12-slim", "containerRunOptions": "--memory 1g"},
        ["python", "-V"],
        ["AZ_BATCH_TASK_ID", "SECRET"],
        [(tmp_path, False)],
        tmp_path / "wd",
        "name",
    )
    assert argv[:2] == ["docker", "run"] and argv[-3:] == ["python:3.12-slim", "python", "-V"]
    assert argv[argv.index("SECRET") - 1 : argv.index("SECRET") + 1] == ["-e", "SECRET"]
    assert ["-w", str(tmp_path / "wd")] == argv[argv.index("-w") : argv.index("-w") + 2]
    assert "--memory" in argv and f"{tmp_path}:{tmp_path}" in argv


def test_container_binds_whole_root_or_only_the_listed_paths(tmp_path: Path) -> None:
    task_dir, share = tmp_path / "workitems" / "j" / "job-1" / "t", Path("/elsewhere/share")
    assert container_binds({}, tmp_path, task_dir, [share], None) == [(tmp_path, False), (share, False)]
    settings = {
        "containerHostBatchBindMounts": [
            {"source": "Shared", "isReadOnly": True},
            {"source": "VfsMounts"},
            {"source": "JobPrep"},
        ]
    }
    binds = container_binds(settings, tmp_path, task_dir, [share], "/prep")
    assert binds == [
        (task_dir, False),
        (tmp_path / "shared", True),
        (tmp_path / "fsmounts", False),
        (share, False),
        (Path("/prep"), False),
    ]
    argv = docker_argv({"imageName": "i"}, ["true"], [], binds, task_dir / "wd", "n")
    assert f"{tmp_path / 'shared'}:{tmp_path / 'shared'}:ro" in argv and f"{tmp_path}:{tmp_path}" not in argv
