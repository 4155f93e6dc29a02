"""The speed machinery of `funnel run`, in one place, behind one switch: `Settings.speedups`
(FUNNEL_SPEEDUPS, on by default). Off, a run takes the plain paths and gives the same tables,
checks and published copy (tests/test_speedups.py); on, it is faster by what each piece saves. The
figures are measured on this project's 2-core machine (docs/performance.md, "Speed machinery").
This module imports nothing heavy: `funnel-dbt` (warm_dbt.client) starts for every dbt command.


- `warm_dbt`: a dbt process started (and importing dbt, ~1.3 s) while the run imports Dagster and
  ingests; dagster-dbt's `funnel-dbt` hands it the build. dbt step ~9.0 -> ~8.0 s at 10M events.
- `warm_checks`: a process importing Great Expectations (~2.3 s) while the run starts; both check
  steps run there. Ingestion checks ~2.6 -> ~1.1 s, for ~0.35 GiB more memory during the build.
- `FastDbtCliResource` (fast_dbt.py): dagster-dbt's resource without `dbt --version` in a subprocess and without
  opening a dbt adapter in this process (~2-3 s before each dbt command on 2 cores). It overrides
  two private methods of dagster-dbt: the pins in pyproject.toml keep them as tested.
- `tuned_gc`: fewer collections over the run's millions of long-lived objects, none at exit
  (~1.1 s + ~1.3 s on a one-more-day run at 10M events).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from typing import TYPE_CHECKING

from pipelines.core.settings import Settings

if TYPE_CHECKING:
    from dagster_dbt import DbtCliResource


def dbt_resource(settings: Settings, **kwargs) -> DbtCliResource:
    """The dbt resource of the definitions: with the switch on, `funnel-dbt` (the dbt process started
    ahead when there is one, else `dbt` itself) through FastDbtCliResource; off, dagster-dbt's own."""
    if settings.speedups:
        from pipelines.speedups.fast_dbt import FastDbtCliResource
        from pipelines.speedups.warm_dbt import CLIENT_EXECUTABLE

        return FastDbtCliResource(dbt_executable=CLIENT_EXECUTABLE, **kwargs)
    from dagster_dbt import DbtCliResource

    return DbtCliResource(**kwargs)


@contextlib.contextmanager
def started(settings: Settings) -> Iterator[None]:
    """Around a run: the dbt and check processes, started now, stopped at the end (switch on)."""
    if not settings.speedups:
        yield
        return
    from pipelines.speedups import warm_checks, warm_dbt

    with warm_dbt.started(), warm_checks.started():
        yield


@contextlib.contextmanager
def tuned_gc(settings: Settings) -> Iterator[None]:
    """The garbage collector of a short-lived `funnel` process (switch on): rarer collections, and
    none of the long-lived objects at the interpreter's exit."""
    if not settings.speedups:
        yield
        return
    gc.set_threshold(50_000, 20, 100)
    yield
    gc.freeze()  # nothing is left to free before the process ends: skip the collection at exit
