"""Operators for the Fabric Genomics clinical API.

Import each operator from its own module (``operators.projects``, ``operators.genomes``,
``operators.reports``...): this package module stays empty so DAG parsing stays cheap.
"""
