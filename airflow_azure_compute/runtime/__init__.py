"""Code that runs on compute nodes and in worker containers: stdlib and the Storage SDKs only, never Airflow."""
