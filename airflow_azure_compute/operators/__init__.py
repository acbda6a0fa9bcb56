"""Operators of airflow-azure-compute."""
