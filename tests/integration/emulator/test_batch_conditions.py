"""Batch emulator: HTTP conditional headers on pools (If-Match and its kin), through the real azure-batch SDK."""

# The SDK types most model fields Optional; these tests dereference them on purpose.
# mypy: disable-error-code="union-attr,index,operator"
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.integration.emulator.batch_support import batch_client, cleanup, pool_options, uid

pytestmark = pytest.mark.integration


@pytest.fixture
def empty_pool(emulator: dict[str, Any]) -> Any:
    client = batch_client(emulator)
    pool_id = uid("pool")
    client.create_pool(pool_options(pool_id, dedicated=0))
    yield client, pool_id
    cleanup(client, pool_id=pool_id)


def _metadata(value: str) -> Any:
    from azure.batch import models

    return models.BatchPoolUpdateOptions(metadata=[models.BatchMetadataItem(name="k", value=value)])


def test_a_write_with_a_stale_etag_is_412_condition_not_met(empty_pool: Any) -> None:
    from azure.core import MatchConditions
    from azure.core.exceptions import ResourceModifiedError

    client, pool_id = empty_pool
    first = client.get_pool(pool_id).etag
    client.update_pool(pool_id, _metadata("1"), etag=first, match_condition=MatchConditions.IfNotModified)
    second = client.get_pool(pool_id).etag
    assert second != first  # every update gives the pool a new ETag
    for call in (
        lambda: client.update_pool(
            pool_id, _metadata("2"), etag=first, match_condition=MatchConditions.IfNotModified
        ),
        lambda: client.begin_delete_pool(
            pool_id, etag=first, match_condition=MatchConditions.IfNotModified, polling_interval=1
        ),
    ):
        with pytest.raises(ResourceModifiedError) as info:
            call()
        assert info.value.status_code == 412
        assert info.value.error.code == "ConditionNotMet"
        assert "condition specified using HTTP conditional header(s) is not met" in info.value.error.message
    pool = client.get_pool(pool_id)
    assert pool.etag == second and [(m.name, m.value) for m in pool.metadata] == [("k", "1")]


def test_if_none_match_refuses_a_write_and_answers_a_read_not_modified(empty_pool: Any) -> None:
    from azure.core import MatchConditions
    from azure.core.exceptions import HttpResponseError

    client, pool_id = empty_pool
    etag = client.get_pool(pool_id).etag
    with pytest.raises(HttpResponseError) as not_modified:  # azure-batch names a 304 ResourceModifiedError
        client.get_pool(pool_id, etag=etag, match_condition=MatchConditions.IfModified)
    assert not_modified.value.status_code == 304
    with pytest.raises(HttpResponseError) as info:  # If-None-Match: * on an existing pool
        client.update_pool(pool_id, _metadata("x"), match_condition=MatchConditions.IfMissing)
    assert info.value.status_code == 412
    # a current ETag passes; If-Unmodified-Since a time before the last change does not
    client.update_pool(pool_id, _metadata("y"), etag=etag, match_condition=MatchConditions.IfNotModified)
    pool = client.get_pool(pool_id)
    with pytest.raises(HttpResponseError) as info:
        client.update_pool(
            pool_id, _metadata("z"), if_unmodified_since=pool.last_modified - timedelta(seconds=5)
        )
    assert info.value.status_code == 412


def test_a_current_etag_deletes(empty_pool: Any) -> None:
    from azure.core import MatchConditions

    client, pool_id = empty_pool
    etag = client.get_pool(pool_id).etag
    client.begin_delete_pool(
        pool_id, etag=etag, match_condition=MatchConditions.IfNotModified, polling_interval=1
    )
    assert client.get_pool(pool_id).state == "deleting"
