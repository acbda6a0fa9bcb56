"""run_task against Azurite: resource files in, output files out, by SAS URLs."""

from __future__ import annotations

import json
import stat
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp
import pytest
from azure.storage.blob import (
    BlobSasPermissions,
    BlobServiceClient,
    ContainerSasPermissions,
    generate_blob_sas,
    generate_container_sas,
)

from airflow_azure_compute.emulator.batch.run_blob import list_blob_names
from airflow_azure_compute.emulator.batch.runner import run_task
from airflow_azure_compute.testing.stack import AzuriteEndpoints
from tests.integration.emulator.batch_support import task_run_spec

pytestmark = pytest.mark.integration

EXPIRY = timedelta(hours=1)


@pytest.fixture
def blobs(azurite: AzuriteEndpoints) -> Iterator[BlobServiceClient]:
    with BlobServiceClient.from_connection_string(azurite.connection_string) as client:
        yield client


def new_container(blobs: BlobServiceClient, files: dict[str, bytes] | None = None) -> str:
    name = f"c{uuid.uuid4().hex[:12]}"
    container = blobs.create_container(name)
    for blob, data in (files or {}).items():
        container.upload_blob(blob, data)
    return name


def container_sas_url(azurite: AzuriteEndpoints, name: str, **permissions: bool) -> str:
    sas = generate_container_sas(
        azurite.account_name,
        name,
        account_key=azurite.account_key,
        permission=ContainerSasPermissions(**(permissions or {"read": True, "list": True})),
        expiry=datetime.now(timezone.utc) + EXPIRY,
    )
    return f"{azurite.blob_url}/{name}?{sas}"


def blob_sas_url(azurite: AzuriteEndpoints, container: str, blob: str) -> str:
    sas = generate_blob_sas(
        azurite.account_name,
        container,
        blob,
        account_key=azurite.account_key,
        permission=BlobSasPermissions(read=True),
        expiry=datetime.now(timezone.utc) + EXPIRY,
    )
    return f"{azurite.blob_url}/{container}/{blob}?{sas}"


def write_url(azurite: AzuriteEndpoints, name: str) -> str:
    return container_sas_url(azurite, name, write=True, create=True)


def py(code: str) -> str:
    return f"python -c {json.dumps(code)}"


def read(blobs: BlobServiceClient, container: str, blob: str) -> bytes:
    return blobs.get_blob_client(container, blob).download_blob().readall()


def names(blobs: BlobServiceClient, container: str) -> list[str]:
    return sorted(b.name for b in blobs.get_container_client(container).list_blobs())


TRANSFORM = (
    "import pathlib; src = pathlib.Path('inputs/in'); out = pathlib.Path('out'); "
    "(out / 'sub').mkdir(parents=True); "
    "(out / 'result.txt').write_text((src / 'data.txt').read_text().upper()); "
    "(out / 'sub' / 'nested.txt').write_text((src / 'deep' / 'more.txt').read_text()); "
    "(out / 'ignored.bin').write_text('x'); print(pathlib.Path('single.txt').read_text())"
)


async def test_download_transform_upload(
    tmp_path: Path, http: aiohttp.ClientSession, azurite: AzuriteEndpoints, blobs: BlobServiceClient
) -> None:
    inputs = new_container(
        blobs, {"in/data.txt": b"hello world", "in/deep/more.txt": b"nested", "other/skip.txt": b"no"}
    )
    outputs = new_container(blobs)
    run = task_run_spec(
        tmp_path,
        py(TRANSFORM),
        resource_files=[
            {
                "storageContainerUrl": container_sas_url(azurite, inputs),
                "blobPrefix": "in/",
                "filePath": "inputs",
            },
            {
                "httpUrl": blob_sas_url(azurite, inputs, "other/skip.txt"),
                "filePath": "single.txt",
                "fileMode": "0600",
            },
        ],
        output_files=[
            {
                "filePattern": "out/**/*.txt",
                "destination": {"container": {"containerUrl": write_url(azurite, outputs), "path": "run1"}},
                "uploadOptions": {"uploadCondition": "tasksuccess"},
            },
            {
                "filePattern": "../stdout.txt",
                "destination": {
                    "container": {"containerUrl": write_url(azurite, outputs), "path": "logs/out.txt"}
                },
            },
        ],
    )
    result = await run_task(run, http)
    assert (result.result, result.exit_code, result.failure_info) == ("success", 0, None)
    wd = result.task_dir / "wd"
    assert not (wd / "inputs/other").exists()
    assert stat.S_IMODE((wd / "single.txt").stat().st_mode) == 0o600
    assert stat.S_IMODE((wd / "inputs/in/data.txt").stat().st_mode) == 0o770
    assert names(blobs, outputs) == ["logs/out.txt", "run1/result.txt", "run1/sub/nested.txt"]
    assert read(blobs, outputs, "run1/result.txt") == b"HELLO WORLD"
    assert read(blobs, outputs, "run1/sub/nested.txt") == b"nested"
    assert read(blobs, outputs, "logs/out.txt") == b"no\n"
    upload_log = (result.task_dir / "fileuploadout.txt").read_text()
    assert upload_log.count("Uploaded ") == 3 and "sig=" not in upload_log
    assert (result.task_dir / "fileuploaderr.txt").read_text() == ""


@pytest.mark.parametrize("exit_code", [0, 1])
async def test_upload_conditions(
    exit_code: int,
    tmp_path: Path,
    http: aiohttp.ClientSession,
    azurite: AzuriteEndpoints,
    blobs: BlobServiceClient,
) -> None:
    outputs = new_container(blobs)
    url = write_url(azurite, outputs)
    code = f"import pathlib; [pathlib.Path(n).write_text(n) for n in ('s.txt', 'f.txt', 'c.txt')]; raise SystemExit({exit_code})"
    run = task_run_spec(
        tmp_path,
        py(code),
        output_files=[
            {
                "filePattern": f"{n}.txt",
                "destination": {"container": {"containerUrl": url}},
                "uploadOptions": {"uploadCondition": c},
            }
            for n, c in (("s", "tasksuccess"), ("f", "taskfailure"), ("c", "taskcompletion"))
        ],
    )
    result = await run_task(run, http)
    assert result.exit_code == exit_code
    expected = ["c.txt", "s.txt"] if exit_code == 0 else ["c.txt", "f.txt"]
    assert names(blobs, outputs) == expected
    if exit_code:
        assert result.failure_info is not None and result.failure_info["code"] == "FailureExitCode"


async def test_missing_blob_fails_before_running(
    tmp_path: Path, http: aiohttp.ClientSession, azurite: AzuriteEndpoints, blobs: BlobServiceClient
) -> None:
    inputs = new_container(blobs)
    run = task_run_spec(
        tmp_path,
        py("open('ran', 'w')"),
        resource_files=[{"httpUrl": blob_sas_url(azurite, inputs, "nope.txt"), "filePath": "nope.txt"}],
    )
    result = await run_task(run, http)
    assert (result.result, result.exit_code) == ("failure", None)
    info = result.failure_info
    assert info is not None and (info["category"], info["code"]) == ("usererror", "BlobNotFound")
    assert "sig=" not in json.dumps(info)
    assert not (result.task_dir / "wd/ran").exists()
    assert not result.retryable


async def test_resource_file_errors(
    tmp_path: Path, http: aiohttp.ClientSession, azurite: AzuriteEndpoints, blobs: BlobServiceClient
) -> None:
    inputs = new_container(blobs, {"a.txt": b"a"})
    forged = container_sas_url(azurite, inputs).replace("sig=", "sig=AAAA")
    cases = {
        "BlobAccessDenied": {"storageContainerUrl": forged},
        "BlobNotFound": {"storageContainerUrl": container_sas_url(azurite, "missing-container")},
        "InvalidResourceFile": {
            "httpUrl": blob_sas_url(azurite, inputs, "a.txt"),
            "filePath": "../../escape.txt",
        },
        "AutoStorageAccountNotConfigured": {"autoStorageContainerName": "inputs"},
    }
    for code, resource_file in cases.items():
        result = await run_task(
            task_run_spec(tmp_path, py("open('ran', 'w')"), resource_files=[resource_file]), http
        )
        assert result.failure_info is not None and result.failure_info["code"] == code, result.failure_info
        assert result.exit_code is None and not (result.task_dir / "wd/ran").exists()
    assert not (tmp_path / "workitems/job/escape.txt").exists()


async def test_upload_to_missing_container(
    tmp_path: Path, http: aiohttp.ClientSession, azurite: AzuriteEndpoints
) -> None:
    url = write_url(azurite, "never-created")
    run = task_run_spec(
        tmp_path,
        py("open('r.txt', 'w').write('r')"),
        output_files=[{"filePattern": "*.txt", "destination": {"container": {"containerUrl": url}}}],
    )
    result = await run_task(run, http)
    assert (result.result, result.exit_code) == ("failure", 0)
    assert result.failure_info is not None and result.failure_info["code"] == "FileUploadContainerNotFound"
    errors = (result.task_dir / "fileuploaderr.txt").read_text()
    assert "FileUploadContainerNotFound" in errors and "sig=" not in errors


async def test_container_listing_follows_markers(
    http: aiohttp.ClientSession, azurite: AzuriteEndpoints, blobs: BlobServiceClient
) -> None:
    files = {f"p/{i}/x y+{i}.txt": b"." for i in range(5)} | {"q/other.txt": b"."}
    inputs = new_container(blobs, files)
    listed = await list_blob_names(http, container_sas_url(azurite, inputs), "p/", page_size=2)
    assert sorted(listed) == sorted(name for name in files if name.startswith("p/"))
