"""The harness DAG folder on ``sys.path``, as Airflow puts its DAG folder there: the DAG files import
their shared parts (``harness_parts``) the same way when a test loads them as in the stack."""

from __future__ import annotations

import sys
from pathlib import Path

HARNESS_DAGS = str(Path(__file__).resolve().parent / "dags")
if HARNESS_DAGS not in sys.path:
    sys.path.append(HARNESS_DAGS)
