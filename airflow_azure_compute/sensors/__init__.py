"""Sensors of airflow-azure-compute."""
