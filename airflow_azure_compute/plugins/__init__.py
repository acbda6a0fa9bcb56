"""Airflow plugins of this provider (loaded through the ``airflow.plugins`` entry point)."""
