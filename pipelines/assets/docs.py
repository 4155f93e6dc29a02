"""The dbt docs site of the published copy, built by each published run (pipelines/dbt_docs.py).

It never fails or blocks the run's data: it starts once the copy is published (and after the brief,
which may publish it again), reads only that copy, read-only, and takes no lock. When it cannot build
the site, its check `site_built` warns (`funnel run` prints `WARNING check dbt_docs_site:site_built
warned`; dbt's errors are in the run's log, the reason in the check's metadata in the Dagster UI) and
`funnel docs` builds the site itself when next asked."""


import time

import dagster as dg

from pipelines.assets.brief import KPI_BRIEF
from pipelines.assets.publish import PUBLISHED
from pipelines.core.settings import dbt_target_path
from pipelines.dbt_docs import generate_site
from pipelines.resources import WarehouseResource

DOCS_SITE = dg.AssetKey(["dbt_docs_site"])
SITE_BUILT = "site_built"


@dg.asset(
    key=DOCS_SITE,
    group_name="publishing",
    deps=[PUBLISHED, KPI_BRIEF],
    check_specs=[dg.AssetCheckSpec(
        SITE_BUILT, asset=DOCS_SITE,
        description="The site documents this run's published copy; when not, `funnel docs` builds it when asked.",
    )],
    description="dbt's docs site (models, columns, tests, lineage, metrics) of the published copy, for `funnel docs`.",
)
def dbt_docs_site(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    started = time.perf_counter()
    try:
        # The manifest this warehouse's build just wrote: every node compiled, nothing to parse again.
        site = generate_site(warehouse.settings(), dbt_target_path(warehouse.path) / "manifest.json")
    except Exception as error:  # noqa: BLE001 - the docs never fail the run (its data is published)
        reason = f"{type(error).__name__}: {error}"
        context.log.warning(f"the dbt docs site was not built: {reason}")
        return dg.MaterializeResult(check_results=[dg.AssetCheckResult(
            check_name=SITE_BUILT, passed=False, severity=dg.AssetCheckSeverity.WARN, metadata={"error": reason},
        )])
    return dg.MaterializeResult(
        metadata={"path": str(site), "seconds": round(time.perf_counter() - started, 2), "bytes": sum(p.stat().st_size for p in site.iterdir())},
        check_results=[dg.AssetCheckResult(check_name=SITE_BUILT, passed=True)],
    )
