"""Checks of the public marts: the data expectations between columns, rows and tables (a rate equals
numerator / denominator, subsets, no gaps, totals equal the facts', the funnel's order, the facts' flags).

Model constraints (keys unique and not null, columns not null, values in their sets or ranges,
relationships) are dbt tests in the models' yml, not checks here: each invariant is checked by one
system (docs/data-quality.md, "Which system checks what"). So these queries take a NULL or an
out-of-set value as dbt's to report, and do not repeat it."""

from __future__ import annotations

from data_checks.check import ERROR, LATEST_BUILD, Check, CheckParams, rows_expectation
from pipelines.core.kpis import KPI_TABLES, RATE_KPIS

KPI_COUNTS = [c for k in RATE_KPIS for c in (k.numerator, k.denominator)]
# (smaller, larger): the smaller count is a subset of the larger one.
KPI_SUBSETS = [
    ("checkouts_converted", "checkouts_started"),
    ("new_customer_checkouts_started", "checkouts_started"),
    ("new_customer_checkouts_converted", "new_customer_checkouts_started"),
    ("new_customer_checkouts_converted", "checkouts_converted"),
    ("self_service_first_orders", "first_orders"),
    ("self_service_first_orders", "self_service_orders"),
    ("manual_intervention_orders", "self_service_orders"),
    ("self_service_first_orders_with_intervention", "self_service_first_orders"),
    ("self_service_first_orders_with_intervention", "manual_intervention_orders"),
]


# ---------------------------------------------------------------- marts
def _kpi_checks(trunc: str) -> list[Check]:
    """The checks of the KPI mart of one grain (`KPI_TABLES`: day, week, month)."""
    step = f"INTERVAL 1 {trunc.upper()}"
    grain_name = KPI_TABLES[trunc].removeprefix("kpi_")
    table = f"marts.{KPI_TABLES[trunc]}"
    asset = f"marts/{KPI_TABLES[trunc]}"
    # The rate's range (0 to 1) and the counts' NULLs are dbt tests on the columns (kpi_*.yml).
    rate_conditions = " OR ".join(
        f"(({r} IS NULL) <> ({d} = 0 OR {d} IS NULL)) OR ({d} > 0 AND abs({r} - {n}::DOUBLE / {d}) > 1e-9)"
        for r, n, d in ((k.name, k.numerator, k.denominator) for k in RATE_KPIS)
    )
    subset_conditions = " OR ".join(f"{a} > {b}" for a, b in KPI_SUBSETS)
    count_conditions = " OR ".join(f"{c} < 0" for c in dict.fromkeys(KPI_COUNTS))
    checks = [
        Check(
            f"kpi_{grain_name}_rates_valid", asset, table, ERROR,
            "every rate equals numerator / denominator; NULL exactly when the denominator is 0",
            "rate = numerator / denominator, rate IS NULL iff denominator = 0",
            # One query for all five rates (ratio, NULL rule). Their range, 0 to 1, is the dbt test
            # accepted_range on each rate column.
            lambda p, rc=rate_conditions: [rows_expectation(f"SELECT * FROM {{batch}} WHERE {rc} ORDER BY period_start")],
        ),
        Check(
            f"kpi_{grain_name}_counts_consistent", asset, table, ERROR,
            "counts are non-negative, and each subset count is at most its superset "
            "(converted <= started, self-service first orders <= first orders, ...); not null is dbt's",
            "; ".join(f"{a} <= {b}" for a, b in KPI_SUBSETS),
            lambda p, sc=subset_conditions, cc=count_conditions: [
                rows_expectation(f"SELECT * FROM {{batch}} WHERE {cc} OR {sc} ORDER BY period_start")
            ],
        ),
        Check(
            f"kpi_{grain_name}_no_period_gaps", asset, table, ERROR,
            f"no gaps between {trunc}s, every {trunc} holding a checkout start or a placed order present",
            f"consecutive period_start values {step} apart, aligned to the {trunc}, covering all activity",
            # One query: consecutive, aligned, and covering all activity (period_start unique and not
            # null are dbt tests; a repeated period also shows here as a gap). With the
            # periods consecutive and aligned, "every period with activity is present" is exactly "the
            # first and last periods of activity are within [first, last] period", so the fact tables
            # are read for min() and max() only (no DISTINCT date_trunc over 2.8M + 2M rows per grain).
            lambda p, trunc=trunc, step=step: [
                rows_expectation(
                    f"""
                    WITH p AS (
                        SELECT period_start::DATE AS period_start,
                               lag(period_start) OVER (ORDER BY period_start) AS previous
                          FROM {{batch}}),
                    bounds AS (SELECT min(period_start) AS first_period, max(period_start) AS last_period FROM p),
                    activity AS (
                        SELECT 'checkouts' AS what, date_trunc('{trunc}', min(started_at))::DATE AS first_period,
                               date_trunc('{trunc}', max(started_at))::DATE AS last_period
                          FROM marts.fct_checkouts
                        UNION ALL
                        SELECT 'orders', date_trunc('{trunc}', min(created_at))::DATE,
                               date_trunc('{trunc}', max(created_at))::DATE
                          FROM marts.fct_orders WHERE is_placed)
                    SELECT period_start, 'gap before this period' AS problem FROM p
                     WHERE previous IS NOT NULL AND period_start <> (previous + {step})::DATE
                    UNION ALL
                    SELECT period_start, 'not the start of a {trunc}' FROM p
                     WHERE period_start <> date_trunc('{trunc}', period_start)::DATE
                    UNION ALL
                    SELECT a.first_period, 'missing period with ' || a.what FROM activity a, bounds b
                     WHERE a.first_period < b.first_period OR (a.first_period IS NOT NULL AND b.first_period IS NULL)
                    UNION ALL
                    SELECT a.last_period, 'missing period with ' || a.what FROM activity a, bounds b
                     WHERE a.last_period > b.last_period OR (a.last_period IS NOT NULL AND b.last_period IS NULL)
                    ORDER BY period_start NULLS FIRST, problem
                    """
                ),
            ],
            reads=("marts.fct_checkouts", "marts.fct_orders"),
        ),
    ]
    if grain_name == "daily":
        checks.append(
            Check(
                "kpi_daily_totals_match_facts", asset, table, ERROR,
                "summed over all days, the KPI counts equal the fact tables' counts "
                "(every self-service first order is also counted as a first order)",
                "sum(checkouts_started) = fct_checkouts rows, sum(checkouts_converted) = converted, "
                "sum(first_orders) = first orders, sum(self_service_first_orders) = self-service first orders, "
                "sum(self_service_orders) = self-service orders, sum(manual_intervention_orders) = those with intervention",
                lambda p: [
                    rows_expectation(
                        """
                        WITH k AS (
                            SELECT coalesce(sum(checkouts_started), 0) AS checkouts_started,
                                   coalesce(sum(checkouts_converted), 0) AS checkouts_converted,
                                   coalesce(sum(new_customer_checkouts_started), 0) AS new_customer_checkouts_started,
                                   coalesce(sum(first_orders), 0) AS first_orders,
                                   coalesce(sum(self_service_first_orders), 0) AS self_service_first_orders,
                                   coalesce(sum(self_service_orders), 0) AS self_service_orders,
                                   coalesce(sum(manual_intervention_orders), 0) AS manual_intervention_orders
                              FROM {batch}),
                        c AS (SELECT count(*) AS checkouts_started,
                                     count(*) FILTER (WHERE converted) AS checkouts_converted,
                                     count(*) FILTER (WHERE is_new_customer) AS new_customer_checkouts_started
                                FROM marts.fct_checkouts),
                        o AS (SELECT count(*) FILTER (WHERE is_first_order) AS first_orders,
                                     count(*) FILTER (WHERE is_first_order AND is_self_service)
                                         AS self_service_first_orders,
                                     count(*) FILTER (WHERE is_self_service) AS self_service_orders,
                                     count(*) FILTER (WHERE is_self_service AND manual_intervention)
                                         AS manual_intervention_orders
                                FROM marts.fct_orders)
                        SELECT measure, kpi_total, fact_total FROM (
                            SELECT 'checkouts_started' AS measure, k.checkouts_started AS kpi_total,
                                   c.checkouts_started AS fact_total FROM k, c
                            UNION ALL SELECT 'checkouts_converted', k.checkouts_converted, c.checkouts_converted FROM k, c
                            UNION ALL SELECT 'new_customer_checkouts_started', k.new_customer_checkouts_started,
                                             c.new_customer_checkouts_started FROM k, c
                            UNION ALL SELECT 'first_orders', k.first_orders, o.first_orders FROM k, o
                            UNION ALL SELECT 'self_service_first_orders', k.self_service_first_orders,
                                             o.self_service_first_orders FROM k, o
                            UNION ALL SELECT 'self_service_orders', k.self_service_orders, o.self_service_orders FROM k, o
                            UNION ALL SELECT 'manual_intervention_orders', k.manual_intervention_orders,
                                             o.manual_intervention_orders FROM k, o
                        ) t WHERE kpi_total <> fact_total
                        """
                    )
                ],
                reads=("marts.fct_checkouts", "marts.fct_orders"),
            )
        )
    return checks


def _orders_flags_consistent(p: CheckParams) -> list:
    """The flags within each row of the batch (a pipeline run: the rows the latest build wrote), and one
    first order per customer: in a pipeline run, fct_orders probed with the customers of the batch's
    first orders (a first order written now beside an older one is found; two old ones were found by
    the build that wrote them)."""
    several = (
        "SELECT min(h.order_id), h.customer_id, NULL, NULL, NULL, NULL, NULL, 'several first orders' "
        "FROM marts.fct_orders h SEMI JOIN {batch} n ON h.customer_id = n.customer_id AND n.is_first_order "
        "WHERE h.is_first_order GROUP BY h.customer_id HAVING count(*) > 1"
        if p.latest_build
        else "SELECT min(order_id), customer_id, NULL, NULL, NULL, NULL, NULL, 'several first orders' "
        "FROM {batch} WHERE is_first_order GROUP BY customer_id HAVING count(*) > 1"
    )
    return [
        rows_expectation(
            f"""
            SELECT order_id, customer_id, status, channel, is_placed, is_self_service, is_first_order,
                   'flags' AS problem
              FROM {{batch}}
             WHERE is_placed <> (status IN ('completed', 'refunded'))
                OR is_self_service <> (is_placed AND channel = 'web_direct')
                OR (is_first_order AND NOT is_placed)
            UNION ALL
            {several}
            ORDER BY order_id
            """
        )
    ]


MART_CHECKS = [
    *(check for grain in KPI_TABLES for check in _kpi_checks(grain)),
    Check(
        "funnel_steps_monotonic", "marts/funnel_steps", "marts.funnel_steps", ERROR,
        "for every grain and period: all six steps, each step's count at most the previous step's, "
        "new-customer checkouts at most all checkouts, someone at step 1",
        "6 steps per grain and period; checkouts(step k) <= checkouts(step k-1); new_customer_checkouts <= checkouts",
        # One query (six steps, monotonic). The grain and step_number sets, one row per grain/period/step
        # and the NULLs are dbt tests (funnel_steps.yml).
        lambda p: [
            rows_expectation(
                """
                SELECT grain, period_start, step_number, checkouts, previous_checkouts, new_customer_checkouts,
                       previous_new_customer_checkouts, steps
                  FROM (SELECT *, lag(checkouts) OVER w AS previous_checkouts,
                               lag(new_customer_checkouts) OVER w AS previous_new_customer_checkouts,
                               count(*) OVER (PARTITION BY grain, period_start) AS steps
                          FROM {batch}
                        WINDOW w AS (PARTITION BY grain, period_start ORDER BY step_number)) t
                 WHERE steps <> 6
                    OR checkouts > previous_checkouts
                    OR new_customer_checkouts > previous_new_customer_checkouts
                    OR new_customer_checkouts > checkouts
                    OR (step_number = 1 AND checkouts = 0)
                 ORDER BY grain, period_start, step_number
                """
            ),
        ],
    ),
    Check(
        "fct_checkouts_consistent", "marts/fct_checkouts", "marts.fct_checkouts", ERROR,
        "converted exactly when reached_step = 6, with an order_id and hours_to_convert >= 0 "
        "(reached_step in 1..6 and the NULLs are dbt tests)",
        "converted = (reached_step = 6) = (order_id IS NOT NULL) = (hours_to_convert IS NOT NULL)",
        # A rule within each row: a pipeline run reads the rows its build wrote.
        lambda p: [
            rows_expectation(
                "SELECT checkout_id, reached_step, converted, order_id, hours_to_convert FROM {batch} "
                "WHERE converted <> (reached_step = 6) OR converted <> (order_id IS NOT NULL) "
                "OR converted <> (hours_to_convert IS NOT NULL) OR hours_to_convert < 0 ORDER BY checkout_id"
            ),
        ],
        scope=LATEST_BUILD,
    ),
    Check(
        "fct_orders_flags_consistent", "marts/fct_orders", "marts.fct_orders", ERROR,
        "is_placed = status completed/refunded; is_self_service = placed and web_direct; a first order is "
        "placed; at most one first order per customer (the flags' NULLs are dbt tests)",
        "flags follow the spec's terms; <= 1 is_first_order per customer_id",
        _orders_flags_consistent,
        scope=LATEST_BUILD,
    ),
]
