"""Hooks of airflow-azure-compute."""
