"""Start and stop the local stack: Azurite (npm) and the emulator process.

Used by the test fixtures, ``make demo`` and ``make airflow``. Every server binds 127.0.0.1, and each
context manager stops exactly the process it started.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Azurite's well-known development account (public, documented by Microsoft).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

_LISTENING = re.compile(r"Azurite (Blob|Queue|Table) service is successfully listening at (\S+)")


@dataclass(frozen=True)
class AzuriteEndpoints:
    """Where a running Azurite serves, with its development account."""

    blob_url: str
    queue_url: str
    table_url: str
    account_name: str = AZURITE_ACCOUNT
    account_key: str = field(default=AZURITE_KEY, repr=False)

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={self.account_name};AccountKey={self.account_key};"
            f"BlobEndpoint={self.blob_url};QueueEndpoint={self.queue_url};TableEndpoint={self.table_url};"
        )

    @property
    def blob_endpoint_template(self) -> str:
        """Azurite's Blob URL of any account, ``http://127.0.0.1:<port>/{account}`` (path style): what the
        Batch emulator's ``--batch-blob-endpoint`` takes to back blob mounts."""
        return self.blob_url.rsplit("/", 1)[0] + "/{account}"

    def as_dict(self) -> dict[str, str]:
        return {
            "blob_url": self.blob_url,
            "queue_url": self.queue_url,
            "table_url": self.table_url,
            "account_name": self.account_name,
            "account_key": self.account_key,
            "connection_string": self.connection_string,
        }


def find_azurite(start: Path | None = None) -> str:
    """Locate the Azurite executable: ``$AZURITE_BIN``, ``node_modules/.bin`` upwards, then ``PATH``."""
    if env := os.environ.get("AZURITE_BIN"):
        return env
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "node_modules" / ".bin" / "azurite"
        if candidate.exists():
            return str(candidate)
    if found := shutil.which("azurite"):
        return found
    raise FileNotFoundError(
        "Azurite not found: run `npm ci` in the repository (or `make test`), or set AZURITE_BIN"
    )


def _stop(proc: subprocess.Popen[Any], timeout: float = 10) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


@contextmanager
def run_azurite(
    workspace: Path | None = None, *, timeout: float = 30, extra_args: Sequence[str] = ()
) -> Iterator[AzuriteEndpoints]:
    """Run Azurite on free 127.0.0.1 ports in a temporary workspace; yield its endpoints.

    ``extra_args`` are more Azurite options, e.g. ``--cert``, ``--key`` and ``--oauth basic`` for
    HTTPS with Entra ID bearer tokens."""
    with tempfile.TemporaryDirectory(prefix="azurite-") as tmp:
        location = workspace or Path(tmp)
        log_path = Path(tmp) / "azurite.log"
        args = [
            find_azurite(),
            "--blobHost", "127.0.0.1", "--blobPort", "0",
            "--queueHost", "127.0.0.1", "--queuePort", "0",
            "--tableHost", "127.0.0.1", "--tablePort", "0",
            "--location", str(location),
            "--skipApiVersionCheck", "--loose", "--silent", "--disableTelemetry", *extra_args,
        ]  # fmt: skip
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            urls: dict[str, str] = {}
            deadline = time.monotonic() + timeout
            while len(urls) < 3:
                if proc.poll() is not None:
                    raise RuntimeError(f"Azurite exited with {proc.returncode}: {log_path.read_text()}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"Azurite did not start in {timeout}s: {log_path.read_text()}")
                urls = {m[1].lower(): m[2] for m in _LISTENING.finditer(log_path.read_text())}
                time.sleep(0.05)
            yield AzuriteEndpoints(
                blob_url=f"{urls['blob']}/{AZURITE_ACCOUNT}",
                queue_url=f"{urls['queue']}/{AZURITE_ACCOUNT}",
                table_url=f"{urls['table']}/{AZURITE_ACCOUNT}",
            )
        finally:
            _stop(proc)


@contextmanager
def run_emulator(
    *,
    function_apps: Sequence[str | Path] = (),
    extra_args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    timeout: float = 30,
    storage_upstream: str | None = None,
    batch_blob_endpoint: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Run ``python -m airflow_azure_compute.emulator`` and yield the endpoints file it writes.

    ``storage_upstream`` (Azurite's blob URL) puts the storage fault proxy in front of it: the endpoints
    file's ``storage.blob_url`` then serves Blob traffic with the emulator's fault switches.
    ``batch_blob_endpoint`` (`AzuriteEndpoints.blob_endpoint_template`) backs the Batch emulator's blob
    mounts; without it they use the host of ``storage_upstream``, and without either they are refused.
    """
    with tempfile.TemporaryDirectory(prefix="emulator-") as tmp:
        endpoints_file = Path(tmp) / "endpoints.json"
        log_path = Path(tmp) / "emulator.log"
        args = [
            sys.executable,
            "-m",
            "airflow_azure_compute.emulator",
            "--endpoints-file",
            str(endpoints_file),
        ]
        for app in function_apps:
            args += ["--function-app", str(app)]
        if storage_upstream:
            args += ["--storage-upstream", storage_upstream]
        if batch_blob_endpoint:
            args += ["--batch-blob-endpoint", batch_blob_endpoint]
        args += list(extra_args)
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )
        try:
            deadline = time.monotonic() + timeout
            while not endpoints_file.exists():
                if proc.poll() is not None:
                    raise RuntimeError(f"emulator exited with {proc.returncode}: {log_path.read_text()}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"emulator did not start in {timeout}s: {log_path.read_text()}")
                time.sleep(0.05)
            endpoints: dict[str, Any] = json.loads(endpoints_file.read_text())
            endpoints["log_path"] = str(log_path)
            endpoints["pid"] = proc.pid
            yield endpoints
        finally:
            _stop(proc)


__all__ = [
    "AZURITE_ACCOUNT",
    "AZURITE_KEY",
    "AzuriteEndpoints",
    "find_azurite",
    "run_azurite",
    "run_emulator",
]
