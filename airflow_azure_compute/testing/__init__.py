"""A test kit for your own DAGs: Azurite and this provider's emulators, started by pytest fixtures.

See `airflow_azure_compute.testing.pytest_plugin` (loaded automatically by pytest once the package
is installed), `airflow_azure_compute.testing.stack` (start Azurite and the emulators yourself) and
`airflow_azure_compute.testing.airflow_stack` (run real Airflow components on 127.0.0.1).
"""
