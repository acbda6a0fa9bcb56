# Airflow 3 with this provider installed, for docker-compose.yaml (local use only).
#   docker compose build && docker compose up
# The same image runs the emulator service (python -m airflow_azure_compute.emulator).
ARG AIRFLOW_VERSION=3.3.2
FROM apache/airflow:${AIRFLOW_VERSION}-python3.11
ARG AIRFLOW_VERSION

COPY --chown=airflow:root pyproject.toml README.md /opt/airflow-azure-compute/
COPY --chown=airflow:root airflow_azure_compute /opt/airflow-azure-compute/airflow_azure_compute
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" "/opt/airflow-azure-compute[emulator,examples]"

COPY --chown=airflow:root example_dags /opt/airflow/dags
