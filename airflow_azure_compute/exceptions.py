"""One error tree for the whole provider.

::

    AzureComputeError(AirflowException)
     ├─ AzureComputeConfigError(AirflowFailException, ValueError)   bad input, raised before any API call
     │   └─ ConnectionConfigError                                    a connection that cannot be used as set up
     └─ AzureComputeRemoteError                                     the service refused, or the remote work failed
         ├─ BatchTasksFailedError     .failed_task_ids
         ├─ DeadlineExceededError
         └─ RemoteWorkFailedError     a container exited non-zero, an orchestration failed
             └─ RemoteFunctionError   a Python function raised on a Batch node (class not rebuildable here)

Config errors derive from `AirflowFailException`, so Airflow does not retry
them: retrying a bad spec only repeats the failure. Remote errors carry the service's own ``code`` and
HTTP ``status`` and are chained (``raise ... from err``) to the SDK error that caused them.
"""

from __future__ import annotations

from collections.abc import Sequence

try:  # Airflow >= 3.1: the Task SDK owns the exceptions tasks raise
    from airflow.sdk.exceptions import AirflowException, AirflowFailException
except ImportError:  # pragma: no cover - Airflow 3.0
    from airflow.exceptions import AirflowException, AirflowFailException  # type: ignore[no-redef]


class AzureComputeError(AirflowException):
    """Base of every error this provider raises."""


class AzureComputeConfigError(AzureComputeError, AirflowFailException, ValueError):
    """Bad input, found before anything was created; names the field and says what to do."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class ConnectionConfigError(AzureComputeConfigError):
    """An Airflow connection that cannot be used as set up; names the connection and the field."""

    def __init__(self, message: str, *, conn_id: str | None = None, field: str | None = None) -> None:
        self.conn_id = conn_id
        where = f"connection {conn_id!r}" if conn_id else "connection"
        what = f", field {field!r}" if field else ""
        AzureComputeError.__init__(self, f"{where}{what}: {message}")
        self.field = field


class AzureComputeRemoteError(AzureComputeError):
    """The service refused a request, or the remote work failed.

    :param code: the service's error code (``PoolExists``, ``ResourceNotFound``, ...), when it sent one.
    :param status: the HTTP status, when there was a response.
    """

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        self.code = code
        self.status = status
        super().__init__(message)


class AzureComputeConflictError(AzureComputeRemoteError):
    """A deterministic id is held by a resource this run did not create (found when reconciling a retry)."""


class BatchTasksFailedError(AzureComputeRemoteError):
    """Batch tasks ended in failure beyond what the failure policy tolerates."""

    def __init__(self, message: str, *, failed_task_ids: Sequence[str] = ()) -> None:
        self.failed_task_ids = list(failed_task_ids)
        super().__init__(message)


class DeadlineExceededError(AzureComputeRemoteError):
    """The work, or a bounded retry loop, did not finish before its absolute deadline."""


class RemoteWorkFailedError(AzureComputeRemoteError):
    """Remote work ran and failed: a container exited non-zero, an orchestration ended Failed."""


class RemoteFunctionError(RemoteWorkFailedError):
    """A Python function raised on a Batch node, and its exception could not be rebuilt on the worker.

    :param remote_type: the remote exception's ``module.QualifiedName``.
    """

    def __init__(self, message: str, *, remote_type: str | None = None) -> None:
        self.remote_type = remote_type
        super().__init__(message)


__all__ = [
    "AzureComputeConfigError",
    "AzureComputeConflictError",
    "AzureComputeError",
    "AzureComputeRemoteError",
    "BatchTasksFailedError",
    "ConnectionConfigError",
    "DeadlineExceededError",
    "RemoteFunctionError",
    "RemoteWorkFailedError",
]
