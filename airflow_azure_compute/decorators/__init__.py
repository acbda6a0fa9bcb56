"""TaskFlow decorators: thin shells that build this provider's operators (``@task.azure_batch``)."""

from __future__ import annotations
