"""Triggers of airflow-azure-compute."""
