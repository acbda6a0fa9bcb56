"""SAS URLs for Batch resource and output files, signed by the Blob hook (least privilege, bounded expiry)."""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING
from urllib.parse import quote

from airflow_azure_compute.exceptions import AzureComputeConfigError

if TYPE_CHECKING:
    from airflow_azure_compute.hooks.blob import BlobHook

#: Permission shorthands used by the Batch operators -> (SAS access profile, container-level?).
_PROFILES = {"r": ("read", False), "rl": ("read", True), "cw": ("write", True)}


class BlobSasSource:
    """Signs the SAS URLs a Batch task gets, each the least it needs; checks each container exists once,
    before anything is sent to Batch.

    * inputs and shared prefixes: read-only, one blob each;
    * outputs: create+write on the output container (no read, no list: a task cannot read what others
      wrote, nor anything at all when outputs have their own container, as in the run workspace);
    * dependency outputs: read+list on the output container (Batch lists a prefix there; the outputs do
      not exist when the task is submitted, so they cannot be signed one by one);
    * pool mounts: read+list on the mounted container, expiring with the run (see the pool operator).
    """

    def __init__(self, conn_id: str, *, expiry: timedelta = timedelta(hours=24)) -> None:
        self.conn_id = conn_id
        self.expiry = expiry
        self._checked: set[str] = set()
        self._container_sas: dict[tuple[str, str], str] = {}

    @cached_property
    def hook(self) -> BlobHook:
        from airflow_azure_compute.hooks.blob import BlobHook

        return BlobHook(self.conn_id)

    @property
    def account_name(self) -> str:
        return str(self.hook.settings.account_name or "")

    def check_container(self, container: str) -> None:
        if container in self._checked:
            return
        if not self.hook.container_exists(container):
            raise AzureComputeConfigError(
                f"container {container!r} does not exist in the Blob account of connection {self.conn_id!r}: "
                "create it (upload the inputs) first",
                field="container",
            )
        self._checked.add(container)

    def token(self, container: str, permission: str, blob: str | None = None) -> str:
        access, container_level = _PROFILES[permission]
        self.check_container(container)
        if container_level:
            key = (container, permission)
            if key not in self._container_sas:
                self._container_sas[key] = self.hook.generate_sas(
                    container, access=access, expiry=self.expiry
                )
            return self._container_sas[key]
        return self.hook.generate_sas(container, access=access, expiry=self.expiry, blob_name=blob)

    def blob_url(self, container: str, blob: str, permission: str) -> str:
        base = self.hook.container_url(container)
        return f"{base}/{quote(blob)}?{self.token(container, permission, blob)}"

    def container_url(self, container: str, permission: str) -> str:
        return self.hook.container_url(container, self.token(container, permission))

    def prefix_blob_urls(self, container: str, prefix: str) -> dict[str, str]:
        """A read-only SAS URL per blob under ``prefix`` (what a task may read of a shared prefix)."""
        self.check_container(container)
        return self.hook.prefix_sas_urls(container, prefix, expiry=self.expiry)


__all__ = ["BlobSasSource"]
