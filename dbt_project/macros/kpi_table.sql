{#-
  The body of kpi_daily / kpi_weekly / kpi_monthly for one grain (day, week, month).
  - Cohort KPIs (checkouts, conversion, median hours) are dated by t1 (started_at).
  - Order KPIs (first orders, self-service, intervention) are dated by the placed order's created_at.
  - One row per period from the earliest to the latest period with either, no gaps; counts 0 in an
    empty period; rates in floating point, NULL when the denominator is 0.
  - period_closed: period end (start of the next period) <= as_of (its created_at-dated KPIs are final).
  - cohort_complete: period end + conversion window <= as_of (its cohort-dated KPIs are final).
  These two columns are the only home of the "closed period" and "complete cohort" rules: the
  dashboard, the checks and the report read them (pipelines/core/kpis.py, Kpi.final_column).
-#}
{% macro kpi_table(grain) -%}

with checkouts as (
    select
        {{ period_start_of(grain, 'started_at') }} as period_start,
        converted,
        is_new_customer,
        hours_to_convert
    from {{ ref('fct_checkouts') }}
),

cohorts as (
    select
        period_start,
        count(*) as checkouts_started,
        sum(case when converted then 1 else 0 end) as checkouts_converted,
        sum(case when is_new_customer then 1 else 0 end) as new_customer_checkouts_started,
        sum(case when is_new_customer and converted then 1 else 0 end) as new_customer_checkouts_converted,
        {{ exact_median('hours_to_convert') }} as median_hours_to_convert
    from checkouts
    group by period_start
),

placed_orders as (
    select
        {{ period_start_of(grain, 'created_at') }} as period_start,
        is_first_order,
        is_self_service,
        manual_intervention
    from {{ ref('fct_orders') }}
    where is_placed
),

order_counts as (
    select
        period_start,
        sum(case when is_first_order then 1 else 0 end) as first_orders,
        sum(case when is_first_order and is_self_service then 1 else 0 end) as self_service_first_orders,
        sum(case when is_self_service then 1 else 0 end) as self_service_orders,
        sum(case when is_self_service and manual_intervention then 1 else 0 end) as manual_intervention_orders,
        sum(case when is_first_order and is_self_service and manual_intervention then 1 else 0 end)
            as self_service_first_orders_with_intervention
    from placed_orders
    group by period_start
),

active_periods as (
    select period_start from cohorts
    union all
    select period_start from order_counts
),

bounds as (
    select min(period_start) as first_period, max(period_start) as last_period
    from active_periods
),

spine as (
    {{ period_series(grain, 'bounds', 'first_period', 'last_period') }}
),

counted as (
    select
        spine.period_start,
        cast({{ add_interval(grain, 1, 'spine.period_start') }} as date) as period_end,
        cast(coalesce(c.checkouts_started, 0) as {{ dbt.type_bigint() }}) as checkouts_started,
        cast(coalesce(c.checkouts_converted, 0) as {{ dbt.type_bigint() }}) as checkouts_converted,
        cast(coalesce(c.new_customer_checkouts_started, 0) as {{ dbt.type_bigint() }})
            as new_customer_checkouts_started,
        cast(coalesce(c.new_customer_checkouts_converted, 0) as {{ dbt.type_bigint() }})
            as new_customer_checkouts_converted,
        cast(coalesce(o.first_orders, 0) as {{ dbt.type_bigint() }}) as first_orders,
        cast(coalesce(o.self_service_first_orders, 0) as {{ dbt.type_bigint() }}) as self_service_first_orders,
        cast(coalesce(o.self_service_orders, 0) as {{ dbt.type_bigint() }}) as self_service_orders,
        cast(coalesce(o.manual_intervention_orders, 0) as {{ dbt.type_bigint() }}) as manual_intervention_orders,
        cast(coalesce(o.self_service_first_orders_with_intervention, 0) as {{ dbt.type_bigint() }})
            as self_service_first_orders_with_intervention,
        c.median_hours_to_convert
    from spine
    left join cohorts as c on c.period_start = spine.period_start
    left join order_counts as o on o.period_start = spine.period_start
)

select
    counted.period_start,
    counted.period_end,
    counted.checkouts_started,
    counted.checkouts_converted,
    {{ safe_rate('counted.checkouts_converted', 'counted.checkouts_started') }} as checkout_conversion_rate,
    counted.new_customer_checkouts_started,
    counted.new_customer_checkouts_converted,
    {{ safe_rate('counted.new_customer_checkouts_converted', 'counted.new_customer_checkouts_started') }}
        as first_order_conversion_rate,
    counted.first_orders,
    counted.self_service_first_orders,
    {{ safe_rate('counted.self_service_first_orders', 'counted.first_orders') }} as self_service_first_order_share,
    counted.self_service_orders,
    counted.manual_intervention_orders,
    {{ safe_rate('counted.manual_intervention_orders', 'counted.self_service_orders') }} as manual_intervention_rate,
    counted.self_service_first_orders_with_intervention,
    {{ safe_rate('counted.self_service_first_orders_with_intervention', 'counted.self_service_first_orders') }}
        as first_order_manual_intervention_rate,
    counted.median_hours_to_convert,
    case
        when cast(counted.period_end as {{ dbt.type_timestamp() }}) <= a.as_of then true
        else false
    end as period_closed,
    case
        when {{ window_end('cast(counted.period_end as ' ~ dbt.type_timestamp() ~ ')') }} <= a.as_of then true
        else false
    end as cohort_complete
from counted
cross join {{ ref('warehouse_as_of') }} as a

{%- endmacro %}
