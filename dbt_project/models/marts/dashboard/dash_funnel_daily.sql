-- Funnel counts per cohort day and segment, for the dashboard's funnel page (filters by date range,
-- plan, deployment, country, device, new vs returning). Sums of these rows over any filter equal
-- marts.funnel_steps for the same cohorts. Portable SQL: runs on DuckDB, PostgreSQL and Spark.
-- A table, rebuilt every run. Measured on 10M events plus one day: late status changes of old
-- orders change checkouts in ~240 of the 366 cohort days, so an incremental build must recompute
-- whole (day, plan, deployment, country, device) groups found by scanning all of fct_checkouts; that
-- SELECT took 0.77 s against 0.61 s for the whole table (load ~4), before its deletes.
{{ config(materialized='table') }}

with checkouts as (
    select
        cast(started_at as date) as cohort_date,
        {{ value_or_unknown('plan') }} as plan,
        {{ value_or_unknown('deployment') }} as deployment,
        {{ value_or_unknown('country') }} as country,
        {{ value_or_unknown('device') }} as device,
        is_new_customer,
        reached_step
    from {{ ref('fct_checkouts') }}
)

select
    cohort_date,
    plan,
    deployment,
    country,
    device,
    is_new_customer,
    cast(count(*) as bigint) as checkouts_started,
    cast(sum(case when reached_step >= 2 then 1 else 0 end) as bigint) as reached_subscription_details,
    cast(sum(case when reached_step >= 3 then 1 else 0 end) as bigint) as reached_billing_address,
    cast(sum(case when reached_step >= 4 then 1 else 0 end) as bigint) as reached_payment_method,
    cast(sum(case when reached_step >= 5 then 1 else 0 end) as bigint) as reached_order_submitted,
    cast(sum(case when reached_step >= 6 then 1 else 0 end) as bigint) as checkouts_converted
from checkouts
group by cohort_date, plan, deployment, country, device, is_new_customer
