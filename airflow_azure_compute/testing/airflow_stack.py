"""Run real Airflow 3 components (api-server, scheduler, dag-processor, triggerer) on 127.0.0.1.

Used by the end-to-end test, ``make demo`` and ``make airflow``. `run_airflow` prepares a
throw-away ``AIRFLOW_HOME`` (a metadata database of its own, PostgreSQL where it can run, see
`metadata_db`; LocalExecutor, no examples, the simple auth manager with one admin user whose password it
chooses), migrates the database, starts each component as its own process in its
own session, waits until the API reports every component healthy, and on exit stops exactly the
process groups it started. No component serves logs on a port: the scheduler and triggerer run with
``--skip-serve-logs`` and the API server reads task logs from the shared local log folder.

Usage::

    with run_airflow(Path("example_dags"), {"AIRFLOW_CONN_X": "..."}) as airflow:
        airflow.unpause("my_dag")
        run_id = airflow.trigger("my_dag", {"n": 3})
        assert airflow.wait_for_run("my_dag", run_id, timeout=120) == "success"
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from airflow_azure_compute.testing.metadata_db import DatabaseKind, metadata_database

#: The components started, in order; each is ``python -m airflow <args>``.
COMPONENTS: dict[str, list[str]] = {
    "api-server": ["api-server", "--workers", "1"],
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
}

#: Run states after which a DAG run never changes again.
FINISHED_RUN_STATES = frozenset({"success", "failed"})
#: What an Airflow 3.3 task logs when the API server refused its terminal-state report (apache/airflow#65594).
LOST_REPORT = "Failed to report terminal task state to supervisor"
#: The event Airflow's scheduler logs when it fails a task as "killed externally": in Airflow 3.3 also a
#: task that resumed after a deferral before the scheduler had read its worker's exit at the deferral.
STATE_MISMATCH = "state mismatch"

HOST = "127.0.0.1"


class AirflowStackError(RuntimeError):
    """A component failed to start or exited; the message carries the tail of its log."""


def free_port(host: str = HOST) -> int:
    """A TCP port free on ``host`` right now (the caller binds it soon after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def airflow_env(
    home: Path,
    dags_folder: Path,
    port: int,
    password_file: Path,
    username: str,
    database_url: str | None = None,
) -> dict[str, str]:
    """The ``AIRFLOW__*`` settings shared by every component of one stack (``database_url``: its metadata
    database, by default a SQLite file in ``home``)."""
    from cryptography.fernet import Fernet

    base_url = f"http://{HOST}:{port}"
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        # Waits happen in the triggerer. Explicit, because the airflow.cfg that Airflow generates in a new
        # home spells out its own default (false), which would override the provider's deferrable default.
        "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True",
        # The UI's connection Test button (Airflow disables it by default).
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{username}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(password_file),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base_url}/execution/",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url or f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__API__HOST": HOST,
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": base_url,
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        # Nothing listens anywhere but 127.0.0.1: no health-check server, log servers skipped.
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": HOST,
        "AIRFLOW__METRICS__STATSD_ON": "False",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
        # The airflow executable and the interpreter's tools, for LocalExecutor workers.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }


@dataclass
class AirflowStack:
    """Handle on a running stack: REST helpers over ``/api/v2`` with the admin user's token."""

    home: Path
    base_url: str
    username: str
    password: str = field(repr=False)
    log_dir: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict, repr=False)
    #: The extra environment every component got (e.g. its ``AIRFLOW_CONN_*`` connections).
    env: dict[str, str] = field(default_factory=dict, repr=False)
    _token: str | None = field(default=None, repr=False)

    # ---- plumbing -------------------------------------------------------------------------
    def token(self) -> str:
        """A JWT for the admin user from ``POST /auth/token`` (cached)."""
        if self._token is None:
            response = httpx.post(
                f"{self.base_url}/auth/token",
                json={"username": self.username, "password": self.password},
                timeout=30,
            )
            response.raise_for_status()
            self._token = str(response.json()["access_token"])
        return self._token

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Call ``{base_url}/api/v2{path}`` with the bearer token; no status check."""
        headers = {"Authorization": f"Bearer {self.token()}", **kwargs.pop("headers", {})}
        return httpx.request(method, f"{self.base_url}/api/v2{path}", headers=headers, timeout=30, **kwargs)

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        if response.is_error:
            raise AirflowStackError(f"{method} {path} -> {response.status_code}: {response.text[:2000]}")
        return response.json()

    def check_alive(self) -> None:
        """Raise `AirflowStackError` with its log if any component has exited."""
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                raise AirflowStackError(
                    f"airflow {name} exited with {proc.returncode}:\n{_tail(self.log_dir / f'{name}.log')}"
                )

    def listening_addresses(self) -> set[tuple[str, int]]:
        """Every (ip, port) a component or one of its children listens on (psutil)."""
        import psutil

        found: set[tuple[str, int]] = set()
        for proc in self.processes.values():
            try:
                root = psutil.Process(proc.pid)
                family = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
            for member in family:
                try:
                    conns = member.net_connections(kind="inet")
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                found |= {(c.laddr.ip, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN}
        return found

    def component_logs(self, lines: int = 40) -> str:
        """The last ``lines`` of every component's log, for failure messages."""
        return "\n".join(
            f"----- {name} -----\n{_tail(self.log_dir / f'{name}.log', lines)}" for name in self.processes
        )

    def wait_healthy(self, timeout: float = 120) -> None:
        """Poll ``/api/v2/monitor/health`` until the database and every job report healthy."""
        deadline = time.monotonic() + timeout
        last = ""
        while True:
            self.check_alive()
            try:
                response = httpx.get(f"{self.base_url}/api/v2/monitor/health", timeout=5)
                if response.status_code == 200:
                    health = response.json()
                    last = json.dumps(health)
                    if all(
                        (health.get(part) or {}).get("status") == "healthy"
                        for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")
                    ):
                        return
            except httpx.TransportError as exc:
                last = repr(exc)
            if time.monotonic() > deadline:
                raise AirflowStackError(
                    f"Airflow not healthy after {timeout}s (last: {last})\n{self.component_logs()}"
                )
            time.sleep(0.5)

    # ---- DAGs and runs ---------------------------------------------------------------------
    def import_errors(self) -> list[dict[str, Any]]:
        """DAG files the dag-processor could not import."""
        return list(self._json("GET", "/importErrors")["import_errors"])

    def unpause(self, dag_id: str, timeout: float = 90) -> None:
        """Unpause ``dag_id`` with PATCH, waiting for the dag-processor to have parsed it."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            response = self.request("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
            if response.status_code == 200:
                return
            if response.status_code != 404 or time.monotonic() > deadline:
                raise AirflowStackError(
                    f"cannot unpause {dag_id}: {response.status_code} {response.text[:500]}; "
                    f"import errors: {self.import_errors()}"
                )
            time.sleep(0.5)

    def next_logical_date(self, dag_id: str, timeout: float = 90) -> str | None:
        """The logical date of the DAG's next scheduled run (``None`` for an unscheduled DAG), waiting for
        the dag-processor to have parsed it.

        Unpausing a scheduled DAG with ``catchup=False`` makes the scheduler run that date at once; a
        manual run given that logical date first (`trigger`) takes its place.
        """
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            response = self.request("GET", f"/dags/{dag_id}")
            if response.status_code == 200:
                return response.json().get("next_dagrun_logical_date")
            if response.status_code != 404 or time.monotonic() > deadline:
                raise AirflowStackError(
                    f"GET /dags/{dag_id} -> {response.status_code}: {response.text[:500]}"
                )
            time.sleep(0.5)

    def trigger(
        self, dag_id: str, conf: Mapping[str, Any] | None = None, *, logical_date: str | None = None
    ) -> str:
        """Create a manual DAG run with ``conf`` (``POST /dags/{dag_id}/dagRuns``) on ``logical_date``
        (ISO 8601; default none); return its run id."""
        body = {"logical_date": logical_date, "conf": dict(conf or {})}
        return str(self._json("POST", f"/dags/{dag_id}/dagRuns", json=body)["dag_run_id"])

    def backfill(
        self, dag_id: str, from_date: str, to_date: str, conf: Mapping[str, Any] | None = None,
        *, max_active_runs: int = 10, timeout: float = 60,
    ) -> int:  # fmt: skip
        """Backfill the logical dates from ``from_date`` to ``to_date`` (ISO 8601) with ``conf``, at most
        ``max_active_runs`` at a time (``POST /backfills``); return the backfill's id.

        On SQLite (`metadata_db`) the API server answers 503 ("Database is locked") while the scheduler
        holds the database; the request is repeated until it goes through or ``timeout`` passes.
        """
        body = {
            "dag_id": dag_id, "from_date": from_date, "to_date": to_date, "dag_run_conf": dict(conf or {}),
            "max_active_runs": max_active_runs, "reprocess_behavior": "none",
        }  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            response = self.request("POST", "/backfills", json=body)
            if response.status_code != 503 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        if response.is_error:
            raise AirflowStackError(f"POST /backfills -> {response.status_code}: {response.text[:2000]}")
        return int(response.json()["id"])

    def dag_runs(self, dag_id: str, run_type: str | None = None) -> list[dict[str, Any]]:
        """The DAG's runs (``GET /dags/{dag_id}/dagRuns``), optionally of one ``run_type``, oldest first."""
        params: dict[str, Any] = {"order_by": "logical_date", "limit": 100}
        if run_type:
            params["run_type"] = [run_type]
        return list(self._json("GET", f"/dags/{dag_id}/dagRuns", params=params)["dag_runs"])

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self._json("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"])

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 120) -> str:
        """Poll the run until it is ``success`` or ``failed``; return that state.

        A run that Airflow 3.3 itself broke has its failed tasks cleared once (unmapped tasks only; Airflow
        clears their setups and teardowns with them) and is waited on again: a task finished but the API
        server refused its report (`LOST_REPORT`), or the scheduler failed a resumed task as killed
        externally (`STATE_MISMATCH`).
        """
        deadline = time.monotonic() + timeout
        cleared = False
        while True:
            self.check_alive()
            state = self.run_state(dag_id, run_id)
            if state == "failed" and not cleared and (lost := self._failed_by_airflow(dag_id, run_id)):
                self._json(
                    "POST",
                    f"/dags/{dag_id}/clearTaskInstances",
                    json={
                        "dry_run": False,
                        "dag_run_id": run_id,
                        "task_ids": lost,
                        "only_failed": True,
                        "include_downstream": True,
                        "reset_dag_runs": True,
                    },
                )
                cleared = True
                continue
            if state in FINISHED_RUN_STATES:
                return state
            if time.monotonic() > deadline:
                raise AirflowStackError(
                    f"run {run_id} of {dag_id} still {state} after {timeout}s; "
                    f"tasks: {self.task_states(dag_id, run_id)}\n{self.component_logs()}"
                )
            time.sleep(0.5)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return list(
            self._json("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 1000})[
                "task_instances"
            ]
        )

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        """``{task_id: state}``; mapped instances appear as ``task_id[map_index]``."""
        states: dict[str, str | None] = {}
        for ti in self.task_instances(dag_id, run_id):
            key = ti["task_id"] if ti.get("map_index", -1) < 0 else f"{ti['task_id']}[{ti['map_index']}]"
            states[key] = ti["state"]
        return states

    def task_log(
        self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1
    ) -> str:
        """The text of one task try's log."""
        data = self._json(
            "GET",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
            params={"full_content": "true", "map_index": map_index},
            headers={"Accept": "application/json"},
        )
        content = data.get("content", "")
        if isinstance(content, str):
            return content
        lines = []
        for entry in content:
            if isinstance(entry, dict):
                stamp = entry.get("timestamp", "")
                lines.append(f"[{stamp}] {entry.get('level', '')} {entry.get('event', '')}".strip())
            else:
                lines.append(str(entry))
        return "\n".join(lines)

    def _failed_by_airflow(self, dag_id: str, run_id: str) -> list[str]:
        """The unmapped failed tasks of a run Airflow itself broke, or none.

        Airflow broke the run when any of its tasks, in any try, got a `STATE_MISMATCH` event or logged
        `LOST_REPORT`: a task it failed that way can fail its retry or a downstream task in turn (its
        teardown ran meanwhile, its orchestration saw the failure), so every failed task is returned.
        """
        events = self._json(
            "GET",
            "/eventLogs",
            params={"dag_id": dag_id, "run_id": run_id, "event": STATE_MISMATCH, "limit": 100},
        )["event_logs"]
        tis = self.task_instances(dag_id, run_id)
        failed = [
            str(ti["task_id"])
            for ti in tis
            if ti["state"] == "failed" and ti.get("try_number") and ti.get("map_index", -1) == -1
        ]
        if not failed or events:
            return failed
        lost_report = any(
            LOST_REPORT in self.task_log(dag_id, run_id, ti["task_id"], attempt)
            for ti in tis
            if ti.get("map_index", -1) == -1
            for attempt in range(1, int(ti.get("try_number") or 0) + 1)
        )
        return failed if lost_report else []

    def failure_report(self, dag_id: str, run_id: str, tail: int = 3000) -> str:
        """Task states, then the end of the log of every task instance that did not succeed."""
        parts = [f"task states of {dag_id} / {run_id}: {self.task_states(dag_id, run_id)}"]
        for ti in self.task_instances(dag_id, run_id):
            if ti["state"] in {"success", "skipped"} or not ti.get("try_number"):
                continue
            log = self.task_log(dag_id, run_id, ti["task_id"], ti["try_number"], ti.get("map_index", -1))
            parts.append(
                f"----- {ti['task_id']} [{ti.get('map_index', -1)}] {ti['state']} -----\n{log[-tail:]}"
            )
        return "\n".join(parts)

    def xcom(
        self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1
    ) -> Any:
        """The deserialized value of one XCom entry."""
        data = self._json(
            "GET",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}",
            params={"map_index": map_index, "deserialize": "true", "stringify": "false"},
        )
        return data["value"]


def _die_with_parent() -> None:
    """In the child before exec (Linux): get SIGTERM when the starting process dies, even by SIGKILL."""
    import ctypes

    with suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def link_dags_folder(
    target: Path, dag_files: Sequence[Path], support_dir: Path | Sequence[Path] | None = None
) -> Path:
    """Make ``target`` a DAG folder that parses exactly ``dag_files`` (linked, not copied).

    Every entry of ``support_dir``, a folder or a list of folders (e.g. ``example_dags/``, whose DAGs
    import helper modules and function apps beside them), is linked too, but the ones not in
    ``dag_files`` are listed in ``.airflowignore`` so the dag-processor skips them while they stay
    importable (the DAG folder is on ``sys.path``).
    """
    target.mkdir(parents=True, exist_ok=True)
    wanted = {Path(f).resolve() for f in dag_files}
    ignored: list[str] = []
    folders = [support_dir] if isinstance(support_dir, Path) else list(support_dir or [])
    entries = [entry for folder in folders if folder.is_dir() for entry in sorted(folder.iterdir())]
    for entry in entries:
        if entry.name.startswith(".") or entry.name == "__pycache__" or entry.resolve() in wanted:
            continue
        (target / entry.name).symlink_to(entry.resolve())
        ignored.append(entry.name)  # [core] dag_ignore_file_syntax is "glob" by default
    for dag_file in sorted(wanted):
        (target / dag_file.name).symlink_to(dag_file)
    (target / ".airflowignore").write_text("".join(f"{line}\n" for line in ignored))
    return target


def stop_groups(procs: list[subprocess.Popen[bytes]], timeout: float = 15) -> None:
    """Stop the process groups this module created (one session per component).

    SIGTERM every group at once, wait for the leaders, then SIGKILL whatever is left in each group
    (executor workers, task supervisors).
    """
    for proc in procs:
        if proc.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs:
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    for proc in procs:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.wait(timeout=timeout)


@contextmanager
def run_airflow(
    dags_folder: Path,
    env: Mapping[str, str] | None = None,
    *,
    port: int = 0,
    home: Path | None = None,
    username: str = "admin",
    password: str | None = None,
    timeout: float = 150,
    database: DatabaseKind = "auto",
) -> Iterator[AirflowStack]:
    """Run api-server, scheduler, dag-processor and triggerer over ``dags_folder``.

    :param dags_folder: folder the dag-processor parses.
    :param env: extra environment for every component (e.g. ``AIRFLOW_CONN_*`` connections).
    :param port: API server port on 127.0.0.1; 0 picks a free one.
    :param home: AIRFLOW_HOME to use (kept); default a temporary folder removed on exit.
    :param username: the simple auth manager's admin user.
    :param password: its password; default a random one.
    :param timeout: seconds to wait for the migration and for every component to be healthy.
    :param database: the metadata database (`metadata_database`): ``auto`` is a PostgreSQL server of the
        stack's own when the ``dev`` extra is installed, else SQLite.
    """
    with ExitStack() as stack:
        if home is None:
            home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="airflow-home-")))
        home.mkdir(parents=True, exist_ok=True)
        (home / "plugins").mkdir(exist_ok=True)
        log_dir = home / "component-logs"
        log_dir.mkdir(exist_ok=True)
        port = port or free_port()
        password = password or secrets.token_urlsafe(12)
        password_file = home / "simple_auth_manager_passwords.json"
        password_file.write_text(json.dumps({username: password}))
        password_file.chmod(0o600)
        database_url = stack.enter_context(
            metadata_database(home, database, server_log=log_dir / "postgres.log")
        )
        full_env = {
            **os.environ,
            **airflow_env(home, Path(dags_folder).resolve(), port, password_file, username, database_url),
            **(env or {}),
        }
        airflow = [sys.executable, "-m", "airflow"]

        with open(log_dir / "db-migrate.log", "wb") as log:
            migrate = subprocess.run(
                [*airflow, "db", "migrate"],
                env=full_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        if migrate.returncode != 0:
            raise AirflowStackError(f"airflow db migrate failed:\n{_tail(log_dir / 'db-migrate.log')}")

        handle = AirflowStack(
            home=home,
            base_url=f"http://{HOST}:{port}",
            username=username,
            password=password,
            log_dir=log_dir,
            env=dict(env or {}),
        )
        try:
            for name, args in COMPONENTS.items():
                with open(log_dir / f"{name}.log", "wb") as log:
                    handle.processes[name] = subprocess.Popen(
                        [*airflow, *args],
                        env=full_env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                        start_new_session=True,
                        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
                        cwd=home,
                    )
            handle.wait_healthy(timeout)
            yield handle
        finally:
            stop_groups(list(handle.processes.values()))


__all__ = [
    "COMPONENTS",
    "FINISHED_RUN_STATES",
    "HOST",
    "LOST_REPORT",
    "STATE_MISMATCH",
    "AirflowStack",
    "AirflowStackError",
    "airflow_env",
    "free_port",
    "link_dags_folder",
    "run_airflow",
    "stop_groups",
]
