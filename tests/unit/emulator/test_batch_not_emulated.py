"""Pure logic of the Batch emulator's refusals and mount layout (no processes, no network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_azure_compute.emulator.batch.mounts import _inside, blob_endpoint_template, mount_entries
from airflow_azure_compute.emulator.batch.not_emulated import check_job, check_pool, check_task_like
from airflow_azure_compute.emulator.batch.wire import BatchError


@pytest.mark.parametrize(
    ("explicit", "upstream", "expected"),
    [
        ("http://h:1/{account}", "http://u:2/devstoreaccount1", "http://h:1/{account}"),
        ("https://{account}.blob.core.windows.net", None, "https://{account}.blob.core.windows.net"),
        ("http://h:1/", None, "http://h:1/{account}"),
        (None, "http://127.0.0.1:10000/devstoreaccount1", "http://127.0.0.1:10000/{account}"),
        (None, None, None),
        ("", "", None),
    ],
)
def test_blob_endpoint_template(explicit: str | None, upstream: str | None, expected: str | None) -> None:
    assert blob_endpoint_template(explicit, upstream) == expected


def test_blob_names_that_leave_the_mount_are_skipped(tmp_path: Path) -> None:
    assert _inside(tmp_path, "a/b.txt") == tmp_path / "a" / "b.txt"
    assert _inside(tmp_path, "../escape") is None
    assert _inside(tmp_path, "dir/") is None


def test_mount_entries_keep_the_kind_of_each_mount() -> None:
    spec = {
        "mountConfiguration": [
            {"nfsMountConfiguration": {"source": "h:/e", "relativeMountPath": "n"}},
            {"azureBlobFileSystemConfiguration": {"containerName": "c", "relativeMountPath": "b"}},
        ]
    }
    assert [kind for kind, _ in mount_entries(spec)] == [
        "nfsMountConfiguration",
        "azureBlobFileSystemConfiguration",
    ]


def _refused(call: object, *args: object, **kwargs: object) -> str:
    with pytest.raises(BatchError) as info:
        call(*args, **kwargs)  # type: ignore[operator]
    assert (info.value.status, info.value.code) == (400, "FeatureNotEmulated")
    return str(info.value.values["PropertyName"])


def test_empty_values_are_not_a_use_of_the_feature() -> None:
    check_pool({"applicationPackageReferences": [], "certificateReferences": []})
    check_task_like(
        {"applicationPackageReferences": [], "resourceFiles": [{"httpUrl": "u", "filePath": "f"}]}
    )


def test_refusals_name_the_property_path() -> None:
    assert _refused(
        check_pool, {"startTask": {"applicationPackageReferences": [{"applicationId": "a"}]}}
    ) == ("startTask.applicationPackageReferences")
    multi = {"multiInstanceSettings": {"commonResourceFiles": [{"identityReference": {"resourceId": "i"}}]}}
    assert (
        _refused(check_task_like, multi) == "multiInstanceSettings.commonResourceFiles[0].identityReference"
    )
    job = {
        "jobReleaseTask": {
            "commandLine": "x",
            "containerSettings": {"registry": {"identityReference": {"r": 1}}},
        }
    }
    assert _refused(check_job, job) == "jobReleaseTask.containerSettings.registry.identityReference"
    blob = {"mountConfiguration": [{"azureBlobFileSystemConfiguration": {"sasKey": "s"}}]}
    check_pool(blob)
    assert (
        _refused(check_pool, blob, blob_mounts=False)
        == "mountConfiguration[0].azureBlobFileSystemConfiguration"
    )
