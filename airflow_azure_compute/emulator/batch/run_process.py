"""Starting a task's process (no shell, own process group), waiting with a deadline, killing it.

Every task runs in a new session, so its process id is also its process group id: a kill
(wall clock, cancellation) reaches the task and everything it started. Processes the task left behind
when it exited normally are killed too, so nothing outlives its task.

``containerSettings`` runs the command with ``docker run`` when a Docker engine answers ``docker version``
(probed once per process; ``AIRFLOW_AZURE_COMPUTE_EMULATOR_DOCKER=0`` turns Docker off). Otherwise the
caller runs the command on the host and says so in ``stderr.txt``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shlex
import shutil
import signal
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow_azure_compute.emulator.batch.run_failures import (
    INVALID_COMMAND_LINE,
    PROGRAM_NOT_FOUND,
    TaskFailure,
)

#: Seconds between SIGTERM and SIGKILL when a task is killed.
KILL_GRACE_SECONDS = 2.0
#: Seconds ``docker version`` may take before the engine counts as absent.
DOCKER_PROBE_TIMEOUT = 5.0
DOCKER_SWITCH = "AIRFLOW_AZURE_COMPUTE_EMULATOR_DOCKER"

_docker_probe: tuple[bool, str] | None = None


def split_command_line(command_line: str) -> list[str]:
    """POSIX-split a Batch command line (no shell is involved: tasks call ``/bin/sh -c`` themselves)."""
    try:
        argv = shlex.split(command_line)
    except ValueError as exc:
        raise TaskFailure(INVALID_COMMAND_LINE, f"The command line cannot be split: {exc}") from None
    if not argv:
        raise TaskFailure(INVALID_COMMAND_LINE, "The command line is empty")
    return argv


def exit_code_of(returncode: int) -> int:
    """A process's exit code as a shell (and the Batch Linux agent) reports it: 128 + signal if killed."""
    return 128 - returncode if returncode < 0 else returncode


def signal_group(pid: int, sig: int) -> None:
    """Send ``sig`` to the process group led by ``pid``; a group that is already gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


async def spawn(
    argv: list[str], env: dict[str, str], cwd: Path, stdout: Path, stderr: Path
) -> asyncio.subprocess.Process:
    """Start ``argv`` in ``cwd`` in a new session, appending to the log files; no shell."""
    with open(stdout, "ab") as out, open(stderr, "ab") as err:
        try:
            return await asyncio.create_subprocess_exec(
                *argv,
                cwd=cwd,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        except FileNotFoundError:
            reason = "was not found"
        except PermissionError:
            reason = "is not executable"
        except OSError as exc:
            reason = f"could not be started ({exc.strerror or type(exc).__name__})"
    raise TaskFailure(
        PROGRAM_NOT_FOUND,
        f"The program {argv[0]!r} of the command line {reason}",
        details={"Program": argv[0]},
    )


async def terminate(proc: asyncio.subprocess.Process, container: str | None = None) -> None:
    """SIGTERM the task's process group, SIGKILL it after ``KILL_GRACE_SECONDS`` (always, even if cancelled)."""
    try:
        if container:
            await _docker_kill(container)
        signal_group(proc.pid, signal.SIGTERM)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(proc.wait(), KILL_GRACE_SECONDS)
    finally:
        signal_group(proc.pid, signal.SIGKILL)


async def wait_process(
    proc: asyncio.subprocess.Process, timeout: float | None, container: str | None = None
) -> tuple[int, bool]:
    """Wait for the task: ``(exit code, killed at the deadline)``; cancellation kills it and re-raises."""
    timed_out = False
    try:
        try:
            returncode = await asyncio.wait_for(proc.wait(), timeout)
        except asyncio.TimeoutError:
            timed_out = True
            await terminate(proc, container)
            returncode = await proc.wait()
    except asyncio.CancelledError:
        await terminate(proc, container)
        raise
    signal_group(proc.pid, signal.SIGKILL)  # whatever the task left running
    return exit_code_of(returncode), timed_out


# --- Docker ---------------------------------------------------------------------------------------


def reset_docker_probe() -> None:
    """Forget the cached answer of ``docker_available`` (tests, or after starting an engine)."""
    global _docker_probe
    _docker_probe = None


async def docker_available() -> tuple[bool, str]:
    """``(True, engine version)`` when ``docker version`` answers, else ``(False, why not)``; cached."""
    global _docker_probe
    if os.environ.get(DOCKER_SWITCH, "").strip().lower() in ("0", "false", "no", "off"):
        return False, f"Docker is turned off by {DOCKER_SWITCH}"
    if _docker_probe is None:
        _docker_probe = await _probe_docker()
    return _docker_probe


async def _probe_docker() -> tuple[bool, str]:
    docker = shutil.which("docker")
    if docker is None:
        return False, "no docker executable on PATH"
    proc = await asyncio.create_subprocess_exec(
        docker,
        "version",
        "--format",
        "{{.Server.Version}}",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), DOCKER_PROBE_TIMEOUT)
    except asyncio.TimeoutError:
        signal_group(proc.pid, signal.SIGKILL)
        await proc.wait()
        return False, f"`docker version` did not answer within {DOCKER_PROBE_TIMEOUT:g} s"
    if proc.returncode != 0:
        lines = err.decode(errors="replace").strip().splitlines() or [f"exit code {proc.returncode}"]
        return False, f"`docker version` failed: {lines[-1]}"
    return True, f"Docker engine {out.decode(errors='replace').strip()}"


def container_name(*ids: str) -> str:
    """A unique, Docker-safe container name for one run of a task."""
    stem = re.sub(r"[^a-zA-Z0-9_.-]", "-", "-".join(i for i in ids if i))[:80]
    return f"azbatch-{stem}-{uuid.uuid4().hex[:8]}"


#: ``containerHostBatchBindMounts[].source`` → the directory under the node root it binds.
BIND_SOURCES = {
    "shared": "shared",
    "startup": "startup",
    "vfsmounts": "fsmounts",
    "applications": "applications",
}


def container_binds(
    settings: dict[str, Any],
    node_root: Path,
    task_dir: Path,
    volumes: Sequence[Path],
    job_prep_dir: str | None,
) -> list[tuple[Path, bool]]:
    """``(host path, read-only)`` bound into a task's container, at the same path.

    Without ``containerHostBatchBindMounts``: the whole node root read-write (as Batch does on Linux) and
    the shared mount directories its ``fsmounts`` links point to. With it: the task's own directory,
    then only the listed sources (``Shared``, ``Startup``, ``VfsMounts``, ``Task``, ``JobPrep``,
    ``Applications``), read-only where ``isReadOnly`` says so.
    """
    entries = settings.get("containerHostBatchBindMounts")
    if not entries:
        return [(node_root, False), *((v, False) for v in volumes)]
    binds: list[tuple[Path, bool]] = []
    task_listed = False
    for entry in entries:
        source = str(entry.get("source") or "").lower()
        read_only = bool(entry.get("isReadOnly"))
        if source == "task":
            binds.append((task_dir, read_only))
            task_listed = True
        elif source == "jobprep" and job_prep_dir:
            binds.append((Path(job_prep_dir), read_only))
        elif source in BIND_SOURCES:
            binds.append((node_root / BIND_SOURCES[source], read_only))
            if source == "vfsmounts":
                binds += [(v, read_only) for v in volumes]
    if not task_listed:
        binds.insert(0, (task_dir, False))
    return binds


def docker_argv(
    settings: dict[str, Any],
    argv: list[str],
    env_names: list[str],
    binds: Sequence[tuple[Path, bool]],
    wd: Path,
    name: str,
) -> list[str]:
    """``docker run`` for a task: ``binds`` (`container_binds`) mounted at the same paths, env passed by
    name only."""
    args = ["docker", "run", "--rm", "--name", name, "--user", f"{os.getuid()}:{os.getgid()}"]
    for path, read_only in binds:
        args += ["-v", f"{path}:{path}" + (":ro" if read_only else "")]
    if str(settings.get("workingDirectory") or "taskWorkingDirectory").lower() != "containerimagedefault":
        args += ["-w", str(wd)]
    for env_name in env_names:
        args += ["-e", env_name]  # the value comes from docker's own environment: no secret in argv
    args += shlex.split(str(settings.get("containerRunOptions") or ""))
    return [*args, str(settings["imageName"]), *argv]


async def _docker_kill(name: str) -> None:
    try:
        proc = await asyncio.create_subprocess_exec(
            "docker",
            "kill",
            name,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError:
        return
    try:
        await asyncio.wait_for(proc.wait(), KILL_GRACE_SECONDS)
    except asyncio.TimeoutError:
        signal_group(proc.pid, signal.SIGKILL)
