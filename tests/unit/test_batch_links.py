"""Portal links: URL formatting from persisted fields, quoting, and missing fields."""

from __future__ import annotations

from typing import Any

from airflow_azure_compute.links import AzurePortalLink, BatchJobLink, BatchPoolLink, batch_account_fields


def test_account_fields_from_url() -> None:
    assert batch_account_fields("https://acct.westeurope.batch.azure.com") == {
        "account": "acct",
        "region": "westeurope",
    }


def test_links_format_and_quote() -> None:
    url = BatchJobLink.format_url({"account": "acct", "job_id": "job 1/x"})
    assert url.startswith("https://portal.azure.com/") and url.endswith("/jobId/job%201%2Fx")
    assert BatchPoolLink.format_url({"account": "acct", "pool_id": "p"}).endswith("/poolId/p")
    assert BatchPoolLink.format_url({"account": "acct"}) == ""  # a missing field gives no link


def test_persist_writes_the_fields_under_the_key() -> None:
    pushed: dict[str, Any] = {}

    class TI:
        def xcom_push(self, key: str, value: Any) -> None:
            pushed[key] = value

    BatchJobLink.persist({"ti": TI()}, job_id="j", account="a")
    assert pushed == {"azure_batch_job": {"job_id": "j", "account": "a"}}
    assert issubclass(BatchJobLink, AzurePortalLink) and BatchJobLink.name == "Batch job"
