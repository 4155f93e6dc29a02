"""Checkout funnel analytics pipeline: ingestion, orchestration and the `funnel` command."""
