"""BlobHook and BlobAsyncHook against Azurite through the real SDK."""

from __future__ import annotations

import base64
import hashlib
import io
from datetime import timedelta

import pytest

from airflow_azure_compute.hooks.blob import BlobAsyncHook, BlobHook, SasAccess
from tests.integration._blob_helpers import unique

pytestmark = pytest.mark.integration


def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def test_containers_lifecycle(blob_connection: str) -> None:
    hook = BlobHook(blob_connection)
    ok, message = hook.test_connection()
    assert ok, message
    name = unique("hook")
    assert not hook.container_exists(name)
    assert hook.get_container_metadata(name) is None
    assert hook.create_container(name, {"airflow_dag_id": "d"}) is True
    assert hook.create_container(name, {"airflow_dag_id": "other"}) is False
    assert hook.container_exists(name)
    assert hook.get_container_metadata(name) == {"airflow_dag_id": "d"}
    assert (name, {"airflow_dag_id": "d"}) in list(hook.list_containers(name_starts_with="hook-"))
    assert hook.delete_container(name) is True
    assert hook.delete_container(name) is False


def test_read_bytes_if_exists_returns_none_for_an_absent_blob_or_container(blob_connection: str) -> None:
    hook = BlobHook(blob_connection)
    name = unique("hook")
    hook.create_container(name)
    hook.upload_bytes(name, "here", b"data")
    assert hook.read_bytes_if_exists(name, "here") == b"data"
    assert hook.read_bytes_if_exists(name, "missing") is None
    assert hook.read_bytes_if_exists(unique("nocontainer"), "here") is None
    hook.delete_container(name)


def test_upload_list_download_delete(blob_connection: str, tmp_path: object) -> None:
    hook = BlobHook(blob_connection)
    name = unique("hook")
    hook.create_container(name)
    payloads = {f"in/{i:03d}": f"payload {i}\n".encode() * (i + 1) for i in range(7)}
    for blob, data in payloads.items():
        hook.upload_bytes(name, blob, data, metadata={"k": blob[-1]})
    big = bytes(range(256)) * 40_000  # ~10 MB: several 4 MiB blocks
    hook.upload_stream(name, "big/stream.bin", io.BytesIO(big), md5=_md5(big), max_concurrency=4)
    hook.upload_bytes(name, "other/x", b"x")

    listed = list(hook.list_blobs(name, "in/", metadata=True, page_size=2))  # 4 pages
    assert [b.name for b in listed] == sorted(payloads)
    assert all(b.md5 == _md5(payloads[b.name]) for b in listed)
    assert listed[3].metadata == {"k": "3"}
    assert b"".join(hook.download_stream(name, "big/stream.bin")) == big
    assert hook.get_blob(name, "big/stream.bin").md5 == _md5(big)  # type: ignore[union-attr]
    assert hook.get_blob(name, "missing") is None

    gone = hook.delete_prefix(name, "in/", where=lambda b: b.metadata.get("k") in {"1", "2"})
    assert gone == ["in/001", "in/002"]
    assert len(list(hook.list_blobs(name, "in/"))) == 5
    assert len(hook.delete_prefix(name, "in/")) == 5
    assert [b.name for b in hook.list_blobs(name)] == ["big/stream.bin", "other/x"]


def test_sas_is_least_privilege(blob_connection: str) -> None:
    from azure.core.exceptions import HttpResponseError
    from azure.storage.blob import ContainerClient

    hook = BlobHook(blob_connection)
    name = unique("sas")
    hook.create_container(name)
    hook.upload_bytes(name, "in/a.txt", b"hello")
    read = ContainerClient.from_container_url(
        hook.container_url(name, hook.generate_sas(name, access=SasAccess.READ, expiry=timedelta(minutes=5)))
    )
    assert [b.name for b in read.list_blobs()] == ["in/a.txt"]
    assert read.download_blob("in/a.txt").readall() == b"hello"
    with pytest.raises(HttpResponseError) as denied:
        read.upload_blob("out/b.txt", b"no")
    assert denied.value.status_code == 403

    write = ContainerClient.from_container_url(
        hook.container_url(name, hook.generate_sas(name, access="write", expiry=timedelta(minutes=5)))
    )
    write.upload_blob("out/b.txt", b"yes")
    with pytest.raises(HttpResponseError) as denied:
        write.download_blob("in/a.txt").readall()
    assert denied.value.status_code == 403
    with pytest.raises(HttpResponseError):
        list(write.list_blobs())

    hook.upload_bytes(name, "in/b c.txt", b"spaced")
    from azure.storage.blob import BlobClient

    urls = hook.prefix_sas_urls(name, "in/", expiry=timedelta(minutes=5))
    assert sorted(urls) == ["in/a.txt", "in/b c.txt"]
    one = BlobClient.from_blob_url(urls["in/b c.txt"])
    assert one.download_blob().readall() == b"spaced"
    with pytest.raises(HttpResponseError) as denied:
        one.upload_blob(b"no", overwrite=True)
    assert denied.value.status_code == 403

    token = hook.generate_sas(name, blob_name="in/a.txt", expiry=timedelta(minutes=5))
    assert "sr=b" in token and "sp=r&" in token
    from airflow_azure_compute.exceptions import AzureComputeConfigError

    with pytest.raises(AzureComputeConfigError, match="expiry"):
        hook.generate_sas(name, expiry=timedelta(seconds=-1))


async def test_async_hook_mirrors_sync(blob_connection: str) -> None:
    name = unique("ahook")
    async with BlobAsyncHook(blob_connection) as hook:
        assert await hook.create_container(name, {"airflow_run_id": "r"}) is True
        assert await hook.container_exists(name)
        assert await hook.get_container_metadata(name) == {"airflow_run_id": "r"}
        sizes = [1, 5_000_000, 3, 0, 4_200_000, 17]
        datas = [bytes([i % 251]) * n for i, n in enumerate(sizes)]
        names = [f"shard/{i:02d}" for i in range(len(sizes))]
        for blob, data in zip(names, datas, strict=True):
            await hook.upload_bytes(name, blob, data)
        assert [b.name async for b in hook.list_blobs(name, "shard/", page_size=4)] == names
        got = []
        async for i, pieces in hook.iter_ordered(name, names, max_concurrency=3, max_buffer=5_000_000):
            got.append((i, b"".join([p async for p in pieces])))
        assert got == list(enumerate(datas))
        assert b"".join([c async for c in hook.download_stream(name, names[1])]) == datas[1]
        assert (await hook.delete_prefix(name, "shard/")) == names
        assert [b async for b in hook.list_blobs(name)] == []
        token = await hook.generate_sas(name, access="read", expiry=timedelta(minutes=1))
        assert "sp=rl" in token
        assert await hook.delete_container(name) is True


async def test_ordered_download_names_a_missing_blob(blob_connection: str) -> None:
    from airflow_azure_compute.exceptions import AzureComputeRemoteError

    name = unique("ahook")
    async with BlobAsyncHook(blob_connection) as hook:
        await hook.create_container(name)
        await hook.upload_bytes(name, "a", b"a")
        with pytest.raises(AzureComputeRemoteError, match="'b'") as info:
            async for _, pieces in hook.iter_ordered(name, ["a", "b"]):
                async for _ in pieces:
                    pass
        assert info.value.status == 404
