"""The Azure Batch data-plane emulator (api-version 2025-06-01), driven by the real azure-batch SDK."""

from __future__ import annotations
