"""The real-Airflow stack's metadata database: a PostgreSQL server of its own, on a Unix socket only."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from airflow_azure_compute.testing.metadata_db import metadata_database, postgres_available


def test_sqlite_is_a_file_in_the_home(tmp_path: Path) -> None:
    with metadata_database(tmp_path, "sqlite") as url:
        assert url == f"sqlite:///{tmp_path / 'airflow.db'}"


@pytest.mark.skipif(not postgres_available(), reason="needs the dev extra (pgserver, psycopg2, asyncpg)")
def test_postgres_serves_an_empty_database_on_a_socket_and_stops_on_exit(tmp_path: Path) -> None:
    import psycopg2

    tmp_path.chmod(0o700)  # as pytest leaves its folders: the server must not need to reach them
    with metadata_database(tmp_path, "postgres", server_log=tmp_path / "postgres.log") as url:
        assert url.startswith("postgresql+psycopg2://") and "/airflow?host=" in url
        socket_dir = url.split("?host=", 1)[1]
        conn = psycopg2.connect(dbname="airflow", user="postgres", host=socket_dir)
        with conn, conn.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            assert cursor.fetchone() == (0,)
            cursor.execute("SELECT pg_backend_pid()")
            (backend,) = cursor.fetchone() or (0,)
        conn.close()
        server = psutil.Process(backend).parent()
        assert server is not None
        listening = [c for c in server.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
        assert listening == []  # no TCP port at all: a Unix socket only
    # Stopped; the daemonized server may stay a zombie until this machine's init reaps it.
    assert not server.is_running() or server.status() == psutil.STATUS_ZOMBIE
    assert "database system is ready to accept connections" in (tmp_path / "postgres.log").read_text()
    assert not Path(socket_dir).exists()  # its data folder is deleted
