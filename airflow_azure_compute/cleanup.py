"""What to do with remote resources when a task ends: a policy, applied in ``finally``."""

from __future__ import annotations

from airflow_azure_compute.enums import StrEnum


class CleanupPolicy(StrEnum):
    """Cleanup of what a task created (container group, orchestration history, ...).

    ``keep`` leaves it; ``delete`` always removes it; ``delete_on_success`` removes it only when the
    work succeeded, so a failure can be inspected.
    """

    KEEP = "keep"
    DELETE = "delete"
    DELETE_ON_SUCCESS = "delete_on_success"


def should_delete(policy: CleanupPolicy, succeeded: bool) -> bool:
    """Whether ``policy`` removes the resource after work that ``succeeded`` (or not)."""
    return policy is CleanupPolicy.DELETE or (policy is CleanupPolicy.DELETE_ON_SUCCESS and succeeded)


__all__ = ["CleanupPolicy", "should_delete"]
