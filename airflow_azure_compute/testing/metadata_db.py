"""The metadata database of a throw-away Airflow stack: PostgreSQL when it can run here, SQLite otherwise.

Airflow supports SQLite for trying things out, not for concurrent use, and the real scheduler, API server
and task processes of `run_airflow` write concurrently. On SQLite, Airflow 3.3:

- answers 503 ("Database is locked. Backfill creation is not supported on SQLite under concurrent
  access") to a backfill requested while the scheduler writes, and, because SQLite commits each of its
  savepoints, the half-made backfill it then deletes may hold runs the scheduler has already started,
  which stops the scheduler (`StaleDataError` on `dag_run`);
- refuses, now and then, a finished task's terminal-state report (apache/airflow#65594).

`metadata_database` therefore starts a PostgreSQL server of its own from the `pgserver` wheel (the
server's binaries come in the wheel; it listens on a Unix socket in its data folder and on no TCP port)
when that package and Airflow's PostgreSQL drivers (`psycopg2`, `asyncpg`) are installed, as they are by
the project's ``dev`` extra, and falls back to a SQLite file otherwise, or, with a warning, when the
server does not start.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Literal

#: Which database `metadata_database` gives: ``auto`` is PostgreSQL when `postgres_available`, else SQLite.
DatabaseKind = Literal["auto", "postgres", "sqlite"]

_POSTGRES_MODULES = ("pgserver", "psycopg2", "asyncpg")


def postgres_available() -> bool:
    """Whether `pgserver` and the drivers Airflow uses for PostgreSQL (sync and async) are installed."""
    return all(importlib.util.find_spec(name) is not None for name in _POSTGRES_MODULES)


@contextmanager
def metadata_database(
    home: Path, kind: DatabaseKind = "auto", *, server_log: Path | None = None
) -> Iterator[str]:
    """Yield the SQLAlchemy URL of a new, empty metadata database.

    SQLite is a file in ``home``. A PostgreSQL server gets a new data folder in the system's temporary
    folder, not in ``home``: run as root, pgserver runs the server as a user of its own, which must reach
    the folder, and test runners close their own temporary folders to other users while tests run (pytest
    sets its base folder to mode 0700 at each session's start). On exit the server is stopped, its log
    copied to ``server_log`` and its data folder deleted.

    :param home: the stack's ``AIRFLOW_HOME``.
    :param kind: ``postgres``, ``sqlite``, or ``auto`` (PostgreSQL when `postgres_available`).
    :param server_log: where to keep the PostgreSQL server's log.
    """
    sqlite_url = f"sqlite:///{home / 'airflow.db'}"
    if kind == "sqlite" or (kind == "auto" and not postgres_available()):
        yield sqlite_url
        return
    if not postgres_available():
        raise RuntimeError(
            "database='postgres' needs the packages pgserver, psycopg2 and asyncpg: install this "
            "project's dev extra, or pass database='sqlite'"
        )
    import pgserver

    # pgserver logs each start and stop at INFO, the last one from an atexit hook after pytest has closed
    # the streams its handlers write to.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    data = Path(tempfile.mkdtemp(prefix="airflow-postgres-"))
    try:
        server = pgserver.get_server(data, cleanup_mode="delete")
    except Exception as exc:
        shutil.rmtree(data, ignore_errors=True)
        if kind == "postgres":
            raise
        warnings.warn(f"PostgreSQL did not start ({exc!r}); using SQLite", RuntimeWarning, stacklevel=3)
        yield sqlite_url
        return
    try:
        server.psql("CREATE DATABASE airflow;")
        # e.g. postgresql://postgres:@/airflow?host=<socket folder>; Airflow derives the asyncpg URL from it.
        yield server.get_uri("airflow").replace("postgresql://", "postgresql+psycopg2://", 1)
    finally:
        if server_log is not None:
            with suppress(OSError):
                shutil.copyfile(data / "log", server_log)
        server.cleanup()


__all__ = ["DatabaseKind", "metadata_database", "postgres_available"]
