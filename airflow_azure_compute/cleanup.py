"""What to do with remote resources when a task ends: a policy, applied in ``finally``."""

from __future__ import annotations

from airflow_azure_compute.enums import StrEnum
from airflow_azure_compute.exceptions import AzureComputeConfigError


class CleanupPolicy(StrEnum):
    """Cleanup of what a task created (container group, orchestration history, ...).

    ``keep`` leaves it; ``delete`` always removes it; ``delete_on_success`` removes it only when the
    work succeeded, so a failure can be inspected.
    """

    KEEP = "keep"
    DELETE = "delete"
    DELETE_ON_SUCCESS = "delete_on_success"

    @classmethod
    def parse(cls, value: CleanupPolicy | str, *, field: str = "cleanup") -> CleanupPolicy:
        try:
            return cls(str(value).lower())
        except ValueError:
            raise AzureComputeConfigError(
                f"{value!r} is not a cleanup policy; use one of: " + ", ".join(p.value for p in cls),
                field=field,
            ) from None


def should_delete(policy: CleanupPolicy, succeeded: bool) -> bool:
    """Whether ``policy`` removes the resource after work that ``succeeded`` (or not)."""
    return policy is CleanupPolicy.DELETE or (policy is CleanupPolicy.DELETE_ON_SUCCESS and succeeded)


__all__ = ["CleanupPolicy", "should_delete"]
