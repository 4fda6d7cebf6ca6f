"""Sensors of the Fabric Genomics provider: genome annotation and clinical report status.

Import them from :mod:`airflow_provider_fabric.sensors.fabric`; this package
module imports nothing, so listing it stays cheap.
"""
