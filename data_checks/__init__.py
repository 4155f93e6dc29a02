"""Data checks: Great Expectations 1.x suites over the DuckDB warehouse (see docs/data-quality.md).

`data_checks.runner.run_all_checks` runs them all (the `funnel check` command);
`pipelines.checks.ASSET_CHECKS` runs them as Dagster asset checks.
"""
