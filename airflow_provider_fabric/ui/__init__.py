"""The "Fabric Genomics" page of the Airflow UI: the genomes and reports this Airflow's DAG runs work on.

Registered with Airflow through the ``airflow.plugins`` entry point
(:class:`~airflow_provider_fabric.ui.plugin.FabricGenomicsPlugin`); nothing here
is imported by operators, sensors or DAG files.
"""
