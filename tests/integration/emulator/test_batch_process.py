"""The emulator process: fixed ports, endpoints file, clean SIGTERM shutdown that kills task processes."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_azure_compute.testing.stack import run_emulator
from tests.integration.emulator.batch_support import admin, batch_client, job_options, pool_options, wait_for

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def _start_sleeping_task(endpoints: dict[str, Any], pid_file: Path) -> tuple[Any, int]:
    """Run a long task ``t`` of job ``j`` on pool ``p``; return the client and the task's process id."""
    from azure.batch import models

    client = batch_client(endpoints)
    client.create_pool(pool_options("p", dedicated=1))
    client.create_job(job_options("j", "p"))
    command = f"/bin/sh -c 'echo $$ > {pid_file}; exec sleep 60'"
    client.create_task("j", models.BatchTaskCreateOptions(id="t", command_line=command))
    wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), what="task pid")
    return client, int(pid_file.read_text())


def test_ports_endpoints_and_sigterm_kills_running_tasks(tmp_path: Path) -> None:

    port = _free_port()
    pid_file = tmp_path / "task.pid"
    args = ["--batch-port", str(port), "--batch-account-name", "procacct", "--seed", "5"]
    with run_emulator(extra_args=args) as endpoints:
        batch: dict[str, Any] = endpoints["batch"]
        assert batch["url"] == f"http://127.0.0.1:{port}"
        assert batch["account_name"] == "procacct" and batch["account_key"]
        assert batch["admin_url"] == f"http://127.0.0.1:{port}/_emulator"
        _, task_pid = _start_sleeping_task(endpoints, pid_file)
        assert _alive(task_pid)
        emulator_pid = endpoints["pid"]
    # run_emulator sent SIGTERM and waited: the emulator stopped its services, which killed the task
    deadline = time.monotonic() + 10
    while _alive(task_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(task_pid)
    assert not _alive(emulator_pid)


def test_admin_reset_drops_state_and_kills_tasks(tmp_path: Path) -> None:
    """Run on a private emulator: a reset of the session's shared one would break other tests."""
    from azure.core.exceptions import ResourceNotFoundError

    pid_file = tmp_path / "task.pid"
    with run_emulator() as endpoints:
        client, task_pid = _start_sleeping_task(endpoints, pid_file)
        assert admin(endpoints, "POST", "/reset") == {"reset": "batch"}
        with pytest.raises(ResourceNotFoundError):
            client.get_job("j")
        assert list(client.list_pools()) == []
        wait_for(lambda: not _alive(task_pid), what="task process killed")
