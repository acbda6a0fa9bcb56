"""run_task with real processes: environment, exit codes, wall clock, cancellation, containers."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import psutil
import pytest

from airflow_azure_compute.emulator.batch import runner
from airflow_azure_compute.emulator.batch.run_process import (
    DOCKER_SWITCH,
    docker_available,
    reset_docker_probe,
)
from airflow_azure_compute.emulator.batch.runner import TaskRunSpec, run_task
from tests.integration.emulator.batch_support import task_run_spec

pytestmark = pytest.mark.integration


def spec(node_root: Path, command_line: str, **overrides: object) -> TaskRunSpec:
    """A task on a spot node with ``GREETING`` in its environment."""
    fields: dict[str, object] = {"is_dedicated": False, "environment": {"GREETING": "hi there"}, **overrides}
    return task_run_spec(node_root, command_line, **fields)


def py(code: str) -> str:
    """A command line running ``code`` with ``python`` found on the task's PATH (no shell)."""
    return f"python -c {json.dumps(code)}"


async def wait_for_file(path: Path, timeout: float = 10) -> str:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (path.exists() and path.read_text().strip()):
        assert loop.time() < deadline, f"{path} never appeared"
        await asyncio.sleep(0.02)
    return path.read_text()


async def assert_gone(pids: list[int], timeout: float = 10) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        alive = []
        for pid in pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
            except psutil.NoSuchProcess:
                pass
        if not alive:
            return
        assert loop.time() < deadline, f"processes still alive: {alive}"
        await asyncio.sleep(0.05)


async def test_success_runs_in_wd_without_shell(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    code = (
        "import json, os, sys; json.dump({'cwd': os.getcwd(), 'env': dict(os.environ), 'exe': sys.executable},"
        " open('seen.json', 'w')); print('to stdout'); print('to stderr', file=sys.stderr)"
    )
    result = await run_task(spec(tmp_path, py(code) + " '$HOME'"), http)
    assert (result.result, result.exit_code, result.failure_info) == ("success", 0, None)
    assert result.task_dir == tmp_path / "workitems/job/job-1/task-1"
    assert result.start_time <= result.end_time
    seen = json.loads((result.task_dir / "wd/seen.json").read_text())
    assert seen["cwd"] == str(result.task_dir / "wd")
    assert seen["env"]["AZ_BATCH_TASK_WORKING_DIR"] == seen["cwd"]
    assert seen["env"]["AZ_BATCH_NODE_IS_DEDICATED"] == "false"
    assert seen["env"]["GREETING"] == "hi there"
    assert os.path.dirname(seen["exe"]) == os.path.dirname(sys.executable)
    assert (result.task_dir / "stdout.txt").read_text() == "to stdout\n"
    assert (result.task_dir / "stderr.txt").read_text() == "to stderr\n"
    for name in ("shared", "startup", "fsmounts", "workitems"):
        assert (tmp_path / name).is_dir()


async def test_no_shell_expansion(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    result = await run_task(spec(tmp_path, py("import sys; print(sys.argv[1:])") + " '$HOME' '*'"), http)
    assert (result.task_dir / "stdout.txt").read_text() == "['$HOME', '*']\n"


async def test_start_task_dir_and_env(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    code = "import os; print(os.environ['AZ_BATCH_TASK_DIR'], 'AZ_BATCH_TASK_ID' in os.environ)"
    result = await run_task(spec(tmp_path, py(code), kind="start", job_id=None, task_id="start"), http)
    assert result.task_dir == tmp_path / "startup"
    assert (result.task_dir / "stdout.txt").read_text() == f"{tmp_path / 'startup'} False\n"


async def test_failing_exit_code(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    result = await run_task(spec(tmp_path, py("raise SystemExit(3)")), http)
    assert (result.result, result.exit_code) == ("failure", 3)
    assert result.failure_info == {
        "category": "usererror",
        "code": "FailureExitCode",
        "message": "The task exited with an exit code representing a failure",
        "details": [{"name": "Message", "value": "The task exited with an exit code representing a failure"}],
    }
    assert result.retryable


async def test_program_not_found_is_a_failure_not_a_crash(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    result = await run_task(spec(tmp_path, "no-such-program-4a1c --flag"), http)
    assert (result.result, result.exit_code) == ("failure", None)
    assert result.failure_info is not None
    assert (result.failure_info["category"], result.failure_info["code"]) == (
        "usererror",
        "CommandProgramNotFound",
    )
    assert not result.retryable


async def test_wall_clock_kills_the_process_group(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    code = (
        "import os, subprocess, sys, time; "
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        "open('pids', 'w').write(f'{os.getpid()} {child.pid}'); time.sleep(60)"
    )
    result = await run_task(spec(tmp_path, py(code), max_wall_clock_seconds=1.5), http)
    assert result.result == "failure"
    assert result.failure_info is not None and result.failure_info["code"] == "MaxWallClockTimeExpiry"
    assert result.exit_code == 143  # 128 + SIGTERM
    pids = [int(p) for p in (result.task_dir / "wd/pids").read_text().split()]
    await assert_gone(pids)


async def test_cancellation_kills_the_process_group(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    code = (
        "import os, signal, subprocess, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        "open('pids', 'w').write(f'{os.getpid()} {child.pid}'); time.sleep(60)"
    )
    task = asyncio.ensure_future(run_task(spec(tmp_path, py(code)), http))
    pids_file = tmp_path / "workitems/job/job-1/task-1/wd/pids"
    pids = [int(p) for p in (await wait_for_file(pids_file)).split()]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await assert_gone(pids)  # the leader ignored SIGTERM: SIGKILL after the grace period


async def test_container_settings_without_docker_run_on_host(
    tmp_path: Path, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DOCKER_SWITCH, "0")
    settings = {"imageName": "python:3.12-slim"}
    result = await run_task(spec(tmp_path, py("print('ran')"), container_settings=settings), http)
    assert result.result == "success"
    header = (result.task_dir / "stderr.txt").read_text().splitlines()[0]
    assert "python:3.12-slim" in header and "was not used" in header and DOCKER_SWITCH in header
    assert (result.task_dir / "stdout.txt").read_text() == "ran\n"


FAKE_DOCKER = """#!{python}
import json, os, sys
if sys.argv[1] == "version":
    if os.environ.get("FAKE_DOCKER_DOWN"):
        print("Cannot connect to the Docker daemon", file=sys.stderr)
        sys.exit(1)
    print("27.0.0")
    sys.exit(0)
names = [sys.argv[i + 1] for i, arg in enumerate(sys.argv) if arg == "-e"]
json.dump({{"argv": sys.argv[1:], "env": {{n: os.environ.get(n) for n in names}}}}, open("docker.json", "w"))
"""


@pytest.fixture
def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(FAKE_DOCKER.format(python=sys.executable))
    docker.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv(DOCKER_SWITCH, raising=False)
    reset_docker_probe()
    yield docker
    reset_docker_probe()


async def test_docker_probe(fake_docker: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert await docker_available() == (True, "Docker engine 27.0.0")
    reset_docker_probe()
    monkeypatch.setenv("FAKE_DOCKER_DOWN", "1")
    usable, why = await docker_available()
    assert not usable and "Cannot connect to the Docker daemon" in why


async def test_container_settings_with_docker_use_docker_run(
    fake_docker: Path, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    settings = {"imageName": "python:3.12-slim", "containerRunOptions": "--cpus 1"}
    node_root = tmp_path / "node"
    result = await run_task(spec(node_root, "python -V", container_settings=settings), http)
    assert result.result == "success"
    seen = json.loads((result.task_dir / "wd/docker.json").read_text())
    assert seen["argv"][0] == "run" and seen["argv"][-3:] == ["python:3.12-slim", "python", "-V"]
    assert "--cpus" in seen["argv"] and f"{node_root}:{node_root}" in seen["argv"]
    assert seen["env"]["GREETING"] == "hi there"  # passed by name; the value never on the command line
    assert "hi there" not in seen["argv"] and "PATH" not in seen["env"]
    assert (result.task_dir / "stderr.txt").read_text() == ""


async def test_emulator_errors_complete_the_task(
    tmp_path: Path,
    http: aiohttp.ClientSession,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(*_args: object) -> None:
        raise RuntimeError("boom on http://127.0.0.1/c/b?sv=1&sig=SECRET")

    monkeypatch.setattr(runner, "download_resource_files", broken)
    result = await run_task(spec(tmp_path, py("open('ran', 'w')")), http)
    assert result.failure_info is not None
    assert (result.failure_info["category"], result.failure_info["code"]) == (
        "servererror",
        "EmulatorInternalError",
    )
    assert result.exit_code is None and not (result.task_dir / "wd/ran").exists()
    assert "sig=REDACTED" in result.failure_info["message"] and "SECRET" not in str(result.failure_info)
    assert "RuntimeError: boom" in caplog.text and "SECRET" not in caplog.text


async def test_processes_left_behind_are_killed(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    code = (
        "import subprocess, sys; "
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        "open('pid', 'w').write(str(child.pid))"
    )
    result = await run_task(spec(tmp_path, py(code)), http)
    assert result.result == "success"
    await assert_gone([int((result.task_dir / "wd/pid").read_text())])


async def test_relative_program_runs_from_wd(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    script = tmp_path / "workitems/job/job-1/task-1/wd/hello.sh"
    script.parent.mkdir(parents=True)
    script.write_text('#!/bin/sh\necho "hello $AZ_BATCH_TASK_ID"\n')
    script.chmod(0o755)
    result = await run_task(spec(tmp_path, "./hello.sh"), http)
    assert result.result == "success"
    assert (result.task_dir / "stdout.txt").read_text() == "hello task-1\n"
