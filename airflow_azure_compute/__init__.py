"""Apache Airflow 3 provider for large parallel work on Azure."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
