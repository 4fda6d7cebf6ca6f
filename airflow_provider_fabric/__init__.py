"""Apache Airflow provider for the Fabric Genomics clinical API."""

__version__ = "0.1.0"
