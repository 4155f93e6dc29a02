"""dagster-dbt's dbt CLI resource without two start-up costs (pipelines/speedups/__init__.py)."""

from __future__ import annotations

import importlib.metadata
from functools import cached_property

from dagster_dbt import DbtCliResource
from packaging.version import Version


class FastDbtCliResource(DbtCliResource):
    """dagster-dbt's dbt CLI resource without two start-up costs it pays before every dbt command,
    ~2-3 s each on 2 cores:
    - `dbt --version` in a subprocess to learn the version: the `dbt` it runs is the one installed
      beside this interpreter (`prepare_process` puts it first on PATH), so the installed dbt-core's
      version is the answer;
    - a dbt adapter opened in this process, which serves only `fetch_column_metadata` and row counts,
      which this project does not use.
    Both are private methods of dagster-dbt 0.29.27 (pinned in pyproject.toml)."""

    @cached_property
    def _cli_version(self) -> Version:
        return Version(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):
        return None
