"""Dagster assets: ingestion, the dbt models, and the published copy for readers."""
