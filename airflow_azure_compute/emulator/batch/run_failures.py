"""Task failures as Batch reports them: ``executionInfo.failureInfo`` wire JSON.

Codes used by the runner (category ``usererror`` unless noted):

- ``FailureExitCode``: the process exited with a non-zero code (the only retryable failure).
- ``MaxWallClockTimeExpiry``: ``constraints.maxWallClockTime`` passed; the process group was killed.
- ``CommandProgramNotFound``: the program of the command line does not exist or cannot be executed;
  ``InvalidCommandLine``: the command line is empty or cannot be split (unbalanced quotes).
- ``BlobNotFound``, ``BlobAccessDenied``, ``ResourceDownloadFailed``, ``InvalidResourceFile``,
  ``AutoStorageAccountNotConfigured``: a resource file could not be fetched; the command never ran.
- ``FileUploadContainerNotFound``, ``FileUploadFailed``, ``InvalidOutputFile``: an output file could
  not be uploaded after the process exited (the exit code is kept).
- ``EmulatorInternalError`` (``servererror``): an unexpected error of the emulator itself (logged).
"""

from __future__ import annotations

import re
from typing import Any

USER_ERROR = "usererror"
SERVER_ERROR = "servererror"

FAILURE_EXIT_CODE = "FailureExitCode"
FAILURE_EXIT_MESSAGE = "The task exited with an exit code representing a failure"
WALL_CLOCK_EXPIRY = "MaxWallClockTimeExpiry"
PROGRAM_NOT_FOUND = "CommandProgramNotFound"
INVALID_COMMAND_LINE = "InvalidCommandLine"
BLOB_NOT_FOUND = "BlobNotFound"
BLOB_ACCESS_DENIED = "BlobAccessDenied"
DOWNLOAD_FAILED = "ResourceDownloadFailed"
INVALID_RESOURCE_FILE = "InvalidResourceFile"
AUTO_STORAGE_NOT_CONFIGURED = "AutoStorageAccountNotConfigured"
UPLOAD_CONTAINER_NOT_FOUND = "FileUploadContainerNotFound"
UPLOAD_FAILED = "FileUploadFailed"
INVALID_OUTPUT_FILE = "InvalidOutputFile"
INTERNAL_ERROR = "EmulatorInternalError"

#: Only a non-zero exit is retried (up to ``maxTaskRetryCount``); pre-processing, upload and
#: wall-clock failures are final, as on Batch.
RETRYABLE_CODES = frozenset({FAILURE_EXIT_CODE})


class TaskFailure(Exception):
    """A failure of one phase of a task run, carried up to the runner as ``failureInfo``."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        category: str = USER_ERROR,
        details: dict[str, str] | None = None,
        exit_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # when the process ran (wall-clock kill)
        self.code = code
        self.message = message
        self.category = category
        self.details = dict(details or {})

    def to_wire(self) -> dict[str, Any]:
        """The ``failureInfo`` object; ``details`` always starts with the message."""
        details = [{"name": "Message", "value": self.message}]
        details += [{"name": name, "value": value} for name, value in self.details.items()]
        return {"category": self.category, "code": self.code, "message": self.message, "details": details}


def exit_code_failure() -> TaskFailure:
    """The failure Batch reports for a non-zero exit code."""
    return TaskFailure(FAILURE_EXIT_CODE, FAILURE_EXIT_MESSAGE)


def redact_url(url: str) -> str:
    """A URL without its query string, so SAS tokens never reach logs, files or failureInfo."""
    return url.split("?", 1)[0]


_SAS_SIGNATURE = re.compile(r"(?i)\b(sig=)[^&\s'\"]+")


def redact_text(text: str) -> str:
    """``text`` with any SAS signature (``sig=...``) replaced, for logs and messages of unknown content."""
    return _SAS_SIGNATURE.sub(r"\1REDACTED", text)
