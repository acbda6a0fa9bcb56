"""Containers as local processes: one supervisor per container, one deployment per group.

A `ContainerRuntime` runs the container's command (no shell, its own process group, the
container's environment), captures stdout+stderr line by line, and restarts it per the group's
restart policy with a crash-loop back-off. A `GroupDeployment` moves the group through
``Pending -> Creating -> Succeeded`` and owns its containers until it is stopped or aborted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import sys
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from airflow_azure_compute.emulator.aci.model import (
    NOT_RUNNABLE_EXIT,
    AciSettings,
    ContainerPhase,
    ContainerSpec,
    GroupSpec,
    backoff_seconds,
    detail_status,
    exit_code_of,
    group_state,
    localize,
    restarts_after,
)
from airflow_azure_compute.emulator.aci.probes import ProbeSpec, probe_once

log = logging.getLogger("airflow_azure_compute.emulator.aci")

#: Variable giving each container its mounts as JSON ``{mountPath: local directory}``.
MOUNTS_ENV = "EMULATOR_ACI_MOUNTS"

#: Host variables a container process inherits (everything else of the emulator's environment is hidden).
PASSTHROUGH_ENV = ("HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ", "PYTHONPATH", "SYSTEMROOT", "USER")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def base_environment() -> dict[str, str]:
    """The environment every container starts from: a few host variables and a PATH that finds this Python."""
    env = {key: os.environ[key] for key in PASSTHROUGH_ENV if key in os.environ}
    path = os.environ.get("PATH", os.defpath)
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), path])
    return env


class LogBuffer:
    """The last ``limit`` output lines of a container run, each with its arrival time."""

    def __init__(self, limit: int) -> None:
        self._lines: deque[tuple[datetime, str]] = deque(maxlen=limit)
        self._partial = b""

    def clear(self) -> None:
        self._lines.clear()
        self._partial = b""

    def feed(self, chunk: bytes) -> None:
        data = self._partial + chunk
        *complete, self._partial = data.split(b"\n")
        now = utc_now()
        self._lines.extend((now, line.decode("utf-8", "replace")) for line in complete)

    def flush(self) -> None:
        if self._partial:
            self._lines.append((utc_now(), self._partial.decode("utf-8", "replace")))
            self._partial = b""

    def render(self, tail: int | None = None, timestamps: bool = False) -> str:
        lines = list(self._lines)
        if tail is not None:
            lines = lines[-tail:] if tail > 0 else []
        if timestamps:
            return "".join(f"{rfc3339(moment)} {text}\n" for moment, text in lines)
        return "".join(f"{text}\n" for _, text in lines)


@dataclass
class _Event:
    name: str
    message: str
    type: str
    first: datetime
    last: datetime
    count: int = 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "firstTimestamp": rfc3339(self.first),
            "lastTimestamp": rfc3339(self.last),
            "name": self.name,
            "message": self.message,
            "type": self.type,
        }


class ContainerRuntime:
    """One container of a deployment: its process, restarts, instance view and logs.

    :param spec: what to run.
    :param policy: the group's restart policy.
    :param settings: the emulator's live settings (back-off, grace, log size).
    :param workdir: the process's working directory (created on start).
    :param mounts: ``{mountPath: local directory}`` of the volumes the container mounts.
    """

    def __init__(
        self,
        spec: ContainerSpec,
        policy: str,
        settings: AciSettings,
        workdir: Path,
        mounts: Mapping[str, Path] | None = None,
    ) -> None:
        self.spec = spec
        self.policy = policy
        self.settings = settings
        self.workdir = workdir
        self.mounts = {path: str(local) for path, local in (mounts or {}).items()}
        self.logs = LogBuffer(settings.log_lines)
        self.restart_count = 0
        self.current: dict[str, Any] | None = None
        self.previous: dict[str, Any] | None = None
        self.last_exit: int | None = None
        self._last_terminated: dict[str, Any] | None = None
        self.done = False
        self.first_start = asyncio.Event()
        self._events: dict[tuple[str, str], _Event] = {}
        self._proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._sleeping = False
        #: processes started by ``exec`` in this container; they end with it
        self.exec_processes: set[asyncio.subprocess.Process] = set()

    # -- views ---------------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.returncode is None else None

    def phase(self) -> ContainerPhase:
        return ContainerPhase(started=self.current is not None, done=self.done, exit_code=self.last_exit)

    def instance_view(self) -> dict[str, Any] | None:
        """The container ``instanceView``; None until the container has started once."""
        if self.current is None:
            return None
        view: dict[str, Any] = {
            "restartCount": self.restart_count,
            "currentState": dict(self.current),
            "events": [event.as_dict() for event in self._events.values()],
        }
        if self.previous is not None:
            view["previousState"] = dict(self.previous)
        return view

    def event(self, name: str, message: str, kind: str = "Normal") -> None:
        now = utc_now()
        key = (name, message)
        if key in self._events:
            found = self._events[key]
            found.count += 1
            found.last = now
        else:
            self._events[key] = _Event(name, message, kind, now, now)

    def localize(self, text: str) -> str:
        """``text`` with the container's mount paths pointing at their local directories."""
        return localize(text, self.mounts)

    def environment(self) -> dict[str, str]:
        """The process environment: host basics, the container's variables (mount paths localized)
        and `MOUNTS_ENV`."""
        env = {**base_environment(), **{k: self.localize(v) for k, v in self.spec.env.items()}}
        if self.mounts:
            env[MOUNTS_ENV] = json.dumps(self.mounts)
        return env

    # -- lifecycle -----------------------------------------------------------------------------
    def launch(self, env: Mapping[str, str]) -> None:
        self._task = asyncio.create_task(self._supervise(dict(env)), name=f"aci-{self.spec.name}")

    async def _supervise(self, env: dict[str, str]) -> None:
        try:
            while not self._stopping:
                code = await self._run_once(env)
                self.first_start.set()
                if self._stopping or not restarts_after(self.policy, code):
                    break
                self.current = {
                    "state": "Waiting",
                    "detailStatus": "CrashLoopBackOff: Back-off restarting failed container",
                }
                delay = backoff_seconds(
                    self.restart_count, self.settings.backoff_base_s, self.settings.backoff_cap_s
                )
                self._sleeping = True
                try:
                    await asyncio.sleep(delay)
                finally:
                    self._sleeping = False
                if self._stopping:
                    break
                self.restart_count += 1
        finally:
            if self.current is not None and self.current["state"] == "Waiting":
                self.current = self._last_terminated  # stopped during the back-off: show the last exit
            self.done = True
            self.first_start.set()

    def _terminated(self, code: int, start: datetime, finish: datetime) -> None:
        self.last_exit = code
        self.current = {
            "state": "Terminated",
            "startTime": rfc3339(start),
            "finishTime": rfc3339(finish),
            "exitCode": code,
            "detailStatus": detail_status(code),
        }
        self._last_terminated = dict(self.current)

    def _not_runnable(self, code: int, message: str) -> int:
        now = utc_now()
        self.event("Failed", message, "Warning")
        self.previous = self._last_terminated
        self._terminated(code, now, now)
        return code

    async def _run_once(self, env: dict[str, str]) -> int:
        self.logs.clear()
        command = tuple(self.localize(part) for part in self.spec.command)
        if not command:
            return self._not_runnable(
                NOT_RUNNABLE_EXIT,
                f"Image '{self.spec.image}' is not runnable locally: the emulator runs containers as "
                "local processes and cannot execute an image's entrypoint; set the container 'command'.",
            )
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            proc = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
                cwd=str(self.workdir),
                start_new_session=True,
            )
        except OSError as exc:
            code = NOT_RUNNABLE_EXIT if isinstance(exc, FileNotFoundError) else 126
            return self._not_runnable(
                code, f"Failed to start container '{self.spec.name}': {exc.strerror or exc}: {command[0]!r}"
            )
        self._proc = proc
        start = utc_now()
        self.previous = self._last_terminated
        self.current = {"state": "Running", "startTime": rfc3339(start), "detailStatus": ""}
        self.event("Started", f"Started container {self.spec.name}")
        self.first_start.set()
        if self._stopping:
            self._signal(signal.SIGTERM)
        pump = asyncio.create_task(self._pump(proc))
        probes = [
            asyncio.create_task(self._probe(kind, probe, proc, env))
            for kind, probe in (("Liveness", self.spec.liveness), ("Readiness", self.spec.readiness))
            if probe is not None
        ]
        try:
            returncode = await proc.wait()
        finally:
            for task in probes:
                task.cancel()
            if proc.returncode is None:  # cancelled while running: do not leave the process behind
                self._signal(signal.SIGKILL)
                await proc.wait()
            self._signal(signal.SIGKILL)  # whatever the main process left in its group
            _, pending = await asyncio.wait({pump}, timeout=1.0)
            for task in pending:
                task.cancel()
            self.logs.flush()
            self._proc = None
        code = exit_code_of(returncode)
        self._terminated(code, start, utc_now())
        return code

    async def _probe(
        self, kind: str, probe: ProbeSpec, proc: asyncio.subprocess.Process, env: dict[str, str]
    ) -> None:
        """Probe the running process on the probe's period. A failure is a ``Unhealthy`` warning event;
        ``failureThreshold`` liveness failures in a row kill the process (then the restart policy applies)."""
        await asyncio.sleep(probe.initial_delay_s)
        failures = 0
        while proc.returncode is None and not self._stopping:
            failure = await probe_once(probe, env, str(self.workdir), self.localize)
            if failure is None:
                failures = 0
            else:
                failures += 1
                self.event("Unhealthy", f"{kind} probe failed: {failure}", "Warning")
                if kind == "Liveness" and failures >= probe.failure_threshold:
                    self.event(
                        "Killing", f"Container {self.spec.name} failed liveness probe, will be restarted"
                    )
                    self._signal(signal.SIGTERM)
                    try:
                        await asyncio.wait_for(proc.wait(), self.settings.stop_grace_s)
                    except asyncio.TimeoutError:
                        self._signal(signal.SIGKILL)
                    return
            await asyncio.sleep(probe.period_s)

    async def _pump(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while chunk := await proc.stdout.read(65536):
            self.logs.feed(chunk)

    def _signal(self, sig: signal.Signals) -> None:
        proc = self._proc
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)

    def _kill_execs(self) -> None:
        for proc in list(self.exec_processes):
            with contextlib.suppress(ProcessLookupError):
                proc.kill()

    async def terminate(self, grace: float) -> None:
        """Stop the container: SIGTERM to its process group, SIGKILL after ``grace`` seconds."""
        self._stopping = True
        self._kill_execs()
        task = self._task
        if task is None or task.done():
            self.done = True
            return
        if self._sleeping:
            task.cancel()
        else:
            self.event("Killing", f"Killing container {self.spec.name}")
            self._signal(signal.SIGTERM)
        _, pending = await asyncio.wait({task}, timeout=grace)
        if pending:
            self._signal(signal.SIGKILL)
            _, pending = await asyncio.wait({task}, timeout=5)
            for left in pending:
                left.cancel()

    async def finished(self) -> int | None:
        """Wait until the container will not run again (its restart policy is satisfied, or it was
        stopped); its last exit code."""
        if self._task is not None:
            await self._task
        return self.last_exit

    def abort(self) -> None:
        """Kill at once, without waiting (used by a synchronous reset)."""
        self._stopping = True
        self._kill_execs()
        self._signal(signal.SIGKILL)
        if self._task is not None:
            self._task.cancel()


class GroupDeployment:
    """One start of a container group: provisioning, then its containers until stop/abort.

    :param spec: the validated group.
    :param settings: the emulator's live settings.
    :param workdir: a directory for this deployment (one sub-directory per container, and
        ``volumes/<name>`` for its emptyDir and secret volumes).
    :param shares: the directory standing in for Azure Files: ``<account>/<share>`` below it
        outlives the group, as a share does.
    """

    def __init__(self, spec: GroupSpec, settings: AciSettings, workdir: Path, shares: Path) -> None:
        self.spec = spec
        self.settings = settings
        self.workdir = workdir
        self.provisioning_state = "Pending"
        self.stopped = False
        self.volume_dirs = {
            v.name: shares / v.share[0] / v.share[1] if v.share else workdir / "volumes" / v.name
            for v in spec.volumes
        }
        self.containers = {c.name: self._runtime(c, spec.restart_policy) for c in spec.containers}
        # an init container is run again until it succeeds, unless the group never restarts anything
        init_policy = "Never" if spec.restart_policy == "Never" else "OnFailure"
        self.init_containers = {c.name: self._runtime(c, init_policy) for c in spec.init_containers}
        #: an init container failed under the Never policy: the containers never start
        self.init_failed = False
        self.provisioned: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._task: asyncio.Task[None] | None = None

    def _runtime(self, container: ContainerSpec, policy: str) -> ContainerRuntime:
        mounts = {m.mount_path: self.volume_dirs[m.volume] for m in container.mounts}
        return ContainerRuntime(container, policy, self.settings, self.workdir / container.name, mounts)

    def runtime(self, name: str) -> ContainerRuntime | None:
        """The container or init container called ``name``."""
        return self.containers.get(name) or self.init_containers.get(name)

    def start(self) -> None:
        self._task = asyncio.create_task(self._provision(), name="aci-provision")

    async def _run_init_containers(self) -> bool:
        """Run the init containers one after the other; False when one failed for good."""
        for runtime in self.init_containers.values():
            runtime.event("Pulled", f'Successfully pulled image "{runtime.spec.image}"')
            runtime.launch(runtime.environment())
            if await runtime.finished() != 0:
                return False
        return True

    async def _provision(self) -> None:
        try:
            await asyncio.sleep(self.settings.provision_delay_s)
            self.provisioning_state = "Creating"
            for runtime in (*self.init_containers.values(), *self.containers.values()):
                runtime.event("Pulling", f'pulling image "{runtime.spec.image}"')
            await asyncio.sleep(self.settings.provision_delay_s)
            self._materialize_volumes()
            if not await self._run_init_containers():
                self.init_failed = True
                for runtime in self.containers.values():
                    runtime.done = True  # never started, never will be
                self.provisioning_state = "Succeeded"
                self._settle("Succeeded")
                return
            for runtime in self.containers.values():
                runtime.event("Pulled", f'Successfully pulled image "{runtime.spec.image}"')
                runtime.launch(runtime.environment())
            await asyncio.gather(*(r.first_start.wait() for r in self.containers.values()))
            self.provisioning_state = "Succeeded"
            self._settle("Succeeded")
        except asyncio.CancelledError:
            self._settle("Canceled")
            raise
        except Exception:
            log.exception("provisioning failed")
            self.provisioning_state = "Failed"
            self._settle("Failed")

    def _materialize_volumes(self) -> None:
        """Create each volume's directory; write a secret volume's files (owner-only)."""
        for volume in self.spec.volumes:
            folder = self.volume_dirs[volume.name]
            folder.mkdir(parents=True, exist_ok=True)
            for file, content in volume.files.items():
                target = folder / file
                target.write_bytes(content)
                target.chmod(0o400)

    def _settle(self, status: str) -> None:
        if not self.provisioned.done():
            self.provisioned.set_result(status)

    def state(self) -> str:
        if self.init_failed and not self.stopped:
            return "Failed"
        return group_state(
            self.spec.restart_policy,
            stopped=self.stopped,
            containers=[r.phase() for r in self.containers.values()],
        )

    @property
    def active(self) -> bool:
        """Provisioning, or some container still running or due to restart."""
        return not self.stopped and (
            not self.provisioned.done() or not all(r.done for r in self.containers.values())
        )

    async def stop(self, grace: float) -> None:
        """Kill every container (SIGTERM, SIGKILL after ``grace`` s) and mark the group Stopped."""
        self.stopped = True
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=5)
        runtimes = (*self.init_containers.values(), *self.containers.values())
        await asyncio.gather(*(r.terminate(grace) for r in runtimes))
        self._settle("Canceled")

    def abort(self) -> None:
        self.stopped = True
        if self._task is not None:
            self._task.cancel()
        for runtime in (*self.init_containers.values(), *self.containers.values()):
            runtime.abort()
        self._settle("Canceled")

    def cleanup_files(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)
