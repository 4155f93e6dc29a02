"""The data checks as Dagster asset checks (GX 1.x suites from `data_checks`, wired by hand).

One multi-asset check per guarded asset group: the ingestion outputs (`raw/checkout_events`,
`raw/orders`, `audit/load_ledger`, all produced by the one multi-asset `ingest_landing`) and each
public mart. Every `data_checks.check.Check` becomes one `AssetCheckSpec` on its asset:

- severity "error"   -> `blocking=True`, failed result with `AssetCheckSeverity.ERROR`: the step fails
  and nothing downstream (other marts, `published_warehouse`) is materialized in that run;
- severity "warning" -> non-blocking, failed result with `AssetCheckSeverity.WARN`: recorded, shown.

Every result is also written to `audit.check_results` with the Dagster run id, which is how
`funnel run` names the failed check (`data_checks.runner.read_results(con, run_id)`).

`funnel run` runs the checks in a process that imported GX while the run started
(`pipelines.speedups.warm_checks`; FUNNEL_SPEEDUPS=0 turns it off); otherwise (and in `dagster dev`, sensors,
tests with `dg.materialize`) they run in the op's own process. The same code
runs either way.

The row-level checks of the raw tables read only the rows of the loads they have not verified yet
(`data_checks.runner.unverified_loads`: normally the rows this run's ingestion loaded, whose `_run_id`
is this Dagster run's id), and uniqueness probes the history with those rows' keys; whole-table
checks read metadata, aggregates or the ledger (docs/data-quality.md, "What each check reads").
`funnel check` is the full audit over whole tables.

The freshness check warns after `Settings.freshness_hours` (FUNNEL_FRESHNESS_HOURS).
"""

import json

import dagster as dg

from data_checks.catalog import all_checks
from data_checks.check import Check
from data_checks.runner import CheckResult, run_unverified
from pipelines.core.settings import Settings
from pipelines.resources import WarehouseResource
from pipelines.speedups import warm_checks

# op name -> the assets whose checks it runs
CHECK_GROUPS = {
    "ingest_landing_checks": ("raw/checkout_events", "raw/orders", "audit/load_ledger"),
    "mart_checks": (
        "marts/kpi_daily", "marts/kpi_weekly", "marts/kpi_monthly", "marts/funnel_steps", "marts/fct_checkouts",
        "marts/fct_orders",
    ),
}


def asset_key(asset: str) -> dg.AssetKey:
    return dg.AssetKey(asset.split("/"))


def freshness_hours() -> float:
    return Settings.from_env().freshness_hours


def check_spec(check: Check) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        name=check.name,
        asset=asset_key(check.asset),
        description=f"{check.description} [{check.severity}]",
        blocking=check.blocking,
        metadata={"severity": check.severity, "expected": check.expected},
    )


def to_asset_check_result(result: CheckResult) -> dg.AssetCheckResult:
    details = json.loads(result.details)
    return dg.AssetCheckResult(
        check_name=result.check_name,
        asset_key=asset_key(result.asset),
        passed=result.passed,
        severity=dg.AssetCheckSeverity.ERROR if result.blocking else dg.AssetCheckSeverity.WARN,
        description=result.summary(),
        metadata={
            "severity": result.severity,
            "observed_value": result.observed_value or "",
            "expected": result.expected,
            "details": dg.MetadataValue.json(details),
        },
    )


def _build_check_op(name: str, assets: tuple[str, ...]) -> dg.AssetChecksDefinition:
    checks = [c for c in all_checks() if c.asset in assets]
    by_key = {dg.AssetCheckKey(asset_key(c.asset), c.name): c for c in checks}

    @dg.multi_asset_check(
        name=name,
        specs=[check_spec(c) for c in checks],
        can_subset=True,
        description=f"Data checks (Great Expectations) on {', '.join(assets)}",
    )
    def _run(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
        selected = [by_key[key] for key in context.selected_asset_check_keys if key in by_key]
        selected.sort(key=checks.index)
        check_process = warm_checks.running()
        if check_process is not None:  # `funnel run` started it: GX is imported there
            loads, results = check_process.run(
                warm_checks.CheckRequest(
                    warehouse=warehouse.path, memory_limit=warehouse.memory_limit, threads=warehouse.threads,
                    run_id=context.run.run_id, checks=[c.name for c in selected], freshness_hours=freshness_hours(),
                )
            )
        else:
            with warehouse.connect() as con:
                loads, results = run_unverified(con, context.run.run_id, selected, freshness_hours=freshness_hours())
        context.log.info(
            f"{name}: load-scoped checks read "
            + ("every row" if loads is None else f"the rows of {len(loads)} load(s): {', '.join(loads) or '-'}")
        )
        for result in results:
            if not result.passed:
                log = context.log.error if result.blocking else context.log.warning
                log(result.summary())
            yield to_asset_check_result(result)

    return _run


ASSET_CHECKS: list[dg.AssetChecksDefinition] = [
    _build_check_op(name, assets) for name, assets in CHECK_GROUPS.items()
]
